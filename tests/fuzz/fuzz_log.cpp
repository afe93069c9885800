// Differential fuzz target: memlog::Log<std::string> and its streams against
// ModelLog (fuzz_common.hpp). The input decodes into options (tiny segments,
// start offsets near INT64_MAX, small max_record_size, sometimes invalid) and
// a sequence of operations; after every operation range() must agree too.
#include "fuzz_common.hpp"

#include <array>
#include <optional>
#include <stop_token>
#include <utility>
#include <vector>

namespace {

using namespace memlog_fuzz;
using Log = memlog::Log<std::string>;
using Stream = memlog::Stream<std::string>;
using Record = memlog::Record<std::string>;

constexpr std::size_t stream_slots = 4;
constexpr std::size_t max_batch = 12;

struct Slot {
  std::optional<Stream> stream;
  ModelStream model;
  std::stop_source stop;
};

// Checks a stream's answer against the model's step.
template <class R>
void check_step(const R& got, Slot& slot, const ModelLog& model) {
  const Offset before = slot.model.position;
  const std::optional<Errc> want = slot.model.step(model);
  if (want) {
    MEMLOG_FUZZ_CHECK(!got.has_value() && is(got.error(), *want));
  } else {
    MEMLOG_FUZZ_CHECK(got.has_value() && same_record(*got, model.at(before)));
  }
  MEMLOG_FUZZ_CHECK(slot.stream->position() == slot.model.position);
  if (slot.model.ended) {
    MEMLOG_FUZZ_CHECK(is(slot.stream->error(), *slot.model.ended));
  } else {
    MEMLOG_FUZZ_CHECK(!slot.stream->error());
  }
}

void run(Input& in) {
  const DecodedOptions decoded = decode_options(in);
  current_tick() = 0;
  if (!construct_checked(decoded.valid, [&] { Log probe(decoded.options); })) return;

  Log log(decoded.options);
  ModelLog model(decoded.options);
  MEMLOG_FUZZ_CHECK(log.options().start_offset == decoded.options.start_offset);
  MEMLOG_FUZZ_CHECK(log.options().max_segment_size == decoded.options.max_segment_size);
  MEMLOG_FUZZ_CHECK(log.options().max_record_size == decoded.options.max_record_size);

  std::array<Slot, stream_slots> slots;
  std::vector<Record> batch(max_batch, Record{memlog::Header{-7, {}}, "sentinel"});

  for (std::int64_t tick = 1; !in.empty(); ++tick) {
    current_tick() = tick;
    const std::uint8_t op = in.u8();
    switch (op % 14) {
      case 0:
      case 1: {  // write
        std::string data = decode_data(in, model.max_record_size());
        const auto want = model.write(data, tick_time(tick));
        // Both write paths: a T, or the bytes (copied into the segment).
        const auto got = (tick % 2 == 0) ? log.write(std::move(data)) : log.write(std::string_view(data));
        MEMLOG_FUZZ_CHECK(got.has_value() == want.has_value());
        MEMLOG_FUZZ_CHECK(got.has_value() ? *got == *want : got.error() == want.error());
        break;
      }
      case 2: {  // burst of writes, to rotate segments
        const std::size_t n = 1 + in.u8() % (3 * std::min<std::size_t>(model.segment(), 40));
        for (std::size_t i = 0; i < n; ++i) {
          std::string data(1 + i % std::min<std::size_t>(model.max_record_size(), 9), static_cast<char>('a' + i % 26));
          const auto want = model.write(data, tick_time(tick));
          const auto got = log.write(std::move(data));
          MEMLOG_FUZZ_CHECK(got.has_value() == want.has_value());
          MEMLOG_FUZZ_CHECK(got.has_value() ? *got == *want : got.error() == want.error());
        }
        break;
      }
      case 3: {  // read
        const Offset at = model.pick_offset(in);
        MEMLOG_FUZZ_CHECK(matches(log.read(at), model, at, model.read_error(at)));
        break;
      }
      case 4: {  // zero-copy read with a visitor that returns a value
        const Offset at = model.pick_offset(in);
        const auto got = log.read(at, [](const Log::view_type& r) { return r.to_record(); });
        MEMLOG_FUZZ_CHECK(matches(got, model, at, model.read_error(at)));
        break;
      }
      case 5: {  // zero-copy read with a void visitor
        const Offset at = model.pick_offset(in);
        int calls = 0;
        bool same = false;
        const memlog::Result<void> visited = log.read(at, [&](const Log::view_type& r) {
          ++calls;
          same = same_record(r.to_record(), model.at(at));
        });
        const std::error_code ec = visited.error();
        const auto want = model.read_error(at);
        if (want) {
          MEMLOG_FUZZ_CHECK(is(ec, *want) && calls == 0);
        } else {
          MEMLOG_FUZZ_CHECK(!ec && calls == 1 && same);
        }
        break;
      }
      case 6: {  // read_batch
        const Offset start = model.pick_offset(in);
        const std::size_t size = in.u8() % (max_batch + 1);
        const std::vector<Record> before = batch;
        const memlog::ReadBatchResult got = log.read_batch(start, std::span<Record>(batch.data(), size));
        std::size_t want_count = 0;
        std::error_code want_error;
        if (size > 0) {
          if (const auto e = model.read_error(start)) {
            want_error = *e;
          } else {
            const auto available = static_cast<std::uint64_t>(model.next() - start);
            want_count = static_cast<std::size_t>(std::min<std::uint64_t>(available, size));
            if (want_count < size) want_error = Errc::future_offset;
          }
        }
        MEMLOG_FUZZ_CHECK(got.count == want_count);
        MEMLOG_FUZZ_CHECK(got.error == want_error);
        for (std::size_t i = 0; i < want_count; ++i) {
          MEMLOG_FUZZ_CHECK(same_record(batch[i], model.at(start + static_cast<Offset>(i))));
        }
        for (std::size_t i = want_count; i < max_batch; ++i) {
          MEMLOG_FUZZ_CHECK(same_record(batch[i], before[i]));  // beyond count: untouched
        }
        break;
      }
      case 7: {  // range (also checked after every operation)
        const memlog::OffsetRange r = log.range();
        MEMLOG_FUZZ_CHECK(r.earliest <= r.latest);
        break;
      }
      case 8: {  // open a stream
        Slot& slot = slots[in.u8() % stream_slots];
        const Offset start = model.pick_offset(in);
        slot.stop = std::stop_source{};
        slot.stream.emplace(log.stream(start, slot.stop.get_token()));
        slot.model = ModelStream{start, std::nullopt, false};
        MEMLOG_FUZZ_CHECK(slot.stream->position() == start && !slot.stream->error());
        break;
      }
      case 9:
      case 10:
      case 11: {  // step a stream without waiting
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        if (op % 14 == 9) {
          check_step(slot.stream->next_for(std::chrono::nanoseconds(0)), slot, model);
        } else if (op % 14 == 10) {
          check_step(slot.stream->next_for(std::chrono::milliseconds(-5)), slot, model);
        } else {
          check_step(slot.stream->next_until(std::chrono::steady_clock::now() - std::chrono::seconds(1)), slot,
                     model);
        }
        break;
      }
      case 12: {  // request stop
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        slot.stop.request_stop();
        slot.model.stop = true;
        break;
      }
      default: {  // move a stream to another slot, or drop it
        const std::uint8_t arg = in.u8();
        Slot& from = slots[arg % stream_slots];
        Slot& to = slots[(arg >> 2) % stream_slots];
        if (&from == &to) {
          from.stream.reset();
        } else if (from.stream) {
          to.stream = std::move(from.stream);
          to.model = from.model;
          to.stop = from.stop;
          from.stream.reset();
        }
        break;
      }
    }
    MEMLOG_FUZZ_CHECK(log.range() == model.range());
  }

  // Everything retained reads back, one by one and as one batch.
  const memlog::OffsetRange r = model.range();
  if (r.earliest >= 0) {
    for (Offset o = r.earliest; o <= r.latest; ++o) MEMLOG_FUZZ_CHECK(matches(log.read(o), model, o, std::nullopt));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  run(in);
  return 0;
}
