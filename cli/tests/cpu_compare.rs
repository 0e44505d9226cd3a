//! `cpufleet compare` against each release's real `virsh cpu-compare`, per release: libvirt's
//! test driver has no `virConnectCompareCPU`, so the oracle is the release's QEMU driver
//! (embedded in virsh, the release table's first QEMU stack), which compares with this
//! machine's host CPU as its `virsh capabilities` shows it. cpufleet gets that capabilities
//! document as the host, and the same guest CPU file.
//!
//! Cases: every model of the release's map as a bare `<cpu>`, then random guest CPUs (a map model
//! or none, each match, a vendor or none, up to six features with random policies, now and then
//! a name the map does not know), fresh every day (the seed is the UTC date's, printed;
//! `CPUFLEET_CMP_SEED` reproduces one). Each case runs plain and with `--error`:
//! - plain: virsh's first stdout line is cpufleet's first line (virsh's verdict wording), and
//!   the verdicts agree (virsh exit 0 ↔ cpufleet exit 0 or 1 by verdict; a libvirt error ↔
//!   cpufleet's located bad-input error, exit 2);
//! - `--error`: stdout byte-identical, the `error:` lines identical, for every case libvirt
//!   compares (the bad-input cases are cpufleet's own located errors, exit 2, on both runs).
//!
//! Prints `cpu-compare differential libvirt-V (QEMU Q): N comparisons, A agreed, D disagreed`.
//! Without the oracle a test prints `SKIPPED …` (a failure when `CPUFLEET_REQUIRE_VIRSH=1`).

#[path = "support/diffgen.rs"]
#[allow(dead_code)]
mod diffgen;
#[path = "../../engine/tests/common/releases.rs"]
mod releases;
#[path = "../../engine/tests/common/summary.rs"]
mod summary;

use cpufleet_engine::{CpuMap, LibvirtVersion};
use diffgen::Rng;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const CPUFLEET: &str = env!("CARGO_BIN_EXE_cpufleet");
const RANDOM_CASES: usize = 220;
const WORKERS: usize = 2;

fn skip(what: &str, why: &str) {
    println!("SKIPPED {what}: {why}");
    assert!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref() != Ok("1"), "CPUFLEET_REQUIRE_VIRSH=1: {what}: {why}");
}

fn error_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.starts_with("error: ")).map(str::to_string).collect()
}

/// One random guest CPU of `map`'s names.
fn random_guest(map: &CpuMap, rng: &mut Rng) -> String {
    let x = &map.x86;
    let mut s = String::from("<cpu");
    if let Some(m) = ["", " match='exact'", " match='minimum'", " match='strict'"].get(rng.below(4)) {
        s.push_str(m);
    }
    s.push('>');
    if rng.chance(90) {
        let model = if rng.chance(3) { "NoSuchModel" } else { &x.models[rng.below(x.models.len())].name };
        let fallback = if rng.chance(20) { " fallback='forbid'" } else { "" };
        s.push_str(&format!("<model{fallback}>{model}</model>"));
    }
    if rng.chance(25) {
        s.push_str(&format!("<vendor>{}</vendor>", x.vendors[rng.below(x.vendors.len())].name));
    }
    for _ in 0..rng.below(7) {
        let name = if rng.chance(2) { "no-such-feature" } else { &x.features[rng.below(x.features.len())].name };
        let policy = ["force", "require", "optional", "disable", "forbid"][rng.below(5)];
        s.push_str(&format!("<feature policy='{policy}' name='{name}'/>"));
    }
    s.push_str("</cpu>\n");
    s
}

/// How one case went.
enum Outcome {
    /// Agreed, with which answer: 0 compatible, 1 incompatible, 2 refused by libvirt.
    Agreed(usize),
    Disagreed(String),
}

/// Runs one case (file `guest`) through virsh (`cmd` builds a fresh virsh command) and cpufleet.
fn check_case(version: LibvirtVersion, virsh: &dyn Fn() -> Command, host: &Path, guest: &Path) -> Outcome {
    let v = version.as_str();
    let run = |mut c: Command| c.output().expect("run");
    let (g, h) = (guest.to_str().unwrap(), host.to_str().unwrap());
    let mut plain = virsh();
    plain.args(["cpu-compare", g]);
    let lv = run(plain);
    let cf = run({
        let mut c = Command::new(CPUFLEET);
        c.args(["compare", "--libvirt", v, h, g]);
        c
    });
    let mut with_error = virsh();
    with_error.args(["cpu-compare", "--error", g]);
    let lv_e = run(with_error);
    let cf_e = run({
        let mut c = Command::new(CPUFLEET);
        c.args(["compare", "--libvirt", v, "--error", h, g]);
        c
    });
    let text = String::from_utf8_lossy(&std::fs::read(guest).unwrap()).into_owned();
    let show = |what: &str, a: &Output, b: &Output| {
        format!(
            "{what} on {text:?}:\n  virsh    {:?} stdout {:?} errors {:?}\n  cpufleet {:?} stdout {:?} stderr {:?}",
            a.status.code(),
            String::from_utf8_lossy(&a.stdout),
            error_lines(a),
            b.status.code(),
            String::from_utf8_lossy(&b.stdout),
            String::from_utf8_lossy(&b.stderr)
        )
    };
    let libvirt_error = !error_lines(&lv).is_empty();
    if libvirt_error {
        // libvirt refused to compare (an unknown name, a bad document): cpufleet refuses the
        // input too, with its own located error, on both runs.
        if cf.status.code() != Some(2) || cf_e.status.code() != Some(2) {
            return Outcome::Disagreed(show("libvirt error, cpufleet answered", &lv, &cf));
        }
        return Outcome::Agreed(2);
    }
    let virsh_line = String::from_utf8_lossy(&lv.stdout).lines().next().unwrap_or_default().to_string();
    let ours_line = String::from_utf8_lossy(&cf.stdout).lines().next().unwrap_or_default().to_string();
    let compatible = !virsh_line.contains("incompatible");
    let code_ok = cf.status.code() == Some(if compatible { 0 } else { 1 });
    if virsh_line != ours_line || !code_ok {
        return Outcome::Disagreed(show("plain", &lv, &cf));
    }
    let same_e = lv_e.stdout == cf_e.stdout
        && error_lines(&lv_e) == error_lines(&cf_e)
        && lv_e.status.success() == cf_e.status.success();
    if !same_e {
        return Outcome::Disagreed(show("--error", &lv_e, &cf_e));
    }
    Outcome::Agreed(usize::from(!compatible))
}

fn differential(version: LibvirtVersion) {
    let stack = releases::oracles(version).qemu[0];
    let what = format!("cpu-compare differential libvirt-{version} (QEMU {})", stack.qemu);
    if let Some(why) = stack.missing() {
        return skip(&what, &why);
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cpu-compare-{version}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let caps = stack.virsh(&format!("cmp-{version}-0"), &tmp).arg("capabilities").output();
    let caps = match caps {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => return skip(&what, &format!("virsh capabilities failed: {}", String::from_utf8_lossy(&o.stderr))),
        Err(e) => return skip(&what, &format!("virsh: {e}")),
    };
    let host = tmp.join("capabilities.xml");
    std::fs::write(&host, &caps).unwrap();
    // This machine decoded by cpufleet (CPUID) names the model the release's capabilities name:
    // the one CPUID decode a release's binaries show (MSR-based features, microcode, topology
    // and pages are not read by `cpufleet host`, so only the model and vendor are compared).
    #[cfg(target_arch = "x86_64")]
    {
        let ours = Command::new(CPUFLEET).args(["host", "--libvirt", version.as_str()]).output().unwrap();
        let ours = String::from_utf8_lossy(&ours.stdout).into_owned();
        assert_eq!(host_model(ours.as_bytes()), host_model(&caps), "{what}: this machine's host model");
    }
    let map = CpuMap::embedded(version).unwrap();
    let seed = releases::date_seed("CPUFLEET_CMP_SEED", 0xC0FF_EEC0_4FA8_E000 ^ version as u64);
    let mut cases: Vec<String> =
        map.x86.models.iter().map(|m| format!("<cpu><model>{}</model></cpu>\n", m.name)).collect();
    let mut rng = Rng::new(seed);
    cases.extend((0..RANDOM_CASES).map(|_| random_guest(&map, &mut rng)));
    let files: Vec<PathBuf> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = tmp.join(format!("guest-{i:04}.xml"));
            std::fs::write(&f, c).unwrap();
            f
        })
        .collect();
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (next, outcomes, files, host, tmp) = (&next, &outcomes, &files, &host, &tmp);
            s.spawn(move || {
                let virsh = || stack.virsh(&format!("cmp-{version}-{w}"), tmp);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let o = check_case(version, &virsh, host, f);
                    outcomes.lock().unwrap().push((i, o));
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|(i, _)| *i);
    let failures: Vec<&String> =
        outcomes.iter().filter_map(|(_, o)| if let Outcome::Disagreed(d) = o { Some(d) } else { None }).collect();
    let n = outcomes.len() * 2;
    let mut kinds = [0usize; 3];
    for (_, o) in &outcomes {
        if let Outcome::Agreed(k) = o {
            kinds[*k] += 1;
        }
    }
    summary::summary(&format!(
        "{what}: seed {seed:#x}, host {} ({} models + {RANDOM_CASES} random CPUs, plain and --error)\n\
         {what}: cases agreed: {} compatible, {} incompatible, {} refused by libvirt\n\
         {what}: {n} comparisons, {} agreed, {} disagreed\n",
        host_model(&caps),
        map.x86.models.len(),
        kinds[0],
        kinds[1],
        kinds[2],
        n - 2 * failures.len(),
        2 * failures.len()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(failures.is_empty(), "{what}: {} disagreements, first:\n{}", failures.len(), failures[0]);
    // Every kind of answer must occur, or the agreement says little.
    assert!(kinds.iter().all(|&k| k >= 5), "{what}: answers by kind {kinds:?}");
}

/// The model of the capabilities' host CPU, for the summary line.
fn host_model(caps: &[u8]) -> String {
    let t = String::from_utf8_lossy(caps);
    t.split("<model>").nth(1).and_then(|r| r.split("</model>").next()).unwrap_or("?").to_string()
}

/// One `#[test]` per release of the engine's release table: `cpu_compare_matches_virsh::libvirt_NAME`.
macro_rules! release_tests {
    ($( ($V:ident, $tag:ident, $name:literal, $suite:literal, $qmaj:literal, $qmin:literal) ),+) => {
        mod cpu_compare_matches_virsh {
            $(
                #[test]
                fn $tag() {
                    super::differential(cpufleet_engine::LibvirtVersion::$V);
                }
            )+
        }
    };
}
cpufleet_engine::for_each_release!(release_tests);
