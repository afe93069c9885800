#pragma once
// The records a Redis Streams replica stores: memlog::redis::EntryId, Field,
// Entry, and Entry's RecordSize. Part of <memlog/redis.hpp> (include that);
// kept apart because it needs nothing from hiredis.

#include <charconv>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../record_size.hpp"

namespace memlog::redis {

// A stream entry ID, "<ms>-<seq>": ordered as Redis orders them.
struct EntryId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;

  friend constexpr auto operator<=>(const EntryId&, const EntryId&) = default;

  // "0-0" is below every ID Redis hands out.
  [[nodiscard]] constexpr bool zero() const noexcept { return ms == 0 && seq == 0; }

  // The ID right after this one (the maximum stays the maximum).
  [[nodiscard]] constexpr EntryId next() const noexcept {
    constexpr auto max = std::numeric_limits<std::uint64_t>::max();
    if (seq != max) return {ms, seq + 1};
    if (ms != max) return {ms + 1, 0};
    return *this;
  }

  // The ID right before this one (0-0 stays 0-0).
  [[nodiscard]] constexpr EntryId prev() const noexcept {
    if (seq != 0) return {ms, seq - 1};
    if (ms != 0) return {ms - 1, std::numeric_limits<std::uint64_t>::max()};
    return *this;
  }

  // The first ID of a millisecond: where Start::at(time) begins.
  [[nodiscard]] static EntryId at(std::chrono::system_clock::time_point time) noexcept {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    return {ms < 0 ? 0 : static_cast<std::uint64_t>(ms), 0};
  }

  [[nodiscard]] std::string to_string() const { return std::to_string(ms) + '-' + std::to_string(seq); }

  // "<ms>-<seq>", two decimal numbers that fit 64 bits, nothing else; what
  // Redis replies, and what a client sends back as a checkpoint.
  [[nodiscard]] static std::optional<EntryId> parse(std::string_view text) noexcept {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    EntryId id;
    if (!number(text.substr(0, dash), id.ms) || !number(text.substr(dash + 1), id.seq)) return std::nullopt;
    return id;
  }

 private:
  [[nodiscard]] static bool number(std::string_view text, std::uint64_t& out) noexcept {
    if (text.empty() || text.front() < '0' || text.front() > '9') return false;  // no sign, no space
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return error == std::errc{} && end == text.data() + text.size();
  }
};

struct Field {
  std::string name;
  std::string value;
  friend bool operator==(const Field&, const Field&) = default;
};

// One record of a replica's log: a stream entry, its ID and its fields in
// the order Redis keeps them.
//
// A record with no fields is a gap: Redis never stores an entry without
// one, so it marks an add index whose entry this replica does not hold (see
// <memlog/redis.hpp>, "Offsets"): deleted or trimmed before the replica read
// it (the gap then carries the ID of the record before it), or skipped for
// its size or shape (it carries its own ID). Readers skip gaps; the IDs of a
// log's records never decrease, so offset_of() can search them.
struct Entry {
  EntryId id;
  std::vector<Field> fields;

  [[nodiscard]] bool gap() const noexcept { return fields.empty(); }

  // The value of the first field called `name`, or null.
  [[nodiscard]] const std::string* find(std::string_view name) const noexcept {
    for (const Field& field : fields) {
      if (field.name == name) return &field.value;
    }
    return nullptr;
  }

  friend bool operator==(const Entry&, const Entry&) = default;
};

// Bytes an entry counts against max_record_size and max_segment_bytes: its
// ID (16) and the bytes of its field names and values. Never 0, so a gap is
// a valid record.
inline constexpr std::size_t entry_id_size = 2 * sizeof(std::uint64_t);

[[nodiscard]] inline std::size_t entry_size(const Entry& entry) noexcept {
  std::size_t size = entry_id_size;
  for (const Field& field : entry.fields) size += field.name.size() + field.value.size();
  return size;
}

}  // namespace memlog::redis

template <>
struct memlog::RecordSize<memlog::redis::Entry> {
  [[nodiscard]] std::size_t operator()(const memlog::redis::Entry& entry) const noexcept {
    return memlog::redis::entry_size(entry);
  }
};
