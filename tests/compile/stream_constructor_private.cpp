// A Stream comes only from Log::stream(): its constructor is private, so a
// stream cannot be bound to a temporary log by constructing it directly.
// Compiled by ctest (tests/CMakeLists.txt): as it is, it must compile; with
// MEMLOG_COMPILE_FAIL defined, it must fail at the marked line.

#include <memlog/memlog.hpp>

#include <string>

int main() {
#ifdef MEMLOG_COMPILE_FAIL
  memlog::Stream<std::string> s(memlog::Log<std::string>{}, 0, {}, {});  // dangles: must not compile
#else
  const memlog::Log<std::string> log;
  auto s = log.stream(0);
#endif
  return s.position() == 0 ? 0 : 1;
}
