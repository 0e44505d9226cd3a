#!/usr/bin/python3
"""Side-by-side comparison of `cpufleet baseline` with libvirt's own baseline.

For each pool size (default 1,000 / 10,000 / 50,000 hosts) this script

1. generates a realistic pool file of bare host `<cpu>` elements (what `virsh cpu-baseline FILE`
   reads). Default source (`--source fleet`): `cpufleet fleet gen`, the simulator's fleet
   generator (CPU generation profiles, microcode levels, BIOS toggles, odd hosts), scaled so that
   its largest pool holds at least N hosts; the pool file is that pool's first N hosts. With
   `--source builtin`: five Intel server configurations of this script (map models with the
   extra features, microcode, signature, TSC, topology and page sizes `virsh capabilities`
   shows), two microcode levels each, repeated in a seeded random order;
2. for each libvirt version (default 9.0.0, 11.3.0 and 12.9.0), runs that libvirt's baseline,
   best of N runs, each in a fresh process; its peak RSS comes from `/usr/bin/time` (largest
   over the runs). 9.0.0 and 11.3.0 run in process through Debian 12's `python3-libvirt`
   (`libvirt.open('test:///default').baselineCPU(cpus, 0)`), a subprocess that reports the time
   of the `baselineCPU` call alone: 9.0.0 is the system's libvirt; 11.3.0 is the one
   `../shared/oracles/libvirt-11.3.0.sh` installs (default prefix /opt/libvirt-11.3.0), whose
   library the same binding loads (`LD_LIBRARY_PATH`) in a private mount namespace where its CPU
   map is bound over the system's, as the oracle's virsh wrapper does. 12.9.0 needs Debian 13's
   glibc: the same binding loads the library of the chroot of
   `../shared/oracles/debian-release.sh trixie-backports` (default prefix
   /opt/debian-trixie-backports) through that chroot's dynamic loader, with its CPU map bound
   the same way (its virsh cannot take the test: it reads at most 10 MB of XML, and the
   50,000-host pool is about 90 MB);
3. runs `target/release/cpufleet baseline --libvirt VERSION FILE`, best of N runs, timed from
   process start to exit; peak RSS from `/usr/bin/time` over N more runs (largest);
4. checks the outputs are identical per version: virsh prints the formatted CPU plus one more
   newline, the Python binding returns the formatted CPU without that extra newline, so
   cpufleet's stdout must equal that libvirt's string + "\\n";
5. measures the two limit lines with `target/release/examples/limits` (one plain pass over the
   bytes counting `<`, and a bare single-threaded quick-xml event scan), best of N;
6. prints a markdown table.

Every version reads the same pool file: it is generated with `fleet gen --libvirt 9.0.0`, whose
host model names both versions know (11.3.0 decodes would name `-vN` models 9.0.0 rejects).

Everything runs under `taskset -c 0,1` (this machine's two cores) unless `--cpus ''`.

Set-up (Debian 12): `apt-get install -y --no-install-recommends python3-libvirt time`, then
`cargo build --release -p cpufleet && cargo build --release -p cpufleet-benches --example limits`
(the script builds them when they are missing). Run: `/usr/bin/python3 benches/compare_libvirt.py`.
"""

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Realistic x86 host CPUs as `virsh capabilities` reports them on Intel servers of several
# generations: (model, signature, microcode levels, TSC Hz, topology, phys bits, extra features).
# Every name is a model or feature of libvirt 9.0.0's x86 CPU map (the embedded map).
HOST_EXTRAS_COMMON = [
    "ds", "acpi", "ss", "ht", "tm", "pbe", "dtes64", "monitor", "ds_cpl", "vmx", "smx", "est",
    "tm2", "xtpr", "pdcm", "dca", "osxsave", "tsc_adjust", "cmt",
]
CONFIGS = [
    ("Haswell-noTSX-IBRS", (6, 63, 2), (70, 73), 2394456000, (2, 1, 10, 2), 46,
     HOST_EXTRAS_COMMON + ["f16c", "rdrand", "arat", "md-clear", "stibp", "ssbd", "xsaveopt",
                           "pdpe1gb", "abm", "invtsc"]),
    ("Broadwell-IBRS", (6, 79, 1), (184549443, 184549447), 2194916000, (2, 1, 14, 2), 46,
     HOST_EXTRAS_COMMON + ["vme", "f16c", "rdrand", "arat", "md-clear", "stibp", "ssbd",
                           "xsaveopt", "pdpe1gb", "abm", "invtsc", "mbm_total", "mbm_local"]),
    ("Skylake-Server-IBRS", (6, 85, 4), (33582172, 33582180), 2095078000, (2, 1, 16, 2), 46,
     HOST_EXTRAS_COMMON + ["intel-pt", "pku", "ospke", "md-clear", "stibp", "arch-capabilities",
                           "ssbd", "xsaves", "mbm_total", "mbm_local", "invtsc",
                           "skip-l1dfl-vmentry", "pschange-mc-no"]),
    ("Cascadelake-Server-noTSX", (6, 85, 7), (83898371, 83898375), 2294608000, (2, 1, 20, 2), 46,
     HOST_EXTRAS_COMMON + ["intel-pt", "pku", "ospke", "md-clear", "stibp", "arch-capabilities",
                           "xsaves", "mbm_total", "mbm_local", "invtsc", "ibrs-all",
                           "skip-l1dfl-vmentry", "mds-no", "pschange-mc-no", "tsx-ctrl"]),
    ("Icelake-Server-noTSX", (6, 106, 6), (218104561, 218104566), 2593906000, (2, 1, 28, 2), 46,
     HOST_EXTRAS_COMMON + ["ospke", "md-clear", "stibp", "arch-capabilities", "xsaves",
                           "mbm_total", "mbm_local", "invtsc", "fsrm", "ibrs-all",
                           "skip-l1dfl-vmentry", "mds-no", "pschange-mc-no", "taa-no",
                           "sha-ni", "rdpid", "avx512ifma"]),
]
WEIGHTS = [10, 15, 30, 25, 20]


def host_xml(cfg, microcode):
    model, (fam, mod, step), _, tsc, (sockets, dies, cores, threads), bits, extras = cfg
    lines = [
        "<cpu>",
        "  <arch>x86_64</arch>",
        f"  <model>{model}</model>",
        "  <vendor>Intel</vendor>",
        f"  <microcode version='{microcode}'/>",
        f"  <signature family='{fam}' model='{mod}' stepping='{step}'/>",
        f"  <counter name='tsc' frequency='{tsc}' scaling='no'/>",
        f"  <topology sockets='{sockets}' dies='{dies}' cores='{cores}' threads='{threads}'/>",
        f"  <maxphysaddr mode='emulate' bits='{bits}'/>",
    ]
    lines += [f"  <feature name='{f}'/>" for f in extras]
    lines += [
        "  <pages unit='KiB' size='4'/>",
        "  <pages unit='KiB' size='2048'/>",
        "  <pages unit='KiB' size='1048576'/>",
        "</cpu>",
    ]
    return "\n".join(lines) + "\n"


def gen_pool(hosts, seed, path):
    """Writes a pool of `hosts` host CPUs to `path`: 10 distinct elements (5 configurations x 2
    microcode levels) in a seeded random order."""
    rng = random.Random(seed)
    variants = [[host_xml(c, m) for m in c[2]] for c in CONFIGS]
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(hosts):
            i = rng.choices(range(len(CONFIGS)), weights=WEIGHTS)[0]
            f.write(variants[i][0 if rng.random() < 0.7 else 1])


def fleet_pool(binary, hosts, seed, path, tmp):
    """Writes the first `hosts` hosts of the largest pool of a `cpufleet fleet gen` fleet."""
    out = os.path.join(tmp, "fleet")
    scale = hosts * 12
    while True:
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([binary, "fleet", "gen", "--libvirt", "9.0.0", "--hosts", str(scale), "--seed", str(seed),
                        "--output", out], check=True, capture_output=True)
        files = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".xml")]
        largest = max(files, key=os.path.getsize)
        with open(largest, encoding="utf-8") as f:
            text = f.read()
        ends = [m.end() for m in re.finditer(r"</cpu>\n?", text)]
        if len(ends) >= hosts:
            break
        scale *= 2
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[: ends[hosts - 1]])
    shutil.rmtree(out, ignore_errors=True)
    return os.path.basename(largest)[:-4]


CPU_RE = re.compile(r"<cpu[\s>].*?</cpu>", re.S)


def libvirt_worker(path, out_path):
    """Runs in a fresh subprocess: libvirt's baseline of the pool, timed around the call."""
    import libvirt  # noqa: F401  (imported before the clock starts)

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    with open(path, encoding="utf-8") as f:
        cpus = CPU_RE.findall(f.read())
    conn = libvirt.open("test:///default")
    t = time.perf_counter()
    try:
        result = conn.baselineCPU(cpus, 0)
        error = None
    except libvirt.libvirtError as e:
        result, error = None, str(e)
    secs = time.perf_counter() - t
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(result if result is not None else "")
    v = libvirt.getVersion()
    version = f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"
    print(json.dumps({"seconds": secs, "error": error, "cpus": len(cpus), "version": version}))


def prefix(cpus):
    return ["taskset", "-c", cpus] if cpus else []


def peak_kb(argv):
    """Runs argv under /usr/bin/time and returns (its peak RSS in KiB, stdout). The child is
    forked from `time`, a small process: a child forked from this Python process would count
    this process's pages in its peak."""
    p = subprocess.run(["/usr/bin/time", "-f", "PEAK_KB %M"] + argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {p.returncode}): {p.stderr}")
    line = [l for l in p.stderr.splitlines() if l.startswith("PEAK_KB ")][-1]
    return int(line.split()[1]), p.stdout


# Where each libvirt release's library comes from: the system (9.0.0), a prefix whose library
# the system's loader can load (11.3.0, Debian 12 backports), or a Debian 13 chroot whose own
# dynamic loader must load it (12.9.0 needs Debian 13's glibc); and the option naming the prefix.
RELEASES = {
    "9.0.0": ("system", None),
    "11.3.0": ("prefix", "libvirt_11_prefix"),
    "12.9.0": ("chroot", "libvirt_12_prefix"),
}


def libvirt_argv(version, prefix_dir, worker_args):
    """The command that runs the worker against libvirt `version`: the system's (9.0.0), or that
    release's library and CPU map in a private mount namespace (the map bound over the
    system's, as the oracles' virsh wrappers do); a chroot's library through the chroot's own
    dynamic loader (the system's python3 and Debian 12's binding, whose libvirt ABI is stable)."""
    py = ["/usr/bin/python3", os.path.abspath(__file__), "--libvirt-worker"] + worker_args
    kind = RELEASES[version][0]
    if kind == "system":
        return py
    root = os.path.join(prefix_dir, "root", "usr")
    lib = f"{root}/lib/x86_64-linux-gnu"
    if kind == "prefix":
        run = f"LD_LIBRARY_PATH={lib} exec \"$@\""
    else:
        run = f"exec {root}/lib64/ld-linux-x86-64.so.2 --library-path {lib} \"$@\""
    inner = f"mount --bind {root}/share/libvirt /usr/share/libvirt && {run}"
    return ["unshare", "-m", "sh", "-c", inner, "libvirt-worker"] + py


def run_libvirt(path, runs, cpus, tmp, version, prefix_dir):
    """Best of `runs` fresh worker processes: the time of the call, the worker's peak RSS
    (largest over the runs)."""
    out_path = os.path.join(tmp, "libvirt.out")
    best, peak, output = None, 0, None
    for _ in range(runs):
        kb, stdout = peak_kb(prefix(cpus) + libvirt_argv(version, prefix_dir, [path, out_path]))
        r = json.loads(stdout)
        if r["version"] != version:
            raise SystemExit(f"the worker ran libvirt {r['version']}, not {version}")
        if r["error"]:
            raise SystemExit(f"libvirt failed on {path}: {r['error']}")
        with open(out_path, encoding="utf-8") as f:
            out = f.read()
        if output is not None and out != output:
            raise SystemExit(f"libvirt gave different outputs on {path}")
        output, peak = out, max(peak, kb)
        if best is None or r["seconds"] < best["seconds"]:
            best = r
    return {"seconds": best["seconds"], "cpus": best["cpus"], "peak_kb": peak, "output": output}


def run_cpufleet(binary, path, runs, cpus, version):
    """Best of `runs`, process start to exit; then the peak RSS of `runs` more runs (largest)."""
    argv = prefix(cpus) + [binary, "baseline", "--libvirt", version, path]
    best, output = None, None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(argv, capture_output=True)
        secs = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"cpufleet failed on {path} (exit {p.returncode}): {p.stderr.decode()}")
        if output is not None and p.stdout != output:
            raise SystemExit(f"cpufleet gave different outputs on {path}")
        output = p.stdout
        best = secs if best is None else min(best, secs)
    peak = max(peak_kb(argv)[0] for _ in range(runs))
    return {"seconds": best, "peak_kb": peak, "output": output.decode()}


def run_limits(binary, path, runs, cpus):
    p = subprocess.run(prefix(cpus) + [binary, path, str(runs)], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def ensure_built(args):
    need = []
    if not os.access(args.bin, os.X_OK):
        need.append(["cargo", "build", "--release", "-p", "cpufleet"])
    if not os.access(args.limits_bin, os.X_OK):
        need.append(["cargo", "build", "--release", "-p", "cpufleet-benches", "--example", "limits"])
    for cmd in need:
        print("+", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, cwd=REPO, check=True)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} CPUs, {mem:.0f} GiB, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", default="1000,10000,50000", help="comma-separated pool sizes")
    ap.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--cpus", default="0,1", help="taskset CPU list ('' = no taskset)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--source", choices=["fleet", "builtin"], default="fleet",
                    help="pool generator: cpufleet fleet gen (default) or this script's configurations")
    ap.add_argument("--bin", default=os.path.join(REPO, "target/release/cpufleet"))
    ap.add_argument("--limits-bin", default=os.path.join(REPO, "target/release/examples/limits"))
    ap.add_argument("--keep", metavar="DIR", help="write the pool files here and keep them")
    ap.add_argument("--versions", default=",".join(RELEASES), help="libvirt versions to compare (default all)")
    ap.add_argument("--libvirt-11-prefix", default="/opt/libvirt-11.3.0",
                    help="where ../shared/oracles/libvirt-11.3.0.sh installed libvirt 11.3.0")
    ap.add_argument("--libvirt-12-prefix", default="/opt/debian-trixie-backports",
                    help="where ../shared/oracles/debian-release.sh trixie-backports installed libvirt 12.9.0")
    ap.add_argument("--libvirt-worker", nargs=2, metavar=("POOL", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.libvirt_worker:
        libvirt_worker(*args.libvirt_worker)
        return
    # Checked in a child: this process stays small, so that the processes it starts are not
    # charged for its memory.
    if subprocess.run(["/usr/bin/python3", "-c", "import libvirt"], capture_output=True).returncode != 0:
        raise SystemExit("python3-libvirt is missing: apt-get install -y --no-install-recommends python3-libvirt")
    if not os.access("/usr/bin/time", os.X_OK):
        raise SystemExit("/usr/bin/time is missing: apt-get install -y time")
    if args.cpus and not shutil.which("taskset"):
        raise SystemExit("taskset not found (util-linux); pass --cpus '' to run without it")
    versions = [v for v in args.versions.split(",") if v]
    if any(v not in RELEASES for v in versions):
        raise SystemExit(f"--versions: supported are {', '.join(RELEASES)}, not {args.versions}")
    if "11.3.0" in versions and not os.path.isdir(os.path.join(args.libvirt_11_prefix, "root", "usr", "lib")):
        raise SystemExit(f"libvirt 11.3.0 not found under {args.libvirt_11_prefix}: run ../shared/oracles/libvirt-11.3.0.sh "
                         "(as root), or leave it out of --versions")
    if "12.9.0" in versions and not os.path.isdir(os.path.join(args.libvirt_12_prefix, "root", "usr", "lib")):
        raise SystemExit(f"libvirt 12.9.0 not found under {args.libvirt_12_prefix}: run "
                         "../shared/oracles/debian-release.sh trixie-backports (as root), or leave it out of --versions")
    ensure_built(args)
    tmp = tempfile.mkdtemp(prefix="cpufleet-compare-")
    pool_dir = args.keep or tmp
    os.makedirs(pool_dir, exist_ok=True)
    rows = []
    try:
        for hosts in [int(h) for h in args.hosts.split(",")]:
            path = os.path.join(pool_dir, f"pool-{hosts}.xml")
            pool = "builtin"
            if args.source == "fleet":
                pool = fleet_pool(args.bin, hosts, args.seed, path, tmp)
            else:
                gen_pool(hosts, args.seed, path)
            with open(path, encoding="utf-8") as f:
                distinct = len(set(CPU_RE.findall(f.read())))
            per = {}
            for v in versions:
                opt = RELEASES[v][1]
                lv = run_libvirt(path, args.runs, args.cpus, tmp, v, getattr(args, opt) if opt else None)
                cf = run_cpufleet(args.bin, path, args.runs, args.cpus, v)
                if lv["cpus"] != hosts:
                    raise SystemExit(f"pool {path}: libvirt got {lv['cpus']} CPUs, expected {hosts}")
                if cf["output"] != lv["output"] + "\n":
                    raise SystemExit(f"OUTPUTS DIFFER (libvirt {v}) on {path}:\n--- libvirt\n{lv['output']}\n"
                                     f"--- cpufleet\n{cf['output']}")
                per[v] = (lv, cf)
                print(f"{hosts} hosts, libvirt {v}: identical output ({len(cf['output'])} bytes)", file=sys.stderr)
            lim = run_limits(args.limits_bin, path, args.runs, args.cpus)
            rows.append((hosts, pool, distinct, os.path.getsize(path), per, lim))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"Machine: {machine()}; taskset -c {args.cpus or '(none)'}; best of {args.runs}.")
    print("libvirt s: the in-process `baselineCPU` call alone (python3-libvirt, test:///default); "
          "cpufleet s: `cpufleet baseline --libvirt VERSION FILE`, process start to exit. Outputs identical per version.")
    print()
    head = "| hosts | pool (distinct `<cpu>`) | file MB |"
    rule = "|---:|---|---:|"
    for v in versions:
        head += f" libvirt {v} s | cpufleet {v} s | ratio | libvirt {v} peak MB | cpufleet {v} peak MB |"
        rule += "---:|---:|---:|---:|---:|"
    for v in versions[1:]:
        head += f" cpufleet {v} / {versions[0]} |"
        rule += "---:|"
    head += " byte pass s | quick-xml scan s |"
    rule += "---:|---:|"
    print(head)
    print(rule)
    for hosts, pool, distinct, size, per, lim in rows:
        line = f"| {hosts:,} | {pool} ({distinct}) | {size / 1e6:.1f} |"
        for v in versions:
            lv, cf = per[v]
            line += (f" {lv['seconds']:.3f} | {cf['seconds']:.4f} | {lv['seconds'] / cf['seconds']:.0f}x "
                     f"| {lv['peak_kb'] / 1024:.0f} | {cf['peak_kb'] / 1024:.1f} |")
        for v in versions[1:]:
            line += f" {per[v][1]['seconds'] / per[versions[0]][1]['seconds']:.2f}x |"
        line += f" {lim['byte_pass_s']:.4f} | {lim['quick_xml_scan_s']:.4f} |"
        print(line)
    # The targets (issues 10, 21, 24): each release >= 100x its libvirt, and within 1.5x of the
    # first release's run (9.0.0), at 50,000 hosts and more; exit status 1 if one fails.
    print()
    failed = False
    for hosts, _, _, _, per, _ in rows:
        if hosts < 50000:
            continue
        for v in versions:
            lv, cf = per[v]
            ratio = lv["seconds"] / cf["seconds"]
            ok = ratio >= 100
            failed |= not ok
            print(f"{hosts} hosts, libvirt {v}: cpufleet {ratio:.0f}x faster than libvirt (>= 100x): {'PASS' if ok else 'FAIL'}")
        for v in versions[1:]:
            r = per[v][1]["seconds"] / per[versions[0]][1]["seconds"]
            ok = r <= 1.5
            failed |= not ok
            print(f"{hosts} hosts: cpufleet {v} / {versions[0]} = {r:.2f}x (<= 1.5x): {'PASS' if ok else 'FAIL'}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
