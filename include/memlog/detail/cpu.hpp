#pragma once
// A busy-wait hint for the spinning parts of memlog (lock acquisition, stream_spin).

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#endif

namespace memlog::detail {

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
