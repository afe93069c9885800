// Differential fuzz target: memlog::sharded::Log<std::string> with FnvSharder
// and with KeySharder, against a map of shard -> ModelLog. The model computes
// shards itself: FNV-1a 32 reduced as Go does; KeySharder as Go's: key i ->
// shard i, a key listed twice takes its last position and counts once, more
// distinct keys than shards -> too_many_keys before anything else, and (the
// log's rule) an index past the last shard -> shard_not_found.
#include "fuzz_common.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <stop_token>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace memlog_fuzz;
using Record = memlog::Record<std::string>;

constexpr std::size_t stream_slots = 3;

// A short key: often empty or one byte, so keys collide on small shard counts.
std::string decode_key(Input& in) {
  const std::size_t len = in.u8() % 4;
  std::string key(len, '\0');
  for (char& c : key) c = static_cast<char>("ab\0\xff"[in.u8() % 4]);
  return key;
}

// The model's sharders.
std::uint32_t fnv1a32(std::string_view key) {
  std::uint32_t h = 0x811c9dc5U;
  for (const unsigned char c : key) {
    h ^= c;
    h *= 0x01000193U;
  }
  return h;
}

struct ModelFnv {
  memlog::Result<std::size_t> shard(std::string_view key, std::size_t shards) const {
    // Go: shard := int32(h) % int32(shards); if shard < 0 { shard = -shard }
    const std::int64_t h = static_cast<std::int32_t>(fnv1a32(key));
    std::int64_t s = h % static_cast<std::int64_t>(shards);
    return static_cast<std::size_t>(s < 0 ? -s : s);
  }
};

struct ModelKeys {
  std::vector<std::string> keys;
  memlog::Result<std::size_t> shard(std::string_view key, std::size_t shards) const {
    std::vector<std::string> distinct;
    for (const auto& k : keys) {
      if (std::find(distinct.begin(), distinct.end(), k) == distinct.end()) distinct.push_back(k);
    }
    if (distinct.size() > shards) return Errc::too_many_keys;
    for (std::size_t i = keys.size(); i-- > 0;) {
      if (keys[i] == key) return i < shards ? memlog::Result<std::size_t>(i) : Errc::shard_not_found;
    }
    return Errc::shard_not_found;
  }
};

struct Slot {
  std::optional<memlog::Stream<std::string>> stream;
  std::size_t shard = 0;
  ModelStream model;
  std::stop_source stop;
};

template <class Sharder, class ModelSharder>
void run(Input& in, const memlog::sharded::Options& options, bool valid, Sharder sharder,
         const ModelSharder& model_sharder, const std::vector<std::string>& keys) {
  using Log = memlog::sharded::Log<std::string, Sharder>;
  if (!construct_checked(valid, [&] { Log probe(options, sharder); })) return;

  Log log(options, std::move(sharder));
  MEMLOG_FUZZ_CHECK(log.shards() == options.shards);
  std::map<std::size_t, ModelLog> models;
  const auto model_of = [&](std::size_t shard) -> ModelLog& {
    return models.try_emplace(shard, options.log).first->second;
  };
  std::array<Slot, stream_slots> slots;

  for (std::int64_t tick = 1; !in.empty(); ++tick) {
    current_tick() = tick;
    const std::uint8_t op = in.u8();
    // A listed key most of the time, else any short key.
    const std::string key = (!keys.empty() && op & 0x80) ? keys[in.u8() % keys.size()] : decode_key(in);
    const memlog::Result<std::size_t> shard = model_sharder.shard(key, options.shards);
    if (shard) MEMLOG_FUZZ_CHECK(*shard < options.shards);

    switch (op % 8) {
      case 0:
      case 1: {  // write
        std::string data = decode_data(in, options.log.max_record_size);
        const auto got = (tick % 2 == 0) ? log.write(key, data) : log.write(key, std::string_view(data));
        if (!shard) {
          MEMLOG_FUZZ_CHECK(!got && got.error() == shard.error());
        } else {
          const auto want = model_of(*shard).write(data, tick_time(tick));
          MEMLOG_FUZZ_CHECK(got.has_value() == want.has_value());
          MEMLOG_FUZZ_CHECK(got.has_value() ? *got == *want : got.error() == want.error());
        }
        break;
      }
      case 2: {  // read
        if (!shard) {
          const auto got = log.read(key, 0);
          MEMLOG_FUZZ_CHECK(!got && got.error() == shard.error());
          break;
        }
        const ModelLog& m = model_of(*shard);
        const Offset at = m.pick_offset(in);
        MEMLOG_FUZZ_CHECK(matches(log.read(key, at), m, at, m.read_error(at)));
        break;
      }
      case 3: {  // range
        const auto got = log.range(key);
        if (!shard) {
          MEMLOG_FUZZ_CHECK(!got && got.error() == shard.error());
        } else {
          MEMLOG_FUZZ_CHECK(got && *got == model_of(*shard).range());
        }
        break;
      }
      case 4: {  // open a stream on the key's shard
        Slot& slot = slots[in.u8() % stream_slots];
        if (!shard) {
          const auto got = log.stream(key, 0);
          MEMLOG_FUZZ_CHECK(!got && got.error() == shard.error());
          break;
        }
        const Offset start = model_of(*shard).pick_offset(in);
        slot.stop = std::stop_source{};
        auto got = log.stream(key, start, slot.stop.get_token());
        MEMLOG_FUZZ_CHECK(got.has_value());
        slot.stream.emplace(std::move(*got));
        slot.shard = *shard;
        slot.model = ModelStream{start, std::nullopt, false};
        break;
      }
      case 5:
      case 6: {  // step a stream without waiting
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        const ModelLog& m = model_of(slot.shard);
        const Offset before = slot.model.position;
        const auto got = slot.stream->next_for(std::chrono::nanoseconds(0));
        const std::optional<Errc> want = slot.model.step(m);
        if (want) {
          MEMLOG_FUZZ_CHECK(!got && is(got.error(), *want));
        } else {
          MEMLOG_FUZZ_CHECK(got && same_record(*got, m.at(before)));
        }
        MEMLOG_FUZZ_CHECK(slot.stream->position() == slot.model.position);
        break;
      }
      default: {  // stop a stream
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        slot.stop.request_stop();
        slot.model.stop = true;
        break;
      }
    }
  }

  // Every shard the model knows reads back in full through any key of it.
  for (const std::string& k : keys) {
    const auto shard = model_sharder.shard(k, options.shards);
    if (!shard) continue;
    const ModelLog& m = model_of(*shard);
    const memlog::OffsetRange r = m.range();
    const auto got = log.range(k);
    MEMLOG_FUZZ_CHECK(got && *got == r);
    if (r.earliest < 0) continue;
    for (Offset o = r.earliest; o <= r.latest; ++o) MEMLOG_FUZZ_CHECK(matches(log.read(k, o), m, o, std::nullopt));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  const std::uint8_t head = in.u8();
  memlog::sharded::Options options;
  options.shards = head % 16 == 15 ? (head >> 4) % 2 : 2 + head % 7;  // 0 or 1 (invalid) now and then, else 2..8
  DecodedOptions decoded = decode_options(in);
  options.log = std::move(decoded.options);
  current_tick() = 0;
  const bool valid = decoded.valid && options.shards > 1;

  // Keys: listed for KeySharder, and the ones FnvSharder runs mostly use.
  std::vector<std::string> keys(in.u8() % 10);
  for (std::string& k : keys) k = decode_key(in);

  if (head & 0x80) {
    run(in, options, valid, memlog::sharded::KeySharder(keys), ModelKeys{keys}, keys);
  } else {
    run(in, options, valid, memlog::sharded::FnvSharder{}, ModelFnv{}, keys);
  }
  return 0;
}
