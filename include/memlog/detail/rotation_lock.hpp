#pragma once
// RotationLock: a phase-fair reader/writer lock for the one moment a log
// needs exclusion, the rotation of its segments.
//
// Readers (read, read_batch, a stream's read-ahead) take it shared for the
// length of one copy; a writer takes it exclusively only when a write
// rotates the segments, which recycles the storage readers may be looking
// at, or frees an expired segment (Options::max_age). Other writes never
// touch it.
//
// Phase-fair (Brandenburg and Anderson's PF-T lock, without the writers'
// ticket: the log already lets one writer at a time get here): a reader that
// arrives while a writer is present waits only until that writer leaves,
// even if another writer comes straight after; a writer waits only for the
// readers that entered before it announced itself. So neither side starves:
// a writer waits at most one critical section per reader, a reader at most
// one rotation.
//
// Waiting spins briefly (a rotation or a reader's copy is usually over in
// microseconds), then sleeps on the atomic (a futex on Linux).

#include <atomic>
#include <cassert>
#include <cstdint>
#include <thread>

#include "cpu.hpp"
#include "thread_annotations.hpp"

namespace memlog::detail {

class MEMLOG_CAPABILITY("rotation lock") RotationLock {
 public:
  RotationLock() = default;
  RotationLock(const RotationLock&) = delete;
  RotationLock& operator=(const RotationLock&) = delete;

  // Whether this thread holds a RotationLock (any) shared: it is inside a
  // read visitor. Tracked in debug builds only, for assertions against a
  // visitor that calls into a log (see Log::read).
  [[nodiscard]] static bool held_shared_here() noexcept {
#ifndef NDEBUG
    return held_shared_ != nullptr;
#else
    return false;
#endif
  }

  void lock_shared() noexcept MEMLOG_ACQUIRE_SHARED() {
#ifndef NDEBUG
    // Not even another log's: two visitors reading each other's logs, each
    // log with a rotating write waiting for its visitor, wait for ever.
    assert(held_shared_ == nullptr && "memlog: a read visitor called into a log (see Log::read)");
    held_shared_ = this;
#endif
    // acquire: pairs with the release in unlock(), either directly or through
    // the release sequence of later readers' increments.
    const std::uint32_t writer = entered_.fetch_add(reader_step, std::memory_order_acquire) & writer_bits;
    if (writer == 0) return;
    // A writer announced itself before we did: wait for its phase to end,
    // that is, for the writer bits to change (cleared, or a new writer with
    // the other phase bit, who counted us and so waits for us).
    wait_while(entered_, [writer](std::uint32_t v) { return (v & writer_bits) == writer; });
  }

  void unlock_shared() noexcept MEMLOG_RELEASE_SHARED() {
#ifndef NDEBUG
    held_shared_ = nullptr;
#endif
    // seq_cst (and seq_cst below): with the writer's seq_cst announcement and
    // its seq_cst load of left_, either the writer sees this exit or we see
    // its announcement and wake it. release: our reads happen before the
    // writer's rotation.
    left_.fetch_add(reader_step, std::memory_order_seq_cst);
    if ((entered_.load(std::memory_order_seq_cst) & writer_present) != 0) left_.notify_all();
  }

  // One writer at a time: the caller serialises writers.
  void lock() noexcept MEMLOG_ACQUIRE() {
    phase_ ^= phase_bit;
    // seq_cst: see unlock_shared(). The readers counted in `entered` are the
    // ones we wait for; later readers see our bits and wait for us.
    const std::uint32_t entered =
        entered_.fetch_add(writer_present | phase_, std::memory_order_seq_cst) & ~writer_bits;
    // acquire: pairs with the readers' increments of left_, so their reads
    // happen before ours and before the recycling.
    wait_while(left_, [entered](std::uint32_t v) { return v != entered; }, std::memory_order_seq_cst);
  }

  void unlock() noexcept MEMLOG_RELEASE() {
    // release: the rotation happens before what the readers we let in read.
    entered_.fetch_sub(writer_present | phase_, std::memory_order_release);
    entered_.notify_all();
  }

 private:
  static constexpr std::uint32_t phase_bit = 1;
  static constexpr std::uint32_t writer_present = 2;
  static constexpr std::uint32_t writer_bits = phase_bit | writer_present;
  static constexpr std::uint32_t reader_step = 4;

  // Spins, then sleeps on `word`, while blocked(value) holds.
  template <class Blocked>
  static void wait_while(std::atomic<std::uint32_t>& word, Blocked blocked,
                         std::memory_order order = std::memory_order_acquire) noexcept {
    for (int i = 0; i < spins; ++i) {
      if (!blocked(word.load(order))) return;
      cpu_relax();
    }
    // The other side is usually between two instructions of a short section
    // but off its core (more runnable threads than cores): give it the core
    // a few times before sleeping, which costs it a system call to wake us.
    for (int i = 0; i < yields; ++i) {
      if (!blocked(word.load(order))) return;
      std::this_thread::yield();
    }
    while (true) {
      const std::uint32_t value = word.load(order);
      if (!blocked(value)) return;
      word.wait(value, order);
    }
  }

  static constexpr int spins = 1024;  // a few microseconds of pause instructions
  static constexpr int yields = 16;

  // Readers entered (in steps of reader_step) plus the present writer's bits;
  // wraps around harmlessly (only differences and equality are used).
  std::atomic<std::uint32_t> entered_{0};
  // Readers left, in steps of reader_step.
  std::atomic<std::uint32_t> left_{0};
  // The phase bit of the current or last writer; only the writer touches it.
  std::uint32_t phase_ = 0;

#ifndef NDEBUG
  // The lock this thread holds shared, if any.
  static inline thread_local const RotationLock* held_shared_ = nullptr;
#endif
};

}  // namespace memlog::detail
