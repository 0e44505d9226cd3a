#!/bin/sh
# The performance targets of issue 24, each measured side by side in one run and printed as
# "target: measured value PASS/FAIL"; exit status 1 if any failed. Rerun on a quiet machine:
#
#     sh benches/targets.sh                      # from the repository root
#     AGAINST=/path/to/old/cpufleet sh benches/targets.sh   # also: JSON identical to that build
#
# 1. prepared compare (`compare/libvirt-V/pair/policy_sets`, criterion, the three maps one after
#    the other, three rounds): 11.3.0's and 12.9.0's best median within 1.25x of 9.0.0's;
# 2. the 50,000-host baseline (`benches/compare_libvirt.py --hosts 50000`): >= 100x each
#    libvirt's own, and cpufleet under 11.3.0 / 12.9.0 within 1.5x of its 9.0.0 run (needs
#    python3-libvirt and the 11.3.0 / 12.9.0 oracles, benches/README.md "Set-up");
# 3. `simulate` at 10^6 hosts / 10^7 migrations (`benches/simulate_targets.py`): migrate < 1 s,
#    <= 64 MB; libvirt-upgrade < 8 s, <= 96 MB (11.3.0 and 12.9.0, 2 threads); JSON identical
#    across --threads 1/2 (and to $AGAINST's).
#
# Not a test and not run by CI's test step: timings depend on the machine.
set -u
cd "$(dirname "$0")/.."
fail=0
# Runs a part, prints its PASS/FAIL lines and the --against build's (all of its output when it has
# none), notes a failure.
part() {
    out=$(mktemp)
    "$@" >"$out" 2>&1
    rc=$?
    grep -E 'PASS|FAIL|\[against' "$out" || cat "$out"
    [ "$rc" -eq 0 ] || fail=1
    rm -f "$out"
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release -p cpufleet || exit 1

# Three rounds of the three maps; each map's best estimate over the rounds (load only adds time).
part python3 - <<'PY'
import json, subprocess, sys
best = {}
for _ in range(3):
    subprocess.run(["cargo", "bench", "-q", "-p", "cpufleet-benches", "--bench", "ops", "--", "compare/.*/pair/policy_sets",
                    "--warm-up-time", "1", "--measurement-time", "2"], check=True, stdout=subprocess.DEVNULL)
    for v in ("9.0.0", "11.3.0", "12.9.0"):
        with open(f"target/criterion/compare_libvirt-{v}/pair_policy_sets/new/estimates.json") as f:
            t = json.load(f)["median"]["point_estimate"]
        best[v] = min(best.get(v, t), t)
bad = False
for v in ("11.3.0", "12.9.0"):
    r = best[v] / best["9.0.0"]
    ok = r <= 1.25
    bad |= not ok
    print(f"prepared compare {v} / 9.0.0 <= 1.25x: {best[v]:.0f} ns / {best['9.0.0']:.0f} ns per 40 pairs = {r:.2f}x "
          f"{'PASS' if ok else 'FAIL'}")
sys.exit(1 if bad else 0)
PY
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

part /usr/bin/python3 benches/compare_libvirt.py --hosts 50000 --runs 3
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

part python3 benches/simulate_targets.py --rounds 3 ${AGAINST:+--against "$AGAINST"}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
