#pragma once
// memlog::Stream<T>: a blocking, in-order reader of a Log, for one thread.

#include <chrono>
#include <cstddef>
#include <iterator>
#include <optional>
#include <stop_token>
#include <system_error>
#include <utility>

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
// parks. It allocates only what copying the record allocates.
template <class T>
class Stream {
 public:
  class iterator;

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

  template <class Clock, class Duration>
  Result<Record<T>> next_impl(const std::chrono::time_point<Clock, Duration>* deadline) {
    if (error_) return error_;
    while (true) {
      if (stop_.stop_requested()) return end_with(Errc::cancelled);
      Result<Record<T>> record = log_->read(position_);
      if (record) {
        ++position_;  // cannot overflow: no record has offset INT64_MAX
        return record;
      }
      if (record.error() != Errc::future_offset) return end_with(record.error());
      switch (log_->wait_until(position_, stop_, deadline)) {
        case Log<T>::WaitStatus::ready: break;
        case Log<T>::WaitStatus::stopped: return end_with(Errc::cancelled);
        case Log<T>::WaitStatus::timed_out: return Errc::timed_out;
      }
    }
  }

  std::error_code end_with(Errc error) noexcept { return end_with(make_error_code(error)); }
  std::error_code end_with(std::error_code error) noexcept {
    error_ = error;
    return error_;
  }

  const Log<T>* log_;
  Offset position_;
  std::stop_token stop_;
  std::error_code error_;
  std::optional<Record<T>> current_;  // what the range-for iterator points at
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

  [[nodiscard]] reference operator*() const noexcept { return *stream_->current_; }
  [[nodiscard]] const Record<T>* operator->() const noexcept { return &*stream_->current_; }

  iterator& operator++() {
    Result<Record<T>> record = stream_->next();
    if (record) {
      stream_->current_ = std::move(*record);
    } else {
      stream_->current_.reset();
    }
    return *this;
  }
  void operator++(int) { ++*this; }

  friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.at_end(); }

 private:
  friend class Stream;
  explicit iterator(Stream& stream) noexcept : stream_(&stream) {}
  [[nodiscard]] bool at_end() const noexcept { return stream_ == nullptr || !stream_->current_.has_value(); }

  Stream* stream_ = nullptr;
};

}  // namespace memlog
