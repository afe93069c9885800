// Differential fuzz target: memlog::Log<std::string> and its streams against
// ModelLog and ModelStream (fuzz_common.hpp). The input decodes into options
// (tiny segments, start offsets near INT64_MAX, small max_record_size,
// max_age and max_segment_bytes, a mock clock's start; sometimes invalid) and
// a sequence of operations, among them moves of the mock clock and close();
// after every operation range(), next_offset(), stats() and closed() must
// agree too.
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
constexpr unsigned kinds = 20;

struct Slot {
  std::optional<Stream> stream;
  ModelStream model;
  std::stop_source stop;
};

// How a step asks the stream for its next record.
enum class Call { next, next_for_zero, next_for_negative, next_until_past };

// One step of a stream, checked against the model. `next` (which blocks)
// only where the model says the stream will not wait.
void step(Slot& slot, const ModelLog& model, Call call) {
  const Clock::time_point now = mock_now();
  if (call == Call::next && slot.model.would_wait(model, now)) call = Call::next_for_zero;
  const std::optional<Errc> want = slot.model.step(model, now);
  Stream& s = *slot.stream;
  switch (call) {
    case Call::next: check_step(s.next(), s, slot.model, want, model); break;
    case Call::next_for_zero: check_step(s.next_for(std::chrono::nanoseconds(0)), s, slot.model, want, model); break;
    case Call::next_for_negative:
      check_step(s.next_for(std::chrono::milliseconds(-5)), s, slot.model, want, model);
      break;
    case Call::next_until_past:
      check_step(s.next_until(std::chrono::steady_clock::now() - std::chrono::seconds(1)), s, slot.model, want,
                 model);
      break;
  }
}

// Reads a stream through its iterator for as long as the model says it will
// not wait (the iterator blocks), up to `limit` records.
void iterate(Slot& slot, const ModelLog& model, std::size_t limit) {
  const Clock::time_point now = mock_now();
  if (slot.model.would_wait(model, now)) return;
  Stream& s = *slot.stream;
  auto it = s.begin();
  for (std::size_t i = 0;; ++i) {
    const std::optional<Errc> want = slot.model.step(model, now);
    MEMLOG_FUZZ_CHECK(!want || *want != Errc::timed_out);
    if (want) {
      MEMLOG_FUZZ_CHECK(it == s.end() && is(s.error(), *want));
    } else {
      MEMLOG_FUZZ_CHECK(it != s.end() && same_record(*it, model.at(slot.model.position - 1)));
    }
    MEMLOG_FUZZ_CHECK(s.position() == slot.model.position && s.skipped() == slot.model.skipped);
    if (want || i + 1 >= limit || slot.model.would_wait(model, now)) return;
    ++it;
  }
}

void run(Input& in) {
  const DecodedOptions decoded = decode_options(in);
  if (!construct_checked(decoded.valid, [&] { Log probe(decoded.options); })) return;

  Log log(decoded.options);
  ModelLog model(decoded.options);
  MEMLOG_FUZZ_CHECK(log.options().start_offset == decoded.options.start_offset);
  MEMLOG_FUZZ_CHECK(log.options().max_segment_size == decoded.options.max_segment_size);
  MEMLOG_FUZZ_CHECK(log.options().max_record_size == decoded.options.max_record_size);
  MEMLOG_FUZZ_CHECK(log.options().max_segment_bytes == decoded.options.max_segment_bytes);
  MEMLOG_FUZZ_CHECK(log.options().max_age == decoded.options.max_age);
  check_state(log, model, mock_now());

  // After the log: destroyed first, as the log must outlive its streams.
  std::array<Slot, stream_slots> slots;
  std::vector<Record> batch(max_batch, Record{memlog::Header{-7, {}}, "sentinel"});

  while (!in.empty()) {
    const std::uint8_t op = in.u8();
    const unsigned kind = op % kinds;
    const unsigned variant = op / kinds;
    switch (kind) {
      case 0:
      case 1: {  // write
        std::string data = decode_data(in, model.max_record_size());
        const auto want = model.write(data, mock_now());
        // Both write paths: a T, or the bytes (copied into the segment).
        check_write(variant % 2 == 0 ? log.write(std::move(data)) : log.write(std::string_view(data)), want);
        break;
      }
      case 2: {  // burst of writes, to rotate segments; the clock may tick between them
        const std::size_t n = 1 + in.u8() % (3 * std::min<std::size_t>(model.segment(), 40));
        const std::uint8_t pace = in.u8();
        const Ticks tick = (pace & 0x80) ? pace % 16 : 0;
        const std::size_t sizes = std::min<std::size_t>(model.max_record_size(), 1 + pace % 16);
        for (std::size_t i = 0; i < n; ++i) {
          if (i > 0) mock_now() = sat_add(mock_now(), tick);
          std::string data(1 + i % sizes, static_cast<char>('a' + i % 26));
          const auto want = model.write(data, mock_now());
          check_write(log.write(std::move(data)), want);
        }
        break;
      }
      case 3: {  // read
        const Offset at = model.pick_offset(in, mock_now());
        MEMLOG_FUZZ_CHECK(matches(log.read(at), model, at, model.read_error(at, mock_now())));
        break;
      }
      case 4: {  // zero-copy read with a visitor that returns a value
        const Offset at = model.pick_offset(in, mock_now());
        const auto got = log.read(at, [](const Log::view_type& r) { return r.to_record(); });
        MEMLOG_FUZZ_CHECK(matches(got, model, at, model.read_error(at, mock_now())));
        break;
      }
      case 5: {  // zero-copy read with a void visitor, which asks the log what a visitor may
        const Offset at = model.pick_offset(in, mock_now());
        int calls = 0;
        bool same = false;
        const memlog::Result<void> visited = log.read(at, [&](const Log::view_type& r) {
          ++calls;
          same = same_record(r.to_record(), model.at(at));
          check_state_in_visitor(log, model);
        });
        const std::error_code ec = visited.error();
        if (const auto want = model.read_error(at, mock_now())) {
          MEMLOG_FUZZ_CHECK(is(ec, *want) && calls == 0);
        } else {
          MEMLOG_FUZZ_CHECK(!ec && calls == 1 && same);
        }
        break;
      }
      case 6: {  // read_batch
        const Offset start = model.pick_offset(in, mock_now());
        const std::size_t size = in.u8() % (max_batch + 1);
        const std::vector<Record> before = batch;
        const memlog::ReadBatchResult got = log.read_batch(start, std::span<Record>(batch.data(), size));
        check_batch(got, batch, before, size, model, start, mock_now());
        break;
      }
      case 7: {  // offset_at
        const Clock::time_point t = model.pick_time(in, mock_now());
        MEMLOG_FUZZ_CHECK(log.offset_at(t) == model.offset_at(t, mock_now()));
        break;
      }
      case 8: {  // open a stream, with or without StreamOptions
        Slot& slot = slots[in.u8() % stream_slots];
        const Offset start = model.pick_offset(in, mock_now());
        std::stop_source stop;
        if (variant % 3 == 0) {
          slot.stream.emplace(log.stream(start, stop.get_token()));
          slot.model = ModelStream{start, memlog::Reset::none, 0, std::nullopt, false};
        } else {
          const DecodedStreamOptions options = decode_stream_options(in);
          std::optional<Stream> made;
          if (!construct_checked(options.valid, [&] { made.emplace(log.stream(start, stop.get_token(), options.options)); })) {
            break;
          }
          slot.stream = std::move(made);
          slot.model = ModelStream{start, options.options.reset, 0, std::nullopt, false};
        }
        slot.stop = std::move(stop);
        MEMLOG_FUZZ_CHECK(slot.stream->position() == start && !slot.stream->error() && slot.stream->skipped() == 0);
        break;
      }
      case 9:
      case 10:
      case 11: {  // step a stream: blocking where the model says it will not wait, else without waiting
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        step(slot, model, static_cast<Call>(variant % 4));
        break;
      }
      case 12: {  // request stop
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        slot.stop.request_stop();
        slot.model.stop = true;
        break;
      }
      case 13: {  // move a stream to another slot, or drop it
        const std::uint8_t arg = in.u8();
        Slot& from = slots[arg % stream_slots];
        Slot& to = slots[(arg >> 2) % stream_slots];
        if (&from == &to) {
          from.stream.reset();
        } else if (from.stream) {
          to.stream = std::move(from.stream);
          to.model = from.model;
          to.stop = from.stop;
          // A moved-from stream has ended.
          const auto moved_from = from.stream->next_for(std::chrono::nanoseconds(0));
          MEMLOG_FUZZ_CHECK(!moved_from && is(moved_from.error(), Errc::cancelled));
          MEMLOG_FUZZ_CHECK(is(from.stream->error(), Errc::cancelled));
          from.stream.reset();
        }
        break;
      }
      case 14:
      case 15:
      case 16:  // move the mock clock
        step_clock(in, model.age());
        break;
      case 17: {  // drain a stream, step by step
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        const std::size_t steps = 1 + in.u8() % 64;
        for (std::size_t i = 0; i < steps && !slot.model.ended; ++i) {
          if (slot.model.would_wait(model, mock_now())) break;
          step(slot, model, Call::next);
        }
        break;
      }
      case 18:  // close, now and then (the rest of the run then checks a closed log)
        if (variant % 3 == 0) {
          log.close();
          model.close();
        }
        break;
      default: {  // read a stream through its iterator
        Slot& slot = slots[in.u8() % stream_slots];
        if (!slot.stream) break;
        iterate(slot, model, 1 + in.u8() % 64);
        break;
      }
    }
    check_state(log, model, mock_now());
  }

  // Everything live reads back, one by one and as one batch.
  const Clock::time_point now = mock_now();
  const memlog::OffsetRange r = model.range(now);
  if (r.earliest >= 0) {
    for (Offset o = r.earliest; o <= r.latest; ++o) MEMLOG_FUZZ_CHECK(matches(log.read(o), model, o, std::nullopt));
    const std::vector<Record> before = batch;
    check_batch(log.read_batch(r.earliest, batch), batch, before, batch.size(), model, r.earliest, now);
  }

  // Once closed, every stream delivers what it can still read and then ends
  // instead of waiting (bounded: a stream far behind is left where it is).
  log.close();
  model.close();
  check_state(log, model, now);
  for (Slot& slot : slots) {
    if (!slot.stream) continue;
    for (int i = 0; i < 300 && !slot.model.ended; ++i) {
      MEMLOG_FUZZ_CHECK(!slot.model.would_wait(model, now));
      step(slot, model, Call::next);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  run(in);
  return 0;
}
