// http_stream_load: a load client for http_stream_server's Server-Sent Events.
//
// Opens --connections C concurrent GET --path (default /stream) requests on
// a few threads (--threads, one io_context each, connections dealt round
// robin), and checks every connection's stream: every record's id (its
// offset) exactly once and in order, starting at `from` when the path has
// one, each record's JSON naming the same offset; an `end` event at the
// offset after the last record; no `error` or `skipped` event; no early
// close. It measures deliveries per second, write-to-receipt latency (the
// record's `created` time against the arrival time of the read that
// brought it; same machine, same system clock) and, with --server-pid,
// the server's CPU time per delivery and RSS per connection from /proc.
//
// The run ends when every connection has received --expect N records, or
// --duration S after the last connection was established: then the client
// asks the server for the last record written (GET /range) and waits (at
// most --drain S) until every connection has received it. --timeout bounds
// the whole run. It prints a one-line summary and a JSON line (also to
// --json FILE); exit 0 only when every connection passed every check.
//
// HTTP responses are parsed by Boost.Beast's parser (status, headers,
// chunked or EOF-delimited bodies), with our own callbacks that feed the
// body straight to a small SSE parser: no copy into a body buffer, and
// whatever framing an HTTP/1.1 server chooses (cpp-httplib's chunks today,
// Beast's tomorrow) is handled by code that is already well tested.
//
// Run: http_stream_load --port 8080 --connections 1000 --path '/stream?from=0'
//        --expect 100 --server-pid "$(pidof http_stream_server)"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Nanoseconds since the Unix epoch on the system clock: what the server's
// `created` is, parsed.
std::int64_t system_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

template <class Int>
std::optional<Int> parse_int(std::string_view text) {
  Int value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<double> parse_seconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(copy.c_str(), &end);
  if (errno != 0 || end != copy.c_str() + copy.size() || !(value >= 0) || value > 1e6) return std::nullopt;
  return value;
}

// The integer right after `"name":` in a one-line JSON object, if any. The
// server's records, range and end events are flat enough for this.
std::optional<std::int64_t> json_int_member(std::string_view json, std::string_view key) {
  const std::size_t at = json.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  const char* first = json.data() + at + key.size();
  const char* last = json.data() + json.size();
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || ptr == first) return std::nullopt;
  return value;
}

// An RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS, an optional fraction of up to
// 9 digits, Z or +HH:MM/-HH:MM) as nanoseconds since the epoch. The server
// writes UTC with 9 digits; the rest is accepted so that a server that
// writes less precision still gives a (coarser) latency.
std::optional<std::int64_t> parse_rfc3339_ns(std::string_view text) {
  using namespace std::chrono;
  std::size_t pos = 0;
  const auto digits = [&](std::size_t n) -> std::optional<int> {
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
  const auto literal = [&](std::string_view choices) {
    if (pos >= text.size() || choices.find(text[pos]) == std::string_view::npos) return false;
    ++pos;
    return true;
  };
  const auto y = digits(4);
  if (!y || !literal("-")) return std::nullopt;
  const auto mo = digits(2);
  if (!mo || !literal("-")) return std::nullopt;
  const auto d = digits(2);
  if (!d || !literal("Tt")) return std::nullopt;
  const auto h = digits(2);
  if (!h || !literal(":")) return std::nullopt;
  const auto mi = digits(2);
  if (!mi || !literal(":")) return std::nullopt;
  const auto s = digits(2);
  if (!s) return std::nullopt;
  const year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!date.ok() || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  std::int64_t fraction_ns = 0;
  if (literal(".")) {
    std::int64_t scale = 1'000'000'000;
    const std::size_t first = pos;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      if (pos - first == 9) return std::nullopt;
      scale /= 10;
      fraction_ns += (text[pos] - '0') * scale;
    }
    if (pos == first) return std::nullopt;
  }
  std::int64_t offset_s = 0;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool minus = text[pos++] == '-';
    const auto oh = digits(2);
    if (!oh || !literal(":")) return std::nullopt;
    const auto om = digits(2);
    if (!om) return std::nullopt;
    offset_s = (*oh * 3600 + *om * 60) * (minus ? -1 : 1);
  } else if (!literal("Zz")) {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const std::int64_t day_s = static_cast<std::int64_t>(sys_days(date).time_since_epoch().count()) * 86400;
  return (day_s + *h * 3600 + *mi * 60 + *s - offset_s) * 1'000'000'000 + fraction_ns;
}

// ---------------------------------------------------------------------------
// Command line

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string path = "/stream";
  std::size_t connections = 100;
  unsigned threads = 1;
  std::uint64_t expect = 0;           // records each connection must receive (0: use --duration)
  double duration_s = 0;              // streaming time after the last connection is up (0: use --expect)
  double timeout_s = 0;               // hard bound on the whole run (0: derived)
  double drain_s = 5;                 // after --duration: how long records in flight may take
  long server_pid = 0;                // 0: no /proc figures
  std::size_t connect_parallel = 4;   // connections being set up at once (all threads)
  std::string json_path;              // also write the JSON line here
};

constexpr std::string_view usage =
    "usage: http_stream_load --port N [--host H] [--path /stream?from=N] [--connections C]\n"
    "                        [--threads T] (--expect N | --duration S) [--timeout S] [--drain S]\n"
    "                        [--server-pid P] [--connect-parallel K] [--json FILE]\n"
    "  --host             server address (name or IP); default 127.0.0.1\n"
    "  --port             server port (required)\n"
    "  --path             request target; its `from` is where every stream must start;\n"
    "                     default /stream (then each starts wherever its first record is)\n"
    "  --connections      concurrent SSE connections; default 100\n"
    "  --threads          client I/O threads; default 1\n"
    "  --expect           records each connection must receive (e.g. the server's --count)\n"
    "  --duration         seconds of streaming once every connection is up; then each\n"
    "                     must receive every record up to the last one written (GET /range)\n"
    "  --timeout          hard bound on the run in seconds; default duration + drain + 120\n"
    "  --drain            after --duration, seconds records in flight may take; default 5\n"
    "  --server-pid       the server's pid: its CPU per delivery and RSS per connection\n"
    "  --connect-parallel connections being set up at once; default 4\n"
    "  --json             also write the JSON result line to FILE\n"
    "exit status: 0 every check passed, 1 a check failed or the run timed out, 2 bad usage or setup\n";

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
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
    bool ok = true;
    if (name == "--host") {
      o.host = value;
      ok = !value.empty();
    } else if (name == "--port") {
      const auto v = parse_int<int>(value);
      ok = v && *v > 0 && *v <= 65535;
      o.port = value;
    } else if (name == "--path") {
      o.path = value;
      ok = !value.empty() && value.front() == '/';
    } else if (name == "--connections") {
      const auto v = parse_int<std::size_t>(value);
      ok = v && *v > 0 && *v <= 1'000'000;
      if (ok) o.connections = *v;
    } else if (name == "--threads") {
      const auto v = parse_int<unsigned>(value);
      ok = v && *v > 0 && *v <= 256;
      if (ok) o.threads = *v;
    } else if (name == "--expect") {
      const auto v = parse_int<std::uint64_t>(value);
      ok = v && *v > 0;
      if (ok) o.expect = *v;
    } else if (name == "--duration" || name == "--timeout" || name == "--drain") {
      const auto v = parse_seconds(value);
      ok = v.has_value();
      if (ok) (name == "--duration" ? o.duration_s : name == "--timeout" ? o.timeout_s : o.drain_s) = *v;
    } else if (name == "--server-pid") {
      const auto v = parse_int<long>(value);
      ok = v && *v > 0;
      if (ok) o.server_pid = *v;
    } else if (name == "--connect-parallel") {
      const auto v = parse_int<std::size_t>(value);
      ok = v && *v > 0;
      if (ok) o.connect_parallel = *v;
    } else if (name == "--json") {
      o.json_path = value;
      ok = !value.empty();
    } else {
      std::cerr << "error: unknown option " << name << "\n" << usage;
      return std::nullopt;
    }
    if (!ok) {
      std::cerr << "error: invalid value for " << name << ": '" << value << "'\n" << usage;
      return std::nullopt;
    }
  }
  if (o.port.empty()) {
    std::cerr << "error: --port is required\n" << usage;
    return std::nullopt;
  }
  if (o.expect == 0 && o.duration_s <= 0) {
    std::cerr << "error: give --expect N or --duration S (or both)\n" << usage;
    return std::nullopt;
  }
  if (o.timeout_s <= 0) o.timeout_s = o.duration_s + o.drain_s + 120;
  return o;
}

// The `from` of the request target's query: the offset every stream must
// start at; nullopt when absent (the server starts at its next record).
std::optional<std::int64_t> start_offset(std::string_view target) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.starts_with("from=")) {
      const auto v = parse_int<std::int64_t>(pair.substr(5));
      if (v && *v >= 0) return v;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Latency: a log-linear histogram (64 sub-buckets per power of two, so a
// bucket is at most 1/64 wide: percentiles to within 1.6%), in nanoseconds.

class Histogram {
 public:
  void add(std::uint64_t ns) {
    ++counts_[index(ns)];
    ++count_;
    max_ = std::max(max_, ns);
  }

  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < buckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }

  // The value at quantile q (0 < q <= 1): the middle of its bucket, at most max().
  [[nodiscard]] std::uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets; ++i) {
      seen += counts_[i];
      if (seen >= std::max<std::uint64_t>(rank, 1)) return std::min(middle(i), max_);
    }
    return max_;
  }

 private:
  static constexpr unsigned sub_bits = 6;
  static constexpr std::uint64_t sub = std::uint64_t{1} << sub_bits;
  static constexpr std::size_t buckets = (64 - sub_bits + 1) * sub;

  static std::size_t index(std::uint64_t v) {
    if (v < sub) return static_cast<std::size_t>(v);
    const unsigned shift = static_cast<unsigned>(std::bit_width(v)) - 1 - sub_bits;
    return static_cast<std::size_t>((shift + 1) * sub + ((v >> shift) - sub));
  }

  static std::uint64_t middle(std::size_t i) {
    if (i < sub) return i;
    const unsigned shift = static_cast<unsigned>(i / sub) - 1;
    const std::uint64_t low = (i % sub + sub) << shift;
    return low + ((std::uint64_t{1} << shift) >> 1);
  }

  std::array<std::uint64_t, buckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

// ---------------------------------------------------------------------------
// /proc/<pid>: the server's CPU time and memory.

struct ProcSample {
  double cpu_s = 0;           // utime + stime
  std::uint64_t rss_kib = 0;  // VmRSS
  long threads = 0;
};

std::optional<ProcSample> read_proc(long pid) {
  ProcSample sample;
  {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The command name, field 2, is in parentheses and may hold spaces and
    // parentheses itself: the fields after the last ')' start at field 3.
    const std::size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream fields(stat.substr(paren + 1));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int n = 3; n <= 20 && fields >> field; ++n) {
      if (n == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
      if (n == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
      if (n == 20) sample.threads = std::strtol(field.c_str(), nullptr, 10);
    }
    sample.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) {
      sample.rss_kib = std::strtoull(line.c_str() + 6, nullptr, 10);
      return sample;
    }
  }
  return std::nullopt;
}

double client_cpu_s() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// ---------------------------------------------------------------------------
// One SSE connection

struct Violation {
  std::size_t connection;
  std::string what;
};

class Worker;

class Connection {
 public:
  Connection(Worker& worker, std::size_t index);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // Duration mode, once the worker knows the last record written (its
  // target): counts the connection as drained when it has had it (or ended).
  void check_drained();
  // At the end of the run: report what is still missing.
  void final_check();

  [[nodiscard]] bool established() const noexcept { return established_; }
  [[nodiscard]] std::uint64_t received() const noexcept { return received_; }

 private:
  // Beast's parser with callbacks into the connection: the body goes to the
  // SSE parser as it comes, without a body buffer.
  class ResponseParser final : public http::basic_parser<false> {
   public:
    explicit ResponseParser(Connection& owner) : owner_(owner) {
      // An event stream has no end in sight. Not boost::none: Boost 1.74
      // compares a Content-Length with an empty limit as if it were 0.
      body_limit(std::numeric_limits<std::uint64_t>::max());
      eager(true);  // body bytes in the same put() as the header
    }

   private:
    void on_request_impl(http::verb, beast::string_view, beast::string_view, int, beast::error_code&) override {}
    void on_response_impl(int code, beast::string_view, int, beast::error_code&) override { owner_.status_ = code; }
    void on_field_impl(http::field name, beast::string_view, beast::string_view value, beast::error_code&) override {
      if (name == http::field::content_type) owner_.content_type_.assign(value.data(), value.size());
    }
    void on_header_impl(beast::error_code&) override { owner_.on_header(); }
    void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
    std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
      owner_.on_body({body.data(), body.size()});
      return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
      owner_.on_body({body.data(), body.size()});
      return body.size();
    }
    void on_finish_impl(beast::error_code&) override { owner_.response_finished_ = true; }

    Connection& owner_;
  };

  static constexpr std::size_t buffer_size = 16 * 1024;
  static constexpr std::size_t max_line = 1 << 20;  // a longer SSE line is a broken stream

  void on_connect(const boost::system::error_code& ec);
  void on_write(const boost::system::error_code& ec);
  void read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void response_ended();
  void on_header();
  void on_body(std::string_view body);
  void on_line(std::string_view line);
  void dispatch();
  void on_record();
  void on_end_event();
  void settle();
  void violation(std::string what);
  void close(std::string why);  // ends the connection: a violation unless `why` is empty

  Worker& worker_;
  std::size_t index_;
  tcp::socket socket_;
  ResponseParser parser_{*this};
  std::unique_ptr<char[]> buffer_;
  std::size_t begin_ = 0, end_ = 0;  // unparsed bytes in buffer_

  int status_ = 0;
  std::string content_type_;
  std::string error_body_;  // the start of a non-200 response's body
  bool response_finished_ = false;

  // SSE parsing
  std::string partial_;  // a line split across reads
  bool skip_lf_ = false;  // the last piece ended in '\r': a '\n' first in the next one belongs to it
  std::string data_, event_, id_;
  bool has_data_ = false, has_id_ = false;

  // Checks
  std::int64_t next_ = -1;  // the id due next (-1: unknown until the first record)
  std::uint64_t received_ = 0;
  std::uint64_t violations_ = 0;  // the first 3 are told (Worker::record), the rest counted
  std::int64_t established_ns_ = 0;  // system clock, for "live" records
  std::int64_t read_ns_ = 0;         // arrival of the read being parsed
  bool established_ = false, ready_ = false, settled_ = false, drained_ = false, closed_ = false, ended_ = false;
};

class Worker {
 public:
  Worker(const Options& options, const tcp::endpoint& endpoint, const std::string& request)
      : options(options), endpoint(endpoint), request(request) {}

  // The monitor's view; each is written by this worker's thread only.
  // relaxed: progress counters polled by the monitor; the final figures are
  // read after join(), which orders everything.
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::size_t> ready{0};  // established, or failed before that
  std::atomic<std::size_t> established{0};
  std::atomic<std::size_t> settled{0};  // got --expect records, or ended
  std::atomic<std::size_t> drained{0};  // got everything up to `target`, or ended

  const Options& options;
  const tcp::endpoint endpoint;
  const std::string& request;
  const std::optional<std::int64_t> start = start_offset(options.path);
  asio::io_context ioc{1};  // run by one thread (the monitor only posts to it and stops it)
  std::vector<std::unique_ptr<Connection>> connections;
  std::size_t max_in_flight = 1;
  std::size_t next_to_start = 0;
  std::size_t in_flight = 0;
  std::int64_t target = -2;  // duration mode: the last record written (-2: not known yet)

  // Results, this thread's only until join().
  Histogram latency;
  std::uint64_t backlog = 0;  // records written before their connection was up: no latency
  std::uint64_t heartbeats = 0;
  std::int64_t first_delivery_ns = 0, last_delivery_ns = 0;  // system clock; 0: none yet
  std::uint64_t violation_count = 0;
  std::size_t failed = 0;
  std::vector<Violation> violations;  // the first few
  std::thread thread;

  static void add(std::atomic<std::size_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  void start_more() {
    while (in_flight < max_in_flight && next_to_start < connections.size()) {
      ++in_flight;
      connections[next_to_start++]->start();
    }
  }

  void connection_ready() {
    add(ready);
    --in_flight;
    start_more();
  }

  void set_target(std::int64_t last_written) {
    target = last_written;
    for (auto& c : connections) c->check_drained();
  }

  void record(std::size_t connection, std::string what) {
    ++violation_count;
    if (violations.size() < 10) violations.push_back({connection, std::move(what)});
  }
};

Connection::Connection(Worker& worker, std::size_t index)
    : worker_(worker), index_(index), socket_(worker.ioc) {
  if (worker_.start) next_ = *worker_.start;
}

void Connection::start() {
  buffer_ = std::make_unique<char[]>(buffer_size);
  socket_.async_connect(worker_.endpoint, [this](const boost::system::error_code& ec) { on_connect(ec); });
}

void Connection::on_connect(const boost::system::error_code& ec) {
  if (ec) return close("connect: " + ec.message());
  asio::async_write(socket_, asio::buffer(worker_.request),
                    [this](const boost::system::error_code& e, std::size_t) { on_write(e); });
}

void Connection::on_write(const boost::system::error_code& ec) {
  if (ec) return close("sending the request: " + ec.message());
  read();
}

void Connection::read() {
  if (begin_ > 0) {  // keep the unparsed tail, at the front
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_size) return close("an HTTP header or chunk header larger than the read buffer");
  socket_.async_read_some(asio::buffer(buffer_.get() + end_, buffer_size - end_),
                          [this](const boost::system::error_code& ec, std::size_t n) { on_read(ec, n); });
}

void Connection::on_read(const boost::system::error_code& ec, std::size_t n) {
  if (closed_) return;
  if (ec) {
    if (ec != asio::error::eof) return close("reading: " + ec.message());
    if (!parser_.got_some()) return close("the server closed the connection without a response");
    if (!parser_.is_done()) {
      beast::error_code eof_ec;
      parser_.put_eof(eof_ec);  // a body that runs to EOF ends here
      if (eof_ec) return close("the server closed the connection mid-response (" + eof_ec.message() + ")");
    }
    return response_ended();
  }
  read_ns_ = system_now_ns();
  end_ += n;
  const std::uint64_t before = received_;
  while (begin_ < end_ && !parser_.is_done() && !closed_) {
    beast::error_code parse_ec;
    const std::size_t used = parser_.put(asio::buffer(buffer_.get() + begin_, end_ - begin_), parse_ec);
    begin_ += used;
    if (parse_ec == http::error::need_more) break;
    if (parse_ec) return close("bad HTTP response: " + parse_ec.message());
    if (used == 0) break;
  }
  if (received_ != before) {
    if (worker_.first_delivery_ns == 0) worker_.first_delivery_ns = read_ns_;
    worker_.last_delivery_ns = read_ns_;
    // relaxed: see Worker::delivered.
    worker_.delivered.store(worker_.delivered.load(std::memory_order_relaxed) + (received_ - before),
                            std::memory_order_relaxed);
  }
  if (closed_) return;
  if (parser_.is_done() || response_finished_) return response_ended();
  read();
}

void Connection::response_ended() {
  if (status_ != 200) return close("HTTP " + std::to_string(status_) + ": " + error_body_);
  // After its --expect records a connection has passed, however it ends.
  const bool passed = ended_ || (settled_ && worker_.options.expect != 0);
  close(passed ? "" : "the response ended without an end event");
}

void Connection::on_header() {
  if (status_ == 200 && !std::string_view(content_type_).starts_with("text/event-stream")) {
    return close("content type '" + content_type_ + "', not text/event-stream");
  }
  if (status_ != 200) return;  // the body says why; reported when it is complete
  established_ = true;
  established_ns_ = read_ns_;
  Worker::add(worker_.established);
  ready_ = true;
  worker_.connection_ready();
}

void Connection::on_body(std::string_view body) {
  if (closed_) return;
  if (status_ != 200) {
    constexpr std::size_t keep = 200;  // enough to say why
    error_body_.append(body.substr(0, keep - std::min(keep, error_body_.size())));
    return;
  }
  if (skip_lf_ && !body.empty()) {
    skip_lf_ = false;
    if (body.front() == '\n') body.remove_prefix(1);
  }
  while (!body.empty() && !closed_) {
    // A line ends at "\n", "\r\n" or "\r" (the SSE grammar).
    const auto find = [&body](char c, std::size_t within) {
      const void* at = std::memchr(body.data(), c, within);
      return at != nullptr ? static_cast<std::size_t>(static_cast<const char*>(at) - body.data()) : within;
    };
    const std::size_t eol = find('\r', find('\n', body.size()));
    if (eol == body.size()) {
      partial_.append(body);
      if (partial_.size() > max_line) close("an SSE line longer than 1 MiB");
      return;
    }
    const std::string_view line = body.substr(0, eol);
    const char terminator = body[eol];
    body.remove_prefix(eol + 1);
    if (terminator == '\r') {
      if (body.empty()) {
        skip_lf_ = true;
      } else if (body.front() == '\n') {
        body.remove_prefix(1);
      }
    }
    if (partial_.empty()) {
      on_line(line);
    } else {
      partial_.append(line);
      on_line(partial_);
      partial_.clear();
    }
  }
}

void Connection::on_line(std::string_view line) {
  if (line.empty()) return dispatch();
  if (line.front() == ':') {  // a comment: the server's keep-alive
    ++worker_.heartbeats;
    return;
  }
  const std::size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  } else if (field == "id") {
    id_.assign(value);
    has_id_ = true;
  } else if (field == "event") {
    event_.assign(value);
  }  // "retry" and unknown fields: ignored, as by a browser
}

void Connection::dispatch() {
  if (has_data_) {  // an event without data is not dispatched (SSE), e.g. a keep-alive's blank line
    if (event_.empty() || event_ == "message") {
      on_record();
    } else if (event_ == "end") {
      on_end_event();
    } else {
      violation("'" + event_ + "' event: " + data_.substr(0, 200));
      if (event_ == "error") close("");  // the server closes after it
    }
  }
  data_.clear();
  event_.clear();
  has_data_ = false;
  has_id_ = false;  // every record carries its own id; one missing is reported, not inherited
}

void Connection::on_record() {
  if (!has_id_) return violation("a record without an id: " + data_.substr(0, 200));
  const auto id = parse_int<std::int64_t>(id_);
  if (!id || *id < 0) return violation("a record with id '" + id_ + "'");
  if (next_ < 0) next_ = *id;  // no `from`: the stream starts wherever the server started it
  if (*id != next_) {
    if (*id > next_) {
      violation("gap: id " + std::to_string(*id) + " where " + std::to_string(next_) + " was due (" +
                std::to_string(*id - next_) + " missing)");
    } else {
      violation("repeated or out of order: id " + std::to_string(*id) + " where " + std::to_string(next_) +
                " was due");
    }
  }
  next_ = *id + 1;  // checks go on from here
  ++received_;

  const auto offset = json_int_member(data_, "\"offset\":");
  if (offset != id) violation("record id " + std::to_string(*id) + " carries " + data_.substr(0, 120));
  const std::size_t created_at = data_.find("\"created\":\"");
  const std::size_t value_at = created_at + 11;
  const std::size_t quote = created_at == std::string::npos ? std::string::npos : data_.find('"', value_at);
  const auto created = quote == std::string::npos
                           ? std::nullopt
                           : parse_rfc3339_ns(std::string_view(data_).substr(value_at, quote - value_at));
  if (!created) {
    violation("record " + std::to_string(*id) + " has no RFC 3339 \"created\": " + data_.substr(0, 120));
  } else if (*created >= established_ns_) {
    worker_.latency.add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, read_ns_ - *created)));
  } else {
    ++worker_.backlog;  // written before the stream existed: its age is no latency
  }

  if (worker_.options.expect != 0 && received_ == worker_.options.expect) settle();
  if (worker_.target >= -1) check_drained();
}

void Connection::on_end_event() {
  // {"reason":"closed"|"shutdown","position":P}: P is the offset the stream
  // would have sent next, so every record before P must have come.
  ended_ = true;
  const auto position = json_int_member(data_, "\"position\":");
  if (data_.find("\"reason\":\"closed\"") == std::string::npos) {
    violation("the stream was ended early: " + data_.substr(0, 200));
  } else if (!position) {
    violation("an end event without a position: " + data_.substr(0, 200));
  } else if (next_ >= 0 && *position != next_) {
    violation("end event at position " + std::to_string(*position) + " but the next record due was " +
              std::to_string(next_));
  }
  if (worker_.options.expect != 0 && !settled_) {
    violation("the stream ended after " + std::to_string(received_) + " records, want " +
              std::to_string(worker_.options.expect));
  }
  close("");
}

void Connection::settle() {
  if (settled_) return;
  settled_ = true;
  Worker::add(worker_.settled);
}

void Connection::check_drained() {
  if (drained_ || worker_.target < -1) return;
  if (closed_ || (next_ >= 0 && next_ > worker_.target) || worker_.target == -1) {
    drained_ = true;
    Worker::add(worker_.drained);
  }
}

void Connection::final_check() {
  if (closed_) return;  // its end, clean or not, was judged then
  if (!established_) {
    return violation(status_ == 0 ? "not established before the end of the run (no response header)"
                                  : "HTTP " + std::to_string(status_) + " and no complete body by the end");
  }
  if (worker_.options.expect != 0 && !settled_) {
    violation("incomplete: " + std::to_string(received_) + " records of " + std::to_string(worker_.options.expect));
  } else if (worker_.options.expect == 0 && worker_.target >= 0 && !drained_) {
    violation(next_ < 0 ? "no record received; the last record written was " + std::to_string(worker_.target)
                        : "incomplete: the next record due was " + std::to_string(next_) +
                              ", the last one written " + std::to_string(worker_.target));
  }
}

void Connection::violation(std::string what) {
  ++violations_;
  if (violations_ <= 3) {
    worker_.record(index_, std::move(what));
  } else {
    ++worker_.violation_count;
  }
}

void Connection::close(std::string why) {
  if (closed_) return;
  if (!why.empty()) {
    violation(std::move(why));
    ++worker_.failed;
  }
  closed_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);  // buffer_ stays: a close from a parser callback is inside put() on it
  if (!ready_) {
    ready_ = true;
    worker_.connection_ready();
  }
  settle();
  check_drained();
}

// ---------------------------------------------------------------------------
// A plain GET (for /range), bounded in time.

std::optional<std::string> http_get(const tcp::endpoint& endpoint, const std::string& host,
                                    const std::string& target) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, host);
  request.set(http::field::connection, "close");
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  beast::error_code result = asio::error::timed_out;
  stream.expires_after(std::chrono::seconds(10));
  stream.async_connect(endpoint, [&](const beast::error_code& ec) {
    if (ec) return void(result = ec);
    http::async_write(stream, request, [&](const beast::error_code& wec, std::size_t) {
      if (wec) return void(result = wec);
      http::async_read(stream, buffer, response,
                       [&](const beast::error_code& rec, std::size_t) { result = rec; });
    });
  });
  ioc.run();
  if (result || response.result() != http::status::ok) return std::nullopt;
  return response.body();
}

// ---------------------------------------------------------------------------
// Output

class JsonLine {
 public:
  template <class T>
  JsonLine& add(std::string_view name, T value) {
    out_ += out_.empty() ? "{" : ",";
    out_ += '"';
    out_ += name;
    out_ += "\":";
    if constexpr (std::is_same_v<T, bool>) {
      out_ += value ? "true" : "false";
    } else if constexpr (std::is_floating_point_v<T>) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.6g", std::isfinite(value) ? value : 0.0);
      out_ += buf;
    } else if constexpr (std::is_convertible_v<T, std::string_view>) {
      out_ += '"';
      for (const char c : std::string_view(value)) {
        if (c == '"' || c == '\\') out_ += '\\';
        out_ += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
      }
      out_ += '"';
    } else {
      out_ += std::to_string(value);
    }
    return *this;
  }
  [[nodiscard]] std::string str() const { return out_ + "}"; }

 private:
  std::string out_;
};

// Raises RLIMIT_NOFILE's soft limit to the hard one when `need` descriptors
// do not fit; false (after saying why) when even the hard limit is too low.
bool raise_fd_limit(std::size_t need) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return true;  // cannot tell: try
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < need) {
    const rlim_t old = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
      std::cerr << "http_stream_load: RLIMIT_NOFILE soft limit raised from " << old << " to " << limit.rlim_cur
                << "\n";
    }
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < need) {
    std::cerr << "http_stream_load: error: RLIMIT_NOFILE is " << limit.rlim_cur << " (hard " << limit.rlim_max
              << "), " << need << " needed for the connections: raise the hard limit (ulimit -Hn)\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> parsed = parse_args(argc, argv);
  if (!parsed) return 2;
  const Options& options = *parsed;
  ::signal(SIGPIPE, SIG_IGN);

  if (!raise_fd_limit(options.connections + 64)) return 2;

  tcp::endpoint endpoint;
  try {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    endpoint = *resolver.resolve(options.host, options.port, tcp::resolver::numeric_service).begin();
  } catch (const std::exception& e) {
    std::cerr << "http_stream_load: error: cannot resolve " << options.host << ":" << options.port << ": " << e.what()
              << "\n";
    return 2;
  }
  const std::string host_header = options.host + ":" + options.port;
  const std::string request = "GET " + options.path + " HTTP/1.1\r\nHost: " + host_header +
                              "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";

  // A first request: the server is up and serving (a server may build its
  // worker pools only when it starts serving, after it prints its port).
  if (!http_get(endpoint, host_header, "/range")) {
    std::cerr << "http_stream_load: warning: GET /range failed before the run\n";
  }
  // The idle server's RSS: sampled until it holds still for 100 ms (at most
  // 2 s), so that threads still starting up are not charged to connections.
  std::optional<ProcSample> base;
  if (options.server_pid != 0) {
    base = read_proc(options.server_pid);
    for (int i = 0; i < 20 && base; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto again = read_proc(options.server_pid);
      if (again && again->rss_kib == base->rss_kib) break;
      base = again;
    }
    if (!base) {
      std::cerr << "http_stream_load: error: cannot read /proc/" << options.server_pid << "/stat and status\n";
      return 2;
    }
  }

  // Workers, connections dealt round robin.
  const unsigned threads = static_cast<unsigned>(std::min<std::size_t>(options.threads, options.connections));
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.push_back(std::make_unique<Worker>(options, endpoint, request));
    workers.back()->max_in_flight = std::max<std::size_t>(1, options.connect_parallel / threads);
  }
  for (std::size_t i = 0; i < options.connections; ++i) {
    Worker& w = *workers[i % threads];
    w.connections.push_back(std::make_unique<Connection>(w, i));
  }

  const auto begin = SteadyClock::now();
  const double client_cpu_begin = client_cpu_s();
  for (auto& w : workers) {
    w->thread = std::thread([&worker = *w] {
      const auto guard = asio::make_work_guard(worker.ioc);
      worker.start_more();
      worker.ioc.run();
    });
  }

  // The monitor: polls the workers' counters until the run ends.
  const auto sum = [&](std::atomic<std::size_t> Worker::*counter) {
    std::size_t total = 0;
    // relaxed: see Worker::delivered.
    for (const auto& w : workers) total += ((*w).*counter).load(std::memory_order_relaxed);
    return total;
  };
  const auto delivered = [&] {
    std::uint64_t total = 0;
    for (const auto& w : workers) total += w->delivered.load(std::memory_order_relaxed);  // relaxed: as above
    return total;
  };
  const auto deadline = begin + std::chrono::duration_cast<SteadyClock::duration>(
                                    std::chrono::duration<double>(options.timeout_s));
  std::optional<SteadyClock::time_point> connected_at;
  std::uint64_t delivered_connected = 0;
  std::optional<ProcSample> at_connected, at_end;
  std::uint64_t rss_peak = base ? base->rss_kib : 0;
  bool timed_out = false;
  bool range_failed = false;
  std::int64_t last_written = -2;
  const auto sample_server = [&]() -> std::optional<ProcSample> {
    if (options.server_pid == 0) return std::nullopt;
    auto s = read_proc(options.server_pid);
    if (s) rss_peak = std::max(rss_peak, s->rss_kib);
    return s;
  };

  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto now = SteadyClock::now();
    sample_server();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    if (!connected_at) {
      if (sum(&Worker::ready) < options.connections) continue;
      connected_at = now;
      delivered_connected = delivered();
      at_connected = sample_server();
    }
    // Every connection settled: with --expect, all got their records; else all ended early.
    if (sum(&Worker::settled) == options.connections) break;
    if (options.duration_s > 0 && seconds_between(*connected_at, now) >= options.duration_s) break;
  }
  const auto end = SteadyClock::now();
  const std::uint64_t delivered_end = delivered();
  at_end = sample_server();

  // Duration mode: every connection must get the last record written by now.
  if (!timed_out && options.expect == 0) {
    const auto range = http_get(endpoint, host_header, "/range");
    const auto latest = range ? json_int_member(*range, "\"latest\":") : std::nullopt;
    if (!latest) {
      range_failed = true;
      std::cerr << "http_stream_load: error: GET /range failed: cannot tell the last record written\n";
    } else {
      last_written = *latest;
      for (auto& w : workers) asio::post(w->ioc, [&worker = *w, last_written] { worker.set_target(last_written); });
      const auto drain_until =
          std::min(deadline, SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                      std::chrono::duration<double>(options.drain_s)));
      while (sum(&Worker::drained) < options.connections) {
        if (SteadyClock::now() >= drain_until) {
          timed_out = SteadyClock::now() >= deadline;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  const auto drained_at = SteadyClock::now();

  for (auto& w : workers) w->ioc.stop();
  for (auto& w : workers) w->thread.join();
  const double client_cpu = client_cpu_s() - client_cpu_begin;

  // Results (the worker threads are joined: everything they wrote is visible).
  Histogram latency;
  std::uint64_t backlog = 0, heartbeats = 0, violation_count = 0, total_received = 0;
  std::int64_t first_delivery_ns = std::numeric_limits<std::int64_t>::max(), last_delivery_ns = 0;
  std::size_t failed = 0, established = 0;
  std::vector<Violation> violations;
  for (auto& w : workers) {
    for (auto& c : w->connections) {
      c->final_check();
      if (c->established()) ++established;
      total_received += c->received();
    }
    latency.merge(w->latency);
    backlog += w->backlog;
    heartbeats += w->heartbeats;
    if (w->first_delivery_ns != 0) first_delivery_ns = std::min(first_delivery_ns, w->first_delivery_ns);
    last_delivery_ns = std::max(last_delivery_ns, w->last_delivery_ns);
    violation_count += w->violation_count;
    failed += w->failed;
    violations.insert(violations.end(), w->violations.begin(), w->violations.end());
  }
  std::sort(violations.begin(), violations.end(),
            [](const Violation& a, const Violation& b) { return a.connection < b.connection; });
  for (auto& w : workers) w->connections.clear();  // closes the sockets

  const bool ok = violation_count == 0 && !timed_out && !range_failed && established == options.connections;
  const double window_s = connected_at ? seconds_between(*connected_at, end) : 0;
  const std::uint64_t window_deliveries = connected_at ? delivered_end - delivered_connected : 0;
  const double rate = window_s > 0 ? static_cast<double>(window_deliveries) / window_s : 0;
  // From the first delivery to the last: the rate while records flowed, also
  // when the streams waited for records at first (a `from` in the future).
  const double active_s =
      last_delivery_ns > first_delivery_ns ? static_cast<double>(last_delivery_ns - first_delivery_ns) / 1e9 : 0;
  const double active_rate = active_s > 0 ? static_cast<double>(total_received) / active_s : 0;
  const auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };

  JsonLine json;
  json.add("benchmark", "http_stream_load")
      .add("ok", ok)
      .add("connections", options.connections)
      .add("threads", threads)
      .add("path", options.path)
      .add("expect", options.expect)
      .add("duration_s", options.duration_s)
      .add("established", established)
      .add("failed", failed)
      .add("violations", violation_count)
      .add("timed_out", timed_out)
      .add("connect_s", connected_at ? seconds_between(begin, *connected_at) : -1.0)
      .add("window_s", window_s)
      .add("deliveries", total_received)
      .add("window_deliveries", window_deliveries)
      .add("deliveries_per_s", rate)
      .add("active_s", active_s)
      .add("deliveries_per_s_active", active_rate)
      .add("latency_samples", latency.count())
      .add("backlog_records", backlog)
      .add("latency_p50_ms", ms(latency.quantile(0.50)))
      .add("latency_p99_ms", ms(latency.quantile(0.99)))
      .add("latency_max_ms", ms(latency.max()))
      .add("heartbeats", heartbeats)
      .add("last_written", last_written)
      .add("drain_s", options.expect == 0 ? seconds_between(end, drained_at) : 0.0)
      .add("client_cpu_s", client_cpu);

  std::ostringstream summary;
  summary << std::fixed << std::setprecision(2) << "http_stream_load: " << (ok ? "ok" : "FAIL") << ": "
          << options.connections << " connections (" << established << " established, " << failed << " failed) on "
          << threads << " threads, ";
  if (connected_at) {
    summary << "all up after " << seconds_between(begin, *connected_at) << " s";
  } else {
    summary << "not all up";
  }
  summary << "; " << total_received << " deliveries: " << std::setprecision(0) << rate << "/s over "
          << std::setprecision(2) << window_s << " s with all up, " << std::setprecision(0) << active_rate
          << "/s from first to last; latency p50 " << std::setprecision(3)
          << ms(latency.quantile(0.50)) << " ms p99 " << ms(latency.quantile(0.99)) << " ms max " << ms(latency.max())
          << " ms (" << latency.count() << " records)";
  const char* server_sep = "; server ";
  if (base && at_connected && at_end && window_deliveries > 0) {
    const double cpu = at_end->cpu_s - at_connected->cpu_s;
    const double per_delivery_us = cpu / static_cast<double>(window_deliveries) * 1e6;
    json.add("server_cpu_s", cpu).add("server_cpu_us_per_delivery", per_delivery_us);
    summary << std::setprecision(2) << server_sep << "CPU " << per_delivery_us << " us/delivery";
    server_sep = ", ";
  }
  if (base && at_end) {
    const double above = static_cast<double>(at_end->rss_kib) - static_cast<double>(base->rss_kib);
    const double per_connection = above / static_cast<double>(options.connections);
    json.add("server_pid", options.server_pid)
        .add("server_rss_base_kib", base->rss_kib)
        .add("server_rss_kib", at_end->rss_kib)
        .add("server_rss_peak_kib", rss_peak)
        .add("server_rss_per_connection_kib", per_connection)
        .add("server_threads", at_end->threads);
    summary << std::setprecision(1) << server_sep << "RSS " << per_connection << " KiB/connection ("
            << std::setprecision(0) << above << " KiB above " << base->rss_kib << "), " << at_end->threads
            << " threads";
  }
  summary << "; " << violation_count << " violations" << (timed_out ? "; TIMED OUT" : "");

  const std::size_t shown = std::min<std::size_t>(violations.size(), 10);
  for (std::size_t i = 0; i < shown; ++i) {
    std::cerr << "violation: connection " << violations[i].connection << ": " << violations[i].what << "\n";
  }
  if (violation_count > shown) {
    std::cerr << "(" << violation_count << " violations in all)\n";
  }
  std::cout << summary.str() << "\n";
  const std::string line = json.str();
  std::cout << line << std::endl;
  if (!options.json_path.empty()) {
    std::ofstream out(options.json_path);
    out << line << "\n";
    if (!out) std::cerr << "http_stream_load: error: cannot write " << options.json_path << "\n";
  }
  return ok ? 0 : 1;
}
