// A sharded log: records are spread over shards by key (the Go library's
// sharded/example_test.go). The default sharder hashes keys with FNV-1a onto
// 1000 shards, enough for "users" and "groups" to get a shard each, so
// reading the "users" shard from offset 0 gives exactly the users.

#include <memlog/sharded.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

int main() {
  memlog::sharded::Log<std::string> log;  // 1000 shards, FnvSharder

  // std::map: keys in sorted order, so the example is deterministic
  const std::map<std::string, std::vector<std::string>> data{
      {"users", {"tom", "sarah", "ajit"}},
      {"groups", {"friends", "family", "colleagues"}},
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

  std::printf("reading all users...\n");
  for (memlog::Offset offset = 0;; ++offset) {
    const auto record = log.read("users", offset);
    if (!record) {
      if (record.error() == memlog::Errc::future_offset) break;  // end of log
      std::printf("read: %s\n", record.error().message().c_str());
      return 1;
    }
    std::printf("- %s\n", record->data.c_str());
  }
  return 0;
}
