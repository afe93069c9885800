// The Redis Streams source (<memlog/redis.hpp>): entry IDs, reply parsing and
// the numbering of add indexes (no server), then [server] cases against a
// redis-server each test starts itself (tests/redis/redis_server.hpp).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <memlog/redis.hpp>

#include "redis/fake_server.hpp"
#include "redis/redis_server.hpp"
#include "support/catch.hpp"
#include "support/write_hook.hpp"

namespace {

using namespace std::chrono_literals;
using memlog::Offset;
using memlog::redis::Entry;
using memlog::redis::EntryId;
using memlog::redis::Field;
namespace detail = memlog::redis::detail;

// A reply as hiredis builds it from the bytes Redis would send.
detail::Reply from_resp(std::string_view resp) {
  redisReader* reader = redisReaderCreate();
  REQUIRE(redisReaderFeed(reader, resp.data(), resp.size()) == REDIS_OK);
  void* reply = nullptr;
  REQUIRE(redisReaderGetReply(reader, &reply) == REDIS_OK);
  redisReaderFree(reader);
  REQUIRE(reply != nullptr);
  return detail::Reply(static_cast<redisReply*>(reply));
}

std::string bulk(std::string_view s) { return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n"; }

// An XREAD/XRANGE entry in RESP: [id, [name, value, ...]].
std::string resp_entry(std::string_view id, const std::vector<std::string>& fields) {
  std::string out = "*2\r\n" + bulk(id) + "*" + std::to_string(fields.size()) + "\r\n";
  for (const auto& f : fields) out += bulk(f);
  return out;
}

std::string resp_xread(std::string_view key, const std::vector<std::string>& entries) {
  std::string out = "*1\r\n*2\r\n" + bulk(key) + "*" + std::to_string(entries.size()) + "\r\n";
  for (const auto& e : entries) out += e;
  return out;
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<EntryId> {
  static std::string convert(const EntryId& id) { return id.to_string(); }
};
template <>
struct StringMaker<Entry> {
  static std::string convert(const Entry& entry) {
    std::string out = "{" + entry.id.to_string() + ":";
    for (const auto& field : entry.fields) out += " " + field.name + "=" + field.value;
    return out + "}";
  }
};
template <>
struct StringMaker<memlog::redis::Position> {
  static std::string convert(const memlog::redis::Position& p) {
    return "{" + p.id.to_string() + " @" + std::to_string(p.offset) + "}";
  }
};
}  // namespace Catch

TEST_CASE("EntryId parses what Redis writes and nothing else", "[redis][id]") {
  CHECK(EntryId::parse("1526919030474-55") == EntryId{1526919030474, 55});
  CHECK(EntryId::parse("0-0") == EntryId{});
  CHECK(EntryId::parse("18446744073709551615-18446744073709551615") ==
        EntryId{UINT64_MAX, UINT64_MAX});
  for (const char* bad : {"", "-", "1", "1-", "-1", "1--1", "+1-1", " 1-1", "1-1 ", "1-x", "x-1", "1-2-3",
                          "18446744073709551616-0", "1-18446744073709551616", "$", "*"}) {
    INFO(bad);
    CHECK_FALSE(EntryId::parse(bad).has_value());
  }
}

TEST_CASE("EntryId orders as Redis does, steps over its bounds and formats back", "[redis][id]") {
  CHECK(EntryId{1, 5} < EntryId{2, 0});
  CHECK(EntryId{2, 0} < EntryId{2, 1});
  CHECK(EntryId{1, UINT64_MAX}.next() == EntryId{2, 0});
  CHECK(EntryId{2, 0}.prev() == EntryId{1, UINT64_MAX});
  CHECK(EntryId{}.prev() == EntryId{});
  CHECK(EntryId{UINT64_MAX, UINT64_MAX}.next() == EntryId{UINT64_MAX, UINT64_MAX});
  CHECK(EntryId{7, 3}.to_string() == "7-3");
  CHECK(EntryId{UINT64_MAX, UINT64_MAX}.to_string() == "18446744073709551615-18446744073709551615");
  CHECK(EntryId::at(std::chrono::system_clock::time_point(1500ms)) == EntryId{1500, 0});
  std::mt19937_64 random(15);
  for (int i = 0; i < 1000; ++i) {
    const EntryId id{random(), random()};
    CHECK(EntryId::parse(id.to_string()) == id);
  }
}

TEST_CASE("an Entry counts its ID and its fields' bytes, and one without fields is a gap", "[redis][entry]") {
  const Entry entry{{1, 0}, {{"name", "value"}, {"n", ""}}};
  CHECK(memlog::RecordSize<Entry>{}(entry) == 16 + 4 + 5 + 1);
  CHECK_FALSE(entry.gap());
  CHECK(*entry.find("name") == "value");
  CHECK(entry.find("other") == nullptr);
  const Entry gap{{1, 0}, {}};
  CHECK(gap.gap());
  CHECK(memlog::RecordSize<Entry>{}(gap) == 16);
  static_assert(memlog::sized_record<Entry>);

  // max_record_size applies to entries as to any sized record.
  memlog::Log<Entry> log({.max_record_size = 20});
  CHECK(log.write(Entry{{1, 0}, {{"ab", "cd"}}}).has_value());
  CHECK(log.write(Entry{{2, 0}, {{"abc", "de"}}}).error() == memlog::Errc::record_too_large);
}

TEST_CASE("XREAD replies: entries, a timeout, and every wrong shape refused", "[redis][reply]") {
  std::vector<detail::RawEntry> out;
  SECTION("two entries") {
    const auto reply = from_resp(resp_xread("k", {resp_entry("1-1", {"a", "1", "b", "2"}), resp_entry("2-0", {"c", ""})}));
    REQUIRE(detail::parse_xread(reply.get(), "k", out));
    REQUIRE(out.size() == 2);
    CHECK(out[0].id == EntryId{1, 1});
    CHECK(out[0].fields == std::vector<Field>{{"a", "1"}, {"b", "2"}});
    CHECK_FALSE(out[0].malformed);
    CHECK(out[1].fields == std::vector<Field>{{"c", ""}});
  }
  SECTION("nil: BLOCK timed out") {
    const auto reply = from_resp("*-1\r\n");
    REQUIRE(detail::parse_xread(reply.get(), "k", out));
    CHECK(out.empty());
  }
  SECTION("an entry whose fields are odd, empty, nil or not strings is kept, marked malformed") {
    const auto reply = from_resp(resp_xread("k", {resp_entry("1-0", {"a"}), "*2\r\n" + bulk("2-0") + "*0\r\n",
                                                  "*2\r\n" + bulk("3-0") + "*-1\r\n",
                                                  "*2\r\n" + bulk("4-0") + "*2\r\n" + bulk("a") + ":5\r\n",
                                                  resp_entry("5-0", {"ok", "yes"})}));
    REQUIRE(detail::parse_xread(reply.get(), "k", out));
    REQUIRE(out.size() == 5);
    for (int i = 0; i < 4; ++i) {
      CHECK(out[static_cast<std::size_t>(i)].malformed);
      CHECK(out[static_cast<std::size_t>(i)].fields.empty());
    }
    CHECK_FALSE(out[4].malformed);
  }
  SECTION("unusable replies") {
    for (const std::string& resp :
         {std::string("+OK\r\n"), std::string(":1\r\n"), std::string("*0\r\n"),
          resp_xread("other", {resp_entry("1-0", {"a", "b"})}),                       // another key
          resp_xread("k", {resp_entry("1-x", {"a", "b"})}),                           // an ID that does not parse
          resp_xread("k", {resp_entry("2-0", {"a", "b"}), resp_entry("1-0", {"a", "b"})}),  // IDs going back
          resp_xread("k", {resp_entry("1-0", {"a", "b"}), resp_entry("1-0", {"a", "b"})}),  // a repeated ID
          std::string("*1\r\n*2\r\n") + bulk("k") + ":3\r\n",                           // entries not an array
          std::string("*1\r\n*1\r\n") + bulk("k"),                                     // no entries
          resp_xread("k", {"*3\r\n" + bulk("1-0") + "*0\r\n" + bulk("x")}),            // an entry of 3
          std::string("*2\r\n*2\r\n") + bulk("k") + "*0\r\n*2\r\n" + bulk("k") + "*0\r\n"}) {  // two streams
      INFO(resp);
      out.clear();
      const auto reply = from_resp(resp);
      CHECK_FALSE(detail::parse_xread(reply.get(), "k", out));
    }
  }
}

TEST_CASE("XINFO STREAM replies: Redis 7's counters, or nothing", "[redis][reply]") {
  const auto info = [](const std::string& added) {
    std::string out = "*" + std::to_string(added.empty() ? 18 : 20) + "\r\n";
    out += bulk("length") + ":3\r\n" + bulk("radix-tree-keys") + ":1\r\n" + bulk("radix-tree-nodes") + ":2\r\n";
    out += bulk("last-generated-id") + bulk("9-0") + bulk("max-deleted-entry-id") + bulk("4-0");
    if (!added.empty()) out += bulk("entries-added") + added;
    out += bulk("recorded-first-entry-id") + bulk("5-0") + bulk("groups") + ":0\r\n";
    out += bulk("first-entry") + resp_entry("5-0", {"a", "b"}) + bulk("last-entry") + resp_entry("9-0", {"a", "b"});
    return out;
  };
  const auto good = from_resp(info(":7\r\n"));
  const auto s = detail::parse_xinfo(good.get());
  REQUIRE(s.has_value());
  CHECK(*s == detail::Snapshot{3, {9, 0}, {4, 0}, 7, {5, 0}});
  // Redis 6 has no entries-added: no snapshot rather than a guess.
  const auto old = from_resp(info(""));
  CHECK_FALSE(detail::parse_xinfo(old.get()).has_value());
  const auto wrong = from_resp(info(bulk("7")));
  CHECK_FALSE(detail::parse_xinfo(wrong.get()).has_value());
  const auto fewer = from_resp(info(":2\r\n"));  // length 3 > entries-added 2
  CHECK_FALSE(detail::parse_xinfo(fewer.get()).has_value());
  const auto error = from_resp("-ERR no such key\r\n");
  CHECK_FALSE(detail::parse_xinfo(error.get()).has_value());
  CHECK(detail::info_of(error.get()).key == memlog::redis::KeyStatus::missing);
  const auto wrong_type = from_resp("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  CHECK(detail::info_of(wrong_type.get()).key == memlog::redis::KeyStatus::wrong_type);
}

namespace {

// A model of one Redis stream: every entry ever added, with its add index,
// and the counters XINFO STREAM reports, kept as Redis keeps them.
class ModelStream {
 public:
  struct Item {
    EntryId id;
    bool present = true;
  };

  EntryId add() {
    const EntryId id{items_.size() + 1, 0};
    items_.push_back({id, true});
    return id;
  }

  // XDEL of the n-th present entry.
  void xdel(std::size_t n) {
    for (auto& item : items_) {
      if (item.present && n-- == 0) {
        item.present = false;
        max_deleted_ = std::max(max_deleted_, item.id);
        return;
      }
    }
  }

  // XTRIM: removes the `count` oldest present entries.
  void trim(std::size_t count) {
    for (auto& item : items_) {
      if (count == 0) break;
      if (item.present) {
        item.present = false;
        --count;
      }
    }
  }

  [[nodiscard]] std::size_t length() const {
    return static_cast<std::size_t>(std::count_if(items_.begin(), items_.end(), [](const Item& i) { return i.present; }));
  }

  // XREAD COUNT c after `after`.
  [[nodiscard]] std::vector<EntryId> read(const EntryId& after, std::size_t count) const {
    std::vector<EntryId> out;
    for (const auto& item : items_) {
      if (out.size() == count) break;
      if (item.present && after < item.id) out.push_back(item.id);
    }
    return out;
  }

  [[nodiscard]] detail::Snapshot snapshot() const {
    detail::Snapshot s;
    s.length = length();
    s.entries_added = items_.size();
    s.last_generated = items_.empty() ? EntryId{} : items_.back().id;
    s.max_deleted = max_deleted_;
    for (const auto& item : items_) {
      if (item.present) {
        s.first = item.id;
        break;
      }
    }
    return s;
  }

  // The add index of an ID (IDs are {index + 1, 0}).
  [[nodiscard]] static std::uint64_t index_of(const EntryId& id) { return id.ms - 1; }

 private:
  std::vector<Item> items_;
  EntryId max_deleted_;
};

}  // namespace

TEST_CASE("numbering model: offsets claimed exact are add indexes, under XDEL and trims racing the reads",
          "[redis][numbering]") {
  // A replica reads batches while XDELs, trims and adds happen before a
  // read and between the read and its snapshot (the pipelined XINFO). Every
  // offset written for an entry not counted unverified must be its add
  // index; the numbering never resets on a stream that was not replaced;
  // once the writer stops and the replica catches up, it is exact.
  const auto seed = GENERATE(range(1, 41));
  INFO("seed " << seed);
  std::mt19937_64 random(static_cast<std::uint64_t>(seed));
  const auto chance = [&](int percent) { return static_cast<int>(random() % 100) < percent; };
  ModelStream stream;
  for (int i = 0; i < 20; ++i) stream.add();
  // Some history before the replica starts: trims and head XDELs keep the
  // start exact (D < F); the start is the oldest entry.
  stream.trim(random() % 5);
  const auto start = stream.snapshot();
  detail::Cursor cursor{start.first.prev(), static_cast<Offset>(start.entries_added - start.length) - 1, true};
  std::uint64_t unverified = 0;
  std::uint64_t checked = 0;
  const auto perturb = [&] {
    if (chance(50)) {
      for (auto n = random() % 4; n-- > 0;) stream.add();
    }
    if (chance(10) && stream.length() > 0) stream.xdel(random() % stream.length());
    if (chance(10)) stream.trim(random() % 3);
  };
  const auto step = [&](bool quiet) {
    if (!quiet) perturb();
    const std::size_t count = 1 + random() % 6;
    const auto batch = stream.read(cursor.id, count);
    if (!quiet) perturb();  // between the read and its XINFO
    const auto snapshot = stream.snapshot();
    const detail::Plan plan = detail::plan_batch(cursor, batch, &snapshot);
    REQUIRE_FALSE(plan.reset);
    Offset offset = cursor.offset;
    for (std::size_t i = 0; i <= batch.size(); ++i) {
      if (i == plan.gap_at) offset += static_cast<Offset>(plan.gap);
      if (i == batch.size()) break;
      ++offset;
      const bool claimed = plan.unverified == batch.size() ? false : !(plan.unverified != 0 && i < plan.gap_at);
      if (claimed) {
        INFO("entry " << batch[i].to_string() << " offset " << offset);
        CHECK(offset == static_cast<Offset>(ModelStream::index_of(batch[i])));
        ++checked;
      }
    }
    unverified += plan.unverified;
    if (!batch.empty()) cursor.id = batch.back();
    cursor.offset = offset;
    cursor.exact = plan.exact;
    if (plan.exact && !batch.empty()) CHECK(cursor.offset == static_cast<Offset>(ModelStream::index_of(cursor.id)));
    if (plan.lag >= 0 && plan.exact) {
      CHECK(plan.lag == static_cast<std::int64_t>(snapshot.entries_added) - 1 - cursor.offset);
    }
  };
  for (int i = 0; i < 300; ++i) step(false);
  // The writer stops: the replica catches up. If the newest entries were
  // deleted, nothing may anchor it yet; the next entry added does.
  for (int i = 0; i < 200 && !stream.read(cursor.id, 1).empty(); ++i) step(true);
  stream.add();
  step(true);
  CHECK(cursor.exact);
  CHECK(cursor.offset == static_cast<Offset>(stream.snapshot().entries_added) - 1);
  CHECK(checked > 0);
}

TEST_CASE("numbering: the cases one by one", "[redis][numbering]") {
  using detail::Cursor;
  using detail::Plan;
  using detail::Snapshot;
  const std::vector<EntryId> batch = {{11, 0}, {12, 0}, {13, 0}};
  SECTION("nothing after the cursor deleted or trimmed: exact, no gap") {
    const Snapshot s{20, {30, 0}, {5, 0}, 30, {1, 0}};
    const Plan p = detail::plan_batch(Cursor{{10, 0}, 9, true}, batch, &s);
    CHECK((p.exact && p.gap == 0 && p.unverified == 0 && !p.reset && p.lag == 30 - 13));
  }
  SECTION("trimmed past the cursor: the oldest entry is an anchor, the hole a gap before the batch") {
    const Snapshot s{18, {30, 0}, {}, 30, {13, 0}};  // 11 and 12 trimmed after the read, 10 and one more before
    const Plan p = detail::plan_batch(Cursor{{9, 0}, 8, true}, std::vector<EntryId>{{11, 0}, {12, 0}, {13, 0}}, &s);
    CHECK((p.exact && p.gap == 1 && p.gap_at == 0 && p.unverified == 0));
  }
  SECTION("an XDEL after the cursor, the batch reaching the newest entry: the gap goes after the entries at or below D") {
    // Entries 11..14 were added (indexes 10..13), 12 deleted; the batch is 11, 13, 14.
    const Snapshot s{13, {14, 0}, {12, 0}, 14, {1, 0}};
    const Plan p = detail::plan_batch(Cursor{{10, 0}, 9, true}, std::vector<EntryId>{{11, 0}, {13, 0}, {14, 0}}, &s);
    CHECK((p.exact && p.gap == 1 && p.gap_at == 1 && p.unverified == 1 && p.lag == 0));
  }
  SECTION("an XDEL after the cursor with no anchor: dense and not exact") {
    const Snapshot s{20, {30, 0}, {12, 0}, 30, {1, 0}};
    const Plan p = detail::plan_batch(Cursor{{10, 0}, 9, true}, batch, &s);
    CHECK((!p.exact && p.gap == 0 && p.unverified == 3));
  }
  SECTION("no snapshot: not exact") {
    const Plan p = detail::plan_batch(Cursor{{10, 0}, 9, true}, batch, nullptr);
    CHECK((!p.exact && p.unverified == 3 && p.lag == -1));
  }
  SECTION("fewer entries added than read, or an older newest ID: another stream") {
    const Snapshot fewer{3, {13, 0}, {}, 5, {11, 0}};
    CHECK(detail::plan_batch(Cursor{{10, 0}, 9, true}, batch, &fewer).reset);
    const Snapshot older{1, {5, 0}, {}, 100, {5, 0}};
    CHECK(detail::plan_batch(Cursor{{10, 0}, 9, true}, {}, &older).reset);
  }
  SECTION("an anchor below the numbering: another stream") {
    const Snapshot s{11, {30, 0}, {}, 20, {11, 0}};  // says 11 has index 20 - 11 = 9, the cursor 10
    CHECK(detail::plan_batch(Cursor{{10, 0}, 9, true}, batch, &s).reset);
  }
  SECTION("an idle read after an inexact stretch: the cursor as anchor brings offsets back") {
    const Snapshot s{10, {13, 0}, {12, 0}, 16, {4, 0}};
    const Plan p = detail::plan_batch(Cursor{{13, 0}, 13, false}, {}, &s);
    CHECK((p.exact && p.gap == 2 && p.lag == 0));
  }
}

namespace {

using memlog::redis::Config;
using memlog::redis::KeyStatus;
using memlog::redis::Located;
using memlog::redis::Position;
using memlog::redis::Replica;
using memlog::redis::Source;
using memlog::redis::Start;
using memlog::redis::State;
using memlog_test::Client;
using memlog_test::RedisServer;

// The [server] cases need redis-server; without it they say so and pass.
#define MEMLOG_REQUIRE_REDIS_SERVER()                                                    \
  do {                                                                                   \
    if (!memlog_test::have_redis_server()) {                                             \
      WARN("redis-server not found (set MEMLOG_REDIS_SERVER): skipping this test case"); \
      return;                                                                            \
    }                                                                                    \
  } while (false)

Config config_for(const RedisServer& server, std::string key = "events") {
  Config config;
  config.port = server.port();
  config.key = std::move(key);
  config.block = 200ms;
  config.backoff_initial = 5ms;
  config.backoff_max = 100ms;
  config.seed = 15;
  return config;
}

// Entry n's fields, as the producers below write them.
std::vector<std::string> fields_of(std::uint64_t n) { return {"n", std::to_string(n), "data", std::string(n % 7, 'x') + "!"}; }

// Adds entries `first` .. `last` (IDs "<n>-0"), pipelined.
void produce(Client& client, const std::string& key, std::uint64_t first, std::uint64_t last) {
  constexpr std::uint64_t window = 500;
  for (std::uint64_t begin = first; begin <= last; begin += window) {
    const std::uint64_t end = std::min(last + 1, begin + window);
    for (std::uint64_t n = begin; n < end; ++n) {
      std::vector<std::string> args = {"XADD", key, std::to_string(n) + "-0"};
      const auto fields = fields_of(n);
      args.insert(args.end(), fields.begin(), fields.end());
      client.append(args);
    }
    for (std::uint64_t n = begin; n < end; ++n) {
      const auto reply = client.reply();
      REQUIRE(reply->type == REDIS_REPLY_STRING);
    }
  }
}

Entry expected_entry(std::uint64_t n) {
  Entry entry{{n, 0}, {}};
  const auto fields = fields_of(n);
  for (std::size_t i = 0; i < fields.size(); i += 2) entry.fields.push_back({fields[i], fields[i + 1]});
  return entry;
}

// Waits (a stream, no polling) until the log holds the entry with ID
// `id`; false when it did not come within `timeout` (a safety net).
bool wait_for_id(const memlog::Log<Entry>& log, const EntryId& id, std::chrono::milliseconds timeout = 20s) {
  std::stop_source stop;
  std::jthread timer([&](std::stop_token done) {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, done, timeout, [] { return false; }) && !done.stop_requested()) stop.request_stop();
  });
  const Offset from = memlog::redis::offset_of(log, id);
  auto stream = log.stream(from, stop.get_token(), {.reset = memlog::Reset::earliest});
  for (const auto& record : stream) {
    if (record.data.id >= id) return true;
  }
  return false;
}

// The source's state once it has written the entry with ID `id` (its state
// is updated right after the writes that wait_for_id sees).
State settled(const Source& source, const EntryId& id) {
  const auto state = source.wait_for([&](const State& s) { return id <= s.last.id; }, 20s);
  REQUIRE(state.has_value());
  return *state;
}

// Every retained record of a log, by offset.
std::map<Offset, Entry> retained(const memlog::Log<Entry>& log) {
  std::map<Offset, Entry> out;
  const auto range = log.range();
  for (Offset o = range.earliest; o >= 0 && o <= range.latest; ++o) {
    auto record = log.read(o);
    if (record) out.emplace(o, record->data);
  }
  return out;
}

}  // namespace

TEST_CASE("a replica holds 10,000 entries with their IDs, fields, and add indexes as offsets", "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  const Config config = config_for(server);
  // Started before the key exists: the first entry ever added gets offset 0.
  Replica replica(config, Start::beginning(), {.max_segment_size = 4096});
  CHECK(replica.located().position == Position{{}, -1});
  std::atomic<std::uint64_t> seen{0};
  std::jthread reader([&](std::stop_token stop) {
    auto stream = replica.log().stream(0, stop);
    std::uint64_t n = 0;
    for (const auto& record : stream) {
      ++n;
      if (record.metadata.offset != static_cast<Offset>(n - 1) || record.data != expected_entry(n)) break;
      seen.store(n);
      if (n == 10000) break;
    }
  });
  produce(client, "events", 1, 10000);
  REQUIRE(wait_for_id(replica.log(), {10000, 0}));
  reader.join();
  CHECK(seen.load() == 10000);
  const auto state = replica.source().wait_for([](const State& s) { return s.lag == 0; }, 10s);
  REQUIRE(state.has_value());
  CHECK(state->connected);
  CHECK(state->running);
  CHECK(state->exact);
  CHECK(state->key == KeyStatus::stream);
  CHECK(state->last == Position{{10000, 0}, 9999});
  CHECK(state->entries == 10000);
  CHECK(state->skipped == memlog::redis::Skipped{});
  CHECK(state->unverified == 0);
  CHECK(state->reconnects == 0);
  CHECK(state->bad_replies == 0);
  CHECK(replica.log().range() == memlog::OffsetRange{4096, 9999});
}

TEST_CASE("replicas started at different times and places agree on every retained record", "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  const Config config = config_for(server);
  produce(client, "events", 1, 3000);
  const memlog::Options options{.max_segment_size = 4096};
  Replica first(config, Start::beginning(), options);
  REQUIRE(wait_for_id(first.log(), {3000, 0}));  // before the trim: it holds every entry
  // Trimmed from the head (and a head entry deleted): the next replicas
  // start later in the stream, at the same offsets.
  CHECK(client.integer({"XTRIM", "events", "MAXLEN", "2000"}) == 1000);
  CHECK(client.integer({"XDEL", "events", "1001-0"}) == 1);
  Replica oldest(config, Start::beginning(), options);
  CHECK(oldest.located().position == Position{{1001, UINT64_MAX}, 1000});
  CHECK(oldest.located().exact);
  // In the middle: counted from there to the newest entry.
  Replica by_time(config, Start::at(std::chrono::system_clock::time_point(2500ms)), options);
  CHECK(by_time.located().position == Position{{2499, UINT64_MAX}, 2498});
  CHECK(by_time.located().exact);
  Replica by_id(config, Start::after(EntryId{1999, 0}), options);
  CHECK(by_id.located().position == Position{{1999, UINT64_MAX}, 1998});
  Replica by_checkpoint(config, Start::after(Position{{2999, 0}, 2998}), options);
  CHECK(by_checkpoint.located().position == Position{{2999, 0}, 2998});
  Replica at_end(config, Start::end(), options);
  CHECK(at_end.located().position == Position{{3000, 0}, 2999});
  produce(client, "events", 3001, 4000);

  const std::vector<Replica*> replicas = {&first, &oldest, &by_time, &by_id, &by_checkpoint, &at_end};
  std::map<Offset, Entry> reference;
  for (Replica* replica : replicas) {
    REQUIRE(wait_for_id(replica->log(), {4000, 0}));
    const auto records = retained(replica->log());
    REQUIRE_FALSE(records.empty());
    CHECK(records.rbegin()->first == 3999);
    for (const auto& [offset, entry] : records) {
      // Entry n is at offset n - 1 everywhere: its add index.
      CHECK(entry == expected_entry(static_cast<std::uint64_t>(offset) + 1));
    }
    const State state = settled(replica->source(), {4000, 0});
    CHECK(state.exact);
    CHECK(state.unverified == 0);
  }
  CHECK(first.log().range().earliest == 0);
  CHECK(oldest.log().range().earliest == 1001);
  CHECK(at_end.log().range().earliest == 3000);
}

TEST_CASE("an entry deleted before a replica read it is a gap at its add index, on every replica", "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  const Config config = config_for(server);
  produce(client, "events", 1, 100);
  Replica a(config, Start::beginning());
  REQUIRE(wait_for_id(a.log(), {100, 0}));
  // 101 and 102 added and 101 deleted at one instant: no replica sees 101.
  client.append({"MULTI"});
  client.append({"XADD", "events", "101-0", "n", "101"});
  client.append({"XADD", "events", "102-0", "n", "102"});
  client.append({"XDEL", "events", "101-0"});
  client.append({"EXEC"});
  for (int i = 0; i < 5; ++i) static_cast<void>(client.reply());
  REQUIRE(wait_for_id(a.log(), {102, 0}));
  const auto gap = a.log().read(100);
  REQUIRE(gap.has_value());
  CHECK(gap->data.gap());
  CHECK(gap->data.id == EntryId{100, 0});  // the ID of the record before it
  CHECK(a.log().read(101)->data.id == EntryId{102, 0});
  const auto state = settled(a.source(), {102, 0});
  CHECK(state.skipped.deleted == 1);
  CHECK(state.exact);
  CHECK(state.unverified == 0);
  // Resuming by ID skips the gap; by the deleted ID lands after it.
  CHECK(memlog::redis::offset_after(a.log(), {100, 0}) == 101);
  CHECK(memlog::redis::offset_of(a.log(), {101, 0}) == 101);
  // A replica that starts from a's checkpoint after the deletion starts its
  // log after the hole, with 102 at the same offset.
  Replica b(config, Start::after(Position{{100, 0}, 99}));
  CHECK(b.located().position == Position{{101, UINT64_MAX}, 100});
  CHECK(b.located().skipped == 1);
  REQUIRE(wait_for_id(b.log(), {102, 0}));
  CHECK(b.log().range() == memlog::OffsetRange{101, 101});
  CHECK(b.log().read(101)->data == a.log().read(101)->data);
}

TEST_CASE("a replica behind an XDEL numbers densely, then writes the gap once the newest entry anchors it",
          "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  Config config = config_for(server);
  config.batch = 1;  // one entry per read: a backlog behind the deletion
  produce(client, "events", 1, 3);
  Replica replica(config, Start::beginning());
  REQUIRE(wait_for_id(replica.log(), {3, 0}));
  // Entries 4..20 and the deletion of 10 at one instant.
  client.append({"MULTI"});
  for (int n = 4; n <= 20; ++n) client.append({"XADD", "events", std::to_string(n) + "-0", "n", std::to_string(n)});
  client.append({"XDEL", "events", "10-0"});
  client.append({"EXEC"});
  for (int i = 0; i < 17 + 3; ++i) static_cast<void>(client.reply());
  REQUIRE(wait_for_id(replica.log(), {20, 0}));
  const auto state = settled(replica.source(), {20, 0});
  CHECK(state.exact);
  CHECK(state.skipped.deleted == 1);
  // 4..9 and 11..19 were read with no anchor: dense, one below their index
  // from 11 on; 20 (the newest) anchored the gap before it.
  CHECK(state.unverified == 15);
  CHECK(state.last == Position{{20, 0}, 19});
  const auto gap = replica.log().read(18);
  REQUIRE(gap.has_value());
  CHECK(gap->data.gap());
  CHECK(replica.log().read(17)->data.id == EntryId{19, 0});
  // A replica started now numbers 20 the same.
  Replica later(config, Start::after(EntryId{19, 0}));
  CHECK(later.located().position.offset + 1 == 19);
}

TEST_CASE("redis-server restarted with its data while replicas run and a producer adds: no loss, no duplicate",
          "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;  // appendonly yes
  const Config config = config_for(server);
  constexpr std::uint64_t total = 3000;
  {
    Client client(server.port());
    produce(client, "events", 1, 500);
  }
  Replica a(config, Start::beginning(), {.max_segment_size = 8192});
  Replica b(config, Start::at(std::chrono::system_clock::time_point(250ms)), {.max_segment_size = 8192});
  // The producer adds one entry at a time and retries through the outage;
  // an XADD that was applied but whose reply was lost fails its retry on
  // the ID, which is then known to be there.
  std::atomic<std::uint64_t> produced{500};
  std::jthread producer([&](std::stop_token stop) {
    const detail::BlockSigpipe no_sigpipe;  // writes to the stopped server fail, not kill
    std::optional<Client> client;
    for (std::uint64_t n = 501; n <= total && !stop.stop_requested();) {
      try {
        if (!client) client.emplace(server.port());
        const auto reply = client->command({"XADD", "events", std::to_string(n) + "-0", "n", std::to_string(n),
                                            "data", std::string(n % 7, 'x') + "!"});
        if (reply->type == REDIS_REPLY_STRING || Client::text(reply).find("equal or smaller") != std::string::npos) {
          produced.store(n);
          ++n;
        } else if (reply->type == REDIS_REPLY_ERROR) {
          client.reset();  // LOADING: try again
        }
      } catch (const std::exception&) {
        client.reset();
      }
    }
  });
  // Both replicas follow before the outage (a replica whose first
  // connection came after it would count no reconnection), and both see it.
  REQUIRE(wait_for_id(a.log(), {1000, 0}));
  REQUIRE(wait_for_id(b.log(), {1000, 0}));
  server.stop();
  for (Replica* r : {&a, &b}) {
    REQUIRE(r->source().wait_for([](const State& s) { return !s.connected; }, 10s).has_value());
  }
  server.restart();
  producer.join();
  REQUIRE(produced.load() == total);
  for (Replica* r : {&a, &b}) {
    REQUIRE(wait_for_id(r->log(), {total, 0}));
    const auto records = retained(r->log());
    std::uint64_t n = r == &a ? 1 : 250;
    CHECK(records.begin()->first == static_cast<Offset>(n) - 1);
    for (const auto& [offset, entry] : records) {
      REQUIRE(offset == static_cast<Offset>(n) - 1);  // no loss, no duplicate, in order
      REQUIRE(entry == expected_entry(n));
      ++n;
    }
    CHECK(n == total + 1);
    const auto state = settled(r->source(), {total, 0});
    CHECK(state.reconnects >= 1);
    CHECK(state.exact);
    CHECK(state.running);
  }
}

TEST_CASE("an entry larger than max_record_size is a gap record with its own ID", "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  client.xadd("events", "1-0", {"a", "small"});
  client.xadd("events", "2-0", {"a", std::string(2000, 'x')});
  client.xadd("events", "3-0", {"a", "small"});
  Replica replica(config_for(server), Start::beginning(), {.max_record_size = 1000});
  REQUIRE(wait_for_id(replica.log(), {3, 0}));
  CHECK(replica.log().read(0)->data == Entry{{1, 0}, {{"a", "small"}}});
  CHECK(replica.log().read(1)->data == Entry{{2, 0}, {}});
  CHECK(replica.log().read(2)->data == Entry{{3, 0}, {{"a", "small"}}});
  const auto state = settled(replica.source(), {3, 0});
  CHECK(state.skipped.too_large == 1);
  CHECK(state.entries == 2);
  CHECK(state.exact);
}

TEST_CASE("after_write runs on the source's thread once a read's records are in the log, and a throw stops it",
          "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  SECTION("called after each read that wrote, with the records already there") {
    memlog_test::WriteHookCalls calls;
    memlog::Log<Entry> own;
    Config config = config_for(server);
    config.after_write = calls.callback([&own] { return own.next_offset(); });
    produce(client, "events", 1, 100);
    Source source(own, config, Position{});
    source.start();
    REQUIRE(wait_for_id(own, {100, 0}));
    produce(client, "events", 101, 150);
    REQUIRE(wait_for_id(own, {150, 0}));
    (void)settled(source, {150, 0});
    source.stop();
    calls.check(150);  // the last read's records were in the log
  }
  SECTION("a throwing after_write stops the source, after its records") {
    Config config = config_for(server);
    config.after_write = [] { throw std::runtime_error("no"); };
    produce(client, "events", 1, 3);
    Replica replica(config, Start::beginning());
    const auto stopped = replica.source().wait_for([](const State& s) { return !s.running; }, 10s);
    REQUIRE(stopped.has_value());
    CHECK(stopped->error == std::errc::state_not_recoverable);
    CHECK(replica.log().next_offset() == 3);
    // The state counts what the read wrote before the hook threw.
    CHECK(stopped->entries == 3);
    CHECK(stopped->last == Position{{3, 0}, 2});
  }
  SECTION("a hook that runs out of memory stops it with not_enough_memory") {
    Config config = config_for(server);
    config.after_write = [] { throw std::bad_alloc(); };
    produce(client, "events", 1, 3);
    Replica replica(config, Start::beginning());
    const auto stopped = replica.source().wait_for([](const State& s) { return !s.running; }, 10s);
    REQUIRE(stopped.has_value());
    CHECK(stopped->error == std::errc::not_enough_memory);
    CHECK(stopped->entries == 3);
  }
}

TEST_CASE("a deleted key: the source waits for it, and stops when it comes back as another stream",
          "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  produce(client, "events", 1, 10);
  Replica replica(config_for(server), Start::beginning());
  REQUIRE(wait_for_id(replica.log(), {10, 0}));
  CHECK(client.integer({"DEL", "events"}) == 1);
  REQUIRE(replica.source().wait_for([](const State& s) { return s.key == KeyStatus::missing; }, 10s).has_value());
  CHECK(replica.state().running);
  client.xadd("events", "11-0", {"n", "11"});  // a new stream: 1 entry added, not 11
  const auto ended = replica.source().wait_for([](const State& s) { return !s.running; }, 10s);
  REQUIRE(ended.has_value());
  CHECK(ended->error == memlog::redis::Errc::stream_reset);
  CHECK(replica.log().next_offset() == 10);  // nothing of the new stream written
}

TEST_CASE("a key replaced by another type is reported and retried, and the stream goes on once restored", "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  produce(client, "events", 1, 10);
  Replica replica(config_for(server), Start::beginning());
  REQUIRE(wait_for_id(replica.log(), {10, 0}));
  const auto dump = client.command({"DUMP", "events"});
  REQUIRE(dump->type == REDIS_REPLY_STRING);
  const std::string saved(dump->str, dump->len);
  CHECK(client.integer({"DEL", "events"}) == 1);
  CHECK(Client::text(client.command({"SET", "events", "a string"})) == "OK");
  REQUIRE(replica.source().wait_for([](const State& s) { return s.key == KeyStatus::wrong_type; }, 10s));
  const auto state = replica.state();
  CHECK(state.running);
  CHECK(state.error == memlog::redis::Errc::wrong_type);
  // The same stream back (a restore): the source carries on.
  CHECK(client.integer({"DEL", "events"}) == 1);
  CHECK(Client::text(client.command({"RESTORE", "events", "0", saved})) == "OK");
  produce(client, "events", 11, 20);
  REQUIRE(wait_for_id(replica.log(), {20, 0}));
  CHECK(replica.log().read(19)->data == expected_entry(20));
  const auto after = settled(replica.source(), {20, 0});
  CHECK(after.key == KeyStatus::stream);
  CHECK(after.exact);
}

TEST_CASE("stop is prompt: blocked in XREAD, waiting out a backoff, or with the server gone", "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Config config = config_for(server);
  config.block = 60s;  // a stop must not wait for the read's timeout
  config.backoff_initial = 30s;
  config.backoff_max = 60s;
  const auto timed_stop = [](Source& source) {
    const auto begin = std::chrono::steady_clock::now();
    source.stop();
    return std::chrono::steady_clock::now() - begin;
  };
  memlog::Log<Entry> log;
  SECTION("blocked in XREAD BLOCK") {
    Source source(log, config, Position{});
    source.start();
    REQUIRE(source.wait_for([](const State& s) { return s.connected; }, 10s));
    CHECK(timed_stop(source) < 2s);
    CHECK(source.state().error == memlog::Errc::cancelled);
    CHECK_FALSE(source.state().running);
  }
  SECTION("in a backoff after the server went away") {
    Source source(log, config, Position{});
    source.start();
    REQUIRE(source.wait_for([](const State& s) { return s.connected; }, 10s));
    server.stop();
    REQUIRE(source.wait_for([](const State& s) { return !s.connected && s.error; }, 10s));
    CHECK(timed_stop(source) < 2s);
  }
  SECTION("a stop token already requested: run() returns at once") {
    Source source(log, config, Position{});
    std::stop_source stop;
    stop.request_stop();
    CHECK(source.run(stop.get_token()) == memlog::Errc::cancelled);
  }
  SECTION("locate() while the server is down") {
    server.stop();
    std::stop_source stop;
    std::jthread stopper([&] {
      std::this_thread::sleep_for(100ms);  // let locate() reach its backoff
      stop.request_stop();
    });
    const auto begin = std::chrono::steady_clock::now();
    const auto located = memlog::redis::locate(config, Start::beginning(), stop.get_token());
    CHECK(located.error() == memlog::Errc::cancelled);
    CHECK(std::chrono::steady_clock::now() - begin < 2s);
  }
}

TEST_CASE("offset_of and offset_after find an ID in the retained records, as offset_at a time", "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  produce(client, "events", 1, 1000);
  Replica replica(config_for(server), Start::beginning(), {.max_segment_size = 100});
  REQUIRE(wait_for_id(replica.log(), {1000, 0}));
  const auto& log = replica.log();
  REQUIRE(log.range() == memlog::OffsetRange{800, 999});
  CHECK(memlog::redis::offset_of(log, {900, 0}) == 899);
  CHECK(memlog::redis::offset_after(log, {900, 0}) == 900);
  CHECK(memlog::redis::offset_of(log, {900, 1}) == 900);
  CHECK(memlog::redis::offset_of(log, {1, 0}) == 800);  // purged: the oldest retained
  CHECK(memlog::redis::offset_of(log, {5000, 0}) == 1000);
  CHECK(memlog::redis::offset_after(log, {1000, 0}) == 1000);
  memlog::Log<Entry> empty;
  CHECK(memlog::redis::offset_of(empty, {1, 0}) == 0);
}

TEST_CASE("a source refuses an invalid config and a log that does not continue its position", "[redis]") {
  memlog::Log<Entry> log;
  Config config;
  CHECK_THROWS_AS(Source(log, config, Position{}), std::invalid_argument);  // no key
  config.key = "k";
  CHECK_NOTHROW(Source(log, config, Position{}));
  CHECK_THROWS_AS(Source(log, config, Position{{5, 0}, 4}), std::invalid_argument);
  config.batch = 0;
  CHECK_THROWS_AS(Source(log, config, Position{}), std::invalid_argument);
  config.batch = 1;
  config.backoff_max = 1ms;
  config.backoff_initial = 2ms;
  CHECK_THROWS_AS(Source(log, config, Position{}), std::invalid_argument);
  memlog::Log<Entry> tiny({.max_record_size = 15});
  CHECK_THROWS_AS(Source(tiny, Config{.key = "k"}, Position{}), std::invalid_argument);
}

TEST_CASE("a started source reports running at once, before its thread has run", "[redis]") {
  // Regression: running was set by the thread, so a wait for "!running"
  // right after start() could return before the source had begun.
  memlog::Log<Entry> log;
  Config config;
  config.key = "k";
  config.port = memlog_test::free_port();  // nobody there: the source retries
  config.connect_timeout = 100ms;
  for (int i = 0; i < 50; ++i) {
    Source source(log, config, Position{});
    source.start();
    CHECK(source.state().running);
  }
}

TEST_CASE("replies of the wrong shape, or not RESP at all: counted, the connection made again, never a crash",
          "[redis]") {
  memlog::Log<Entry> log;
  Config config;
  config.key = "k";
  config.backoff_initial = 1ms;
  config.backoff_max = 5ms;
  config.seed = 15;
  SECTION("+OK to every command: bad replies") {
    memlog_test::FakeServer server("+OK\r\n+OK\r\n");
    config.port = server.port();
    Source source(log, config, Position{});
    source.start();
    const auto state = source.wait_for([](const State& s) { return s.bad_replies >= 3 && s.reconnects >= 2; }, 20s);
    REQUIRE(state.has_value());
    CHECK(state->running);
    CHECK(state->last == Position{});
    CHECK(log.next_offset() == 0);
    source.stop();
    CHECK(source.state().error == memlog::Errc::cancelled);
  }
  SECTION("bytes that are not RESP: a protocol error, the connection dropped") {
    memlog_test::FakeServer server("this is not redis\r\n");
    config.port = server.port();
    Source source(log, config, Position{});
    source.start();
    const auto state = source.wait_for(
        [](const State& s) { return s.reconnects >= 2 && s.error == memlog::redis::Errc::connection_failed; }, 20s);
    REQUIRE(state.has_value());
    CHECK_FALSE(state->message.empty());
    CHECK(log.next_offset() == 0);
  }
  SECTION("counters that claim a trillion missing entries: the source stops, it does not write them") {
    // XREAD gives one entry; XINFO says 10^12 were added before it.
    const std::string xread = "*1\r\n*2\r\n$1\r\nk\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n";
    const std::string xinfo =
        "*10\r\n$6\r\nlength\r\n:1\r\n$17\r\nlast-generated-id\r\n$3\r\n1-1\r\n$20\r\nmax-deleted-entry-id\r\n"
        "$3\r\n0-0\r\n$13\r\nentries-added\r\n:1000000000000\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n1-1\r\n";
    memlog_test::FakeServer server(xread + xinfo);
    config.port = server.port();
    config.key = "k";
    Source source(log, config, Position{});
    source.start();
    const auto state = source.wait_for([](const State& s) { return !s.running; }, 20s);
    REQUIRE(state.has_value());
    CHECK(state->error == memlog::redis::Errc::gap_too_large);
    CHECK(log.next_offset() == 0);
  }
  SECTION("locate() gives up on a reply it cannot use") {
    memlog_test::FakeServer server("+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
    config.port = server.port();
    const auto located = memlog::redis::locate(config, Start::beginning());
    CHECK(located.error() == memlog::redis::Errc::bad_reply);
  }
}

TEST_CASE("a source stopped and run again on its log resumes after its last entry, and entries trimmed meanwhile become gaps",
          "[redis][server]") {
  MEMLOG_REQUIRE_REDIS_SERVER();
  RedisServer server;
  Client client(server.port());
  const Config config = config_for(server);
  produce(client, "events", 1, 100);
  const auto located = memlog::redis::locate(config, Start::beginning());
  REQUIRE(located.has_value());
  memlog::Log<Entry> log({.start_offset = located->position.offset + 1});
  Position last;
  {
    Source source(log, config, *located);
    source.start();
    last = settled(source, {100, 0}).last;
  }
  SECTION("nothing trimmed: the next entries follow") {
    produce(client, "events", 101, 200);
    Source again(log, config, last);
    again.start();
    const State state = settled(again, {200, 0});
    CHECK(state.skipped.deleted == 0);
    CHECK(state.exact);
    for (Offset o = 0; o < 200; ++o) CHECK(log.read(o)->data == expected_entry(static_cast<std::uint64_t>(o) + 1));
  }
  SECTION("trimmed past the replica while it was stopped: gaps keep the offsets") {
    for (std::uint64_t n = 101; n <= 200; ++n) {
      client.command({"XADD", "events", "MAXLEN", "10", std::to_string(n) + "-0", "n", std::to_string(n), "data",
                      std::string(n % 7, 'x') + "!"});
    }
    Source again(log, config, last);
    again.start();
    const State state = settled(again, {200, 0});
    CHECK(state.skipped.deleted == 90);  // 101..190
    CHECK(state.exact);
    CHECK(state.unverified == 0);
    for (Offset o = 100; o < 190; ++o) CHECK(log.read(o)->data == Entry{{100, 0}, {}});
    for (Offset o = 190; o < 200; ++o) CHECK(log.read(o)->data == expected_entry(static_cast<std::uint64_t>(o) + 1));
  }
}
