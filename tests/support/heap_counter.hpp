#pragma once
// A heap counter for one program (bench_memory, test_memory_retention):
// every form of the global operator new and delete (replaced_new.hpp) goes
// to malloc / aligned_alloc and free, so that the blocks, and mallinfo2's
// figures, are those of the default operators. While a heap::Measurement
// is alive they also count the bytes live and at the peak, two ways: the
// bytes asked for, and what the allocator set aside for them
// (malloc_usable_size: glibc rounds a block it maps with mmap up to whole
// pages). The sizes are kept in a side table allocated with malloc, never
// counted. Include it in exactly one translation unit of a program, and not
// under ThreadSanitizer, whose runtime defines operator new itself; under
// AddressSanitizer the operators call malloc/free, which ASan intercepts.

#include <malloc.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <new>
#include <unordered_map>
#include <utility>

#include "replaced_new.hpp"

namespace memlog_test::heap {

// The side table's allocator: straight to malloc, never through the
// counted operator new.
template <class T>
struct MallocAllocator {
  using value_type = T;
  MallocAllocator() = default;
  template <class U>
  explicit MallocAllocator(const MallocAllocator<U>&) noexcept {}
  [[nodiscard]] T* allocate(std::size_t n) {
    void* p = std::malloc(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  friend bool operator==(const MallocAllocator&, const MallocAllocator&) = default;
};

struct Sizes {
  std::int64_t requested = 0;
  std::int64_t usable = 0;
};

// The measurements run on one thread, with no other thread allocating.
struct State {
  Sizes live;
  Sizes peak;
  std::unordered_map<void*, Sizes, std::hash<void*>, std::equal_to<>, MallocAllocator<std::pair<void* const, Sizes>>>
      blocks;  // those allocated while armed and still live
};
inline State& state() {
  static State s;  // built on the first measurement, after any static initialiser's allocations
  return s;
}
inline bool armed = false;  // a plain flag: state() is not touched before the first measurement

inline void* counted(void* p, std::size_t size) {
  if (p == nullptr) throw std::bad_alloc();
  if (armed) {
    State& s = state();
    const Sizes sizes{static_cast<std::int64_t>(size), static_cast<std::int64_t>(malloc_usable_size(p))};
    s.blocks.emplace(p, sizes);
    s.live.requested += sizes.requested;
    s.live.usable += sizes.usable;
    s.peak.requested = std::max(s.peak.requested, s.live.requested);
    s.peak.usable = std::max(s.peak.usable, s.live.usable);
  }
  return p;
}

inline void* allocate(std::size_t size) { return counted(std::malloc(size == 0 ? 1 : size), size); }

inline void* allocate(std::size_t size, std::align_val_t alignment) {
  std::size_t align = static_cast<std::size_t>(alignment);
  if (align < sizeof(void*)) align = sizeof(void*);
  // aligned_alloc wants a size that is a multiple of the alignment.
  return counted(std::aligned_alloc(align, size == 0 ? align : (size + align - 1) / align * align), size);
}

inline void release(void* p) noexcept {
  if (p == nullptr) return;
  if (armed) {
    State& s = state();
    if (const auto it = s.blocks.find(p); it != s.blocks.end()) {
      s.live.requested -= it->second.requested;
      s.live.usable -= it->second.usable;
      s.blocks.erase(it);
    }
  }
  std::free(p);
}

// Counts the blocks allocated during its lifetime: live and peak bytes, from 0.
class Measurement {
 public:
  Measurement() {
    State& s = state();
    s.blocks.reserve(1 << 14);  // before arming: the table's own growth is not counted anyway
    s.live = {};
    s.peak = {};
    armed = true;
  }
  ~Measurement() {
    armed = false;
    state().blocks.clear();
  }
  Measurement(const Measurement&) = delete;
  Measurement& operator=(const Measurement&) = delete;

  [[nodiscard]] Sizes live() const noexcept { return state().live; }
  [[nodiscard]] Sizes peak() const noexcept { return state().peak; }
};

}  // namespace memlog_test::heap

// This program's operator new and delete (replaced_new.hpp) are the counter's.
void* memlog_test::replaced_new::allocate(std::size_t size) { return memlog_test::heap::allocate(size); }
void* memlog_test::replaced_new::allocate(std::size_t size, std::align_val_t alignment) {
  return memlog_test::heap::allocate(size, alignment);
}
void memlog_test::replaced_new::release(void* p) noexcept { memlog_test::heap::release(p); }
