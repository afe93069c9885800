// Heap per record of memlog::Log<std::string> holding 32-byte records,
// measured with mallinfo2 (in-use bytes, mmapped blocks included): the
// records' vector slots plus each string's own heap block.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>

#include <memlog/memlog.hpp>

#include "bench_util.hpp"

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

}  // namespace

BENCHMARK_MAIN();
