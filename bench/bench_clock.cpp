// What the default timestamp costs: detail::wall_clock_now() (what a write
// stamps when Options::clock is empty) against a bare system_clock::now(),
// alone and inside write(), back to back and with a busy-wait between calls
// (a sparse writer: a clock that caches or extrapolates may take its slow path).
//
// The sparse benchmarks time one call at a time with steady_clock (manual
// time), so their figures include one steady_clock bracket: BM_sparse_bracket
// measures that bracket alone, at the same gaps, to subtract.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <memlog/memlog.hpp>

#include "bench_util.hpp"

namespace {

using Log = memlog::Log<std::string>;
using Time = std::chrono::system_clock::time_point;

constexpr std::size_t segment_size = 1000;

// A clock that costs almost nothing, to show the clock's share of a write.
Time fixed_time() { return Time(std::chrono::seconds(1'700'000'000)); }

// ---- Back to back ----------------------------------------------------------

void BM_now_system_clock(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(std::chrono::system_clock::now());
}
BENCHMARK(BM_now_system_clock);

void BM_now_default(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(memlog::detail::wall_clock_now());
}
BENCHMARK(BM_now_default);

void write_dense(benchmark::State& state, memlog::Options options) {
  options.max_segment_size = segment_size;
  Log log(options);
  for (auto _ : state) {
    auto offset = log.write(bench::payload);
    if (!offset) state.SkipWithError("write failed");
    benchmark::DoNotOptimize(offset);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_write_default_clock(benchmark::State& state) { write_dense(state, {}); }
BENCHMARK(BM_write_default_clock);

void BM_write_fixed_clock(benchmark::State& state) { write_dense(state, {.clock = fixed_time}); }
BENCHMARK(BM_write_fixed_clock);

// ---- One call every range(0) ns --------------------------------------------

// Busy-waits (a sleep's wake-up jitter would swamp the call) until the next
// multiple of the gap, then times `call` alone. One interrupt inside a timed
// call would dominate the mean of a few hundred calls, so the median and the
// 90th percentile are reported too (counters p50_ns, p90_ns).
template <class Call>
void sparse(benchmark::State& state, Call call) {
  const std::int64_t gap_ns = state.range(0);
  std::vector<std::int64_t> samples;
  samples.reserve(static_cast<std::size_t>(state.max_iterations));
  std::int64_t next = bench::now_ns();
  for (auto _ : state) {
    next += gap_ns;
    bench::spin_until(next);
    const auto start = bench::steady::now();
    call();
    const auto stop = bench::steady::now();
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
  }
  std::sort(samples.begin(), samples.end());
  const auto at = [&samples](double q) {
    return static_cast<double>(samples[static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1))]);
  };
  state.counters["p50_ns"] = at(0.5);
  state.counters["p90_ns"] = at(0.9);
}

void sparse_write(benchmark::State& state, memlog::Options options) {
  options.max_segment_size = segment_size;
  Log log(options);
  sparse(state, [&log, &state] {
    auto offset = log.write(bench::payload);
    if (!offset) state.SkipWithError("write failed");
    benchmark::DoNotOptimize(offset);
  });
}

void BM_sparse_bracket(benchmark::State& state) {
  sparse(state, [] {});
}
void BM_sparse_now_system_clock(benchmark::State& state) {
  sparse(state, [] { benchmark::DoNotOptimize(std::chrono::system_clock::now()); });
}
void BM_sparse_now_default(benchmark::State& state) {
  sparse(state, [] { benchmark::DoNotOptimize(memlog::detail::wall_clock_now()); });
}
void BM_sparse_write_default_clock(benchmark::State& state) { sparse_write(state, {}); }
void BM_sparse_write_fixed_clock(benchmark::State& state) { sparse_write(state, {.clock = fixed_time}); }

// 10 us, 100 us and 2 ms between calls. A fixed count: with manual time a
// minimum time would count only the timed calls, not the gaps.
void sparse_gaps(benchmark::internal::Benchmark* b) {
  b->Arg(10'000)->Arg(100'000)->Arg(2'000'000)->UseManualTime()->Iterations(400);
}

BENCHMARK(BM_sparse_bracket)->Apply(sparse_gaps);
BENCHMARK(BM_sparse_now_system_clock)->Apply(sparse_gaps);
BENCHMARK(BM_sparse_now_default)->Apply(sparse_gaps);
BENCHMARK(BM_sparse_write_default_clock)->Apply(sparse_gaps);
BENCHMARK(BM_sparse_write_fixed_clock)->Apply(sparse_gaps);

}  // namespace

BENCHMARK_MAIN();
