// Differential fuzz target: memlog::sharded::Log<std::string> with FnvSharder
// and with KeySharder, against one ModelLog per shard (all on the one mock
// clock, with the options' max_age and max_segment_bytes). The model computes
// shards itself: FNV-1a 32 reduced as Go does; KeySharder as Go's: key i ->
// shard i, a key listed twice takes its last position and counts once, more
// distinct keys than shards -> too_many_keys before anything else, and (the
// log's rule) an index past the last shard -> shard_not_found. Besides the
// keyed calls it checks shard_of, each shard's Log (range, next_offset,
// stats, closed and offset_at after every operation or on demand), close()
// of one shard or of all, and streams with every reset policy.
#include "fuzz_common.hpp"

#include <algorithm>
#include <array>
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

constexpr std::size_t max_batch = 8;
constexpr unsigned kinds = 12;

template <class Sharder, class ModelSharder>
void run(Input& in, const memlog::sharded::Options& options, bool valid, Sharder sharder,
         const ModelSharder& model_sharder, const std::vector<std::string>& keys) {
  using Log = memlog::sharded::Log<std::string, Sharder>;
  if (!construct_checked(valid, [&] { Log probe(options, sharder); })) return;

  Log log(options, std::move(sharder));
  MEMLOG_FUZZ_CHECK(log.shards() == options.shards);
  // One model per shard; the shards share the options and the mock clock.
  std::vector<ModelLog> models(options.shards, ModelLog(options.log));
  const auto check_shards = [&] {
    for (std::size_t i = 0; i < models.size(); ++i) check_state(log.shard(i), models[i], mock_now());
  };
  check_shards();
  std::array<Slot, stream_slots> slots;
  std::vector<Record> batch(max_batch, Record{memlog::Header{-7, {}}, "sentinel"});

  while (!in.empty()) {
    const std::uint8_t op = in.u8();
    const unsigned kind = op % kinds;
    const unsigned variant = op / kinds;
    // A listed key most of the time, else any short key.
    const std::string key = (!keys.empty() && variant % 4 != 0) ? keys[in.u8() % keys.size()] : decode_key(in);
    const memlog::Result<std::size_t> shard = model_sharder.shard(key, options.shards);
    if (shard) MEMLOG_FUZZ_CHECK(*shard < options.shards);
    const auto got_shard = log.shard_of(key);
    MEMLOG_FUZZ_CHECK(shard ? got_shard && *got_shard == *shard : !got_shard && got_shard.error() == shard.error());

    switch (kind) {
      case 0:
      case 1: {  // write
        std::string data = decode_data(in, options.log.max_record_size);
        const auto got = (variant % 2 == 0) ? log.write(key, data) : log.write(key, std::string_view(data));
        if (!shard) {
          MEMLOG_FUZZ_CHECK(!got && got.error() == shard.error());
        } else {
          check_write(got, models[*shard].write(data, mock_now()));
        }
        break;
      }
      case 2: {  // read: a copy, or zero-copy with a visitor
        if (!shard) {
          const auto got = log.read(key, 0);
          MEMLOG_FUZZ_CHECK(!got && got.error() == shard.error());
          const auto visited = log.read(key, 0, [](const auto&) { return 1; });
          MEMLOG_FUZZ_CHECK(!visited && visited.error() == shard.error());
          break;
        }
        const ModelLog& m = models[*shard];
        const Offset at = m.pick_offset(in, mock_now());
        const auto want = m.read_error(at, mock_now());
        if (variant % 2 == 0) {
          MEMLOG_FUZZ_CHECK(matches(log.read(key, at), m, at, want));
        } else {
          const auto got = log.read(key, at, [](const auto& r) { return r.to_record(); });
          MEMLOG_FUZZ_CHECK(matches(got, m, at, want));
        }
        break;
      }
      case 3: {  // range
        const auto got = log.range(key);
        if (!shard) {
          MEMLOG_FUZZ_CHECK(!got && got.error() == shard.error());
        } else {
          MEMLOG_FUZZ_CHECK(got && *got == models[*shard].range(mock_now()));
        }
        break;
      }
      case 4: {  // open a stream on the key's shard
        Slot& slot = slots[in.u8() % stream_slots];
        const DecodedStreamOptions so = decode_stream_options(in);
        if (!shard) {
          const auto got = log.stream(key, 0);
          MEMLOG_FUZZ_CHECK(!got && got.error() == shard.error());
          break;
        }
        const Offset start = models[*shard].pick_offset(in, mock_now());
        std::stop_source stop;
        std::optional<memlog::Result<memlog::Stream<std::string>>> got;
        if (!construct_checked(so.valid, [&] { got.emplace(log.stream(key, start, stop.get_token(), so.options)); })) {
          break;
        }
        MEMLOG_FUZZ_CHECK(got->has_value());
        slot.stream.emplace(std::move(**got));
        slot.shard = *shard;
        slot.model = ModelStream{start, so.options.reset, 0, std::nullopt, false};
        slot.stop = std::move(stop);
        break;
      }
      case 5:
      case 6: {  // step a stream: blocking where the model says it will not wait
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        const ModelLog& m = models[slot.shard];
        const bool block = variant % 2 == 0 && !slot.model.would_wait(m, mock_now());
        const std::optional<Errc> want = slot.model.step(m, mock_now());
        if (block) {
          check_step(slot.stream->next(), *slot.stream, slot.model, want, m);
        } else {
          check_step(slot.stream->next_for(std::chrono::nanoseconds(0)), *slot.stream, slot.model, want, m);
        }
        break;
      }
      case 7: {  // stop a stream
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        slot.stop.request_stop();
        slot.model.stop = true;
        break;
      }
      case 8:  // move the mock clock
        step_clock(in, models.front().age());
        break;
      case 9: {  // read_batch
        if (!shard) {
          const auto got = log.read_batch(key, 0, batch);
          MEMLOG_FUZZ_CHECK(got.count == 0 && got.error == shard.error());
          break;
        }
        const ModelLog& m = models[*shard];
        const Offset start = m.pick_offset(in, mock_now());
        const std::size_t size = in.u8() % (max_batch + 1);
        const std::vector<Record> before = batch;
        const memlog::ReadBatchResult got = log.read_batch(key, start, std::span<Record>(batch.data(), size));
        check_batch(got, batch, before, size, m, start, mock_now());
        break;
      }
      case 10: {  // a shard's own Log: offset_at (the state is checked below); an index past the end throws
        const std::size_t index = in.u8() % (options.shards + 1);
        if (index == options.shards) {
          bool threw = false;
          try {
            (void)log.shard(index);
          } catch (const std::out_of_range&) {
            threw = true;
          }
          MEMLOG_FUZZ_CHECK(threw);
          break;
        }
        const Clock::time_point t = models[index].pick_time(in, mock_now());
        MEMLOG_FUZZ_CHECK(std::as_const(log).shard(index).offset_at(t) == models[index].offset_at(t, mock_now()));
        break;
      }
      default:  // close one shard, or (rarely) all of them
        if (variant % 4 == 0) {
          log.close();
          for (ModelLog& m : models) m.close();
        } else if (variant % 4 == 1 && shard) {
          log.shard(*shard).close();
          models[*shard].close();
        }
        break;
    }
    check_shards();
  }

  // Every shard the model knows reads back in full through any key of it.
  for (const std::string& k : keys) {
    const auto shard = model_sharder.shard(k, options.shards);
    if (!shard) continue;
    const ModelLog& m = models[*shard];
    const memlog::OffsetRange r = m.range(mock_now());
    const auto got = log.range(k);
    MEMLOG_FUZZ_CHECK(got && *got == r);
    if (r.earliest < 0) continue;
    for (Offset o = r.earliest; o <= r.latest; ++o) MEMLOG_FUZZ_CHECK(matches(log.read(k, o), m, o, std::nullopt));
  }

  // Once closed, every stream delivers what it can still read and ends.
  log.close();
  for (ModelLog& m : models) m.close();
  check_shards();
  for (Slot& slot : slots) {
    if (!slot.stream) continue;
    const ModelLog& m = models[slot.shard];
    for (int i = 0; i < 300 && !slot.model.ended; ++i) {
      MEMLOG_FUZZ_CHECK(!slot.model.would_wait(m, mock_now()));
      const std::optional<Errc> want = slot.model.step(m, mock_now());
      check_step(slot.stream->next(), *slot.stream, slot.model, want, m);
    }
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
