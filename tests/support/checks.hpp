#pragma once
// Small helpers that several test files share.

#include <functional>
#include <stdexcept>
#include <string>

#include "catch.hpp"

namespace memlog_test {

// A substring matcher: Catch2 v2 and v3 spell it differently.
inline auto contains(const std::string& needle) {
#if defined(MEMLOG_CATCH2_V3)
  return Catch::Matchers::ContainsSubstring(needle);
#else
  return Catch::Matchers::Contains(needle);
#endif
}

// The message of the std::invalid_argument that make() throws, or a text
// saying it threw none.
inline std::string invalid_argument_message(const std::function<void()>& make) {
  try {
    make();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no std::invalid_argument thrown)";
}

}  // namespace memlog_test
