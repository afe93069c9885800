// Retention by age and by bytes: Options::max_age and
// Options::max_segment_bytes, driven by a mock clock (no sleeps).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <malloc.h>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <memlog/memlog.hpp>
#include <memlog/sharded.hpp>

#include "support/catch.hpp"
#include "support/checks.hpp"

namespace {

using namespace std::chrono_literals;
using memlog::Errc;
using memlog::Offset;
using memlog::OffsetRange;
using TimePoint = std::chrono::system_clock::time_point;

// A clock the test sets, in seconds.
struct MockClock {
  std::shared_ptr<std::atomic<std::int64_t>> seconds = std::make_shared<std::atomic<std::int64_t>>(0);
  TimePoint operator()() const { return TimePoint(std::chrono::seconds(seconds->load())); }
  void set(std::int64_t s) const { seconds->store(s); }
};

TimePoint at(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

// A sized record that is not a byte sequence: stored as Record<Event>.
struct Event {
  std::string payload;
};

}  // namespace

template <>
struct memlog::RecordSize<Event> {
  std::size_t operator()(const Event& e) const noexcept { return e.payload.size(); }
};

namespace {

// --- Options -----------------------------------------------------------------

TEST_CASE("a negative max_age is rejected, naming the option", "[retention]") {
  const std::string message = memlog_test::invalid_argument_message(
      [] { memlog::Log<std::string> log({.max_age = -1ns}); });
  CHECK_THAT(message, memlog_test::contains("max_age"));
}

TEST_CASE("max_segment_bytes needs a T whose size memlog knows", "[retention]") {
  const std::string message = memlog_test::invalid_argument_message(
      [] { memlog::Log<int> log({.max_segment_bytes = 64}); });
  CHECK_THAT(message, memlog_test::contains("max_segment_bytes"));
  CHECK_NOTHROW(memlog::Log<int>({.max_segment_bytes = 0}));
  CHECK_NOTHROW(memlog::Log<Event>({.max_segment_bytes = 64}));
  CHECK_NOTHROW(memlog::Log<std::vector<std::byte>>({.max_segment_bytes = 64}));
  CHECK_THROWS_AS(memlog::sharded::Log<int>(memlog::sharded::Options{.shards = 2, .log = {.max_segment_bytes = 8}}),
                  std::invalid_argument);
}

// --- max_segment_bytes ---------------------------------------------------------

TEST_CASE("max_segment_bytes seals a segment when the next record would pass it", "[retention]") {
  memlog::Log<std::string> log({.max_segment_bytes = 10});
  REQUIRE(log.write("aaaa"));  // 0: 4 bytes
  REQUIRE(log.write("bbbb"));  // 1: 8
  REQUIRE(log.write("cc"));    // 2: 10, exactly the limit: still fits
  CHECK(log.range() == OffsetRange{0, 2});
  REQUIRE(log.write("d"));     // 3: would be 11: a new segment, history 0..2
  CHECK(log.range() == OffsetRange{0, 3});
  REQUIRE(log.write("eeeeeeeee"));  // 4: 1 + 9 = 10
  CHECK(log.range() == OffsetRange{0, 4});
  REQUIRE(log.write("f"));          // 5: rotates again: 0..2 purged
  CHECK(log.range() == OffsetRange{3, 5});
  CHECK(log.read(2).error() == Errc::out_of_range);
  const memlog::Stats stats = log.stats();
  CHECK(stats.records == 3);
  CHECK(stats.bytes == 1 + 9 + 1);
  CHECK(stats.purged == 3);
}

TEST_CASE("a record larger than max_segment_bytes fits alone in a fresh segment", "[retention]") {
  memlog::Log<std::string> log({.max_segment_bytes = 10});
  SECTION("into an empty log") {
    REQUIRE(log.write(std::string(25, 'x')) == 0);
    REQUIRE(log.write("y") == 1);  // the active segment is over the limit: sealed
    CHECK(log.range() == OffsetRange{0, 1});
    REQUIRE(log.write("z") == 2);  // "y" alone is under it: 1 + 1
    CHECK(log.range() == OffsetRange{0, 2});
    CHECK(log.stats().bytes == 27);
  }
  SECTION("after smaller records") {
    REQUIRE(log.write("abc"));                   // 0
    REQUIRE(log.write(std::string(25, 'x')));    // 1: a segment of its own
    REQUIRE(log.write("y"));                     // 2: seals it; 0 purged
    CHECK(log.range() == OffsetRange{1, 2});
    CHECK(log.read(1)->data == std::string(25, 'x'));
    CHECK(log.stats().bytes == 26);
  }
}

TEST_CASE("max_segment_size still seals a segment under max_segment_bytes", "[retention]") {
  memlog::Log<std::string> log({.max_segment_size = 2, .max_segment_bytes = 1000});
  for (int i = 0; i < 5; ++i) REQUIRE(log.write("r"));
  CHECK(log.range() == OffsetRange{2, 4});
}

TEMPLATE_TEST_CASE("a log holds at most about 2 x max_segment_bytes", "[retention]", std::string, Event) {
  constexpr std::size_t limit = 1000;
  constexpr std::size_t largest = 300;
  memlog::Log<TestType> log({.max_segment_size = 1'000'000, .max_segment_bytes = limit});
  std::mt19937 random(7);
  std::uniform_int_distribution<std::size_t> size_of(1, largest);
  std::uint64_t written_bytes = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::size_t size = size_of(random);
    const std::string payload(size, static_cast<char>('a' + i % 26));
    Offset offset = 0;
    if constexpr (std::is_same_v<TestType, std::string>) {
      offset = log.write(payload).value();
    } else {
      offset = log.write(Event{payload}).value();
    }
    written_bytes += size;
    const memlog::Stats stats = log.stats();
    // Two segments, each under the limit; the active one may have just
    // taken a record that does not fit beside the others.
    REQUIRE(stats.bytes <= 2 * limit);
    REQUIRE(stats.bytes <= written_bytes);
    REQUIRE(stats.records + stats.purged == stats.written);
    // Retained records read back intact.
    if constexpr (std::is_same_v<TestType, std::string>) {
      REQUIRE(log.read(offset)->data == payload);
    } else {
      REQUIRE(log.read(offset)->data.payload == payload);
    }
  }
  // The bytes of what is retained add up to stats().bytes (nothing expired).
  const auto [earliest, latest] = log.range();
  std::uint64_t retained = 0;
  for (Offset o = earliest; o <= latest; ++o) {
    const auto record = log.read(o);
    REQUIRE(record);
    retained += memlog::RecordSize<TestType>{}(record->data);
  }
  CHECK(retained == log.stats().bytes);
  CHECK(retained > limit / 2);  // it did not purge more than it had to
}

// --- max_age: reads ------------------------------------------------------------

TEST_CASE("a record expires once it is older than max_age, not before", "[retention]") {
  MockClock clock;
  memlog::Log<std::string> log({.clock = clock, .max_age = 10s});
  clock.set(100);
  REQUIRE(log.write("a") == 0);
  clock.set(110);  // exactly max_age old: still there
  CHECK(log.read(0)->data == "a");
  CHECK(log.range() == OffsetRange{0, 0});
  clock.set(111);
  CHECK(log.read(0).error() == Errc::out_of_range);
  CHECK(log.read(0, [](const auto&) {}).error() == Errc::out_of_range);
  CHECK(log.read(1).error() == Errc::future_offset);  // future stays future
  CHECK(log.range() == OffsetRange{});                // nothing is retained
  CHECK(log.next_offset() == 1);                      // but the log goes on
  CHECK(log.offset_at(at(0)) == 1);
  const memlog::Stats stats = log.stats();
  CHECK(stats.written == 1);
  CHECK(stats.records == 0);
  CHECK(stats.purged == 1);
  REQUIRE(log.write("b") == 1);
  CHECK(log.range() == OffsetRange{1, 1});
}

TEST_CASE("part of a segment expires: reads, batches, range, offset_at and stats agree", "[retention]") {
  MockClock clock;
  memlog::Log<std::string> log({.start_offset = 10, .max_segment_size = 100, .clock = clock, .max_age = 10s});
  for (int t = 1; t <= 6; ++t) {  // offsets 10..15 created at 1..6
    clock.set(t);
    REQUIRE(log.write("r" + std::to_string(t)));
  }
  clock.set(14);  // cutoff 4: times 1..3 (offsets 10..12) have expired
  CHECK(log.range() == OffsetRange{13, 15});
  CHECK(log.read(12).error() == Errc::out_of_range);
  CHECK(log.read(13)->data == "r4");
  std::vector<memlog::Record<std::string>> batch(8);
  CHECK(log.read_batch(10, batch) == memlog::ReadBatchResult{0, Errc::out_of_range});
  CHECK(log.read_batch(13, batch) == memlog::ReadBatchResult{3, Errc::future_offset});
  CHECK(batch[0].data == "r4");
  CHECK(log.offset_at(at(0)) == 13);  // expired times map to the first live record
  CHECK(log.offset_at(at(4)) == 13);
  CHECK(log.offset_at(at(5)) == 14);
  CHECK(log.offset_at(at(7)) == 16);
  const memlog::Stats stats = log.stats();
  CHECK(stats.written == 6);
  CHECK(stats.records == 3);
  CHECK(stats.purged == 3);
  CHECK(stats.bytes == 12);  // held until a write frees them
}

TEST_CASE("a zero-copy visitor and a sharded log see expiry too", "[retention]") {
  MockClock clock;
  memlog::sharded::Log<std::string> log(memlog::sharded::Options{.shards = 2, .log = {.clock = clock, .max_age = 5s}});
  clock.set(0);
  const Offset first = log.write("k", "old").value();
  clock.set(10);
  const Offset second = log.write("k", "new").value();
  CHECK(log.read("k", first).error() == Errc::out_of_range);
  CHECK(log.read("k", second)->data == "new");
  CHECK(log.read("k", second, [](const auto& record) { return record.data.size(); }).value() == 3);
  const std::size_t shard = log.shard_of("k").value();
  CHECK(log.shard(shard).range() == OffsetRange{second, second});
}

// --- max_age: memory -----------------------------------------------------------

TEST_CASE("a write frees a wholly expired history at once", "[retention]") {
  MockClock clock;
  memlog::Log<std::string> log({.max_segment_size = 4, .clock = clock, .max_age = 10s});
  for (int i = 0; i < 4; ++i) REQUIRE(log.write("a"));  // 0..3 at time 0
  clock.set(5);
  for (int i = 0; i < 4; ++i) REQUIRE(log.write("b"));  // 4..7 at time 5: 0..3 become the history
  CHECK(log.stats().bytes == 8);
  CHECK(log.range() == OffsetRange{0, 7});
  clock.set(11);  // 0..3 expire
  CHECK(log.range() == OffsetRange{4, 7});
  REQUIRE(log.write("c") == 8);  // rotates as usual: 0..3 purged, 4..7 the history
  CHECK(log.stats().bytes == 5);
  clock.set(16);  // 4..7 (time 5) expire; 8 (time 11) does not
  CHECK(log.range() == OffsetRange{8, 8});
  REQUIRE(log.write("d") == 9);
  CHECK(log.stats().bytes == 2);  // the history is freed now, not 3 writes later
  CHECK(log.range() == OffsetRange{8, 9});
  CHECK(log.stats().purged == 8);
}

TEST_CASE("a write into a wholly expired log frees both segments", "[retention]") {
  MockClock clock;
  memlog::Log<std::string> log({.max_segment_size = 4, .clock = clock, .max_age = 10s});
  for (int i = 0; i < 6; ++i) REQUIRE(log.write("xx"));  // 0..3 history, 4..5 active
  CHECK(log.stats().bytes == 12);
  clock.set(1000);
  CHECK(log.stats().records == 0);
  CHECK(log.stats().bytes == 12);  // nothing is freed without a write
  REQUIRE(log.write("y") == 6);
  const memlog::Stats stats = log.stats();
  CHECK(stats.bytes == 1);
  CHECK(stats.records == 1);
  CHECK(stats.purged == 6);
  CHECK(log.range() == OffsetRange{6, 6});
  // The log goes on normally: the next rotation reuses nothing freed.
  for (int i = 0; i < 8; ++i) REQUIRE(log.write("z"));
  CHECK(log.range() == OffsetRange{10, 14});
  for (Offset o = 10; o <= 14; ++o) CHECK(log.read(o));
}

// Heap bytes in use, from glibc (0 where a sanitizer's allocator replaces it).
std::size_t heap_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#else
  return 0;
#endif
}

TEST_CASE("a write into a wholly expired log gives its memory back to the allocator", "[retention]") {
  MockClock clock;
  const std::size_t before = heap_in_use();
  {
    memlog::Log<std::string> log({.max_segment_size = 1024, .clock = clock, .max_age = 10s});
    const std::string kib(1024, 'k');
    for (int i = 0; i < 2048; ++i) REQUIRE(log.write(kib));  // two full segments: 2 MiB
    const std::size_t full = heap_in_use();
    clock.set(100);
    REQUIRE(log.write("x") == 2048);
    const std::size_t after = heap_in_use();
    if (before == 0 || full < before + (2u << 20)) {
      WARN("the allocator does not report its use here (a sanitizer?): not checked");
    } else {
      INFO("heap before " << before << ", with 2 MiB of records " << full << ", after the write " << after);
      // Both segments' storage is freed, not kept for reuse.
      CHECK(after < before + (64u << 10));
    }
  }
}

TEST_CASE("expiry frees memory for non-byte records too", "[retention]") {
  MockClock clock;
  memlog::Log<Event> log({.max_segment_size = 3, .clock = clock, .max_age = 10s});
  for (int i = 0; i < 5; ++i) REQUIRE(log.write(Event{"abcd"}));
  CHECK(log.stats().bytes == 20);
  clock.set(100);
  REQUIRE(log.write(Event{"e"}) == 5);
  CHECK(log.stats().bytes == 1);
  CHECK(log.read(4).error() == Errc::out_of_range);
  CHECK(log.read(5)->data.payload == "e");
}

TEST_CASE("a clock near its minimum expires nothing rather than overflowing", "[retention]") {
  struct Early {
    TimePoint operator()() const { return TimePoint::min() + 1s; }
  };
  memlog::Log<std::string> log({.clock = Early{}, .max_age = std::chrono::nanoseconds::max()});
  REQUIRE(log.write("a") == 0);
  CHECK(log.read(0)->data == "a");
  CHECK(log.range() == OffsetRange{0, 0});
  CHECK(log.offset_at(TimePoint::min()) == 0);
}

// --- max_age: streams ------------------------------------------------------------

TEST_CASE("a stream whose position expires follows its reset policy", "[retention][reset]") {
  MockClock clock;
  memlog::Log<std::string> log({.clock = clock, .max_age = 10s});
  for (int i = 0; i < 3; ++i) REQUIRE(log.write("old"));  // 0..2 at time 0
  clock.set(8);
  for (int i = 0; i < 2; ++i) REQUIRE(log.write("new"));  // 3..4 at time 8
  clock.set(15);  // 0..2 have expired
  SECTION("none: ends with out_of_range") {
    auto stream = log.stream(0);
    CHECK(stream.next().error() == Errc::out_of_range);
  }
  SECTION("earliest: goes on from the first live record") {
    auto stream = log.stream(0, {}, {.reset = memlog::Reset::earliest});
    auto record = stream.next();
    REQUIRE(record);
    CHECK(record->metadata.offset == 3);
    CHECK(stream.skipped() == 3);
  }
  SECTION("earliest with every record expired: goes on from the next write") {
    clock.set(100);
    auto stream = log.stream(1, {}, {.reset = memlog::Reset::earliest});
    CHECK(stream.next_for(0s).error() == Errc::timed_out);
    CHECK(stream.position() == 5);
    CHECK(stream.skipped() == 4);
    REQUIRE(log.write("later") == 5);
    CHECK(stream.next()->data == "later");
  }
  SECTION("latest: goes on from the next write") {
    auto stream = log.stream(0, {}, {.reset = memlog::Reset::latest});
    CHECK(stream.next_for(0s).error() == Errc::timed_out);
    CHECK(stream.skipped() == 5);
    REQUIRE(log.write("later"));
    CHECK(stream.next()->metadata.offset == 5);
  }
}

TEST_CASE("a record read ahead that expires before delivery is not delivered", "[retention][reset]") {
  MockClock clock;
  memlog::Log<std::string> log({.clock = clock, .max_age = 10s});
  for (int i = 0; i < 4; ++i) REQUIRE(log.write("r" + std::to_string(i)));  // 0..3 at time 0
  SECTION("none") {
    auto stream = log.stream(0);
    REQUIRE(stream.next()->data == "r0");  // reads 0..3 ahead
    clock.set(11);
    CHECK(stream.next().error() == Errc::out_of_range);
    CHECK(stream.position() == 1);
  }
  SECTION("earliest, through the range-for iterator") {
    auto stream = log.stream(0, {}, {.reset = memlog::Reset::earliest});
    auto it = stream.begin();
    REQUIRE(it->metadata.offset == 0);
    clock.set(11);
    REQUIRE(log.write("fresh") == 4);
    ++it;
    REQUIRE(it != stream.end());
    CHECK(it->metadata.offset == 4);
    CHECK(stream.skipped() == 3);
  }
}

// --- concurrency (ThreadSanitizer) -------------------------------------------------

TEST_CASE("expiry and purges racing with streams, readers and resets deliver only live, correct records",
          "[retention][concurrent]") {
  // The clock moves on with the writes, and jumps now and then; records
  // expire, expired segments are freed and segments rotate by count and by
  // bytes while streams (each reset policy) and readers run.
  auto ticks = std::make_shared<std::atomic<std::int64_t>>(0);
  const auto clock = [ticks] { return TimePoint(std::chrono::milliseconds(ticks->load())); };
  constexpr auto max_age = 50ms;
  memlog::Log<std::string> log(
      {.max_segment_size = 64, .clock = clock, .max_segment_bytes = 600, .max_age = max_age});
  constexpr int records = 20000;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  const auto fail = [&failures] { failures.fetch_add(1); };
  const auto cutoff_now = [&] { return clock() - max_age; };

  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> skipped{0};
  std::latch started(5);
  std::vector<std::thread> threads;
  for (const memlog::Reset reset : {memlog::Reset::none, memlog::Reset::earliest, memlog::Reset::latest}) {
    threads.emplace_back([&, reset] {
      std::stop_source stop;
      auto stream = log.stream(0, stop.get_token(), {.reset = reset});
      Offset previous = -1;
      started.arrive_and_wait();
      while (!done.load()) {
        const TimePoint cutoff = cutoff_now();  // before next(): the check inside came later
        auto record = stream.next_for(1ms);
        if (!record) {
          if (record.error() == Errc::timed_out) continue;
          if (reset != memlog::Reset::none || record.error() != Errc::out_of_range) fail();
          break;
        }
        delivered.fetch_add(1);
        if (record->metadata.offset <= previous) fail();
        if (record->data != std::to_string(record->metadata.offset)) fail();
        if (record->metadata.created < cutoff) fail();
        previous = record->metadata.offset;
      }
      skipped.fetch_add(stream.skipped());
    });
  }
  threads.emplace_back([&] {
    std::vector<memlog::Record<std::string>> batch(16);
    started.arrive_and_wait();
    while (!done.load()) {
      const TimePoint cutoff = cutoff_now();
      const OffsetRange range = log.range();
      if (range.earliest >= 0) {
        const auto record = log.read(range.earliest);
        if (record && (record->data != std::to_string(range.earliest) || record->metadata.created < cutoff)) fail();
        const auto result = log.read_batch(range.earliest, batch);
        for (std::size_t i = 0; i < result.count; ++i) {
          if (batch[i].data != std::to_string(range.earliest + static_cast<Offset>(i))) fail();
        }
      }
      const Offset found = log.offset_at(clock() - 20ms);
      if (found > log.next_offset()) fail();
      const memlog::Stats stats = log.stats();
      if (stats.records + stats.purged > stats.written) fail();
      if (stats.bytes > 2 * 600) fail();
    }
  });
  started.arrive_and_wait();
  std::mt19937 random(11);
  for (int i = 0; i < records; ++i) {
    if (i % 8 == 0) ticks->fetch_add(1);
    // Now and then a jump: the history expires (and the next write frees
    // it), or everything does (the next write starts afresh), while the
    // readers run.
    if (i % 256 == 255) ticks->fetch_add(static_cast<std::int64_t>(random() % 120));
    if (i % 64 == 0) std::this_thread::yield();  // let the readers in, on any number of cores
    const std::string payload = std::to_string(i);
    REQUIRE(log.write(payload) == i);
  }
  done.store(true);
  for (auto& thread : threads) thread.join();
  CHECK(failures.load() == 0);
  INFO("delivered " << delivered.load() << ", skipped " << skipped.load());
  CHECK(delivered.load() > 0);
}

}  // namespace
