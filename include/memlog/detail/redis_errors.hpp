#pragma once
// Error codes of the Redis Streams source (category "memlog.redis"). Part of
// <memlog/redis.hpp>.

#include <string>
#include <system_error>

namespace memlog::redis {

enum class Errc {
  connection_failed = 1,  // could not connect, or the connection broke
  server_error,           // Redis answered with an error (LOADING, NOAUTH, ...)
  wrong_type,             // the key holds something other than a stream
  bad_reply,              // a reply not shaped as Redis 7 documents
  stream_reset,           // the key now holds another stream than the one replicated
  log_mismatch,           // the log's next offset is not the source's: something else writes to it
  gap_too_large,          // the counters claim more missing entries than Config::max_gap
};

namespace detail {

class ErrorCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "memlog.redis"; }

  [[nodiscard]] std::string message(int code) const override {
    switch (static_cast<Errc>(code)) {
      case Errc::connection_failed: return "redis connection failed";
      case Errc::server_error: return "redis error reply";
      case Errc::wrong_type: return "key holds another type than a stream";
      case Errc::bad_reply: return "unexpected redis reply";
      case Errc::stream_reset: return "key holds another stream";
      case Errc::log_mismatch: return "log written by another writer";
      case Errc::gap_too_large: return "more missing entries than Config::max_gap";
    }
    return "unknown memlog.redis error";
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

}  // namespace memlog::redis

template <>
struct std::is_error_code_enum<memlog::redis::Errc> : std::true_type {};
