#pragma once
// <memlog/kafka.hpp>: memlog as an in-memory read replica of a Kafka topic.
// CMake target memlog::kafka (memlog plus librdkafka's C library, found with
// pkg-config); memlog::memlog never depends on it.
//
//   memlog::kafka::Source source({.brokers = "k1:9092,k2:9092", .topic = "events",
//                                 .start = memlog::kafka::Start::earliest()});
//   if (auto started = source.start(); !started) fail(started.error());
//   const memlog::Log<memlog::kafka::Message>& log = source.log(0);   // partition 0
//   for (const auto& record : log.stream(checkpoint, stop)) {
//     if (record.data.kind == memlog::kafka::Kind::record) serve(record.metadata.offset, record.data);
//   }
//
// Design, and why:
//
// - Offsets. A record's memlog offset IS its Kafka offset: a partition's log
//   starts (Options::start_offset) at the offset the replica starts from, and
//   each offset holds what Kafka holds there. A reader's checkpoint (the
//   offset after the last record it handled) therefore names the same record
//   on every replica, after a replica restarts, and in Kafka itself.
//
// - Gaps. Kafka's offsets have gaps (transaction markers; records removed by
//   compaction; aborted transactions under read_committed), memlog's do not:
//   a log has a record at every offset below next_offset(). The source never
//   renumbers: an offset at which Kafka delivers no record gets a placeholder
//   Message of Kind::gap (Kind::lost for records the broker deleted before
//   the replica read them, Kind::too_large for records the replica refused),
//   with no key, value or headers. A placeholder costs a slot in the log
//   (its retention counts it) and a few hundred bytes. Readers skip kind !=
//   Kind::record. A gap is seen, and filled, when the record after it
//   arrives: a commit marker at the end of a partition shows as lag 1 until
//   the next record. A gap wider than Config::max_gap stops the source with
//   Errc::gap_too_large rather than writing millions of placeholders (a
//   compacted topic read from its beginning can have such gaps).
//   TODO(core skip_to): with a core Log::skip_to(offset) that moves
//   next_offset() on without a record (reads of the skipped offsets failing
//   with a distinct error, streams stepping over them), gaps wider than a few
//   offsets would cost nothing and max_gap would go; see the report of issue
//   15. Until then, placeholders are the only way that keeps offsets equal.
//
// - One partition, one Log. A source follows one or more partitions of one
//   topic, each into a memlog::Log<Message> of its own, which the source
//   owns (it creates them once it knows where each partition starts). Not a
//   sharded::Log: its shards share one Options and so one start_offset, but
//   each partition starts at its own Kafka offset; and it places a record by
//   hashing its key, where a replica must keep Kafka's placement.
//
// - Where to start (Config::start): the earliest record the broker retains,
//   the end (only new records), the first record at or after a time (Kafka's
//   offsetsForTimes, by the records' Kafka timestamps; the end when there is
//   none), or checkpoint offsets. start() resolves it, once, and creates the
//   logs; a checkpoint the broker does not hold fails with
//   Errc::offset_not_retained instead of starting elsewhere.
//
// - Faults. librdkafka reconnects by itself, with backoff
//   (reconnect.backoff.ms, reconnect.backoff.max.ms), and follows leader
//   changes. The source consumes each partition from a position it sets
//   itself, with librdkafka's simple (queue) consumer: no group.id, so no
//   consumer group, no coordinator and no offset commits; each replica is
//   one independent consumer (with ACLs its principal needs READ and
//   DESCRIBE on the topic, nothing on groups). Without a group, librdkafka
//   2.0.2 also never runs into its assertion in rd_kafka_broker_destroy_final
//   (librdkafka issue 3608): the group's coordinator connection, closed as
//   the client shuts down, could start a metadata request that raced the
//   shutdown and aborted the process. The source checks every record
//   against its log: a record below next_offset() is a
//   redelivery and is dropped (counted), one above it leaves a gap. So it
//   resumes after the last offset written, whatever the broker does: no
//   loss, duplicate or reordering. When the broker has
//   deleted the replica's position (retention outran it) the missing records
//   become Kind::lost placeholders and the source goes on from the broker's
//   earliest record; when the broker's log ends below the replica's position
//   (an unclean leader election lost records the replica holds), the source
//   stops with Errc::truncated: the offsets no longer mean the same.
//   A record larger than the log's max_record_size: Config::too_large says
//   skip (a Kind::too_large placeholder, counted; the default) or stop. A
//   source never throws from its thread and never crashes on what a broker
//   sends.
//
// - Readers. The source only writes; a reader never waits for it (memlog's
//   writes do not block reads). The source's thread stops within one poll
//   wake-up of stop() or of the stop_token given to start().
//
// - librdkafka's C API (rdkafka), not its C++ wrapper (rdkafka++): the C API
//   is the stable ABI, needs one library instead of two, hands out messages
//   without a wrapper object per message, and is what the mock cluster API
//   (rdkafka_mock.h, which the tests use) is written against.
//
// Thread safety: start(), stop(), close() and the destructor serialise among
// themselves; state(), log(), partitions() may be called from any thread at
// any time (log() and partitions() need a start() that succeeded once).
// Config::on_state_change runs on the source's thread and must not call
// start(), stop() or close(). Destroying a Source destroys its logs: their
// streams must be gone first, as for any Log.
//
// This header includes <librdkafka/rdkafka.h>, and so its RD_* macros and
// the system headers it includes (<sys/types.h>, <sys/socket.h>, ...).

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "detail/kafka_message.hpp"
#include "detail/kafka_replica.hpp"
#include "detail/kafka_stats.hpp"
#include "detail/thread_annotations.hpp"
#include "errors.hpp"
#include "log.hpp"
#include "options.hpp"
#include "result.hpp"

namespace memlog::kafka {

namespace detail {

// librdkafka's error codes (rd_kafka_resp_err_t) as std::error_code values.
class RdkafkaCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "rdkafka"; }
  [[nodiscard]] std::string message(int code) const override {
    return rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(code));
  }
  [[nodiscard]] std::error_condition default_error_condition(int code) const noexcept override {
    switch (static_cast<rd_kafka_resp_err_t>(code)) {
      case RD_KAFKA_RESP_ERR__TIMED_OUT:
      case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT: return std::errc::timed_out;
      case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: return std::errc::message_size;
      default: return {code, *this};
    }
  }
};

}  // namespace detail

[[nodiscard]] inline const std::error_category& rdkafka_category() noexcept {
  static const detail::RdkafkaCategory category;
  return category;
}

[[nodiscard]] inline std::error_code make_rdkafka_error(rd_kafka_resp_err_t error) noexcept {
  return {static_cast<int>(error), rdkafka_category()};
}

// Where a source starts following each partition.
struct Start {
  enum class From : std::uint8_t {
    earliest,  // the earliest record the broker retains (its low watermark)
    latest,    // the end: only records produced from now on (its high watermark)
    time,      // the first record whose Kafka timestamp is at or after `time`, else the end
    offsets,   // checkpoints: `offsets[partition]`, else `offset`
  };
  From from = From::earliest;
  std::chrono::system_clock::time_point time{};
  std::map<std::int32_t, Offset> offsets{};
  Offset offset = -1;  // for a partition not in `offsets`; -1: none (start() fails)

  [[nodiscard]] static Start earliest() { return {}; }
  [[nodiscard]] static Start latest() { return {.from = From::latest}; }
  [[nodiscard]] static Start at_time(std::chrono::system_clock::time_point t) {
    return {.from = From::time, .time = t};
  }
  // Every followed partition at `offset` (a checkpoint of a one-partition source).
  [[nodiscard]] static Start at_offset(Offset offset) { return {.from = From::offsets, .offset = offset}; }
  [[nodiscard]] static Start at_offsets(std::map<std::int32_t, Offset> offsets) {
    return {.from = From::offsets, .offsets = std::move(offsets)};
  }
};

// One followed partition, as state() sees it.
struct PartitionState {
  std::int32_t partition = -1;
  Offset start_offset = -1;  // where the replica started: its log's start_offset
  // The Kafka offset the replica writes next: every offset below it holds
  // its record or a placeholder. The last source position written is
  // next_offset - 1 (none while next_offset == start_offset).
  Offset next_offset = -1;
  Offset high_watermark = -1;  // the broker's, as last reported (-1: not yet)
  Offset lag = -1;             // high_watermark - next_offset, or -1 before the broker said
  bool connected = false;      // fetched from a broker that is up (as of the last statistics)
  Counters counters;           // records written, placeholders and why, redeliveries dropped
};

struct State {
  bool running = false;    // the source's thread is consuming
  bool connected = false;  // running, and every partition's broker is up
  // Times `connected` came back after being lost (it starts false: the
  // first connection is not a reconnection).
  std::uint64_t reconnects = 0;
  // Why the source stopped on its own (empty while running, and after
  // stop()): an Errc, memlog::Errc::record_too_large (TooLarge::stop),
  // memlog::Errc::closed, or a librdkafka error (rdkafka_category()).
  std::error_code error;
  // The last error librdkafka reported, transient ones included (those it
  // retries by itself), as text (its name and librdkafka's reason): for
  // operators. Empty when none yet. (memlog::redis::State::message likewise.)
  std::string message;
  std::vector<PartitionState> partitions;  // by partition number
};

struct Config {
  // bootstrap.servers (host:port,...). May be empty only when `properties`
  // sets bootstrap.servers or test.mock.num.brokers.
  std::string brokers;
  std::string topic;
  // The partitions to follow; empty: every partition the topic has when
  // start() first runs (partitions added later are not followed).
  std::vector<std::int32_t> partitions;
  Start start = Start::earliest();
  // Options of every partition's log. start_offset must stay 0: the source
  // sets each log's start_offset to where its partition starts.
  memlog::Options log;
  TooLarge too_large = TooLarge::skip;
  // > 0: the widest run of missing offsets the source fills with placeholders.
  Offset max_gap = Offset{1} << 20;
  // > 0: how long start() waits for the broker's answers (metadata,
  // watermarks, offsetsForTimes); also bounds the source's own queries after
  // an out-of-range position (at most 1 s each there).
  std::chrono::milliseconds timeout{10'000};
  // More librdkafka configuration, applied after the source's defaults
  // (statistics.interval.ms 500), e.g. security settings, isolation.level,
  // fetch.wait.max.ms. The source relies on three and refuses to have them
  // set: auto.offset.reset (error, so that a deleted position is seen, not
  // silently skipped), enable.auto.commit (false: a replica commits
  // nothing) and group.id (none: a replica joins no group, see "Faults").
  std::vector<std::pair<std::string, std::string>> properties;
  // Called on the source's thread after `running`, `connected` or `error`
  // changed, with the new state. Must not call start(), stop() or close().
  std::function<void(const State&)> on_state_change;
  // Called on the source's thread after each poll that wrote records
  // (placeholders too), right after the writes and before the next poll,
  // which it delays: keep it short. As memlog::redis::Config::after_write:
  // for work that should follow a write at once on the same thread. Must
  // not call start(), stop() or close(); if it throws, the source stops
  // with std::errc::state_not_recoverable (std::bad_alloc:
  // not_enough_memory) as state().error, the poll's records written.
  std::function<void()> after_write;
};

class Source {
 public:
  // Validates `config` and creates the librdkafka client, which connects in
  // the background; nothing is consumed before start(). Throws
  // std::invalid_argument naming a bad option (or librdkafka's objection to
  // a property).
  explicit Source(Config config) : config_(validated(std::move(config))), handle_(make_handle()) {}

  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  // Stops the source and destroys its client and its logs (their streams
  // must be gone).
  ~Source() { stop(); }

  // Starts consuming on a thread of the source's own, until stop(), close(),
  // a stop requested on `stop`, or an error that stops it (state().error).
  // The first call resolves Config::start (blocking up to Config::timeout)
  // and creates the logs; if that fails, nothing is created and the error
  // comes back: a librdkafka error (rdkafka_category(): the broker did not
  // answer in time, ...), Errc::topic_not_found, Errc::partition_not_found,
  // Errc::offset_not_retained. A later call, after the source stopped (by
  // stop() or an error), resumes every partition at its log's next_offset().
  // After close(): memlog::Errc::closed. Already running: nothing to do.
  [[nodiscard]] Result<void> start(std::stop_token stop = {}) {
    memlog::detail::MutexLock control(control_);
    if (closed_) return memlog::Errc::closed;
    {
      memlog::detail::MutexLock lock(state_mu_);
      if (running_) return {};
    }
    if (thread_.joinable()) thread_.join();  // it stopped on its own
    if (handle_ == nullptr) {
      // stop() destroyed the client (see halt()); the same configuration
      // made one before, so only a lack of resources can fail here.
      try {
        handle_ = make_handle();
      } catch (const std::exception&) {
        return make_rdkafka_error(RD_KAFKA_RESP_ERR__FAIL);
      }
    }
    if (partitions_.empty()) {
      if (std::error_code error = open()) return error;
    }
    set_running(true, {});
    try {
      thread_ = std::jthread([this, outer = std::move(stop)](std::stop_token own) { run(own, outer); });
    } catch (const std::system_error& e) {  // no thread to be had
      set_running(false, e.code());
      return e.code();
    }
    return {};
  }

  // Stops consuming and waits for the source's thread (promptly: it is
  // woken from its poll), then closes the librdkafka client (its
  // connections). The logs stay open and keep their records; start()
  // resumes with a new client. Idempotent.
  void stop() noexcept {
    memlog::detail::MutexLock control(control_);
    halt();
  }

  // stop(), then closes every log: their streams deliver what was written
  // and end with memlog::Errc::closed. The source cannot start again.
  void close() noexcept {
    memlog::detail::MutexLock control(control_);
    halt();
    closed_ = true;
    for (const auto& partition : partitions_) partition->log.close();
  }

  // The log of `partition`. Throws std::out_of_range when the source does
  // not follow it, or before a start() that succeeded.
  [[nodiscard]] const Log<Message>& log(std::int32_t partition) const {
    const std::vector<Partition*>* index = ready();
    if (index == nullptr || partition < 0 || static_cast<std::size_t>(partition) >= index->size() ||
        (*index)[static_cast<std::size_t>(partition)] == nullptr) {
      throw std::out_of_range("memlog::kafka: partition " + std::to_string(partition) + " is not followed");
    }
    return (*index)[static_cast<std::size_t>(partition)]->log;
  }

  // The partitions followed, ascending; empty before a start() that succeeded.
  [[nodiscard]] std::vector<std::int32_t> partitions() const {
    std::vector<std::int32_t> ids;
    if (ready() == nullptr) return ids;
    for (const auto& partition : partitions_) ids.push_back(partition->replica.partition());
    return ids;
  }

  // A snapshot of the source's state (each field exact at some moment of the
  // call). Lag comes from the high watermark librdkafka last had from the
  // broker (every fetch response carries it), as the source's thread last
  // read it (after each poll, at least once a second).
  [[nodiscard]] State state() const {
    State state;
    {
      memlog::detail::MutexLock lock(state_mu_);
      state.running = running_;
      state.connected = connected_;
      state.reconnects = reconnects_;
      state.error = error_;
      state.message = last_error_;
    }
    if (ready() == nullptr) return state;
    for (const auto& partition : partitions_) {
      PartitionState p;
      p.partition = partition->replica.partition();
      p.start_offset = partition->log.options().start_offset;
      p.next_offset = partition->log.next_offset();
      // relaxed: snapshots; nothing else is published through them.
      const Offset high = partition->high.load(std::memory_order_relaxed);
      if (high >= 0) {
        p.high_watermark = high;
        p.lag = std::max<Offset>(0, high - p.next_offset);
      }
      p.connected = state.running && partition->connected.load(std::memory_order_relaxed);
      p.counters = partition->replica.counters();
      state.partitions.push_back(p);
    }
    return state;
  }

  [[nodiscard]] const Config& config() const noexcept { return config_; }

 private:
  struct HandleDeleter {
    // No rd_kafka_consumer_close(): there is no group to leave.
    void operator()(rd_kafka_t* handle) const noexcept { rd_kafka_destroy(handle); }
  };
  struct QueueDeleter {
    void operator()(rd_kafka_queue_t* queue) const noexcept { rd_kafka_queue_destroy(queue); }
  };
  struct ListDeleter {
    void operator()(rd_kafka_topic_partition_list_t* list) const noexcept {
      rd_kafka_topic_partition_list_destroy(list);
    }
  };
  struct TopicDeleter {
    void operator()(rd_kafka_topic_t* topic) const noexcept { rd_kafka_topic_destroy(topic); }
  };
  struct MetadataDeleter {
    void operator()(const rd_kafka_metadata_t* metadata) const noexcept { rd_kafka_metadata_destroy(metadata); }
  };
  using List = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

  // A followed partition: its log and the replica that writes it.
  struct Partition {
    Partition(std::int32_t id, const Options& options, const Config& config)
        : log(options), replica(log, id, config.too_large, config.max_gap) {}
    Log<Message> log;
    detail::PartitionReplica replica;
    // relaxed everywhere: status snapshots, written by the source's thread.
    std::atomic<bool> connected{false};
    std::atomic<Offset> high{-1};  // the broker's high watermark; -1: not known yet
  };

  // How many messages one poll takes at most.
  static constexpr std::size_t batch_size = 1024;
  // A poll's timeout: the source wakes at least this often (stop wakes it at once).
  static constexpr int poll_timeout_ms = 1000;

  // ---- configuration -------------------------------------------------------

  static Config validated(Config config) {
    const auto fail = [](const std::string& what) { throw std::invalid_argument("memlog::kafka: " + what); };
    if (config.topic.empty()) fail("topic must not be empty");
    bool has_servers = !config.brokers.empty();
    for (const auto& [name, value] : config.properties) {
      if (name == "auto.offset.reset" || name == "enable.auto.commit" || name == "group.id") {
        fail("property " + name + " is the source's own (see Config::properties)");
      }
      if (name == "bootstrap.servers" || name == "metadata.broker.list" || name == "test.mock.num.brokers") {
        has_servers = has_servers || !value.empty();
      }
    }
    if (!has_servers) fail("brokers must not be empty");
    std::vector<std::int32_t> sorted = config.partitions;
    std::sort(sorted.begin(), sorted.end());
    if (!sorted.empty() && sorted.front() < 0) fail("partitions must not be negative");
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) fail("partitions must not repeat");
    config.partitions = std::move(sorted);
    if (config.max_gap <= 0) fail("max_gap must be greater than 0");
    if (config.timeout <= std::chrono::milliseconds::zero()) fail("timeout must be greater than 0");
    if (config.timeout > std::chrono::milliseconds(std::numeric_limits<int>::max())) fail("timeout is too large");
    if (config.log.start_offset != 0) fail("log.start_offset is set by the source; leave it 0");
    if (config.start.from == Start::From::offsets) {
      if (config.start.offset < -1) fail("start.offset must be -1 (none) or an offset");
      for (const auto& [partition, offset] : config.start.offsets) {
        if (partition < 0 || offset < 0) fail("start.offsets must map partitions to offsets, all >= 0");
      }
    }
    try {
      Log<Message> probe(config.log);  // memlog's own checks of the log options
    } catch (const std::invalid_argument& e) {
      fail(std::string("log options: ") + e.what());
    }
    return config;
  }

  std::unique_ptr<rd_kafka_t, HandleDeleter> make_handle() {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char reason[512];
    const auto set = [&](const std::string& name, const std::string& value) {
      if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), reason, sizeof reason) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::invalid_argument("memlog::kafka: property " + name + ": " + reason);
      }
    };
    if (!config_.brokers.empty()) set("bootstrap.servers", config_.brokers);
    set("enable.auto.commit", "false");
    set("enable.auto.offset.store", "false");
    set("auto.offset.reset", "error");
    set("statistics.interval.ms", "500");
    for (const auto& [name, value] : config_.properties) set(name, value);
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_error_cb(conf, &Source::on_error);
    rd_kafka_conf_set_stats_cb(conf, &Source::on_stats);
    rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof reason);
    if (handle == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::invalid_argument(std::string("memlog::kafka: ") + reason);
    }
    return std::unique_ptr<rd_kafka_t, HandleDeleter>(handle);
  }

  [[nodiscard]] int timeout_ms() const noexcept { return static_cast<int>(config_.timeout.count()); }

  // ---- start: where each partition begins ---------------------------------

  // Requires control_. Resolves the start of every partition and creates
  // their logs; on error creates none.
  [[nodiscard]] std::error_code open() {
    std::vector<std::int32_t> ids;
    if (std::error_code error = topic_partitions(ids)) return error;
    std::vector<std::pair<std::int32_t, Offset>> starts;
    if (std::error_code error = resolve(ids, starts)) return error;
    std::vector<std::unique_ptr<Partition>> partitions;
    std::vector<Partition*> index;
    for (const auto& [id, offset] : starts) {
      Options options = config_.log;
      options.start_offset = offset;
      partitions.push_back(std::make_unique<Partition>(id, options, config_));
      if (index.size() <= static_cast<std::size_t>(id)) index.resize(static_cast<std::size_t>(id) + 1, nullptr);
      index[static_cast<std::size_t>(id)] = partitions.back().get();
    }
    partitions_ = std::move(partitions);
    index_ = std::move(index);
    // release: pairs with the acquire in ready(): a reader that sees the
    // flag sees the partitions and their logs.
    ready_.store(true, std::memory_order_release);
    return {};
  }

  // The partitions to follow, checked against the topic's metadata.
  [[nodiscard]] std::error_code topic_partitions(std::vector<std::int32_t>& ids) {
    const std::unique_ptr<rd_kafka_topic_t, TopicDeleter> topic(
        rd_kafka_topic_new(handle_.get(), config_.topic.c_str(), nullptr));
    if (topic == nullptr) return make_rdkafka_error(rd_kafka_last_error());
    const rd_kafka_metadata_t* raw = nullptr;
    if (const rd_kafka_resp_err_t error = rd_kafka_metadata(handle_.get(), 0, topic.get(), &raw, timeout_ms())) {
      return make_rdkafka_error(error);
    }
    const std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> metadata(raw);
    const rd_kafka_metadata_topic_t* found = nullptr;
    for (int i = 0; i < metadata->topic_cnt; ++i) {
      if (config_.topic == metadata->topics[i].topic) found = &metadata->topics[i];
    }
    if (found == nullptr || found->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return Errc::topic_not_found;
    if (found->err != RD_KAFKA_RESP_ERR_NO_ERROR) return make_rdkafka_error(found->err);
    std::vector<std::int32_t> existing;
    for (int i = 0; i < found->partition_cnt; ++i) existing.push_back(found->partitions[i].id);
    std::sort(existing.begin(), existing.end());
    if (existing.empty()) return Errc::topic_not_found;
    if (config_.partitions.empty()) {
      ids = std::move(existing);
      return {};
    }
    for (const std::int32_t id : config_.partitions) {
      if (!std::binary_search(existing.begin(), existing.end(), id)) return Errc::partition_not_found;
    }
    ids = config_.partitions;
    return {};
  }

  // The start offset of each partition in `ids`.
  [[nodiscard]] std::error_code resolve(const std::vector<std::int32_t>& ids,
                                        std::vector<std::pair<std::int32_t, Offset>>& starts) {
    const Start& start = config_.start;
    std::vector<Offset> by_time;
    if (start.from == Start::From::time) {
      const List list(rd_kafka_topic_partition_list_new(static_cast<int>(ids.size())));
      // At least 0: Kafka reads -1 and -2 as "the end" and "the beginning"
      // (and keeps more negatives), where a time before 1970 means the
      // first record.
      const auto ms = std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(start.time.time_since_epoch()).count());
      for (const std::int32_t id : ids) rd_kafka_topic_partition_list_add(list.get(), config_.topic.c_str(), id)->offset = ms;
      if (const rd_kafka_resp_err_t error = rd_kafka_offsets_for_times(handle_.get(), list.get(), timeout_ms())) {
        return make_rdkafka_error(error);
      }
      for (int i = 0; i < list->cnt; ++i) {
        if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) return make_rdkafka_error(list->elems[i].err);
        by_time.push_back(list->elems[i].offset);
      }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      if (const rd_kafka_resp_err_t error = rd_kafka_query_watermark_offsets(
              handle_.get(), config_.topic.c_str(), ids[i], &low, &high, timeout_ms())) {
        return make_rdkafka_error(error);
      }
      Offset offset = low;
      switch (start.from) {
        case Start::From::earliest: offset = low; break;
        case Start::From::latest: offset = high; break;
        // -1: no record at or after the time: the end (Kafka's answer).
        case Start::From::time: offset = by_time[i] >= 0 ? std::clamp<Offset>(by_time[i], low, high) : high; break;
        case Start::From::offsets: {
          const auto found = start.offsets.find(ids[i]);
          offset = found != start.offsets.end() ? found->second : start.offset;
          if (offset < 0) return make_error_code(std::errc::invalid_argument);
          if (offset < low || offset > high) return Errc::offset_not_retained;
          break;
        }
      }
      starts.emplace_back(ids[i], offset);
    }
    return {};
  }

  // ---- the source's thread --------------------------------------------------

  // Requires control_. Stops the thread, waits for it, and destroys the
  // client: a client nobody polls would pile up its statistics reports.
  void halt() noexcept {
    if (thread_.joinable()) {
      thread_.request_stop();
      thread_.join();
    }
    handle_.reset();
  }

  // The null until open() has run; then the partitions by number.
  [[nodiscard]] const std::vector<Partition*>* ready() const noexcept {
    // acquire: pairs with the release in open().
    return ready_.load(std::memory_order_acquire) ? &index_ : nullptr;
  }

  [[nodiscard]] Partition* partition(std::int32_t id) const noexcept {
    if (id < 0 || static_cast<std::size_t>(id) >= index_.size()) return nullptr;
    return index_[static_cast<std::size_t>(id)];
  }

  void run(const std::stop_token& own, const std::stop_token& outer) noexcept {
    std::error_code error;
    try {
      error = consume(own, outer);
    } catch (const std::bad_alloc&) {
      error = make_error_code(std::errc::not_enough_memory);
    } catch (...) {
      // A throwing Options::clock, on_state_change or after_write: stop, do not terminate.
      error = make_error_code(std::errc::state_not_recoverable);
    }
    // Close the client here, not only in stop(): a client nobody polls would
    // pile up its statistics reports until then. start() makes a new one.
    handle_.reset();
    for (const auto& partition : partitions_) partition->connected.store(false, std::memory_order_relaxed);
    try {
      set_running(false, error);
      notify();
    } catch (...) {  // on_state_change threw: nothing left to stop
    }
  }

  [[nodiscard]] std::error_code consume(const std::stop_token& own, const std::stop_token& outer) {
    // One queue takes every partition's messages and errors and, forwarded
    // from the client's main queue, its error and statistics callbacks: all
    // of them run here, on the source's thread, from its polls.
    const std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(handle_.get()));
    const std::unique_ptr<rd_kafka_queue_t, QueueDeleter> main(rd_kafka_queue_get_main(handle_.get()));
    const std::unique_ptr<rd_kafka_topic_t, TopicDeleter> topic(
        rd_kafka_topic_new(handle_.get(), config_.topic.c_str(), nullptr));
    if (queue == nullptr || main == nullptr || topic == nullptr) return make_rdkafka_error(RD_KAFKA_RESP_ERR__FAIL);
    rd_kafka_queue_forward(main.get(), queue.get());
    Consuming consuming{topic.get(), queue.get(), {}};
    // Declared after what it uses, so it ends first (also on an exception):
    // stops every partition and unforwards before the queue and topic go.
    struct Cleanup {
      Source* source;
      rd_kafka_queue_t* main;
      Consuming* consuming;
      ~Cleanup() {
        for (const std::int32_t id : consuming->started) {
          static_cast<void>(rd_kafka_consume_stop(consuming->topic, id));
        }
        rd_kafka_queue_forward(main, nullptr);
        source->consuming_ = nullptr;
      }
    } cleanup{this, main.get(), &consuming};
    consuming_ = &consuming;
    // Wakes a poll in progress (or the next one) at once.
    const auto wake = [queue = queue.get()] { rd_kafka_queue_yield(queue); };
    const std::stop_callback wake_on_stop(own, wake);
    const std::stop_callback wake_on_outer(outer, wake);
    const auto stopping = [&] { return own.stop_requested() || outer.stop_requested(); };
    for (const auto& partition : partitions_) {
      if (std::error_code error = restart(*partition)) return error;
    }
    notify();
    std::vector<rd_kafka_message_t*> batch(batch_size);
    std::error_code error;
    while (!error && !stopping()) {
      // Wait for one message, then take what else is there without waiting:
      // rd_kafka_consume_batch_queue() with a timeout waits for a full batch.
      batch[0] = rd_kafka_consume_queue(queue.get(), poll_timeout_ms);
      ssize_t count = batch[0] != nullptr ? 1 : 0;
      if (count == 1) {
        const ssize_t more = rd_kafka_consume_batch_queue(queue.get(), 0, batch.data() + 1, batch.size() - 1);
        if (more > 0) count += more;
      }
      const Offset written_before = count > 0 && config_.after_write ? written() : 0;
      for (ssize_t i = 0; i < count; ++i) {
        const std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> message(batch[i],
                                                                                           &rd_kafka_message_destroy);
        // After an error, the rest of the batch is only freed.
        if (!error && !stopping()) error = handle(*message, own);
      }
      // An exception from it leaves run(), which stops the source.
      if (count > 0 && config_.after_write && written() != written_before) config_.after_write();
      if (!error) error = fatal_;
      read_watermarks();
    }
    return error == memlog::Errc::cancelled ? std::error_code{} : error;
  }

  // How far the logs have come: the sum of their next offsets.
  [[nodiscard]] Offset written() const noexcept {
    Offset sum = 0;
    for (const auto& partition : partitions_) sum += partition->log.next_offset();
    return sum;
  }

  // (Re)starts fetching `partition` at its log's next_offset(), into the
  // queue of consume(); messages of an earlier start still queued are purged.
  [[nodiscard]] std::error_code restart(const Partition& partition) {
    const std::int32_t id = partition.replica.partition();
    auto& started = consuming_->started;
    if (std::find(started.begin(), started.end(), id) != started.end()) {
      static_cast<void>(rd_kafka_consume_stop(consuming_->topic, id));
      started.erase(std::find(started.begin(), started.end(), id));
    }
    if (rd_kafka_consume_start_queue(consuming_->topic, id, partition.log.next_offset(), consuming_->queue) == -1) {
      return make_rdkafka_error(rd_kafka_last_error());
    }
    started.push_back(id);
    return {};
  }

  [[nodiscard]] std::error_code handle(const rd_kafka_message_t& message, const std::stop_token& stop) {
    if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) return handle_error(message, stop);
    Partition* target = partition(message.partition);
    if (target == nullptr) return {};  // not ours (cannot happen: only ours are assigned)
    return target->replica.apply(to_message(message), stop);
  }

  // A consumer error delivered as a message.
  [[nodiscard]] std::error_code handle_error(const rd_kafka_message_t& message, const std::stop_token& stop) {
    if (message.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return {};
    Partition* target = partition(message.partition);
    if (target != nullptr && (message.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                              message.err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)) {
      return out_of_range(*target, stop);
    }
    // Anything else librdkafka retries by itself (or reports as fatal
    // through the error callback): tell the operator.
    note_error(message.err, rd_kafka_message_errstr(&message));
    return {};
  }

  // The broker does not hold the partition's position: retention deleted it
  // (go on from the broker's earliest record, the records in between become
  // Kind::lost), or the broker's log ends below it (stop: truncated).
  [[nodiscard]] std::error_code out_of_range(Partition& partition, const std::stop_token& stop) {
    const std::int32_t id = partition.replica.partition();
    std::int64_t low = 0;
    std::int64_t high = 0;
    const int wait_ms = std::min(timeout_ms(), 1000);
    if (const rd_kafka_resp_err_t error =
            rd_kafka_query_watermark_offsets(handle_.get(), config_.topic.c_str(), id, &low, &high, wait_ms)) {
      // Try again: fetching from the position fails again, and brings us back.
      note_error(error, "watermarks after an out-of-range position");
    } else {
      const Offset next = partition.log.next_offset();
      if (next > high) return Errc::truncated;
      if (next < low) {
        if (std::error_code error = partition.replica.lose_to(low, stop)) return error;
      }
    }
    // Restarts the partition where its log ends now.
    return restart(partition);
  }

  // The high watermarks librdkafka cached from its last fetch responses
  // (no request), for state().
  void read_watermarks() noexcept {
    for (const auto& partition : partitions_) {
      std::int64_t low = -1;
      std::int64_t high = -1;
      if (rd_kafka_get_watermark_offsets(handle_.get(), config_.topic.c_str(), partition->replica.partition(), &low,
                                         &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          high >= 0) {
        partition->high.store(high, std::memory_order_relaxed);
      }
    }
  }

  [[nodiscard]] static Message to_message(const rd_kafka_message_t& in) {
    Message out;
    if (in.key != nullptr) out.key.emplace(static_cast<const char*>(in.key), in.key_len);
    if (in.payload != nullptr) out.value.emplace(static_cast<const char*>(in.payload), in.len);
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(&in, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers != nullptr) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        HeaderField& field = out.headers.emplace_back();
        field.name = name;
        if (value != nullptr) field.value.emplace(static_cast<const char*>(value), size);
      }
    }
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    const std::int64_t ms = rd_kafka_message_timestamp(&in, &type);
    if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ms >= 0) {
      out.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    }
    out.offset = in.offset;
    return out;
  }

  // ---- callbacks (on the source's thread, from its poll) -------------------

  static void on_error(rd_kafka_t* handle, int code, const char* reason, void* opaque) {
    auto* self = static_cast<Source*>(opaque);
    const auto error = static_cast<rd_kafka_resp_err_t>(code);
    try {
      if (error == RD_KAFKA_RESP_ERR__FATAL) {
        char text[512];
        const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(handle, text, sizeof text);
        self->fatal_ = make_rdkafka_error(fatal);
        self->note_error(fatal, text);
        return;
      }
      self->note_error(error, reason);
      if (error == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->update_connected(nullptr);
    } catch (...) {  // std::bad_alloc: a lost note, not a lost record
    }
  }

  static int on_stats(rd_kafka_t*, char* json, std::size_t size, void* opaque) {
    auto* self = static_cast<Source*>(opaque);
    try {
      if (const std::optional<detail::StatsReport> report =
              detail::read_stats(std::string_view(json, size), self->config_.topic)) {
        self->update_connected(&*report);
      }
    } catch (...) {  // std::bad_alloc: the next report will do
    }
    return 0;  // librdkafka frees the text
  }

  // Recomputes `connected` from a statistics report (null: every broker is down).
  void update_connected(const detail::StatsReport* report) {
    bool all = !partitions_.empty();
    for (const auto& partition : partitions_) {
      const bool up = report != nullptr && report->connected(partition->replica.partition());
      partition->connected.store(up, std::memory_order_relaxed);
      all = all && up;
    }
    bool changed = false;
    {
      memlog::detail::MutexLock lock(state_mu_);
      const bool now = running_ && all;
      if (now != connected_) {
        changed = true;
        if (now && ever_connected_) ++reconnects_;
        ever_connected_ = ever_connected_ || now;
        connected_ = now;
      }
    }
    if (changed) notify();
  }

  void note_error(rd_kafka_resp_err_t error, const char* reason) {
    std::string text = rd_kafka_err2name(error);
    if (reason != nullptr && *reason != '\0') text.append(": ").append(reason);
    memlog::detail::MutexLock lock(state_mu_);
    last_error_ = std::move(text);
  }

  void set_running(bool running, std::error_code error) {
    memlog::detail::MutexLock lock(state_mu_);
    running_ = running;
    error_ = error;
    if (!running) connected_ = false;
  }

  void notify() {
    if (config_.on_state_change) config_.on_state_change(state());
  }

  const Config config_;
  // Serialises start(), stop(), close().
  memlog::detail::Mutex control_;
  // The librdkafka client: made by the constructor and by a start() after
  // stop(), destroyed by stop(). Used by start() and stop() (under control_)
  // and by the source's thread, which they start and join.
  std::unique_ptr<rd_kafka_t, HandleDeleter> handle_;
  bool closed_ = false;  // under control_
  // Set once, by the first start() that resolves (under control_), then
  // only read; published through ready_.
  std::vector<std::unique_ptr<Partition>> partitions_;
  std::vector<Partition*> index_;  // by partition number; null: not followed
  std::atomic<bool> ready_{false};
  // A fatal error reported by librdkafka; set and read on the source's thread.
  std::error_code fatal_;
  // What consume() fetches with: its topic handle, its queue, the partitions
  // started on it. Only the source's thread uses it, while in consume().
  struct Consuming {
    rd_kafka_topic_t* topic;
    rd_kafka_queue_t* queue;
    std::vector<std::int32_t> started;
  };
  Consuming* consuming_ = nullptr;

  mutable memlog::detail::Mutex state_mu_;
  bool running_ MEMLOG_GUARDED_BY(state_mu_) = false;
  bool connected_ MEMLOG_GUARDED_BY(state_mu_) = false;
  bool ever_connected_ MEMLOG_GUARDED_BY(state_mu_) = false;
  std::uint64_t reconnects_ MEMLOG_GUARDED_BY(state_mu_) = 0;
  std::error_code error_ MEMLOG_GUARDED_BY(state_mu_);
  std::string last_error_ MEMLOG_GUARDED_BY(state_mu_);

  // Last: destroyed (joined) first.
  std::jthread thread_;
};

}  // namespace memlog::kafka
