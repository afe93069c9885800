// Tests of memlog::Log<T>: a port of the Go library's memlog_test.go,
// memlog_internal_test.go, segment_internal_test.go, example_test.go and
// example_batch_test.go (segment-internal cases become cases on a Log), plus
// the C++-specific contract: option validation, sizes, offset overflow, typed
// logs, clocks, exception safety and concurrency.
//
// Not ported: the Go cases that cancel a context.Context ("fails on cancelled
// context" / "fails when deadline exceeded" in TestLog_ReadBatch, TestLog_write,
// TestLog_read, TestSegment_ReadWrite, TestSegment_Write). The C++ calls take
// no context; cancellation exists only for streams (test_stream.cpp).

#include "support/catch.hpp"
#include "support/test_data.hpp"

#include <memlog/memlog.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <latch>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using memlog::Errc;
using memlog::Offset;
using memlog::OffsetRange;
using memlog_test::err_of;
using memlog_test::expected_range;
using memlog_test::MockClock;
using memlog_test::new_test_data;
using memlog_test::new_test_data_slice;

namespace {

using StrLog = memlog::Log<std::string>;
using StrRecord = memlog::Record<std::string>;

constexpr Offset max_offset = std::numeric_limits<Offset>::max();
constexpr Offset min_offset = std::numeric_limits<Offset>::min();

memlog::Options make_options(Offset start, std::size_t segment_size) {
  memlog::Options o;
  o.start_offset = start;
  o.max_segment_size = segment_size;
  return o;
}

memlog::Options make_options(Offset start, std::size_t segment_size, const MockClock& clock) {
  auto o = make_options(start, segment_size);
  o.clock = clock.fn();
  return o;
}

// Writes every element of data, requiring consecutive offsets from first.
template <class T>
void write_all(memlog::Log<T>& log, const std::vector<T>& data, Offset first) {
  for (std::size_t i = 0; i < data.size(); ++i) {
    INFO("write #" << i);
    const auto offset = log.write(data[i]);
    REQUIRE(err_of(offset) == std::error_code{});
    REQUIRE(*offset == first + static_cast<Offset>(i));
  }
}

// Writes n generated records "r<i>".
void write_n(StrLog& log, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto offset = log.write("r" + std::to_string(i));
    REQUIRE(err_of(offset) == std::error_code{});
  }
}

// Which option a std::invalid_argument from the constructor names.
std::string invalid_argument_message(const memlog::Options& options) {
  try {
    StrLog log(options);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A user type without a size: no size check applies.
struct Point {
  int x = 0;
  int y = 0;
  friend bool operator==(const Point&, const Point&) = default;
};

// A user type that reports its size through memlog::RecordSize.
struct Blob {
  std::size_t bytes = 0;
  int tag = 0;
  friend bool operator==(const Blob&, const Blob&) = default;
};

// A record tagged with its writer and that writer's sequence number.
struct Tag {
  std::uint32_t writer = 0;
  std::uint32_t seq = 0;
  friend bool operator==(const Tag&, const Tag&) = default;
};

}  // namespace

template <>
struct memlog::RecordSize<Blob> {
  std::size_t operator()(const Blob& b) const noexcept { return b.bytes; }
};

// ---------------------------------------------------------------------------
// Construction and options (Go: Test_New, Test_newSegment)
// ---------------------------------------------------------------------------

TEST_CASE("Log: constructor rejects each invalid option naming it", "[log][options]") {
  struct Case {
    const char* name;
    memlog::Options options;
    const char* option;
  };
  auto with = [](auto mutate) {
    memlog::Options o;
    mutate(o);
    return o;
  };
  const std::vector<Case> cases{
      // Go: "invalid start offset", Test_newSegment "new fails with invalid start offset"
      {"start_offset -1", with([](auto& o) { o.start_offset = -1; }), "start_offset"},
      {"start_offset -10", with([](auto& o) { o.start_offset = -10; }), "start_offset"},
      {"start_offset INT64_MIN", with([](auto& o) { o.start_offset = min_offset; }), "start_offset"},
      // Go: "invalid segment size", Test_newSegment "new fails with size 0"
      {"max_segment_size 0", with([](auto& o) { o.max_segment_size = 0; }), "max_segment_size"},
      // Go: Test_newSegment "new fails with negative size" (-10 as a size_t)
      {"max_segment_size -10 as size_t",
       with([](auto& o) { o.max_segment_size = static_cast<std::size_t>(-10); }), "max_segment_size"},
      {"max_segment_size INT64_MAX + 1",
       with([](auto& o) { o.max_segment_size = static_cast<std::size_t>(max_offset) + 1; }),
       "max_segment_size"},
      {"max_segment_size SIZE_MAX",
       with([](auto& o) { o.max_segment_size = std::numeric_limits<std::size_t>::max(); }),
       "max_segment_size"},
      // Go: "invalid record size"
      {"max_record_size 0", with([](auto& o) { o.max_record_size = 0; }), "max_record_size"},
      {"stream_spin -1ns", with([](auto& o) { o.stream_spin = std::chrono::nanoseconds{-1}; }),
       "stream_spin"},
      {"stream_spin -1s", with([](auto& o) { o.stream_spin = std::chrono::seconds{-1}; }),
       "stream_spin"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      REQUIRE_THROWS_AS(StrLog(c.options), std::invalid_argument);
      const auto what = invalid_argument_message(c.options);
      INFO("what(): " << what);
      CHECK(contains(what, c.option));
    }
  }
}

TEST_CASE("Log: boundary option values are accepted", "[log][options]") {
  SECTION("max_segment_size INT64_MAX") {
    StrLog log(make_options(0, static_cast<std::size_t>(max_offset)));
    write_n(log, 3);
    CHECK(log.range() == OffsetRange{0, 2});
  }
  SECTION("max_segment_size 1") {
    StrLog log(make_options(0, 1));
    write_n(log, 3);
    CHECK(log.range() == OffsetRange{1, 2});
  }
  SECTION("start_offset INT64_MAX, max_record_size SIZE_MAX, stream_spin 0") {
    memlog::Options o;
    o.start_offset = max_offset;
    o.max_record_size = std::numeric_limits<std::size_t>::max();
    o.stream_spin = std::chrono::nanoseconds{0};
    CHECK_NOTHROW(StrLog(o));
  }
  SECTION("empty clock") {  // Go: "clock is nil" is an error; here it means system_clock
    memlog::Options o;
    o.clock = nullptr;
    StrLog log(o);
    CHECK(log.write("x").has_value());
  }
}

TEST_CASE("Log: default options and an empty log", "[log][options]") {
  // Go: Test_New "creates log with defaults", Test_newSegment "verify defaults on new segment"
  StrLog log;
  const auto& o = log.options();
  CHECK(o.start_offset == memlog::default_start_offset);
  CHECK(o.start_offset == 0);
  CHECK(o.max_segment_size == memlog::default_segment_size);
  CHECK(o.max_segment_size == 1024);
  CHECK(o.max_record_size == memlog::default_max_record_size);
  CHECK(o.max_record_size == std::size_t{1} << 20);
  CHECK(o.stream_spin == std::chrono::nanoseconds{0});
  CHECK(log.range() == OffsetRange{-1, -1});
  CHECK(err_of(log.read(0)) == Errc::future_offset);

  const auto offset = log.write(new_test_data("1"));
  REQUIRE(offset.has_value());
  CHECK(*offset == 0);
  CHECK(log.range() == OffsetRange{0, 0});
}

TEST_CASE("Log: options() returns the options given", "[log][options]") {
  const MockClock clock;
  memlog::Options given;
  given.start_offset = 42;
  given.max_segment_size = 7;
  given.max_record_size = 99;
  given.clock = clock.fn();
  given.stream_spin = std::chrono::microseconds{5};

  const StrLog log(given);
  static_assert(noexcept(log.options()));
  static_assert(std::is_same_v<decltype(log.options()), const memlog::Options&>);
  const auto& o = log.options();
  CHECK(o.start_offset == 42);
  CHECK(o.max_segment_size == 7);
  CHECK(o.max_record_size == 99);
  CHECK(o.stream_spin == std::chrono::microseconds{5});
  REQUIRE(static_cast<bool>(o.clock));
  CHECK(o.clock() == clock.now());
  CHECK(&log.options() == &o);  // a stable reference
}

TEST_CASE("Log: designated initialisers and structured bindings", "[log][options]") {
  memlog::Log<std::string> log({.start_offset = 10, .max_segment_size = 100});
  CHECK(log.write("text").value() == 10);  // a string literal converts to std::string
  auto [earliest, latest] = log.range();
  CHECK(earliest == 10);
  CHECK(latest == 10);
  static_assert(std::is_same_v<decltype(earliest), Offset>);
  static_assert(std::is_same_v<StrLog::value_type, std::string>);
  static_assert(!std::is_copy_constructible_v<StrLog>);
  static_assert(!std::is_copy_assignable_v<StrLog>);
  static_assert(!std::is_convertible_v<memlog::Options, StrLog>);  // explicit
}

// ---------------------------------------------------------------------------
// Record, Header, OffsetRange (Go: TestRecord_immutable "deepCopy")
// ---------------------------------------------------------------------------

TEST_CASE("Log: Record Header and OffsetRange compare by value", "[log][types]") {
  const auto now = MockClock::default_time();

  SECTION("defaults") {
    const memlog::Header h;
    CHECK(h.offset == -1);
    CHECK(h.created == std::chrono::system_clock::time_point{});
    const StrRecord r;
    CHECK(r.metadata == memlog::Header{});
    CHECK(r.data.empty());
    const OffsetRange range;
    CHECK(range.earliest == -1);
    CHECK(range.latest == -1);
  }

  SECTION("copies of an empty and a valid record are equal (Go deepCopy)") {
    const StrRecord empty{};
    const StrRecord empty_copy = empty;  // NOLINT(performance-unnecessary-copy-initialization)
    CHECK(empty_copy == empty);

    const StrRecord valid{{1, now}, new_test_data("1")};
    StrRecord copy = valid;
    CHECK(copy == valid);
    copy.data[0] = 'X';
    CHECK(copy != valid);
    CHECK(valid.data == new_test_data("1"));
  }

  SECTION("every field takes part in ==") {
    const StrRecord a{{1, now}, "a"};
    CHECK(a == StrRecord{{1, now}, "a"});
    CHECK(a != StrRecord{{2, now}, "a"});
    CHECK(a != StrRecord{{1, now + std::chrono::nanoseconds{1}}, "a"});
    CHECK(a != StrRecord{{1, now}, "b"});
    CHECK(memlog::Header{3, now} == memlog::Header{3, now});
    CHECK(memlog::Header{3, now} != memlog::Header{4, now});
    CHECK(OffsetRange{1, 2} == OffsetRange{1, 2});
    CHECK(OffsetRange{1, 2} != OffsetRange{1, 3});
    CHECK(OffsetRange{1, 2} != OffsetRange{0, 2});
  }

  SECTION("OffsetRange is an aggregate with structured bindings") {
    static_assert(std::is_aggregate_v<OffsetRange>);
    const auto [e, l] = OffsetRange{4, 9};
    CHECK(e == 4);
    CHECK(l == 9);
  }
}

// ---------------------------------------------------------------------------
// Writes (Go: TestLog_write, TestSegment_Write)
// ---------------------------------------------------------------------------

TEST_CASE("Log: write refuses a record larger than max_record_size", "[log][write]") {
  // Go: TestLog_write "fails when record too large"
  memlog::Options o;
  o.max_record_size = 10;
  StrLog log(o);
  const auto offset = log.write(new_test_data("1"));
  CHECK_FALSE(offset.has_value());
  CHECK(err_of(offset) == Errc::record_too_large);
  CHECK(log.range() == OffsetRange{-1, -1});
}

TEST_CASE("Log: write refuses an empty record", "[log][write]") {
  // Go: TestLog_write "fails when record has no data"
  memlog::Options o;
  o.max_record_size = 10;
  StrLog log(o);
  const auto offset = log.write(std::string{});
  CHECK_FALSE(offset.has_value());
  CHECK(err_of(offset) == Errc::empty_record);
  CHECK(log.range() == OffsetRange{-1, -1});
}

TEST_CASE("Log: refused records change nothing", "[log][write]") {
  memlog::Options o;
  o.start_offset = 5;
  o.max_segment_size = 2;
  o.max_record_size = 4;
  StrLog log(o);

  for (std::size_t written = 0; written <= 5; ++written) {
    DYNAMIC_SECTION("after " << written << " good writes") {
      write_n(log, written);  // "r0".."r4": at most 2 bytes
      const auto before = log.range();

      CHECK(err_of(log.write(std::string{})) == Errc::empty_record);
      CHECK(err_of(log.write("12345")) == Errc::record_too_large);
      CHECK(err_of(log.write(std::string(1000, 'x'))) == Errc::record_too_large);
      CHECK(log.range() == before);
      CHECK(err_of(log.read(5 + static_cast<Offset>(written))) == Errc::future_offset);

      const auto next = log.write("1234");  // exactly max_record_size
      REQUIRE(next.has_value());
      CHECK(*next == 5 + static_cast<Offset>(written));
      CHECK(log.read(*next).value().data == "1234");
      CHECK(log.range() == expected_range(5, 2, written + 1));
    }
  }
}

TEST_CASE("Log: record size is size() times sizeof(value_type)", "[log][write][size]") {
  SECTION("std::vector<std::uint32_t>: 4 bytes an element") {
    memlog::Options o;
    o.max_record_size = 8;
    memlog::Log<std::vector<std::uint32_t>> log(o);
    CHECK(err_of(log.write({})) == Errc::empty_record);
    CHECK(err_of(log.write({1, 2, 3})) == Errc::record_too_large);  // 12 bytes
    const auto ok = log.write({1, 2});                                // 8 bytes
    REQUIRE(ok.has_value());
    CHECK(*ok == 0);
    CHECK(log.read(0).value().data == std::vector<std::uint32_t>{1, 2});
    CHECK(log.range() == OffsetRange{0, 0});
  }
  SECTION("std::vector<std::byte>") {
    memlog::Options o;
    o.max_record_size = 3;
    memlog::Log<std::vector<std::byte>> log(o);
    CHECK(err_of(log.write({})) == Errc::empty_record);
    CHECK(err_of(log.write(std::vector<std::byte>(4))) == Errc::record_too_large);
    CHECK(log.write(std::vector<std::byte>(3)).has_value());
  }
  SECTION("std::string at exactly the default max_record_size") {
    StrLog log;
    CHECK(log.write(std::string(memlog::default_max_record_size, 'x')).has_value());
    CHECK(err_of(log.write(std::string(memlog::default_max_record_size + 1, 'x'))) ==
          Errc::record_too_large);
    CHECK(log.range() == OffsetRange{0, 0});
  }
}

TEST_CASE("Log: writes get consecutive offsets from start_offset", "[log][write]") {
  // Go: TestLog_write "writes to log succeed"
  struct Case {
    const char* name;
    Offset start;
    std::size_t seg_size;
    std::size_t records;
    Offset next_offset;
  };
  const std::vector<Case> cases{
      {"write 5, start at 0, segment size 10, no purge", 0, 10, 5, 5},
      {"write 5, start at 10, segment size 10, no purge", 10, 10, 5, 15},
      {"write 20, start at 0, segment size 10, with purge", 0, 10, 20, 20},
      {"write 20, start at 10, segment size 10, with purge", 10, 10, 20, 30},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      StrLog log(make_options(c.start, c.seg_size));
      const auto data = new_test_data_slice(c.records);
      write_all(log, data, c.start);

      const auto [earliest, latest] = log.range();
      CHECK(latest + 1 == c.next_offset);
      // Go checks len(active) + len(history) == records: all of them are kept.
      CHECK(earliest == c.start);
      CHECK(latest - earliest + 1 == static_cast<Offset>(c.records));
      CHECK(err_of(log.read(c.next_offset)) == Errc::future_offset);
      const auto next = log.write(new_test_data("next"));
      REQUIRE(next.has_value());
      CHECK(*next == c.next_offset);
    }
  }
}

TEST_CASE("Log: write and read one record at offset 0", "[log][write][read]") {
  // Go: TestSegment_Write "write and read one record, starts at virtual offset 0"
  const MockClock clock;
  StrLog log(make_options(0, 10, clock));
  const auto offset = log.write(new_test_data("1"));
  REQUIRE(offset.has_value());
  CHECK(*offset == 0);
  CHECK(log.range() == OffsetRange{0, 0});
  const auto r = log.read(0);
  REQUIRE(r.has_value());
  CHECK(*r == StrRecord{{0, clock.now()}, new_test_data("1")});
}

TEST_CASE("Log: write and read five records from offset 10", "[log][write][read]") {
  // Go: TestSegment_Write "write and read five records, starts virtual offset 10"
  const MockClock clock;
  constexpr Offset start = 10;
  StrLog log(make_options(start, 10, clock));
  std::vector<StrRecord> written;
  for (int i = 0; i < 5; ++i) {
    const StrRecord r{{start + i, clock.now()}, new_test_data(std::to_string(i + 10))};
    written.push_back(r);
    const auto offset = log.write(r.data);
    REQUIRE(offset.has_value());
    CHECK(*offset == start + i);
    CHECK(log.range().latest == start + i);
  }
  std::vector<StrRecord> read;
  for (int i = 0; i < 5; ++i) read.push_back(log.read(start + i).value());
  CHECK(log.range() == OffsetRange{start, start + 4});
  CHECK(read == written);
}

TEST_CASE("Log: a full segment is sealed and the next write starts a new one", "[log][write][segment]") {
  // Go: TestSegment_Write "write fails on full segment" and "write fails on
  // sealed segment": a full active segment becomes the read-only history;
  // its records stay as written while later writes go to the new segment.
  constexpr std::size_t n = 5;
  StrLog log(make_options(0, n));
  const auto data = new_test_data_slice(3 * n);
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(log.write(data[i]).value() == static_cast<Offset>(i));
    CHECK(log.range() == OffsetRange{0, static_cast<Offset>(i)});
  }
  const auto sixth = log.write(data[n]);
  REQUIRE(sixth.has_value());
  CHECK(*sixth == static_cast<Offset>(n));
  CHECK(log.range() == OffsetRange{0, static_cast<Offset>(n)});
  for (std::size_t i = n + 1; i < 2 * n; ++i) REQUIRE(log.write(data[i]).has_value());
  for (std::size_t i = 0; i < 2 * n; ++i) CHECK(log.read(static_cast<Offset>(i)).value().data == data[i]);
}

// ---------------------------------------------------------------------------
// Purging (Go: TestLog_read "read fails when record is purged", Test_offsetRange)
// ---------------------------------------------------------------------------

TEST_CASE("Log: exact purge boundaries", "[log][purge]") {
  struct Case {
    Offset start;
    std::size_t n;
  };
  for (const auto c : {Case{0, 1}, Case{0, 3}, Case{5, 3}, Case{100, 10}, Case{7, 1}}) {
    DYNAMIC_SECTION("start " << c.start << ", segment size " << c.n) {
      const Offset s = c.start;
      const auto n = static_cast<Offset>(c.n);
      StrLog log(make_options(s, c.n));

      write_n(log, c.n);
      CHECK(log.range() == OffsetRange{s, s + n - 1});
      write_n(log, c.n);
      CHECK(log.range() == OffsetRange{s, s + 2 * n - 1});  // nothing purged yet
      CHECK(log.read(s).has_value());
      write_n(log, 1);
      CHECK(log.range() == OffsetRange{s + n, s + 2 * n});
      CHECK(err_of(log.read(s)) == Errc::out_of_range);
      CHECK(err_of(log.read(s + n - 1)) == Errc::out_of_range);
      const auto first_kept = log.read(s + n);
      REQUIRE(first_kept.has_value());
      CHECK(first_kept->metadata.offset == s + n);
      CHECK(log.read(s + 2 * n).has_value());
      CHECK(err_of(log.read(s + 2 * n + 1)) == Errc::future_offset);

      write_n(log, c.n - 1);
      CHECK(log.range() == OffsetRange{s + n, s + 3 * n - 1});
      write_n(log, 1);
      CHECK(log.range() == OffsetRange{s + 2 * n, s + 3 * n});
      CHECK(err_of(log.read(s + 2 * n - 1)) == Errc::out_of_range);
    }
  }
}

TEST_CASE("Log: reading a purged record gives out_of_range", "[log][read][purge]") {
  // Go: TestLog_read "read fails when record is purged"
  struct Case {
    const char* name;
    Offset start;
    std::size_t seg_size;
    std::size_t records;
    Offset read;
  };
  const std::vector<Case> cases{
      {"start offset 0, segment size 5, write 20, read offset 0", 0, 5, 20, 0},
      {"start offset 10, segment size 2, write 5, read offset 10", 10, 2, 5, 10},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      StrLog log(make_options(c.start, c.seg_size));
      write_all(log, new_test_data_slice(c.records), c.start);
      const auto r = log.read(c.read);
      CHECK_FALSE(r.has_value());
      CHECK(err_of(r) == Errc::out_of_range);
    }
  }
}

TEST_CASE("Log: range reports the earliest and latest retained offsets", "[log][range]") {
  // Go: Test_offsetRange
  struct Case {
    const char* name;
    Offset start;
    std::size_t seg_size;
    std::size_t records;
    OffsetRange want;
  };
  const std::vector<Case> cases{
      {"empty log, starts at 0", 0, 10, 0, {-1, -1}},
      {"empty log, starts at 100", 100, 10, 0, {-1, -1}},
      {"log with 10 records, starts at 0, no purge", 0, 20, 10, {0, 9}},
      {"log with 10 records, starts at 60, no purge", 60, 20, 10, {60, 69}},
      {"log with 30 records, starts at 10, segment size 10, purged history", 10, 10, 30, {20, 39}},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      StrLog log(make_options(c.start, c.seg_size));
      write_all(log, new_test_data_slice(c.records), c.start);
      CHECK(log.range() == c.want);
      CHECK(expected_range(c.start, c.seg_size, c.records) == c.want);
    }
  }
}

// ---------------------------------------------------------------------------
// Reads (Go: TestLog_read, TestSegment_ReadWrite, TestRecord_immutable)
// ---------------------------------------------------------------------------

TEST_CASE("Log: read of an invalid offset fails", "[log][read]") {
  // Go: TestLog_read "read fails with invalid offset"
  struct Case {
    const char* name;
    Offset start;
    Offset read;
    Errc want;
  };
  const std::vector<Case> cases{
      {"start offset 0, read 0", 0, 0, Errc::future_offset},
      {"start offset 0, read -5", 0, -5, Errc::out_of_range},
      {"start offset 10, read 0", 10, 0, Errc::out_of_range},
      {"start offset 10, read 9", 10, 9, Errc::out_of_range},
      {"start offset 10, read 100", 10, 100, Errc::future_offset},
      {"start offset 100, read 100", 100, 100, Errc::future_offset},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const StrLog log(make_options(c.start, memlog::default_segment_size));
      const auto r = log.read(c.read);
      CHECK_FALSE(r.has_value());
      CHECK(err_of(r) == c.want);
    }
  }
}

TEST_CASE("Log: read outside the written segment", "[log][read][segment]") {
  // Go: TestSegment_ReadWrite "read fails on out of range offset"; a segment
  // answers out_of_range, the log says which side: before the start is
  // out_of_range, not yet written is future_offset.
  struct Case {
    const char* name;
    Offset start;
    std::size_t records;
    Offset read;
    Errc want;
  };
  const std::vector<Case> cases{
      {"empty segment", 0, 0, 0, Errc::future_offset},
      {"offset smaller than start", 10, 0, 0, Errc::out_of_range},
      {"offset greater than segment range", 10, 0, 20, Errc::future_offset},
      {"offset smaller than start, with records", 10, 10, 0, Errc::out_of_range},
      {"offset greater than segment range, with records", 10, 10, 20, Errc::future_offset},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      StrLog log(make_options(c.start, 10));
      write_all(log, new_test_data_slice(c.records), c.start);
      const auto before = log.range();
      const auto r = log.read(c.read);
      CHECK_FALSE(r.has_value());
      CHECK(err_of(r) == c.want);
      CHECK(log.range() == before);
    }
  }
}

TEST_CASE("Log: read of extreme offsets", "[log][read]") {
  for (const std::size_t records : {std::size_t{0}, std::size_t{3}, std::size_t{25}}) {
    DYNAMIC_SECTION(records << " records") {
      StrLog log(make_options(0, 10));
      write_n(log, records);
      CHECK(err_of(log.read(-1)) == Errc::out_of_range);
      CHECK(err_of(log.read(-5)) == Errc::out_of_range);
      CHECK(err_of(log.read(min_offset)) == Errc::out_of_range);
      CHECK(err_of(log.read(min_offset + 1)) == Errc::out_of_range);
      CHECK(err_of(log.read(max_offset)) == Errc::future_offset);
      CHECK(err_of(log.read(max_offset - 1)) == Errc::future_offset);
    }
  }
  SECTION("start offset near INT64_MAX") {
    StrLog log(make_options(max_offset - 10, 4));
    CHECK(err_of(log.read(max_offset)) == Errc::future_offset);
    CHECK(err_of(log.read(min_offset)) == Errc::out_of_range);
    CHECK(err_of(log.read(0)) == Errc::out_of_range);
  }
}

TEST_CASE("Log: read returns the written records", "[log][read]") {
  // Go: TestLog_read "read from log succeeds"
  struct Case {
    const char* name;
    Offset start;
    std::size_t seg_size;
    std::size_t records;
  };
  const std::vector<Case> cases{
      {"start offset 0, segment size 5, write and read 3", 0, 5, 3},
      {"start offset 10, segment size 10, write and read 10", 10, 10, 10},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const MockClock clock{std::chrono::time_point_cast<std::chrono::system_clock::duration>(
          std::chrono::system_clock::now())};
      StrLog log(make_options(c.start, c.seg_size, clock));
      const auto data = new_test_data_slice(c.records);
      for (std::size_t i = 0; i < data.size(); ++i) {
        const auto offset = log.write(data[i]);
        REQUIRE(offset.has_value());
        CHECK(*offset == c.start + static_cast<Offset>(i));
        const auto got = log.read(*offset);
        REQUIRE(err_of(got) == std::error_code{});
        CHECK(*got == StrRecord{{c.start + static_cast<Offset>(i), clock.now()}, data[i]});
      }
    }
  }
}

TEST_CASE("Log: reads return copies", "[log][read]") {
  // Go: TestRecord_immutable "write, read, modify record, read"
  const MockClock clock;
  StrLog log(make_options(0, memlog::default_segment_size, clock));
  std::string data = new_test_data("1");
  const std::string data_copy = data;

  const auto offset = log.write(data);
  REQUIRE(offset.has_value());
  CHECK(*offset == 0);

  auto r = log.read(*offset);
  REQUIRE(r.has_value());
  CHECK(r->metadata.created == clock.now());
  CHECK(r->metadata.offset == *offset);
  CHECK(r->data == data);

  // modify the source data and every field of the returned record
  data = "2";
  r->metadata.created = std::chrono::system_clock::now();
  r->metadata.offset = 10;
  r->data = data;
  r.value().data += "more";

  const auto r2 = log.read(*offset);
  REQUIRE(r2.has_value());
  CHECK(r2->metadata.created == clock.now());
  CHECK(r2->metadata.offset == *offset);
  CHECK(r2->data == data_copy);

  SECTION("records read by read_batch are copies too") {
    std::array<StrRecord, 1> batch{};
    REQUIRE(log.read_batch(0, batch).count == 1);
    batch[0].data = "changed";
    CHECK(log.read(0).value().data == data_copy);
  }
}

// ---------------------------------------------------------------------------
// read_batch (Go: TestLog_ReadBatch, Example_batch)
// ---------------------------------------------------------------------------

TEST_CASE("Log: read_batch fails at a bad start", "[log][read_batch]") {
  // Go: TestLog_ReadBatch "fails to read batch"
  struct Case {
    const char* name;
    Offset start;
    std::size_t seg_size;
    std::size_t records;
    Offset offset;
    std::size_t batch_size;
    std::size_t want_records;
    Errc want;
  };
  const std::vector<Case> cases{
      {"fails on empty log", 0, 10, 0, 0, 10, 0, Errc::future_offset},
      {"fails on invalid start offset", 10, 10, 10, 0, 10, 0, Errc::out_of_range},
      {"fails on invalid read offset", 10, 10, 10, 20, 10, 0, Errc::future_offset},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const MockClock clock;
      StrLog log(make_options(c.start, c.seg_size, clock));
      write_all(log, new_test_data_slice(c.records), c.start);
      std::vector<StrRecord> batch(c.batch_size);
      const memlog::ReadBatchResult res = log.read_batch(c.offset, batch);
      CHECK(res.error == c.want);
      CHECK(res.count == c.want_records);
    }
  }
}

TEST_CASE("Log: read_batch reads one complete batch", "[log][read_batch]") {
  // Go: TestLog_ReadBatch "reads one complete batch without error"
  struct Case {
    const char* name;
    Offset start;
    std::size_t seg_size;
    std::size_t records;
    Offset offset;
    std::size_t batch_size;
  };
  const std::vector<Case> cases{
      {"log starts at 0, write 10 records, no purge, batch size 10, read at 0", 0, 10, 10, 0, 10},
      {"log starts at 0, write 10 records, no purge, batch size 5, read at 0", 0, 10, 10, 0, 5},
      {"log starts at 10, write 10 records, no purge, batch size 0, read at 10", 10, 10, 10, 10, 0},
      {"log starts at 10, write 5 records, no purge, batch size 5, read at 10", 10, 10, 5, 10, 5},
      {"log starts at 10, write 30 records, with purge, batch size 10, read at 30", 10, 10, 30, 30, 10},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const MockClock clock;
      StrLog log(make_options(c.start, c.seg_size, clock));
      const auto data = new_test_data_slice(c.records);
      std::vector<StrRecord> wrote;
      for (const auto& d : data) {
        const auto offset = log.write(d);
        REQUIRE(offset.has_value());
        wrote.push_back({{*offset, clock.now()}, d});
      }

      std::vector<StrRecord> got(c.batch_size);
      const auto res = log.read_batch(c.offset, got);
      CHECK(res.error == std::error_code{});
      CHECK(res.count == c.batch_size);

      const auto first = static_cast<std::size_t>(c.offset - c.start);
      const std::vector<StrRecord> want(wrote.begin() + static_cast<std::ptrdiff_t>(first),
                                        wrote.begin() + static_cast<std::ptrdiff_t>(first + c.batch_size));
      CHECK(got == want);
    }
  }
}

TEST_CASE("Log: read_batch reads batches until the end of the log", "[log][read_batch]") {
  // Go: TestLog_ReadBatch "reads multiple batches until end of log"
  struct Case {
    const char* name;
    Offset start;
    std::size_t seg_size;
    std::size_t records;
    Offset offset;
    std::size_t batch_size;
  };
  const std::vector<Case> cases{
      {"log starts at 0, write 30 records, no purge, batch size 10", 0, 30, 30, 0, 10},
      {"log starts at 0, write 10 records, no purge, read from 9, batch size 5", 0, 30, 10, 9, 5},
      {"log starts at 0, write 30 records, no purge, read from 10, batch size 5", 0, 30, 30, 10, 5},
      {"log starts at 10, write 40 records, no purge, read from 20, batch size 1", 10, 40, 40, 20, 1},
      {"log starts at 0, write 30 records, with purge, read from 10, batch size 5", 0, 10, 30, 10, 5},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      StrLog log(make_options(c.start, c.seg_size));
      const auto data = new_test_data_slice(c.records);
      write_all(log, data, c.start);

      std::vector<StrRecord> batch(c.batch_size);
      std::size_t total = 0;
      Offset offset = c.offset;
      memlog::ReadBatchResult res;
      do {
        res = log.read_batch(offset, batch);
        for (std::size_t i = 0; i < res.count; ++i) {
          CHECK(batch[i].metadata.offset == offset + static_cast<Offset>(i));
          CHECK(batch[i].data == data[static_cast<std::size_t>(batch[i].metadata.offset - c.start)]);
        }
        total += res.count;
        offset += static_cast<Offset>(res.count);
      } while (!res.error);

      CHECK(res.error == Errc::future_offset);
      if (c.records > c.seg_size) {  // with purge
        CHECK(total == c.records - 2 * c.seg_size + static_cast<std::size_t>(c.offset));
      } else {  // no purge
        CHECK(total == c.records - static_cast<std::size_t>(c.offset - c.start));
      }
    }
  }
}

TEST_CASE("Log: read_batch edge cases", "[log][read_batch]") {
  const MockClock clock;
  constexpr std::size_t n = 5;
  StrLog log(make_options(0, n, clock));
  const auto data = new_test_data_slice(8);  // history 0..4, active 5..7
  write_all(log, data, 0);
  const StrRecord sentinel{{-7, {}}, "untouched"};

  SECTION("across the history/active boundary") {
    std::vector<StrRecord> batch(4, sentinel);
    const auto res = log.read_batch(3, batch);
    CHECK(res.count == 4);
    CHECK(res.error == std::error_code{});
    for (std::size_t i = 0; i < 4; ++i) {
      CHECK(batch[i] == StrRecord{{static_cast<Offset>(3 + i), clock.now()}, data[3 + i]});
    }
  }
  SECTION("across the boundary to the end of the log") {
    std::vector<StrRecord> batch(10, sentinel);
    const auto res = log.read_batch(3, batch);
    CHECK(res.count == 5);
    CHECK(res.error == Errc::future_offset);
    for (std::size_t i = 0; i < 5; ++i) CHECK(batch[i].data == data[3 + i]);
    for (std::size_t i = 5; i < batch.size(); ++i) CHECK(batch[i] == sentinel);  // left alone
  }
  SECTION("exactly to the end of the log") {
    std::vector<StrRecord> batch(8, sentinel);
    const auto res = log.read_batch(0, batch);
    CHECK(res.count == 8);
    CHECK(res.error == std::error_code{});
  }
  SECTION("an empty span") {
    CHECK(log.read_batch(2, std::span<StrRecord>{}).count == 0);
    CHECK(log.read_batch(2, std::span<StrRecord>{}).error == std::error_code{});
  }
  SECTION("an empty span at the end of the log (Go: no error for a batch of 0)") {
    const auto res = log.read_batch(8, std::span<StrRecord>{});
    CHECK(res.count == 0);
    CHECK(res.error == std::error_code{});
  }
  SECTION("start out of range after a purge") {
    write_n(log, 3);  // 11 records: history 5..9, active 10
    REQUIRE(log.range() == OffsetRange{5, 10});
    std::vector<StrRecord> batch(4, sentinel);
    const auto res = log.read_batch(4, batch);
    CHECK(res.count == 0);
    CHECK(res.error == Errc::out_of_range);
    for (const auto& r : batch) CHECK(r == sentinel);
  }
  SECTION("negative start") {
    std::vector<StrRecord> batch(4, sentinel);
    for (const Offset start : {Offset{-1}, Offset{-4}, min_offset}) {
      const auto res = log.read_batch(start, batch);
      CHECK(res.count == 0);
      CHECK(res.error == Errc::out_of_range);
    }
    for (const auto& r : batch) CHECK(r == sentinel);
  }
  SECTION("start in the future") {
    std::vector<StrRecord> batch(4, sentinel);
    for (const Offset start : {Offset{8}, Offset{100}, max_offset}) {
      const auto res = log.read_batch(start, batch);
      CHECK(res.count == 0);
      CHECK(res.error == Errc::future_offset);
    }
  }
}

// ---------------------------------------------------------------------------
// Offsets never overflow
// ---------------------------------------------------------------------------

TEST_CASE("Log: offsets never overflow", "[log][overflow]") {
  for (const std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{1024}}) {
    DYNAMIC_SECTION("start INT64_MAX - 2, segment size " << n) {
      StrLog log(make_options(max_offset - 2, n));
      CHECK(log.write("a").value() == max_offset - 2);
      CHECK(log.write("b").value() == max_offset - 1);
      const OffsetRange full{max_offset - 2, max_offset - 1};
      REQUIRE(log.range() == full);

      for (int attempt = 0; attempt < 3; ++attempt) {
        const auto overflow = log.write("c");
        CHECK_FALSE(overflow.has_value());
        CHECK(err_of(overflow) == Errc::offset_overflow);
        CHECK(log.range() == full);
      }
      CHECK(log.read(max_offset - 2).value().data == "a");
      CHECK(log.read(max_offset - 1).value().data == "b");
      CHECK(err_of(log.read(max_offset)) == Errc::future_offset);
      std::vector<StrRecord> batch(3);
      const auto res = log.read_batch(max_offset - 2, batch);
      CHECK(res.count == 2);
      CHECK(res.error == Errc::future_offset);
    }
  }
  SECTION("start INT64_MAX: the first write fails") {
    StrLog log(make_options(max_offset, 4));
    const auto first = log.write("a");
    CHECK_FALSE(first.has_value());
    CHECK(err_of(first) == Errc::offset_overflow);
    CHECK(log.range() == OffsetRange{-1, -1});
    CHECK(err_of(log.read(max_offset)) == Errc::future_offset);
    CHECK(err_of(log.read(max_offset - 1)) == Errc::out_of_range);
  }
  SECTION("size checks still apply near the end") {
    memlog::Options o = make_options(max_offset - 1, 4);
    o.max_record_size = 1;
    StrLog log(o);
    CHECK(err_of(log.write("")) == Errc::empty_record);
    CHECK(err_of(log.write("ab")) == Errc::record_too_large);
    CHECK(log.write("a").value() == max_offset - 1);
    CHECK(err_of(log.write("a")) == Errc::offset_overflow);
  }
}

// ---------------------------------------------------------------------------
// Typed logs
// ---------------------------------------------------------------------------

TEST_CASE("Log: typed logs", "[log][types]") {
  SECTION("std::vector<std::byte>, as Go's []byte") {
    memlog::Log<std::vector<std::byte>> log;
    const auto bytes = memlog_test::to_bytes(new_test_data("1"));
    const auto offset = log.write(bytes);
    REQUIRE(offset.has_value());
    const auto r = log.read(*offset);
    REQUIRE(r.has_value());
    CHECK(r->data == bytes);
  }
  SECTION("a user struct without a size: no size check") {
    memlog::Options o;
    o.max_record_size = 1;  // smaller than sizeof(Point): must not matter
    memlog::Log<Point> log(o);
    CHECK(log.write(Point{}).value() == 0);  // a default value is not "empty"
    CHECK(log.write(Point{1, 2}).value() == 1);
    CHECK(log.read(0).value().data == Point{});
    CHECK(log.read(1).value().data == Point{1, 2});
    CHECK(log.range() == OffsetRange{0, 1});
  }
  SECTION("a user type sized through memlog::RecordSize") {
    memlog::Options o;
    o.max_record_size = 16;
    memlog::Log<Blob> log(o);
    CHECK(err_of(log.write(Blob{0, 1})) == Errc::empty_record);
    CHECK(err_of(log.write(Blob{17, 2})) == Errc::record_too_large);
    CHECK(log.range() == OffsetRange{-1, -1});
    CHECK(log.write(Blob{16, 3}).value() == 0);
    CHECK(log.write(Blob{1, 4}).value() == 1);
    CHECK(log.read(0).value().data == Blob{16, 3});
  }
  SECTION("the primary RecordSize measures contiguous sized ranges") {
    CHECK(memlog::RecordSize<std::string>{}(std::string("abc")) == 3);
    CHECK(memlog::RecordSize<std::vector<std::uint32_t>>{}({1, 2, 3}) == 12);
    CHECK(memlog::RecordSize<std::vector<std::byte>>{}(std::vector<std::byte>(5)) == 5);
    CHECK(memlog::RecordSize<std::vector<std::uint8_t>>{}(std::vector<std::uint8_t>(2)) == 2);
  }
}

// ---------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------

TEST_CASE("Log: Options::clock sets Header::created", "[log][clock]") {
  MockClock clock;
  const auto t1 = MockClock::default_time();
  StrLog log(make_options(0, 2, clock));
  REQUIRE(log.write("a").has_value());
  clock.advance(std::chrono::seconds{1});
  REQUIRE(log.write("b").has_value());
  clock.set(t1 + std::chrono::hours{24});
  REQUIRE(log.write("c").has_value());  // rotates: created is still the clock's

  CHECK(log.read(0).value().metadata.created == t1);
  CHECK(log.read(1).value().metadata.created == t1 + std::chrono::seconds{1});
  CHECK(log.read(2).value().metadata.created == t1 + std::chrono::hours{24});
}

TEST_CASE("Log: without a clock created is the system time", "[log][clock]") {
  StrLog log;
  const auto before = std::chrono::system_clock::now();
  REQUIRE(log.write("a").has_value());
  const auto after = std::chrono::system_clock::now();
  const auto created = log.read(0).value().metadata.created;
  // system_clock may be adjusted while the test runs: allow a margin.
  CHECK(created >= before - std::chrono::seconds{5});
  CHECK(created <= after + std::chrono::seconds{5});
  CHECK(created != std::chrono::system_clock::time_point{});
}

// ---------------------------------------------------------------------------
// Exception safety and leaks
// ---------------------------------------------------------------------------

TEST_CASE("Log: a throwing T leaves the log unchanged and usable", "[log][exceptions]") {
  using memlog_test::CopyError;
  using memlog_test::MoveError;
  using memlog_test::ThrowGuard;
  using memlog_test::Tracked;
  using TLog = memlog::Log<Tracked>;
  static_assert(!std::is_nothrow_move_constructible_v<Tracked>);

  REQUIRE(Tracked::live == 0);
  constexpr Offset s = 3;
  constexpr std::size_t n = 4;
  const MockClock clock;

  // The log holds the records of its first `written` writes, each Tracked{offset}.
  auto check_state = [&](const TLog& log, std::size_t written) {
    const auto want = expected_range(s, n, written);
    CHECK(log.range() == want);
    if (written > 0) {
      for (Offset o = want.earliest; o <= want.latest; ++o) {
        const auto r = log.read(o);
        REQUIRE(r.has_value());
        CHECK(*r == memlog::Record<Tracked>{{o, clock.now()}, Tracked{static_cast<int>(o)}});
      }
    }
    CHECK(err_of(log.read(s + static_cast<Offset>(written))) == Errc::future_offset);
  };

  // A write whose n-th move (and maybe copy) throws, after `written` good
  // writes: 0 (empty log), 3 (inside a segment), N (the write starts a new
  // segment), 2N (the write purges the history), 2N + 1. The first move must
  // throw; a later one may not happen at all, and then the write succeeds.
  for (const std::size_t written : {std::size_t{0}, std::size_t{3}, n, 2 * n, 2 * n + 1}) {
    for (const int moves : {0, 1, 2, 3}) {
      for (const int copies : {-1, 0, 1}) {
        DYNAMIC_SECTION("after " << written << " writes, throw at move #" << moves + 1 << ", at copy #"
                                 << (copies < 0 ? "never" : std::to_string(copies + 1))) {
          {
            TLog log(make_options(s, n, clock));
            for (std::size_t i = 0; i < written; ++i) {
              const auto v = static_cast<int>(s) + static_cast<int>(i);
              REQUIRE(log.write(Tracked{v}).value() == v);
            }
            const auto next = s + static_cast<Offset>(written);
            bool threw = false;
            try {
              const ThrowGuard guard(copies, moves);
              const auto offset = log.write(Tracked{static_cast<int>(next)});
              REQUIRE(offset.has_value());
              CHECK(*offset == next);
            } catch (const MoveError&) {
              threw = true;
            } catch (const CopyError&) {
              threw = true;
            }
            if (moves == 0) CHECK(threw);
            INFO("the write threw: " << threw);
            if (threw && written == 2 * n) {
              CHECK(log.range() == OffsetRange{s, s + 2 * static_cast<Offset>(n) - 1});
              CHECK(log.read(s).has_value());
            }
            const std::size_t kept = threw ? written : written + 1;
            check_state(log, kept);

            // still usable: the next write gets the next offset
            const auto after = s + static_cast<Offset>(kept);
            const auto again = log.write(Tracked{static_cast<int>(after)});
            REQUIRE(again.has_value());
            CHECK(*again == after);
            check_state(log, kept + 1);
          }
          CHECK(Tracked::live == 0);
          CHECK(Tracked::bad_destructions == 0);
        }
      }
    }
  }

  SECTION("a throwing copy in read propagates and the log stays usable") {
    {
      TLog log(make_options(s, n, clock));
      for (int i = 0; i < 6; ++i) REQUIRE(log.write(Tracked{i}).has_value());
      for (const int copies : {0, 1, 2}) {
        const ThrowGuard guard(copies, -1);
        if (copies == 0) CHECK_THROWS_AS(log.read(s), CopyError);
        std::vector<memlog::Record<Tracked>> batch(3);
        CHECK_THROWS_AS(log.read_batch(s, batch), CopyError);
      }
      CHECK(log.range() == OffsetRange{s, s + 5});
      CHECK(log.read(s).value().data == Tracked{0});
      CHECK(log.write(Tracked{6}).value() == s + 6);  // no lock left held
      std::vector<memlog::Record<Tracked>> batch(7);
      CHECK(log.read_batch(s, batch).count == 7);
    }
    CHECK(Tracked::live == 0);
    CHECK(Tracked::bad_destructions == 0);
  }

  SECTION("a copy made by write from an lvalue may throw before anything happens") {
    {
      TLog log(make_options(s, n, clock));
      const Tracked value{5};
      {
        const ThrowGuard guard(0, -1);
        CHECK_THROWS_AS(log.write(value), CopyError);
      }
      CHECK(log.range() == OffsetRange{-1, -1});
      CHECK(log.write(value).value() == s);
    }
    CHECK(Tracked::live == 0);
  }
}

TEST_CASE("Log: records are destroyed exactly once", "[log][lifetime]") {
  using memlog_test::Tracked;
  REQUIRE(Tracked::live == 0);
  {
    memlog::Log<Tracked> log(make_options(0, 3));
    for (int i = 0; i < 20; ++i) {  // several purges
      REQUIRE(log.write(Tracked{i}).has_value());
      CHECK(Tracked::live <= 2 * 3 + 1);  // at most the retained records (+ slack for one in flight)
    }
    {
      auto r = log.read(19);
      REQUIRE(r.has_value());
      std::vector<memlog::Record<Tracked>> batch(4);
      CHECK(log.read_batch(15, batch).count == 4);
    }
    CHECK(log.range() == OffsetRange{15, 19});
  }
  CHECK(Tracked::live == 0);
  CHECK(Tracked::bad_destructions == 0);
}

// ---------------------------------------------------------------------------
// Reference model, seeded
// ---------------------------------------------------------------------------

TEST_CASE("Log: matches a reference model on random configurations", "[log][model]") {
  const std::uint64_t seed = 20240501;
  INFO("seed " << seed);
  std::mt19937_64 rng{seed};
  auto uniform = [&rng](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>{lo, hi}(rng);
  };

  for (int iteration = 0; iteration < 150; ++iteration) {
    const Offset s = uniform(0, 3) == 0 ? 0 : uniform(0, 1000);
    const auto n = static_cast<std::size_t>(uniform(1, 8));
    const auto k = static_cast<std::size_t>(uniform(0, 40));
    INFO("iteration " << iteration << ": start " << s << ", segment size " << n << ", writes " << k);

    StrLog log(make_options(s, n));
    for (std::size_t i = 0; i < k; ++i) REQUIRE(log.write("r" + std::to_string(i)).value() == s + static_cast<Offset>(i));

    const auto want = expected_range(s, n, k);
    REQUIRE(log.range() == want);
    const Offset next = s + static_cast<Offset>(k);
    const Offset lower = k == 0 ? s : want.earliest;  // below it: out of range
    auto model_read = [&](Offset o) -> std::error_code {
      if (o >= next) return Errc::future_offset;
      if (o < lower || o < 0) return Errc::out_of_range;
      return {};
    };
    for (Offset o = s - 3; o <= next + 3; ++o) {
      INFO("read " << o);
      const auto r = log.read(o);
      REQUIRE(err_of(r) == model_read(o));
      if (r) {
        CHECK(r->metadata.offset == o);
        CHECK(r->data == "r" + std::to_string(o - s));
      }
    }
    for (int b = 0; b < 5; ++b) {
      const Offset start = uniform(s - 3, next + 3);
      const auto size = static_cast<std::size_t>(uniform(1, 12));
      INFO("read_batch " << start << " size " << size);
      std::vector<StrRecord> batch(size);
      const auto res = log.read_batch(start, batch);
      if (model_read(start) == Errc::out_of_range) {
        CHECK(res.count == 0);
        CHECK(res.error == Errc::out_of_range);
        continue;
      }
      const auto available = static_cast<std::size_t>(std::max<Offset>(0, next - start));
      CHECK(res.count == std::min(size, available));
      CHECK(res.error == (available >= size ? std::error_code{} : std::error_code{Errc::future_offset}));
      for (std::size_t i = 0; i < res.count; ++i) {
        CHECK(batch[i].metadata.offset == start + static_cast<Offset>(i));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Checkpoint and resume (Go: TestLog_Checkpoint_Resume)
// ---------------------------------------------------------------------------

TEST_CASE("Log: a reader checkpoints and resumes across a restart", "[log][checkpoint]") {
  constexpr std::size_t source_count = 50;
  constexpr Offset start = 0;
  constexpr std::size_t seg_size = 20;
  const auto source = new_test_data_slice(source_count);
  std::vector<StrRecord> records;
  Offset checkpoint = -1;

  // create log
  auto log = std::make_unique<StrLog>(make_options(start, seg_size, MockClock{}));

  // writes 20 records
  for (Offset i = 0; i < 20; ++i) {
    const auto offset = log->write(source[static_cast<std::size_t>(i)]);
    REQUIRE(offset.has_value());
    CHECK(*offset == i);
  }

  // reads 20 records, creates checkpoint at 10
  for (Offset i = 0; i < 20; ++i) {
    const auto r = log->read(i);
    REQUIRE(r.has_value());
    CHECK(r->metadata.offset == i);
    records.push_back(*r);
    if (r->metadata.offset == 10) checkpoint = r->metadata.offset;
  }
  REQUIRE(checkpoint == 10);

  // log crashes, writes 20 records starting from last checkpoint
  log.reset();
  log = std::make_unique<StrLog>(make_options(checkpoint, seg_size, MockClock{}));
  for (Offset i = checkpoint; i < checkpoint + 20; ++i) {
    const auto offset = log->write(source[static_cast<std::size_t>(i)]);
    REQUIRE(offset.has_value());
    CHECK(*offset == i);
  }

  // reader resumes, catches up until no new data, checkpoints at the last good record
  for (Offset i = checkpoint;; ++i) {
    const auto r = log->read(i);
    if (!r) {
      CHECK(err_of(r) == Errc::future_offset);
      checkpoint = i - 1;
      break;
    }
    CHECK(r->metadata.offset == i);
    records.push_back(*r);
  }
  REQUIRE(checkpoint == 29);

  // continue writes, records purged
  for (auto i = static_cast<std::size_t>(checkpoint); i < source.size(); ++i) {
    REQUIRE(log->write(source[i]).has_value());
  }

  // slow reader attempts to read purged record
  CHECK(err_of(log->read(checkpoint)) == Errc::out_of_range);

  // retrieve earliest and latest, read until end
  const auto [earliest, latest] = log->range();
  CHECK(earliest == 30);
  CHECK(latest == 50);
  for (Offset i = earliest; i <= latest; ++i) {
    const auto r = log->read(i);
    REQUIRE(r.has_value());
    records.push_back(*r);
  }

  // all records received (deduplicated by the data's "id")
  std::vector<StrRecord> deduped;
  std::set<std::string> seen;
  for (const auto& r : records) {
    const auto id = memlog_test::id_of(r.data);
    REQUIRE_FALSE(id.empty());
    if (seen.insert(id).second) deduped.push_back(r);
  }
  REQUIRE(deduped.size() == source.size());
  for (std::size_t i = 0; i < deduped.size(); ++i) CHECK(deduped[i].data == source[i]);
}

// ---------------------------------------------------------------------------
// Examples (Go: Example, Example_batch)
// ---------------------------------------------------------------------------

TEST_CASE("Log: example write and read", "[log][example]") {
  std::ostringstream out;
  StrLog log;
  const auto offset = log.write("Hello World");
  REQUIRE(offset.has_value());
  out << "reading record at offset " << *offset << "\n";
  const auto record = log.read(*offset);
  REQUIRE(record.has_value());
  out << "Data: " << record->data;
  CHECK(out.str() == "reading record at offset 0\nData: Hello World");
}

TEST_CASE("Log: example batch reads", "[log][example]") {
  constexpr std::size_t batch_size = 10;
  std::ostringstream out;
  StrLog log;
  for (int i = 0; i < 15; ++i) {
    REQUIRE(log.write(R"({"id":)" + std::to_string(i) + R"(,"message","hello world"})").has_value());
  }

  Offset start = 0;
  std::vector<StrRecord> batch(batch_size);
  auto print_batch = [&](std::size_t count) {
    out << "records received in batch: " << count << "\n";
    for (std::size_t i = 0; i < count; ++i) {
      out << "batch item: " << i << "\toffset:" << batch[i].metadata.offset << "\tdata: " << batch[i].data
          << "\n";
    }
  };

  out << "reading batch starting at offset " << start << "\n";
  auto res = log.read_batch(start, batch);
  REQUIRE(res.error == std::error_code{});
  print_batch(res.count);

  start += static_cast<Offset>(res.count);
  out << "reading batch starting at offset " << start << "\n";
  res = log.read_batch(start, batch);
  REQUIRE(res.error == Errc::future_offset);
  out << "reached end of log\n";
  print_batch(res.count);

  std::string want =
      "reading batch starting at offset 0\n"
      "records received in batch: 10\n";
  for (int i = 0; i < 10; ++i) {
    want += "batch item: " + std::to_string(i) + "\toffset:" + std::to_string(i) + "\tdata: {\"id\":" +
            std::to_string(i) + ",\"message\",\"hello world\"}\n";
  }
  want +=
      "reading batch starting at offset 10\n"
      "reached end of log\n"
      "records received in batch: 5\n";
  for (int i = 0; i < 5; ++i) {
    want += "batch item: " + std::to_string(i) + "\toffset:" + std::to_string(10 + i) +
            "\tdata: {\"id\":" + std::to_string(10 + i) + ",\"message\",\"hello world\"}\n";
  }
  CHECK(out.str() == want);
}

// ---------------------------------------------------------------------------
// Concurrency (Go: TestLog_Concurrent)
// ---------------------------------------------------------------------------

TEST_CASE("Log: concurrent single writes by many workers", "[log][concurrency]") {
  // Go: TestLog_Concurrent
  struct Case {
    const char* name;
    Offset start;
    std::size_t seg_size;
    int workers;
    OffsetRange want;
  };
  const std::vector<Case> cases{
      {"100 workers, starts at 0, no purge", 0, 100, 100, {0, 99}},
      {"50 workers, starts at 100, with purge", 100, 10, 50, {130, 149}},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      StrLog log(make_options(c.start, c.seg_size));
      const auto data = new_test_data_slice(static_cast<std::size_t>(c.workers));
      std::latch go{c.workers};
      std::atomic<int> failed_writes{0};
      std::atomic<int> invalid_offsets{0};
      std::atomic<int> invalid_ranges{0};
      std::vector<Offset> offsets(static_cast<std::size_t>(c.workers), -1);
      std::vector<std::thread> threads;
      for (int i = 0; i < c.workers; ++i) {
        threads.emplace_back([&, i] {
          go.arrive_and_wait();
          const auto offset = log.write(data[static_cast<std::size_t>(i)]);
          if (!offset) {
            ++failed_writes;
            return;
          }
          if (*offset == -1) ++invalid_offsets;
          offsets[static_cast<std::size_t>(i)] = *offset;
          // earliest/latest never return invalid offsets once written
          const auto [earliest, latest] = log.range();
          if (earliest == -1 || latest == -1 || latest < *offset) ++invalid_ranges;
        });
      }
      for (auto& t : threads) t.join();

      CHECK(failed_writes == 0);
      CHECK(invalid_offsets == 0);
      CHECK(invalid_ranges == 0);
      CHECK(log.range() == c.want);
      std::sort(offsets.begin(), offsets.end());
      for (std::size_t i = 0; i < offsets.size(); ++i) CHECK(offsets[i] == c.start + static_cast<Offset>(i));
    }
  }
}

namespace {

struct ConcurrentOutcome {
  std::vector<std::vector<Offset>> offsets;  // per writer, in the order it wrote
  long write_errors = 0;
  long reader_violations = 0;
  long reader_iterations = 0;
};

// writers x per_writer writes of Tag{writer, seq} while `readers` threads call
// range, read and read_batch and check what they see.
ConcurrentOutcome run_writers_and_readers(memlog::Log<Tag>& log, std::uint32_t writers,
                                          std::uint32_t per_writer, int readers) {
  ConcurrentOutcome out;
  out.offsets.resize(writers);
  std::latch go{static_cast<std::ptrdiff_t>(writers) + readers};
  std::atomic<std::uint32_t> writers_done{0};
  std::atomic<long> write_errors{0};
  std::atomic<long> violations{0};
  std::atomic<long> iterations{0};
  const Offset start = log.options().start_offset;

  std::vector<std::thread> threads;
  for (std::uint32_t w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto& mine = out.offsets[w];
      mine.reserve(per_writer);
      go.arrive_and_wait();
      for (std::uint32_t seq = 0; seq < per_writer; ++seq) {
        if (readers > 0 && seq % 1000 == 500) {
          // Let the readers make progress between writes, so that reads
          // and writes overlap throughout (a spin, never a sleep).
          const long seen = iterations.load();
          while (iterations.load() == seen) std::this_thread::yield();
        }
        const auto offset = log.write(Tag{w, seq});
        if (offset) {
          mine.push_back(*offset);
        } else {
          ++write_errors;
        }
      }
      ++writers_done;
    });
  }
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&] {
      long bad = 0;
      Offset last_latest = -1;
      Offset last_earliest = -1;
      std::array<memlog::Record<Tag>, 16> batch{};
      go.arrive_and_wait();
      while (writers_done.load() < writers) {
        ++iterations;
        const auto [earliest, latest] = log.range();
        if ((earliest == -1) != (latest == -1)) ++bad;
        if (latest < last_latest || earliest < last_earliest) ++bad;  // never goes back
        if (earliest != -1 && (earliest < start || earliest > latest)) ++bad;
        last_latest = latest;
        last_earliest = earliest;
        if (latest == -1) continue;

        for (const Offset o : {latest, earliest, (earliest + latest) / 2}) {
          const auto r = log.read(o);  // written, so readable unless purged since
          if (r) {
            if (r->metadata.offset != o || r->data.writer >= writers || r->data.seq >= per_writer) ++bad;
          } else if (r.error() != Errc::out_of_range) {
            ++bad;
          }
        }
        if (const auto future = log.read(latest + 1 + static_cast<Offset>(writers) * per_writer); future) {
          ++bad;  // beyond anything that will ever be written
        }
        const auto res = log.read_batch(earliest, batch);
        if (res.error && res.error != Errc::future_offset && res.error != Errc::out_of_range) ++bad;
        for (std::size_t i = 0; i < res.count; ++i) {
          if (batch[i].metadata.offset != earliest + static_cast<Offset>(i)) ++bad;
        }
        std::this_thread::yield();
      }
      violations += bad;
    });
  }
  for (auto& t : threads) t.join();
  out.write_errors = write_errors.load();
  out.reader_violations = violations.load();
  out.reader_iterations = iterations.load();
  return out;
}

}  // namespace

TEST_CASE("Log: concurrent writers and readers lose and duplicate no offsets", "[log][concurrency]") {
  constexpr std::uint32_t writers = 4;
  constexpr std::uint32_t per_writer = 10'000;
  constexpr std::size_t total = std::size_t{writers} * per_writer;
  constexpr Offset start = 7;

  SECTION("large segment: every record is kept") {
    memlog::Log<Tag> log(make_options(start, total));
    const auto out = run_writers_and_readers(log, writers, per_writer, 2);
    REQUIRE(out.write_errors == 0);
    CHECK(out.reader_violations == 0);
    CHECK(out.reader_iterations > 0);

    std::vector<Offset> all;
    for (std::uint32_t w = 0; w < writers; ++w) {
      const auto& mine = out.offsets[w];
      REQUIRE(mine.size() == per_writer);
      CHECK(std::adjacent_find(mine.begin(), mine.end(), std::greater_equal<>{}) == mine.end());
      all.insert(all.end(), mine.begin(), mine.end());
    }
    std::sort(all.begin(), all.end());
    REQUIRE(all.size() == total);
    std::size_t mismatched_offsets = 0;
    for (std::size_t i = 0; i < total; ++i) mismatched_offsets += all[i] != start + static_cast<Offset>(i);
    CHECK(mismatched_offsets == 0);  // each offset exactly once
    CHECK(log.range() == OffsetRange{start, start + static_cast<Offset>(total) - 1});

    std::size_t wrong_records = 0;
    for (std::uint32_t w = 0; w < writers; ++w) {
      for (std::uint32_t seq = 0; seq < per_writer; ++seq) {
        const auto offset = out.offsets[w][seq];
        const auto r = log.read(offset);
        wrong_records += !r || r->metadata.offset != offset || !(r->data == Tag{w, seq});
      }
    }
    CHECK(wrong_records == 0);
  }

  SECTION("small segment: purges while reading") {
    constexpr std::size_t n = 64;
    memlog::Log<Tag> log(make_options(start, n));
    const auto out = run_writers_and_readers(log, writers, per_writer, 2);
    REQUIRE(out.write_errors == 0);
    CHECK(out.reader_violations == 0);
    CHECK(out.reader_iterations > 0);

    std::map<Offset, Tag> by_offset;
    for (std::uint32_t w = 0; w < writers; ++w) {
      const auto& mine = out.offsets[w];
      REQUIRE(mine.size() == per_writer);
      CHECK(std::adjacent_find(mine.begin(), mine.end(), std::greater_equal<>{}) == mine.end());
      for (std::uint32_t seq = 0; seq < per_writer; ++seq) by_offset.emplace(mine[seq], Tag{w, seq});
    }
    REQUIRE(by_offset.size() == total);  // no duplicates
    CHECK(by_offset.begin()->first == start);
    CHECK(by_offset.rbegin()->first == start + static_cast<Offset>(total) - 1);

    const auto want = expected_range(start, n, total);
    REQUIRE(log.range() == want);
    for (Offset o = want.earliest; o <= want.latest; ++o) {
      const auto r = log.read(o);
      REQUIRE(r.has_value());
      CHECK(r->data == by_offset.at(o));
    }
  }
}
