#!/usr/bin/env python3
"""Runs memlog's benchmarks (optional) and prints a markdown table against the
Go original's figures (issue 5). Standard library only.

  python3 bench/report.py --run build/bench/bench [-- <benchmark flags>]
      runs bench_log, bench_stream, bench_sharded, bench_memory from that
      directory (those that exist), each with --benchmark_out=<tmp>/<name>.json,
      then prints the table
  python3 bench/report.py out1.json out2.json ...
      only prints the table from saved --benchmark_out_format=json files

With --benchmark_repetitions=N, each figure is the median of the N runs
(--best: the best one; use it only on a machine busy with other work).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

BINARIES = ["bench_log", "bench_stream", "bench_sharded", "bench_memory"]

# (figure, benchmark run name, field or counter, unit, Go figure or None,
#  "cost" (lower is better) or "rate" (higher is better), target text, target check)
LAT = "BM_stream_latency/streams:{}/spin_us:{}/iterations:1/manual_time"
CV = "BM_condvar_latency/streams:{}/iterations:1/manual_time"
PV = "BM_parked_vs_condvar/streams:{}/iterations:1/manual_time"
TP = "BM_stream_throughput/streams:{}/spin_us:{}/range_for:{}/warm:{}/iterations:3/manual_time"
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
    ("read beside a busy writer", "BM_read_beside_writer/real_time", "real_time", "ns/op", None, "cost", None),
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

TIME_SCALE = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(paths):
    """{run name: [runs]} (one per repetition, aggregates dropped), and the context."""
    runs, context = {}, {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        context = context or data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate" or b.get("error_occurred"):
                continue
            runs.setdefault(b.get("run_name", b["name"]), []).append(b)
    return runs, context


BEST = False  # --best: the best repetition instead of the median


def value(runs, name, field, kind="cost"):
    values = []
    for b in runs.get(name, []):
        if field in ("real_time", "cpu_time"):
            values.append(b[field] * TIME_SCALE[b.get("time_unit", "ns")])  # in ns
        elif b.get(field) is not None:
            values.append(float(b[field]))
    if not values:
        return None
    values.sort()
    if BEST:
        return values[0] if kind == "cost" else values[-1]
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def scaled(v, unit):
    if v is None:
        return None
    if unit == "M rec/s":
        return v / 1e6
    if unit == "MB":
        return v / 1e6
    return v


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


def table(runs, context):
    lines = []
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    ncpu = context.get("num_cpus", os.cpu_count())
    lines.append(f"memlog vs Go memlog — {cpu or platform.processor()}, {ncpu} CPUs, "
                 f"{platform.system()} {platform.release()}, {context.get('date', '')}")
    reps = max((len(v) for v in runs.values()), default=1)
    if reps > 1:
        lines.append(f"{'best' if BEST else 'median'} of {reps} repetitions")
    if LOAD:
        lines.append(f"load average before / after the run: {LOAD[0]} / {LOAD[1]}"
                     + (" — the machine was busy before the run: figures are unreliable"
                        if LOAD[0] > 0.75 * (ncpu or 1) else ""))
    lines.append("")
    lines.append("ratio: Go / memlog for costs, memlog / Go for rates (> 1: memlog is better)")
    lines.append("")
    lines.append("| figure | unit | memlog | Go | ratio | target (issue 5) | met |")
    lines.append("|---|---|---:|---:|---:|---|:-:|")
    for figure, name, field, unit, go, kind, spec in ROWS:
        ours = scaled(value(runs, name, field, kind), unit)
        ratio = None
        if ours is not None and go is not None and ours > 0:
            ratio = go / ours if kind == "cost" else ours / go
        text, check = target_of(spec, runs, kind)
        met = ""
        if check is not None and ours is not None:
            limit = check[1]
            ok = ours <= limit if kind == "cost" else ours >= limit
            met = "yes" if ok else "no"
        ratio_text = "—" if ratio is None else f"{ratio:.2f}x"
        lines.append(f"| {figure} | {unit} | {fmt(ours)} | {fmt(go)} | {ratio_text} | {text} | {met} |")

    lines.append("")
    lines.append("Stream latency: from the call of write() to the return of next(), writer paced at one record "
                 "per 100 us (Go's figure: one per 200 us, and Go polls with 10 ms sleeps). "
                 "Throughput: 1M records per run, segment 1<<20 (no purge); a warm log has run before (its segments and the allocator's free lists are sized), a fresh log is new for each run.")
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
    return "\n".join(lines)


LOAD = []  # 1-minute load average before and after --run


def loadavg():
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def run_all(directory, extra):
    LOAD.append(loadavg())
    out_dir = tempfile.mkdtemp(prefix="memlog-bench-")
    outputs = []
    for exe in BINARIES:
        path = os.path.join(directory, exe)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"report.py: {path} not built, skipped", file=sys.stderr)
            continue
        out = os.path.join(out_dir, exe + ".json")
        print(f"\n==================== benchmark: {exe} ====================", flush=True)
        subprocess.run([path, f"--benchmark_out={out}", "--benchmark_out_format=json", *extra], check=True)
        outputs.append(out)
    LOAD.append(loadavg())
    print(f"\nJSON results in {out_dir}\n", flush=True)
    return outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", metavar="DIR", help="directory holding the bench_* executables to run first")
    parser.add_argument("rest", nargs="*",
                        help="JSON files (without --run), or benchmark flags after -- (with --run)")
    parser.add_argument("--best", action="store_true",
                        help="with --benchmark_repetitions: the best repetition of each figure, not the median "
                             "(for a machine shared with other work)")
    args = parser.parse_args()
    global BEST
    BEST = args.best
    if args.run:
        files = run_all(args.run, args.rest)
    else:
        files = args.rest
    if not files:
        parser.error("give --run DIR or JSON files")
    runs, context = load(files)
    print(table(runs, context))


if __name__ == "__main__":
    main()
