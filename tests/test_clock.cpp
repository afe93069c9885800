// The default clock of Header::created (Options::clock empty) against a system
// clock that is stepped forward and back and slewed.
//
// This executable defines clock_gettime itself: CLOCK_REALTIME answers from a
// fake wall clock the tests control (offset and rate), every other clock is
// forwarded to the C library. std::chrono::system_clock::now() reaches it
// through libstdc++'s call to clock_gettime; each test first checks that it
// does, and fails if it does not (a test that cannot see the fake clock could
// not fail).
//
// The rule checked (API.md, second round): each write stamps
// created = max(clock(), previous record's created). The clock is read during
// the write, so between two readings of CLOCK_REALTIME taken just before
// (lo) and just after (hi) it:
//   max(lo, previous created) <= created <= max(hi, previous created).
// While the fake clock only moves forward, previous created <= lo and this is
// lo <= created <= hi.

#include "support/catch.hpp"

#include <memlog/memlog.hpp>

#include <dlfcn.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Time = std::chrono::system_clock::time_point;
using std::chrono::nanoseconds;

using ClockGettime = int (*)(clockid_t, timespec*);

int forward_clock_gettime(clockid_t id, timespec* ts) noexcept {
  // The C library's definition, the one this executable's hides. A raw
  // system call if the dynamic linker cannot find it (e.g. a static link).
  static const auto real = reinterpret_cast<ClockGettime>(dlsym(RTLD_NEXT, "clock_gettime"));
  if (real != nullptr) return real(id, ts);
  return static_cast<int>(syscall(SYS_clock_gettime, id, ts));
}

std::int64_t read_ns(clockid_t id) noexcept {
  timespec ts{};
  forward_clock_gettime(id, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The fake CLOCK_REALTIME: base_ns + (monotonic - base_monotonic_ns) * (1 + ppm / 10^6).
// It runs on the real CLOCK_MONOTONIC, so a step of the machine's own clock
// during a test cannot disturb it, and it never goes back unless a test steps
// it back. A mutex keeps readings on several threads consistent with changes.
class FakeRealtime {
 public:
  // Starts at the real wall clock's time, at the real rate.
  FakeRealtime() {
    const std::lock_guard lock(mu_);
    base_monotonic_ns_ = read_ns(CLOCK_MONOTONIC);
    base_ns_ = read_ns(CLOCK_REALTIME);
    ppm_ = 0;
    active_.store(true, std::memory_order_release);
  }
  ~FakeRealtime() { active_.store(false, std::memory_order_release); }
  FakeRealtime(const FakeRealtime&) = delete;
  FakeRealtime& operator=(const FakeRealtime&) = delete;

  // settimeofday: the clock jumps by `by` (negative: back).
  void step(nanoseconds by) {
    const std::lock_guard lock(mu_);
    rebase();
    base_ns_ += by.count();
  }

  // adjtime: from now on the clock runs `ppm` millionths fast (negative: slow).
  void slew(std::int64_t ppm) {
    const std::lock_guard lock(mu_);
    rebase();
    ppm_ = ppm;
  }

  // Whether clock_gettime(CLOCK_REALTIME) answers from the fake clock
  // (acquire: pairs with the constructor's release; the fields are read under mu_).
  static bool active() noexcept { return active_.load(std::memory_order_acquire); }

  static std::int64_t now_ns() {
    const std::lock_guard lock(mu_);
    return at(read_ns(CLOCK_MONOTONIC));
  }

 private:
  static std::int64_t at(std::int64_t monotonic_ns) {
    const std::int64_t elapsed = monotonic_ns - base_monotonic_ns_;
    // elapsed stays far below 2^63 / 10^6 ns (2.5 hours) in these tests.
    return base_ns_ + elapsed + elapsed * ppm_ / 1'000'000;
  }
  static void rebase() {
    const std::int64_t monotonic = read_ns(CLOCK_MONOTONIC);
    base_ns_ = at(monotonic);
    base_monotonic_ns_ = monotonic;
  }

  static inline std::atomic<bool> active_{false};
  static inline std::mutex mu_;
  static inline std::int64_t base_ns_ = 0;            // guarded by mu_
  static inline std::int64_t base_monotonic_ns_ = 0;  // guarded by mu_
  static inline std::int64_t ppm_ = 0;                // guarded by mu_
};

// Calls of the interposed clock_gettime for CLOCK_REALTIME (relaxed: a
// counter read by the thread that made the calls).
std::atomic<std::uint64_t> realtime_calls{0};

}  // namespace

extern "C" int clock_gettime(clockid_t id, timespec* ts) noexcept {
  if (id != CLOCK_REALTIME || !FakeRealtime::active()) return forward_clock_gettime(id, ts);
  realtime_calls.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t ns = FakeRealtime::now_ns();
  ts->tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts->tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return 0;
}

namespace {

// The fake wall clock, as memlog's default clock would see it.
Time fake_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return Time(std::chrono::duration_cast<Time::duration>(std::chrono::seconds(ts.tv_sec) + nanoseconds(ts.tv_nsec)));
}

std::int64_t ns_of(Time t) { return std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count(); }

// Fails the test unless std::chrono::system_clock::now() reads the fake
// clock: a step of an hour must show in it at once.
void require_interposed(FakeRealtime& fake) {
  constexpr auto hour = std::chrono::hours(1);
  const std::uint64_t calls = realtime_calls.load(std::memory_order_relaxed);
  fake.step(hour);
  const std::int64_t real = read_ns(CLOCK_REALTIME);
  const std::int64_t ahead = ns_of(std::chrono::system_clock::now()) - real;
  fake.step(-hour);
  const std::uint64_t seen = realtime_calls.load(std::memory_order_relaxed) - calls;
  INFO("system_clock::now() made " << seen << " calls of the interposed clock_gettime(CLOCK_REALTIME) and read "
                                   << ahead << " ns ahead of the real clock (expected 1 call, about 3.6e12 ns)");
  INFO("otherwise system_clock::now() does not call this executable's clock_gettime, and these tests "
       "cannot see a step of the clock");
  REQUIRE(seen == 1);
  const std::int64_t hour_ns = nanoseconds(hour).count();
  REQUIRE(ahead > hour_ns - 1'000'000'000);
  REQUIRE(ahead < hour_ns + 1'000'000'000);
}

// Writes records to a log with the default clock and checks each one's
// created against the fake clock read just before and just after its write.
class Writer {
 public:
  explicit Writer(std::size_t segment_size = 64) : log_(memlog::Options{.max_segment_size = segment_size}) {}

  // Writes one record; returns its created.
  Time write() {
    const Time lo = fake_now();
    const auto offset = log_.write(payload_);
    const Time hi = fake_now();
    if (!offset.has_value()) {
      fail("write failed");
      return previous_.value_or(lo);
    }
    // Read at once: with small segments older records are soon purged.
    const auto record = log_.read(*offset);
    if (!record.has_value()) {
      fail("read of the record just written failed");
      return previous_.value_or(lo);
    }
    const Time created = record.value().metadata.created;
    const Time floor = previous_ ? std::max(lo, *previous_) : lo;
    const Time ceiling = previous_ ? std::max(hi, *previous_) : hi;
    if (created < floor || created > ceiling) {
      worst_ns_ = std::max(worst_ns_, std::max(ns_of(floor) - ns_of(created), ns_of(created) - ns_of(ceiling)));
      std::ostringstream out;
      out << "offset " << *offset << ": created - lo = " << ns_of(created) - ns_of(lo)
          << " ns, hi - created = " << ns_of(hi) - ns_of(created) << " ns";
      if (previous_) out << ", created - previous created = " << ns_of(created) - ns_of(*previous_) << " ns";
      fail(out.str());
    }
    if (previous_ && hi < *previous_) ++held_;
    previous_ = created;
    ++written_;
    return created;
  }

  // Writes records back to back for `span` of steady time.
  void burst(nanoseconds span) {
    const auto until = std::chrono::steady_clock::now() + span;
    do {
      write();
    } while (std::chrono::steady_clock::now() < until);
  }

  // Writes records until one's created is past `t` (the clock has caught up
  // with a value it was stepped back from); at most `limit` of steady time.
  void until_created_after(Time t, nanoseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (write() <= t) {
      if (std::chrono::steady_clock::now() > until) {
        fail("the clock did not pass the held created in time");
        return;
      }
    }
  }

  [[nodiscard]] Time previous() const { return previous_.value(); }
  [[nodiscard]] std::uint64_t failures() const { return failures_; }
  [[nodiscard]] const std::string& first_failure() const { return first_failure_; }
  [[nodiscard]] std::uint64_t written() const { return written_; }
  // How far the created furthest outside its bounds was outside them.
  [[nodiscard]] std::int64_t worst_ns() const { return worst_ns_; }
  // Records written while the clock read after the write was still behind
  // the previous record's created (stamped with that created).
  [[nodiscard]] std::uint64_t held() const { return held_; }

 private:
  void fail(const std::string& what) {
    if (failures_++ == 0) first_failure_ = what;
  }

  memlog::Log<std::string> log_;
  const std::string payload_ = "a record of more than fifteen bytes";
  std::optional<Time> previous_;
  std::uint64_t failures_ = 0;
  std::string first_failure_;
  std::uint64_t written_ = 0;
  std::uint64_t held_ = 0;
  std::int64_t worst_ns_ = 0;
};

void require_no_failures(const Writer& w) {
  INFO(w.written() << " records written, " << w.failures() << " outside their bounds (worst by " << w.worst_ns()
                  << " ns); first: " << w.first_failure());
  REQUIRE(w.failures() == 0);
}

// Busy-waits for `span` of steady time: lets the clock run between writes
// without sleeping (the tests wait for no event, only for time to pass).
void pause_for(nanoseconds span) {
  const auto until = std::chrono::steady_clock::now() + span;
  while (std::chrono::steady_clock::now() < until) {
  }
}

constexpr std::int64_t chrony_max_slew_ppm = 83'333;  // chrony's default maxslewrate

}  // namespace

TEST_CASE("clock test harness: system_clock::now() reads the interposed clock_gettime", "[clock]") {
  FakeRealtime fake;
  require_interposed(fake);
  // And the fake clock is what it claims: stepped by a second, read a second later.
  const std::int64_t before = ns_of(fake_now());
  fake.step(std::chrono::seconds(1));
  const std::int64_t after = ns_of(fake_now());
  CHECK(after - before >= 1'000'000'000);
  CHECK(after - before < 1'100'000'000);
}

TEST_CASE("default clock: reads the system clock on every call so that steps and slews show at once", "[clock]") {
  FakeRealtime fake;
  require_interposed(fake);
  std::uint64_t outside = 0;
  std::int64_t worst_ns = 0;
  const auto check = [&] {
    const Time lo = fake_now();
    const Time now = memlog::detail::wall_clock_now();
    const Time hi = fake_now();
    if (now < lo || now > hi) {
      ++outside;
      worst_ns = std::max(worst_ns, std::max(ns_of(lo) - ns_of(now), ns_of(now) - ns_of(hi)));
    }
  };
  for (const nanoseconds step : {nanoseconds(2'000), nanoseconds(-2'000), nanoseconds(1'000'000),
                                 nanoseconds(-1'000'000), nanoseconds(std::chrono::hours(1)),
                                 nanoseconds(-std::chrono::hours(1))}) {
    for (int i = 0; i < 1000; ++i) check();
    fake.step(step);
    check();
  }
  fake.slew(chrony_max_slew_ppm);
  for (int i = 0; i < 10'000; ++i) check();
  fake.slew(0);
  INFO("worst by " << worst_ns << " ns");
  CHECK(outside == 0);
}

TEST_CASE("default clock: created follows a forward step of the system clock at once", "[clock]") {
  FakeRealtime fake;
  require_interposed(fake);
  Writer w;
  for (const nanoseconds step : {nanoseconds(2'000), nanoseconds(50'000), nanoseconds(1'000'000),
                                 nanoseconds(std::chrono::seconds(1)), nanoseconds(std::chrono::hours(1))}) {
    for (int round = 0; round < 20; ++round) {
      // Dense writes first, so that a clock that caches or extrapolates has
      // a fresh base when the step comes; then the first write after it.
      w.burst(std::chrono::microseconds(200));
      fake.step(step);
      w.write();
      w.write();
    }
  }
  require_no_failures(w);
}

TEST_CASE("default clock: created follows a slewed system clock", "[clock]") {
  FakeRealtime fake;
  require_interposed(fake);
  Writer w;
  for (const std::int64_t ppm : {chrony_max_slew_ppm, -chrony_max_slew_ppm, std::int64_t{500}, std::int64_t{-500}}) {
    w.burst(std::chrono::milliseconds(2));  // at the previous rate
    fake.slew(ppm);
    w.burst(std::chrono::milliseconds(3));  // dense writes through the change of rate
    for (int i = 0; i < 3; ++i) {           // sparse ones
      pause_for(std::chrono::microseconds(1'500));
      w.write();
    }
  }
  fake.slew(0);
  require_no_failures(w);
}

TEST_CASE("default clock: after a backward step created holds at the previous record's created until the clock passes it",
          "[clock]") {
  FakeRealtime fake;
  require_interposed(fake);
  Writer w;
  for (const nanoseconds back : {nanoseconds(1'000), nanoseconds(100'000), nanoseconds(2'000'000)}) {
    w.burst(std::chrono::microseconds(200));
    const Time held = w.previous();
    fake.step(-back);
    w.until_created_after(held, std::chrono::seconds(5));
  }
  // An hour back: the records keep the created from before the step, for as
  // long as the clock stays behind it, then follow the clock again once it
  // is stepped forward past it.
  w.burst(std::chrono::microseconds(200));
  const Time held = w.previous();
  const std::uint64_t held_before = w.held();
  fake.step(-std::chrono::hours(1));
  for (int i = 0; i < 100; ++i) CHECK(ns_of(w.write()) == ns_of(held));
  CHECK(w.held() - held_before == 100);
  fake.step(std::chrono::hours(1) + std::chrono::milliseconds(1));
  CHECK(ns_of(w.write()) > ns_of(held));
  w.burst(std::chrono::microseconds(200));
  require_no_failures(w);
}

TEST_CASE("default clock: created follows a randomly stepped and slewed system clock", "[clock]") {
  FakeRealtime fake;
  require_interposed(fake);
  Writer w;
  std::mt19937_64 random(20240612);
  std::uniform_int_distribution<int> action(0, 4);
  std::uniform_int_distribution<std::int64_t> step_ns(1'000, 5'000'000);
  std::uniform_int_distribution<std::int64_t> ppm(-chrony_max_slew_ppm, chrony_max_slew_ppm);
  std::uniform_int_distribution<std::int64_t> burst_us(1, 500);
  for (int i = 0; i < 200; ++i) {
    switch (action(random)) {
      case 0: fake.step(nanoseconds(step_ns(random))); break;
      case 1: fake.step(-nanoseconds(step_ns(random))); break;
      case 2: fake.slew(ppm(random)); break;
      case 3: pause_for(std::chrono::microseconds(burst_us(random))); break;
      default: break;
    }
    w.burst(std::chrono::microseconds(burst_us(random)));
  }
  fake.slew(0);
  require_no_failures(w);
}

TEST_CASE("default clock: writers on two threads see steps and slews at once", "[clock][concurrent]") {
  // The clock only moves forward here, so every record's created lies within
  // its writer's own bracket whatever the other writer does: its clock
  // reading, and the previous record's, were both taken before it returned.
  FakeRealtime fake;
  require_interposed(fake);
  memlog::Log<std::string> log(memlog::Options{.max_segment_size = 1024});
  const std::string payload = "a record of more than fifteen bytes";
  std::atomic<bool> done{false};
  std::latch started(3);
  struct Outcome {
    std::uint64_t written = 0;
    std::uint64_t outside = 0;
    std::int64_t worst_ns = 0;
  };
  std::vector<Outcome> outcomes(2);
  std::vector<std::thread> writers;
  for (Outcome& outcome : outcomes) {
    writers.emplace_back([&, &outcome = outcome] {
      started.arrive_and_wait();
      // relaxed: only tells the loop when to stop; nothing is published with it.
      while (!done.load(std::memory_order_relaxed)) {
        const Time lo = fake_now();
        const auto offset = log.write(payload);
        const Time hi = fake_now();
        ++outcome.written;
        if (!offset.has_value()) {
          ++outcome.outside;
          continue;
        }
        // The other writer may purge it first (small segments): then skip it.
        const auto record = log.read(*offset);
        if (!record.has_value()) continue;
        const Time created = record.value().metadata.created;
        if (created < lo || created > hi) {
          ++outcome.outside;
          outcome.worst_ns = std::max(outcome.worst_ns, std::max(ns_of(lo) - ns_of(created), ns_of(created) - ns_of(hi)));
        }
      }
    });
  }
  started.arrive_and_wait();
  std::mt19937_64 random(7);
  std::uniform_int_distribution<std::int64_t> step_ns(1'000, 2'000'000);
  std::uniform_int_distribution<std::int64_t> ppm(-chrony_max_slew_ppm, chrony_max_slew_ppm);
  for (int i = 0; i < 100; ++i) {
    pause_for(std::chrono::microseconds(300));
    if (i % 2 == 0) {
      fake.step(nanoseconds(step_ns(random)));
    } else {
      fake.slew(ppm(random));
    }
  }
  done.store(true, std::memory_order_relaxed);
  for (auto& t : writers) t.join();
  fake.slew(0);
  for (const Outcome& o : outcomes) {
    INFO(o.written << " records written, " << o.outside << " outside the bracket (worst by " << o.worst_ns << " ns)");
    CHECK(o.written > 0);
    CHECK(o.outside == 0);
  }
}
