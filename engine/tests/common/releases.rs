//! The oracles of each supported libvirt release, one row per release: its own conformance pack
//! (where libvirt's source of that release gave one), its CPU map as installed, its real `virsh`
//! (test driver) and its QEMU-driver stacks. Adding a release is a row here, a row in the
//! engine's release table (`RELEASES`, `engine/src/version.rs`) and in the embedded maps, and the
//! rules that truly differ.
//! Test files include this file with `#[path]`; nothing here runs anything.
#![allow(dead_code)]

use cpufleet_engine::LibvirtVersion;

/// One QEMU-driver stack of a release: libvirt's QEMU driver with one QEMU.
#[derive(Clone, Copy, Debug)]
pub struct QemuStack {
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

/// The oracles of one release.
#[derive(Clone, Copy, Debug)]
pub struct ReleaseOracles {
    pub version: LibvirtVersion,
    /// The release's public conformance pack under `../shared/conformance/` (its own test cases,
    /// CPUID dumps and map), or None: libvirt 12.x's sources are not in the package archive, so
    /// 12.9.0's rules are proven by differential against its binaries only.
    pub pack: Option<&'static str>,
    /// The release's `cpu_map/` where no pack holds it: the installed package's files.
    pub installed_map: Option<&'static str>,
    /// The environment variable naming its virsh (test driver).
    pub virsh_env: &'static str,
    /// Its virsh when the variable is unset; None: `virsh` on PATH.
    pub virsh_default: Option<&'static str>,
    /// How to install that virsh.
    pub virsh_install: &'static str,
    /// Its QEMU-driver stacks.
    pub qemu: &'static [QemuStack],
}

/// Every release's oracles, oldest first (the order of `LibvirtVersion::ALL`).
pub const RELEASE_ORACLES: [ReleaseOracles; LibvirtVersion::ALL.len()] = [
    ReleaseOracles {
        version: LibvirtVersion::V9_0_0,
        pack: Some("libvirt-9.0.0"),
        installed_map: None,
        virsh_env: "CPUFLEET_VIRSH_9_0",
        virsh_default: None,
        virsh_install: "apt-get install -y --no-install-recommends libvirt-clients",
        qemu: &[QemuStack {
            qemu: "7.2",
            virsh_qemu: None,
            root: EmbedRoot::Uri,
            install: "sh ../shared/oracles/libvirt-qemu-driver.sh",
        }],
    },
    ReleaseOracles {
        version: LibvirtVersion::V11_3_0,
        pack: Some("libvirt-11.3.0"),
        installed_map: None,
        virsh_env: "CPUFLEET_VIRSH_11_3",
        virsh_default: Some("/opt/libvirt-11.3.0/bin/virsh"),
        virsh_install: "sh ../shared/oracles/libvirt-11.3.0.sh",
        qemu: &[
            QemuStack {
                qemu: "7.2",
                virsh_qemu: Some("/opt/libvirt-11.3.0-qemu/bin/virsh-qemu"),
                root: EmbedRoot::VirshQemuRoot,
                install: "sh ../shared/oracles/libvirt-11.3.0-qemu-driver.sh",
            },
            QemuStack {
                qemu: "10.0",
                virsh_qemu: Some("/opt/debian-trixie/bin/virsh-qemu"),
                root: EmbedRoot::ChrootEmbed,
                install: "sh ../shared/oracles/debian-release.sh trixie",
            },
        ],
    },
    ReleaseOracles {
        version: LibvirtVersion::V12_9_0,
        pack: None,
        installed_map: Some("/opt/debian-trixie-backports/root/usr/share/libvirt/cpu_map"),
        virsh_env: "CPUFLEET_VIRSH_12_9",
        virsh_default: Some("/opt/debian-trixie-backports/bin/virsh"),
        virsh_install: "sh ../shared/oracles/debian-release.sh trixie-backports",
        qemu: &[QemuStack {
            qemu: "11.1",
            virsh_qemu: Some("/opt/debian-trixie-backports/bin/virsh-qemu"),
            root: EmbedRoot::ChrootEmbed,
            install: "sh ../shared/oracles/debian-release.sh trixie-backports",
        }],
    },
];

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
