// Shared by the differential fuzz targets: an input decoder, a mock clock
// the input drives, a plain model of one log and of one stream, and the
// comparison helpers.
//
// The model is written from the contract (API.md, both rounds), not from the
// library's code:
// - offsets from start_offset on; a write's errors in this order: closed
//   (every write after close()), then empty_record or record_too_large, then
//   offset_overflow;
// - a record is stamped max(clock(), previous record's stamp);
// - a log keeps an active segment and the older, sealed history. A write
//   seals the active segment (and purges the history) when the active one
//   holds max_segment_size records, or (max_segment_bytes) when the new
//   record's bytes would take it past the limit, or (max_age) when every
//   record in it has expired by the new record's stamp; then a history that
//   has wholly expired by that stamp is freed;
// - a record created before clock() - max_age has expired: every read,
//   range, offset_at, stats and stream treats it as purged.
// Every read-side call reads the clock, which is the mock's reading, so the
// model knows "now" exactly. Any difference between the two calls
// MEMLOG_FUZZ_CHECK, which prints what differed and traps, so libFuzzer (or
// the replay runner) reports a crash.
#pragma once

#include <memlog/memlog.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#define MEMLOG_FUZZ_CHECK(cond)                                                      \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "memlog fuzz: divergence at %s:%d: %s\n", __FILE__, __LINE__, \
                   #cond);                                                           \
      __builtin_trap();                                                              \
    }                                                                                \
  } while (false)

namespace memlog_fuzz {

using memlog::Errc;
using memlog::Offset;
using Clock = std::chrono::system_clock;
using Ticks = Clock::duration::rep;

inline constexpr Offset offset_max = std::numeric_limits<Offset>::max();
inline constexpr Offset offset_min = std::numeric_limits<Offset>::min();
inline constexpr Ticks ticks_max = std::numeric_limits<Ticks>::max();
inline constexpr Ticks ticks_min = std::numeric_limits<Ticks>::min();

// Reads the fuzz input front to back; once it is used up, every read gives 0,
// so any input decodes to some run.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

  [[nodiscard]] bool empty() const noexcept { return pos_ >= size_; }

  std::uint8_t u8() noexcept { return pos_ < size_ ? data_[pos_++] : 0; }

  std::uint64_t u64(unsigned bytes = 8) noexcept {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < bytes; ++i) v = (v << 8) | u8();
    return v;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Saturating arithmetic for offsets and clock ticks picked around the
// model's state.
inline Offset sat_add(Offset a, Offset b) noexcept {
  Offset r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? offset_max : offset_min;
  return r;
}
inline Clock::time_point time_at(Ticks ticks) { return Clock::time_point{Clock::duration{ticks}}; }
inline Ticks ticks_of(Clock::time_point t) { return t.time_since_epoch().count(); }
inline Clock::time_point sat_add(Clock::time_point t, Ticks d) {
  Ticks r = 0;
  if (__builtin_add_overflow(ticks_of(t), d, &r)) return time_at(d > 0 ? ticks_max : ticks_min);
  return time_at(r);
}

// The mock clock every fuzzed log reads (Options::clock): the input sets and
// moves it, never the library, so the model knows every reading.
inline Clock::time_point& mock_now() noexcept {
  static Clock::time_point now{};
  return now;
}

// Moves the mock clock as the input says: mostly forward by a little or by
// about max_age (onto either side of an expiry), sometimes far, sometimes
// back (the log must cope with a clock stepped back), now and then to the
// ends of its range.
inline void step_clock(Input& in, Ticks age) {
  Clock::time_point& now = mock_now();
  const std::uint8_t mode = in.u8();
  switch (mode % 16) {
    case 0: case 1: case 2: case 3: case 4: now = sat_add(now, 1 + in.u8() % 64); break;
    case 5: case 6: case 7: now = sat_add(sat_add(now, age), static_cast<Ticks>(in.u8() % 5) - 2); break;
    case 8: now = sat_add(now, age / 2); break;
    case 9: now = sat_add(now, static_cast<Ticks>(in.u64(3))); break;
    case 10: now = sat_add(now, -1 - static_cast<Ticks>(in.u8() % 8)); break;
    case 11: now = sat_add(now, -static_cast<Ticks>(in.u64(3))); break;
    case 12: now = sat_add(now, age < ticks_max / 4 ? 3 * age : ticks_max); break;
    case 13: now = time_at(ticks_min + static_cast<Ticks>(in.u8())); break;
    case 14: now = time_at(ticks_max - static_cast<Ticks>(in.u8())); break;
    default: break;  // unchanged: several operations at one reading
  }
}

// Options decoded from the input, and whether the contract calls them valid.
struct DecodedOptions {
  memlog::Options options;
  bool valid = true;
};

inline DecodedOptions decode_options(Input& in) {
  DecodedOptions d;
  memlog::Options& o = d.options;
  const std::uint8_t mode = in.u8();
  switch (mode % 8) {
    case 0: case 1: o.start_offset = 0; break;
    case 2: o.start_offset = static_cast<Offset>(in.u8()); break;
    case 3: case 4: o.start_offset = offset_max - static_cast<Offset>(in.u64(2) % 300); break;  // near overflow
    case 5: o.start_offset = static_cast<Offset>(in.u64() & static_cast<std::uint64_t>(offset_max)); break;
    case 6: o.start_offset = static_cast<Offset>(in.u8()) * 1000; break;
    default:  // rarely invalid
      o.start_offset = (mode & 0x80) ? -1 - static_cast<Offset>(in.u8()) : offset_min;
      break;
  }
  const std::uint8_t seg = in.u8();
  if (seg == 0xff) {
    o.max_segment_size = 0;
  } else if (seg == 0xfe) {
    o.max_segment_size = std::numeric_limits<std::size_t>::max();
  } else {
    o.max_segment_size = 1 + (seg % 16 < 14 ? seg % 8 : seg % 70);
  }
  const std::uint8_t rec = in.u8();
  if (rec == 0xff) {
    o.max_record_size = 0;
  } else if (rec == 0xfe) {
    o.max_record_size = std::numeric_limits<std::size_t>::max();
  } else {
    o.max_record_size = 1 + rec % 24;
  }
  const std::uint8_t spin = in.u8();
  o.stream_spin = spin == 0xff ? std::chrono::nanoseconds{-1}
                               : std::chrono::nanoseconds{spin % 4 == 3 ? 2000 : 0};

  // max_age: unset half the time; else mostly a few clock steps long, so
  // that records expire in the middle of segments.
  const std::uint8_t age = in.u8();
  using std::chrono::nanoseconds;
  if (age >= 0x80) {
    switch (age % 8) {
      case 0: case 1: case 2: o.max_age = nanoseconds{1 + in.u8() % 64}; break;
      case 3: o.max_age = nanoseconds{1}; break;
      case 4: o.max_age = nanoseconds{1 + static_cast<std::int64_t>(in.u64(2))}; break;
      case 5: o.max_age = nanoseconds::max(); break;
      case 6: o.max_age = nanoseconds{1 + static_cast<std::int64_t>(in.u64(4))}; break;
      default: o.max_age = (age & 0x40) ? nanoseconds{-1 - in.u8()} : nanoseconds::min(); break;  // invalid
    }
  }
  // max_segment_bytes: unset half the time; else mostly about a few records'
  // worth (records are 1..42 bytes), so that some records exceed it.
  const std::uint8_t bytes = in.u8();
  if (bytes >= 0x80) {
    switch (bytes % 8) {
      case 0: case 1: case 2: o.max_segment_bytes = 1 + in.u8() % 64; break;
      case 3: o.max_segment_bytes = 1; break;
      case 4: o.max_segment_bytes = 65'536; break;
      case 5: o.max_segment_bytes = std::numeric_limits<std::size_t>::max(); break;
      default: o.max_segment_bytes = 1 + in.u8() % 8; break;
    }
  }
  // Where the mock clock starts: near zero, near either end of its range
  // (the expiry cutoff saturates there), or anywhere.
  const std::uint8_t start = in.u8();
  switch (start % 8) {
    case 0: mock_now() = time_at(ticks_min + static_cast<Ticks>(in.u8())); break;
    case 1: mock_now() = time_at(ticks_max - static_cast<Ticks>(in.u8())); break;
    case 2: mock_now() = time_at(static_cast<Ticks>(in.u64())); break;
    default: mock_now() = time_at(static_cast<Ticks>(start)); break;
  }
  o.clock = [] { return mock_now(); };

  d.valid = o.start_offset >= 0 && o.max_segment_size > 0 &&
            o.max_segment_size <= static_cast<std::size_t>(offset_max) && o.max_record_size > 0 &&
            o.stream_spin >= nanoseconds::zero() && o.max_age >= nanoseconds::zero();
  return d;
}

// Data for a write: empty, within the limit, or just over it; when the
// limit allows, now and then a size around a byte log's 64 KiB chunk (so
// records straddle, fill or outgrow a chunk).
inline std::string decode_data(Input& in, std::size_t max_record_size) {
  static constexpr std::size_t around_chunk[] = {65'535, 65'536, 65'537, 32'769, 100'000, 131'072, 131'073, 196'608};
  const std::size_t cap = std::min<std::size_t>(max_record_size, 40);
  const std::uint8_t pick = in.u8();
  std::size_t len = pick % (cap + 3);  // 0 .. cap + 2 (over the limit when cap is the limit)
  if (pick >= 0xf8 && max_record_size >= 196'608) len = around_chunk[pick - 0xf8];
  const std::uint8_t fill = in.u8();
  std::string s(len, '\0');
  for (std::size_t i = 0; i < len; ++i) s[i] = static_cast<char>(fill + i * 31);
  return s;
}

// The plain model of one memlog::Log<std::string>.
class ModelLog {
 public:
  using Record = memlog::Record<std::string>;
  static constexpr Clock::time_point no_cutoff = Clock::time_point::min();

  explicit ModelLog(const memlog::Options& o)
      : start_(o.start_offset),
        seg_(o.max_segment_size),
        max_record_(o.max_record_size),
        max_bytes_(o.max_segment_bytes),
        age_(std::chrono::ceil<Clock::duration>(o.max_age).count()),
        next_(o.start_offset) {}

  memlog::Result<Offset> write(const std::string& data, Clock::time_point now) {
    if (closed_) return Errc::closed;  // every write after close(), whatever its data
    if (data.empty()) return Errc::empty_record;
    if (data.size() > max_record_) return Errc::record_too_large;
    if (next_ == offset_max) return Errc::offset_overflow;
    // `created` never decreases within a log.
    const Clock::time_point created = std::max(now, last_created_);
    const Clock::time_point expiry = cutoff(created);
    const bool empty = active_ == 0;
    bool rotate = active_ >= seg_;
    if (max_bytes_ != 0 && !empty && (active_bytes_ >= max_bytes_ || data.size() > max_bytes_ - active_bytes_)) {
      rotate = true;  // a record larger than the limit goes alone into a fresh segment
    }
    if (!empty && last_created_ < expiry) rotate = true;  // the whole active segment has expired
    if (rotate) {  // seal the active segment; purge the history
      records_.erase(records_.begin(), records_.end() - static_cast<std::ptrdiff_t>(active_));
      history_bytes_ = active_bytes_;
      active_bytes_ = 0;
      active_ = 0;
    }
    if (history() > 0 && records_[history() - 1].metadata.created < expiry) {  // the history has expired: free it
      records_.erase(records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(history()));
      history_bytes_ = 0;
    }
    records_.push_back(Record{memlog::Header{next_, created}, data});
    ++active_;
    active_bytes_ += data.size();
    last_created_ = created;
    return next_++;
  }

  void close() noexcept { closed_ = true; }
  [[nodiscard]] bool closed() const noexcept { return closed_; }

  // now - max_age (saturating), or no_cutoff without max_age.
  [[nodiscard]] Clock::time_point cutoff(Clock::time_point now) const {
    Ticks r = 0;
    if (age_ == 0 || __builtin_sub_overflow(ticks_of(now), age_, &r)) return no_cutoff;
    return time_at(r);
  }

  // The earliest retained offset (expired or not; next() while none).
  [[nodiscard]] Offset earliest() const { return records_.empty() ? next_ : records_.front().metadata.offset; }

  // The first retained offset created at or after `t`, else next().
  [[nodiscard]] Offset first_from(Clock::time_point t) const {
    const auto it = std::partition_point(records_.begin(), records_.end(),
                                         [&](const Record& r) { return r.metadata.created < t; });
    return it == records_.end() ? next_ : it->metadata.offset;
  }
  // The first record that has not expired at `now`, else next().
  [[nodiscard]] Offset first_live(Clock::time_point now) const { return first_from(cutoff(now)); }

  // Where a read of `offset` at `now` must fail, or nullopt when it succeeds.
  [[nodiscard]] std::optional<Errc> read_error(Offset offset, Clock::time_point now) const {
    if (offset >= next_) return Errc::future_offset;
    if (offset < earliest() || at(offset).metadata.created < cutoff(now)) return Errc::out_of_range;
    return std::nullopt;
  }
  // Requires `offset` retained.
  [[nodiscard]] const Record& at(Offset offset) const {
    return records_[static_cast<std::size_t>(offset - records_.front().metadata.offset)];
  }

  [[nodiscard]] memlog::OffsetRange range(Clock::time_point now) const {
    const Offset live = first_live(now);
    if (live == next_) return {};
    return {live, next_ - 1};
  }

  [[nodiscard]] Offset offset_at(Clock::time_point t, Clock::time_point now) const {
    return first_from(std::max(t, cutoff(now)));
  }

  [[nodiscard]] memlog::Stats stats(Clock::time_point now) const {
    const Offset live = first_live(now);
    memlog::Stats s;
    s.written = static_cast<std::uint64_t>(next_ - start_);
    s.records = static_cast<std::uint64_t>(next_ - live);
    s.purged = static_cast<std::uint64_t>(live - start_);
    s.bytes = history_bytes_ + active_bytes_;  // expired records too, until a write frees them
    s.waiting = 0;                             // one thread: no stream is blocked during a check
    return s;
  }

  [[nodiscard]] Offset next() const noexcept { return next_; }
  [[nodiscard]] Offset start() const noexcept { return start_; }
  [[nodiscard]] std::size_t segment() const noexcept { return seg_; }
  [[nodiscard]] std::size_t max_record_size() const noexcept { return max_record_; }
  [[nodiscard]] Ticks age() const noexcept { return age_; }
  [[nodiscard]] std::size_t retained() const noexcept { return records_.size(); }

  // An offset worth asking about: the edges of the retained and the live
  // window, the extremes of Offset, or something near the window.
  [[nodiscard]] Offset pick_offset(Input& in, Clock::time_point now) const {
    const Offset earliest = this->earliest();
    const auto seg = static_cast<Offset>(seg_ > 1000 ? 1000 : seg_);
    switch (in.u8() % 18) {
      case 0: return offset_min;
      case 1: return -1;
      case 2: return offset_max;
      case 3: return sat_add(earliest, -1);
      case 4: return earliest;
      case 5: return sat_add(next_, -1);
      case 6: return next_;
      case 7: return sat_add(next_, 1);
      case 8: return start_;
      case 9: return 0;
      case 10: return sat_add(first_live(now), -1);
      case 11: return first_live(now);
      default: {
        // Anywhere from two segments before the window to a few past its end.
        const Offset lo = sat_add(earliest, -2 * seg);
        const auto span = static_cast<std::uint64_t>(sat_add(next_, 3)) - static_cast<std::uint64_t>(lo);
        return static_cast<Offset>(static_cast<std::uint64_t>(lo) + in.u64(2) % (span + 1));
      }
    }
  }

  // A time worth asking offset_at about: the ends of the clock's range, the
  // expiry cutoff, a retained record's stamp (or next to it).
  [[nodiscard]] Clock::time_point pick_time(Input& in, Clock::time_point now) const {
    const std::uint8_t mode = in.u8();
    switch (mode % 10) {
      case 0: return Clock::time_point::min();
      case 1: return Clock::time_point::max();
      case 2: return now;
      case 3: return sat_add(cutoff(now), static_cast<Ticks>(in.u8() % 3) - 1);
      case 4: return sat_add(last_created_, static_cast<Ticks>(in.u8() % 3) - 1);
      case 5: return Clock::time_point{};
      case 6: return sat_add(now, -static_cast<Ticks>(in.u64(2)));
      default: {
        if (records_.empty()) return now;
        const Record& r = records_[in.u64(2) % records_.size()];
        return sat_add(r.metadata.created, static_cast<Ticks>(mode % 3) - 1);
      }
    }
  }

 private:
  [[nodiscard]] std::size_t history() const noexcept { return records_.size() - active_; }

  Offset start_;
  std::size_t seg_;
  std::size_t max_record_;
  std::size_t max_bytes_;
  Ticks age_;  // max_age in clock ticks, rounded up; 0: none
  Offset next_;
  std::deque<Record> records_;  // retained records (expired or not), oldest first: the history, then the active
  std::size_t active_ = 0;      // records in the active (newest) segment
  std::uint64_t active_bytes_ = 0;
  std::uint64_t history_bytes_ = 0;
  Clock::time_point last_created_ = Clock::time_point::min();
  bool closed_ = false;
};

// The model of one Stream: its position, reset policy, the records it has
// skipped, and the error that ended it. A record it read ahead is checked
// again before delivery, so each step answers as a fresh read at its
// position would, at the step's clock reading.
struct ModelStream {
  Offset position = 0;
  memlog::Reset reset = memlog::Reset::none;
  std::uint64_t skipped = 0;
  std::optional<Errc> ended;
  bool stop = false;

  // What next_for(0) must return: a record (nullopt, and moves on) or an error.
  std::optional<Errc> step(const ModelLog& log, Clock::time_point now) {
    if (ended) return ended;
    if (stop) return ended = Errc::cancelled;
    for (int resets = 0;; ++resets) {
      const auto e = log.read_error(position, now);
      if (!e) {
        ++position;
        return std::nullopt;
      }
      if (*e == Errc::out_of_range) {
        // A reset lands on a live record or on next(): never twice in a row.
        MEMLOG_FUZZ_CHECK(resets == 0);
        Offset target = 0;
        switch (reset) {
          case memlog::Reset::none: return ended = Errc::out_of_range;
          case memlog::Reset::earliest: target = log.first_live(now); break;
          case memlog::Reset::latest: target = log.next(); break;
        }
        // Counts records that existed: none below the log's start.
        const Offset from = std::max(position, log.start());
        if (target > from) skipped += static_cast<std::uint64_t>(target - from);
        position = std::max(position, target);
        continue;
      }
      // Nothing at `position` yet: a closed log has delivered everything; no
      // record ever has offset INT64_MAX; else a step without waiting times out.
      if (log.closed()) return ended = Errc::closed;
      if (position == offset_max) return ended = Errc::offset_overflow;
      return Errc::timed_out;
    }
  }

  // Whether a blocking next() would wait (step() gives timed_out).
  [[nodiscard]] bool would_wait(const ModelLog& log, Clock::time_point now) const {
    ModelStream copy = *this;
    const auto e = copy.step(log, now);
    return e && *e == Errc::timed_out;
  }
};

inline bool same_record(const memlog::Record<std::string>& a, const memlog::Record<std::string>& b) {
  return a.metadata.offset == b.metadata.offset && a.metadata.created == b.metadata.created && a.data == b.data;
}

inline bool is(const std::error_code& ec, Errc e) { return ec == memlog::make_error_code(e); }

// A Result equals the model's answer: the record at `offset` or error `e`.
template <class R>
bool matches(const R& result, const ModelLog& model, Offset offset, std::optional<Errc> e) {
  if (e) return !result.has_value() && is(result.error(), *e);
  return result.has_value() && same_record(*result, model.at(offset));
}

// A write's Result equals the model's.
inline void check_write(const memlog::Result<Offset>& got, const memlog::Result<Offset>& want) {
  MEMLOG_FUZZ_CHECK(got.has_value() == want.has_value());
  MEMLOG_FUZZ_CHECK(got.has_value() ? *got == *want : got.error() == want.error());
}

// read_batch(start, batch.first(size)) answered `got`, with `before` the
// batch's contents before the call: checks it against the model at `now`.
inline void check_batch(const memlog::ReadBatchResult& got, std::span<const memlog::Record<std::string>> batch,
                        std::span<const memlog::Record<std::string>> before, std::size_t size,
                        const ModelLog& model, Offset start, Clock::time_point now) {
  std::size_t want_count = 0;
  std::error_code want_error;
  if (size > 0) {
    if (const auto e = model.read_error(start, now)) {
      want_error = *e;
    } else {
      // `created` never decreases: the records after a live one are live.
      const auto available = static_cast<std::uint64_t>(model.next() - start);
      want_count = static_cast<std::size_t>(std::min<std::uint64_t>(available, size));
      if (want_count < size) want_error = Errc::future_offset;
    }
  }
  MEMLOG_FUZZ_CHECK(got.count == want_count);
  MEMLOG_FUZZ_CHECK(got.error == want_error);
  for (std::size_t i = 0; i < want_count; ++i) {
    MEMLOG_FUZZ_CHECK(same_record(batch[i], model.at(start + static_cast<Offset>(i))));
  }
  for (std::size_t i = want_count; i < batch.size(); ++i) {
    MEMLOG_FUZZ_CHECK(same_record(batch[i], before[i]));  // beyond count: untouched
  }
}

// Everything a log reports about itself without an argument, against the
// model at `now` (the mock clock's reading).
template <class L>
void check_state(const L& log, const ModelLog& model, Clock::time_point now) {
  MEMLOG_FUZZ_CHECK(log.range() == model.range(now));
  MEMLOG_FUZZ_CHECK(log.next_offset() == model.next());
  MEMLOG_FUZZ_CHECK(log.stats() == model.stats(now));
  MEMLOG_FUZZ_CHECK(log.closed() == model.closed());
}

// What a read visitor may ask a log (Log::read): next_offset() and closed().
// Not range() or stats(): with max_age they search under the rotation lock
// the visitor holds shared and could deadlock against a rotating write, and
// a debug build asserts that a visitor calls neither (with or without
// max_age).
template <class L>
void check_state_in_visitor(const L& log, const ModelLog& model) {
  MEMLOG_FUZZ_CHECK(log.next_offset() == model.next());
  MEMLOG_FUZZ_CHECK(log.closed() == model.closed());
}

// StreamOptions from the input: a reset policy, and a spin of the stream's
// own now and then (negative or too large: stream() must throw).
struct DecodedStreamOptions {
  memlog::StreamOptions options;
  bool valid = true;
};
inline DecodedStreamOptions decode_stream_options(Input& in) {
  DecodedStreamOptions d;
  const std::uint8_t b = in.u8();
  d.options.reset = static_cast<memlog::Reset>(b % 3);
  switch ((b >> 2) % 16) {
    case 0: d.options.spin = std::chrono::nanoseconds{0}; break;
    case 1: d.options.spin = std::chrono::nanoseconds{2000}; break;
    case 2:
      d.options.spin = std::chrono::nanoseconds{-1};
      d.valid = false;
      break;
    case 3:
      d.options.spin = std::chrono::nanoseconds::max();  // steady_clock::now() + this overflows
      d.valid = false;
      break;
    default: break;  // Options::stream_spin
  }
  return d;
}

// Checks a stream's answer to one step against the model's answer `want`
// (`model` is the stream's model after the step).
template <class S, class R>
void check_step(const R& got, const S& stream, const ModelStream& model, std::optional<Errc> want,
                const ModelLog& log) {
  if (want) {
    MEMLOG_FUZZ_CHECK(!got.has_value() && is(got.error(), *want));
  } else {
    // The record delivered: at the position after any reset.
    MEMLOG_FUZZ_CHECK(got.has_value() && same_record(*got, log.at(model.position - 1)));
  }
  MEMLOG_FUZZ_CHECK(stream.position() == model.position);
  MEMLOG_FUZZ_CHECK(stream.skipped() == model.skipped);
  if (model.ended) {
    MEMLOG_FUZZ_CHECK(is(stream.error(), *model.ended));
  } else {
    MEMLOG_FUZZ_CHECK(!stream.error());
  }
}

// Runs `make` (which constructs something) and checks that it throws
// std::invalid_argument exactly when the arguments are invalid. Returns
// whether it constructed.
template <class F>
bool construct_checked(bool valid, F&& make) {
  try {
    make();
  } catch (const std::invalid_argument&) {
    MEMLOG_FUZZ_CHECK(!valid);
    return false;
  }
  MEMLOG_FUZZ_CHECK(valid);
  return true;
}

}  // namespace memlog_fuzz
