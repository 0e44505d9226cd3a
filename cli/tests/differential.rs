//! Differential test against libvirt itself, once per supported libvirt version (9.0.0, 11.3.0
//! and 12.9.0): random pools of host CPUs go through that version's real
//! `virsh -c test:///default cpu-baseline [--features] FILE` (libvirt's baseline, run in process
//! by virsh's test driver, no daemon) and through `cpufleet baseline --libvirt VERSION` on the
//! same file; stdout must be byte-identical, or both must fail. Each version's test prints
//! `differential libvirt-VERSION: P pools x 3 flag sets = N comparisons, A agreed, D disagreed`.
//!
//! **The virsh binaries** are the release table's (`engine/tests/common/releases.rs`): libvirt
//! 9.0.0's is `virsh` on PATH (Debian 12's `libvirt-clients`); 11.3.0's is
//! `/opt/libvirt-11.3.0/bin/virsh`, a wrapper installed by `../shared/oracles/libvirt-11.3.0.sh`
//! that runs 11.3.0's virsh with 11.3.0's own CPU map; 12.9.0's is Debian 13 backports' virsh in
//! the chroot of `../shared/oracles/debian-release.sh trixie-backports`. Each binary's
//! `--version` must name its version. 12.9.0 has no conformance pack (its sources are not in the
//! package archive): its pools mix the older packs' decodes with its own decodes of the 11.3.0
//! pack's CPUID dumps.
//!
//! **The pools** (`support/diffgen.rs`) are built for the version under test: its map's models
//! with random extra features, plus host CPUs decoded from the CPUID dumps of the conformance
//! packs of that version and of every older one, each under its own pack's version. So 11.3.0's
//! pools mix 9.0.0 decodes (unversioned names, which 11.3.0's map still has) with 11.3.0 decodes
//! (`-vN` names), like a fleet halfway through an upgrade, and their documents use the
//! attributes only 11.3.0 reads (`<topology clusters>`, `<maxphysaddr limit>`). 9.0.0's pools
//! hold 9.0.0 decodes only: 9.0.0 knows no `-vN` model, so 11.3.0 decodes would only make pools
//! that both tools reject.
//!
//! Three flag sets per pool: plain, `--features` and `--migratable`.
//!
//! **`--migratable` is compared against libvirt-derived output, not a live virsh run**: the test
//! drivers of libvirt 9.0.0 and 11.3.0 reject the flag (`virCheckFlags` in
//! `testConnectBaselineCPU` allows only `--features`: "unsupported flags (0x2)"). libvirt's x86
//! baseline handles the flag only at the very end of `x86Decode`: the model and the feature list
//! are chosen from the full data, then every feature whose map entry is `migratable='no'` is
//! deleted from the list, whatever its policy. So the correct `--migratable` output is virsh's
//! plain output without the `<feature>` lines naming a non-migratable feature (the list comes
//! from that version's map: `CpuMap::embedded(version)`'s `non_migratable`), and when the plain
//! run fails the migratable run must fail too. `migratable_oracle_reproduces_libvirt_test_data`
//! checks this oracle against each pack's expected files. Should a virsh ever accept the flag,
//! the live run is used instead.
//!
//! Knobs (environment): `CPUFLEET_DIFF_SEED` (decimal or 0x-hex; default: today's, from the UTC
//! date, so every day's run draws fresh pools; the summary prints it),
//! `CPUFLEET_DIFF_POOLS` (default 300, per version), `CPUFLEET_DIFF_ONLY` (run just that pool
//! index, to reproduce a failure; pick the version with the test name filter
//! `baseline_matches_virsh::libvirt_9_0_0` or `baseline_matches_virsh::libvirt_11_3_0`), `CPUFLEET_DIFF_THREADS`,
//! `CPUFLEET_VIRSH_9_0` and `CPUFLEET_VIRSH_11_3` (the virsh binaries), `CPUFLEET_REQUIRE_VIRSH=1`
//! (fail instead of skipping when a virsh is absent). A disagreeing pool is kept under the cargo
//! target tmp dir and the failure message names the file, the version, the seed and the pool
//! index.

#[path = "support/diffgen.rs"]
mod diffgen;
#[path = "../../engine/tests/common/releases.rs"]
mod releases;
#[path = "../../engine/tests/common/summary.rs"]
mod summary;

use cpufleet_engine::{CpuMap, LibvirtVersion};
use diffgen::{Catalog, Flavor, Layout, Pool};
use releases::ReleaseOracles;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

const DEFAULT_SEED: u64 = 0x00C0_FFEE_D1FF_0003;
const DEFAULT_POOLS: usize = 300;
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

/// Finds `spec`'s virsh and checks that `virsh --version` names its version.
fn locate_virsh(spec: &ReleaseOracles) -> Result<PathBuf, String> {
    let path = match (std::env::var_os(spec.virsh_env()), spec.virsh_default) {
        (Some(p), _) => PathBuf::from(p),
        (None, Some(p)) => PathBuf::from(p),
        (None, None) => std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("virsh")).find(|p| p.is_file()))
            .ok_or_else(|| "virsh not found on PATH".to_string())?,
    };
    if !path.is_file() {
        return Err(format!("{} not found", path.display()));
    }
    let out = Command::new(&path).arg("--version").output().map_err(|e| format!("{}: {e}", path.display()))?;
    let reported = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if reported != spec.version.as_str() {
        return Err(format!("{} reports version {reported:?}", path.display()));
    }
    Ok(path)
}

/// `version`'s virsh, or None (after printing a `SKIPPED` notice, once per version) when it is
/// absent and `CPUFLEET_REQUIRE_VIRSH` is not 1. Panics when it is absent and required.
fn virsh(version: LibvirtVersion) -> Option<PathBuf> {
    static FOUND: [OnceLock<Result<PathBuf, String>>; LibvirtVersion::ALL.len()] =
        [const { OnceLock::new() }; LibvirtVersion::ALL.len()];
    let spec = releases::oracles(version);
    let required = env_flag("CPUFLEET_REQUIRE_VIRSH");
    let found = FOUND[version as usize].get_or_init(|| {
        let found = locate_virsh(spec);
        if let (Err(why), false) = (&found, required) {
            let notice = format!(
                "SKIPPED differential libvirt-{version}: no libvirt {version} virsh ({why}); install it with `{}` \
                 or name it in {} (CPUFLEET_REQUIRE_VIRSH=1 makes this an error)",
                spec.virsh_install,
                spec.virsh_env()
            );
            summary::summary(&format!("{notice}\n"));
            eprintln!("{notice}");
        }
        found
    });
    match found {
        Ok(path) => Some(path.clone()),
        Err(why) if required => panic!("no libvirt {version} virsh ({why}) and CPUFLEET_REQUIRE_VIRSH=1"),
        Err(_) => None,
    }
}

/// `version`'s public conformance pack (for its CPUID dumps and expected files), or None (a
/// release without a pack, see `releases.rs`): `../shared/conformance/libvirt-VERSION`; for
/// 9.0.0, `CPUFLEET_CONFORMANCE_DIR` overrides it.
fn pack_dir(version: LibvirtVersion) -> Option<PathBuf> {
    let name = releases::oracles(version).pack()?;
    let dir = match std::env::var_os("CPUFLEET_CONFORMANCE_DIR") {
        Some(d) if version == LibvirtVersion::V9_0_0 => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance").join(name),
    };
    if dir.join("cputestdata").is_dir() {
        return Some(dir);
    }
    if env_flag("CPUFLEET_REQUIRE_CONFORMANCE") {
        panic!("conformance pack not found at {} and CPUFLEET_REQUIRE_CONFORMANCE=1", dir.display());
    }
    None
}

/// The newest pack of a release no newer than `version`: `version`'s own, or for a release
/// without one (12.9.0) the newest older release's, whose CPUID dumps it decodes itself.
fn newest_pack_upto(version: LibvirtVersion) -> Option<PathBuf> {
    LibvirtVersion::ALL.into_iter().rev().filter(|&v| v <= version).find_map(pack_dir)
}

fn map(version: LibvirtVersion) -> CpuMap {
    CpuMap::embedded(version).unwrap_or_else(|e| panic!("libvirt {version}'s embedded map: {e}"))
}

/// The packs whose decodes `version`'s pools use: its own and every older version's (see the
/// module comment), those present, each decoded under its own version; a release without a pack
/// adds the newest older pack's dumps decoded under its own map (what its hosts report).
fn source_packs(version: LibvirtVersion) -> Vec<(LibvirtVersion, PathBuf)> {
    let mut packs: Vec<(LibvirtVersion, PathBuf)> =
        LibvirtVersion::ALL.into_iter().filter(|&v| v <= version).filter_map(|v| pack_dir(v).map(|d| (v, d))).collect();
    if pack_dir(version).is_none() {
        if let Some(d) = newest_pack_upto(version) {
            packs.push((version, d));
        }
    }
    packs
}

/// The catalog of the pools for `map`'s version, and the packs it was built from.
fn catalog(map: &CpuMap) -> (Catalog, Vec<(LibvirtVersion, PathBuf)>) {
    let packs = source_packs(map.version());
    let refs: Vec<(LibvirtVersion, &Path)> = packs.iter().map(|(v, d)| (*v, d.as_path())).collect();
    (Catalog::new(map, &refs), packs)
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

/// The arguments of `virsh … cpu-baseline [FLAG]` (the file follows).
fn virsh_args(flag: Option<&str>) -> Vec<&str> {
    let mut args = vec!["-c", "test:///default", "cpu-baseline"];
    args.extend(flag);
    args
}

/// The arguments of `cpufleet baseline --libvirt VERSION [FLAG]` (the file follows).
fn cpufleet_args(version: LibvirtVersion, flag: Option<&str>) -> Vec<&str> {
    let mut args = vec!["baseline", "--libvirt", version.as_str()];
    args.extend(flag);
    args
}

fn virsh_baseline(virsh: &Path, flag: Option<&str>, file: &Path) -> Run {
    run(virsh, &virsh_args(flag), file)
}

fn cpufleet_baseline(version: LibvirtVersion, flag: Option<&str>, file: &Path) -> Run {
    run(Path::new(CPUFLEET), &cpufleet_args(version, flag), file)
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

/// One version's differential run.
struct Settings {
    version: LibvirtVersion,
    virsh: PathBuf,
    seed: u64,
    non_migratable: Vec<String>,
    /// Whether this virsh accepts `--migratable` (the test drivers of 9.0.0 and 11.3.0 do not).
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
    /// Whether the pool holds decodes of more than one pack.
    mixes_packs: bool,
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

/// Whether `pool` holds decodes of more than one pack.
fn mixes_packs(pool: &Pool) -> bool {
    let mut origins: Vec<LibvirtVersion> = pool.cpus.iter().filter_map(|c| c.origin).collect();
    origins.sort();
    origins.dedup();
    origins.len() > 1
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
        let ours = cpufleet_baseline(s.version, flags.flag(), &file);
        let verdict = agree(&libvirt, &ours);
        let model = if ours.ok() { model_of(&ours.stdout) } else { None };
        outcomes.push(Outcome { flags, verdict, libvirt, ours, model });
    }
    let migratable_drops = plain.ok() && outcomes[2].libvirt.stdout != plain.stdout;
    let kept = if outcomes.iter().any(|o| o.verdict.is_err()) {
        let keep = s.keep.join(format!("differential-libvirt-{}-seed{:#x}-pool{index}.xml", s.version, s.seed));
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
        mixes_packs: mixes_packs(&pool),
        outcomes,
        kept,
        migratable_drops,
    }
}

/// The name of `version`'s differential test, a filter that selects it alone.
fn test_name(version: LibvirtVersion) -> String {
    format!("baseline_matches_virsh::libvirt_{}", version.as_str().replace('.', "_"))
}

fn failure_text(s: &Settings, r: &PoolReport, o: &Outcome) -> String {
    let path = r.kept.as_deref().unwrap_or(Path::new("?"));
    let libvirt_label = if o.flags == FlagSet::Migratable && !s.live_migratable {
        "libvirt (virsh plain output minus non-migratable features)"
    } else {
        "virsh"
    };
    let virsh_flag = if o.flags == FlagSet::Migratable && !s.live_migratable { None } else { o.flags.flag() };
    let command =
        |program: &Path, args: Vec<&str>| format!("{} {} {}", program.display(), args.join(" "), path.display());
    format!(
        "libvirt {}: pool {} ({} CPUs, {:?}, {:?} layout), flag set {}: {}\n  pool file: {}\n  seed {:#x}, pool \
         index {}: CPUFLEET_DIFF_SEED={:#x} CPUFLEET_DIFF_ONLY={} cargo test --release -p cpufleet --test \
         differential {} -- --nocapture\n  {}\n  {}\n{libvirt_label} {}\ncpufleet {}",
        s.version,
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
        test_name(s.version),
        command(&s.virsh, virsh_args(virsh_flag)),
        command(Path::new(CPUFLEET), cpufleet_args(s.version, o.flags.flag())),
        o.libvirt.describe(),
        o.ours.describe()
    )
}

/// Per flag set: (both succeeded, both failed, disagreed).
type Tally = (usize, usize, usize);

/// The differential run against `version`'s virsh (see the module comment); prints its summary
/// as one block and fails on any disagreement.
fn differential(version: LibvirtVersion) {
    let Some(virsh) = virsh(version) else { return };
    let map = map(version);
    let (cat, packs) = catalog(&map);
    let seed = releases::date_seed("CPUFLEET_DIFF_SEED", DEFAULT_SEED);
    let n_pools = env_number("CPUFLEET_DIFF_POOLS").map_or(DEFAULT_POOLS, |n| n as usize);
    let indices: Vec<usize> = match env_number("CPUFLEET_DIFF_ONLY") {
        Some(i) => vec![i as usize],
        None => (0..n_pools).collect(),
    };
    let work =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("differential-{version}-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{}: {e}", work.display()));
    let live_migratable = probe_live_migratable(&virsh, &work);
    let settings = Settings {
        version,
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
    let elapsed = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&work);
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by_key(|r| r.index);

    // Statistics.
    let mut per_flags: BTreeMap<FlagSet, Tally> = BTreeMap::new();
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
    let drops = reports.iter().filter(|r| r.migratable_drops).count();
    let mixing = reports.iter().filter(|r| r.mixes_packs).count();
    let sources: Vec<String> = packs
        .iter()
        .map(|(v, d)| {
            let decoded = cat.dumps.iter().filter(|(_, c)| c.origin == Some(*v)).count();
            let undecodable = cat.undecodable.iter().filter(|(u, _, _)| u == v).count();
            let pack = d.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            format!("{decoded} of the {pack} pack decoded by libvirt {v} ({undecodable} undecodable)")
        })
        .collect();

    // The summary, printed as one block (the two versions' tests run in parallel).
    let tag = format!("differential libvirt-{version}");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{tag}: {} (virsh {}), seed {seed:#x}, {threads} threads, {elapsed:.1} s",
        settings.virsh.display(),
        version
    );
    let _ = writeln!(
        out,
        "{tag}: host CPUs decoded from CPUID dumps: {}",
        if sources.is_empty() { "none [conformance packs absent: map models only]".into() } else { sources.join(", ") }
    );
    let _ = writeln!(
        out,
        "{tag}: {total_cpus} CPUs in {} pools ({mixing} mixing packs); flavors {flavors:?}",
        reports.len()
    );
    for (f, (ok, fail, bad)) in &per_flags {
        let _ = writeln!(out, "{tag}: {:>12}: {ok} both succeeded, {fail} both failed, {bad} disagreed", f.name());
    }
    let _ = writeln!(
        out,
        "{tag}: --migratable compared against {}",
        if live_migratable {
            "live virsh runs".to_string()
        } else {
            format!(
                "virsh's plain output minus the non-migratable features {:?} (the test driver rejects the flag)",
                settings.non_migratable
            )
        }
    );
    let _ = writeln!(out, "{tag}: {drops} pools where --migratable drops a feature from the plain result");
    let _ = writeln!(out, "{tag}: {} distinct models chosen by plain baselines: {models:?}", models.len());
    let _ = writeln!(
        out,
        "{tag}: {} pools x {} flag sets = {comparisons} comparisons, {} agreed, {disagreed} disagreed",
        reports.len(),
        FLAG_SETS.len(),
        comparisons - disagreed
    );
    summary::summary(&out);

    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(8).collect();
        panic!(
            "libvirt {version}: {disagreed} disagreement(s) with libvirt (showing {}):\n\n{}",
            shown.len(),
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n")
        );
    }
    // The generator must exercise both the success and the error paths, and many models, or
    // the agreement above says little.
    if reports.len() >= 100 {
        let n = reports.len();
        let (ok, fail, _) = per_flags[&FlagSet::Plain];
        assert!(ok * 100 >= n * 30, "libvirt {version}: only {ok} of {n} plain baselines succeeded");
        assert!(fail * 100 >= n * 5, "libvirt {version}: only {fail} of {n} plain baselines failed");
        assert!(models.len() >= 15, "libvirt {version}: plain baselines chose only {} distinct models", models.len());
        assert!(drops * 100 >= n * 20, "libvirt {version}: --migratable dropped a feature in only {drops} pools");
        if packs.len() > 1 {
            assert!(mixing * 100 >= n * 10, "libvirt {version}: only {mixing} of {n} pools mix the packs' decodes");
        }
    }
    for (v, _) in &packs {
        // Every full dump decodes; only the `-disabled` ones (the features QEMU failed to
        // enable, not a CPU) may have no model.
        let bad: Vec<&(LibvirtVersion, String, String)> =
            cat.undecodable.iter().filter(|(u, name, _)| u == v && !name.ends_with("-disabled.xml")).collect();
        assert!(bad.is_empty(), "libvirt {v}: CPUID dumps that do not decode: {bad:?}");
        let decoded = cat.dumps.iter().filter(|(_, c)| c.origin == Some(*v)).count();
        assert!(decoded >= 80, "libvirt {v}: only {decoded} CPUID dumps decoded");
    }
}

/// One `#[test]` per release of the engine's release table, named `baseline_matches_virsh::libvirt_NAME`
/// (NAME with `_` for `.`; macro_rules cannot join idents, so the release is a module item).
macro_rules! release_tests {
    ($( ($V:ident, $tag:ident, $name:literal, $suite:literal, $qmaj:literal, $qmin:literal) ),+) => {
        /// The test functions, in release order (`test_names_select_their_version` checks them).
        const RELEASE_TESTS: [(LibvirtVersion, &str); LibvirtVersion::ALL.len()] =
            [$( (LibvirtVersion::$V, concat!("baseline_matches_virsh::", stringify!($tag))) ),+];
        mod baseline_matches_virsh {
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

#[test]
fn test_names_select_their_version() {
    for (i, (version, name)) in RELEASE_TESTS.into_iter().enumerate() {
        assert_eq!(version, LibvirtVersion::ALL[i]);
        assert_eq!(test_name(version), name);
    }
    assert_eq!(test_name(LibvirtVersion::V12_9_0), "baseline_matches_virsh::libvirt_12_9_0");
}

/// Whether this virsh's test driver accepts `--migratable` (those of 9.0.0 and 11.3.0 do not).
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

/// The `--migratable` oracle reproduces libvirt's own expected files, in each version's pack:
/// its plain baseline of Westmere+Nehalem minus the non-migratable feature lines is exactly its
/// migratable baseline. With that version's virsh present, virsh's plain output is libvirt's
/// expected plain result too, and `cpufleet baseline --libvirt VERSION --migratable` gives the
/// derived text.
#[test]
fn migratable_oracle_reproduces_libvirt_test_data() {
    for version in LibvirtVersion::ALL {
        let Some(pack) = pack_dir(version) else {
            println!("differential oracle libvirt-{version}: skipped, conformance pack absent");
            continue;
        };
        let data = pack.join("cputestdata");
        let read = |n: &str| std::fs::read_to_string(data.join(n)).unwrap_or_else(|e| panic!("{version} {n}: {e}"));
        let plain = read("x86_64-baseline-Westmere+Nehalem-result.xml");
        let migratable = read("x86_64-baseline-Westmere+Nehalem-migratable.xml");
        let mut non_migratable = non_migratable_names(&map(version));
        non_migratable.sort();
        assert_eq!(non_migratable, ["invtsc", "xsaves"], "libvirt {version}'s map marks invtsc and xsaves");
        assert_ne!(plain, migratable, "libvirt {version}: the case must contain a non-migratable feature");
        assert_eq!(drop_non_migratable(&plain, &non_migratable), migratable, "libvirt {version}");

        let Some(virsh) = virsh(version) else { continue };
        // virsh wants the CPUs without libvirt's <cpuTest> test wrapper.
        let input = read("x86_64-baseline-Westmere+Nehalem.xml").replace("<cpuTest>", "").replace("</cpuTest>", "");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let file = dir.join(format!("differential-oracle-{version}-{}.xml", std::process::id()));
        std::fs::write(&file, input).unwrap();
        let live = virsh_baseline(&virsh, None, &file);
        let ours = cpufleet_baseline(version, Some("--migratable"), &file);
        let _ = std::fs::remove_file(&file);
        assert!(live.ok(), "libvirt {version}: virsh failed: {}", live.describe());
        // virsh prints one more newline after the CPU.
        assert_eq!(live.stdout, format!("{plain}\n"), "libvirt {version}");
        let derived = derived_migratable(&live, &non_migratable);
        assert_eq!(derived.stdout, format!("{migratable}\n"), "libvirt {version}");
        assert_eq!(agree(&derived, &ours), Ok(true), "libvirt {version}: cpufleet --migratable: {}", ours.describe());
    }
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
    for version in LibvirtVersion::ALL {
        let map = map(version);
        let (cat, packs) = catalog(&map);
        for i in [0, 7, 123] {
            assert_eq!(diffgen::pool(&cat, 42, i).text, diffgen::pool(&cat, 42, i).text, "{version} pool {i}");
        }
        assert_ne!(diffgen::pool(&cat, 42, 0).text, diffgen::pool(&cat, 43, 0).text);
        let pools: Vec<Pool> = (0..300).map(|i| diffgen::pool(&cat, DEFAULT_SEED, i)).collect();
        let sizes: Vec<usize> = pools.iter().map(|p| p.cpus.len()).collect();
        assert_eq!(sizes.iter().min(), Some(&1));
        assert_eq!(sizes.iter().max(), Some(&60));
        let cpus = || pools.iter().flat_map(|p| &p.cpus);
        let vendorless = cpus().filter(|c| c.vendor.is_none()).count();
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
        assert!(vendorless > 100, "{version}: {vendorless} vendor-less CPUs");
        assert!(mixed > 10, "{version}: {mixed} pools with mixed vendors");
        assert!(caps > 50, "{version}: {caps} pools with capabilities documents");
        for m in ["qemu64", "kvm64", "486"] {
            assert!(cpus().any(|c| c.model == m), "{version}: no {m} CPU generated");
        }
        // Only the parser that reads `clusters` and `limit` gets them.
        let clusters = pools.iter().filter(|p| p.text.contains(" clusters=")).count();
        let limits = pools.iter().filter(|p| p.text.contains(" limit=")).count();
        let versioned = cpus().filter(|c| c.model.contains("-v")).count();
        if version.at_least_11_3() {
            assert!(clusters > 50 && limits > 10, "{version}: {clusters} pools with clusters, {limits} with limit");
            assert!(versioned > 100, "{version}: {versioned} CPUs name a -vN model");
        } else {
            assert_eq!((clusters, limits), (0, 0), "{version}: clusters or limit written");
        }
        // 11.3.0's pools mix its own decodes with 9.0.0's.
        if packs.len() > 1 {
            let mixing = pools.iter().filter(|p| mixes_packs(p)).count();
            assert!(mixing > 30, "{version}: {mixing} pools mix the packs' decodes");
            for (v, _) in &packs {
                assert!(cpus().any(|c| c.origin == Some(*v)), "{version}: no decode of the {v} pack used");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: minimal pools on which cpufleet and libvirt once disagreed.

/// Runs `cpufleet baseline --libvirt VERSION` on `pool` and, when that version's virsh is
/// installed, checks that libvirt agrees (same rule as the random pools); returns cpufleet's run.
fn regression(version: LibvirtVersion, name: &str, pool: &str) -> Run {
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("differential-{name}-{version}-{}.xml", std::process::id()));
    std::fs::write(&file, pool).unwrap();
    let ours = cpufleet_baseline(version, None, &file);
    if let Some(virsh) = virsh(version) {
        let live = virsh_baseline(&virsh, None, &file);
        if let Err(e) = agree(&live, &ours) {
            panic!("libvirt {version}: {name}: {e}\nvirsh {}\ncpufleet {}", live.describe(), ours.describe());
        }
    }
    let _ = std::fs::remove_file(&file);
    ours
}

/// libvirt reads `<topology>` with `VIR_XML_PROP_NONZERO` ("Zero is not permitted"); cpufleet
/// used to accept zeros and print a baseline where virsh fails. 11.3.0 also reads `clusters`
/// that way; 9.0.0 ignores the attribute, zero or not.
#[test]
fn regression_zero_in_topology_is_an_error() {
    const ATTRS: [&str; 5] = ["sockets", "dies", "clusters", "cores", "threads"];
    for version in LibvirtVersion::ALL {
        for attr in ATTRS {
            let values: Vec<String> =
                ATTRS.iter().map(|a| format!("{a}='{}'", if *a == attr { 0 } else { 2 })).collect();
            let pool = format!(
                "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n  <vendor>Intel</vendor>\n  \
                 <topology {}/>\n</cpu>\n",
                values.join(" ")
            );
            let ours = regression(version, &format!("topology-{attr}"), &pool);
            if attr == "clusters" && !version.at_least_11_3() {
                assert!(ours.ok(), "{version}: clusters='0' is ignored: {}", ours.describe());
                continue;
            }
            assert_eq!(ours.code, Some(2), "{version}: topology {attr}='0': {}", ours.describe());
            assert!(
                ours.stderr.contains(&format!("'{attr}'")),
                "{version}: error names the attribute: {}",
                ours.stderr
            );
        }
        // Non-zero values (and an absent dies and clusters) stay accepted.
        let ours = regression(
            version,
            "topology-ok",
            "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n  <topology sockets='1' cores='4' threads='2'/>\n</cpu>\n",
        );
        assert!(ours.ok(), "{version}: {}", ours.describe());
    }
}

/// libvirt 11.3.0 reads `<maxphysaddr limit>`: non-zero, a number, and with mode `passthrough`
/// only; 9.0.0 ignores the attribute.
#[test]
fn regression_maxphysaddr_limit_is_read_from_11_3_0() {
    // (attributes, whether 11.3.0 accepts them)
    const CASES: [(&str, bool); 4] = [
        ("mode='emulate' bits='39' limit='39'", false),
        ("mode='passthrough' limit='0'", false),
        ("mode='passthrough' limit='x'", false),
        ("mode='passthrough' bits='46' limit='40'", true),
    ];
    for version in LibvirtVersion::ALL {
        for (i, (attrs, accepted_by_11_3)) in CASES.into_iter().enumerate() {
            let pool =
                format!("<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n  <maxphysaddr {attrs}/>\n</cpu>\n");
            let ours = regression(version, &format!("maxphysaddr-{i}"), &pool);
            let accepted = accepted_by_11_3 || !version.at_least_11_3();
            assert_eq!(ours.ok(), accepted, "{version}: <maxphysaddr {attrs}/>: {}", ours.describe());
            if !accepted {
                assert!(ours.stderr.contains("'limit'"), "{version}: error names the attribute: {}", ours.stderr);
            }
        }
    }
}

/// `cpufleet baseline FILE…` of several files equals `virsh cpu-baseline` of the files
/// concatenated: the pack's decoded hosts, in groups of consecutive files (sorted by name, so
/// that groups of one vendor, which succeed, and mixed groups, which fail, both occur), each
/// given as files, as a directory, and checked against virsh on the concatenation.
fn several_files_match_virsh(version: LibvirtVersion) {
    let (Some(virsh), Some(pack)) = (virsh(version), newest_pack_upto(version)) else { return };
    let mut hosts: Vec<PathBuf> = std::fs::read_dir(pack.join("cputestdata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("x86_64-cpuid-"))
        .filter(|p| p.to_string_lossy().ends_with("-host.xml"))
        .collect();
    hosts.sort();
    assert!(hosts.len() >= 12, "{} host files", hosts.len());
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("several-{version}-{}", std::process::id()));
    let (mut agreed, mut failed_both) = (0, 0);
    for (g, group) in hosts.chunks(4).enumerate() {
        let dir = work.join(format!("group-{g}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cat = Vec::new();
        for (i, h) in group.iter().enumerate() {
            let bytes = std::fs::read(h).unwrap();
            std::fs::write(dir.join(format!("{i:02}.xml")), &bytes).unwrap();
            cat.extend_from_slice(&bytes);
        }
        let cat_file = work.join(format!("group-{g}-cat.xml"));
        std::fs::write(&cat_file, &cat).unwrap();
        for flag in [None, Some("--features")] {
            let want = virsh_baseline(&virsh, flag, &cat_file);
            let mut args = cpufleet_args(version, flag);
            let files: Vec<String> = group.iter().map(|p| p.display().to_string()).collect();
            args.extend(files[..files.len() - 1].iter().map(String::as_str));
            let ours = run(Path::new(CPUFLEET), &args, Path::new(files.last().unwrap()));
            let ok = agree(&want, &ours).unwrap_or_else(|e| panic!("group {g} {flag:?}: {e}\n{}", ours.describe()));
            let by_dir = cpufleet_baseline(version, flag, &dir);
            assert_eq!((by_dir.code, &by_dir.stdout), (ours.code, &ours.stdout), "group {g} as a directory");
            if ok {
                agreed += 1;
            } else {
                failed_both += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    assert!(agreed > 0 && failed_both > 0, "{agreed} groups agreed, {failed_both} failed in both");
}

#[test]
fn several_files_match_virsh_of_their_concatenation() {
    for v in LibvirtVersion::ALL {
        several_files_match_virsh(v);
    }
}
