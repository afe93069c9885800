// The Kafka source (<memlog/kafka.hpp>) against librdkafka's mock cluster
// (rdkafka_mock.h: 3 brokers in this process, on loopback ports).
//
// BM_kafka_throughput: 1M messages of 32 bytes, produced first (16
//   partitions: the mock keeps 5 MiB a partition), then replicated from the
//   beginning by one Source following every partition.
//   records_per_s: messages that reached the replica's logs per second, from
//   start() to the write of the last one; plain_per_s: a plain librdkafka
//   consumer (same settings, no memlog) reading and copying the same
//   messages, one after the other; produce_per_s: the producer's rate. The
//   mock answers a fetch with one produce batch a partition at most, so its
//   batches (linger.ms 500, up to 100,000 messages) bound both readers.
// BM_kafka_apply: the replica's own cost without Kafka: 1M messages of 32
//   bytes, built as the source builds them from librdkafka's (a copy of the
//   value) and applied to a partition's log (PartitionReplica::apply).
// BM_kafka_latency/fetch_wait_ms:N/interval_us:I: one message of 32 bytes
//   every I us for 2 s into one partition (the send time inside), followed
//   by a replica and by a plain consumer at once, both from the end.
//   p50_us/p99_us: produce() call to the message's write into the replica's
//   log (Header::created); plain_p50_us/plain_p99_us: to the plain
//   consumer's poll returning it. What the mock does to these: it holds an
//   empty fetch for fetch.wait.max.ms (N) and does not answer early when a
//   message arrives (a real broker does), and it answers a fetch with one
//   produce batch at most (here one message: linger.ms=0), so a consumer
//   that falls behind catches up one round trip per message.
//
// MEMLOG_BENCH_QUICK=1 shrinks both 20x.

#include <benchmark/benchmark.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>  // after rdkafka.h, which it needs

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <memlog/kafka.hpp>

#include "bench_util.hpp"

namespace {

using namespace std::chrono_literals;
using memlog::Offset;
using memlog::kafka::Config;
using memlog::kafka::Message;
using memlog::kafka::Source;
using memlog::kafka::Start;
using SystemClock = std::chrono::system_clock;
using Settings = std::vector<std::pair<std::string, std::string>>;

bool quick() { return std::getenv("MEMLOG_BENCH_QUICK") != nullptr; }

std::int64_t system_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SystemClock::now().time_since_epoch()).count();
}

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const noexcept { rd_kafka_destroy(handle); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

Handle make_client(rd_kafka_type_t type, const Settings& settings) {
  char reason[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), reason, sizeof reason) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_t* handle = rd_kafka_new(type, conf, reason, sizeof reason);
  if (handle == nullptr) rd_kafka_conf_destroy(conf);
  return Handle(handle);
}

// One mock cluster for the whole program (destroying one takes a second).
class Cluster {
 public:
  Cluster() : owner_(make_client(RD_KAFKA_PRODUCER, {{"log_level", "0"}})) {
    cluster_ = rd_kafka_mock_cluster_new(owner_.get(), 3);
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  ~Cluster() { rd_kafka_mock_cluster_destroy(cluster_); }
  [[nodiscard]] std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  void create_topic(const std::string& topic, int partitions) {
    rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1);
  }

 private:
  Handle owner_;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

Cluster& cluster() {
  static Cluster instance;
  return instance;
}

// Enqueues a copy of `value` for `partition` (waiting while the queue is full).
bool produce(rd_kafka_t* producer, const std::string& topic, std::int32_t partition, const void* value,
             std::size_t size) {
  std::array<rd_kafka_vu_t, 4> fields{};
  fields[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  fields[0].u.cstr = topic.c_str();
  fields[1].vtype = RD_KAFKA_VTYPE_PARTITION;
  fields[1].u.i32 = partition;
  fields[2].vtype = RD_KAFKA_VTYPE_VALUE;
  fields[2].u.mem = {const_cast<void*>(value), size};
  fields[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  fields[3].u.i = RD_KAFKA_MSG_F_COPY;
  while (true) {
    rd_kafka_error_t* error = rd_kafka_produceva(producer, fields.data(), fields.size());
    if (error == nullptr) return true;
    const bool full = rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
    rd_kafka_error_destroy(error);
    if (!full) return false;
    rd_kafka_poll(producer, 1);
  }
}

Settings consumer_settings(const std::string& bootstraps, int fetch_wait_ms) {
  return {{"bootstrap.servers", bootstraps},  {"log_level", "0"},
          {"fetch.wait.max.ms", std::to_string(fetch_wait_ms)}};
}

// The plain consumer the replica is measured against: librdkafka's simple
// (queue) consumer, as the source uses, reading partitions 0 to
// `partitions` - 1 once started.
class PlainConsumer {
 public:
  PlainConsumer(const Settings& settings, const std::string& topic, int partitions)
      : handle_(make_client(RD_KAFKA_CONSUMER, settings)),
        topic_(rd_kafka_topic_new(handle_.get(), topic.c_str(), nullptr)),
        queue_(rd_kafka_queue_new(handle_.get())),
        partitions_(partitions) {}
  PlainConsumer(const PlainConsumer&) = delete;
  PlainConsumer& operator=(const PlainConsumer&) = delete;
  ~PlainConsumer() {
    if (started_) {
      for (int p = 0; p < partitions_; ++p) rd_kafka_consume_stop(topic_, p);
    }
    rd_kafka_queue_destroy(queue_);
    rd_kafka_topic_destroy(topic_);
  }
  // Fetches every partition from `offset`.
  void start(Offset offset) {
    for (int p = 0; p < partitions_; ++p) rd_kafka_consume_start_queue(topic_, p, offset, queue_);
    started_ = true;
  }
  // The next message or error, or null after `timeout_ms`; the caller frees it.
  [[nodiscard]] rd_kafka_message_t* poll(int timeout_ms) { return rd_kafka_consume_queue(queue_, timeout_ms); }

 private:
  Handle handle_;
  rd_kafka_topic_t* topic_;
  rd_kafka_queue_t* queue_;
  int partitions_;
  bool started_ = false;
};

// ---- throughput -------------------------------------------------------------

// A plain consumer reading `per_partition` messages from each partition from
// the beginning, copying each value (as the replica does); its seconds.
double plain_read(const std::string& topic, int partitions, std::int64_t per_partition) {
  PlainConsumer consumer(consumer_settings(cluster().bootstraps(), 5), topic, partitions);
  const auto begin = bench::steady::now();
  consumer.start(0);
  std::int64_t left = per_partition * partitions;
  std::string copy;
  while (left > 0) {
    rd_kafka_message_t* message = consumer.poll(1000);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      copy.assign(static_cast<const char*>(message->payload), message->len);
      benchmark::DoNotOptimize(copy.data());
      --left;
    }
    rd_kafka_message_destroy(message);
  }
  return std::chrono::duration<double>(bench::steady::now() - begin).count();
}

void BM_kafka_throughput(benchmark::State& state) {
  constexpr int partitions = 16;
  const std::int64_t total = quick() ? 50'000 : 1'000'000;
  const std::int64_t per_partition = total / partitions;
  const std::string topic = "throughput";
  cluster().create_topic(topic, partitions);
  for (auto _ : state) {
    {
      const Handle producer =
          make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", cluster().bootstraps()},
                                          {"log_level", "0"},
                                          {"linger.ms", "500"},
                                          {"batch.num.messages", "100000"},
                                          {"queue.buffering.max.messages", "1000000"}});
      const auto begin = bench::steady::now();
      for (std::int64_t i = 0; i < per_partition; ++i) {
        for (int p = 0; p < partitions; ++p) {
          if (!produce(producer.get(), topic, p, bench::payload.data(), bench::payload.size())) {
            state.SkipWithError("produce failed");
            return;
          }
        }
      }
      if (rd_kafka_flush(producer.get(), 120'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        state.SkipWithError("flush failed");
        return;
      }
      state.counters["produce_per_s"] =
          static_cast<double>(total) / std::chrono::duration<double>(bench::steady::now() - begin).count();
    }

    Config config;
    config.brokers = cluster().bootstraps();
    config.topic = topic;
    config.properties = {{"log_level", "0"}, {"fetch.wait.max.ms", "5"}};
    config.log.max_segment_size = 1 << 16;  // every partition's records stay
    Source source(config);
    const auto begin_ns = system_ns();
    if (!source.start()) {
      state.SkipWithError("start failed");
      return;
    }
    std::int64_t last_ns = 0;
    for (int p = 0; p < partitions; ++p) {
      const memlog::Log<Message>& log = source.log(p);
      auto stream = log.stream(per_partition - 1);
      const auto last = stream.next_for(120s);
      if (!last) {
        state.SkipWithError("the replica did not catch up");
        return;
      }
      last_ns = std::max<std::int64_t>(last_ns, last->metadata.created.time_since_epoch() / 1ns);
    }
    const double seconds = static_cast<double>(last_ns - begin_ns) / 1e9;
    state.SetIterationTime(seconds);
    state.counters["records_per_s"] = static_cast<double>(total) / seconds;
    source.stop();
    state.counters["plain_per_s"] = static_cast<double>(total) / plain_read(topic, partitions, per_partition);
  }
}
BENCHMARK(BM_kafka_throughput)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_kafka_apply(benchmark::State& state) {
  const std::int64_t total = quick() ? 50'000 : 1'000'000;
  for (auto _ : state) {
    memlog::Log<Message> log({.max_segment_size = 1 << 16});
    memlog::kafka::detail::PartitionReplica replica(log, 0, memlog::kafka::TooLarge::skip, 1 << 20);
    const auto begin = bench::steady::now();
    for (std::int64_t offset = 0; offset < total; ++offset) {
      Message message;
      message.value.emplace(bench::payload.data(), bench::payload.size());
      message.timestamp = SystemClock::time_point(std::chrono::milliseconds(1'700'000'000'000));
      message.offset = offset;
      if (replica.apply(std::move(message))) {
        state.SkipWithError("apply failed");
        return;
      }
    }
    const double seconds = std::chrono::duration<double>(bench::steady::now() - begin).count();
    state.SetIterationTime(seconds);
    state.counters["records_per_s"] = static_cast<double>(total) / seconds;
  }
}
BENCHMARK(BM_kafka_apply)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

// ---- latency ----------------------------------------------------------------

void BM_kafka_latency(benchmark::State& state) {
  const int fetch_wait_ms = static_cast<int>(state.range(0));
  const auto interval = std::chrono::microseconds(state.range(1));
  const int count = static_cast<int>((quick() ? 100ms : 2s) / interval);
  const std::string topic = "latency-" + std::to_string(fetch_wait_ms) + "-" + std::to_string(state.range(1));
  cluster().create_topic(topic, 1);
  for (auto _ : state) {
    Config config;
    config.brokers = cluster().bootstraps();
    config.topic = topic;
    config.start = Start::latest();
    config.properties = {{"log_level", "0"}, {"fetch.wait.max.ms", std::to_string(fetch_wait_ms)}};
    config.log.max_segment_size = static_cast<std::size_t>(count);
    Source source(config);
    if (!source.start()) {
      state.SkipWithError("start failed");
      return;
    }
    const memlog::Log<Message>& log = source.log(0);
    const Offset first = log.next_offset();

    // The plain consumer, from the same end.
    PlainConsumer consumer(consumer_settings(cluster().bootstraps(), fetch_wait_ms), topic, 1);
    consumer.start(first);
    // The first message warms the three clients up (connections, metadata):
    // the plain consumer skips it, the replica's latency starts after it.
    std::vector<std::int64_t> plain;
    plain.reserve(static_cast<std::size_t>(count));
    std::latch warm(1);
    std::atomic<bool> abandon{false};
    std::thread plain_reader([&] {
      bool first = true;
      while (static_cast<int>(plain.size()) < count && !abandon.load()) {
        rd_kafka_message_t* message = consumer.poll(1000);
        if (message == nullptr) continue;
        const std::int64_t now = system_ns();
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR && message->len >= sizeof(std::int64_t)) {
          std::int64_t sent = 0;
          std::memcpy(&sent, message->payload, sizeof sent);
          if (first) {
            warm.count_down();
            first = false;
          } else {
            plain.push_back(now - sent);
          }
        }
        rd_kafka_message_destroy(message);
      }
    });
    const Handle producer = make_client(
        RD_KAFKA_PRODUCER, {{"bootstrap.servers", cluster().bootstraps()}, {"log_level", "0"}, {"linger.ms", "0"}});
    std::string value(bench::payload);  // 32 bytes; the first 8: the send time
    produce(producer.get(), topic, 0, value.data(), value.size());
    rd_kafka_flush(producer.get(), 10'000);
    warm.wait();
    if (!log.stream(first).next_for(60s)) {
      state.SkipWithError("the replica did not start");
      abandon = true;
      plain_reader.join();
      return;
    }
    const Offset measured = first + 1;
    auto next = bench::steady::now();
    for (int i = 0; i < count; ++i) {
      bench::spin_until(std::chrono::duration_cast<std::chrono::nanoseconds>(next.time_since_epoch()).count());
      const std::int64_t sent = system_ns();
      std::memcpy(value.data(), &sent, sizeof sent);
      if (!produce(producer.get(), topic, 0, value.data(), value.size())) {
        state.SkipWithError("produce failed");
        break;
      }
      rd_kafka_poll(producer.get(), 0);
      next += interval;
    }
    rd_kafka_flush(producer.get(), 10'000);
    auto stream = log.stream(measured + count - 1);
    const bool caught_up = static_cast<bool>(stream.next_for(60s));
    if (!caught_up) abandon = true;
    plain_reader.join();
    source.stop();
    if (!caught_up) {
      state.SkipWithError("the replica did not catch up");
      return;
    }

    std::vector<std::int64_t> latency;
    latency.reserve(static_cast<std::size_t>(count));
    for (Offset offset = measured; offset < measured + count; ++offset) {
      const auto record = log.read(offset);
      if (!record || !record->data.value || record->data.value->size() < sizeof(std::int64_t)) continue;
      std::int64_t sent = 0;
      std::memcpy(&sent, record->data.value->data(), sizeof sent);
      latency.push_back(record->metadata.created.time_since_epoch() / 1ns - sent);
    }
    state.SetIterationTime(static_cast<double>(count) * std::chrono::duration<double>(interval).count());
    state.counters["samples"] = static_cast<double>(latency.size());
    state.counters["p50_us"] = bench::quantile(latency, 0.50) / 1e3;
    state.counters["p99_us"] = bench::quantile(latency, 0.99) / 1e3;
    state.counters["plain_p50_us"] = bench::quantile(plain, 0.50) / 1e3;
    state.counters["plain_p99_us"] = bench::quantile(plain, 0.99) / 1e3;
  }
}
BENCHMARK(BM_kafka_latency)
    ->ArgNames({"fetch_wait_ms", "interval_us"})
    ->Args({1, 200})
    ->Args({1, 1000})
    ->Args({5, 1000})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
