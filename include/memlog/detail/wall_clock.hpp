#pragma once
// The default clock of Header::created: std::chrono::system_clock, read
// through the CPU's time-stamp counter where that is safe.
//
// Why: a write reads the clock once, and system_clock::now() (a vDSO call)
// cost 24 ns on the benchmark machine, half of a whole write; rdtsc costs
// 9.6 ns. So, on x86-64 with an invariant TSC (constant rate, running in
// every power state), now() extrapolates from the last (tsc, system_clock)
// pair it read, at a rate measured against system_clock, and reads
// system_clock again at least every millisecond. Every other machine reads
// system_clock::now() directly.
//
// Accuracy: the pair is read with rdtsc on both sides of system_clock::now()
// (the narrowest of up to four brackets; its midpoint is within tens of
// nanoseconds), and the rate is measured over
// the time since the last step of the system clock (at least 1 ms), so the
// extrapolation drifts by well under a microsecond before the next re-read
// (NTP slews system_clock by at most 500 ppm: 0.5 us per ms). A step of the
// system clock (settimeofday, a VM resume) shows up within 1 ms. Like
// system_clock itself, successive readings are not guaranteed monotonic.
//
// Thread safety: the pair and the rate are one process-wide seqlock. Readers
// never write it; a re-read takes it with one compare-exchange, and a reader
// that meets a re-read in progress falls back to system_clock::now().

#include <atomic>
#include <chrono>
#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <x86intrin.h>
#define MEMLOG_DETAIL_HAS_TSC 1
#else
#define MEMLOG_DETAIL_HAS_TSC 0
#endif

namespace memlog::detail {

using WallTime = std::chrono::system_clock::time_point;

#if MEMLOG_DETAIL_HAS_TSC

struct TscCalibration {
  // Even when the fields below are consistent; odd while one thread rewrites them.
  std::atomic<std::uint32_t> sequence{0};
  std::atomic<std::uint64_t> base_ticks{0};
  std::atomic<std::int64_t> base_ns{0};         // system_clock at base_ticks, in ns since the epoch
  std::atomic<std::uint64_t> ns_per_tick{0};    // 32.32 fixed point; 0 until measured
  std::atomic<std::uint64_t> horizon_ticks{0};  // re-read system_clock after this many ticks (1 ms)
  // Where the rate is measured from; only the thread holding an odd sequence touches these.
  std::atomic<std::uint64_t> anchor_ticks{0};
  std::atomic<std::int64_t> anchor_ns{0};
  std::atomic<int> support{0};  // 0: not checked yet, 1: invariant TSC, -1: none
};

// 128-bit products for the rate arithmetic; __extension__ keeps -Wpedantic quiet.
__extension__ typedef unsigned __int128 Uint128;

// Constant-initialised: no guard on the fast path.
inline TscCalibration tsc_calibration;

[[nodiscard]] inline bool has_invariant_tsc() noexcept {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x80000007u) return false;
  if (__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx & (1u << 8)) != 0;  // CPUID.80000007H:EDX[8], invariant TSC
}

[[nodiscard]] inline std::int64_t to_ns(WallTime t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

[[nodiscard]] inline WallTime from_ns(std::int64_t ns) noexcept {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(ns)));
}

// Reads system_clock, and re-bases (and, once enough time has passed,
// measures) the extrapolation if no other thread is doing it.
[[gnu::noinline, gnu::cold]] inline WallTime wall_clock_reread() noexcept {
  TscCalibration& c = tsc_calibration;
  // relaxed: a plain cache of an immutable fact; racing threads compute the same value.
  int support = c.support.load(std::memory_order_relaxed);
  if (support == 0) {
    support = has_invariant_tsc() ? 1 : -1;
    c.support.store(support, std::memory_order_relaxed);
  }
  if (support < 0) return std::chrono::system_clock::now();

  // A (ticks, time) pair: bracket the clock read with rdtsc and keep the
  // narrowest of up to four brackets. The first read after a sleep is often
  // slow (cold caches: thousands of ticks), and the midpoint of a wide
  // bracket can be a microsecond off; a second read is usually ~100 ticks.
  WallTime now;
  std::uint64_t ticks = 0;
  std::uint64_t narrowest = ~std::uint64_t{0};
  for (int attempt = 0; attempt < 4 && narrowest > 200; ++attempt) {
    const std::uint64_t before = __rdtsc();
    const WallTime read = std::chrono::system_clock::now();
    const std::uint64_t after = __rdtsc();
    if (after - before < narrowest) {
      narrowest = after - before;
      now = read;
      ticks = before + (after - before) / 2;
    }
  }

  // acquire on success: the fields read below are the last writer's.
  std::uint32_t sequence = c.sequence.load(std::memory_order_relaxed);
  if ((sequence & 1u) != 0 ||
      !c.sequence.compare_exchange_strong(sequence, sequence + 1, std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
    return now;  // another thread is re-reading
  }

  const std::int64_t ns = to_ns(now);
  // relaxed loads: only a thread holding the odd sequence writes these.
  std::uint64_t rate = c.ns_per_tick.load(std::memory_order_relaxed);
  const std::uint64_t anchor_ticks = c.anchor_ticks.load(std::memory_order_relaxed);
  const std::int64_t anchor_ns = c.anchor_ns.load(std::memory_order_relaxed);

  bool re_anchor = anchor_ticks == 0 || ticks <= anchor_ticks || ns <= anchor_ns;
  if (!re_anchor && rate != 0) {
    // A step of the system clock (or a TSC we cannot follow) breaks the
    // measured rate: predicted and read times disagree by far more than drift.
    const std::uint64_t base_ticks = c.base_ticks.load(std::memory_order_relaxed);
    const std::int64_t base_ns = c.base_ns.load(std::memory_order_relaxed);
    if (ticks > base_ticks) {
      const auto predicted = base_ns + static_cast<std::int64_t>(
                                           (static_cast<Uint128>(ticks - base_ticks) * rate) >> 32);
      const std::int64_t error = predicted - ns;
      re_anchor = error > 100'000 || error < -100'000;
    } else {
      re_anchor = true;
    }
  }
  if (re_anchor) {
    c.anchor_ticks.store(ticks, std::memory_order_relaxed);
    c.anchor_ns.store(ns, std::memory_order_relaxed);
  } else if (ns - anchor_ns >= 1'000'000) {
    const auto measured = static_cast<std::uint64_t>(
        (static_cast<Uint128>(static_cast<std::uint64_t>(ns - anchor_ns)) << 32) / (ticks - anchor_ticks));
    // Between 0.1 and 20 GHz; anything else is not a clock to extrapolate.
    if (measured > (std::uint64_t{1} << 32) / 20 && measured < (std::uint64_t{10} << 32)) rate = measured;
  }

  std::uint64_t horizon = 0;
  if (rate != 0) horizon = static_cast<std::uint64_t>((static_cast<Uint128>(1'000'000) << 32) / rate);
  // release: a reader whose acquire load sees one of these values also sees
  // the odd sequence stored before it, so its second sequence load differs.
  // (Release stores and acquire loads rather than fences: GCC's TSan does not
  // support atomic_thread_fence, and on x86 both compile to plain moves.)
  c.base_ticks.store(ticks, std::memory_order_release);
  c.base_ns.store(ns, std::memory_order_release);
  c.ns_per_tick.store(rate, std::memory_order_release);
  c.horizon_ticks.store(horizon, std::memory_order_release);
  // release: publishes the fields with the new even sequence.
  c.sequence.store(sequence + 2, std::memory_order_release);
  return now;
}

// system_clock::now(), within a microsecond, for about 11 ns.
[[nodiscard]] inline WallTime wall_clock_now() noexcept {
  const std::uint64_t ticks = __rdtsc();
  const TscCalibration& c = tsc_calibration;
  // Seqlock read: the sequence, the fields, the sequence again; equal and
  // even means a consistent copy. acquire on the first load: the fields are
  // at least as new as that sequence. acquire on the fields: the second
  // sequence load cannot move above them, and sees the odd sequence of any
  // re-read whose field it saw (see the release stores there).
  const std::uint32_t before = c.sequence.load(std::memory_order_acquire);
  const std::uint64_t base_ticks = c.base_ticks.load(std::memory_order_acquire);
  const std::int64_t base_ns = c.base_ns.load(std::memory_order_acquire);
  const std::uint64_t rate = c.ns_per_tick.load(std::memory_order_acquire);
  const std::uint64_t horizon = c.horizon_ticks.load(std::memory_order_acquire);
  const std::uint32_t after = c.sequence.load(std::memory_order_relaxed);
  // Unsigned: a TSC behind the base (another core's reading) wraps to a huge
  // value and takes the slow path. horizon * rate < 2^52, so no overflow.
  const std::uint64_t elapsed = ticks - base_ticks;
  if (before == after && (before & 1u) == 0 && elapsed < horizon) [[likely]] {
    return from_ns(base_ns + static_cast<std::int64_t>((elapsed * rate) >> 32));
  }
  return wall_clock_reread();
}

#else

[[nodiscard]] inline WallTime wall_clock_now() noexcept { return std::chrono::system_clock::now(); }

#endif

}  // namespace memlog::detail

#undef MEMLOG_DETAIL_HAS_TSC
