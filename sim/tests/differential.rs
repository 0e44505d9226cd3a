//! Differential test against libvirt itself: random pools of host CPUs go through
//! `virsh -c test:///default cpu-baseline [--features] FILE` (libvirt's real baseline, run in
//! process by virsh's test driver, no daemon) and through `cpufleet baseline` on the same file;
//! stdout must be byte-identical, or both must fail.
//!
//! Three flag sets per pool: plain, `--features` and `--migratable`.
//!
//! **`--migratable` is compared against libvirt-derived output, not a live virsh run**: libvirt
//! 9.0.0's test driver rejects the flag (`virCheckFlags` in `testConnectBaselineCPU` allows only
//! `--features`: "unsupported flags (0x2)"). libvirt's x86 baseline handles the flag only at the
//! very end of `x86Decode`: the model and the feature list are chosen from the full data, then
//! every feature whose map entry is `migratable='no'` is deleted from the list, whatever its
//! policy. So the correct `--migratable` output is virsh's plain output without the `<feature>`
//! lines naming a non-migratable feature (the list comes from the map: `CpuMap::embedded()`'s
//! `non_migratable`), and when the plain run fails the migratable run must fail too.
//! `migratable_oracle_reproduces_libvirt_test_data` checks this oracle against libvirt's own
//! expected files. Should a virsh ever accept the flag, the live run is used instead.
//!
//! Knobs (environment): `CPUFLEET_DIFF_SEED` (decimal or 0x-hex; default [`DEFAULT_SEED`]),
//! `CPUFLEET_DIFF_POOLS` (default 300), `CPUFLEET_DIFF_ONLY` (run just that pool index, to
//! reproduce a failure), `CPUFLEET_DIFF_THREADS`, `CPUFLEET_REQUIRE_VIRSH=1` (fail instead of
//! skipping when virsh is absent). A disagreeing pool is kept under the cargo target tmp dir and
//! the failure message names the file, the seed and the pool index.

#[path = "support/diffgen.rs"]
mod diffgen;

use cpufleet_engine::CpuMap;
use diffgen::{Catalog, Flavor, Layout, Pool};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

const DEFAULT_SEED: u64 = 0x00C0_FFEE_D1FF_0003;
const DEFAULT_POOLS: usize = 300;
const SKIP_MESSAGE: &str =
    "differential: skipped, virsh not found (apt-get install -y --no-install-recommends libvirt-clients)";
const CPUFLEET: &str = env!("CARGO_BIN_EXE_cpufleet");

// ---------------------------------------------------------------------------------------------
// Environment

fn env_flag(name: &str) -> bool {
    std::env::var(name).as_deref() == Ok("1")
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => v.replace('_', "").parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

/// `virsh` on PATH, or None (after printing the skip notice, once) when absent and not required.
fn virsh() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let found = std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("virsh")).find(|p| p.is_file()));
        if found.is_none() && !env_flag("CPUFLEET_REQUIRE_VIRSH") {
            println!("{SKIP_MESSAGE}");
            eprintln!("{SKIP_MESSAGE}");
        }
        found
    });
    if found.is_none() && env_flag("CPUFLEET_REQUIRE_VIRSH") {
        panic!("virsh not found on PATH and CPUFLEET_REQUIRE_VIRSH=1");
    }
    found.clone()
}

/// The public conformance pack (for its CPUID dumps), or None.
fn pack_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("CPUFLEET_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/libvirt-9.0.0"),
    };
    if dir.join("cputestdata").is_dir() {
        return Some(dir);
    }
    if env_flag("CPUFLEET_REQUIRE_CONFORMANCE") {
        panic!("conformance pack not found at {} and CPUFLEET_REQUIRE_CONFORMANCE=1", dir.display());
    }
    None
}

fn map() -> CpuMap {
    CpuMap::embedded().expect("embedded map loads")
}

fn non_migratable_names(map: &CpuMap) -> Vec<String> {
    map.x86.non_migratable.iter().map(|id| map.x86.feature_name(id).to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Running the two tools

/// One process run.
#[derive(Clone, Debug)]
struct Run {
    /// Exit code; None when killed by a signal.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
    /// A Rust panic (101) or a signal: never acceptable from cpufleet, whatever the input.
    fn crashed(&self) -> bool {
        matches!(self.code, None | Some(101))
    }
    fn describe(&self) -> String {
        let code = self.code.map_or("killed by a signal".to_string(), |c| format!("exit {c}"));
        format!("({code})\n--- stdout ---\n{}--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

fn run(program: &Path, args: &[&str], file: &Path) -> Run {
    // A spawn can fail transiently while another cargo build in the same target directory
    // replaces the binary ("text file busy"); that says nothing about cpufleet, so retry.
    let mut attempt = 0;
    let out = loop {
        match Command::new(program).args(args).arg(file).env("LC_ALL", "C").output() {
            Ok(out) => break out,
            Err(e) if attempt < 20 => {
                attempt += 1;
                eprintln!("differential: retrying {} after: {e}", program.display());
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            Err(e) => panic!("cannot run {}: {e}", program.display()),
        }
    };
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const VIRSH_ARGS: [&str; 3] = ["-c", "test:///default", "cpu-baseline"];

fn virsh_baseline(virsh: &Path, flag: Option<&str>, file: &Path) -> Run {
    let mut args = VIRSH_ARGS.to_vec();
    args.extend(flag);
    run(virsh, &args, file)
}

fn cpufleet_baseline(flag: Option<&str>, file: &Path) -> Run {
    let mut args = vec!["baseline"];
    args.extend(flag);
    run(Path::new(CPUFLEET), &args, file)
}

/// The name of a `<feature … name='X'/>` line of a formatted CPU.
fn feature_line_name(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if !t.starts_with("<feature ") {
        return None;
    }
    let rest = &t[t.find("name='")? + 6..];
    Some(&rest[..rest.find('\'')?])
}

/// libvirt's `--migratable` baseline from its plain baseline output (see the module comment):
/// the same text without the feature lines that name a non-migratable feature.
fn drop_non_migratable(plain: &str, non_migratable: &[String]) -> String {
    plain
        .split_inclusive('\n')
        .filter(|line| !feature_line_name(line).is_some_and(|n| non_migratable.iter().any(|m| m == n)))
        .collect()
}

/// What libvirt answers for `--migratable`, derived from its plain run.
fn derived_migratable(plain: &Run, non_migratable: &[String]) -> Run {
    Run {
        code: plain.code,
        stdout: if plain.ok() { drop_non_migratable(&plain.stdout, non_migratable) } else { plain.stdout.clone() },
        stderr: format!("(derived from the plain virsh run)\n{}", plain.stderr),
    }
}

/// Agreement rule: identical stdout and both succeeded, or both failed (virsh prints nothing
/// on stdout then; cpufleet must print nothing there either, must say why on stderr, and must
/// not crash). Returns whether both succeeded.
fn agree(libvirt: &Run, ours: &Run) -> Result<bool, String> {
    if ours.crashed() {
        return Err("cpufleet crashed".into());
    }
    match (libvirt.ok(), ours.ok()) {
        (true, true) if libvirt.stdout == ours.stdout => Ok(true),
        (true, true) => Err(format!("outputs differ: {}", first_difference(&libvirt.stdout, &ours.stdout))),
        (false, false) if !ours.stdout.is_empty() => Err("both failed, but cpufleet printed on stdout".into()),
        (false, false) if !ours.stderr.starts_with("cpufleet: ") => {
            Err("both failed, but cpufleet gave no 'cpufleet: …' error line".into())
        }
        (false, false) => Ok(false),
        (true, false) => Err("libvirt succeeded, cpufleet failed".into()),
        (false, true) => Err("libvirt failed, cpufleet succeeded".into()),
    }
}

fn first_difference(a: &str, b: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let i = la.iter().zip(&lb).position(|(x, y)| x != y).unwrap_or(la.len().min(lb.len()));
    format!(
        "first at line {}: libvirt {:?}, cpufleet {:?} ({} vs {} lines)",
        i + 1,
        la.get(i).copied().unwrap_or("<eof>"),
        lb.get(i).copied().unwrap_or("<eof>"),
        la.len(),
        lb.len()
    )
}

// ---------------------------------------------------------------------------------------------
// The random pools

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FlagSet {
    Plain,
    Features,
    Migratable,
}

const FLAG_SETS: [FlagSet; 3] = [FlagSet::Plain, FlagSet::Features, FlagSet::Migratable];

impl FlagSet {
    fn flag(self) -> Option<&'static str> {
        match self {
            FlagSet::Plain => None,
            FlagSet::Features => Some("--features"),
            FlagSet::Migratable => Some("--migratable"),
        }
    }
    fn name(self) -> &'static str {
        match self {
            FlagSet::Plain => "plain",
            FlagSet::Features => "--features",
            FlagSet::Migratable => "--migratable",
        }
    }
}

struct Settings {
    virsh: PathBuf,
    seed: u64,
    non_migratable: Vec<String>,
    /// Whether this virsh accepts `--migratable` (9.0.0's test driver does not).
    live_migratable: bool,
    work: PathBuf,
    keep: PathBuf,
}

/// The outcome of one pool under one flag set.
struct Outcome {
    flags: FlagSet,
    /// Ok(both succeeded) or Err(what differs).
    verdict: Result<bool, String>,
    libvirt: Run,
    ours: Run,
    /// The chosen model on success (statistics).
    model: Option<String>,
}

struct PoolReport {
    index: usize,
    flavor: Flavor,
    layout: Layout,
    n_cpus: usize,
    outcomes: Vec<Outcome>,
    /// Where a disagreeing pool was kept.
    kept: Option<PathBuf>,
    /// Whether libvirt's `--migratable` answer differs from its plain one (a non-migratable
    /// feature was in the plain result), i.e. the migratable comparison tested something.
    migratable_drops: bool,
}

fn model_of(xml: &str) -> Option<String> {
    let start = xml.find("<model")?;
    let rest = &xml[start..];
    let open = rest.find('>')? + 1;
    let close = rest.find("</model>")?;
    Some(rest[open..close].to_string())
}

fn check_pool(s: &Settings, cat: &Catalog, index: usize) -> PoolReport {
    let pool: Pool = diffgen::pool(cat, s.seed, index);
    let file = s.work.join(format!("pool-{index}.xml"));
    std::fs::write(&file, &pool.text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let plain = virsh_baseline(&s.virsh, None, &file);
    let mut outcomes = Vec::with_capacity(3);
    for flags in FLAG_SETS {
        let libvirt = match flags {
            FlagSet::Plain => plain.clone(),
            FlagSet::Migratable if !s.live_migratable => derived_migratable(&plain, &s.non_migratable),
            _ => virsh_baseline(&s.virsh, flags.flag(), &file),
        };
        let ours = cpufleet_baseline(flags.flag(), &file);
        let verdict = agree(&libvirt, &ours);
        let model = if ours.ok() { model_of(&ours.stdout) } else { None };
        outcomes.push(Outcome { flags, verdict, libvirt, ours, model });
    }
    let migratable_drops = plain.ok() && outcomes[2].libvirt.stdout != plain.stdout;
    let kept = if outcomes.iter().any(|o| o.verdict.is_err()) {
        let keep = s.keep.join(format!("differential-seed{:#x}-pool{index}.xml", s.seed));
        std::fs::write(&keep, &pool.text).unwrap_or_else(|e| panic!("{}: {e}", keep.display()));
        Some(keep)
    } else {
        None
    };
    let _ = std::fs::remove_file(&file);
    PoolReport {
        index,
        flavor: pool.flavor,
        layout: pool.layout,
        n_cpus: pool.cpus.len(),
        outcomes,
        kept,
        migratable_drops,
    }
}

fn failure_text(s: &Settings, r: &PoolReport, o: &Outcome) -> String {
    let path = r.kept.as_deref().unwrap_or(Path::new("?"));
    let libvirt_label = if o.flags == FlagSet::Migratable && !s.live_migratable {
        "libvirt (virsh plain output minus non-migratable features)"
    } else {
        "virsh"
    };
    let virsh_cmd = match o.flags.flag() {
        Some(f) => format!("virsh -c test:///default cpu-baseline {f} {}", path.display()),
        None => format!("virsh -c test:///default cpu-baseline {}", path.display()),
    };
    format!(
        "pool {} ({} CPUs, {:?}, {:?} layout), flag set {}: {}\n  pool file: {}\n  seed {:#x}, pool index {}: \
         CPUFLEET_DIFF_SEED={:#x} CPUFLEET_DIFF_ONLY={} cargo test -p cpufleet-sim --test differential\n  \
         {virsh_cmd}\n{libvirt_label} {}\ncpufleet {}",
        r.index,
        r.n_cpus,
        r.flavor,
        r.layout,
        o.flags.name(),
        o.verdict.as_ref().err().map_or("", String::as_str),
        path.display(),
        s.seed,
        r.index,
        s.seed,
        r.index,
        o.libvirt.describe(),
        o.ours.describe()
    )
}

#[test]
fn baseline_matches_virsh_on_random_pools() {
    let Some(virsh) = virsh() else { return };
    let map = map();
    let pack = pack_dir();
    let cat = Catalog::new(&map, pack.as_deref());
    let seed = env_number("CPUFLEET_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let n_pools = env_number("CPUFLEET_DIFF_POOLS").map_or(DEFAULT_POOLS, |n| n as usize);
    let indices: Vec<usize> = match env_number("CPUFLEET_DIFF_ONLY") {
        Some(i) => vec![i as usize],
        None => (0..n_pools).collect(),
    };
    let version = Command::new(&virsh)
        .arg("--version")
        .output()
        .map_or_else(|e| format!("? ({e})"), |o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("differential-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{}: {e}", work.display()));
    let live_migratable = probe_live_migratable(&virsh, &work);
    let settings = Settings {
        virsh,
        seed,
        non_migratable: non_migratable_names(&map),
        live_migratable,
        work: work.clone(),
        keep: PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    };
    let threads = env_number("CPUFLEET_DIFF_THREADS")
        .map(|n| n as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 16);

    let started = std::time::Instant::now();
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<PoolReport>> = Mutex::new(Vec::with_capacity(indices.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&index) = indices.get(k) else { break };
                let report = check_pool(&settings, &cat, index);
                reports.lock().unwrap().push(report);
            });
        }
    });
    let _ = std::fs::remove_dir_all(&work);
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by_key(|r| r.index);

    // Statistics.
    let mut per_flags: BTreeMap<FlagSet, (usize, usize, usize)> = BTreeMap::new();
    let mut flavors: BTreeMap<String, usize> = BTreeMap::new();
    let mut models: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut total_cpus = 0;
    for r in &reports {
        *flavors.entry(format!("{:?}", r.flavor)).or_default() += 1;
        total_cpus += r.n_cpus;
        for o in &r.outcomes {
            let e = per_flags.entry(o.flags).or_default();
            match &o.verdict {
                Ok(true) => e.0 += 1,
                Ok(false) => e.1 += 1,
                Err(_) => {
                    e.2 += 1;
                    failures.push(failure_text(&settings, r, o));
                }
            }
            if o.flags == FlagSet::Plain {
                if let Some(m) = &o.model {
                    *models.entry(m.clone()).or_default() += 1;
                }
            }
        }
    }
    let comparisons = reports.len() * FLAG_SETS.len();
    let disagreed = failures.len();
    println!(
        "differential: virsh {version}, seed {seed:#x}, {threads} threads, {:.1} s; {} host CPUs decoded from the \
         pack's CPUID dumps ({} undecodable){}",
        started.elapsed().as_secs_f64(),
        cat.dumps.len(),
        cat.undecodable.len(),
        if pack.is_none() { " [conformance pack absent: map models only]" } else { "" }
    );
    println!("differential: {total_cpus} CPUs in {} pools; flavors {flavors:?}", reports.len());
    for (f, (ok, fail, bad)) in &per_flags {
        println!("differential: {:>12}: {ok} both succeeded, {fail} both failed, {bad} disagreed", f.name());
    }
    println!(
        "differential: --migratable compared against {}",
        if live_migratable {
            "live virsh runs".to_string()
        } else {
            format!(
                "virsh's plain output minus the non-migratable features {:?} (the test driver rejects the flag)",
                settings.non_migratable
            )
        }
    );
    let drops = reports.iter().filter(|r| r.migratable_drops).count();
    println!("differential: {drops} pools where --migratable drops a feature from the plain result");
    println!("differential: {} distinct models chosen by plain baselines: {models:?}", models.len());
    println!(
        "differential: {} pools x {} flag sets = {comparisons} comparisons, {} agreed, {disagreed} disagreed",
        reports.len(),
        FLAG_SETS.len(),
        comparisons - disagreed
    );
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(8).collect();
        panic!(
            "{disagreed} disagreement(s) with libvirt (showing {}):\n\n{}",
            shown.len(),
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n")
        );
    }
    // The generator must exercise both the success and the error paths, and many models, or
    // the agreement above says little.
    if reports.len() >= 100 {
        let (ok, fail, _) = per_flags[&FlagSet::Plain];
        assert!(ok * 100 >= reports.len() * 30, "only {ok} of {} plain baselines succeeded", reports.len());
        assert!(fail * 100 >= reports.len() * 5, "only {fail} of {} plain baselines failed", reports.len());
        assert!(models.len() >= 15, "plain baselines chose only {} distinct models", models.len());
        assert!(drops * 100 >= reports.len() * 20, "--migratable dropped a feature in only {drops} pools");
    }
    if pack.is_some() {
        // Every full dump decodes; only the `-disabled` ones (the features QEMU failed to
        // enable, not a CPU) may have no model.
        let bad: Vec<&(String, String)> =
            cat.undecodable.iter().filter(|(name, _)| !name.ends_with("-disabled.xml")).collect();
        assert!(bad.is_empty(), "CPUID dumps that do not decode: {bad:?}");
        assert!(cat.dumps.len() >= 80, "only {} CPUID dumps decoded", cat.dumps.len());
    }
}

/// Whether this virsh's test driver accepts `--migratable` (libvirt 9.0.0's does not).
fn probe_live_migratable(virsh: &Path, work: &Path) -> bool {
    let file = work.join("probe.xml");
    std::fs::write(&file, "<cpu>\n  <arch>x86_64</arch>\n  <model>qemu64</model>\n</cpu>\n").unwrap();
    let r = virsh_baseline(virsh, Some("--migratable"), &file);
    if !r.ok() && !r.stderr.contains("unsupported flags") {
        panic!("virsh --migratable probe failed unexpectedly: {}", r.describe());
    }
    r.ok()
}

// ---------------------------------------------------------------------------------------------
// The oracle and the generator themselves

/// The `--migratable` oracle reproduces libvirt's own expected files: its plain baseline of
/// Westmere+Nehalem minus the non-migratable feature lines is exactly its migratable baseline.
/// With virsh present, virsh's plain output is libvirt's expected plain result too, and
/// `cpufleet baseline --migratable` gives the derived text.
#[test]
fn migratable_oracle_reproduces_libvirt_test_data() {
    let Some(pack) = pack_dir() else {
        println!("differential oracle: skipped, conformance pack absent");
        return;
    };
    let data = pack.join("cputestdata");
    let read = |n: &str| std::fs::read_to_string(data.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    let plain = read("x86_64-baseline-Westmere+Nehalem-result.xml");
    let migratable = read("x86_64-baseline-Westmere+Nehalem-migratable.xml");
    let non_migratable = non_migratable_names(&map());
    assert_eq!(non_migratable.len(), 2, "libvirt 9.0.0's map marks invtsc and xsaves: {non_migratable:?}");
    assert_ne!(plain, migratable, "the case must contain a non-migratable feature");
    assert_eq!(drop_non_migratable(&plain, &non_migratable), migratable);

    let Some(virsh) = virsh() else { return };
    // virsh wants the CPUs without libvirt's <cpuTest> test wrapper.
    let input = read("x86_64-baseline-Westmere+Nehalem.xml").replace("<cpuTest>", "").replace("</cpuTest>", "");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("differential-oracle-{}.xml", std::process::id()));
    std::fs::write(&file, input).unwrap();
    let live = virsh_baseline(&virsh, None, &file);
    let ours = cpufleet_baseline(Some("--migratable"), &file);
    let _ = std::fs::remove_file(&file);
    assert!(live.ok(), "virsh failed: {}", live.describe());
    // virsh prints one more newline after the CPU.
    assert_eq!(live.stdout, format!("{plain}\n"));
    let derived = derived_migratable(&live, &non_migratable);
    assert_eq!(derived.stdout, format!("{migratable}\n"));
    assert_eq!(agree(&derived, &ours), Ok(true), "cpufleet --migratable: {}", ours.describe());
}

#[test]
fn oracle_drops_only_non_migratable_feature_lines() {
    let nm = vec!["invtsc".to_string(), "xsaves".to_string()];
    let text = "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>EPYC</model>\n  <vendor>AMD</vendor>\n  \
                <feature policy='require' name='invtsc'/>\n  <feature policy='disable' name='xsaves'/>\n  \
                <feature policy='require' name='xsavec'/>\n  <feature policy='require' name='invtsc-x'/>\n</cpu>\n\n";
    assert_eq!(
        drop_non_migratable(text, &nm),
        "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>EPYC</model>\n  <vendor>AMD</vendor>\n  \
         <feature policy='require' name='xsavec'/>\n  <feature policy='require' name='invtsc-x'/>\n</cpu>\n\n"
    );
}

#[test]
fn pools_are_reproducible_and_varied() {
    let map = map();
    let cat = Catalog::new(&map, pack_dir().as_deref());
    for i in [0, 7, 123] {
        assert_eq!(diffgen::pool(&cat, 42, i).text, diffgen::pool(&cat, 42, i).text, "pool {i} is not deterministic");
    }
    assert_ne!(diffgen::pool(&cat, 42, 0).text, diffgen::pool(&cat, 43, 0).text);
    let pools: Vec<Pool> = (0..300).map(|i| diffgen::pool(&cat, DEFAULT_SEED, i)).collect();
    let sizes: Vec<usize> = pools.iter().map(|p| p.cpus.len()).collect();
    assert_eq!(sizes.iter().min(), Some(&1));
    assert_eq!(sizes.iter().max(), Some(&60));
    let vendorless = pools.iter().flat_map(|p| &p.cpus).filter(|c| c.vendor.is_none()).count();
    let mixed = pools
        .iter()
        .filter(|p| {
            let mut v: Vec<&str> = p.cpus.iter().filter_map(|c| c.vendor.as_deref()).collect();
            v.sort();
            v.dedup();
            v.len() > 1
        })
        .count();
    let caps = pools.iter().filter(|p| p.text.contains("<capabilities>")).count();
    assert!(vendorless > 100, "{vendorless} vendor-less CPUs");
    assert!(mixed > 10, "{mixed} pools with mixed vendors");
    assert!(caps > 50, "{caps} pools with capabilities documents");
    for m in ["qemu64", "kvm64", "486"] {
        assert!(pools.iter().flat_map(|p| &p.cpus).any(|c| c.model == m), "no {m} CPU generated");
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: minimal pools on which cpufleet and libvirt once disagreed.

/// Runs `cpufleet baseline` on `pool` and, when virsh is installed, checks that libvirt agrees
/// (same rule as the random pools); returns cpufleet's run.
fn regression(name: &str, pool: &str) -> Run {
    let file =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("differential-{name}-{}.xml", std::process::id()));
    std::fs::write(&file, pool).unwrap();
    let ours = cpufleet_baseline(None, &file);
    if let Some(virsh) = virsh() {
        let live = virsh_baseline(&virsh, None, &file);
        if let Err(e) = agree(&live, &ours) {
            panic!("{name}: {e}\nvirsh {}\ncpufleet {}", live.describe(), ours.describe());
        }
    }
    let _ = std::fs::remove_file(&file);
    ours
}

/// libvirt 9.0.0 reads `<topology>` with `VIR_XML_PROP_NONZERO` ("Zero is not permitted");
/// cpufleet used to accept zeros and print a baseline where virsh fails.
#[test]
fn regression_zero_in_topology_is_an_error() {
    for attr in ["sockets", "dies", "cores", "threads"] {
        let values: Vec<String> = ["sockets", "dies", "cores", "threads"]
            .iter()
            .map(|a| format!("{a}='{}'", if *a == attr { 0 } else { 2 }))
            .collect();
        let pool = format!(
            "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n  <vendor>Intel</vendor>\n  \
             <topology {}/>\n</cpu>\n",
            values.join(" ")
        );
        let ours = regression(&format!("topology-{attr}"), &pool);
        assert_eq!(ours.code, Some(2), "topology {attr}='0': {}", ours.describe());
        assert!(ours.stderr.contains(&format!("'{attr}'")), "error names the attribute: {}", ours.stderr);
    }
    // Non-zero values (and an absent dies) stay accepted.
    let ours = regression(
        "topology-ok",
        "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n  <topology sockets='1' cores='4' threads='2'/>\n</cpu>\n",
    );
    assert!(ours.ok(), "{}", ours.describe());
}
