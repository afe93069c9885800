#pragma once
// Helpers shared by memlog's benchmarks (not part of the library).

#include <malloc.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
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

// CPU time (user + system) of the whole process so far, every thread
// included, exited ones too.
[[nodiscard]] inline std::int64_t process_cpu_ns() noexcept {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto ns = [](const timeval& tv) {
    return static_cast<std::int64_t>(tv.tv_sec) * 1'000'000'000 + static_cast<std::int64_t>(tv.tv_usec) * 1'000;
  };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
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

// MEMLOG_BENCH_QUICK=1 in the environment: the long benchmarks (fixed record
// counts, fixed time windows) shrink by `divisor`, for a smoke run that only
// checks they work and terminate. Their figures are then meaningless.
[[nodiscard]] inline bool quick() noexcept {
  static const bool on = [] {
    const char* value = std::getenv("MEMLOG_BENCH_QUICK");
    return value != nullptr && *value != '\0' && std::string_view(value) != "0";
  }();
  return on;
}
[[nodiscard]] inline std::int64_t scaled(std::int64_t full, std::int64_t divisor = 20) noexcept {
  return quick() ? std::max<std::int64_t>(full / divisor, 1) : full;
}

// Latency samples too many to keep (tens of millions of writes): counts per
// bucket, 32 buckets per power of two, so a quantile is within 1/32 (3%) of
// the true sample; the maximum is kept exactly.
class Histogram {
 public:
  void add(std::int64_t ns) noexcept {
    const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0));
    ++counts_[index(v)];
    ++total_;
    max_ = std::max(max_, v);
  }

  [[nodiscard]] std::int64_t count() const noexcept { return static_cast<std::int64_t>(total_); }
  [[nodiscard]] double max() const noexcept { return static_cast<double>(max_); }

  // The q-quantile (0..1), nearest rank: the middle of the sample's bucket
  // (never above the maximum).
  [[nodiscard]] double quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1) + 0.5);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min(middle(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
  }

 private:
  static constexpr int sub_bits = 5;
  static constexpr std::uint64_t sub = std::uint64_t{1} << sub_bits;

  // Values below 32 have a bucket each; above, 32 buckets per power of two.
  [[nodiscard]] static std::size_t index(std::uint64_t v) noexcept {
    if (v < sub) return static_cast<std::size_t>(v);
    const int shift = std::bit_width(v) - 1 - sub_bits;
    return static_cast<std::size_t>((static_cast<std::uint64_t>(shift) + 1) * sub + ((v >> shift) - sub));
  }
  [[nodiscard]] static double middle(std::size_t i) noexcept {
    if (i < sub) return static_cast<double>(i);
    const auto shift = static_cast<int>(i / sub) - 1;
    const double low = static_cast<double>((sub + i % sub) << shift);
    return low + static_cast<double>(std::uint64_t{1} << shift) / 2 - 0.5;
  }

  std::array<std::uint64_t, (64 - sub_bits + 1) * sub> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace bench
