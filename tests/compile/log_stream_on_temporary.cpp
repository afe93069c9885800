// Log<T>::stream() on a temporary log does not compile (API.md, compile-time
// contract): the stream would outlive the log it reads.
// Compiled by ctest (tests/CMakeLists.txt): as it is, it must compile; with
// MEMLOG_COMPILE_FAIL defined, it must fail at the marked line.

#include <memlog/memlog.hpp>

#include <string>

int main() {
#ifdef MEMLOG_COMPILE_FAIL
  auto s = memlog::Log<std::string>{}.stream(0);  // dangles: must not compile
#else
  const memlog::Log<std::string> log;
  auto s = log.stream(0);
#endif
  return s.position() == 0 ? 0 : 1;
}
