#pragma once
// The part of <memlog/kafka.hpp> that needs no librdkafka: the record a
// Kafka replica's log holds (memlog::kafka::Message), its size, and the
// source's own error codes. See <memlog/kafka.hpp> for the whole design.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "../record.hpp"
#include "../record_size.hpp"

namespace memlog::kafka {

// One header of a Kafka record. Kafka allows a null value, distinct from an
// empty one.
struct HeaderField {
  std::string name;
  std::optional<std::string> value;
  friend bool operator==(const HeaderField&, const HeaderField&) = default;
};

// What a replica's log holds at an offset. A replica's offsets are Kafka's,
// and a memlog log has a record at every offset, so an offset at which the
// replica holds no Kafka record holds a placeholder saying why.
enum class Kind : std::uint8_t {
  record,     // the Kafka record at this offset
  gap,        // Kafka has no record here: a transaction marker, a record removed by
              // compaction, or one of an aborted transaction (read_committed)
  lost,       // the broker deleted the record (retention) before the replica read it
  too_large,  // the record was larger than the log's max_record_size and was not kept
};

// A Kafka record as a replica holds it. A placeholder (kind != record) has no
// key, value or headers; a too_large one keeps the record's timestamp.
struct Message {
  std::optional<std::string> key;    // empty: a null key
  std::optional<std::string> value;  // empty: a null value (a tombstone, for a compacted topic)
  std::vector<HeaderField> headers;
  // The record's Kafka timestamp (create or log-append time, as the topic
  // says); the epoch when it has none. Not the same as the memlog Header's
  // `created`, which is when this replica wrote it.
  std::chrono::system_clock::time_point timestamp{};
  std::int32_t partition = -1;
  Offset offset = -1;  // the Kafka offset, equal to the memlog offset
  Kind kind = Kind::record;
  friend bool operator==(const Message&, const Message&) = default;
};

// The payload bytes of a message: key, value, header names and values.
[[nodiscard]] inline std::size_t payload_bytes(const Message& message) noexcept {
  std::size_t bytes = (message.key ? message.key->size() : 0) + (message.value ? message.value->size() : 0);
  for (const HeaderField& header : message.headers) {
    bytes += header.name.size() + (header.value ? header.value->size() : 0);
  }
  return bytes;
}

// Errors of the source itself (librdkafka's own come in rdkafka_category(),
// <memlog/kafka.hpp>; memlog's as memlog::Errc).
enum class Errc {
  topic_not_found = 1,  // the broker does not know the topic
  partition_not_found,  // a partition to follow does not exist
  offset_not_retained,  // a start offset outside what the broker holds [low, high]
  gap_too_large,        // the next record is more than Config::max_gap offsets ahead
  truncated,            // the broker's log ends below the replica's position: its
                        // offsets no longer name the records the replica holds
};

namespace detail {

class ErrorCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "memlog.kafka"; }

  [[nodiscard]] std::string message(int code) const override {
    switch (static_cast<Errc>(code)) {
      case Errc::topic_not_found: return "topic not found";
      case Errc::partition_not_found: return "partition not found";
      case Errc::offset_not_retained: return "start offset not retained by the broker";
      case Errc::gap_too_large: return "offset gap larger than max_gap";
      case Errc::truncated: return "broker log truncated below the replica's position";
    }
    return "unknown memlog.kafka error";
  }
};

}  // namespace detail

[[nodiscard]] inline const std::error_category& error_category() noexcept {
  static const detail::ErrorCategory category;
  return category;
}

[[nodiscard]] inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace memlog::kafka

template <>
struct std::is_error_code_enum<memlog::kafka::Errc> : std::true_type {};

// A message counts its payload bytes against max_record_size and
// max_segment_bytes, and at least 1: memlog refuses a record of size 0, but
// a Kafka record with no key, value or header (and a placeholder) still
// holds an offset.
template <>
struct memlog::RecordSize<memlog::kafka::Message> {
  [[nodiscard]] std::size_t operator()(const memlog::kafka::Message& message) const noexcept {
    return std::max<std::size_t>(1, memlog::kafka::payload_bytes(message));
  }
};
