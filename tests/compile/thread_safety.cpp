// Compiled, not run, by clang++ -Wthread-safety -Werror (tests/CMakeLists.txt).
// As it stands it must compile: every guarded member is touched under its
// lock. With -DMEMLOG_TS_CASE=<n> it adds the one locking mistake numbered n,
// which must fail to compile with a -Wthread-safety-analysis error; so each
// wrapper and macro of detail/thread_annotations.hpp is shown to be checked.

#include <memlog/detail/thread_annotations.hpp>

#include <condition_variable>
#include <shared_mutex>

#ifndef MEMLOG_TS_CASE
#define MEMLOG_TS_CASE 0
#endif

namespace {

// A reader/writer lock as the log's own are: annotated on the type itself.
class MEMLOG_CAPABILITY("mutex") RwLock {
 public:
  void lock() MEMLOG_ACQUIRE() { mu_.lock(); }
  void unlock() MEMLOG_RELEASE() { mu_.unlock(); }
  void lock_shared() MEMLOG_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() MEMLOG_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class Counter {
 public:
  void add(int n) {
    memlog::detail::MutexLock lock(mu_);
    add_locked(n);
    ready_.notify_all();
  }

  int wait_for_nonzero() {
    memlog::detail::MutexLock lock(mu_);
    ready_.wait(lock.native(), [&]() MEMLOG_REQUIRES(mu_) { return value_ != 0; });
    return value_;
  }

  int snapshot() {
    memlog::detail::SharedLock lock(rw_);
    return table_;
  }

  void set_table(int n) {
    memlog::detail::ExclusiveLock lock(rw_);
    table_ = n;
  }

  bool try_add(int n) {
    if (!mu_.try_lock()) return false;
    value_ += n;
    mu_.unlock();
    return true;
  }

#if MEMLOG_TS_CASE == 1
  int unguarded_read() { return value_; }  // reading value_ requires holding mu_
#elif MEMLOG_TS_CASE == 2
  void unguarded_write() { value_ = 1; }  // writing value_ requires holding mu_ exclusively
#elif MEMLOG_TS_CASE == 3
  void call_without_lock() { add_locked(1); }  // add_locked requires holding mu_
#elif MEMLOG_TS_CASE == 4
  void write_under_shared_lock() {
    memlog::detail::SharedLock lock(rw_);
    table_ = 1;  // writing table_ requires holding rw_ exclusively
  }
#elif MEMLOG_TS_CASE == 5
  int after_guard_scope() {
    { memlog::detail::MutexLock lock(mu_); }
    return value_;  // the guard has released mu_
  }
#elif MEMLOG_TS_CASE == 6
  void unchecked_try_lock() {
    (void)mu_.try_lock();
    value_ = 1;  // mu_ may not be held
  }
#endif

 private:
  void add_locked(int n) MEMLOG_REQUIRES(mu_) { value_ += n; }

  memlog::detail::Mutex mu_;
  std::condition_variable ready_;
  int value_ MEMLOG_GUARDED_BY(mu_) = 0;

  RwLock rw_;
  int table_ MEMLOG_GUARDED_BY(rw_) = 0;
};

}  // namespace

int main() {
  Counter counter;
  counter.add(1);
  counter.set_table(2);
  const bool added = counter.try_add(3);
  return counter.wait_for_nonzero() + counter.snapshot() + (added ? 1 : 0) == 7 ? 0 : 1;
}
