// Invariant stress test: writers, streams and random readers on one log with
// a tiny segment (constant purging), each checking exact invariants on every
// record it sees. Runs for MEMLOG_STRESS_SECONDS (default 3) split over its
// three test cases; MEMLOG_STRESS_SEED replays a run's random choices.
//
// Every record's data encodes (writer, seq) and a checksum of both. Writers
// publish offset -> (writer, seq) into a lock-free table as soon as write()
// returns, so a reader can check that the data at an offset is exactly what
// was written there. What is checked:
//   - data is intact (checksum) and at the offset it was read from;
//   - the data at an offset is what its writer wrote there (table);
//   - streams: offsets strictly consecutive until out_of_range, and per
//     writer the sequence goes up by exactly one (no loss, no duplicate, no
//     reordering); out_of_range only for a position that really is purged;
//   - read_batch: consecutive records, per writer seq + 1, same rules;
//   - read: future_offset only past a latest seen earlier, out_of_range only
//     below an earliest seen later;
//   - range(): earliest <= latest, neither ever goes back, latest - earliest
//     + 1 between min(segment, written) and 2 * segment, earliest on a
//     segment boundary;
//   - after the writers stop: every retained record reads back and matches
//     the table, the streams drain to the end, a blocked stream is cancelled.
// The close mode runs rounds, each on a fresh log that the main thread closes
// at a random moment while everything runs (and perhaps closes again):
//   - every write succeeded (and is in the table) or returned Errc::closed;
//     once a writer was refused, each of its later writes is refused too;
//     the successful writes number next_offset() - start;
//   - no write that began after close() returned succeeds;
//   - every stream (one polling, one blocked in next(), one range-for: none
//     is ever cancelled) delivers every record it was not purged past, in
//     order, and ends by itself with Errc::closed exactly at next_offset()
//     (or out_of_range and starts over, as in the other modes); one that does
//     not end (parked in next(), never woken) is reported after a time limit;
//   - reads, read_batch, range and a fresh stream keep working after close,
//     and the final checks above hold.
// Failures are collected from the threads and asserted on the main thread
// (Catch2 assertions are not thread-safe).

#include <memlog/memlog.hpp>

#include "support/catch.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using memlog::Errc;
using memlog::Offset;
using Log = memlog::Log<std::string>;
using Record = memlog::Record<std::string>;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t writer_count = 3;
constexpr std::size_t segment = 64;

double stress_seconds() {
  if (const char* env = std::getenv("MEMLOG_STRESS_SECONDS")) {
    const double s = std::strtod(env, nullptr);
    if (s > 0) return s;
  }
  return 3.0;
}

std::uint64_t stress_seed() {
  if (const char* env = std::getenv("MEMLOG_STRESS_SEED")) return std::strtoull(env, nullptr, 0);
  return (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Record data: writer (4 bytes), seq (8), checksum (8), then filler derived
// from the checksum. 40 bytes: beyond the small-string buffer, so every
// record owns heap memory for the sanitizers to watch.
constexpr std::size_t data_size = 40;

struct Payload {
  std::uint32_t writer = 0;
  std::uint64_t seq = 0;
};

std::string encode(std::uint32_t writer, std::uint64_t seq) {
  const std::uint64_t check = mix(seq * 8 + writer);
  std::string s(data_size, static_cast<char>(check & 0xff));
  std::memcpy(s.data(), &writer, sizeof writer);
  std::memcpy(s.data() + 4, &seq, sizeof seq);
  std::memcpy(s.data() + 12, &check, sizeof check);
  return s;
}

std::optional<Payload> decode(std::string_view s) {
  if (s.size() != data_size) return std::nullopt;
  Payload p;
  std::uint64_t check = 0;
  std::memcpy(&p.writer, s.data(), sizeof p.writer);
  std::memcpy(&p.seq, s.data() + 4, sizeof p.seq);
  std::memcpy(&check, s.data() + 12, sizeof check);
  if (p.writer >= writer_count || check != mix(p.seq * 8 + p.writer)) return std::nullopt;
  for (std::size_t i = 20; i < data_size; ++i) {
    if (s[i] != static_cast<char>(check & 0xff)) return std::nullopt;
  }
  return p;
}

// offset -> (writer, seq), published by writers, read by everyone. A ring of
// 2^20 slots, each one atomic word: tag (which lap of the ring, 22 bits),
// writer (2 bits), seq (40 bits). A slot whose tag is not the offset's lap is
// not published yet (or already reused): the check is skipped and counted.
class Ledger {
 public:
  static constexpr unsigned slot_bits = 20;

  explicit Ledger(Offset start) : start_(start), slots_(std::make_unique<std::atomic<std::uint64_t>[]>(size)) {
    for (std::size_t i = 0; i < size; ++i) slots_[i].store(empty, std::memory_order_relaxed);
  }

  void publish(Offset offset, std::uint32_t writer, std::uint64_t seq) {
    const auto rel = static_cast<std::uint64_t>(offset - start_);
    // release: pairs with the acquire in lookup().
    slots_[rel & mask].store(pack(rel, writer, seq), std::memory_order_release);
  }

  // The (writer, seq) written at `offset`, if published and not overwritten.
  [[nodiscard]] std::optional<Payload> lookup(Offset offset) const {
    const auto rel = static_cast<std::uint64_t>(offset - start_);
    const std::uint64_t v = slots_[rel & mask].load(std::memory_order_acquire);
    if (v == empty || (v >> 42) != ((rel >> slot_bits) & tag_mask)) return std::nullopt;
    return Payload{static_cast<std::uint32_t>((v >> 40) & 3), v & ((std::uint64_t{1} << 40) - 1)};
  }

 private:
  static constexpr std::size_t size = std::size_t{1} << slot_bits;
  static constexpr std::uint64_t mask = size - 1;
  static constexpr std::uint64_t tag_mask = (std::uint64_t{1} << 22) - 1;
  static constexpr std::uint64_t empty = ~std::uint64_t{0};

  static std::uint64_t pack(std::uint64_t rel, std::uint32_t writer, std::uint64_t seq) {
    return (((rel >> slot_bits) & tag_mask) << 42) | (std::uint64_t{writer} << 40) | (seq & ((std::uint64_t{1} << 40) - 1));
  }

  Offset start_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
};

// The first failures seen by any thread, asserted by the main thread.
class Failures {
 public:
  void add(const std::string& what) {
    if (count_.fetch_add(1) < 20) {
      const std::lock_guard lock(mu_);
      messages_.push_back(what);
    }
  }
  [[nodiscard]] bool any() const { return count_.load() > 0; }
  [[nodiscard]] std::size_t count() const { return count_.load(); }
  [[nodiscard]] std::string report() const {
    const std::lock_guard lock(mu_);
    std::string out;
    for (const auto& m : messages_) out += m + "\n";
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> messages_;
  std::atomic<std::size_t> count_{0};
};

#define STRESS_CHECK(cond, msg)                                            \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::ostringstream stress_os_;                                       \
      stress_os_ << __LINE__ << ": " #cond " -- " << msg; /* NOLINT */     \
      shared.failures.add(stress_os_.str());                               \
    }                                                                      \
  } while (false)

// Counts per thread, summed at the end.
struct alignas(64) Counts {  // one per thread: no false sharing
  std::uint64_t checked = 0;     // records whose content was checked
  std::uint64_t ledgered = 0;    // ... and matched against the writer's ledger
  std::uint64_t unledgered = 0;  // ... whose ledger slot was not published yet
  std::uint64_t restarts = 0;    // streams that fell behind and started over
  std::uint64_t ops = 0;         // reader operations
  std::uint64_t closed = 0;      // streams that ended with Errc::closed
  Counts& operator+=(const Counts& o) {
    checked += o.checked;
    ledgered += o.ledgered;
    unledgered += o.unledgered;
    restarts += o.restarts;
    ops += o.ops;
    closed += o.closed;
    return *this;
  }
};

// What one writer did.
struct Writes {
  std::uint64_t written = 0;  // writes that succeeded (the next record's seq)
  std::uint64_t refused = 0;  // writes refused with Errc::closed
  std::uint64_t late = 0;     // writes that began after close() returned and succeeded: must be 0
};

// In the close mode: when the main thread closes the log (from the moment the
// threads start), and whether it calls close() again (idempotent).
struct CloseAt {
  enum class Again { no, at_once, after_writers };
  Clock::duration at{};
  Again again = Again::no;
};

// A writer in the close mode goes on after its first refusal, this many
// writes, to check that each of them is refused too.
constexpr std::uint64_t refusals_checked = 64;

// In the close mode every stream must end by itself after close(); one still
// running this long after the writers stopped is reported (it would otherwise
// hang the test) and cancelled.
constexpr auto streams_end_within = std::chrono::seconds(30);

// Threads that have finished, so that the main thread can wait for them with
// a time limit (std::thread::join has none).
class Finished {
 public:
  void arrive() {
    {
      const std::lock_guard lock(mu_);
      ++count_;
    }
    cv_.notify_all();
  }
  [[nodiscard]] bool wait_for(int n, Clock::duration limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

struct Shared {
  Offset start = 0;
  Log log;
  Ledger ledger;
  Failures failures;
  std::atomic<bool> writing{true};
  bool closing = false;  // the close mode; set before the threads start
  std::atomic<bool> close_returned{false};  // set as soon as close() has returned
  std::atomic<Offset> end{-1};  // the next offset once the writers have stopped
  // Where each stream is, so that writers can let them keep up for a while.
  std::array<std::atomic<Offset>, 3> stream_at{};
  Clock::time_point began = Clock::now();

  explicit Shared(memlog::Options o) : start(o.start_offset), log(std::move(o)), ledger(start) {}
};

// Checks one record read at `offset` (an owned Record, or the zero-copy
// read's RecordView); returns its payload if it is intact.
template <class R>
std::optional<Payload> check_record(Shared& shared, const R& r, Offset offset, Counts& counts) {
  ++counts.checked;
  STRESS_CHECK(r.metadata.offset == offset, "read " << offset << ", got a record at " << r.metadata.offset);
  STRESS_CHECK(r.metadata.created != std::chrono::system_clock::time_point{}, "no timestamp at " << offset);
  const auto p = decode(r.data);
  STRESS_CHECK(p.has_value(), "corrupt data at offset " << offset);
  if (!p) return std::nullopt;
  if (const auto written = shared.ledger.lookup(offset)) {
    ++counts.ledgered;
    STRESS_CHECK(written->writer == p->writer && written->seq == p->seq,
                 "offset " << offset << " holds (" << p->writer << ", " << p->seq << "), writer wrote ("
                           << written->writer << ", " << written->seq << ")");
  } else {
    ++counts.unledgered;
  }
  return p;
}

// Checks a range() snapshot against the previous one seen by the same thread.
void check_range(Shared& shared, const memlog::OffsetRange& r, memlog::OffsetRange& last) {
  const auto seg = static_cast<Offset>(segment);
  if (r == memlog::OffsetRange{}) {
    STRESS_CHECK(last == memlog::OffsetRange{}, "range went back to empty");
    return;
  }
  STRESS_CHECK(r.earliest <= r.latest, "range {" << r.earliest << ", " << r.latest << "}");
  STRESS_CHECK(r.earliest >= shared.start, "earliest " << r.earliest << " before the start");
  STRESS_CHECK((r.earliest - shared.start) % seg == 0, "earliest " << r.earliest << " not on a segment boundary");
  const Offset held = r.latest - r.earliest + 1;
  STRESS_CHECK(held <= 2 * seg, "range holds " << held << " records");
  STRESS_CHECK(held >= std::min(seg, r.latest - shared.start + 1), "range holds only " << held << " records");
  STRESS_CHECK(r.latest >= last.latest, "latest went back from " << last.latest << " to " << r.latest);
  STRESS_CHECK(r.earliest >= last.earliest, "earliest went back from " << last.earliest << " to " << r.earliest);
  last = r;
}

// Per-writer sequence tracking over consecutive offsets: each writer's next
// record must carry exactly the next seq.
struct SeqTrack {
  std::array<std::int64_t, writer_count> last{};
  SeqTrack() { last.fill(-1); }
  void check(Shared& shared, const Payload& p, Offset offset, const char* who) {
    const auto seq = static_cast<std::int64_t>(p.seq);
    STRESS_CHECK(last[p.writer] < 0 || seq == last[p.writer] + 1,
                 who << ": writer " << p.writer << " seq " << last[p.writer] << " then " << seq << " at offset "
                     << offset);
    last[p.writer] = seq;
  }
};

// Calm phases (every other 100 ms): writers wait for the streams. Otherwise
// they run flat out, and streams that fall behind get out_of_range.
bool calm(const Shared& shared) {
  return (std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - shared.began).count() / 100) % 2 == 0;
}

// How far the slowest stream is behind `latest`.
Offset behind(const Shared& shared, Offset latest) {
  Offset slowest = latest;
  for (const auto& at : shared.stream_at) slowest = std::min(slowest, at.load(std::memory_order_relaxed));
  return latest - slowest;
}

void writer(Shared& shared, std::uint32_t id, Clock::time_point deadline, std::latch& go, Writes& out) {
  go.arrive_and_wait();
  Offset last = -1;
  std::uint64_t seq = 0;  // writes that succeeded so far
  for (std::uint64_t attempt = 0; !shared.failures.any(); ++attempt) {
    if (shared.closing) {
      // No deadline: the main thread closes the log.
      if (out.refused >= refusals_checked) break;
    } else if (attempt % 32 == 0 && Clock::now() >= deadline) {
      break;
    }
    if (calm(shared)) {
      // Let the slowest stream come within half a segment, for a while, so
      // that streams also read long unbroken runs, not only restarts.
      for (int i = 0; i < 200 && behind(shared, last) > static_cast<Offset>(segment / 2); ++i) {
        std::this_thread::yield();
      }
    }
    // acquire: pairs with the release store after close() returned: if it
    // reads true, this write begins after close() returned.
    const bool after_close = shared.close_returned.load(std::memory_order_acquire);
    const auto offset = shared.log.write(encode(id, seq));
    if (!offset) {
      if (shared.closing && offset.error() == Errc::closed) {
        ++out.refused;
        continue;
      }
      STRESS_CHECK(offset.has_value(), "write failed: " << offset.error().message());
      break;
    }
    STRESS_CHECK(out.refused == 0, "writer " << id << " wrote at " << *offset << " after " << out.refused
                                              << " writes refused with closed");
    if (after_close) ++out.late;
    STRESS_CHECK(!after_close, "writer " << id << " began a write after close() returned and wrote at " << *offset);
    STRESS_CHECK(*offset > last, "writer " << id << " got offset " << *offset << " after " << last);
    shared.ledger.publish(*offset, id, seq);
    last = *offset;
    ++seq;
  }
  out.written = seq;
}

// Streams 0 and 1 poll with next_for and must drain to the end; stream 2 is a
// range-for over a blocking stream that the main thread cancels at the end.
// In the close mode nothing is cancelled: each stream ends by itself with
// Errc::closed, and stream 1 blocks in next() (no deadline), so that only
// close() can wake it while it waits for its future start or at the end.
void streamer(Shared& shared, int id, std::stop_token stop, std::latch& go, Counts& counts) {
  const auto name = "stream " + std::to_string(id);
  // Stream 1 starts in the future: it waits for the writers to get there.
  const Offset first = shared.start + (id == 1 ? 1000 : 0);
  auto stream = shared.log.stream(first, stop);
  SeqTrack seqs;
  Offset expect = first;
  std::atomic<Offset>& at = shared.stream_at[static_cast<std::size_t>(id)];
  at.store(first, std::memory_order_relaxed);
  go.arrive_and_wait();

  const auto restart = [&](std::error_code error) {
    STRESS_CHECK(error == Errc::out_of_range, name << " ended: " << error.message());
    if (error != Errc::out_of_range) return false;
    // out_of_range means purged: earliest has moved past the position for good.
    const memlog::OffsetRange now = shared.log.range();
    STRESS_CHECK(now.earliest > stream.position(),
                 name << " out_of_range at " << stream.position() << ", earliest " << now.earliest);
    STRESS_CHECK(stream.error() == Errc::out_of_range, name << " error() after out_of_range");
    const auto again = stream.next_for(std::chrono::seconds(0));
    STRESS_CHECK(again.error() == Errc::out_of_range, name << " did not stay ended");
    ++counts.restarts;
    expect = now.earliest;
    at.store(expect, std::memory_order_relaxed);
    stream = shared.log.stream(expect, stop);
    seqs = SeqTrack{};
    return true;
  };

  // Ended with closed: no write succeeds any more, so next_offset() is final,
  // and the stream must have delivered every record up to it (or never got
  // to its future start).
  const auto ended_closed = [&] {
    ++counts.closed;
    STRESS_CHECK(shared.closing, name << " ended with closed on a log never closed");
    STRESS_CHECK(shared.log.closed(), name << " ended with closed, but closed() is false");
    const Offset end = shared.log.next_offset();
    STRESS_CHECK(stream.position() == std::max(end, first),
                 name << " ended with closed at " << stream.position() << ", next_offset " << end);
    STRESS_CHECK(stream.position() == expect, name << " position " << stream.position() << ", expected " << expect);
    STRESS_CHECK(stream.error() == Errc::closed, name << " error() after closed: " << stream.error().message());
    STRESS_CHECK(stream.next().error() == Errc::closed, name << " did not stay ended");
  };

  if (id == 2) {
    while (true) {
      for (const Record& r : stream) {
        if (const auto p = check_record(shared, r, expect, counts)) seqs.check(shared, *p, expect, name.c_str());
        at.store(++expect, std::memory_order_relaxed);
      }
      if (stream.error() == Errc::cancelled) break;
      if (shared.closing && stream.error() == Errc::closed) {
        ended_closed();
        return;
      }
      if (!restart(stream.error())) break;
    }
    STRESS_CHECK(stream.next().error() == Errc::cancelled, name << ": next() after cancel");
    return;
  }

  const bool blocking = shared.closing && id == 1;
  while (true) {
    const Offset end = shared.end.load();
    if (!shared.closing && end >= 0 && stream.position() >= end) break;
    const auto r = blocking ? stream.next() : stream.next_for(std::chrono::milliseconds(20));
    if (r) {
      if (const auto p = check_record(shared, *r, expect, counts)) seqs.check(shared, *p, expect, name.c_str());
      at.store(++expect, std::memory_order_relaxed);
      STRESS_CHECK(stream.position() == expect, name << " position " << stream.position() << ", expected " << expect);
    } else if (r.error() == Errc::timed_out) {
      STRESS_CHECK(!stream.error(), name << ": timed_out ended the stream");
    } else if (r.error() == Errc::cancelled) {
      break;  // only on failure: the main thread cancels everything
    } else if (shared.closing && r.error() == Errc::closed) {
      ended_closed();
      return;
    } else if (!restart(r.error())) {
      break;
    }
  }
  if (shared.closing) {
    STRESS_CHECK(shared.failures.any(), name << " stopped without ending with closed");
    return;
  }
  const Offset end = shared.end.load();
  // At the end, unless it never got to its (future) start offset.
  STRESS_CHECK(shared.failures.any() || stream.position() == end || (counts.checked == 0 && stream.position() > end),
               name << " stopped at " << stream.position() << ", end " << end);
}

void reader(Shared& shared, std::uint64_t seed, std::latch& go, Counts& counts) {
  std::mt19937_64 rng(seed);
  memlog::OffsetRange last{};
  std::vector<Record> batch(32);
  go.arrive_and_wait();
  while (shared.writing.load() && !shared.failures.any()) {
    // Readers that never yield would starve the streams on a small machine.
    if (++counts.ops % 4 == 0) std::this_thread::yield();
    const memlog::OffsetRange snap = shared.log.range();
    check_range(shared, snap, last);
    if (snap == memlog::OffsetRange{}) {
      std::this_thread::yield();
      continue;
    }
    std::uniform_int_distribution<Offset> pick(std::max(snap.earliest - 8, Offset{0}), snap.latest + 8);
    const Offset at = pick(rng);
    switch (rng() % 3) {
      case 0: {
        const auto r = shared.log.read(at);
        if (r) {
          check_record(shared, *r, at, counts);
        } else if (r.error() == Errc::future_offset) {
          STRESS_CHECK(at > snap.latest, "future_offset at " << at << " after latest " << snap.latest);
        } else {
          STRESS_CHECK(r.error() == Errc::out_of_range, "read: " << r.error().message());
          STRESS_CHECK(shared.log.range().earliest > at, "out_of_range at " << at << " not purged");
        }
        break;
      }
      case 1: {
        const std::size_t n = 1 + rng() % batch.size();
        const auto res = shared.log.read_batch(at, std::span<Record>(batch.data(), n));
        STRESS_CHECK(res.count <= n, "read_batch count " << res.count);
        SeqTrack seqs;
        for (std::size_t i = 0; i < res.count && i < n; ++i) {
          const Offset o = at + static_cast<Offset>(i);
          if (const auto p = check_record(shared, batch[i], o, counts)) seqs.check(shared, *p, o, "read_batch");
        }
        if (res.count == n) {
          STRESS_CHECK(!res.error, "full batch with error " << res.error.message());
        } else if (res.error == Errc::future_offset) {
          STRESS_CHECK(at + static_cast<Offset>(res.count) > snap.latest,
                       "batch at " << at << " stopped at " << res.count << " before latest " << snap.latest);
        } else {
          STRESS_CHECK(res.error == Errc::out_of_range && res.count == 0,
                       "read_batch {" << res.count << ", " << res.error.message() << "}");
          STRESS_CHECK(shared.log.range().earliest > at, "batch out_of_range at " << at << " not purged");
        }
        break;
      }
      default: {  // zero-copy read: check the stored record in place
        const std::error_code ec =
            shared.log.read(at, [&](const Log::view_type& r) { check_record(shared, r, at, counts); }).error();
        if (ec) {
          STRESS_CHECK(ec == Errc::future_offset || ec == Errc::out_of_range, "visit: " << ec.message());
          if (ec == Errc::future_offset) STRESS_CHECK(at > snap.latest, "visit: future_offset at " << at);
        }
        break;
      }
    }
  }
}

// What one run did, for the summaries.
struct RunSummary {
  std::uint64_t total = 0;    // writes that succeeded
  std::uint64_t refused = 0;  // writes refused with Errc::closed
  Counts sum;                 // every thread's counts and the final checks'
  std::uint64_t streamed = 0;  // records checked by the streams
  std::size_t waiting_at_close = 0;  // streams in next() just before close() (a snapshot)
  double elapsed = 0;
};

// One run on a fresh log. Without `close`: the writers stop after `seconds`,
// the streams drain to the end and stream 2 is cancelled; prints a summary.
// With `close`: the main thread closes the log at close->at, the writers stop
// once refused, and every stream ends by itself; the caller sums up.
RunSummary run_stress(std::chrono::nanoseconds spin, double seconds, std::uint64_t seed,
                      const std::optional<CloseAt>& close) {
  std::mt19937_64 rng(seed);
  const auto start = static_cast<Offset>(rng() % 1'000'000);

  Shared shared({.start_offset = start, .max_segment_size = segment, .stream_spin = spin});
  shared.closing = close.has_value();
  for (auto& at : shared.stream_at) at = start;
  std::array<std::stop_source, 3> stops;
  std::array<Writes, writer_count> writes{};
  std::array<Counts, 3> stream_counts{};
  std::array<Counts, 2> reader_counts{};
  Finished streams_finished;
  std::latch go(writer_count + stops.size() + reader_counts.size() + 1);
  RunSummary result;

  const auto began = Clock::now();
  shared.began = began;
  const auto deadline = began + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> writers, streams, readers;
  for (std::uint32_t w = 0; w < writer_count; ++w) {
    writers.emplace_back(writer, std::ref(shared), w, deadline, std::ref(go), std::ref(writes[w]));
  }
  for (int s = 0; s < 3; ++s) {
    streams.emplace_back([&, s] {
      const auto i = static_cast<std::size_t>(s);
      streamer(shared, s, stops[i].get_token(), go, stream_counts[i]);
      streams_finished.arrive();
    });
  }
  for (std::size_t r = 0; r < reader_counts.size(); ++r) {
    readers.emplace_back(reader, std::ref(shared), seed + 1 + r, std::ref(go), std::ref(reader_counts[r]));
  }
  go.arrive_and_wait();

  memlog::OffsetRange final_range;
  if (!close) {
    for (auto& t : writers) t.join();
    shared.writing = false;
    for (auto& t : readers) t.join();
    final_range = shared.log.range();
    shared.end = final_range.latest + 1;
    if (shared.failures.any()) {
      for (auto& s : stops) s.request_stop();
    }
    streams[0].join();
    streams[1].join();
    stops[2].request_stop();  // stream 2 blocks in next() at the end
    streams[2].join();
  } else {
    // Not a wait for an event: the moment is the run's random choice.
    std::this_thread::sleep_until(began + close->at);
    result.waiting_at_close = shared.log.stats().waiting;
    shared.log.close();
    // release: pairs with the acquire load before each write.
    shared.close_returned.store(true, std::memory_order_release);
    if (close->again == CloseAt::Again::at_once) shared.log.close();
    for (auto& t : writers) t.join();
    if (close->again == CloseAt::Again::after_writers) {
      const Offset before = shared.log.next_offset();
      shared.log.close();  // while the streams drain
      STRESS_CHECK(shared.log.next_offset() == before, "a second close() moved next_offset from " << before);
    }
    if (shared.failures.any()) {
      for (auto& s : stops) s.request_stop();
    }
    if (!streams_finished.wait_for(static_cast<int>(streams.size()), streams_end_within)) {
      shared.failures.add("a stream did not end within " + std::to_string(streams_end_within.count()) +
                          " s of the writers stopping: parked in next() and not woken by close()?");
      for (auto& s : stops) s.request_stop();
    }
    for (auto& t : streams) t.join();
    // The readers ran through close() and the streams' ends.
    shared.writing = false;
    for (auto& t : readers) t.join();
    final_range = shared.log.range();
    shared.end = final_range.latest + 1;
  }
  result.elapsed = std::chrono::duration<double>(Clock::now() - began).count();

  // After the writers stop: everything retained is there and matches the ledger.
  std::uint64_t total = 0;
  std::uint64_t late = 0;
  for (const auto& w : writes) {
    total += w.written;
    result.refused += w.refused;
    late += w.late;
  }
  Counts final_counts;
  std::vector<Record> all(segment * 2);
  {
    Shared& s = shared;
    memlog::OffsetRange last{};
    check_range(s, final_range, last);
    if (close) {
      STRESS_CHECK(s.log.closed(), "closed() false after close()");
      STRESS_CHECK(late == 0, late << " writes began after close() returned and succeeded");
      STRESS_CHECK(s.log.next_offset() == start + static_cast<Offset>(total),
                   "next_offset " << s.log.next_offset() << " after " << total << " writes from " << start);
      for (std::uint32_t w = 0; w < writer_count; ++w) {
        STRESS_CHECK(s.failures.any() || writes[w].refused == refusals_checked,
                     "writer " << w << " refused " << writes[w].refused << " times");
      }
      // Reads past the end still say future_offset, not closed.
      const Offset next = s.log.next_offset();
      STRESS_CHECK(s.log.read(next).error() == Errc::future_offset, "read at next_offset after close");
      const auto past = s.log.read_batch(next, std::span<Record>(all.data(), 1));
      STRESS_CHECK(past.count == 0 && past.error == Errc::future_offset, "read_batch at next_offset after close");
    }
    // The close mode may close the log before any write.
    if (!close || total > 0) {
      STRESS_CHECK(final_range.latest == start + static_cast<Offset>(total) - 1,
                   "latest " << final_range.latest << " after " << total << " writes from " << start);
      const auto batch = s.log.read_batch(final_range.earliest, all);
      const auto held = static_cast<std::size_t>(final_range.latest - final_range.earliest + 1);
      STRESS_CHECK(batch.count == held, "final batch read " << batch.count << " of " << held);
      std::array<std::int64_t, writer_count> seen{};
      seen.fill(-1);
      for (Offset o = final_range.earliest; o <= final_range.latest; ++o) {
        const auto r = s.log.read(o);
        STRESS_CHECK(r.has_value(), "retained offset " << o << " unreadable");
        if (!r) continue;
        STRESS_CHECK(*r == all[static_cast<std::size_t>(o - final_range.earliest)],
                     "read and read_batch differ at " << o);
        const auto p = check_record(s, *r, o, final_counts);
        STRESS_CHECK(s.ledger.lookup(o).has_value(), "offset " << o << " missing from the ledger");
        if (close) {
          const std::error_code ec =
              s.log.read(o, [&](const Log::view_type& v) { check_record(s, v, o, final_counts); }).error();
          STRESS_CHECK(!ec, "zero-copy read of retained offset " << o << " after close: " << ec.message());
        }
        if (!p) continue;
        STRESS_CHECK(static_cast<std::int64_t>(p->seq) > seen[p->writer],
                     "writer " << p->writer << " out of order at " << o);
        seen[p->writer] = static_cast<std::int64_t>(p->seq);
      }
      for (std::uint32_t w = 0; w < writer_count; ++w) {
        // A writer's last record is the newest one of it that is retained.
        if (seen[w] >= 0) {
          STRESS_CHECK(static_cast<std::uint64_t>(seen[w]) + 1 == writes[w].written,
                       "writer " << w << " lost its tail");
        }
      }
    } else {
      STRESS_CHECK(final_range == memlog::OffsetRange{},
                   "no write, range {" << final_range.earliest << ", " << final_range.latest << "}");
    }
    if (close) {
      // A stream made after close() delivers what is retained, then ends.
      const Offset from = total > 0 ? final_range.earliest : start;
      auto fresh = s.log.stream(from);
      Offset expect = from;
      for (const Record& r : fresh) {
        STRESS_CHECK(r.metadata.offset == expect,
                     "fresh stream after close: " << r.metadata.offset << ", expected " << expect);
        ++expect;
      }
      STRESS_CHECK(fresh.error() == Errc::closed, "fresh stream after close ended: " << fresh.error().message());
      STRESS_CHECK(expect == s.log.next_offset(), "fresh stream after close ended at " << expect);
    }
  }

  Counts& sum = result.sum;
  sum = final_counts;
  for (const auto& c : stream_counts) sum += c;
  for (const auto& c : reader_counts) sum += c;
  result.total = total;
  result.streamed = stream_counts[0].checked + stream_counts[1].checked + stream_counts[2].checked;
  std::ostringstream summary;
  summary << "stress (stream_spin " << spin.count() << "ns, seed " << seed << "): " << total << " writes, "
          << sum.checked << " records checked (" << sum.ledgered << " against the writers' ledger) in "
          << result.elapsed
          << " s = " << static_cast<std::uint64_t>(static_cast<double>(sum.checked) / result.elapsed)
          << " records/s; streams checked " << result.streamed << ", restarted " << sum.restarts
          << " times after falling behind; readers did " << sum.ops << " ops";
  if (!close) {
    WARN(summary.str());
  } else {
    summary << "; closed after " << std::chrono::duration<double, std::milli>(close->at).count() << " ms, "
            << result.refused << " writes refused, " << sum.closed << " streams ended with closed";
  }
  INFO(summary.str());  // the close mode's round, if it fails
  INFO(shared.failures.report());
  REQUIRE(shared.failures.count() == 0);
  if (!close) {
    CHECK(total > 0);
    CHECK(sum.checked > 0);
    CHECK(stream_counts[0].checked > 0);
  }
  return result;
}

// A close moment for a round: at once (racing the threads' first steps),
// within the first few milliseconds (stream 1 waits in next() for its future
// start), or anywhere in the round.
CloseAt pick_close(std::mt19937_64& plan, Clock::duration round) {
  const auto within = [&](Clock::duration d) {
    return Clock::duration(std::uniform_int_distribution<Clock::rep>(0, d.count())(plan));
  };
  CloseAt close;
  switch (plan() % 4) {
    case 0: break;
    case 1: close.at = within(std::min<Clock::duration>(round, std::chrono::milliseconds(5))); break;
    default: close.at = within(round); break;
  }
  close.again = static_cast<CloseAt::Again>(plan() % 3);
  return close;
}

}  // namespace

TEST_CASE("concurrent writers, streams and readers never lose, duplicate, reorder or corrupt a record",
          "[concurrent][stress]") {
  const std::uint64_t seed = stress_seed();
  CAPTURE(seed);  // MEMLOG_STRESS_SEED=<seed> replays the random choices
  INFO("MEMLOG_STRESS_SEED=" << seed);
  run_stress(std::chrono::nanoseconds(0), stress_seconds() / 3, seed, std::nullopt);
}

TEST_CASE("concurrent writers and spinning streams never lose, duplicate, reorder or corrupt a record",
          "[concurrent][stress]") {
  const std::uint64_t seed = stress_seed();
  CAPTURE(seed);  // MEMLOG_STRESS_SEED=<seed> replays the random choices
  INFO("MEMLOG_STRESS_SEED=" << seed);
  run_stress(std::chrono::microseconds(20), stress_seconds() / 3, seed, std::nullopt);
}

TEST_CASE("close() racing writers, streams and readers refuses every later write and ends every stream after its "
          "last record",
          "[concurrent][stress]") {
  const std::uint64_t seed = stress_seed();
  CAPTURE(seed);  // with the same MEMLOG_STRESS_SECONDS, MEMLOG_STRESS_SEED=<seed> replays the rounds' choices
  INFO("MEMLOG_STRESS_SEED=" << seed);
  // Rounds of at most this long (both calm and busy phases), each on a fresh
  // log closed at a random moment, until the budget is spent.
  constexpr auto longest_round = std::chrono::milliseconds(400);
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(stress_seconds() / 3));
  std::mt19937_64 plan(seed);
  RunSummary all;
  std::uint64_t rounds = 0;
  std::uint64_t parked = 0;  // rounds where a stream waited in next() just before close()
  do {
    const auto left = std::max<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(1));
    const CloseAt close = pick_close(plan, std::min<Clock::duration>(left, longest_round));
    const std::chrono::nanoseconds spin = plan() % 2 == 0 ? std::chrono::nanoseconds(0) : std::chrono::microseconds(20);
    const std::uint64_t round_seed = plan();
    CAPTURE(rounds);
    const RunSummary r = run_stress(spin, std::chrono::duration<double>(longest_round).count(), round_seed, close);
    all.total += r.total;
    all.refused += r.refused;
    all.sum += r.sum;
    all.streamed += r.streamed;
    all.elapsed += r.elapsed;
    if (r.waiting_at_close > 0) ++parked;
    ++rounds;
  } while (Clock::now() < deadline);

  std::ostringstream summary;
  summary << "stress with close (seed " << seed << "): " << rounds << " rounds, " << parked
          << " with a stream in next() just before close(); " << all.total << " writes, " << all.refused
          << " refused with closed; " << all.sum.checked << " records checked in " << all.elapsed
          << " s; streams checked " << all.streamed << ", restarted " << all.sum.restarts
          << " times, ended with closed " << all.sum.closed << " times; readers did " << all.sum.ops << " ops";
  WARN(summary.str());
  CHECK(all.total > 0);
  CHECK(all.streamed > 0);
  CHECK(all.sum.closed == 3 * rounds);
}
