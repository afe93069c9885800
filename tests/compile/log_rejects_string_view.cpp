// Log<T> for a T that borrows its data does not compile (API.md, compile-time
// contract): a log keeps records long after the writer's buffer is gone.
// Compiled by ctest (tests/CMakeLists.txt): as it is, it must compile; with
// MEMLOG_COMPILE_FAIL defined, it must fail with memlog's static_assert.

#include <memlog/memlog.hpp>

#include <string>
#include <string_view>

int main() {
#ifdef MEMLOG_COMPILE_FAIL
  memlog::Log<std::string_view> log;
#else
  memlog::Log<std::string> log;
#endif
  return log.write(std::string_view("text")).has_value() ? 0 : 1;
}
