#pragma once
// The value types a log stores and hands out: offsets, headers, records.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace memlog {

// Position of a record in a log; -1 is "no offset".
using Offset = std::int64_t;

inline constexpr Offset default_start_offset = 0;
inline constexpr std::size_t default_segment_size = 1024;         // records
inline constexpr std::size_t default_max_record_size = 1 << 20;   // bytes (1 MiB)

struct Header {
  Offset offset = -1;
  std::chrono::system_clock::time_point created{};  // when written (UTC)
  friend bool operator==(const Header&, const Header&) = default;
};

template <class T>
struct Record {
  Header metadata;
  T data{};
  friend bool operator==(const Record&, const Record&) = default;
};

// Earliest and latest retained offsets: `auto [earliest, latest] = log.range();`
struct OffsetRange {
  Offset earliest = -1;
  Offset latest = -1;
  friend bool operator==(const OffsetRange&, const OffsetRange&) = default;
};

}  // namespace memlog
