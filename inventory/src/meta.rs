//! A host's metadata file, `DIR/POOL/HOST.meta.toml`, as `cpufleet collect` writes it: which
//! libvirt and hypervisor answered, the host name libvirt reports, when and from which URI
//! (without credentials) the host's files were collected. Nothing secret is in it.
//!
//! ```toml
//! # cpufleet collect
//! format = 1
//! libvirt = "9.0.0"
//! hypervisor = "QEMU"
//! hypervisor_version = "7.2.0"
//! hostname = "host7"
//! collected = "2026-12-06T23:10:00Z"
//! uri = "qemu+ssh://host7/system"
//! domcaps = "kvm"
//! ```
//!
//! `libvirt` must be a release cpufleet supports ([`LibvirtVersion::ALL`]); another release is
//! an error naming the file, never mapped to a neighbour.

use cpufleet_engine::LibvirtVersion;
use serde::{Deserialize, Serialize};

/// The suffix of a host's metadata file beside its `HOST.xml`.
pub const META_SUFFIX: &str = ".meta.toml";

/// The layout version written in [`HostMeta::format`].
pub const FORMAT: u32 = 1;

/// What `HOST.meta.toml` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostMeta {
    /// The layout version ([`FORMAT`]).
    pub format: u32,
    /// The host's libvirt release, as `virConnectGetLibVersion` gives it (`9.0.0`).
    pub libvirt: String,
    /// The hypervisor driver's name (`virConnectGetType`: `QEMU`, `Test`).
    pub hypervisor: String,
    /// The hypervisor's version (`virConnectGetVersion`: QEMU's release, `7.2.0`).
    pub hypervisor_version: String,
    /// The host name libvirt reports (`virConnectGetHostname`).
    pub hostname: String,
    /// When the host was collected, UTC, RFC 3339 (`2026-12-06T23:10:00Z`).
    pub collected: String,
    /// The URI it was collected from, without user name, password or query parameters.
    pub uri: String,
    /// Where `HOST.domcaps.xml` came from: `kvm` (`virsh domcapabilities --virttype kvm`), or
    /// `none: …` with the reason it was not written.
    pub domcaps: String,
}

impl HostMeta {
    /// The file's text (TOML, keys in a fixed order, a comment line first).
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("plain strings and numbers serialize");
        format!("# cpufleet collect: the host's libvirt, hypervisor and collection\n{body}")
    }

    /// Reads a metadata file's bytes; the error is the reason (line and column when TOML gives
    /// them), for `FILE: reason`.
    pub fn parse(bytes: &[u8]) -> Result<HostMeta, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 (byte {})", e.valid_up_to()))?;
        let meta: HostMeta = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
                format!("{line}:{col}: ")
            });
            format!("{}{}", at.unwrap_or_default(), e.message())
        })?;
        if meta.format != FORMAT {
            return Err(format!("format = {}: this cpufleet reads format {FORMAT}", meta.format));
        }
        Ok(meta)
    }

    /// The host's libvirt as a supported release, or why not.
    pub fn release(&self) -> Result<LibvirtVersion, String> {
        LibvirtVersion::ALL.into_iter().find(|v| v.as_str() == self.libvirt).ok_or_else(|| {
            format!(
                "libvirt = \"{}\": a release cpufleet does not know (it follows {}); collect with a supported \
                 release or remove this file to simulate the host with --libvirt",
                self.libvirt,
                LibvirtVersion::names()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HostMeta {
        HostMeta {
            format: FORMAT,
            libvirt: "9.0.0".into(),
            hypervisor: "QEMU".into(),
            hypervisor_version: "7.2.0".into(),
            hostname: "h\"7".into(),
            collected: "2026-12-06T23:10:00Z".into(),
            uri: "qemu+ssh://h7/system".into(),
            domcaps: "kvm".into(),
        }
    }

    #[test]
    fn writes_and_reads_back() {
        let m = sample();
        assert_eq!(HostMeta::parse(m.to_toml().as_bytes()), Ok(m.clone()));
        assert_eq!(m.release(), Ok(LibvirtVersion::V9_0_0));
    }

    #[test]
    fn unknown_release_and_bad_files_are_named() {
        let m = HostMeta { libvirt: "10.0.0".into(), ..sample() };
        let e = m.release().unwrap_err();
        assert!(e.contains("10.0.0") && e.contains("9.0.0, 11.3.0, 12.9.0"), "{e}");
        let e = HostMeta::parse(b"format = 1\nlibvirt = 9\n").unwrap_err();
        assert!(e.starts_with("2:11: "), "{e}");
        let e = HostMeta::parse(sample().to_toml().replace("format = 1", "format = 2").as_bytes()).unwrap_err();
        assert!(e.contains("format = 2"), "{e}");
        let e = HostMeta::parse(format!("{}password = \"x\"\n", sample().to_toml()).as_bytes()).unwrap_err();
        assert!(e.contains("password"), "{e}");
    }
}
