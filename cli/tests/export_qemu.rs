//! `cpufleet export qemu-cpu` against the real QEMU drivers of every row of the oracle table
//! (`support/qemu_oracle.rs`: libvirt 9.0.0 + QEMU 7.2, 11.3.0 + QEMU 7.2, 11.3.0 + QEMU 10.0,
//! 12.9.0 + QEMU 11.1), issue 26: for at least 200 guest definitions per row, the export with
//! the hypervisor given (`--domcaps` of the driver, `--caps`, `--qemu-caps`) must be exactly the
//! `-cpu` of `virsh domxml-to-native qemu-argv` for the same domain, or fail where libvirt
//! refuses the domain; and every string libvirt's own QEMU accepts
//! (`qemu-system-x86_64 -machine pc -accel tcg -m 64 -cpu STRING`, that row's binary) the export
//! gives too, accepted.
//!
//! Definitions (fresh every UTC day; `CPUFLEET_EXPORT_SEED` replays one): every map model with
//! `match='exact'` and with `match='minimum'`, each with a random feature or none (features the
//! QEMU has no property for included: `pconfig`-style `=off`), and 100 random guests (a random
//! model, 1-3 features of random policy, random match). Run on the TCG hypervisor (`--virttype
//! qemu`) and, where /dev/kvm works, KVM. Without a row's driver the test prints `SKIPPED …` (a
//! failure under `CPUFLEET_REQUIRE_VIRSH=1`).

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

use cpufleet_engine::CpuMap;
use diffgen::Rng;
use qemu_oracle::{accelerators, write, Oracle, Stack, VirshOut};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CPUFLEET: &str = env!("CARGO_BIN_EXE_cpufleet");

fn seed() -> u64 {
    releases::date_seed("CPUFLEET_EXPORT_SEED", 26)
}

fn skip(what: &str, why: &str) {
    summary::summary(&format!("SKIPPED {what}: {why}\n"));
    assert!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref() != Ok("1"), "CPUFLEET_REQUIRE_VIRSH=1: {why}");
}

/// The `-cpu` argument of a `domxml-to-native qemu-argv` answer.
fn cpu_arg(argv: &str) -> Option<&str> {
    let i = argv.find(" -cpu ")? + 6;
    Some(argv[i..].split(' ').next().unwrap_or_default())
}

/// The guest definitions (each a `<cpu>`), at least 200 for every release's map.
fn defs(map: &CpuMap, seed: u64) -> Vec<String> {
    let x = &map.x86;
    let mut rng = Rng::new(seed);
    let policies = ["force", "require", "optional", "disable", "forbid"];
    let feature = |rng: &mut Rng| {
        let f = &x.features[rng.below(x.features.len())].name;
        format!("<feature policy='{}' name='{f}'/>", policies[rng.below(policies.len())])
    };
    let mut out = Vec::new();
    for m in &x.models {
        for matching in ["exact", "minimum"] {
            let f = if rng.chance(50) { feature(&mut rng) } else { String::new() };
            out.push(format!("<cpu match='{matching}'><model>{}</model>{f}</cpu>", m.name));
        }
    }
    for _ in 0..100 {
        let m = &x.models[rng.below(x.models.len())].name;
        let matching = ["exact", "exact", "minimum", "strict"][rng.below(4)];
        let fs: String = (0..rng.range(1, 4)).map(|_| feature(&mut rng)).collect();
        // A feature listed twice is refused by both; keep the cases that start somewhere.
        out.push(format!("<cpu match='{matching}'><model>{m}</model>{fs}</cpu>"));
    }
    out
}

fn domain_xml(virttype: &str, i: usize, cpu: &str) -> String {
    format!(
        "<domain type='{virttype}'>\n  <name>cpufleet-export-{i}</name>\n  <uuid>6b7ac3e0-5c1f-4b8e-9d0a-1000000{i:05}</uuid>\n  <memory>65536</memory>\n  <os><type arch='x86_64'>hvm</type></os>\n{cpu}</domain>\n"
    )
}

/// The row's QEMU binary `emulator` (as its domcapabilities names it) as a command: the system's,
/// or inside the chroot of a Debian-release oracle (`PREFIX/root`, `PREFIX/bin/virsh-qemu` being
/// the wrapper).
fn qemu_command(stack: Stack, emulator: &str) -> Command {
    let chroot = stack
        .qemu
        .virsh_qemu
        .and_then(|w| Path::new(w).parent()?.parent().map(|p| p.join("root")))
        .filter(|r| r.join(emulator.trim_start_matches('/')).is_file());
    match chroot {
        Some(root) => {
            let mut c = Command::new("chroot");
            c.arg(root).arg(emulator);
            c
        }
        None => Command::new(emulator),
    }
}

/// Whether that QEMU accepts `-cpu arg` (`-machine pc -accel tcg -m 64`, paused, then `quit` on
/// its monitor), and its error lines when not. Bounded: 30 s a run.
fn qemu_accepts(stack: Stack, emulator: &str, arg: &str) -> Result<(), String> {
    let mut c = qemu_command(stack, emulator);
    c.args(["-machine", "pc", "-accel", "tcg", "-m", "64", "-nodefaults", "-display", "none", "-S"])
        .args(["-monitor", "stdio", "-cpu", arg])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("starting QEMU: {e}"))?;
    {
        use std::io::Write;
        let _ = child.stdin.take().expect("stdin").write_all(b"quit\n");
    }
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut err = String::new();
            use std::io::Read;
            let _ = child.stderr.take().expect("stderr").read_to_string(&mut err);
            let errors: Vec<&str> = err.lines().filter(|l| !l.contains("warning:")).collect();
            return if status.success() { Ok(()) } else { Err(errors.join(" / ")) };
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("QEMU did not quit within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn export_differential(stack: Stack) {
    let what = format!("export qemu-cpu differential {}", stack.tag());
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance").join(stack.pack());
    if !pack.is_dir() {
        return skip(&what, &format!("{} is missing", pack.display()));
    }
    let map = CpuMap::embedded(stack.version()).expect("embedded map");
    let oracle = match Oracle::new(stack, "export", Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(o) => o,
        Err(why) => return skip(&what, &why),
    };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("export-qemu-{}", stack.id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("tmp dir");
    let hvs = accelerators(&oracle, &root, &what);
    if hvs.is_empty() {
        return skip(&what, "no accelerator gives a host-model CPU");
    }
    let caps = oracle.one(&["capabilities"]);
    assert!(caps.ok, "virsh capabilities: {:?}", caps.errors);
    let caps = write(&root, "capabilities.xml", &caps.stdout).display().to_string();
    let defs = defs(&map, seed());
    assert!(defs.len() >= 200, "{} definitions", defs.len());
    let t0 = Instant::now();
    let (mut virsh_cmds, mut ours) = (Vec::new(), Vec::new());
    for (ai, a) in hvs.iter().enumerate() {
        for (i, d) in defs.iter().enumerate() {
            let file = write(&a.dir, &format!("domain-{i}.xml"), &domain_xml(a.virttype, i, d)).display().to_string();
            virsh_cmds.push(vec!["domxml-to-native".to_string(), "qemu-argv".to_string(), file.clone()]);
            let args: Vec<String> = [
                "export",
                "qemu-cpu",
                "--libvirt",
                stack.version().as_str(),
                "--domcaps",
                &a.domcaps.display().to_string(),
                "--qemu-caps",
                &a.cache.display().to_string(),
                "--caps",
                &caps,
                &file,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            ours.push((ai, args));
        }
    }
    let answers: Vec<VirshOut> = oracle.run(&virsh_cmds, 3);
    let (mut agreed, mut refused_both, mut disagreed) = (0, 0, Vec::new());
    // Distinct (emulator, -cpu) pairs libvirt starts, to run through QEMU.
    let mut strings: BTreeMap<(usize, String), usize> = BTreeMap::new();
    for ((v, (ai, args)), va) in virsh_cmds.iter().zip(&ours).zip(&answers) {
        let o = Command::new(CPUFLEET).args(args).output().expect("run cpufleet");
        let mine = o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim_end().to_string());
        let theirs = if va.ok { cpu_arg(&va.stdout).map(str::to_string) } else { None };
        if mine == theirs {
            match &theirs {
                Some(s) => {
                    agreed += 1;
                    *strings.entry((*ai, s.clone())).or_default() += 1;
                }
                None => refused_both += 1,
            }
        } else {
            disagreed.push(format!(
                "{}\n{}--- virsh: {theirs:?} {:?}\n--- cpufleet: {mine:?}\n{}",
                v.join(" "),
                std::fs::read_to_string(&v[2]).unwrap_or_default(),
                va.errors,
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    // Every string libvirt starts (so also ours, equal above) through that QEMU.
    let (mut accepted, mut qemu_refused) = (0, Vec::new());
    let list: Vec<&(usize, String)> = strings.keys().collect();
    let emulators: Vec<&str> = hvs.iter().map(|a| a.emulator.as_str()).collect();
    let emulators = &emulators;
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let chunks: Vec<_> = list
            .chunks(list.len().div_ceil(4).max(1))
            .map(|chunk| {
                s.spawn(move || {
                    chunk.iter().map(|(ai, arg)| qemu_accepts(stack, emulators[*ai], arg)).collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().expect("QEMU runner")).collect()
    });
    for ((ai, arg), r) in list.iter().zip(results) {
        match r {
            Ok(()) => accepted += 1,
            Err(e) => qemu_refused.push(format!("{} -cpu {arg}: {e}", hvs[*ai].emulator)),
        }
    }
    let accels: Vec<&str> = hvs.iter().map(|a| a.virttype).collect();
    summary::summary(&format!(
        "export qemu-cpu differential {}: {} comparisons, {agreed} equal to libvirt's -cpu, {refused_both} refused by both, {} disagreed; {} distinct strings run through QEMU (-machine pc -accel tcg -m 64): {accepted} accepted, {} refused (seed {}; {} definitions × virttype {}; {:.1} s)\n",
        stack.tag(),
        answers.len(),
        disagreed.len(),
        list.len(),
        qemu_refused.len(),
        seed(),
        defs.len(),
        accels.join(" and "),
        t0.elapsed().as_secs_f64()
    ));
    for d in disagreed.iter().take(5) {
        println!("DISAGREE {d}");
    }
    for r in qemu_refused.iter().take(5) {
        println!("QEMU REFUSED {r}");
    }
    assert!(disagreed.is_empty(), "{}: {} disagreements (first above)", what, disagreed.len());
    assert!(agreed >= 100, "{what}: only {agreed} definitions started: the cases test too little");
    // The exported strings equal libvirt's (asserted above), so QEMU accepts each where it
    // accepts libvirt's own; a string QEMU refuses is libvirt's own too (counted, printed).
    assert!(accepted > 0, "{what}: QEMU accepted none of libvirt's strings: the QEMU runs do not work");
}

/// The differential of one QEMU stack (`$V`'s stack named `$stack`), a `#[test]` of its own:
/// `libvirt_11_3_0::upstream_qemu_7_2::export_qemu_cpu_differential` (`stack_modules!`).
macro_rules! stack_tests {
    ($V:ident, $stack:ident) => {
        mod $stack {
            #[test]
            fn export_qemu_cpu_differential() {
                crate::export_differential(crate::Stack::named(
                    cpufleet_engine::LibvirtVersion::$V,
                    stringify!($stack),
                ));
            }
        }
    };
}

stack_modules!();

/// Every QEMU stack of the oracle table has its test here, and every test names a stack of it.
#[test]
fn every_stack_has_a_test() {
    releases::assert_stamped_stacks("cli/tests/export_qemu.rs", &TESTED_STACKS);
}
