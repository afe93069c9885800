// Reading many records at once with read_batch (the Go library's
// example_batch_test.go): the second batch reaches the end of the log and
// says so with Errc::future_offset, after filling what it could.

#include <memlog/memlog.hpp>

#include <array>
#include <cstddef>
#include <cstdio>
#include <span>
#include <string>

namespace {

void print_batch(std::span<const memlog::Record<std::string>> batch) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& r = batch[i];
    std::printf("batch item: %zu\toffset:%lld\tdata: %s\n", i, static_cast<long long>(r.metadata.offset),
                r.data.c_str());
  }
}

}  // namespace

int main() {
  constexpr std::size_t batch_size = 10;

  memlog::Log<std::string> log;

  // seed log with data
  for (int i = 0; i < 15; ++i) {
    const auto offset = log.write(R"({"id":)" + std::to_string(i) + R"(,"message","hello world"})");
    if (!offset) {
      std::printf("write: %s\n", offset.error().message().c_str());
      return 1;
    }
  }

  memlog::Offset start = 0;
  std::array<memlog::Record<std::string>, batch_size> batch{};

  std::printf("reading batch starting at offset %lld\n", static_cast<long long>(start));
  auto [count, error] = log.read_batch(start, batch);
  if (error) {
    std::printf("read batch: %s\n", error.message().c_str());
    return 1;
  }
  std::printf("records received in batch: %zu\n", count);
  print_batch(std::span(batch).first(count));  // only the first count entries are valid

  // read the next batch and check if the end of the log was reached
  start += static_cast<memlog::Offset>(count);
  std::printf("reading batch starting at offset %lld\n", static_cast<long long>(start));
  const auto next = log.read_batch(start, batch);
  if (next.error) {
    if (next.error == memlog::Errc::future_offset) {
      std::printf("reached end of log\n");
    } else {
      std::printf("read batch: %s\n", next.error.message().c_str());
      return 1;
    }
  }
  std::printf("records received in batch: %zu\n", next.count);
  print_batch(std::span(batch).first(next.count));
  return 0;
}
