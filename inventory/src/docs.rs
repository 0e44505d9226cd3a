//! The two documents of an inventory, bytes to values: a host document (any host document the
//! engine's reader takes, or a `<cpudata>` CPUID dump) and a guest domain (`virsh dumpxml`).

use crate::Problem;
use cpufleet_engine::hypervisor::{Accel, Hypervisor};
use cpufleet_engine::x86::{self, X86Data};
use cpufleet_engine::xml::read::read_cpu_elem;
use cpufleet_engine::xml::{parse_cpuid_data, read_cpu_document, Cursor, DocKind, Limits, TypeHint};
use cpufleet_engine::{CpuDef, CpuMap, LibvirtVersion, XmlError, XmlErrorKind};

/// The one host CPU of a host file, read as `cpufleet baseline` (and `virsh cpu-baseline`)
/// reads its inputs: every CPU typed as a host CPU (`virsh capabilities` host/cpu, bare host
/// `<cpu>` elements). A `virsh domcapabilities` document is the CPU QEMU/KVM offers guests on
/// that host: its host-model CPU as a host CPU of the document's `<arch>`
/// ([`Hypervisor::host_model_as_host`]). A `<cpudata>` dump is decoded with `x86::decode_host`
/// under the map's version. Exactly one CPU is accepted.
pub fn parse_host(bytes: &[u8], map: &CpuMap, limits: Limits) -> Result<CpuDef, Problem> {
    parse_host_doc(bytes, map, limits).map(|(cpu, _)| cpu)
}

/// [`parse_host`], plus the hypervisor itself when the file is a `virsh domcapabilities`
/// document of KVM: the host's own QEMU/KVM view (host-model CPU, model list), which the
/// simulator starts guests against.
pub fn parse_host_doc(
    bytes: &[u8],
    map: &CpuMap,
    limits: Limits,
) -> Result<(CpuDef, Option<Box<Hypervisor>>), Problem> {
    let version = map.version();
    let err = match read_cpu_document(bytes, TypeHint::Host, version, limits) {
        Ok(doc) if doc.kinds.contains(&DocKind::Domain) => return Err(Problem::DomainAsHost),
        Ok(mut doc) => {
            return match doc.cpus.len() {
                0 => Err(Problem::NoCpu),
                1 => Ok((doc.cpus.remove(0), None)),
                n => Err(Problem::SeveralCpus(n)),
            }
        }
        Err(e) => e,
    };
    if matches!(&err.kind, XmlErrorKind::UnexpectedRoot { found, .. } if found == "cpudata") {
        let data = parse_cpuid_data(bytes, limits).map_err(Problem::Xml)?;
        let cpu = x86::decode_host(&map.x86, &X86Data::from_cpuid(&map.x86, &data)).map_err(Problem::Decode)?;
        return Ok((cpu, None));
    }
    // A guest domain read as a host fails on its guest-only attributes; say what it is instead
    // (only on this error path, so the common path reads each file once). A domcapabilities
    // host-model CPU has no <arch> of its own, so it fails as a host CPU too: it is the CPU
    // QEMU/KVM offers guests on that host, with the document's <arch>.
    match read_cpu_document(bytes, TypeHint::Auto, version, limits) {
        Ok(doc) if doc.kinds.contains(&DocKind::Domain) => Err(Problem::DomainAsHost),
        Ok(doc) if doc.kinds == [DocKind::DomainCapabilities] => {
            let hv = Hypervisor::from_domcaps(map, bytes, limits).map_err(Problem::Xml)?;
            if hv.accel != Accel::Kvm {
                return Err(Problem::NotKvm);
            }
            let host = hv.host_model_as_host(map).map_err(Problem::HostModel)?.ok_or(Problem::NoCpu)?;
            Ok((host, Some(Box::new(hv))))
        }
        _ => Err(Problem::Xml(err)),
    }
}

/// A guest domain as `virsh dumpxml` writes it: its `<name>` and its first `<cpu>`, read as a
/// guest CPU (`None`: no `<cpu>` element, libvirt's default CPU). Everything else is passed over.
pub fn parse_guest(
    bytes: &[u8],
    version: LibvirtVersion,
    limits: Limits,
) -> Result<(String, Option<CpuDef>), XmlError> {
    let mut c = Cursor::new(bytes, limits)?;
    let mut root_seen = false;
    let mut name: Option<String> = None;
    let mut cpu = None;
    c.roots(|c, root| {
        if root_seen {
            return Err(c.err_elem(&root, XmlErrorKind::Syntax("extra content at the end of the document".into())));
        }
        root_seen = true;
        if root.name != "domain" {
            let kind = XmlErrorKind::UnexpectedRoot { found: root.name.clone(), expected: "<domain> (virsh dumpxml)" };
            return Err(c.err_elem(&root, kind));
        }
        c.children(&root, |c, e| {
            match e.name.as_str() {
                "name" if name.is_none() => {
                    let text = c.text(&e)?;
                    if text.trim().is_empty() {
                        return Err(c.err_elem(&e, XmlErrorKind::Invalid("empty domain name".into())));
                    }
                    name = Some(text);
                }
                "cpu" if cpu.is_none() => cpu = Some(read_cpu_elem(c, &e, TypeHint::Guest, version)?),
                _ => {}
            }
            Ok(())
        })?;
        if name.is_none() {
            return Err(c.err_elem(&root, XmlErrorKind::MissingElement("name")));
        }
        Ok(())
    })?;
    match name {
        Some(n) => Ok((n, cpu)),
        None => Err(c.err_at(0, XmlErrorKind::MissingElement("domain"))),
    }
}
