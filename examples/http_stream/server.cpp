// http_stream_server: serves a memlog::Log over HTTP.
//
// The log's source is one of (--source):
//   (default)                  a producer thread writing synthetic JSON events into a
//                              memlog::Log<std::string> (--rate, --count)
//   redis://HOST[:PORT]/KEY    a read replica of a Redis stream (memlog::redis::Replica,
//                              from the oldest entry Redis retains)
//   kafka://BROKER[,BROKER...]/TOPIC[?PROPERTY=VALUE&...]
//                              a read replica of every partition of a Kafka topic
//                              (memlog::kafka::Source, from the earliest retained
//                              record; the query's pairs are librdkafka properties)
// Remote clients read the log at their own pace:
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
//   GET /stats                 the log's stats(), the server's own counters and the
//                              source's state
// With a Kafka source, each of these takes ?partition=N (default 0; 400 for a
// partition the topic does not have).
//
// What a source changes (see "Records" below): the record's JSON, the SSE
// id (the synthetic log's offset; a Redis entry ID; a Kafka offset) and so
// what Last-Event-ID means. Offsets (`from`, /range, "offset") are memlog
// offsets everywhere: the Redis entry's add index, the Kafka offset, equal
// on every replica. Records a replica holds only as placeholders (a Redis
// gap, a Kafka gap/lost/too_large offset) are never sent.
//
// Built on Boost.Beast and Boost.Asio: --threads I/O threads run every
// connection, and no connection has a thread of its own. A streaming client
// waits for its next record without a thread (memlog::async_next,
// <memlog/asio.hpp>); when records are there, the connection takes all it
// can (Stream::try_next) up to a bound and sends them in one write, so a
// client slower than the log gets fewer, larger writes rather than one per
// record. The serving code is a template on the log's record type; the
// parsing, the JSON and the choice of a start offset do not depend on the
// HTTP library. SIGINT/SIGTERM stop the source and close the log: every
// stream delivers what was written, sends an `end` event and ends; a stream
// still running after the grace period is cancelled through one
// std::stop_source. Then the server stops and exits 0.
//
// Run: http_stream_server --port 8080 --rate 10
//      http_stream_server --port 8080 --source redis://127.0.0.1:6379/events
//      curl -N http://127.0.0.1:8080/stream?from=0

// Before Asio: Boost 1.74's headers use std::exchange without including it.
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <memlog/asio.hpp>
#include <memlog/memlog.hpp>
#if MEMLOG_HTTP_STREAM_REDIS
#include <memlog/redis.hpp>
#endif
#if MEMLOG_HTTP_STREAM_KAFKA
#include <memlog/kafka.hpp>
#endif

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
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
#include <vector>

#include "source_assist.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using SystemTime = std::chrono::system_clock::time_point;

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

// Where the log's records come from (--source).
struct SourceSpec {
  enum class Kind { synthetic, redis, kafka };
  Kind kind = Kind::synthetic;
  std::string host;     // redis
  int port = 6379;      // redis
  std::string key;      // redis: the stream key
  std::string brokers;  // kafka: bootstrap.servers
  std::string topic;    // kafka
  std::vector<std::pair<std::string, std::string>> properties;  // kafka: librdkafka properties
};

std::string percent_decode(std::string_view text, bool plus_is_space);

// redis://HOST[:PORT]/KEY or kafka://BROKER[,BROKER...]/TOPIC[?NAME=VALUE&...]
// (KEY, TOPIC and the pairs percent-decoded); nullopt (and why) otherwise.
std::optional<SourceSpec> parse_source(std::string_view url, std::string& why) {
  SourceSpec spec;
  std::string_view rest;
  if (url.starts_with("redis://")) {
    spec.kind = SourceSpec::Kind::redis;
    rest = url.substr(8);
  } else if (url.starts_with("kafka://")) {
    spec.kind = SourceSpec::Kind::kafka;
    rest = url.substr(8);
  } else {
    why = "a source is redis://HOST[:PORT]/KEY or kafka://BROKER[,BROKER...]/TOPIC";
    return std::nullopt;
  }
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
    why = "the source needs a host and a key or topic";
    return std::nullopt;
  }
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = rest.substr(slash + 1);
  if (spec.kind == SourceSpec::Kind::redis) {
    // [v6 address]:port, host:port, or a host alone.
    const std::size_t colon = authority.rfind(':');
    const bool bracketed = authority.starts_with('[');
    const bool has_port = colon != std::string_view::npos && (!bracketed || colon > authority.find(']'));
    std::string_view host = has_port ? authority.substr(0, colon) : authority;
    if (bracketed && host.size() >= 2 && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    if (has_port) {
      const auto port = parse_int<int>(authority.substr(colon + 1));
      if (!port || *port <= 0 || *port > 65535) {
        why = "the Redis port must be in 1..65535";
        return std::nullopt;
      }
      spec.port = *port;
    }
    if (host.empty()) {
      why = "the source needs a host";
      return std::nullopt;
    }
    spec.host = std::string(host);
    spec.key = percent_decode(path, false);
    return spec;
  }
  spec.brokers = std::string(authority);
  const std::size_t question = path.find('?');
  if (question != std::string_view::npos) {
    std::string_view query = path.substr(question + 1);
    path = path.substr(0, question);
    while (!query.empty()) {
      const std::size_t amp = query.find('&');
      const std::string_view piece = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      const std::size_t eq = piece.find('=');
      if (piece.empty()) continue;
      if (eq == std::string_view::npos || eq == 0) {
        why = "a Kafka property is NAME=VALUE";
        return std::nullopt;
      }
      spec.properties.emplace_back(percent_decode(piece.substr(0, eq), false),
                                   percent_decode(piece.substr(eq + 1), false));
    }
  }
  spec.topic = percent_decode(path, false);
  if (spec.topic.empty()) {
    why = "the source needs a topic";
    return std::nullopt;
  }
  return spec;
}

struct Config {
  SourceSpec source;                 // --source (default: the synthetic producer)
  int port = 8080;                   // 0: pick a free port
  double rate = 10.0;                // events per second written by the producer
  std::uint64_t count = 0;           // stop producing after this many events (0: never)
  std::size_t segment = memlog::default_segment_size;  // records per memlog segment
  std::size_t max_bytes = 0;         // memlog::Options::max_segment_bytes (0: no limit)
  std::chrono::nanoseconds max_age{0};  // memlog::Options::max_age (0: no limit)
  // Concurrent /stream clients; more get 503. A stream costs a few KiB and a
  // file descriptor, no thread: the cap bounds memory and descriptors.
  std::size_t max_streams = 10000;
  unsigned threads = 2;              // I/O threads
  unsigned source_runs = 4;          // handlers a replica's source thread runs after each write
  // Where a replica starts: the oldest record the engine retains, the end
  // (only what is added from now on), or the first record at or after a time.
  struct Start {
    enum class From { earliest, latest, time } from = From::earliest;
    SystemTime time{};
  } start;
  std::chrono::milliseconds heartbeat{15000};  // SSE comment when a stream is idle (0: never)
  std::chrono::milliseconds grace{5000};  // at shutdown, how long streams may take to drain
};

constexpr std::string_view usage =
    "usage: http_stream_server [--port N] [--source URL] [--rate EVENTS_PER_S] [--count N]\n"
    "                          [--segment RECORDS] [--max-bytes BYTES] [--max-age DURATION]\n"
    "                          [--max-streams N] [--threads N] [--start WHERE] [--source-runs N]\n"
    "                          [--heartbeat-ms MS] [--grace-ms MS]\n"
    "  --port         TCP port on 127.0.0.1 (0: pick a free one); default 8080\n"
    "  --source       where the records come from: redis://HOST[:PORT]/KEY (a replica of a\n"
    "                 Redis stream), kafka://BROKER[,BROKER...]/TOPIC[?NAME=VALUE&...] (a\n"
    "                 replica of a Kafka topic; NAME=VALUE: librdkafka properties);\n"
    "                 default: a synthetic producer (--rate, --count)\n"
    "  --rate         events per second the producer writes (> 0); default 10\n"
    "  --count        stop producing after N events (0: never); default 0\n"
    "  --segment      records per memlog segment (the log keeps 1-2 segments); default 1024\n"
    "  --max-bytes    also seal a segment at this many payload bytes, so the log keeps\n"
    "                 about twice this (suffix K, M, G: KiB, MiB, GiB; 0: no limit); default 0\n"
    "  --max-age      records older than this expire: 500ms, 30s, 5m, 2h (a plain number\n"
    "                 is seconds; 0: never); default 0\n"
    "  --max-streams  concurrent /stream clients before 503; default 10000\n"
    "  --threads      I/O threads serving every connection; default 2\n"
    "  --start        where a replica starts: earliest (the oldest record the engine retains),\n"
    "                 latest (only what is added from now on), or an RFC 3339 time (the\n"
    "                 first record at or after it: a Redis ID's milliseconds, Kafka's\n"
    "                 offsetsForTimes); default earliest\n"
    "  --source-runs  a replica's source thread, after each write, runs up to N handlers\n"
    "                 that are ready (the first clients of a record get it without waiting\n"
    "                 for an I/O thread to wake; 0: none); default 4\n"
    "  --heartbeat-ms SSE keep-alive comment after this much idle time (0: off); default 15000\n"
    "  --grace-ms     on SIGINT/SIGTERM, how long open streams may take to deliver the\n"
    "                 records written before they are cancelled; default 5000\n";

// Parses `--name value` and `--name=value`. Returns nullopt (after printing
// why) on a bad command line.
std::optional<Config> parse_args(int argc, char** argv) {
  Config config;
  bool start_given = false;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view name = args[i];
    std::string_view value;
    if (name == "-h" || name == "--help") {
      std::cout << usage << "sources built in: synthetic"
#if MEMLOG_HTTP_STREAM_REDIS
                << " redis"
#endif
#if MEMLOG_HTTP_STREAM_KAFKA
                << " kafka"
#endif
                << "\n";
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
    if (name == "--source") {
      std::string why;
      auto spec = parse_source(value, why);
      if (!spec) {
        std::cerr << "error: invalid value for --source: '" << value << "': " << why << "\n" << usage;
        return std::nullopt;
      }
      config.source = std::move(*spec);
      ok = true;
    } else if (name == "--port") {
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
      ok = v && *v > 0 && *v <= 1'000'000;
      if (ok) config.max_streams = *v;
    } else if (name == "--threads") {
      const auto v = parse_int<unsigned>(value);
      ok = v && *v > 0 && *v <= 256;
      if (ok) config.threads = *v;
    } else if (name == "--start") {
      ok = true;
      if (value == "earliest") {
        config.start.from = Config::Start::From::earliest;
      } else if (value == "latest") {
        config.start.from = Config::Start::From::latest;
      } else if (const auto time = parse_rfc3339(value)) {
        config.start = {Config::Start::From::time, *time};
      } else {
        ok = false;
      }
    } else if (name == "--source-runs") {
      const auto v = parse_int<unsigned>(value);
      ok = v && *v <= 1024;
      if (ok) config.source_runs = *v;
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
    if (name == "--start") start_given = true;
  }
  if (start_given && config.source.kind == SourceSpec::Kind::synthetic) {
    std::cerr << "error: --start is for a replica (--source redis://... or kafka://...)\n" << usage;
    return std::nullopt;
  }
  return config;
}

// ---------------------------------------------------------------------------
// JSON

// RFC 3339 in UTC with nanoseconds, e.g. 2024-05-01T12:00:00.123456789Z: a
// record's `created` exactly, so that `since=<created>` finds that record.
void append_rfc3339(std::string& out, SystemTime t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<nanoseconds>(t - day)};
  // By hand rather than with snprintf: this runs for every record sent.
  // Years 1678-2262 (system_clock in nanoseconds) have four digits.
  char buf[] = "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ";
  const auto put = [&buf](std::size_t at, std::size_t width, std::uint64_t value) {
    for (std::size_t i = width; i-- > 0; value /= 10) buf[at + i] = static_cast<char>('0' + value % 10);
  };
  put(0, 4, static_cast<std::uint64_t>(static_cast<int>(ymd.year())));
  put(5, 2, static_cast<unsigned>(ymd.month()));
  put(8, 2, static_cast<unsigned>(ymd.day()));
  put(11, 2, static_cast<std::uint64_t>(hms.hours().count()));
  put(14, 2, static_cast<std::uint64_t>(hms.minutes().count()));
  put(17, 2, static_cast<std::uint64_t>(hms.seconds().count()));
  put(20, 9, static_cast<std::uint64_t>(hms.subseconds().count()));
  out.append(buf, sizeof buf - 1);
}

// An offset in decimal, without a temporary string.
void append_offset(std::string& out, memlog::Offset offset) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, offset);
  (void)ec;  // 20 digits and a sign fit
  out.append(buf, end);
}

// The length of the well-formed UTF-8 sequence at text[i] (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view text, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() - i < length) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

// `text` as a JSON string literal (quotes included). JSON text is UTF-8:
// a byte that is not part of a well-formed UTF-8 sequence (binary data in
// a Kafka key, say) becomes U+FFFD, so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    switch (c) {
      case '"': out += "\\\""; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      case '\t': out += "\\t"; ++i; continue;
      default: break;
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
      out += esc;
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence(text, i);
    if (length == 0) {
      out += "\\ufffd";
      ++i;
    } else {
      out.append(text, i, length);
      i += length;
    }
  }
  out += '"';
}

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

// Appends `text` to `out` without its insignificant white space when it is
// one JSON text (RFC 8259: any value, UTF-8, at most 64 levels deep), and
// returns true; else leaves `out` as it was and returns false. Compact, so
// that it fits on one SSE data: line.
class JsonCompactor {
 public:
  static bool append(std::string& out, std::string_view text) {
    const std::size_t size = out.size();
    JsonCompactor compactor(out, text);
    compactor.space();
    if (compactor.value(0)) {
      compactor.space();
      if (compactor.at_ == text.size()) return true;
    }
    out.resize(size);
    return false;
  }

 private:
  JsonCompactor(std::string& out, std::string_view text) noexcept : out_(out), text_(text) {}

  static constexpr int max_depth = 64;

  [[nodiscard]] bool more() const noexcept { return at_ < text_.size(); }
  [[nodiscard]] char peek() const noexcept { return text_[at_]; }

  void space() noexcept {
    while (more() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++at_;
  }

  bool take(char c) {
    if (!more() || peek() != c) return false;
    out_ += c;
    ++at_;
    return true;
  }

  bool value(int depth) {
    if (!more() || depth > max_depth) return false;
    switch (peek()) {
      case '{': return members(depth);
      case '[': return elements(depth);
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  bool members(int depth) {
    take('{');
    space();
    if (take('}')) return true;
    while (true) {
      space();
      if (!string()) return false;
      space();
      if (!take(':')) return false;
      space();
      if (!value(depth + 1)) return false;
      space();
      if (take('}')) return true;
      if (!take(',')) return false;
    }
  }

  bool elements(int depth) {
    take('[');
    space();
    if (take(']')) return true;
    while (true) {
      space();
      if (!value(depth + 1)) return false;
      space();
      if (take(']')) return true;
      if (!take(',')) return false;
    }
  }

  bool string() {
    if (!take('"')) return false;
    while (more()) {
      const char c = peek();
      if (c == '"') return take('"');
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        take('\\');
        if (!more()) return false;
        const char e = peek();
        if (e == 'u') {
          take('u');
          for (int k = 0; k < 4; ++k) {
            if (!more() || !std::isxdigit(static_cast<unsigned char>(peek()))) return false;
            out_ += text_[at_++];
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) != std::string_view::npos) {
          take(e);
        } else {
          return false;
        }
        continue;
      }
      const std::size_t length = utf8_sequence(text_, at_);
      if (length == 0) return false;
      out_.append(text_, at_, length);
      at_ += length;
    }
    return false;
  }

  bool literal(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    out_ += word;
    at_ += word.size();
    return true;
  }

  bool digits() {
    const std::size_t first = at_;
    while (more() && peek() >= '0' && peek() <= '9') out_ += text_[at_++];
    return at_ > first;
  }

  bool number() {
    take('-');
    if (take('0')) {
      // no leading zeros
    } else if (!more() || peek() < '1' || peek() > '9' || !digits()) {
      return false;
    }
    if (take('.') && !digits()) return false;
    if (more() && (peek() == 'e' || peek() == 'E')) {
      take(peek());
      if (more() && (peek() == '+' || peek() == '-')) take(peek());
      if (!digits()) return false;
    }
    return true;
  }

  std::string& out_;
  std::string_view text_;
  std::size_t at_ = 0;
};

// {"offset":N,"created":"...","data":{...}}. The producer writes JSON
// documents, so `data` is embedded as is.
void append_record_json(std::string& out, const memlog::Record<std::string>& record) {
  out += "{\"offset\":";
  append_offset(out, record.metadata.offset);
  out += ",\"created\":\"";
  append_rfc3339(out, record.metadata.created);
  out += "\",\"data\":";
  out += record.data;
  out += '}';
}

// ---------------------------------------------------------------------------
// Records. The serving code is a template on the log's record type T, and
// needs these of each (overloads, declared before the templates):
//   hidden(record)                  a placeholder a replica holds for an offset
//                                   without a record: skipped, never sent
//   append_event_id(out, record)    the SSE id: the source's position
//   append_record_json(out, record) the record as one line of JSON
//   resume_after(log, id, start)    where a stream resumes after Last-Event-ID `id`
//                                   (`start`: Served::start_after)

// Where a stream starts after Last-Event-ID, or why it cannot (a 400's message).
struct ResumeAt {
  memlog::Offset offset = 0;
  std::string error;
};

// Last-Event-ID as an offset: resume right after it.
ResumeAt resume_after_offset(std::string_view last_event_id) {
  const auto last = parse_offset(last_event_id);
  if (!last || *last == std::numeric_limits<memlog::Offset>::max()) {
    return {0, "Last-Event-ID must be an offset >= 0"};
  }
  return {*last + 1, {}};
}

// The synthetic log: every record is sent; the id is the offset.
bool hidden(const memlog::Record<std::string>&) noexcept { return false; }
void append_event_id(std::string& out, const memlog::Record<std::string>& record) {
  append_offset(out, record.metadata.offset);
}
ResumeAt resume_after(const memlog::Log<std::string>&, std::string_view last_event_id, const std::string&) {
  return resume_after_offset(last_event_id);
}

#if MEMLOG_HTTP_STREAM_REDIS
// A Redis stream's entry: {"offset":N,"id":"<ms>-<seq>","created":"...",
// "data":{"field":"value",...}}, the fields in Redis's order (a name Redis
// holds twice appears twice). The offset is the entry's add index (equal on
// every replica), the id its entry ID, which is also the SSE id. Gap
// records (an add index whose entry this replica does not hold) are hidden.
bool hidden(const memlog::Record<memlog::redis::Entry>& record) noexcept { return record.data.gap(); }
void append_event_id(std::string& out, const memlog::Record<memlog::redis::Entry>& record) {
  out += record.data.id.to_string();
}
void append_record_json(std::string& out, const memlog::Record<memlog::redis::Entry>& record) {
  out += "{\"offset\":";
  append_offset(out, record.metadata.offset);
  out += ",\"id\":\"";
  out += record.data.id.to_string();
  out += "\",\"created\":\"";
  append_rfc3339(out, record.metadata.created);
  out += "\",\"data\":{";
  for (std::size_t i = 0; i < record.data.fields.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, record.data.fields[i].name);
    out += ':';
    append_json_string(out, record.data.fields[i].value);
  }
  out += "}}";
}
// After the entry `last_event_id` (an entry ID; the same on every replica):
// the first retained record whose ID is after it. When that is the earliest
// retained record, older ones were purged, and `last_event_id` is older
// than it, the records in between may be among the purged: the stream then
// starts at the purged offset before it, so that it fails as a stream
// behind the retention does (an error event; with reset=earliest|latest a
// skipped message) rather than silently leaving them out.
ResumeAt resume_after(const memlog::Log<memlog::redis::Entry>& log, std::string_view last_event_id,
                      const std::string& start_after) {
  const auto id = memlog::redis::EntryId::parse(last_event_id);
  if (!id) return {0, "Last-Event-ID must be a Redis entry ID, <ms>-<seq>"};
  const memlog::Offset offset = memlog::redis::offset_after(log, *id);
  // An ID before where the replica began: the client may have missed
  // entries the replica never held. Fail as a purged offset does, rather
  // than go on from the replica's first record. (A replica started at a time
  // knows only the ID bound, not the entry before it: a client whose last
  // entry was right before the start fails too, and can use from=.)
  if (offset == log.options().start_offset && !start_after.empty()) {
    const auto start = memlog::redis::EntryId::parse(start_after);
    if (start && *id < *start) return {offset - 1, {}};
  }
  const memlog::OffsetRange range = log.range();
  if (range.earliest >= 0 && offset == range.earliest && range.earliest > log.options().start_offset) {
    const auto first = log.read(range.earliest, [](const auto& record) { return record.data.id; });
    if (first && *id < first->prev()) return {range.earliest - 1, {}};
  }
  return {offset, {}};
}
#endif

#if MEMLOG_HTTP_STREAM_KAFKA
// A Kafka record: {"offset":N,"partition":P,"created":"...","timestamp":"..."
// (null when Kafka has none),"data":{"key":K,"value":V,"headers":{...}}}.
// The offset is the Kafka offset, which is also the SSE id. The value is
// embedded as JSON when it is one JSON text (compacted onto one line), else
// it is a JSON string; the key is a JSON string; a null key or value is
// null. Headers: an object from each name to the array of its values in
// Kafka's order (Kafka allows a name more than once), a null value as null.
// Strings that are not UTF-8 get U+FFFD for their bad bytes (binary data is
// not carried losslessly). Placeholders (gap, lost, too_large) are hidden.
bool hidden(const memlog::Record<memlog::kafka::Message>& record) noexcept {
  return record.data.kind != memlog::kafka::Kind::record;
}
void append_event_id(std::string& out, const memlog::Record<memlog::kafka::Message>& record) {
  append_offset(out, record.metadata.offset);
}
void append_optional_string(std::string& out, const std::optional<std::string>& text) {
  if (text) {
    append_json_string(out, *text);
  } else {
    out += "null";
  }
}
void append_record_json(std::string& out, const memlog::Record<memlog::kafka::Message>& record) {
  const memlog::kafka::Message& message = record.data;
  out += "{\"offset\":";
  append_offset(out, record.metadata.offset);
  out += ",\"partition\":";
  append_offset(out, message.partition);
  out += ",\"created\":\"";
  append_rfc3339(out, record.metadata.created);
  out += "\",\"timestamp\":";
  if (message.timestamp == SystemTime{}) {
    out += "null";
  } else {
    out += '"';
    append_rfc3339(out, message.timestamp);
    out += '"';
  }
  out += ",\"data\":{\"key\":";
  append_optional_string(out, message.key);
  out += ",\"value\":";
  if (!message.value || !JsonCompactor::append(out, *message.value)) append_optional_string(out, message.value);
  out += ",\"headers\":{";
  const auto& headers = message.headers;
  bool first = true;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const auto same = [&](const memlog::kafka::HeaderField& h) { return h.name == headers[i].name; };
    if (std::any_of(headers.begin(), headers.begin() + static_cast<std::ptrdiff_t>(i), same)) continue;
    if (!first) out += ',';
    first = false;
    append_json_string(out, headers[i].name);
    out += ":[";
    bool first_value = true;
    for (std::size_t k = i; k < headers.size(); ++k) {
      if (!same(headers[k])) continue;
      if (!first_value) out += ',';
      first_value = false;
      append_optional_string(out, headers[k].value);
    }
    out += ']';
  }
  out += "}}}";
}
ResumeAt resume_after(const memlog::Log<memlog::kafka::Message>&, std::string_view last_event_id, const std::string&) {
  return resume_after_offset(last_event_id);
}
#endif

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

// `source`: the source's state, a JSON object.
std::string stats_json(const memlog::Stats& log, bool closed, const ServerCounters& server, std::string_view source) {
  const auto member = [](std::string_view name, auto value) {
    return "\"" + std::string(name) + "\":" + std::to_string(value);
  };
  return "{" + member("streams", server.streams) + "," + member("max_streams", server.max_streams) + "," +
         member("written", log.written) + "," + member("delivered", server.delivered) + "," +
         member("skipped", server.skipped) + "," + member("records", log.records) + "," +
         member("bytes", log.bytes) + "," + member("purged", log.purged) + "," + member("waiting", log.waiting) +
         ",\"closed\":" + (closed ? "true" : "false") + ",\"source\":" + std::string(source) + "}";
}

// ---------------------------------------------------------------------------
// Stream messages: each one is an SSE event or one ndjson line.

enum class Format { sse, ndjson };

// A record: an SSE event whose id is the source's position (one data:
// line, as the record's JSON is one line), or the record's JSON as a line.
template <class T>
void append_record_message(std::string& out, Format format, const memlog::Record<T>& record) {
  if (format == Format::sse) {
    out += "id: ";
    append_event_id(out, record);
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
template <class T>
memlog::Offset first_retained(const memlog::Log<T>& log) {
  const memlog::Offset earliest = log.range().earliest;
  return earliest >= 0 ? earliest : log.next_offset();
}

// GET /records?from=N|since=T&limit=M. With `from`, a future offset is 404
// and a purged one 410. With `since` or neither, the start is computed and
// nothing there yet is an empty array; a purge that overtakes the computed
// start before the read moves it on. Hidden records (a replica's
// placeholders) are left out, and the page reads on past them, so that it
// holds `limit` records unless the log ends first (or 64 Ki offsets were
// read: a page may then be short, even empty, before the log's end; a
// client goes on from the last offset it got plus one, or from the range).
template <class T>
Reply records_reply(const memlog::Log<T>& log, const Param& from, const Param& since, const Param& limit) {
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

  constexpr std::size_t max_scan = 64 * 1024;
  std::vector<memlog::Record<T>> batch(count);
  for (int attempt = 0;; ++attempt) {
    const memlog::Offset start =
        from_offset ? *from_offset : since_time ? log.offset_at(*since_time) : first_retained(log);
    memlog::ReadBatchResult result = log.read_batch(start, batch);
    if (result.count > 0 || !result.error) {
      std::string body = "[";
      std::size_t sent = 0;
      std::size_t scanned = 0;
      memlog::Offset next = start;
      while (true) {
        for (std::size_t i = 0; i < result.count && sent < count; ++i) {
          if (hidden(batch[i])) continue;
          if (sent++ > 0) body += ',';
          append_record_json(body, batch[i]);
        }
        scanned += result.count;
        next += static_cast<memlog::Offset>(result.count);
        if (sent == count || result.count < batch.size() || scanned >= max_scan) break;
        result = log.read_batch(next, batch);  // past placeholders; an error ends the page
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
template <class T>
StreamStart stream_start(const memlog::Log<T>& log, const Param& last_event_id, const Param& from,
                         const Param& since, const std::string& start_after) {
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
    ResumeAt resume = resume_after(log, *last_event_id, start_after);
    return {resume.offset, std::move(resume.error)};
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
void produce(std::stop_token stop, memlog::Log<std::string>& log, const Config& config) {
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
// Request targets, apart from HTTP: /path?name=value&name=value, with %XX
// decoded in both, and '+' as a space in the query (the form encoding
// browsers use).

// `text` with every %XX decoded (a '%' without two hex digits stays as it
// is), and '+' as a space when `plus_is_space`.
std::string percent_decode(std::string_view text, bool plus_is_space) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

struct Target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;  // in order; repeats kept
};

// A request target in origin form. `name` alone is `name=` (empty value);
// empty pieces (`&&`) are ignored.
Target parse_target(std::string_view target) {
  const std::size_t question = target.find('?');
  Target out{percent_decode(target.substr(0, question), false), {}};
  if (question == std::string_view::npos) return out;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const std::size_t eq = piece.find('=');
    out.params.emplace_back(percent_decode(piece.substr(0, eq), true),
                            eq == std::string_view::npos ? std::string() : percent_decode(piece.substr(eq + 1), true));
  }
  return out;
}

// The value of query parameter `name`, if given.
Param param(const Target& target, std::string_view name) {
  for (const auto& [key, value] : target.params) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// A 400 for a parameter not in `allowed`, or one given more than once.
std::optional<Reply> check_params(const Target& target, const std::vector<std::string_view>& allowed) {
  for (std::size_t i = 0; i < target.params.size(); ++i) {
    const std::string& name = target.params[i].first;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return bad_request("unknown query parameter '" + name + "'");
    }
    for (std::size_t j = i + 1; j < target.params.size(); ++j) {
      if (target.params[j].first == name) return bad_request("query parameter '" + name + "' given more than once");
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// The server

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;


using Strand = net::strand<net::io_context::executor_type>;
using Socket = net::basic_stream_socket<tcp, Strand>;
using Timer = net::basic_waitable_timer<Clock, net::wait_traits<Clock>, Strand>;

// How long a new connection may take to send its request, and a kept-alive
// one its next request.
constexpr std::chrono::seconds request_timeout{5};
constexpr std::chrono::seconds keep_alive_timeout{2};
// A client that takes nothing for this long is dropped.
constexpr std::chrono::seconds write_timeout{5};
// A stream gathers the records available, up to about this many bytes, into
// one write.
constexpr std::size_t write_bound = 32 * 1024;
// An idle stream keeps at most this much of its write buffer.
constexpr std::size_t idle_capacity = 4 * 1024;
// Room for the message that crosses write_bound (a record of more than this
// makes the buffer grow).
constexpr std::size_t write_slack = 4 * 1024;

// What the server serves: the source's logs and how to stop it.
template <class T>
struct Served {
  // By partition (a Kafka source: one per partition, null for one it does
  // not follow); other sources have one, and refuse ?partition.
  std::vector<const memlog::Log<T>*> logs;
  bool partitioned = false;
  // Stops the source and closes every log (at shutdown; more than once is fine).
  std::function<void()> close;
  // The source's state as a JSON object, for /stats.
  std::function<std::string()> state_json;
  // A Redis replica that began after the stream's first entry (--start, or
  // entries Redis had trimmed): the entry ID right before its first record
  // (redis::Located). Empty otherwise, and for other sources.
  std::string start_after;
};

// What every connection shares: the logs, the configuration, the stream cap
// and the server's counters. Thread-safe.
template <class T>
class Shared {
 public:
  Shared(const Config& server_config, Served<T> served) : config(server_config), served_(std::move(served)) {}
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  const Config& config;

  // The log a request names with ?partition=N (partitioned sources only;
  // default 0), or the 400 to answer.
  [[nodiscard]] const memlog::Log<T>* log(const Param& partition, std::optional<Reply>& bad) const {
    std::size_t index = 0;
    if (partition) {
      const auto n = parse_int<std::size_t>(*partition);
      if (!n || *n >= served_.logs.size() || served_.logs[*n] == nullptr) {
        bad = bad_request("unknown partition '" + *partition + "'");
        return nullptr;
      }
      index = *n;
    }
    return served_.logs.at(index);
  }
  [[nodiscard]] bool partitioned() const noexcept { return served_.partitioned; }
  // The first log (what the server prints at shutdown).
  [[nodiscard]] const memlog::Log<T>& main_log() const { return *served_.logs.front(); }
  void close_logs() { served_.close(); }
  [[nodiscard]] const std::string& start_after() const noexcept { return served_.start_after; }
  [[nodiscard]] std::string source_state() const { return served_.state_json(); }

  // A slot of the stream cap, or false when all are taken.
  [[nodiscard]] bool acquire_slot() {
    const std::lock_guard lock(slots_mu_);
    if (active_ >= config.max_streams) return false;
    ++active_;
    return true;
  }

  void release_slot() {
    {
      const std::lock_guard lock(slots_mu_);
      --active_;
    }
    slots_cv_.notify_all();
  }

  // Waits until no stream is open, for at most `timeout`; true if none is.
  bool wait_for_streams(std::chrono::milliseconds timeout) {
    std::unique_lock lock(slots_mu_);
    return slots_cv_.wait_for(lock, timeout, [this] { return active_ == 0; });
  }

  [[nodiscard]] std::size_t streams_active() {
    const std::lock_guard lock(slots_mu_);
    return active_;
  }

  // Cancels every stream (and every stream created afterwards).
  void stop_streams() noexcept { stop_.request_stop(); }
  [[nodiscard]] std::stop_token stop_token() const noexcept { return stop_.get_token(); }

  // relaxed: statistics; no other memory depends on them.
  void add_delivered(std::uint64_t n) noexcept { delivered_.fetch_add(n, std::memory_order_relaxed); }
  void add_skipped(std::uint64_t n) noexcept { skipped_.fetch_add(n, std::memory_order_relaxed); }

  [[nodiscard]] ServerCounters counters() {
    return {streams_active(), config.max_streams, delivered_.load(std::memory_order_relaxed),
            skipped_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> skipped_{0};
  std::stop_source stop_;  // one for the server: stopping it cancels every stream
  std::mutex slots_mu_;
  std::condition_variable slots_cv_;
  std::size_t active_ = 0;
  Served<T> served_;
};

// The response head of a stream. HTTP/1.1 clients get a chunked body; an
// HTTP/1.0 client's body ends when the connection closes. Either way the
// connection closes after the stream.
std::string_view stream_head(Format format, bool chunked) {
  static constexpr std::string_view heads[2][2] = {
      {"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
       "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n",
       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
       "X-Accel-Buffering: no\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"HTTP/1.0 200 OK\r\nContent-Type: application/x-ndjson\r\nCache-Control: no-cache\r\n"
       "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n",
       "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nCache-Control: no-cache\r\n"
       "X-Accel-Buffering: no\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"}};
  // X-Accel-Buffering: tells reverse proxies not to buffer.
  return heads[format == Format::sse ? 0 : 1][chunked ? 1 : 0];
}

// One client connection: reads requests and answers them, until one of them
// is a stream, which it then serves until the stream ends or the client
// goes. Every handler runs on the connection's strand and holds the
// connection (shared_from_this), so it lives until its last operation ends.
//
// A stream is writing (its gathered messages are in flight), or waiting
// (async_next is in flight: nothing else touches the Stream meanwhile; a
// heartbeat may go out), or done; pump() moves it on whenever one of its
// operations completes. One timer per connection, re-armed lazily, enforces
// the request and write timeouts and sends the heartbeats.
template <class T>
class Connection : public std::enable_shared_from_this<Connection<T>> {
 public:
  Connection(Shared<T>& shared, Socket socket, const tcp::endpoint& peer)
      : shared_(shared), socket_(std::move(socket)), timer_(socket_.get_executor()), peer_(peer) {}

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  ~Connection() {
    if (has_slot_) shared_.release_slot();  // a handler threw before the stream finished
  }

  // Starts serving, on the connection's strand: from then on, everything
  // that touches the connection runs there.
  void start() {
    net::post(socket_.get_executor(), [self = this->shared_from_this()] {
      self->read_request(request_timeout);
      self->arm_timer(self->read_deadline_);
    });
  }

 private:
  // --- requests

  void read_request(std::chrono::seconds timeout) {
    reading_ = true;
    read_deadline_ = Clock::now() + timeout;
    if (!buffer_) buffer_ = std::make_unique<beast::flat_buffer>();
    parser_ = std::make_unique<http::request_parser<http::empty_body>>();
    http::async_read(socket_, *buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_request(ec); });
  }

  void on_request(beast::error_code ec) {
    reading_ = false;
    if (ec) {
      // A malformed request (or one with a body) gets a 400; a client that
      // closed, or a timeout, just ends the connection.
      const bool malformed = ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
                             ec != http::error::end_of_stream && ec != http::error::partial_message;
      if (!malformed || finished_) return finish();
      keep_alive_ = false;
      return respond(400, error_json("bad request: " + ec.message()));
    }
    const http::request<http::empty_body>& request = parser_->get();
    keep_alive_ = request.keep_alive();
    version_ = request.version();
    if (request.method() != http::verb::get) {
      return respond(405, error_json("method not allowed"), "application/json", {{http::field::allow, "GET"}});
    }
    const Target target = parse_target(std::string_view(request.target().data(), request.target().size()));
    if (target.path == "/") {
      return respond(200, std::string(index_html), "text/html; charset=utf-8",
                     {{http::field::cache_control, "no-store"}});
    }
    // Every other path reads a log: a partitioned source's takes ?partition.
    std::optional<Reply> bad;
    const auto log_of = [&](std::initializer_list<std::string_view> allowed) -> const memlog::Log<T>* {
      std::vector<std::string_view> names(allowed);
      if (shared_.partitioned()) names.emplace_back("partition");
      bad = check_params(target, names);
      return bad ? nullptr : shared_.log(param(target, "partition"), bad);
    };
    if (target.path == "/range") {
      const memlog::Log<T>* log = log_of({});
      if (log == nullptr) return respond(*bad);
      return respond(200, range_json(log->range()));
    }
    if (target.path == "/stats") {
      const memlog::Log<T>* log = log_of({});
      if (log == nullptr) return respond(*bad);
      const ServerCounters counters = shared_.counters();
      return respond(200, stats_json(log->stats(), log->closed(), counters, shared_.source_state()));
    }
    if (target.path == "/records") {
      const memlog::Log<T>* log = log_of({"from", "since", "limit"});
      if (log == nullptr) return respond(*bad);
      return respond(records_reply(*log, param(target, "from"), param(target, "since"), param(target, "limit")));
    }
    if (target.path == "/stream") {
      const auto header = request.find("Last-Event-ID");
      const Param last_event_id =
          header == request.end() ? std::nullopt : Param(std::string(header->value().data(), header->value().size()));
      const memlog::Log<T>* log = log_of({"from", "since", "reset", "format"});
      if (log == nullptr) return respond(*bad);
      return start_stream(*log, target, last_event_id);
    }
    respond(404, error_json("not found"));
  }

  void respond(const Reply& reply) { respond(reply.status, reply.body); }

  void respond(int status, std::string body, std::string_view content_type = "application/json",
               std::initializer_list<std::pair<http::field, std::string_view>> headers = {}) {
    response_ = std::make_unique<http::response<http::string_body>>(static_cast<http::status>(status), version_);
    response_->set(http::field::content_type, beast::string_view(content_type.data(), content_type.size()));
    for (const auto& [name, value] : headers) response_->set(name, beast::string_view(value.data(), value.size()));
    response_->keep_alive(keep_alive_);
    response_->body() = std::move(body);
    response_->prepare_payload();
    writing_ = true;
    last_progress_ = Clock::now();  // a reply must be taken within write_timeout
    http::async_write(socket_, *response_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_replied(ec); });
  }

  void on_replied(beast::error_code ec) {
    writing_ = false;
    response_.reset();
    if (ec || !keep_alive_ || finished_) return finish();
    read_request(keep_alive_timeout);
    reschedule(read_deadline_);
  }

  // --- streams

  // GET /stream[?from=N|since=T][&reset=R][&format=ndjson]
  void start_stream(const memlog::Log<T>& log, const Target& target, const Param& last_event_id) {
    log_ = &log;
    if (const Param f = param(target, "format")) {
      if (*f == "ndjson") {
        format_ = Format::ndjson;
      } else if (*f != "sse") {
        return respond(bad_request("'format' must be sse or ndjson"));
      }
    }
    memlog::StreamOptions options;  // reset: none unless asked, as before resets existed
    if (const Param r = param(target, "reset")) {
      const auto reset = parse_reset(*r);
      if (!reset) return respond(bad_request("'reset' must be none, earliest or latest"));
      options.reset = *reset;
    }
    const StreamStart start =
        stream_start(log, last_event_id, param(target, "from"), param(target, "since"), shared_.start_after());
    if (!start.error.empty()) return respond(bad_request(start.error));
    if (!shared_.acquire_slot()) {
      return respond(503,
                     error_json("too many streams", "\"max_streams\":" + std::to_string(shared_.config.max_streams)),
                     "application/json", {{http::field::retry_after, "1"}});
    }
    has_slot_ = true;

    stop_ = std::stop_source();
    stream_.emplace(log.stream(start.offset, stop_.get_token(), options));
    first_ = stream_->position();
    // The server's stop (after the grace period) stops this stream too; a
    // stop already requested stops it right here.
    on_server_stop_.emplace(shared_.stop_token(), RequestStop{&stop_});
    chunked_ = version_ >= 11;
    streaming_ = true;
    // A stream is the connection's last response: no more requests are read.
    parser_.reset();
    buffer_.reset();
    beast::error_code ignored;
    socket_.non_blocking(true, ignored);  // for watch()'s reads
    last_write_ = Clock::now();
    watch();
    pump();
    reschedule(next_tick(Clock::now()));  // the first heartbeat may be due before the request's deadline
  }

  struct RequestStop {
    std::stop_source* source;
    void operator()() const noexcept { source->request_stop(); }
  };

  // Notices a client that hangs up while its stream waits: waits until the
  // socket is readable (no buffer while it waits), then reads what came
  // without blocking: an end of file or an error means the client is gone;
  // anything it sends is ignored.
  void watch() {
    socket_.async_wait(tcp::socket::wait_read, [self = this->shared_from_this()](beast::error_code ec) {
      self->on_readable(ec);
    });
  }

  void on_readable(beast::error_code ec) {
    if (finished_ || gone_ || ec == net::error::operation_aborted) return;
    if (!ec) {
      std::array<char, 256> discard;
      while (true) {
        const std::size_t n = socket_.read_some(net::buffer(discard), ec);
        if (ec || n == 0) break;
      }
      if (ec == net::error::would_block || ec == net::error::try_again) return watch();
    }
    client_gone("client gone");
    pump();
  }

  // Nothing more will be written to the client: ends the stream's wait (if
  // it waits) and a write in flight (if any); pump() then finishes.
  void client_gone(std::string_view why) {
    if (gone_ || finished_) return;
    gone_ = true;
    why_ = why;
    stop_.request_stop();
    beast::error_code ignored;
    socket_.close(ignored);
  }

  // Moves the stream on: sends what is available, or waits for the next
  // record, or finishes. Called whenever an operation of the stream ends.
  void pump() {
    if (finished_ || writing_ || waiting_) return;
    if (gone_) return finish();
    if (!ended_) drain();
    if (!body_.empty() || !head_sent_ || ended_) return write_messages();
    wait();
  }

  // Gathers the records available (and what a reset or the end says) into
  // body_, up to write_bound bytes.
  void drain() {
    while (body_.size() < write_bound) {
      memlog::Result<memlog::Record<T>> record = stream_->try_next();
      if (record) {
        if (hidden(*record)) continue;
        note_skipped(record->metadata.offset);
        append_record_message(body_, format_, *record);
        ++unsent_;
        // A stream this far behind fills a whole write: room for one at
        // once, rather than doubling past it.
        if (body_.size() > idle_capacity && body_.capacity() < write_bound + write_slack) {
          body_.reserve(write_bound + write_slack);
        }
        continue;
      }
      if (record.error() != memlog::Errc::timed_out) {
        note_skipped(stream_->position());
        end_stream(record.error());
      } else {
        caught_up_ = true;
      }
      return;
    }
    caught_up_ = false;  // more may be there
  }

  // A reset (StreamOptions::reset) jumped over records before `position`
  // (the record about to be sent, or where the stream ended): say so first.
  // Only then: a reset to `latest` usually lands where nothing is written
  // yet, and the stream may be reset again before anything is; one message
  // per gap, right before the record after it, says exactly how many
  // records the client missed there.
  void note_skipped(memlog::Offset position) {
    const std::uint64_t total = stream_->skipped();
    if (total == skipped_) return;
    append_skipped_message(body_, format_, total - skipped_, total, position);
    shared_.add_skipped(total - skipped_);
    skipped_ = total;
  }

  void end_stream(std::error_code error) {
    ended_ = true;
    if (error == memlog::Errc::closed || error == memlog::Errc::cancelled) {
      // closed: every record written before close() was sent. cancelled:
      // the grace period ran out first. Either way the response ends
      // cleanly, after an event that says so.
      why_ = error == memlog::Errc::closed ? "closed" : "shutdown";
      append_end_message(body_, format_, why_, stream_->position());
    } else {
      // Errc::out_of_range: the client fell behind the retention (or asked
      // for a purged offset) with reset=none. Say so, then close.
      why_ = error.message();
      const std::string extra =
          "\"position\":" + std::to_string(stream_->position()) + "," + range_members(log_->range());
      append_json_message(body_, format_, "error", error_json(why_, extra));
    }
  }

  // Records the time of every step of a write (for write_timeout), and
  // writes everything, as transfer_all does.
  struct Progress {
    Connection* connection;
    std::size_t operator()(const beast::error_code& ec, std::size_t) const {
      connection->last_progress_ = Clock::now();
      return ec ? 0 : 65536;
    }
  };

  // One write: the response head (the first time), body_ as one chunk, and
  // the last chunk when the stream has ended.
  void write_messages() {
    static constexpr std::string_view crlf = "\r\n";
    static constexpr std::string_view last_chunk = "0\r\n\r\n";
    std::size_t n = 0;
    if (!head_sent_) buffers_[n++] = net::buffer(stream_head(format_, chunked_));
    if (!body_.empty()) {
      if (chunked_) {
        const auto [end, ec] = std::to_chars(chunk_line_.data(), chunk_line_.data() + chunk_line_.size() - 2,
                                             body_.size(), 16);
        (void)ec;  // 64 bits of hex fit
        end[0] = '\r';
        end[1] = '\n';
        buffers_[n++] = net::buffer(chunk_line_.data(), static_cast<std::size_t>(end + 2 - chunk_line_.data()));
      }
      buffers_[n++] = net::buffer(body_);
      if (chunked_) buffers_[n++] = net::buffer(crlf);
    }
    if (ended_ && chunked_) buffers_[n++] = net::buffer(last_chunk);

    // A client that keeps up takes the write at once: a non-blocking send
    // then saves the trip of a completion through the scheduler, once per
    // delivery. What the socket does not take goes with async_write.
    std::size_t first = 0;
    beast::error_code ec;
    std::size_t sent = socket_.write_some(std::span<const net::const_buffer>(buffers_.data(), n), ec);
    if (ec && ec != net::error::would_block && ec != net::error::try_again) {
      client_gone("client gone");
      return pump();
    }
    for (; first < n && sent >= buffers_[first].size(); ++first) sent -= buffers_[first].size();
    if (first == n) return written();
    buffers_[first] += sent;
    writing_ = true;
    net::async_write(socket_, std::span<const net::const_buffer>(buffers_.data() + first, n - first), Progress{this},
                     [self = this->shared_from_this()](beast::error_code error, std::size_t) { self->on_written(error); });
  }

  void on_written(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      client_gone(timed_out_ ? "write timed out" : "client gone");
      return pump();
    }
    written();
  }

  // The write is done: wait for more (nothing was left), or gather more on
  // a later turn of the strand, so that a stream far behind does not keep
  // its thread from the other connections.
  void written() {
    head_sent_ = true;
    last_write_ = Clock::now();
    shared_.add_delivered(unsent_);
    unsent_ = 0;
    body_.clear();
    if (ended_) return finish();
    if (caught_up_) return wait();
    writing_ = true;  // nothing else writes before the continuation runs
    last_progress_ = last_write_;
    net::post(socket_.get_executor(), [self = this->shared_from_this()] {
      self->writing_ = false;
      self->pump();
    });
  }

  // Waits for the next record (nothing is available).
  void wait() {
    if (body_.capacity() > idle_capacity) std::string().swap(body_);
    waiting_ = true;
    memlog::async_next(*stream_, net::bind_executor(socket_.get_executor(),
                                                    [self = this->shared_from_this()](
                                                        memlog::asio::error_code ec, memlog::Record<T> record) {
                                                      self->on_next(ec, std::move(record));
                                                    }));
  }

  void on_next(memlog::asio::error_code ec, memlog::Record<T> record) {
    waiting_ = false;
    // On an error the stream has ended: drain() hears why from try_next().
    if (!ec && !gone_ && !hidden(record)) {
      note_skipped(record.metadata.offset);
      append_record_message(body_, format_, record);
      ++unsent_;
    }
    pump();
  }

  // An SSE comment, while the stream waits and nothing was sent for a
  // heartbeat period: keeps proxies from timing out an idle stream, and
  // shows whether the client is still there.
  void send_heartbeat() {
    static constexpr std::string_view chunked_ping = "e\r\n: keep-alive\n\n\r\n";  // 0xe = 14 bytes
    const std::string_view ping = chunked_ ? chunked_ping : chunked_ping.substr(3, 14);
    writing_ = true;
    net::async_write(socket_, net::buffer(ping), Progress{this},
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_pinged(ec); });
  }

  void on_pinged(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      client_gone(timed_out_ ? "write timed out" : "client gone");
    } else {
      last_write_ = Clock::now();
    }
    pump();  // a record that came meanwhile goes out now
  }

  // --- the timer: request and write timeouts, heartbeats

  void arm_timer(Clock::time_point at) {
    timer_.expires_at(at);
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) { self->on_tick(ec); });
  }

  // Moves the timer's pending wait to `at`, when the next thing to check
  // comes sooner than the wait would end. The wait it replaces completes
  // with operation_aborted and does nothing.
  void reschedule(Clock::time_point at) {
    if (at < timer_.expiry() && timer_.expires_at(at) > 0) {
      timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) { self->on_tick(ec); });
    }
  }

  void on_tick(beast::error_code ec) {
    if (ec || finished_) return;  // replaced by reschedule(), or the connection has finished
    const Clock::time_point now = Clock::now();
    if (writing_ && now - last_progress_ >= write_timeout) {
      // The write in flight fails with operation_aborted, and its handler ends the connection.
      timed_out_ = true;
      beast::error_code ignored;
      socket_.close(ignored);
      return;
    }
    if (reading_ && now >= read_deadline_) {
      beast::error_code ignored;
      socket_.close(ignored);  // the read fails, and its handler ends the connection
      return;
    }
    if (heartbeats() && waiting_ && !writing_ && !gone_ && now - last_write_ >= shared_.config.heartbeat) {
      send_heartbeat();
    }
    arm_timer(next_tick(now));
  }

  [[nodiscard]] bool heartbeats() const noexcept {
    return streaming_ && format_ == Format::sse && shared_.config.heartbeat.count() > 0;
  }

  // When the timer must look again: at the deadline of the read or write in
  // flight, or when a heartbeat may be due; at least every write_timeout.
  [[nodiscard]] Clock::time_point next_tick(Clock::time_point now) const {
    Clock::time_point next = now + write_timeout;
    if (writing_) {
      next = last_progress_ + write_timeout;
    } else if (reading_) {
      next = read_deadline_;
    }
    if (heartbeats()) {
      next = std::min(next, writing_ ? now + shared_.config.heartbeat : last_write_ + shared_.config.heartbeat);
    }
    return std::max(next, now + std::chrono::milliseconds(1));
  }

  // --- the end

  // Ends the connection (once): the stream's slot goes back, the socket closes.
  void finish() {
    if (finished_) return;
    finished_ = true;
    if (streaming_) {
      // One write: the lines of streams ending together do not interleave.
      std::cerr << ("stream " + peer_.address().to_string() + ":" + std::to_string(peer_.port()) + " from " +
                    std::to_string(first_) + " ended at " + std::to_string(stream_->position()) + ": " + why_ +
                    " (" + std::to_string(skipped_) + " skipped)\n");
      on_server_stop_.reset();
      stream_.reset();
      has_slot_ = false;
      shared_.release_slot();
    }
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
    timer_.cancel();
  }

  Shared<T>& shared_;
  Socket socket_;
  Timer timer_;
  tcp::endpoint peer_;

  // Requests; released once the connection streams.
  std::unique_ptr<beast::flat_buffer> buffer_;
  std::unique_ptr<http::request_parser<http::empty_body>> parser_;
  std::unique_ptr<http::response<http::string_body>> response_;  // being written
  unsigned version_ = 11;   // of the last request: 10 is HTTP/1.0
  bool keep_alive_ = false;

  // The stream.
  const memlog::Log<T>* log_ = nullptr;  // the stream's
  std::optional<memlog::Stream<T>> stream_;
  std::stop_source stop_{std::nostopstate};  // the stream's: the client went, or the server stops
  std::optional<std::stop_callback<RequestStop>> on_server_stop_;
  std::string body_;  // messages gathered for the next write
  std::array<net::const_buffer, 5> buffers_;  // of the write in flight
  std::array<char, 20> chunk_line_{};         // its chunk's size line
  std::string why_;  // why the stream ended
  memlog::Offset first_ = 0;
  std::uint64_t skipped_ = 0;  // stream_->skipped() as last told to the client
  std::uint64_t unsent_ = 0;   // records in body_
  Format format_ = Format::sse;

  Clock::time_point read_deadline_{};
  Clock::time_point last_progress_{};  // of the write in flight
  Clock::time_point last_write_{};     // the end of the last write
  bool reading_ = false;    // a request is being read
  bool writing_ = false;    // a write is in flight
  bool waiting_ = false;    // async_next is in flight
  bool streaming_ = false;  // the connection serves a stream
  bool chunked_ = true;
  bool head_sent_ = false;
  bool caught_up_ = false;  // the last drain() found nothing more
  bool ended_ = false;      // the stream ended: its last message is in body_ or sent
  bool gone_ = false;       // nothing more can be written
  bool timed_out_ = false;  // a write took too long
  bool has_slot_ = false;
  bool finished_ = false;
};

template <class T>
class StreamServer {
 public:
  StreamServer(const Config& config, Served<T> served)
      : shared_(config, std::move(served)),
        io_(std::in_place, static_cast<int>(config.threads)),
        acceptor_(std::in_place, net::make_strand(*io_)),
        accept_retry_(std::in_place, acceptor_->get_executor()) {}

  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  // Closing the log first completes every waiting stream's wait, so that no
  // waiter is left armed in the log when the connections go with the
  // io_context. Then the I/O objects go before the context they live in,
  // and the context (with every connection still in it) before what the
  // connections use (shared_).
  ~StreamServer() {
    shared_.close_logs();
    accept_retry_.reset();
    acceptor_.reset();
    io_.reset();
  }

  // Binds 127.0.0.1:port (0: any free port); the port, or -1.
  int bind(int port) {
    beast::error_code ec;
    const tcp::endpoint endpoint(net::ip::make_address_v4("127.0.0.1"), static_cast<unsigned short>(port));
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (!ec) acceptor_->non_blocking(true, ec);  // for on_accept()'s loop
    if (ec) {
      std::cerr << "error: " << ec.message() << "\n";
      return -1;
    }
    return acceptor_->local_endpoint().port();
  }

  [[nodiscard]] net::io_context& io_context() noexcept { return *io_; }

  // Serves on --threads threads (this one among them) until shutdown().
  void serve() {
    accept();
    std::vector<std::jthread> threads;
    for (unsigned i = 1; i < shared_.config.threads; ++i) threads.emplace_back([this] { run(); });
    run();
  }

  // Closes the log, so that every stream delivers the records written and
  // ends by itself; cancels the streams still open after the grace period
  // (a client that reads slowly, or not at all, must not hold up the
  // shutdown for ever); then stops the server. Call once, with the producer
  // stopped (a write after close() is refused), from a thread that does not
  // serve.
  void shutdown() {
    shared_.close_logs();
    std::cout << "closed the log at offset " << shared_.main_log().next_offset() << std::endl;
    if (!shared_.wait_for_streams(shared_.config.grace)) {
      std::cerr << "shutdown: " << shared_.streams_active()
                << " streams still open after the grace period: cancelling them\n";
      shared_.stop_streams();  // each ends with an end event, "shutdown"
      // Bounded too: a stream stuck in a write ends at the write timeout,
      // or when the server stops below.
      (void)shared_.wait_for_streams(std::chrono::seconds(3));
    }
    shared_.stop_streams();  // no stream starts any more
    // Every connection still open (requests in progress, kept-alive ones,
    // stuck writes) is dropped with the context; a stop before serve()
    // began makes serve() return at once.
    io_->stop();
  }

 private:
  // One thread's share of the work. An exception from a handler (such as
  // std::bad_alloc) ends that handler's connection, not the server.
  void run() {
    while (true) {
      try {
        io_->run();
        return;
      } catch (const std::exception& e) {
        std::cerr << "error in a handler: " << e.what() << "\n";
      }
    }
  }

  void accept() {
    acceptor_->async_accept(net::make_strand(*io_),
                            [this](beast::error_code ec, Socket socket) { on_accept(ec, std::move(socket)); });
  }

  void on_accept(beast::error_code ec, Socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      open(std::move(socket));
      // Then every connection already waiting, without waiting again: under
      // load this handler runs behind thousands of deliveries, and taking
      // one connection per turn would take minutes to let 10,000 in. At
      // most a batch per turn, so that a flood of connections does not hold
      // up the streams either (the acceptor is non-blocking).
      for (int i = 0; i < 256; ++i) {
        Socket next(net::make_strand(*io_));
        acceptor_->accept(next, ec);
        if (ec) break;
        open(std::move(next));
      }
      if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
    }
    if (ec) {
      // Out of file descriptors (EMFILE), or a connection that went before
      // it was accepted: try again in a while rather than in a busy loop.
      std::cerr << "accept: " << ec.message() << "\n";
      accept_retry_->expires_after(std::chrono::milliseconds(100));
      accept_retry_->async_wait([this](beast::error_code error) {
        if (!error) accept();
      });
      return;
    }
    accept();
  }

  void open(Socket socket) {
    try {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // a record goes out when it is written
      const tcp::endpoint peer = socket.remote_endpoint(ignored);
      std::make_shared<Connection<T>>(shared_, std::move(socket), peer)->start();
    } catch (const std::exception& e) {
      std::cerr << "accept: " << e.what() << "\n";
    }
  }

  Shared<T> shared_;
  std::optional<net::io_context> io_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<net::steady_timer> accept_retry_;
};

// Raises the soft limit on open files to the hard one: a stream is a file
// descriptor, and the usual soft limit (1024) is far below --max-streams.
void raise_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// The source's state, for /stats: JSON members shared by every source.
std::string error_member(const std::error_code& error, const std::string& message) {
  std::string out = ",\"error\":";
  out += error ? json_string(error.message()) : std::string("null");
  out += ",\"message\":";
  out += message.empty() ? std::string("null") : json_string(message);
  return out;
}

#if MEMLOG_HTTP_STREAM_REDIS
std::string redis_state_json(const memlog::redis::State& state) {
  using memlog::redis::KeyStatus;
  const auto flag = [](bool b) { return b ? std::string("true") : std::string("false"); };
  const char* key = state.key == KeyStatus::stream      ? "stream"
                    : state.key == KeyStatus::missing    ? "missing"
                    : state.key == KeyStatus::wrong_type ? "wrong_type"
                                                         : "unknown";
  return "{\"kind\":\"redis\",\"running\":" + flag(state.running) + ",\"connected\":" + flag(state.connected) +
         ",\"key\":\"" + key + "\",\"last\":{\"id\":\"" + state.last.id.to_string() +
         "\",\"offset\":" + std::to_string(state.last.offset) + "},\"exact\":" + flag(state.exact) +
         ",\"lag\":" + std::to_string(state.lag) + ",\"entries\":" + std::to_string(state.entries) +
         ",\"skipped\":{\"deleted\":" + std::to_string(state.skipped.deleted) +
         ",\"too_large\":" + std::to_string(state.skipped.too_large) +
         ",\"malformed\":" + std::to_string(state.skipped.malformed) +
         "},\"unverified\":" + std::to_string(state.unverified) +
         ",\"reconnects\":" + std::to_string(state.reconnects) +
         ",\"bad_replies\":" + std::to_string(state.bad_replies) + error_member(state.error, state.message) + "}";
}
#endif

#if MEMLOG_HTTP_STREAM_KAFKA
std::string kafka_state_json(const memlog::kafka::State& state) {
  const auto flag = [](bool b) { return b ? std::string("true") : std::string("false"); };
  std::string out = "{\"kind\":\"kafka\",\"running\":" + flag(state.running) +
                    ",\"connected\":" + flag(state.connected) + ",\"reconnects\":" + std::to_string(state.reconnects) +
                    error_member(state.error, state.message) + ",\"partitions\":[";
  for (std::size_t i = 0; i < state.partitions.size(); ++i) {
    const memlog::kafka::PartitionState& p = state.partitions[i];
    if (i > 0) out += ',';
    // last: the last Kafka offset written (-1: none yet).
    out += "{\"partition\":" + std::to_string(p.partition) + ",\"start_offset\":" + std::to_string(p.start_offset) +
           ",\"last\":" + std::to_string(p.next_offset > p.start_offset ? p.next_offset - 1 : -1) +
           ",\"next_offset\":" + std::to_string(p.next_offset) +
           ",\"high_watermark\":" + std::to_string(p.high_watermark) + ",\"lag\":" + std::to_string(p.lag) +
           ",\"connected\":" + flag(p.connected) + ",\"records\":" + std::to_string(p.counters.records) +
           ",\"skipped\":{\"gaps\":" + std::to_string(p.counters.gaps) + ",\"lost\":" +
           std::to_string(p.counters.lost) + ",\"too_large\":" + std::to_string(p.counters.too_large) +
           ",\"duplicates\":" + std::to_string(p.counters.duplicates) + "}}";
  }
  return out + "]}";
}
#endif

using http_stream::SourceAssist;  // source_assist.hpp: --source-runs

// Serves `served` until `shutdown` is requested (SIGINT/SIGTERM), then
// drains the streams and returns the exit status. `assist`: a replica's
// source thread, which runs ready handlers after each write while attached.
template <class T>
int serve(const Config& config, Served<T> served, std::stop_token shutdown, SourceAssist* assist = nullptr) {
  StreamServer<T> server(config, std::move(served));
  const int port = server.bind(config.port);
  if (port < 0) {
    std::cerr << "error: cannot listen on 127.0.0.1:" << config.port << "\n";
    return 1;
  }
  // Declared after the server: detaches before it (and its io_context) goes.
  struct Attached {
    SourceAssist* assist;
    ~Attached() {
      if (assist != nullptr) assist->attach(nullptr);
    }
  } attached{assist};
  if (assist != nullptr) assist->attach(&server.io_context());
  std::cout << "listening on 127.0.0.1:" << port << std::endl;
  // On the signal thread (a thread that does not serve), or right here when
  // the stop came first: serve() then returns at once.
  std::stop_callback on_shutdown(shutdown, [&server] { server.shutdown(); });
  server.serve();  // returns after shutdown()
  std::cout << "bye" << std::endl;
  return 0;
}

memlog::Options log_options(const Config& config) {
  memlog::Options options;
  options.max_segment_size = config.segment;
  options.max_segment_bytes = config.max_bytes;
  options.max_age = config.max_age;
  return options;
}

int serve_synthetic(const Config& config, std::stop_token shutdown) {
  memlog::Log<std::string> log(log_options(config));
  std::stop_source producer_stop;
  std::jthread producer([&] { produce(producer_stop.get_token(), log, config); });
  Served<std::string> served;
  served.logs = {&log};
  served.close = [&] {
    producer_stop.request_stop();  // a write racing with close() is refused, and ends it too
    log.close();
  };
  served.state_json = [] { return std::string("{\"kind\":\"synthetic\"}"); };
  const int status = serve(config, std::move(served), shutdown);
  producer_stop.request_stop();
  return status;
}

#if MEMLOG_HTTP_STREAM_REDIS
// A replica from --start (default: the oldest entry Redis retains).
// Connecting (and locating the start) retries until Redis answers, or until
// SIGINT/SIGTERM.
int serve_redis(const Config& config, std::stop_token shutdown) {
  memlog::redis::Config redis;
  redis.host = config.source.host;
  redis.port = config.source.port;
  redis.key = config.source.key;
  SourceAssist assist(config.source_runs);
  if (config.source_runs > 0) redis.after_write = [&assist] { assist.run(); };
  std::optional<memlog::redis::Replica> replica;
  try {
    const memlog::redis::Start start = config.start.from == Config::Start::From::latest ? memlog::redis::Start::end()
                                       : config.start.from == Config::Start::From::time
                                           ? memlog::redis::Start::at(config.start.time)
                                           : memlog::redis::Start::beginning();
    replica.emplace(redis, start, log_options(config), shutdown);
  } catch (const std::exception& e) {
    if (shutdown.stop_requested()) return 0;
    std::cerr << "error: redis://" << redis.host << ":" << redis.port << "/" << redis.key << ": " << e.what() << "\n";
    return 1;
  }
  std::cout << "replicating redis key " << redis.key << " from offset " << replica->log().next_offset() << std::endl;
  Served<memlog::redis::Entry> served;
  served.logs = {&replica->log()};
  served.close = [&] {
    replica->source().stop();
    replica->log().close();
  };
  served.state_json = [&] { return redis_state_json(replica->state()); };
  if (replica->located().position.offset >= 0) served.start_after = replica->located().position.id.to_string();
  return serve(config, std::move(served), shutdown, &assist);
}
#endif

#if MEMLOG_HTTP_STREAM_KAFKA
// A replica of every partition of the topic, each from --start (default:
// the earliest record the broker retains).
int serve_kafka(const Config& config, std::stop_token shutdown) {
  memlog::kafka::Config kafka;
  kafka.brokers = config.source.brokers;
  kafka.topic = config.source.topic;
  kafka.start = config.start.from == Config::Start::From::latest ? memlog::kafka::Start::latest()
                : config.start.from == Config::Start::From::time ? memlog::kafka::Start::at_time(config.start.time)
                                                                 : memlog::kafka::Start::earliest();
  kafka.log = log_options(config);
  kafka.properties = config.source.properties;
  SourceAssist assist(config.source_runs);
  if (config.source_runs > 0) kafka.after_write = [&assist] { assist.run(); };
  std::optional<memlog::kafka::Source> source;
  try {
    source.emplace(std::move(kafka));
  } catch (const std::exception& e) {
    std::cerr << "error: kafka source: " << e.what() << "\n";
    return 2;
  }
  if (const auto started = source->start(shutdown); !started) {
    std::cerr << "error: kafka://" << config.source.brokers << "/" << config.source.topic << ": "
              << started.error().message() << "\n";
    return 1;
  }
  Served<memlog::kafka::Message> served;
  served.partitioned = true;
  for (const std::int32_t partition : source->partitions()) {
    const auto index = static_cast<std::size_t>(partition);
    if (served.logs.size() <= index) served.logs.resize(index + 1, nullptr);
    served.logs[index] = &source->log(partition);
  }
  if (served.logs.empty() || served.logs.front() == nullptr) {
    std::cerr << "error: kafka://" << config.source.brokers << "/" << config.source.topic << ": no partition 0\n";
    return 1;
  }
  std::cout << "replicating kafka topic " << config.source.topic << " (" << source->partitions().size()
            << " partitions)" << std::endl;
  served.close = [&] { source->close(); };
  served.state_json = [&] { return kafka_state_json(source->state()); };
  return serve(config, std::move(served), shutdown, &assist);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Config> config = parse_args(argc, argv);
  if (!config) return 2;

  // Signals: SIGINT/SIGTERM are blocked in every thread (threads inherit the
  // mask) and taken by one thread with sigtimedwait, where it is safe to do
  // anything: it requests `shutdown`, whose callback shuts the server down
  // (or, while a replica still connects, ends that). SIGPIPE is ignored: a
  // write to a client that hung up fails with EPIPE instead of killing the
  // process.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  raise_file_limit();

  std::stop_source shutdown;
  std::jthread signal_waiter([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      const timespec tick{0, 100'000'000};
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig == SIGINT || sig == SIGTERM) {
        std::cout << "shutting down (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")" << std::endl;
        shutdown.request_stop();
        return;
      }
    }
  });

  int status = 2;
  switch (config->source.kind) {
    case SourceSpec::Kind::synthetic: status = serve_synthetic(*config, shutdown.get_token()); break;
    case SourceSpec::Kind::redis:
#if MEMLOG_HTTP_STREAM_REDIS
      status = serve_redis(*config, shutdown.get_token());
#else
      std::cerr << "error: this server was built without Redis support (hiredis)\n";
#endif
      break;
    case SourceSpec::Kind::kafka:
#if MEMLOG_HTTP_STREAM_KAFKA
      status = serve_kafka(*config, shutdown.get_token());
#else
      std::cerr << "error: this server was built without Kafka support (librdkafka)\n";
#endif
      break;
  }
  signal_waiter.request_stop();
  signal_waiter.join();
  return status;
}
