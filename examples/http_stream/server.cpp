// http_stream_server: serves a memlog::Log over HTTP.
//
// A producer thread (standing in for a durable event source) writes JSON
// events into a memlog::Log<std::string>; remote clients read them at their
// own pace:
//
//   GET /                      a tiny HTML page that shows the live stream (EventSource)
//   GET /range                 {"earliest":E,"latest":L}
//   GET /records?from=N&limit=M
//                              a JSON array of up to M records from offset N (read_batch)
//   GET /stream[?from=N]       Server-Sent Events, one memlog::Stream per client;
//                              honours Last-Event-ID; without `from` it starts
//                              after the latest record
//   GET /stream?...&format=ndjson
//                              the same stream as newline-delimited JSON
//   GET /stats                 {"streams":S,"max_streams":M,"written":W,"delivered":D}
//
// Built on cpp-httplib: one thread per connection, and a streaming response
// is a "chunked content provider" that httplib calls on that thread until it
// reports the end. SIGINT/SIGTERM cancel every stream through one
// std::stop_source, wait for the streams to end, stop the server and exit 0.
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
using EventLog = memlog::Log<std::string>;
using EventRecord = memlog::Record<std::string>;

// ---------------------------------------------------------------------------
// Command line

struct Config {
  int port = 8080;                   // 0: pick a free port
  double rate = 10.0;                // events per second written by the producer
  std::uint64_t count = 0;           // stop producing after this many events (0: never)
  std::size_t segment = memlog::default_segment_size;  // records per memlog segment
  std::size_t max_streams = 64;      // concurrent /stream clients; more get 503
  std::chrono::milliseconds heartbeat{15000};  // SSE comment when a stream is idle (0: never)
};

constexpr std::string_view usage =
    "usage: http_stream_server [--port N] [--rate EVENTS_PER_S] [--count N]\n"
    "                          [--segment RECORDS] [--max-streams N] [--heartbeat-ms MS]\n"
    "  --port         TCP port on 127.0.0.1 (0: pick a free one); default 8080\n"
    "  --rate         events per second the producer writes (> 0); default 10\n"
    "  --count        stop producing after N events (0: never); default 0\n"
    "  --segment      records per memlog segment (the log keeps 1-2 segments); default 1024\n"
    "  --max-streams  concurrent /stream clients before 503; default 64\n"
    "  --heartbeat-ms SSE keep-alive comment after this much idle time (0: off); default 15000\n";

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
    } else if (name == "--max-streams") {
      const auto v = parse_int<std::size_t>(value);
      ok = v && *v > 0 && *v <= 10000;
      if (ok) config.max_streams = *v;
    } else if (name == "--heartbeat-ms") {
      const auto v = parse_int<std::int64_t>(value);
      ok = v && *v >= 0;
      if (ok) config.heartbeat = std::chrono::milliseconds(*v);
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

// RFC 3339 in UTC with microseconds, e.g. 2024-05-01T12:00:00.123456Z.
std::string rfc3339(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<microseconds>(t - day)};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<int>(ymd.year()),
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

// ---------------------------------------------------------------------------
// The producer: a simulated event source writing JSON events at a fixed rate.

std::string make_event(std::uint64_t seq) {
  static constexpr std::string_view kinds[] = {"VmPoweredOnEvent", "VmPoweredOffEvent", "VmMigratedEvent",
                                               "VmReconfiguredEvent"};
  return "{\"seq\":" + std::to_string(seq) + ",\"kind\":\"" + std::string(kinds[seq % std::size(kinds)]) +
         "\",\"vm\":\"vm-" + std::to_string(seq % 97) + "\"}";
}

void produce(std::stop_token stop, EventLog& log, const Config& config, std::atomic<std::uint64_t>& written) {
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
        std::cerr << "producer: write failed: " << offset.error().message() << "\n";
        return;
      }
      written.store(seq + 1, std::memory_order_relaxed);
    }
    const auto next = start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(seq));
    std::unique_lock lock(mu);
    wake.wait_until(lock, stop, next, [] { return false; });
  }
}

// ---------------------------------------------------------------------------
// The HTML page served at /: shows the live stream with EventSource.

constexpr std::string_view index_html = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>memlog live stream</title>
<style>
  body { font-family: sans-serif; margin: 1em; }
  #events li { font-family: monospace; }
</style>
</head>
<body>
<h1>memlog live stream</h1>
<p>status: <span id="status">connecting</span>, events received: <span id="count">0</span></p>
<ul id="events"></ul>
<script>
(function () {
  var list = document.getElementById('events');
  var status = document.getElementById('status');
  var count = document.getElementById('count');
  var params = new URLSearchParams(location.search);
  var max = Number(params.get('max') || 0);  // ?max=N: close the stream after N events
  var keep = 100, received = 0;

  function open(from) {
    var es = new EventSource('/stream' + (from === null ? '' : '?from=' + encodeURIComponent(from)));
    es.onopen = function () { status.textContent = 'open'; };
    es.onmessage = function (e) {
      var li = document.createElement('li');
      li.id = 'event-' + e.lastEventId;
      li.setAttribute('data-offset', e.lastEventId);
      li.textContent = e.data;
      list.appendChild(li);
      while (list.children.length > keep) list.removeChild(list.firstChild);
      count.textContent = String(++received);
      if (max > 0 && received >= max) {
        es.close();
        status.textContent = 'done';
      }
    };
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

enum class Format { sse, ndjson };

class StreamServer {
 public:
  StreamServer(const Config& config, EventLog& log, const std::atomic<std::uint64_t>& written)
      : config_(config), log_(log), written_(written) {
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
      json(res, 200, range_json(log_.range()));
    });
    http_.Get("/stats", [this](const httplib::Request& req, httplib::Response& res) {
      if (!check_params(req, res, {})) return;
      json(res, 200,
           "{\"streams\":" + std::to_string(streams_active()) + ",\"max_streams\":" +
               std::to_string(config_.max_streams) + ",\"written\":" +
               std::to_string(written_.load(std::memory_order_relaxed)) + ",\"delivered\":" +
               std::to_string(delivered_.load(std::memory_order_relaxed)) + "}");
    });
    http_.Get("/records", [this](const httplib::Request& req, httplib::Response& res) { records(req, res); });
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
      json(res, 500, error_json("internal error"));
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

  // Cancels every stream, waits (bounded) for them to end, stops the server.
  void shutdown() {
    stop_.request_stop();  // every stream's next_for() returns Errc::cancelled
    {
      std::unique_lock lock(slots_mu_);
      slots_cv_.wait_for(lock, std::chrono::seconds(3), [this] { return active_ == 0; });
    }
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
    Clock::time_point last_write = Clock::now();
    std::string buffer;  // reused for every message
  };

  static void json(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, "application/json");
  }

  static void bad_request(httplib::Response& res, const std::string& message) {
    json(res, 400, error_json(message));
  }

  // 400 for parameters not in `allowed` and for repeated ones.
  static bool check_params(const httplib::Request& req, httplib::Response& res,
                           std::initializer_list<std::string_view> allowed) {
    for (const auto& [name, value] : req.params) {
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        bad_request(res, "unknown query parameter '" + name + "'");
        return false;
      }
      if (req.get_param_value_count(name) > 1) {
        bad_request(res, "query parameter '" + name + "' given more than once");
        return false;
      }
    }
    return true;
  }

  // An offset >= 0 from `text`, or nullopt.
  static std::optional<memlog::Offset> parse_offset(std::string_view text) {
    const auto value = parse_int<memlog::Offset>(text);
    if (!value || *value < 0) return std::nullopt;
    return value;
  }

  // GET /records?from=N&limit=M
  void records(const httplib::Request& req, httplib::Response& res) {
    constexpr std::size_t default_limit = 100;
    constexpr std::size_t max_limit = 1000;
    if (!check_params(req, res, {"from", "limit"})) return;

    memlog::Offset from = 0;
    if (req.has_param("from")) {
      const auto v = parse_offset(req.get_param_value("from"));
      if (!v) return bad_request(res, "'from' must be an offset >= 0");
      from = *v;
    } else {
      from = std::max<memlog::Offset>(log_.range().earliest, log_.options().start_offset);
    }
    std::size_t limit = default_limit;
    if (req.has_param("limit")) {
      const auto v = parse_int<std::size_t>(req.get_param_value("limit"));
      if (!v || *v == 0 || *v > max_limit) {
        return bad_request(res, "'limit' must be between 1 and " + std::to_string(max_limit));
      }
      limit = *v;
    }

    std::vector<EventRecord> batch(limit);
    const memlog::ReadBatchResult result = log_.read_batch(from, batch);
    if (result.count == 0 && result.error) {
      const std::string extra = "\"from\":" + std::to_string(from) + "," + range_members(log_.range());
      if (result.error == memlog::Errc::future_offset) {
        return json(res, 404, error_json("future offset: not written yet", extra));
      }
      if (result.error == memlog::Errc::out_of_range) {
        return json(res, 410, error_json("offset out of range: purged or before the start", extra));
      }
      return json(res, 500, error_json(result.error.message()));
    }
    std::string body = "[";
    for (std::size_t i = 0; i < result.count; ++i) {
      if (i > 0) body += ',';
      append_record_json(body, batch[i]);
    }
    body += ']';
    json(res, 200, body);
  }

  // GET /stream[?from=N][&format=ndjson]
  void stream(const httplib::Request& req, httplib::Response& res) {
    if (!check_params(req, res, {"from", "format"})) return;

    Format format = Format::sse;
    if (req.has_param("format")) {
      const std::string f = req.get_param_value("format");
      if (f == "ndjson") {
        format = Format::ndjson;
      } else if (f != "sse") {
        return bad_request(res, "'format' must be sse or ndjson");
      }
    }

    // Where to start: after Last-Event-ID (a reconnecting EventSource), else
    // at `from`, else after the latest record.
    memlog::Offset start = 0;
    if (const std::string last = req.get_header_value("Last-Event-ID"); !last.empty()) {
      const auto v = parse_offset(last);
      if (!v || *v == std::numeric_limits<memlog::Offset>::max()) {
        return bad_request(res, "Last-Event-ID must be an offset >= 0");
      }
      start = *v + 1;
    } else if (req.has_param("from")) {
      const auto v = parse_offset(req.get_param_value("from"));
      if (!v) return bad_request(res, "'from' must be an offset >= 0");
      start = *v;
    } else {
      const memlog::OffsetRange range = log_.range();
      start = range.latest >= 0 ? range.latest + 1 : log_.options().start_offset;
    }

    std::optional<Slot> slot = acquire_slot();
    if (!slot) {
      res.set_header("Retry-After", "1");
      return json(res, 503,
                  error_json("too many streams", "\"max_streams\":" + std::to_string(config_.max_streams)));
    }
    auto state = std::make_shared<StreamState>(std::move(*slot), log_.stream(start, stop_.get_token()), format,
                                               req.remote_addr + ":" + std::to_string(req.remote_port));

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
      if (record) {
        st.buffer.clear();
        if (st.format == Format::sse) {
          // The record JSON is one line, so one data: line suffices.
          st.buffer += "id: ";
          st.buffer += std::to_string(record->metadata.offset);
          st.buffer += "\ndata: ";
          append_record_json(st.buffer, *record);
          st.buffer += "\n\n";
        } else {
          append_record_json(st.buffer, *record);
          st.buffer += '\n';
        }
        // One chunk per record: it is on the wire when write() returns.
        if (!sink.write(st.buffer.data(), st.buffer.size())) return ended(st, "client gone");
        delivered_.fetch_add(1, std::memory_order_relaxed);
        st.last_write = Clock::now();
        if (st.last_write >= until) return true;
        continue;
      }

      const std::error_code error = record.error();
      if (error == memlog::Errc::timed_out) {
        // Nothing new. Notice a client that hung up (is_writable peeks at
        // the socket) and keep proxies from timing out an idle stream.
        if (!sink.is_writable()) return ended(st, "client gone");
        if (st.format == Format::sse && config_.heartbeat.count() > 0 &&
            Clock::now() - st.last_write >= config_.heartbeat) {
          static constexpr std::string_view ping = ": keep-alive\n\n";
          if (!sink.write(ping.data(), ping.size())) return ended(st, "client gone");
          st.last_write = Clock::now();
        }
        return true;
      }
      if (error == memlog::Errc::cancelled) {  // shutdown: end the response cleanly
        sink.done();
        return ended(st, "server shutting down", true);
      }

      // Errc::out_of_range: the client fell behind the retention (or asked
      // for a purged offset). Say so, then close.
      const memlog::OffsetRange range = log_.range();
      const std::string extra = "\"position\":" + std::to_string(st.stream.position()) + "," + range_members(range);
      const std::string body = error_json(error.message(), extra);
      st.buffer = st.format == Format::sse ? "event: error\ndata: " + body + "\n\n" : body + "\n";
      sink.write(st.buffer.data(), st.buffer.size());
      sink.done();
      return ended(st, error.message(), true);
    }
  }

  static bool ended(const StreamState& st, const std::string& why, bool result = false) {
    std::cerr << "stream " << st.client << " from " << st.first << " ended at " << st.stream.position() << ": "
              << why << "\n";
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
  const std::atomic<std::uint64_t>& written_;
  std::atomic<std::uint64_t> delivered_{0};
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

  EventLog log({.max_segment_size = config->segment});
  std::atomic<std::uint64_t> written{0};
  StreamServer server(*config, log, written);

  const int port = server.bind(config->port);
  if (port < 0) {
    std::cerr << "error: cannot listen on 127.0.0.1:" << config->port << "\n";
    return 1;
  }
  std::cout << "listening on 127.0.0.1:" << port << std::endl;

  std::jthread producer([&](std::stop_token stop) { produce(stop, log, *config, written); });
  std::jthread signal_waiter([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      const timespec tick{0, 100'000'000};
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig == SIGINT || sig == SIGTERM) {
        std::cout << "shutting down (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")" << std::endl;
        server.shutdown();
        return;
      }
    }
  });

  const bool ok = server.serve();  // returns after shutdown() and after every connection ended
  producer.request_stop();
  producer.join();
  signal_waiter.request_stop();
  signal_waiter.join();
  if (!ok) {
    std::cerr << "error: server failed\n";
    return 1;
  }
  std::cout << "bye" << std::endl;
  return 0;
}
