// The two synchronisation parts of the log on their own:
// detail::RotationLock (phase-fair reader/writer lock) and
// detail::OffsetEvent (the event count streams wait on). For the latter,
// Publisher plays the log: a counter published under the writers' mutex.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <mutex>
#include <thread>
#include <vector>

#include <memlog/detail/event_count.hpp>
#include <memlog/detail/rotation_lock.hpp>

#include "support/catch.hpp"

namespace {

using namespace std::chrono_literals;
using memlog::Offset;
using memlog::detail::OffsetEvent;
using memlog::detail::RotationLock;

// Fails the test (instead of hanging the suite) if `done` is not set in time.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit, const char* what)
      : thread_([this, limit, what] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            // Catch2's assertions are not thread-safe: report and stop.
            std::fprintf(stderr, "watchdog: %s did not finish within %lld s\n", what,
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::jthread thread_;  // last: joins before the members above go
};

TEST_CASE("rotation lock: readers never see a writer's half-done change", "[sync][rotation_lock]") {
  RotationLock lock;
  std::vector<int> data(64, 0);  // plain ints: ThreadSanitizer reports any unguarded access
  constexpr int rotations = 2000;
  std::atomic<bool> stop{false};
  std::atomic<long> torn{0};
  std::atomic<long> reads{0};
  Watchdog watchdog(60s, "readers and writer");

  std::latch started(4);
  std::vector<std::jthread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      started.count_down();
      while (!stop.load(std::memory_order_relaxed)) {
        lock.lock_shared();
        const int first = data.front();
        for (const int v : data) {
          if (v != first) torn.fetch_add(1, std::memory_order_relaxed);
        }
        lock.unlock_shared();
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  started.arrive_and_wait();
  // Rotate until the readers have read a fair amount too.
  int k = 0;
  while (k < rotations || reads.load(std::memory_order_relaxed) < rotations) {
    lock.lock();
    ++k;
    for (int& v : data) v = k;
    lock.unlock();
  }
  stop = true;
  readers.clear();
  CHECK(torn == 0);
  CHECK(data.back() == k);
}

TEST_CASE("rotation lock: readers back to back cannot starve the writer", "[sync][rotation_lock]") {
  RotationLock lock;
  std::atomic<bool> stop{false};
  std::atomic<int> inside{0};
  int overlaps = 0;
  Watchdog watchdog(60s, "writer among readers");
  std::latch started(4);
  std::vector<std::jthread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      started.count_down();
      while (!stop.load(std::memory_order_relaxed)) {
        lock.lock_shared();
        inside.fetch_add(1, std::memory_order_relaxed);
        for (int i = 0; i < 100; ++i) memlog::detail::cpu_relax();  // a read takes a while
        inside.fetch_sub(1, std::memory_order_relaxed);
        lock.unlock_shared();
      }
    });
  }
  started.arrive_and_wait();
  for (int k = 0; k < 2000; ++k) {
    lock.lock();
    if (inside.load(std::memory_order_relaxed) != 0) ++overlaps;
    lock.unlock();
  }
  stop = true;
  CHECK(overlaps == 0);
}

TEST_CASE("rotation lock: a writer back to back cannot starve a reader", "[sync][rotation_lock]") {
  RotationLock lock;
  std::atomic<bool> stop{false};
  Watchdog watchdog(60s, "reader beside a writer");
  std::latch started(2);
  std::jthread writer([&] {
    started.count_down();
    while (!stop.load(std::memory_order_relaxed)) {
      lock.lock();
      for (int i = 0; i < 50; ++i) memlog::detail::cpu_relax();
      lock.unlock();
    }
  });
  started.arrive_and_wait();
  for (int k = 0; k < 20000; ++k) {
    lock.lock_shared();
    lock.unlock_shared();
  }
  stop = true;
}

// The log's side of OffsetEvent's protocol: publish under a mutex, look at
// who waits while still holding it, wake after releasing it.
struct Publisher {
  OffsetEvent event;
  std::mutex mu;
  std::atomic<Offset> next{0};

  void publish(Offset n) {
    bool wake = false;
    {
      std::lock_guard guard(mu);
      next.store(n, std::memory_order_release);
      wake = event.must_wake(n);
    }
    if (wake) event.wake(n);
  }
  OffsetEvent::Status wait(Offset position, const std::stop_token& stop = {},
                           const OffsetEvent::Deadline* deadline = nullptr, std::chrono::nanoseconds spin = {}) {
    const auto ready = [&] { return next.load(std::memory_order_acquire) > position; };
    const auto check = [&] {
      std::lock_guard guard(mu);
      return next.load(std::memory_order_relaxed) > position;
    };
    return event.wait(position, ready, check, stop, deadline, spin);
  }
};

TEST_CASE("offset event: a waiter whose offset is published returns at once", "[sync][event]") {
  Publisher p;
  p.publish(5);
  CHECK(p.wait(3) == OffsetEvent::Status::ready);
  CHECK(p.event.waiting() == 0);
}

TEST_CASE("offset event: deadline and stop end a wait", "[sync][event]") {
  Publisher p;
  const auto deadline = std::chrono::steady_clock::now() + 10ms;
  CHECK(p.wait(0, {}, &deadline) == OffsetEvent::Status::timed_out);
  CHECK(std::chrono::steady_clock::now() >= deadline);
  CHECK(p.wait(0, {}, &deadline, 1ms) == OffsetEvent::Status::timed_out);

  std::stop_source stop;
  stop.request_stop();
  CHECK(p.wait(0, stop.get_token()) == OffsetEvent::Status::stopped);
  CHECK(p.wait(0, stop.get_token(), nullptr, 1ms) == OffsetEvent::Status::stopped);

  // A stop requested while parked wakes the waiter.
  std::stop_source later;
  Watchdog watchdog(30s, "stop while parked");
  std::jthread stopper([&] {
    while (p.event.waiting() == 0) std::this_thread::yield();
    later.request_stop();
  });
  CHECK(p.wait(0, later.get_token()) == OffsetEvent::Status::stopped);
  CHECK(p.event.waiting() == 0);
}

TEST_CASE("offset event: a parked waiter counts as waiting and is woken by the write of its offset",
          "[sync][event]") {
  Publisher p;
  Watchdog watchdog(30s, "one waiter");
  OffsetEvent::Status status = OffsetEvent::Status::timed_out;
  std::jthread waiter([&] { status = p.wait(0); });
  while (p.event.waiting() == 0) std::this_thread::yield();
  p.publish(1);
  waiter.join();
  CHECK(status == OffsetEvent::Status::ready);
  CHECK(p.event.waiting() == 0);
}

TEST_CASE("offset event: a write wakes only the waiters whose offset it published", "[sync][event]") {
  Publisher p;
  Watchdog watchdog(30s, "waiters at two offsets");
  std::atomic<int> done{0};
  std::jthread early([&] {
    if (p.wait(0) == OffsetEvent::Status::ready) ++done;
  });
  std::jthread late([&] {
    if (p.wait(100) == OffsetEvent::Status::ready) ++done;
  });
  while (p.event.waiting() < 2) std::this_thread::yield();
  p.publish(1);
  early.join();
  CHECK(done == 1);
  CHECK(p.event.waiting() == 1);  // the late waiter was left parked
  CHECK(p.event.must_wake(101));
  CHECK_FALSE(p.event.must_wake(100));
  p.publish(101);
  late.join();
  CHECK(done == 2);
}

TEST_CASE("offset event: wake_all wakes every waiter", "[sync][event]") {
  OffsetEvent event;
  std::atomic<bool> over{false};
  Watchdog watchdog(30s, "wake_all");
  std::atomic<int> woken{0};
  std::vector<std::jthread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&, i] {
      const auto ready = [&] { return over.load(); };
      if (event.wait(i * 10, ready, ready, {}, nullptr) == OffsetEvent::Status::ready) ++woken;
    });
  }
  while (event.waiting() < 3) std::this_thread::yield();
  over = true;
  event.wake_all();
  waiters.clear();
  CHECK(woken == 3);
}

// The protocol: many waiters at many offsets and a writer publishing one
// offset at a time never lose a wake-up (a lost one hangs: the watchdog).
TEST_CASE("offset event: no wake-up is lost between waiters and a writer", "[sync][event]") {
  constexpr int waiters = 4;
  constexpr Offset offsets = 20000;
  Publisher p;
  Watchdog watchdog(120s, "waiters following a writer");
  std::latch started(waiters + 1);
  std::atomic<int> not_ready{0};
  std::vector<std::jthread> threads;
  for (int w = 0; w < waiters; ++w) {
    threads.emplace_back([&, w] {
      started.count_down();
      for (Offset position = w; position < offsets; position += 1 + w) {
        if (p.wait(position) != OffsetEvent::Status::ready) ++not_ready;
      }
    });
  }
  started.arrive_and_wait();
  for (Offset o = 0; o < offsets; ++o) {
    p.publish(o + 1);
    if (o % 16 == 0) std::this_thread::yield();  // let waiters park now and then
  }
  threads.clear();
  CHECK(not_ready == 0);
  CHECK(p.event.waiting() == 0);
}

}  // namespace
