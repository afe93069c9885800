// http_stream_kafka_mock: a Kafka "cluster" for test_kafka.sh, without a
// broker to install: librdkafka's mock cluster (rdkafka_mock.h), one broker
// in this process on a loopback port, with a topic and known messages.
//
//   http_stream_kafka_mock [--topic T] [--partitions P] [--count N]
//
// Creates topic T (default "events") with P partitions (default 2), prints
// `bootstrap HOST:PORT`, produces N messages (default 20) to partition 0
// and 3 to partition 1, and prints `produced N` once the broker has them.
// Then each line read from stdin, a number K, produces K more to partition
// 0 (`produced TOTAL` when the broker has them). At the end of stdin it
// waits for SIGINT or SIGTERM, then exits 0.
//
// Message i of partition 0 (its Kafka offset is i), by i % 4:
//   0: key "key-i", value the JSON text {"n": i, "text": "a \"quoted\" line"}
//      spread over lines, headers h: "v-i", h: "w", nullh: null
//   1: key "key-i", value the text `plain text i`, header h: "v-i"
//   2: a null key and a null value (a tombstone), header h: "v-i"
//   3: key "key-i", value `{"broken": i` (not JSON), header h: "v-i"
// Partition 1's messages: key "p1-j", value {"p1":j}, no header.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

struct Header {
  std::string name;
  std::optional<std::string> value;
};

struct Message {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<Header> headers;
};

Message message_for(std::uint64_t i) {
  const std::string n = std::to_string(i);
  switch (i % 4) {
    case 0:
      return {"key-" + n, "{\n  \"n\": " + n + ",\n  \"text\": \"a \\\"quoted\\\" line\"\n}\n",
              {{"h", "v-" + n}, {"h", "w"}, {"nullh", std::nullopt}}};
    case 1: return {"key-" + n, "plain text " + n, {{"h", "v-" + n}}};
    case 2: return {std::nullopt, std::nullopt, {{"h", "v-" + n}}};
    default: return {"key-" + n, "{\"broken\": " + n, {{"h", "v-" + n}}};
  }
}

[[noreturn]] void die(const std::string& why) {
  std::cerr << "kafka_mock: " << why << std::endl;
  std::exit(1);
}

class Producer {
 public:
  explicit Producer(const std::string& bootstrap) {
    char reason[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    const std::pair<const char*, const char*> settings[] = {{"bootstrap.servers", bootstrap.c_str()},
                                                            {"log_level", "0"},
                                                            {"enable.idempotence", "true"},
                                                            {"linger.ms", "1"}};
    for (const auto& [name, value] : settings) {
      if (rd_kafka_conf_set(conf, name, value, reason, sizeof reason) != RD_KAFKA_CONF_OK) die(reason);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* message, void*) {
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("delivery failed: ") + rd_kafka_err2str(message->err));
    });
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
    if (handle_ == nullptr) die(reason);
  }
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;
  ~Producer() { rd_kafka_destroy(handle_); }

  void produce(const std::string& topic, std::int32_t partition, const Message& message) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(message.headers.size());
    for (const Header& header : message.headers) {
      rd_kafka_header_add(headers, header.name.data(), static_cast<ssize_t>(header.name.size()),
                          header.value ? header.value->data() : nullptr,
                          header.value ? static_cast<ssize_t>(header.value->size()) : 0);
    }
    // rd_kafka_produceva(): rd_kafka_producev()'s macros use GNU statement
    // expressions, which -Wpedantic refuses.
    std::array<rd_kafka_vu_t, 6> fields{};
    fields[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    fields[0].u.cstr = topic.c_str();
    fields[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    fields[1].u.i32 = partition;
    fields[2].vtype = RD_KAFKA_VTYPE_KEY;  // a null key or value: a null pointer
    fields[2].u.mem = {message.key ? const_cast<char*>(message.key->data()) : nullptr,
                       message.key ? message.key->size() : 0};
    fields[3].vtype = RD_KAFKA_VTYPE_VALUE;
    fields[3].u.mem = {message.value ? const_cast<char*>(message.value->data()) : nullptr,
                       message.value ? message.value->size() : 0};
    fields[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    fields[4].u.i = RD_KAFKA_MSG_F_COPY;
    fields[5].vtype = RD_KAFKA_VTYPE_HEADERS;
    fields[5].u.headers = headers;
    rd_kafka_error_t* error = rd_kafka_produceva(handle_, fields.data(), fields.size());
    if (error != nullptr) {
      const std::string why = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      rd_kafka_headers_destroy(headers);  // not taken on failure
      die("produce: " + why);
    }
  }

  // Waits until the broker has every message produced (the delivery
  // callback dies on a failure).
  void flush() {
    if (rd_kafka_flush(handle_, 30'000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("flush timed out");
  }

 private:
  rd_kafka_t* handle_ = nullptr;
};

template <class Int>
std::optional<Int> parse_number(std::string_view text) {
  Int value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  std::string topic = "events";
  int partitions = 2;
  std::uint64_t count = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view name = argv[i];
    const std::string_view value = argv[i + 1];
    if (name == "--topic") {
      topic = value;
    } else if (name == "--partitions" && parse_number<int>(value) && *parse_number<int>(value) >= 1) {
      partitions = *parse_number<int>(value);
    } else if (name == "--count" && parse_number<std::uint64_t>(value)) {
      count = *parse_number<std::uint64_t>(value);
    } else {
      std::cerr << "usage: http_stream_kafka_mock [--topic T] [--partitions P] [--count N]\n";
      return 2;
    }
  }

  // SIGINT/SIGTERM are taken with sigwait at the end: blocked from here on
  // (librdkafka's threads inherit the mask).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  char reason[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "log_level", "0", reason, sizeof reason) != RD_KAFKA_CONF_OK) die(reason);
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
  if (handle == nullptr) die(reason);
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(handle, 1);
  if (cluster == nullptr) die("cannot create the mock cluster");
  if (rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    die("cannot create the topic");
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  std::cout << "bootstrap " << bootstrap << std::endl;

  {
    Producer producer(bootstrap);
    std::uint64_t produced = 0;
    const auto produce = [&](std::uint64_t n) {
      for (std::uint64_t k = 0; k < n; ++k, ++produced) producer.produce(topic, 0, message_for(produced));
      producer.flush();
      std::cout << "produced " << produced << std::endl;
    };
    if (partitions > 1) {
      for (int j = 0; j < 3; ++j) {
        const std::string n = std::to_string(j);
        producer.produce(topic, 1, {"p1-" + n, "{\"p1\":" + n + "}", {}});
      }
    }
    produce(count);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (const auto more = parse_number<std::uint64_t>(line)) produce(*more);
    }
  }

  int sig = 0;
  sigwait(&signals, &sig);
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(handle);
  return 0;
}
