#pragma once
// memlog::Log<T>: a thread-safe, append-only, in-memory log of records.
//
// Design: the log owns two segments, `active_` (receives writes) and
// `history_` (the previous, sealed segment). When the active segment is full
// (max_segment_size records, or max_segment_bytes of payload, or every
// record in it has expired) the next write rotates: the history's records
// are purged, its storage takes the new record and becomes the active
// segment, and the sealed one becomes the history. With max_age, a write
// that finds the history wholly expired frees it.
//
// Who excludes whom:
// - Writers serialise on `write_mu_`. A write that does not rotate appends
//   to the active segment beyond the published records (segments never move
//   a published record: detail/segment.hpp, detail/byte_segment.hpp) and
//   publishes it with a store of `next_`. Readers are never excluded by it.
// - Readers (read, read_batch, a stream's read-ahead) load `next_` and read
//   the records below it while holding `rotation_` shared, so that a rotation
//   (the rare write that recycles storage, or frees an expired segment)
//   waits for the copies in progress, and they for it. The lock is phase-fair: neither
//   side can starve the other (detail/rotation_lock.hpp).
// - Streams that wait for a record park on `waiters_`, which a write signals
//   only when a parked stream waits for the offset it wrote
//   (detail/event_count.hpp).

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "async_waiter.hpp"
#include "detail/adaptive_lock.hpp"
#include "detail/bytes.hpp"
#include "detail/event_count.hpp"
#include "detail/rotation_lock.hpp"
#include "detail/segment_for.hpp"
#include "detail/thread_annotations.hpp"
#include "detail/wall_clock.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "record.hpp"
#include "record_size.hpp"
#include "record_view.hpp"
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

// What a log holds and has done: see Log::stats().
struct Stats {
  std::uint64_t written = 0;  // records ever written (next_offset() - start_offset)
  std::uint64_t records = 0;  // records retained now (not purged, not expired)
  std::uint64_t bytes = 0;    // payload bytes held now (a T with a RecordSize; else 0)
  std::uint64_t purged = 0;   // records purged or expired so far
  std::size_t waiting = 0;    // streams blocked in next(), and armed AsyncWaiters, right now
  friend bool operator==(const Stats&, const Stats&) = default;
};

namespace detail {
// A T that only refers to data it does not own: a log of it would hand out
// views of memory the writer may have freed long ago.
template <class...>
inline constexpr bool always_false = false;

template <class T>
inline constexpr bool borrows_data = false;
template <class C, class Traits>
inline constexpr bool borrows_data<std::basic_string_view<C, Traits>> = true;
template <class E, std::size_t N>
inline constexpr bool borrows_data<std::span<E, N>> = true;
}  // namespace detail

// A zero-copy visitor of a Log<T>'s records: callable with the stored record
// (const Log<T>::view_type&, that is const record_view_t<T>&).
template <class F, class T>
concept record_visitor = std::invocable<F&, const record_view_t<T>&>;

// Thread safety: every member function may be called from many threads at
// once. Writes serialise among themselves; reads never wait for a write,
// except for the rare write that rotates the segments (once a segment is
// sealed) or frees an expired one, and that write waits only for the reads
// already in progress. Offsets are a total order within one log: a record's
// offset is the order in which its write got the write lock. Streams are
// created here but used by one thread each, and the log must outlive them.
//
// Memory: nothing is allocated up front; a segment's storage grows with its
// records up to max_segment_size and is reused after a purge. Byte sequences
// (std::string, std::vector<std::byte>, ...) are stored packed, as bytes plus
// a timestamp (detail/byte_segment.hpp); other Ts as Record<T>. Without
// max_segment_bytes and max_age the log holds between max_segment_size and
// 2 * max_segment_size records once it has rotated; with them, up to two
// segments of at most that many records and (about) bytes each, less what
// has expired. A reader that falls behind what is retained gets
// Errc::out_of_range.
template <class T>
class Log {
  static_assert(std::is_object_v<T> && !std::is_const_v<T>, "Log<T> stores objects of type T");
  static_assert(!detail::borrows_data<T>,
                "memlog: Log<T> stores copies, but T (a string_view or span) only borrows its data, which would "
                "dangle; store std::string or std::vector instead");
  static_assert(std::copy_constructible<T>, "Log<T> returns copies: T must be copy-constructible");

  static constexpr bool bytes = detail::byte_sequence<T>;

 public:
  using value_type = T;
  using record_type = Record<T>;
  // What a zero-copy read's visitor sees: see read(offset, visit).
  using view_type = record_view_t<T>;

  // Throws std::invalid_argument naming the first invalid option.
  explicit Log(Options options = {})
      : Log(std::make_shared<const Options>((validate(options), std::move(options))), validated) {}

  // Several logs may share one Options object (a sharded log's shards do, so
  // that a thousand idle shards stay small). Throws std::invalid_argument
  // naming the first invalid option, or when `options` is null.
  Log(detail::SharedOptionsTag, std::shared_ptr<const Options> options)
      : Log((check(options), std::move(options)), validated) {}

  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Precondition: no stream of this log is alive (a debug build asserts it).
  ~Log() {
    assert(live_streams_.load(std::memory_order_relaxed) == 0 && "memlog: Log destroyed while streams use it");
    assert(waiters_.waiting() == 0 && "memlog: Log destroyed while a waiter is armed");
  }

  // Appends `data` and returns its offset. Errors (nothing written):
  // empty_record, record_too_large (when T's size is known, see RecordSize),
  // offset_overflow (the offset would be INT64_MAX).
  // Strong guarantee: if the clock, an allocation or T's move throws, the log
  // is unchanged.
  [[nodiscard]] Result<Offset> write(T data)
    requires(!bytes)
  {
    std::size_t size = 0;
    if constexpr (sized_record<T>) {
      size = RecordSize<T>{}(std::as_const(data));
      if (const std::error_code error = check_size(size)) return refused(error);
    }
    return commit(std::move(data), size);
  }

  // For byte sequences: copies the bytes of `data` into the log; no T is
  // copied or allocated, whether the caller keeps `data` or not.
  [[nodiscard]] Result<Offset> write(const T& data)
    requires bytes
  {
    std::size_t size = 0;
    if constexpr (sized_record<T>) {
      size = RecordSize<T>{}(data);
      if (const std::error_code error = check_size(size)) return refused(error);
    }
    // The segment stores no empty record, whatever a RecordSize
    // specialisation says.
    const auto view = detail::ByteTraits<T>::view_of(data);
    if (view.empty()) return refused(Errc::empty_record);
    return commit(view, size);
  }

  // For byte sequences: appends a copy of `bytes` (anything that converts to
  // std::basic_string_view for strings, std::span<const E> for vectors: a
  // string literal, a std::string_view, a std::array...). A null character
  // pointer is an empty record. Errors and guarantee as write(T), counting
  // bytes.
  template <detail::bytes_of<T> U>
  [[nodiscard]] Result<Offset> write(const U& data) {
    if constexpr (std::is_null_pointer_v<U>) {
      return refused(Errc::empty_record);
    } else {
      if constexpr (std::is_pointer_v<U>) {
        if (data == nullptr) return refused(Errc::empty_record);
      }
      const typename detail::ByteTraits<T>::view view = data;
      if (const std::error_code error = check_size(view.size())) return refused(error);
      return commit(view, view.size());
    }
  }

  // A copy of the record at `offset`. Errors: future_offset (not written
  // yet), out_of_range (negative, before the start, purged or expired).
  [[nodiscard]] Result<Record<T>> read(Offset offset) const {
    const Clock::time_point cutoff = expiry_cutoff();
    detail::SharedLock guard(rotation_);
    std::error_code error;
    const Segment* segment = find(offset, cutoff, error);
    if (segment == nullptr) return error;
    if constexpr (bytes) {
      return Record<T>{Header{offset, segment->created(offset)}, detail::ByteTraits<T>::make(segment->data(offset))};
    } else {
      return segment->at(offset);
    }
  }

  // Zero-copy read: calls `visit(view)` with a const view_type& of the stored
  // record and returns what it returns as a Result (Result<void> for a void
  // visitor), or the read error. view_type is Record<T>, or RecordView<T>
  // (the header and a string_view/span of the stored bytes) when T is a byte
  // sequence; a visitor taking `const auto&` works for both. The visitor runs
  // while the log's rotation is held off, so it must not keep the view, and
  // of any log (this one or another) it may call only next_offset() and
  // closed(): a read, range(), stats(), a stream step, a write or close()
  // could wait for a rotating write that waits for a visitor (two visitors
  // reading each other's logs, too). A debug build asserts it.
  template <class F>
    requires record_visitor<F, T>
  [[nodiscard]] auto read(Offset offset, F&& visit) const {
    using R = std::invoke_result_t<F&, const view_type&>;
    using Out = Result<std::conditional_t<std::is_void_v<R>, void, std::remove_cvref_t<R>>>;
    const Clock::time_point cutoff = expiry_cutoff();
    detail::SharedLock guard(rotation_);
    std::error_code error;
    const Segment* segment = find(offset, cutoff, error);
    if (segment == nullptr) return Out(error);
    const auto call = [&](const view_type& record) -> Out {
      if constexpr (std::is_void_v<R>) {
        std::invoke(visit, record);
        return Out();
      } else {
        return Out(std::invoke(visit, record));
      }
    };
    if constexpr (bytes) {
      return call(view_type{Header{offset, segment->created(offset)}, segment->data(offset)});
    } else {
      return call(segment->at(offset));
    }
  }

  // Copies consecutive records from `start` into batch[0, count) under one
  // shared hold of the rotation lock. {batch.size(), {}} when full;
  // {n, future_offset} when the end of the log came first; {0, out_of_range}
  // when `start` is not retained (or has expired); {0, {}} for an empty batch.
  [[nodiscard]] ReadBatchResult read_batch(Offset start, std::span<Record<T>> batch) const {
    if (batch.empty()) return {};
    const Clock::time_point cutoff = expiry_cutoff();
    detail::SharedLock guard(rotation_);
    const Offset next = next_.load(std::memory_order_acquire);  // pairs with the store in commit()
    if (start >= next) return {0, Errc::future_offset};
    if (start < earliest_.load(std::memory_order_relaxed)) return {0, Errc::out_of_range};  // stable under the guard
    // The records after `start` are no older than it.
    if (cutoff != no_cutoff && created_at(start) < cutoff) return {0, Errc::out_of_range};

    const std::size_t count = std::min(static_cast<std::size_t>(next - start), batch.size());
    // The history holds [its start, active start), the active segment
    // [active start, next): the history's part (older offsets) first.
    std::size_t done = 0;
    const Offset active_start = active_.start();
    if (start < active_start) {
      done = std::min(count, static_cast<std::size_t>(active_start - start));
      history_.copy_to(start, batch.first(done));  // assigns: reuses the batch's storage
    }
    if (done < count) active_.copy_to(start + static_cast<Offset>(done), batch.subspan(done, count - done));
    return {count, count < batch.size() ? make_error_code(Errc::future_offset) : std::error_code{}};
  }

  // Earliest and latest retained offsets, {-1, -1} while empty (or while
  // every record has expired). A snapshot: concurrent writes may move it on
  // as soon as it returns. Lock-free without max_age; with it, it reads the
  // clock and searches for the first record that has not expired (O(log n),
  // under the rotation lock held shared).
  [[nodiscard]] OffsetRange range() const {
    assert(!detail::RotationLock::held_shared_here() && "memlog: a read visitor must not call range() (see read)");
    if (options_->max_age != std::chrono::nanoseconds::zero()) return live_range();
    // A consistent pair without the lock: earliest_ unchanged around the load
    // of next_ means no rotation published a record in between. acquire on
    // next_: a next_ stored after a rotation carries that rotation's release
    // store of earliest_ with it, so the second load would differ. acquire on
    // the first load keeps the loads in order.
    Offset earliest = earliest_.load(std::memory_order_acquire);
    while (true) {
      const Offset next = next_.load(std::memory_order_acquire);
      const Offset again = earliest_.load(std::memory_order_acquire);
      if (again == earliest) return next == options_->start_offset ? OffsetRange{} : OffsetRange{earliest, next - 1};
      earliest = again;
    }
  }

  // The offset the next write gets: range().latest + 1, or start_offset
  // while the log is empty. A snapshot.
  [[nodiscard]] Offset next_offset() const noexcept { return next_.load(std::memory_order_acquire); }

  // Kafka's offsetsForTimes: the earliest retained offset whose `created` is
  // at or after `t`; next_offset() when every retained record is older (or
  // has expired), or the log is empty. O(log n): `created` never decreases
  // within a log.
  [[nodiscard]] Offset offset_at(std::chrono::system_clock::time_point t) const {
    // An expired record is as if purged: search from the first one that is not.
    const Clock::time_point from = std::max(t, expiry_cutoff());
    detail::SharedLock guard(rotation_);
    // acquire: pairs with the store in commit(): the records are complete.
    const Offset next = next_.load(std::memory_order_acquire);
    return first_created_from(earliest_.load(std::memory_order_relaxed), next, from);  // stable under the guard
  }

  // Counters of the log, cheap enough to call per request (with max_age it
  // reads the clock and searches, as range() does; a clock that throws here
  // counts no record as expired). A snapshot: each field is exact at some
  // moment during the call, not all at the same one. `bytes` counts the
  // payload the log holds, expired records included until a write frees them.
  [[nodiscard]] Stats stats() const noexcept {
    const Offset start = options_->start_offset;
    Offset live = start;
    Offset next = start;
    if (options_->max_age != std::chrono::nanoseconds::zero()) {
      Clock::time_point cutoff = no_cutoff;
      try {
        cutoff = expiry_cutoff();
      } catch (...) {  // a statistic: better an approximate one than terminate()
      }
      detail::SharedLock guard(rotation_);
      next = next_.load(std::memory_order_acquire);  // pairs with the store in commit()
      live = first_created_from(earliest_.load(std::memory_order_relaxed), next, cutoff);
    } else {
      const OffsetRange retained = range();
      next = retained.earliest < 0 ? start : retained.latest + 1;
      live = retained.earliest < 0 ? start : retained.earliest;
    }
    Stats stats;
    stats.written = static_cast<std::uint64_t>(std::max(next, next_offset()) - start);
    stats.records = static_cast<std::uint64_t>(next - live);
    stats.purged = static_cast<std::uint64_t>(live - start);
    // relaxed: a statistic, stored by the writer.
    stats.bytes = bytes_.load(std::memory_order_relaxed);
    stats.waiting = waiters_.waiting();
    return stats;
  }

  // Ends the log's life as a source: every later write returns Errc::closed
  // and writes nothing; every stream, waiting or not, delivers the records
  // written before close() and then ends with Errc::closed. Reads, read_batch
  // and range keep working on what is retained. Idempotent.
  void close() noexcept {
    assert(!detail::RotationLock::held_shared_here() && "memlog: a read visitor must not close a log");
    {
      // Under write_mu_: a write either completed before (and its record is
      // published) or sees closed_ and writes nothing.
      detail::ExclusiveLock lock(write_mu_);
      // release: pairs with the acquire in closed(). A parking stream checks
      // closed_ under write_mu_, so it sees it or is woken below.
      closed_.store(true, std::memory_order_release);
    }
    waiters_.wake_all();
  }

  // Whether close() was called. A snapshot.
  [[nodiscard]] bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // Waiting without a thread (see AsyncWaiter): arms `waiter` so that the
  // write of `offset` (or close()) calls its callback once, on the writing
  // thread, after the log's locks are released. Returns false, arming
  // nothing, when there is no need to wait: the record is written (or the
  // log is closed) already, so read now. A write pays nothing for a waiter
  // of a later offset. Throws std::bad_alloc when the log's first waiter
  // cannot allocate its parking.
  [[nodiscard]] bool wait_async(Offset offset, AsyncWaiter& waiter) const {
    assert(!detail::RotationLock::held_shared_here() && "memlog: a read visitor must not wait on a log");
    if (ready_at(offset)) return false;
    waiters_.reserve();  // may throw, before anything is armed
    // Checked and armed under write_mu_: no write can publish `offset` in
    // between, and once the lock is released the waiter belongs to the write
    // that completes it (its callback may end its life or arm it again).
    detail::ExclusiveLock lock(write_mu_);
    if (next_.load(std::memory_order_relaxed) > offset || closed_.load(std::memory_order_relaxed)) return false;
    waiters_.arm(offset, waiter.node());
    return true;
  }

  // Disarms `waiter`: true when it was armed and its callback will not be
  // called; false when it was not armed, or its callback has been or is
  // being called (the waiter must then live until the callback returns).
  bool cancel_wait(AsyncWaiter& waiter) const noexcept { return waiters_.disarm(waiter.node()); }

  // A blocking reader from `start` on; see Stream. The log must outlive it.
  [[nodiscard]] Stream<T> stream(Offset start, std::stop_token stop = {}) const& {
    return Stream<T>(*this, start, std::move(stop), StreamOptions{});
  }

  // The same, with a reset policy for a purged position, a spin and a
  // read-ahead of its own (see StreamOptions). Throws std::invalid_argument
  // for a negative spin or one that would overflow steady_clock, or a
  // read_ahead outside [1, max_read_ahead].
  [[nodiscard]] Stream<T> stream(Offset start, std::stop_token stop, StreamOptions options) const& {
    if (options.spin) detail::validate_spin(*options.spin, "StreamOptions::spin");
    if (options.read_ahead == 0 || options.read_ahead > max_read_ahead) {
      throw std::invalid_argument("memlog: StreamOptions::read_ahead must be in [1, max_read_ahead]");
    }
    return Stream<T>(*this, start, std::move(stop), options);
  }

  // A stream of a temporary log would dangle as soon as the statement ends.
  template <class... Args>
  void stream(Args&&...) const&& {
    static_assert(detail::always_false<Args...>,
                  "memlog: stream() on a temporary Log: the log must outlive its streams; keep the log in a variable");
  }

  [[nodiscard]] const Options& options() const noexcept { return *options_; }

 private:
  struct Validated {};
  static constexpr Validated validated{};

  Log(std::shared_ptr<const Options> options, Validated) noexcept
      : options_(std::move(options)),
        next_(options_->start_offset),
        earliest_(options_->start_offset),
        active_(options_->start_offset),
        history_(options_->start_offset) {}

  static void check(const std::shared_ptr<const Options>& options) {
    if (options == nullptr) throw std::invalid_argument("memlog: options must not be null");
    validate(*options);
  }

  // detail::validate, and what depends on T.
  static void validate(const Options& options) {
    detail::validate(options);
    if constexpr (!sized_record<T>) {
      if (options.max_segment_bytes != 0) {
        throw std::invalid_argument(
            "memlog: max_segment_bytes needs a T whose size memlog knows (a byte sequence, or a RecordSize<T> "
            "specialisation)");
      }
    }
  }

  friend class Stream<T>;

  using Segment = detail::segment_for_t<T>;
  using Clock = std::chrono::system_clock;

  // A write refused for its data: on a closed log, closed comes first
  // (every write after close() returns it).
  [[nodiscard]] std::error_code refused(std::error_code error) const noexcept {
    return closed() ? make_error_code(Errc::closed) : error;
  }

  [[nodiscard]] std::error_code check_size(std::size_t size) const noexcept {
    if (size == 0) return Errc::empty_record;
    if (size > options_->max_record_size) return Errc::record_too_large;
    return {};
  }

  [[nodiscard]] Clock::time_point now() const { return options_->clock ? options_->clock() : detail::wall_clock_now(); }

  // range() with max_age. Out of line: range() without it stays a few
  // loads, inlined.
  [[nodiscard, gnu::noinline]] OffsetRange live_range() const {
    const Clock::time_point cutoff = expiry_cutoff();
    detail::SharedLock guard(rotation_);
    const Offset next = next_.load(std::memory_order_acquire);  // pairs with the store in commit()
    const Offset live = first_created_from(earliest_.load(std::memory_order_relaxed), next, cutoff);
    return live == next ? OffsetRange{} : OffsetRange{live, next - 1};
  }

  // Expiry (Options::max_age). A record created before the cutoff has
  // expired; no_cutoff expires nothing.
  static constexpr Clock::time_point no_cutoff = Clock::time_point::min();

  // The cutoff at `now`: now - max_age, saturating (a mock clock may run
  // near the start of its range).
  [[nodiscard]] Clock::time_point cutoff_at(Clock::time_point now) const noexcept {
    const auto age = std::chrono::ceil<Clock::duration>(options_->max_age);
    if (age == Clock::duration::zero() || now.time_since_epoch() < Clock::duration::min() + age) return no_cutoff;
    return now - age;
  }

  // The cutoff now; reads the clock only when max_age is set.
  [[nodiscard]] Clock::time_point expiry_cutoff() const {
    return options_->max_age == std::chrono::nanoseconds::zero() ? no_cutoff : cutoff_at(now());
  }

  // For a stream about to return a record it read ahead: whether the record
  // has expired since.
  [[nodiscard]] bool expired(Clock::time_point created) const {
    return options_->max_age != std::chrono::nanoseconds::zero() && created < cutoff_at(now());
  }

  // The earliest offset a read may return now: the earliest retained one
  // that has not expired, or next_offset() when none. Without max_age a
  // snapshot, as earliest_retained().
  [[nodiscard]] Offset earliest_live() const {
    if (options_->max_age == std::chrono::nanoseconds::zero()) return earliest_retained();
    const Clock::time_point cutoff = expiry_cutoff();
    detail::SharedLock guard(rotation_);
    const Offset next = next_.load(std::memory_order_acquire);  // pairs with the store in commit()
    return first_created_from(earliest_.load(std::memory_order_relaxed), next, cutoff);
  }

  // Requires rotation_ held shared and [low, high) retained and published:
  // the first offset there whose record was created at or after `t`, else
  // high. `created` never decreases within a log, so this is a search: a
  // few interpolation steps first (a log's timestamps often grow evenly
  // enough that a guess from the ends lands next to the answer, which saves
  // most of the cache misses of bisecting a large segment; when they do not,
  // each guess still narrows the range), then bisection, so the worst case
  // stays O(log n).
  [[nodiscard]] Offset first_created_from(Offset low, Offset high, Clock::time_point t) const
      MEMLOG_REQUIRES_SHARED(rotation_) {
    if (t == no_cutoff || low == high) return low;
    // The answer lies in [low, high].
    for (int step = 0; step < interpolation_steps && high - low > bisect_below; ++step) {
      const Clock::time_point first = created_at(low);
      if (first >= t) return low;
      const Clock::time_point last = created_at(high - 1);
      if (last < t) return high;
      // first < t <= last: the answer lies in [low + 1, high - 1]. The
      // distances in unsigned arithmetic (exact: both are positive and below
      // 2^64, whatever the times), then their ratio, in (0, 1].
      const auto from_first = [&](Clock::time_point x) {
        return static_cast<std::uint64_t>(x.time_since_epoch().count()) -
               static_cast<std::uint64_t>(first.time_since_epoch().count());
      };
      const double fraction = static_cast<double>(from_first(t)) / static_cast<double>(from_first(last));
      const Offset guess = std::clamp(low + static_cast<Offset>(fraction * static_cast<double>(high - 1 - low)),
                                      low + 1, high - 1);
      if (created_at(guess) < t) {
        low = guess + 1;
      } else {
        // The answer is at most the guess: the guess itself when the record
        // before it is older (a guess that lands on it ends the search).
        if (created_at(guess - 1) < t) return guess;
        high = guess - 1;
      }
    }
    while (low < high) {
      const Offset middle = low + (high - low) / 2;
      if (created_at(middle) < t) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    return low;
  }
  static constexpr int interpolation_steps = 3;
  static constexpr Offset bisect_below = 64;  // ranges smaller than this are bisected at once

  // Appends `item` (a T, or a byte sequence's bytes) and wakes the streams
  // waiting for it. Sizes are already checked.
  template <class Item>
  [[nodiscard]] Result<Offset> commit(Item&& item, std::size_t size) {
    assert(!detail::RotationLock::held_shared_here() && "memlog: a read visitor must not write to a log");
    Offset offset = 0;
    bool wake = false;
    {
      detail::ExclusiveLock lock(write_mu_);
      // relaxed: only written under write_mu_ (closed_ too, as far as writes go).
      if (closed_.load(std::memory_order_relaxed)) return Errc::closed;
      offset = next_.load(std::memory_order_relaxed);
      if (offset == std::numeric_limits<Offset>::max()) return Errc::offset_overflow;
      // `created` never decreases within a log, so that offset_at() can search.
      const Clock::time_point created = std::max(now(), last_created_);
      store(offset, created, std::forward<Item>(item), size);
      last_created_ = created;
      // release: publishes the record to readers' acquire loads.
      next_.store(offset + 1, std::memory_order_release);
      // Under write_mu_, which orders it against a parking stream's check.
      wake = waiters_.must_wake(offset + 1);
    }
    if (wake) waiters_.wake(offset + 1);
    return offset;
  }

  // Requires write_mu_ held and a free offset. Strong guarantee.
  template <class Item>
  void store(Offset offset, Clock::time_point created, Item&& item, std::size_t size) MEMLOG_REQUIRES(write_mu_) {
    assert(active_.end() == offset);  // a segment numbers its records from its start
    const Options& options = *options_;
    // The common write: room in the active segment, no byte or age limit.
    if (active_.size() < options.max_segment_size &&
        (options.max_segment_bytes | static_cast<std::uint64_t>(options.max_age.count())) == 0) [[likely]] {
      active_.push(created, std::forward<Item>(item), options.max_segment_size);
      add_bytes(size);
      return;
    }
    store_limited(offset, created, std::forward<Item>(item), size);
  }

  // Requires write_mu_ held. store() when the active segment is full, or a
  // byte or age limit applies. Out of line: the common write stays small
  // enough to inline.
  template <class Item>
  [[gnu::noinline]] void store_limited(Offset offset, Clock::time_point created, Item&& item, std::size_t size)
      MEMLOG_REQUIRES(write_mu_) {
    const Options& options = *options_;
    const Retention retention = retain(options, created, size, active_.size() >= options.max_segment_size);
    if (!retention.rotate && !retention.drop_history) {
      active_.push(created, std::forward<Item>(item), options.max_segment_size);
      add_bytes(size);
      return;
    }
    store_rare(offset, created, std::forward<Item>(item), size, retention);
  }

  // What a write does to the segments besides appending.
  struct Retention {
    bool rotate;        // seal the active segment: the new record starts the next one
    bool drop_history;  // the (new) history segment has wholly expired: free it
  };

  // Requires write_mu_ held. max_segment_bytes and max_age: whether the
  // record of `size` bytes created at `created` seals the active segment,
  // and whether the history is left wholly expired.
  [[nodiscard]] Retention retain(const Options& options, Clock::time_point created, std::size_t size,
                                 bool full) const MEMLOG_REQUIRES(write_mu_) {
    Retention retention{full, false};
    const bool empty = active_.size() == 0;
    if (options.max_segment_bytes != 0 && !empty) {
      // relaxed: bytes_ is stored only under write_mu_, which we hold.
      const std::uint64_t active_bytes = bytes_.load(std::memory_order_relaxed) - history_bytes_;
      // A record larger than the limit still goes alone into a fresh segment.
      if (active_bytes >= options.max_segment_bytes || size > options.max_segment_bytes - active_bytes) {
        retention.rotate = true;
      }
    }
    if (options.max_age != std::chrono::nanoseconds::zero()) {
      const Clock::time_point cutoff = cutoff_at(created);
      // Every record of the active segment has expired: start a fresh one,
      // so that the expired one can be freed at once rather than after
      // max_segment_size more records.
      if (!empty && last_created_ < cutoff) retention.rotate = true;
      const Clock::time_point history_newest = retention.rotate ? last_created_ : history_newest_;
      retention.drop_history = history_newest < cutoff;
    }
    return retention;
  }

  // Requires write_mu_ held. The rare writes: a rotation (the history's
  // records are purged; the new record starts the next active segment, and
  // the full one becomes the history) and the freeing of a wholly expired
  // history. Readers may be copying from the history: wait for them, and
  // keep new ones out until the segments are consistent again.
  template <class Item>
  void store_rare(Offset offset, Clock::time_point created, Item&& item, std::size_t size,
                                    Retention retention) MEMLOG_REQUIRES(write_mu_) {
    const std::size_t limit = options_->max_segment_size;
    if (!retention.rotate) {
      // Appending beside readers is safe as on the common path.
      active_.push(created, std::forward<Item>(item), limit);
      add_bytes(size);
    }
    // Segments taken out under the lock are freed after it is released
    // (declared before it: destroyed after it).
    Segment spare(offset);
    Segment expired(retention.rotate ? offset : active_.start());
    // The new active segment reuses the history's storage, unless there is
    // none to reuse (the history is empty: never used, or freed when it
    // expired) or all of it is to be freed now (every record has expired):
    // then it is a fresh segment, built here, before readers are held off.
    const bool history_empty = history_newest_ == Clock::time_point::max();
    const bool fresh = retention.rotate && (history_empty || retention.drop_history);
    if (fresh) spare.push(created, std::forward<Item>(item), limit);  // strong guarantee: nothing changed yet
    detail::ExclusiveLock exclusive(rotation_);
    if (retention.rotate) {
      if (fresh) {
        swap(history_, spare);  // `spare` takes the old history, to be freed
      } else {
        history_.reset_and_push(offset, created, std::forward<Item>(item), limit);  // strong guarantee
      }
      swap(active_, history_);
      // The old history's bytes are purged; the old active segment's stay.
      const std::uint64_t active_bytes = bytes_.load(std::memory_order_relaxed) - history_bytes_;
      history_bytes_ = active_bytes;
      bytes_.store(active_bytes + size, std::memory_order_relaxed);
      history_newest_ = last_created_;
    }
    if (retention.drop_history) {
      // An empty history starts where the active segment does.
      swap(history_, expired);
      bytes_.store(bytes_.load(std::memory_order_relaxed) - history_bytes_, std::memory_order_relaxed);
      history_bytes_ = 0;
      history_newest_ = Clock::time_point::max();
    }
    // release: see range().
    earliest_.store(history_.start(), std::memory_order_release);
  }

  // Requires write_mu_ held.
  void add_bytes(std::size_t size) noexcept MEMLOG_REQUIRES(write_mu_) {
    // relaxed: a statistic; only the writer (under write_mu_) stores it.
    if (size != 0) bytes_.store(bytes_.load(std::memory_order_relaxed) + size, std::memory_order_relaxed);
  }

  // Requires rotation_ held shared and `offset` retained.
  [[nodiscard]] Clock::time_point created_at(Offset offset) const MEMLOG_REQUIRES_SHARED(rotation_) {
    const Segment& segment = offset >= active_.start() ? active_ : history_;
    if constexpr (bytes) {
      return segment.created(offset);
    } else {
      return segment.at(offset).metadata.created;
    }
  }

  // The earliest retained offset. Exact under the rotation lock; without it
  // (a stream checking a record it read ahead) a snapshot: a purge that
  // happened before the caller's call began is seen by coherence, one racing
  // with it is as if it came after.
  [[nodiscard]] Offset earliest_retained() const noexcept { return earliest_.load(std::memory_order_relaxed); }

  // Requires rotation_ held shared. The segment holding `offset`, or null
  // and why not (a record created before `cutoff` has expired).
  [[nodiscard]] const Segment* find(Offset offset, Clock::time_point cutoff, std::error_code& error) const noexcept
      MEMLOG_REQUIRES_SHARED(rotation_) {
    // acquire: pairs with the store in commit(): the record is complete.
    if (offset >= next_.load(std::memory_order_acquire)) {
      error = Errc::future_offset;
      return nullptr;
    }
    if (offset < earliest_.load(std::memory_order_relaxed) ||  // stable under the guard
        (cutoff != no_cutoff && created_at(offset) < cutoff)) {
      error = Errc::out_of_range;
      return nullptr;
    }
    return offset >= active_.start() ? &active_ : &history_;
  }

  // Blocks a stream until `position` is written, stop is requested or the
  // deadline passes; spins up to `spin` first.
  [[nodiscard]] detail::OffsetEvent::Status wait_for(Offset position, const std::stop_token& stop,
                                                     const detail::OffsetEvent::Deadline* deadline,
                                                     std::chrono::nanoseconds spin) const {
    return waiters_.wait(
        position, [&] { return ready_at(position); }, [&] { return checked_ready_at(position); }, stop, deadline,
        spin);
  }

  // Whether a reader of `position` need not wait: it is written, or the log
  // is closed.
  [[nodiscard]] bool ready_at(Offset position) const noexcept {
    // acquire: pairs with the release stores in commit() and close().
    return next_.load(std::memory_order_acquire) > position || closed_.load(std::memory_order_acquire);
  }

  // The same under write_mu_, which orders it against a write's look at who
  // waits (see detail/event_count.hpp).
  [[nodiscard]] bool checked_ready_at(Offset position) const {
    detail::ExclusiveLock lock(write_mu_);
    return next_.load(std::memory_order_relaxed) > position || closed_.load(std::memory_order_relaxed);
  }

  // Layout: what the writer touches on every write comes first; what every
  // reader writes (the rotation lock's counters) sits on a cache line of its
  // own, so that a reader never takes away a line the writer is about to use.

  std::shared_ptr<const Options> options_;  // never null; immutable

  // Serialises writers; a parking stream takes it for its last check.
  mutable detail::WordMutex write_mu_;
  // Set once by close(), under write_mu_.
  std::atomic<bool> closed_{false};
  // `created` of the newest record, and of the history's newest (max()
  // while the history is empty).
  Clock::time_point last_created_ MEMLOG_GUARDED_BY(write_mu_) = Clock::time_point::min();
  Clock::time_point history_newest_ MEMLOG_GUARDED_BY(write_mu_) = Clock::time_point::max();
  // Payload bytes retained (sized T only), for stats(), and the history
  // segment's share of them.
  std::atomic<std::uint64_t> bytes_{0};
  std::uint64_t history_bytes_ MEMLOG_GUARDED_BY(write_mu_) = 0;

  // The offset the next write gets: records below it are complete. Written
  // under write_mu_; read by anyone.
  std::atomic<Offset> next_;

  // The earliest retained offset: history_.start() (which is
  // active_.start() while the history is empty). Written at a rotation and
  // when an expired history is freed.
  std::atomic<Offset> earliest_;

  // Written only by a rotating write, under write_mu_ and rotation_ held
  // exclusively; readers read them under rotation_ held shared. Between
  // rotations the writer appends to active_ beyond the published records.
  Segment active_;
  Segment history_;  // empty until the first rotation, and once freed when it expired

  // Read by every write (must_wake), written when a stream parks.
  mutable detail::OffsetEvent waiters_;

  alignas(detail::cache_line_size) mutable detail::RotationLock rotation_;
  // Streams alive (for ~Log's assertion); beside the readers' lock, which
  // leaves most of its cache line free.
  mutable std::atomic<std::uint32_t> live_streams_{0};

  // relaxed: a count checked only once no other thread may use the log.
  void stream_born() const noexcept { live_streams_.fetch_add(1, std::memory_order_relaxed); }
  void stream_gone() const noexcept { live_streams_.fetch_sub(1, std::memory_order_relaxed); }
};

}  // namespace memlog
