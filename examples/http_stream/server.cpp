// http_stream_server: serves a memlog::Log over HTTP.
//
// A producer thread (standing in for a durable event source) writes JSON
// events into a memlog::Log<std::string>; remote clients read them at their
// own pace:
//
//   GET /                      a tiny HTML page that shows the live stream (EventSource)
//   GET /range                 {"earliest":E,"latest":L}
//   GET /records?from=N&limit=M
//   GET /records?since=T&limit=M
//                              a JSON array of up to M records (read_batch) from offset N,
//                              or from the first record created at or after the RFC 3339
//                              time T (offset_at); without either, from the earliest
//   GET /stream[?from=N|since=T][&reset=none|earliest|latest]
//                              Server-Sent Events, one memlog::Stream per client;
//                              honours Last-Event-ID; without `from` or `since` it starts
//                              at the next record written. `reset` is the stream's
//                              slow-reader policy (memlog::Reset, default none)
//   GET /stream?...&format=ndjson
//                              the same stream as newline-delimited JSON
//   GET /stats                 the log's stats() and the server's own counters
//
// Built on cpp-httplib: one thread per connection, and a streaming response
// is a "chunked content provider" that httplib calls on that thread until it
// reports the end. The parsing, the JSON and the choice of a start offset do
// not depend on httplib. SIGINT/SIGTERM stop the producer and close the log:
// every stream delivers what was written, sends an `end` event and ends; a
// stream still running after the grace period is cancelled through one
// std::stop_source. Then the server stops and exits 0.
//
// Run: http_stream_server --port 8080 --rate 10
//      curl -N http://127.0.0.1:8080/stream?from=0

#include <httplib.h>

#include <memlog/memlog.hpp>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using SystemTime = std::chrono::system_clock::time_point;
using EventLog = memlog::Log<std::string>;
using EventRecord = memlog::Record<std::string>;

// ---------------------------------------------------------------------------
// Parsing

template <class Int>
std::optional<Int> parse_int(std::string_view text) {
  Int value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view text) {
  // from_chars for double needs GCC 11 / libc++ 17; strtod is everywhere.
  if (text.empty()) return std::nullopt;
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(copy.c_str(), &end);
  if (errno != 0 || end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

// A count of units followed by one of `units`' names (the unit's size in
// the smallest unit); nullopt unless it is one of them and the product fits.
template <class Int>
struct Unit {
  std::string_view name;
  Int size;
};

template <class Int, std::size_t N>
std::optional<Int> parse_with_unit(std::string_view text, const Unit<Int> (&units)[N]) {
  const std::size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
  const auto count = parse_int<Int>(text.substr(0, digits));
  if (!count) return std::nullopt;
  for (const Unit<Int>& unit : units) {
    if (unit.name != text.substr(digits)) continue;
    if (*count > std::numeric_limits<Int>::max() / unit.size) return std::nullopt;
    return *count * unit.size;
  }
  return std::nullopt;
}

// A duration: 500ms, 30s, 5m, 2h (also ns, us); a plain number is seconds.
// Not negative, and within nanoseconds' range (292 years).
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  static constexpr Unit<std::int64_t> units[] = {
      {"", 1'000'000'000}, {"ns", 1},  {"us", 1'000}, {"ms", 1'000'000}, {"s", 1'000'000'000},
      {"m", 60'000'000'000}, {"h", 3'600'000'000'000}};
  const auto nanoseconds = parse_with_unit(text, units);
  if (!nanoseconds) return std::nullopt;
  return std::chrono::nanoseconds(*nanoseconds);
}

// A byte count: a plain number, or with K, M or G (KiB, MiB, GiB; the long
// names work too).
std::optional<std::size_t> parse_bytes(std::string_view text) {
  static constexpr Unit<std::size_t> units[] = {
      {"", 1},           {"K", std::size_t{1} << 10}, {"KiB", std::size_t{1} << 10}, {"M", std::size_t{1} << 20},
      {"MiB", std::size_t{1} << 20}, {"G", std::size_t{1} << 30}, {"GiB", std::size_t{1} << 30}};
  return parse_with_unit(text, units);
}

// An RFC 3339 date-time, strictly: YYYY-MM-DDTHH:MM:SS, an optional fraction
// of 1 to 9 digits, then Z or an offset +HH:MM / -HH:MM ('t' and 'z' may be
// lower case, as RFC 3339 allows). A real calendar date; hours to 23,
// minutes and seconds to 59: leap seconds (:60) are refused, as
// system_clock does not count them.
//
// A time outside system_clock's range (with nanoseconds: the years 1678 to
// 2262) comes back as its min() or max(), which offset_at() answers as
// "before every record" or "after every record", as it would the real time.
//
// A '+' in a query string arrives as a space (the form encoding of the
// query), so a space where an offset's sign belongs is read as '+':
// `since=2026-11-30T12:00:00+01:00` works without escaping the '+'.
std::optional<SystemTime> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  std::size_t pos = 0;
  // Exactly `n` digits at pos.
  const auto number = [&](std::size_t n) -> std::optional<int> {
    if (text.size() - pos < n) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const char c = text[pos + i];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    pos += n;
    return value;
  };
  // One of `choices` at pos (consumed), else '\0'.
  const auto one_of = [&](std::string_view choices) -> char {
    if (pos >= text.size() || choices.find(text[pos]) == std::string_view::npos) return '\0';
    return text[pos++];
  };

  const auto y = number(4);
  if (!y || !one_of("-")) return std::nullopt;
  const auto mo = number(2);
  if (!mo || !one_of("-")) return std::nullopt;
  const auto d = number(2);
  if (!d || !one_of("Tt")) return std::nullopt;
  const auto h = number(2);
  if (!h || !one_of(":")) return std::nullopt;
  const auto mi = number(2);
  if (!mi || !one_of(":")) return std::nullopt;
  const auto s = number(2);
  if (!s) return std::nullopt;
  const year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!date.ok() || *h > 23 || *mi > 59 || *s > 59) return std::nullopt;

  std::int64_t fraction_ns = 0;
  if (one_of(".")) {
    std::int64_t scale = 1'000'000'000;
    const std::size_t first = pos;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      if (pos - first == 9) return std::nullopt;  // finer than nanoseconds
      scale /= 10;
      fraction_ns += (text[pos] - '0') * scale;
    }
    if (pos == first) return std::nullopt;
  }

  std::int64_t offset_s = 0;
  const char zone = one_of("Zz+- ");
  if (zone == '\0') return std::nullopt;
  if (zone != 'Z' && zone != 'z') {
    const auto oh = number(2);
    if (!oh || !one_of(":")) return std::nullopt;
    const auto om = number(2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset_s = (*oh * 3600 + *om * 60) * (zone == '-' ? -1 : 1);
  }
  if (pos != text.size()) return std::nullopt;

  // Years 0000-9999 in seconds fit easily in 64 bits.
  const std::int64_t utc_s = static_cast<std::int64_t>(sys_days(date).time_since_epoch().count()) * 86400 +
                             *h * 3600 + *mi * 60 + *s - offset_s;
  constexpr std::int64_t limit_s = duration_cast<seconds>(system_clock::duration::max()).count() - 1;
  if (utc_s > limit_s) return SystemTime::max();
  if (utc_s < -limit_s) return SystemTime::min();
  // Rounded up to the clock's tick (microseconds with libc++): a record
  // stamped by that clock is at or after the time exactly when it is at or
  // after the rounded one.
  return SystemTime(duration_cast<system_clock::duration>(seconds(utc_s))) +
         ceil<system_clock::duration>(nanoseconds(fraction_ns));
}

// A stream's reset policy by name.
std::optional<memlog::Reset> parse_reset(std::string_view text) {
  if (text == "none") return memlog::Reset::none;
  if (text == "earliest") return memlog::Reset::earliest;
  if (text == "latest") return memlog::Reset::latest;
  return std::nullopt;
}

// An offset >= 0 from `text`, or nullopt.
std::optional<memlog::Offset> parse_offset(std::string_view text) {
  const auto value = parse_int<memlog::Offset>(text);
  if (!value || *value < 0) return std::nullopt;
  return value;
}

// ---------------------------------------------------------------------------
// Command line

struct Config {
  int port = 8080;                   // 0: pick a free port
  double rate = 10.0;                // events per second written by the producer
  std::uint64_t count = 0;           // stop producing after this many events (0: never)
  std::size_t segment = memlog::default_segment_size;  // records per memlog segment
  std::size_t max_bytes = 0;         // memlog::Options::max_segment_bytes (0: no limit)
  std::chrono::nanoseconds max_age{0};  // memlog::Options::max_age (0: no limit)
  std::size_t max_streams = 64;      // concurrent /stream clients; more get 503
  std::chrono::milliseconds heartbeat{15000};  // SSE comment when a stream is idle (0: never)
  std::chrono::milliseconds grace{5000};  // at shutdown, how long streams may take to drain
};

constexpr std::string_view usage =
    "usage: http_stream_server [--port N] [--rate EVENTS_PER_S] [--count N]\n"
    "                          [--segment RECORDS] [--max-bytes BYTES] [--max-age DURATION]\n"
    "                          [--max-streams N] [--heartbeat-ms MS] [--grace-ms MS]\n"
    "  --port         TCP port on 127.0.0.1 (0: pick a free one); default 8080\n"
    "  --rate         events per second the producer writes (> 0); default 10\n"
    "  --count        stop producing after N events (0: never); default 0\n"
    "  --segment      records per memlog segment (the log keeps 1-2 segments); default 1024\n"
    "  --max-bytes    also seal a segment at this many payload bytes, so the log keeps\n"
    "                 about twice this (suffix K, M, G: KiB, MiB, GiB; 0: no limit); default 0\n"
    "  --max-age      records older than this expire: 500ms, 30s, 5m, 2h (a plain number\n"
    "                 is seconds; 0: never); default 0\n"
    "  --max-streams  concurrent /stream clients before 503; default 64\n"
    "  --heartbeat-ms SSE keep-alive comment after this much idle time (0: off); default 15000\n"
    "  --grace-ms     on SIGINT/SIGTERM, how long open streams may take to deliver the\n"
    "                 records written before they are cancelled; default 5000\n";

// Parses `--name value` and `--name=value`. Returns nullopt (after printing
// why) on a bad command line.
std::optional<Config> parse_args(int argc, char** argv) {
  Config config;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view name = args[i];
    std::string_view value;
    if (name == "-h" || name == "--help") {
      std::cout << usage;
      std::exit(0);
    }
    if (const auto eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      std::cerr << "error: " << name << " needs a value\n" << usage;
      return std::nullopt;
    }

    bool ok = false;
    if (name == "--port") {
      const auto v = parse_int<int>(value);
      ok = v && *v >= 0 && *v <= 65535;
      if (ok) config.port = *v;
    } else if (name == "--rate") {
      const auto v = parse_double(value);
      ok = v && *v > 0 && *v <= 1e9;
      if (ok) config.rate = *v;
    } else if (name == "--count") {
      const auto v = parse_int<std::uint64_t>(value);
      ok = v.has_value();
      if (ok) config.count = *v;
    } else if (name == "--segment") {
      const auto v = parse_int<std::size_t>(value);
      ok = v && *v > 0 && *v <= (std::size_t{1} << 32);
      if (ok) config.segment = *v;
    } else if (name == "--max-bytes") {
      const auto v = parse_bytes(value);
      ok = v.has_value();
      if (ok) config.max_bytes = *v;
    } else if (name == "--max-age") {
      const auto v = parse_duration(value);
      ok = v.has_value();
      if (ok) config.max_age = *v;
    } else if (name == "--max-streams") {
      const auto v = parse_int<std::size_t>(value);
      ok = v && *v > 0 && *v <= 10000;
      if (ok) config.max_streams = *v;
    } else if (name == "--heartbeat-ms") {
      const auto v = parse_int<std::int64_t>(value);
      ok = v && *v >= 0;
      if (ok) config.heartbeat = std::chrono::milliseconds(*v);
    } else if (name == "--grace-ms") {
      const auto v = parse_int<std::int64_t>(value);
      ok = v && *v >= 0 && *v <= 3'600'000;
      if (ok) config.grace = std::chrono::milliseconds(*v);
    } else {
      std::cerr << "error: unknown option " << name << "\n" << usage;
      return std::nullopt;
    }
    if (!ok) {
      std::cerr << "error: invalid value for " << name << ": '" << value << "'\n" << usage;
      return std::nullopt;
    }
  }
  return config;
}

// ---------------------------------------------------------------------------
// JSON

// RFC 3339 in UTC with nanoseconds, e.g. 2024-05-01T12:00:00.123456789Z: a
// record's `created` exactly, so that `since=<created>` finds that record.
std::string rfc3339(SystemTime t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<nanoseconds>(t - day)};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%09lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), static_cast<long long>(hms.subseconds().count()));
  return buf;
}

// A JSON string literal for `text` (quotes included).
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
          out += esc;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

// {"offset":N,"created":"...","data":{...}}. The producer writes JSON
// documents, so `data` is embedded as is; a log of arbitrary text would go
// through json_string() instead.
void append_record_json(std::string& out, const EventRecord& record) {
  out += "{\"offset\":";
  out += std::to_string(record.metadata.offset);
  out += ",\"created\":\"";
  out += rfc3339(record.metadata.created);
  out += "\",\"data\":";
  out += record.data;
  out += '}';
}

// "earliest":E,"latest":L (members, no braces).
std::string range_members(const memlog::OffsetRange& range) {
  return "\"earliest\":" + std::to_string(range.earliest) + ",\"latest\":" + std::to_string(range.latest);
}

std::string range_json(const memlog::OffsetRange& range) { return "{" + range_members(range) + "}"; }

// {"error":"...", <extra>} where `extra` is a (possibly empty) list of
// members without braces.
std::string error_json(std::string_view message, std::string_view extra = {}) {
  std::string out = "{\"error\":" + json_string(message);
  if (!extra.empty()) {
    out += ',';
    out += extra;
  }
  out += '}';
  return out;
}

// The server's own counters, next to the log's Stats in /stats.
struct ServerCounters {
  std::size_t streams = 0;      // open /stream responses
  std::size_t max_streams = 0;  // the cap (--max-streams)
  std::uint64_t delivered = 0;  // records sent to stream clients
  std::uint64_t skipped = 0;    // records stream clients missed through a reset
};

std::string stats_json(const memlog::Stats& log, bool closed, const ServerCounters& server) {
  const auto member = [](std::string_view name, auto value) {
    return "\"" + std::string(name) + "\":" + std::to_string(value);
  };
  return "{" + member("streams", server.streams) + "," + member("max_streams", server.max_streams) + "," +
         member("written", log.written) + "," + member("delivered", server.delivered) + "," +
         member("skipped", server.skipped) + "," + member("records", log.records) + "," +
         member("bytes", log.bytes) + "," + member("purged", log.purged) + "," + member("waiting", log.waiting) +
         ",\"closed\":" + (closed ? "true" : "false") + "}";
}

// ---------------------------------------------------------------------------
// Stream messages: each one is an SSE event or one ndjson line.

enum class Format { sse, ndjson };

// A record: an SSE event whose id is the offset (one data: line, as the
// record's JSON is one line), or the record's JSON as a line.
void append_record_message(std::string& out, Format format, const EventRecord& record) {
  if (format == Format::sse) {
    out += "id: ";
    out += std::to_string(record.metadata.offset);
    out += "\ndata: ";
    append_record_json(out, record);
    out += "\n\n";
  } else {
    append_record_json(out, record);
    out += '\n';
  }
}

// `json` as an SSE event named `event` (no id, so that Last-Event-ID stays
// the last record's), or as a line.
void append_json_message(std::string& out, Format format, std::string_view event, std::string_view json) {
  if (format == Format::sse) {
    out += "event: ";
    out += event;
    out += "\ndata: ";
    out += json;
    out += "\n\n";
  } else {
    out += json;
    out += '\n';
  }
}

// A reset jumped over `skipped` records (`total` so far); the stream goes on
// at `position`. SSE: event: skipped; ndjson: the same object as a line.
void append_skipped_message(std::string& out, Format format, std::uint64_t skipped, std::uint64_t total,
                            memlog::Offset position) {
  const std::string json = "{\"skipped\":" + std::to_string(skipped) + ",\"total\":" + std::to_string(total) +
                           ",\"position\":" + std::to_string(position) + "}";
  append_json_message(out, format, "skipped", json);
}

// The stream ended without an error: `reason` is "closed" (the log was
// closed and every record written before was sent) or "shutdown" (cancelled
// before that). SSE: event: end, data {"reason":R,"position":P}; ndjson:
// {"end":R,"position":P}. `position` is the offset the stream would have
// sent next.
void append_end_message(std::string& out, Format format, std::string_view reason, memlog::Offset position) {
  const std::string members = json_string(reason) + ",\"position\":" + std::to_string(position) + "}";
  if (format == Format::sse) {
    append_json_message(out, format, "end", "{\"reason\":" + members);
  } else {
    append_json_message(out, format, "end", "{\"end\":" + members);
  }
}

// ---------------------------------------------------------------------------
// Requests, apart from HTTP: a query parameter is given at most once (the
// HTTP layer refuses repeats and unknown names); absent is nullopt.

using Param = std::optional<std::string>;

// The status and JSON body of a plain (not streaming) response.
struct Reply {
  int status = 200;
  std::string body;
};

Reply bad_request(const std::string& message) { return {400, error_json(message)}; }

constexpr std::string_view from_message = "'from' must be an offset >= 0";
constexpr std::string_view since_message = "'since' must be an RFC 3339 date-time, e.g. 2026-11-30T12:00:00Z";
constexpr std::string_view since_and_from_message = "'since' and 'from' cannot be used together";

// The earliest retained offset, or next_offset() when nothing is retained.
memlog::Offset first_retained(const EventLog& log) {
  const memlog::Offset earliest = log.range().earliest;
  return earliest >= 0 ? earliest : log.next_offset();
}

// GET /records?from=N|since=T&limit=M. With `from`, a future offset is 404
// and a purged one 410. With `since` or neither, the start is computed and
// nothing there yet is an empty array; a purge that overtakes the computed
// start before the read moves it on.
Reply records_reply(const EventLog& log, const Param& from, const Param& since, const Param& limit) {
  constexpr std::size_t default_limit = 100;
  constexpr std::size_t max_limit = 1000;
  if (from && since) return bad_request(std::string(since_and_from_message));
  std::optional<memlog::Offset> from_offset;
  if (from) {
    from_offset = parse_offset(*from);
    if (!from_offset) return bad_request(std::string(from_message));
  }
  std::optional<SystemTime> since_time;
  if (since) {
    since_time = parse_rfc3339(*since);
    if (!since_time) return bad_request(std::string(since_message));
  }
  std::size_t count = default_limit;
  if (limit) {
    const auto v = parse_int<std::size_t>(*limit);
    if (!v || *v == 0 || *v > max_limit) {
      return bad_request("'limit' must be between 1 and " + std::to_string(max_limit));
    }
    count = *v;
  }

  std::vector<EventRecord> batch(count);
  for (int attempt = 0;; ++attempt) {
    const memlog::Offset start =
        from_offset ? *from_offset : since_time ? log.offset_at(*since_time) : first_retained(log);
    const memlog::ReadBatchResult result = log.read_batch(start, batch);
    if (result.count > 0 || !result.error) {
      std::string body = "[";
      for (std::size_t i = 0; i < result.count; ++i) {
        if (i > 0) body += ',';
        append_record_json(body, batch[i]);
      }
      body += ']';
      return {200, body};
    }
    if (!from_offset && result.error == memlog::Errc::future_offset) return {200, "[]"};
    if (!from_offset && result.error == memlog::Errc::out_of_range && attempt < 3) continue;

    const std::string extra = "\"from\":" + std::to_string(start) + "," + range_members(log.range());
    if (result.error == memlog::Errc::future_offset) {
      return {404, error_json("future offset: not written yet", extra)};
    }
    if (result.error == memlog::Errc::out_of_range) {
      return {410, error_json("offset out of range: purged or before the start", extra)};
    }
    return {500, error_json(result.error.message())};
  }
}

// Where a stream starts, or why it cannot (a 400's message).
struct StreamStart {
  memlog::Offset offset = 0;
  std::string error;
};

// After Last-Event-ID (a reconnecting EventSource keeps its URL, so this wins
// over from and since), else at `from`, else at the first record created at
// or after `since`, else at the next record written. `last_event_id` is
// absent or empty when the client sent none.
StreamStart stream_start(const EventLog& log, const Param& last_event_id, const Param& from, const Param& since) {
  if (from && since) return {0, std::string(since_and_from_message)};
  std::optional<memlog::Offset> from_offset;
  if (from) {
    from_offset = parse_offset(*from);
    if (!from_offset) return {0, std::string(from_message)};
  }
  std::optional<SystemTime> since_time;
  if (since) {
    since_time = parse_rfc3339(*since);
    if (!since_time) return {0, std::string(since_message)};
  }
  if (last_event_id && !last_event_id->empty()) {
    const auto last = parse_offset(*last_event_id);
    if (!last || *last == std::numeric_limits<memlog::Offset>::max()) {
      return {0, "Last-Event-ID must be an offset >= 0"};
    }
    return {*last + 1, {}};
  }
  if (from_offset) return {*from_offset, {}};
  if (since_time) return {log.offset_at(*since_time), {}};
  return {log.next_offset(), {}};
}

// ---------------------------------------------------------------------------
// The producer: a simulated event source writing JSON events at a fixed rate.

std::string make_event(std::uint64_t seq) {
  static constexpr std::string_view kinds[] = {"VmPoweredOnEvent", "VmPoweredOffEvent", "VmMigratedEvent",
                                               "VmReconfiguredEvent"};
  return "{\"seq\":" + std::to_string(seq) + ",\"kind\":\"" + std::string(kinds[seq % std::size(kinds)]) +
         "\",\"vm\":\"vm-" + std::to_string(seq % 97) + "\"}";
}

// Writes until `stop`, --count or a closed log.
void produce(std::stop_token stop, EventLog& log, const Config& config) {
  // Paced against a start time, so the rate holds on average however
  // coarse the sleeps are: every wake-up writes all the events due by then.
  const auto start = Clock::now();
  const std::chrono::duration<double> interval(1.0 / config.rate);
  std::mutex mu;
  std::condition_variable_any wake;  // only ever woken by the stop request
  std::uint64_t seq = 0;
  while (!stop.stop_requested() && (config.count == 0 || seq < config.count)) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::uint64_t due = static_cast<std::uint64_t>(elapsed * config.rate) + 1;
    if (config.count != 0) due = std::min(due, config.count);
    for (; seq < due && !stop.stop_requested(); ++seq) {
      if (const auto offset = log.write(make_event(seq)); !offset) {
        if (offset.error() != memlog::Errc::closed) {
          std::cerr << "producer: write failed: " << offset.error().message() << "\n";
        }
        return;
      }
    }
    const auto next = start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(seq));
    std::unique_lock lock(mu);
    wake.wait_until(lock, stop, next, [] { return false; });
  }
}

// ---------------------------------------------------------------------------
// The HTML page served at /: shows the live stream with EventSource.
// ?from=N starts there, ?reset=earliest|latest passes the policy on, ?max=N
// closes the stream after N records.

constexpr std::string_view index_html = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>memlog live stream</title>
<style>
  body { font-family: sans-serif; margin: 1em; }
  #events li { font-family: monospace; }
  #events li.skipped { color: #a40; }
</style>
</head>
<body>
<h1>memlog live stream</h1>
<p>status: <span id="status">connecting</span>, events received: <span id="count">0</span>,
missed: <span id="skipped">0</span></p>
<ul id="events"></ul>
<script>
(function () {
  var list = document.getElementById('events');
  var status = document.getElementById('status');
  var count = document.getElementById('count');
  var skipped = document.getElementById('skipped');
  var params = new URLSearchParams(location.search);
  var max = Number(params.get('max') || 0);  // ?max=N: close the stream after N events
  var reset = params.get('reset');           // ?reset=earliest|latest: go on when behind
  var keep = 100, received = 0, missed = 0;

  function add(li) {
    list.appendChild(li);
    while (list.children.length > keep) list.removeChild(list.firstChild);
  }

  function open(from) {
    var query = [];
    if (from !== null) query.push('from=' + encodeURIComponent(from));
    if (reset) query.push('reset=' + encodeURIComponent(reset));
    var es = new EventSource('/stream' + (query.length ? '?' + query.join('&') : ''));
    es.onopen = function () { status.textContent = 'open'; };
    es.onmessage = function (e) {
      var li = document.createElement('li');
      li.id = 'event-' + e.lastEventId;
      li.setAttribute('data-offset', e.lastEventId);
      li.textContent = e.data;
      add(li);
      count.textContent = String(++received);
      if (max > 0 && received >= max) {
        es.close();
        status.textContent = 'done';
      }
    };
    es.addEventListener('skipped', function (e) {  // fell behind; the server went on
      var info = JSON.parse(e.data);
      missed += info.skipped;
      skipped.textContent = String(missed);
      var li = document.createElement('li');
      li.className = 'skipped';
      li.textContent = 'missed ' + info.skipped + ' records, going on at ' + info.position;
      add(li);
    });
    es.addEventListener('end', function (e) {  // the log was closed: nothing more will come
      status.textContent = 'ended: ' + JSON.parse(e.data).reason;
      es.close();
    });
    es.addEventListener('error', function (e) {
      if (e.data) {  // the server's error event, e.g. fell behind the retention
        status.textContent = 'closed by server: ' + e.data;
        es.close();
      } else {  // connection trouble: EventSource reconnects with Last-Event-ID
        status.textContent = es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting';
      }
    });
  }

  var from = params.get('from');
  if (from !== null) {
    open(from);
  } else {  // start with the last few retained records, then live
    fetch('/range').then(function (r) { return r.json(); }).then(function (r) {
      open(r.latest >= 0 ? Math.max(r.earliest, r.latest - 9) : null);
    }).catch(function () { open(null); });
  }
})();
</script>
</body>
</html>
)html";

// ---------------------------------------------------------------------------
// The server

class StreamServer {
 public:
  StreamServer(const Config& config, EventLog& log) : config_(config), log_(log) {
    // One connection occupies one worker for its lifetime: room for every
    // allowed stream plus the short requests (and the 503s) next to them.
    const std::size_t workers = config_.max_streams + 8;
    http_.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
    http_.set_tcp_nodelay(true);        // a record goes out when it is written
    http_.set_keep_alive_timeout(2);    // idle keep-alive connections delay shutdown by this much
    http_.set_read_timeout(5, 0);
    http_.set_write_timeout(5, 0);      // a client that takes nothing for 5 s is dropped

    http_.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(std::string(index_html), "text/html; charset=utf-8");
    });
    http_.Get("/range", [this](const httplib::Request& req, httplib::Response& res) {
      if (!check_params(req, res, {})) return;
      reply(res, {200, range_json(log_.range())});
    });
    http_.Get("/stats", [this](const httplib::Request& req, httplib::Response& res) {
      if (!check_params(req, res, {})) return;
      // relaxed: statistics; no other memory depends on them.
      const ServerCounters counters{streams_active(), config_.max_streams,
                                    delivered_.load(std::memory_order_relaxed),
                                    skipped_.load(std::memory_order_relaxed)};
      reply(res, {200, stats_json(log_.stats(), log_.closed(), counters)});
    });
    http_.Get("/records", [this](const httplib::Request& req, httplib::Response& res) {
      if (!check_params(req, res, {"from", "since", "limit"})) return;
      reply(res, records_reply(log_, param(req, "from"), param(req, "since"), param(req, "limit")));
    });
    http_.Get("/stream", [this](const httplib::Request& req, httplib::Response& res) { stream(req, res); });

    // JSON bodies for httplib's own errors (404 for unknown paths, 400 for
    // malformed requests); ours already have a body.
    http_.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
          const std::string message = res.status == 404 ? "not found" : "http status " + std::to_string(res.status);
          res.set_content(error_json(message), "application/json");
          return httplib::Server::HandlerResponse::Handled;
        }));
    http_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      reply(res, {500, error_json("internal error")});
    });
  }

  // Binds 127.0.0.1:port (0: any free port); the port, or -1.
  int bind(int port) {
    if (port == 0) return http_.bind_to_any_port("127.0.0.1");
    return http_.bind_to_port("127.0.0.1", port) ? port : -1;
  }

  // Serves until shutdown(); false if the server failed.
  bool serve() {
    bool ok = true;
    if (!stop_.stop_requested()) ok = http_.listen_after_bind();
    serving_done_.store(true);
    return ok;
  }

  // Closes the log, so that every stream delivers the records written and
  // ends by itself; cancels the streams still open after the grace period
  // (a client that reads slowly, or not at all, must not hold up the
  // shutdown for ever); then stops the server. Call once, with the producer
  // stopped (a write after close() is refused).
  void shutdown() {
    log_.close();
    std::cout << "closed the log at offset " << log_.next_offset() << std::endl;
    const auto streams_ended = [this] { return active_ == 0; };
    {
      std::unique_lock lock(slots_mu_);
      if (!slots_cv_.wait_for(lock, config_.grace, streams_ended)) {
        std::cerr << "shutdown: " << active_ << " streams still open after the grace period: cancelling them\n";
        stop_.request_stop();  // every stream's next_for() returns Errc::cancelled
        // Bounded too: a stream stuck in a write ends at the write timeout.
        slots_cv_.wait_for(lock, std::chrono::seconds(3), streams_ended);
      }
    }
    stop_.request_stop();  // no stream starts any more
    // stop() acts only on a running server: a signal that came before
    // listen_after_bind() got going has to wait for it (serve() skips
    // listening when stop was already requested, so this is short).
    for (int i = 0; i < 500 && !serving_done_.load(); ++i) {
      if (http_.is_running()) {
        http_.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  // One slot of the stream cap, released when destroyed (moves hand it on).
  class Slot {
   public:
    explicit Slot(StreamServer& server) noexcept : server_(&server) {}
    Slot(Slot&& other) noexcept : server_(std::exchange(other.server_, nullptr)) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (server_ != nullptr) server_->release_slot();
    }

   private:
    StreamServer* server_;
  };

  // The state of one client stream, shared by the copies of its content
  // provider (httplib copies std::functions): the slot is released when the
  // last copy is destroyed, i.e. when httplib is done with the response.
  struct StreamState {
    StreamState(Slot s, memlog::Stream<std::string> stream_, Format f, std::string peer)
        : slot(std::move(s)), stream(std::move(stream_)), format(f), client(std::move(peer)),
          first(stream.position()) {}
    Slot slot;
    memlog::Stream<std::string> stream;
    Format format;
    std::string client;
    memlog::Offset first;
    std::uint64_t skipped = 0;  // stream.skipped() as last told to the client
    Clock::time_point last_write = Clock::now();
    std::string buffer;  // reused for every message
  };

  static Param param(const httplib::Request& req, const char* name) {
    if (!req.has_param(name)) return std::nullopt;
    return req.get_param_value(name);
  }

  static void reply(httplib::Response& res, const Reply& r) {
    res.status = r.status;
    res.set_content(r.body, "application/json");
  }

  // 400 for parameters not in `allowed` and for repeated ones.
  static bool check_params(const httplib::Request& req, httplib::Response& res,
                           std::initializer_list<std::string_view> allowed) {
    for (const auto& [name, value] : req.params) {
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        reply(res, bad_request("unknown query parameter '" + name + "'"));
        return false;
      }
      if (req.get_param_value_count(name) > 1) {
        reply(res, bad_request("query parameter '" + name + "' given more than once"));
        return false;
      }
    }
    return true;
  }

  // GET /stream[?from=N|since=T][&reset=R][&format=ndjson]
  void stream(const httplib::Request& req, httplib::Response& res) {
    if (!check_params(req, res, {"from", "since", "reset", "format"})) return;

    Format format = Format::sse;
    if (const Param f = param(req, "format")) {
      if (*f == "ndjson") {
        format = Format::ndjson;
      } else if (*f != "sse") {
        return reply(res, bad_request("'format' must be sse or ndjson"));
      }
    }
    memlog::StreamOptions options;  // reset: none unless asked, as before resets existed
    if (const Param r = param(req, "reset")) {
      const auto reset = parse_reset(*r);
      if (!reset) return reply(res, bad_request("'reset' must be none, earliest or latest"));
      options.reset = *reset;
    }
    const Param last_event_id =
        req.has_header("Last-Event-ID") ? Param(req.get_header_value("Last-Event-ID")) : std::nullopt;
    const StreamStart start = stream_start(log_, last_event_id, param(req, "from"), param(req, "since"));
    if (!start.error.empty()) return reply(res, bad_request(start.error));

    std::optional<Slot> slot = acquire_slot();
    if (!slot) {
      res.set_header("Retry-After", "1");
      return reply(res, {503, error_json("too many streams",
                                         "\"max_streams\":" + std::to_string(config_.max_streams))});
    }
    auto state = std::make_shared<StreamState>(std::move(*slot), log_.stream(start.offset, stop_.get_token(), options),
                                               format, req.remote_addr + ":" + std::to_string(req.remote_port));

    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");  // tell reverse proxies not to buffer
    const char* type = format == Format::sse ? "text/event-stream" : "application/x-ndjson";
    res.set_chunked_content_provider(type, [this, state](std::size_t, httplib::DataSink& sink) {
      try {
        return pump(*state, sink);
      } catch (const std::exception& e) {  // nothing may escape into httplib here
        std::cerr << "stream " << state->client << ": " << e.what() << "\n";
        return false;
      } catch (...) {
        std::cerr << "stream " << state->client << ": unknown exception\n";
        return false;
      }
    });
  }

  // Called by httplib over and over until the stream is done. Sends what is
  // ready, waiting at most a short while, and returns so that httplib gets to
  // check whether the server is shutting down. Returns false to drop the
  // connection (the client is gone).
  bool pump(StreamState& st, httplib::DataSink& sink) {
    constexpr auto wait = std::chrono::milliseconds(250);  // bounds how late a disconnect is noticed
    const auto until = Clock::now() + wait;
    while (true) {
      auto record = st.stream.next_for(wait);
      st.buffer.clear();

      // A reset (StreamOptions::reset) jumped over records before this
      // record (or this timeout, or the end): say so first.
      if (const std::uint64_t total = st.stream.skipped(); total != st.skipped) {
        const memlog::Offset position = record ? record->metadata.offset : st.stream.position();
        append_skipped_message(st.buffer, st.format, total - st.skipped, total, position);
        // relaxed: a statistic.
        skipped_.fetch_add(total - st.skipped, std::memory_order_relaxed);
        st.skipped = total;
      }

      if (record) {
        append_record_message(st.buffer, st.format, *record);
        // One chunk per record: it is on the wire when write() returns.
        if (!sink.write(st.buffer.data(), st.buffer.size())) return ended(st, "client gone");
        delivered_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        st.last_write = Clock::now();
        if (st.last_write >= until) return true;
        continue;
      }

      const std::error_code error = record.error();
      if (error == memlog::Errc::timed_out) {
        // Nothing new. Notice a client that hung up (is_writable peeks at
        // the socket) and keep proxies from timing out an idle stream.
        if (!st.buffer.empty()) {
          if (!sink.write(st.buffer.data(), st.buffer.size())) return ended(st, "client gone");
          st.last_write = Clock::now();
        }
        if (!sink.is_writable()) return ended(st, "client gone");
        if (st.format == Format::sse && config_.heartbeat.count() > 0 &&
            Clock::now() - st.last_write >= config_.heartbeat) {
          static constexpr std::string_view ping = ": keep-alive\n\n";
          if (!sink.write(ping.data(), ping.size())) return ended(st, "client gone");
          st.last_write = Clock::now();
        }
        return true;
      }

      std::string why = error.message();
      if (error == memlog::Errc::closed || error == memlog::Errc::cancelled) {
        // closed: every record written before close() was sent. cancelled:
        // the grace period ran out first. Either way the response ends
        // cleanly, after an event that says so.
        why = error == memlog::Errc::closed ? "closed" : "shutdown";
        append_end_message(st.buffer, st.format, why, st.stream.position());
      } else {
        // Errc::out_of_range: the client fell behind the retention (or asked
        // for a purged offset) with reset=none. Say so, then close.
        const std::string extra =
            "\"position\":" + std::to_string(st.stream.position()) + "," + range_members(log_.range());
        append_json_message(st.buffer, st.format, "error", error_json(why, extra));
      }
      sink.write(st.buffer.data(), st.buffer.size());
      sink.done();
      return ended(st, why, true);
    }
  }

  static bool ended(const StreamState& st, const std::string& why, bool result = false) {
    // One write: the lines of streams ending together do not interleave.
    std::cerr << ("stream " + st.client + " from " + std::to_string(st.first) + " ended at " +
                  std::to_string(st.stream.position()) + ": " + why + " (" + std::to_string(st.skipped) +
                  " skipped)\n");
    return result;
  }

  std::optional<Slot> acquire_slot() {
    std::lock_guard lock(slots_mu_);
    if (active_ >= config_.max_streams) return std::nullopt;
    ++active_;
    return std::optional<Slot>(std::in_place, *this);
  }

  void release_slot() {
    {
      std::lock_guard lock(slots_mu_);
      --active_;
    }
    slots_cv_.notify_all();
  }

  std::size_t streams_active() {
    std::lock_guard lock(slots_mu_);
    return active_;
  }

  const Config& config_;
  EventLog& log_;
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> skipped_{0};
  std::stop_source stop_;  // one for the server: stopping it cancels every stream
  std::mutex slots_mu_;
  std::condition_variable slots_cv_;
  std::size_t active_ = 0;
  std::atomic<bool> serving_done_{false};
  httplib::Server http_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Config> config = parse_args(argc, argv);
  if (!config) return 2;

  // Signals: SIGINT/SIGTERM are blocked in every thread (threads inherit the
  // mask) and taken by one thread with sigtimedwait, where it is safe to do
  // anything. SIGPIPE is ignored: a write to a client that hung up fails
  // with EPIPE instead of killing the process.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  memlog::Options options;
  options.max_segment_size = config->segment;
  options.max_segment_bytes = config->max_bytes;
  options.max_age = config->max_age;
  EventLog log(std::move(options));
  StreamServer server(*config, log);

  const int port = server.bind(config->port);
  if (port < 0) {
    std::cerr << "error: cannot listen on 127.0.0.1:" << config->port << "\n";
    return 1;
  }
  std::cout << "listening on 127.0.0.1:" << port << std::endl;

  std::stop_source producer_stop;  // its own, so that the signal thread never touches the jthread
  std::jthread producer([&] { produce(producer_stop.get_token(), log, *config); });
  std::jthread signal_waiter([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      const timespec tick{0, 100'000'000};
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig == SIGINT || sig == SIGTERM) {
        std::cout << "shutting down (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")" << std::endl;
        producer_stop.request_stop();  // a write racing with close() is refused, and ends it too
        server.shutdown();
        return;
      }
    }
  });

  const bool ok = server.serve();  // returns after shutdown() and after every connection ended
  signal_waiter.request_stop();
  signal_waiter.join();
  producer_stop.request_stop();
  producer.join();
  if (!ok) {
    std::cerr << "error: server failed\n";
    return 1;
  }
  std::cout << "bye" << std::endl;
  return 0;
}
