// The Redis Streams source (<memlog/redis.hpp>) against a redis-server the
// benchmark starts itself (tests/redis/redis_server.hpp; appendonly off: what
// is measured is replication, not Redis's disk).
//
// BM_redis_throughput: a producer XADDs 1M entries of one 32-byte field,
//   pipelined 1000 at a time, while a replica follows from the beginning.
//   records_per_s: entries that reached the replica's log per second, from
//   the first XADD to the write of the last one (its `created` stamp);
//   xadd_per_s: the producer's own rate in the same run (the ceiling).
//   Then, on the 1M-entry backlog: catchup_per_s, a second replica reading it
//   from the beginning, and plain_catchup_per_s, a plain XREAD COUNT 1000
//   client reading and parsing the same entries (no memlog), one after the
//   other.
// BM_redis_latency: a producer XADDs one entry at a time (the send time in a
//   field, every 200 us), followed by a replica and by a plain XREAD BLOCK
//   client, both started at the end of the stream. p50_us/p99_us: XADD sent
//   to the entry's write into the replica's log (Header::created);
//   plain_p50_us/plain_p99_us: XADD sent to the plain client holding the
//   parsed reply; p50_vs_plain: their ratio (the target: at most 1.2).
//
// MEMLOG_BENCH_QUICK=1 shrinks both 20x. Without redis-server (or hiredis at
// build time) there is nothing to run: the program says so and exits 0.

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <memlog/redis.hpp>

#include "../tests/redis/redis_server.hpp"
#include "bench_util.hpp"

namespace {

using namespace std::chrono_literals;
using memlog::redis::Config;
using memlog::redis::Entry;
using memlog::redis::Replica;
using memlog::redis::Start;
using memlog::redis::State;
using memlog_test::Client;
using memlog_test::RedisServer;
using SystemClock = std::chrono::system_clock;

bool quick() { return std::getenv("MEMLOG_BENCH_QUICK") != nullptr; }

Config config_for(const RedisServer& server, const std::string& key) {
  Config config;
  config.port = server.port();
  config.key = key;
  return config;
}

std::int64_t system_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SystemClock::now().time_since_epoch()).count();
}

std::int64_t ns_of(SystemClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Waits until the replica has written `count` records (offsets 0..count-1).
bool wait_written(const Replica& replica, std::int64_t count) {
  const auto state =
      replica.source().wait_for([&](const State& s) { return s.last.offset + 1 >= count || !s.running; }, 600s);
  return state.has_value() && replica.log().next_offset() >= count;
}

// A plain client: XREAD COUNT `batch` from the beginning until it has
// parsed `count` entries; its time in seconds.
double plain_catchup(int port, const std::string& key, std::int64_t count) {
  Client client(port);
  std::string last = "0-0";
  std::int64_t seen = 0;
  std::vector<memlog::redis::detail::RawEntry> entries;
  const auto begin = bench::steady::now();
  while (seen < count) {
    const auto reply = client.command({"XREAD", "COUNT", "1000", "STREAMS", key, last});
    entries.clear();
    if (!memlog::redis::detail::parse_xread(reply.get(), key, entries) || entries.empty()) break;
    seen += static_cast<std::int64_t>(entries.size());
    last = entries.back().id.to_string();
    benchmark::DoNotOptimize(entries.data());
  }
  return std::chrono::duration<double>(bench::steady::now() - begin).count();
}

void BM_redis_throughput(benchmark::State& state) {
  if (!memlog_test::have_redis_server()) {
    state.SkipWithError("redis-server not found (set MEMLOG_REDIS_SERVER)");
    return;
  }
  const std::int64_t total = quick() ? 50'000 : 1'000'000;
  const memlog::redis::detail::BlockSigpipe no_sigpipe;
  for (auto _ : state) {
    RedisServer server(false);
    const std::string key = "bench";
    Replica replica(config_for(server, key), Start::beginning());
    const std::string value(32, 'v');
    Client producer(server.port());
    const std::int64_t begin_ns = system_ns();
    constexpr std::int64_t window = 1000;
    for (std::int64_t sent = 0; sent < total; sent += window) {
      const std::int64_t n = std::min(window, total - sent);
      for (std::int64_t i = 0; i < n; ++i) producer.append({"XADD", key, "*", "d", value});
      for (std::int64_t i = 0; i < n; ++i) static_cast<void>(producer.reply());
    }
    const std::int64_t produced_ns = system_ns();
    if (!wait_written(replica, total)) {
      state.SkipWithError("the replica did not catch up");
      return;
    }
    const std::int64_t last_ns = ns_of(replica.log().read(total - 1)->metadata.created);
    const double seconds = static_cast<double>(last_ns - begin_ns) / 1e9;
    state.SetIterationTime(seconds);
    state.counters["records_per_s"] = static_cast<double>(total) / seconds;
    state.counters["xadd_per_s"] = static_cast<double>(total) / (static_cast<double>(produced_ns - begin_ns) / 1e9);
    const auto live = replica.state();
    state.counters["live_unverified"] = static_cast<double>(live.unverified);

    // The backlog: a second replica from the beginning, then a plain client.
    const auto catchup_begin = bench::steady::now();
    Replica second(config_for(server, key), Start::beginning());
    if (!wait_written(second, total)) {
      state.SkipWithError("the second replica did not catch up");
      return;
    }
    const double catchup = std::chrono::duration<double>(bench::steady::now() - catchup_begin).count();
    state.counters["catchup_per_s"] = static_cast<double>(total) / catchup;
    state.counters["plain_catchup_per_s"] = static_cast<double>(total) / plain_catchup(server.port(), key, total);
  }
}
BENCHMARK(BM_redis_throughput)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_redis_latency(benchmark::State& state) {
  if (!memlog_test::have_redis_server()) {
    state.SkipWithError("redis-server not found (set MEMLOG_REDIS_SERVER)");
    return;
  }
  const std::int64_t total = quick() ? 250 : 5000;
  const memlog::redis::detail::BlockSigpipe no_sigpipe;
  for (auto _ : state) {
    RedisServer server(false);
    const std::string key = "latency";
    Client setup(server.port());
    setup.xadd(key, "*", {"t", "0"});  // the key exists: both readers start after this entry
    Replica replica(config_for(server, key), Start::end(), {.max_segment_size = static_cast<std::size_t>(total)});

    // The plain client: XREAD BLOCK after the last ID it has, as a reader
    // of Redis would; it notes when each parsed entry is in its hands.
    std::vector<std::int64_t> plain;
    plain.reserve(static_cast<std::size_t>(total));
    std::atomic<bool> plain_ready{false};
    std::thread reader([&] {
      const memlog::redis::detail::BlockSigpipe reader_no_sigpipe;
      Client client(server.port());
      std::string last = replica.located().position.id.to_string();
      std::vector<memlog::redis::detail::RawEntry> entries;
      while (static_cast<std::int64_t>(plain.size()) < total) {
        client.append({"XREAD", "COUNT", "100", "BLOCK", "1000", "STREAMS", key, last});
        plain_ready.store(true);
        const auto reply = client.reply();
        const std::int64_t now = system_ns();
        entries.clear();
        if (!memlog::redis::detail::parse_xread(reply.get(), key, entries)) break;
        for (const auto& entry : entries) {
          plain.push_back(now - std::stoll(entry.fields.at(0).value));
          last = entry.id.to_string();
        }
      }
    });
    while (!plain_ready.load()) std::this_thread::yield();
    if (!replica.source().wait_for([](const State& s) { return s.connected; }, 10s)) {
      state.SkipWithError("the replica did not connect");
      reader.join();
      return;
    }
    // Not a wait for an event: a margin so that both readers are blocked in
    // XREAD before the first entry, or its sample would measure a late start.
    std::this_thread::sleep_for(50ms);

    Client producer(server.port());
    const std::string value(32, 'v');
    std::int64_t next = bench::now_ns();
    for (std::int64_t i = 0; i < total; ++i) {
      bench::spin_until(next);
      next += 200'000;
      const auto reply = producer.command({"XADD", key, "*", "t", std::to_string(system_ns()), "d", value});
      benchmark::DoNotOptimize(reply.get());
    }
    reader.join();
    if (!wait_written(replica, replica.located().position.offset + 1 + total)) {
      state.SkipWithError("the replica did not catch up");
      return;
    }
    std::vector<std::int64_t> latency;
    const auto range = replica.log().range();
    for (memlog::Offset o = range.latest - total + 1; o <= range.latest; ++o) {
      const auto record = replica.log().read(o);
      latency.push_back(ns_of(record->metadata.created) - std::stoll(*record->data.find("t")));
    }
    const double p50 = bench::quantile(latency, 0.50);
    const double plain_p50 = bench::quantile(plain, 0.50);
    state.SetIterationTime(static_cast<double>(total) * 200e-6);
    state.counters["p50_us"] = p50 / 1e3;
    state.counters["p99_us"] = bench::quantile(latency, 0.99) / 1e3;
    state.counters["plain_p50_us"] = plain_p50 / 1e3;
    state.counters["plain_p99_us"] = bench::quantile(plain, 0.99) / 1e3;
    state.counters["p50_vs_plain"] = p50 / plain_p50;
  }
}
BENCHMARK(BM_redis_latency)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
