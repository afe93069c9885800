#pragma once
// What a Kafka source reads from librdkafka's statistics (a JSON text every
// statistics.interval.ms): which broker each partition is fetched from, and
// whether that broker is up. librdkafka has no other report of a broker
// coming back. A small JSON reader of its own: memlog::kafka needs no JSON
// library. No librdkafka here.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memlog::kafka::detail {

// A parsed JSON value. Numbers keep their integer value when they have one
// (offsets do not fit a double's 53 bits).
struct Json {
  enum class Type : std::uint8_t { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool boolean = false;
  std::optional<std::int64_t> integer;  // a number written without fraction or exponent, in range
  std::string text;                     // a string's (escapes other than \uXXXX decoded; \u kept as is)
  std::vector<Json> items;              // an array's elements, an object's values
  std::vector<std::string> keys;        // an object's keys, in order (keys[i] names items[i])

  // The first member named `key` of an object; null when there is none or
  // this is not an object.
  [[nodiscard]] const Json* find(std::string_view key) const noexcept {
    if (type != Type::object) return nullptr;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &items[i];
    }
    return nullptr;
  }
};

// Parses a whole JSON text; empty on any error (also trailing text, and
// nesting deeper than max_depth). Never throws but std::bad_alloc.
class JsonParser {
 public:
  static constexpr int max_depth = 64;

  [[nodiscard]] static std::optional<Json> parse(std::string_view text) {
    JsonParser parser(text);
    Json value;
    if (!parser.value(value, 0)) return std::nullopt;
    parser.skip_space();
    if (parser.at_ != text.size()) return std::nullopt;
    return value;
  }

 private:
  explicit JsonParser(std::string_view text) noexcept : text_(text) {}

  void skip_space() noexcept {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }

  [[nodiscard]] bool literal(std::string_view word) noexcept {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  [[nodiscard]] bool value(Json& out, int depth) {
    if (depth > max_depth) return false;
    skip_space();
    if (at_ >= text_.size()) return false;
    switch (text_[at_]) {
      case '{': return object(out, depth);
      case '[': return array(out, depth);
      case '"': out.type = Json::Type::string; return string(out.text);
      case 't': out.type = Json::Type::boolean; out.boolean = true; return literal("true");
      case 'f': out.type = Json::Type::boolean; return literal("false");
      case 'n': return literal("null");
      default: return number(out);
    }
  }

  [[nodiscard]] bool object(Json& out, int depth) {
    out.type = Json::Type::object;
    ++at_;  // '{'
    skip_space();
    if (at_ < text_.size() && text_[at_] == '}') {
      ++at_;
      return true;
    }
    while (true) {
      skip_space();
      std::string key;
      if (at_ >= text_.size() || text_[at_] != '"' || !string(key)) return false;
      skip_space();
      if (at_ >= text_.size() || text_[at_++] != ':') return false;
      Json member;
      if (!value(member, depth + 1)) return false;
      out.keys.push_back(std::move(key));
      out.items.push_back(std::move(member));
      skip_space();
      if (at_ >= text_.size()) return false;
      const char next = text_[at_++];
      if (next == '}') return true;
      if (next != ',') return false;
    }
  }

  [[nodiscard]] bool array(Json& out, int depth) {
    out.type = Json::Type::array;
    ++at_;  // '['
    skip_space();
    if (at_ < text_.size() && text_[at_] == ']') {
      ++at_;
      return true;
    }
    while (true) {
      Json item;
      if (!value(item, depth + 1)) return false;
      out.items.push_back(std::move(item));
      skip_space();
      if (at_ >= text_.size()) return false;
      const char next = text_[at_++];
      if (next == ']') return true;
      if (next != ',') return false;
    }
  }

  [[nodiscard]] bool string(std::string& out) {
    ++at_;  // '"'
    while (at_ < text_.size()) {
      const char c = text_[at_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (at_ >= text_.size()) return false;
      const char escaped = text_[at_++];
      switch (escaped) {
        case '"': case '\\': case '/': out.push_back(escaped); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u':
          // Kept undecoded: the statistics' names are ASCII.
          if (text_.size() - at_ < 4) return false;
          out.append("\\u").append(text_.substr(at_, 4));
          at_ += 4;
          break;
        default: return false;
      }
    }
    return false;
  }

  [[nodiscard]] bool number(Json& out) noexcept {
    const std::size_t start = at_;
    if (at_ < text_.size() && text_[at_] == '-') ++at_;
    bool integral = true;
    bool digits = false;
    while (at_ < text_.size()) {
      const char c = text_[at_];
      if (c >= '0' && c <= '9') {
        digits = true;
      } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
        integral = false;
      } else {
        break;
      }
      ++at_;
    }
    if (!digits) return false;
    out.type = Json::Type::number;
    if (integral) {
      std::int64_t value = 0;
      const char* first = text_.data() + start;
      const char* last = text_.data() + at_;
      const auto [end, error] = std::from_chars(first, last, value);
      if (error == std::errc{} && end == last) out.integer = value;
    }
    return true;
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

// The facts a source takes from one statistics report, for its topic.
struct StatsReport {
  std::map<std::int32_t, bool> broker_up;  // node id -> state is "UP"
  struct Partition {
    std::int32_t broker = -1;  // the broker it is fetched from; -1: none (no leader known)
    std::int64_t high = -1;    // high watermark; -1 unknown
  };
  std::map<std::int32_t, Partition> partitions;

  // Whether `partition` is fetched from a broker that is up.
  [[nodiscard]] bool connected(std::int32_t partition) const {
    const auto found = partitions.find(partition);
    if (found == partitions.end() || found->second.broker < 0) return false;
    const auto broker = broker_up.find(found->second.broker);
    return broker != broker_up.end() && broker->second;
  }
};

// Reads a librdkafka statistics text; empty when it is not JSON of the
// expected shape.
[[nodiscard]] inline std::optional<StatsReport> read_stats(std::string_view json, std::string_view topic) {
  const std::optional<Json> root = JsonParser::parse(json);
  if (!root || root->type != Json::Type::object) return std::nullopt;
  const auto integer = [](const Json* value) -> std::optional<std::int64_t> {
    if (value == nullptr || value->type != Json::Type::number) return std::nullopt;
    return value->integer;
  };
  StatsReport report;
  if (const Json* brokers = root->find("brokers"); brokers != nullptr && brokers->type == Json::Type::object) {
    for (const Json& broker : brokers->items) {
      const std::optional<std::int64_t> id = integer(broker.find("nodeid"));
      const Json* state = broker.find("state");
      // Logical brokers (the group coordinator, bootstrap entries) have node
      // id -1 or repeat a real one: a real broker's own entry decides.
      if (!id || *id < 0 || state == nullptr || state->type != Json::Type::string) continue;
      const Json* source = broker.find("source");
      if (source != nullptr && source->type == Json::Type::string && source->text == "logical") continue;
      bool& up = report.broker_up[static_cast<std::int32_t>(*id)];
      up = up || state->text == "UP";
    }
  }
  const Json* topics = root->find("topics");
  const Json* ours = topics != nullptr ? topics->find(topic) : nullptr;
  const Json* partitions = ours != nullptr ? ours->find("partitions") : nullptr;
  if (partitions != nullptr && partitions->type == Json::Type::object) {
    for (const Json& partition : partitions->items) {
      const std::optional<std::int64_t> id = integer(partition.find("partition"));
      if (!id || *id < 0) continue;  // -1: librdkafka's unassigned-messages partition
      StatsReport::Partition facts;
      if (const std::optional<std::int64_t> broker = integer(partition.find("broker"))) {
        facts.broker = static_cast<std::int32_t>(*broker);
      }
      if (const std::optional<std::int64_t> high = integer(partition.find("hi_offset")); high && *high >= 0) {
        facts.high = *high;
      }
      report.partitions[static_cast<std::int32_t>(*id)] = facts;
    }
  }
  return report;
}

}  // namespace memlog::kafka::detail
