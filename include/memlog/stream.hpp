#pragma once
// memlog::Stream<T>: a blocking, in-order reader of a Log, for one thread.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <limits>
#include <optional>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "async_waiter.hpp"
#include "detail/event_count.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "record.hpp"
#include "result.hpp"

namespace memlog {

template <class T>
class Log;

// Reads a log from a start offset on, one record at a time, waiting at the
// end of the log until a write wakes it (a condition variable, never a sleep).
//
// Contract: a stream belongs to one thread at a time (movable, not
// copyable); any number of streams may read one log, each at its own pace.
// The log must outlive its streams. A stream ends, and then returns the same
// error from every next(), when its stop_token is triggered (Errc::cancelled,
// checked before anything else), when its position is or becomes
// unavailable: negative, before the start, purged because the stream fell
// more than a segment behind, or expired (Options::max_age)
// (Errc::out_of_range, unless StreamOptions::reset says to go on from the
// earliest or the latest record), when the log was
// closed and the stream has delivered every record written before
// (Errc::closed), or when its position can never be written
// (Errc::offset_overflow: the log is full at INT64_MAX).
// next_for/next_until give Errc::timed_out without ending the stream. A
// moved-from stream has ended with Errc::cancelled.
//
// next() either returns the record at position() and moves on, or returns an
// error, or throws (copying the record threw) and stays where it was: no
// record is ever skipped.
//
// Blocking: next() blocks. A stream that is behind reads ahead under one
// shared hold of the log (32 records at first, growing to 256, or
// StreamOptions::read_ahead, while it stays behind, and back to 32 once it
// has caught up), so it holds up to that many records of its own; a record read
// ahead is still checked against the purge (and, with max_age, against the
// clock) before it is returned. At the end
// of the log it spins up to its spin (StreamOptions::spin, else
// Options::stream_spin), then parks until a write wakes it. A stream whose
// last read-ahead found several records (the writer is busy) parks until as
// many more are there, or for at most 200 microseconds: a wake-up then
// delivers a batch rather than a record, and the writer pays for fewer.
template <class T>
class Stream {
 public:
  class iterator;

  // Records copied per refill of the read-ahead at first, and at most by
  // default (StreamOptions::read_ahead): a live stream holds at most that
  // many Ts (its initial number once it has caught up), an ended one none.
  static constexpr std::size_t initial_read_ahead = 32;
  static constexpr std::size_t read_ahead = default_read_ahead;

  // Streams come from Log::stream().
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // The moved-from stream has ended (Errc::cancelled); the new one goes on
  // exactly where it was, with the records it had read ahead.
  Stream(Stream&& other) noexcept
      : log_(std::exchange(other.log_, nullptr)),
        position_(other.position_),
        stop_(std::move(other.stop_)),
        reset_(other.reset_),
        spin_(other.spin_),
        read_ahead_(other.read_ahead_),
        skipped_(other.skipped_),
        error_(std::exchange(other.error_, make_error_code(Errc::cancelled))),
        buffer_(std::move(other.buffer_)),
        head_(std::exchange(other.head_, 0)),
        tail_(std::exchange(other.tail_, 0)),
        full_(other.full_),
        last_batch_(other.last_batch_) {
    other.buffer_.clear();
  }

  Stream& operator=(Stream&& other) noexcept {
    if (this != &other) {
      if (log_ != nullptr) log_->stream_gone();
      log_ = std::exchange(other.log_, nullptr);
      position_ = other.position_;
      stop_ = std::move(other.stop_);
      reset_ = other.reset_;
      spin_ = other.spin_;
      read_ahead_ = other.read_ahead_;
      skipped_ = other.skipped_;
      error_ = std::exchange(other.error_, make_error_code(Errc::cancelled));
      buffer_ = std::move(other.buffer_);
      other.buffer_.clear();
      head_ = std::exchange(other.head_, 0);
      tail_ = std::exchange(other.tail_, 0);
      full_ = other.full_;
      last_batch_ = other.last_batch_;
    }
    return *this;
  }

  ~Stream() {
    if (log_ != nullptr) log_->stream_gone();
  }

  // Blocks until the record at position() is written, returns it and moves on.
  [[nodiscard]] Result<Record<T>> next() { return next_impl(no_deadline); }

  // As next(), but gives Errc::timed_out after `timeout` (the stream goes
  // on). A zero, negative or NaN timeout checks once; one beyond thirty
  // years (or infinite) waits like next().
  template <class Rep, class Period>
  [[nodiscard]] Result<Record<T>> next_for(std::chrono::duration<Rep, Period> timeout) {
    const std::chrono::duration<double> seconds = timeout;
    if (seconds > forever) return next();
    // NaN compares false: it checks once, as zero does.
    if (!(seconds.count() > 0)) return try_next();
    const Deadline deadline = std::chrono::steady_clock::now() + std::chrono::ceil<Deadline::duration>(seconds);
    return next_impl(&deadline);
  }

  // As next(), but gives Errc::timed_out once `deadline` has passed on its
  // clock. One more than thirty years away waits like next(); a NaN one (a
  // floating-point clock) checks once.
  template <class Clock, class Duration>
  [[nodiscard]] Result<Record<T>> next_until(std::chrono::time_point<Clock, Duration> deadline) {
    while (true) {
      // The distance in double: no overflow whatever the two time points.
      const auto now = Clock::now();
      const std::chrono::duration<double> left = std::chrono::duration<double>(deadline.time_since_epoch()) -
                                                 std::chrono::duration<double>(now.time_since_epoch());
      if (left > forever) return next();
      if (!(left.count() > 0)) return try_next();
      // Within thirty years, so the difference fits in the clock's own type.
      Deadline steady_deadline;
      if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
        steady_deadline = std::chrono::ceil<Deadline::duration>(deadline);
      } else {
        steady_deadline = std::chrono::steady_clock::now() + std::chrono::ceil<Deadline::duration>(deadline - now);
      }
      Result<Record<T>> result = next_impl(&steady_deadline);
      // Another clock may run at another pace: time out by its own reading.
      if (result || result.error() != Errc::timed_out || Clock::now() >= deadline) return result;
    }
  }

  // The record at position() if it is written (reading ahead as next()
  // does), else Errc::timed_out (the stream goes on), or why the stream
  // ended. Never waits: next_for(0s).
  [[nodiscard]] Result<Record<T>> try_next() { return next_impl(&never_wait); }

  // For a reader in an event loop (see AsyncWaiter): after try_next() gave
  // timed_out, arms `waiter` for the record at position(); false when there
  // is no need to wait (try_next() again). The stream's stop_token is not
  // watched here: cancel the waiter when it is triggered.
  [[nodiscard]] bool wait_async(AsyncWaiter& waiter) const { return log_ != nullptr && log_->wait_async(position_, waiter); }

  // Log::cancel_wait for this stream's log.
  bool cancel_wait(AsyncWaiter& waiter) const noexcept { return log_ != nullptr && log_->cancel_wait(waiter); }

  // The stop token the stream was created with (an asynchronous reader
  // watches it while its waiter is armed: see AsyncWaiter).
  [[nodiscard]] std::stop_token get_stop_token() const noexcept { return stop_; }

  // Why the stream ended; empty while it is live.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

  // The offset next() returns next.
  [[nodiscard]] Offset position() const noexcept { return position_; }

  // Records jumped over by resets (StreamOptions::reset) so far.
  [[nodiscard]] std::uint64_t skipped() const noexcept { return skipped_; }

  // Input range: `for (const Record<T>& r : stream)` runs until the stream ends.
  [[nodiscard]] iterator begin() {
    iterator it(*this);
    ++it;
    return it;
  }
  [[nodiscard]] std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend class Log<T>;

  Stream(const Log<T>& log, Offset start, std::stop_token stop, StreamOptions options) noexcept
      : log_(&log),
        position_(start),
        stop_(std::move(stop)),
        reset_(options.reset),
        spin_(options.spin.value_or(log.options().stream_spin)),
        read_ahead_(options.read_ahead) {
    log.stream_born();
  }

  using Deadline = std::chrono::steady_clock::time_point;
  static constexpr const Deadline* no_deadline = nullptr;
  // A deadline that has always passed: check, never wait.
  static constexpr Deadline never_wait = Deadline::min();
  static constexpr std::chrono::hours forever{24 * 365 * 30};
  // A refill that found at least batch_threshold records means a busy
  // writer; the stream then waits for a batch, for at most batch_wait.
  static constexpr std::size_t batch_threshold = 16;
  static constexpr std::chrono::microseconds batch_wait{200};

  // read_batch fills a span of records in place: T must be default-
  // constructible and assignable. Other Ts read one record at a time.
  static constexpr bool batched = std::default_initializable<T> && std::is_copy_assignable_v<T>;

  Result<Record<T>> next_impl(const Deadline* deadline) {
    Record<T>* record = nullptr;
    if (const std::error_code error = peek(record, deadline)) return error;
    // Moves on only once the result is built, in the caller's object (a
    // prvalue: no copy or move after it): if building it throws, the record
    // stays next. A move that may throw could leave the buffered record half
    // moved, so such a T is copied.
    const ConsumeOnSuccess consume_on_success{*this};
    return Result<Record<T>>(std::move_if_noexcept(*record));
  }

  // Calls consume() when the scope ends without an exception.
  struct ConsumeOnSuccess {
    Stream& stream;
    int exceptions = std::uncaught_exceptions();
    ~ConsumeOnSuccess() {
      if (std::uncaught_exceptions() == exceptions) stream.consume();
    }
  };

  // Points `record` at the record at position() (in the read-ahead buffer),
  // waiting for it if need be; or returns why not. Does not move on.
  std::error_code peek(Record<T>*& record, const Deadline* deadline) {
    if (error_) return error_;
    while (true) {
      if (stop_.stop_requested()) return end_with(Errc::cancelled);
      if (head_ < tail_) {
        // A record read ahead may have been purged or have expired since:
        // the stream must end exactly where a fresh read would fail.
        if (position_ < log_->earliest_retained() || log_->expired(buffer_[head_].metadata.created)) {
          if (const std::error_code error = reset()) return error;
          continue;
        }
        record = &buffer_[head_];
        return {};
      }
      const std::error_code error = refill();
      if (!error) continue;
      if (error == Errc::out_of_range) {
        if (const std::error_code ended = reset()) return ended;
        continue;
      }
      if (error != Errc::future_offset) return end_with(error);
      if (log_->closed()) {
        // Everything written before close() is published by now: one more
        // look, then the stream has delivered it all.
        if (!refill()) continue;
        return end_with(Errc::closed);
      }
      // No record will ever have offset INT64_MAX.
      if (position_ == std::numeric_limits<Offset>::max()) return end_with(Errc::offset_overflow);
      // Caught up (not waiting for a batch behind a busy writer): give back
      // what the read-ahead grew to while behind, so that ten thousand idle
      // streams hold ten thousand small buffers.
      // An asynchronous reader (try_next) waits outside, where no batch
      // wait applies: it gives the read-ahead back whenever it has caught up.
      if (last_batch_ < batch_threshold || deadline == &never_wait) shrink_read_ahead();
      if (deadline == &never_wait) return Errc::timed_out;
      // Behind a busy writer, wait for as many records as the last refill
      // found, or at most batch_wait: one wake-up then delivers a batch
      // instead of a record, and the writer pays for far fewer of them.
      Offset last = position_;
      const Deadline* until = deadline;
      Deadline batch_until{};
      // Only when the caller's deadline (if any) lies beyond the batch's:
      // otherwise the caller would time out waiting for a batch although the
      // record at position() came.
      if (last_batch_ >= batch_threshold) {
        batch_until = std::chrono::steady_clock::now() + batch_wait;
        if (deadline == nullptr || *deadline > batch_until) {
          const auto more = static_cast<Offset>(std::min<std::size_t>(last_batch_, read_ahead_)) - 1;
          last = position_ + std::min(more, std::numeric_limits<Offset>::max() - 1 - position_);
          until = &batch_until;
        }
      }
      last_batch_ = 0;
      switch (log_->wait_for(last, stop_, until, spin_)) {
        case detail::OffsetEvent::Status::ready: break;
        case detail::OffsetEvent::Status::stopped: return end_with(Errc::cancelled);
        case detail::OffsetEvent::Status::timed_out:
          if (until == &batch_until) break;  // the batch is late: take what is there
          return Errc::timed_out;
      }
    }
  }

  // The position is purged, expired or before the start: apply the reset
  // policy.
  // Returns the error that ends the stream, or empty to go on.
  std::error_code reset() {
    Offset target = 0;
    switch (reset_) {
      case Reset::none: return end_with(Errc::out_of_range);
      case Reset::earliest: target = log_->earliest_live(); break;
      case Reset::latest: target = log_->next_offset(); break;
    }
    // Count records that existed: none below the log's start.
    const Offset from = std::max(position_, log_->options().start_offset);
    if (target > from) skipped_ += static_cast<std::uint64_t>(target - from);
    position_ = std::max(position_, target);
    head_ = tail_ = 0;
    return {};
  }

  // Gives back a read-ahead that grew while the stream was behind. Requires
  // an empty read-ahead (nothing buffered to deliver).
  void shrink_read_ahead() {
    if constexpr (batched) {  // else one record at a time: nothing to give back
      const std::size_t initial = std::min(initial_read_ahead, read_ahead_);
      if (buffer_.capacity() <= initial) return;
      std::vector<Record<T>> smaller;
      smaller.resize(initial);  // may throw: the old buffer stays, which is fine
      buffer_.swap(smaller);
      full_ = false;
    }
  }

  // Moves past the record peek() returned.
  void consume() noexcept {
    ++head_;
    ++position_;  // cannot overflow: no record has offset INT64_MAX
  }

  // Reads ahead from position(); the read error when nothing was read.
  std::error_code refill() {
    head_ = tail_ = 0;
    if constexpr (batched) {
      if (buffer_.empty()) {
        buffer_.resize(std::min(initial_read_ahead, read_ahead_));
      } else if (full_ && buffer_.size() < read_ahead_) {
        // The last refill came back full: the stream is behind a busy writer.
        buffer_.resize(std::min(buffer_.size() * 2, read_ahead_));
      }
      const auto result = log_->read_batch(position_, buffer_);
      tail_ = result.count;
      if (result.count == 0) return result.error;
      full_ = result.count == buffer_.size();
      last_batch_ = result.count;
      return {};
    } else {
      Result<Record<T>> result = log_->read(position_);
      if (!result) return result.error();
      buffer_.clear();
      buffer_.push_back(std::move(*result));
      tail_ = 1;
      return {};
    }
  }

  std::error_code end_with(Errc error) noexcept { return end_with(make_error_code(error)); }
  std::error_code end_with(std::error_code error) noexcept {
    error_ = error;
    head_ = tail_ = 0;
    buffer_ = {};  // an ended stream keeps nothing
    return error_;
  }

  const Log<T>* log_;  // null once moved from
  Offset position_;
  std::stop_token stop_;
  Reset reset_ = Reset::none;
  std::chrono::nanoseconds spin_{};
  std::size_t read_ahead_ = read_ahead;
  std::uint64_t skipped_ = 0;
  std::error_code error_;
  std::vector<Record<T>> buffer_;  // read-ahead: buffer_[head_, tail_) are position() on
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
  // What the last refill that found records says about the writer.
  bool full_ = false;  // it filled the whole read-ahead: the stream is behind
  std::size_t last_batch_ = 0;  // how many records it found
};

// Single-pass iterator over a Stream; equals end() once the stream has ended.
template <class T>
class Stream<T>::iterator {
 public:
  using value_type = Record<T>;
  using difference_type = std::ptrdiff_t;
  using reference = const Record<T>&;
  using iterator_concept = std::input_iterator_tag;

  iterator() = default;

  [[nodiscard]] reference operator*() const noexcept { return *current_; }
  [[nodiscard]] const Record<T>* operator->() const noexcept { return current_; }

  // Waits for the next record; the iterator then points into the stream's
  // read-ahead buffer, so range-for copies no record.
  iterator& operator++() {
    Record<T>* record = nullptr;
    if (stream_->peek(record, no_deadline)) {
      current_ = nullptr;
    } else {
      current_ = record;
      stream_->consume();  // the buffer keeps the record until the next refill
    }
    return *this;
  }
  void operator++(int) { ++*this; }

  friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.at_end(); }

 private:
  friend class Stream;
  explicit iterator(Stream& stream) noexcept : stream_(&stream) {}
  [[nodiscard]] bool at_end() const noexcept { return current_ == nullptr; }

  Stream* stream_ = nullptr;
  const Record<T>* current_ = nullptr;
};

}  // namespace memlog
