#include <memlog/memlog.hpp>

#include <string>

int main() {
  memlog::Log<std::string> log;
  auto off = log.write("hello");
  if (!off) return 1;
  auto rec = log.read(*off);
  return (rec && rec->data == "hello") ? 0 : 1;
}
