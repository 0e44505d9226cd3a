//! Differential tests against the real QEMU drivers of every row of the oracle table
//! (`support/qemu_oracle.rs`, `qemu_oracle::stacks()`: libvirt 9.0.0 + QEMU 7.2, 11.3.0 + QEMU
//! 7.2, 11.3.0 + QEMU 10.0, 12.9.0 + QEMU 11.1; each embedded in its virsh, no daemon), for
//! `--virttype qemu` (TCG) and `kvm` (when available, saying so when not). Each row has its own
//! `#[test]` of each kind (they run in parallel, each with its own embedded root), stamped from
//! the release table and the oracle table (`stack_modules!`, `engine/tests/common/releases.rs`):
//! `libvirt_V::distribution::KIND` for the stack of the release's Debian suite,
//! `libvirt_V::NAME::KIND` for each upstream-built one (`upstream_stacks!`:
//! `libvirt_11_3_0::upstream_qemu_7_2`). Without a row's driver a test prints
//! `SKIPPED <what>: <why>` (and fails when `CPUFLEET_REQUIRE_VIRSH=1`).
//! Required everywhere: stdout byte-identical, the `error: ` lines of stderr identical, and
//! success on both sides or failure on both.
//!
//! Every cpufleet command runs twice against the one virsh answer: with the QEMU capabilities
//! cache of the same driver (`--qemu-caps`), and with domcapabilities alone (what inventories
//! and the simulator have). Alone, an answer that needs what only the cache has must come with
//! a warning on stderr naming `--qemu-caps`; such cases are counted as "needed the cache", not as
//! agreement, and an unwarned different answer is a disagreement.
//!
//! 1. `hypervisor-compare` / `hypervisor-baseline` against `virsh hypervisor-cpu-compare` /
//!    `hypervisor-cpu-baseline`. The hypervisor comes from the same driver: `virsh
//!    domcapabilities --virttype V` and libvirt's QEMU capabilities cache of the emulator it
//!    names. Cases (the same for each accelerator): every x86 CPU document of the row's pack's
//!    `cputestdata` (CPUID dumps and `<cpuTest>` wrappers excepted), every map model, every
//!    model QEMU lists that the map lacks (`max`, `host`, `base`, …; from the cache), plain and
//!    with a feature, 120 random guest CPUs (map models, random modes, match, vendor and feature
//!    policies, a few unknown names) and the domcapabilities themselves, each compared plain and
//!    a third of them with `--error`; and 160 baseline input sets (each pack host, QEMU
//!    expansion and guest CPU alone, consecutive pairs, per-vendor groups, a mixed-vendor pair,
//!    both domcapabilities, bare model pairs) × {plain, --features, --migratable, both}; virsh
//!    gets each set as one file, cpufleet as separate files.
//! 2. `baseline --driver qemu` against the QEMU driver's plain `virsh cpu-baseline`.
//! 3. `start --qemu-argv` against `virsh domxml-to-native qemu-argv`.
//! 4. An inventory host's guests in `simulate --inventory` against `domxml-to-native`
//!    (domcapabilities alone: an inventory has no cache).
//!
//! Each prints one line per row, `<kind> differential libvirt-R (QEMU Q): N comparisons, A
//! agreed, D disagreed, …` (also into `CPUFLEET_SUMMARY_FILE`), then the first disagreements
//! with both outputs. Cases are fresh every run: the seed is the UTC day number unless
//! `CPUFLEET_HV_SEED` is set, and it is printed.
//!
//! With a daemon that re-probes QEMU on every call (4-5 s a call on these machines) only what
//! `CPUFLEET_HV_BUDGET_S` (default 150; 0 = no limit) allows at 5 s a call is run, in a seeded
//! shuffled order so that any prefix samples every kind; the embedded drivers run them all.
//! Knobs: `CPUFLEET_HV_SEED`, `CPUFLEET_HV_BUDGET_S`, `CPUFLEET_QEMU_URI` (9.0.0 only).

#[path = "support/diffgen.rs"]
#[allow(dead_code)]
mod diffgen;
#[path = "support/qemu_oracle.rs"]
#[allow(dead_code)]
mod qemu_oracle;
#[path = "../../engine/tests/common/releases.rs"]
#[macro_use]
mod releases;
#[path = "../../engine/tests/common/summary.rs"]
mod summary;

use cpufleet_engine::{CpuMap, LibvirtVersion};
use diffgen::Rng;
use qemu_oracle::{accelerators, text_between, write, Accel, Oracle, Stack, VirshOut};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const CPUFLEET: &str = env!("CARGO_BIN_EXE_cpufleet");

fn cpufleet(args: &[&str]) -> Output {
    Command::new(CPUFLEET).args(args).output().expect("run cpufleet")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// The run's seed: `CPUFLEET_HV_SEED`, else the UTC day number (new cases every day).
fn seed() -> u64 {
    let day = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    env_u64("CPUFLEET_HV_SEED", day)
}

fn skip(what: &str, why: &str) {
    summary::summary(&format!("SKIPPED {what}: {why}\n"));
    assert!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref() != Ok("1"), "CPUFLEET_REQUIRE_VIRSH=1: {why}");
}

fn strip_decl(s: &str) -> &str {
    match (s.trim_start().starts_with("<?xml"), s.find("?>")) {
        (true, Some(i)) => &s[i + 2..],
        _ => s,
    }
}

fn pack_dir(stack: Stack) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance").join(stack.pack()).join("cputestdata")
}

/// The pack's x86 CPU documents virsh can send (no CPUID dumps, no `<cpuTest>` wrappers).
fn pack_cpu_files(stack: Stack) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(pack_dir(stack)) else { return out };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("x86_64-") || !name.ends_with(".xml") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else { continue };
        if !text.contains("<cpudata") && !text.contains("<cpuTest") && text.contains("<cpu") {
            out.push((name, text));
        }
    }
    out.sort();
    out
}

/// A random guest CPU of the map (`seed`-determined).
fn random_guest(map: &CpuMap, rng: &mut Rng) -> String {
    let x = &map.x86;
    let mode = ["custom", "custom", "custom", "custom", "host-model", "host-passthrough"][rng.below(6)];
    let mtch = ["exact", "minimum", "strict"][rng.below(3)];
    let mut s = format!("<cpu mode='{mode}' match='{mtch}'>\n");
    if mode == "custom" || rng.chance(20) {
        let m = &x.models[rng.below(x.models.len())];
        let fallback = if rng.chance(30) { " fallback='forbid'" } else { "" };
        s.push_str(&format!("  <model{fallback}>{}</model>\n", m.name));
        if rng.chance(25) {
            s.push_str(&format!("  <vendor>{}</vendor>\n", x.vendors[rng.below(x.vendors.len())].name));
        }
    }
    let mut used = Vec::new();
    for _ in 0..rng.below(5) {
        let name = if rng.chance(3) {
            "no-such-feature".to_string()
        } else {
            x.features[rng.below(x.features.len())].name.clone()
        };
        if used.contains(&name) {
            continue;
        }
        let policy = ["force", "require", "optional", "disable", "forbid"][rng.below(5)];
        s.push_str(&format!("  <feature policy='{policy}' name='{name}'/>\n"));
        used.push(name);
    }
    s.push_str("</cpu>\n");
    s
}

/// The models QEMU lists (the cache's `<cpu type='…' name='X'>` of either accelerator) that
/// the map lacks: `max`, `host`, `base`, and (9.0.0) the `-vN` copies.
fn qemu_only_models(map: &CpuMap, cache: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in cache.lines() {
        let Some(rest) = line.trim_start().strip_prefix("<cpu type=") else { continue };
        let Some(name) = text_between(rest, " name='", "'") else { continue };
        if map.x86.model(name).is_none() && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out.sort();
    out
}

enum Case {
    Compare {
        file: PathBuf,
        error: bool,
    },
    /// virsh gets `file` (the set concatenated); cpufleet gets `parts` (the set's documents as
    /// separate files, which it baselines as their concatenation) when there are several.
    Baseline {
        file: PathBuf,
        parts: Vec<PathBuf>,
        flags: &'static [&'static str],
    },
}

/// Every case of one accelerator (files written to `dir`).
fn cases(
    stack: Stack,
    map: &CpuMap,
    dir: &Path,
    domcaps: &[(String, String)],
    qemu_only: &[String],
    seed: u64,
) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let pack = pack_cpu_files(stack);
    let mut guests: Vec<PathBuf> = pack.iter().map(|(n, t)| write(dir, n, t)).collect();
    for m in &map.x86.models {
        guests.push(write(dir, &format!("model-{}.xml", m.name), &format!("<cpu><model>{}</model></cpu>\n", m.name)));
    }
    for m in qemu_only {
        let f = &map.x86.features[rng.below(map.x86.features.len())].name;
        let policy = ["require", "disable", "forbid"][rng.below(3)];
        guests.push(write(dir, &format!("qemu-model-{m}.xml"), &format!("<cpu><model>{m}</model></cpu>\n")));
        guests.push(write(
            dir,
            &format!("qemu-model-{m}-feature.xml"),
            &format!("<cpu><model>{m}</model><feature policy='{policy}' name='{f}'/></cpu>\n"),
        ));
    }
    for i in 0..120 {
        guests.push(write(dir, &format!("random-{i}.xml"), &random_guest(map, &mut rng)));
    }
    for (name, text) in domcaps {
        guests.push(write(dir, name, text));
    }
    let mut out = Vec::new();
    for (i, g) in guests.iter().enumerate() {
        out.push(Case::Compare { file: g.clone(), error: false });
        if i % 3 == 0 {
            out.push(Case::Compare { file: g.clone(), error: true });
        }
    }
    // Baseline sets.
    let mut sets: Vec<Vec<String>> = Vec::new();
    let hostish: Vec<&(String, String)> = pack
        .iter()
        .filter(|(n, _)| n.ends_with("-host.xml") || n.ends_with("-json.xml") || n.ends_with("-guest.xml"))
        .collect();
    for f in &hostish {
        sets.push(vec![f.1.clone()]);
    }
    for w in hostish.windows(2) {
        sets.push(vec![w[0].1.clone(), w[1].1.clone()]);
    }
    let intel: Vec<String> = hostish.iter().filter(|f| f.1.contains("<vendor>Intel")).map(|f| f.1.clone()).collect();
    let amd: Vec<String> = hostish.iter().filter(|f| f.1.contains("<vendor>AMD")).map(|f| f.1.clone()).collect();
    if let (Some(i), Some(a)) = (intel.get(rng.below(intel.len().max(1))), amd.get(rng.below(amd.len().max(1)))) {
        sets.push(vec![i.clone(), a.clone()]);
    }
    sets.push(intel);
    sets.push(amd);
    sets.push(domcaps.iter().map(|d| d.1.clone()).collect());
    for _ in 0..20 {
        let a = &map.x86.models[rng.below(map.x86.models.len())].name;
        let b = &map.x86.models[rng.below(map.x86.models.len())].name;
        sets.push(vec![format!("<cpu><model>{a}</model></cpu>\n<cpu><model>{b}</model></cpu>\n")]);
    }
    const FLAGS: [&[&str]; 4] = [&[], &["--features"], &["--migratable"], &["--features", "--migratable"]];
    for (i, set) in sets.iter().enumerate() {
        let text: String = set.iter().map(|t| strip_decl(t)).collect::<Vec<_>>().join("\n");
        let file = write(dir, &format!("set-{i}.xml"), &text);
        let parts: Vec<PathBuf> = match set.len() {
            1 => vec![file.clone()],
            _ => set.iter().enumerate().map(|(j, t)| write(dir, &format!("set-{i}-{j}.xml"), t)).collect(),
        };
        for flags in FLAGS {
            out.push(Case::Baseline { file: file.clone(), parts: parts.clone(), flags });
        }
    }
    rng.shuffle(&mut out);
    out
}

/// One case's three commands: virsh's, cpufleet's with the QEMU caps cache, cpufleet's with
/// domcapabilities alone.
struct Commands {
    virsh: Vec<String>,
    cached: Vec<String>,
    alone: Vec<String>,
}

fn own(v: &[&str]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

impl Case {
    fn commands(&self, release: &str, a: &Accel) -> Commands {
        let dc = a.domcaps.display().to_string();
        let qc = a.cache.display().to_string();
        let (virsh, ours, tail) = match self {
            Case::Compare { file, error } => {
                let mut v = own(&["hypervisor-cpu-compare", "--virttype", a.virttype]);
                let mut tail = Vec::new();
                if *error {
                    v.push("--error".into());
                    tail.push("--error".to_string());
                }
                v.push(file.display().to_string());
                tail.push(file.display().to_string());
                (v, "hypervisor-compare", tail)
            }
            Case::Baseline { file, parts, flags } => {
                let mut v = own(&["hypervisor-cpu-baseline", "--virttype", a.virttype]);
                v.extend(own(flags));
                v.push(file.display().to_string());
                let mut tail = own(flags);
                tail.extend(parts.iter().map(|p| p.display().to_string()));
                (v, "hypervisor-baseline", tail)
            }
        };
        let alone: Vec<String> = [ours, "--libvirt", release, "--domcaps", &dc].iter().map(|s| s.to_string()).collect();
        let mut cached = alone.clone();
        cached.extend(own(&["--qemu-caps", &qc]));
        cached.extend(tail.iter().cloned());
        let mut alone = alone;
        alone.extend(tail);
        Commands { virsh, cached, alone }
    }
}

/// None when cpufleet's answer equals virsh's (stdout, `error:` lines, success), else a report.
fn disagreement(what: &str, v: &VirshOut, c: &VirshOut) -> Option<String> {
    if v == c {
        return None;
    }
    Some(format!(
        "{what}\n--- virsh (ok {}):\n{}{}\n--- cpufleet (ok {}):\n{}{}",
        v.ok,
        v.stdout,
        v.errors.join("\n"),
        c.ok,
        c.stdout,
        c.errors.join("\n")
    ))
}

/// Whether cpufleet warned that the answer needs the QEMU capabilities cache.
fn warned_for_cache(o: &Output) -> bool {
    String::from_utf8_lossy(&o.stderr).lines().any(|l| l.contains("warning") && l.contains("--qemu-caps"))
}

/// The counts of one differential, by mode.
#[derive(Default)]
struct Tally {
    cached: usize,
    cached_agreed: usize,
    alone: usize,
    alone_agreed: usize,
    needs_cache: usize,
    disagreed: Vec<String>,
}

impl Tally {
    /// Counts one cpufleet answer (`o`, run `with_cache` or not) against virsh's `v`; `report`
    /// makes the disagreement text when they differ (None: they agree).
    fn add(&mut self, with_cache: bool, o: &Output, report: Option<String>) {
        let warned = warned_for_cache(o);
        if with_cache {
            self.cached += 1;
            match (report, warned) {
                (None, false) => self.cached_agreed += 1,
                (None, true) => self.disagreed.push("a warning naming --qemu-caps although it was given".into()),
                (Some(r), _) => self.disagreed.push(format!("[with --qemu-caps] {r}")),
            }
        } else {
            self.alone += 1;
            match (report, warned) {
                (_, true) => self.needs_cache += 1,
                (None, false) => self.alone_agreed += 1,
                (Some(r), false) => self.disagreed.push(format!("[without --qemu-caps, no warning] {r}")),
            }
        }
    }
    fn n(&self) -> usize {
        self.cached + self.alone
    }
    /// `N comparisons, A agreed, D disagreed[, W needed the cache (by mode)]`.
    fn counts(&self) -> String {
        let head = format!(
            "{} comparisons, {} agreed, {} disagreed",
            self.n(),
            self.cached_agreed + self.alone_agreed,
            self.disagreed.len()
        );
        match (self.cached, self.alone) {
            (0, _) | (_, 0) if self.needs_cache == 0 => head,
            (0, _) | (_, 0) => format!("{head}, {} needed the QEMU caps cache", self.needs_cache),
            _ => format!(
                "{head}, {} needed the QEMU caps cache (with --qemu-caps {}/{} agreed; domcapabilities alone {}/{} agreed, {} warned naming --qemu-caps)",
                self.needs_cache, self.cached_agreed, self.cached, self.alone_agreed, self.alone, self.needs_cache
            ),
        }
    }
    /// Prints the summary line and the first disagreements (all of them go to
    /// `dir/disagreements.txt`); fails on any.
    fn finish(&self, dir: &Path, line: String) {
        summary::summary(&format!("{line}\n"));
        for d in self.disagreed.iter().take(6) {
            println!("DISAGREEMENT {d}");
        }
        if !self.disagreed.is_empty() {
            let all = dir.join("disagreements.txt");
            std::fs::write(&all, self.disagreed.join("\n=====\n")).expect("write the disagreements");
            println!("every disagreement: {}", all.display());
        }
        assert!(
            self.disagreed.is_empty(),
            "{} of {} cases disagree with the QEMU driver (first ones above)",
            self.disagreed.len(),
            self.n()
        );
    }
}

fn tmp_root(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("tmp dir");
    root
}

/// The oracle of `stack` for one test and the release's embedded map, or None after saying why
/// it is skipped.
fn oracle_for(stack: Stack, name: &str, what: &str) -> Option<(Oracle, CpuMap)> {
    if !pack_dir(stack).is_dir() {
        skip(what, &format!("{} is missing", pack_dir(stack).display()));
        return None;
    }
    let map = CpuMap::embedded(stack.version()).expect("embedded map");
    match Oracle::new(stack, name, Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(o) => Some((o, map)),
        Err(why) => {
            skip(what, &why);
            None
        }
    }
}

/// The embedded table of QEMU versions (`data/qemu/x86_64.txt`, what cpufleet uses without
/// `--qemu-caps`) says for this driver's QEMU what its capabilities cache says: the same map
/// features QEMU has a property for, every model QEMU lists. Fails when the installed QEMU no
/// longer matches the table's data of its version (regenerate it with `data/qemu/generate.py`).
fn check_qemu_table(map: &CpuMap, a: &Accel) {
    use cpufleet_engine::hypervisor::Hypervisor;
    use cpufleet_engine::xml::Limits;
    let limits = Limits::default();
    let alone = Hypervisor::from_domcaps(map, a.text.as_bytes(), limits).expect("domcapabilities");
    let cache = std::fs::read(&a.cache).expect("QEMU caps cache");
    let cached = alone.clone().with_qemu_caps(map, &cache, limits).expect("QEMU caps cache");
    assert!(alone.qemu_inexact.is_none(), "{}: {:?}", a.domcaps.display(), alone.qemu_inexact);
    let names = |h: &Hypervisor| -> Vec<String> {
        h.qemu_feature_set(&map.x86, false).iter().map(|id| map.x86.feature_name(id).to_string()).collect()
    };
    assert_eq!(names(&alone), names(&cached), "QEMU {}'s features: the table vs the cache", alone.qemu.version);
    for m in cached.models.iter() {
        assert!(
            alone.qemu.has_model(&m.name),
            "QEMU {} lists {} (cache), the table does not",
            alone.qemu.version,
            m.name
        );
    }
}

/// How many cases fit the budget: all with an embedded driver (milliseconds a call); with a
/// daemon that re-probes QEMU on every call, what CPUFLEET_HV_BUDGET_S allows at 5 s a call.
fn affordable(oracle: &Oracle, all: usize) -> usize {
    let budget = env_u64("CPUFLEET_HV_BUDGET_S", 150);
    if !oracle.is_daemon() || budget == 0 {
        all
    } else {
        all.min((budget / 5).max(1) as usize)
    }
}

fn accel_names(hvs: &[Accel]) -> String {
    hvs.iter().map(|h| h.virttype).collect::<Vec<_>>().join(" and ")
}

/// Part 1: hypervisor compare and baseline.
fn hypervisor_differential(stack: Stack) {
    let what = format!("hypervisor differential {}", stack.tag());
    let Some((oracle, map)) = oracle_for(stack, "hypervisor", &what) else { return };
    let seed = seed();
    let root = tmp_root(&format!("hypervisor-differential-{}", stack.id()));
    let hvs = accelerators(&oracle, &root, &what);
    if hvs.is_empty() {
        return skip(&what, "no accelerator gives a host-model CPU");
    }
    let domcaps_docs: Vec<(String, String)> =
        hvs.iter().map(|a| (format!("domcaps-{}.xml", a.virttype), a.text.clone())).collect();
    let mut all = Vec::new();
    for a in &hvs {
        check_qemu_table(&map, a);
        let cache = std::fs::read_to_string(&a.cache).expect("QEMU caps cache");
        let qemu_only = qemu_only_models(&map, &cache);
        for case in cases(stack, &map, &a.dir, &domcaps_docs, &qemu_only, seed) {
            all.push(case.commands(stack.version().as_str(), a));
        }
    }
    // Interleave the accelerators so that a budget-limited run samples both.
    let mut rng = Rng::new(seed ^ 1);
    rng.shuffle(&mut all);
    let start = Instant::now();
    all.truncate(affordable(&oracle, all.len()));
    let virsh_cmds: Vec<Vec<String>> = all.iter().map(|c| c.virsh.clone()).collect();
    let answers = oracle.run(&virsh_cmds, 12);
    let mut tally = Tally::default();
    for (c, va) in all.iter().zip(&answers) {
        for (with_cache, args) in [(true, &c.cached), (false, &c.alone)] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = cpufleet(&args);
            tally.add(with_cache, &o, disagreement(&c.virsh.join(" "), va, &VirshOut::of_output(&o)));
        }
    }
    tally.finish(
        &root,
        format!(
            "hypervisor differential {}: {} (seed {seed}; virttype {}; {:.1} s; oracle: {})",
            stack.tag(),
            tally.counts(),
            accel_names(&hvs),
            start.elapsed().as_secs_f64(),
            oracle.describe
        ),
    );
}

/// Part 2: `cpufleet baseline --driver qemu` against the QEMU driver's plain `virsh cpu-baseline`:
/// every pack `-host.xml` alone, the Intel and the AMD ones together, and a random Intel + AMD
/// pair (as several files, which cpufleet baselines as their concatenation) × {plain,
/// --features, --migratable, both}; and the default driver's answer must differ from it only by
/// `<feature>` lines, somewhere.
fn baseline_driver_qemu_differential(stack: Stack) {
    let what = format!("cpu-baseline --driver qemu differential {}", stack.tag());
    let Some((oracle, _map)) = oracle_for(stack, "baseline", &what) else { return };
    let seed = seed();
    let mut rng = Rng::new(seed ^ 2);
    let root = tmp_root(&format!("baseline-qemu-differential-{}", stack.id()));
    let pack = pack_dir(stack);
    let hosts: Vec<(String, String)> =
        pack_cpu_files(stack).into_iter().filter(|(n, _)| n.ends_with("-host.xml")).collect();
    let mut sets: Vec<Vec<PathBuf>> = hosts.iter().map(|(n, _)| vec![pack.join(n)]).collect();
    let by_vendor = |vendor: &str| -> Vec<PathBuf> {
        hosts.iter().filter(|(_, t)| t.contains(vendor)).map(|(n, _)| pack.join(n)).collect()
    };
    let (intel, amd) = (by_vendor("<vendor>Intel"), by_vendor("<vendor>AMD"));
    if !intel.is_empty() && !amd.is_empty() {
        sets.push(vec![rng.pick(&intel).clone(), rng.pick(&amd).clone()]);
    }
    sets.push(intel);
    sets.push(amd);
    const FLAGS: [&[&str]; 4] = [&[], &["--features"], &["--migratable"], &["--features", "--migratable"]];
    let (mut virsh_cmds, mut ours) = (Vec::new(), Vec::new());
    for (i, set) in sets.iter().enumerate() {
        let text: String = set.iter().map(|p| std::fs::read_to_string(p).expect("pack file")).collect();
        let concat = write(&root, &format!("set-{i}.xml"), &text);
        for flags in FLAGS {
            let mut v = vec!["cpu-baseline".to_string()];
            v.extend(own(flags));
            v.push(concat.display().to_string());
            let mut c = own(&["baseline", "--libvirt", stack.version().as_str(), "--driver", "qemu"]);
            c.extend(own(flags));
            c.extend(set.iter().map(|p| p.display().to_string()));
            virsh_cmds.push(v);
            ours.push(c);
        }
    }
    let keep = affordable(&oracle, virsh_cmds.len());
    virsh_cmds.truncate(keep);
    ours.truncate(keep);
    let answers = oracle.run(&virsh_cmds, 4);
    let (mut tally, mut filtered) = (Tally::default(), 0);
    for ((v, c), va) in virsh_cmds.iter().zip(&ours).zip(&answers) {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        let o = cpufleet(&args);
        tally.add(false, &o, disagreement(&v.join(" "), va, &VirshOut::of_output(&o)));
        // The test driver's answer: the same, or other <feature> lines (those the QEMU driver
        // drops), never another model or vendor.
        let test_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--driver" && *a != "qemu").collect();
        let test = VirshOut::of_output(&cpufleet(&test_args));
        if va.ok && test.stdout != va.stdout {
            filtered += 1;
            let not_feature = |s: &str| -> Vec<String> {
                s.lines().filter(|l| !l.trim_start().starts_with("<feature ")).map(str::to_string).collect()
            };
            assert_eq!(
                not_feature(&test.stdout),
                not_feature(&va.stdout),
                "the test driver's answer differs by more than features: {c:?}"
            );
        }
    }
    tally.finish(&root, format!(
        "cpu-baseline --driver qemu differential {}: {} (seed {seed}; {filtered} differ from the default driver by the filtered features; oracle: {})",
        stack.tag(),
        tally.counts(),
        oracle.describe
    ));
    assert!(filtered > 0 || tally.n() < 20, "no input set shows the QEMU driver's filter");
}

/// Hand-made start-path cases (spec §7 check 9 and more): modes, check, forbid, optional,
/// match, translation, filtered and unknown features, removed features, vendor_id, maxphysaddr.
const START_CPUS: &[&str] = &[
    "",
    "<cpu mode='host-model'/>",
    "<cpu mode='host-model' check='none'/>",
    "<cpu mode='host-model'><feature policy='require' name='sse4a'/></cpu>",
    "<cpu mode='host-model'><feature policy='disable' name='xsave'/><feature policy='optional' name='vmx'/></cpu>",
    "<cpu mode='host-model'><feature policy='forbid' name='invtsc'/></cpu>",
    "<cpu mode='host-model'><feature policy='forbid' name='ht'/></cpu>",
    "<cpu mode='host-model'><model>EPYC</model></cpu>",
    "<cpu mode='host-passthrough'/>",
    "<cpu mode='host-passthrough' migratable='off'/>",
    "<cpu mode='host-passthrough'><feature policy='disable' name='vmx'/></cpu>",
    "<cpu mode='maximum'/>",
    "<cpu mode='maximum' migratable='on'/>",
    "<cpu><model>qemu64</model></cpu>",
    "<cpu check='partial'><model>qemu64</model></cpu>",
    "<cpu check='none'><model>qemu64</model></cpu>",
    "<cpu check='full'><model>qemu64</model></cpu>",
    "<cpu check='partial'><model>qemu64</model><feature policy='forbid' name='ht'/></cpu>",
    "<cpu check='partial'><model>qemu64</model><feature policy='forbid' name='sse4a'/></cpu>",
    "<cpu check='partial'><model>qemu64</model><feature policy='forbid' name='invtsc'/></cpu>",
    "<cpu><model>qemu64</model><feature policy='require' name='ht'/></cpu>",
    "<cpu><model>kvm64</model></cpu>",
    "<cpu><model>cpu64-rhel6</model></cpu>",
    "<cpu><model fallback='forbid'>cpu64-rhel6</model></cpu>",
    "<cpu><model>cpu64-rhel5</model><vendor>AMD</vendor></cpu>",
    "<cpu><model>Opteron_G3</model></cpu>",
    "<cpu check='none'><model>EPYC</model></cpu>",
    "<cpu check='none'><model>Icelake-Server</model></cpu>",
    "<cpu check='none'><model>Skylake-Client</model><feature policy='optional' name='invtsc'/><feature policy='optional' name='svm'/></cpu>",
    "<cpu check='none'><model>Haswell-noTSX</model><vendor>Intel</vendor><feature policy='require' name='vmx'/><feature policy='disable' name='osxsave'/><feature policy='optional' name='invtsc'/></cpu>",
    "<cpu match='minimum'><model>qemu64</model></cpu>",
    "<cpu match='minimum' check='none'><model>Westmere</model></cpu>",
    // match='minimum' forbidding a feature of its own model (svm: qemu64's, on AMD hosts only;
    // aes: Westmere's): the compare before the update still counts it as required.
    "<cpu match='minimum'><model>qemu64</model><feature policy='forbid' name='svm'/></cpu>",
    "<cpu match='minimum' check='none'><model>Westmere</model><feature policy='forbid' name='aes'/></cpu>",
    "<cpu match='strict'><model>qemu64</model></cpu>",
    "<cpu check='none'><model>qemu64</model><feature policy='require' name='osxsave'/><feature policy='disable' name='cmt'/><feature policy='disable' name='pconfig'/><feature policy='forbid' name='cvt16'/></cpu>",
    "<cpu check='none'><model>qemu64</model><feature policy='force' name='sse4.2'/><feature policy='require' name='ospke'/><feature policy='disable' name='mbm_local'/></cpu>",
    "<cpu><model>qemu64</model><feature policy='optional' name='invtsc'/><feature policy='optional' name='xsaves'/></cpu>",
    "<cpu><model>Foo</model></cpu>",
    "<cpu><model>qemu64</model><feature policy='require' name='foo'/></cpu>",
    "<cpu><feature policy='require' name='vmx'/></cpu>",
    "<cpu><model vendor_id='GenuineIntel'>qemu64</model></cpu>",
    "<cpu><model>qemu64</model><maxphysaddr mode='emulate' bits='42'/></cpu>",
    "<cpu mode='host-passthrough'><maxphysaddr mode='passthrough'/></cpu>",
    "<cpu><model>qemu64</model><feature policy='disable' name='kvm_pv_eoi'/></cpu>",
];

/// The `-cpu` argument of a `domxml-to-native qemu-argv` answer (None without one).
fn cpu_arg(argv: &str) -> Option<&str> {
    let i = argv.find(" -cpu ")? + 6;
    Some(argv[i..].split(' ').next().unwrap_or_default())
}

/// Hand-made whole-domain cases (issue 21): what of a domain besides `<cpu>` reaches `-cpu` or
/// the checks before a start. Each is the body of a domain after its `<os>`.
const START_DOMAINS: &[&str] = &[
    "<cpu><model>qemu64</model><feature name='hv-relaxed'/></cpu>",
    "<cpu mode='host-model'><feature policy='disable' name='kvm_pv_unhalt'/></cpu>",
    "<features><hyperv mode='custom'><relaxed state='on'/></hyperv></features>",
    "<features><hyperv mode='passthrough'><relaxed state='on'/></hyperv></features>",
    "<features><pmu state='off'/></features>",
    "<features><kvm><hidden state='on'/></kvm></features>",
    "<features><kvm><hidden state='on'/><hint-dedicated state='on'/><poll-control state='on'/><pv-ipi state='off'/></kvm><pvspinlock state='off'/><apic eoi='on'/></features>",
    "<features><hyperv><vpindex state='on'/><synic state='on'/><stimer state='on'><direct state='on'/></stimer></hyperv></features><clock offset='utc'><timer name='hypervclock' present='yes'/></clock>",
    "<features><hyperv><vpindex state='on'/><synic state='on'/><stimer state='on'/></hyperv></features>",
    "<features><hyperv><spinlocks state='on'/></hyperv></features>",
    "<features><hyperv><vendor_id state='on' value='KVMKVMKVM'/><spinlocks state='on' retries='8191'/></hyperv></features>",
    "<features><hyperv><vpindex state='on'/><tlbflush state='on'><direct state='on'/><extended state='on'/></tlbflush></hyperv></features>",
    "<features><hyperv><xmm_input state='on'/><emsr_bitmap state='on'/></hyperv></features>",
    "<features><hyperv mode='host-model'/></features>",
    "<cpu><model>qemu64</model><cache level='3' mode='emulate'/></cpu>",
    "<cpu><model>qemu64</model><cache mode='emulate'/></cpu>",
    "<cpu><model>qemu64</model><cache mode='disable'/></cpu>",
    "<cpu mode='host-passthrough'><cache mode='passthrough'/></cpu>",
    "<cpu mode='maximum'><cache mode='disable'/></cpu>",
    "<cpu mode='host-model'><cache mode='passthrough'/></cpu>",
    "<cpu><model>qemu64</model><feature name='sse4.2'/><maxphysaddr mode='emulate' bits='42'/></cpu>",
    "<cpu><model>qemu64</model><maxphysaddr mode='emulate'/></cpu>",
    "<cpu mode='host-passthrough'><maxphysaddr mode='passthrough' bits='42'/></cpu>",
    "<cpu mode='host-passthrough'><maxphysaddr mode='passthrough' limit='40'/></cpu>",
    "<cpu><cache level='3' mode='emulate'/></cpu><devices><panic model='hyperv'/></devices>",
    "<cpu><model>qemu64</model></cpu><clock offset='utc'><timer name='kvmclock' present='no'/><timer name='hypervclock' present='yes'/></clock><features><hyperv><relaxed state='on'/></hyperv><pmu/></features>",
];

/// A random `<cpu>` for a whole domain: a mode, a model where custom, a cache and an address
/// size setting (valid or not), a few map features and now and then a KVM or Hyper-V
/// pseudo-feature, which no release accepts inside `<cpu>`.
fn random_domain_cpu(map: &CpuMap, rng: &mut Rng) -> String {
    let x = &map.x86;
    let mode = ["custom", "custom", "host-model", "host-passthrough", "maximum"][rng.below(5)];
    let check = if mode == "custom" && rng.chance(50) { " check='none'" } else { "" };
    let mut s = format!("<cpu mode='{mode}'{check}>");
    if mode == "custom" && rng.chance(85) {
        let m = ["qemu64", "kvm64", "qemu32", &x.models[rng.below(x.models.len())].name][rng.below(4)].to_string();
        s.push_str(&format!("<model>{m}</model>"));
    }
    if rng.chance(40) {
        let level = ["", " level='3'", " level='2'"][rng.below(3)];
        s.push_str(&format!("<cache{level} mode='{}'/>", ["emulate", "passthrough", "disable"][rng.below(3)]));
    }
    if rng.chance(35) {
        s.push_str(
            [
                "<maxphysaddr mode='emulate' bits='42'/>",
                "<maxphysaddr mode='emulate'/>",
                "<maxphysaddr mode='emulate' bits='0'/>",
                "<maxphysaddr mode='passthrough'/>",
                "<maxphysaddr mode='passthrough' bits='40'/>",
                "<maxphysaddr mode='passthrough' limit='39'/>",
            ][rng.below(6)],
        );
    }
    let with_features = s.contains("<model>") || mode != "custom";
    for _ in 0..rng.below(3) {
        let name = if rng.chance(15) {
            ["hv-relaxed", "kvm_pv_unhalt", "hv-vapic", "hv-spinlocks"][rng.below(4)].to_string()
        } else {
            x.features[rng.below(x.features.len())].name.clone()
        };
        if with_features && !s.contains(&format!("'{name}'")) {
            let policy = ["require", "disable", "optional"][rng.below(3)];
            s.push_str(&format!("<feature policy='{policy}' name='{name}'/>"));
        }
    }
    s.push_str("</cpu>");
    s
}

/// Random domain settings that reach `-cpu`: a Hyper-V set (each release's enlightenments,
/// their sub-features, dependencies kept or broken), KVM features, pmu, pvspinlock, apic eoi, the
/// kvmclock and hypervclock timers and a Hyper-V panic device.
fn random_domain_settings(rng: &mut Rng) -> String {
    const HYPERV: [&str; 17] = [
        "relaxed",
        "vapic",
        "spinlocks",
        "vpindex",
        "runtime",
        "synic",
        "stimer",
        "reset",
        "vendor_id",
        "frequencies",
        "reenlightenment",
        "tlbflush",
        "ipi",
        "evmcs",
        "avic",
        "emsr_bitmap",
        "xmm_input",
    ];
    let mut features = String::new();
    if rng.chance(60) {
        let mode = ["", "", " mode='custom'", " mode='passthrough'"][rng.below(4)];
        features.push_str(&format!("<hyperv{mode}>"));
        for f in HYPERV {
            // 9.0.0 knows neither emsr_bitmap nor xmm_input: rarely, so most sets start there.
            let p = if f == "emsr_bitmap" || f == "xmm_input" { 5 } else { 35 };
            if !rng.chance(p) {
                continue;
            }
            let state = if rng.chance(80) { "on" } else { "off" };
            match f {
                "spinlocks" => features.push_str(&format!("<spinlocks state='{state}' retries='8191'/>")),
                "vendor_id" => features.push_str(&format!("<vendor_id state='{state}' value='cpufleet'/>")),
                "stimer" if rng.chance(50) => features.push_str(&format!(
                    "<stimer state='{state}'><direct state='{}'/></stimer>",
                    ["on", "off"][rng.below(2)]
                )),
                "tlbflush" if rng.chance(50) => features.push_str(&format!(
                    "<tlbflush state='{state}'><direct state='on'/><extended state='{}'/></tlbflush>",
                    ["on", "off"][rng.below(2)]
                )),
                _ => features.push_str(&format!("<{f} state='{state}'/>")),
            }
        }
        features.push_str("</hyperv>");
    }
    if rng.chance(30) {
        features.push_str("<kvm>");
        for k in ["hidden", "hint-dedicated", "poll-control", "pv-ipi"] {
            if rng.chance(50) {
                features.push_str(&format!("<{k} state='{}'/>", ["on", "off"][rng.below(2)]));
            }
        }
        features.push_str("</kvm>");
    }
    for (p, e) in [
        (30, "<pmu state='off'/>"),
        (10, "<pmu state='on'/>"),
        (15, "<pvspinlock state='on'/>"),
        (15, "<apic eoi='off'/>"),
    ] {
        if rng.chance(p) {
            features.push_str(e);
        }
    }
    let mut out = String::new();
    if !features.is_empty() {
        out.push_str(&format!("<features>{features}</features>"));
    }
    let mut clock = String::new();
    for t in ["kvmclock", "hypervclock"] {
        if rng.chance(30) {
            clock.push_str(&format!("<timer name='{t}' present='{}'/>", ["yes", "no"][rng.below(2)]));
        }
    }
    if !clock.is_empty() {
        out.push_str(&format!("<clock offset='utc'>{clock}</clock>"));
    }
    if rng.chance(10) {
        out.push_str("<devices><panic model='hyperv'/></devices>");
    }
    out
}

/// The start differentials' domain bodies (what follows `<os>`): [`START_CPUS`], every map model
/// (custom, with a random feature policy or none), 30 random guest CPUs, [`START_DOMAINS`] and 80
/// random whole domains (a random `<cpu>` or none, and random domain settings).
fn start_defs(map: &CpuMap) -> Vec<String> {
    let mut rng = Rng::new(seed() ^ 3);
    let mut defs: Vec<String> = START_CPUS.iter().map(|s| s.to_string()).collect();
    for m in &map.x86.models {
        let feature = if rng.chance(50) {
            let f = &map.x86.features[rng.below(map.x86.features.len())].name;
            let policy = ["force", "require", "optional", "disable", "forbid"][rng.below(5)];
            format!("<feature policy='{policy}' name='{f}'/>")
        } else {
            String::new()
        };
        defs.push(format!("<cpu><model>{}</model>{feature}</cpu>", m.name));
    }
    for _ in 0..30 {
        defs.push(random_guest(map, &mut rng));
    }
    defs.extend(START_DOMAINS.iter().map(|s| s.to_string()));
    for _ in 0..80 {
        let cpu = if rng.chance(85) { random_domain_cpu(map, &mut rng) } else { String::new() };
        defs.push(format!("{cpu}{}", random_domain_settings(&mut rng)));
    }
    defs
}

/// Domain `cpufleet-{i}` of virttype `virttype` with the body `cpu` after `<os>` (its CPU
/// definition and any other settings).
fn domain_xml(virttype: &str, i: usize, cpu: &str) -> String {
    format!(
        "<domain type='{virttype}'>\n  <name>cpufleet-{i}</name>\n  <uuid>6b7ac3e0-5c1f-4b8e-9d0a-0000000{i:05}</uuid>\n  <memory>65536</memory>\n  <os><type arch='x86_64'>hvm</type></os>\n{cpu}</domain>\n"
    )
}

/// Part 3: `cpufleet start --qemu-argv` against `virsh domxml-to-native qemu-argv` (the QEMU
/// driver's fresh-start path, which creates nothing): the `-cpu` string, or the error lines.
/// Definitions: [`START_CPUS`], every map model (custom, with a random feature policy or none)
/// and 30 random guest CPUs; each for every available accelerator, with the driver's own
/// domcapabilities, `virsh capabilities` (FULL on KVM), and with and without its QEMU
/// capabilities cache.
fn start_differential(stack: Stack) {
    let what = format!("start differential {}", stack.tag());
    let Some((oracle, map)) = oracle_for(stack, "start", &what) else { return };
    let root = tmp_root(&format!("start-differential-{}", stack.id()));
    let hvs = accelerators(&oracle, &root, &what);
    if hvs.is_empty() {
        return skip(&what, "no accelerator gives a host-model CPU");
    }
    let caps = oracle.one(&["capabilities"]);
    assert!(caps.ok, "virsh capabilities: {:?}", caps.errors);
    let caps = write(&root, "capabilities.xml", &caps.stdout).display().to_string();
    let defs = start_defs(&map);
    let (mut virsh_cmds, mut ours) = (Vec::new(), Vec::new());
    for a in &hvs {
        for (i, d) in defs.iter().enumerate() {
            let file = write(&a.dir, &format!("domain-{i}.xml"), &domain_xml(a.virttype, i, d)).display().to_string();
            virsh_cmds.push(vec!["domxml-to-native".to_string(), "qemu-argv".to_string(), file.clone()]);
            let (dc, qc) = (a.domcaps.display().to_string(), a.cache.display().to_string());
            let alone = own(&["start", "--libvirt", stack.version().as_str(), "--domcaps", &dc, "--caps", &caps]);
            let mut cached = alone.clone();
            cached.extend(own(&["--qemu-caps", &qc]));
            ours.push([cached, alone].map(|mut c| {
                c.extend(own(&["--qemu-argv", &file]));
                c
            }));
        }
    }
    let keep = affordable(&oracle, virsh_cmds.len());
    virsh_cmds.truncate(keep);
    ours.truncate(keep);
    let answers = oracle.run(&virsh_cmds, 4);
    let (mut tally, mut refused, mut with_settings) = (Tally::default(), 0, 0);
    for ((v, pair), va) in virsh_cmds.iter().zip(&ours).zip(&answers) {
        with_settings += usize::from(va.ok && cpu_arg(&va.stdout).is_some_and(has_domain_settings));
        refused += usize::from(!va.ok);
        for (with_cache, c) in [(true, &pair[0]), (false, &pair[1])] {
            let args: Vec<&str> = c.iter().map(String::as_str).collect();
            let o = cpufleet(&args);
            let co = VirshOut::of_output(&o);
            let theirs = if va.ok { cpu_arg(&va.stdout).map(|s| s.to_string()) } else { None };
            let mine = if co.ok { Some(co.stdout.trim_end().to_string()) } else { None };
            // A definition cpufleet's reader rejects (exit 2, no libvirt error line): virsh must fail.
            let bad_input = o.status.code() == Some(2) && co.errors.is_empty();
            let same = theirs == mine && (va.ok || bad_input || va.errors == co.errors);
            let report = (!same || (bad_input && va.ok)).then(|| {
                format!(
                    "{}\n{}\n--- virsh: {:?} {:?}\n--- cpufleet: {:?} {:?}\n{}",
                    v.join(" "),
                    std::fs::read_to_string(&v[2]).unwrap_or_default(),
                    theirs,
                    va.errors,
                    mine,
                    co.errors,
                    String::from_utf8_lossy(&o.stderr)
                )
            });
            tally.add(with_cache, &o, report);
        }
    }
    let accels = accel_names(&hvs);
    let n = answers.len();
    tally.finish(&root, format!(
        "start differential {}: {} (seed {}; {} domains × virttype {accels}{}; {refused} refused by the driver, {with_settings} started with domain or cache/address settings in -cpu; oracle: {})",
        stack.tag(),
        tally.counts(),
        seed(),
        defs.len(),
        if accels.contains("kvm") { "" } else { "; kvm is not available here" },
        oracle.describe
    ));
    assert!(with_settings >= 10 || n < 100, "only {with_settings} started domains show domain settings in -cpu");
}

/// Whether a `-cpu` argument has a property that a domain setting or the `<cpu>`'s cache or
/// address size puts there (not a CPU feature).
fn has_domain_settings(arg: &str) -> bool {
    const PREFIXES: [&str; 9] =
        ["hv-", "kvm=", "kvm-hint", "kvm-poll", "kvm-pv-ipi", "pmu=", "l3-cache=", "phys-bits=", "kvmclock="];
    arg.split(',').skip(1).any(|p| PREFIXES.iter().any(|x| p.starts_with(x)) || p.starts_with("host-phys-bits"))
}

/// Part 4: an inventory host given by its `virsh capabilities` and `virsh domcapabilities
/// --virttype kvm` (`HOST.xml` and `HOST.domcaps.xml`) starts its guests (`HOST/*.xml`) in
/// `cpufleet simulate --inventory` as the QEMU driver's start path does (`virsh domxml-to-native`
/// on the same driver): the same guests start, and a refused one with the driver's own error.
/// A `check='full'` CPU is also checked after QEMU starts (spec §4.4), which domxml-to-native does
/// not run: where the driver accepts one, the simulator may refuse it only with that check's
/// error ("guest CPU doesn't match specification"), and such cases are counted apart. An
/// inventory has no QEMU capabilities cache: domcapabilities alone.
fn inventory_start_differential(stack: Stack) {
    let what = format!("inventory start differential {}", stack.tag());
    let Some((oracle, map)) = oracle_for(stack, "inventory-start", &what) else { return };
    let root = tmp_root(&format!("inventory-start-differential-{}", stack.id()));
    let hvs = accelerators(&oracle, &root, &what);
    let Some(kvm) = hvs.iter().find(|a| a.virttype == "kvm") else {
        return skip(&what, "KVM is not available here (an inventory describes KVM hosts)");
    };
    let caps = oracle.one(&["capabilities"]);
    assert!(caps.ok, "virsh capabilities: {:?}", caps.errors);
    let inv = root.join("inventory");
    let guests = inv.join("pool-a").join("host-1");
    std::fs::create_dir_all(&guests).expect("tmp dir");
    write(&inv.join("pool-a"), "host-1.xml", &caps.stdout);
    write(&inv.join("pool-a"), "host-1.domcaps.xml", &kvm.text);
    let defs = start_defs(&map);
    let mut virsh_cmds = Vec::new();
    for (i, d) in defs.iter().enumerate() {
        let file = write(&guests, &format!("guest-{i:03}.xml"), &domain_xml("kvm", i, d));
        virsh_cmds.push(vec!["domxml-to-native".to_string(), "qemu-argv".to_string(), file.display().to_string()]);
    }
    let keep = affordable(&oracle, virsh_cmds.len());
    virsh_cmds.truncate(keep);
    let answers = oracle.run(&virsh_cmds, 4);
    let inv_arg = inv.display().to_string();
    let o = cpufleet(&[
        "simulate",
        "--inventory",
        &inv_arg,
        "--libvirt",
        stack.version().as_str(),
        "--keep-going",
        "--format",
        "json",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    let rows = report["inventory_guests"]["rows"].as_array().expect("guest rows");
    let row = |i: usize| rows.iter().find(|r| r["name"] == format!("cpufleet-{i}").as_str());
    let start_error =
        |i: usize| -> Option<Option<String>> { Some(row(i)?["start_error"].as_str().map(str::to_string)) };
    // The simulator says where a start error's text needs what only the QEMU caps cache has.
    let needs_cache = |i: usize| row(i).is_some_and(|r| r["start_error_needs_cache"].is_string());
    let (mut disagreed, mut after_start, mut refused, mut unread, mut needed_cache) = (Vec::new(), 0, 0, 0, 0);
    for (i, va) in answers.iter().enumerate() {
        let theirs: Vec<String> = va.errors.iter().map(|e| e.trim_start_matches("error: ").to_string()).collect();
        refused += usize::from(!va.ok);
        let same = match start_error(i) {
            // cpufleet's reader rejected the definition (the run lists it as skipped).
            None => {
                unread += 1;
                !va.ok
            }
            Some(None) => va.ok,
            Some(Some(e)) if va.ok && defs[i].contains("check='full'") => {
                after_start += 1;
                e.starts_with("guest CPU doesn't match specification")
            }
            Some(Some(e)) => !va.ok && theirs.contains(&e),
        };
        if needs_cache(i) {
            needed_cache += 1;
        } else if !same {
            disagreed.push(format!("{}\n--- virsh: {:?}\n--- cpufleet: {:?}", defs[i], va.errors, start_error(i)));
        }
    }
    let n = answers.len();
    let line = format!(
        "inventory start differential {}: {n} guests, {} agreed, {} disagreed, {needed_cache} needed the QEMU caps cache (seed {}; one KVM host from the driver's capabilities and domcapabilities; {refused} refused by the driver, {unread} unreadable, {after_start} refused only by the check='full' check after QEMU starts; oracle: {})",
        stack.tag(),
        n - disagreed.len() - needed_cache,
        disagreed.len(),
        seed(),
        oracle.describe
    );
    summary::summary(&format!("{line}\n"));
    for d in disagreed.iter().take(8) {
        println!("DISAGREEMENT {d}");
    }
    assert!(disagreed.is_empty(), "{} of {n} inventory guests start otherwise than the QEMU driver", disagreed.len());
}

/// Compare inputs whose reading depends on what virsh makes of the document: a capabilities
/// `<cpu>` without `<arch>` (libvirt reads a guest CPU), a domain `<cpu>` with `<arch>` (a host
/// CPU), bare CPUs with and without `<arch>`, a UTF-8 byte-order mark or blanks before the XML
/// declaration (refused: virsh only drops a declaration at the very start), a mark without a
/// declaration (accepted), and namespaced `<cpu>` elements (prefixed or default namespace, in a
/// domain, a capabilities document or bare; virsh's XPath sees none, so a second plain `<cpu>`
/// is the one sent). Models and features are drawn from the map.
fn compare_input_docs(map: &CpuMap, rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let x = &map.x86;
    let mut out = Vec::new();
    for i in 0..40 {
        let model = ["qemu64", "kvm64", &x.models[rng.below(x.models.len())].name][rng.below(3)].to_string();
        let mut features = String::new();
        for _ in 0..rng.below(3) {
            features.push_str(&format!("<feature name='{}'/>", x.features[rng.below(x.features.len())].name));
        }
        let arch = if rng.chance(50) { "<arch>x86_64</arch>" } else { "" };
        let vendor = if rng.chance(30) { "<vendor>AMD</vendor>" } else { "" };
        let cpu = |attrs: &str, prefix: &str| {
            let p = if prefix.is_empty() { String::new() } else { format!("{prefix}:") };
            format!("<{p}cpu{attrs}>{arch}<{p}model>{model}</{p}model>{vendor}{features}</{p}cpu>")
        };
        let plain = cpu("", "");
        let text = match i % 10 {
            0 => format!("<capabilities><host>{plain}</host></capabilities>\n"),
            1 => format!("<domain type='kvm'><name>d{i}</name>{plain}</domain>\n"),
            2 => format!("{plain}\n"),
            3 => format!("\u{feff}<?xml version='1.0'?>\n{plain}\n"),
            4 => format!("\u{feff}{plain}\n"),
            5 => format!("\n  <?xml version='1.0' encoding='UTF-8'?>\n{plain}\n"),
            6 => format!("{}\n", cpu(" xmlns:c='http://example.org/cpu'", "c")),
            7 => format!("{}\n", cpu(" xmlns='http://example.org/cpu'", "")),
            8 => format!("<domain xmlns:c='http://example.org/cpu'>{}</domain>\n", cpu("", "c")),
            _ => format!(
                "<capabilities><host>{}{}</host></capabilities>\n",
                cpu(" xmlns='http://example.org/cpu'", ""),
                if rng.chance(50) { plain.clone() } else { String::new() }
            ),
        };
        out.push((format!("input-{i}.xml"), text.into_bytes()));
    }
    out
}

/// `hypervisor-compare` reads its CPU input as virsh sends it (part 1's inputs are all plain):
/// [`compare_input_docs`] against `virsh hypervisor-cpu-compare`, stdout and `error:` lines
/// byte for byte, plain and with `--error`, for every available accelerator, with the QEMU caps
/// cache (prints `compare-input differential libvirt-V (QEMU Q): N, A agreed, D disagreed`).
fn compare_input_differential(stack: Stack) {
    let what = format!("compare-input differential {}", stack.tag());
    let Some((oracle, map)) = oracle_for(stack, "compare-input", &what) else { return };
    let root = tmp_root(&format!("compare-input-differential-{}", stack.id()));
    let hvs = accelerators(&oracle, &root, &what);
    if hvs.is_empty() {
        return skip(&what, "no accelerator gives a host-model CPU");
    }
    let seed = seed();
    let mut rng = Rng::new(seed ^ 5);
    let docs = compare_input_docs(&map, &mut rng);
    let mut all = Vec::new();
    for a in &hvs {
        for (name, bytes) in &docs {
            let file = a.dir.join(name);
            std::fs::write(&file, bytes).expect("write case");
            for error in [false, true] {
                all.push(Case::Compare { file: file.clone(), error }.commands(stack.version().as_str(), a));
            }
        }
    }
    all.truncate(affordable(&oracle, all.len()));
    let n = all.len();
    let virsh_cmds: Vec<Vec<String>> = all.iter().map(|c| c.virsh.clone()).collect();
    let answers = oracle.run(&virsh_cmds, 4);
    let (mut disagreed, mut refused) = (Vec::new(), 0);
    for (c, va) in all.iter().zip(&answers) {
        refused += usize::from(!va.errors.is_empty());
        let args: Vec<&str> = c.cached.iter().map(String::as_str).collect();
        if let Some(d) = disagreement(&c.virsh.join(" "), va, &VirshOut::of_output(&cpufleet(&args))) {
            disagreed.push(d);
        }
    }
    summary::summary(&format!(
        "{what}: {n} comparisons, {} agreed, {} disagreed (seed {seed}; {} documents × virttype {} × plain/--error; {refused} refused by virsh; oracle: {})\n",
        n - disagreed.len(),
        disagreed.len(),
        docs.len(),
        accel_names(&hvs),
        oracle.describe
    ));
    for d in disagreed.iter().take(5) {
        println!("DISAGREEMENT {d}");
    }
    assert!(refused > 0 && refused < n, "the inputs do not mix refused and accepted documents");
    assert!(disagreed.is_empty(), "{} of {n} compare inputs are read otherwise than virsh", disagreed.len());
}

/// The five differentials of one QEMU stack (`$V`'s stack named `$stack`, `QemuStack::name`),
/// as `#[test]`s of their own module (they run in parallel, each on its own embedded root).
macro_rules! stack_tests {
    ($V:ident, $stack:ident) => {
        mod $stack {
            use crate::*;
            fn stack() -> Stack {
                Stack::named(LibvirtVersion::$V, stringify!($stack))
            }
            #[test]
            fn hypervisor_matches_qemu_driver() {
                hypervisor_differential(stack());
            }
            #[test]
            fn baseline_driver_qemu_matches_qemu_driver() {
                baseline_driver_qemu_differential(stack());
            }
            #[test]
            fn start_matches_qemu_driver() {
                start_differential(stack());
            }
            #[test]
            fn inventory_hosts_start_guests_as_the_qemu_driver() {
                inventory_start_differential(stack());
            }
            #[test]
            fn compare_inputs_read_as_virsh() {
                compare_input_differential(stack());
            }
        }
    };
}

// One module per release and stack of the release table and the oracle table:
// `libvirt_11_3_0::distribution::start_matches_qemu_driver`,
// `libvirt_11_3_0::upstream_qemu_7_2::start_matches_qemu_driver` (filter by release, stack or test).
stack_modules!();

/// The stacks with tests here are exactly the QEMU stacks of the oracle table
/// (`qemu_oracle::stacks()`), each once: every stack has its five tests, and every module of
/// tests names a stack of the table.
#[test]
fn every_stack_has_tests() {
    releases::assert_stamped_stacks("cli/tests/hypervisor.rs", &TESTED_STACKS);
    let tested: usize = TESTED_STACKS.iter().map(|(_, names)| names.len()).sum();
    assert_eq!(tested, qemu_oracle::stacks().len());
}
