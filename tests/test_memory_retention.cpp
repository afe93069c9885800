// Retention by bytes bounds the heap (issue 13): with max_segment_bytes =
// 64 MiB, writing 1 GiB as 2048 records of 512 KiB never has more than two
// segments' worth of records (plus the one being written) live.
//
// This file replaces the global operator new and delete (every form) with
// malloc / aligned_alloc and free that, while a Measurement is alive, count
// the bytes asked for by the blocks allocated meanwhile, live and peak. The
// sizes are kept in a side table (allocated with malloc, so never counted),
// not in a header before each block, so the blocks are the usual ones. Not
// built under ThreadSanitizer, whose runtime defines operator new itself;
// under AddressSanitizer the operators call malloc/free, which ASan
// intercepts, so it still sees every block.

#include "support/catch.hpp"
#include "support/replaced_new.hpp"

#include <memlog/memlog.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>

namespace {
namespace heap {

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

// Only the test's thread allocates while a Measurement is alive.
struct State {
  std::size_t live = 0;
  std::size_t peak = 0;
  std::unordered_map<void*, std::size_t, std::hash<void*>, std::equal_to<>,
                     MallocAllocator<std::pair<void* const, std::size_t>>>
      blocks;  // allocated while armed and still live: their sizes
};
State& state() {
  static State s;  // built by the first Measurement, after static initialisation
  return s;
}
bool armed = false;  // a plain flag: state() is not touched before the first Measurement

void* counted(void* p, std::size_t size) {
  if (p == nullptr) throw std::bad_alloc();
  if (armed) {
    State& s = state();
    s.blocks.emplace(p, size);
    s.live += size;
    s.peak = std::max(s.peak, s.live);
  }
  return p;
}

void* allocate(std::size_t size) { return counted(std::malloc(size == 0 ? 1 : size), size); }

void* allocate(std::size_t size, std::align_val_t alignment) {
  std::size_t align = static_cast<std::size_t>(alignment);
  if (align < sizeof(void*)) align = sizeof(void*);
  // aligned_alloc wants a size that is a multiple of the alignment.
  return counted(std::aligned_alloc(align, size == 0 ? align : (size + align - 1) / align * align), size);
}

void release(void* p) noexcept {
  if (p == nullptr) return;
  if (armed) {
    State& s = state();
    if (const auto it = s.blocks.find(p); it != s.blocks.end()) {
      s.live -= it->second;
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
    s.blocks.reserve(1 << 14);
    s.live = 0;
    s.peak = 0;
    armed = true;
  }
  ~Measurement() {
    armed = false;
    state().blocks.clear();
  }
  Measurement(const Measurement&) = delete;
  Measurement& operator=(const Measurement&) = delete;

  [[nodiscard]] std::size_t live() const noexcept { return state().live; }
  [[nodiscard]] std::size_t peak() const noexcept { return state().peak; }
};

}  // namespace heap
}  // namespace

// The program's operator new and delete (support/replaced_new.hpp) are heap's.
void* memlog_test::replaced_new::allocate(std::size_t size) { return heap::allocate(size); }
void* memlog_test::replaced_new::allocate(std::size_t size, std::align_val_t alignment) {
  return heap::allocate(size, alignment);
}
void memlog_test::replaced_new::release(void* p) noexcept { heap::release(p); }

namespace {

using Log = memlog::Log<std::string>;

constexpr std::size_t mib = std::size_t{1} << 20;
constexpr std::size_t record_bytes = std::size_t{512} << 10;

struct Run {
  std::size_t peak = 0;  // the most bytes live at any moment, the caller's record included
  std::size_t left = 0;  // bytes still live once the log and the record are gone
  int failures = 0;      // writes that failed
  memlog::Stats stats;   // at the end
};

// Writes `writes` copies of one 512 KiB std::string the caller keeps into a
// fresh log with `options`.
Run write_large_records(memlog::Options options, int writes) {
  Run run;
  const heap::Measurement heap;  // nothing but the log and the record allocates meanwhile
  {
    const std::string record(record_bytes, 'x');
    Log log(std::move(options));
    for (int i = 0; i < writes; ++i) run.failures += log.write(record) ? 0 : 1;
    run.stats = log.stats();
  }
  run.peak = heap.peak();
  run.left = heap.live();
  return run;
}

}  // namespace

TEST_CASE("max_segment_bytes of 64 MiB keeps the heap of 1 GiB of 512 KiB records under 136 MiB",
          "[memory][retention]") {
  const Run run = write_large_records({.max_segment_bytes = 64 * mib}, 2048);
  INFO("peak heap: " << run.peak << " bytes (" << static_cast<double>(run.peak) / mib << " MiB)");
  CHECK(run.failures == 0);
  CHECK(run.left == 0);
  // 128 records fill a segment, so 2048 writes end on a full active segment
  // and a full history: 256 records, 128 MiB of payload.
  CHECK(run.stats.written == 2048);
  CHECK(run.stats.records == 256);
  CHECK(run.stats.bytes == 128 * mib);
  // At most two full segments, the record being written and the caller's
  // own: about 129 MiB. The bound is generous; the lower one (the payload of
  // the 256 records held at the end) shows that the count sees them.
  CHECK(run.peak < 136 * mib);
  CHECK(run.peak >= 256 * record_bytes);
}

TEST_CASE("Without max_segment_bytes the same records pile up past that bound (the count sees them)",
          "[memory][retention]") {
  // The default max_segment_size (1024) retains every one of 300 records.
  const Run run = write_large_records({}, 300);
  INFO("peak heap: " << run.peak << " bytes");
  CHECK(run.failures == 0);
  CHECK(run.stats.records == 300);
  CHECK(run.peak > 136 * mib);
  CHECK(run.peak >= 300 * record_bytes);
}
