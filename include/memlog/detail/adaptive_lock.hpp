#pragma once
// WordMutex: the writers' mutex, which spins for a while before it blocks.
//
// A log's writers hold their mutex for tens of nanoseconds, but a contended
// std::mutex puts the caller to sleep at once, and waking it costs a futex
// call and often an inter-processor interrupt, far more than the wait. So a
// writer first retries for up to lock_spin_limit, then sleeps on the word.
// Lock it with ExclusiveLock (thread_annotations.hpp).

#include <atomic>
#include <chrono>
#include <cstdint>

#include "cpu.hpp"
#include "thread_annotations.hpp"

namespace memlog::detail {

inline constexpr std::chrono::nanoseconds lock_spin_limit = std::chrono::microseconds(10);

// Calls try_once() until it succeeds or lock_spin_limit has passed; false
// then. The pause between tries doubles (up to 64 pauses): a failed try is
// a write to the lock's cache line, and hammering it would slow down the
// holder's unlock.
template <class Try>
[[nodiscard]] bool spin_try(Try try_once) {
  unsigned pauses = 1;
  for (int i = 0; i < 8; ++i) {  // the common case: free within a few tries
    if (try_once()) return true;
    for (unsigned p = 0; p < pauses; ++p) cpu_relax();
    pauses *= 2;
  }
  const auto until = std::chrono::steady_clock::now() + lock_spin_limit;
  while (true) {
    for (int i = 0; i < 16; ++i) {
      if (try_once()) return true;
      for (unsigned p = 0; p < pauses; ++p) cpu_relax();
      if (pauses < 64) pauses *= 2;
    }
    if (std::chrono::steady_clock::now() >= until) return false;
  }
}

// A mutex of one word: lock() spins (spin_try), then sleeps on the word.
// The log's writers use it: it is as fast as std::mutex uncontended, and a
// tenth of its size, which matters to a sharded log's thousand shards.
class MEMLOG_CAPABILITY("mutex") WordMutex {
 public:
  WordMutex() = default;
  WordMutex(const WordMutex&) = delete;
  WordMutex& operator=(const WordMutex&) = delete;

  [[nodiscard]] bool try_lock() noexcept MEMLOG_TRY_ACQUIRE(true) {
    std::uint32_t expected = unlocked;
    // acquire: pairs with the release in unlock().
    return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed);
  }

  void lock() noexcept MEMLOG_ACQUIRE() {
    if (spin_try([this] { return try_lock(); })) return;
    // Mark the lock contended, so that unlock() wakes us, and sleep until
    // it is free. acquire: as in try_lock().
    while (state_.exchange(contended, std::memory_order_acquire) != unlocked) state_.wait(contended);
  }

  void unlock() noexcept MEMLOG_RELEASE() {
    // release: what the holder did happens before the next holder's section.
    if (state_.exchange(unlocked, std::memory_order_release) == contended) state_.notify_one();
  }

 private:
  static constexpr std::uint32_t unlocked = 0;
  static constexpr std::uint32_t locked = 1;
  static constexpr std::uint32_t contended = 2;  // locked, and someone may sleep on it
  std::atomic<std::uint32_t> state_{unlocked};
};

}  // namespace memlog::detail
