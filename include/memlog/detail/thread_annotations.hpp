#pragma once
// Clang thread-safety annotations, and the thin lock wrappers that carry them.
//
// With Clang and -Wthread-safety the compiler checks that a member marked
// MEMLOG_GUARDED_BY(mu_) is touched only with mu_ held, that a function
// marked MEMLOG_REQUIRES(mu_) is called only with it held, and that every
// lock is released on every path. Other compilers see empty macros.
//
// The standard lock types carry no annotations (a std::lock_guard over an
// annotated mutex acquires nothing as far as the analysis knows), so guarded
// state is locked through the wrappers below: Mutex with MutexLock, and
// ExclusiveLock / SharedLock for any other type marked MEMLOG_CAPABILITY.

#include <mutex>

#if defined(__clang__)
#define MEMLOG_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MEMLOG_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are locks ("mutex" is the noun diagnostics use).
#define MEMLOG_CAPABILITY(name) MEMLOG_THREAD_ANNOTATION(capability(name))
// On a class: an RAII guard; what its constructor acquires, its destructor releases.
#define MEMLOG_SCOPED_CAPABILITY MEMLOG_THREAD_ANNOTATION(scoped_lockable)

// On a data member: read it with the lock held (shared suffices), write it
// with the lock held exclusively. PT_: the same for what the pointer points to.
#define MEMLOG_GUARDED_BY(x) MEMLOG_THREAD_ANNOTATION(guarded_by(x))
#define MEMLOG_PT_GUARDED_BY(x) MEMLOG_THREAD_ANNOTATION(pt_guarded_by(x))

// On a function: the caller holds these (exclusively / at least shared), or
// must not hold them (EXCLUDES, e.g. a function that takes the lock itself).
#define MEMLOG_REQUIRES(...) MEMLOG_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define MEMLOG_REQUIRES_SHARED(...) MEMLOG_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define MEMLOG_EXCLUDES(...) MEMLOG_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

// On a function: it acquires / releases these (no argument: `this`, for the
// lock's own member functions; on a scoped guard's destructor: whatever the
// guard holds). TRY_: acquires them when it returns the given value.
#define MEMLOG_ACQUIRE(...) MEMLOG_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define MEMLOG_ACQUIRE_SHARED(...) MEMLOG_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define MEMLOG_RELEASE(...) MEMLOG_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define MEMLOG_RELEASE_SHARED(...) MEMLOG_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define MEMLOG_TRY_ACQUIRE(...) MEMLOG_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define MEMLOG_TRY_ACQUIRE_SHARED(...) MEMLOG_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))

// On a function: not analysed. For the few bodies whose locking the analysis
// cannot follow (a lock taken inside a lambda); say why at each use.
#define MEMLOG_NO_THREAD_SAFETY_ANALYSIS MEMLOG_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace memlog::detail {

// A std::mutex the analysis knows about. Lock it with MutexLock; lock(),
// unlock() and try_lock() are there for generic guards (e.g. spinning ones).
class MEMLOG_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() MEMLOG_ACQUIRE() { mu_.lock(); }
  void unlock() MEMLOG_RELEASE() { mu_.unlock(); }
  [[nodiscard]] bool try_lock() MEMLOG_TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex for its scope. native() is for std::condition_variable: a
// wait releases and re-takes the mutex inside the call, so to the analysis
// the mutex is held throughout, which is what the code around the wait sees.
class MEMLOG_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) MEMLOG_ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() MEMLOG_RELEASE() = default;
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  [[nodiscard]] std::unique_lock<std::mutex>& native() noexcept { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

// Holds any capability with lock()/unlock() exclusively for its scope.
template <class Lockable>
class MEMLOG_SCOPED_CAPABILITY ExclusiveLock {
 public:
  explicit ExclusiveLock(Lockable& lock) MEMLOG_ACQUIRE(lock) : lock_(lock) { lock_.lock(); }
  ~ExclusiveLock() MEMLOG_RELEASE() { lock_.unlock(); }
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

 private:
  Lockable& lock_;
};

// Holds any capability with lock_shared()/unlock_shared() shared for its scope.
template <class Lockable>
class MEMLOG_SCOPED_CAPABILITY SharedLock {
 public:
  explicit SharedLock(Lockable& lock) MEMLOG_ACQUIRE_SHARED(lock) : lock_(lock) { lock_.lock_shared(); }
  ~SharedLock() MEMLOG_RELEASE() { lock_.unlock_shared(); }
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;

 private:
  Lockable& lock_;
};

}  // namespace memlog::detail
