//! The oracles of each supported libvirt release: its own conformance pack
//! (`../shared/conformance/libvirt-NAME/`; a release whose sources gave none is named in
//! `upstream!`), its CPU map as installed, its real `virsh`
//! (test driver) and its QEMU-driver stacks, all derived from the release's row of the engine's
//! release table (`releases!`, `engine/src/version.rs`: its Debian suite and that suite's QEMU),
//! plus the upstream-built oracles a release has beside its suite's (`upstream!`, and its QEMU
//! stacks `upstream_stacks!`). Adding a release adds nothing here, unless it has no public
//! conformance pack (a `pack` arm of `upstream!`) or upstream-built oracles.
//! Test files include this file with `#[path]`; nothing here runs anything.
#![allow(dead_code)]

use cpufleet_engine::LibvirtVersion;

/// One QEMU-driver stack of a release: libvirt's QEMU driver with one QEMU.
#[derive(Clone, Copy, Debug)]
pub struct QemuStack {
    /// How the tests name it (its module in the per-stack test files, `stack_modules!`):
    /// `distribution`, the release's Debian suite's stack, or the name of its `upstream_stacks!`
    /// row (`upstream_qemu_7_2`). Unique within its release.
    pub name: &'static str,
    /// The QEMU version, as the summary lines name it (`7.2`, `10.0`, `11.1`).
    pub qemu: &'static str,
    /// The `virsh-qemu` wrapper of an oracle script (the QEMU driver embedded in virsh), or None:
    /// the system's `virsh` with `qemu:///embed?root=DIR` (Debian 12's libvirt 9.0.0).
    pub virsh_qemu: Option<&'static str>,
    /// How a parallel worker gets an embed root of its own (one virsh process per root at a time).
    pub root: EmbedRoot,
    /// How CI installs it.
    pub install: &'static str,
}

/// How a QEMU-driver oracle is given a private embed root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedRoot {
    /// The system's virsh: `-c qemu:///embed?root=DIR`, DIR on this machine, with a `qemu.conf`
    /// that runs QEMU as root.
    Uri,
    /// `VIRSH_QEMU_ROOT=DIR`, DIR on this machine (`libvirt-11.3.0-qemu-driver.sh`).
    VirshQemuRoot,
    /// `CPUFLEET_EMBED=/var/lib/cpufleet-embed-NAME`, a path inside the chroot
    /// (`debian-release.sh`).
    ChrootEmbed,
}

/// The embed root of worker `name` under `tmp`, on a short path of its own: QEMU's monitor
/// socket lives under the root (`ROOT/lib/qemu/qmp-XXXXXX/qmp.monitor`) and a UNIX socket path
/// holds at most 107 bytes, which a root under a checkout's `target/tmp` can pass (a CI clone in
/// a deep folder did). The root is named by a hash of `tmp` and `name`, so checkouts and workers
/// stay apart and a worker finds its probed root again.
fn short_root(name: &str, tmp: &std::path::Path) -> String {
    let key = format!("{}\0{name}", tmp.display());
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("cpufleet-embed-{h:016x}")
}

impl QemuStack {
    /// `virsh` on this stack's QEMU driver with the embed root of worker `name` (created on first
    /// use, on the short path [`short_root`] names for `tmp` and `name`); the caller adds the
    /// virsh arguments.
    /// The first call on a new root probes QEMU (a few seconds).
    pub fn virsh(&self, name: &str, tmp: &std::path::Path) -> std::process::Command {
        match self.root {
            EmbedRoot::Uri => {
                let root = std::path::Path::new("/tmp").join(short_root(name, tmp));
                if !root.join("etc/qemu.conf").is_file() {
                    std::fs::create_dir_all(root.join("etc")).expect("embed root");
                    std::fs::write(root.join("etc/qemu.conf"), "user = \"root\"\ngroup = \"root\"\n")
                        .expect("qemu.conf");
                }
                let mut c = std::process::Command::new("virsh");
                c.arg("-c").arg(format!("qemu:///embed?root={}", root.display()));
                c
            }
            EmbedRoot::VirshQemuRoot => {
                let mut c = std::process::Command::new(self.virsh_qemu.expect("a wrapper"));
                c.env("VIRSH_QEMU_ROOT", std::path::Path::new("/tmp").join(short_root(name, tmp)));
                c
            }
            EmbedRoot::ChrootEmbed => {
                let mut c = std::process::Command::new(self.virsh_qemu.expect("a wrapper"));
                c.env("CPUFLEET_EMBED", format!("/var/lib/{}", short_root(name, tmp)));
                c
            }
        }
    }

    /// Where the QEMU capabilities cache of worker `name`'s embed root is (what [`Self::virsh`]
    /// fills on its first call): `DIR/cache/qemu/capabilities` of the root, which for a chroot is
    /// under `PREFIX/root` (`PREFIX/bin/virsh-qemu` being the wrapper).
    pub fn cache_dir(&self, name: &str, tmp: &std::path::Path) -> std::path::PathBuf {
        let cache = "cache/qemu/capabilities";
        match self.root {
            EmbedRoot::Uri | EmbedRoot::VirshQemuRoot => {
                std::path::Path::new("/tmp").join(short_root(name, tmp)).join(cache)
            }
            EmbedRoot::ChrootEmbed => {
                let wrapper = std::path::Path::new(self.virsh_qemu.expect("a wrapper"));
                let prefix = wrapper.parent().and_then(std::path::Path::parent).expect("PREFIX/bin/virsh-qemu");
                prefix.join(format!("root/var/lib/{}", short_root(name, tmp))).join(cache)
            }
        }
    }

    /// Why this stack cannot be used here, or None when its wrapper (or the system's virsh) is
    /// installed.
    pub fn missing(&self) -> Option<String> {
        match self.virsh_qemu {
            Some(w) if !std::path::Path::new(w).is_file() => {
                Some(format!("{w} is not installed; install it with `{}`", self.install))
            }
            _ => None,
        }
    }
}

/// The oracles of one release, derived from its row of the engine's release table
/// (`releases!`, `engine/src/version.rs`) by [`for_each_release!`](cpufleet_engine::for_each_release).
#[derive(Clone, Copy, Debug)]
pub struct ReleaseOracles {
    pub version: LibvirtVersion,
    /// Its public conformance pack under `../shared/conformance/` (`libvirt-NAME`), or None
    /// ([`Self::pack`]).
    pack: Option<&'static str>,
    /// Its `cpu_map/` as its Debian suite installs it (used where it has no pack).
    suite_map: &'static str,
    /// Its virsh when the variable [`Self::virsh_env`] is unset; None: `virsh` on PATH (the
    /// system's, Debian 12).
    pub virsh_default: Option<&'static str>,
    /// How to install that virsh.
    pub virsh_install: &'static str,
    /// Its QEMU-driver stacks: its `upstream_stacks!` rows, then its Debian suite's
    /// (`distribution`).
    pub qemu: &'static [QemuStack],
}

impl ReleaseOracles {
    /// The release's public conformance pack under `../shared/conformance/` (its own test cases,
    /// CPUID dumps and map), or None: libvirt 12.x's sources are not in the package archive, so
    /// 12.9.0's rules are proven by differential against its binaries only (`upstream!(pack …)`).
    /// A pack the table names but the folder lacks fails under `CPUFLEET_REQUIRE_CONFORMANCE=1`
    /// (`pack_dir_of`).
    pub fn pack(&self) -> Option<&'static str> {
        self.pack
    }

    /// The release's `cpu_map/` where no pack holds it: the installed package's files.
    pub fn installed_map(&self) -> Option<&'static str> {
        self.pack().is_none().then_some(self.suite_map)
    }

    /// The environment variable naming its virsh (test driver): `CPUFLEET_VIRSH_12_9`.
    pub fn virsh_env(&self) -> String {
        let name = self.version.as_str();
        format!("CPUFLEET_VIRSH_{}", name[..name.rfind('.').unwrap()].replace('.', "_"))
    }
}

/// The oracles built from upstream sources, used before the Debian suite's where a release has
/// them (today 11.3.0's virsh), and the public conformance pack of each release (every one but
/// 12.9.0's). Its QEMU-driver stacks are `upstream_stacks!`'s.
macro_rules! upstream {
    (virsh V11_3_0) => {
        Some(("/opt/libvirt-11.3.0/bin/virsh", "sh ../shared/oracles/libvirt-11.3.0.sh"))
    };
    (virsh $V:ident) => {
        None::<(&str, &str)>
    };
    // libvirt 12.x's sources are not in the package archive: no public conformance pack.
    (pack V12_9_0, $name:literal) => {
        None
    };
    (pack $V:ident, $name:literal) => {
        Some(concat!("libvirt-", $name))
    };
}

/// The QEMU-driver stacks built from upstream sources, by release: `V: NAME = { QemuStack
/// fields but `name` }, ...;` (NAME is the stack's [`QemuStack::name`], the module of its tests).
/// A release's stacks are these, first, then its Debian suite's (`distribution`). The expansion
/// is two macros of this file (the leading `$` lets it define them):
/// - `upstream_qemu!(V, SUITE_STACK)`: the release's `qemu` slice (`release_oracles!`);
/// - `for_each_upstream_stack!(V, CALLBACK)`: calls `CALLBACK! { V; NAME, ... }` with the names
///   of the release's upstream-built stacks (none: `CALLBACK! { V; }`), which `stack_modules!`
///   stamps the per-stack tests with.
macro_rules! upstream_stacks {
    ($d:tt $( $V:ident: $( $stack:ident = { $($field:ident: $value:expr),+ $(,)? } ),+ ; )*) => {
        macro_rules! upstream_qemu {
            $( ($V, $d suite:expr) => {
                &[ $( QemuStack { name: stringify!($stack), $($field: $value),+ }, )+ $d suite ]
            }; )*
            ($d V:ident, $d suite:expr) => {
                &[$d suite]
            };
        }
        #[allow(unused_macros)]
        macro_rules! for_each_upstream_stack {
            $( ($V, $d callback:ident) => {
                $d callback! { $V; $( $stack ),+ }
            }; )*
            ($d V:ident, $d callback:ident) => {
                $d callback! { $d V; }
            };
        }
    };
}

upstream_stacks! { $
    // libvirt 11.3.0's QEMU driver (built from its sources) with Debian 12's QEMU 7.2.
    V11_3_0: upstream_qemu_7_2 = {
        qemu: "7.2",
        virsh_qemu: Some("/opt/libvirt-11.3.0-qemu/bin/virsh-qemu"),
        root: EmbedRoot::VirshQemuRoot,
        install: "sh ../shared/oracles/libvirt-11.3.0-qemu-driver.sh",
    };
}

/// Stamps a test file's per-stack tests from the release table and the oracle table: one module
/// per release (`libvirt_V`, by `for_each_release!`), in it one per QEMU stack of the release
/// (`distribution`, its Debian suite's; then each `upstream_stacks!` row by name), each the
/// expansion of the file's own `stack_tests! { V, NAME }` (which defines `mod NAME`); and
/// `const TESTED_STACKS: [(LibvirtVersion, &[&str]); N]`, the names stamped per release, for
/// [`assert_stamped_stacks`]. Test names read `libvirt_11_3_0::upstream_qemu_7_2::TEST`. Include
/// this file with `#[macro_use]` to use it.
#[allow(unused_macros)]
macro_rules! stack_modules {
    () => {
        cpufleet_engine::for_each_release!(stack_modules_of_releases);
    };
}

/// `stack_modules!`'s per-release modules (a `for_each_release!` callback).
#[allow(unused_macros)]
macro_rules! stack_modules_of_releases {
    ($( ($V:ident, $tag:ident, $name:literal, $suite:literal, $qmaj:literal, $qmin:literal) ),+) => {
        $(
        mod $tag {
            for_each_upstream_stack!($V, stack_modules_of_release);
        }
        )+
        /// The QEMU stacks with tests in this file, by release (what `stack_modules!` stamped).
        const TESTED_STACKS: [(cpufleet_engine::LibvirtVersion, &[&str]); cpufleet_engine::LibvirtVersion::ALL.len()] =
            [$( (cpufleet_engine::LibvirtVersion::$V, $tag::STACKS) ),+];
    };
}

/// One release's stack modules (a `for_each_upstream_stack!` callback): `distribution`, then its
/// upstream-built stacks, and `STACKS`, their names.
#[allow(unused_macros)]
macro_rules! stack_modules_of_release {
    ($V:ident; $($stack:ident),*) => {
        stack_tests! { $V, distribution }
        $( stack_tests! { $V, $stack } )*
        /// The stacks of this release with tests in this module.
        pub const STACKS: &[&str] = &["distribution", $(stringify!($stack)),*];
    };
}

/// The QEMU stack of `version` named `name` ([`QemuStack::name`]); panics unless the oracle
/// table has exactly one.
pub fn qemu_stack(version: LibvirtVersion, name: &str) -> &'static QemuStack {
    let found: Vec<&QemuStack> = oracles(version).qemu.iter().filter(|q| q.name == name).collect();
    match found[..] {
        [q] => q,
        _ => panic!("{} QEMU stacks of libvirt {version} named {name} in the oracle table, not one", found.len()),
    }
}

/// Checks that `tested` (a file's `TESTED_STACKS`, what `stack_modules!` stamped) is the oracle
/// table's QEMU stacks both ways, each once: every stack of every release has its tests, every
/// module of tests names a stack of the table, one module per release in release order. `file`
/// names the test file in the panic.
pub fn assert_stamped_stacks(file: &str, tested: &[(LibvirtVersion, &[&str])]) {
    let versions: Vec<LibvirtVersion> = tested.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, LibvirtVersion::ALL, "{file}: one module of tests per release, in release order");
    for r in &RELEASE_ORACLES {
        let names = tested[r.version as usize].1;
        for q in r.qemu {
            let n = names.iter().filter(|n| **n == q.name).count();
            let module = format!("libvirt_{}::{}", r.version.as_str().replace('.', "_"), q.name);
            assert_eq!(
                n, 1,
                "{file}: {n} test modules for libvirt {} + QEMU {} ({module}), not one",
                r.version, q.qemu
            );
        }
        for name in names {
            let n = r.qemu.iter().filter(|q| q.name == *name).count();
            assert_eq!(
                n, 1,
                "{file}: tests of libvirt {}'s stack {name}: {n} such stacks in the oracle table, not one",
                r.version
            );
        }
    }
}

/// Whether `suite` is the system's own (Debian 12, `bookworm`): its oracles are the system's
/// packages, not a chroot. (A `const fn`: a forwarded `literal` fragment cannot be matched by a
/// macro arm.)
const fn is_system(suite: &str) -> bool {
    let (a, b) = (suite.as_bytes(), b"bookworm");
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A Debian suite's oracles: the system's for Debian 12 (`bookworm`), else the chroot
/// `/opt/debian-SUITE` that `debian-release.sh SUITE` builds.
macro_rules! suite {
    (virsh $s:literal) => {
        if is_system($s) {
            (None, "apt-get install -y --no-install-recommends libvirt-clients")
        } else {
            (Some(concat!("/opt/debian-", $s, "/bin/virsh")), concat!("sh ../shared/oracles/debian-release.sh ", $s))
        }
    };
    (map $s:literal) => {
        if is_system($s) {
            "/usr/share/libvirt/cpu_map"
        } else {
            concat!("/opt/debian-", $s, "/root/usr/share/libvirt/cpu_map")
        }
    };
    (qemu $s:literal, $qemu:expr) => {
        if is_system($s) {
            QemuStack {
                name: "distribution",
                qemu: $qemu,
                virsh_qemu: None,
                root: EmbedRoot::Uri,
                install: "sh ../shared/oracles/libvirt-qemu-driver.sh",
            }
        } else {
            QemuStack {
                name: "distribution",
                qemu: $qemu,
                virsh_qemu: Some(concat!("/opt/debian-", $s, "/bin/virsh-qemu")),
                root: EmbedRoot::ChrootEmbed,
                install: concat!("sh ../shared/oracles/debian-release.sh ", $s),
            }
        }
    };
}

macro_rules! release_oracles {
    ($( ($V:ident, $tag:ident, $name:literal, $suite:literal, $qmaj:literal, $qmin:literal) ),+) => {
        /// Every release's oracles, oldest first (the order of `LibvirtVersion::ALL`).
        pub const RELEASE_ORACLES: [ReleaseOracles; LibvirtVersion::ALL.len()] = [$(
            ReleaseOracles {
                version: LibvirtVersion::$V,
                pack: upstream!(pack $V, $name),
                suite_map: suite!(map $suite),
                virsh_default: match upstream!(virsh $V) {
                    Some((virsh, _)) => Some(virsh),
                    None => suite!(virsh $suite).0,
                },
                virsh_install: match upstream!(virsh $V) {
                    Some((_, install)) => install,
                    None => suite!(virsh $suite).1,
                },
                qemu: upstream_qemu!($V, suite!(qemu $suite, concat!($qmaj, ".", $qmin))),
            },
        )+];
    };
}

cpufleet_engine::for_each_release!(release_oracles);

// Row `i` is the release with discriminant `i`.
const _: () = {
    let mut i = 0;
    while i < RELEASE_ORACLES.len() {
        assert!(RELEASE_ORACLES[i].version as usize == i);
        i += 1;
    }
};

/// The oracles of `version`.
pub fn oracles(version: LibvirtVersion) -> &'static ReleaseOracles {
    &RELEASE_ORACLES[version as usize]
}

/// The held-out discipline of the differentials: fresh random cases every day. The seed of a run
/// is the UTC day number (days since 1970-01-01) mixed with `salt` (one per differential), unless
/// the environment variable `env` gives one (decimal or 0x-hex) to reproduce a failure. Every
/// differential prints the seed it used.
pub fn date_seed(env: &str, salt: u64) -> u64 {
    if let Ok(v) = std::env::var(env) {
        let v = v.trim().replace('_', "");
        let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        };
        return parsed.unwrap_or_else(|_| panic!("{env}={v:?} is not a number"));
    }
    let day = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    day.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt
}
