// A log's life as a source: next_offset, offset_at, stats, close, and the
// streams' reset policies; the sharded log's per-shard API.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <limits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <condition_variable>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <memlog/memlog.hpp>

#include "support/catch.hpp"

namespace {

using namespace std::chrono_literals;
using memlog::Errc;
using memlog::Offset;
using TimePoint = std::chrono::system_clock::time_point;

// A clock the test sets: every record's time is what the test says.
struct MockClock {
  std::shared_ptr<std::atomic<std::int64_t>> seconds = std::make_shared<std::atomic<std::int64_t>>(0);
  TimePoint operator()() const { return TimePoint(std::chrono::seconds(seconds->load())); }
  void set(std::int64_t s) const { seconds->store(s); }
};

TimePoint at(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

TEST_CASE("next_offset is start_offset while empty, then latest + 1", "[lifetime]") {
  memlog::Log<std::string> log({.start_offset = 10, .max_segment_size = 2});
  CHECK(log.next_offset() == 10);
  CHECK(log.range() == memlog::OffsetRange{});
  for (int i = 0; i < 5; ++i) REQUIRE(log.write("x"));
  CHECK(log.next_offset() == 15);
  CHECK(log.range().latest + 1 == log.next_offset());
}

TEST_CASE("created never decreases, even when the clock steps back", "[lifetime]") {
  MockClock clock;
  memlog::Log<std::string> log({.clock = clock});
  clock.set(100);
  REQUIRE(log.write("a"));
  clock.set(50);  // a step back
  REQUIRE(log.write("b"));
  clock.set(200);
  REQUIRE(log.write("c"));
  CHECK(log.read(0)->metadata.created == at(100));
  CHECK(log.read(1)->metadata.created == at(100));
  CHECK(log.read(2)->metadata.created == at(200));
}

TEST_CASE("offset_at finds the first retained record at or after a time", "[lifetime]") {
  MockClock clock;
  memlog::Log<std::string> log({.start_offset = 5, .max_segment_size = 4, .clock = clock});
  SECTION("empty log: next_offset") {
    CHECK(log.offset_at(at(0)) == 5);
    CHECK(log.offset_at(TimePoint::max()) == 5);
  }
  SECTION("before, at, between and after records") {
    // Times 10, 20, 20, 30: offsets 5, 6, 7, 8.
    for (const int t : {10, 20, 20, 30}) {
      clock.set(t);
      REQUIRE(log.write("r"));
    }
    CHECK(log.offset_at(TimePoint::min()) == 5);
    CHECK(log.offset_at(at(9)) == 5);
    CHECK(log.offset_at(at(10)) == 5);
    CHECK(log.offset_at(at(11)) == 6);
    CHECK(log.offset_at(at(20)) == 6);  // the earliest of equal times
    CHECK(log.offset_at(at(21)) == 8);
    CHECK(log.offset_at(at(30)) == 8);
    CHECK(log.offset_at(at(31)) == 9);  // every record is older: next_offset()
    CHECK(log.offset_at(TimePoint::max()) == 9);
  }
  SECTION("after purges: only retained records count") {
    for (int t = 1; t <= 20; ++t) {  // offsets 5..24 at times 1..20
      clock.set(t);
      REQUIRE(log.write("r"));
    }
    const auto [earliest, latest] = log.range();
    REQUIRE(earliest > 5);
    CHECK(log.offset_at(at(0)) == earliest);
    CHECK(log.offset_at(at(1)) == earliest);  // purged times map to the earliest retained
    CHECK(log.offset_at(at(20)) == latest);
    CHECK(log.offset_at(at(21)) == latest + 1);
    // Every retained offset is found at its own time.
    for (Offset o = earliest; o <= latest; ++o) CHECK(log.offset_at(at(o - 4)) == o);
  }
}

TEST_CASE("offset_at agrees with a plain search whatever the spacing of the times", "[lifetime]") {
  // Large enough for the interpolating search to guess, with spacings that
  // make its guesses land on, near and far from the answer.
  std::mt19937_64 random(17);
  for (const int shape : {0, 1, 2, 3, 4}) {
    CAPTURE(shape);
    auto now = std::make_shared<std::int64_t>(1'000'000);
    memlog::Log<std::string> log(
        {.max_segment_size = 3000, .clock = [now] { return TimePoint(std::chrono::nanoseconds(*now)); }});
    std::vector<TimePoint> created;
    for (int i = 0; i < 5000; ++i) {  // rotates: 2000 purged, 3000 retained... or fewer
      switch (shape) {
        case 0: *now += 1000; break;                                                  // even
        case 1: *now += random() % 1000 == 0 ? 1'000'000'000 : random() % 2000; break;  // bursts and pauses
        case 2: *now += i < 4000 ? 0 : 1; break;                                      // mostly one time
        case 3: *now += static_cast<std::int64_t>(random() % 3) * (i % 500 == 0 ? 1'000'000 : 1); break;
        default: *now += (i / 1000) % 2 == 0 ? 1 : 1'000'000; break;                  // alternating densities
      }
      REQUIRE(log.write("r"));
      created.push_back(TimePoint(std::chrono::nanoseconds(*now)));
    }
    const auto [earliest, latest] = log.range();
    const auto retained_begin = created.begin() + earliest;
    const auto expected = [&](TimePoint t) { return static_cast<Offset>(std::lower_bound(retained_begin, created.end(), t) - created.begin()); };
    const std::int64_t from = created.front().time_since_epoch().count() - 10;
    const std::int64_t to = created.back().time_since_epoch().count() + 10;
    for (int q = 0; q < 3000; ++q) {
      const TimePoint t(std::chrono::nanoseconds(from + static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(to - from))));
      REQUIRE(log.offset_at(t) == expected(t));
    }
    for (Offset o = earliest; o <= latest; o += 7) {  // every record's own time, and just after it
      const TimePoint t = created[static_cast<std::size_t>(o)];
      REQUIRE(log.offset_at(t) == expected(t));
      REQUIRE(log.offset_at(t + 1ns) == expected(t + 1ns));
    }
  }
}

TEST_CASE("offset_at at the ends of the clock's range: no overflow, no NaN", "[lifetime]") {
  // Times a double cannot tell apart (2^62 + 1, + 2, ...), and times far
  // apart on both sides of the epoch: the search's interpolation must stay
  // exact (UBSan checks the conversions).
  for (const std::int64_t base : {std::int64_t{1} << 62, std::numeric_limits<std::int64_t>::min() + 10}) {
    CAPTURE(base);
    auto now = std::make_shared<std::int64_t>(base);
    memlog::Log<std::string> log({.clock = [now] { return TimePoint(std::chrono::nanoseconds(*now)); }});
    for (int i = 0; i < 1000; ++i) {
      *now = base + i / 2;  // pairs of equal times, 1 ns apart
      REQUIRE(log.write("r"));
    }
    for (std::int64_t d = -1; d <= 501; ++d) {
      const TimePoint t(std::chrono::nanoseconds(base + d));
      const Offset expected = d <= 0 ? 0 : std::min<Offset>(2 * d, 1000);
      REQUIRE(log.offset_at(t) == expected);
    }
  }
  auto now = std::make_shared<std::int64_t>(std::numeric_limits<std::int64_t>::min() + 1);
  memlog::Log<std::string> log({.clock = [now] { return TimePoint(std::chrono::nanoseconds(*now)); }});
  for (int i = 0; i < 500; ++i) REQUIRE(log.write("low"));
  *now = std::numeric_limits<std::int64_t>::max() - 1;
  for (int i = 0; i < 500; ++i) REQUIRE(log.write("high"));
  CHECK(log.offset_at(TimePoint::min()) == 0);
  CHECK(log.offset_at(TimePoint(std::chrono::nanoseconds(0))) == 500);
  CHECK(log.offset_at(TimePoint::max() - 1ns) == 500);
  CHECK(log.offset_at(TimePoint::max()) == 1000);
}

TEST_CASE("offset_at works for non-byte records too", "[lifetime]") {
  MockClock clock;
  memlog::Log<int> log({.max_segment_size = 3, .clock = clock});
  for (int t = 0; t < 7; ++t) {
    clock.set(t * 10);
    REQUIRE(log.write(t));
  }
  const auto [earliest, latest] = log.range();
  CHECK(log.offset_at(at(15)) == std::max<Offset>(2, earliest));
  CHECK(log.offset_at(at(60)) == latest);
  CHECK(log.offset_at(at(61)) == latest + 1);
}

TEST_CASE("stats counts what was written, retained and purged", "[lifetime]") {
  memlog::Log<std::string> log({.start_offset = 3, .max_segment_size = 2});
  CHECK(log.stats() == memlog::Stats{});
  REQUIRE(log.write("ab"));    // 3
  REQUIRE(log.write("cde"));   // 4
  auto s = log.stats();
  CHECK(s.written == 2);
  CHECK(s.records == 2);
  CHECK(s.bytes == 5);
  CHECK(s.purged == 0);
  REQUIRE(log.write("f"));     // 5: rotates, history 3..4
  REQUIRE(log.write("ghij"));  // 6
  REQUIRE(log.write("k"));     // 7: rotates, purges 3..4, history 5..6
  s = log.stats();
  CHECK(s.written == 5);
  CHECK(s.records == 3);
  CHECK(s.bytes == 1 + 4 + 1);
  CHECK(s.purged == 2);
  CHECK(s.waiting == 0);
}

TEST_CASE("stats counts no bytes for a T without a size", "[lifetime]") {
  memlog::Log<int> log;
  REQUIRE(log.write(1));
  CHECK(log.stats().bytes == 0);
  CHECK(log.stats().records == 1);
}

TEST_CASE("stats reports a parked stream as waiting", "[lifetime]") {
  memlog::Log<std::string> log;
  bool got = false;
  std::jthread reader([&] {
    auto stream = log.stream(0);
    got = stream.next().has_value();
  });
  while (log.stats().waiting == 0) std::this_thread::yield();
  CHECK(log.stats().waiting == 1);
  REQUIRE(log.write("wake"));
  reader.join();
  CHECK(got);
  CHECK(log.stats().waiting == 0);
}

TEST_CASE("close refuses writes, keeps reads, and is idempotent", "[lifetime]") {
  memlog::Log<std::string> log;
  REQUIRE(log.write("a"));
  CHECK_FALSE(log.closed());
  log.close();
  log.close();
  CHECK(log.closed());
  const auto refused = log.write("b");
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == Errc::closed);
  CHECK(log.write(std::string("c")).error() == Errc::closed);
  // Every later write: also one that would be refused for its data.
  CHECK(log.write("").error() == Errc::closed);
  CHECK(log.write(std::string()).error() == Errc::closed);
  CHECK(log.write(static_cast<const char*>(nullptr)).error() == Errc::closed);
  CHECK(log.write(std::string(memlog::default_max_record_size + 1, 'x')).error() == Errc::closed);
  memlog::Log<std::vector<int>> numbers;
  numbers.close();
  CHECK(numbers.write(std::vector<int>{}).error() == Errc::closed);
  CHECK(log.read(0)->data == "a");
  CHECK(log.range() == memlog::OffsetRange{0, 0});
  CHECK(log.next_offset() == 1);
  CHECK(log.stats().written == 1);
}

TEST_CASE("close lets streams deliver what was written, then end with closed", "[lifetime]") {
  memlog::Log<std::string> log({.max_segment_size = 100});
  for (int i = 0; i < 10; ++i) REQUIRE(log.write(std::to_string(i)));
  auto stream = log.stream(0);
  log.close();
  int delivered = 0;
  for (const auto& record : stream) {
    CHECK(record.data == std::to_string(delivered));
    ++delivered;
  }
  CHECK(delivered == 10);
  CHECK(stream.error() == Errc::closed);
  CHECK(stream.next().error() == Errc::closed);
}

TEST_CASE("close wakes streams blocked in next()", "[lifetime]") {
  memlog::Log<std::string> log;
  constexpr int readers = 4;
  std::atomic<int> closed_seen{0};
  std::vector<std::jthread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&] {
      auto stream = log.stream(0);
      auto first = stream.next();
      auto second = stream.next();  // blocks until close()
      if (first && first->data == "only" && !second && second.error() == Errc::closed) ++closed_seen;
    });
  }
  REQUIRE(log.write("only"));
  while (log.stats().waiting < readers) std::this_thread::yield();
  log.close();
  threads.clear();
  CHECK(closed_seen == readers);
}

// Writers race close(): every write either succeeded (and every stream
// delivers it) or was refused with Errc::closed; streams end with closed.
TEST_CASE("close racing writers and streams loses nothing and ends every stream", "[lifetime][concurrent]") {
  for (int round = 0; round < 20; ++round) {
    memlog::Log<std::string> log({.max_segment_size = 1 << 16});
    std::atomic<long> accepted{0};
    std::atomic<int> unexpected{0};
    std::latch start(5);  // two writers, two streams, this thread
    std::vector<std::jthread> writers;
    for (int w = 0; w < 2; ++w) {
      writers.emplace_back([&] {
        start.arrive_and_wait();
        for (int i = 0; i < 2000; ++i) {
          const auto written = log.write("r");
          if (written) {
            ++accepted;
          } else if (written.error() != Errc::closed) {
            ++unexpected;
          }
        }
      });
    }
    std::vector<long> delivered(2, 0);
    std::vector<std::error_code> ended(2);
    std::vector<std::jthread> streams;
    for (int s = 0; s < 2; ++s) {
      streams.emplace_back([&, s] {
        auto stream = log.stream(0);
        start.arrive_and_wait();
        for (const auto& record : stream) {
          if (record.metadata.offset != delivered[s]) break;
          ++delivered[s];
        }
        ended[s] = stream.error();
      });
    }
    start.arrive_and_wait();
    while (accepted.load() < 100 * (round % 5 + 1)) std::this_thread::yield();
    log.close();
    writers.clear();
    streams.clear();
    CHECK(unexpected == 0);
    CHECK(log.next_offset() == accepted.load());
    for (int s = 0; s < 2; ++s) {
      CHECK(delivered[s] == accepted.load());
      CHECK(ended[s] == Errc::closed);
    }
  }
}

TEST_CASE("reset none ends a stream whose position was purged", "[lifetime][reset]") {
  memlog::Log<std::string> log({.max_segment_size = 2});
  auto stream = log.stream(0, {}, {.reset = memlog::Reset::none});
  for (int i = 0; i < 10; ++i) REQUIRE(log.write(std::to_string(i)));
  CHECK(stream.next().error() == Errc::out_of_range);
  CHECK(stream.skipped() == 0);
}

TEST_CASE("reset earliest goes on from the earliest retained record and counts what it skipped",
          "[lifetime][reset]") {
  memlog::Log<std::string> log({.max_segment_size = 2});
  auto stream = log.stream(0, {}, {.reset = memlog::Reset::earliest});
  for (int i = 0; i < 10; ++i) REQUIRE(log.write(std::to_string(i)));
  const auto earliest = log.range().earliest;
  REQUIRE(earliest == 6);
  auto record = stream.next();
  REQUIRE(record);
  CHECK(record->metadata.offset == earliest);
  CHECK(record->data == std::to_string(earliest));
  CHECK(stream.skipped() == static_cast<std::uint64_t>(earliest));
  CHECK(stream.next()->metadata.offset == earliest + 1);
}

TEST_CASE("reset earliest also applies to a record read ahead and purged since", "[lifetime][reset]") {
  memlog::Log<std::string> log({.max_segment_size = 4});
  for (int i = 0; i < 4; ++i) REQUIRE(log.write(std::to_string(i)));
  auto stream = log.stream(0, {}, {.reset = memlog::Reset::earliest});
  REQUIRE(stream.next()->metadata.offset == 0);  // reads ahead 0..3
  for (int i = 4; i < 12; ++i) REQUIRE(log.write(std::to_string(i)));  // purges 0..3
  const auto record = stream.next();
  REQUIRE(record);
  CHECK(record->metadata.offset == log.range().earliest);
  CHECK(stream.skipped() == static_cast<std::uint64_t>(log.range().earliest - 1));
}

TEST_CASE("reset latest goes on from the next record written", "[lifetime][reset]") {
  memlog::Log<std::string> log({.max_segment_size = 2});
  auto stream = log.stream(0, {}, {.reset = memlog::Reset::latest});
  for (int i = 0; i < 10; ++i) REQUIRE(log.write(std::to_string(i)));
  REQUIRE(log.write("new"));
  // The stream notices the purge, jumps to next_offset() (11), and waits there.
  auto timed = stream.next_for(0ms);
  CHECK(timed.error() == Errc::timed_out);
  CHECK(stream.position() == 11);
  CHECK(stream.skipped() == 11);
  REQUIRE(log.write("later"));
  CHECK(stream.next()->data == "later");
}

TEST_CASE("a stream before the start counts no skipped records that never existed", "[lifetime][reset]") {
  memlog::Log<std::string> log({.start_offset = 100});
  REQUIRE(log.write("first"));
  auto stream = log.stream(-5, {}, {.reset = memlog::Reset::earliest});
  CHECK(stream.next()->metadata.offset == 100);
  CHECK(stream.skipped() == 0);
}

TEST_CASE("a stream's own spin is validated", "[lifetime][reset]") {
  memlog::Log<std::string> log;
  CHECK_THROWS_AS(log.stream(0, {}, {.spin = -1ns}), std::invalid_argument);
  CHECK_THROWS_AS(log.stream(0, {}, {.spin = std::chrono::nanoseconds::max()}), std::invalid_argument);
  auto spinning = log.stream(0, {}, {.spin = 50us});
  REQUIRE(log.write("x"));
  CHECK(spinning.next()->data == "x");
}

// Streams reset while a writer purges under them: every record a stream
// delivers is the one written at its offset, offsets only increase, and
// skipped + delivered accounts for every offset the stream passed.
TEST_CASE("resets racing with purges deliver only correct records", "[lifetime][reset][concurrent]") {
  memlog::Log<std::string> log({.max_segment_size = 8});
  constexpr int records = 20000;
  std::stop_source stop;
  std::atomic<int> bad{0};
  std::vector<std::jthread> streams;
  for (const auto reset : {memlog::Reset::earliest, memlog::Reset::latest}) {
    streams.emplace_back([&, reset] {
      auto stream = log.stream(0, stop.get_token(), {.reset = reset});
      Offset last = -1;
      std::uint64_t delivered = 0;
      for (const auto& record : stream) {
        if (record.metadata.offset <= last || record.data != std::to_string(record.metadata.offset)) ++bad;
        last = record.metadata.offset;
        ++delivered;
        if (last == records - 1) break;
      }
      // Every offset the stream passed was delivered or skipped (a reset to
      // `latest` may have jumped past the last record delivered).
      if (delivered + stream.skipped() != static_cast<std::uint64_t>(stream.position())) ++bad;
    });
  }
  for (int i = 0; i < records; ++i) REQUIRE(log.write(std::to_string(i)));
  // Streams that jumped to `latest` past the last record wait: end them.
  stop.request_stop();
  streams.clear();
  CHECK(bad == 0);
}

TEST_CASE("sharded log: shard_of, shard(i), read_batch, zero-copy read and close", "[lifetime][sharded]") {
  memlog::sharded::Log<std::string> log({.shards = 4});
  REQUIRE(log.write("alpha", "a0"));
  REQUIRE(log.write("alpha", "a1"));
  const auto index = log.shard_of("alpha");
  REQUIRE(index);
  CHECK(*index < 4);
  CHECK(log.shard(*index).range() == memlog::OffsetRange{0, 1});
  CHECK(log.shard(*index).read(1)->data == "a1");
  CHECK_THROWS_AS(log.shard(4), std::out_of_range);
  const auto& const_log = log;
  CHECK_THROWS_AS(const_log.shard(99), std::out_of_range);

  std::vector<memlog::Record<std::string>> batch(3);
  const auto result = log.read_batch("alpha", 0, batch);
  CHECK(result.count == 2);
  CHECK(result.error == Errc::future_offset);
  CHECK(batch[1].data == "a1");

  const auto size = log.read("alpha", 0, [](const auto& record) { return record.data.size(); });
  REQUIRE(size);
  CHECK(*size == 2);
  const auto visited = log.read("alpha", 0, [](const auto&) {});
  CHECK(visited);

  log.close();
  CHECK(log.write("alpha", "late").error() == Errc::closed);
  CHECK(log.write("beta", "late").error() == Errc::closed);
  CHECK(log.read("alpha", 0)->data == "a0");
}

TEST_CASE("sharded log: a sharder's error comes back from the new calls", "[lifetime][sharded]") {
  memlog::sharded::Log<std::string, memlog::sharded::KeySharder> log({.shards = 2},
                                                                    memlog::sharded::KeySharder({"a", "b"}));
  CHECK(log.shard_of("zzz").error() == Errc::shard_not_found);
  std::vector<memlog::Record<std::string>> batch(1);
  const auto result = log.read_batch("zzz", 0, batch);
  CHECK(result.count == 0);
  CHECK(result.error == Errc::shard_not_found);
  CHECK(log.read("zzz", 0, [](const auto&) {}).error() == Errc::shard_not_found);
  CHECK(*log.shard_of("b") == 1);
}

// Regression: a parking stream used to make its last check (which takes the
// writers' mutex) while holding the parking mutex, which a stop callback also
// takes. A visitor (holding off rotation) that requested a stop then waited
// for the parking mutex, held by a stream waiting for the writers' mutex,
// held by a rotating write waiting for the visitor: a deadlock. The sleeps
// only make that interleaving likely; the test passes by finishing.
TEST_CASE("a stop requested from a read visitor while a rotating write is pending does not deadlock",
          "[lifetime][concurrent]") {
  memlog::Log<int> log({.max_segment_size = 4});
  for (int i = 0; i < 4; ++i) REQUIRE(log.write(i));  // the next write rotates
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::jthread watchdog([&] {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, 30s, [&] { return finished; })) {
      std::fprintf(stderr, "watchdog: deadlock between a visitor's stop request and a rotating write\n");
      std::abort();
    }
  });
  std::stop_source first;
  std::stop_source second;
  std::jthread s1([&] { (void)log.stream(100, first.get_token()).next(); });
  std::jthread s2([&] { (void)log.stream(50, second.get_token()).next(); });
  while (log.stats().waiting < 2) std::this_thread::yield();
  std::jthread writer;
  std::jthread stopper;
  const auto visited = log.read(0, [&](const auto&) {
    writer = std::jthread([&] { (void)log.write(4); });  // rotates: waits for this visitor
    std::this_thread::sleep_for(20ms);
    stopper = std::jthread([&] { second.request_stop(); });  // s2 wakes and checks again
    std::this_thread::sleep_for(20ms);
    first.request_stop();  // the stop callback takes the parking mutex
  });
  CHECK(visited);
  writer.join();
  stopper.join();
  s1.join();
  s2.join();
  {
    std::lock_guard lock(mu);
    finished = true;
  }
  cv.notify_all();
  CHECK(log.range().latest == 4);
}

#ifndef NDEBUG
// A visitor that calls into a log (its own or another) could wait for a
// rotating write that waits for a visitor; debug builds catch the call itself.
TEST_CASE("debug builds abort when a read visitor calls into a log", "[lifetime]") {
  const auto aborts = [](auto&& call_back) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      std::freopen("/dev/null", "w", stderr);  // the assertion message is expected
      memlog::Log<int> log;
      memlog::Log<int> other({.max_age = std::chrono::hours(1)});
      (void)log.write(1);
      (void)other.write(1);
      (void)log.read(0, [&](const auto&) { call_back(log, other); });
      std::_Exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    INFO("child status " << status);
    // An assertion aborts; a sanitizer's runtime may turn that into its own
    // exit code. Either way the child did not finish normally.
    return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
  };
  using L = memlog::Log<int>;
  CHECK(aborts([](L& log, L&) { (void)log.read(0); }));
  CHECK(aborts([](L& log, L&) { (void)log.write(2); }));
  CHECK(aborts([](L& log, L&) { log.close(); }));
  CHECK(aborts([](L& log, L&) { (void)log.range(); }));
  CHECK(aborts([](L& log, L&) { (void)log.stats(); }));
  CHECK(aborts([](L&, L& other) { (void)other.read(0); }));
  CHECK(aborts([](L&, L& other) { (void)other.range(); }));  // with max_age: takes its lock
  CHECK(aborts([](L&, L& other) { (void)other.write(2); }));
  CHECK_FALSE(aborts([](L& log, L& other) {
    (void)log.next_offset();
    (void)log.closed();
    (void)other.next_offset();
    (void)other.closed();
  }));
}
#endif

}  // namespace
