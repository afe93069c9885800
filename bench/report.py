#!/usr/bin/env python3
"""Runs memlog's benchmarks (optional) and prints markdown tables: issue 11's
and issue 13's targets, each beside its same-run baseline; the detail behind
them (writes under readers, fan-out, paced latency with many streams); and the table
against the Go original's figures (issue 5). Standard library only.

  python3 bench/report.py --run build/bench/bench [--out DIR] [--no-report] [-- <benchmark flags>]
      runs bench_log, bench_stream, bench_sharded, bench_memory (and
      bench_clock) from that directory (those that exist), each with
      --benchmark_out=DIR/<name>.json (DIR: --out, else a new temporary
      directory), then prints the tables (not with --no-report)
  python3 bench/report.py out1.json out2.json ...
      only prints the tables from saved --benchmark_out_format=json files
  --go FILE
      adds a table against the Go anchor's "key value" lines (the output of
      /work/shared/anchors/go/run.sh, run right after ours on the same machine)

With --benchmark_repetitions=N, each figure is the median of the N runs
(--best: the best one; use it only on a machine busy with other work), and
the issue 11 and 13 tables show the range across the runs.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

BINARIES = ["bench_log", "bench_stream", "bench_sharded", "bench_memory", "bench_clock", "bench_redis", "bench_kafka"]

# (figure, benchmark run name, field or counter, unit, Go figure or None,
#  "cost" (lower is better) or "rate" (higher is better), target text, target check)
LAT = "BM_stream_latency/streams:{}/spin_us:{}/iterations:1/manual_time"
CV = "BM_condvar_latency/streams:{}/iterations:1/manual_time"
PV = "BM_parked_vs_condvar/streams:{}/iterations:1/manual_time"
TP = "BM_stream_throughput/streams:{}/spin_us:{}/range_for:{}/warm:{}/iterations:3/manual_time"
WUR = "BM_write_under_readers/readers:{}/iterations:1/manual_time"
# The same writer beside 3 threads that only burn CPU: the scheduler's floor.
WBB = "BM_write_beside_busy_threads/threads:3/iterations:1/manual_time"
FO = "BM_fanout/streams:{}/range_for:{}/iterations:3/manual_time"
WK = "BM_write_kinds/manual_time"
RB = "BM_read_beside_writer/manual_time"
ROWS = [
    ("write, 1 thread", "BM_write/real_time/threads:1", "real_time", "ns/op", 72.9, "cost", 30),
    ("write, 2 threads", "BM_write/real_time/threads:2", "real_time", "ns/op", 78.7, "cost", 64),
    ("write of a std::string (caller allocates), 1 thread", "BM_write_string/real_time/threads:1", "real_time",
     "ns/op", 72.9, "cost", None),
    ("write of a std::string, 2 threads", "BM_write_string/real_time/threads:2", "real_time", "ns/op", 78.7, "cost",
     None),
    ("read (owning copy)", "BM_read/real_time/threads:1", "real_time", "ns/op", 44.5, "cost", 30),
    ("read, 2 threads", "BM_read/real_time/threads:2", "real_time", "ns/op", None, "cost", None),
    ("zero-copy read (vs Go read)", "BM_read_zero_copy/real_time/threads:1", "real_time", "ns/op", 44.5, "cost", 18),
    ("read_batch, batch 100", "BM_read_batch/100/real_time", "ns_per_record", "ns/record", 76.7, "cost", 15),
    ("2 threads x 1M writes", "BM_concurrent_write/iterations:5/manual_time", "ns_per_write", "ns/write", 128, "cost", 64),
    ("read beside a busy writer", RB, "ns_per_read_busy", "ns/op", None, "cost", None),
    ("stream latency p50, parked, 1 stream (interleaved with condvar)", PV.format(1), "p50_us", "us", 5149, "cost",
     "pv1"),
    ("condvar p50 in the same run, 1 reader", PV.format(1), "cv_p50_us", "us", None, "cost", None),
    ("stream latency p99, parked, 1 stream (interleaved)", PV.format(1), "p99_us", "us", 10283, "cost", 100),
    ("condvar p99 in the same run, 1 reader", PV.format(1), "cv_p99_us", "us", None, "cost", None),
    ("stream latency p50, parked, 4 streams (interleaved with condvar)", PV.format(4), "p50_us", "us", 5149, "cost",
     "pv4"),
    ("condvar p50 in the same run, 4 readers", PV.format(4), "cv_p50_us", "us", None, "cost", None),
    ("stream latency p99, parked, 4 streams (interleaved)", PV.format(4), "p99_us", "us", 10283, "cost", 100),
    ("condvar p99 in the same run, 4 readers", PV.format(4), "cv_p99_us", "us", None, "cost", None),
    ("stream latency p50, parked, 1 stream (own run)", LAT.format(1, 0), "p50_us", "us", 5149, "cost", None),
    ("stream latency p99, parked, 1 stream (own run)", LAT.format(1, 0), "p99_us", "us", 10283, "cost", None),
    ("stream latency p50, parked, 4 streams (own run)", LAT.format(4, 0), "p50_us", "us", 5149, "cost", None),
    ("stream latency p99, parked, 4 streams (own run)", LAT.format(4, 0), "p99_us", "us", 10283, "cost", None),
    ("stream latency p50, spin 200 us, 1 stream", LAT.format(1, 200), "p50_us", "us", 5149, "cost", 2),
    ("stream latency p99, spin 200 us, 1 stream", LAT.format(1, 200), "p99_us", "us", 10283, "cost", None),
    ("stream latency p50, spin 200 us, 4 streams", LAT.format(4, 200), "p50_us", "us", 5149, "cost", None),
    ("baseline condvar latency p50, 1 reader", CV.format(1), "p50_us", "us", None, "cost", None),
    ("baseline condvar latency p99, 1 reader", CV.format(1), "p99_us", "us", None, "cost", None),
    ("baseline condvar latency p50, 4 readers", CV.format(4), "p50_us", "us", None, "cost", None),
    ("stream throughput, 1 stream, range-for, warm log", TP.format(1, 0, 1, 1),
     "records_per_s_per_stream", "M rec/s", 1.78, "rate", 10),
    ("stream throughput, 4 streams, range-for, warm log, per stream", TP.format(4, 0, 1, 1),
     "records_per_s_per_stream", "M rec/s", 0.89, "rate", 4),
    ("stream throughput, 1 stream, next(), warm log", TP.format(1, 0, 0, 1),
     "records_per_s_per_stream", "M rec/s", 1.78, "rate", None),
    ("stream throughput, 1 stream, range-for, fresh log", TP.format(1, 0, 1, 0),
     "records_per_s_per_stream", "M rec/s", 1.78, "rate", None),
    ("stream throughput, 4 streams, range-for, fresh log, per stream", TP.format(4, 0, 1, 0),
     "records_per_s_per_stream", "M rec/s", 0.89, "rate", None),
    ("stream throughput, 1 stream, next(), fresh log", TP.format(1, 0, 0, 0),
     "records_per_s_per_stream", "M rec/s", 1.78, "rate", None),
    ("stream throughput, 4 streams, next(), fresh log, per stream", TP.format(4, 0, 0, 0),
     "records_per_s_per_stream", "M rec/s", 0.89, "rate", None),
    ("stream throughput, 1 stream, range-for, spin 50 us, fresh log", TP.format(1, 50, 1, 0),
     "records_per_s_per_stream", "M rec/s", 1.78, "rate", None),
    ("throughput run: writer alone, warm log", TP.format(0, 0, 0, 1), "writer_ns_per_write", "ns/write", None, "cost", None),
    ("throughput run: writer alone, fresh log", TP.format(0, 0, 0, 0), "writer_ns_per_write", "ns/write", None, "cost", None),
    ("write, 0 idle streams (interleaved)", "BM_write_idle_streams/manual_time", "ns_per_write_0_streams", "ns/op",
     None, "cost", None),
    ("write, 4 idle (parked) streams (interleaved)", "BM_write_idle_streams/manual_time", "ns_per_write_4_streams",
     "ns/op", None, "cost", "idle"),
    ("sharded write, 1000 keys, 1 thread", "BM_sharded_write/real_time/threads:1", "real_time", "ns/op", None, "cost", None),
    ("sharded write, 1000 keys, 2 threads", "BM_sharded_write/real_time/threads:2", "real_time", "ns/op", None, "cost", None),
    ("sharded read, 1000 keys, 1 thread", "BM_sharded_read/real_time/threads:1", "real_time", "ns/op", None, "cost", None),
    ("memory, 1M x 32-byte records", "BM_memory_per_record/iterations:1", "bytes_per_record", "bytes/record", 88, "cost", 48),
    ("memory, segment 1000, steady state", "BM_memory_steady_segment_1000/iterations:1", "bytes_per_record", "bytes/record",
     None, "cost", None),
    ("idle sharded log, 1000 shards", "BM_sharded_idle_memory/iterations:10", "bytes", "MB", 57.5, "cost", 256 * 1024 / 1e6),
]

# Costs of waiting: context switches per delivered record and stream-thread CPU.
WAIT_ROWS = [
    ("condvar baseline, 1 reader", CV.format(1)),
    ("memlog parked, 1 stream", LAT.format(1, 0)),
    ("memlog spin 200 us, 1 stream", LAT.format(1, 200)),
    ("condvar baseline, 4 readers", CV.format(4)),
    ("memlog parked, 4 streams", LAT.format(4, 0)),
    ("memlog spin 200 us, 4 streams", LAT.format(4, 200)),
]

# Issue 11's targets. (figure, unit, benchmark run name, field, "cost" or
# "rate", baseline or None, target or None). A baseline is (label, run name,
# field): the figure the row must be read against, from the same run. A
# target is ("le" | "ge", number) or ("le_x", factor): at most factor x the
# baseline; an optional third element says where the number comes from.
ISSUE11_ROWS = [
    ("worst write, 3 readers calling read_batch(1000) flat out", "us", WUR.format(3), "worst_us", "cost",
     ("3 busy threads, no log", WBB, "worst_us"), ("le", 1000)),
    ("writes/s meanwhile, 3 readers", "M/s", WUR.format(3), "writes_per_s", "rate",
     ("0 readers", WUR.format(0), "writes_per_s"), ("ge", 0.1)),
    ("p99 write, 3 readers", "us", WUR.format(3), "p99_us", "cost", ("0 readers", WUR.format(0), "p99_us"), None),
    ("worst write, 2 readers", "us", WUR.format(2), "worst_us", "cost", ("0 readers", WUR.format(0), "worst_us"), None),
    ("p99 write, 2 readers", "us", WUR.format(2), "p99_us", "cost", ("0 readers", WUR.format(0), "p99_us"), None),
    ("writes/s meanwhile, 2 readers", "M/s", WUR.format(2), "writes_per_s", "rate",
     ("0 readers", WUR.format(0), "writes_per_s"), None),
    ("worst write, 1 reader", "us", WUR.format(1), "worst_us", "cost", ("0 readers", WUR.format(0), "worst_us"), None),
    ("p99 write, 1 reader", "us", WUR.format(1), "p99_us", "cost", ("0 readers", WUR.format(0), "p99_us"), None),
    ("writes/s meanwhile, 1 reader", "M/s", WUR.format(1), "writes_per_s", "rate",
     ("0 readers", WUR.format(0), "writes_per_s"), None),
    ("read(offset) beside a busy writer", "ns", RB, "ns_per_read_busy", "cost",
     ("read alone", RB, "ns_per_read_alone"), ("le_x", 3)),
    ("write(kept std::string)", "ns", WK, "ns_per_write_kept", "cost",
     ("write(string_view)", WK, "ns_per_write_view"), ("le_x", 1.2)),
    ("write(std::string_view)", "ns", WK, "ns_per_write_view", "cost", None, ("le", 30)),
    ("write(fresh std::string)", "ns", WK, "ns_per_write_fresh", "cost",
     ("write(string_view)", WK, "ns_per_write_view"), None),
    ("fan-out, next(), 4 streams, per stream", "M rec/s", FO.format(4, 0), "records_per_s_per_stream", "rate",
     ("writer alone", FO.format(0, 0), "writer_writes_per_s"), ("ge", 4)),
    ("fan-out, next(), 16 streams, in total", "M rec/s", FO.format(16, 0), "records_per_s_total", "rate",
     ("writer alone", FO.format(0, 0), "writer_writes_per_s"), ("ge", 16)),
    ("fan-out, range-for, 4 streams, per stream", "M rec/s", FO.format(4, 1), "records_per_s_per_stream", "rate",
     ("writer alone", FO.format(0, 0), "writer_writes_per_s"), None),
    ("fan-out, range-for, 16 streams, in total", "M rec/s", FO.format(16, 1), "records_per_s_total", "rate",
     ("writer alone", FO.format(0, 0), "writer_writes_per_s"), None),
    ("paced latency p99, 64 parked streams", "us", PV.format(64), "p99_us", "cost",
     ("condvar, 64 readers", PV.format(64), "cv_p99_us"), ("le", 1000)),
    ("paced latency p50, 64 parked streams", "us", PV.format(64), "p50_us", "cost",
     ("condvar, 64 readers", PV.format(64), "cv_p50_us"), None),
    ("paced latency p99, 16 parked streams", "us", PV.format(16), "p99_us", "cost",
     ("condvar, 16 readers", PV.format(16), "cv_p99_us"), None),
    ("paced latency p50, 16 parked streams", "us", PV.format(16), "p50_us", "cost",
     ("condvar, 16 readers", PV.format(16), "cv_p50_us"), None),
    # "Everything else in the README's table: no worse than its run-to-run
    # range today" (README, 2cc806a).
    ("zero-copy read", "ns", "BM_read_zero_copy/real_time/threads:1", "real_time", "cost", None,
     ("le", 13, "README range 10-13")),
    ("read_batch, batch 100", "ns/record", "BM_read_batch/100/real_time", "ns_per_record", "cost", None,
     ("le", 5.1, "README range 4.4-5.1")),
    ("memory, 1M x 32-byte records", "bytes/record", "BM_memory_per_record/iterations:1", "bytes_per_record", "cost",
     None, ("le", 44.6, "README")),
    ("idle sharded log, 1000 shards", "MB", "BM_sharded_idle_memory/iterations:10", "bytes", "cost", None,
     ("le", 0.216, "README")),
]

# Issue 13's targets (time, retention, stats), as ISSUE11_ROWS; a target may
# also be ("le_plus", n): at most the baseline + n.
OA = "BM_offset_at/max_age:{}/times:{}/real_time"
WR = "BM_write_retention/manual_time"
ST = "BM_stats/manual_time"
ML = "BM_memory_large_records/max_segment_bytes_MiB:{}/iterations:1"
ISSUE13_ROWS = [
    ("offset_at(t), 1M retained records 1 us apart, random t", "ns", OA.format(0, 0), "real_time", "cost", None,
     ("le", 200)),
    ("offset_at(t), the same with max_age set (reads the clock)", "ns", OA.format(1, 0), "real_time", "cost", None,
     None),
    ("offset_at(t), 1M records at bursty times (gaps, ties, pauses)", "ns", OA.format(0, 1), "real_time", "cost",
     None, ("le", 200)),
    ("write(kept 64-byte string), max_age 1 h (nothing expires)", "ns", WR, "ns_per_write_max_age_1h", "cost",
     ("max_age unset", WR, "ns_per_write_unset"), ("le_plus", 5)),
    ("write, max_segment_bytes 1 MiB (never seals)", "ns", WR, "ns_per_write_max_segment_bytes", "cost",
     ("max_age unset", WR, "ns_per_write_unset"), ("le_plus", 5)),
    ("write, max_age 1 h and max_segment_bytes 1 MiB", "ns", WR, "ns_per_write_both", "cost",
     ("max_age unset", WR, "ns_per_write_unset"), ("le_plus", 5)),
    ("write, max_age 20 us (about half a segment live)", "ns", WR, "ns_per_write_max_age_expiring", "cost",
     ("max_age unset", WR, "ns_per_write_unset"), None),
    ("records live meanwhile (max_age 20 us, segment 1000)", "records", WR, "expiring_live_records", "cost", None,
     None),
    ("write, options unset, a second log (the method's noise)", "ns", WR, "ns_per_write_unset_again", "cost",
     ("max_age unset", WR, "ns_per_write_unset"), None),
    ("stats(), 1M records, max_age unset", "ns", ST, "ns_per_stats_unset", "cost", None, None),
    ("stats(), 1M records, max_age 1 h", "ns", ST, "ns_per_stats_max_age", "cost",
     ("max_age unset", ST, "ns_per_stats_unset"), None),
    ("peak heap, 1 GiB as 512 KiB records, max_segment_bytes 64 MiB", "MiB", ML.format(64), "peak_MiB", "cost",
     ("no byte limit (segment 1024)", ML.format(0), "peak_MiB"), ("le", 130)),
    ("the same in the allocator's block sizes", "MiB", ML.format(64), "peak_allocator_MiB", "cost",
     ("no byte limit (segment 1024)", ML.format(0), "peak_allocator_MiB"), None),
]

# Issue 14's figure for the core's waiting hook: a write beside 1,000 armed
# asynchronous waiters of an offset it does not reach, against a log with none.
FW = "BM_write_with_far_waiters/manual_time"
ISSUE14_ROWS = [
    ("write(kept 64-byte string), 1,000 AsyncWaiters armed for a later offset", "ns", FW, "ns_per_write_far_waiters",
     "cost", ("no waiter", FW, "ns_per_write_none"), ("le_plus", 1)),
    ("write, no waiter, a second log (the method's noise)", "ns", FW, "ns_per_write_none_again", "cost",
     ("no waiter", FW, "ns_per_write_none"), None),
]

# Issue 15's figures (replicas of Redis Streams and Kafka), each beside the
# plain client of the engine measured in the same run; absent when
# bench_redis / bench_kafka were not built (no redis-server, no librdkafka).
RT = "BM_redis_throughput/iterations:1/manual_time"
RL = "BM_redis_latency/iterations:1/manual_time"
KT = "BM_kafka_throughput/iterations:1/manual_time"
KL = "BM_kafka_latency/fetch_wait_ms:1/interval_us:1000/iterations:1/manual_time"
ISSUE15_ROWS = [
    ("Redis: 1M pipelined 32-byte XADDs, records/s reaching memlog", "records/s", RT, "records_per_s", "rate",
     ("the producer's XADD/s", RT, "xadd_per_s"), None),
    ("Redis: a 1M-entry backlog read by a replica", "records/s", RT, "catchup_per_s", "rate",
     ("plain XREAD client", RT, "plain_catchup_per_s"), None),
    ("Redis: XADD to memlog, p50", "us", RL, "p50_us", "cost", ("plain XREAD BLOCK client", RL, "plain_p50_us"),
     ("le_x", 1.2)),
    ("Redis: XADD to memlog, p99", "us", RL, "p99_us", "cost", ("plain XREAD BLOCK client", RL, "plain_p99_us"),
     None),
    ("Kafka (mock cluster): 1M 32-byte messages, 16 partitions, records/s reaching memlog", "records/s", KT,
     "records_per_s", "rate", ("plain librdkafka consumer", KT, "plain_per_s"), None),
    ("Kafka: produce to memlog, p50 (fetch.wait.max.ms 1, 1 msg/ms)", "us", KL, "p50_us", "cost",
     ("plain librdkafka consumer", KL, "plain_p50_us"), None),
    ("Kafka: produce to memlog, p99", "us", KL, "p99_us", "cost", ("plain librdkafka consumer", KL, "plain_p99_us"),
     None),
]

# The Go anchor's keys (anchors/go/run.sh) and our figure for each:
# (key, Go unit, our label, run name, field, our unit, "cost" or "rate").
GO_ANCHOR_ROWS = [
    ("write_ns", "ns", "write(std::string_view), segment 1000", WK, "ns_per_write_view", "ns", "cost"),
    ("write_ns", "ns", "write(kept std::string), segment 1000", WK, "ns_per_write_kept", "ns", "cost"),
    ("read_ns", "ns", "read(offset), owning copy", "BM_read/real_time/threads:1", "real_time", "ns", "cost"),
    ("read_batch_ns_per_record", "ns/record", "read_batch, batch 100 (cache-resident)", "BM_read_batch/100/real_time",
     "ns_per_record", "ns/record", "cost"),
    ("write_2threads_ns", "ns", "2 threads x 1M writes", "BM_concurrent_write/iterations:5/manual_time",
     "ns_per_write", "ns", "cost"),
    ("stream_latency_1_p50_us", "us", "paced latency p50, 1 stream", PV.format(1), "p50_us", "us", "cost"),
    ("stream_latency_1_p99_us", "us", "paced latency p99, 1 stream", PV.format(1), "p99_us", "us", "cost"),
    ("stream_latency_4_p50_us", "us", "paced latency p50, 4 streams", PV.format(4), "p50_us", "us", "cost"),
    ("stream_latency_4_p99_us", "us", "paced latency p99, 4 streams", PV.format(4), "p99_us", "us", "cost"),
    ("stream_throughput_1_Mps", "M rec/s", "fan-out, next(), 1 stream (warm log)", FO.format(1, 0),
     "records_per_s_per_stream", "M rec/s", "rate"),
    ("stream_throughput_4_Mps_per_stream", "M rec/s", "fan-out, next(), 4 streams, per stream (warm log)",
     FO.format(4, 0), "records_per_s_per_stream", "M rec/s", "rate"),
    ("bytes_per_record", "bytes", "memory, 1M x 32-byte records", "BM_memory_per_record/iterations:1",
     "bytes_per_record", "bytes/record", "cost"),
    ("idle_sharded_KiB", "KiB", "idle sharded log, 1000 shards", "BM_sharded_idle_memory/iterations:10", "bytes",
     "KiB", "cost"),
]

TIME_SCALE = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(paths):
    """{run name: [runs]} (one per repetition, aggregates dropped), and the context."""
    runs, context = {}, {}
    for path in paths:
        try:
            if os.path.getsize(path) == 0:
                continue  # a --benchmark_filter that matched nothing in this binary
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print(f"report.py: {path}: {e}, skipped", file=sys.stderr)
            continue
        context = context or data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate" or b.get("error_occurred"):
                continue
            runs.setdefault(b.get("run_name", b["name"]), []).append(b)
    return runs, context


BEST = False  # --best: the best repetition instead of the median


def samples(runs, name, field):
    """The field's value in every repetition of the run, sorted."""
    values = []
    for b in runs.get(name, []):
        if field in ("real_time", "cpu_time"):
            values.append(b[field] * TIME_SCALE[b.get("time_unit", "ns")])  # in ns
        elif b.get(field) is not None:
            values.append(float(b[field]))
    return sorted(values)


def value(runs, name, field, kind="cost"):
    values = samples(runs, name, field)
    if not values:
        return None
    if BEST:
        return values[0] if kind == "cost" else values[-1]
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


SCALE = {"M rec/s": 1e-6, "M/s": 1e-6, "MB": 1e-6, "KiB": 1 / 1024}


def scaled(v, unit):
    if v is None:
        return None
    return v * SCALE.get(unit, 1.0)


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def shown(v):
    """v as the table shows it, so that a figure printed equal to its target meets it."""
    return float(fmt(v).replace(",", ""))


def met(ours, kind, limit):
    if ours is None or limit is None:
        return ""
    ok = shown(ours) <= shown(limit) if kind == "cost" else shown(ours) >= shown(limit)
    return "yes" if ok else "no"


def target_of(spec, runs, kind):
    """(text, met or None) for a row's target."""
    if spec is None:
        return "", None
    if spec in ("pv1", "pv4"):
        cv = value(runs, PV.format(1 if spec == "pv1" else 4), "cv_p50_us")
        if cv is None:
            return "<= 1.1 x condvar", None
        return f"<= {fmt(1.1 * cv)} (1.1 x condvar, same run)", ("cv", 1.1 * cv)
    if spec == "idle":
        base = value(runs, "BM_write_idle_streams/manual_time", "ns_per_write_0_streams")
        if base is None:
            return "<= 1.1 x 0 streams", None
        return f"<= {fmt(1.1 * base)} (1.1 x 0 streams)", ("cv", 1.1 * base)
    return (f"<= {fmt(spec)}" if kind == "cost" else f">= {fmt(spec)}"), ("n", spec)


def header(runs, context):
    lines = []
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    ncpu = context.get("num_cpus", os.cpu_count())
    lines.append(f"memlog benchmarks — {cpu or platform.processor()}, {ncpu} CPUs, "
                 f"{platform.system()} {platform.release()}, {context.get('date', '')}")
    reps = max((len(v) for v in runs.values()), default=1)
    if reps > 1:
        lines.append(f"{'best' if BEST else 'median'} of {reps} repetitions")
    if LOAD:
        lines.append(f"load average before / after the run: {LOAD[0]} / {LOAD[1]}"
                     + (" — the machine was busy before the run: figures are unreliable"
                        if LOAD[0] > 0.75 * (ncpu or 1) else ""))
    if any(b.get("capped") for rs in runs.values() for b in rs):
        lines.append("CAPPED: a fan-out or write-under-readers run hit its time cap (see the detail tables); "
                     "its figures are over what it managed before the cap")
    return lines


def fmt_in(v, unit):
    """fmt, with one decimal for MiB (a heap of 129.0 against a bound of 130)."""
    return f"{v:,.1f}" if v is not None and unit == "MiB" else fmt(v)


def target_table(runs, rows, issue):
    lines = [f"Issue {issue}: each figure beside the same-run baseline it is read against "
             "(range: lowest-highest across repetitions)", "",
             f"| figure | unit | memlog | range | baseline (same run) | baseline | target (issue {issue}) | met |",
             "|---|---|---:|---|---|---:|---|:-:|"]
    for figure, unit, name, field, kind, base, spec in rows:
        ours = scaled(value(runs, name, field, kind), unit)
        all_runs = samples(runs, name, field)
        rng = ""
        if len(all_runs) > 1:
            rng = f"{fmt_in(scaled(all_runs[0], unit), unit)}-{fmt_in(scaled(all_runs[-1], unit), unit)}"
        base_label, base_value = "", None
        if base is not None:
            base_label = base[0]
            # The baseline's own best-case direction follows the row's.
            base_value = scaled(value(runs, base[1], base[2], kind), unit)
        text, limit = "", None
        if spec is not None:
            op, number = spec[0], spec[1]
            note = f" ({spec[2]})" if len(spec) > 2 else ""
            if op == "le":
                text, limit = f"<= {fmt_in(number, unit)}{note}", number
            elif op == "ge":
                text, limit = f">= {fmt(number)}{note}", number
            elif op == "le_x":
                limit = None if base_value is None else number * base_value
                text = f"<= {number:g} x {base_label}" + ("" if limit is None else f" = {fmt(limit)}")
            elif op == "le_plus":
                limit = None if base_value is None else base_value + number
                text = f"<= {base_label} + {number:g}" + ("" if limit is None else f" = {fmt(limit)}")
        lines.append(f"| {figure} | {unit} | {fmt_in(ours, unit)} | {rng} | {base_label} | "
                     f"{fmt_in(base_value, unit)} | {text} | {met(ours, kind, limit)} |")
    return lines


def issue11_table(runs):
    return target_table(runs, ISSUE11_ROWS, 11)


def issue13_table(runs):
    return target_table(runs, ISSUE13_ROWS, 13)


def issue15_table(runs):
    if not any(name in runs for name in (RT, RL, KT, KL)):
        return ["Issue 15: bench_redis and bench_kafka did not run (redis-server or librdkafka missing)"]
    return target_table(runs, ISSUE15_ROWS, 15)


def detail_tables(runs):
    lines = ["Single-write latency while R threads call read_batch(…, 1000) flat out "
             "(default segment 1024; 1 s of writes with a kept std::string; one clock read per write included):", "",
             "| readers | p50 ns | p99 us | p99.9 us | worst us | M writes/s | M records/s read (all readers) | capped |",
             "|---:|---:|---:|---:|---:|---:|---:|:-:|"]
    for r in range(4):
        name = WUR.format(r)
        cells = [fmt(value(runs, name, f)) for f in ("p50_ns", "p99_us", "p999_us", "worst_us")]
        cells += [fmt(scaled(value(runs, name, f, "rate"), "M/s")) for f in ("writes_per_s", "reader_records_per_s")]
        capped = value(runs, name, "capped")
        cells.append("" if capped is None else ("yes" if capped else "no"))
        lines.append(f"| {r} | " + " | ".join(cells) + " |")

    lines += ["", "Fan-out: N streams on one warm log, the writer writing flat out with a kept std::string "
              "(1M records per run, 16M / N above 16 streams); CPU and context switches of the whole process "
              "(writer included) per delivered record (streams 0: per write):", "",
              "| streams | read with | records / run | written | M rec/s per stream | slowest stream | "
              "M rec/s in total | writer M writes/s | CPU ns / delivery | csw / delivery | capped |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|"]
    for n, rf in [(0, 0), (1, 0), (1, 1), (4, 0), (4, 1), (16, 0), (16, 1), (64, 0), (64, 1)]:
        name = FO.format(n, rf)
        if name not in runs:
            continue
        read_with = "—" if n == 0 else ("range-for" if rf else "next()")
        cells = [fmt(value(runs, name, "records")), fmt(value(runs, name, "written"))]
        cells += [fmt(scaled(value(runs, name, f, "rate"), "M rec/s")) for f in
                  ("records_per_s_per_stream", "min_stream_records_per_s", "records_per_s_total",
                   "writer_writes_per_s")]
        cells += [fmt(value(runs, name, f)) for f in ("cpu_ns_per_delivery", "csw_per_delivery")]
        capped = value(runs, name, "capped")
        cells.append("" if capped is None else ("yes" if capped else "no"))
        lines.append(f"| {n} | {read_with} | " + " | ".join(cells) + " |")

    lines += ["", "Paced latency (one write every 100 us, from the call of write() to the return of next()), "
              "parked streams and a bare condition variable interleaved in one run:", "",
              "| streams | p50 us | condvar p50 | p99 us | condvar p99 | max us | condvar max | "
              "csw / record | condvar csw / record |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in (1, 4, 16, 64):
        name = PV.format(n)
        if name not in runs:
            continue
        cells = [fmt(value(runs, name, f)) for f in
                 ("p50_us", "cv_p50_us", "p99_us", "cv_p99_us", "max_us", "cv_max_us", "csw_per_record",
                  "cv_csw_per_record")]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def go_table(runs, context):
    lines = ["ratio: Go / memlog for costs, memlog / Go for rates (> 1: memlog is better)", "",
             "| figure | unit | memlog | Go | ratio | target (issue 5) | met |",
             "|---|---|---:|---:|---:|---|:-:|"]
    for figure, name, field, unit, go, kind, spec in ROWS:
        ours = scaled(value(runs, name, field, kind), unit)
        ratio = None
        if ours is not None and go is not None and ours > 0:
            ratio = go / ours if kind == "cost" else ours / go
        text, check = target_of(spec, runs, kind)
        ratio_text = "—" if ratio is None else f"{ratio:.2f}x"
        lines.append(f"| {figure} | {unit} | {fmt(ours)} | {fmt(go)} | {ratio_text} | {text} | "
                     f"{met(ours, kind, None if check is None else check[1])} |")

    lines.append("")
    lines.append("Stream latency: from the call of write() to the return of next(), writer paced at one record "
                 "per 100 us (Go's figure: one per 200 us, and Go polls with 10 ms sleeps). "
                 "Throughput: 1M records per run, segment 1<<20 (no purge); a warm log has run before (its segments "
                 "and the allocator's free lists are sized), a fresh log is new for each run.")
    lines.append("")
    lines.append("Cost of waiting (writer paced at one record per 100 us):")
    lines.append("")
    lines.append("| reader | p50 us | p99 us | max us | context switches / delivered record | "
                 "CPU per reader thread (% of a core) |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for label, name in WAIT_ROWS:
        cells = [fmt(value(runs, name, c)) for c in
                 ("p50_us", "p99_us", "max_us", "csw_per_record", "stream_cpu_pct")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def read_go(path):
    """{key: value} from the Go anchor's output ("key value" lines; anything else is ignored)."""
    keys = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                try:
                    keys[parts[0]] = float(parts[1])
                except ValueError:
                    pass
    return keys


def go_anchor_table(runs, go):
    lines = ["Against the Go original measured on this machine right after this run "
             "(anchors/go/run.sh; ratio: Go / memlog for costs, memlog / Go for rates; > 1: memlog is better). "
             "The workloads differ where anchors/go/README.md says so.", "",
             "| Go key | Go | memlog figure | memlog | unit | ratio |",
             "|---|---:|---|---:|---|---:|"]
    for key, go_unit, label, name, field, unit, kind in GO_ANCHOR_ROWS:
        ours = scaled(value(runs, name, field, kind), unit)
        theirs = go.get(key)
        ratio = None
        if ours and theirs:
            ratio = theirs / ours if kind == "cost" else ours / theirs
        lines.append(f"| {key} | {fmt(theirs)} | {label} | {fmt(ours)} | {go_unit} | "
                     f"{'—' if ratio is None else f'{ratio:.2f}x'} |")
    return lines


def report(runs, context, go=None):
    lines = header(runs, context) + [""]
    lines += issue11_table(runs) + [""]
    lines += issue13_table(runs) + [""]
    lines += target_table(runs, ISSUE14_ROWS, 14) + [""]
    lines += issue15_table(runs) + [""]
    lines += detail_tables(runs) + [""]
    lines += ["Against the Go original's figures from issue 5 (Go 1.19 on the same kind of machine):", ""]
    lines += go_table(runs, context)
    if go is not None:
        lines += [""] + go_anchor_table(runs, go)
    return "\n".join(lines)


LOAD = []  # 1-minute load average before and after --run


def loadavg():
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def run_all(directory, extra, out_dir=None):
    LOAD.append(loadavg())
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    else:
        out_dir = tempfile.mkdtemp(prefix="memlog-bench-")
    outputs = []
    for exe in BINARIES:
        path = os.path.join(directory, exe)
        out = os.path.join(out_dir, exe + ".json")
        if os.path.exists(out):
            os.remove(out)  # never report a previous run's figures
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"report.py: {path} not built, skipped", file=sys.stderr)
            continue
        print(f"\n==================== benchmark: {exe} ====================", flush=True)
        subprocess.run([path, f"--benchmark_out={out}", "--benchmark_out_format=json", *extra], check=True)
        outputs.append(out)
    LOAD.append(loadavg())
    print(f"\nJSON results in {out_dir}\n", flush=True)
    return outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", metavar="DIR", help="directory holding the bench_* executables to run first")
    parser.add_argument("--out", metavar="DIR", help="with --run: write the JSON results here (default: a new "
                                                     "temporary directory)")
    parser.add_argument("--go", metavar="FILE", help="the Go anchor's output (anchors/go/run.sh), to add a table "
                                                     "against it")
    parser.add_argument("--no-report", action="store_true", help="with --run: run the benchmarks, print no tables")
    parser.add_argument("rest", nargs="*",
                        help="JSON files (without --run), or benchmark flags after -- (with --run)")
    parser.add_argument("--best", action="store_true",
                        help="with --benchmark_repetitions: the best repetition of each figure, not the median "
                             "(for a machine shared with other work)")
    args = parser.parse_args()
    global BEST
    BEST = args.best
    if args.run:
        files = run_all(args.run, args.rest, args.out)
    else:
        files = args.rest
    if args.run and args.no_report:
        return
    if not files:
        parser.error("give --run DIR or JSON files")
    runs, context = load(files)
    print(report(runs, context, read_go(args.go) if args.go else None))


if __name__ == "__main__":
    main()
