#pragma once
// OffsetEvent: an event count keyed by offset. Streams wait on it for the
// record at their position (or for a later one); writes tell it what they
// published.
//
// The point is what a write pays: nothing but one load while nobody waits
// for an offset it publishes. Each parked waiter is a node with the offset
// it waits for and a condition variable of its own; `wake_at_` holds the
// lowest such offset. A write that publishes it takes the parking mutex and
// wakes exactly the waiters whose offset is now published, so a hundred
// streams waiting for different offsets are not woken a hundred times each.
//
// The writer and a parking waiter must not miss each other: the writer
// stores next (the log's published-offset counter) then loads wake_at_, the
// waiter stores wake_at_ then loads next. The writers' own mutex orders the
// two without a fence on the write path: the writer loads wake_at_ while
// still holding it, and the waiter makes its last check under it (`check`,
// given by the log). Either the writer's critical section comes after the
// waiter's check, and it sees the waiter's wake_at_ (stored before the
// check), or before, and the check sees the record. Every store to wake_at_
// happens under the parking mutex, so a waiter's load-then-store is a safe
// minimum and a writer's recomputed minimum cannot lose a parked waiter.
//
// The mutex is allocated by the first waiter that parks: a log nobody ever
// waits on (a sharded log's thousand idle shards) carries three words.
//
// Waiters that block no thread (arm/disarm: an event loop's reader) are nodes
// in the same list with a completion function instead of a condition
// variable. A write that reaches one unlinks it under the parking mutex and
// calls its completion after releasing the mutex, so nothing the user
// supplies runs under a lock of the log.

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "../record.hpp"
#include "cpu.hpp"
#include "thread_annotations.hpp"

namespace memlog::detail {

// A waiter in an OffsetEvent's list: a parked thread (complete == nullptr)
// or an armed asynchronous waiter. Every field but `complete` is guarded by
// the parking mutex.
struct WaitNode {
  Offset target = 0;            // done once every offset up to this one is published
  bool woken = false;           // a parked thread: woken, not yet back in the mutex
  bool linked = false;          // in the list
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  // An armed waiter's completion, called once by the thread that unlinked
  // it, with no lock of the log held.
  void (*complete)(WaitNode&) noexcept = nullptr;
};

class OffsetEvent {
 public:
  enum class Status { ready, stopped, timed_out };
  using Deadline = std::chrono::steady_clock::time_point;

  OffsetEvent() = default;
  OffsetEvent(const OffsetEvent&) = delete;
  OffsetEvent& operator=(const OffsetEvent&) = delete;
  ~OffsetEvent() { delete parking_.load(std::memory_order_acquire); }

  // Called by a write with the writers' mutex held, once every offset below
  // `next` is published: whether a parked waiter waits for one of them (then
  // call wake(next) after releasing the mutex).
  [[nodiscard]] bool must_wake(Offset next) const noexcept {
    // relaxed: the writers' mutex orders it against the waiter's check (see
    // the top of the file).
    return wake_at_.load(std::memory_order_relaxed) < next;
  }

  // Wakes the waiters whose offset is below `next`.
  void wake(Offset next) noexcept { wake_waiters(next); }

  // Wakes every parked waiter, for them to check their conditions again (a
  // change in the log that ends waiting, such as close()).
  void wake_all() noexcept { wake_waiters(no_waiter); }

  // Blocks until `position` is published (or waiting is over for another
  // reason, such as close()), stop is requested, or the deadline (if any)
  // passes. `ready()` is the cheap check (an acquire load), used while
  // spinning up to `spin`; `check()` is the same check made under the
  // writers' mutex, used before parking (see the top of the file).
  template <class Ready, class Check>
  [[nodiscard]] Status wait(Offset position, Ready&& ready, Check&& check, const std::stop_token& stop,
                            const Deadline* deadline, std::chrono::nanoseconds spin = {}) {
    if (spin > std::chrono::nanoseconds::zero()) {
      if (const Status status = spin_until_ready(ready, stop, deadline, spin); status != Status::timed_out) {
        return status;
      }
      if (deadline != nullptr && std::chrono::steady_clock::now() >= *deadline) return Status::timed_out;
    }

    Parking& parking = parking_for_waiting();
    Waiter self;  // before on_stop, whose destructor waits for a running callback
    self.target = position;
    std::stop_callback on_stop(stop, [&parking, &self] {
      MutexLock guard(parking.mu);
      self.woken = true;
      self.wake.notify_one();
    });
    {
      MutexLock lock(parking.mu);
      parking.link(self);
      // relaxed: a statistic; the mutex orders it against other waiters.
      parked_.fetch_add(1, std::memory_order_relaxed);
    }
    // The parking mutex is never held across check(), which takes the
    // writers' mutex: a thread holding that (or waiting for what its holder
    // waits for) may be the one that wakes us or requests our stop.
    Status status = Status::ready;
    while (true) {
      {
        MutexLock lock(parking.mu);
        // Cleared before the checks below: a wake-up that comes after it is
        // seen by the wait, one that came before is seen by the checks.
        self.woken = false;
        // relaxed: every store to wake_at_ holds the parking mutex, and
        // check() orders it against the writer (see the top of the file).
        wake_at_.store(std::min(position, wake_at_.load(std::memory_order_relaxed)), std::memory_order_relaxed);
      }
      if (check()) break;
      if (stop.stop_requested()) {
        status = Status::stopped;
        break;
      }
      if (!sleep(parking, self, deadline)) {
        status = ready() ? Status::ready : stop.stop_requested() ? Status::stopped : Status::timed_out;
        break;
      }
      // Woken, usually by the write we wait for: see it with the cheap check,
      // without arming wake_at_ again for an offset that is already there.
      if (ready()) break;
    }
    MutexLock lock(parking.mu);
    return leave(parking, self, status);
  }

  // Allocates the parking if no waiter has yet (std::bad_alloc if it
  // cannot), so that arm() cannot fail.
  void reserve() { (void)parking_for_waiting(); }

  // Arms `node` (with a completion) to be completed once `position` is
  // published or wake_all() is called: the write that does it unlinks the
  // node and calls node.complete(node) after releasing every lock.
  // Requires reserve() and the writers' mutex held, with `position` found not
  // yet published and the log not closed under it: then no write can come
  // between that check and the node's arming, and once the caller releases
  // the mutex it must not touch the node (a write may complete it, and its
  // completion may end its life or arm it again).
  void arm(Offset position, WaitNode& node) noexcept {
    assert(node.complete != nullptr);
    // acquire: pairs with the publication in parking_for_waiting().
    Parking& parking = *parking_.load(std::memory_order_acquire);
    MutexLock lock(parking.mu);
    assert(!node.linked && "memlog: an asynchronous waiter armed twice");
    node.target = position;
    parking.link(node);
    parked_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    // relaxed: the writers' mutex, held, orders it against every write's
    // must_wake() (see the top of the file).
    wake_at_.store(std::min(position, wake_at_.load(std::memory_order_relaxed)), std::memory_order_relaxed);
  }

  // Unlinks an armed `node`: true when it was armed and its completion will
  // not be called; false when the completion has been or is being called (the
  // node must then live until it has returned).
  bool disarm(WaitNode& node) noexcept {
    // acquire: pairs with the publication of the parking in parking_for_waiting().
    Parking* parking = parking_.load(std::memory_order_acquire);
    if (parking == nullptr) return false;
    MutexLock lock(parking->mu);
    if (!node.linked) return false;
    parking->unlink(node);
    parked_.fetch_sub(1, std::memory_order_relaxed);
    // wake_at_ may stay at this node's offset: the write that reaches it
    // takes the mutex once for nothing and recomputes it.
    return true;
  }

  // Waiters parked or armed right now. A snapshot; may be stale when it returns.
  [[nodiscard]] std::size_t waiting() const noexcept { return parked_.load(std::memory_order_relaxed); }

 private:
  static constexpr Offset no_waiter = std::numeric_limits<Offset>::max();

  template <class Ready>
  static Status spin_until_ready(Ready& ready, const std::stop_token& stop, const Deadline* deadline,
                                 std::chrono::nanoseconds spin) {
    const auto now = std::chrono::steady_clock::now();
    // The caller validated spin so that this cannot overflow.
    const auto until = now + spin;
    for (unsigned i = 1;; ++i) {
      if (ready()) return Status::ready;
      if (stop.stop_requested()) return Status::stopped;
      // Pause at first; then give the core away between checks, so that on
      // a machine with more waiters than cores the writer gets to run.
      if (i < 64) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
      // A clock read costs as much as dozens of checks: look less often.
      if (i % 64 == 0 || i > 64) {
        const auto t = std::chrono::steady_clock::now();
        if (t >= until || (deadline != nullptr && t >= *deadline)) return Status::timed_out;
      }
    }
  }

  // A parked thread, on its own stack.
  struct Waiter : WaitNode {
    std::condition_variable wake;
  };

  struct Parking {
    Mutex mu;  // orders every store to wake_at_, the list, and the waits
    WaitNode* head MEMLOG_GUARDED_BY(mu) = nullptr;

    void link(WaitNode& w) MEMLOG_REQUIRES(mu) {
      w.prev = nullptr;
      w.next = head;
      if (head != nullptr) head->prev = &w;
      head = &w;
      w.linked = true;
    }
    void unlink(WaitNode& w) MEMLOG_REQUIRES(mu) {
      if (w.prev != nullptr) w.prev->next = w.next; else head = w.next;
      if (w.next != nullptr) w.next->prev = w.prev;
      w.linked = false;
    }
  };

  // Sleeps until `self` is woken (true) or the deadline passes (false).
  static bool sleep(Parking& parking, Waiter& self, const Deadline* deadline) {
    MutexLock lock(parking.mu);
    while (!self.woken) {
      if (deadline == nullptr) {
        self.wake.wait(lock.native());
      } else if (self.wake.wait_until(lock.native(), *deadline) == std::cv_status::timeout) {
        return self.woken;
      }
    }
    return true;
  }

  Status leave(Parking& parking, WaitNode& self, Status status) MEMLOG_REQUIRES(parking.mu) {
    parking.unlink(self);
    parked_.fetch_sub(1, std::memory_order_relaxed);
    return status;
  }

  // Wakes the waiters whose offset is below `next` (every one for
  // no_waiter), and leaves the lowest offset still awaited in wake_at_.
  void wake_waiters(Offset next) noexcept {
    // seq_cst: with a first waiter's seq_cst publication of parking_ (before
    // its check under the writers' mutex), either we see the parking or it
    // sees what the caller changed before calling us (a record, a close).
    Parking* parking = parking_.load(std::memory_order_seq_cst);
    if (parking == nullptr) return;  // nobody has ever parked
    WaitNode* done = nullptr;  // armed waiters reached: completed below, after the mutex
    {
      MutexLock guard(parking->mu);
      Offset lowest = no_waiter;
      for (WaitNode* w = parking->head; w != nullptr;) {
        WaitNode* const following = w->next;
        if (w->woken) {
          // already woken, not yet back in the mutex
        } else if (next != no_waiter && w->target >= next) {
          lowest = std::min(lowest, w->target);
        } else if (w->complete == nullptr) {
          w->woken = true;
          // Under the mutex: the node lives until its waiter has the mutex back.
          static_cast<Waiter*>(w)->wake.notify_one();
        } else {
          parking->unlink(*w);
          parked_.fetch_sub(1, std::memory_order_relaxed);
          w->next = done;
          done = w;
        }
        w = following;
      }
      // relaxed: under the parking mutex; woken waiters that still wait re-arm it.
      wake_at_.store(lowest, std::memory_order_relaxed);
    }
    while (done != nullptr) {
      // Read before completing: a completion may end the node's life.
      WaitNode* const following = done->next;
      done->complete(*done);
      done = following;
    }
  }

  // The parking, allocated by the first waiter to need it (may throw
  // std::bad_alloc); never freed before the event.
  Parking& parking_for_waiting() {
    // acquire: the parking's construction happens before our use.
    Parking* parking = parking_.load(std::memory_order_acquire);
    if (parking != nullptr) return *parking;
    auto fresh = std::make_unique<Parking>();
    // seq_cst: see wake_all(). On failure `parking` is the winner's (acquire).
    if (parking_.compare_exchange_strong(parking, fresh.get(), std::memory_order_seq_cst,
                                         std::memory_order_acquire)) {
      return *fresh.release();
    }
    return *parking;
  }

  // The lowest offset a parked waiter waits for; no_waiter when none.
  std::atomic<Offset> wake_at_{no_waiter};
  std::atomic<std::uint32_t> parked_{0};
  std::atomic<Parking*> parking_{nullptr};
};

}  // namespace memlog::detail
