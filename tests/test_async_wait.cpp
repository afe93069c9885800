// Waiting without a thread: AsyncWaiter, Log::wait_async / cancel_wait and
// Stream::try_next / wait_async.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <memlog/memlog.hpp>

#include "support/catch.hpp"

namespace {

using namespace std::chrono_literals;
using memlog::Errc;
using memlog::Offset;

// Counts its completions and remembers the thread that ran the last one.
struct Counting : memlog::AsyncWaiter {
  Counting()
      : AsyncWaiter([](memlog::AsyncWaiter& w) noexcept {
          auto& self = static_cast<Counting&>(w);
          self.thread = std::this_thread::get_id();
          self.calls.fetch_add(1, std::memory_order_release);
        }) {}
  std::atomic<int> calls{0};
  std::thread::id thread{};
};

TEST_CASE("wait_async does not arm when the record is there", "[async]") {
  memlog::Log<std::string> log;
  REQUIRE(log.write("a") == 0);
  Counting waiter;
  CHECK_FALSE(log.wait_async(0, waiter));
  CHECK(log.stats().waiting == 0);
  CHECK_FALSE(log.cancel_wait(waiter));  // nothing armed
  CHECK(waiter.calls == 0);
}

TEST_CASE("the write of the awaited offset completes the waiter once, on the writer's thread", "[async]") {
  memlog::Log<std::string> log;
  Counting waiter;
  REQUIRE(log.wait_async(1, waiter));
  CHECK(waiter.offset() == 1);
  CHECK(log.stats().waiting == 1);
  REQUIRE(log.write("a") == 0);  // an earlier offset: not yet
  CHECK(waiter.calls == 0);
  std::thread writer([&] { REQUIRE(log.write("b") == 1); });
  const std::thread::id writer_id = writer.get_id();
  writer.join();
  CHECK(waiter.calls == 1);
  CHECK(waiter.thread == writer_id);
  CHECK(log.stats().waiting == 0);
  REQUIRE(log.write("c") == 2);
  CHECK(waiter.calls == 1);  // one-shot
  CHECK_FALSE(log.cancel_wait(waiter));
}

TEST_CASE("a cancelled waiter is never completed, and can be armed again", "[async]") {
  memlog::Log<std::string> log;
  Counting waiter;
  REQUIRE(log.wait_async(0, waiter));
  CHECK(log.cancel_wait(waiter));
  CHECK_FALSE(log.cancel_wait(waiter));
  CHECK(log.stats().waiting == 0);
  REQUIRE(log.write("a") == 0);
  CHECK(waiter.calls == 0);
  REQUIRE(log.wait_async(1, waiter));
  REQUIRE(log.write("b") == 1);
  CHECK(waiter.calls == 1);
}

TEST_CASE("close completes armed waiters, and nothing is armed on a closed log", "[async]") {
  memlog::Log<std::string> log;
  Counting first, second;
  REQUIRE(log.wait_async(0, first));
  REQUIRE(log.wait_async(5, second));
  log.close();
  CHECK(first.calls == 1);
  CHECK(second.calls == 1);
  Counting late;
  CHECK_FALSE(log.wait_async(7, late));
  CHECK(late.calls == 0);
}

TEST_CASE("a write completes exactly the waiters whose offset it writes", "[async]") {
  memlog::Log<std::string> log;
  std::vector<std::unique_ptr<Counting>> waiters;
  for (int i = 0; i < 3000; ++i) {
    waiters.push_back(std::make_unique<Counting>());
    REQUIRE(log.wait_async(i % 3, *waiters.back()));  // a thousand on each of offsets 0, 1, 2
  }
  CHECK(log.stats().waiting == 3000);
  for (Offset written = 0; written < 3; ++written) {
    REQUIRE(log.write("r") == written);
    for (int i = 0; i < 3000; ++i) {
      REQUIRE(waiters[static_cast<std::size_t>(i)]->calls == (i % 3 <= written ? 1 : 0));
    }
  }
  CHECK(log.stats().waiting == 0);
}

TEST_CASE("a callback runs with no lock of the log held: it may read, write and arm again", "[async]") {
  memlog::Log<std::string> log;
  struct Chain : memlog::AsyncWaiter {
    explicit Chain(memlog::Log<std::string>& log)
        : AsyncWaiter([](memlog::AsyncWaiter& w) noexcept {
            auto& self = static_cast<Chain&>(w);
            const Offset offset = self.offset();
            self.seen.push_back(self.log.read(offset)->data);
            (void)self.log.range();
            (void)self.log.stats();
            if (self.seen.size() < 3) {
              // Writing and arming from the callback would deadlock if the
              // writers' or the parking mutex were held.
              if (!self.log.wait_async(offset + 1, self)) self.seen.push_back("ready");
              if (self.seen.size() == 2) (void)self.log.write("from the callback");
            }
          }),
          log(log) {}
    memlog::Log<std::string>& log;
    std::vector<std::string> seen;
  } chain(log);
  REQUIRE(log.wait_async(0, chain));
  std::thread writer([&] { REQUIRE(log.write("first") == 0); });
  writer.join();
  REQUIRE(log.write("second") == 1);  // completes; the callback writes offset 2, which completes it again
  CHECK(chain.seen == std::vector<std::string>{"first", "second", "from the callback"});
  CHECK(log.stats().waiting == 0);
}

TEST_CASE("cancel racing with the write: exactly one of them wins", "[async][concurrent]") {
  for (int round = 0; round < 2000; ++round) {
    memlog::Log<std::string> log;
    Counting waiter;
    REQUIRE(log.wait_async(0, waiter));
    std::atomic<bool> go{false};
    std::thread writer([&] {
      while (!go.load(std::memory_order_acquire)) {
      }
      REQUIRE(log.write("r") == 0);
    });
    go.store(true, std::memory_order_release);
    const bool cancelled = log.cancel_wait(waiter);
    writer.join();  // the write, and so any completion, has returned
    REQUIRE(waiter.calls.load() == (cancelled ? 0 : 1));
  }
}

// An event loop in miniature: one thread, a wake-up flag, a stream it drains
// with try_next() and a waiter it arms when it has caught up.
TEST_CASE("an event-loop reader gets every record in order without blocking in the log", "[async][concurrent]") {
  constexpr int records = 20000;
  memlog::Log<std::string> log({.max_segment_size = records});  // nothing purged: the reader may lag
  struct Loop : memlog::AsyncWaiter {
    Loop()
        : AsyncWaiter([](memlog::AsyncWaiter& w) noexcept {
            auto& self = static_cast<Loop&>(w);
            // The hand-off: set a flag under the loop's mutex and signal.
            const std::lock_guard lock(self.mu);
            self.woken = true;
            self.cv.notify_one();
          }) {}
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
  } loop;
  std::vector<Offset> got;
  std::thread reader([&] {
    auto stream = log.stream(0);
    while (true) {
      auto record = stream.try_next();
      if (record) {
        got.push_back(record->metadata.offset);
        if (got.size() == records) return;
        continue;
      }
      if (record.error() != Errc::timed_out) return;  // ended: the check below fails
      if (!stream.wait_async(loop)) continue;        // written meanwhile
      std::unique_lock lock(loop.mu);
      loop.cv.wait(lock, [&] { return loop.woken; });
      loop.woken = false;
    }
  });
  for (int i = 0; i < records; ++i) {
    REQUIRE(log.write(std::to_string(i)) == i);
    if (i % 128 == 0) std::this_thread::yield();
  }
  reader.join();
  REQUIRE(got.size() == records);
  for (int i = 0; i < records; ++i) REQUIRE(got[static_cast<std::size_t>(i)] == i);
  CHECK(log.stats().waiting == 0);
}

TEST_CASE("try_next never waits and does not end the stream", "[async]") {
  memlog::Log<std::string> log;
  auto stream = log.stream(0);
  CHECK(stream.try_next().error() == Errc::timed_out);
  CHECK(stream.error() == std::error_code{});
  REQUIRE(log.write("a"));
  CHECK(stream.try_next()->data == "a");
  CHECK(stream.next_for(-1s).error() == Errc::timed_out);
  CHECK(stream.next_for(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())).error() ==
        Errc::timed_out);
  log.close();
  CHECK(stream.try_next().error() == Errc::closed);
  memlog::AsyncWaiter unused([](memlog::AsyncWaiter&) noexcept {});
  CHECK_FALSE(stream.wait_async(unused));  // nothing to wait for on a closed log
}

}  // namespace

namespace {

TEST_CASE("a stream's read_ahead option bounds its read-ahead and is validated", "[async][read_ahead]") {
  memlog::Log<std::string> log({.max_segment_size = 8});
  CHECK_THROWS_AS(log.stream(0, {}, {.read_ahead = 0}), std::invalid_argument);
  CHECK_THROWS_AS(log.stream(0, {}, {.read_ahead = memlog::max_read_ahead + 1}), std::invalid_argument);
  for (const std::size_t read_ahead : {std::size_t{1}, std::size_t{3}, memlog::max_read_ahead}) {
    CAPTURE(read_ahead);
    memlog::Log<std::string> fresh({.max_segment_size = 1000});
    for (int i = 0; i < 600; ++i) REQUIRE(fresh.write(std::to_string(i)));
    auto stream = fresh.stream(0, {}, {.read_ahead = read_ahead});
    for (int i = 0; i < 600; ++i) REQUIRE(stream.next()->data == std::to_string(i));
    CHECK(stream.try_next().error() == Errc::timed_out);  // caught up: gives its read-ahead back
    REQUIRE(fresh.write("600"));
    CHECK(stream.try_next()->data == "600");
  }
}

TEST_CASE("a stream hands out the stop token it was made with", "[async]") {
  memlog::Log<std::string> log;
  std::stop_source stop;
  auto stream = log.stream(0, stop.get_token());
  CHECK_FALSE(stream.get_stop_token().stop_requested());
  stop.request_stop();
  CHECK(stream.get_stop_token().stop_requested());
}

}  // namespace

namespace {

// A record whose move (inside the write, under the writers' mutex) waits at a
// gate the test opens: a waiter is then armed while the write is in progress.
std::atomic<bool> gate_armed{false};
std::atomic<bool> gate_open{false};
std::atomic<bool> in_write{false};
struct Gated {
  int value = 0;
  explicit Gated(int v) : value(v) {}
  Gated(const Gated&) = default;
  Gated& operator=(const Gated&) = default;
  Gated(Gated&& other) noexcept : value(other.value) {
    if (gate_armed.exchange(false)) {
      in_write.store(true);
      while (!gate_open.load()) std::this_thread::yield();
    }
  }
};

TEST_CASE("a waiter armed while the write of its offset is in progress is either not armed or completed once",
          "[async][concurrent]") {
  // The callback arms itself again for the next offset: that new arming
  // must survive, and a false from wait_async must mean the callback never ran.
  struct Again : memlog::AsyncWaiter {
    explicit Again(memlog::Log<Gated>& log)
        : AsyncWaiter([](memlog::AsyncWaiter& w) noexcept {
            auto& self = static_cast<Again&>(w);
            self.calls.fetch_add(1);
            if (self.calls.load() == 1) self.rearmed = self.log.wait_async(w.offset() + 1, self);
          }),
          log(log) {}
    memlog::Log<Gated>& log;
    std::atomic<int> calls{0};
    bool rearmed = false;
  };
  for (int round = 0; round < 20; ++round) {
    memlog::Log<Gated> log;
    Again waiter(log);
    in_write = false;
    gate_open = false;
    gate_armed = true;
    std::thread writer([&] { REQUIRE(log.write(Gated(round)) == 0); });
    while (!in_write.load()) std::this_thread::yield();
    std::thread opener([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let wait_async reach the write's lock
      gate_open = true;
    });
    const bool armed = log.wait_async(0, waiter);
    opener.join();
    writer.join();
    if (!armed) {
      REQUIRE(waiter.calls.load() == 0);
      REQUIRE(log.stats().waiting == 0);
    } else {
      REQUIRE(waiter.calls.load() == 1);
      REQUIRE(waiter.rearmed);
      REQUIRE(log.stats().waiting == 1);  // the callback's own arming stands
      REQUIRE(log.write(Gated(-1)) == 1);
      REQUIRE(waiter.calls.load() == 2);
    }
  }
}

}  // namespace
