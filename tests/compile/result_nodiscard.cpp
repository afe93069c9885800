// A Result is [[nodiscard]] as a type: dropping one drops its error, even
// from a function that does not say [[nodiscard]] itself.
// Compiled by ctest with -Werror=unused-result (tests/CMakeLists.txt): as it
// is, it must compile; with MEMLOG_COMPILE_FAIL defined, it must fail at the
// marked line.

#include <memlog/result.hpp>

namespace {

memlog::Result<int> store(bool ok) {
  if (ok) return 1;
  return memlog::Errc::timed_out;
}

}  // namespace

int main() {
#ifdef MEMLOG_COMPILE_FAIL
  store(false);  // the error is dropped: must not compile
#else
  (void)store(false);
#endif
  return store(true).has_value() ? 0 : 1;
}
