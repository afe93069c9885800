// memlog::Log<std::string> write and read costs: the Go library's
// BenchmarkLog_write / BenchmarkLog_read (32-byte payload, segment 1000, so
// the log purges a segment every 1000 writes), the three ways of writing a
// string, and writers and readers beside each other (issue 11); seek by
// time, retention options and stats() (issue 13).

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <latch>
#include <limits>
#include <memory>
#include <random>
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

// The three ways a user hands a Log<std::string> its record, in one run:
// log.write(s) with a std::string s the caller keeps, log.write(std::string_view(s)),
// and log.write(std::string(payload)) (a string built for the write and given
// away). Blocks of 1000 writes of each kind alternate on one log of segment
// 1000, so that every block holds exactly one rotation and all three see the
// same machine and the same allocator; the order of the kinds rotates from
// one iteration to the next. Counters: ns per write of each kind, and the
// ratio kept / view.
void BM_write_kinds(benchmark::State& state) {
  constexpr int block = 1000;
  Log log({.max_segment_size = segment_size});
  std::string kept(bench::payload);  // the string a user keeps and writes
  std::int64_t ns[3] = {0, 0, 0};
  std::int64_t failures = 0;
  std::int64_t round = 0;
  const auto timed = [&](auto&& write) {
    const std::int64_t t0 = bench::now_ns();
    for (int i = 0; i < block; ++i) {
      auto offset = write();
      failures += offset ? 0 : 1;
      benchmark::DoNotOptimize(offset);
    }
    return bench::now_ns() - t0;
  };
  for (auto _ : state) {
    std::int64_t elapsed = 0;
    for (std::int64_t k = 0; k < 3; ++k) {
      const auto kind = static_cast<std::size_t>((round + k) % 3);
      std::int64_t t = 0;
      if (kind == 0) {
        t = timed([&] { return log.write(kept); });
      } else if (kind == 1) {
        t = timed([&] { return log.write(std::string_view(kept)); });
      } else {
        t = timed([&] { return log.write(std::string(bench::payload)); });
      }
      ns[kind] += t;
      elapsed += t;
    }
    ++round;
    state.SetIterationTime(static_cast<double>(elapsed) * 1e-9);
  }
  if (failures != 0) state.SkipWithError("write failed");
  const double writes = static_cast<double>(state.iterations()) * block;
  state.SetItemsProcessed(state.iterations() * 3 * block);
  state.counters["ns_per_write_kept"] = static_cast<double>(ns[0]) / writes;
  state.counters["ns_per_write_view"] = static_cast<double>(ns[1]) / writes;
  state.counters["ns_per_write_fresh"] = static_cast<double>(ns[2]) / writes;
  state.counters["kept_over_view"] = static_cast<double>(ns[0]) / static_cast<double>(ns[1]);
}
BENCHMARK(BM_write_kinds)->UseManualTime();

// The benchmark thread reads the newest record with read(offset) while
// another thread writes flat out (log.write(s), a kept string), and reads it
// alone, in alternating blocks of 1000 reads: "alone" and "beside a busy
// writer" see the same machine. In the alone blocks the writer thread spins
// without touching the log, so that the other core is busy in both.
// Counters: ns per read beside the writer and alone, their ratio, and the
// writer's rate while it writes.
void BM_read_beside_writer(benchmark::State& state) {
  constexpr int block = 1000;
  Log log({.max_segment_size = segment_size});
  std::string kept(bench::payload);  // the string a user keeps and writes
  // `latest` is relaxed: it is only a hint of a recent offset (the log orders
  // the record itself). `phase` and `seen` are a handshake that carries no
  // data; release/acquire only keeps it easy to reason about.
  std::atomic<memlog::Offset> latest{log.write(kept).value()};
  std::atomic<std::int64_t> phase{0};  // odd: write flat out; even: idle
  std::atomic<std::int64_t> seen{0};   // the phase the writer last acted on
  std::atomic<bool> stop{false};
  std::int64_t writes = 0;             // read after join()
  std::int64_t writing_ns = 0;
  std::thread writer([&] {
    std::int64_t last = 0;
    std::int64_t since = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const std::int64_t p = phase.load(std::memory_order_acquire);
      if (p % 2 == 1) {
        if (last != p) since = bench::now_ns();
        if (auto offset = log.write(kept)) latest.store(*offset, std::memory_order_relaxed);
        ++writes;
      } else {
        if (last % 2 == 1) writing_ns += bench::now_ns() - since;
        bench::cpu_relax();
      }
      if (last != p) seen.store(p, std::memory_order_release);
      last = p;
    }
    if (last % 2 == 1) writing_ns += bench::now_ns() - since;
  });
  std::int64_t p = 0;
  const auto enter = [&](std::int64_t next) {
    p = next;
    phase.store(p, std::memory_order_release);
    while (seen.load(std::memory_order_acquire) != p) bench::cpu_relax();
  };

  std::int64_t ns[2] = {0, 0};  // [0]: alone, [1]: beside the writer
  std::int64_t misses = 0;
  for (auto _ : state) {
    std::int64_t elapsed = 0;
    for (int busy = 0; busy < 2; ++busy) {
      enter(p + 1);  // even -> odd (busy), odd -> even (alone)
      const int side = static_cast<int>(p % 2);
      const std::int64_t t0 = bench::now_ns();
      for (int i = 0; i < block; ++i) {
        auto record = log.read(latest.load(std::memory_order_relaxed));
        misses += record ? 0 : 1;  // purged between the load and the read: rare
        benchmark::DoNotOptimize(record);
      }
      const std::int64_t t = bench::now_ns() - t0;
      ns[side] += t;
      elapsed += t;
    }
    state.SetIterationTime(static_cast<double>(elapsed) * 1e-9);
  }
  stop.store(true, std::memory_order_relaxed);
  writer.join();
  const double reads = static_cast<double>(state.iterations()) * block;
  state.SetItemsProcessed(state.iterations() * 2 * block);
  state.counters["ns_per_read_busy"] = static_cast<double>(ns[1]) / reads;
  state.counters["ns_per_read_alone"] = static_cast<double>(ns[0]) / reads;
  state.counters["busy_over_alone"] = static_cast<double>(ns[1]) / static_cast<double>(ns[0]);
  state.counters["writer_writes_per_s"] =
      static_cast<double>(writes) / (static_cast<double>(std::max<std::int64_t>(writing_ns, 1)) * 1e-9);
  state.counters["misses"] = static_cast<double>(misses);
}
BENCHMARK(BM_read_beside_writer)->UseManualTime();

// Single-write latency while R threads call read_batch(…, 1000) flat out
// (what concurrent clients of the HTTP example's /records?limit=1000 do), on a
// Log<std::string> with default options (segment 1024, 32-byte records).
// The benchmark thread writes log.write(s) (a kept string) back to back for
// a window of 1 s and times every write (one steady_clock read per write,
// ~20 ns, included in every figure); /readers:0 is the baseline. A reader
// reads 1000 records from range().earliest each time (the log keeps
// 1024..2048), so every call holds the read side for 1000 copies.
// The readers stop when the window ends, or at the latest 2 s later: a write
// still blocked then is released by their leaving (capped = 1), so a worst
// write near 3 s means "starved until the readers stopped".
// Counters: p50 (ns), p99, p99.9 and worst (us) write latency, writes/s, and
// what the readers read (records/s, all readers together).
// With `burn`, the threads never touch the log: they only keep the cores
// busy, so the worst write shows what the scheduler alone costs a writer
// that shares two cores with three busy threads (the floor of the above).
void write_beside_threads(benchmark::State& state, bool burn) {
  const auto readers = static_cast<int>(state.range(0));
  const std::int64_t window_ns = bench::scaled(1'000'000'000);
  const std::int64_t grace_ns = bench::scaled(2'000'000'000);
  constexpr std::size_t batch_size = 1000;
  for (auto _ : state) {
    Log log;
    std::string kept(bench::payload);  // the string a user keeps and writes
    for (std::size_t i = 0; i < 2 * memlog::default_segment_size; ++i) (void)log.write(kept);

    // Relaxed: plain flags and counters; join() orders the counters' final
    // values before they are read.
    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> give_up{std::numeric_limits<std::int64_t>::max()};
    std::atomic<std::int64_t> read_records{0};
    std::atomic<int> capped{0};
    std::latch ready(readers + 1);
    std::vector<std::thread> threads;
    for (int r = 0; r < readers; ++r) {
      threads.emplace_back([&] {
        std::vector<Record> batch(batch_size);
        std::int64_t n = 0;
        ready.arrive_and_wait();
        while (!stop.load(std::memory_order_relaxed)) {
          if (bench::now_ns() > give_up.load(std::memory_order_relaxed)) {
            capped.store(1, std::memory_order_relaxed);
            break;
          }
          if (burn) {
            std::int64_t busy = 0;
            for (int i = 0; i < 1000; ++i) benchmark::DoNotOptimize(busy += i);
            continue;
          }
          const auto result = log.read_batch(log.range().earliest, batch);
          n += static_cast<std::int64_t>(result.count);
          benchmark::DoNotOptimize(batch.data());
        }
        read_records.fetch_add(n, std::memory_order_relaxed);
      });
    }
    bench::Histogram latency;
    std::int64_t failures = 0;
    ready.arrive_and_wait();
    const std::int64_t t0 = bench::now_ns();
    give_up.store(t0 + window_ns + grace_ns, std::memory_order_relaxed);
    std::int64_t t = t0;
    while (t < t0 + window_ns) {
      auto offset = log.write(kept);
      const std::int64_t t1 = bench::now_ns();
      latency.add(t1 - t);
      t = t1;
      failures += offset ? 0 : 1;
      benchmark::DoNotOptimize(offset);
    }
    const double elapsed = static_cast<double>(t - t0) * 1e-9;
    stop.store(true, std::memory_order_relaxed);
    for (auto& thread : threads) thread.join();
    if (failures != 0) state.SkipWithError("write failed");

    state.SetIterationTime(elapsed);
    state.counters["p50_ns"] = latency.quantile(0.50);
    state.counters["p99_us"] = latency.quantile(0.99) / 1e3;
    state.counters["p999_us"] = latency.quantile(0.999) / 1e3;
    state.counters["worst_us"] = latency.max() / 1e3;
    state.counters["writes_per_s"] = static_cast<double>(latency.count()) / elapsed;
    state.counters["reader_records_per_s"] = static_cast<double>(read_records.load()) / elapsed;
    state.counters["capped"] = capped.load();
  }
}
void BM_write_under_readers(benchmark::State& state) { write_beside_threads(state, false); }
BENCHMARK(BM_write_under_readers)
    ->ArgName("readers")
    ->DenseRange(0, 3)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_write_beside_busy_threads(benchmark::State& state) { write_beside_threads(state, true); }
BENCHMARK(BM_write_beside_busy_threads)
    ->ArgName("threads")
    ->Arg(3)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// --- Issue 13: seek by time, retention, stats() ----------------------------

using Clock = std::chrono::system_clock;
using namespace std::chrono_literals;

// A clock the benchmark moves by hand (Options::clock reads it): records
// written 1 us apart, and a log whose time stands still while it is queried.
struct ManualClock {
  Clock::time_point now = Clock::time_point(std::chrono::sys_days(std::chrono::year(2026) / 1 / 1));
  [[nodiscard]] std::function<Clock::time_point()> function() {
    return [this] { return now; };
  }
};

// offset_at(t) over 1M retained records (segment 1<<20: no rotation),
// stamped by the manual clock, for times drawn at random (seeded, nanosecond
// resolution, so mostly between two records) over the whole range.
// /times:0 writes records 1 us apart (the search's best case: its
// interpolation guesses land on the answer); /times:1 writes them as a bursty
// source does: exponential gaps (mean 1 us), runs of records with the same
// time, and a pause of up to a second every thousand records or so, so that
// guesses miss and the search bisects, its probes missing the cache as a
// user's would. /max_age:1 sets max_age = 1 h (nothing expires), so each call
// also reads the clock (here the manual one) and computes the cutoff. Every
// answer is checked against std::lower_bound before the timed loop.
void BM_offset_at(benchmark::State& state) {
  const bool with_max_age = state.range(0) != 0;
  const bool bursty = state.range(1) != 0;
  const std::int64_t records = bench::scaled(1'000'000);
  ManualClock clock;
  const Clock::time_point first = clock.now;
  memlog::Options options{.max_segment_size = std::size_t{1} << 20, .clock = clock.function()};
  if (with_max_age) options.max_age = 24h;  // nothing expires, even after the pauses
  Log log(std::move(options));
  const std::string kept(bench::payload);
  std::mt19937_64 random(13);
  std::exponential_distribution<double> gap_us(1.0);
  std::vector<Clock::time_point> created(static_cast<std::size_t>(records));
  for (std::int64_t i = 0; i < records; ++i) {
    if (!bursty) {
      clock.now += 1us;  // record i is created at first + (i + 1) us
    } else if (random() % 1000 == 0) {
      clock.now += std::chrono::microseconds(random() % 1'000'000);  // a pause
    } else if (random() % 4 != 0) {  // else: a record with the same time as the last
      clock.now += std::chrono::nanoseconds(static_cast<std::int64_t>(gap_us(random) * 1000.0));
    }
    created[static_cast<std::size_t>(i)] = clock.now;
    if (!log.write(kept)) state.SkipWithError("write failed");
  }
  if (log.stats().records != static_cast<std::uint64_t>(records)) state.SkipWithError("records were purged");

  constexpr std::size_t query_count = std::size_t{1} << 16;
  const std::int64_t span_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now - first).count();
  std::uniform_int_distribution<std::int64_t> ns(0, span_ns + 1000);
  std::vector<Clock::time_point> queries(query_count);
  for (auto& query : queries) {
    query = first + std::chrono::nanoseconds(ns(random));
    const auto expected = std::lower_bound(created.begin(), created.end(), query) - created.begin();
    if (log.offset_at(query) != expected) state.SkipWithError("offset_at returned a wrong offset");
  }

  std::size_t i = 0;
  for (auto _ : state) {
    auto offset = log.offset_at(queries[i++ & (query_count - 1)]);
    benchmark::DoNotOptimize(offset);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["records"] = static_cast<double>(records);
}
BENCHMARK(BM_offset_at)->ArgNames({"max_age", "times"})->ArgsProduct({{0, 1}, {0, 1}})->UseRealTime();

// The write path with and without the retention options, in one run: the
// user's write (log.write(s), s a 64-byte std::string the caller keeps), the
// default clock (system_clock, read on every write in every variant),
// segment 1000. Six logs, written in alternating blocks of 10,000 writes (ten
// segments: each block reaches its log's steady state), the order of the
// kinds rotating from one iteration to the next:
//   unset, unset_again  max_age and max_segment_bytes 0 (two logs: the
//                       difference between them is the noise of the method)
//   max_age_1h          max_age 1 h: every write checks expiry, nothing expires
//   max_age_expiring    max_age 20 us: at ~40 ns a write, about half a segment
//                       is live; each rotation is followed, some 500 writes
//                       later, by the freeing of the wholly expired history
//                       (`expiring_live_records`: stats().records after each
//                       of its blocks, mean)
//   max_segment_bytes   1 MiB: every write checks the byte limit, which never
//                       seals a segment (1000 x 64 bytes)
//   both                max_age 1 h and max_segment_bytes 1 MiB
// Counters: ns per write of each kind, and each kind minus `unset`.
void BM_write_retention(benchmark::State& state) {
  constexpr int block = 10'000;
  constexpr std::size_t kinds = 6;
  const std::array<const char*, kinds> names = {"unset",           "unset_again", "max_age_1h", "max_age_expiring",
                                                "max_segment_bytes", "both"};
  constexpr std::size_t expiring = 3;
  const std::array<memlog::Options, kinds> options = {
      memlog::Options{.max_segment_size = segment_size},
      memlog::Options{.max_segment_size = segment_size},
      memlog::Options{.max_segment_size = segment_size, .max_age = 1h},
      memlog::Options{.max_segment_size = segment_size, .max_age = 20us},
      memlog::Options{.max_segment_size = segment_size, .max_segment_bytes = std::size_t{1} << 20},
      memlog::Options{.max_segment_size = segment_size, .max_segment_bytes = std::size_t{1} << 20, .max_age = 1h},
  };
  std::array<std::unique_ptr<Log>, kinds> logs;
  for (std::size_t k = 0; k < kinds; ++k) logs[k] = std::make_unique<Log>(options[k]);
  // 64 bytes, the string a user keeps and writes.
  const std::string kept = R"({"id":"1","type":"benchmark","message":"a record of 64 bytes.."})";
  if (kept.size() != 64) state.SkipWithError("the record is not 64 bytes");

  std::array<std::int64_t, kinds> ns{};
  std::int64_t failures = 0;
  std::int64_t round = 0;
  double live = 0;
  for (auto _ : state) {
    std::int64_t elapsed = 0;
    for (std::size_t j = 0; j < kinds; ++j) {
      const auto kind = static_cast<std::size_t>((static_cast<std::size_t>(round) + j) % kinds);
      Log& log = *logs[kind];
      const std::int64_t t0 = bench::now_ns();
      for (int i = 0; i < block; ++i) {
        auto offset = log.write(kept);
        failures += offset ? 0 : 1;
        benchmark::DoNotOptimize(offset);
      }
      const std::int64_t t = bench::now_ns() - t0;
      ns[kind] += t;
      elapsed += t;
      if (kind == expiring) live += static_cast<double>(log.stats().records);  // untimed
    }
    ++round;
    state.SetIterationTime(static_cast<double>(elapsed) * 1e-9);
  }
  if (failures != 0) state.SkipWithError("write failed");
  const double writes = static_cast<double>(state.iterations()) * block;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kinds) * block);
  for (std::size_t k = 0; k < kinds; ++k) {
    state.counters[std::string("ns_per_write_") + names[k]] = static_cast<double>(ns[k]) / writes;
    if (k != 0) {
      state.counters[std::string(names[k]) + "_minus_unset_ns"] = static_cast<double>(ns[k] - ns[0]) / writes;
    }
  }
  state.counters["expiring_live_records"] = live / static_cast<double>(state.iterations());
}
BENCHMARK(BM_write_retention)->UseManualTime();

// Issue 14: what armed asynchronous waiters cost a write that does not reach
// them. log.write(s) (a kept 64-byte string, default clock, segment 1000) on
// three logs in rotating blocks of 10,000 writes: one with 1,000 AsyncWaiters
// armed for an offset no write reaches, and two without any (their
// difference is the method's noise). `far_waiters_minus_none_ns` is the
// figure; the target is "the same as without".
void BM_write_with_far_waiters(benchmark::State& state) {
  constexpr int block = 10'000;
  constexpr std::size_t kinds = 3;
  const std::array<const char*, kinds> names = {"none", "none_again", "far_waiters"};
  std::array<std::unique_ptr<Log>, kinds> logs;
  for (auto& log : logs) log = std::make_unique<Log>(memlog::Options{.max_segment_size = segment_size});
  std::vector<std::unique_ptr<memlog::AsyncWaiter>> waiters;
  for (int i = 0; i < 1000; ++i) {
    waiters.push_back(std::make_unique<memlog::AsyncWaiter>([](memlog::AsyncWaiter&) noexcept {}));
    if (!logs[2]->wait_async(memlog::Offset{1} << 50, *waiters.back())) state.SkipWithError("not armed");
  }
  const std::string kept = R"({"id":"1","type":"benchmark","message":"a record of 64 bytes.."})";
  std::array<std::int64_t, kinds> ns{};
  std::int64_t failures = 0;
  std::int64_t round = 0;
  for (auto _ : state) {
    std::int64_t elapsed = 0;
    for (std::size_t j = 0; j < kinds; ++j) {
      const auto kind = static_cast<std::size_t>((static_cast<std::size_t>(round) + j) % kinds);
      Log& log = *logs[kind];
      const std::int64_t t0 = bench::now_ns();
      for (int i = 0; i < block; ++i) {
        auto offset = log.write(kept);
        failures += offset ? 0 : 1;
        benchmark::DoNotOptimize(offset);
      }
      const std::int64_t t = bench::now_ns() - t0;
      ns[kind] += t;
      elapsed += t;
    }
    ++round;
    state.SetIterationTime(static_cast<double>(elapsed) * 1e-9);
  }
  if (failures != 0) state.SkipWithError("write failed");
  if (logs[2]->stats().waiting != waiters.size()) state.SkipWithError("a waiter was completed");
  for (auto& waiter : waiters) (void)logs[2]->cancel_wait(*waiter);
  const double writes = static_cast<double>(state.iterations()) * block;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kinds) * block);
  for (std::size_t k = 0; k < kinds; ++k) {
    state.counters[std::string("ns_per_write_") + names[k]] = static_cast<double>(ns[k]) / writes;
  }
  state.counters["far_waiters_minus_none_ns"] = static_cast<double>(ns[2] - ns[0]) / writes;
  state.counters["none_again_minus_none_ns"] = static_cast<double>(ns[1] - ns[0]) / writes;
}
BENCHMARK(BM_write_with_far_waiters)->UseManualTime();

// stats() on a log of 1M retained 32-byte records (segment 1<<20), default
// clock: without max_age (a snapshot of counters) and with max_age = 1 h
// (nothing expires, but each call reads the clock and searches for the first
// live record), in alternating blocks of 1000 calls on two such logs.
void BM_stats(benchmark::State& state) {
  constexpr int block = 1000;
  const std::int64_t records = bench::scaled(1'000'000);
  Log plain({.max_segment_size = std::size_t{1} << 20});
  Log aged({.max_segment_size = std::size_t{1} << 20, .max_age = 1h});
  const std::string kept(bench::payload);
  for (std::int64_t i = 0; i < records; ++i) {
    if (!plain.write(kept) || !aged.write(kept)) state.SkipWithError("write failed");
  }
  if (plain.stats().records != static_cast<std::uint64_t>(records) ||
      aged.stats().records != static_cast<std::uint64_t>(records)) {
    state.SkipWithError("records were purged or expired");
  }
  std::int64_t ns[2] = {0, 0};
  std::int64_t round = 0;
  for (auto _ : state) {
    std::int64_t elapsed = 0;
    for (int j = 0; j < 2; ++j) {
      const int which = static_cast<int>((round + j) % 2);
      const Log& log = which == 0 ? plain : aged;
      const std::int64_t t0 = bench::now_ns();
      for (int i = 0; i < block; ++i) {
        auto stats = log.stats();
        benchmark::DoNotOptimize(stats);
      }
      const std::int64_t t = bench::now_ns() - t0;
      ns[which] += t;
      elapsed += t;
    }
    ++round;
    state.SetIterationTime(static_cast<double>(elapsed) * 1e-9);
  }
  const double calls = static_cast<double>(state.iterations()) * block;
  state.SetItemsProcessed(state.iterations() * 2 * block);
  state.counters["ns_per_stats_unset"] = static_cast<double>(ns[0]) / calls;
  state.counters["ns_per_stats_max_age"] = static_cast<double>(ns[1]) / calls;
  state.counters["records"] = static_cast<double>(records);
}
BENCHMARK(BM_stats)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
