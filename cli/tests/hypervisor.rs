//! Differential test against libvirt 9.0.0's real QEMU driver: `cpufleet hypervisor-compare` /
//! `hypervisor-baseline` against `virsh -c qemu:///system hypervisor-cpu-compare` /
//! `hypervisor-cpu-baseline`, for `--virttype qemu` (TCG) and `kvm` (when the daemon has it,
//! saying so when not). It starts nothing: the daemon comes from
//! `sh ../shared/oracles/libvirt-qemu-driver.sh` (`.ci/run` does it); without it the test prints
//! `SKIPPED hypervisor differential: <why>` (and fails when `CPUFLEET_REQUIRE_VIRSH=1`).
//!
//! The hypervisor is taken from the same daemon: `virsh domcapabilities --virttype V` and
//! libvirt's QEMU capabilities cache of the emulator it names
//! (`/var/cache/libvirt/qemu/capabilities/*.xml`, `--qemu-caps`; 9.0.0's domcapabilities lack
//! QEMU's blockers).
//!
//! Cases (the same for each accelerator): every x86 CPU document of the 9.0.0 pack's
//! `cputestdata` (CPUID dumps and `<cpuTest>` wrappers excepted), every map model, 120 random
//! guest CPUs (map models, random modes, match, vendor and feature policies, a few unknown
//! names; `support/diffgen.rs`'s generator) and the domcapabilities itself, each compared
//! plain and a third of them with `--error`; and 160 baseline input sets (each pack host, QEMU
//! expansion and guest CPU alone, consecutive pairs, per-vendor groups, both domcapabilities,
//! bare model pairs) × {plain, --features, --migratable, both}. Required: stdout byte-identical,
//! the `error: ` lines of stderr identical, and success on both sides or failure on both.
//!
//! **Run time.** Each virsh call costs what the daemon takes for one RPC. On a daemon whose
//! capabilities cache stays valid that is milliseconds; the daemon of these machines re-probes
//! QEMU on every call (about 4 s each, measured). The test therefore measures the first call and
//! runs the cases, in a seeded shuffled order so that any prefix samples every kind, until
//! `CPUFLEET_HV_BUDGET_S` seconds (default 150; 0 = no limit) are spent, and says how many of
//! all the cases it ran. Knobs: `CPUFLEET_HV_SEED`, `CPUFLEET_HV_BUDGET_S`.

#[path = "support/diffgen.rs"]
#[allow(dead_code)]
mod diffgen;

use cpufleet_engine::{CpuMap, LibvirtVersion};
use diffgen::Rng;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const CPUFLEET: &str = env!("CARGO_BIN_EXE_cpufleet");
const URI: &str = "qemu:///system";
const DEFAULT_SEED: u64 = 0x00C0_FFEE_0415_0009;

fn virsh(args: &[&str]) -> Output {
    Command::new("virsh").arg("-c").arg(URI).args(args).output().expect("run virsh")
}

fn cpufleet(args: &[&str]) -> Output {
    Command::new(CPUFLEET).args(args).output().expect("run cpufleet")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Why the daemon cannot be used, if it cannot.
fn daemon_problem() -> Option<String> {
    match Command::new("virsh").args(["-c", URI, "version"]).output() {
        Err(e) => Some(format!("virsh not found ({e})")),
        Ok(o) if !o.status.success() => Some(format!(
            "`virsh -c {URI} version` failed ({}); start the daemon with `sh ../shared/oracles/libvirt-qemu-driver.sh`",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(o) if !String::from_utf8_lossy(&o.stdout).contains("Using library: libvirt 9.0.0") => {
            Some("the daemon's libvirt is not 9.0.0".into())
        }
        Ok(_) => None,
    }
}

fn skip(why: &str) {
    println!("SKIPPED hypervisor differential: {why}");
    assert!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref() != Ok("1"), "CPUFLEET_REQUIRE_VIRSH=1: {why}");
}

/// The cache file of `emulator` (the one whose `<emulator>` names it).
fn qemu_cache(emulator: &str) -> Result<PathBuf, String> {
    let dir = Path::new("/var/cache/libvirt/qemu/capabilities");
    let want = format!("<emulator>{emulator}</emulator>");
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries.flatten() {
        if let Ok(text) = std::fs::read_to_string(e.path()) {
            if text.contains(&want) {
                return Ok(e.path());
            }
        }
    }
    Err(format!("no QEMU capabilities cache for {emulator} in {}", dir.display()))
}

fn text_between<'a>(doc: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let s = doc.find(open)? + open.len();
    Some(&doc[s..s + doc[s..].find(close)?])
}

fn strip_decl(s: &str) -> &str {
    match (s.trim_start().starts_with("<?xml"), s.find("?>")) {
        (true, Some(i)) => &s[i + 2..],
        _ => s,
    }
}

fn pack_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/libvirt-9.0.0/cputestdata")
}

/// The pack's x86 CPU documents virsh can send (no CPUID dumps, no `<cpuTest>` wrappers).
fn pack_cpu_files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(pack_dir()) else { return out };
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

enum Case {
    Compare { file: PathBuf, error: bool },
    Baseline { file: PathBuf, flags: &'static [&'static str] },
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write case");
    p
}

/// Every case of one accelerator (files written to `dir`).
fn cases(map: &CpuMap, dir: &Path, domcaps: &[(String, String)], seed: u64) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let pack = pack_cpu_files();
    let mut guests: Vec<PathBuf> = pack.iter().map(|(n, t)| write(dir, n, t)).collect();
    for m in &map.x86.models {
        guests.push(write(dir, &format!("model-{}.xml", m.name), &format!("<cpu><model>{}</model></cpu>\n", m.name)));
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
        for flags in FLAGS {
            out.push(Case::Baseline { file: file.clone(), flags });
        }
    }
    rng.shuffle(&mut out);
    out
}

fn error_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.starts_with("error: ")).map(str::to_string).collect()
}

/// Runs one case on both sides; None when they agree, else a description.
fn run_case(case: &Case, virttype: &str, domcaps: &Path, cache: &Path) -> Option<String> {
    let (dc, qc) = (domcaps.to_str().unwrap(), cache.to_str().unwrap());
    let common = ["--libvirt", "9.0.0", "--domcaps", dc, "--qemu-caps", qc];
    let (v, c, what) = match case {
        Case::Compare { file, error } => {
            let f = file.to_str().unwrap();
            let mut va = vec!["hypervisor-cpu-compare", "--virttype", virttype];
            let mut ca = vec!["hypervisor-compare"];
            ca.extend(common);
            if *error {
                va.push("--error");
                ca.push("--error");
            }
            va.push(f);
            ca.push(f);
            (virsh(&va), cpufleet(&ca), format!("compare {}{f}", if *error { "--error " } else { "" }))
        }
        Case::Baseline { file, flags } => {
            let f = file.to_str().unwrap();
            let mut va = vec!["hypervisor-cpu-baseline", "--virttype", virttype];
            va.extend(flags.iter());
            va.push(f);
            let mut ca = vec!["hypervisor-baseline"];
            ca.extend(common);
            ca.extend(flags.iter());
            ca.push(f);
            (virsh(&va), cpufleet(&ca), format!("baseline {} {f}", flags.join(" ")))
        }
    };
    let same = v.stdout == c.stdout && error_lines(&v) == error_lines(&c) && v.status.success() == c.status.success();
    if same {
        return None;
    }
    Some(format!(
        "{virttype} {what}\n--- virsh ({}):\n{}{}\n--- cpufleet ({}):\n{}{}",
        v.status,
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr),
        c.status,
        String::from_utf8_lossy(&c.stdout),
        String::from_utf8_lossy(&c.stderr)
    ))
}

#[test]
fn hypervisor_matches_qemu_driver_9_0_0() {
    if let Some(why) = daemon_problem() {
        return skip(&why);
    }
    if !pack_dir().is_dir() {
        return skip(&format!("{} is missing", pack_dir().display()));
    }
    let map = CpuMap::embedded(LibvirtVersion::V9_0_0).expect("embedded map");
    let seed = env_u64("CPUFLEET_HV_SEED", DEFAULT_SEED);
    let budget = Duration::from_secs(env_u64("CPUFLEET_HV_BUDGET_S", 150));
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hypervisor-differential");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("tmp dir");
    // The hypervisors: each accelerator's domcapabilities and cache.
    let mut hvs = Vec::new();
    for virttype in ["qemu", "kvm"] {
        let o = virsh(&["domcapabilities", "--virttype", virttype]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        if !o.status.success() || !text.contains("<mode name='host-model' supported='yes'>") {
            println!(
                "hypervisor differential: --virttype {virttype} not available here ({}); /dev/kvm {}",
                String::from_utf8_lossy(&o.stderr).trim(),
                if Path::new("/dev/kvm").exists() { "exists" } else { "is absent" }
            );
            continue;
        }
        let emulator = text_between(&text, "<path>", "</path>").unwrap_or_default().to_string();
        let cache = match qemu_cache(&emulator) {
            Ok(c) => c,
            Err(why) => return skip(&why),
        };
        let dir = root.join(virttype);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let domcaps = write(&dir, "domcaps.xml", &text);
        // The cache is rewritten when the daemon re-probes QEMU; keep this run's copy.
        let cache_copy = dir.join("qemu-caps.xml");
        std::fs::copy(&cache, &cache_copy).expect("copy the QEMU capabilities cache");
        hvs.push((virttype, dir, domcaps, cache_copy, text));
    }
    if hvs.is_empty() {
        return skip("no accelerator gives a host-model CPU");
    }
    let domcaps_docs: Vec<(String, String)> =
        hvs.iter().map(|(v, _, _, _, t)| (format!("domcaps-{v}.xml"), t.clone())).collect();
    let mut all = Vec::new();
    for (virttype, dir, domcaps, cache, _) in &hvs {
        for case in cases(&map, dir, &domcaps_docs, seed) {
            all.push((*virttype, domcaps.clone(), cache.clone(), case));
        }
    }
    // Interleave the accelerators so that a budget-limited run samples both.
    let mut rng = Rng::new(seed ^ 1);
    rng.shuffle(&mut all);
    let start = Instant::now();
    let (mut n, mut disagreed) = (0usize, Vec::new());
    for (virttype, domcaps, cache, case) in &all {
        if !budget.is_zero() && start.elapsed() > budget {
            break;
        }
        n += 1;
        if let Some(d) = run_case(case, virttype, domcaps, cache) {
            disagreed.push(d);
        }
    }
    let per_call = start.elapsed().as_secs_f64() / n.max(1) as f64;
    let accels: Vec<&str> = hvs.iter().map(|h| h.0).collect();
    println!(
        "hypervisor differential libvirt-9.0.0: {n} comparisons, {} agreed, {} disagreed (virttype {}; {n} of {} cases run, {per_call:.2} s per virsh call{})",
        n - disagreed.len(),
        disagreed.len(),
        accels.join(" and "),
        all.len(),
        if n < all.len() { "; CPUFLEET_HV_BUDGET_S=0 runs them all" } else { "" }
    );
    println!("libvirt 11.3.0's QEMU driver cannot run here (only its virsh client is installed): its rules are tested on the spec's cases in engine/tests/hypervisor.rs");
    for d in disagreed.iter().take(5) {
        println!("DISAGREEMENT {d}");
    }
    assert!(disagreed.is_empty(), "{} of {n} cases disagree with the QEMU driver (first ones above)", disagreed.len());
}
