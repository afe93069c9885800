#pragma once
// Options of a memlog::Log, and their validation.

#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "record.hpp"

namespace memlog {

struct Options {
  Offset start_offset = default_start_offset;         // >= 0: offset of the first record
  std::size_t max_segment_size = default_segment_size;  // > 0: records per segment
  std::size_t max_record_size = default_max_record_size;  // > 0: bytes per record
  std::function<std::chrono::system_clock::time_point()> clock{};  // empty: system_clock::now
  // >= 0: how long a waiting stream keeps checking for the next record before
  // it parks on the condition variable (0: park at once).
  std::chrono::nanoseconds stream_spin{0};
  // 0: no limit. Otherwise (a T with a RecordSize only) the active segment
  // is also sealed when the next record would take its payload bytes past
  // this; a larger record still fits alone in a fresh segment. A log then
  // holds at most about 2 x this many payload bytes.
  std::size_t max_segment_bytes = 0;
  // 0: no limit. Otherwise a record whose `created` is older than
  // clock() - max_age has expired: no read, read_batch, range, offset_at or
  // stream returns it (as if purged), and a write that finds a whole
  // segment expired frees it. Expiry is judged by the clock at each call: if
  // the clock steps back, a record that has expired but is not freed yet is
  // readable again.
  std::chrono::nanoseconds max_age{0};
};

// What a stream does when its position has been purged or has expired (Kafka's
// auto.offset.reset).
enum class Reset {
  none,      // end with Errc::out_of_range, as the Go library does
  earliest,  // go on from the earliest retained record
  latest,    // go on from the next record written
};

// Records a stream reads ahead at most, by default, and at most at all.
inline constexpr std::size_t default_read_ahead = 256;
inline constexpr std::size_t max_read_ahead = std::size_t{1} << 16;

// Per-stream options: Log::stream(start, stop, StreamOptions{...}).
struct StreamOptions {
  Reset reset = Reset::none;
  // This stream's spin before it parks; empty: Options::stream_spin.
  std::optional<std::chrono::nanoseconds> spin{};
  // In [1, max_read_ahead]: how many records the stream copies ahead at
  // most while it is behind (it starts at 32, or this if smaller, and gives
  // the rest back once it has caught up). A server with many streams that
  // sends a batch per write anyway may choose less.
  std::size_t read_ahead = default_read_ahead;
};

namespace detail {

// Selects the Log constructor that shares one Options object between logs.
struct SharedOptionsTag {};

// Throws std::invalid_argument unless `spin` is usable as a spin time: not
// negative, and steady_clock::now() + spin does not overflow, not even a
// century from now.
inline void validate_spin(std::chrono::nanoseconds spin, const char* name) {
  using Steady = std::chrono::steady_clock;
  if (spin < std::chrono::nanoseconds::zero()) {
    throw std::invalid_argument(std::string("memlog: ") + name + " must not be negative");
  }
  const auto headroom = Steady::duration::max() - Steady::now().time_since_epoch() -
                        std::chrono::duration_cast<Steady::duration>(std::chrono::hours(24 * 365 * 100));
  if (spin > headroom) {
    throw std::invalid_argument(std::string("memlog: ") + name + " is too large (steady_clock::now() + " + name +
                                " overflows)");
  }
}

// Throws std::invalid_argument naming the first invalid option.
inline void validate(const Options& options) {
  if (options.start_offset < 0) {
    throw std::invalid_argument("memlog: start_offset must not be negative");
  }
  if (options.max_segment_size == 0) {
    throw std::invalid_argument("memlog: max_segment_size must be greater than 0");
  }
  // Offsets are computed as start + index; a segment may not hold more
  // records than there are offsets.
  if (options.max_segment_size > static_cast<std::size_t>(std::numeric_limits<Offset>::max())) {
    throw std::invalid_argument("memlog: max_segment_size must not exceed INT64_MAX");
  }
  if (options.max_record_size == 0) {
    throw std::invalid_argument("memlog: max_record_size must be greater than 0");
  }
  validate_spin(options.stream_spin, "stream_spin");
  if (options.max_age < std::chrono::nanoseconds::zero()) {
    throw std::invalid_argument("memlog: max_age must not be negative");
  }
}

}  // namespace detail
}  // namespace memlog
