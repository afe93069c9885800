// A consumer of memlog::redis (find_package(memlog COMPONENTS redis), or
// add_subdirectory): the header compiles, hiredis links, a log of entries works.
#include <hiredis/hiredis.h>

#include <memlog/redis.hpp>

int main() {
  redisReader* reader = redisReaderCreate();  // hiredis is linked
  if (reader == nullptr) return 1;
  redisReaderFree(reader);
  const auto id = memlog::redis::EntryId::parse("1526919030474-55");
  if (!id || id->to_string() != "1526919030474-55") return 1;
  memlog::Log<memlog::redis::Entry> log;
  if (!log.write(memlog::redis::Entry{*id, {{"name", "value"}}})) return 1;
  if (memlog::redis::offset_of(log, *id) != 0 || memlog::redis::offset_after(log, *id) != 1) return 1;
  memlog::redis::Config config;
  config.key = "events";
  memlog::redis::Source source(log, config, memlog::redis::Position{*id, 0});
  return source.state().last.offset == 0 ? 0 : 1;
}
