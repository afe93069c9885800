// Log<T>::read(offset, f) with an f that cannot take the record's view fails
// to compile with a diagnostic that names the visitor requirement.
// (This file's name avoids the word the check looks for: Clang repeats file
// names inside its notes.)
// Compiled by ctest (tests/CMakeLists.txt): as it is, it must compile; with
// MEMLOG_COMPILE_FAIL defined, it must fail at the marked line.

#include <memlog/memlog.hpp>

#include <cstddef>
#include <string>

namespace {

struct TakesInt {
  std::size_t operator()(int v) const { return static_cast<std::size_t>(v); }
};
struct TakesAny {
  template <class R>
  std::size_t operator()(const R& r) const {
    return r.data.size();
  }
};

}  // namespace

int main() {
  memlog::Log<std::string> log;
  (void)log.write("text");
#ifdef MEMLOG_COMPILE_FAIL
  auto r = log.read(0, TakesInt{});  // cannot take a RecordView: must not compile
  (void)TakesAny{};
#else
  auto r = log.read(0, TakesAny{});
  (void)TakesInt{};
#endif
  return r.has_value() ? 0 : 1;
}
