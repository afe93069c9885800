#pragma once
// The default clock of Header::created (when Options::clock is empty).
//
// std::chrono::system_clock::now() on every write. A clock that caches or
// extrapolates it (from the TSC, say) is cheaper only while writes are dense,
// costs more than it when they are sparse, and is wrong for a while whenever
// the system clock is stepped or slewed or the cores' TSCs disagree; the
// kernel's vDSO already does that extrapolation with the information to get
// it right. A caller who wants a cheaper clock passes Options::clock.

#include <chrono>

namespace memlog::detail {

[[nodiscard]] inline std::chrono::system_clock::time_point wall_clock_now() noexcept {
  return std::chrono::system_clock::now();
}

}  // namespace memlog::detail
