#pragma once
// A segment: up to max_segment_size consecutive records from `start` on,
// stored as Record<T> objects (byte sequences use ByteSegment instead).
//
// Storage is a StableVector: blocks that grow geometrically up to
// max_segment_size records and never move, so a fresh or lightly used log
// holds little, and readers may read published records while the writer
// appends. reset_and_push() keeps every block, so a purged segment's storage
// is reused by the next active segment rather than freed and allocated again.
//
// Concurrency (the Log enforces it): one writer calls push(). Meanwhile any
// number of readers may call at() and copy_to() for offsets in
// [start(), published), where `published` is an offset the writer stored
// with release after push() returned and the reader loaded with acquire:
// push() writes only memory past the published records and writer-only state.
// size(), empty(), end() and contains() are for the writer. reset_and_push()
// and swap() require that no reader is inside.

#include <algorithm>
#include <cassert>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>

#include "../record.hpp"
#include "stable_vector.hpp"

namespace memlog::detail {

template <class T>
class Segment {
  using Records = StableVector<Record<T>, 4>;

 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // Records in the first block, allocated at the first write. Small, so a
  // sharded log's thousand shards stay cheap when each holds a few records.
  static constexpr std::size_t initial_capacity = Records::first_block;

  explicit Segment(Offset start = 0) noexcept : start_(start) {}

  [[nodiscard]] Offset start() const noexcept { return start_; }

  // Writer only.
  [[nodiscard]] std::size_t size() const noexcept { return records_.size(); }
  [[nodiscard]] bool empty() const noexcept { return records_.empty(); }
  // One past the last offset held.
  [[nodiscard]] Offset end() const noexcept { return start_ + static_cast<Offset>(records_.size()); }
  [[nodiscard]] bool contains(Offset offset) const noexcept { return offset >= start_ && offset < end(); }

  // Requires a published offset >= start().
  [[nodiscard]] const Record<T>& at(Offset offset) const noexcept { return records_[index(offset)]; }

  // Copies the records from `first` on into `out` (assigning, so that the
  // out records' storage is reused); requires them all to be published.
  void copy_to(Offset first, std::span<Record<T>> out) const {
    auto to = out.begin();
    records_.for_each_run(index(first), out.size(), [&](const Record<T>* from, std::size_t n) {
      to = std::copy(from, from + n, to);
    });
  }

  // Appends a record with the next offset; requires size() < limit, and
  // `limit` the same on every call. Strong guarantee: if an allocation or
  // T's move (copy, for an lvalue) throws, the segment is unchanged.
  template <class U>
    requires std::same_as<std::remove_cvref_t<U>, T>
  void push(TimePoint created, U&& data, std::size_t limit) {
    records_.reserve_next(limit);  // may allocate a block; nothing visible changes
    records_.emplace_back(Header{end(), created}, std::forward<U>(data));
  }

  // Drops every record (purging them), restarts at `start` and appends a
  // record, reusing the storage. Strong guarantee: if an allocation or T's
  // move (copy) throws, the records are still there. Steady state allocates
  // nothing.
  template <class U>
    requires std::same_as<std::remove_cvref_t<U>, T>
  void reset_and_push(Offset start, TimePoint created, U&& data, std::size_t limit) {
    if constexpr (std::is_nothrow_constructible_v<T, U&&>) {
      records_.reserve(1, limit);
      // Nothing below throws.
      records_.clear();
      records_.emplace_back(Header{start, created}, std::forward<U>(data));
    } else {
      // Building the record may throw: build it in a spare first block (kept
      // from one rotation to the next) before dropping the records.
      records_.reserve_spare(limit);
      records_.replace_all(Header{start, created}, std::forward<U>(data));
    }
    start_ = start;
  }

  friend void swap(Segment& a, Segment& b) noexcept {
    std::swap(a.start_, b.start_);
    swap(a.records_, b.records_);
  }

 private:
  [[nodiscard]] std::size_t index(Offset offset) const noexcept {
    assert(offset >= start_);
    return static_cast<std::size_t>(offset - start_);
  }

  Offset start_;
  Records records_;  // one pointer: an idle segment is 16 bytes
};

}  // namespace memlog::detail
