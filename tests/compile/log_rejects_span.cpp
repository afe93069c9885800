// Log<T> for a T that borrows its data does not compile (API.md, compile-time
// contract): a log keeps records long after the writer's buffer is gone.
// Compiled by ctest (tests/CMakeLists.txt): as it is, it must compile; with
// MEMLOG_COMPILE_FAIL defined, it must fail with memlog's static_assert.

#include <memlog/memlog.hpp>

#include <span>
#include <vector>

int main() {
  const std::vector<char> bytes{'a', 'b'};
#ifdef MEMLOG_COMPILE_FAIL
  memlog::Log<std::span<const char>> log;
  return log.write(std::span<const char>(bytes)).has_value() ? 0 : 1;
#else
  memlog::Log<std::vector<char>> log;
  return log.write(bytes).has_value() ? 0 : 1;
#endif
}
