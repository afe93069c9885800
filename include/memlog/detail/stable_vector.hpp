#pragma once
// An append-only array whose elements never move: the storage under a
// segment, which readers on other threads index while the writer appends.
//
// Elements live in blocks of growing size: blocks 0 and 1 hold 2^B elements
// each and block b >= 1 holds 2^(B+b-1), so that n blocks hold 2^(B+n-1)
// elements (a power of two, as a doubling std::vector would) and element i
// is found with a few bit operations. The block table is allocated once, at
// the first reservation, with room for as many blocks as `bound` elements
// need (the owner's most elements ever; the last block is clipped to it).
// Blocks are neither moved nor freed before destruction: clear() and then
// appending again reuses them, so a recycled segment allocates nothing.
// An empty vector is one null pointer.
//
// Concurrency: one writer calls the mutating members. Any thread may call
// operator[] and for_each_run for elements appended before something it
// synchronises with (the owner publishes a count with a release store after
// appending; the reader loads it with acquire). Appending writes only the new
// element, a new block's table entry and the table's header, none of which a
// reader of an earlier element reads: the header is a cache line of its own
// so that readers do not share a line with what every append writes.
// clear(), replace_all(), swap() and destruction require that no reader is
// inside.

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace memlog::detail {

template <class T, unsigned FirstBlockBits = 4>
class StableVector {
  static_assert(FirstBlockBits >= 1 && FirstBlockBits < 32);

 public:
  static constexpr std::size_t first_block = std::size_t{1} << FirstBlockBits;
  // A bound above this is treated as this (no process holds 2^62 elements);
  // it keeps every block boundary representable.
  static constexpr std::size_t max_bound = std::size_t{1} << 62;

  StableVector() noexcept = default;
  StableVector(const StableVector&) = delete;
  StableVector& operator=(const StableVector&) = delete;
  ~StableVector() { release(); }

  friend void swap(StableVector& a, StableVector& b) noexcept { std::swap(a.table_, b.table_); }

  // --- Writer side -------------------------------------------------------

  [[nodiscard]] std::size_t size() const noexcept { return table_ != nullptr ? table_->size : 0; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] std::size_t capacity() const noexcept { return table_ != nullptr ? capacity_of(*table_) : 0; }

  // Whether the next element's slot is at hand: push_in_room() may be called.
  [[nodiscard]] bool has_room() const noexcept { return table_ != nullptr && table_->next != table_->block_end; }

  // Ensures capacity for `n` elements. `bound` is the most elements this
  // vector will ever hold (n <= bound): the same on every call. Strong
  // guarantee; only allocates (elements and size are untouched).
  void reserve(std::size_t n, std::size_t bound) {
    if (n == 0) return;
    bound = std::min(bound, max_bound);
    assert(n <= bound);
    if (table_ == nullptr) table_ = make_table(bound);
    Table& t = *table_;
    assert(t.bound == bound && "a StableVector's bound must not change");
    // The table has room for t.bound elements' blocks and cannot grow (readers
    // may be following it): a caller that breaks the bound gets an exception
    // here rather than a write past the table.
    if (n > t.bound) throw std::length_error("memlog: more elements than the bound given at the first reservation");
    while (capacity_of(t) < n) {
      T* block = allocate_block(t, t.blocks);  // may throw: blocks added so far stay, unused
      blocks_of(t)[t.blocks] = block;
      if (t.blocks++ == 0) point_cursor_at(t, 0);
    }
  }

  // Ensures has_room(). Strong guarantee, as reserve().
  void reserve_next(std::size_t bound) {
    reserve(size() + 1, bound);
    Table& t = *table_;
    if (t.next == t.block_end) point_cursor_at(t, t.cursor_block + 1);
  }

  // Appends an element built from `args`; requires capacity() > size().
  // If building it throws, nothing has changed.
  template <class... Args>
  T& emplace_back(Args&&... args) {
    Table& t = *table_;
    assert(t.size < capacity_of(t));
    if (t.next == t.block_end) point_cursor_at(t, t.cursor_block + 1);
    T& element = construct(t.next, std::forward<Args>(args)...);
    ++t.next;
    ++t.size;
    return element;
  }

  // The fast path of emplace_back(); requires has_room().
  void push_in_room(const T& value) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    Table& t = *table_;
    assert(t.next != t.block_end);
    construct(t.next, value);
    ++t.next;
    ++t.size;
  }

  // Destroys every element; keeps every block.
  void clear() noexcept {
    if (table_ == nullptr) return;
    destroy_elements(*table_);
    if (table_->blocks > 0) point_cursor_at(*table_, 0);
  }

  // Makes replace_all() possible: allocates the table, block 0 and a spare
  // block of block 0's size. Strong guarantee; only allocates.
  void reserve_spare(std::size_t bound) {
    reserve(1, bound);
    Table& t = *table_;
    if (t.spare == nullptr) t.spare = allocate_block(t, 0);
  }

  // Replaces every element by one built from `args`, with the strong
  // guarantee even when building it throws: it is built in the spare block
  // first, then the old elements are destroyed and the spare becomes block 0
  // (the old block 0 the spare). Requires reserve_spare().
  template <class... Args>
  void replace_all(Args&&... args) {
    Table& t = *table_;
    assert(t.spare != nullptr);
    construct(t.spare, std::forward<Args>(args)...);  // may throw: nothing has changed
    destroy_elements(t);
    std::swap(blocks_of(t)[0], t.spare);
    point_cursor_at(t, 0);
    ++t.next;
    t.size = 1;
  }

  [[nodiscard]] T& operator[](std::size_t i) noexcept { return *locate(i); }

  // --- Reader side (see the concurrency note above) ------------------------

  [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return *locate(i); }

  // Element i and element i - 1 (null for i == 0): one lookup unless i
  // starts a block.
  [[nodiscard]] std::pair<const T*, const T*> with_previous(std::size_t i) const noexcept {
    const auto [block, in_block] = position(i);
    const T* at = table_->table()[block] + in_block;
    if (in_block != 0) return {at, at - 1};
    return {at, i == 0 ? nullptr : locate(i - 1)};
  }

  // Calls f(const T* first, std::size_t count) for the contiguous runs that
  // make up elements [i, i + n), in order.
  template <class F>
  void for_each_run(std::size_t i, std::size_t n, F&& f) const {
    while (n > 0) {
      const auto [block, in_block] = position(i);
      const std::size_t run = std::min(n, nominal_size(block) - in_block);
      f(const_cast<const T*>(table_->table()[block] + in_block), run);
      i += run;
      n -= run;
    }
  }

 private:
  static constexpr std::size_t cache_line = 64;

  // The table: writer state, alone on its cache line(s), then the block
  // pointers that readers follow.
  struct alignas(cache_line) Table {
    T* next = nullptr;       // where the next element goes
    T* block_end = nullptr;  // the end of the block `next` is in
    std::size_t cursor_block = 0;
    std::size_t size = 0;
    std::size_t blocks = 0;  // allocated so far
    std::size_t bound = 0;
    std::size_t entries = 0;  // block pointers in the table
    T* spare = nullptr;       // see reserve_spare()

    [[nodiscard]] T** table() const noexcept {
      return std::launder(reinterpret_cast<T**>(reinterpret_cast<std::byte*>(const_cast<Table*>(this)) + sizeof(Table)));
    }
  };

  // Block b covers [nominal_start(b), nominal_start(b) + nominal_size(b)).
  [[nodiscard]] static constexpr std::size_t nominal_start(std::size_t b) noexcept {
    return b == 0 ? 0 : first_block << (b - 1);
  }
  [[nodiscard]] static constexpr std::size_t nominal_size(std::size_t b) noexcept {
    return b == 0 ? first_block : first_block << (b - 1);
  }
  // The block of element i and its index there.
  [[nodiscard]] static constexpr std::pair<std::size_t, std::size_t> position(std::size_t i) noexcept {
    const auto width = static_cast<unsigned>(std::bit_width(i | (first_block - 1)));  // >= FirstBlockBits
    const std::size_t block = width - FirstBlockBits;
    const std::size_t in_block = i & (((std::size_t{1} << (width - 1)) - 1) | (first_block - 1));
    return {block, in_block};
  }
  // Blocks needed for `bound` elements.
  [[nodiscard]] static constexpr std::size_t blocks_for(std::size_t bound) noexcept {
    return bound <= first_block ? 1 : static_cast<std::size_t>(std::bit_width((bound - 1) >> FirstBlockBits)) + 1;
  }
  [[nodiscard]] static std::size_t allocated_size(const Table& t, std::size_t b) noexcept {
    return std::min(nominal_start(b) + nominal_size(b), t.bound) - nominal_start(b);
  }
  [[nodiscard]] static std::size_t capacity_of(const Table& t) noexcept {
    return t.blocks == 0 ? 0 : std::min(nominal_start(t.blocks - 1) + nominal_size(t.blocks - 1), t.bound);
  }
  [[nodiscard]] static T** blocks_of(Table& t) noexcept { return t.table(); }

  [[nodiscard]] T* locate(std::size_t i) const noexcept {
    const auto [block, in_block] = position(i);
    // Not `block < table_->blocks`: readers must not read the writer's
    // fields, which change while they read.
    assert(table_ != nullptr && block < table_->entries);
    return table_->table()[block] + in_block;
  }

  static void point_cursor_at(Table& t, std::size_t b) noexcept {
    assert(b < t.blocks);
    t.cursor_block = b;
    t.next = blocks_of(t)[b];
    t.block_end = t.next + allocated_size(t, b);
  }

  template <class... Args>
  static T& construct(T* at, Args&&... args) {
    if constexpr (std::is_constructible_v<T, Args&&...>) {
      return *::new (static_cast<void*>(at)) T(std::forward<Args>(args)...);
    } else {
      return *::new (static_cast<void*>(at)) T{std::forward<Args>(args)...};  // an aggregate (before P0960)
    }
  }

  [[nodiscard]] static std::size_t table_bytes(std::size_t entries) noexcept {
    return sizeof(Table) + entries * sizeof(T*);
  }

  [[nodiscard]] static Table* make_table(std::size_t bound) {
    const std::size_t entries = blocks_for(bound);
    void* raw = ::operator new(table_bytes(entries), std::align_val_t{alignof(Table)});
    auto* t = ::new (raw) Table{};
    t->bound = bound;
    t->entries = entries;
    std::uninitialized_value_construct_n(reinterpret_cast<T**>(static_cast<std::byte*>(raw) + sizeof(Table)), entries);
    return t;
  }

  [[nodiscard]] static T* allocate_block(const Table& t, std::size_t b) {
    assert(b < t.entries);
    return std::allocator<T>{}.allocate(allocated_size(t, b));
  }

  static void destroy_elements(Table& t) noexcept {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      std::size_t left = t.size;
      for (std::size_t b = 0; left > 0; ++b) {
        const std::size_t n = std::min(left, allocated_size(t, b));
        std::destroy_n(blocks_of(t)[b], n);
        left -= n;
      }
    }
    t.size = 0;
  }

  void release() noexcept {
    if (table_ == nullptr) return;
    Table& t = *table_;
    destroy_elements(t);
    for (std::size_t b = 0; b < t.blocks; ++b) std::allocator<T>{}.deallocate(blocks_of(t)[b], allocated_size(t, b));
    if (t.spare != nullptr) std::allocator<T>{}.deallocate(t.spare, allocated_size(t, 0));
    t.~Table();
    ::operator delete(static_cast<void*>(table_), std::align_val_t{alignof(Table)});
    table_ = nullptr;
  }

  Table* table_ = nullptr;  // null until the first reservation
};

}  // namespace memlog::detail
