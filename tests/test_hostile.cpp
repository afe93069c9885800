// Hostile input: every invalid option, every error path of every call, a T
// whose copies and moves throw std::bad_alloc, a clock that throws. Each case
// checks the error, that the log is unchanged (same range, same records) and
// that it still works afterwards, and that no stream step skips a record.
// Then resource bounds: a long run of writes with constant purging keeps
// memory flat, and streams release what they hold.

#include <memlog/memlog.hpp>
#include <memlog/sharded.hpp>

#include "support/catch.hpp"
#include "support/checks.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <new>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define MEMLOG_TEST_HAVE_MALLINFO2 1
#endif

// ASan and TSan replace malloc, so mallinfo2 says nothing under them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MEMLOG_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define MEMLOG_TEST_SANITIZED 1
#endif
#endif

namespace {

using memlog::Errc;
using memlog::Offset;
using Record = memlog::Record<std::string>;

constexpr Offset offset_max = std::numeric_limits<Offset>::max();
constexpr Offset offset_min = std::numeric_limits<Offset>::min();

std::string err(const std::error_code& ec) { return ec ? ec.message() : "no error"; }
template <class R>
std::string err_of(const R& r) {
  return r.has_value() ? "a value" : err(r.error());
}

// Everything observable about a log: its range and every retained record.
template <class T>
struct Snapshot {
  memlog::OffsetRange range;
  std::vector<memlog::Record<T>> records;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

template <class T>
Snapshot<T> snapshot(const memlog::Log<T>& log) {
  Snapshot<T> s{log.range(), {}};
  if (s.range.earliest < 0) return s;
  for (Offset o = s.range.earliest; o <= s.range.latest; ++o) s.records.push_back(log.read(o).value());
  return s;
}

// The log still works: a write goes to the next offset and reads back.
void check_usable(memlog::Log<std::string>& log, const std::string& data = "still usable") {
  const memlog::OffsetRange before = log.range();
  const auto offset = log.write(data);
  REQUIRE(offset.has_value());
  CHECK(*offset == (before.latest < 0 ? log.options().start_offset : before.latest + 1));
  const auto back = log.read(*offset);
  REQUIRE(back.has_value());
  CHECK(back->data == data);
  CHECK(log.range().latest == *offset);
}

using memlog_test::contains;
using memlog_test::invalid_argument_message;

}  // namespace

TEST_CASE("every invalid option is rejected with std::invalid_argument naming it", "[hostile]") {
  struct Case {
    const char* what;
    memlog::Options options;
    const char* names;
  };
  const std::vector<Case> cases = {
      {"start_offset -1", {.start_offset = -1}, "start_offset"},
      {"start_offset INT64_MIN", {.start_offset = offset_min}, "start_offset"},
      {"max_segment_size 0", {.max_segment_size = 0}, "max_segment_size"},
      {"max_segment_size SIZE_MAX", {.max_segment_size = std::numeric_limits<std::size_t>::max()}, "max_segment_size"},
      {"max_segment_size INT64_MAX + 1",
       {.max_segment_size = static_cast<std::size_t>(offset_max) + 1},
       "max_segment_size"},
      {"max_record_size 0", {.max_record_size = 0}, "max_record_size"},
      {"stream_spin -1ns", {.stream_spin = std::chrono::nanoseconds(-1)}, "stream_spin"},
      {"stream_spin min", {.stream_spin = std::chrono::nanoseconds::min()}, "stream_spin"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string log_msg = invalid_argument_message([&] { memlog::Log<std::string> log(c.options); });
    const std::string int_msg = invalid_argument_message([&] { memlog::Log<int> log(c.options); });
    // A sharded log passes its shards' options through the same checks.
    const std::string sharded_msg = invalid_argument_message([&] {
      memlog::sharded::Log<std::string> log({.shards = 2, .log = c.options});
    });
    CHECK_THAT(log_msg, contains(c.names));
    CHECK_THAT(int_msg, contains(c.names));
    CHECK_THAT(sharded_msg, contains(c.names));
  }

  for (const std::size_t shards : {std::size_t{0}, std::size_t{1},
                                   static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()) + 1}) {
    INFO("shards " << shards);
    CHECK_THAT(invalid_argument_message([&] { memlog::sharded::Log<std::string> log({.shards = shards, .log = {}}); }),
               contains("shards"));
  }

  SECTION("the edges of the valid options construct") {
    CHECK_NOTHROW(memlog::Log<std::string>({.start_offset = offset_max}));
    CHECK_NOTHROW(memlog::Log<std::string>({.max_segment_size = static_cast<std::size_t>(offset_max)}));
    CHECK_NOTHROW(memlog::Log<std::string>({.max_record_size = std::numeric_limits<std::size_t>::max()}));
    CHECK_NOTHROW(memlog::Log<std::string>({.max_segment_size = 1, .max_record_size = 1}));
    CHECK_NOTHROW(memlog::sharded::Log<std::string>({.shards = 2, .log = {}}));
  }
}

TEST_CASE("a huge segment allocates lazily and works", "[hostile]") {
  memlog::Log<std::string> log({.max_segment_size = static_cast<std::size_t>(offset_max)});
  for (int i = 0; i < 100; ++i) REQUIRE(log.write(std::to_string(i)).has_value());
  CHECK(log.range() == memlog::OffsetRange{0, 99});
  check_usable(log);
}

namespace {

// Per log state: the expected error for each offset the calls are given.
struct OffsetCase {
  Offset offset;
  Errc error;
};

struct LogState {
  const char* what;
  memlog::Options options;
  int writes;
  std::vector<OffsetCase> offsets;
};

std::vector<LogState> log_states() {
  const std::vector<OffsetCase> extremes = {{offset_min, Errc::out_of_range},
                                            {-1, Errc::out_of_range},
                                            {offset_max, Errc::future_offset}};
  auto with = [&](std::vector<OffsetCase> more) {
    more.insert(more.end(), extremes.begin(), extremes.end());
    return more;
  };
  return {
      {"empty, start 0", {}, 0, with({{0, Errc::future_offset}, {1, Errc::future_offset}})},
      {"empty, start 100",
       {.start_offset = 100},
       0,
       with({{0, Errc::out_of_range}, {99, Errc::out_of_range}, {100, Errc::future_offset}})},
      // Start 10, segments of 4, 11 writes: 10..13 purged, 14..20 retained.
      {"purged, start 10, segment 4, 11 writes",
       {.start_offset = 10, .max_segment_size = 4},
       11,
       with({{0, Errc::out_of_range},
             {9, Errc::out_of_range},
             {10, Errc::out_of_range},
             {13, Errc::out_of_range},
             {21, Errc::future_offset},
             {22, Errc::future_offset}})},
      // Start INT64_MAX - 5, segments of 2, written full: 5 records,
      // INT64_MAX - 5 .. INT64_MAX - 1, of which the last 3 are retained.
      {"full, start INT64_MAX - 5, segment 2",
       {.start_offset = offset_max - 5, .max_segment_size = 2},
       10,
       with({{0, Errc::out_of_range},
             {offset_max - 6, Errc::out_of_range},
             {offset_max - 5, Errc::out_of_range},
             {offset_max - 4, Errc::out_of_range}})},
      {"start INT64_MAX: nothing can be written",
       {.start_offset = offset_max},
       3,
       with({{0, Errc::out_of_range}, {offset_max - 1, Errc::out_of_range}})},
  };
}

}  // namespace

TEST_CASE("every read error path leaves the log unchanged and usable", "[hostile]") {
  for (const LogState& state : log_states()) {
    INFO(state.what);
    memlog::Log<std::string> log(state.options);
    for (int i = 0; i < state.writes; ++i) {
      const auto w = log.write("record " + std::to_string(i));
      if (!w) CHECK(w.error() == Errc::offset_overflow);  // the full logs
    }
    const Snapshot<std::string> before = snapshot(log);

    for (const OffsetCase& c : state.offsets) {
      INFO("offset " << c.offset << ", expected " << memlog::make_error_code(c.error).message());

      const auto r = log.read(c.offset);
      CHECK(err_of(r) == err(c.error));

      int visits = 0;
      const auto v = log.read(c.offset, [&](const memlog::RecordView<std::string>& rec) {
        ++visits;
        return std::string(rec.data);
      });
      CHECK(err_of(v) == err(c.error));
      const std::error_code vv = log.read(c.offset, [&](const auto&) { ++visits; }).error();
      CHECK(err(vv) == err(c.error));
      CHECK(visits == 0);

      for (const std::size_t n : {std::size_t{1}, std::size_t{5}}) {
        std::vector<Record> batch(n, Record{memlog::Header{-7, {}}, "untouched"});
        const auto b = log.read_batch(c.offset, batch);
        CHECK(b.count == 0);
        CHECK(err(b.error) == err(c.error));
        for (const Record& rec : batch) CHECK(rec.data == "untouched");
      }
      const auto empty = log.read_batch(c.offset, {});
      CHECK(empty == memlog::ReadBatchResult{});

      auto stream = log.stream(c.offset);
      const auto first = stream.next_for(std::chrono::milliseconds(1));
      if (c.offset == offset_max) {
        // No record ever has offset INT64_MAX: the stream ends at once (API.md).
        CHECK(err_of(first) == err(Errc::offset_overflow));
        CHECK(err(stream.error()) == err(Errc::offset_overflow));
        if (stream.error()) {  // else next() would wait for good
          CHECK(err_of(stream.next()) == err(Errc::offset_overflow));  // ended: returns at once
        }
      } else if (c.error == Errc::future_offset) {
        CHECK(err_of(first) == err(Errc::timed_out));
        CHECK(!stream.error());  // timing out does not end a stream
      } else {
        CHECK(err_of(first) == err(Errc::out_of_range));
        CHECK(err(stream.error()) == err(Errc::out_of_range));
        CHECK(err_of(stream.next()) == err(Errc::out_of_range));  // ended: returns at once
      }
      CHECK(stream.position() == c.offset);

      CHECK(snapshot(log) == before);
    }

    if (before.range.latest == offset_max - 1 || state.options.start_offset == offset_max) {
      CHECK(err_of(log.write("more")) == err(Errc::offset_overflow));
      CHECK(snapshot(log) == before);
    } else {
      check_usable(log);
    }
  }
}

TEST_CASE("extreme timeouts and deadlines time out at once and leave the stream usable", "[hostile]") {
  using namespace std::chrono;
  for (const auto spin : {nanoseconds(0), nanoseconds(microseconds(50))}) {
    INFO("stream_spin " << spin.count() << "ns");
    memlog::Log<std::string> log({.stream_spin = spin});
    auto stream = log.stream(0);
    const auto started = steady_clock::now();
    CHECK(err_of(stream.next_for(nanoseconds::min())) == err(Errc::timed_out));
    CHECK(err_of(stream.next_for(hours::min())) == err(Errc::timed_out));
    CHECK(err_of(stream.next_for(duration<double>(-1e300))) == err(Errc::timed_out));
    CHECK(err_of(stream.next_for(duration<double>(1e-300))) == err(Errc::timed_out));
    CHECK(err_of(stream.next_until(steady_clock::time_point::min())) == err(Errc::timed_out));
    CHECK(err_of(stream.next_until(system_clock::time_point::min())) == err(Errc::timed_out));
    CHECK(err_of(stream.next_until(system_clock::now() - hours(24 * 365 * 200))) == err(Errc::timed_out));
    CHECK(steady_clock::now() - started < seconds(10));  // a safety net, not a measurement
    CHECK(!stream.error());
    CHECK(stream.position() == 0);

    // With a record there, even an endless wait returns it at once.
    REQUIRE(log.write("a").has_value());
    REQUIRE(log.write("b").has_value());
    CHECK(stream.next_for(nanoseconds::max()).value().data == "a");
    CHECK(stream.next_until(steady_clock::time_point::max()).value().data == "b");
  }
}

namespace {

// A T with a user-given size (memlog::RecordSize customisation).
struct Blob {
  std::size_t claimed = 0;
};

}  // namespace

template <>
struct memlog::RecordSize<Blob> {
  std::size_t operator()(const Blob& b) const noexcept { return b.claimed; }
};

TEST_CASE("every write error path leaves the log unchanged and usable", "[hostile]") {
  SECTION("empty and oversize data, for each kind of sized T") {
    memlog::Log<std::string> log({.max_segment_size = 2, .max_record_size = 8});
    for (int i = 0; i < 5; ++i) REQUIRE(log.write("r" + std::to_string(i)).has_value());
    const auto before = snapshot(log);

    CHECK(err_of(log.write("")) == err(Errc::empty_record));
    CHECK(err_of(log.write(std::string{})) == err(Errc::empty_record));
    CHECK(err_of(log.write("123456789")) == err(Errc::record_too_large));
    CHECK(err_of(log.write(std::string(1 << 20, 'x'))) == err(Errc::record_too_large));
    CHECK(snapshot(log) == before);
    check_usable(log, "12345678");  // exactly max_record_size fits

    memlog::Log<std::vector<std::uint32_t>> words({.max_record_size = 8});  // sizes count bytes
    CHECK(err_of(words.write({})) == err(Errc::empty_record));
    CHECK(err_of(words.write({1, 2, 3})) == err(Errc::record_too_large));
    CHECK(words.range() == memlog::OffsetRange{});
    CHECK(words.write({1, 2}).value() == 0);

    memlog::Log<std::vector<std::byte>> bytes({.max_record_size = 1});
    CHECK(err_of(bytes.write({})) == err(Errc::empty_record));
    CHECK(err_of(bytes.write({std::byte{1}, std::byte{2}})) == err(Errc::record_too_large));
    CHECK(bytes.write({std::byte{1}}).value() == 0);

    memlog::Log<Blob> blobs({.max_record_size = 10});
    CHECK(err_of(blobs.write(Blob{0})) == err(Errc::empty_record));
    CHECK(err_of(blobs.write(Blob{11})) == err(Errc::record_too_large));
    CHECK(blobs.range() == memlog::OffsetRange{});
    CHECK(blobs.write(Blob{10}).value() == 0);

    memlog::Log<int> unsized({.max_record_size = 1});  // no size, no check
    CHECK(unsized.write(0).value() == 0);
  }

  SECTION("at the end of the offsets: offset_overflow, after the size checks") {
    memlog::Log<std::string> log({.start_offset = offset_max - 2, .max_segment_size = 1, .max_record_size = 4});
    CHECK(log.write("a").value() == offset_max - 2);
    CHECK(log.write("b").value() == offset_max - 1);
    const auto before = snapshot(log);
    CHECK(before.range == memlog::OffsetRange{offset_max - 2, offset_max - 1});
    for (int i = 0; i < 3; ++i) CHECK(err_of(log.write("c")) == err(Errc::offset_overflow));
    CHECK(err_of(log.write("")) == err(Errc::empty_record));
    CHECK(err_of(log.write("12345")) == err(Errc::record_too_large));
    CHECK(snapshot(log) == before);

    // A stream reads to the last offset, then ends: INT64_MAX is never written.
    auto stream = log.stream(offset_max - 2);
    CHECK(stream.next().value().data == "a");
    CHECK(stream.next().value().data == "b");
    CHECK(err_of(stream.next_for(std::chrono::seconds(1))) == err(Errc::offset_overflow));
    CHECK(stream.position() == offset_max);
    CHECK(err(stream.error()) == err(Errc::offset_overflow));
    std::vector<Record> batch(4);
    const auto b = log.read_batch(offset_max - 2, batch);
    CHECK(b.count == 2);
    CHECK(err(b.error) == err(Errc::future_offset));
  }
}

TEST_CASE("sharded: unknown and surplus keys, and sharder errors, change nothing", "[hostile]") {
  using memlog::sharded::KeySharder;

  SECTION("unknown key") {
    memlog::sharded::Log<std::string, KeySharder> log({.shards = 2, .log = {}}, KeySharder({"a", "b"}));
    REQUIRE(log.write("a", "one").has_value());
    for (const std::string& key : std::vector<std::string>{"c", "", "A", "a ", std::string("a\0", 2)}) {
      INFO("key '" << key << "'");
      CHECK(err_of(log.write(key, "x")) == err(Errc::shard_not_found));
      CHECK(err_of(log.read(key, 0)) == err(Errc::shard_not_found));
      CHECK(err_of(log.range(key)) == err(Errc::shard_not_found));
      CHECK(err_of(log.stream(key, 0)) == err(Errc::shard_not_found));
    }
    CHECK(log.range("a").value() == memlog::OffsetRange{0, 0});
    CHECK(log.range("b").value() == memlog::OffsetRange{});
    CHECK(log.write("b", "two").value() == 0);
  }

  SECTION("surplus keys: too_many_keys from every call, even for listed keys") {
    memlog::sharded::Log<std::string, KeySharder> log({.shards = 2, .log = {}}, KeySharder({"a", "b", "c"}));
    for (const char* key : {"a", "b", "c", "d"}) {
      INFO("key " << key);
      CHECK(err_of(log.write(key, "x")) == err(Errc::too_many_keys));
      CHECK(err_of(log.read(key, 0)) == err(Errc::too_many_keys));
      CHECK(err_of(log.range(key)) == err(Errc::too_many_keys));
      CHECK(err_of(log.stream(key, 0)) == err(Errc::too_many_keys));
    }
  }

  SECTION("bad offsets and data through a shard") {
    memlog::sharded::Log<std::string> log({.shards = 3, .log = {.max_segment_size = 2, .max_record_size = 4}});
    for (int i = 0; i < 5; ++i) REQUIRE(log.write("k", "v" + std::to_string(i)).has_value());
    const auto before = log.range("k").value();
    CHECK(before == memlog::OffsetRange{2, 4});
    CHECK(err_of(log.write("k", "")) == err(Errc::empty_record));
    CHECK(err_of(log.write("k", "12345")) == err(Errc::record_too_large));
    for (const OffsetCase c : {OffsetCase{offset_min, Errc::out_of_range}, OffsetCase{-1, Errc::out_of_range},
                               OffsetCase{1, Errc::out_of_range}, OffsetCase{5, Errc::future_offset},
                               OffsetCase{offset_max, Errc::future_offset}}) {
      INFO("offset " << c.offset);
      CHECK(err_of(log.read("k", c.offset)) == err(c.error));
      auto stream = log.stream("k", c.offset).value();
      const Errc expected = c.offset == offset_max            ? Errc::offset_overflow  // never written: ends
                            : c.error == Errc::future_offset ? Errc::timed_out
                                                             : Errc::out_of_range;
      CHECK(err_of(stream.next_for(std::chrono::nanoseconds(0))) == err(expected));
    }
    CHECK(log.range("k").value() == before);
    CHECK(log.write("k", "next").value() == 5);
    CHECK(log.write("", "e").has_value());  // an empty key is a key
  }

  SECTION("a sharder's own error is returned as is; an index past the shards is shard_not_found") {
    struct Refusing {
      memlog::Result<std::size_t> shard(std::string_view key, std::size_t shards) const {
        if (key == "far") return shards;  // one past the last shard
        return std::make_error_code(std::errc::permission_denied);
      }
    };
    memlog::sharded::Log<std::string, Refusing> log({.shards = 2, .log = {}});
    const auto denied = std::make_error_code(std::errc::permission_denied);
    CHECK(log.write("x", "data").error() == denied);
    CHECK(log.read("x", 0).error() == denied);
    CHECK(log.range("x").error() == denied);
    CHECK(log.stream("x", 0).error() == denied);
    CHECK(err_of(log.write("far", "data")) == err(Errc::shard_not_found));
    CHECK(err_of(log.read("far", 0)) == err(Errc::shard_not_found));
  }
}

namespace {

// A T whose copies and moves (constructors and assignments) throw
// std::bad_alloc, while armed, at random one time in 16 (seeded). Not every
// Nth time: an operation that copies many records at once would always fail.
// A throw happens before the source or target changes. So a write fails
// when the log moves or copies the T in, a read or a batch when it copies a
// record out, and a stream step when it refills its read-ahead or builds
// next()'s result. Counts live instances, and throws by kind.
struct Flaky {
  static inline std::atomic<long> live{0};
  static inline std::minstd_rand dice{1};
  static inline bool armed = false;
  static inline long throws = 0;
  static inline long constructor_throws = 0;  // of those, from a copy or move constructor

  int value = 0;

  explicit Flaky(int v) noexcept : value(v) { ++live; }
  Flaky() noexcept { ++live; }
  Flaky(const Flaky& o) : value(o.value) {
    maybe_throw(true);
    ++live;
  }
  Flaky(Flaky&& o) noexcept(false) : value(o.value) {
    maybe_throw(true);
    ++live;
  }
  Flaky& operator=(const Flaky& o) {
    maybe_throw(false);
    value = o.value;
    return *this;
  }
  Flaky& operator=(Flaky&& o) noexcept(false) {
    maybe_throw(false);
    value = o.value;
    return *this;
  }
  ~Flaky() { --live; }

  static void maybe_throw(bool constructor) {
    if (armed && dice() % 16 == 0) {
      ++throws;
      if (constructor) ++constructor_throws;
      throw std::bad_alloc();
    }
  }
};

// Disarms Flaky for its lifetime (to look at the log without failing).
struct Disarm {
  bool was = Flaky::armed;
  Disarm() { Flaky::armed = false; }
  ~Disarm() { Flaky::armed = was; }
  Disarm(const Disarm&) = delete;
  Disarm& operator=(const Disarm&) = delete;
};

}  // namespace

TEST_CASE("a T whose copies and moves throw bad_alloc never corrupts the log, and no stream step skips a record",
          "[hostile]") {
  static_assert(!std::is_nothrow_move_constructible_v<Flaky>);
  const auto seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  constexpr Offset start = 5;
  constexpr std::size_t segment = 40;
  {
    memlog::Log<Flaky> log({.start_offset = start, .max_segment_size = segment});
    std::vector<int> written;  // value written at offset start + i
    auto stream = log.stream(start);
    std::vector<memlog::Record<Flaky>> batch(8);
    int failed_writes = 0, failed_reads = 0, failed_batches = 0, failed_steps = 0;
    int failed_step_constructions = 0;  // stream steps that failed building a T (as next()'s result must)

    const auto check_log = [&] {
      const Disarm disarm;
      const memlog::OffsetRange r = log.range();
      if (written.empty()) {
        REQUIRE(r == memlog::OffsetRange{});
        return;
      }
      REQUIRE(r.latest == start + static_cast<Offset>(written.size()) - 1);
      for (Offset o = r.earliest; o <= r.latest; ++o) {
        REQUIRE(log.read(o).value().data.value == written[static_cast<std::size_t>(o - start)]);
      }
    };

    Flaky::armed = true;
    Flaky::dice.seed(seed);
    for (int i = 0; i < 3000; ++i) {
      const Offset next = start + static_cast<Offset>(written.size());
      switch (rng() % 4) {
        case 0:
        case 1: {
          const int value = static_cast<int>(rng() % 1000000);
          try {
            const auto w = log.write(Flaky(value));
            REQUIRE(w.value() == next);
            written.push_back(value);
          } catch (const std::bad_alloc&) {
            ++failed_writes;
            check_log();  // unchanged: nothing written, no offset used up
          }
          break;
        }
        case 2: {
          const Offset at = next - 1 - static_cast<Offset>(rng() % (2 * segment + 4));
          try {
            const auto r = log.read(at);
            if (r) REQUIRE(r->data.value == written[static_cast<std::size_t>(at - start)]);
          } catch (const std::bad_alloc&) {
            ++failed_reads;
            check_log();
          }
          try {
            const auto b = log.read_batch(at, batch);
            for (std::size_t k = 0; k < b.count; ++k) {
              REQUIRE(batch[k].data.value == written[static_cast<std::size_t>(at - start) + k]);
            }
          } catch (const std::bad_alloc&) {
            ++failed_batches;
            check_log();
          }
          break;
        }
        default: {
          // The stream may fall behind (out_of_range): then start over at the earliest.
          if (stream.error()) {
            const Disarm disarm;
            REQUIRE(stream.error() == Errc::out_of_range);
            stream = log.stream(log.range().earliest);
          }
          const Offset position = stream.position();
          const long constructor_throws = Flaky::constructor_throws;
          try {
            const auto r = stream.next_for(std::chrono::nanoseconds(0));
            if (r) {
              REQUIRE(r->metadata.offset == position);
              REQUIRE(r->data.value == written[static_cast<std::size_t>(position - start)]);
            }
          } catch (const std::bad_alloc&) {
            ++failed_steps;
            if (Flaky::constructor_throws > constructor_throws) ++failed_step_constructions;
            // No record lost: the stream stays where it was and goes on from there.
            REQUIRE(stream.position() == position);
            REQUIRE(!stream.error());
          }
          break;
        }
      }
    }
    Flaky::armed = false;
    check_log();
    CHECK(failed_writes > 0);
    CHECK(failed_reads > 0);
    CHECK(failed_batches > 0);
    CHECK(failed_steps > 0);
    // Building next()'s result constructs a T: such throws did happen, so the
    // position checks above really covered a failed delivery.
    CHECK(failed_step_constructions > 0);
    WARN("bad_alloc thrown " << Flaky::throws << " times: " << failed_writes << " writes, " << failed_reads
                             << " reads, " << failed_batches << " batches, " << failed_steps << " stream steps ("
                             << failed_step_constructions << " in a constructor); log intact after each");
    const memlog::OffsetRange r = log.range();
    const auto retained = r.latest - r.earliest + 1;
    batch.clear();
    // The log holds its records, the stream at most its read-ahead, nothing else.
    CHECK(Flaky::live >= retained);
    CHECK(Flaky::live <= retained + static_cast<long>(memlog::Stream<Flaky>::read_ahead));
  }
  CHECK(Flaky::live == 0);
}

TEST_CASE("a clock that throws leaves the log unchanged and usable", "[hostile]") {
  int calls = 0;
  memlog::Log<std::string> log({.max_segment_size = 3, .clock = [&calls] {
                                  if (++calls % 5 == 0) throw std::runtime_error("clock broke");
                                  return std::chrono::system_clock::time_point{std::chrono::seconds(calls)};
                                }});
  Offset next = 0;
  int thrown = 0;
  for (int i = 0; i < 50; ++i) {
    const auto before = snapshot(log);
    try {
      const auto offset = log.write("r" + std::to_string(i));
      CHECK(offset.value() == next);
      ++next;
    } catch (const std::runtime_error&) {
      ++thrown;
      CHECK(snapshot(log) == before);
    }
  }
  CHECK(thrown > 0);
  CHECK(log.range().latest == next - 1);
}

namespace {

// Counts live instances, and carries heap data like a real payload.
struct Counted {
  static inline std::atomic<long> live{0};
  std::string payload;
  explicit Counted(std::string p) : payload(std::move(p)) { ++live; }
  Counted() { ++live; }
  Counted(const Counted& o) : payload(o.payload) { ++live; }
  Counted(Counted&& o) noexcept : payload(std::move(o.payload)) { ++live; }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) noexcept = default;
  ~Counted() { --live; }
};

}  // namespace

TEST_CASE("a long run of writes with constant purging keeps memory flat", "[hostile][resources]") {
#if defined(MEMLOG_TEST_SANITIZED)
  constexpr long writes = 200'000;  // the sanitizers make it slow, and mallinfo2 meaningless
#else
  constexpr long writes = 2'000'000;
#endif
  constexpr std::size_t segment = 64;
  constexpr long warm_up = writes / 10;
  const std::string payload(48, 'p');  // beyond the small-string buffer: heap per record

  {
    memlog::Log<Counted> log({.max_segment_size = segment});
    std::size_t in_use_after_warm_up = 0, peak = 0, in_use_at_end = 0;
    long max_live = 0;
    for (long i = 0; i < writes; ++i) {
      if (!log.write(Counted(payload))) FAIL("write " << i << " failed");
      if (i % 1000 == 0) {
        max_live = std::max(max_live, Counted::live.load());
#if defined(MEMLOG_TEST_HAVE_MALLINFO2)
        const std::size_t in_use = mallinfo2().uordblks;
        if (i == warm_up) in_use_after_warm_up = in_use;
        if (i >= warm_up) peak = std::max(peak, in_use);
#endif
      }
    }
#if defined(MEMLOG_TEST_HAVE_MALLINFO2)
    in_use_at_end = mallinfo2().uordblks;
#endif
    const auto r = log.range();
    CHECK(r.latest == writes - 1);
    CHECK(r.latest - r.earliest + 1 <= static_cast<Offset>(2 * segment));
    // Exact, and independent of the allocator: only retained records live.
    CHECK(max_live <= static_cast<long>(2 * segment));
    CHECK(Counted::live == r.latest - r.earliest + 1);

#if defined(MEMLOG_TEST_HAVE_MALLINFO2) && !defined(MEMLOG_TEST_SANITIZED)
    const auto growth = static_cast<long long>(peak) - static_cast<long long>(in_use_after_warm_up);
    WARN(writes << " writes, segment " << segment << ": heap in use " << in_use_after_warm_up
                << " B after warm-up, peak " << peak << " B, " << in_use_at_end << " B at the end (growth "
                << growth << " B); at most " << max_live << " live records");
    CHECK(growth < 256 * 1024);  // generous: the log itself holds ~2 * 64 * 100 B
#else
    (void)in_use_after_warm_up;
    (void)peak;
    (void)in_use_at_end;
    WARN(writes << " writes: heap not measured here (sanitizer or no mallinfo2); at most " << max_live
                << " live records");
#endif
  }
  CHECK(Counted::live == 0);
}

TEST_CASE("every stream that is stopped, ended or destroyed releases everything", "[hostile][resources]") {
  const long live_before = Counted::live;
  {
    memlog::Log<Counted> log({.max_segment_size = 8});
    for (int i = 0; i < 20; ++i) REQUIRE(log.write(Counted("record " + std::to_string(i))).has_value());
    const auto retained = [&] {
      const auto r = log.range();
      return static_cast<long>(r.latest - r.earliest + 1);
    };
    const long held = retained();
    REQUIRE(Counted::live - live_before == held);

    {  // read some, then destroyed
      auto s = log.stream(log.range().earliest);
      for (int i = 0; i < 3; ++i) REQUIRE(s.next().has_value());
    }
    CHECK(Counted::live - live_before == held);

    {  // range-for left early keeps the current record until destroyed
      auto s = log.stream(log.range().earliest);
      int n = 0;
      for (const auto& r : s) {
        (void)r;
        if (++n == 2) break;
      }
      // a live stream may keep its read-ahead
      CHECK(Counted::live - live_before <= held + static_cast<long>(memlog::Stream<Counted>::read_ahead));
    }
    CHECK(Counted::live - live_before == held);

    {  // stopped by its token
      std::stop_source stop;
      auto s = log.stream(log.range().earliest, stop.get_token());
      REQUIRE(s.next().has_value());
      stop.request_stop();
      CHECK(s.next().error() == Errc::cancelled);
      CHECK(s.error() == Errc::cancelled);
    }
    CHECK(Counted::live - live_before == held);

    {  // a range-for that runs until its stream ends drops the last record
      std::stop_source stop;
      auto s = log.stream(log.range().earliest, stop.get_token());
      std::thread stopper;
      long seen = 0;
      for (const auto& r : s) {
        (void)r;
        if (++seen == held) stopper = std::thread([&] { stop.request_stop(); });  // it then blocks at the end
      }
      stopper.join();
      CHECK(s.error() == Errc::cancelled);
      CHECK(seen == held);
      CHECK(Counted::live - live_before == held);
    }

    {  // fell behind: out_of_range
      auto s = log.stream(0);
      CHECK(s.next().error() == Errc::out_of_range);
      CHECK(Counted::live - live_before == held);
    }

    {  // moved from, moved to
      auto a = log.stream(log.range().earliest);
      REQUIRE(a.next().has_value());
      auto b = std::move(a);
      REQUIRE(b.next().has_value());
      a = std::move(b);
    }
    CHECK(Counted::live - live_before == held);

    std::atomic<bool> cancelled{false};
    {  // blocked in next() on another thread, then stopped (std::jthread's destructor stops and joins)
      std::jthread reader([&](std::stop_token token) {
        auto s = log.stream(log.range().latest + 1, token);
        cancelled = s.next().error() == Errc::cancelled;  // Catch2 is not thread-safe: checked below
      });
    }
    CHECK(cancelled);
    CHECK(Counted::live - live_before == held);

    {  // a sharded log and its streams
      memlog::sharded::Log<Counted> sharded({.shards = 4, .log = {.max_segment_size = 2}});
      for (int i = 0; i < 50; ++i) REQUIRE(sharded.write("key" + std::to_string(i % 7), Counted("x")).has_value());
      std::stop_source stop;
      auto s = sharded.stream("key1", 0, stop.get_token()).value();
      (void)s.next_for(std::chrono::nanoseconds(0));
      stop.request_stop();
      (void)s.next();
    }
    CHECK(Counted::live - live_before == held);
  }
  CHECK(Counted::live == live_before);
}
