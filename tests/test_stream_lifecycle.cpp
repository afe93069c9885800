// A stream's life at its edges (issue 12, items 1-5; API.md, second round):
//   - a moved-from stream is ended and says so, and never crashes; the
//     moved-to stream goes on exactly where it was; a self-moved stream is
//     either ended or unchanged;
//   - next() either returns the record at position() and advances, or throws
//     and stays where it was: a T whose copy and move really throw, at every
//     construction a next() makes, never loses a record (read-ahead path and
//     one-by-one path, a T with a move and a copy-only T);
//   - a stream_spin for which now + stream_spin overflows is rejected;
//   - next_for and next_until take any duration or deadline without UB
//     (NaN, infinities, far deadlines on other clocks and in coarse units):
//     NaN and past deadlines check once, +infinity and far deadlines wait
//     like next();
//   - a stream whose position can never be written (INT64_MAX) ends with
//     offset_overflow instead of waiting forever.
//
// A check that crashes on a broken stream first runs in a forked child, so
// that the crash fails that test instead of taking down the binary. No test
// sleeps: waits that should end are bounded by a watchdog that requests a
// stop (the test then fails on the cancelled result), and the UB cases are
// meant to run under UBSan (the sanitizer builds make UB fatal).

#include <memlog/memlog.hpp>
#include <memlog/sharded.hpp>

#include "support/catch.hpp"
#include "support/checks.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <latch>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__unix__)
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace {

using memlog::Errc;
using memlog::Offset;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr Offset offset_max = std::numeric_limits<Offset>::max();

// Bounds a wait that must end by itself; a correct stream returns within
// microseconds, so this only turns a hang into a failure.
constexpr auto hang_bound = 5s;

// What a call returned, printable: the error's message, or the record's offset.
std::string err(const std::error_code& ec) { return ec ? ec.message() : "no error"; }
template <class R>
std::string got(const R& r) {
  return r.has_value() ? "the record at " + std::to_string(r->metadata.offset) : err(r.error());
}
std::string err(Errc e) { return err(memlog::make_error_code(e)); }
std::string record_at(Offset o) { return "the record at " + std::to_string(o); }

// Requests a stop on `source` unless disarmed within `limit`: a stream wait
// that should end by itself returns cancelled instead of hanging the test.
class StopAfter {
 public:
  StopAfter(std::stop_source source, Clock::duration limit)
      : thread_([this, source, limit]() mutable {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            fired_ = true;
            source.request_stop();
          }
        }) {}
  StopAfter(const StopAfter&) = delete;
  StopAfter& operator=(const StopAfter&) = delete;
  ~StopAfter() { disarm(); }

  // Stops the watchdog; true when it had fired.
  bool disarm() {
    {
      std::lock_guard guard(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return fired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;   // guarded by mu_
  bool fired_ = false;  // guarded by mu_; read after the join
  std::thread thread_;  // last: starts after the members it uses
};

// Runs `body` in a forked child and says how the child ended: empty when
// `body` returned, else how it died (a crash, an abort, a sanitizer's report,
// or a hang cut short by an alarm). The parent's state is untouched, so after
// an empty answer it can run the same steps itself and check them. Where
// fork() is not available the steps run only in the process.
template <class F>
std::string crash_of(F&& body) {
#if defined(__unix__)
  std::fflush(nullptr);  // or the child would flush the parent's buffered output too
  const pid_t pid = fork();
  if (pid < 0) return std::string("fork failed: ") + std::strerror(errno);
  if (pid == 0) {
    // Catch2's report of the child's own failure would read like the
    // parent's: silence the child's standard output (sanitizers use stderr).
    if (const int null = open("/dev/null", O_WRONLY); null >= 0) dup2(null, STDOUT_FILENO);
    alarm(10);  // a hang in the child ends it with SIGALRM
    body();
    std::_Exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return std::string("waitpid failed: ") + std::strerror(errno);
  }
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status) == 0 ? std::string{} : "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")" +
           (sig == SIGALRM ? ": it hung" : "");
  }
  return "ended with status " + std::to_string(status);
#else
  (void)body;
  return {};
#endif
}

// ---------------------------------------------------------------------------
// Types whose copies and moves throw on demand.

struct Injected : std::exception {
  [[nodiscard]] const char* what() const noexcept override { return "injected failure"; }
};

// Counts copy and move constructions of the fragile types below; arm(n)
// makes the n-th one from now throw Injected. The tests that use it are
// single-threaded (a stream belongs to one thread).
struct Faults {
  static inline int countdown = 0;  // 0: disarmed
  static inline long thrown = 0;
  static inline long constructions = 0;

  static void arm(int n) noexcept { countdown = n; }
  static void disarm() noexcept { countdown = 0; }
  static void construction() {
    ++constructions;
    if (countdown > 0 && --countdown == 0) {
      ++thrown;
      throw Injected();
    }
  }
};

// Disarms Faults on scope exit, however the scope is left.
struct DisarmOnExit {
  DisarmOnExit() = default;
  DisarmOnExit(const DisarmOnExit&) = delete;
  DisarmOnExit& operator=(const DisarmOnExit&) = delete;
  ~DisarmOnExit() { Faults::disarm(); }
};

// A string without a default constructor: a T holding it is not
// default-constructible, so streams cannot read ahead into a buffer of Ts.
struct Text {
  std::string s;
  explicit Text(std::string v) : s(std::move(v)) {}
};

std::string text_of(const std::string& s) { return s; }
std::string text_of(const Text& t) { return t.s; }
template <class P>
P payload(const std::string& s) {
  return P(s);
}

// Copy and move constructors both throw when armed, before they touch the
// source (so a throw leaves the source as it was). The move is not noexcept.
template <class Payload>
struct Throwing {
  Payload value;
  explicit Throwing(Payload v) : value(std::move(v)) {}
  Throwing() = default;  // deleted when Payload has no default constructor
  Throwing(const Throwing& o) : value((Faults::construction(), o.value)) {}
  Throwing(Throwing&& o) noexcept(false) : value((Faults::construction(), std::move(o.value))) {}
  Throwing& operator=(const Throwing&) = default;
  Throwing& operator=(Throwing&&) = default;
  ~Throwing() = default;
};

// No move constructor or move assignment is declared: an rvalue is copied.
// The copy throws when armed.
template <class Payload>
struct CopyOnly {
  Payload value;
  explicit CopyOnly(Payload v) : value(std::move(v)) {}
  CopyOnly() = default;  // deleted when Payload has no default constructor
  CopyOnly(const CopyOnly& o) : value((Faults::construction(), o.value)) {}
  CopyOnly& operator=(const CopyOnly&) = default;
  ~CopyOnly() = default;
};

template <class P>
std::string text_of(const Throwing<P>& t) {
  return text_of(t.value);
}
template <class P>
std::string text_of(const CopyOnly<P>& t) {
  return text_of(t.value);
}

// A T holding `s`.
template <class T>
T make(const std::string& s) {
  if constexpr (std::is_same_v<T, std::string>) {
    return s;
  } else {
    return T(payload<decltype(T::value)>(s));
  }
}

static_assert(!std::is_nothrow_move_constructible_v<Throwing<std::string>>);
static_assert(std::default_initializable<Throwing<std::string>> && std::is_copy_assignable_v<Throwing<std::string>>,
              "reads ahead in batches");
static_assert(!std::default_initializable<Throwing<Text>>, "reads one record at a time");
static_assert(std::default_initializable<CopyOnly<std::string>> && !std::default_initializable<CopyOnly<Text>>);
static_assert(std::is_move_constructible_v<CopyOnly<std::string>> &&
              !std::is_nothrow_move_constructible_v<CopyOnly<std::string>>);

// ---------------------------------------------------------------------------
// What a moved-from stream does.

struct Observed {
  std::string next;        // what next() returned
  std::string error;       // error() after it
  std::string next_again;  // a second next()
  std::string next_for;    // next_for(1h): an ended stream answers at once
  long yields = 0;         // records a range-for over it yielded (capped)
};

template <class T>
Observed observe(memlog::Stream<T>& s) {
  Observed o;
  const auto first = s.next();
  o.next = got(first);
  o.error = err(s.error());
  // A stream that returned a record is not ended (a failure already); the
  // calls below could then block at the end of the log.
  if (first.has_value()) return o;
  o.next_again = got(s.next());
  o.next_for = got(s.next_for(1h));
  for (const auto& record : s) {
    (void)record;
    if (++o.yields == 1000) break;
  }
  return o;
}

// Checks that `s` (moved from) is ended. A crash or a hang fails in a child
// process first.
template <class T>
void check_ended(memlog::Stream<T>& s) {
  const std::string crash = crash_of([&] { (void)observe(s); });
  INFO("a child process doing the same: " << (crash.empty() ? "survived" : crash));
  REQUIRE(crash.empty());
  const Observed o = observe(s);
  INFO("next() on the moved-from stream returned " << o.next);
  REQUIRE(o.next.rfind("the record at", 0) != 0);  // an error, not a record
  CHECK(o.error != err(std::error_code{}));
  CHECK(o.error == o.next);
  CHECK(o.next_again == o.next);
  CHECK(o.next_for == o.next);
  CHECK(o.yields == 0);
}

// Checks that `s` delivers exactly the records [from, to) of the log, then
// has nothing more at once.
template <class T>
void check_continues(memlog::Stream<T>& s, Offset from, Offset to) {
  CHECK(s.position() == from);
  for (Offset o = from; o < to; ++o) {
    const auto r = s.next();
    REQUIRE(got(r) == record_at(o));
    CHECK(text_of(r->data) == "record " + std::to_string(o));
  }
  CHECK(got(s.next_for(0ns)) == err(Errc::timed_out));
  CHECK(s.position() == to);
}

// Writes records "record <offset>" until the log holds offsets [0, n).
template <class T>
void fill(memlog::Log<T>& log, Offset n) {
  const DisarmOnExit disarm;
  for (Offset o = log.range().latest + 1; o < n; ++o) {
    REQUIRE(log.write(make<T>("record " + std::to_string(o))).value() == o);
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Moves (issue 12 item 1)

TEMPLATE_TEST_CASE("a moved-from stream is ended, never crashes, and the moved-to stream goes on where it was",
                   "[stream][lifecycle][move]", std::string, Throwing<std::string>, Throwing<Text>) {
  memlog::Log<TestType> log;
  fill(log, 10);

  SECTION("moved from by construction, with records read ahead") {
    auto a = log.stream(0);
    for (Offset o = 0; o < 3; ++o) REQUIRE(got(a.next()) == record_at(o));
    auto b = std::move(a);
    check_ended(a);
    check_continues(b, 3, 10);
  }
  SECTION("moved from by assignment over a stream that had read ahead itself") {
    auto a = log.stream(0);
    for (Offset o = 0; o < 3; ++o) REQUIRE(got(a.next()) == record_at(o));
    auto b = log.stream(5);
    REQUIRE(got(b.next()) == record_at(5));
    b = std::move(a);
    check_ended(a);
    check_continues(b, 3, 10);
  }
  SECTION("moved from before its first read") {
    auto a = log.stream(2);
    auto b = std::move(a);
    check_ended(a);
    check_continues(b, 2, 10);
  }
  SECTION("moved from after it ended: both are ended, the moved-to with the same error") {
    std::stop_source stop;
    auto a = log.stream(0, stop.get_token());
    REQUIRE(got(a.next()) == record_at(0));
    stop.request_stop();
    REQUIRE(got(a.next()) == err(Errc::cancelled));
    auto b = std::move(a);
    check_ended(a);
    CHECK(err(b.error()) == err(Errc::cancelled));
    CHECK(got(b.next()) == err(Errc::cancelled));
  }
  SECTION("a moved-from stream given a new stream reads again") {
    auto a = log.stream(0);
    REQUIRE(got(a.next()) == record_at(0));
    auto b = std::move(a);
    a = log.stream(7);
    check_continues(a, 7, 10);
    check_continues(b, 1, 10);
  }
}

// std's rule for self-move-assignment is "valid but unspecified": the stream
// may end (as a moved-from one) or stay as it was; either way it must say
// which, and never crash or lose its place.
TEMPLATE_TEST_CASE("a self-move-assigned stream is ended or unchanged, and never crashes",
                   "[stream][lifecycle][move]", std::string, Throwing<std::string>, Throwing<Text>) {
  memlog::Log<TestType> log;
  fill(log, 10);
  auto a = log.stream(0);
  for (Offset o = 0; o < 3; ++o) REQUIRE(got(a.next()) == record_at(o));
  auto& alias = a;  // a = std::move(a), without the compiler's self-move warning

  const std::string crash = crash_of([&] {
    a = std::move(alias);
    (void)observe(a);
  });
  INFO("a child process doing the same: " << (crash.empty() ? "survived" : crash));
  REQUIRE(crash.empty());

  a = std::move(alias);
  if (a.error()) {
    INFO("ended by the self-move");
    const Observed o = observe(a);
    CHECK(o.next == o.error);
    CHECK(o.next_again == o.next);
    CHECK(o.next_for == o.next);
    CHECK(o.yields == 0);
  } else {
    INFO("unchanged by the self-move");
    check_continues(a, 3, 10);
  }
}

// ---------------------------------------------------------------------------
// No record skipped when building next()'s result throws (issue 12 item 2)

namespace {

// One next() (even records) or next_for(0) (odd ones) for the record at
// `expected`, with the k-th copy or move construction it makes armed to
// throw (k = 0: none). Returns whether it threw; either way it checks the
// contract: a throw leaves the stream where it was (same position, not
// ended), a return is the record at position().
template <class T>
bool attempt(memlog::Stream<T>& s, Offset expected, int k) {
  INFO("record " << expected << ", construction " << k << " armed");
  try {
    Faults::arm(k);
    // Initialised from the prvalue: no construction outside next().
    const auto r = expected % 2 == 0 ? s.next() : s.next_for(0ns);
    Faults::disarm();
    REQUIRE(got(r) == record_at(expected));
    CHECK(text_of(r->data) == "record " + std::to_string(expected));
    return false;
  } catch (const Injected&) {
    Faults::disarm();
    REQUIRE(s.position() == expected);
    REQUIRE(err(s.error()) == err(std::error_code{}));
    return true;
  }
}

// The most copy and move constructions one next() makes in a clean read of
// records [0, n).
template <class T>
long most_constructions_per_next(const memlog::Log<T>& log, Offset n) {
  long most = 0;
  auto s = log.stream(0);
  for (Offset o = 0; o < n; ++o) {
    const long before = Faults::constructions;
    REQUIRE(got(s.next()) == record_at(o));
    most = std::max(most, Faults::constructions - before);
  }
  return most;
}

}  // namespace

TEMPLATE_TEST_CASE("next() that throws while building its result stays where it was: no record skipped",
                   "[stream][lifecycle][throw]", Throwing<std::string>, Throwing<Text>, CopyOnly<std::string>,
                   CopyOnly<Text>) {
  const DisarmOnExit disarm;
  constexpr Offset n = 70;  // across a few read-ahead refills
  memlog::Log<TestType> log;  // default options
  fill(log, n);

  SECTION("each construction point of next(), in turn, throws for every record; a retry delivers it") {
    // One pass per point k: every record's first next() has its k-th
    // construction throw, then a clean next() must deliver that record.
    const long most = most_constructions_per_next(log, n);
    REQUIRE(most >= 1);  // the result holds a T: at least one construction
    long thrown = 0;
    for (int k = 1; k <= most; ++k) {
      auto s = log.stream(0);
      for (Offset expected = 0; expected < n; ++expected) {
        if (attempt(s, expected, k)) {
          ++thrown;
          REQUIRE_FALSE(attempt(s, expected, 0));
        }
      }
      CHECK(got(s.next_for(0ns)) == err(Errc::timed_out));
      CHECK(s.position() == n);
    }
    CHECK(thrown >= n);  // k = 1 throws for every record: the throws really happen
    WARN(thrown << " throws injected at " << most << " construction points of " << n << " deliveries");
  }
  SECTION("next() fails at construction 1, 2, ... of the same record until it delivers") {
    // Failed attempts may leave work done (a refilled read-ahead): the next
    // attempt must still deliver exactly the record at position().
    auto s = log.stream(0);
    for (Offset expected = 0; expected < n; ++expected) {
      int k = 1;
      while (attempt(s, expected, k)) {
        REQUIRE(k < 10'000);  // only bounds a runaway loop: a read-ahead may copy many records
        ++k;
      }
      CHECK(k > 1);  // the first attempt threw
    }
    CHECK(got(s.next_for(0ns)) == err(Errc::timed_out));
    CHECK(s.position() == n);
  }
  SECTION("record 1's next() throws: the next next() returns record 1, then 2") {
    auto s = log.stream(0);
    REQUIRE(got(s.next()) == record_at(0));
    bool caught = false;
    try {
      Faults::arm(1);  // every next() constructs at least its result's T
      const auto r = s.next();
      Faults::disarm();
      FAIL("next() did not throw; it returned " << got(r));
    } catch (const Injected&) {
      caught = true;
    }
    Faults::disarm();
    REQUIRE(caught);
    CHECK(s.position() == 1);
    CHECK(err(s.error()) == err(std::error_code{}));
    CHECK(got(s.next()) == record_at(1));
    CHECK(got(s.next()) == record_at(2));
  }
  SECTION("without faults, next() and range-for deliver every record") {
    auto s = log.stream(0);
    check_continues(s, 0, n);
    std::stop_source stop;
    auto all = log.stream(0, stop.get_token());
    Offset expected = 0;
    for (const auto& record : all) {
      REQUIRE(record.metadata.offset == expected);
      CHECK(text_of(record.data) == "record " + std::to_string(expected));
      if (++expected == n) stop.request_stop();
    }
    CHECK(expected == n);
    CHECK(err(all.error()) == err(Errc::cancelled));
  }
}

// ---------------------------------------------------------------------------
// stream_spin validation (issue 12 item 3)

namespace {

using memlog_test::contains;
using memlog_test::invalid_argument_message;

}  // namespace

TEST_CASE("a stream_spin for which now + stream_spin overflows is rejected, naming stream_spin",
          "[stream][lifecycle][options]") {
  using std::chrono::nanoseconds;
  const auto since_boot = std::chrono::duration_cast<nanoseconds>(Clock::now().time_since_epoch());
  REQUIRE(since_boot > nanoseconds(2));
  struct Case {
    const char* what;
    nanoseconds spin;
  };
  const std::vector<Case> cases = {
      {"nanoseconds::max()", nanoseconds::max()},
      {"nanoseconds::max() - 1ns", nanoseconds::max() - nanoseconds(1)},
      // Just past what steady_clock::now() can take (it only grows).
      {"nanoseconds::max() - now / 2", nanoseconds::max() - since_boot / 2},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK_THAT(invalid_argument_message([&] { memlog::Log<std::string> log({.stream_spin = c.spin}); }),
               contains("stream_spin"));
    CHECK_THAT(invalid_argument_message([&] { memlog::Log<int> log({.stream_spin = c.spin}); }),
               contains("stream_spin"));
    CHECK_THAT(invalid_argument_message([&] {
                 memlog::sharded::Log<std::string> log({.shards = 2, .log = {.stream_spin = c.spin}});
               }),
               contains("stream_spin"));
  }
  // Ordinary values still construct, and a spinning stream still reads.
  for (const nanoseconds spin : {nanoseconds(0), nanoseconds(1ms), nanoseconds(10s)}) {
    memlog::Log<std::string> log({.stream_spin = spin});
    REQUIRE(log.write("x").has_value());
    auto s = log.stream(0);
    CHECK(got(s.next()) == record_at(0));
  }
}

// ---------------------------------------------------------------------------
// Any timeout or deadline, without UB (issue 12 item 4). Run under UBSan.

namespace {

// Returns once a stream of `log` is parked (Log::stats().waiting, where the
// log has it), `returned` is set, or a second has passed: the other thread
// then acts on a stream that waits, not on one that has yet to look. Without
// stats() (the code before issue 12) the latch alone orders the threads.
template <class L>
void until_parked(const L& log, const std::atomic<bool>& returned) {
  if constexpr (requires { log.stats().waiting; }) {
    const auto give_up = Clock::now() + 1s;
    // Yields, not sleeps: the condition is polled until it holds.
    while (log.stats().waiting == 0 && !returned.load() && Clock::now() < give_up) std::this_thread::yield();
  }
}

// Writes `data` from another thread while this thread calls `wait`, which
// should block until then; returns what `wait` got.
template <class Wait>
std::string written_while_waiting(memlog::Log<std::string>& log, const std::string& data, Wait wait) {
  std::latch go(2);
  std::atomic<bool> returned{false};
  std::jthread writer([&] {
    go.arrive_and_wait();
    until_parked(log, returned);
    (void)log.write(data);
  });
  go.arrive_and_wait();
  std::string got = wait();
  returned = true;
  return got;
}

// Requests `stop` from another thread while this thread calls `wait`, which
// should block until then; returns what `wait` got.
template <class Wait>
std::string stopped_while_waiting(const memlog::Log<std::string>& log, std::stop_source stop, Wait wait) {
  std::latch go(2);
  std::atomic<bool> returned{false};
  std::jthread stopper([&] {
    go.arrive_and_wait();
    until_parked(log, returned);
    stop.request_stop();
  });
  go.arrive_and_wait();
  std::string got = wait();
  returned = true;
  return got;
}

}  // namespace

TEST_CASE("next_for(NaN) and next_for(-infinity) check once, and next_for(+infinity) waits like next()",
          "[stream][lifecycle][timeout]") {
  using std::chrono::duration;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (const auto spin : {0ns, std::chrono::nanoseconds(50us)}) {
    INFO("stream_spin " << spin.count() << "ns");
    memlog::Log<std::string> log({.stream_spin = spin});
    std::stop_source stop;
    StopAfter watchdog(stop, hang_bound);
    auto s = log.stream(0, stop.get_token());

    // Nothing there: timed_out at once (a wait would end only by the watchdog: cancelled).
    CHECK(got(s.next_for(duration<double>(nan))) == err(Errc::timed_out));
    CHECK(got(s.next_for(duration<double>(-nan))) == err(Errc::timed_out));
    CHECK(got(s.next_for(duration<float>(std::numeric_limits<float>::quiet_NaN()))) == err(Errc::timed_out));
    CHECK(got(s.next_for(duration<double, std::milli>(nan))) == err(Errc::timed_out));
    CHECK(got(s.next_for(duration<long double>(std::numeric_limits<long double>::quiet_NaN()))) ==
          err(Errc::timed_out));
    CHECK(got(s.next_for(duration<double>(-inf))) == err(Errc::timed_out));
    CHECK(got(s.next_for(duration<float>(-std::numeric_limits<float>::infinity()))) == err(Errc::timed_out));
    CHECK(err(s.error()) == err(std::error_code{}));
    CHECK(s.position() == 0);

    // A record there: returned.
    REQUIRE(log.write("record 0").has_value());
    REQUIRE(log.write("record 1").has_value());
    CHECK(got(s.next_for(duration<double>(nan))) == record_at(0));
    CHECK(got(s.next_for(duration<double>(-inf))) == record_at(1));

    // +infinity: waits for a record written later, and for a stop.
    CHECK(written_while_waiting(log, "record 2", [&] { return got(s.next_for(duration<double>(inf))); }) ==
          record_at(2));
    CHECK(written_while_waiting(log, "record 3", [&] {
            return got(s.next_for(duration<float>(std::numeric_limits<float>::infinity())));
          }) == record_at(3));
    CHECK(written_while_waiting(log, "record 4", [&] { return got(s.next_for(duration<double>(1e300))); }) ==
          record_at(4));
    CHECK(!watchdog.disarm());

    std::stop_source stop_inf;
    auto waiting = log.stream(5, stop_inf.get_token());
    CHECK(stopped_while_waiting(log, stop_inf, [&] { return got(waiting.next_for(duration<double>(inf))); }) ==
          err(Errc::cancelled));
  }
}

namespace {

// Waits like next() for a far deadline, checks once for a past one. `far`
// and `past` are deadlines on any clock, in any unit.
template <class Far, class Past>
void check_deadlines(const char* clock, Far far, Past past) {
  INFO(clock);
  for (const auto spin : {0ns, std::chrono::nanoseconds(50us)}) {
    INFO("stream_spin " << spin.count() << "ns");
    memlog::Log<std::string> log({.stream_spin = spin});
    std::stop_source watchdog_stop;
    StopAfter watchdog(watchdog_stop, hang_bound);
    auto s = log.stream(0, watchdog_stop.get_token());

    // Past: nothing there gives timed_out at once; a record there is returned.
    CHECK(got(s.next_until(past)) == err(Errc::timed_out));
    REQUIRE(log.write("record 0").has_value());
    CHECK(got(s.next_until(past)) == record_at(0));

    // Far: a record written later is returned...
    CHECK(written_while_waiting(log, "record 1", [&] { return got(s.next_until(far)); }) == record_at(1));
    CHECK(!watchdog.disarm());
    // ...and a stop requested while it waits cancels it (a stream that did
    // not wait would time out first). Three rounds, each a fresh stream.
    for (int round = 0; round < 3; ++round) {
      INFO("round " << round);
      std::stop_source stop;
      auto waiting = log.stream(2, stop.get_token());
      CHECK(stopped_while_waiting(log, stop, [&] { return got(waiting.next_until(far)); }) == err(Errc::cancelled));
    }
  }
}

}  // namespace

TEST_CASE("next_until with a far deadline on any clock waits like next(), and a past one checks once",
          "[stream][lifecycle][timeout]") {
  using namespace std::chrono;
  SECTION("file_clock") {
    check_deadlines("file_clock max - 1h, now - 1h", file_clock::time_point::max() - 1h, file_clock::now() - 1h);
    check_deadlines("file_clock max - 1h, min", file_clock::time_point::max() - 1h, file_clock::time_point::min());
  }
  SECTION("system_clock") {
    check_deadlines("system_clock max - 1h, min + 1h", system_clock::time_point::max() - 1h,
                    system_clock::time_point::min() + 1h);
  }
  SECTION("steady_clock") {
    check_deadlines("steady_clock max - 1h, min + 1h", steady_clock::time_point::max() - 1h,
                    steady_clock::time_point::min() + 1h);
  }
  SECTION("coarse units: a deadline in hours that no clock's nanoseconds can hold") {
    check_deadlines("system_clock, hours: max - 1h, min + 1h", time_point<system_clock, hours>::max() - 1h,
                    time_point<system_clock, hours>::min() + 1h);
    check_deadlines("steady_clock, hours: max - 1h, min + 1h", time_point<steady_clock, hours>::max() - 1h,
                    time_point<steady_clock, hours>::min() + 1h);
  }
}

// ---------------------------------------------------------------------------
// A position that can never be written (issue 12 item 5)

namespace {

// Safety net only: a stream at an unwritable position ends at once.
constexpr auto unwritable_bound = 2s;

// Checks that `s`, at a position that can never be written, ends with
// offset_overflow without waiting, and stays ended.
template <class T>
void check_ends_unwritable(memlog::Stream<T>& s, Offset position) {
  const auto started = Clock::now();
  const auto r = s.next_for(unwritable_bound);
  const auto took = Clock::now() - started;
  CHECK(got(r) != err(Errc::timed_out));
  CHECK(got(r) == err(Errc::offset_overflow));
  CHECK(took < unwritable_bound / 2);
  CHECK(err(s.error()) == err(Errc::offset_overflow));
  CHECK(s.position() == position);
  if (s.error()) {  // else a plain next() would wait forever
    CHECK(got(s.next()) == err(Errc::offset_overflow));
  }
}

template <class T>
T value_for_test(int i) {
  if constexpr (std::is_same_v<T, std::string>) {
    return "record " + std::to_string(i);
  } else {
    return i;
  }
}

}  // namespace

TEMPLATE_TEST_CASE("a stream on a log full at INT64_MAX delivers the last records, then ends with offset_overflow",
                   "[stream][lifecycle][overflow]", std::string, int) {
  for (const auto spin : {0ns, std::chrono::nanoseconds(50us)}) {
    INFO("stream_spin " << spin.count() << "ns");
    memlog::Log<TestType> log({.start_offset = offset_max - 2, .stream_spin = spin});
    Offset written = 0;
    for (int i = 0;; ++i) {
      REQUIRE(i < 3);
      const auto w = log.write(value_for_test<TestType>(i));
      if (!w) {
        REQUIRE(err(w.error()) == err(Errc::offset_overflow));
        break;
      }
      REQUIRE(*w == offset_max - 2 + i);
      ++written;
    }
    REQUIRE(written == 2);

    auto s = log.stream(offset_max - 2);
    CHECK(got(s.next()) == record_at(offset_max - 2));
    CHECK(got(s.next()) == record_at(offset_max - 1));
    check_ends_unwritable(s, offset_max);

    // Range-for ends too (a watchdog's stop turns a hang into cancelled).
    std::stop_source stop;
    StopAfter watchdog(stop, unwritable_bound);
    auto all = log.stream(offset_max - 2, stop.get_token());
    Offset seen = 0;
    for (const auto& record : all) {
      CHECK(record.metadata.offset == offset_max - 2 + seen);
      ++seen;
    }
    CHECK(!watchdog.disarm());
    CHECK(seen == 2);
    CHECK(err(all.error()) == err(Errc::offset_overflow));
  }
}

TEST_CASE("a stream created at INT64_MAX ends with offset_overflow instead of waiting",
          "[stream][lifecycle][overflow]") {
  SECTION("on a log full at INT64_MAX") {
    memlog::Log<std::string> log({.start_offset = offset_max - 1});
    REQUIRE(log.write("last").value() == offset_max - 1);
    REQUIRE(err(log.write("more").error()) == err(Errc::offset_overflow));
    auto s = log.stream(offset_max);
    check_ends_unwritable(s, offset_max);
  }
  SECTION("on a log that starts at INT64_MAX (nothing can ever be written)") {
    memlog::Log<std::string> log({.start_offset = offset_max});
    auto s = log.stream(offset_max);
    check_ends_unwritable(s, offset_max);
  }
  SECTION("on an empty log that starts at 0 (no record ever has offset INT64_MAX)") {
    memlog::Log<std::string> log;
    auto s = log.stream(offset_max);
    check_ends_unwritable(s, offset_max);
  }
}
