//! The real QEMU drivers as test oracles, driven through `virsh`, many commands per `virsh`
//! process. The oracle table is the release table's (`engine/tests/common/releases.rs`):
//! each release's `qemu` rows ([`QemuStack`]: libvirt 9.0.0 + QEMU 7.2, 11.3.0 + QEMU 7.2,
//! 11.3.0 + QEMU 10.0, 12.9.0 + QEMU 11.1), each saying how to invoke it and where its QEMU
//! capabilities cache is ([`QemuStack::virsh`], [`QemuStack::cache_dir`]). [`stacks`] lists
//! them as (release, stack) pairs; a further stack is a row there.
//!
//! **Embedded drivers.** Every driver runs embedded in the virsh process (`qemu:///embed?root=DIR`,
//! no daemon): the system's virsh (9.0.0) with `-c qemu:///embed?root=DIR` and `user = "root"`,
//! the wrappers of the oracle scripts with `VIRSH_QEMU_ROOT=DIR` or, in a chroot,
//! `CPUFLEET_EMBED=/var/lib/cpufleet-embed-NAME`. Each test gets a root of its own (one virsh
//! process may hold a root at a time), so tests of different stacks, and different tests of one
//! stack, run in parallel. Roots are kept between runs, so QEMU is probed once (about 4-10 s) and
//! later runs reuse the cache, which the driver revalidates. For 9.0.0 this is the same
//! QEMU-driver code and QEMU binary as the system daemon of
//! `sh ../shared/oracles/libvirt-qemu-driver.sh`, without the daemon's cost on these machines:
//! there libvirtd probes QEMU as root (KVM works) but checks `/dev/kvm` as `libvirt-qemu` (mode
//! 0600: not accessible), so `virQEMUCapsIsValid` throws its capabilities cache away on every
//! call (4-5 s per call, measured). `CPUFLEET_QEMU_URI=qemu:///system` makes 9.0.0's tests use
//! the daemon instead.
//!
//! **Batches.** `virsh "cmd1; echo M1; echo --err M1; cmd2; …"` runs the commands in one
//! process. Each command prints exactly what it prints alone (a failing one, like `echo --err`,
//! adds its one newline on stdout), so the outputs are cut at the markers. virsh's exit status of
//! one command is not visible in a batch: it is derived (an `error:` line other than a known
//! warning, or a compare verdict "is incompatible", means failure, as virsh's commands return),
//! and [`Oracle::run`] checks that derivation (and the cutting) on the first commands of every
//! batch list by running them alone too.

use crate::releases::{QemuStack, ReleaseOracles, RELEASE_ORACLES};
use cpufleet_engine::LibvirtVersion;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One QEMU-driver stack of one release.
#[derive(Clone, Copy, Debug)]
pub struct Stack {
    pub release: &'static ReleaseOracles,
    pub qemu: &'static QemuStack,
}

/// Every QEMU-driver stack of every release, oldest release first.
pub fn stacks() -> Vec<Stack> {
    RELEASE_ORACLES.iter().flat_map(|r| r.qemu.iter().map(move |q| Stack { release: r, qemu: q })).collect()
}

impl Stack {
    /// The stack of `version` named `name` (`QemuStack::name`: `distribution` or an upstream-built
    /// stack's row name), as `stack_modules!` stamps the per-stack tests.
    pub fn named(version: LibvirtVersion, name: &str) -> Stack {
        Stack { release: crate::releases::oracles(version), qemu: crate::releases::qemu_stack(version, name) }
    }
    pub fn version(&self) -> LibvirtVersion {
        self.release.version
    }
    /// `libvirt-11.3.0 (QEMU 10.0)`: how the summary lines name it.
    pub fn tag(&self) -> String {
        format!("libvirt-{} (QEMU {})", self.version(), self.qemu.qemu)
    }
    /// A file-name-safe id: `11.3.0-qemu-10.0`.
    pub fn id(&self) -> String {
        format!("{}-qemu-{}", self.version(), self.qemu.qemu)
    }
    /// The conformance pack whose `cputestdata` gives the CPU documents: the release's own, else
    /// (12.9.0, no pack) the newest older release's.
    pub fn pack(&self) -> &'static str {
        let own = RELEASE_ORACLES.iter().rev().filter(|r| r.version <= self.version()).find_map(|r| r.pack());
        own.expect("the oldest release has a pack")
    }
}

/// What virsh printed for one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirshOut {
    pub stdout: String,
    /// The `error: ` lines of stderr.
    pub errors: Vec<String>,
    pub ok: bool,
}

impl VirshOut {
    pub fn of_output(o: &Output) -> VirshOut {
        VirshOut {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            errors: error_lines(&o.stderr),
            ok: o.status.success(),
        }
    }
}

/// `error: ` lines virsh prints without failing the command: libvirt 11.3.0's virsh warns so
/// (with `vshError`) when hypervisor-cpu-compare/-baseline get a host CPU.
const NOT_FAILING: &[&str] = &["error: using host CPU definition as input may provide incorrect results"];

pub fn error_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr).lines().filter(|l| l.starts_with("error: ")).map(str::to_string).collect()
}

/// How one oracle's virsh process is started.
#[derive(Clone, Debug)]
enum Runner {
    /// The stack's embedded driver, root of worker `name` (under `tmp` where it is a path here).
    Embedded { name: String, tmp: PathBuf },
    /// `virsh -c URI` (a daemon, `CPUFLEET_QEMU_URI`).
    Daemon(String),
}

/// The QEMU driver of one stack, for one test.
pub struct Oracle {
    pub stack: Stack,
    runner: Runner,
    /// One line saying which driver it is.
    pub describe: String,
    /// Where its QEMU capabilities cache files are.
    pub cache_dir: PathBuf,
}

const MAX_BATCH_CHARS: usize = 100_000;

/// A short stable hash of `s` (FNV-1a), to keep one checkout's chroot roots apart from another's.
fn short_hash(s: &str) -> String {
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{:08x}", h >> 32)
}

impl Oracle {
    /// The oracle of `stack` for test `name` (its own embedded root), or why there is none.
    pub fn new(stack: Stack, name: &str, tmp: &Path) -> Result<Oracle, String> {
        if let Some(why) = stack.qemu.missing() {
            return Err(why);
        }
        let oracle = match std::env::var("CPUFLEET_QEMU_URI") {
            Ok(uri) if stack.qemu.virsh_qemu.is_none() => Oracle {
                stack,
                runner: Runner::Daemon(uri.clone()),
                describe: format!("the libvirt {} daemon at {uri} (CPUFLEET_QEMU_URI)", stack.version()),
                cache_dir: PathBuf::from("/var/cache/libvirt/qemu/capabilities"),
            },
            _ => {
                let name = format!("{name}-{}-{}", stack.id(), short_hash(&tmp.display().to_string()));
                let what = match stack.qemu.virsh_qemu {
                    Some(w) => format!("its virsh ({w})"),
                    None => "the system's virsh (qemu:///embed)".to_string(),
                };
                Oracle {
                    stack,
                    cache_dir: stack.qemu.cache_dir(&name, tmp),
                    describe: format!(
                        "libvirt {}'s QEMU driver with QEMU {} embedded in {what}, root {name}",
                        stack.version(),
                        stack.qemu.qemu
                    ),
                    runner: Runner::Embedded { name, tmp: tmp.to_path_buf() },
                }
            }
        };
        oracle.check_versions()?;
        Ok(oracle)
    }

    /// Whether it is a daemon (which may re-probe QEMU on every call), not an embedded driver.
    pub fn is_daemon(&self) -> bool {
        matches!(self.runner, Runner::Daemon(_))
    }

    /// `virsh version` must name the row's libvirt and QEMU (this also probes QEMU on a new root).
    fn check_versions(&self) -> Result<(), String> {
        let o = self.raw("version").map_err(|e| format!("{}: {e}", self.describe))?;
        let text = String::from_utf8_lossy(&o.stdout);
        let want_lib = format!("Using library: libvirt {}", self.stack.version());
        let want_qemu = format!("Running hypervisor: QEMU {}.", self.stack.qemu.qemu);
        if !o.status.success() || !text.contains(&want_lib) || !text.contains(&want_qemu) {
            return Err(format!(
                "{} does not answer as libvirt {} with QEMU {} (install: {}): {}{}",
                self.describe,
                self.stack.version(),
                self.stack.qemu.qemu,
                self.stack.qemu.install,
                text.trim(),
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(())
    }

    fn command(&self) -> Command {
        bounded(match &self.runner {
            Runner::Embedded { name, tmp } => self.stack.qemu.virsh(name, tmp),
            Runner::Daemon(uri) => {
                let mut c = Command::new("virsh");
                c.arg("-c").arg(uri);
                c
            }
        })
    }

    fn raw(&self, commands: &str) -> std::io::Result<Output> {
        self.command().arg(commands).output()
    }

    /// One virsh command alone.
    pub fn one(&self, args: &[&str]) -> VirshOut {
        let o = self.command().args(args).output().expect("run virsh");
        VirshOut::of_output(&o)
    }

    /// The QEMU capabilities cache file of `emulator`, copied to `to` (the driver rewrites it).
    pub fn qemu_cache(&self, emulator: &str, to: &Path) -> Result<PathBuf, String> {
        let want = format!("<emulator>{emulator}</emulator>");
        let dir = &self.cache_dir;
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for e in entries.flatten() {
            if std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&want)) {
                std::fs::copy(e.path(), to).map_err(|e| format!("copying the QEMU cache: {e}"))?;
                return Ok(to.to_path_buf());
            }
        }
        Err(format!("no QEMU capabilities cache for {emulator} in {}", dir.display()))
    }

    /// Runs every command (each a list of arguments), batched; the first `check` of them are
    /// also run alone and must give the same answer (the batch cutting and the derived status).
    pub fn run(&self, commands: &[Vec<String>], check: usize) -> Vec<VirshOut> {
        let mut out = Vec::with_capacity(commands.len());
        let mut start = 0;
        while start < commands.len() {
            let (mut end, mut len) = (start, 0);
            while end < commands.len() && (end == start || len < MAX_BATCH_CHARS) {
                len += commands[end].iter().map(|a| a.len() + 3).sum::<usize>() + 60;
                end += 1;
            }
            out.extend(self.batch(&commands[start..end], start));
            start = end;
        }
        for (i, c) in commands.iter().enumerate().take(check) {
            let args: Vec<&str> = c.iter().map(String::as_str).collect();
            let alone = self.one(&args);
            assert_eq!(out[i], alone, "virsh batch answer differs from the command run alone: {c:?}");
        }
        out
    }

    fn batch(&self, commands: &[Vec<String>], first: usize) -> Vec<VirshOut> {
        let marker = |i: usize| format!("@@cpufleet-case-{}@@", first + i);
        let mut script = String::new();
        for (i, c) in commands.iter().enumerate() {
            assert!(c.iter().all(|a| !a.contains('\'')), "virsh batch: an argument with a quote: {c:?}");
            let args: Vec<String> = c.iter().map(|a| format!("'{a}'")).collect();
            script.push_str(&format!("{}; echo {m}; echo --err {m}; ", args.join(" "), m = marker(i)));
        }
        let o = self.raw(&script).expect("run virsh");
        let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        let (mut so, mut se) = (stdout.as_ref(), stderr.as_ref());
        let mut out = Vec::with_capacity(commands.len());
        for (i, command) in commands.iter().enumerate() {
            let m = marker(i);
            let (o_end, e_end) = (format!("{m}\n\n"), format!("error: {m}\n"));
            let oi = so.find(&o_end).unwrap_or_else(|| panic!("virsh batch: no marker {m} on stdout:\n{so}"));
            let ei = se.find(&e_end).unwrap_or_else(|| panic!("virsh batch: no marker {m} on stderr:\n{se}"));
            let stdout = so[..oi].to_string();
            let errors = error_lines(&se.as_bytes()[..ei]);
            so = &so[oi + o_end.len()..];
            se = &se[ei + e_end.len()..];
            let incompatible =
                command.first().is_some_and(|c| c.ends_with("compare")) && stdout.contains(" is incompatible with ");
            let ok = errors.iter().all(|e| NOT_FAILING.contains(&e.as_str())) && !incompatible;
            out.push(VirshOut { stdout, errors, ok });
        }
        out
    }
}

/// The text between the first `open` and the `close` after it.
pub fn text_between<'a>(doc: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let s = doc.find(open)? + open.len();
    Some(&doc[s..s + doc[s..].find(close)?])
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write a test file");
    p
}

/// One accelerator of an oracle: its virttype, domcapabilities (text and file), the copy of its
/// QEMU capabilities cache and its QEMU binary (the domcapabilities' `<path>`).
pub struct Accel {
    pub virttype: &'static str,
    pub dir: PathBuf,
    pub domcaps: PathBuf,
    pub cache: PathBuf,
    pub text: String,
    pub emulator: String,
}

/// The oracle's accelerators (TCG and KVM) that give a host-model, each written under
/// `root/VIRTTYPE/`; one that does not is left out after saying so.
pub fn accelerators(oracle: &Oracle, root: &Path, what: &str) -> Vec<Accel> {
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
        let cache = oracle.qemu_cache(&emulator, &dir.join("qemu-caps.xml")).unwrap_or_else(|w| panic!("{what}: {w}"));
        out.push(Accel { virttype, dir, domcaps, cache, text: o.stdout, emulator });
    }
    out
}

/// Seconds one virsh run of the oracle may take (a batch of hundreds of commands takes seconds).
const VIRSH_LIMIT: &str = "600";

/// `c` under `timeout`: a virsh that never answers (seen: the QEMU driver's capability probe of
/// an emulator stuck in its QMP handshake) is killed after [`VIRSH_LIMIT`] seconds, and the test
/// fails on its exit status 124 instead of hanging, CI with it.
fn bounded(c: Command) -> Command {
    let mut b = Command::new("timeout");
    b.args(["--kill-after=10", VIRSH_LIMIT]).arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => b.env(k, v),
            None => b.env_remove(k),
        };
    }
    if let Some(d) = c.get_current_dir() {
        b.current_dir(d);
    }
    b
}
