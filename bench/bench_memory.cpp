// Heap held by memlog::Log<std::string>: per record of 32-byte records,
// measured with mallinfo2 (in-use bytes, mmapped blocks included): the
// records' vector slots plus each string's own heap block; and the peak
// while large records stream through a log bounded by max_segment_bytes
// (issue 13), counted by support/heap_counter.hpp's operator new and delete.

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include <memlog/memlog.hpp>

#include "bench_util.hpp"
#include "support/heap_counter.hpp"

namespace heap = memlog_test::heap;  // support/heap_counter.hpp

namespace {

using Log = memlog::Log<std::string>;

// Writes `writes` records into a fresh log of `segment` records per segment;
// reports heap per retained record.
void measure(benchmark::State& state, std::size_t segment, std::int64_t writes) {
  std::int64_t bytes = 0;
  std::int64_t retained = 0;
  for (auto _ : state) {
    const std::int64_t before = bench::heap_in_use();
    auto log = std::make_unique<Log>(memlog::Options{.max_segment_size = segment});
    for (std::int64_t i = 0; i < writes; ++i) {
      if (!log->write(bench::payload)) state.SkipWithError("write failed");
    }
    bytes = bench::heap_in_use() - before;
    const auto [earliest, latest] = log->range();
    retained = latest - earliest + 1;
    state.PauseTiming();  // freeing 1M strings is not what we measure
    log.reset();
    state.ResumeTiming();
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["records_retained"] = static_cast<double>(retained);
  state.counters["bytes_per_record"] = static_cast<double>(bytes) / static_cast<double>(retained);
}

// 1M records, all retained (segment 1<<20). Go: 88 bytes/record.
void BM_memory_per_record(benchmark::State& state) { measure(state, std::size_t{1} << 20, 1'000'000); }
BENCHMARK(BM_memory_per_record)->Iterations(1)->Unit(benchmark::kMillisecond);

// Segment 1000 after 100k writes: the steady state of a purging log
// (1000..2000 records retained, storage reused after each purge).
void BM_memory_steady_segment_1000(benchmark::State& state) { measure(state, 1000, 100'000); }
BENCHMARK(BM_memory_steady_segment_1000)->Iterations(1)->Unit(benchmark::kMillisecond);

// Issue 13: 1 GiB written as 2048 records of 512 KiB (one std::string the
// caller keeps, written with log.write(s)) into a Log<std::string> with
// max_segment_bytes = N MiB and the default max_segment_size (1024);
// /max_segment_bytes_MiB:0 is the log without a byte limit, which keeps all
// 2048 records (the Go library's 2 x 1000 x 512 KiB warning). Counters, from
// this file's operator new and delete, over the blocks allocated during the
// run: `peak_MiB`, the most bytes live at any moment (bytes asked for; the
// caller's 0.5 MiB string included); `peak_allocator_MiB`, the same in the
// allocator's block sizes; `held_MiB`, bytes live once the writes are done;
// `retained_payload_MiB` and `records` from stats() at the end.
void BM_memory_large_records(benchmark::State& state) {
  const auto limit = static_cast<std::size_t>(state.range(0)) << 20;
  constexpr std::size_t record_bytes = std::size_t{512} << 10;
  constexpr int writes = 2048;
  constexpr double mib = 1 << 20;
  heap::Sizes peak;
  heap::Sizes held;
  memlog::Stats stats;
  for (auto _ : state) {
    const heap::Measurement heap;
    {
      const std::string record(record_bytes, 'x');
      Log log({.max_segment_bytes = limit});
      for (int i = 0; i < writes; ++i) {
        if (!log.write(record)) state.SkipWithError("write failed");
      }
      held = heap.live();
      stats = log.stats();
      state.PauseTiming();  // freeing what it holds is not what we measure
    }
    peak = heap.peak();
    state.ResumeTiming();
  }
  state.counters["peak_MiB"] = static_cast<double>(peak.requested) / mib;
  state.counters["peak_allocator_MiB"] = static_cast<double>(peak.usable) / mib;
  state.counters["held_MiB"] = static_cast<double>(held.requested) / mib;
  state.counters["retained_payload_MiB"] = static_cast<double>(stats.bytes) / mib;
  state.counters["records"] = static_cast<double>(stats.records);
}
BENCHMARK(BM_memory_large_records)
    ->ArgName("max_segment_bytes_MiB")
    ->Arg(64)
    ->Arg(0)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
