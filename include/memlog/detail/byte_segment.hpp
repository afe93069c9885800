#pragma once
// A segment of byte-sequence records (std::string, std::vector<std::byte>,
// ...) whose bytes live packed in chunks, not in one heap block per record.
//
// Why: a Log<std::string> of 32-byte records held about 98 bytes per record
// as Record<std::string> (a 48-byte slot plus a 48-byte heap block), and every
// write allocated and every purge freed one block per record. Here a record
// costs its bytes, an 8-byte timestamp and a 4-byte end position; a write
// copies the bytes into a chunk, and a purge frees nothing: the chunks and
// arrays are kept for the segment's next use.
//
// Layout. Bytes have logical positions, and the chunk for position p is
// chunks[p / chunk_size]. A record never straddles two chunks: one that does
// not fit in the rest of the current chunk starts at the next chunk (the rest
// is left unused, less than a record). A record larger than a chunk gets an
// allocation of its own at a chunk boundary, covering as many chunk slots as
// it needs (the later ones stay empty), and the next record starts after it
// at a chunk boundary. So a record's start follows from the end of the record
// before it (see start_of), and only ends are stored. Ends are stored as
// their low 32 bits, with the rare points where the high bits change (after
// 4 GiB of one segment's data) kept aside in `high`.
//
// The first chunk starts small and doubles up to chunk_size, so a sharded
// log's thousand shards holding a few records each stay small; later chunks
// are allocated at full size.
//
// Not thread-safe; the Log guards its segments with its shared_mutex. Every
// mutating call has the strong guarantee: it allocates first, then commits
// without anything that can throw.

#include <algorithm>
#include <bit>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "../record.hpp"
#include "bytes.hpp"

namespace memlog::detail {

template <byte_sequence T>
class ByteSegment {
  using Traits = ByteTraits<T>;
  using Element = typename Traits::element;

 public:
  using View = typename Traits::view;
  using TimePoint = std::chrono::system_clock::time_point;

  static constexpr unsigned chunk_bits = 16;
  static constexpr std::size_t chunk_size = std::size_t{1} << chunk_bits;  // 64 KiB: a few malloc calls per MiB
  static constexpr std::size_t initial_records = 16;
  static constexpr std::size_t initial_bytes = 256;

  explicit ByteSegment(Offset start = 0) noexcept : start_(start) {}

  [[nodiscard]] Offset start() const noexcept { return start_; }
  [[nodiscard]] std::size_t size() const noexcept { return store_ ? store_->created.size() : 0; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] Offset end() const noexcept { return start_ + static_cast<Offset>(size()); }
  [[nodiscard]] bool contains(Offset offset) const noexcept { return offset >= start_ && offset < end(); }

  // Requires contains(offset).
  [[nodiscard]] TimePoint created(Offset offset) const noexcept { return store_->created[index(offset)]; }

  // The stored bytes of the record at `offset`; valid until the next mutation.
  [[nodiscard]] View data(Offset offset) const noexcept {
    const std::size_t i = index(offset);
    const std::uint64_t end = end_of(i);
    return bytes_between(start_of(i == 0 ? 0 : end_of(i - 1), end), end);
  }

  // Copies the records from `first` on into `out` (assigning, so that the
  // out records' storage is reused); requires them all to be here.
  void copy_to(Offset first, std::span<Record<T>> out) const {
    std::size_t i = index(first);
    assert(i + out.size() <= size());
    std::uint64_t previous_end = i == 0 ? 0 : end_of(i - 1);
    for (Record<T>& record : out) {
      const std::uint64_t end = end_of(i);
      record.metadata = Header{start_ + static_cast<Offset>(i), store_->created[i]};
      Traits::assign(record.data, bytes_between(start_of(previous_end, end), end));
      previous_end = end;
      ++i;
    }
  }

  // Appends a record; requires size() < limit and a non-empty `bytes` that
  // does not alias this segment. Strong guarantee.
  void push(TimePoint created, View bytes, std::size_t limit) {
    if (store_ && append_in_place(*store_, created, bytes)) return;
    if (!store_) store_ = std::make_unique<Store>();
    append(*store_, false, created, bytes, limit);
  }

  // Drops every record (purging them), restarts at `start` and appends a
  // record, reusing the storage. Strong guarantee: if an allocation fails,
  // the records are still there.
  void reset_and_push(Offset start, TimePoint created, View bytes, std::size_t limit) {
    if (!store_) store_ = std::make_unique<Store>();
    append(*store_, true, created, bytes, limit);
    start_ = start;
  }

  friend void swap(ByteSegment& a, ByteSegment& b) noexcept {
    std::swap(a.start_, b.start_);
    a.store_.swap(b.store_);
  }

 private:
  static constexpr std::uint64_t offset_mask = chunk_size - 1;

  struct Chunk {
    std::unique_ptr<Element[]> data;  // null for the later slots of a large record
    std::size_t capacity = 0;         // chunk_size, less (a small first chunk) or more (a large record)
  };

  struct Store {
    std::vector<TimePoint> created;     // one per record
    std::vector<std::uint32_t> ends;    // low 32 bits of each record's end position
    std::vector<std::pair<std::size_t, std::uint32_t>> high;  // (first record, high 32 bits) where they change
    std::vector<Chunk> chunks;          // in use up to `used`; past it, chunks kept for reuse
    std::uint64_t used = 0;             // the next free position
  };

  [[nodiscard]] std::size_t index(Offset offset) const noexcept {
    assert(contains(offset));
    return static_cast<std::size_t>(offset - start_);
  }

  [[nodiscard]] static constexpr std::uint64_t round_up(std::uint64_t position) noexcept {
    return (position + offset_mask) & ~offset_mask;
  }

  // The bytes at positions [start, end), which lie in one allocation.
  [[nodiscard]] View bytes_between(std::uint64_t start, std::uint64_t end) const noexcept {
    const Element* first = store_->chunks[static_cast<std::size_t>(start >> chunk_bits)].data.get() + (start & offset_mask);
    return Traits::make_view(first, static_cast<std::size_t>(end - start));
  }

  [[nodiscard]] std::uint64_t end_of(std::size_t i) const noexcept {
    const Store& s = *store_;
    std::uint64_t high = 0;
    if (!s.high.empty()) {
      // The last change at or before record i.
      const auto it = std::upper_bound(s.high.begin(), s.high.end(), i,
                                       [](std::size_t at, const auto& change) { return at < change.first; });
      if (it != s.high.begin()) high = std::prev(it)->second;
    }
    return (high << 32) | s.ends[i];
  }

  // Where a record that ends at `end` starts, given that the one before it
  // ended at `previous_end`: right there if it ends in the same chunk slot,
  // else at the next chunk boundary (it did not fit, or it is large).
  [[nodiscard]] static constexpr std::uint64_t start_of(std::uint64_t previous_end, std::uint64_t end) noexcept {
    return (previous_end >> chunk_bits) == ((end - 1) >> chunk_bits) ? previous_end : round_up(previous_end);
  }

  [[nodiscard]] static bool is_full(const Chunk& c) noexcept { return c.data && c.capacity == chunk_size; }
  [[nodiscard]] static bool is_small(const Chunk& c) noexcept { return c.data && c.capacity < chunk_size; }

  // The chunk that recycle() will put first (where the next record goes),
  // or null when it keeps none.
  [[nodiscard]] static const Chunk* first_after_recycle(const Store& s) noexcept {
    const auto full = std::find_if(s.chunks.begin(), s.chunks.end(), is_full);
    if (full != s.chunks.end()) return &*full;
    return !s.chunks.empty() && is_small(s.chunks[0]) ? &s.chunks[0] : nullptr;
  }

  // Drops every record. Keeps every full-size chunk, in order, and a small
  // first chunk when there is nothing bigger; large records' allocations are
  // freed.
  static void recycle(Store& s) noexcept {
    std::size_t kept = 0;
    for (std::size_t k = 0; k < s.chunks.size(); ++k) {
      if (!is_full(s.chunks[k])) continue;
      if (k != kept) s.chunks[kept] = std::move(s.chunks[k]);
      ++kept;
    }
    if (kept == 0 && !s.chunks.empty() && is_small(s.chunks[0])) kept = 1;
    s.chunks.resize(kept);  // shrinking never allocates
    s.created.clear();
    s.ends.clear();
    s.high.clear();
    s.used = 0;
  }

  // The common case of push(), which allocates nothing: the record fits in
  // the current chunk after the previous record, the arrays have room, and
  // the high bits of the end do not change. Returns false for anything else
  // (append() then does the general case). Not for large records, nor at a
  // chunk boundary (where a chunk may have to be found).
  static bool append_in_place(Store& s, TimePoint created, View bytes) noexcept {
    const std::uint64_t in_chunk = s.used & offset_mask;  // s.used is the previous record's end here
    const std::size_t size = bytes.size();
    const auto slot = static_cast<std::size_t>(s.used >> chunk_bits);
    if (in_chunk == 0 || size > chunk_size - in_chunk || slot >= s.chunks.size() ||
        s.chunks[slot].capacity < in_chunk + size || s.created.size() == s.created.capacity() ||
        s.ends.size() == s.ends.capacity() || ((s.used + size) >> 32) != (s.used >> 32)) {
      return false;
    }
    std::memcpy(s.chunks[slot].data.get() + in_chunk, bytes.data(), size);
    s.created.push_back(created);  // within capacity: no allocation
    s.ends.push_back(static_cast<std::uint32_t>(s.used + size));
    s.used += size;
    return true;
  }

  // Appends the record, after dropping every record first when `drop_all`:
  // everything that can throw happens before anything changes.
  void append(Store& s, bool drop_all, TimePoint created, View bytes, std::size_t limit) {
    const bool recycling = drop_all && !s.created.empty();
    const std::uint64_t from = drop_all ? 0 : s.used;
    const std::size_t count = drop_all ? 0 : s.created.size();
    const std::size_t size = bytes.size();
    assert(size > 0 && count < limit);

    // Placement.
    const bool large = size > chunk_size;
    const std::uint64_t start = (!large && (from & offset_mask) + size <= chunk_size) ? from : round_up(from);
    const std::uint64_t end = start + size;
    const std::size_t slot = static_cast<std::size_t>(start >> chunk_bits);
    const std::size_t slots = large ? static_cast<std::size_t>((size + chunk_size - 1) >> chunk_bits) : 1;
    const std::uint64_t next_used = large ? round_up(end) : end;
    const auto high = static_cast<std::uint32_t>(end >> 32);
    const std::uint32_t high_before = (count == 0 || s.high.empty()) ? 0 : s.high.back().second;

    // Which chunk the bytes go to, after recycling if need be (a recycled
    // segment writes at position 0, so into slot 0).
    const Chunk* existing = recycling                  ? first_after_recycle(s)
                            : slot < s.chunks.size() ? &s.chunks[slot]
                                                     : nullptr;
    const std::size_t need = static_cast<std::size_t>(end - (start & ~offset_mask));
    const bool fits = !large && existing != nullptr && existing->data && existing->capacity >= need;

    // Allocate (may throw; nothing has changed yet).
    Chunk fresh;
    if (!fits) {
      if (large) {
        fresh.capacity = size;
      } else if (slot == 0 && (existing == nullptr || existing->capacity < chunk_size)) {
        // The first chunk doubles up to full size.
        const std::size_t had = existing != nullptr ? existing->capacity : 0;
        fresh.capacity = std::min(chunk_size, std::max({initial_bytes, had * 2, std::bit_ceil(need)}));
      } else {
        fresh.capacity = chunk_size;
      }
      fresh.data = std::make_unique_for_overwrite<Element[]>(fresh.capacity);
    }
    reserve(s.created, count + 1, limit);
    reserve(s.ends, count + 1, limit);
    if (high != high_before) s.high.reserve((count == 0 ? 0 : s.high.size()) + 1);
    if (!fits && s.chunks.capacity() < slot + slots) {
      s.chunks.reserve(std::max(slot + slots, 2 * s.chunks.capacity()));  // geometric: amortised O(1) per chunk
    }

    // Commit: nothing below throws.
    if (recycling) recycle(s);
    if (!fits) {
      if (s.chunks.size() < slot + slots) s.chunks.resize(slot + slots);  // within capacity: no allocation
      Chunk& target = s.chunks[slot];
      // A growing first chunk keeps the bytes written so far.
      if (slot == 0 && !large && target.data && s.used > 0) {
        std::memcpy(fresh.data.get(), target.data.get(), static_cast<std::size_t>(s.used));
      }
      target = std::move(fresh);
      for (std::size_t k = slot + 1; k < slot + slots; ++k) s.chunks[k] = Chunk{};
    }
    std::memcpy(s.chunks[slot].data.get() + (start & offset_mask), bytes.data(), size);
    s.created.push_back(created);
    s.ends.push_back(static_cast<std::uint32_t>(end));
    if (high != high_before) s.high.emplace_back(count, high);
    s.used = next_used;
  }

  template <class V>
  static void reserve(std::vector<V>& v, std::size_t wanted, std::size_t limit) {
    if (wanted <= v.capacity()) return;
    v.reserve(std::min(limit, std::max({initial_records, v.capacity() * 2, wanted})));
  }

  Offset start_;
  std::unique_ptr<Store> store_;  // null until the first write: an idle segment is 16 bytes
};

}  // namespace memlog::detail
