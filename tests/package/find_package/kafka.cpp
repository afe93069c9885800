// A consumer of memlog::kafka (find_package(memlog COMPONENTS kafka), or
// add_subdirectory): the header compiles, librdkafka links, a replica's log
// of messages works and a source can be made (it connects to nothing).
#include <librdkafka/rdkafka.h>

#include <memlog/kafka.hpp>

int main() {
  if (rd_kafka_version() < 0x01060000) return 1;  // librdkafka is linked
  memlog::Log<memlog::kafka::Message> log;
  memlog::kafka::detail::PartitionReplica replica(log, 0, memlog::kafka::TooLarge::skip, 10);
  memlog::kafka::Message message;
  message.value = "value";
  message.offset = 2;
  if (replica.apply(std::move(message))) return 1;
  if (log.read(1)->data.kind != memlog::kafka::Kind::gap || log.read(2)->data.value != "value") return 1;
  memlog::kafka::Config config;
  config.brokers = "127.0.0.1:9";
  config.topic = "events";
  config.properties = {{"log_level", "0"}};
  memlog::kafka::Source source(config);
  return source.state().running ? 1 : 0;
}
