#pragma once
// <memlog/redis.hpp>: a memlog::Log as a read replica of a Redis Streams key.
// CMake target memlog::redis (memlog plus hiredis >= 0.14, found with
// pkg-config); needs Redis >= 7 on the server side (XINFO STREAM's
// entries-added and max-deleted-entry-id). Includes <hiredis/hiredis.h>,
// which brings its own REDIS_* macros and <sys/time.h>.
//
//   memlog::redis::Config config{.host = "127.0.0.1", .port = 6379, .key = "events"};
//   memlog::redis::Replica replica(config, memlog::redis::Start::beginning(), {.max_age = 10min});
//   auto stream = replica.log().stream(memlog::redis::offset_after(replica.log(), last_seen_id), stop);
//   for (const auto& record : stream) if (!record.data.gap()) send(record.data);
//
// Topology: Redis holds the stream durably; each replica process follows it
// with one connection (XREAD BLOCK after the last ID it wrote), keeps the
// recent part in a Log<Entry> and serves its own readers from memory. Redis
// sees one plain reader per replica: no consumer group, nothing written, so
// a replica may also follow a read-only Redis replica.
//
// The record: Entry {id, fields} (detail/redis_entry.hpp), a struct rather
// than the entry's bytes, so that a reader gets the ID and the fields
// without a parser; its RecordSize (16 bytes of ID plus the fields' bytes)
// makes max_record_size and max_segment_bytes apply. The Source writes into
// a Log<Entry> that the user owns (and so chooses its Options, and reads it
// through every Log API); Replica bundles the two for the common case.
//
// Offsets: a record's offset is its entry's add index, the number of
// entries added to the key before it, so that an offset means the same
// entry on every replica, after a replica restarts, and to Redis itself
// (entries-added - 1 is the newest). Redis 7 keeps the counters that allow
// it (see detail/redis_numbering.hpp for the reasoning):
//   - Trimming (XTRIM, XADD MAXLEN/MINID) never breaks it, and neither does
//     XDEL of entries before the replica's position: offsets stay exact.
//   - An entry deleted (XDEL) or trimmed before a replica read it leaves a
//     hole in the add indexes. When the replica can place the hole (Redis
//     tells the index of the newest entry, and of the oldest while no XDEL
//     hit the entries retained), it writes a gap record there (an Entry with
//     no fields), so that every later offset stays equal. Another replica
//     that had read the entry before the XDEL holds it at the same offset.
//   - When it cannot yet (a backlog behind an XDEL newer than the
//     position), it numbers densely, reports `exact = false` and counts the
//     entries as `unverified`, and writes the gap as soon as an anchor
//     comes (at the latest when it reads the newest entry, or, if that was
//     deleted, the next one added). Only
//     the entries read in between may carry an offset that differs from
//     another replica's; where they sit among the deleted ones is something
//     Redis does not record.
//   - A key deleted and created again, or replaced from an older copy, is
//     another stream; when its counters contradict what was written (fewer
//     entries added than read, an older newest ID, an anchor below the
//     numbering) the source stops with Errc::stream_reset and writes
//     nothing more: a replica never renumbers. A new stream that happens to
//     have more entries than the old one cannot be told from the old one
//     trimmed past the replica (Redis keeps no stream identity).
//   - XSETID (which may rewrite the counters) is not supported.
// Whatever the offsets, each record keeps its entry ID, and offset_of() /
// offset_after() find it on any replica in O(log n) reads: resuming by ID is
// always exact. Gap records carry the ID of the record before them (or,
// for a skipped entry, its own), so IDs never decrease along a log.
//
// Where to start (locate()): Start::beginning() (the oldest entry Redis
// retains), end() (only entries added from now on), at(time) (the first
// entry whose ID's milliseconds are at or after the time; a future time
// acts as end()), after(id) (after a checkpoint ID), after(Position) (after
// a checkpoint whose offset is known, e.g. State::last: the log continues
// with offset + 1). locate() returns the position to create the log from
// (Options::start_offset = position.offset + 1). The add index of the
// oldest and the newest entries is known at once; a start in between is
// counted by reading the entries from there to the newest once (chunked
// XRANGE: a start deep in a long stream costs one extra pass over it). If
// an XDEL hit the entries after the start, the entries up to
// max-deleted-entry-id are numbered as if their holes came first, reported
// as not exact, and the rest is exact.
//
// Faults: the source reconnects with bounded, jittered exponential backoff
// (Config::backoff_initial .. backoff_max) and resumes with XREAD after the
// last ID it wrote: no loss, no duplicate, no reordering, across a Redis
// restart that kept its data (AOF or RDB). It never gives up on its own
// except when continuing would be wrong:
//   - connection refused or lost, an error reply (LOADING after a restart,
//     NOAUTH...): retry with backoff; State::connected, error, message.
//   - the key missing (deleted, or not created yet): wait for it; XREAD
//     BLOCK returns when it is created. State::key = missing.
//   - the key holding another type: retry with backoff, State::key =
//     wrong_type; it may become a stream again.
//   - an entry larger than max_record_size, or whose fields are not
//     name/value strings: written as a gap record with its ID and counted
//     (State::skipped), so offsets stay equal.
//   - a reply of the wrong shape: counted (State::bad_replies); for XREAD
//     the connection is dropped and the read retried, for XINFO the batch is
//     written as not verified.
//   - fatal, run() returns: the key holds another stream (stream_reset);
//     the counters call for more gap records than Config::max_gap
//     (gap_too_large);
//     something else wrote to the log (log_mismatch); the log was closed
//     (memlog::Errc::closed); the log is full (offset_overflow).
// Stopping: a stop request interrupts the blocked XREAD at once (the socket
// is shut down); a backoff wait returns at once; only a connect in progress
// may take up to Config::connect_timeout. The source only ever calls
// Log::write, so it never blocks the log's readers.
// SIGPIPE: hiredis writes with write(2); the source's thread (and locate())
// block SIGPIPE while they run, so that a write to a server that went away
// fails the command instead of killing the process. The process's own
// signal handling is left as it is.
//
// Several keys: one Source (and one Log) per key; each key has its own add
// indexes.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "detail/redis_connection.hpp"
#include "detail/redis_entry.hpp"
#include "detail/redis_errors.hpp"
#include "detail/redis_numbering.hpp"
#include "detail/redis_reply.hpp"
#include "detail/thread_annotations.hpp"
#include "errors.hpp"
#include "log.hpp"
#include "options.hpp"
#include "record.hpp"
#include "result.hpp"

namespace memlog::redis {

struct Config {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string key{};         // the stream key (required)
  std::string user{};        // AUTH user (Redis 6 ACL), with password
  std::string password{};    // empty: no AUTH
  int db = 0;                // SELECT, when not 0
  std::size_t batch = 1000;  // XREAD COUNT: entries per read at most
  // XREAD BLOCK: how long one read waits for new entries. Not a stop
  // latency (a stop interrupts the read); how often an idle source checks
  // the key and the lag.
  std::chrono::milliseconds block{1000};
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds backoff_initial{50};
  std::chrono::milliseconds backoff_max{5000};
  std::uint64_t seed = 0;  // the backoff jitter's seed; 0: random
  // > 0: the most gap records one read may call for (entries deleted or
  // trimmed before the replica read them). A wider gap stops the source
  // with Errc::gap_too_large rather than write them all: counters that
  // claim a trillion missing entries come from a broken server, not a trim.
  std::uint64_t max_gap = std::uint64_t{1} << 24;
  // Called on the source's thread after each read that wrote records (gap
  // records too), right after the writes and before the next read, which
  // it delays: keep it short. For work that should follow a write at once
  // on the same thread, without waking another (the HTTP example runs a few
  // ready handlers of its io_context here, so that the first clients of a
  // record get it without waiting for an I/O thread to wake). It must not
  // call the source's stop() or run(); if it throws, the source stops with
  // std::errc::state_not_recoverable (std::bad_alloc: not_enough_memory) as
  // state().error, the batch's records written and counted.
  std::function<void()> after_write{};
};

// A checkpoint: the last entry written and its offset (the log's next
// offset is offset + 1). Before anything is written, the ID right before the
// first entry to write and the offset right before its own.
struct Position {
  EntryId id{};
  Offset offset = -1;
  friend bool operator==(const Position&, const Position&) = default;
};

class Start {
 public:
  enum class Kind { beginning, end, at, after_id, after_position };

  [[nodiscard]] static Start beginning() noexcept { return Start(Kind::beginning, {}, -1); }
  [[nodiscard]] static Start end() noexcept { return Start(Kind::end, {}, -1); }
  [[nodiscard]] static Start at(std::chrono::system_clock::time_point time) noexcept {
    return Start(Kind::at, EntryId::at(time), -1);
  }
  [[nodiscard]] static Start after(EntryId id) noexcept { return Start(Kind::after_id, id, -1); }
  [[nodiscard]] static Start after(Position position) noexcept {
    return Start(Kind::after_position, position.id, position.offset);
  }

  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] EntryId id() const noexcept { return id_; }
  [[nodiscard]] Offset offset() const noexcept { return offset_; }

 private:
  Start(Kind kind, EntryId id, Offset offset) noexcept : kind_(kind), id_(id), offset_(offset) {}
  Kind kind_;
  EntryId id_;
  Offset offset_;
};

// Where locate() put a start.
struct Located {
  Position position{};        // create the log with start_offset = position.offset + 1
  bool exact = true;          // false: the first entries' offsets may differ (an XDEL after the start)
  std::uint64_t skipped = 0;  // after(Position): entries after the checkpoint that are gone (trimmed, deleted)
};

enum class KeyStatus { unknown, stream, missing, wrong_type };

// Entries the replica does not hold, each written as a gap record.
struct Skipped {
  std::uint64_t deleted = 0;    // deleted (XDEL) or trimmed before the replica read them
  std::uint64_t too_large = 0;  // larger than the log's max_record_size
  std::uint64_t malformed = 0;  // fields not name/value strings
  friend bool operator==(const Skipped&, const Skipped&) = default;
};

// A source's state: a snapshot (Source::state()).
struct State {
  bool running = false;    // run() is following (or start() was called and its thread has not ended)
  bool connected = false;
  KeyStatus key = KeyStatus::unknown;
  Position last{};         // the last record written (gaps too): restart from here
  bool exact = true;       // offsets equal add indexes from `last` on
  std::int64_t lag = -1;   // entries added after `last`, per the last XINFO; -1 unknown
  std::uint64_t entries = 0;     // entries written (gaps not counted)
  Skipped skipped{};
  std::uint64_t unverified = 0;  // entries written with an offset that may differ from their add index
  std::uint64_t reconnects = 0;  // connections made after the first
  std::uint64_t bad_replies = 0;
  std::error_code error{};  // the last error, cleared by the next good read; once !running, why run() ended
  std::string message{};   // more about it (Redis's error text, hiredis's)
};

namespace detail {

inline void validate(const Config& config) {
  const auto fail = [](const char* what) { throw std::invalid_argument(std::string("memlog::redis: ") + what); };
  if (config.key.empty()) fail("Config::key must not be empty");
  if (config.port <= 0 || config.port > 65535) fail("Config::port must be in 1..65535");
  if (config.batch == 0) fail("Config::batch must be greater than 0");
  if (config.max_gap == 0) fail("Config::max_gap must be greater than 0");
  if (config.block < std::chrono::milliseconds(1)) fail("Config::block must be at least 1 ms");
  if (config.connect_timeout < std::chrono::milliseconds(1)) fail("Config::connect_timeout must be at least 1 ms");
  if (config.backoff_initial < std::chrono::milliseconds(1)) fail("Config::backoff_initial must be at least 1 ms");
  if (config.backoff_max < config.backoff_initial) fail("Config::backoff_max must not be below backoff_initial");
}

[[nodiscard]] inline Endpoint endpoint_of(const Config& config) {
  // A read waits up to `block` for XREAD, then for the reply to travel.
  return Endpoint{config.host,         config.port, config.user, config.password, config.db, config.connect_timeout,
                  config.block + config.connect_timeout + std::chrono::milliseconds(1000)};
}

// What an error reply about the key means.
[[nodiscard]] inline bool wrong_type(std::string_view error) noexcept { return starts_with(error, "WRONGTYPE"); }
[[nodiscard]] inline bool no_such_key(std::string_view error) noexcept {
  return starts_with(error, "ERR no such key");
}

// The outcome of XINFO STREAM: a snapshot, or why there is none.
struct Info {
  std::optional<Snapshot> snapshot;
  KeyStatus key = KeyStatus::unknown;
  bool bad = false;  // a reply of the wrong shape
  std::string error;
};

[[nodiscard]] inline Info info_of(const redisReply* reply) {
  Info info;
  if (const auto error = error_of(reply)) {
    info.error = std::string(*error);
    if (no_such_key(*error)) info.key = KeyStatus::missing;
    if (wrong_type(*error)) info.key = KeyStatus::wrong_type;
    return info;
  }
  info.snapshot = parse_xinfo(reply);
  if (info.snapshot) {
    info.key = KeyStatus::stream;
  } else {
    info.bad = true;
  }
  return info;
}

// First retained offset whose record's ID is not `before` (IDs never
// decrease along the log); O(log n) zero-copy reads. A record purged during
// the search is older than every retained one, so counts as before.
template <class Before>
[[nodiscard]] Offset search(const Log<Entry>& log, Before before) {
  const OffsetRange range = log.range();
  if (range.earliest < 0) return log.next_offset();
  Offset low = range.earliest;
  Offset high = range.latest + 1;
  while (low < high) {
    const Offset middle = low + (high - low) / 2;
    const auto id = log.read(middle, [](const auto& record) { return record.data.id; });
    if (!id || before(*id)) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

}  // namespace detail

// The first retained offset whose entry ID is at or after `id`
// (range().latest + 1 when none): where a reader that wants `id` itself
// resumes. On any replica: IDs are the same everywhere.
[[nodiscard]] inline Offset offset_of(const Log<Entry>& log, const EntryId& id) {
  return detail::search(log, [&](const EntryId& x) { return x < id; });
}

// The first retained offset whose entry ID is after `id`: where a reader
// whose last record was `id` (an SSE Last-Event-ID) resumes.
[[nodiscard]] inline Offset offset_after(const Log<Entry>& log, const EntryId& id) {
  return detail::search(log, [&](const EntryId& x) { return x <= id; });
}

namespace detail {

// MULTI, the commands, EXEC: their replies, taken at one instant. An error
// is a connection's (retry) or a bad or refused transaction.
class Transaction {
 public:
  explicit Transaction(Link& link) : link_(link) {}

  [[nodiscard]] std::error_code run(std::initializer_list<std::initializer_list<std::string_view>> commands,
                                    std::string& message) {
    if (!link_.append({"MULTI"})) return Errc::connection_failed;
    for (const auto& command : commands) {
      if (!link_.append(command)) return Errc::connection_failed;
    }
    if (!link_.append({"EXEC"})) return Errc::connection_failed;
    std::error_code error;
    std::error_code refused;
    for (std::size_t i = 0; i < commands.size() + 1; ++i) {  // +OK, then +QUEUED each
      const Reply reply = link_.receive(error, message);
      if (error) return error;
      if (const auto text = error_of(reply.get()); text && !refused) {
        message = std::string(*text);
        refused = Errc::server_error;
      }
    }
    exec_ = link_.receive(error, message);
    if (error) return error;
    if (refused) return refused;
    if (const auto text = error_of(exec_.get())) {
      message = std::string(*text);
      return Errc::server_error;
    }
    if (exec_->type != REDIS_REPLY_ARRAY || exec_->elements != commands.size()) {
      message = "unexpected EXEC reply";
      return Errc::bad_reply;
    }
    return {};
  }

  [[nodiscard]] const redisReply* reply(std::size_t i) const noexcept { return exec_->element[i]; }

 private:
  Link& link_;
  Reply exec_;
};

// One attempt at locate(), on an open link.
class Locator {
 public:
  Locator(Link& link, const Config& config) : link_(link), config_(config) {}

  [[nodiscard]] Result<Located> locate(const Start& start, std::string& message) {
    if (start.kind() == Start::Kind::end) {
      const std::string id = "+";
      return first_from(id, message).and_then([](const First& first) -> Result<Located> {
        return end_of(first.snapshot);
      });
    }
    EntryId from;
    switch (start.kind()) {
      case Start::Kind::beginning: break;
      case Start::Kind::at: from = start.id(); break;
      case Start::Kind::after_id:
      case Start::Kind::after_position: from = start.id().next(); break;
      case Start::Kind::end: break;
    }
    auto first = first_from(from.to_string(), message);
    if (!first) return first.error();
    const Snapshot& s = first->snapshot;
    if (start.kind() == Start::Kind::after_position) {
      const Position checkpoint{start.id(), start.offset()};
      if (s.entries_added < static_cast<std::uint64_t>(checkpoint.offset + 1) || s.last_generated < checkpoint.id) {
        message = "the stream has fewer entries than the checkpoint";
        return make_error_code(Errc::stream_reset);
      }
      // Nothing after the checkpoint was deleted or trimmed: it holds.
      if (s.max_deleted <= checkpoint.id && (s.length == 0 ? s.last_generated <= checkpoint.id
                                                            : s.first <= checkpoint.id)) {
        return Located{checkpoint, true, 0};
      }
    }
    Result<Located> located = first->entry ? at_entry(*first->entry, s, message) : end_of(s);
    if (located && start.kind() == Start::Kind::after_position) {
      if (located->position.offset < start.offset()) {
        message = "the stream's counters are below the checkpoint";
        return make_error_code(Errc::stream_reset);
      }
      located->skipped = static_cast<std::uint64_t>(located->position.offset - start.offset());
    }
    return located;
  }

 private:
  struct First {
    Snapshot snapshot;
    std::optional<EntryId> entry;  // the first entry at or after the start
  };

  // Counting reads this many entries per command.
  static constexpr std::size_t chunk = 10000;

  // XINFO STREAM and the first entry at or after `from` ("+": none), at one instant.
  [[nodiscard]] Result<First> first_from(const std::string& from, std::string& message) {
    Transaction t(link_);
    if (const auto error =
            t.run({{"XINFO", "STREAM", config_.key}, {"XRANGE", config_.key, from, "+", "COUNT", "1"}}, message)) {
      return error;
    }
    First first;
    const Info info = info_of(t.reply(0));
    if (info.key == KeyStatus::missing) return first;  // a stream yet to come: 0 entries added
    if (info.key == KeyStatus::wrong_type) {
      message = info.error;
      return make_error_code(Errc::wrong_type);
    }
    if (!info.snapshot) {
      message = info.error.empty() ? "unexpected XINFO STREAM reply (Redis >= 7 needed)" : info.error;
      return make_error_code(info.error.empty() ? Errc::bad_reply : Errc::server_error);
    }
    first.snapshot = *info.snapshot;
    std::vector<RawEntry> entries;
    if (!parse_entries(t.reply(1), entries)) {
      message = "unexpected XRANGE reply";
      return make_error_code(Errc::bad_reply);
    }
    if (!entries.empty() && from != "+") first.entry = entries.front().id;
    return first;
  }

  // After the newest entry: the next one added gets index A.
  [[nodiscard]] static Result<Located> end_of(const Snapshot& s) {
    return Located{Position{s.last_generated, static_cast<Offset>(s.entries_added) - 1}, true, 0};
  }

  // Right before `entry`: its index from an anchor, or counted.
  [[nodiscard]] Result<Located> at_entry(const EntryId& entry, const Snapshot& s, std::string& message) {
    if (const auto index = redis_numbering::anchor(s, entry)) {
      return Located{Position{entry.prev(), static_cast<Offset>(*index) - 1}, true, 0};
    }
    return count_from(entry, message);
  }

  // Counts the entries from `entry` to the newest, chunk by chunk; the
  // last chunk and its snapshot are taken at one instant, where the newest
  // entry (G) has index A - 1 and, with no XDEL at or above `entry`, the
  // counted ones are contiguous. If the start was trimmed meanwhile, starts
  // over from the new oldest entry.
  [[nodiscard]] Result<Located> count_from(EntryId entry, std::string& message) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::uint64_t count = 0;
      EntryId last;
      std::string cursor = entry.to_string();
      while (true) {
        if (link_.stop_token().stop_requested()) return memlog::Errc::cancelled;
        Transaction t(link_);
        const std::string limit = std::to_string(chunk);
        if (const auto error = t.run(
                {{"XRANGE", config_.key, cursor, "+", "COUNT", limit}, {"XINFO", "STREAM", config_.key}}, message)) {
          return error;
        }
        std::vector<RawEntry> entries;
        const Info info = info_of(t.reply(1));
        if (!parse_entries(t.reply(0), entries) || !info.snapshot) {
          message = "unexpected reply while counting";
          return make_error_code(info.key == KeyStatus::wrong_type ? Errc::wrong_type : Errc::bad_reply);
        }
        count += entries.size();
        if (!entries.empty()) last = entries.back().id;
        if (entries.size() == chunk) {
          cursor = "(" + last.to_string();
          continue;
        }
        const Snapshot& s = *info.snapshot;
        // Nothing at or after the start is left: start at the end.
        if (count == 0 || s.length == 0) return end_of(s);
        if (entry < s.first) {
          // The start was trimmed while counting: from the oldest entry now.
          if (const auto index = redis_numbering::anchor(s, s.first)) {
            return Located{Position{s.first.prev(), static_cast<Offset>(*index) - 1}, true, 0};
          }
          entry = s.first;
          break;
        }
        if (count > s.entries_added) {
          message = "more entries than added";
          return make_error_code(Errc::bad_reply);
        }
        const bool exact = s.max_deleted < entry && s.last_generated == last;
        return Located{Position{entry.prev(), static_cast<Offset>(s.entries_added - count) - 1}, exact, 0};
      }
    }
    message = "the start kept being trimmed while counting";
    return make_error_code(Errc::stream_reset);
  }

  Link& link_;
  const Config& config_;
};

// Whether locate() or the source should try again after `error`.
[[nodiscard]] inline bool retryable(const std::error_code& error) noexcept {
  return error == Errc::connection_failed || error == Errc::server_error;
}

}  // namespace detail

// Resolves `start` against the stream: the position to create the log from
// and to hand to the Source. Connects (and retries connection failures and
// error replies such as LOADING, with backoff) until it succeeds or `stop`
// is requested (memlog::Errc::cancelled). Other errors: wrong_type,
// bad_reply (not Redis >= 7?), stream_reset (after(Position) on a stream
// with fewer entries than the checkpoint). Throws std::invalid_argument for
// an invalid config.
[[nodiscard]] inline Result<Located> locate(const Config& config, const Start& start, std::stop_token stop = {}) {
  detail::validate(config);
  const detail::BlockSigpipe no_sigpipe;
  detail::Link link(std::move(stop));
  detail::Backoff backoff(config.backoff_initial, config.backoff_max, config.seed);
  const detail::Endpoint endpoint = detail::endpoint_of(config);
  std::string message;
  while (true) {
    std::error_code error = link.open(endpoint, message);
    if (!error) {
      detail::Locator locator(link, config);
      Result<Located> located = locator.locate(start, message);
      if (located) return located;
      error = located.error();
    }
    if (link.stop_token().stop_requested()) return memlog::Errc::cancelled;
    if (!detail::retryable(error)) return error;
    link.close();
    if (!detail::sleep_for(backoff.next(), link.stop_token())) return memlog::Errc::cancelled;
  }
}

// Follows a stream key into a Log<Entry>: see the top of this file.
//
// Thread safety: state() and wait_for() from any thread; start(), stop()
// and the destructor from the owner's. run() follows on the calling thread
// (one run() at a time); start() runs it on a thread of its own, which
// stop() (and the destructor) stops and joins. The log must outlive the
// source, and nothing else may write to it.
class Source {
 public:
  // Follows from `from` (a Located's position, or a State::last to carry on
  // a log this or another source wrote); `exact`: whether from.offset is the
  // add index. Throws std::invalid_argument for an invalid config, a log
  // whose next offset is not from.offset + 1, or a max_record_size below an
  // entry's ID (16 bytes).
  Source(Log<Entry>& log, Config config, Position from, bool exact = true)
      : log_(log), config_(std::move(config)), cursor_{from.id, from.offset, exact} {
    detail::validate(config_);
    if (log_.next_offset() != from.offset + 1) {
      throw std::invalid_argument("memlog::redis: the log's next offset must be the start position's offset + 1");
    }
    if (log_.options().max_record_size < entry_id_size) {
      throw std::invalid_argument("memlog::redis: max_record_size must be at least 16 (an entry ID)");
    }
    state_.last = from;
    state_.exact = exact;
  }

  Source(Log<Entry>& log, Config config, const Located& from)
      : Source(log, std::move(config), from.position, from.exact) {}

  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  ~Source() { stop(); }

  // Runs run() on a thread of its own. Throws std::logic_error if it runs.
  // state().running is true from here on, until the thread ends.
  void start() {
    if (thread_.joinable()) throw std::logic_error("memlog::redis: Source already started");
    begin_running();
    thread_ = std::jthread([this](std::stop_token stop) { static_cast<void>(finish_running(follow(std::move(stop)))); });
  }

  // Stops the thread start() began and waits for it. Idempotent.
  void stop() noexcept {
    if (thread_.joinable()) {
      thread_.request_stop();
      thread_.join();
    }
  }

  // Follows the key on the calling thread until `stop` is requested
  // (returns memlog::Errc::cancelled) or it must not go on (stream_reset,
  // log_mismatch, memlog::Errc::closed, offset_overflow). Another run()
  // after it returned carries on from where it stopped. Throws
  // std::logic_error when a run() is already running.
  std::error_code run(std::stop_token stop) {
    begin_running();
    return finish_running(follow(std::move(stop)));
  }

  // A snapshot of the state.
  [[nodiscard]] State state() const {
    memlog::detail::MutexLock lock(mu_);
    return state_;
  }

  // Waits until pred(state) holds (checked at once and after every change)
  // or `timeout` passes: the state that satisfied it, or nullopt.
  template <class Pred>
  [[nodiscard]] std::optional<State> wait_for(Pred pred, std::chrono::milliseconds timeout) const {
    memlog::detail::MutexLock lock(mu_);
    if (!changed_.wait_for(lock.native(), timeout, [&]() MEMLOG_NO_THREAD_SAFETY_ANALYSIS { return pred(state_); })) {
      return std::nullopt;
    }
    return state_;
  }

  [[nodiscard]] const Config& config() const noexcept { return config_; }

 private:
  void begin_running() {
    {
      memlog::detail::MutexLock lock(mu_);
      if (state_.running) throw std::logic_error("memlog::redis: the source is already running");
      state_.running = true;
    }
    changed_.notify_all();
  }

  std::error_code finish_running(std::error_code end) {
    {
      memlog::detail::MutexLock lock(mu_);
      state_.running = false;
      state_.connected = false;
      state_.error = end;
      if (end == memlog::Errc::cancelled) state_.message.clear();
    }
    changed_.notify_all();
    return end;
  }

  // The follow loop; returns why it ended.
  std::error_code follow(std::stop_token stop) {
    const detail::BlockSigpipe no_sigpipe;
    detail::Link link(std::move(stop));
    detail::Backoff backoff(config_.backoff_initial, config_.backoff_max, config_.seed);
    const detail::Endpoint endpoint = detail::endpoint_of(config_);
    if (log_.next_offset() != cursor_.offset + 1) return Errc::log_mismatch;
    const std::string count = std::to_string(config_.batch);
    const std::string block = std::to_string(config_.block.count());
    std::vector<detail::RawEntry> batch;
    std::vector<EntryId> ids;
    std::string message;
    while (true) {
      if (link.stop_token().stop_requested()) return memlog::Errc::cancelled;
      if (!link.is_open()) {
        const std::error_code error = link.open(endpoint, message);
        if (error == memlog::Errc::cancelled) return error;
        if (error) {
          if (!pause(error, message, backoff, link)) return memlog::Errc::cancelled;
          continue;
        }
        update([&](State& s) {
          if (connected_before_) ++s.reconnects;
          s.connected = true;
        });
        connected_before_ = true;
      }

      // XREAD after the cursor, and XINFO right after it (pipelined: one
      // round trip; the snapshot is taken after the read).
      const std::string after = cursor_.id.to_string();
      if (!link.append({"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", config_.key, after}) ||
          !link.append({"XINFO", "STREAM", config_.key})) {
        link.close();
        continue;
      }
      std::error_code error;
      const detail::Reply read = link.receive(error, message);
      detail::Reply info_reply;
      if (!error) info_reply = link.receive(error, message);
      if (error == memlog::Errc::cancelled) return error;
      if (error) {
        if (!pause(error, message, backoff, link)) return memlog::Errc::cancelled;
        continue;
      }

      if (const auto text = detail::error_of(read.get())) {
        const bool wrong = detail::wrong_type(*text);
        if (!pause(wrong ? Errc::wrong_type : Errc::server_error, std::string(*text), backoff, link,
                   wrong ? KeyStatus::wrong_type : KeyStatus::unknown)) {
          return memlog::Errc::cancelled;
        }
        continue;
      }
      batch.clear();
      if (!detail::parse_xread(read.get(), config_.key, batch)) {
        update([](State& s) { ++s.bad_replies; });
        link.close();
        if (!pause(Errc::bad_reply, "unexpected XREAD reply", backoff, link)) return memlog::Errc::cancelled;
        continue;
      }
      const detail::Info info = detail::info_of(info_reply.get());

      ids.clear();
      for (const auto& entry : batch) ids.push_back(entry.id);
      const detail::Plan plan = detail::plan_batch(cursor_, ids, info.snapshot ? &*info.snapshot : nullptr);
      if (plan.reset) return Errc::stream_reset;
      if (plan.gap > config_.max_gap) return Errc::gap_too_large;
      Tally tally;
      const Offset written_before = cursor_.offset;
      if (const std::error_code failed = write(batch, plan, tally, link.stop_token())) return failed;
      cursor_.exact = plan.exact;
      backoff.reset();
      update([&](State& s) {
        s.connected = true;
        s.key = info.key == KeyStatus::unknown ? (batch.empty() ? s.key : KeyStatus::stream) : info.key;
        s.last = Position{cursor_.id, cursor_.offset};
        s.exact = cursor_.exact;
        if (plan.lag >= 0) s.lag = plan.lag;
        s.entries += tally.entries;
        s.skipped.deleted += plan.gap;
        s.skipped.too_large += tally.too_large;
        s.skipped.malformed += tally.malformed;
        s.unverified += plan.unverified;
        if (info.bad) ++s.bad_replies;
        if (info.key == KeyStatus::wrong_type) {
          s.error = Errc::wrong_type;
          s.message = info.error;
        } else {
          s.error.clear();
          s.message.clear();
        }
      });
      // After the state counts the batch: a throw stops the source, and the
      // records it wrote stay counted.
      if (cursor_.offset != written_before && config_.after_write) {
        try {
          config_.after_write();
        } catch (const std::bad_alloc&) {
          return std::make_error_code(std::errc::not_enough_memory);
        } catch (...) {
          return std::make_error_code(std::errc::state_not_recoverable);
        }
      }
    }
  }

  struct Tally {
    std::uint64_t entries = 0;
    std::uint64_t too_large = 0;
    std::uint64_t malformed = 0;
  };

  // Writes the batch as the plan says; moves the cursor along.
  [[nodiscard]] std::error_code write(std::vector<detail::RawEntry>& batch, const detail::Plan& plan, Tally& tally,
                                      const std::stop_token& stop) {
    for (std::size_t i = 0; i <= batch.size(); ++i) {
      if (i == plan.gap_at && plan.gap != 0) {
        // A wide gap (a replica trimmed past) takes a while: a stop ends it,
        // and the cursor, no longer exact, lets the next run's plan finish it.
        cursor_.exact = false;
        for (std::uint64_t g = 0; g < plan.gap; ++g) {
          if (g % 4096 == 4095 && stop.stop_requested()) return memlog::Errc::cancelled;
          if (const std::error_code error = put(Entry{cursor_.id, {}})) return error;
        }
      }
      if (i == batch.size()) break;
      detail::RawEntry& raw = batch[i];
      Entry entry{raw.id, std::move(raw.fields)};
      if (raw.malformed) {
        entry.fields.clear();
        ++tally.malformed;
      } else if (entry_size(entry) > log_.options().max_record_size) {
        entry.fields.clear();
        ++tally.too_large;
      } else {
        ++tally.entries;
      }
      const EntryId id = entry.id;
      if (const std::error_code error = put(std::move(entry))) return error;
      cursor_.id = id;
    }
    return {};
  }

  [[nodiscard]] std::error_code put(Entry&& entry) {
    const Result<Offset> offset = log_.write(std::move(entry));
    if (!offset) return offset.error();
    if (*offset != cursor_.offset + 1) return Errc::log_mismatch;
    cursor_.offset = *offset;
    return {};
  }

  // Records a failure and waits the next backoff; false when stopped.
  bool pause(std::error_code error, std::string message, detail::Backoff& backoff, const detail::Link& link,
             KeyStatus key = KeyStatus::unknown) {
    const bool connected = link.is_open();
    update([&](State& s) {
      s.connected = connected;
      if (key != KeyStatus::unknown) s.key = key;
      s.error = error;
      s.message = std::move(message);
    });
    return detail::sleep_for(backoff.next(), link.stop_token());
  }

  template <class F>
  void update(F&& change) {
    {
      memlog::detail::MutexLock lock(mu_);
      change(state_);
    }
    changed_.notify_all();
  }

  Log<Entry>& log_;
  const Config config_;
  // Only the running follow() touches these.
  detail::Cursor cursor_;
  bool connected_before_ = false;

  mutable memlog::detail::Mutex mu_;
  mutable std::condition_variable changed_;
  State state_ MEMLOG_GUARDED_BY(mu_);
  std::jthread thread_;  // last: stopped and joined before the rest goes
};

// A log and the source that fills it, located and started in one step.
// Throws memlog::Error when locate() fails (memlog::Errc::cancelled when
// `stop` is requested first), std::invalid_argument for invalid options.
class Replica {
 public:
  Replica(Config config, const Start& start, Options options = {}, std::stop_token stop = {})
      : located_(locate(config, start, std::move(stop)).value()),
        log_(with_start(std::move(options), located_)),
        source_(log_, std::move(config), located_) {
    source_.start();
  }

  [[nodiscard]] Log<Entry>& log() noexcept { return log_; }
  [[nodiscard]] const Log<Entry>& log() const noexcept { return log_; }
  [[nodiscard]] Source& source() noexcept { return source_; }
  [[nodiscard]] const Source& source() const noexcept { return source_; }
  [[nodiscard]] State state() const { return source_.state(); }
  [[nodiscard]] const Located& located() const noexcept { return located_; }

 private:
  [[nodiscard]] static Options with_start(Options options, const Located& located) {
    options.start_offset = located.position.offset + 1;
    return options;
  }

  Located located_;
  Log<Entry> log_;
  Source source_;  // last: stopped before the log goes
};

}  // namespace memlog::redis
