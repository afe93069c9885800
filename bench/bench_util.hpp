#pragma once
// Helpers shared by memlog's benchmarks (not part of the library).

#include <malloc.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

// The Go benchmarks' payload: 32 bytes, too long for std::string's SSO.
// Go's Write takes a byte slice and copies it; writing this view to a
// Log<std::string> does the same (the log copies the bytes into a segment).
inline constexpr std::string_view payload = R"({"id":"1","message":"benchmark"})";
// The same payload as a std::string, for writes that hand the log a T.
inline const std::string payload_string{payload};

using steady = std::chrono::steady_clock;

[[nodiscard]] inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count();
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Busy-waits (no sleep: a sleep's wake-up jitter would swamp what we measure).
inline void spin_until(std::int64_t deadline_ns) noexcept {
  while (now_ns() < deadline_ns) cpu_relax();
}

// Bytes the heap hands out right now, mmapped blocks included (a large
// vector is mmapped and uordblks alone would miss it).
[[nodiscard]] inline std::int64_t heap_in_use() noexcept {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<std::int64_t>(info.uordblks + info.hblkhd);
}

// Voluntary + involuntary context switches of the whole process so far.
[[nodiscard]] inline std::int64_t context_switches() noexcept {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_nvcsw) + static_cast<std::int64_t>(usage.ru_nivcsw);
}

// CPU time of the calling thread.
[[nodiscard]] inline std::int64_t thread_cpu_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The q-quantile (0..1) of `values` (reordered), nearest rank.
[[nodiscard]] inline double quantile(std::vector<std::int64_t>& values, double q) {
  if (values.empty()) return 0;
  auto rank = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  rank = std::min(rank, values.size() - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank), values.end());
  return static_cast<double>(values[rank]);
}

[[nodiscard]] inline double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace bench
