#pragma once
// A segment of byte-sequence records (std::string, std::vector<std::byte>,
// ...) whose bytes live packed in chunks, not in one heap block per record.
//
// Why: as Record<std::string> a 32-byte record costs a 48-byte slot plus a
// heap block, and every write allocates and every purge frees one block per
// record. Here a record costs its bytes, an 8-byte timestamp and a 4-byte end
// position; a write copies the bytes into a chunk, and a purge frees only
// records larger than a chunk: the chunks and arrays are kept for the
// segment's next use.
//
// Layout. Bytes have logical positions; chunk slot k covers positions
// [k * chunk_size, (k + 1) * chunk_size) and holds one chunk, whose bytes
// start at the slot's start. A record never straddles two slots: one that
// does not fit in the rest of the current chunk starts at the next slot (the
// rest is left unused, less than a record). A record larger than a chunk gets
// an allocation of its own at a slot boundary, covering as many slots as it
// needs (the later ones stay null), and the next record starts at the slot
// after it. So a record's start follows from the end of the record before it
// (see start_of), and only ends are stored: their low 32 bits, with the rare
// records where the high bits change (after 4 GiB of one segment's data) kept
// aside in `high`.
//
// Chunks start small (initial_bytes) and each new one doubles, up to
// chunk_size, so a sharded log's thousand shards holding a few records each
// stay small. A small chunk that is full is not replaced by a bigger copy
// (readers may be reading it): the next record simply starts in the next
// slot, with a chunk twice as big. A purge keeps every chunk in a pool, which
// the segment's next use draws from before it allocates: at steady state a
// rotation allocates only for records larger than a chunk.
//
// Concurrency (the Log enforces it): one writer calls push(). Meanwhile any
// number of readers may call created(), data() and copy_to() for offsets in
// [start(), published), where `published` is an offset the writer stored
// with release after push() returned and the reader loaded with acquire.
// push() writes only past the published bytes and records, into tables whose
// entries never move (StableVector), and writer-only state; the one count a
// reader reads that push() may change, the length of `high`, is atomic.
// size(), empty(), end() and contains() are for the writer. reset_and_push()
// and swap() require that no reader is inside.
//
// Every mutating call has the strong guarantee: it allocates first, then
// commits without anything that can throw.

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <utility>

#include "../record.hpp"
#include "bytes.hpp"
#include "stable_vector.hpp"

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
  static constexpr std::size_t initial_records = 16;                      // the first block of per-record entries
  static_assert(std::has_single_bit(initial_records));
  static constexpr std::size_t initial_bytes = 256;                       // the first chunk

  explicit ByteSegment(Offset start = 0) noexcept : start_(start) {}

  [[nodiscard]] Offset start() const noexcept { return start_; }

  // Writer only.
  [[nodiscard]] std::size_t size() const noexcept { return store_ ? store_->entries.size() : 0; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] Offset end() const noexcept { return start_ + static_cast<Offset>(size()); }
  [[nodiscard]] bool contains(Offset offset) const noexcept { return offset >= start_ && offset < end(); }

  // Requires a published offset >= start().
  [[nodiscard]] TimePoint created(Offset offset) const noexcept { return created_of(store_->entries[index(offset)]); }

  // The stored bytes of the record at `offset` (a published offset >=
  // start()); valid until the segment is reset, swapped or destroyed (not
  // merely until the next push: stored bytes never move).
  [[nodiscard]] View data(Offset offset) const noexcept { return read(offset).data; }

  // created() and data() with one lookup.
  struct Stored {
    TimePoint created;
    View data;
  };
  [[nodiscard]] Stored read(Offset offset) const noexcept {
    const Store& s = *store_;
    const std::size_t i = index(offset);
    const std::size_t highs = s.high_count.load(std::memory_order_acquire);  // see Store::high_count
    const auto [entry, previous] = s.entries.with_previous(i);
    const std::uint64_t end = widen(s, i, entry->end, highs);
    const std::uint64_t previous_end = previous == nullptr ? 0 : widen(s, i - 1, previous->end, highs);
    return {created_of(*entry), bytes_between(s, start_of(previous_end, end), end)};
  }

  // Copies the records from `first` on into `out` (assigning, so that the
  // out records' storage is reused); requires them all to be published.
  void copy_to(Offset first, std::span<Record<T>> out) const {
    if (out.empty()) return;
    const Store& s = *store_;
    const std::size_t highs = s.high_count.load(std::memory_order_acquire);  // see Store::high_count
    std::size_t i = index(first);
    std::uint64_t previous_end = i == 0 ? 0 : end_of(s, i - 1, highs);
    for (Record<T>& record : out) {
      const Entry& entry = s.entries[i];
      const std::uint64_t end = widen(s, i, entry.end, highs);
      record.metadata = Header{start_ + static_cast<Offset>(i), created_of(entry)};
      Traits::assign(record.data, bytes_between(s, start_of(previous_end, end), end));
      previous_end = end;
      ++i;
    }
  }

  // Appends a record; requires size() < limit (the same `limit` on every
  // call) and a non-empty `bytes` that does not alias this segment. Strong
  // guarantee.
  void push(TimePoint created, View bytes, std::size_t limit) {
    if (store_ && append_in_place(*store_, created, bytes)) return;
    if (!store_) store_ = std::make_unique<Store>();
    Store& s = *store_;
    assert(!bytes.empty() && s.entries.size() < limit);
    const Plan plan = plan_after(s, bytes.size());
    reserve(s, plan, bytes.size(), s.entries.size(), s.high.size(), limit);
    FreshChunk chunk;
    if (plan.new_slots > 0 && (plan.large || !pool_fits(s, bytes.size(), false))) chunk = allocate_for(s, plan, bytes.size());
    // Commit: nothing below throws.
    place(s, plan, created, bytes, std::move(chunk));
  }

  // Drops every record (purging them), restarts at `start` and appends a
  // record, reusing the storage. Strong guarantee: if an allocation fails,
  // the records are still there.
  void reset_and_push(Offset start, TimePoint created, View bytes, std::size_t limit) {
    if (!store_) store_ = std::make_unique<Store>();
    Store& s = *store_;
    assert(!bytes.empty());
    const Plan plan = plan_first(bytes.size());
    reserve(s, plan, bytes.size(), 0, 0, limit);
    FreshChunk chunk;
    if (plan.large || !pool_fits(s, bytes.size(), true)) chunk = allocate_for(s, plan, bytes.size());
    // Commit: nothing below throws.
    recycle(s);
    start_ = start;
    place(s, plan, created, bytes, std::move(chunk));
  }

  friend void swap(ByteSegment& a, ByteSegment& b) noexcept {
    std::swap(a.start_, b.start_);
    a.store_.swap(b.store_);
  }

 private:
  static constexpr std::uint64_t offset_mask = chunk_size - 1;
  static constexpr std::size_t max_slots = std::size_t{1} << (64 - chunk_bits);  // positions are 64-bit
  static constexpr std::size_t max_high_changes = (std::size_t{1} << 32) + 1;
  static constexpr std::size_t cache_line = 64;

  // Per record: the low 32 bits of its end position and its timestamp (as
  // two halves, so that the entry is 12 bytes, not 16).
  struct Entry {
    std::uint32_t end;
    std::uint32_t created[2];
  };
  static_assert(sizeof(Entry) == 12 && sizeof(TimePoint::rep) == 8);

  struct HighChange {
    std::size_t first;  // the first record whose end has these high bits
    std::uint32_t high;
  };

  // Before each chunk's bytes (and each large record's).
  struct ChunkHeader {
    ChunkHeader* next = nullptr;  // in a pool
    std::size_t capacity = 0;     // bytes after the header: < chunk_size (small), chunk_size, or > (a large record)
  };

  struct ChunkDeleter {
    void operator()(ChunkHeader* chunk) const noexcept { free_chunk(chunk); }
  };
  using FreshChunk = std::unique_ptr<ChunkHeader, ChunkDeleter>;

  struct alignas(cache_line) Store {
    // What readers read, written by push() only before the records that lead
    // readers to it are published.
    StableVector<Entry, std::countr_zero(initial_records)> entries;  // one per record
    StableVector<Element*, 4> slots;        // the bytes of each slot; null inside a large record
    StableVector<HighChange, 1> high;       // where the high 32 bits of the ends change
    // The length of `high`. Atomic because push() appends to `high` while
    // readers search it: release (in place()) after writing the new change,
    // acquire in readers, so that a reader sees every change it counts and
    // the table entries that lead to it. A change for a published record is
    // counted for every reader of it (it was stored before the publication).
    std::atomic<std::size_t> high_count{0};

    // Writer only, on cache lines of their own.
    alignas(cache_line) std::uint64_t used = 0;  // the next free position
    std::uint64_t room_end = 0;                  // append_in_place() may write up to here
    Element* current = nullptr;                  // the chunk `used` lies in (null after a large record)
    std::uint64_t current_start = 0;             // its position
    std::uint32_t last_high = 0;                 // high 32 bits of the last record's end
    std::size_t next_small = initial_bytes;      // the next new chunk's capacity (doubles up to chunk_size)
    ChunkHeader* small_pool = nullptr;           // kept chunks smaller than chunk_size, in slot order
    ChunkHeader* full_pool = nullptr;            // kept chunks of chunk_size

    Store() = default;
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;
    ~Store() {
      for (std::size_t k = 0; k < slots.size(); ++k) {
        if (slots[k] != nullptr) free_chunk(header_of(slots[k]));
      }
      free_list(small_pool);
      free_list(full_pool);
    }
  };

  // Where a record goes.
  struct Plan {
    std::uint64_t start = 0;     // position of its first byte
    std::size_t first_slot = 0;  // the first new slot, when new_slots > 0
    std::size_t new_slots = 0;   // 0: in the current chunk; 1: a new chunk; more: a large record
    bool large = false;
  };

  // --- Positions -----------------------------------------------------------

  [[nodiscard]] std::size_t index(Offset offset) const noexcept {
    assert(store_ != nullptr && offset >= start_);
    return static_cast<std::size_t>(offset - start_);
  }

  [[nodiscard]] static constexpr std::uint64_t round_up(std::uint64_t position) noexcept {
    return (position + offset_mask) & ~offset_mask;
  }

  // Where a record that ends at `end` starts, given that the one before it
  // ended at `previous_end`: right there if it ends in the same slot, else at
  // the next slot boundary (it did not fit, or it is large).
  [[nodiscard]] static constexpr std::uint64_t start_of(std::uint64_t previous_end, std::uint64_t end) noexcept {
    return (previous_end >> chunk_bits) == ((end - 1) >> chunk_bits) ? previous_end : round_up(previous_end);
  }

  [[nodiscard]] static TimePoint created_of(const Entry& entry) noexcept {
    TimePoint::rep rep;
    std::memcpy(&rep, entry.created, sizeof rep);
    return TimePoint(TimePoint::duration(rep));
  }

  [[nodiscard]] static Entry make_entry(std::uint64_t end, TimePoint created) noexcept {
    Entry entry{static_cast<std::uint32_t>(end), {}};
    const TimePoint::rep rep = created.time_since_epoch().count();
    std::memcpy(entry.created, &rep, sizeof rep);
    return entry;
  }

  // The end position of record i, whose low 32 bits are `low`. `highs`:
  // s.high_count, loaded with acquire.
  [[nodiscard]] static std::uint64_t widen(const Store& s, std::size_t i, std::uint32_t low, std::size_t highs) noexcept {
    return highs == 0 ? low : (std::uint64_t{high_of(s, i, highs)} << 32) | low;
  }
  [[nodiscard]] static std::uint64_t end_of(const Store& s, std::size_t i, std::size_t highs) noexcept {
    return widen(s, i, s.entries[i].end, highs);
  }

  // The high bits of record i's end: those of the last change at or before i.
  [[nodiscard]] static std::uint32_t high_of(const Store& s, std::size_t i, std::size_t highs) noexcept {
    std::size_t lo = 0;
    std::size_t hi = highs;
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (s.high[mid].first <= i) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo == 0 ? 0 : s.high[lo - 1].high;
  }

  // The bytes at positions [start, end), which lie in one slot's allocation.
  [[nodiscard]] static View bytes_between(const Store& s, std::uint64_t start, std::uint64_t end) noexcept {
    const Element* first = s.slots[static_cast<std::size_t>(start >> chunk_bits)] + (start & offset_mask);
    return Traits::make_view(first, static_cast<std::size_t>(end - start));
  }

  // --- Chunks --------------------------------------------------------------

  [[nodiscard]] static Element* data_of(ChunkHeader* chunk) noexcept {
    return reinterpret_cast<Element*>(reinterpret_cast<std::byte*>(chunk) + sizeof(ChunkHeader));
  }
  [[nodiscard]] static ChunkHeader* header_of(Element* data) noexcept {
    return std::launder(reinterpret_cast<ChunkHeader*>(reinterpret_cast<std::byte*>(data) - sizeof(ChunkHeader)));
  }

  [[nodiscard]] static FreshChunk allocate_chunk(std::size_t capacity) {
    void* raw = ::operator new(sizeof(ChunkHeader) + capacity);
    return FreshChunk(::new (raw) ChunkHeader{nullptr, capacity});
  }

  static void free_chunk(ChunkHeader* chunk) noexcept {
    chunk->~ChunkHeader();
    ::operator delete(static_cast<void*>(chunk));
  }

  static void free_list(ChunkHeader* chunk) noexcept {
    while (chunk != nullptr) free_chunk(std::exchange(chunk, chunk->next));
  }

  // A new chunk or large allocation for `plan`.
  [[nodiscard]] static FreshChunk allocate_for(const Store& s, const Plan& plan, std::size_t size) {
    if (plan.large) return allocate_chunk(size);
    return allocate_chunk(std::min(chunk_size, std::max(s.next_small, std::bit_ceil(size))));
  }

  // Whether a kept chunk can take a record of `size` (<= chunk_size) bytes;
  // with `recycled`, also counting the chunks that recycle() is about to keep.
  [[nodiscard]] static bool pool_fits(const Store& s, std::size_t size, bool recycled) noexcept {
    if (s.full_pool != nullptr) return true;
    for (const ChunkHeader* c = s.small_pool; c != nullptr; c = c->next) {
      if (c->capacity >= size) return true;
    }
    if (recycled) {
      for (std::size_t k = 0; k < s.slots.size(); ++k) {
        if (s.slots[k] != nullptr && header_of(s.slots[k])->capacity <= chunk_size &&
            header_of(s.slots[k])->capacity >= size) {
          return true;
        }
      }
    }
    return false;
  }

  // Takes the first kept chunk that fits `size` bytes: the small ones first,
  // in the order the last use of the segment had them. Requires pool_fits().
  [[nodiscard]] static ChunkHeader* take_pooled(Store& s, std::size_t size) noexcept {
    for (ChunkHeader** link = &s.small_pool; *link != nullptr; link = &(*link)->next) {
      if ((*link)->capacity >= size) return std::exchange(*link, (*link)->next);
    }
    assert(s.full_pool != nullptr);
    return std::exchange(s.full_pool, s.full_pool->next);
  }

  // --- Writing -------------------------------------------------------------

  // The common case of push(), which allocates nothing: the record fits in
  // the current chunk after the previous record and the per-record entries
  // have room. Returns false for anything else (push() then does the
  // general case). room_end stops short of a 4 GiB boundary, so the high
  // bits of the end never change here.
  static bool append_in_place(Store& s, TimePoint created, View bytes) noexcept {
    const std::size_t size = bytes.size();
    const std::uint64_t end = s.used + size;
    if (end > s.room_end || !s.entries.has_room()) return false;
    s.entries.push_in_room(make_entry(end, created));
    std::memcpy(s.current + (s.used - s.current_start), bytes.data(), size);
    s.used = end;
    return true;
  }

  // Where a record of `size` bytes goes after the segment's last record.
  [[nodiscard]] static Plan plan_after(const Store& s, std::size_t size) noexcept {
    const bool large = size > chunk_size;
    if (!large && s.current != nullptr && s.used + size <= s.current_start + header_of(s.current)->capacity) {
      return Plan{s.used, 0, 0, false};
    }
    return new_slots_at(round_up(s.used), size);
  }

  // Where a record of `size` bytes goes in an empty segment.
  [[nodiscard]] static Plan plan_first(std::size_t size) noexcept { return new_slots_at(0, size); }

  [[nodiscard]] static Plan new_slots_at(std::uint64_t start, std::size_t size) noexcept {
    const bool large = size > chunk_size;
    const std::size_t slots = large ? static_cast<std::size_t>((size + offset_mask) >> chunk_bits) : 1;
    return Plan{start, static_cast<std::size_t>(start >> chunk_bits), slots, large};
  }

  // Reserves what place() needs for `plan` after `count` records and `highs`
  // high-bit changes. Strong guarantee (it only allocates).
  static void reserve(Store& s, const Plan& plan, std::size_t size, std::size_t count, std::size_t highs,
                      std::size_t limit) {
    s.entries.reserve(count + 1, limit);
    if (plan.new_slots > 0) {
      assert(plan.first_slot + plan.new_slots <= max_slots);
      s.slots.reserve(plan.first_slot + plan.new_slots, max_slots);
    }
    const std::uint32_t last_high = count == 0 ? 0 : s.last_high;
    if (static_cast<std::uint32_t>((plan.start + size) >> 32) != last_high) s.high.reserve(highs + 1, max_high_changes);
  }

  // Drops every record: chunks go to the pools (in slot order), large
  // records' allocations are freed.
  static void recycle(Store& s) noexcept {
    for (std::size_t k = s.slots.size(); k-- > 0;) {
      Element* bytes = s.slots[k];
      if (bytes == nullptr) continue;
      ChunkHeader* chunk = header_of(bytes);
      if (chunk->capacity > chunk_size) {
        free_chunk(chunk);
      } else {
        ChunkHeader*& pool = chunk->capacity == chunk_size ? s.full_pool : s.small_pool;
        chunk->next = pool;
        pool = chunk;
      }
    }
    s.slots.clear();
    s.entries.clear();
    s.high.clear();
    // relaxed: no reader is inside (the caller's exclusion orders this store).
    s.high_count.store(0, std::memory_order_relaxed);
    s.used = 0;
    s.room_end = 0;
    s.current = nullptr;
    s.current_start = 0;
    s.last_high = 0;
  }

  // Appends the record as planned, into `chunk` if one was allocated for it,
  // else into a kept chunk. Requires reserve() and, for new slots without
  // `chunk`, pool_fits().
  static void place(Store& s, const Plan& plan, TimePoint created, View bytes, FreshChunk chunk) noexcept {
    const std::size_t size = bytes.size();
    const std::uint64_t end = plan.start + size;
    Element* target = nullptr;
    if (plan.new_slots == 0) {
      target = s.current + (plan.start - s.current_start);
    } else {
      assert(s.slots.size() == plan.first_slot);
      ChunkHeader* header = nullptr;
      if (chunk) {
        header = chunk.release();
        if (!plan.large) s.next_small = std::min(chunk_size, 2 * header->capacity);
      } else {
        header = take_pooled(s, size);
      }
      target = data_of(header);
      s.slots.emplace_back(target);
      for (std::size_t k = 1; k < plan.new_slots; ++k) s.slots.emplace_back(nullptr);
      if (plan.large) {
        s.current = nullptr;
        s.room_end = 0;
      } else {
        s.current = target;
        s.current_start = plan.start;
        // Stop the fast path one byte short of a 4 GiB boundary at the end
        // of this slot: a record ending there changes the high bits.
        const bool boundary = ((plan.start + chunk_size) & 0xffff'ffffu) == 0;
        s.room_end = plan.start + header->capacity - (boundary ? 1 : 0);
      }
    }
    std::memcpy(target, bytes.data(), size);
    s.entries.emplace_back(make_entry(end, created));
    const auto high = static_cast<std::uint32_t>(end >> 32);
    if (high != s.last_high) {
      s.high.emplace_back(HighChange{s.entries.size() - 1, high});
      s.high_count.store(s.high.size(), std::memory_order_release);  // see Store::high_count
      s.last_high = high;
    }
    s.used = plan.large ? round_up(end) : end;
  }

  Offset start_;
  std::unique_ptr<Store> store_;  // null until the first write: an idle segment is 16 bytes
};

}  // namespace memlog::detail
