#pragma once
// Lock acquisition that spins for a while before it blocks.
//
// A log's critical sections are short (tens of nanoseconds for a write, up
// to a few microseconds for a stream's batch of cache-cold records), but
// std::shared_mutex (a pthread rwlock on glibc) puts a contended caller to
// sleep at once. Waking it again costs a futex call and, on a virtual
// machine whose other vCPU went idle, an inter-processor interrupt: tens of
// microseconds. Measured on the 2-vCPU benchmark machine, a writer with one
// stream reading beside it slept on 30% of its writes and wrote 0.1M records/s;
// spinning first (2 us was already enough) brought it to 3-4M/s. Past
// lock_spin_limit we block as before, so an oversubscribed machine loses at
// most that much per call.

#include <chrono>
#include <mutex>
#include <shared_mutex>

#include "cpu.hpp"

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

template <class Mutex>
class SpinThenLock {
 public:
  explicit SpinThenLock(Mutex& mutex) : mutex_(mutex) {
    if (!spin_try([&] { return mutex_.try_lock(); })) mutex_.lock();
  }
  ~SpinThenLock() { mutex_.unlock(); }
  SpinThenLock(const SpinThenLock&) = delete;
  SpinThenLock& operator=(const SpinThenLock&) = delete;

 private:
  Mutex& mutex_;
};

template <class Mutex>
class SpinThenLockShared {
 public:
  explicit SpinThenLockShared(Mutex& mutex) : mutex_(mutex) {
    if (!spin_try([&] { return mutex_.try_lock_shared(); })) mutex_.lock_shared();
  }
  ~SpinThenLockShared() { mutex_.unlock_shared(); }
  SpinThenLockShared(const SpinThenLockShared&) = delete;
  SpinThenLockShared& operator=(const SpinThenLockShared&) = delete;

 private:
  Mutex& mutex_;
};

}  // namespace memlog::detail
