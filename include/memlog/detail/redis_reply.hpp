#pragma once
// Reading hiredis replies into memlog::redis types, strictly: anything that
// is not the shape Redis 7 documents is reported as such, never assumed.
// Part of <memlog/redis.hpp>.

#include <hiredis/hiredis.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis_entry.hpp"
#include "redis_numbering.hpp"

namespace memlog::redis::detail {

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

[[nodiscard]] inline std::string_view text(const redisReply& reply) noexcept { return {reply.str, reply.len}; }

[[nodiscard]] inline bool is_text(const redisReply* reply) noexcept {
  return reply != nullptr && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) &&
         (reply->str != nullptr || reply->len == 0);
}

// The error reply's message, e.g. "WRONGTYPE Operation against a key ...".
[[nodiscard]] inline std::optional<std::string_view> error_of(const redisReply* reply) noexcept {
  if (reply == nullptr || reply->type != REDIS_REPLY_ERROR) return std::nullopt;
  return reply->str == nullptr ? std::string_view{} : text(*reply);
}

[[nodiscard]] inline bool starts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.substr(0, prefix.size()) == prefix;
}

[[nodiscard]] inline std::optional<EntryId> id_of(const redisReply* reply) noexcept {
  if (!is_text(reply)) return std::nullopt;
  return EntryId::parse(text(*reply));
}

// One entry as read: its ID, and its fields unless their shape was wrong.
struct RawEntry {
  EntryId id;
  std::vector<Field> fields;
  bool malformed = false;  // fields not an even array of strings: to be skipped
};

// An array of entries (XRANGE's reply, or one stream of XREAD's). false: the
// reply itself is unusable (not an array, an entry not [id, fields], an ID
// that does not parse, IDs not ascending); an entry whose fields alone are
// wrong is kept, marked malformed.
[[nodiscard]] inline bool parse_entries(const redisReply* reply, std::vector<RawEntry>& out) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) return false;
  out.reserve(out.size() + reply->elements);
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const redisReply* entry = reply->element[i];
    if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) return false;
    const auto id = id_of(entry->element[0]);
    if (!id || (!out.empty() && !(out.back().id < *id))) return false;
    RawEntry& raw = out.emplace_back();
    raw.id = *id;
    const redisReply* fields = entry->element[1];
    if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY || fields->elements == 0 ||
        fields->elements % 2 != 0) {
      raw.malformed = true;
      continue;
    }
    raw.fields.reserve(fields->elements / 2);
    for (std::size_t f = 0; f < fields->elements; f += 2) {
      const redisReply* name = fields->element[f];
      const redisReply* value = fields->element[f + 1];
      if (!is_text(name) || !is_text(value)) {
        raw.malformed = true;
        raw.fields.clear();
        break;
      }
      raw.fields.push_back(Field{std::string(text(*name)), std::string(text(*value))});
    }
  }
  return true;
}

// XREAD's reply for one key: nil (BLOCK timed out) is no entries;
// otherwise [[key, entries]]. false: another shape, or another key.
[[nodiscard]] inline bool parse_xread(const redisReply* reply, std::string_view key, std::vector<RawEntry>& out) {
  if (reply == nullptr) return false;
  if (reply->type == REDIS_REPLY_NIL) return true;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1) return false;
  const redisReply* stream = reply->element[0];
  if (stream == nullptr || stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) return false;
  if (!is_text(stream->element[0]) || text(*stream->element[0]) != key) return false;
  return parse_entries(stream->element[1], out);
}

// XINFO STREAM's reply (Redis >= 7: a flat array of name, value pairs with
// entries-added and max-deleted-entry-id). nullopt: another shape, or a
// Redis older than 7 (no entries-added).
[[nodiscard]] inline std::optional<Snapshot> parse_xinfo(const redisReply* reply) noexcept {
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) return std::nullopt;
  Snapshot s;
  unsigned seen = 0;
  const auto integer = [](const redisReply* value, std::uint64_t& out) {
    if (value == nullptr || value->type != REDIS_REPLY_INTEGER || value->integer < 0) return false;
    out = static_cast<std::uint64_t>(value->integer);
    return true;
  };
  const auto id = [](const redisReply* value, EntryId& out) {
    const auto parsed = id_of(value);
    if (parsed) out = *parsed;
    return parsed.has_value();
  };
  for (std::size_t i = 0; i < reply->elements; i += 2) {
    const redisReply* name = reply->element[i];
    const redisReply* value = reply->element[i + 1];
    if (!is_text(name)) return std::nullopt;
    const std::string_view n = text(*name);
    bool ok = true;
    if (n == "length") {
      ok = integer(value, s.length);
      seen |= 1U;
    } else if (n == "last-generated-id") {
      ok = id(value, s.last_generated);
      seen |= 2U;
    } else if (n == "max-deleted-entry-id") {
      ok = id(value, s.max_deleted);
      seen |= 4U;
    } else if (n == "entries-added") {
      ok = integer(value, s.entries_added);
      seen |= 8U;
    } else if (n == "recorded-first-entry-id") {
      ok = id(value, s.first);
      seen |= 16U;
    }
    if (!ok) return std::nullopt;
  }
  if (seen != 31U) return std::nullopt;
  // The counters of one stream agree with each other.
  if (s.length > s.entries_added || (s.length != 0 && s.last_generated < s.first)) return std::nullopt;
  return s;
}

}  // namespace memlog::redis::detail
