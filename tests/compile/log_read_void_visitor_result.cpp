// Log<T>::read(offset, f) reports a read error the same way whatever f
// returns: a Result, whose operator bool is true on success. A void f gives
// Result<void> (not a std::error_code, whose operator bool is true on failure).
// Compiled by ctest (tests/CMakeLists.txt): must compile.

#include <memlog/memlog.hpp>

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

namespace {

struct Ignores {
  template <class R>
  void operator()(const R&) const {}
};
struct Sizes {
  template <class R>
  std::size_t operator()(const R& r) const {
    return r.data.size();
  }
};

using Strings = memlog::Log<std::string>;
static_assert(std::is_same_v<decltype(std::declval<const Strings&>().read(0, Ignores{})), memlog::Result<void>>);
static_assert(
    std::is_same_v<decltype(std::declval<const Strings&>().read(0, Sizes{})), memlog::Result<std::size_t>>);

}  // namespace

int main() {
  Strings log;
  (void)log.write("text");
  const memlog::Result<void> present = log.read(0, Ignores{});
  const memlog::Result<void> absent = log.read(1, Ignores{});
  return present && absent.error() == memlog::Errc::future_offset ? 0 : 1;
}
