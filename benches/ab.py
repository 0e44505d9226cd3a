#!/usr/bin/env python3
"""A/B benchmark of two checkouts of cpufleet, interleaved in one sitting.

Builds nothing: run `cargo bench --workspace --no-run` in both checkouts first. For each
round, runs every criterion bench binary of A, then of B (then B before A on the next round,
so drift hits both sides alike), each with short settings, and prints per benchmark the
median of the per-round estimates on each side and the ratio B/A.

    python3 benches/ab.py BEFORE_DIR AFTER_DIR [--rounds 3] [--filter REGEX]
                          [--rename OLD=NEW ...] [--measurement 2] [--warmup 1]

Benchmarks are matched by their criterion id; --rename maps an id of A to the id the same
measurement has in B (a renamed bench).
"""
import argparse
import json
import re
import statistics
import subprocess
import sys

UNIT = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
LINE = re.compile(r"^(\S.*?)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]")


def bench_binaries(repo):
    out = subprocess.run(
        ["cargo", "bench", "--workspace", "--no-run", "--message-format=json"],
        cwd=repo, capture_output=True, text=True, check=True).stdout
    bins = []
    for line in out.splitlines():
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
            bins.append(m["executable"])
    return sorted(set(bins))


def run(binary, args):
    """Criterion id -> estimate in ns, from one run of `binary`."""
    cmd = [binary, "--bench", "--noplot", "--warm-up-time", str(args.warmup),
           "--measurement-time", str(args.measurement)]
    if args.filter:
        cmd.append(args.filter)
    text = subprocess.run(cmd, capture_output=True, text=True).stdout
    found, pending = {}, None
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            found[m.group(1).strip()] = float(m.group(2)) * UNIT[m.group(3)]
            pending = None
            continue
        # Long ids stand on their own line, the estimate on the next one.
        m2 = re.match(r"^\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if m2 and pending:
            found[pending] = float(m2.group(1)) * UNIT[m2.group(2)]
            pending = None
        elif line and not line.startswith(" ") and "time:" not in line and not line.startswith(("Benchmarking", "Gnuplot", "Found", "change:", "No change", "Performance", "Change")):
            pending = line.strip()
    return found


def fmt(ns):
    for unit, f in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= f:
            return f"{ns / f:.3g} {unit}"
    return f"{ns:.3g} ns"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--filter")
    ap.add_argument("--rename", action="append", default=[])
    ap.add_argument("--measurement", type=float, default=2)
    ap.add_argument("--warmup", type=float, default=1)
    args = ap.parse_args()
    rename = dict(r.split("=", 1) for r in args.rename)
    sides = {"a": bench_binaries(args.a), "b": bench_binaries(args.b)}
    results = {"a": {}, "b": {}}
    for r in range(args.rounds):
        order = ["a", "b"] if r % 2 == 0 else ["b", "a"]
        for side in order:
            for binary in sides[side]:
                for k, v in run(binary, args).items():
                    results[side].setdefault(rename.get(k, k) if side == "a" else k, []).append(v)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"| benchmark | A: {args.a} | B: {args.b} | B/A |")
    print("|---|---:|---:|---:|")
    for k in sorted(set(results["a"]) | set(results["b"])):
        a, b = results["a"].get(k), results["b"].get(k)
        ma = statistics.median(a) if a else None
        mb = statistics.median(b) if b else None
        ratio = f"{mb / ma:.2f}" if ma and mb else "-"
        print(f"| {k} | {fmt(ma) if ma else '-'} | {fmt(mb) if mb else '-'} | {ratio} |")


if __name__ == "__main__":
    main()
