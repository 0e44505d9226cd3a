//! Bad hypervisor documents (`--domcaps`, `--qemu-caps`, `--caps`) for every command that reads
//! them (`hypervisor-compare`, `hypervisor-baseline`, `start`): exit 2 and exactly one line on
//! stderr naming the file and the position (`LINE:COL`) the reader gives; never a panic.

#[path = "support/bin.rs"]
mod bin;

use bin::{cpufleet, stderr};
use std::path::{Path, PathBuf};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cpufleet-hv-bad-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A KVM `virsh domcapabilities` (libvirt 11.3.0 style); `arch` is its `<arch>` line.
fn domcaps(domain: &str, arch: &str) -> String {
    format!(
        "<domainCapabilities>\n  <path>/usr/bin/qemu-system-x86_64</path>\n  <domain>{domain}</domain>\n  <machine>pc-q35-9.2</machine>\n{arch}  <cpu>\n    <mode name='host-passthrough' supported='yes'/>\n    <mode name='host-model' supported='yes'>\n      <model fallback='forbid'>Skylake-Client-IBRS</model>\n      <vendor>Intel</vendor>\n      <feature policy='require' name='hypervisor'/>\n    </mode>\n    <mode name='custom' supported='yes'>\n      <model usable='yes' vendor='Intel'>Skylake-Client-IBRS</model>\n      <model usable='yes' vendor='unknown'>qemu64</model>\n    </mode>\n  </cpu>\n</domainCapabilities>\n"
    )
}

/// libvirt's QEMU capabilities cache of the same QEMU (KVM); `extra` goes inside `<hostCPU>`.
fn qemu_caps(arch: &str, extra: &str) -> String {
    format!(
        "<qemuCaps>\n  <emulator>/usr/bin/qemu-system-x86_64</emulator>\n  <arch>{arch}</arch>\n  <hostCPU type='kvm' migratability='yes'>\n    <property name='sse' type='boolean' value='true' migratable='yes'/>\n{extra}  </hostCPU>\n  <cpu type='kvm' name='qemu64' usable='yes'/>\n</qemuCaps>\n"
    )
}

const CAPS: &str = "<capabilities>\n  <host>\n    <cpu>\n      <arch>x86_64</arch>\n      <model>Skylake-Client-IBRS</model>\n      <vendor>Intel</vendor>\n      <signature family='6' model='94' stepping='3'/>\n    </cpu>\n  </host>\n</capabilities>\n";
const GUEST: &str = "<cpu match='exact'>\n  <model>qemu64</model>\n</cpu>\n";

/// Which option gets the bad document.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Domcaps,
    QemuCaps,
    Caps,
}

/// Runs every command with the good documents except `slot`, which gets `bad`; each must exit 2
/// with one stderr line naming the bad file at `pos` (`LINE:COL`) and saying `says`.
fn check(name: &str, slot: Slot, bad: &str, pos: &str, says: &str) {
    let s = Scratch::new(name);
    let good_dc = s.file("domcaps.xml", &domcaps("kvm", "  <arch>x86_64</arch>\n"));
    let good_qc = s.file("qemu-caps.xml", &qemu_caps("x86_64", ""));
    let good_caps = s.file("caps.xml", CAPS);
    let guest = s.file("guest.xml", GUEST);
    let bad_file = s.file(&format!("bad-{name}.xml"), bad);
    let pick = |which: Slot, good: &Path| {
        if matches!(
            (which, slot),
            (Slot::Domcaps, Slot::Domcaps) | (Slot::QemuCaps, Slot::QemuCaps) | (Slot::Caps, Slot::Caps)
        ) {
            bad_file.clone()
        } else {
            good.to_path_buf()
        }
    };
    let (dc, qc, caps) = (pick(Slot::Domcaps, &good_dc), pick(Slot::QemuCaps, &good_qc), pick(Slot::Caps, &good_caps));
    let (dc, qc, caps, g) =
        (dc.to_str().unwrap(), qc.to_str().unwrap(), caps.to_str().unwrap(), guest.to_str().unwrap());
    let mut runs: Vec<Vec<&str>> = vec![
        vec!["start", "--domcaps", dc, "--qemu-caps", qc, "--caps", caps, g],
        vec!["hypervisor-compare", "--domcaps", dc, "--qemu-caps", qc, "--caps", caps, g],
    ];
    if !matches!(slot, Slot::Caps) {
        runs.push(vec!["hypervisor-baseline", "--domcaps", dc, "--qemu-caps", qc, g]);
    }
    for args in runs {
        let o = cpufleet(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {args:?}: one line expected: {err}");
        let want = format!("{}: {pos}", bad_file.display());
        assert!(err.contains(&want), "{name}: {args:?}: expected '{want}' in: {err}");
        assert!(err.contains(says), "{name}: {args:?}: expected '{says}' in: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn the_good_documents_are_good() {
    let s = Scratch::new("good");
    let dc = s.file("domcaps.xml", &domcaps("kvm", "  <arch>x86_64</arch>\n"));
    let qc = s.file("qemu-caps.xml", &qemu_caps("x86_64", ""));
    let caps = s.file("caps.xml", CAPS);
    let g = s.file("guest.xml", GUEST);
    let (dc, qc, caps, g) = (dc.to_str().unwrap(), qc.to_str().unwrap(), caps.to_str().unwrap(), g.to_str().unwrap());
    let o = cpufleet(&["start", "--domcaps", dc, "--qemu-caps", qc, "--caps", caps, "--qemu-argv", g]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bin::stdout(&o), "qemu64\n");
}

#[test]
fn bad_domcapabilities() {
    let arch = "  <arch>x86_64</arch>\n";
    check("dc-truncated", Slot::Domcaps, &domcaps("kvm", arch)[..300], "9:51:", "tag not closed");
    check("dc-no-arch", Slot::Domcaps, &domcaps("kvm", ""), "1:1:", "arch");
    check("dc-bad-domain", Slot::Domcaps, &domcaps("xen", arch), "1:1:", "kvm or qemu");
    check("dc-not-domcaps", Slot::Domcaps, GUEST, "1:1:", "domainCapabilities");
    check("dc-garbage", Slot::Domcaps, "\u{1}\u{2}garbage", "1:1:", "");
    let bad_policy = domcaps("kvm", arch).replace("policy='require'", "policy='sometimes'");
    check("dc-bad-policy", Slot::Domcaps, &bad_policy, "11:7:", "sometimes");
}

#[test]
fn bad_qemu_capabilities_caches() {
    check("qc-truncated", Slot::QemuCaps, &qemu_caps("x86_64", "")[..200], "6:2:", "<hostCPU> is not closed");
    let bad_mark = "    <property name='invtsc' type='boolean' value='true' migratable='maybe'/>\n";
    check("qc-bad-migratable", Slot::QemuCaps, &qemu_caps("x86_64", bad_mark), "6:5:", "maybe");
    check("qc-other-arch", Slot::QemuCaps, &qemu_caps("aarch64", ""), "3:3:", "aarch64");
    // The cache folder also holds qemu-system-i386's cache: refused at its <arch>, and the help
    // says which file to give instead of a glob that matches both.
    check("qc-i386-binary", Slot::QemuCaps, &qemu_caps("i686", ""), "3:3:", "i686");
    let help = bin::stdout(&cpufleet(&["hypervisor-compare", "--help"]));
    assert!(help.contains("whose <emulator> is the domcapabilities' <path>"), "{help}");
    assert!(!help.contains("capabilities/*.xml):"), "{help}");
    let no_host = qemu_caps("x86_64", "").replace("type='kvm' migratability", "type='tcg' migratability");
    check("qc-no-kvm-host-cpu", Slot::QemuCaps, &no_host, "1:1:", "hostCPU");
    check("qc-not-a-cache", Slot::QemuCaps, CAPS, "1:1:", "qemuCaps");
    check(
        "qc-no-name",
        Slot::QemuCaps,
        &qemu_caps("x86_64", "    <property type='boolean' value='true'/>\n"),
        "6:5:",
        "name",
    );
}

#[test]
fn bad_capabilities() {
    check("caps-truncated", Slot::Caps, &CAPS[..120], "6:20:", "<vendor> is not closed");
    check("caps-not-capabilities", Slot::Caps, GUEST, "1:1:", "capabilities");
    check(
        "caps-unknown-model",
        Slot::Caps,
        &CAPS.replace("Skylake-Client-IBRS", "Skylake-Nope"),
        "3:5:",
        "Skylake-Nope",
    );
}
