// memlog::Log<std::string> write and read costs, mirroring the Go library's
// BenchmarkLog_write / BenchmarkLog_read (32-byte payload, segment 1000, so
// the log purges a segment every 1000 writes).

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <memlog/memlog.hpp>

#include "bench_util.hpp"

namespace {

using Log = memlog::Log<std::string>;
using Record = memlog::Record<std::string>;

constexpr std::size_t segment_size = 1000;

// Shared by the threads of one multi-threaded run; thread 0 builds it before
// the timed loop and drops it after (Google Benchmark puts a barrier at both).
std::unique_ptr<Log> shared_log;

void BM_write(benchmark::State& state) {
  if (state.thread_index() == 0) shared_log = std::make_unique<Log>(memlog::Options{.max_segment_size = segment_size});
  for (auto _ : state) {
    auto offset = shared_log->write(bench::payload);  // the log copies the bytes, as Go's Write does
    if (!offset) state.SkipWithError("write failed");
    benchmark::DoNotOptimize(offset);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared_log.reset();
}
BENCHMARK(BM_write)->Threads(1)->Threads(2)->UseRealTime();

// The caller builds a std::string for every write (one allocation, freed by
// the log once it has copied the bytes): write(T) rather than write(bytes).
void BM_write_string(benchmark::State& state) {
  if (state.thread_index() == 0) shared_log = std::make_unique<Log>(memlog::Options{.max_segment_size = segment_size});
  for (auto _ : state) {
    auto offset = shared_log->write(std::string(bench::payload_string));
    if (!offset) state.SkipWithError("write failed");
    benchmark::DoNotOptimize(offset);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared_log.reset();
}
BENCHMARK(BM_write_string)->Threads(1)->Threads(2)->UseRealTime();

void BM_read(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_log = std::make_unique<Log>(memlog::Options{.max_segment_size = segment_size});
    (void)shared_log->write(bench::payload);
  }
  for (auto _ : state) {
    auto record = shared_log->read(0);  // an owning copy, as Go's read returns
    if (!record) state.SkipWithError("read failed");
    benchmark::DoNotOptimize(record);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared_log.reset();
}
BENCHMARK(BM_read)->Threads(1)->Threads(2)->UseRealTime();

void BM_read_zero_copy(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_log = std::make_unique<Log>(memlog::Options{.max_segment_size = segment_size});
    (void)shared_log->write(bench::payload);
  }
  for (auto _ : state) {
    auto size = shared_log->read(0, [](const Log::view_type& r) { return r.data.size(); });
    if (!size) state.SkipWithError("read failed");
    benchmark::DoNotOptimize(size);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared_log.reset();
}
BENCHMARK(BM_read_zero_copy)->Threads(1)->Threads(2)->UseRealTime();

// read_batch of 100 records into a reused batch (its strings keep their
// storage, so steady state copies without allocating); cost per record.
void BM_read_batch(benchmark::State& state) {
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  Log log({.max_segment_size = segment_size});
  for (std::size_t i = 0; i < segment_size; ++i) (void)log.write(bench::payload);
  std::vector<Record> batch(batch_size);
  memlog::Offset start = 0;
  for (auto _ : state) {
    const auto result = log.read_batch(start, batch);
    if (result.count != batch_size) state.SkipWithError("short batch");
    benchmark::DoNotOptimize(batch.data());
    benchmark::ClobberMemory();
    start += static_cast<memlog::Offset>(batch_size);
    if (start + static_cast<memlog::Offset>(batch_size) > static_cast<memlog::Offset>(segment_size)) start = 0;
  }
  const auto records = static_cast<double>(state.iterations()) * static_cast<double>(batch_size);
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
  // Rate inverted: seconds per record, scaled by 1e9 to read as nanoseconds.
  state.counters["ns_per_record"] =
      benchmark::Counter(records * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_read_batch)->Arg(100)->UseRealTime();

// Two threads, one million writes each, into one log; wall time per write.
// Fixed iterations (each a fresh log) so the figure is always 2 x 1M.
void BM_concurrent_write(benchmark::State& state) {
  constexpr int threads = 2;
  constexpr std::int64_t writes_per_thread = 1'000'000;
  std::vector<double> per_write;
  for (auto _ : state) {
    Log log({.max_segment_size = segment_size});
    std::latch start(threads + 1);
    std::atomic<int> failures{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
      writers.emplace_back([&] {
        start.arrive_and_wait();
        for (std::int64_t i = 0; i < writes_per_thread; ++i) {
          if (!log.write(bench::payload)) failures.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    start.arrive_and_wait();
    const auto t0 = bench::now_ns();
    for (auto& w : writers) w.join();
    const auto elapsed = static_cast<double>(bench::now_ns() - t0);
    if (failures.load() != 0) state.SkipWithError("write failed");
    state.SetIterationTime(elapsed * 1e-9);
    per_write.push_back(elapsed / (threads * writes_per_thread));
  }
  state.counters["ns_per_write"] = bench::median(per_write);
  state.counters["writes"] = threads * writes_per_thread;
  state.SetItemsProcessed(state.iterations() * threads * writes_per_thread);
}
BENCHMARK(BM_concurrent_write)->Iterations(5)->UseManualTime()->Unit(benchmark::kMillisecond);

// One reader (the benchmark thread) reading the newest record while another
// thread writes as fast as it can: what readers pay for sharing the lock
// with a busy writer, and what the writer still gets done.
void BM_read_beside_writer(benchmark::State& state) {
  Log log({.max_segment_size = segment_size});
  std::atomic<memlog::Offset> latest{log.write(bench::payload).value()};
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> writes{0};
  std::thread writer([&] {
    std::int64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (auto offset = log.write(bench::payload)) latest.store(*offset, std::memory_order_relaxed);
      ++n;
    }
    writes.store(n);
  });

  std::int64_t misses = 0;
  const auto t0 = bench::now_ns();
  for (auto _ : state) {
    auto record = log.read(latest.load(std::memory_order_relaxed));
    if (!record) ++misses;  // purged between the load and the read: very rare
    benchmark::DoNotOptimize(record);
  }
  const auto elapsed = static_cast<double>(bench::now_ns() - t0);
  stop.store(true);
  writer.join();
  state.SetItemsProcessed(state.iterations());
  state.counters["writer_ns_per_write"] = elapsed / static_cast<double>(std::max<std::int64_t>(writes.load(), 1));
  state.counters["misses"] = static_cast<double>(misses);
}
BENCHMARK(BM_read_beside_writer)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
