#pragma once
// A busy-wait hint for the spinning parts of memlog (lock acquisition, stream_spin).
// Compiler builtins rather than <immintrin.h>/<intrin.h>, whose macros would
// reach every includer.

#if defined(_MSC_VER) && !defined(__clang__) && (defined(_M_X64) || defined(_M_IX86))
extern "C" void _mm_pause(void);  // as <intrin.h> declares it
#pragma intrinsic(_mm_pause)
#endif

#include <cstddef>

namespace memlog::detail {

// The size that keeps data written by different threads on different cache
// lines. Not std::hardware_destructive_interference_size, which GCC warns
// about in a public layout; a port to a machine with other lines changes it.
inline constexpr std::size_t cache_line_size = 64;

// A hint to the core that it is busy-waiting: lets the sibling hyper-thread
// run and saves power while a stream spins for the next record. Elsewhere a
// plain busy loop.
inline void cpu_relax() noexcept {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_ia32_pause();
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
  asm volatile("yield" ::: "memory");
#elif defined(_MSC_VER) && !defined(__clang__) && (defined(_M_X64) || defined(_M_IX86))
  _mm_pause();
#endif
}

}  // namespace memlog::detail
