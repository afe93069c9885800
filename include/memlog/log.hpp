#pragma once
// memlog::Log<T>: a thread-safe, append-only, in-memory log of records.
//
// Design: the log owns two segments, `active_` (receives writes) and
// `history_` (the previous, full segment). When the active segment is full the
// next write swaps the two: the old active becomes history, the old history's
// records are purged and its storage becomes the new active segment. Both are
// guarded by one std::shared_mutex: writers take it exclusively, readers share
// it. `next_` (the offset the next write gets) is also published as an atomic
// so that waiting streams can poll it without the lock, and `wake_at_` holds
// the lowest offset a parked stream waits for, so that a write pays for a
// notify only when it writes the record someone sleeps on.

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/adaptive_lock.hpp"
#include "detail/cpu.hpp"
#include "detail/bytes.hpp"
#include "detail/segment_for.hpp"
#include "detail/wall_clock.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "record.hpp"
#include "record_view.hpp"
#include "record_size.hpp"
#include "result.hpp"
#include "stream.hpp"

namespace memlog {

// What read_batch did: records written into batch[0, count), and why it
// stopped early (empty when it filled the batch).
struct ReadBatchResult {
  std::size_t count = 0;
  std::error_code error;
  friend bool operator==(const ReadBatchResult&, const ReadBatchResult&) = default;
};

// Thread safety: every member function may be called from many threads at
// once. write() serialises on the exclusive lock; read(), read_batch() and
// range() share the lock and never block each other. Offsets are a total
// order within one log: a record's offset is the order its write took the
// lock. Streams are created here but used by one thread each, and the log
// must outlive them.
//
// Memory: nothing is allocated up front; a segment's storage grows with its
// records up to max_segment_size and is reused after a purge. Byte sequences
// (std::string, std::vector<std::byte>, ...) are stored packed, as bytes plus
// a timestamp (detail/byte_segment.hpp); other Ts as Record<T>. The log holds
// between max_segment_size and 2 * max_segment_size records once it has
// rotated; a reader that falls further behind gets Errc::out_of_range.
template <class T>
class Log {
  static_assert(std::is_object_v<T> && !std::is_const_v<T>, "Log<T> stores objects of type T");
  static_assert(std::copy_constructible<T>, "Log<T> returns copies: T must be copy-constructible");

 public:
  using value_type = T;
  using record_type = Record<T>;
  // What a zero-copy read's visitor sees: see read(offset, visit).
  using view_type = record_view_t<T>;

  // Throws std::invalid_argument naming the first invalid option.
  explicit Log(Options options = {})
      : Log(std::make_shared<const Options>((detail::validate(options), std::move(options))), validated) {}

  // Several logs may share one Options object (a sharded log's shards do, so
  // that a thousand idle shards stay small). Throws std::invalid_argument
  // naming the first invalid option, or when `options` is null.
  Log(detail::SharedOptionsTag, std::shared_ptr<const Options> options)
      : Log((check(options), std::move(options)), validated) {}

  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends `data` and returns its offset. Errors (nothing written):
  // empty_record, record_too_large (when T's size is known, see RecordSize),
  // offset_overflow (the next offset would pass INT64_MAX).
  // Strong guarantee: if the clock, an allocation or T's move throws, the log
  // is unchanged.
  [[nodiscard]] Result<Offset> write(T data) {
    if constexpr (sized_record<T>) {
      const std::size_t size = RecordSize<T>{}(std::as_const(data));
      if (size == 0) return Errc::empty_record;
      if (size > options_->max_record_size) return Errc::record_too_large;
    }
    if constexpr (detail::byte_sequence<T>) {
      // The bytes are copied into the segment, which stores no empty record
      // whatever a RecordSize specialisation says.
      const auto bytes = detail::ByteTraits<T>::view_of(data);
      if (bytes.empty()) return Errc::empty_record;
      return commit(bytes);
    } else {
      return commit(std::move(data));
    }
  }

  // For byte sequences: appends a copy of `bytes` (anything that converts to
  // std::basic_string_view for strings, std::span<const E> for vectors:
  // a string literal, a std::string_view, a std::array...) without building
  // a T first. `log.write("text")` and `log.write(std::string_view(s))` take
  // this path; passing a T goes to write(T) (which costs the T: prefer a
  // view of a std::string you keep). A null character pointer is an empty
  // record. Errors and guarantee as write(T), counting bytes.
  template <detail::bytes_of<T> U>
  [[nodiscard]] Result<Offset> write(const U& bytes) {
    if constexpr (std::is_null_pointer_v<U>) {
      return Errc::empty_record;
    } else {
      if constexpr (std::is_pointer_v<U>) {
        if (bytes == nullptr) return Errc::empty_record;
      }
      const typename detail::ByteTraits<T>::view view = bytes;
      if (view.empty()) return Errc::empty_record;
      if (view.size() > options_->max_record_size) return Errc::record_too_large;
      return commit(view);
    }
  }

  // A copy of the record at `offset`. Errors: future_offset (not written
  // yet), out_of_range (negative, before the start, or purged).
  [[nodiscard]] Result<Record<T>> read(Offset offset) const {
    detail::SpinThenLockShared lock(mu_);
    std::error_code error;
    const Segment* segment = find(offset, error);
    if (segment == nullptr) return error;
    if constexpr (detail::byte_sequence<T>) {
      return Record<T>{Header{offset, segment->created(offset)}, detail::ByteTraits<T>::make(segment->data(offset))};
    } else {
      return segment->at(offset);
    }
  }

  // Zero-copy read: calls `visit(view)` under the shared lock with a const
  // view_type& of the stored record, and returns what it returns (or the
  // read error). view_type is Record<T>, or RecordView<T> (the header and a
  // string_view/span of the stored bytes) when T is a byte sequence; a
  // visitor taking `const auto&` works for both. `visit` must not call
  // write() on this log (it would deadlock) and must not keep the reference.
  template <class F>
    requires std::invocable<F&, const view_type&>
  [[nodiscard]] auto read(Offset offset, F&& visit) const {
    using R = std::invoke_result_t<F&, const view_type&>;
    using Out = std::conditional_t<std::is_void_v<R>, std::error_code, Result<std::remove_cvref_t<R>>>;
    detail::SpinThenLockShared lock(mu_);
    std::error_code error;
    const Segment* segment = find(offset, error);
    if (segment == nullptr) return Out(error);
    const auto call = [&](const view_type& record) {
      if constexpr (std::is_void_v<R>) {
        visit(record);
        return Out{};
      } else {
        return Out(visit(record));
      }
    };
    if constexpr (detail::byte_sequence<T>) {
      return call(view_type{Header{offset, segment->created(offset)}, segment->data(offset)});
    } else {
      return call(segment->at(offset));
    }
  }

  // A visitor that does not take view_type: say so plainly.
  template <class F>
    requires(!std::invocable<F&, const record_view_t<T>&>)
  void read(Offset, F&&) const {
    static_assert(std::invocable<F&, const record_view_t<T>&>,
                  "memlog: the read visitor must accept const Log<T>::view_type& (RecordView<T> for strings and "
                  "byte vectors, Record<T> otherwise); a visitor taking const auto& works for every T");
  }

  // Copies consecutive records from `start` into batch[0, count), under one
  // shared lock. {batch.size(), {}} when full; {n, future_offset} when the
  // end of the log came first; {0, out_of_range} when `start` is not
  // retained; {0, {}} for an empty batch.
  [[nodiscard]] ReadBatchResult read_batch(Offset start, std::span<Record<T>> batch) const {
    if (batch.empty()) return {};
    detail::SpinThenLockShared lock(mu_);
    const Offset next = next_.load(std::memory_order_relaxed);
    if (start >= next) return {0, Errc::future_offset};
    if (start < earliest_retained()) return {0, Errc::out_of_range};

    const auto available = static_cast<std::size_t>(next - start);
    const std::size_t count = std::min(available, batch.size());
    // The history's part (older offsets) first, then the active segment's.
    std::size_t done = 0;
    for (const Segment* segment : {&history_, &active_}) {
      const Offset at = start + static_cast<Offset>(done);
      if (done == count || !segment->contains(at)) continue;
      const std::size_t n = std::min(count - done, static_cast<std::size_t>(segment->end() - at));
      segment->copy_to(at, batch.subspan(done, n));  // assigns: reuses the batch's storage
      done += n;
    }
    assert(done == count);
    return {count, count < batch.size() ? make_error_code(Errc::future_offset) : std::error_code{}};
  }

  // Earliest and latest retained offsets, {-1, -1} while empty. A snapshot:
  // concurrent writes may move it on as soon as it returns.
  [[nodiscard]] OffsetRange range() const {
    detail::SpinThenLockShared lock(mu_);
    const Offset next = next_.load(std::memory_order_relaxed);
    if (next == options_->start_offset) return {};
    return {earliest_retained(), next - 1};
  }

  // A blocking reader from `start` on; see Stream. The log must outlive it.
  [[nodiscard]] Stream<T> stream(Offset start, std::stop_token stop = {}) const {
    return Stream<T>(*this, start, std::move(stop));
  }

  [[nodiscard]] const Options& options() const noexcept { return *options_; }

 private:
  struct Validated {};
  static constexpr Validated validated{};

  Log(std::shared_ptr<const Options> options, Validated) noexcept
      : options_(std::move(options)),
        active_(options_->start_offset),
        history_(options_->start_offset),
        next_(options_->start_offset),
        earliest_(options_->start_offset) {}

  static void check(const std::shared_ptr<const Options>& options) {
    if (options == nullptr) throw std::invalid_argument("memlog: options must not be null");
    detail::validate(*options);
  }

  friend class Stream<T>;

  enum class WaitStatus { ready, stopped, timed_out };

  [[nodiscard]] std::chrono::system_clock::time_point now() const {
    return options_->clock ? options_->clock() : detail::wall_clock_now();
  }

  using Segment = detail::segment_for_t<T>;

  // Appends `item` (a T, or a byte sequence's bytes) under the exclusive
  // lock and wakes the streams waiting for it. Sizes are already checked.
  template <class Item>
  [[nodiscard]] Result<Offset> commit(Item&& item) {
    Offset offset = 0;
    bool wake = false;
    {
      detail::SpinThenLock lock(mu_);
      offset = next_.load(std::memory_order_relaxed);  // only written under mu_
      if (offset == std::numeric_limits<Offset>::max()) return Errc::offset_overflow;
      store(offset, now(), std::forward<Item>(item));
      // release: pairs with the acquire load of a spinning stream.
      next_.store(offset + 1, std::memory_order_release);
      // relaxed: mu_ orders it. A parking stream stores wake_at_ and then
      // checks next_ under a shared lock of mu_, so either its check comes
      // after this critical section (and sees the record) or its store
      // happens before this load (and we notify).
      wake = wake_at_.load(std::memory_order_relaxed) <= offset;
    }
    if (wake) wake_streams();
    return offset;
  }

  // Requires mu_ held exclusively and a free offset. Strong guarantee.
  template <class Item>
  void store(Offset offset, std::chrono::system_clock::time_point created, Item&& item) {
    const std::size_t limit = options_->max_segment_size;
    assert(active_.end() == offset);  // a segment numbers its records from its start
    if (active_.size() < limit) {
      active_.push(created, std::forward<Item>(item), limit);
      return;
    }
    // Rotation: the history's records are purged and its storage takes the
    // new record; it becomes the active segment and the full one the history.
    history_.reset_and_push(offset, created, std::forward<Item>(item), limit);
    swap(active_, history_);
    earliest_.store(history_.start(), std::memory_order_relaxed);
  }

  // The earliest retained offset; exact under mu_. Without it (a stream's
  // read-ahead check) relaxed is enough: a purge that happened before the
  // caller's next() began is seen by coherence; one racing with it is as if
  // it came after.
  [[nodiscard]] Offset earliest_retained() const noexcept { return earliest_.load(std::memory_order_relaxed); }

  // Requires mu_ held (either way). The segment holding `offset`, or null and why not.
  [[nodiscard]] const Segment* find(Offset offset, std::error_code& error) const noexcept {
    if (offset >= next_.load(std::memory_order_relaxed)) {
      error = Errc::future_offset;
      return nullptr;
    }
    if (active_.contains(offset)) return &active_;
    if (history_.contains(offset)) return &history_;
    error = Errc::out_of_range;
    return nullptr;
  }

  // Whether `position` is written, checked under a shared lock of mu_: what
  // makes a parking stream's wake_at_ visible to the next write.
  [[nodiscard]] bool written_locked(Offset position) const {
    detail::SpinThenLockShared lock(mu_);
    return next_.load(std::memory_order_relaxed) > position;
  }

  // Wakes the parked streams; called without mu_ held (lock order: wait_mu_, then mu_).
  void wake_streams() const {
    {
      // Under wait_mu_: a stream checks its predicate and starts waiting
      // under the same mutex, so it either sees this write or gets the notify.
      std::lock_guard guard(wait_mu_);
      // relaxed: wait_mu_ orders it; woken streams that still wait re-arm it.
      wake_at_.store(no_waiter, std::memory_order_relaxed);
    }
    wake_.notify_all();
  }

  // Blocks until `position` is written, stop is requested, or `deadline`
  // passes. Spins up to options().stream_spin first, then parks.
  template <class Clock, class Duration>
  [[nodiscard]] WaitStatus wait_until(Offset position, const std::stop_token& stop,
                                      const std::chrono::time_point<Clock, Duration>* deadline) const {
    if (options_->stream_spin > std::chrono::nanoseconds::zero()) {
      if (const auto status = spin(position, stop, deadline); status != WaitStatus::timed_out) return status;
      if (deadline != nullptr && Clock::now() >= *deadline) return WaitStatus::timed_out;
    }

    std::stop_callback on_stop(stop, [this] {
      { std::lock_guard guard(wait_mu_); }
      wake_.notify_all();
    });
    std::unique_lock lock(wait_mu_);
    while (true) {
      // relaxed: the shared lock in written_locked() orders it against
      // write() (see there). A load + store is a safe min: every writer of
      // wake_at_ holds wait_mu_.
      wake_at_.store(std::min(position, wake_at_.load(std::memory_order_relaxed)), std::memory_order_relaxed);
      if (written_locked(position)) return WaitStatus::ready;
      if (stop.stop_requested()) return WaitStatus::stopped;
      if (deadline == nullptr) {
        wake_.wait(lock);
      } else if (wake_.wait_until(lock, *deadline) == std::cv_status::timeout) {
        if (written_locked(position)) return WaitStatus::ready;
        return stop.stop_requested() ? WaitStatus::stopped : WaitStatus::timed_out;
      }
      // Woken, usually by the write we wait for: see it with one load
      // (acquire: pairs with the release store in write()) rather than
      // re-arming under the shared lock while holding wait_mu_, which the
      // other woken streams are queueing for.
      if (next_.load(std::memory_order_acquire) > position) return WaitStatus::ready;
    }
  }

  // Busy-waits up to stream_spin (or the deadline, if sooner). timed_out
  // means "still not written": the caller parks or reports the deadline.
  template <class Clock, class Duration>
  [[nodiscard]] WaitStatus spin(Offset position, const std::stop_token& stop,
                                const std::chrono::time_point<Clock, Duration>* deadline) const {
    const auto until = std::chrono::steady_clock::now() + options_->stream_spin;
    for (unsigned i = 1;; ++i) {
      // acquire is enough to see the record; the caller re-reads under the lock.
      if (next_.load(std::memory_order_acquire) > position) return WaitStatus::ready;
      if (stop.stop_requested()) return WaitStatus::stopped;
      detail::cpu_relax();
      // Reading a clock costs as much as dozens of checks; look less often.
      if (i % 64 == 0) {
        if (std::chrono::steady_clock::now() >= until) return WaitStatus::timed_out;
        if (deadline != nullptr && Clock::now() >= *deadline) return WaitStatus::timed_out;
      }
    }
  }

  std::shared_ptr<const Options> options_;  // never null; immutable

  mutable std::shared_mutex mu_;
  Segment active_;   // guarded by mu_
  Segment history_;  // guarded by mu_; empty until the first rotation

  // The offset the next write gets. Written under mu_ (exclusive); read under
  // mu_ (relaxed) or lock-free by spinning streams (acquire). It shares
  // a cache line with mu_ on purpose: a write dirties both anyway, and
  // padding would triple the size of an idle shard.
  std::atomic<Offset> next_;

  // The earliest retained offset: active_.start() until the first rotation,
  // then history_.start(). Written under mu_ (exclusive) at a rotation.
  std::atomic<Offset> earliest_;

  // The lowest offset a parked stream waits for (no_waiter: none). Lowered
  // by parking streams and reset by the write that reaches it, both under
  // wait_mu_; read by every write under mu_.
  static constexpr Offset no_waiter = std::numeric_limits<Offset>::max();
  mutable std::atomic<Offset> wake_at_{no_waiter};
  mutable std::mutex wait_mu_;
  mutable std::condition_variable wake_;
};

}  // namespace memlog
