//! Reading libvirt's QEMU capabilities cache (`/var/cache/libvirt/qemu/capabilities/*.xml`,
//! `virQEMUCapsLoadCache`): for one accelerator, QEMU's host CPU expansion (`<hostCPU>` with its
//! `<property>` list) and QEMU's CPU model list (`<cpu>` with `usable` and `<blocker>`s). Spec:
//! `qemu-driver-cpu.md` §1.1. With the engine's cursor: positions, limits, no DTD.

use super::{from_qemu, Accel};
use crate::error::{XmlError, XmlErrorKind};
use crate::version::LibvirtVersion;
use crate::xml::attr::required;
use crate::xml::{Cursor, Elem, Limits, ModelListEntry};

/// One property of QEMU's static expansion of `host` (KVM) or `max` (TCG), every type: QEMU's
/// feature-name list is made of all of them (`virQEMUCapsGetCPUFeatures`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuProp {
    /// In libvirt's spelling (`pclmuldq`, `lahf_lm`, ...).
    pub name: String,
    /// `migratable='yes|no'` (None: no mark).
    pub migratable: Option<bool>,
}

/// The cache's data for one accelerator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuCaps {
    pub emulator: String,
    pub arch: String,
    pub accel: Accel,
    /// QEMU's model list in QEMU's order, blockers in libvirt's spelling.
    pub models: Vec<ModelListEntry>,
    pub props: Vec<QemuProp>,
    /// `<hostCPU migratability='yes'>`: QEMU gave migratability info.
    pub migratability: bool,
}

/// Reads the cache document `input` for accelerator `accel`. `arch`: the hypervisor's arch (from
/// its domcapabilities); a cache of another arch is an error at its `<arch>`.
pub fn parse_qemu_caps(
    input: &[u8],
    accel: Accel,
    arch: &str,
    version: LibvirtVersion,
    limits: Limits,
) -> Result<QemuCaps, XmlError> {
    let mut c = Cursor::new(input, limits)?;
    let mut out = None;
    c.roots(|c, root| {
        if root.name != "qemuCaps" {
            let kind = XmlErrorKind::UnexpectedRoot { found: root.name.clone(), expected: "<qemuCaps>" };
            return Err(c.err_elem(&root, kind));
        }
        if out.is_some() {
            return Err(c.err_elem(&root, XmlErrorKind::Syntax("extra content at the end of the document".into())));
        }
        out = Some(read_root(c, &root, accel, arch, version)?);
        Ok(())
    })?;
    out.ok_or_else(|| c.err_at(0, XmlErrorKind::MissingElement("qemuCaps")))
}

fn read_root(
    c: &mut Cursor,
    root: &Elem,
    accel: Accel,
    arch: &str,
    version: LibvirtVersion,
) -> Result<QemuCaps, XmlError> {
    let mut caps = QemuCaps {
        emulator: String::new(),
        arch: String::new(),
        accel,
        models: Vec::new(),
        props: Vec::new(),
        migratability: false,
    };
    let (mut seen_arch, mut seen_host) = (false, false);
    c.children(root, |c, e| {
        match e.name.as_str() {
            "emulator" => caps.emulator = c.text(&e)?,
            "arch" => {
                caps.arch = c.text(&e)?;
                seen_arch = true;
                if caps.arch != arch {
                    let msg = format!("QEMU capabilities for arch {}, but the hypervisor's arch is {arch}", caps.arch);
                    return Err(c.err_elem(&e, XmlErrorKind::Invalid(msg)));
                }
            }
            "hostCPU" if e.attr("type") == Some(accel.cache_type()) => {
                seen_host = true;
                caps.migratability = e.attr("migratability") == Some("yes");
                read_props(c, &e, version, &mut caps.props)?;
            }
            "cpu" if e.attr("type") == Some(accel.cache_type()) => {
                caps.models.push(read_model(c, &e, version)?);
            }
            _ => {}
        }
        Ok(())
    })?;
    if !seen_arch {
        return Err(c.err_elem(root, XmlErrorKind::MissingElement("arch")));
    }
    if !seen_host {
        let msg =
            format!("no <hostCPU type='{}'> (QEMU's host CPU expansion for {})", accel.cache_type(), accel.virttype());
        return Err(c.err_elem(root, XmlErrorKind::Invalid(msg)));
    }
    Ok(caps)
}

fn read_props(c: &mut Cursor, host: &Elem, version: LibvirtVersion, props: &mut Vec<QemuProp>) -> Result<(), XmlError> {
    c.children(host, |c, p| {
        if p.name != "property" {
            return Ok(());
        }
        let name = required(c, &p, "name")?;
        let migratable = match p.attr("migratable") {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(v) => return Err(crate::xml::attr::invalid(c, &p, "migratable", v, "yes or no")),
        };
        props.push(QemuProp { name: from_qemu(version, name).to_string(), migratable });
        Ok(())
    })
}

fn read_model(c: &mut Cursor, e: &Elem, version: LibvirtVersion) -> Result<ModelListEntry, XmlError> {
    let name = required(c, e, "name")?.to_string();
    let usable = match e.attr("usable") {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let deprecated = e.attr("deprecated") == Some("yes");
    let mut blockers = Vec::new();
    c.children(e, |c, b| {
        if b.name == "blocker" {
            blockers.push(from_qemu(version, required(c, &b, "name")?).to_string());
        }
        Ok(())
    })?;
    Ok(ModelListEntry { name, usable, blockers, deprecated })
}
