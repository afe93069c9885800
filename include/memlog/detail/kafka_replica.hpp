#pragma once
// How a Kafka replica turns what the consumer delivers into writes to one
// partition's log, keeping the memlog offset equal to the Kafka offset. No
// librdkafka here: the rules are tested on their own (tests/test_kafka.cpp),
// with offsets the mock cluster cannot produce (gaps).
//
// The log is written only by its replica, on the source's thread, so
// log.next_offset() is the replica's position: every Kafka offset below it
// holds its record or a placeholder, and nothing at or above it is written.

#include <atomic>
#include <cassert>
#include <cstdint>
#include <stop_token>
#include <system_error>
#include <utility>

#include "../errors.hpp"
#include "../log.hpp"
#include "kafka_message.hpp"

namespace memlog::kafka {

// What the source does with a record larger than the log's max_record_size.
enum class TooLarge : std::uint8_t {
  skip,  // write a Kind::too_large placeholder at its offset, count it, go on
  stop,  // stop the source with memlog::Errc::record_too_large
};

// What a partition's replica has written and dropped so far.
struct Counters {
  std::uint64_t records = 0;     // Kafka records written
  std::uint64_t gaps = 0;        // Kind::gap placeholders: offsets at which Kafka has no record
  std::uint64_t lost = 0;        // Kind::lost placeholders: records the broker deleted unread
  std::uint64_t too_large = 0;   // Kind::too_large placeholders: records above max_record_size
  std::uint64_t duplicates = 0;  // records delivered again below the replica's position, dropped
  friend bool operator==(const Counters&, const Counters&) = default;
};

namespace detail {

class PartitionReplica {
 public:
  // max_gap > 0: the largest gap filled with placeholders.
  PartitionReplica(Log<Message>& log, std::int32_t partition, TooLarge too_large, Offset max_gap) noexcept
      : log_(log), partition_(partition), too_large_(too_large), max_gap_(max_gap) {}

  PartitionReplica(const PartitionReplica&) = delete;
  PartitionReplica& operator=(const PartitionReplica&) = delete;

  // Applies the record Kafka holds at message.offset. Below the position: a
  // redelivery, dropped and counted. Above it: the offsets in between have
  // no record in Kafka (it skips them only for that reason), so they get
  // Kind::gap placeholders first, unless there are more than max_gap of them.
  // Returns empty, or why the source must stop: Errc::gap_too_large,
  // memlog::Errc::record_too_large (TooLarge::stop), memlog::Errc::closed,
  // memlog::Errc::offset_overflow, or memlog::Errc::cancelled (stop was
  // requested in the middle of a gap; the rest is filled on the next apply).
  [[nodiscard]] std::error_code apply(Message&& message, const std::stop_token& stop = {}) {
    const Offset next = log_.next_offset();
    if (message.offset < next) {
      bump(duplicates_);
      return {};
    }
    if (message.offset > next) {
      if (message.offset - next > max_gap_) return Errc::gap_too_large;
      if (std::error_code error = fill(message.offset, Kind::gap, stop)) return error;
    }
    message.partition = partition_;
    message.kind = Kind::record;
    if (RecordSize<Message>{}(message) > log_.options().max_record_size) return refuse(std::move(message));
    const Offset offset = message.offset;
    if (std::error_code error = put(offset, std::move(message))) {
      return error == memlog::Errc::record_too_large ? refuse(placeholder(offset, Kind::too_large)) : error;
    }
    bump(records_);
    return {};
  }

  // The broker no longer holds the offsets below `low` (its retention deleted
  // them before the replica read them): Kind::lost placeholders from the
  // position up to `low`, within max_gap. Errors as apply().
  [[nodiscard]] std::error_code lose_to(Offset low, const std::stop_token& stop = {}) {
    const Offset next = log_.next_offset();
    if (low <= next) return {};
    if (low - next > max_gap_) return Errc::gap_too_large;
    return fill(low, Kind::lost, stop);
  }

  // A snapshot; each counter exact at some moment of the call.
  [[nodiscard]] Counters counters() const noexcept {
    return {load(records_), load(gaps_), load(lost_), load(too_large_count_), load(duplicates_)};
  }

  [[nodiscard]] std::int32_t partition() const noexcept { return partition_; }
  [[nodiscard]] Log<Message>& log() noexcept { return log_; }
  [[nodiscard]] const Log<Message>& log() const noexcept { return log_; }

 private:
  // How often a long fill looks at the stop token.
  static constexpr Offset stop_check_interval = 4096;

  [[nodiscard]] Message placeholder(Offset offset, Kind kind) const {
    Message message;
    message.partition = partition_;
    message.offset = offset;
    message.kind = kind;
    return message;
  }

  // Placeholders of `kind` from the position up to `to`.
  [[nodiscard]] std::error_code fill(Offset to, Kind kind, const std::stop_token& stop) {
    std::atomic<std::uint64_t>& counter = kind == Kind::lost ? lost_ : gaps_;
    for (Offset offset = log_.next_offset(); offset < to; ++offset) {
      if ((offset & (stop_check_interval - 1)) == 0 && stop.stop_requested()) return memlog::Errc::cancelled;
      if (std::error_code error = put(offset, placeholder(offset, kind))) return error;
      bump(counter);
    }
    return {};
  }

  // A record above max_record_size, by policy. Keeps only its timestamp.
  [[nodiscard]] std::error_code refuse(Message&& message) {
    if (too_large_ == TooLarge::stop) return memlog::Errc::record_too_large;
    Message kept = placeholder(message.offset, Kind::too_large);
    kept.timestamp = message.timestamp;
    if (std::error_code error = put(kept.offset, std::move(kept))) return error;
    bump(too_large_count_);
    return {};
  }

  // Writes `message` at `offset`, which is the position: the replica is the
  // log's only writer.
  [[nodiscard]] std::error_code put(Offset offset, Message&& message) {
    const Result<Offset> written = log_.write(std::move(message));
    if (!written) return written.error();
    assert(*written == offset && "memlog::kafka: a replica's log has another writer");
    static_cast<void>(offset);
    return {};
  }

  // relaxed: statistics, written by the source's thread only and read as
  // snapshots; no other memory is published through them.
  static void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  [[nodiscard]] static std::uint64_t load(const std::atomic<std::uint64_t>& counter) noexcept {
    return counter.load(std::memory_order_relaxed);
  }

  Log<Message>& log_;
  const std::int32_t partition_;
  const TooLarge too_large_;
  const Offset max_gap_;
  std::atomic<std::uint64_t> records_{0};
  std::atomic<std::uint64_t> gaps_{0};
  std::atomic<std::uint64_t> lost_{0};
  std::atomic<std::uint64_t> too_large_count_{0};
  std::atomic<std::uint64_t> duplicates_{0};
};

}  // namespace detail
}  // namespace memlog::kafka
