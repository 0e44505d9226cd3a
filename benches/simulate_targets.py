#!/usr/bin/env python3
"""`cpufleet simulate` at 10^6 hosts, 10^5 guests, 10^7 migrations: wall time and peak RSS per
release, the releases run alternately (round 1: 11.3.0, 12.9.0, …; round 2 the same order again),
so that load drift hits every release alike; then the issue-24 targets with PASS/FAIL, and
whether the JSON report is byte-identical across `--threads 1` / `--threads 2` and against a
second binary (`--against`, e.g. main's build copied aside).

    python3 benches/simulate_targets.py [--bin target/release/cpufleet] [--against OLD_BIN]
        [--rounds 3] [--releases 11.3.0,12.9.0] [--scenarios migrate,libvirt-upgrade]

Each run is `/usr/bin/time -f '%e %M' BIN simulate --hosts 1000000 --guests 100000
--migrations 10000000 --scenario S --libvirt R --threads 2 --quiet --format json` with stdout
into a temporary file (hashed, then deleted). The best wall time and the largest peak RSS over
the rounds are reported (the load average is printed beside them: on a shared machine the
absolute times move). libvirt-upgrade rolls the fleet from 9.0.0 (`--upgrade-from`'s default)
to R. Targets (issue 24, point 3): migrate < 1 s and <= 64 MB; libvirt-upgrade < 8 s and
<= 96 MB (MB = 10^6 bytes, as /usr/bin/time's KB are KiB: 1 KiB = 1.024 kB).
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = ["--hosts", "1000000", "--guests", "100000", "--migrations", "10000000"]
TARGETS = {"migrate": (1.0, 64.0), "libvirt-upgrade": (8.0, 96.0)}


def load():
    return os.getloadavg()[0]


def run(binary, scenario, release, threads, tmp):
    """One run: (wall s, peak MB, sha256 of stdout)."""
    out = os.path.join(tmp, "out.json")
    timing = os.path.join(tmp, "time.txt")
    cmd = ["/usr/bin/time", "-o", timing, "-f", "%e %M", binary, "simulate", *SIZE, "--scenario", scenario,
           "--libvirt", release, "--threads", str(threads), "--quiet", "--format", "json"]
    with open(out, "wb") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    with open(timing) as f:
        wall, kib = f.read().split()[-2:]
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    os.remove(out)
    return float(wall), int(kib) * 1024 / 1e6, h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "target/release/cpufleet"))
    ap.add_argument("--against", help="a second binary (e.g. main's build): its JSON must be byte-identical")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--releases", default="11.3.0,12.9.0")
    ap.add_argument("--scenarios", default="migrate,libvirt-upgrade")
    a = ap.parse_args()
    for path in ["/usr/bin/time", a.bin] + ([a.against] if a.against else []):
        if not os.access(path, os.X_OK):
            sys.exit(f"{path} is missing (apt-get install -y time; cargo build --release -p cpufleet)")
    releases = [r for r in a.releases.split(",") if r]
    scenarios = [s for s in a.scenarios.split(",") if s]
    bins = [("new", a.bin)] + ([("against", a.against)] if a.against else [])
    results = {}  # (scenario, release, bin label) -> [(wall, mb, load)]
    hashes = {}  # (scenario, release, bin label, threads) -> set of digests
    with tempfile.TemporaryDirectory(prefix="cpufleet-simtargets-") as tmp:
        for rnd in range(a.rounds):
            for s in scenarios:
                for r in releases:
                    for label, binary in bins:
                        ld = load()
                        wall, mb, digest = run(binary, s, r, 2, tmp)
                        results.setdefault((s, r, label), []).append((wall, mb, ld))
                        hashes.setdefault((s, r, label, 2), set()).add(digest)
                        print(f"round {rnd + 1}: {s:15} {r:7} {label:7} {wall:6.2f} s {mb:6.1f} MB  (load {ld:.2f})",
                              file=sys.stderr, flush=True)
        # One run on one thread each (the output must not depend on the thread count).
        for s in scenarios:
            for r in releases:
                wall, mb, digest = run(a.bin, s, r, 1, tmp)
                hashes.setdefault((s, r, "new", 1), set()).add(digest)
                print(f"threads 1: {s:15} {r:7} new     {wall:6.2f} s {mb:6.1f} MB", file=sys.stderr, flush=True)
    failed = False
    print(f"simulate {' '.join(SIZE)}, --threads 2, best wall / largest peak over {a.rounds} alternating rounds")
    for s in scenarios:
        for r in releases:
            for label, binary in bins:
                runs = results[(s, r, label)]
                wall = min(w for w, _, _ in runs)
                mb = max(m for _, m, _ in runs)
                loads = "/".join(f"{ld:.1f}" for _, _, ld in runs)
                line = f"{s} libvirt {r} [{label}: {binary}]: wall {wall:.2f} s, peak {mb:.1f} MB (load {loads})"
                if label == "against":
                    mine = min(w for w, _, _ in results[(s, r, "new")])
                    line += f"  (new / against: {mine / wall:.2f}x wall)"
                if label == "new" and s in TARGETS:
                    tw, tm = TARGETS[s]
                    ok = wall < tw and mb <= tm
                    failed |= not ok
                    line += f"  target < {tw:g} s, <= {tm:g} MB: {'PASS' if ok else 'FAIL'}"
                print(line)
            same = hashes[(s, r, "new", 2)] | hashes[(s, r, "new", 1)]
            ok = len(same) == 1
            line = f"{s} libvirt {r}: JSON identical across --threads 1/2 and rounds: {'PASS' if ok else 'FAIL'}"
            if a.against:
                both = same | hashes[(s, r, "against", 2)]
                ok2 = len(both) == 1
                ok = ok and ok2
                line += f"; identical to --against: {'PASS' if ok2 else 'FAIL'}"
            failed |= not ok
            print(line)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
