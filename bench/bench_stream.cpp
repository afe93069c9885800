// memlog::Stream: delivery latency, throughput, fan-out to many streams, and
// what idle streams cost a writer. A bare std::mutex +
// std::condition_variable hand-off with the same pacing runs in the same
// process as the baseline for the latency figures.
//
// Latency (p50_us, p99_us, max_us) is from the call of write() (for the
// baseline: just before it takes the mutex) to the return of the stream's
// next(), both on steady_clock. Measured from the *return* of write() instead,
// a woken reader often comes first (the futex wake inside notify returns
// after the reader runs), giving negative figures; p50_from_return_us shows
// that variant.
// The writer paces itself by busy-waiting, one record every 100 us, so that a
// sleep's wake-up jitter does not pace the measurement; it therefore keeps one
// of the machine's cores busy, as a hot producer would.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <latch>
#include <optional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <memlog/memlog.hpp>

#include "bench_util.hpp"

namespace {

using Log = memlog::Log<std::string>;

// 1 s at 100 us each (MEMLOG_BENCH_QUICK: 1000, still a multiple of the
// interleaved benchmark's blocks).
const std::int64_t latency_records = bench::scaled(10'000, 10);
constexpr std::int64_t pace_ns = 100'000;
constexpr std::int64_t warmup_records = 20;  // not counted: threads still settling
constexpr std::int64_t start_delay_ns = 2'000'000;

// What one paced run measured: per stream, when each record arrived; when
// the writer's call returned; and what it cost.
struct PacedRun {
  std::vector<std::int64_t> called;                 // called[i]: write i was called
  std::vector<std::int64_t> written;                // written[i]: write i returned
  std::vector<std::vector<std::int64_t>> arrived;   // arrived[s][i]: stream s got i
  std::vector<std::int64_t> stream_cpu_ns;          // per stream thread
  std::int64_t wall_ns = 0;
  std::int64_t context_switches = 0;
  std::int64_t errors = 0;

  explicit PacedRun(int streams)
      : called(latency_records, 0),
        written(latency_records, 0),
        arrived(static_cast<std::size_t>(streams), std::vector<std::int64_t>(latency_records, 0)),
        stream_cpu_ns(static_cast<std::size_t>(streams), 0) {}
};

void report_latency(benchmark::State& state, PacedRun& run) {
  std::vector<std::int64_t> latency;
  std::vector<std::int64_t> from_return;
  for (const auto& arrived : run.arrived) {
    for (std::int64_t i = warmup_records; i < latency_records; ++i) {
      const auto k = static_cast<std::size_t>(i);
      latency.push_back(arrived[k] - run.called[k]);
      from_return.push_back(arrived[k] - run.written[k]);
    }
  }
  const auto streams = static_cast<double>(run.arrived.size());
  const double delivered = static_cast<double>(latency_records) * streams;
  std::int64_t cpu = 0;
  for (const auto c : run.stream_cpu_ns) cpu += c;

  state.SetIterationTime(static_cast<double>(run.wall_ns) * 1e-9);
  state.counters["p50_us"] = bench::quantile(latency, 0.50) / 1e3;
  state.counters["p99_us"] = bench::quantile(latency, 0.99) / 1e3;
  state.counters["max_us"] = bench::quantile(latency, 1.0) / 1e3;
  state.counters["p50_from_return_us"] = bench::quantile(from_return, 0.50) / 1e3;
  state.counters["csw_per_record"] = static_cast<double>(run.context_switches) / delivered;
  // Per stream thread: share of one core it used, and CPU per record.
  state.counters["stream_cpu_pct"] = 100.0 * static_cast<double>(cpu) / streams / static_cast<double>(run.wall_ns);
  state.counters["stream_cpu_us_per_record"] = static_cast<double>(cpu) / delivered / 1e3;
  if (run.errors != 0) state.SkipWithError("a stream failed");
}

// Runs the paced writer on this thread: write(i) once i * pace has passed.
template <class Write>
void paced_writer(PacedRun& run, Write&& write) {
  const std::int64_t t0 = bench::now_ns() + start_delay_ns;
  for (std::int64_t i = 0; i < latency_records; ++i) {
    bench::spin_until(t0 + i * pace_ns);
    run.called[static_cast<std::size_t>(i)] = bench::now_ns();
    write();
    run.written[static_cast<std::size_t>(i)] = bench::now_ns();
  }
  run.wall_ns = bench::now_ns() - t0;
}

// Args: streams, stream_spin in microseconds.
void BM_stream_latency(benchmark::State& state) {
  const auto streams = static_cast<int>(state.range(0));
  const auto spin = std::chrono::microseconds(state.range(1));
  for (auto _ : state) {
    PacedRun run(streams);
    Log log({.max_segment_size = static_cast<std::size_t>(latency_records), .stream_spin = spin});
    std::latch ready(streams + 1);
    std::atomic<std::int64_t> errors{0};
    std::vector<std::thread> readers;
    for (int s = 0; s < streams; ++s) {
      readers.emplace_back([&, s] {
        auto stream = log.stream(0);
        auto& arrived = run.arrived[static_cast<std::size_t>(s)];
        ready.arrive_and_wait();
        const std::int64_t cpu0 = bench::thread_cpu_ns();
        for (std::int64_t i = 0; i < latency_records; ++i) {
          auto record = stream.next();
          const std::int64_t t = bench::now_ns();
          if (!record) {
            errors.fetch_add(1);
            break;
          }
          arrived[static_cast<std::size_t>(record->metadata.offset)] = t;
        }
        run.stream_cpu_ns[static_cast<std::size_t>(s)] = bench::thread_cpu_ns() - cpu0;
      });
    }
    ready.arrive_and_wait();
    const std::int64_t csw0 = bench::context_switches();
    paced_writer(run, [&] { (void)log.write(bench::payload); });
    for (auto& r : readers) r.join();
    run.context_switches = bench::context_switches() - csw0;
    run.errors = errors.load();
    report_latency(state, run);
  }
}

// The baseline: the writer bumps a counter under a mutex and notifies; each
// reader waits with a predicate for the next count.
void BM_condvar_latency(benchmark::State& state) {
  const auto streams = static_cast<int>(state.range(0));
  for (auto _ : state) {
    PacedRun run(streams);
    std::mutex mu;
    std::condition_variable cv;
    std::int64_t count = 0;  // guarded by mu
    std::latch ready(streams + 1);
    std::vector<std::thread> readers;
    for (int s = 0; s < streams; ++s) {
      readers.emplace_back([&, s] {
        auto& arrived = run.arrived[static_cast<std::size_t>(s)];
        ready.arrive_and_wait();
        const std::int64_t cpu0 = bench::thread_cpu_ns();
        for (std::int64_t i = 0; i < latency_records; ++i) {
          {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return count > i; });
          }
          arrived[static_cast<std::size_t>(i)] = bench::now_ns();
        }
        run.stream_cpu_ns[static_cast<std::size_t>(s)] = bench::thread_cpu_ns() - cpu0;
      });
    }
    ready.arrive_and_wait();
    const std::int64_t csw0 = bench::context_switches();
    paced_writer(run, [&] {
      {
        std::lock_guard lock(mu);
        ++count;
      }
      cv.notify_all();
    });
    for (auto& r : readers) r.join();
    run.context_switches = bench::context_switches() - csw0;
    report_latency(state, run);
  }
}

// Parked streams and the bare condition variable in one run: the paced
// writer alternates blocks of 250 records between a log (read by `streams`
// parked streams with next(); written with log.write(s), a kept string) and
// the baseline (read by as many condvar readers), so both see the same
// machine over the same 2 s. On a VM whose wake-up latency drifts from one
// second to the next, separate runs can differ by 15% either way; this is the
// comparison the p50 target uses. With 16 and 64 streams on 2 cores a
// record's wake-ups queue behind each other: that is what the issue 11 p99
// target is about. Counters: p50/p99/max for memlog, cv_* for the baseline,
// p50_vs_cv their ratio; csw_per_record / cv_csw_per_record: the process's
// context switches during each side's blocks per record delivered there.
void BM_parked_vs_condvar(benchmark::State& state) {
  const auto readers = static_cast<std::size_t>(state.range(0));
  constexpr std::int64_t block = 250;
  const std::int64_t total = 2 * latency_records;  // latency_records of each
  // The global index of the k-th record of one side (side 0: memlog).
  const auto index_of = [](std::int64_t k, std::int64_t side) {
    return (k / block) * 2 * block + side * block + k % block;
  };
  for (auto _ : state) {
    std::vector<std::int64_t> called(total, 0);
    std::vector<std::vector<std::int64_t>> arrived[2];
    for (auto& side : arrived) side.assign(readers, std::vector<std::int64_t>(latency_records, 0));
    Log log({.max_segment_size = static_cast<std::size_t>(latency_records)});
    std::string kept(bench::payload);  // the string a user keeps and writes
    std::mutex mu;
    std::condition_variable cv;
    std::int64_t count = 0;  // guarded by mu
    std::atomic<std::int64_t> errors{0};
    std::latch ready(static_cast<std::ptrdiff_t>(2 * readers + 1));
    std::vector<std::thread> threads;
    for (std::size_t r = 0; r < readers; ++r) {
      threads.emplace_back([&, r] {
        auto stream = log.stream(0);
        ready.arrive_and_wait();
        for (std::int64_t k = 0; k < latency_records; ++k) {
          auto record = stream.next();
          const std::int64_t t = bench::now_ns();
          if (!record) {
            errors.fetch_add(1);
            return;
          }
          arrived[0][r][static_cast<std::size_t>(record->metadata.offset)] = t;
        }
      });
      threads.emplace_back([&, r] {
        ready.arrive_and_wait();
        for (std::int64_t k = 0; k < latency_records; ++k) {
          {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return count > k; });
          }
          arrived[1][r][static_cast<std::size_t>(k)] = bench::now_ns();
        }
      });
    }
    ready.arrive_and_wait();
    const std::int64_t t0 = bench::now_ns() + start_delay_ns;
    std::int64_t csw[2] = {0, 0};
    std::int64_t csw_mark = 0;
    for (std::int64_t i = 0; i < total; ++i) {
      bench::spin_until(t0 + i * pace_ns);
      if (i % block == 0) {  // a block starts: charge the switches since the last one to it
        const std::int64_t now = bench::context_switches();
        if (i > 0) csw[((i / block) - 1) % 2] += now - csw_mark;
        csw_mark = now;
      }
      called[static_cast<std::size_t>(i)] = bench::now_ns();
      if ((i / block) % 2 == 0) {
        (void)log.write(kept);
      } else {
        {
          std::lock_guard lock(mu);
          ++count;
        }
        cv.notify_all();
      }
    }
    const std::int64_t wall = bench::now_ns() - t0;
    for (auto& t : threads) t.join();
    csw[((total - 1) / block) % 2] += bench::context_switches() - csw_mark;

    std::vector<std::int64_t> latency[2];
    for (std::int64_t side = 0; side < 2; ++side) {
      for (const auto& per_reader : arrived[side]) {
        for (std::int64_t k = warmup_records; k < latency_records; ++k) {
          const auto i = static_cast<std::size_t>(index_of(k, side));
          latency[side].push_back(per_reader[static_cast<std::size_t>(k)] - called[i]);
        }
      }
    }
    state.SetIterationTime(static_cast<double>(wall) * 1e-9);
    state.counters["p50_us"] = bench::quantile(latency[0], 0.50) / 1e3;
    state.counters["p99_us"] = bench::quantile(latency[0], 0.99) / 1e3;
    state.counters["max_us"] = bench::quantile(latency[0], 1.0) / 1e3;
    state.counters["cv_p50_us"] = bench::quantile(latency[1], 0.50) / 1e3;
    state.counters["cv_p99_us"] = bench::quantile(latency[1], 0.99) / 1e3;
    state.counters["cv_max_us"] = bench::quantile(latency[1], 1.0) / 1e3;
    state.counters["p50_vs_cv"] = bench::quantile(latency[0], 0.50) / bench::quantile(latency[1], 0.50);
    const double delivered = static_cast<double>(latency_records) * static_cast<double>(readers);
    state.counters["csw_per_record"] = static_cast<double>(csw[0]) / delivered;
    state.counters["cv_csw_per_record"] = static_cast<double>(csw[1]) / delivered;
    if (errors.load() != 0) state.SkipWithError("a stream failed");
  }
}
BENCHMARK(BM_parked_vs_condvar)
    ->ArgName("streams")
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void latency_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"streams", "spin_us"})->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}

// Baseline and memlog interleaved, so that both see the same machine state.
BENCHMARK(BM_condvar_latency)->ArgName("streams")->Arg(1)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stream_latency)->Args({1, 0})->Args({1, 200})->Apply(latency_args);
BENCHMARK(BM_condvar_latency)->ArgName("streams")->Arg(4)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_stream_latency)->Args({4, 0})->Args({4, 200})->Apply(latency_args);

// One writer writes 1M records as fast as it can; each stream reads all of
// them from where the run starts. The segment holds them all, so nothing is purged and
// the figure is about delivery. Per stream: records / (time of its last
// record - start). /streams:0 is the writer alone, for comparison.
void BM_stream_throughput(benchmark::State& state) {
  const auto streams = static_cast<int>(state.range(0));
  const auto spin = std::chrono::microseconds(state.range(1));
  const bool range_for = state.range(2) != 0;  // zero-copy delivery instead of next()
  // warm: one long-lived log whose segments (and the allocator's free lists)
  // are already sized, as in a service that has run for a while; otherwise a
  // fresh log per iteration, whose writer also pays for growing its segment
  // and for page faults.
  const bool warm = state.range(3) != 0;
  constexpr std::int64_t records = 1'000'000;
  constexpr std::size_t segment = std::size_t{1} << 20;
  std::vector<double> per_stream_rate;
  std::vector<double> writer_ns;
  std::vector<double> csw;
  std::optional<Log> warm_log;
  if (warm) {
    warm_log.emplace(memlog::Options{.max_segment_size = segment, .stream_spin = spin});
    for (std::size_t i = 0; i < 2 * segment + 1; ++i) (void)warm_log->write(bench::payload);
  }
  for (auto _ : state) {
    std::optional<Log> fresh_log;
    if (!warm) fresh_log.emplace(memlog::Options{.max_segment_size = segment, .stream_spin = spin});
    Log& log = warm ? *warm_log : *fresh_log;
    const memlog::Offset start = log.range().latest + 1;
    std::latch ready(streams + 1);
    std::atomic<std::int64_t> errors{0};
    std::vector<std::int64_t> done(static_cast<std::size_t>(streams), 0);
    std::vector<std::thread> readers;
    for (int s = 0; s < streams; ++s) {
      readers.emplace_back([&, s] {
        auto stream = log.stream(start);
        ready.arrive_and_wait();
        if (range_for) {
          std::int64_t seen = 0;
          for (const auto& record : stream) {
            benchmark::DoNotOptimize(&record);
            if (++seen == records) break;
          }
          if (seen != records) errors.fetch_add(1);
        } else {
          for (std::int64_t i = 0; i < records; ++i) {
            auto record = stream.next();
            if (!record) {
              errors.fetch_add(1);
              break;
            }
            benchmark::DoNotOptimize(record);
          }
        }
        done[static_cast<std::size_t>(s)] = bench::now_ns();
      });
    }
    ready.arrive_and_wait();
    const std::int64_t csw0 = bench::context_switches();
    const std::int64_t t0 = bench::now_ns();
    for (std::int64_t i = 0; i < records; ++i) (void)log.write(bench::payload);
    const std::int64_t written = bench::now_ns();
    for (auto& r : readers) r.join();
    csw.push_back(static_cast<double>(bench::context_switches() - csw0) /
                  static_cast<double>(records * std::max(streams, 1)));
    if (errors.load() != 0) state.SkipWithError("a stream failed");

    std::int64_t last = written;
    double rate_sum = 0;
    for (const auto d : done) {
      last = std::max(last, d);
      rate_sum += static_cast<double>(records) / (static_cast<double>(d - t0) * 1e-9);
    }
    per_stream_rate.push_back(streams > 0 ? rate_sum / streams : 0.0);
    writer_ns.push_back(static_cast<double>(written - t0) / static_cast<double>(records));
    state.SetIterationTime(static_cast<double>(last - t0) * 1e-9);
  }
  state.counters["records_per_s_per_stream"] = bench::median(per_stream_rate);
  state.counters["records_per_s_total"] = bench::median(per_stream_rate) * streams;
  state.counters["writer_ns_per_write"] = bench::median(writer_ns);
  state.counters["csw_per_record"] = bench::median(csw);
}
BENCHMARK(BM_stream_throughput)
    ->ArgNames({"streams", "spin_us", "range_for", "warm"})
    ->Args({0, 0, 0, 0})
    ->Args({1, 0, 0, 0})
    ->Args({4, 0, 0, 0})
    ->Args({1, 0, 1, 0})
    ->Args({4, 0, 1, 0})
    ->Args({1, 50, 1, 0})
    ->Args({0, 0, 0, 1})
    ->Args({1, 0, 1, 1})
    ->Args({4, 0, 1, 1})
    ->Args({1, 0, 0, 1})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Fan-out (issue 11): N streams on one log, each reading every record with
// next() (range_for:0) or with range-for (range_for:1), while the benchmark
// thread writes flat out with log.write(s), a kept string. Records per run:
// 1M, or 16M / N above 16 streams (250k with 64), so that a run delivers at
// most 16M records.
// Bounded whatever the library does: the writer stops after 2 s (then it
// writes one more record, and the streams stop at that one), and streams
// still reading 3 s after the last write are cancelled; either makes the
// `capped` counter non-zero (it counts the caps hit), and the rates are then
// over what was delivered.
// The log is warm (segment 1<<20, already rotated twice: storage and the
// allocator's free lists are sized, as in a service that has run a while);
// each run's streams start at the log's end. /streams:0 is the writer alone,
// the ceiling of any stream's rate. Counters (medians of the runs):
// records_per_s_per_stream (mean over streams of its records / (its last
// record - first write)), min_stream_records_per_s (the slowest stream),
// records_per_s_total (all deliveries / (last stream done - first write)),
// cpu_ns_per_delivery (the process's user + system CPU over the run, writer
// included, / deliveries; /streams:0: per write), csw_per_delivery
// (voluntary + involuntary context switches of the process, likewise),
// writer_ns_per_write and writer_writes_per_s; records (planned per run) and
// written (median of what was written: below records when capped).
void BM_fanout(benchmark::State& state) {
  const auto streams = static_cast<std::size_t>(state.range(0));
  const bool range_for = state.range(1) != 0;
  const std::int64_t records =
      bench::scaled(streams > 16 ? 16'000'000 / static_cast<std::int64_t>(streams) : 1'000'000);
  const std::int64_t write_cap_ns = bench::scaled(2'000'000'000);
  const std::int64_t drain_cap_ns = bench::scaled(3'000'000'000);
  constexpr std::size_t segment = std::size_t{1} << 20;  // holds a whole run: nothing is purged under a stream
  Log log({.max_segment_size = segment});
  std::string kept(bench::payload);  // the string a user keeps and writes
  const auto warm_records = static_cast<std::size_t>(bench::scaled(static_cast<std::int64_t>(2 * segment + 1)));
  for (std::size_t i = 0; i < warm_records; ++i) (void)log.write(kept);

  std::vector<double> per_stream, slowest, total, cpu, csw, writer_ns, written_counts;
  std::int64_t capped = 0;
  std::int64_t delivered_all = 0;
  for (auto _ : state) {
    const memlog::Offset start = log.range().latest + 1;
    std::stop_source stop;
    // Relaxed: `target` only lowers how many records a stream waits for;
    // the record that makes a stream stop is ordered by the log itself.
    std::atomic<std::int64_t> target{records};
    std::mutex done_mu;
    std::condition_variable done_cv;
    std::size_t finished = 0;  // guarded by done_mu
    std::latch ready(static_cast<std::ptrdiff_t>(streams) + 1);
    std::vector<std::int64_t> seen(streams, 0);
    std::vector<std::int64_t> done(streams, 0);
    std::vector<std::thread> readers;
    for (std::size_t s = 0; s < streams; ++s) {
      readers.emplace_back([&, s] {
        auto stream = log.stream(start, stop.get_token());
        ready.arrive_and_wait();
        std::int64_t n = 0;
        if (range_for) {
          for (const auto& record : stream) {
            benchmark::DoNotOptimize(&record);
            if (++n >= target.load(std::memory_order_relaxed)) break;
          }
        } else {
          while (n < target.load(std::memory_order_relaxed)) {
            auto record = stream.next();
            if (!record) break;
            benchmark::DoNotOptimize(record);
            ++n;
          }
        }
        done[s] = bench::now_ns();
        seen[s] = n;
        {
          std::lock_guard lock(done_mu);
          ++finished;
        }
        done_cv.notify_one();
      });
    }
    ready.arrive_and_wait();
    const std::int64_t cpu0 = bench::process_cpu_ns();
    const std::int64_t csw0 = bench::context_switches();
    const std::int64_t t0 = bench::now_ns();
    std::int64_t failures = 0;
    std::int64_t written = 0;
    for (; written < records; ++written) {
      if ((written & 1023) == 1023 && bench::now_ns() - t0 > write_cap_ns) break;
      failures += log.write(kept) ? 0 : 1;
    }
    if (written < records) {  // capped: every stream stops at one more record
      target.store(written + 1, std::memory_order_relaxed);
      failures += log.write(kept) ? 0 : 1;
      ++written;
      ++capped;
    }
    const std::int64_t written_at = bench::now_ns();
    {
      std::unique_lock lock(done_mu);
      if (!done_cv.wait_for(lock, std::chrono::nanoseconds(drain_cap_ns), [&] { return finished == streams; })) {
        stop.request_stop();
        ++capped;
      }
    }
    for (auto& r : readers) r.join();
    std::int64_t delivered = 0;
    for (const auto n : seen) delivered += n;
    const double deliveries = static_cast<double>(streams > 0 ? delivered : written);
    delivered_all += delivered;
    cpu.push_back(static_cast<double>(bench::process_cpu_ns() - cpu0) / deliveries);
    csw.push_back(static_cast<double>(bench::context_switches() - csw0) / deliveries);
    if (failures != 0) state.SkipWithError("a write failed");

    std::int64_t last = written_at;
    double rate_sum = 0;
    double rate_min = 0;
    for (std::size_t s = 0; s < streams; ++s) {
      last = std::max(last, done[s]);
      const double rate = static_cast<double>(seen[s]) / (static_cast<double>(done[s] - t0) * 1e-9);
      rate_sum += rate;
      rate_min = s == 0 ? rate : std::min(rate_min, rate);
    }
    per_stream.push_back(streams > 0 ? rate_sum / static_cast<double>(streams) : 0.0);
    slowest.push_back(rate_min);
    total.push_back(static_cast<double>(delivered) / (static_cast<double>(last - t0) * 1e-9));
    writer_ns.push_back(static_cast<double>(written_at - t0) / static_cast<double>(written));
    written_counts.push_back(static_cast<double>(written));
    state.SetIterationTime(static_cast<double>(last - t0) * 1e-9);
  }
  state.SetItemsProcessed(streams > 0 ? delivered_all : state.iterations() * records);
  state.counters["records"] = static_cast<double>(records);
  state.counters["written"] = bench::median(written_counts);
  state.counters["records_per_s_per_stream"] = bench::median(per_stream);
  state.counters["min_stream_records_per_s"] = bench::median(slowest);
  state.counters["records_per_s_total"] = bench::median(total);
  state.counters["cpu_ns_per_delivery"] = bench::median(cpu);
  state.counters["csw_per_delivery"] = bench::median(csw);
  state.counters["writer_ns_per_write"] = bench::median(writer_ns);
  state.counters["writer_writes_per_s"] = 1e9 / bench::median(writer_ns);
  state.counters["capped"] = static_cast<double>(capped);
}
BENCHMARK(BM_fanout)
    ->ArgNames({"streams", "range_for"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({4, 0})
    ->Args({4, 1})
    ->Args({16, 0})
    ->Args({16, 1})
    ->Args({64, 0})
    ->Args({64, 1})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// What parked streams cost a writer: two logs, one with 4 streams parked on
// it (waiting for an offset far ahead) and one with none, written in
// alternating blocks of 1000 so that both see the same machine. Separate runs
// differ by ~10% here from run to run (heap layout, the VM), which is all the
// budget there is at ~23 ns/write. Counters: ns/write with none and with 4
// parked streams, their ratio, and context switches per write.
void BM_write_idle_streams(benchmark::State& state) {
  constexpr int streams = 4;
  constexpr int block = 1000;
  Log quiet({.max_segment_size = 1000});
  Log watched({.max_segment_size = 1000});
  std::stop_source stop;
  std::latch ready(streams + 1);
  std::vector<std::thread> idle;
  for (int s = 0; s < streams; ++s) {
    idle.emplace_back([&] {
      auto stream = watched.stream(memlog::Offset{1} << 62, stop.get_token());
      ready.arrive_and_wait();
      auto record = stream.next();  // parks until stopped
      benchmark::DoNotOptimize(record);
    });
  }
  ready.arrive_and_wait();
  // Let the streams reach the condition variable. Not a correctness wait:
  // a stream that parks a little late only makes the first writes cheaper.
  std::this_thread::sleep_for(std::chrono::milliseconds(10));

  std::int64_t ns[2] = {0, 0};
  const std::int64_t csw0 = bench::context_switches();
  for (auto _ : state) {
    std::int64_t elapsed = 0;
    for (int side = 0; side < 2; ++side) {
      Log& log = side == 0 ? quiet : watched;
      const std::int64_t t0 = bench::now_ns();
      for (int i = 0; i < block; ++i) {
        auto offset = log.write(bench::payload);
        benchmark::DoNotOptimize(offset);
      }
      const std::int64_t t = bench::now_ns() - t0;
      ns[side] += t;
      elapsed += t;
    }
    state.SetIterationTime(static_cast<double>(elapsed) * 1e-9);
  }
  const std::int64_t csw = bench::context_switches() - csw0;
  stop.request_stop();
  for (auto& t : idle) t.join();
  const double writes = static_cast<double>(state.iterations()) * block;
  state.SetItemsProcessed(state.iterations() * 2 * block);
  state.counters["ns_per_write_0_streams"] = static_cast<double>(ns[0]) / writes;
  state.counters["ns_per_write_4_streams"] = static_cast<double>(ns[1]) / writes;
  state.counters["idle_over_none"] = static_cast<double>(ns[1]) / static_cast<double>(ns[0]);
  state.counters["csw_per_write"] = static_cast<double>(csw) / (2 * writes);
}
BENCHMARK(BM_write_idle_streams)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
