//! The real QEMU drivers as test oracles, driven through `virsh`, many commands per `virsh`
//! process. [`STACKS`] is the oracle table: one row per QEMU-driver stack (libvirt release +
//! QEMU), how to invoke it, where its QEMU capabilities cache lives. A further stack is a row.
//!
//! **The rows.** Every driver runs *embedded* in the virsh process (`qemu:///embed?root=DIR`, no
//! daemon); each test gets a root of its own (one virsh process may hold a root at a time), so
//! tests of different stacks, and different tests of one stack, run in parallel.
//! * libvirt 9.0.0 + QEMU 7.2: the system's `virsh` (Debian 12), `-c qemu:///embed?root=DIR`,
//!   with `user = "root"` in the root's `qemu.conf` when the tests run as root. It is the same
//!   libvirt 9.0.0 QEMU-driver code and the same QEMU binary as the system daemon that
//!   `sh ../shared/oracles/libvirt-qemu-driver.sh` starts, without the daemon's cost on these
//!   machines: there libvirtd probes QEMU as root (KVM works) but checks `/dev/kvm` as
//!   `libvirt-qemu` (mode 0600: not accessible), so `virQEMUCapsIsValid` throws its capabilities
//!   cache away on every call (4-5 s per call, measured). `CPUFLEET_QEMU_URI=qemu:///system`
//!   uses the daemon instead; without a working embedded driver the daemon is used.
//! * libvirt 11.3.0 + QEMU 7.2 (Debian 12 backports' libvirt with Debian 12's QEMU):
//!   `/opt/libvirt-11.3.0-qemu/bin/virsh-qemu` (`../shared/oracles/libvirt-11.3.0-qemu-driver.sh`),
//!   root given by `VIRSH_QEMU_ROOT=DIR` (a path on this machine), cache in
//!   `DIR/cache/qemu/capabilities`.
//! * libvirt 11.3.0 + QEMU 10.0 (Debian 13) and libvirt 12.9.0 + QEMU 11.1 (Debian 13
//!   backports): `PREFIX/bin/virsh-qemu` of `../shared/oracles/debian-release.sh trixie` /
//!   `trixie-backports` (a chroot), root given by `CPUFLEET_EMBED=/var/lib/cpufleet-embed-N` (a
//!   path inside the chroot), cache in `PREFIX/root/var/lib/cpufleet-embed-N/cache/qemu/
//!   capabilities`. The chroot sees this machine's `/tmp` and the parent of the working directory
//!   (the checkout, so the cargo target's tmp dir) at the same paths.
//!
//! Roots other than 9.0.0's are kept between runs (named by the test and the checkout), so QEMU
//! is probed once (about 4 s) and later runs reuse the cache, which the driver revalidates.
//!
//! **Batches.** `virsh "cmd1; echo M1; echo --err M1; cmd2; …"` runs the commands in one
//! process. Each command prints exactly what it prints alone (a failing one, like `echo --err`,
//! adds its one newline on stdout), so the outputs are cut at the markers. virsh's exit status of
//! one command is not visible in a batch: it is derived (an `error:` line, or a compare verdict
//! "is incompatible", means failure, as virsh's commands return), and [`Oracle::run`] checks
//! that derivation (and the cutting) on the first commands of every batch list by running them
//! alone too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// How a stack's virsh is invoked.
#[derive(Clone, Copy, Debug)]
pub enum Invoke {
    /// The system's `virsh -c qemu:///embed?root=DIR` (libvirt 9.0.0).
    SystemEmbed,
    /// A wrapper that takes the root as `VIRSH_QEMU_ROOT=DIR` (a path on this machine).
    RootEnv { wrapper: &'static str },
    /// A chroot's wrapper (`PREFIX/bin/virsh-qemu`) that takes the root as
    /// `CPUFLEET_EMBED=/var/lib/cpufleet-embed-N`, a path inside the chroot `PREFIX/root`.
    ChrootEmbed { prefix: &'static str },
}

/// One QEMU-driver stack: a libvirt release with one QEMU.
#[derive(Clone, Copy, Debug)]
pub struct Stack {
    /// The libvirt release (`--libvirt` of cpufleet; `virsh version` must name it).
    pub release: &'static str,
    /// QEMU's version, major.minor (`virsh version`'s "Running hypervisor: QEMU X.Y.Z").
    pub qemu: &'static str,
    pub invoke: Invoke,
    /// The conformance pack whose `cputestdata` gives the CPU documents (`../shared/conformance/`).
    pub pack: &'static str,
    /// How to install it, for the skip message.
    pub install: &'static str,
}

/// The oracle table.
pub const STACKS: &[Stack] = &[
    Stack {
        release: "9.0.0",
        qemu: "7.2",
        invoke: Invoke::SystemEmbed,
        pack: "libvirt-9.0.0",
        install: "apt-get install libvirt-clients libvirt-daemon-driver-qemu qemu-system-x86 (or sh ../shared/oracles/libvirt-qemu-driver.sh)",
    },
    Stack {
        release: "11.3.0",
        qemu: "7.2",
        invoke: Invoke::RootEnv { wrapper: "/opt/libvirt-11.3.0-qemu/bin/virsh-qemu" },
        pack: "libvirt-11.3.0",
        install: "sh ../shared/oracles/libvirt-11.3.0-qemu-driver.sh",
    },
    Stack {
        release: "11.3.0",
        qemu: "10.0",
        invoke: Invoke::ChrootEmbed { prefix: "/opt/debian-trixie" },
        pack: "libvirt-11.3.0",
        install: "sh ../shared/oracles/debian-release.sh trixie",
    },
    Stack {
        release: "12.9.0",
        qemu: "11.1",
        invoke: Invoke::ChrootEmbed { prefix: "/opt/debian-trixie-backports" },
        pack: "libvirt-11.3.0",
        install: "sh ../shared/oracles/debian-release.sh trixie-backports",
    },
];

impl Stack {
    /// `libvirt-11.3.0 (QEMU 10.0)`: how the summary lines name it.
    pub fn tag(&self) -> String {
        format!("libvirt-{} (QEMU {})", self.release, self.qemu)
    }
    /// A file-name-safe id: `11.3.0-qemu-10.0`.
    pub fn id(&self) -> String {
        format!("{}-qemu-{}", self.release, self.qemu)
    }
    /// The row of `release` with QEMU `qemu`.
    pub fn find(release: &str, qemu: &str) -> &'static Stack {
        STACKS.iter().find(|s| s.release == release && s.qemu == qemu).expect("a row of the oracle table")
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
    /// `virsh -c URI`.
    Uri(String),
    /// `PROGRAM` with `VAR=VALUE` set.
    Wrapper { program: String, var: &'static str, value: String },
}

/// The QEMU driver of one stack, for one test.
pub struct Oracle {
    pub stack: &'static Stack,
    runner: Runner,
    /// One line saying which driver it is.
    pub describe: String,
    /// Where its QEMU capabilities cache files are.
    pub cache_dir: PathBuf,
}

const MAX_BATCH_CHARS: usize = 100_000;

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        std::fs::copy(e.path(), to.join(e.file_name()))?;
    }
    Ok(())
}

fn virsh_uri(uri: &str, commands: &str) -> std::io::Result<Output> {
    Command::new("virsh").arg("-c").arg(uri).arg(commands).output()
}

/// The embedded root every 9.0.0 test copies its probed QEMU capabilities from (probed once).
fn base_root(tmp: &Path) -> &'static Result<PathBuf, String> {
    static BASE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BASE.get_or_init(|| {
        let root = tmp.join("qemu-embed-base");
        let _ = std::fs::remove_dir_all(root.join("run"));
        make_root(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let uri = embed_uri(&root);
        // Probes QEMU for both accelerators (the cache file holds both).
        let o = virsh_uri(&uri, "version; domcapabilities --virttype qemu")
            .map_err(|e| format!("virsh not found ({e})"))?;
        let text = String::from_utf8_lossy(&o.stdout);
        if !o.status.success() || !text.contains("Using library: libvirt 9.0.0") {
            return Err(format!(
                "the embedded QEMU driver of libvirt 9.0.0 does not run ({})",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(root)
    })
}

fn embed_uri(root: &Path) -> String {
    format!("qemu:///embed?root={}", root.display())
}

fn make_root(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("etc"))?;
    let conf = if is_root() { "user = \"root\"\ngroup = \"root\"\n" } else { "" };
    std::fs::write(root.join("etc/qemu.conf"), conf)
}

/// A short stable hash of `s` (FNV-1a), to keep one checkout's roots apart from another's.
fn short_hash(s: &str) -> String {
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{:08x}", h >> 32)
}

impl Oracle {
    /// The oracle of `stack` for test `name` (its own embedded root), or why there is none.
    pub fn new(stack: &'static Stack, name: &str, tmp: &Path) -> Result<Oracle, String> {
        let oracle = match stack.invoke {
            Invoke::SystemEmbed => Oracle::system(stack, name, tmp)?,
            Invoke::RootEnv { wrapper } => {
                if !Path::new(wrapper).exists() {
                    return Err(format!("{wrapper} is missing (install: {})", stack.install));
                }
                let root = tmp.join(format!("qemu-embed-{}-{name}", stack.id()));
                Oracle {
                    stack,
                    runner: Runner::Wrapper {
                        program: wrapper.into(),
                        var: "VIRSH_QEMU_ROOT",
                        value: root.display().to_string(),
                    },
                    describe: format!(
                        "libvirt {}'s QEMU driver embedded in its virsh ({wrapper}, root {})",
                        stack.release,
                        root.display()
                    ),
                    cache_dir: root.join("cache/qemu/capabilities"),
                }
            }
            Invoke::ChrootEmbed { prefix } => {
                let wrapper = format!("{prefix}/bin/virsh-qemu");
                if !Path::new(&wrapper).exists() {
                    return Err(format!("{wrapper} is missing (install: {})", stack.install));
                }
                let embed =
                    format!("/var/lib/cpufleet-embed-{}-{name}-{}", stack.id(), short_hash(&tmp.display().to_string()));
                Oracle {
                    stack,
                    runner: Runner::Wrapper { program: wrapper.clone(), var: "CPUFLEET_EMBED", value: embed.clone() },
                    describe: format!(
                        "libvirt {}'s QEMU driver embedded in the chroot's virsh ({wrapper}, CPUFLEET_EMBED={embed})",
                        stack.release
                    ),
                    cache_dir: PathBuf::from(format!("{prefix}/root{embed}/cache/qemu/capabilities")),
                }
            }
        };
        oracle.check_versions()?;
        Ok(oracle)
    }

    fn system(stack: &'static Stack, name: &str, tmp: &Path) -> Result<Oracle, String> {
        if let Ok(uri) = std::env::var("CPUFLEET_QEMU_URI") {
            return Oracle::daemon(stack, &uri, "CPUFLEET_QEMU_URI");
        }
        match base_root(tmp) {
            Ok(base) => {
                let root = tmp.join(format!("qemu-embed-{name}"));
                let _ = std::fs::remove_dir_all(&root);
                make_root(&root).map_err(|e| format!("{}: {e}", root.display()))?;
                let cache = "cache/qemu/capabilities";
                copy_dir(&base.join(cache), &root.join(cache)).map_err(|e| format!("copying the QEMU cache: {e}"))?;
                Ok(Oracle {
                    stack,
                    runner: Runner::Uri(embed_uri(&root)),
                    describe: "libvirt 9.0.0's QEMU driver embedded in virsh (qemu:///embed, same code and QEMU as the daemon)"
                        .into(),
                    cache_dir: root.join(cache),
                })
            }
            Err(why) => Oracle::daemon(stack, "qemu:///system", why),
        }
    }

    fn daemon(stack: &'static Stack, uri: &str, why: &str) -> Result<Oracle, String> {
        let o = virsh_uri(uri, "version").map_err(|e| format!("virsh not found ({e})"))?;
        if !o.status.success() {
            return Err(format!(
                "`virsh -c {uri} version` failed ({}); start the daemon with `sh ../shared/oracles/libvirt-qemu-driver.sh` ({why})",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(Oracle {
            stack,
            runner: Runner::Uri(uri.to_string()),
            describe: format!("the libvirt 9.0.0 daemon at {uri} ({why})"),
            cache_dir: PathBuf::from("/var/cache/libvirt/qemu/capabilities"),
        })
    }

    /// `virsh version` must name the row's libvirt and QEMU (this also probes QEMU on a new root).
    fn check_versions(&self) -> Result<(), String> {
        let o = self.raw("version").map_err(|e| format!("{}: {e}", self.describe))?;
        let text = String::from_utf8_lossy(&o.stdout);
        let want_lib = format!("Using library: libvirt {}", self.stack.release);
        let want_qemu = format!("Running hypervisor: QEMU {}.", self.stack.qemu);
        if !o.status.success() || !text.contains(&want_lib) || !text.contains(&want_qemu) {
            return Err(format!(
                "{} does not answer as libvirt {} with QEMU {} (install: {}): {}{}",
                self.describe,
                self.stack.release,
                self.stack.qemu,
                self.stack.install,
                text.trim(),
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(())
    }

    /// Whether it is a daemon (which may re-probe QEMU on every call), not an embedded driver.
    pub fn is_daemon(&self) -> bool {
        matches!(&self.runner, Runner::Uri(uri) if !uri.starts_with("qemu:///embed"))
    }

    fn command(&self) -> Command {
        match &self.runner {
            Runner::Uri(uri) => {
                let mut c = Command::new("virsh");
                c.arg("-c").arg(uri);
                c
            }
            Runner::Wrapper { program, var, value } => {
                let mut c = Command::new(program);
                c.env(var, value);
                c
            }
        }
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
