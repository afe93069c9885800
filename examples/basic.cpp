// Hello world: write one record and read it back (the Go library's README
// example and example_test.go).

#include <memlog/memlog.hpp>

#include <cstdio>
#include <string>

int main() {
  memlog::Log<std::string> log;  // default options: start offset 0, 1024 records per segment

  const auto offset = log.write("Hello World");
  if (!offset) {
    std::printf("write: %s\n", offset.error().message().c_str());
    return 1;
  }

  std::printf("reading record at offset %lld\n", static_cast<long long>(*offset));
  const auto record = log.read(*offset);
  if (!record) {
    std::printf("read: %s\n", record.error().message().c_str());
    return 1;
  }

  std::printf("Data: %s\n", record->data.c_str());
  return 0;
}
