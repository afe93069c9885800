// Tests of memlog::sharded: a port of the Go library's sharded/log_test.go,
// sharded/log_internal_test.go, sharded/example_test.go and
// sharded/example_sharder_test.go, plus the C++ contract: FnvSharder pinned
// against Go's shard numbers, KeySharder errors, custom sharders, per-key
// ranges and streams, option validation, concurrency and idle memory.
//
// Go cases with no C++ equivalent (not ported):
// - every context.Context argument (the C++ API takes none; streams use a
//   std::stop_token, tested below);
// - TestNew "fails with invalid clock" (nil clock): an empty Options::clock is
//   valid and means system_clock::now;
// - TestNew "fails with invalid sharder" (nil sharder): a sharder is a value
//   of a type checked by the Sharder concept, it cannot be nil;
// - Write/Read with a nil key ("invalid key"): a std::string_view key is
//   never nil (an empty key is an ordinary key).

#include "support/catch.hpp"
#include "support/test_data.hpp"

#include <memlog/memlog.hpp>
#include <memlog/sharded.hpp>

#include <malloc.h>  // mallinfo2 (glibc)

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MEMLOG_TEST_MALLOC_REPLACED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define MEMLOG_TEST_MALLOC_REPLACED 1
#endif
#endif
#ifndef MEMLOG_TEST_MALLOC_REPLACED
#define MEMLOG_TEST_MALLOC_REPLACED 0
#endif

using memlog::Errc;
using memlog::Offset;
using memlog::OffsetRange;
using memlog_test::err_of;
using memlog_test::MockClock;

namespace {

using memlog::sharded::FnvSharder;
using memlog::sharded::KeySharder;

template <class S = FnvSharder>
using ShardedLog = memlog::sharded::Log<std::string, S>;

constexpr std::size_t test_shards = 10;  // Go's defaultShards in sharded/log_test.go
constexpr Offset test_start = 0;         // Go's defaultStart
constexpr std::size_t test_seg_size = 10;  // Go's defaultSegSize

memlog::sharded::Options make_options(std::size_t shards, Offset start, std::size_t seg_size) {
  memlog::sharded::Options o;
  o.shards = shards;
  o.log.start_offset = start;
  o.log.max_segment_size = seg_size;
  return o;
}

// Go's newTestData in sharded/log_test.go (json.Marshal sorts the keys).
std::string new_test_data(const std::string& id, const std::string& key) {
  return R"({"id":")" + id + R"(","key":")" + key +
         R"(","source":"/api/v1/memlog_test","type":"record.created.event.v0"})";
}

// Go's newTestDataMap: count records per key, ids "1" .. "count". A std::map,
// so that the seeding order is fixed (Go ranges over its map at random).
std::map<std::string, std::vector<std::string>> new_test_data_map(std::size_t count,
                                                                   const std::vector<std::string>& keys) {
  std::map<std::string, std::vector<std::string>> out;
  for (std::size_t i = 0; i < count; ++i) {
    for (const auto& k : keys) out[k].push_back(new_test_data(std::to_string(i + 1), k));
  }
  return out;
}

// The "key" field of a document made by new_test_data.
std::string key_of(const std::string& doc) {
  const std::string field = R"("key":")";
  const auto begin = doc.find(field);
  if (begin == std::string::npos) return {};
  const auto from = begin + field.size();
  return doc.substr(from, doc.find('"', from) - from);
}

// A sharder that sends every key to one fixed index, possibly a bad one.
struct FixedSharder {
  std::size_t index = 0;
  memlog::Result<std::size_t> shard(std::string_view /*key*/, std::size_t /*shards*/) const { return index; }
};

// A sharder that always fails with its own error.
struct FailingSharder {
  std::error_code error = std::make_error_code(std::errc::permission_denied);
  memlog::Result<std::size_t> shard(std::string_view /*key*/, std::size_t /*shards*/) const { return error; }
};

struct NotASharder {
  int shard(int) const { return 0; }
};

std::size_t heap_in_use() { return mallinfo2().uordblks; }

// The message of the std::invalid_argument the constructor throws.
template <class S = FnvSharder>
std::string construct_error(const memlog::sharded::Options& options, S sharder = S{}) {
  try {
    const ShardedLog<S> log(options, std::move(sharder));
    (void)log;
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}

}  // namespace

static_assert(memlog::sharded::Sharder<FnvSharder>);
static_assert(memlog::sharded::Sharder<KeySharder>);
static_assert(memlog::sharded::Sharder<FixedSharder>);
static_assert(memlog::sharded::Sharder<FailingSharder>);
static_assert(!memlog::sharded::Sharder<NotASharder>);
static_assert(!memlog::sharded::Sharder<int>);
static_assert(std::is_same_v<memlog::sharded::Log<std::string>::sharder_type, FnvSharder>);
static_assert(memlog::sharded::default_shards == 1000);

// ---------------------------------------------------------------------------
// FnvSharder: the same shard as Go's defaultSharder for every key.

TEST_CASE("FnvSharder hashes keys with FNV-1a 32 as Go's hash/fnv New32a", "[sharded][sharder]") {
  STATIC_REQUIRE(FnvSharder::hash("") == 0x811c9dc5U);
  STATIC_REQUIRE(FnvSharder::hash("a") == 0xe40c292cU);
  STATIC_REQUIRE(FnvSharder::hash("users") == 0x5e7cc513U);
  STATIC_REQUIRE(FnvSharder::hash("groups") == 0xaf6bcb6dU);
  STATIC_REQUIRE(FnvSharder::hash("planets") == 0x30941280U);
}

TEST_CASE("FnvSharder picks the shard Go's defaultSharder picks", "[sharded][sharder]") {
  // Computed by Go 1.19 with sharded/shard.go's formula:
  //   shard := int32(fnv32a(key)) % int32(shards); if shard < 0 { shard = -shard }
  struct Row {
    std::string_view key;
    std::uint32_t hash;
    std::size_t s1000, s10, s7, s2;
  };
  static constexpr std::array rows{
      Row{"", 0x811c9dc5U, 35, 5, 2, 1},
      Row{"a", 0xe40c292cU, 76, 6, 6, 0},
      Row{"users", 0x5e7cc513U, 219, 9, 1, 1},
      Row{"groups", 0xaf6bcb6dU, 67, 7, 3, 1},
      Row{"hello", 0x4f9f2cabU, 723, 3, 2, 1},
      Row{"tom", 0x9c10caebU, 77, 7, 5, 1},
      Row{"sarah", 0x43df91c8U, 320, 0, 5, 0},
      Row{"key-12345", 0x2c5a647aU, 466, 6, 4, 0},
      Row{"0123456789abcdefghijklmnopqrstuvwxyzABCD", 0xe7ce0421U, 927, 7, 5, 1},
      // "grüße-日本-😀" as UTF-8 bytes (bytes >= 0x80 must hash unsigned)
      Row{"gr\xC3\xBC\xC3\x9F" "e-\xE6\x97\xA5\xE6\x9C\xAC-\xF0\x9F\x98\x80", 0x3c662cb7U, 79, 9, 0, 1},
      Row{"friends", 0x8bdbdcdaU, 350, 0, 2, 0},
      Row{"family", 0x521d0429U, 321, 1, 1, 1},
      Row{"colleagues", 0x99939295U, 931, 1, 0, 1},
      Row{"galaxies", 0xdbab7b0dU, 835, 5, 2, 1},
      Row{"planets", 0x30941280U, 432, 2, 5, 0},
  };
  const FnvSharder sharder;
  for (const Row& row : rows) {
    INFO("key \"" << std::string(row.key) << "\"");
    CHECK(FnvSharder::hash(row.key) == row.hash);
    CHECK(sharder.shard(row.key, 1000).value() == row.s1000);
    CHECK(sharder.shard(row.key, 10).value() == row.s10);
    CHECK(sharder.shard(row.key, 7).value() == row.s7);
    CHECK(sharder.shard(row.key, 2).value() == row.s2);
  }
}

TEST_CASE("FnvSharder with no shards gives shard_not_found", "[sharded][sharder]") {
  CHECK(err_of(FnvSharder{}.shard("users", 0)) == Errc::shard_not_found);
}

TEST_CASE("FnvSharder shard is always below the shard count", "[sharded][sharder]") {
  const FnvSharder sharder;
  for (std::size_t shards : {2U, 3U, 7U, 10U, 1000U, 65536U}) {
    for (int i = 0; i < 500; ++i) {
      const auto s = sharder.shard("key-" + std::to_string(i), shards);
      REQUIRE(s.has_value());
      REQUIRE(*s < shards);
    }
  }
}

// ---------------------------------------------------------------------------
// KeySharder

TEST_CASE("KeySharder maps key i to shard i", "[sharded][sharder]") {
  const KeySharder sharder({"users", "groups", "machines"});
  CHECK(sharder.shard("users", 3).value() == 0);
  CHECK(sharder.shard("groups", 3).value() == 1);
  CHECK(sharder.shard("machines", 3).value() == 2);
  CHECK(sharder.shard("machines", 10).value() == 2);
}

TEST_CASE("KeySharder gives shard_not_found for an unknown key", "[sharded][sharder]") {
  const KeySharder sharder({"users"});
  CHECK(err_of(sharder.shard("groups", 10)) == Errc::shard_not_found);
  CHECK(err_of(sharder.shard("", 10)) == Errc::shard_not_found);
  CHECK(err_of(sharder.shard("user", 10)) == Errc::shard_not_found);
}

TEST_CASE("KeySharder checks too_many_keys before the key", "[sharded][sharder]") {
  const KeySharder sharder({"users", "groups", "machines"});
  CHECK(err_of(sharder.shard("users", 2)) == Errc::too_many_keys);
  CHECK(err_of(sharder.shard("unknown", 2)) == Errc::too_many_keys);
  CHECK(err_of(sharder.shard("users", 3)) == std::error_code{});
}

TEST_CASE("sharded log with too many keys fails write, read, range and stream", "[sharded][sharder]") {
  ShardedLog<KeySharder> log(make_options(2, test_start, test_seg_size),
                             KeySharder({"users", "groups", "machines"}));
  for (const char* key : {"users", "groups", "machines", "unknown"}) {
    INFO("key " << key);
    CHECK(err_of(log.write(key, "data")) == Errc::too_many_keys);
    CHECK(err_of(log.read(key, 0)) == Errc::too_many_keys);
    CHECK(err_of(log.range(key)) == Errc::too_many_keys);
    CHECK(err_of(log.stream(key, 0)) == Errc::too_many_keys);
  }
}

TEST_CASE("sharded log with an unknown key fails write, read, range and stream", "[sharded][sharder]") {
  ShardedLog<KeySharder> log(make_options(test_shards, test_start, test_seg_size), KeySharder({"users"}));
  CHECK(err_of(log.write("groups", "data")) == Errc::shard_not_found);
  CHECK(err_of(log.read("groups", 0)) == Errc::shard_not_found);
  CHECK(err_of(log.range("groups")) == Errc::shard_not_found);
  CHECK(err_of(log.stream("groups", 0)) == Errc::shard_not_found);
  // nothing was written anywhere
  CHECK(log.range("users").value() == OffsetRange{-1, -1});
}

// ---------------------------------------------------------------------------
// Custom sharders

TEST_CASE("custom sharder returning an index out of range gives shard_not_found", "[sharded][sharder]") {
  for (std::size_t index : {test_shards, test_shards + 1, std::numeric_limits<std::size_t>::max()}) {
    INFO("index " << index);
    ShardedLog<FixedSharder> log(make_options(test_shards, test_start, test_seg_size), FixedSharder{index});
    CHECK(err_of(log.write("k", "data")) == Errc::shard_not_found);
    CHECK(err_of(log.read("k", 0)) == Errc::shard_not_found);
    CHECK(err_of(log.range("k")) == Errc::shard_not_found);
    CHECK(err_of(log.stream("k", 0)) == Errc::shard_not_found);
  }
}

TEST_CASE("custom sharder's last valid index works", "[sharded][sharder]") {
  ShardedLog<FixedSharder> log(make_options(test_shards, test_start, test_seg_size),
                               FixedSharder{test_shards - 1});
  CHECK(log.write("a", "1").value() == 0);
  CHECK(log.write("b", "2").value() == 1);  // every key shares shard 9
  CHECK(log.read("c", 1).value().data == "2");
  CHECK(log.range("d").value() == OffsetRange{0, 1});
}

TEST_CASE("custom sharder's own error is returned as is", "[sharded][sharder]") {
  const std::error_code own = std::make_error_code(std::errc::permission_denied);
  ShardedLog<FailingSharder> log(make_options(test_shards, test_start, test_seg_size), FailingSharder{own});
  CHECK(err_of(log.write("k", "data")) == own);
  CHECK(err_of(log.read("k", 0)) == own);
  CHECK(err_of(log.range("k")) == own);
  CHECK(err_of(log.stream("k", 0)) == own);
  CHECK(&err_of(log.write("k", "data")).category() == &std::generic_category());
}

TEST_CASE("sharded log keeps the sharder it was given", "[sharded][sharder]") {
  ShardedLog<FixedSharder> log(make_options(test_shards, test_start, test_seg_size), FixedSharder{4});
  CHECK(log.sharder().index == 4);
}

// ---------------------------------------------------------------------------
// Construction (Go: sharded/log_internal_test.go TestNew)

TEST_CASE("sharded log rejects invalid options", "[sharded][options]") {
  struct Case {
    const char* name;
    memlog::sharded::Options options;
    const char* names;  // what the message must name
  };
  auto with = [](auto change) {
    auto o = make_options(test_shards, test_start, test_seg_size);
    change(o);
    return o;
  };
  using O = memlog::sharded::Options;
  const std::vector<Case> cases{
      // Go: "fails with invalid shard count" (0); 1 is also invalid ("must be greater than 1")
      {"shards 0", with([](O& o) { o.shards = 0; }), "shards"},
      {"shards 1", with([](O& o) { o.shards = 1; }), "shards"},
      // Go: "fails with invalid segment size"
      {"max_segment_size 0", with([](O& o) { o.log.max_segment_size = 0; }), "max_segment_size"},
      // Go: "fails with invalid start offset"
      {"start_offset -10", with([](O& o) { o.log.start_offset = -10; }), "start_offset"},
      {"start_offset -1", with([](O& o) { o.log.start_offset = -1; }), "start_offset"},
      // Go: WithMaxRecordDataSize(0)
      {"max_record_size 0", with([](O& o) { o.log.max_record_size = 0; }), "max_record_size"},
      // C++ only
      {"stream_spin -1ns", with([](O& o) { o.log.stream_spin = std::chrono::nanoseconds{-1}; }), "stream_spin"},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) {
      CHECK_THROWS_AS(ShardedLog<>(tc.options), std::invalid_argument);
      const std::string message = construct_error(tc.options);
      INFO("message: " << message);
      CHECK(message.find(tc.names) != std::string::npos);
      const std::string with_key_sharder = construct_error(tc.options, KeySharder({"a"}));
      INFO("message with KeySharder: " << with_key_sharder);
      CHECK(with_key_sharder.find(tc.names) != std::string::npos);
    }
  }
}

TEST_CASE("sharded log accepts the smallest valid options", "[sharded][options]") {
  auto o = make_options(2, 0, 1);
  o.log.max_record_size = 1;
  ShardedLog<> log(o);
  CHECK(log.shards() == 2);
  CHECK(log.write("a", "x").value() == 0);
  CHECK(err_of(log.write("a", "xy")) == Errc::record_too_large);
  CHECK(err_of(log.write("a", "")) == Errc::empty_record);
}

TEST_CASE("sharded log with defaults", "[sharded][options]") {
  // Go: "successfully creates new log with defaults"
  ShardedLog<> log;
  CHECK(log.shards() == memlog::sharded::default_shards);
  CHECK(log.options().shards == 1000);
  CHECK(log.options().log.start_offset == memlog::default_start_offset);
  CHECK(log.options().log.max_segment_size == memlog::default_segment_size);
  CHECK(log.options().log.max_record_size == memlog::default_max_record_size);
  CHECK(log.options().log.stream_spin == std::chrono::nanoseconds::zero());
  CHECK_FALSE(log.options().log.clock);
}

TEST_CASE("every shard uses the shard options", "[sharded][options]") {
  MockClock clock;
  auto o = make_options(3, 100, 2);
  o.log.clock = clock.fn();
  o.log.max_record_size = 4;
  ShardedLog<KeySharder> log(o, KeySharder({"x", "y", "z"}));
  for (const char* key : {"x", "y", "z"}) {
    INFO("key " << key);
    CHECK(log.write(key, "1").value() == 100);
    CHECK(log.write(key, "2").value() == 101);
    CHECK(log.write(key, "3").value() == 102);  // rotates: segment size 2
    CHECK(log.range(key).value() == OffsetRange{100, 102});
    CHECK(err_of(log.write(key, "12345")) == Errc::record_too_large);
    CHECK(log.read(key, 100).value().metadata.created == MockClock::default_time());
  }
}

// ---------------------------------------------------------------------------
// Reads (Go: sharded/log_test.go TestLog_Read_SingleRecord)

TEST_CASE("sharded read of a single record", "[sharded]") {
  struct Case {
    const char* name;
    std::size_t shards;
    std::vector<std::string> sharder_keys;
    Offset start;
    std::size_t seg_size;
    std::size_t count;              // records per key
    std::vector<std::string> keys;  // keys written and read
    std::vector<std::string> read_keys;
    Offset offset;  // read offset
    std::size_t want_records;
    std::error_code want_read_err;
    std::error_code want_write_err;
  };
  const std::vector<std::string> users{"users"};
  const std::vector<Case> cases{
      {"read fails with out of range error", test_shards, users, test_start, test_seg_size, 100, users, users,
       0, 0, Errc::out_of_range, {}},
      {"read fails with future offset error", test_shards, users, test_start, test_seg_size, 100, users, users,
       101, 0, Errc::future_offset, {}},
      {"read fails due to invalid offset", test_shards, users, test_start, test_seg_size, 100, users, users,
       -10, 0, Errc::out_of_range, {}},
      {"read fails due to non-existing shard key", test_shards, users, test_start, test_seg_size, 100, users,
       {"groups"}, 0, 0, Errc::shard_not_found, {}},
      {"read fails due to key shard count mismatch", 2, {"users", "groups", "machines"}, test_start,
       test_seg_size, 100, {"users", "groups", "machines"}, {"users", "groups", "machines"}, 0, 0,
       Errc::too_many_keys, Errc::too_many_keys},
      {"read succeeds, one key, start offset 0, read offset 0", test_shards, users, test_start, test_seg_size,
       10, users, users, 0, 1, {}, {}},
      {"read succeeds, one key, start offset 100, read offset 100", test_shards, users, 100, test_seg_size, 10,
       users, users, 100, 1, {}, {}},
      {"read succeeds, two keys, read offset 5", test_shards, {"users", "groups"}, test_start, test_seg_size,
       10, {"users", "groups"}, {"users", "groups"}, 5, 2, {}, {}},
  };

  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) {
      MockClock clock;
      auto o = make_options(tc.shards, tc.start, tc.seg_size);
      o.log.clock = clock.fn();
      ShardedLog<KeySharder> log(o, KeySharder(tc.sharder_keys));

      for (const auto& [key, records] : new_test_data_map(tc.count, tc.keys)) {
        for (const auto& r : records) {
          CHECK(err_of(log.write(key, r)) == tc.want_write_err);
        }
      }

      std::size_t records = 0;
      for (const auto& key : tc.read_keys) {
        const auto r = log.read(key, tc.offset);
        CHECK(err_of(r) == tc.want_read_err);
        if (r) {
          CHECK(r->metadata.offset == tc.offset);
          CHECK(r->metadata.created == MockClock::default_time());
          CHECK(key_of(r->data) == key);
          ++records;
        }
      }
      CHECK(records == tc.want_records);
    }
  }
}

TEST_CASE("sharded read of the record at an offset returns that key's data", "[sharded]") {
  // Go's "two keys, read offset 5", checked down to the payload.
  ShardedLog<KeySharder> log(make_options(test_shards, test_start, test_seg_size),
                             KeySharder({"users", "groups"}));
  for (const auto& [key, records] : new_test_data_map(10, {"users", "groups"})) {
    for (const auto& r : records) REQUIRE(log.write(key, r).has_value());
  }
  CHECK(log.read("users", 5).value().data == new_test_data("6", "users"));
  CHECK(log.read("groups", 5).value().data == new_test_data("6", "groups"));
}

// Go: TestLog_Read_AllRecords_Concurrent
TEST_CASE("sharded concurrent readers read all records of their key", "[sharded][concurrent]") {
  const std::vector<std::string> keys{"users", "groups", "machines", "clusters", "datacenters"};
  ShardedLog<KeySharder> log(make_options(test_shards, test_start, test_seg_size), KeySharder(keys));

  for (const auto& [key, records] : new_test_data_map(test_seg_size, keys)) {
    for (const auto& r : records) REQUIRE(log.write(key, r).has_value());
  }

  std::atomic<int> got{0};
  std::atomic<int> bad{0};
  std::latch start(static_cast<std::ptrdiff_t>(keys.size()));
  std::vector<std::jthread> readers;
  for (const auto& key : keys) {
    readers.emplace_back([&, key] {
      start.arrive_and_wait();
      for (Offset offset = test_start;; ++offset) {
        const auto r = log.read(key, offset);
        if (!r) {
          if (r.error() != Errc::future_offset) ++bad;
          break;
        }
        if (r->metadata.offset != offset || key_of(r->data) != key ||
            r->data != new_test_data(std::to_string(offset - test_start + 1), key)) {
          ++bad;
        }
        ++got;
      }
    });
  }
  readers.clear();  // joins

  CHECK(bad.load() == 0);
  CHECK(got.load() == static_cast<int>(keys.size() * test_seg_size));
}

// Go: TestLog_Read_AllRecords (default sharder: keys may share a shard)
TEST_CASE("sharded read of all records with the default sharder", "[sharded]") {
  const std::vector<std::string> keys{"friends", "family", "colleagues"};
  ShardedLog<> log(make_options(test_shards, test_start, test_seg_size));

  for (const auto& [key, records] : new_test_data_map(test_seg_size, keys)) {
    for (const auto& r : records) REQUIRE(log.write(key, r).has_value());
  }

  std::size_t got = 0;
  std::map<std::string, Offset> seen;  // records read per key's shard
  for (const auto& key : keys) {
    Offset offset = test_start;
    for (;; ++offset) {
      const auto r = log.read(key, offset);
      if (!r) {
        REQUIRE(r.error() == Errc::future_offset);
        break;
      }
      CHECK(r->metadata.offset == offset);
      CHECK(r->metadata.created != std::chrono::system_clock::time_point{});
      if (key_of(r->data) == key) ++got;
    }
    seen[key] = offset - test_start;
  }
  CHECK(got == keys.size() * test_seg_size);
  // With 10 shards, Go puts "family" and "colleagues" on shard 1 and
  // "friends" on shard 0 (see the FnvSharder table above).
  CHECK(seen["friends"] == 10);
  CHECK(seen["family"] == 20);
  CHECK(seen["colleagues"] == 20);
}

// ---------------------------------------------------------------------------
// Offsets, ranges and streams per key

TEST_CASE("sharded offsets are per shard", "[sharded]") {
  ShardedLog<> log;  // 1000 shards: "users" -> 219, "groups" -> 67
  for (Offset i = 0; i < 3; ++i) {
    CHECK(log.write("users", "u" + std::to_string(i)).value() == i);
    CHECK(log.write("groups", "g" + std::to_string(i)).value() == i);
  }
  CHECK(log.read("users", 2).value().data == "u2");
  CHECK(log.read("groups", 2).value().data == "g2");
  CHECK(err_of(log.read("users", 3)) == Errc::future_offset);
  CHECK(err_of(log.read("hello", 0)) == Errc::future_offset);  // shard 723: empty
}

TEST_CASE("sharded range is per key's shard", "[sharded]") {
  ShardedLog<KeySharder> log(make_options(3, 5, 2), KeySharder({"a", "b", "c"}));
  CHECK(log.range("a").value() == OffsetRange{-1, -1});
  for (int i = 0; i < 5; ++i) REQUIRE(log.write("a", "x").has_value());
  REQUIRE(log.write("b", "x").has_value());
  CHECK(log.range("a").value() == OffsetRange{7, 9});  // purged 5 and 6
  CHECK(log.range("b").value() == OffsetRange{5, 5});
  CHECK(log.range("c").value() == OffsetRange{-1, -1});
  CHECK(err_of(log.read("a", 6)) == Errc::out_of_range);
  CHECK(log.read("a", 7).value().metadata.offset == 7);
}

TEST_CASE("sharded range with the default sharder covers keys sharing a shard", "[sharded]") {
  ShardedLog<> log(make_options(2, 0, 100));  // "users" and "groups" -> 1, "a" -> 0
  REQUIRE(log.write("users", "u").has_value());
  REQUIRE(log.write("groups", "g").has_value());
  CHECK(log.range("users").value() == OffsetRange{0, 1});
  CHECK(log.range("groups").value() == OffsetRange{0, 1});
  CHECK(log.range("a").value() == OffsetRange{-1, -1});
}

TEST_CASE("sharded stream sees its key's shard in order", "[sharded][stream]") {
  ShardedLog<> log(make_options(2, 0, 100));  // "users" and "groups" -> 1, "a" -> 0
  REQUIRE(log.write("users", "u0").value() == 0);
  REQUIRE(log.write("groups", "g0").value() == 1);
  REQUIRE(log.write("a", "a0").value() == 0);
  REQUIRE(log.write("users", "u1").value() == 2);

  auto users = log.stream("users", 0);
  REQUIRE(users.has_value());
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    const auto r = users->next_for(std::chrono::seconds(10));
    REQUIRE(err_of(r) == std::error_code{});
    CHECK(r->metadata.offset == i);
    got.push_back(r->data);
  }
  CHECK(got == std::vector<std::string>{"u0", "g0", "u1"});

  auto a = log.stream("a", 0);
  REQUIRE(a.has_value());
  CHECK(a->next_for(std::chrono::seconds(10)).value().data == "a0");
  CHECK(a->position() == 1);
}

TEST_CASE("sharded stream is not woken by writes to another shard", "[sharded][stream]") {
  ShardedLog<KeySharder> log(make_options(2, 0, 100), KeySharder({"users", "groups"}));
  auto users = log.stream("users", 0);
  REQUIRE(users.has_value());

  for (int i = 0; i < 5; ++i) REQUIRE(log.write("groups", "g").has_value());
  // Nothing for "users": the wait times out and the stream stays usable.
  CHECK(err_of(users->next_for(std::chrono::milliseconds(20))) == Errc::timed_out);
  CHECK(users->error() == std::error_code{});
  CHECK(users->position() == 0);

  REQUIRE(log.write("users", "u0").value() == 0);
  const auto r = users->next_for(std::chrono::seconds(10));
  REQUIRE(err_of(r) == std::error_code{});
  CHECK(r->data == "u0");
}

TEST_CASE("sharded stream is woken by a write to its shard", "[sharded][stream][concurrent]") {
  ShardedLog<KeySharder> log(make_options(2, 0, 100), KeySharder({"users", "groups"}));
  auto users = log.stream("users", 0);
  REQUIRE(users.has_value());

  constexpr int n = 50;
  std::latch go(2);
  std::jthread writer([&] {
    go.arrive_and_wait();
    for (int i = 0; i < n; ++i) {
      (void)log.write("groups", "g" + std::to_string(i));
      (void)log.write("users", "u" + std::to_string(i));
    }
  });
  go.arrive_and_wait();
  for (int i = 0; i < n; ++i) {
    const auto r = users->next_for(std::chrono::seconds(30));  // safety net only
    REQUIRE(err_of(r) == std::error_code{});
    REQUIRE(r->metadata.offset == i);
    REQUIRE(r->data == "u" + std::to_string(i));
  }
}

TEST_CASE("sharded stream ends on stop request with cancelled", "[sharded][stream]") {
  ShardedLog<> log(make_options(test_shards, test_start, test_seg_size));
  std::stop_source stop;
  auto s = log.stream("users", 0, stop.get_token());
  REQUIRE(s.has_value());
  REQUIRE(log.write("users", "u0").has_value());
  CHECK(s->next().value().data == "u0");

  // next() blocks (or finds stop already requested): either way, cancelled
  std::jthread stopper([&] { stop.request_stop(); });
  CHECK(err_of(s->next()) == Errc::cancelled);
  CHECK(s->error() == Errc::cancelled);
  CHECK(err_of(s->next()) == Errc::cancelled);
}

TEST_CASE("sharded stream from a purged or negative offset gives out_of_range", "[sharded][stream]") {
  ShardedLog<KeySharder> log(make_options(2, 0, 2), KeySharder({"a", "b"}));
  for (int i = 0; i < 5; ++i) REQUIRE(log.write("a", "x").has_value());  // keeps 2..4
  for (Offset start : {Offset{-1}, Offset{0}, Offset{1}}) {
    INFO("start " << start);
    auto s = log.stream("a", start);
    REQUIRE(s.has_value());
    CHECK(err_of(s->next()) == Errc::out_of_range);
    CHECK(s->error() == Errc::out_of_range);
  }
  auto s = log.stream("a", 2);
  REQUIRE(s.has_value());
  CHECK(s->next().value().metadata.offset == 2);
}

TEST_CASE("sharded stream as a range over a key", "[sharded][stream]") {
  ShardedLog<KeySharder> log(make_options(2, 10, 100), KeySharder({"a", "b"}));
  for (int i = 0; i < 4; ++i) REQUIRE(log.write("a", "a" + std::to_string(i)).has_value());
  REQUIRE(log.write("b", "b0").has_value());

  std::stop_source stop;
  auto s = log.stream("a", 10, stop.get_token());
  REQUIRE(s.has_value());
  std::vector<Offset> offsets;
  for (const auto& r : *s) {
    offsets.push_back(r.metadata.offset);
    CHECK(r.data == "a" + std::to_string(r.metadata.offset - 10));
    if (r.metadata.offset == 13) stop.request_stop();
  }
  CHECK(offsets == std::vector<Offset>{10, 11, 12, 13});
  CHECK(s->error() == Errc::cancelled);
}

// ---------------------------------------------------------------------------
// Go examples (sharded/example_test.go, sharded/example_sharder_test.go)

TEST_CASE("sharded example: users and groups with the default sharder", "[sharded][example]") {
  ShardedLog<> log;
  const std::map<std::string, std::vector<std::string>> data{
      {"users", {"tom", "sarah", "ajit"}},
      {"groups", {"friends", "family", "colleagues"}},
  };
  for (const auto& [key, vals] : data) {
    for (const auto& val : vals) REQUIRE(log.write(key, val).has_value());
  }

  std::vector<std::string> users;
  for (Offset offset = 0;; ++offset) {
    const auto r = log.read("users", offset);
    if (!r) {
      REQUIRE(r.error() == Errc::future_offset);
      break;
    }
    users.push_back(r->data);
  }
  CHECK(users == std::vector<std::string>{"tom", "sarah", "ajit"});
}

TEST_CASE("sharded example: galaxies and planets with a key sharder", "[sharded][example]") {
  const std::vector<std::string> keys{"galaxies", "planets"};
  ShardedLog<KeySharder> log(make_options(keys.size(), 0, memlog::default_segment_size), KeySharder(keys));
  const std::map<std::string, std::vector<std::string>> data{
      {keys[0], {"Centaurus A", "Andromeda", "Eye of Sauron"}},
      {keys[1], {"Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"}},
  };
  for (const auto& [key, vals] : data) {
    for (const auto& val : vals) REQUIRE(log.write(key, val).has_value());
  }

  for (const auto& key : keys) {
    INFO("key " << key);
    std::vector<std::string> got;
    for (Offset offset = 0;; ++offset) {
      const auto r = log.read(key, offset);
      if (!r) {
        REQUIRE(r.error() == Errc::future_offset);
        break;
      }
      got.push_back(r->data);
    }
    CHECK(got == data.at(key));
  }
}

// ---------------------------------------------------------------------------
// Concurrency

TEST_CASE("sharded concurrent writers on different keys", "[sharded][concurrent]") {
  constexpr std::size_t writers = 4;
  constexpr std::size_t per_writer = 2000;
  std::vector<std::string> keys;
  for (std::size_t w = 0; w < writers; ++w) keys.push_back("key-" + std::to_string(w));
  // one segment holds everything: nothing is purged
  ShardedLog<KeySharder> log(make_options(writers + 1, 0, per_writer), KeySharder(keys));

  std::latch start(static_cast<std::ptrdiff_t>(writers * 2));
  std::atomic<int> bad_writes{0};
  std::atomic<int> bad_reads{0};
  {
    std::vector<std::jthread> threads;
    for (std::size_t w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        start.arrive_and_wait();
        for (std::size_t i = 0; i < per_writer; ++i) {
          const auto offset = log.write(keys[w], std::to_string(w) + ":" + std::to_string(i));
          // the only writer of its shard: offsets are exactly 0, 1, 2, ...
          if (!offset || *offset != static_cast<Offset>(i)) ++bad_writes;
        }
      });
      // a stream per key reads its writer's records, in order, as they come
      threads.emplace_back([&, w] {
        auto s = log.stream(keys[w], 0);
        start.arrive_and_wait();
        if (!s) {
          ++bad_reads;
          return;
        }
        for (std::size_t i = 0; i < per_writer; ++i) {
          const auto r = s->next_for(std::chrono::seconds(60));  // safety net only
          if (!r || r->metadata.offset != static_cast<Offset>(i) ||
              r->data != std::to_string(w) + ":" + std::to_string(i)) {
            ++bad_reads;
            return;
          }
        }
      });
    }
  }
  CHECK(bad_writes.load() == 0);
  CHECK(bad_reads.load() == 0);
  for (const auto& key : keys) {
    CHECK(log.range(key).value() == OffsetRange{0, static_cast<Offset>(per_writer) - 1});
  }
}

TEST_CASE("sharded concurrent writers on the same key", "[sharded][concurrent]") {
  constexpr std::size_t writers = 4;
  constexpr std::size_t per_writer = 2000;
  constexpr std::size_t total = writers * per_writer;
  ShardedLog<> log(make_options(test_shards, 0, total));  // one segment holds everything

  std::latch start(static_cast<std::ptrdiff_t>(writers));
  std::vector<std::vector<Offset>> offsets(writers);
  {
    std::vector<std::jthread> threads;
    for (std::size_t w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        offsets[w].reserve(per_writer);
        start.arrive_and_wait();
        for (std::size_t i = 0; i < per_writer; ++i) {
          const auto offset = log.write("users", std::to_string(w) + ":" + std::to_string(i));
          offsets[w].push_back(offset.value_or(-1));
        }
      });
    }
  }

  // Every offset unique and together exactly 0 .. total-1.
  std::vector<int> hits(total, 0);
  for (std::size_t w = 0; w < writers; ++w) {
    for (std::size_t i = 0; i < per_writer; ++i) {
      const Offset o = offsets[w][i];
      REQUIRE(o >= 0);
      REQUIRE(o < static_cast<Offset>(total));
      ++hits[static_cast<std::size_t>(o)];
      // a writer's own records get increasing offsets
      if (i > 0) REQUIRE(o > offsets[w][i - 1]);
    }
  }
  for (std::size_t o = 0; o < total; ++o) REQUIRE(hits[o] == 1);
  CHECK(log.range("users").value() == OffsetRange{0, static_cast<Offset>(total) - 1});

  // Reading back: each writer's sequence numbers appear in order.
  std::vector<std::size_t> next_seq(writers, 0);
  for (std::size_t o = 0; o < total; ++o) {
    const auto r = log.read("users", static_cast<Offset>(o));
    REQUIRE(r.has_value());
    const auto colon = r->data.find(':');
    const auto w = std::stoul(r->data.substr(0, colon));
    const auto seq = std::stoul(r->data.substr(colon + 1));
    REQUIRE(w < writers);
    REQUIRE(seq == next_seq[w]);
    REQUIRE(offsets[w][seq] == static_cast<Offset>(o));
    ++next_seq[w];
  }
  for (std::size_t w = 0; w < writers; ++w) CHECK(next_seq[w] == per_writer);
}

TEST_CASE("sharded concurrent writers on many keys with the default sharder", "[sharded][concurrent]") {
  // Keys collide on shards (50 keys, 7 shards): per shard, offsets must still
  // be unique and consecutive.
  constexpr std::size_t writers = 4;
  constexpr std::size_t per_writer = 1000;
  constexpr std::size_t shards = 7;
  ShardedLog<> log(make_options(shards, 0, writers * per_writer));
  const FnvSharder sharder;

  std::latch start(static_cast<std::ptrdiff_t>(writers));
  std::vector<std::vector<std::pair<std::size_t, Offset>>> results(writers);  // (shard, offset)
  {
    std::vector<std::jthread> threads;
    for (std::size_t w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        results[w].reserve(per_writer);
        start.arrive_and_wait();
        for (std::size_t i = 0; i < per_writer; ++i) {
          const std::string key = "key-" + std::to_string((w * per_writer + i) % 50);
          const auto offset = log.write(key, key);
          results[w].emplace_back(sharder.shard(key, shards).value(), offset.value_or(-1));
        }
      });
    }
  }

  std::vector<std::vector<Offset>> per_shard(shards);
  for (const auto& r : results) {
    for (const auto& [shard, offset] : r) per_shard[shard].push_back(offset);
  }
  std::size_t seen = 0;
  for (std::size_t s = 0; s < shards; ++s) {
    INFO("shard " << s);
    auto& o = per_shard[s];
    std::sort(o.begin(), o.end());
    for (std::size_t i = 0; i < o.size(); ++i) REQUIRE(o[i] == static_cast<Offset>(i));
    seen += o.size();
  }
  CHECK(seen == writers * per_writer);
}

// ---------------------------------------------------------------------------
// Memory

TEST_CASE("idle sharded log with default options is small", "[sharded][memory]") {
  std::optional<ShardedLog<>> log;
  const std::size_t before = heap_in_use();
  log.emplace();
  const std::size_t idle = heap_in_use() - before;
  WARN("idle sharded::Log<std::string> (1000 shards, segment 1024): " << idle << " bytes on the heap ("
                                                                       << sizeof(memlog::Log<std::string>)
                                                                       << " bytes per shard)");

  for (int k = 0; k < 10; ++k) {
    REQUIRE(log->write("key-" + std::to_string(k), "v").has_value());
  }
  const std::size_t after_writes = heap_in_use() - before;
  const std::size_t growth = after_writes - idle;
  WARN("after one write to each of 10 keys: +" << growth << " bytes");

#if MEMLOG_TEST_MALLOC_REPLACED
  WARN("built with a sanitizer that replaces malloc: memory figures not checked");
#else
  CHECK(idle < 512U * 1024U);
  CHECK(growth < 64U * 1024U);
#endif
}
