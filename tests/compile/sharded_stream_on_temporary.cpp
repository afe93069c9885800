// sharded::Log<T>::stream() on a temporary log does not compile either: the
// stream would outlive the shard it reads. Compiled by ctest
// (tests/CMakeLists.txt): as it is, it must compile; with
// MEMLOG_COMPILE_FAIL defined, it must fail at the marked line.

#include <memlog/sharded.hpp>

#include <string>

int main() {
#ifdef MEMLOG_COMPILE_FAIL
  auto s = memlog::sharded::Log<std::string>{}.stream("key", 0);  // dangles: must not compile
#else
  const memlog::sharded::Log<std::string> log;
  auto s = log.stream("key", 0);
#endif
  return s ? 0 : 1;
}
