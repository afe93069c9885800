#pragma once
// Hardware facts memlog lays its hot atomics out by.

#include <cstddef>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#endif

namespace memlog::detail {

// Size that keeps two hot atomics off one cache line. A fixed 64 rather than
// std::hardware_destructive_interference_size, whose value may differ between
// compilers and flags and so must not shape a public layout (GCC warns).
#ifndef MEMLOG_CACHE_LINE_SIZE
inline constexpr std::size_t cache_line_size = 64;
#else
inline constexpr std::size_t cache_line_size = MEMLOG_CACHE_LINE_SIZE;
#endif

// A hint to the core that it is busy-waiting: lets the sibling hyper-thread
// run and saves power while a stream spins for the next record.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace memlog::detail
