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
    }
    return "unknown memlog error";
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

// Thrown by Result::value() on an error; code() is the error it held.
class Error : public std::system_error {
 public:
  using std::system_error::system_error;
};

}  // namespace memlog

template <>
struct std::is_error_code_enum<memlog::Errc> : std::true_type {};
