#pragma once
// memlog::Stream<T>: a blocking, in-order reader of a Log, for one thread.

#include <chrono>
#include <cstddef>
#include <iterator>
#include <type_traits>
#include <stop_token>
#include <system_error>
#include <utility>
#include <vector>

#include "errors.hpp"
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
// checked before anything else) or when its position is or becomes
// unavailable: negative, before the start, or purged because the stream fell
// more than a segment behind (Errc::out_of_range). next_for/next_until give
// Errc::timed_out without ending the stream.
//
// Blocking: next() blocks; it spins up to Options::stream_spin before it
// parks. A stream that is behind reads ahead up to 32 records under one
// shared lock (a record read ahead is still checked against the purge before
// it is returned), so it holds up to 32 records of its own.
template <class T>
class Stream {
 public:
  class iterator;

  // Records copied per refill of the read-ahead. One shared lock and one
  // batch copy serve up to this many next() calls while a stream catches up;
  // a live stream holds at most this many Ts, an ended one none.
  static constexpr std::size_t read_ahead = 32;

  Stream(const Log<T>& log, Offset start, std::stop_token stop = {}) noexcept
      : log_(&log), position_(start), stop_(std::move(stop)) {}

  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;
  ~Stream() = default;

  // Blocks until the record at position() is written, returns it and moves on.
  [[nodiscard]] Result<Record<T>> next() { return next_impl(no_deadline); }

  // As next(), but gives Errc::timed_out after `timeout` (the stream goes on).
  // A zero or negative timeout only checks once.
  template <class Rep, class Period>
  [[nodiscard]] Result<Record<T>> next_for(std::chrono::duration<Rep, Period> timeout) {
    // Beyond ~30 years the deadline could overflow steady_clock: wait forever.
    if (std::chrono::duration<double>(timeout) > std::chrono::hours(24 * 365 * 30)) return next();
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::ceil<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double, std::nano>(std::max(timeout, decltype(timeout)::zero())));
    return next_impl(&deadline);
  }

  // As next(), but gives Errc::timed_out once `deadline` has passed.
  template <class Clock, class Duration>
  [[nodiscard]] Result<Record<T>> next_until(std::chrono::time_point<Clock, Duration> deadline) {
    if (deadline == std::chrono::time_point<Clock, Duration>::max()) return next();
    return next_impl(&deadline);
  }

  // Why the stream ended; empty while it is live.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

  // The offset next() returns next.
  [[nodiscard]] Offset position() const noexcept { return position_; }

  // Input range: `for (const Record<T>& r : stream)` runs until the stream ends.
  [[nodiscard]] iterator begin() {
    iterator it(*this);
    ++it;
    return it;
  }
  [[nodiscard]] std::default_sentinel_t end() const noexcept { return {}; }

 private:
  static constexpr const std::chrono::steady_clock::time_point* no_deadline = nullptr;

  // read_batch fills a span of records in place: T must be default-
  // constructible and assignable. Other Ts read one record at a time.
  static constexpr bool batched = std::default_initializable<T> && std::is_copy_assignable_v<T>;

  template <class Clock, class Duration>
  Result<Record<T>> next_impl(const std::chrono::time_point<Clock, Duration>* deadline) {
    Record<T>* record = nullptr;
    if (const std::error_code error = advance(record, deadline)) return error;
    return std::move(*record);
  }

  // Points `record` at the record at position() (in the read-ahead buffer)
  // and moves on, waiting for it if need be; or returns why not.
  template <class Clock, class Duration>
  std::error_code advance(Record<T>*& record, const std::chrono::time_point<Clock, Duration>* deadline) {
    if (error_) return error_;
    while (true) {
      if (stop_.stop_requested()) return end_with(Errc::cancelled);
      if (head_ < tail_) {
        // A record read ahead may have been purged since: the stream must
        // end exactly where a fresh read would fail.
        if (position_ < log_->earliest_retained()) return end_with(Errc::out_of_range);
        record = &buffer_[head_++];
        ++position_;  // cannot overflow: no record has offset INT64_MAX
        return {};
      }
      const std::error_code error = refill();
      if (!error) continue;
      if (error != Errc::future_offset) return end_with(error);
      switch (log_->wait_until(position_, stop_, deadline)) {
        case Log<T>::WaitStatus::ready: break;
        case Log<T>::WaitStatus::stopped: return end_with(Errc::cancelled);
        case Log<T>::WaitStatus::timed_out: return Errc::timed_out;
      }
    }
  }

  // Reads ahead from position(); the read error when nothing was read.
  std::error_code refill() {
    head_ = tail_ = 0;
    if constexpr (batched) {
      if (buffer_.empty()) buffer_.resize(read_ahead);
      const auto result = log_->read_batch(position_, buffer_);
      tail_ = result.count;
      return result.count > 0 ? std::error_code{} : result.error;
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

  const Log<T>* log_;
  Offset position_;
  std::stop_token stop_;
  std::error_code error_;
  std::vector<Record<T>> buffer_;  // read-ahead: buffer_[head_, tail_) are position() on
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
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
    current_ = stream_->advance(record, no_deadline) ? nullptr : record;
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
