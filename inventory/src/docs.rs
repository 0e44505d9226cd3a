//! The two documents of an inventory, bytes to values: a host document (any host document the
//! engine's reader takes, or a `<cpudata>` CPUID dump) and a guest domain (`virsh dumpxml`).

use crate::error::Problem;
use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::hypervisor::{Accel, Hypervisor};
use cpufleet_engine::x86::{self, X86Data};
use cpufleet_engine::xml::{parse_cpuid_data, read_cpu_document, read_domain, DocKind, Limits, TypeHint};
use cpufleet_engine::{CpuDef, CpuMap, LibvirtVersion, Pos, XmlError, XmlErrorKind};

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
        // A capabilities document (or host <cpu>) whose host CPU names no model, as libvirt's
        // test driver reports it: said for what it is, not as a parse failure.
        _ if matches!(&err.kind, XmlErrorKind::Invalid(m) if m == NO_MODEL) => {
            Err(Problem::NoModel { pos: err.pos, test_driver: false })
        }
        _ => Err(Problem::Xml(err)),
    }
}

/// The engine reader's message (libvirt's own) for a host CPU without a model.
const NO_MODEL: &str = "Missing CPU model name";

/// A guest domain's name, CPU and `-cpu` settings ([`parse_guest`]).
pub type ParsedGuest = (String, Option<CpuDef>, DomainFeatures);

/// A guest domain as `virsh dumpxml` writes it: its `<name>`, its first `<cpu>`, read as a
/// guest CPU (`None`: no `<cpu>` element, libvirt's default CPU), and the domain settings that
/// reach QEMU's `-cpu` ([`DomainFeatures`]). Everything else is passed over.
pub fn parse_guest(bytes: &[u8], version: LibvirtVersion, limits: Limits) -> Result<ParsedGuest, XmlError> {
    let doc = read_domain(bytes, version, limits).map_err(|mut e| {
        if let XmlErrorKind::UnexpectedRoot { expected, .. } = &mut e.kind {
            *expected = "<domain> (virsh dumpxml)";
        }
        e
    })?;
    let at = |offset: usize, element: &str, kind| XmlError {
        pos: Pos::locate(bytes, offset),
        element: element.into(),
        kind,
    };
    match (doc.domain.name, doc.name_offset) {
        (Some(n), Some(o)) if n.trim().is_empty() => {
            Err(at(o, "name", XmlErrorKind::Invalid("empty domain name".into())))
        }
        (Some(n), _) => Ok((n, doc.domain.cpu, doc.domain.features)),
        (None, _) => Err(at(doc.offset, "domain", XmlErrorKind::MissingElement("name"))),
    }
}
