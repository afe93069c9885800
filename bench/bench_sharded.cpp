// memlog::sharded::Log<std::string>: write and read across 1000 keys
// ("key-0" .. "key-999", round robin) hashed onto 1000 shards of segment
// 1000, and the heap an idle sharded log of 1000 shards holds.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <memlog/sharded.hpp>

#include "bench_util.hpp"

namespace {

using ShardedLog = memlog::sharded::Log<std::string>;

constexpr std::size_t key_count = 1000;

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v;
    for (std::size_t i = 0; i < key_count; ++i) v.push_back("key-" + std::to_string(i));
    return v;
  }();
  return k;
}

memlog::sharded::Options options() { return {.shards = 1000, .log = {.max_segment_size = 1000}}; }

// Shared by the threads of one run; built by thread 0 before the timed loop.
std::unique_ptr<ShardedLog> shared_log;

void BM_sharded_write(benchmark::State& state) {
  const auto& k = keys();
  if (state.thread_index() == 0) shared_log = std::make_unique<ShardedLog>(options());
  // Threads start half the key space apart, so they mostly hit different shards.
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * key_count / 2;
  for (auto _ : state) {
    auto offset = shared_log->write(k[i % key_count], bench::payload);
    if (!offset) state.SkipWithError("write failed");
    benchmark::DoNotOptimize(offset);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared_log.reset();
}
BENCHMARK(BM_sharded_write)->Threads(1)->Threads(2)->UseRealTime();

void BM_sharded_read(benchmark::State& state) {
  const auto& k = keys();
  if (state.thread_index() == 0) {
    shared_log = std::make_unique<ShardedLog>(options());
    for (const auto& key : k) (void)shared_log->write(key, bench::payload);
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * key_count / 2;
  for (auto _ : state) {
    // Every key's shard holds offset 0 (keys that share a shard share it too).
    auto record = shared_log->read(k[i % key_count], 0);
    if (!record) state.SkipWithError("read failed");
    benchmark::DoNotOptimize(record);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) shared_log.reset();
}
BENCHMARK(BM_sharded_read)->Threads(1)->Threads(2)->UseRealTime();

// Heap held by a sharded log with default options (1000 shards, segment
// 1024) before anything is written. Go: 57.5 MB (it preallocates segments).
void BM_sharded_idle_memory(benchmark::State& state) {
  std::int64_t bytes = 0;
  for (auto _ : state) {
    const std::int64_t before = bench::heap_in_use();
    auto log = std::make_unique<ShardedLog>();
    bytes = bench::heap_in_use() - before;
    benchmark::DoNotOptimize(log.get());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["bytes_per_shard"] = static_cast<double>(bytes) / static_cast<double>(memlog::sharded::default_shards);
}
BENCHMARK(BM_sharded_idle_memory)->Iterations(10)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
