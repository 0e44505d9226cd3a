#!/usr/bin/env python3
"""`cpufleet collect` at fleet size: N hosts (the in-process test driver, test:///default, under N
names in 10 pools), collected with the default --jobs into a fresh directory; prints the wall time
and the peak resident memory of the cpufleet process for each N, so that memory can be seen not to
grow with the host count.

    python3 benches/collect.py [--bin target/release/cpufleet] [N ...]   (default: 50 200)
"""
import argparse, resource, shutil, subprocess, sys, tempfile, time, os


def run(binary, n, tmp):
    hosts = os.path.join(tmp, f"hosts-{n}.txt")
    with open(hosts, "w") as f:
        for i in range(n):
            f.write(f"pool{i % 10} host{i:04d} test:///default\n")
    out = os.path.join(tmp, f"inv-{n}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.monotonic()
    p = subprocess.run([binary, "collect", "-q", "-o", out, "--hosts", hosts], capture_output=True, text=True)
    wall = time.monotonic() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if p.returncode != 0:
        sys.exit(f"collect of {n} hosts failed ({p.returncode}): {p.stdout}{p.stderr}")
    files = sum(len(fs) for _, _, fs in os.walk(out))
    shutil.rmtree(out)
    # ru_maxrss of children is the largest child so far: run the sizes in increasing order.
    return wall, rss if rss > before else before, files, p.stdout.splitlines()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/cpufleet")
    ap.add_argument("sizes", nargs="*", type=int, default=[50, 200])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(a.sizes):
            wall, rss, files, line = run(a.bin, n, tmp)
            print(f"{n:5d} hosts: {wall:6.2f} s, peak RSS {rss / 1024:6.1f} MiB, {files} files ({line})")


if __name__ == "__main__":
    main()
