#pragma once
// Lock acquisition that spins briefly before it blocks.
//
// A log's critical sections are tens to a few hundred nanoseconds long, but
// std::shared_mutex (a pthread rwlock on glibc) puts a contended caller to
// sleep at once: a futex wait, a context switch, and a futex wake by the
// holder. Between a writer and a stream reading beside it, that cost (a few
// microseconds) dominated. Trying a few times first, with a pause between
// tries, lets the holder finish; past the limit we block as before, so an
// oversubscribed machine wastes at most a couple of microseconds per call.

#include <mutex>
#include <shared_mutex>

#include "cpu.hpp"

namespace memlog::detail {

inline constexpr int lock_spin_tries = 64;

template <class Mutex>
class SpinThenLock {
 public:
  explicit SpinThenLock(Mutex& mutex) : mutex_(mutex) {
    for (int i = 0; i < lock_spin_tries; ++i) {
      if (mutex_.try_lock()) return;
      cpu_relax();
    }
    mutex_.lock();
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
    for (int i = 0; i < lock_spin_tries; ++i) {
      if (mutex_.try_lock_shared()) return;
      cpu_relax();
    }
    mutex_.lock_shared();
  }
  ~SpinThenLockShared() { mutex_.unlock_shared(); }
  SpinThenLockShared(const SpinThenLockShared&) = delete;
  SpinThenLockShared& operator=(const SpinThenLockShared&) = delete;

 private:
  Mutex& mutex_;
};

}  // namespace memlog::detail
