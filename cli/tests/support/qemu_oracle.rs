//! libvirt 9.0.0's QEMU driver as a test oracle, driven through `virsh`, many commands per
//! `virsh` process.
//!
//! **Which driver.** By default the QEMU driver runs embedded in `virsh`
//! (`qemu:///embed?root=DIR`, one private root per test, with `user = "root"` in its
//! `qemu.conf` when the tests run as root). It is the same libvirt 9.0.0 QEMU-driver code and the
//! same QEMU binary as the system daemon that `sh ../shared/oracles/libvirt-qemu-driver.sh`
//! starts, without the daemon's cost on these machines: there libvirtd probes QEMU as root (KVM
//! works) but checks `/dev/kvm` as `libvirt-qemu` (mode 0600: not accessible), so
//! `virQEMUCapsIsValid` throws its capabilities cache away on every call ("KVM was enabled when
//! probing '/usr/bin/qemu-system-x86_64', but it is not available now"; 4-5 s per call, measured).
//! With the root's own user the cache stays valid: the first call probes QEMU (about 10 s), the
//! others take milliseconds. `CPUFLEET_QEMU_URI=qemu:///system` uses the daemon instead;
//! without a working embedded driver the daemon is used.
//!
//! **Batches.** `virsh -c URI "cmd1; echo M1; echo --err M1; cmd2; …"` runs the commands in one
//! process. Each command prints exactly what it prints alone (a failing one, like `echo --err`,
//! adds its one newline on stdout), so the outputs are cut at the markers. virsh's exit status of
//! one command is not visible in a batch: it is derived (an `error:` line, or a compare verdict
//! "is incompatible", means failure, as virsh's commands return), and [`Oracle::run`] checks
//! that derivation (and the cutting) on the first commands of every batch list by running them
//! alone too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

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

pub fn error_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr).lines().filter(|l| l.starts_with("error: ")).map(str::to_string).collect()
}

/// The QEMU driver to ask.
pub struct Oracle {
    pub uri: String,
    /// One line saying which driver it is.
    pub describe: String,
    /// Where its QEMU capabilities cache files are.
    pub cache_dir: PathBuf,
}

const MAX_BATCH_CHARS: usize = 100_000;

fn virsh_raw(uri: &str, commands: &str) -> std::io::Result<Output> {
    Command::new("virsh").arg("-c").arg(uri).arg(commands).output()
}

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

/// The embedded root every test copies its probed QEMU capabilities from (probed once).
fn base_root(tmp: &Path) -> &'static Result<PathBuf, String> {
    static BASE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BASE.get_or_init(|| {
        let root = tmp.join("qemu-embed-base");
        let _ = std::fs::remove_dir_all(root.join("run"));
        make_root(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let uri = embed_uri(&root);
        // Probes QEMU for both accelerators (the cache file holds both).
        let o = virsh_raw(&uri, "version; domcapabilities --virttype qemu")
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

impl Oracle {
    /// The oracle for test `name` (its own embedded root), or why there is none.
    pub fn new(name: &str, tmp: &Path) -> Result<Oracle, String> {
        if let Ok(uri) = std::env::var("CPUFLEET_QEMU_URI") {
            return Oracle::daemon(&uri, "CPUFLEET_QEMU_URI");
        }
        match base_root(tmp) {
            Ok(base) => {
                let root = tmp.join(format!("qemu-embed-{name}"));
                let _ = std::fs::remove_dir_all(&root);
                make_root(&root).map_err(|e| format!("{}: {e}", root.display()))?;
                let cache = "cache/qemu/capabilities";
                copy_dir(&base.join(cache), &root.join(cache)).map_err(|e| format!("copying the QEMU cache: {e}"))?;
                Ok(Oracle {
                    uri: embed_uri(&root),
                    describe: "libvirt 9.0.0's QEMU driver embedded in virsh (qemu:///embed, same code and QEMU as the daemon)"
                        .into(),
                    cache_dir: root.join(cache),
                })
            }
            Err(why) => Oracle::daemon("qemu:///system", why),
        }
    }

    fn daemon(uri: &str, why: &str) -> Result<Oracle, String> {
        let o = virsh_raw(uri, "version").map_err(|e| format!("virsh not found ({e})"))?;
        if !o.status.success() {
            return Err(format!(
                "`virsh -c {uri} version` failed ({}); start the daemon with `sh ../shared/oracles/libvirt-qemu-driver.sh` ({why})",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        if !String::from_utf8_lossy(&o.stdout).contains("Using library: libvirt 9.0.0") {
            return Err(format!("the libvirt of {uri} is not 9.0.0"));
        }
        Ok(Oracle {
            uri: uri.to_string(),
            describe: format!("the libvirt 9.0.0 daemon at {uri} ({why})"),
            cache_dir: PathBuf::from("/var/cache/libvirt/qemu/capabilities"),
        })
    }

    /// One virsh command alone.
    pub fn one(&self, args: &[&str]) -> VirshOut {
        let o = Command::new("virsh").arg("-c").arg(&self.uri).args(args).output().expect("run virsh");
        VirshOut::of_output(&o)
    }

    /// The QEMU capabilities cache file of `emulator`, copied to `to` (the daemon rewrites it).
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
        let o = virsh_raw(&self.uri, &script).expect("run virsh");
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
            let ok = errors.is_empty() && !incompatible;
            out.push(VirshOut { stdout, errors, ok });
        }
        out
    }
}
