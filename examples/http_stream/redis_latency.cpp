// http_stream_redis_latency: the latency a replica adds, end to end.
//
// In one run, against a redis-server and an http_stream_server replicating
// one of its stream keys (--source redis://.../KEY), this program:
//   - XADDs one entry every --interval-us (default 1500 us), --count of them
//     after --warmup unmeasured ones; each entry has the fields n (its index),
//     ts (system_clock nanoseconds, taken just before the command is sent)
//     and d (32 bytes);
//   - reads them back as a plain Redis reader would: XREAD BLOCK after the
//     last ID it has, straight from Redis (hiredis, its own connection and
//     thread);
//   - reads them as an SSE client of the replica (GET /stream, a plain TCP
//     socket and its own thread), parsing n and ts from each event's data.
// With --relay, also: a plain reader forwarding each reply as text lines over
// a loopback TCP connection to another thread (a bare relay: the least any
// replica, one more hop, can add).
// A sample is the time from ts to the moment the read that brought the entry
// returned: hiredis's reply (parsed by hiredis, a few small objects) for the
// Redis reader, the socket's read_some (before any parsing) for the others.
// Every reader is in this process and uses the same clock, so no clock
// offset enters the figures.
// The event's `created` (the replica's write into its log, the same system
// clock on the same machine) splits the SSE path in two: XADD to the
// replica's write (the source), and that write to the client's receipt (the
// HTTP server).
// The SSE request is HTTP/1.0: the body is the bare event stream (no chunk
// framing to parse), and the server starts it after the seed entry this
// program adds first (Last-Event-ID), so only this run's entries arrive.
//
// Prints p50/p99/max for each reader and the ratio of the p50s (issue 15's
// target: at most 1.2), one line each, then one JSON line (also to --json
// FILE). Exit 0 when every reader received every measured entry, and no
// entry twice, 1 otherwise (the ratio is reported, not enforced: a shared machine's
// noise is not a defect), 2 on a bad command line.
//
// Run (redis_latency.sh does all of it):
//   http_stream_redis_latency --redis-port 6379 --key latency --http-port 8080

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <hiredis/hiredis.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::system_clock;
using namespace std::chrono_literals;

struct Config {
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  std::string key = "latency";
  std::string http_host = "127.0.0.1";
  int http_port = 8080;
  std::int64_t count = 3000;
  std::int64_t warmup = 200;
  std::chrono::microseconds interval{1500};
  std::string json_path;
  bool relay = false;
};

constexpr std::string_view usage =
    "usage: http_stream_redis_latency --redis-port N --key KEY --http-port N [--count N]\n"
    "                                 [--warmup N] [--interval-us US] [--relay] [--json FILE]\n"
    "  --redis-port   redis-server on 127.0.0.1:N; default 6379\n"
    "  --key          the stream key the replica follows; default latency\n"
    "  --http-port    the replica (http_stream_server --source redis://...) on 127.0.0.1:N\n"
    "  --count        measured entries; default 3000\n"
    "  --warmup       entries sent first and not measured; default 200\n"
    "  --interval-us  time between two XADDs; default 1500\n"
    "  --relay        also measure a bare TCP relay (a plain reader forwarding to a socket):\n"
    "                 the least any replica can add\n"
    "  --json         also write the JSON line to FILE\n";

std::optional<std::int64_t> to_int(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<Config> parse_args(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    std::string_view name = argv[i];
    std::string_view value;
    if (name == "-h" || name == "--help") {
      std::cout << usage;
      std::exit(0);
    }
    if (name == "--relay") {
      config.relay = true;
      continue;
    }
    if (const auto eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::cerr << "error: " << name << " needs a value\n" << usage;
      return std::nullopt;
    }
    const auto number = to_int(value);
    const bool positive = number.has_value() && *number > 0;
    bool ok = true;
    if (name == "--redis-port") {
      ok = positive && *number < 65536;
      if (ok) config.redis_port = static_cast<int>(*number);
    } else if (name == "--http-port") {
      ok = positive && *number < 65536;
      if (ok) config.http_port = static_cast<int>(*number);
    } else if (name == "--key") {
      ok = !value.empty();
      config.key = value;
    } else if (name == "--count") {
      ok = positive;
      if (ok) config.count = *number;
    } else if (name == "--warmup") {
      ok = number.has_value() && *number >= 0;
      if (ok) config.warmup = *number;
    } else if (name == "--interval-us") {
      ok = positive;
      if (ok) config.interval = std::chrono::microseconds(*number);
    } else if (name == "--json") {
      ok = !value.empty();
      config.json_path = value;
    } else {
      std::cerr << "error: unknown option " << name << "\n" << usage;
      return std::nullopt;
    }
    if (!ok) {
      std::cerr << "error: bad value for " << name << ": " << value << "\n";
      return std::nullopt;
    }
  }
  return config;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct RedisFree {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using RedisContext = std::unique_ptr<redisContext, RedisFree>;
using RedisReply = std::unique_ptr<redisReply, RedisFree>;

RedisContext redis_connect(const Config& config) {
  RedisContext c(redisConnect(config.redis_host.c_str(), config.redis_port));
  if (!c || c->err) {
    throw std::runtime_error("redis " + config.redis_host + ":" + std::to_string(config.redis_port) + ": " +
                             (c ? c->errstr : "out of memory"));
  }
  return c;
}

RedisReply command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  RedisReply reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data())));
  if (!reply) throw std::runtime_error(std::string("redis: ") + c->errstr);
  if (reply->type == REDIS_REPLY_ERROR) throw std::runtime_error("redis: " + std::string(reply->str, reply->len));
  return reply;
}

// One reader's samples: latency in ns by entry index (-1: not received),
// and how many entries came more than once or could not be parsed.
struct Samples {
  explicit Samples(std::int64_t total) : latency(static_cast<std::size_t>(total), -1) {}
  std::vector<std::int64_t> latency;
  std::vector<std::int64_t> written;  // to the replica's write (SSE only), by index
  std::int64_t duplicates = 0;
  std::int64_t malformed = 0;
  std::string error;
  // Entries received at least once. The main thread polls it to know when
  // the reader is done; relaxed: it reads `latency` only after join().
  std::atomic<std::int64_t> distinct{0};

  void add(std::string_view n, std::string_view ts, std::int64_t received,
           std::optional<std::int64_t> created = std::nullopt) {
    const auto index = to_int(n);
    const auto sent = to_int(ts);
    if (!index || !sent || *index < 0 || *index >= static_cast<std::int64_t>(latency.size())) {
      ++malformed;
      return;
    }
    if (created) {
      written.resize(latency.size(), -1);
      written[static_cast<std::size_t>(*index)] = *created - *sent;
    }
    auto& slot = latency[static_cast<std::size_t>(*index)];
    if (slot >= 0) {
      ++duplicates;
    } else {
      distinct.fetch_add(1, std::memory_order_relaxed);
    }
    slot = received - *sent;
  }
  [[nodiscard]] bool complete() const noexcept {
    return distinct.load(std::memory_order_relaxed) == static_cast<std::int64_t>(latency.size());
  }
};

// An entry as the readers see it: its n and ts fields.
struct Sample {
  std::string_view n, ts;
};

// A plain Redis reader: XREAD BLOCK after the last ID it holds, from
// `after`, until `done()` or `give_up`; each reply's measured entries go to
// `sink(received, samples)`. `ready` is set once the first XREAD is sent.
template <class Done, class Sink>
void read_redis(const Config& config, std::string after, const std::atomic<bool>& give_up, std::atomic<bool>& ready,
                Done done, Sink sink) {
  auto c = redis_connect(config);
  std::vector<Sample> samples;
  while (!done() && !give_up.load(std::memory_order_relaxed)) {
    // relaxed (both flags): polled, no data published through them.
    ready.store(true, std::memory_order_relaxed);
    const auto reply = command(c.get(), {"XREAD", "COUNT", "1000", "BLOCK", "1000", "STREAMS", config.key, after});
    const std::int64_t received = now_ns();
    if (reply->type == REDIS_REPLY_NIL) continue;  // BLOCK timed out
    // [[key, [[id, [field, value, ...]], ...]]]
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1 || reply->element[0]->elements != 2) {
      throw std::runtime_error("unexpected XREAD reply");
    }
    const redisReply* entries = reply->element[0]->element[1];
    samples.clear();
    for (std::size_t i = 0; i < entries->elements; ++i) {
      const redisReply* entry = entries->element[i];
      after.assign(entry->element[0]->str, entry->element[0]->len);
      const redisReply* fields = entry->element[1];
      Sample sample;
      for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
        const std::string_view name(fields->element[f]->str, fields->element[f]->len);
        const std::string_view value(fields->element[f + 1]->str, fields->element[f + 1]->len);
        if (name == "n") sample.n = value;
        if (name == "ts") sample.ts = value;
      }
      if (!sample.ts.empty()) samples.push_back(sample);  // the seed has no ts
    }
    sink(received, samples);
  }
}

void read_plain(const Config& config, const std::string& after, Samples& out, const std::atomic<bool>& give_up,
                std::atomic<bool>& ready) {
  try {
    read_redis(
        config, after, give_up, ready, [&] { return out.complete(); },
        [&](std::int64_t received, const std::vector<Sample>& samples) {
          for (const auto& s : samples) out.add(s.n, s.ts, received);
        });
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  ready.store(true, std::memory_order_relaxed);
}

// --relay: the least a replica can add. A plain reader that forwards each
// reply's entries as "n ts\n" lines, in one write, over a loopback TCP
// connection to a reader thread: one more hop and two more thread wake-ups,
// and nothing else.
class Relay {
 public:
  Relay() : acceptor_(io_, tcp::endpoint(net::ip::address_v4::loopback(), 0)), in_(io_), out_(io_) {
    in_.connect(acceptor_.local_endpoint());
    acceptor_.accept(out_);
    in_.set_option(tcp::no_delay(true));
    out_.set_option(tcp::no_delay(true));
  }

  void forward(const Config& config, const std::string& after, std::int64_t total, const std::atomic<bool>& give_up,
               std::atomic<bool>& ready) {
    std::int64_t sent = 0;
    std::string lines;
    try {
      read_redis(
          config, after, give_up, ready, [&] { return sent >= total; },
          [&](std::int64_t, const std::vector<Sample>& samples) {
            lines.clear();
            for (const auto& s : samples) {
              lines.append(s.n).append(" ").append(s.ts).append("\n");
            }
            net::write(out_, net::buffer(lines));
            sent += static_cast<std::int64_t>(samples.size());
          });
    } catch (const std::exception& e) {
      forward_error_ = e.what();
    }
    ready.store(true, std::memory_order_relaxed);
  }

  void receive(Samples& out) {
    std::vector<char> buffer(64 * 1024);
    std::string pending;
    while (!out.complete()) {
      boost::system::error_code ec;
      const std::size_t n = in_.read_some(net::buffer(buffer), ec);
      const std::int64_t received = now_ns();
      if (ec) {
        if (ec != net::error::eof) out.error = ec.message();
        break;
      }
      pending.append(buffer.data(), n);
      std::size_t begin = 0;
      for (std::size_t end; (end = pending.find('\n', begin)) != std::string::npos; begin = end + 1) {
        const std::string_view line(pending.data() + begin, end - begin);
        const auto space = line.find(' ');
        out.add(line.substr(0, space), space == std::string_view::npos ? "" : line.substr(space + 1), received);
      }
      pending.erase(0, begin);
    }
  }

  // From another thread: ends a read that waits for lines that will not come.
  void interrupt() noexcept { ::shutdown(in_.native_handle(), SHUT_RDWR); }
  [[nodiscard]] const std::string& forward_error() const noexcept { return forward_error_; }

 private:
  net::io_context io_;
  tcp::acceptor acceptor_;
  tcp::socket in_;
  tcp::socket out_;
  std::string forward_error_;
};

// The value of "name":"..." in an event's data object (field values are
// digits here: no escapes to undo).
std::string_view json_field(std::string_view data, std::string_view name) {
  const auto object = data.find("\"data\":{");
  if (object == std::string_view::npos) return {};
  const std::string pattern = "\"" + std::string(name) + "\":\"";
  const auto at = data.find(pattern, object);
  if (at == std::string_view::npos) return {};
  const auto begin = at + pattern.size();
  const auto end = data.find('"', begin);
  if (end == std::string_view::npos) return {};
  return data.substr(begin, end - begin);
}

// "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (the server's `created`) in ns since the epoch.
std::optional<std::int64_t> parse_rfc3339(std::string_view t) {
  if (t.size() != 30 || t[4] != '-' || t[10] != 'T' || t[19] != '.' || t[29] != 'Z') return std::nullopt;
  const auto field = [&](std::size_t at, std::size_t width) { return to_int(t.substr(at, width)); };
  const auto y = field(0, 4), mo = field(5, 2), d = field(8, 2), h = field(11, 2), mi = field(14, 2),
             s = field(17, 2), ns = field(20, 9);
  if (!y || !mo || !d || !h || !mi || !s || !ns) return std::nullopt;
  const std::chrono::sys_days day{std::chrono::year(static_cast<int>(*y)) / static_cast<int>(*mo) /
                                  static_cast<int>(*d)};
  return std::chrono::duration_cast<std::chrono::nanoseconds>(day.time_since_epoch()).count() +
         ((*h * 60 + *mi) * 60 + *s) * 1'000'000'000 + *ns;
}

// The value of "created":"..." in an event's record.
std::string_view created_of(std::string_view data) {
  constexpr std::string_view pattern = "\"created\":\"";
  const auto at = data.find(pattern);
  if (at == std::string_view::npos) return {};
  const auto begin = at + pattern.size();
  const auto end = data.find('"', begin);
  if (end == std::string_view::npos) return {};
  return data.substr(begin, end - begin);
}

// The SSE client: GET /stream after the seed entry; every `data:` line.
class SseReader {
 public:
  SseReader(const Config& config, const std::string& after) : socket_(io_) {
    tcp::resolver resolver(io_);
    net::connect(socket_, resolver.resolve(config.http_host, std::to_string(config.http_port)));
    socket_.set_option(tcp::no_delay(true));
    const std::string request = "GET /stream HTTP/1.0\r\nHost: " + config.http_host +
                                "\r\nAccept: text/event-stream\r\nLast-Event-ID: " + after + "\r\n\r\n";
    net::write(socket_, net::buffer(request));
    // The response head: the stream's start is fixed once it is sent.
    net::streambuf head;
    const std::size_t head_size = net::read_until(socket_, head, "\r\n\r\n");
    std::string text(net::buffers_begin(head.data()), net::buffers_begin(head.data()) + static_cast<long>(head_size));
    if (!text.starts_with("HTTP/1.1 200") && !text.starts_with("HTTP/1.0 200")) {
      throw std::runtime_error("GET /stream: " + text.substr(0, text.find('\r')));
    }
    head.consume(head_size);
    pending_.assign(net::buffers_begin(head.data()), net::buffers_end(head.data()));
  }

  void run(Samples& out) {
    try {
      consume(out, now_ns());
      std::vector<char> buffer(64 * 1024);
      while (!out.complete() && !ended_) {
        boost::system::error_code ec;
        const std::size_t n = socket_.read_some(net::buffer(buffer), ec);
        const std::int64_t received = now_ns();
        if (ec) {
          if (ec != net::error::eof) out.error = ec.message();
          break;
        }
        pending_.append(buffer.data(), n);
        consume(out, received);
      }
    } catch (const std::exception& e) {
      out.error = e.what();
    }
  }

  // From another thread: ends a read that waits for events that will not come.
  void interrupt() noexcept { ::shutdown(socket_.native_handle(), SHUT_RDWR); }

 private:
  void consume(Samples& out, std::int64_t received) {
    std::size_t begin = 0;
    for (std::size_t end; (end = pending_.find('\n', begin)) != std::string::npos; begin = end + 1) {
      const std::string_view line(pending_.data() + begin, end - begin);
      if (line.starts_with("data: ")) {
        const auto ts = json_field(line, "ts");
        if (!ts.empty()) out.add(json_field(line, "n"), ts, received, parse_rfc3339(created_of(line)));
      } else if (line == "event: end") {
        ended_ = true;
      }
    }
    pending_.erase(0, begin);
  }

  net::io_context io_;
  tcp::socket socket_;
  std::string pending_;
  bool ended_ = false;
};

// Nearest-rank quantile of the measured samples, in microseconds.
struct Summary {
  double p50 = 0, p99 = 0, max = 0;
  std::int64_t received = 0;
};
Summary summarize(const std::vector<std::int64_t>& samples, std::int64_t from) {
  std::vector<std::int64_t> v;
  if (static_cast<std::int64_t>(samples.size()) < from) return {};
  for (auto it = samples.begin() + from; it != samples.end(); ++it) {
    if (*it >= 0) v.push_back(*it);
  }
  Summary s;
  s.received = static_cast<std::int64_t>(v.size());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return static_cast<double>(v[rank]) / 1e3;
  };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = static_cast<double>(v.back()) / 1e3;
  return s;
}

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(digits);
  out << v;
  return out.str();
}

std::string summary_line(const Summary& s) {
  return "p50 " + fixed(s.p50, 1) + " us, p99 " + fixed(s.p99, 1) + " us, max " + fixed(s.max, 1) + " us (" +
         std::to_string(s.received) + " received)";
}
std::string summary_json(const Summary& s) {
  return "\"received\":" + std::to_string(s.received) + ",\"p50_us\":" + fixed(s.p50, 1) +
         ",\"p99_us\":" + fixed(s.p99, 1) + ",\"max_us\":" + fixed(s.max, 1);
}

int run(const Config& config) {
  const std::int64_t total = config.warmup + config.count;
  auto producer = redis_connect(config);
  // The seed: every reader starts after it, whatever the stream held before.
  const auto seed_reply = command(producer.get(), {"XADD", config.key, "*", "seed", "1"});
  const std::string seed(seed_reply->str, seed_reply->len);

  Samples plain(total), sse(total), relayed(total);
  std::atomic<bool> give_up{false};
  std::atomic<bool> plain_ready{false}, relay_ready{!config.relay};
  SseReader sse_reader(config, seed);  // returns once the stream's head is in
  std::optional<Relay> relay;
  std::vector<std::thread> threads;
  threads.emplace_back(read_plain, std::cref(config), seed, std::ref(plain), std::cref(give_up),
                       std::ref(plain_ready));
  threads.emplace_back([&] { sse_reader.run(sse); });
  if (config.relay) {
    relay.emplace();
    threads.emplace_back([&] { relay->forward(config, seed, total, give_up, relay_ready); });
    threads.emplace_back([&] { relay->receive(relayed); });
  }
  // relaxed: only says the first XREAD is on its way; the unmeasured warm-up
  // entries cover the time it takes to reach Redis.
  while (!plain_ready.load(std::memory_order_relaxed) || !relay_ready.load(std::memory_order_relaxed)) {
    std::this_thread::sleep_for(1ms);
  }

  const std::string payload(32, 'd');
  auto next = Clock::now();
  for (std::int64_t i = 0; i < total; ++i) {
    std::this_thread::sleep_until(next);
    next += config.interval;
    const std::string ts = std::to_string(now_ns());
    command(producer.get(), {"XADD", config.key, "*", "n", std::to_string(i), "ts", ts, "d", payload});
  }
  // The readers end when they have every entry; past this, something is lost.
  const auto deadline = Clock::now() + 10s;
  const auto all_in = [&] { return plain.complete() && sse.complete() && (!relay || relayed.complete()); };
  while (!all_in() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  give_up.store(true, std::memory_order_relaxed);
  sse_reader.interrupt();
  if (relay) relay->interrupt();
  for (auto& t : threads) t.join();
  if (relay && !relay->forward_error().empty()) relayed.error = relay->forward_error();

  const Summary p = summarize(plain.latency, config.warmup);
  const Summary s = summarize(sse.latency, config.warmup);
  const Summary r = summarize(relayed.latency, config.warmup);
  // The SSE path's two parts: to the replica's write, then to the client.
  std::vector<std::int64_t> served(sse.written.size(), -1);
  for (std::size_t i = 0; i < served.size(); ++i) {
    if (sse.written[i] != -1 && sse.latency[i] >= 0) served[i] = sse.latency[i] - sse.written[i];
  }
  const Summary w = summarize(sse.written, config.warmup);
  const Summary h = summarize(served, config.warmup);
  const double ratio = p.p50 > 0 ? s.p50 / p.p50 : 0;
  const double relay_ratio = p.p50 > 0 ? r.p50 / p.p50 : 0;
  bool ok = p.received == config.count && s.received == config.count && (!relay || r.received == config.count);
  std::cout << "entries: " << config.count << " measured (+" << config.warmup << " warm-up), one every "
            << config.interval.count() << " us\n"
            << "plain XREAD BLOCK: " << summary_line(p) << "\n"
            << "SSE via replica:   " << summary_line(s) << "\n"
            << "  XADD to the replica's write: p50 " << fixed(w.p50, 1) << " us, p99 " << fixed(w.p99, 1)
            << " us; the write to the SSE client: p50 " << fixed(h.p50, 1) << " us, p99 " << fixed(h.p99, 1)
            << " us\n";
  if (relay) {
    std::cout << "bare TCP relay:    " << summary_line(r) << ", p50 ratio " << fixed(relay_ratio, 3) << "\n";
  }
  std::cout << "p50 ratio (replica / plain): " << fixed(ratio, 3) << " (target <= 1.2: "
            << (ratio <= 1.2 ? "met" : "missed") << ")\n";
  for (const auto& [name, samples] : {std::pair{"plain", &plain}, std::pair{"sse", &sse}, std::pair{"relay", &relayed}}) {
    if (!samples->error.empty()) std::cout << name << " reader error: " << samples->error << "\n";
    if (samples->duplicates || samples->malformed) {
      std::cout << name << ": " << samples->duplicates << " duplicates, " << samples->malformed << " malformed\n";
      ok = false;
    }
  }
  std::string json = "{\"count\":" + std::to_string(config.count) +
                     ",\"interval_us\":" + std::to_string(config.interval.count()) + ",\"plain\":{" +
                     summary_json(p) + "},\"sse\":{" + summary_json(s) + ",\"write_p50_us\":" + fixed(w.p50, 1) +
                     ",\"write_p99_us\":" + fixed(w.p99, 1) + ",\"serve_p50_us\":" + fixed(h.p50, 1) +
                     ",\"serve_p99_us\":" + fixed(h.p99, 1) + "}";
  if (relay) json += ",\"relay\":{" + summary_json(r) + ",\"p50_ratio\":" + fixed(relay_ratio, 3) + "}";
  json += ",\"p50_ratio\":" + fixed(ratio, 3) + ",\"ok\":" + (ok ? "true" : "false") + "}";
  std::cout << json << std::endl;
  if (!config.json_path.empty()) std::ofstream(config.json_path) << json << "\n";
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const auto config = parse_args(argc, argv);
  if (!config) return 2;
  try {
    return run(*config);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
