// A sharded log with a KeySharder: one shard per listed key, so that each
// key's records are read back alone and in order (the Go library's
// sharded/example_sharder_test.go).

#include <memlog/sharded.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

int main() {
  const std::vector<std::string> keys{"galaxies", "planets"};

  // The log needs at least as many shards as the sharder has keys.
  memlog::sharded::Log<std::string, memlog::sharded::KeySharder> log({.shards = keys.size()},
                                                                     memlog::sharded::KeySharder(keys));

  const std::map<std::string, std::vector<std::string>> data{
      {keys[0], {"Centaurus A", "Andromeda", "Eye of Sauron"}},
      {keys[1], {"Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"}},
  };

  for (const auto& [key, vals] : data) {
    for (const auto& val : vals) {
      const auto offset = log.write(key, val);
      if (!offset) {
        std::printf("write: %s\n", offset.error().message().c_str());
        return 1;
      }
    }
  }

  for (const auto& key : keys) {
    std::printf("reading all %s...\n", key.c_str());
    for (memlog::Offset offset = 0;; ++offset) {
      const auto record = log.read(key, offset);
      if (!record) {
        if (record.error() == memlog::Errc::future_offset) {
          std::printf("\n");
          break;
        }
        std::printf("read: %s\n", record.error().message().c_str());
        return 1;
      }
      std::printf("- %s\n", record->data.c_str());
    }
  }
  return 0;
}
