#pragma once
// A segment: up to max_segment_size consecutive records from `start` on,
// stored as Record<T> objects (byte sequences use ByteSegment instead).
//
// Not thread-safe; the Log guards its segments with its shared_mutex. Storage
// grows geometrically up to max_segment_size, so a fresh or lightly used log
// holds little, and reset_and_push() keeps the capacity, so that a purged segment's
// storage is reused by the next active segment rather than freed and
// allocated again.

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "../record.hpp"

namespace memlog::detail {

template <class T>
class Segment {
 public:
  // Records reserved at the first write into an empty segment. Small, so a
  // sharded log's thousand shards stay cheap when each holds a few records.
  static constexpr std::size_t initial_capacity = 16;

  explicit Segment(Offset start = 0) noexcept : start_(start) {}

  [[nodiscard]] Offset start() const noexcept { return start_; }
  [[nodiscard]] std::size_t size() const noexcept { return records_.size(); }
  [[nodiscard]] bool empty() const noexcept { return records_.empty(); }

  // One past the last offset held.
  [[nodiscard]] Offset end() const noexcept { return start_ + static_cast<Offset>(records_.size()); }

  [[nodiscard]] bool contains(Offset offset) const noexcept { return offset >= start_ && offset < end(); }

  // Requires contains(offset).
  [[nodiscard]] const Record<T>& at(Offset offset) const noexcept {
    assert(contains(offset));
    return records_[static_cast<std::size_t>(offset - start_)];
  }

  // Copies the records from `first` on into `out` (assigning, so that the
  // out records' storage is reused); requires them all to be here.
  void copy_to(Offset first, std::span<Record<T>> out) const {
    assert(contains(first) && first + static_cast<Offset>(out.size()) <= end());
    const auto from = records_.begin() + (first - start_);
    std::copy(from, from + static_cast<std::ptrdiff_t>(out.size()), out.begin());
  }

  // Appends a record with the next offset; requires size() < limit.
  // Strong guarantee (std::vector's).
  void push(std::chrono::system_clock::time_point created, T&& data, std::size_t limit) {
    reserve_next(limit);
    records_.push_back(Record<T>{Header{end(), created}, std::move(data)});
  }

  // Drops every record (purging them), restarts at `start` and appends a
  // record, reusing the storage. Strong guarantee: if an allocation or T's
  // move throws, the records are still there.
  void reset_and_push(Offset start, std::chrono::system_clock::time_point created, T&& data, std::size_t limit) {
    if constexpr (std::is_nothrow_move_constructible_v<T>) {
      if (records_.capacity() == 0) records_.reserve(std::min(initial_capacity, limit));
      // Nothing below throws: the storage has room for one record.
      records_.clear();
      start_ = start;
      records_.push_back(Record<T>{Header{start, created}, std::move(data)});
    } else {
      // T's move may throw: build the new segment aside, then commit.
      Segment fresh(start);
      fresh.push(created, std::move(data), limit);
      swap(*this, fresh);  // `fresh` now holds the purged records
    }
  }

  friend void swap(Segment& a, Segment& b) noexcept {
    std::swap(a.start_, b.start_);
    a.records_.swap(b.records_);
  }

 private:
  // Makes room for one more record without exceeding `limit` records.
  void reserve_next(std::size_t limit) {
    if (records_.size() < records_.capacity()) return;
    const std::size_t grown = std::max(initial_capacity, records_.capacity() * 2);
    records_.reserve(std::min(grown, limit));
  }

  Offset start_;
  std::vector<Record<T>> records_;
};

}  // namespace memlog::detail
