#!/usr/bin/env python3
"""Thread scaling of the Conv2d benchmarks, measured in alternating pairs of BenchmarkDotNet runs.

Why pairs: this project's machines drift by up to 25 % in speed from one quarter-hour to the next (other tenants,
clock). A one-thread and a two-thread figure taken ten minutes apart in one BenchmarkDotNet session can then differ by
that drift as well as by the scaling, in either direction (resnet_l1's backward read 1.55x in one such session and
1.79x in the next). Here each shape is measured at 1 and at 2 threads back to back, in separate BenchmarkDotNet
processes a minute or two apart, and this is repeated --pairs times with the order swapped every other pair (1 then 2,
2 then 1) so that a steady drift favours neither. Each pair gives its own ratio; the table shows every pair's ratio and
their median, from BenchmarkDotNet's median per operation and from its mean (which BenchmarkDotNet takes after
removing upper outliers).

Usage (from the repository root, on an otherwise idle machine):
    python3 Benchmarks/compare/scaling_pairs.py --cases resnet_l1,resnet_l3 --pairs 3 [--job medium] [--out FILE]

Every run's full JSON report is kept under the --artifacts folder (default BenchmarkDotNet.Artifacts/scaling/), one
folder per run, so each figure can be traced back. Nothing of the library depends on this script.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def run_once(case, threads, job, artifacts, extra):
    """One BenchmarkDotNet process: the case at the thread count. Returns {method: (mean_ns, median_ns, stddev_ns)} and the CPU name."""
    env = dict(os.environ, CONVENGINE_BENCH_THREADS=str(threads), CONVENGINE_BENCH_CASES=case)
    cmd = ["dotnet", "run", "--project", "Benchmarks", "-c", "Release", "--no-build", "--",
           "--filter", "*Conv2dBenchmarks*", "--job", job, "--exporters", "json", "--artifacts", artifacts] + extra
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:])
        raise SystemExit(f"BenchmarkDotNet failed for case {case!r} at {threads} threads (exit code {proc.returncode})")
    reports = glob.glob(os.path.join(artifacts, "results", "*Conv2dBenchmarks*-report-full-compressed.json"))
    if len(reports) != 1:
        raise SystemExit(f"expected one JSON report under {artifacts}/results, found {len(reports)}")
    with open(reports[0], encoding="utf-8") as f:
        report = json.load(f)
    out = {}
    for b in report["Benchmarks"]:
        s = b.get("Statistics")
        if s is None:
            raise SystemExit(f"{b['FullName']}: no statistics (did the benchmark fail?)")
        out[b["Method"]] = (s["Mean"], s["Median"], s["StandardDeviation"])
    cpu = report["HostEnvironmentInfo"].get("ProcessorName", "?")
    return out, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", required=True, help="comma-separated Conv2dBenchmarks case names, e.g. resnet_l1,resnet_l3")
    ap.add_argument("--pairs", type=int, default=3, help="alternating pairs per case (default 3)")
    ap.add_argument("--job", default="medium", help="BenchmarkDotNet job (default medium)")
    ap.add_argument("--low", type=int, default=1, help="the smaller thread count (default 1)")
    ap.add_argument("--high", type=int, default=2, help="the larger thread count (default 2)")
    ap.add_argument("--artifacts", default=os.path.join("BenchmarkDotNet.Artifacts", "scaling"))
    ap.add_argument("--no-build", action="store_true", help="skip building the benchmarks first")
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    args = ap.parse_args()
    if args.pairs < 1:
        ap.error(f"--pairs must be at least 1, got {args.pairs}")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if not cases:
        ap.error("--cases names no case")
    if not args.no_build:
        subprocess.run(["dotnet", "build", "Benchmarks", "-c", "Release", "-nologo", "-clp:ErrorsOnly"], check=True)

    rows = []   # (case, method, pair, low (mean, median, sd), high (mean, median, sd))
    cpu = "?"
    for case in cases:
        for p in range(args.pairs):
            order = (args.low, args.high) if p % 2 == 0 else (args.high, args.low)
            got = {}
            for t in order:
                folder = os.path.join(args.artifacts, f"{case}-pair{p + 1}-t{t}")
                shutil.rmtree(folder, ignore_errors=True)   # a report from an earlier run must not be read as this one's
                started = time.strftime("%H:%M:%S")
                got[t], cpu = run_once(case, t, args.job, folder, [])
                summary = ", ".join(f"{m} {v[0] / 1e6:.3f} ms (median {v[1] / 1e6:.3f})" for m, v in got[t].items())
                print(f"[{started}] {case} pair {p + 1} threads {t}: {summary}", flush=True)
            for method in got[args.low]:
                rows.append((case, method, p + 1, got[args.low][method], got[args.high][method]))

    lines = [f"Scaling {args.low} → {args.high} threads, {args.pairs} alternating pairs per case, BenchmarkDotNet job "
             f"'{args.job}', {cpu}, {time.strftime('%Y-%m-%d')}.", "",
             f"| shape | pass | pair | {args.low} thread(s) median (ms) | {args.high} threads median (ms) | ratio of medians | ratio of means |",
             "|---|---|---|---|---|---|---|"]
    for case, method, p, lo, hi in rows:
        lines.append(f"| {case} | {method} | {p} | {lo[1] / 1e6:.3f} | {hi[1] / 1e6:.3f} | {lo[1] / hi[1]:.2f}x | {lo[0] / hi[0]:.2f}x |")
    lines += ["", "| shape | pass | pair ratios of medians | median of pairs | pair ratios of means | median of pairs |",
              "|---|---|---|---|---|---|"]
    for case in cases:
        for method in dict.fromkeys(r[1] for r in rows if r[0] == case):
            sel = [r for r in rows if r[0] == case and r[1] == method]
            med = [r[3][1] / r[4][1] for r in sel]
            mean = [r[3][0] / r[4][0] for r in sel]
            lines.append(f"| {case} | {method} | {', '.join(f'{v:.2f}' for v in med)} | {statistics.median(med):.2f}x | "
                         f"{', '.join(f'{v:.2f}' for v in mean)} | {statistics.median(mean):.2f}x |")
    text = "\n".join(lines)
    print()
    print(text)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
