// Shared by the differential fuzz targets: an input decoder, a plain model of
// one log (std::deque + Go's purge rule), and the comparison helpers.
//
// The model is written from the contract (API.md), not from the library:
// offsets from start_offset on; a write into a full active segment purges the
// older segment, so a log keeps between max_segment_size and
// 2 * max_segment_size records; size checks first, then offset_overflow.
// Any difference between the two calls MEMLOG_FUZZ_CHECK, which prints what
// differed and traps, so libFuzzer (or the replay runner) reports a crash.
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
#include <stdexcept>
#include <string>
#include <system_error>

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

inline constexpr Offset offset_max = std::numeric_limits<Offset>::max();
inline constexpr Offset offset_min = std::numeric_limits<Offset>::min();

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

// Saturating arithmetic for offsets picked around the model's state.
inline Offset sat_add(Offset a, Offset b) noexcept {
  Offset r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? offset_max : offset_min;
  return r;
}

// The "now" the fuzz clock returns: the index of the current operation, set
// before each call, so that the model knows every record's timestamp no
// matter how often the log calls its clock.
inline std::int64_t& current_tick() noexcept {
  static std::int64_t tick = 0;
  return tick;
}
inline Clock::time_point tick_time(std::int64_t tick) {
  return Clock::time_point{std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds{tick})};
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
  o.clock = [] { return tick_time(current_tick()); };

  d.valid = o.start_offset >= 0 && o.max_segment_size > 0 &&
            o.max_segment_size <= static_cast<std::size_t>(offset_max) && o.max_record_size > 0 &&
            o.stream_spin >= std::chrono::nanoseconds::zero();
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

  explicit ModelLog(const memlog::Options& o)
      : start_(o.start_offset), seg_(o.max_segment_size), max_record_(o.max_record_size), next_(o.start_offset) {}

  memlog::Result<Offset> write(const std::string& data, Clock::time_point now) {
    if (data.empty()) return Errc::empty_record;
    if (data.size() > max_record_) return Errc::record_too_large;
    if (next_ == offset_max) return Errc::offset_overflow;
    if (active_ == seg_) {  // seal the active segment; purge the older one
      records_.erase(records_.begin(), records_.end() - static_cast<std::ptrdiff_t>(active_));
      active_ = 0;
    }
    // `created` never decreases within a log.
    last_created_ = std::max(now, last_created_);
    records_.push_back(Record{memlog::Header{next_, last_created_}, data});
    ++active_;
    return next_++;
  }

  // Where a read of `offset` must fail, or nullopt when it succeeds.
  [[nodiscard]] std::optional<Errc> read_error(Offset offset) const {
    if (offset >= next_) return Errc::future_offset;
    if (records_.empty() || offset < records_.front().metadata.offset) return Errc::out_of_range;
    return std::nullopt;
  }
  [[nodiscard]] const Record& at(Offset offset) const {
    return records_[static_cast<std::size_t>(offset - records_.front().metadata.offset)];
  }

  [[nodiscard]] memlog::OffsetRange range() const {
    if (records_.empty()) return {};
    return {records_.front().metadata.offset, records_.back().metadata.offset};
  }

  [[nodiscard]] Offset next() const noexcept { return next_; }
  [[nodiscard]] Offset start() const noexcept { return start_; }
  [[nodiscard]] std::size_t segment() const noexcept { return seg_; }
  [[nodiscard]] std::size_t max_record_size() const noexcept { return max_record_; }

  // An offset worth asking about: the edges of the retained window, the
  // extremes of Offset, or something near the window.
  [[nodiscard]] Offset pick_offset(Input& in) const {
    const memlog::OffsetRange r = range();
    const Offset earliest = records_.empty() ? start_ : r.earliest;
    const auto seg = static_cast<Offset>(seg_ > 1000 ? 1000 : seg_);
    switch (in.u8() % 16) {
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
      default: {
        // Anywhere from two segments before the window to a few past its end.
        const Offset lo = sat_add(earliest, -2 * seg);
        const auto span = static_cast<std::uint64_t>(sat_add(next_, 3)) - static_cast<std::uint64_t>(lo);
        return static_cast<Offset>(static_cast<std::uint64_t>(lo) + in.u64(2) % (span + 1));
      }
    }
  }

 private:
  Offset start_;
  std::size_t seg_;
  std::size_t max_record_;
  Offset next_;
  std::deque<Record> records_;  // retained records, oldest first
  std::size_t active_ = 0;      // records in the active (newest) segment
  Clock::time_point last_created_{};
};

// The model of one Stream: its position, and the error that ended it.
struct ModelStream {
  Offset position = 0;
  std::optional<Errc> ended;
  bool stop = false;

  // What next_for(0) must return: a record (nullopt) or an error, and moves on.
  std::optional<Errc> step(const ModelLog& log) {
    if (ended) return ended;
    if (stop) return ended = Errc::cancelled;
    if (const auto e = log.read_error(position)) {
      // No record ever has offset INT64_MAX: a stream there has ended.
      if (*e == Errc::future_offset && position == offset_max) return ended = Errc::offset_overflow;
      if (*e == Errc::future_offset) return Errc::timed_out;
      return ended = *e;
    }
    ++position;
    return std::nullopt;
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

// Runs `make` (which constructs a log) and checks that it throws
// std::invalid_argument exactly when the options are invalid. Returns whether
// it constructed.
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
