//! Differential tests against libvirt 9.0.0's real QEMU driver (`support/qemu_oracle.rs`: by
//! default embedded in virsh, the same code and QEMU as the daemon that
//! `sh ../shared/oracles/libvirt-qemu-driver.sh` starts; `CPUFLEET_QEMU_URI=qemu:///system` asks
//! the daemon), for `--virttype qemu` (TCG) and `kvm` (when available, saying so when not).
//! Without the driver a test prints `SKIPPED <what>: <why>` (and fails when
//! `CPUFLEET_REQUIRE_VIRSH=1`). Required everywhere: stdout byte-identical, the `error: ` lines
//! of stderr identical, and success on both sides or failure on both.
//!
//! 1. `hypervisor-compare` / `hypervisor-baseline` against `virsh hypervisor-cpu-compare` /
//!    `hypervisor-cpu-baseline`. The hypervisor comes from the same driver: `virsh
//!    domcapabilities --virttype V` and libvirt's QEMU capabilities cache of the emulator it
//!    names (`--qemu-caps`; 9.0.0's domcapabilities lack QEMU's blockers). Cases (the same for
//!    each accelerator): every x86 CPU document of the 9.0.0 pack's `cputestdata` (CPUID dumps
//!    and `<cpuTest>` wrappers excepted), every map model, 120 random guest CPUs (map models,
//!    random modes, match, vendor and feature policies, a few unknown names) and the
//!    domcapabilities themselves, each compared plain and a third of them with `--error`; and
//!    160 baseline input sets (each pack host, QEMU expansion and guest CPU alone, consecutive
//!    pairs, per-vendor groups, both domcapabilities, bare model pairs) × {plain, --features,
//!    --migratable, both}; virsh gets each set as one file, cpufleet as separate files.
//! 2. `baseline --driver qemu` against the QEMU driver's plain `virsh cpu-baseline`.
//! 3. `start --qemu-argv` against `virsh domxml-to-native qemu-argv` (prints
//!    `start differential libvirt-9.0.0: N, A agreed, D disagreed`).
//!
//! With a daemon that re-probes QEMU on every call (4-5 s a call on these machines) only what
//! `CPUFLEET_HV_BUDGET_S` (default 150; 0 = no limit) allows at 5 s a call is run, in a seeded
//! shuffled order so that any prefix samples every kind; the embedded driver runs them all.
//! Knobs: `CPUFLEET_HV_SEED`, `CPUFLEET_HV_BUDGET_S`, `CPUFLEET_QEMU_URI`.

#[path = "support/diffgen.rs"]
#[allow(dead_code)]
mod diffgen;
#[path = "support/qemu_oracle.rs"]
mod qemu_oracle;

use cpufleet_engine::{CpuMap, LibvirtVersion};
use diffgen::Rng;
use qemu_oracle::{Oracle, VirshOut};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const CPUFLEET: &str = env!("CARGO_BIN_EXE_cpufleet");
const DEFAULT_SEED: u64 = 0x00C0_FFEE_0415_0009;

fn cpufleet(args: &[&str]) -> Output {
    Command::new(CPUFLEET).args(args).output().expect("run cpufleet")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn skip(what: &str, why: &str) {
    println!("SKIPPED {what}: {why}");
    assert!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref() != Ok("1"), "CPUFLEET_REQUIRE_VIRSH=1: {why}");
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

impl Case {
    /// The virsh command and the cpufleet command of this case.
    fn commands(&self, virttype: &str, domcaps: &Path, cache: &Path) -> (Vec<String>, Vec<String>) {
        let own = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<String>>();
        let (dc, qc) = (domcaps.to_str().unwrap(), cache.to_str().unwrap());
        let common = ["--libvirt", "9.0.0", "--domcaps", dc, "--qemu-caps", qc];
        match self {
            Case::Compare { file, error } => {
                let f = file.to_str().unwrap();
                let mut v = own(&["hypervisor-cpu-compare", "--virttype", virttype]);
                let mut c = own(&["hypervisor-compare"]);
                c.extend(own(&common));
                if *error {
                    v.push("--error".into());
                    c.push("--error".into());
                }
                v.push(f.into());
                c.push(f.into());
                (v, c)
            }
            Case::Baseline { file, parts, flags } => {
                let f = file.to_str().unwrap();
                let mut v = own(&["hypervisor-cpu-baseline", "--virttype", virttype]);
                v.extend(own(flags));
                v.push(f.into());
                let mut c = own(&["hypervisor-baseline"]);
                c.extend(own(&common));
                c.extend(own(flags));
                c.extend(parts.iter().map(|p| p.display().to_string()));
                (v, c)
            }
        }
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

fn tmp_root(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("tmp dir");
    root
}

/// The oracle for one test, or None after saying why it is skipped.
fn oracle_for(name: &str, what: &str) -> Option<Oracle> {
    if !pack_dir().is_dir() {
        skip(what, &format!("{} is missing", pack_dir().display()));
        return None;
    }
    match Oracle::new(name, Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(o) => Some(o),
        Err(why) => {
            skip(what, &why);
            None
        }
    }
}

/// One accelerator of the oracle: its virttype, domcapabilities (text and file) and the copy of
/// its QEMU capabilities cache; None (after saying so) when the accelerator gives no host-model.
struct Accel {
    virttype: &'static str,
    dir: PathBuf,
    domcaps: PathBuf,
    cache: PathBuf,
    text: String,
}

fn accelerators(oracle: &Oracle, root: &Path, what: &str) -> Vec<Accel> {
    let mut out = Vec::new();
    for virttype in ["qemu", "kvm"] {
        let o = oracle.one(&["domcapabilities", "--virttype", virttype]);
        if !o.ok || !o.stdout.contains("<mode name='host-model' supported='yes'>") {
            println!(
                "{what}: --virttype {virttype} not available here ({}); /dev/kvm {}",
                o.errors.join(" "),
                if Path::new("/dev/kvm").exists() { "exists" } else { "is absent" }
            );
            continue;
        }
        let emulator = text_between(&o.stdout, "<path>", "</path>").unwrap_or_default().to_string();
        let dir = root.join(virttype);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let domcaps = write(&dir, "domcaps.xml", &o.stdout);
        let cache = match oracle.qemu_cache(&emulator, &dir.join("qemu-caps.xml")) {
            Ok(c) => c,
            Err(why) => panic!("{what}: {why}"),
        };
        out.push(Accel { virttype, dir, domcaps, cache, text: o.stdout });
    }
    out
}

/// How many cases fit the budget: all with the embedded driver (milliseconds a call); with a
/// daemon that re-probes QEMU on every call, what CPUFLEET_HV_BUDGET_S allows at 5 s a call.
fn affordable(oracle: &Oracle, all: usize) -> usize {
    let budget = env_u64("CPUFLEET_HV_BUDGET_S", 150);
    if oracle.uri.starts_with("qemu:///embed") || budget == 0 {
        all
    } else {
        all.min((budget / 5).max(1) as usize)
    }
}

#[test]
fn hypervisor_matches_qemu_driver_9_0_0() {
    const WHAT: &str = "hypervisor differential";
    let Some(oracle) = oracle_for("hypervisor", WHAT) else { return };
    let map = CpuMap::embedded(LibvirtVersion::V9_0_0).expect("embedded map");
    let seed = env_u64("CPUFLEET_HV_SEED", DEFAULT_SEED);
    let root = tmp_root("hypervisor-differential");
    let hvs = accelerators(&oracle, &root, WHAT);
    if hvs.is_empty() {
        return skip(WHAT, "no accelerator gives a host-model CPU");
    }
    let domcaps_docs: Vec<(String, String)> =
        hvs.iter().map(|a| (format!("domcaps-{}.xml", a.virttype), a.text.clone())).collect();
    let mut all = Vec::new();
    for a in &hvs {
        for case in cases(&map, &a.dir, &domcaps_docs, seed) {
            all.push(case.commands(a.virttype, &a.domcaps, &a.cache));
        }
    }
    // Interleave the accelerators so that a budget-limited run samples both.
    let mut rng = Rng::new(seed ^ 1);
    rng.shuffle(&mut all);
    let start = Instant::now();
    all.truncate(affordable(&oracle, all.len()));
    let n = all.len();
    let virsh_cmds: Vec<Vec<String>> = all.iter().map(|(v, _)| v.clone()).collect();
    let answers = oracle.run(&virsh_cmds, 12);
    let mut disagreed = Vec::new();
    for ((v, c), va) in all.iter().zip(&answers) {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        if let Some(d) = disagreement(&v.join(" "), va, &VirshOut::of_output(&cpufleet(&args))) {
            disagreed.push(d);
        }
    }
    let accels: Vec<&str> = hvs.iter().map(|h| h.virttype).collect();
    println!(
        "hypervisor differential libvirt-9.0.0: {n} comparisons, {} agreed, {} disagreed (virttype {}; {:.1} s; oracle: {})",
        n - disagreed.len(),
        disagreed.len(),
        accels.join(" and "),
        start.elapsed().as_secs_f64(),
        oracle.describe
    );
    println!("libvirt 11.3.0's QEMU driver cannot run here (only its virsh client is installed): its rules are checked on the spec's cases by cli/tests/hypervisor_11_3.rs, not against a real 11.3.0 QEMU driver");
    for d in disagreed.iter().take(5) {
        println!("DISAGREEMENT {d}");
    }
    assert!(disagreed.is_empty(), "{} of {n} cases disagree with the QEMU driver (first ones above)", disagreed.len());
}

/// Part 2: `cpufleet baseline --driver qemu` against the QEMU driver's plain `virsh cpu-baseline`:
/// every pack `-host.xml` alone, the Intel and the AMD ones together (as several files, which
/// cpufleet baselines as their concatenation) × {plain, --features, --migratable, both}; and
/// the default driver must differ exactly where the QEMU driver filters features.
#[test]
fn baseline_driver_qemu_matches_qemu_driver_9_0_0() {
    const WHAT: &str = "cpu-baseline differential (QEMU driver)";
    let Some(oracle) = oracle_for("baseline", WHAT) else { return };
    let root = tmp_root("baseline-qemu-differential");
    let hosts: Vec<(String, String)> = pack_cpu_files().into_iter().filter(|(n, _)| n.ends_with("-host.xml")).collect();
    let mut sets: Vec<Vec<PathBuf>> = hosts.iter().map(|(n, _)| vec![pack_dir().join(n)]).collect();
    for vendor in ["<vendor>Intel", "<vendor>AMD"] {
        sets.push(hosts.iter().filter(|(_, t)| t.contains(vendor)).map(|(n, _)| pack_dir().join(n)).collect());
    }
    const FLAGS: [&[&str]; 4] = [&[], &["--features"], &["--migratable"], &["--features", "--migratable"]];
    let (mut virsh_cmds, mut ours) = (Vec::new(), Vec::new());
    for (i, set) in sets.iter().enumerate() {
        let text: String = set.iter().map(|p| std::fs::read_to_string(p).expect("pack file")).collect();
        let concat = write(&root, &format!("set-{i}.xml"), &text);
        for flags in FLAGS {
            let mut v = vec!["cpu-baseline".to_string()];
            v.extend(flags.iter().map(|f| f.to_string()));
            v.push(concat.display().to_string());
            let mut c: Vec<String> = ["baseline", "--libvirt", "9.0.0", "--driver", "qemu"].map(String::from).to_vec();
            c.extend(flags.iter().map(|f| f.to_string()));
            c.extend(set.iter().map(|p| p.display().to_string()));
            virsh_cmds.push(v);
            ours.push(c);
        }
    }
    let keep = affordable(&oracle, virsh_cmds.len());
    virsh_cmds.truncate(keep);
    ours.truncate(keep);
    let answers = oracle.run(&virsh_cmds, 4);
    let (n, mut disagreed, mut filtered) = (answers.len(), Vec::new(), 0);
    for ((v, c), va) in virsh_cmds.iter().zip(&ours).zip(&answers) {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        if let Some(d) = disagreement(&v.join(" "), va, &VirshOut::of_output(&cpufleet(&args))) {
            disagreed.push(d);
        }
        // The test driver's answer: the same, or more features (those the QEMU driver drops).
        let test_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--driver" && *a != "qemu").collect();
        let test = VirshOut::of_output(&cpufleet(&test_args));
        if test.stdout != va.stdout {
            filtered += 1;
            let dropped = ["cmt", "mbm_total", "mbm_local", "osxsave", "ospke"];
            let kept: Vec<&str> =
                test.stdout.lines().filter(|l| !dropped.iter().any(|d| l.contains(&format!("name='{d}'")))).collect();
            let theirs: Vec<&str> = va.stdout.lines().collect();
            assert_eq!(kept, theirs, "the test driver's answer differs by more than the filtered features: {c:?}");
        }
    }
    println!(
        "cpu-baseline --driver qemu differential libvirt-9.0.0: {n} comparisons, {} agreed, {} disagreed ({filtered} differ from the default driver by the filtered features; oracle: {})",
        n - disagreed.len(),
        disagreed.len(),
        oracle.describe
    );
    for d in disagreed.iter().take(5) {
        println!("DISAGREEMENT {d}");
    }
    assert!(filtered > 0 || n < 20, "no input set shows the QEMU driver's filter");
    assert!(disagreed.is_empty(), "{} of {n} cases disagree with the QEMU driver (first ones above)", disagreed.len());
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
    let mut rng = Rng::new(env_u64("CPUFLEET_HV_SEED", DEFAULT_SEED) ^ 3);
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
/// domcapabilities, QEMU capabilities cache and `virsh capabilities` (FULL on KVM).
#[test]
fn start_matches_qemu_driver_9_0_0() {
    const WHAT: &str = "start differential";
    let Some(oracle) = oracle_for("start", WHAT) else { return };
    let map = CpuMap::embedded(LibvirtVersion::V9_0_0).expect("embedded map");
    let root = tmp_root("start-differential");
    let hvs = accelerators(&oracle, &root, WHAT);
    if hvs.is_empty() {
        return skip(WHAT, "no accelerator gives a host-model CPU");
    }
    let caps = oracle.one(&["capabilities"]);
    assert!(caps.ok, "virsh capabilities: {:?}", caps.errors);
    let caps = write(&root, "capabilities.xml", &caps.stdout);
    let defs = start_defs(&map);
    let (mut virsh_cmds, mut ours) = (Vec::new(), Vec::new());
    for a in &hvs {
        for (i, d) in defs.iter().enumerate() {
            let file = write(&a.dir, &format!("domain-{i}.xml"), &domain_xml(a.virttype, i, d)).display().to_string();
            virsh_cmds.push(vec!["domxml-to-native".to_string(), "qemu-argv".to_string(), file.clone()]);
            let (dc, qc) = (a.domcaps.display().to_string(), a.cache.display().to_string());
            ours.push(
                [
                    "start",
                    "--libvirt",
                    "9.0.0",
                    "--domcaps",
                    &dc,
                    "--qemu-caps",
                    &qc,
                    "--caps",
                    &caps.display().to_string(),
                    "--qemu-argv",
                    &file,
                ]
                .map(String::from)
                .to_vec(),
            );
        }
    }
    let keep = affordable(&oracle, virsh_cmds.len());
    virsh_cmds.truncate(keep);
    ours.truncate(keep);
    let answers = oracle.run(&virsh_cmds, 4);
    let (n, mut disagreed, mut refused, mut with_settings) = (answers.len(), Vec::new(), 0, 0);
    for ((v, c), va) in virsh_cmds.iter().zip(&ours).zip(&answers) {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        let o = cpufleet(&args);
        let co = VirshOut::of_output(&o);
        let theirs = if va.ok { cpu_arg(&va.stdout).map(|s| s.to_string()) } else { None };
        with_settings += usize::from(theirs.as_deref().is_some_and(has_domain_settings));
        let mine = if co.ok { Some(co.stdout.trim_end().to_string()) } else { None };
        refused += usize::from(!va.ok);
        // A definition cpufleet's reader rejects (exit 2, no libvirt error line): virsh must fail.
        let bad_input = o.status.code() == Some(2) && co.errors.is_empty();
        let same = theirs == mine && (va.ok || bad_input || va.errors == co.errors);
        if !same || (bad_input && va.ok) {
            disagreed.push(format!(
                "{}\n{}\n--- virsh: {:?} {:?}\n--- cpufleet: {:?} {:?}\n{}",
                v.join(" "),
                std::fs::read_to_string(&v[2]).unwrap_or_default(),
                theirs,
                va.errors,
                mine,
                co.errors,
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    let accels: Vec<&str> = hvs.iter().map(|h| h.virttype).collect();
    println!(
        "start differential libvirt-9.0.0: {n}, {} agreed, {} disagreed ({} domains × virttype {}{}; {refused} refused by the driver, {with_settings} started with domain or cache/address settings in -cpu; oracle: {})",
        n - disagreed.len(),
        disagreed.len(),
        defs.len(),
        accels.join(" and "),
        if accels.contains(&"kvm") { "" } else { "; kvm is not available here" },
        oracle.describe
    );
    for d in disagreed.iter().take(8) {
        println!("DISAGREEMENT {d}");
    }
    assert!(
        disagreed.is_empty(),
        "{} of {n} start cases disagree with the QEMU driver (first ones above)",
        disagreed.len()
    );
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
/// error ("guest CPU doesn't match specification"), and such cases are counted apart.
#[test]
fn inventory_hosts_start_guests_as_the_qemu_driver_9_0_0() {
    const WHAT: &str = "inventory start differential";
    let Some(oracle) = oracle_for("inventory-start", WHAT) else { return };
    let map = CpuMap::embedded(LibvirtVersion::V9_0_0).expect("embedded map");
    let root = tmp_root("inventory-start-differential");
    let hvs = accelerators(&oracle, &root, WHAT);
    let Some(kvm) = hvs.iter().find(|a| a.virttype == "kvm") else {
        return skip(WHAT, "KVM is not available here (an inventory describes KVM hosts)");
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
        "9.0.0",
        "--keep-going",
        "--format",
        "json",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    let rows = report["inventory_guests"]["rows"].as_array().expect("guest rows");
    let start_error = |i: usize| -> Option<Option<String>> {
        let row = rows.iter().find(|r| r["name"] == format!("cpufleet-{i}").as_str())?;
        Some(row["start_error"].as_str().map(str::to_string))
    };
    let (mut disagreed, mut after_start, mut refused, mut unread) = (Vec::new(), 0, 0, 0);
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
        if !same {
            disagreed.push(format!("{}\n--- virsh: {:?}\n--- cpufleet: {:?}", defs[i], va.errors, start_error(i)));
        }
    }
    let n = answers.len();
    println!(
        "inventory start differential libvirt-9.0.0: {n} guests, {} agreed, {} disagreed (one KVM host from the driver's capabilities and domcapabilities; {refused} refused by the driver, {unread} unreadable, {after_start} refused only by the check='full' check after QEMU starts; oracle: {})",
        n - disagreed.len(),
        disagreed.len(),
        oracle.describe
    );
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
/// byte for byte, plain and with `--error`, for every available accelerator (prints
/// `compare-input differential libvirt-9.0.0: N, A agreed, D disagreed`).
#[test]
fn compare_inputs_read_as_virsh_9_0_0() {
    const WHAT: &str = "compare-input differential";
    let Some(oracle) = oracle_for("compare-input", WHAT) else { return };
    let map = CpuMap::embedded(LibvirtVersion::V9_0_0).expect("embedded map");
    let root = tmp_root("compare-input-differential");
    let hvs = accelerators(&oracle, &root, WHAT);
    if hvs.is_empty() {
        return skip(WHAT, "no accelerator gives a host-model CPU");
    }
    let mut rng = Rng::new(env_u64("CPUFLEET_HV_SEED", DEFAULT_SEED) ^ 5);
    let docs = compare_input_docs(&map, &mut rng);
    let mut all = Vec::new();
    for a in &hvs {
        for (name, bytes) in &docs {
            let file = a.dir.join(name);
            std::fs::write(&file, bytes).expect("write case");
            for error in [false, true] {
                all.push(Case::Compare { file: file.clone(), error }.commands(a.virttype, &a.domcaps, &a.cache));
            }
        }
    }
    all.truncate(affordable(&oracle, all.len()));
    let n = all.len();
    let virsh_cmds: Vec<Vec<String>> = all.iter().map(|(v, _)| v.clone()).collect();
    let answers = oracle.run(&virsh_cmds, 4);
    let (mut disagreed, mut refused) = (Vec::new(), 0);
    for ((v, c), va) in all.iter().zip(&answers) {
        refused += usize::from(!va.errors.is_empty());
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        if let Some(d) = disagreement(&v.join(" "), va, &VirshOut::of_output(&cpufleet(&args))) {
            disagreed.push(d);
        }
    }
    println!(
        "compare-input differential libvirt-9.0.0: {n}, {} agreed, {} disagreed ({} documents × virttype {} × plain/--error; {refused} refused by virsh; oracle: {})",
        n - disagreed.len(),
        disagreed.len(),
        docs.len(),
        hvs.iter().map(|h| h.virttype).collect::<Vec<_>>().join(" and "),
        oracle.describe
    );
    for d in disagreed.iter().take(5) {
        println!("DISAGREEMENT {d}");
    }
    assert!(refused > 0 && refused < n, "the inputs do not mix refused and accepted documents");
    assert!(disagreed.is_empty(), "{} of {n} compare inputs are read otherwise than virsh", disagreed.len());
}
