// Compiled, not run: instantiates every public template of memlog with a
// packed and an unpacked T, so that a compiler configuration the presets do
// not build the suite with (GCC with -fsanitize=thread, which rejects
// std::atomic_thread_fence under -Werror) still sees all of the headers.

#include <memlog/memlog.hpp>
#include <memlog/sharded.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace {

struct Event {
  int id = 0;
  std::string text;
};

template <class T>
[[maybe_unused]] std::size_t exercise(memlog::Log<T>& log, T value) {
  std::size_t n = 0;
  n += log.write(std::move(value)).has_value() ? 1 : 0;
  n += log.read(0).has_value() ? 1 : 0;
  n += log.read(0, [](const auto& r) { return r.metadata.offset; }).value_or(0) >= 0 ? 1 : 0;
  std::vector<memlog::Record<T>> batch(4);
  n += log.read_batch(0, batch).count;
  auto stream = log.stream(0);
  n += stream.next_for(std::chrono::milliseconds(0)).has_value() ? 1 : 0;
  for (const auto& record : stream) {
    n += static_cast<std::size_t>(record.metadata.offset);
    break;
  }
  return n + static_cast<std::size_t>(log.range().latest);
}

}  // namespace

int main() {
  memlog::Log<std::string> strings;
  memlog::Log<std::vector<std::byte>> bytes;
  memlog::Log<Event> events;
  std::size_t n = exercise(strings, std::string("text")) + exercise(events, Event{1, "e"});
  n += exercise(bytes, std::vector<std::byte>{std::byte{1}});
  n += strings.write("literal").has_value() ? 1 : 0;

  memlog::sharded::Log<std::string> sharded({.shards = 4});
  n += sharded.write("key", "value").has_value() ? 1 : 0;
  n += sharded.read("key", 0).has_value() ? 1 : 0;
  n += sharded.stream("key", 0).has_value() ? 1 : 0;
  return n > 0 ? 0 : 1;
}
