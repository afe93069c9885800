// Result<T>'s converting constructor is explicit exactly when T's conversion
// is, as std::expected's: `Result<std::vector<int>> v = 5;` would otherwise
// build a vector of five zeros where the reader sees a value of 5.
// Compiled by ctest (tests/CMakeLists.txt): as it is, it must compile; with
// MEMLOG_COMPILE_FAIL defined, it must fail at the marked line.

#include <memlog/result.hpp>

#include <vector>

int main() {
  const memlog::Result<std::vector<int>> direct{5};  // explicit: fine
#ifdef MEMLOG_COMPILE_FAIL
  const memlog::Result<std::vector<int>> copied = 5;  // implicit: must not compile
#else
  const memlog::Result<std::vector<int>> copied{5};
#endif
  return direct->size() == copied->size() ? 0 : 1;
}
