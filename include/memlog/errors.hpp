#pragma once
// Error codes of memlog and their std::error_category.
//
// Operations that can fail on normal paths return a memlog::Result carrying a
// std::error_code from this category; nothing throws there. memlog::Error is
// what Result::value() throws when it holds no value.

#include <string>
#include <system_error>

namespace memlog {

enum class Errc {
  record_too_large = 1,  // data larger than max_record_size
  empty_record,          // data of size 0
  future_offset,         // offset not written yet (end of log)
  out_of_range,          // offset before the start, negative, or purged
  cancelled,             // a stream's stop_token was triggered
  timed_out,             // Stream::next_for / next_until gave up (stream stays usable)
  shard_not_found,       // KeySharder: key unknown
  too_many_keys,         // KeySharder: more keys than the log has shards
  offset_overflow,       // the next offset would pass INT64_MAX: the log is full for good
  closed,                // the log was closed: writes are refused, streams end
};

namespace detail {

class ErrorCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "memlog"; }

  [[nodiscard]] std::string message(int code) const override {
    switch (static_cast<Errc>(code)) {
      case Errc::record_too_large: return "record data too large";
      case Errc::empty_record: return "record data empty";
      case Errc::future_offset: return "future offset";
      case Errc::out_of_range: return "offset out of range";
      case Errc::cancelled: return "stream cancelled";
      case Errc::timed_out: return "timed out waiting for record";
      case Errc::shard_not_found: return "shard not found";
      case Errc::too_many_keys: return "too many keys for shards";
      case Errc::offset_overflow: return "offset overflow";
      case Errc::closed: return "log closed";
    }
    return "unknown memlog error";
  }

  // The portable condition a code belongs to, where one means the same thing,
  // so that code written against std::errc (`ec == std::errc::timed_out`)
  // recognises memlog's errors. The others have no honest std::errc match and
  // stay conditions of this category:
  // - future_offset: EAGAIN ("try again") would be a lie once the log is
  //   closed or full, where the offset is never written;
  // - out_of_range: the offset may have been valid and purged since; neither
  //   EINVAL nor ERANGE (a numeric result out of range) says that;
  // - shard_not_found, too_many_keys: the sharder's configuration, not an OS
  //   condition;
  // - closed: no errc says "shut down by its owner" (EBADF and EPIPE are
  //   about descriptors and vanished peers).
  [[nodiscard]] std::error_condition default_error_condition(int code) const noexcept override {
    switch (static_cast<Errc>(code)) {
      // A record above the log's size limit: EMSGSIZE is POSIX's "message
      // larger than the transport allows" (Kafka: MESSAGE_TOO_LARGE).
      case Errc::record_too_large: return std::errc::message_size;
      // A write whose argument holds no data: an invalid argument.
      case Errc::empty_record: return std::errc::invalid_argument;
      case Errc::cancelled: return std::errc::operation_canceled;
      case Errc::timed_out: return std::errc::timed_out;
      // The next offset does not fit the offset type: EOVERFLOW, as lseek
      // reports for an offset off_t cannot represent.
      case Errc::offset_overflow: return std::errc::value_too_large;
      case Errc::future_offset:
      case Errc::out_of_range:
      case Errc::shard_not_found:
      case Errc::too_many_keys:
      case Errc::closed: break;
    }
    return {code, *this};
  }
};

}  // namespace detail

[[nodiscard]] inline const std::error_category& error_category() noexcept {
  static const detail::ErrorCategory category;
  return category;
}

[[nodiscard]] inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// `Errc::timed_out == std::errc::timed_out`: true when the code belongs to the
// condition (see default_error_condition). The standard's own comparison
// needs an error_code on one side; this one is found through Errc.
[[nodiscard]] inline bool operator==(Errc code, const std::error_condition& condition) noexcept {
  return make_error_code(code) == condition;
}

// Thrown by Result::value() on an error; code() is the error it held.
class Error : public std::system_error {
 public:
  using std::system_error::system_error;
};

}  // namespace memlog

template <>
struct std::is_error_code_enum<memlog::Errc> : std::true_type {};
