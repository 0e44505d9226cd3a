//! Reading one `<cpu>` element (`virCPUDefParseXML`) as the release it is read for does, with
//! the type hint and the spans the documents ([`super::read_cpu_document`]) need.

use super::attr::{invalid, required};
use super::cursor::{Cursor, Elem, Limits};
use super::num::{parse_u32_dec, parse_u64_dec};
use crate::cpu::*;
use crate::error::{XmlError, XmlErrorKind};
use crate::version::LibvirtVersion;
use std::collections::HashSet;

/// How to type a CPU being read (`virCPUType` argument of the parser).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeHint {
    /// Host when the `<cpu>` has an `<arch>` child, guest otherwise; a capabilities document's
    /// CPU is a host CPU and a domain's a guest CPU whatever they hold.
    Auto,
    /// As virsh sends CPUs to libvirt (`virshExtractCPUDefXMLs`), which reads each one with
    /// `VIR_CPU_TYPE_AUTO`: every CPU, a capabilities or domain one too, is a host CPU when it
    /// has an `<arch>` and a guest CPU otherwise. The CPU input of `cpu-compare` and the
    /// hypervisor commands.
    AsSent,
    Host,
    Guest,
}

/// Architecture names libvirt knows (`virArchFromString`).
pub const KNOWN_ARCHES: &[&str] = &[
    "i686",
    "x86_64",
    "ppc",
    "ppc64",
    "ppc64le",
    "ppcle",
    "ppcemb",
    "aarch64",
    "armv6l",
    "armv7l",
    "armv7b",
    "alpha",
    "cris",
    "ia64",
    "lm32",
    "m68k",
    "microblaze",
    "microblazeel",
    "mips",
    "mipsel",
    "mips64",
    "mips64el",
    "openrisc",
    "parisc",
    "parisc64",
    "riscv32",
    "riscv64",
    "s390",
    "s390x",
    "sh4",
    "sh4eb",
    "sparc",
    "sparc64",
    "unicore32",
    "xtensa",
    "xtensaeb",
    "loongarch64",
];

fn uint_attr(c: &Cursor, e: &Elem, name: &'static str, required: bool) -> Result<Option<u32>, XmlError> {
    match e.attr(name) {
        None if required => Err(c.err_elem(e, XmlErrorKind::MissingAttribute(name))),
        None => Ok(None),
        Some(v) => {
            parse_u32_dec(v).map(Some).ok_or_else(|| invalid(c, e, name, v, "an unsigned decimal number below 2^32"))
        }
    }
}

#[derive(Default)]
struct Raw {
    arch: Option<String>,
    model: Option<(Elem, String)>,
    vendor: Option<String>,
    microcode: Option<Elem>,
    signature: Option<Elem>,
    counter: Option<Elem>,
    topology: Option<Elem>,
    caches: Vec<Elem>,
    maxphysaddr: Option<Elem>,
    features: Vec<Elem>,
}

/// Reads the `<cpu>` element `cpu_elem` (the cursor is just past its start tag).
/// `version` selects the parser's rules (libvirt 11.3.0 reads `clusters`,
/// `deprecated_features` and `<maxphysaddr limit>`, which 9.0.0 ignores).
pub fn read_cpu_elem(
    c: &mut Cursor,
    cpu_elem: &Elem,
    hint: TypeHint,
    version: LibvirtVersion,
) -> Result<CpuDef, XmlError> {
    read_cpu_elem_spanned(c, cpu_elem, hint, version).map(|(cpu, _)| cpu)
}

/// Where a CPU and its named parts are in the document (byte offsets of their `<`), so that an
/// operation's error about a name (unknown model or feature) can point at it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CpuSpan {
    /// The `<cpu>` element.
    pub offset: usize,
    /// The `<model>` element, if any.
    pub model: Option<usize>,
    /// The `<feature>` elements: name and offset, in document order.
    pub features: Vec<(String, usize)>,
    /// Whether a `<feature>` has no `policy` attribute (how libvirt 11.3.0's virsh tells a host
    /// CPU definition given to `hypervisor-cpu-compare`/`-baseline`).
    pub unpoliced_feature: bool,
}

impl CpuSpan {
    /// Offset of the element that names `name`: the model, else the first feature of that name.
    pub fn of_name(&self, cpu: &CpuDef, name: &str) -> Option<usize> {
        if cpu.model.as_deref() == Some(name) {
            return self.model;
        }
        self.features.iter().find(|(n, _)| n == name).map(|&(_, o)| o)
    }
}

/// [`read_cpu_elem`], plus where the CPU's model and features are.
pub fn read_cpu_elem_spanned(
    c: &mut Cursor,
    cpu_elem: &Elem,
    hint: TypeHint,
    version: LibvirtVersion,
) -> Result<(CpuDef, CpuSpan), XmlError> {
    let mut raw = Raw::default();
    let max_features = c.limits.max_features;
    c.children(cpu_elem, |c, e| {
        match e.name.as_str() {
            "arch" if raw.arch.is_none() => raw.arch = Some(c.text(&e)?),
            "model" if raw.model.is_none() => {
                let t = c.text(&e)?;
                raw.model = Some((e, t));
            }
            "vendor" if raw.vendor.is_none() => raw.vendor = Some(c.text(&e)?),
            "microcode" if raw.microcode.is_none() => raw.microcode = Some(e),
            "signature" if raw.signature.is_none() => raw.signature = Some(e),
            "counter" if raw.counter.is_none() && e.attr("name") == Some("tsc") => raw.counter = Some(e),
            "topology" if raw.topology.is_none() => raw.topology = Some(e),
            "cache" => raw.caches.push(e),
            "maxphysaddr" if raw.maxphysaddr.is_none() => raw.maxphysaddr = Some(e),
            "feature" => {
                if raw.features.len() >= max_features {
                    return Err(
                        c.err_elem(&e, XmlErrorKind::TooMany { what: "features in one CPU", limit: max_features })
                    );
                }
                raw.features.push(e)
            }
            _ => {}
        }
        Ok(())
    })?;
    let span = CpuSpan {
        offset: cpu_elem.offset,
        model: raw.model.as_ref().map(|(e, _)| e.offset),
        features: raw.features.iter().map(|e| (e.attr("name").unwrap_or_default().to_string(), e.offset)).collect(),
        unpoliced_feature: raw.features.iter().any(|e| e.attr("policy").is_none()),
    };
    build_cpu(c, cpu_elem, raw, hint, version).map(|cpu| (cpu, span))
}

fn build_cpu(c: &Cursor, ce: &Elem, raw: Raw, hint: TypeHint, version: LibvirtVersion) -> Result<CpuDef, XmlError> {
    let v11 = version.at_least_11_3();
    let bad = |msg: &str| c.err_elem(ce, XmlErrorKind::Invalid(msg.to_string()));
    let cpu_type = match hint {
        TypeHint::Auto | TypeHint::AsSent => {
            if raw.arch.is_some() {
                if ce.attr("match").is_some() {
                    return Err(bad("'arch' element cannot be used inside 'cpu' element with 'match' attribute'"));
                }
                CpuType::Host
            } else {
                CpuType::Guest
            }
        }
        TypeHint::Host => CpuType::Host,
        TypeHint::Guest => CpuType::Guest,
    };
    let mut cpu = CpuDef::new(cpu_type);
    // In libvirt's order: root attributes, host-only children, model and vendor, topology /
    // cache / maxphysaddr, then the features.
    read_root_attrs(c, ce, &mut cpu, v11)?;
    read_host_children(c, ce, &raw, &mut cpu)?;
    read_model(c, ce, &raw, &mut cpu)?;
    read_layout(c, &raw, &mut cpu, v11)?;
    read_features(c, ce, &raw, &mut cpu)?;
    Ok(cpu)
}

/// `mode` and, for a guest, `match`, `check`, `deprecated_features` (11.3.0) and `migratable`.
fn read_root_attrs(c: &Cursor, ce: &Elem, cpu: &mut CpuDef, v11: bool) -> Result<(), XmlError> {
    let bad = |msg: &str| c.err_elem(ce, XmlErrorKind::Invalid(msg.to_string()));
    if let Some(m) = ce.attr("mode") {
        if cpu.cpu_type == CpuType::Host {
            return Err(bad("Attribute mode is only allowed for guest CPU"));
        }
        cpu.mode = CpuMode::parse(m)
            .ok_or_else(|| invalid(c, ce, "mode", m, "custom, host-model, host-passthrough or maximum"))?;
    }
    if cpu.cpu_type == CpuType::Guest {
        if let Some(m) = ce.attr("match") {
            cpu.match_ = CpuMatch::parse(m).ok_or_else(|| invalid(c, ce, "match", m, "minimum, exact or strict"))?;
        }
        if let Some(v) = ce.attr("check") {
            cpu.check = Some(CpuCheck::parse(v).ok_or_else(|| invalid(c, ce, "check", v, "none, partial or full"))?);
        }
        // libvirt 11.3.0 (`virCPUDefParseXML`): `deprecated_features='on|off'` on a guest CPU;
        // any other value, `default` included, is an error. 9.0.0 does not know it.
        if let (true, Some(v)) = (v11, ce.attr("deprecated_features")) {
            cpu.deprecated_features = Some(match v {
                "on" => true,
                "off" => false,
                _ => return Err(invalid(c, ce, "deprecated_features", v, "on or off")),
            });
        }
        if let Some(v) = ce.attr("migratable") {
            if !matches!(cpu.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
                return Err(bad("Attribute migratable is only allowed for 'host-passthrough' / 'maximum' CPU mode"));
            }
            cpu.migratable = Some(match v {
                "on" => true,
                "off" => false,
                _ => return Err(invalid(c, ce, "migratable", v, "on or off")),
            });
        }
    }
    Ok(())
}

/// A host CPU's `<arch>` (required), microcode, signature and TSC counter; a guest's `<arch>`.
fn read_host_children(c: &Cursor, ce: &Elem, raw: &Raw, cpu: &mut CpuDef) -> Result<(), XmlError> {
    let bad = |msg: &str| c.err_elem(ce, XmlErrorKind::Invalid(msg.to_string()));
    if cpu.cpu_type == CpuType::Host {
        let arch = raw.arch.as_deref().filter(|a| !a.is_empty()).ok_or_else(|| bad("Missing CPU architecture"))?;
        if !KNOWN_ARCHES.contains(&arch) {
            return Err(bad(&format!("Unknown architecture {arch}")));
        }
        cpu.arch = Some(arch.to_string());
        if let Some(e) = &raw.microcode {
            cpu.microcode = uint_attr(c, e, "version", true)?;
        }
        if let Some(e) = &raw.signature {
            cpu.signature = Some(Signature {
                family: uint_attr(c, e, "family", true)?.unwrap_or(0),
                model: uint_attr(c, e, "model", true)?.unwrap_or(0),
                stepping: uint_attr(c, e, "stepping", false)?.unwrap_or(0),
            });
        }
        if let Some(e) = &raw.counter {
            let f = required(c, e, "frequency")?;
            let frequency =
                parse_u64_dec(f).ok_or_else(|| invalid(c, e, "frequency", f, "an unsigned decimal number"))?;
            let scaling = match e.attr("scaling") {
                None => None,
                Some("yes") => Some(true),
                Some("no") => Some(false),
                Some(v) => return Err(invalid(c, e, "scaling", v, "yes or no")),
            };
            cpu.tsc = Some(TscCounter { frequency, scaling });
        }
    } else if let Some(a) = raw.arch.as_deref() {
        cpu.arch = Some(a.to_string());
    }
    Ok(())
}

/// `<model>` (with a guest's `fallback` and `vendor_id`) and `<vendor>`.
fn read_model(c: &Cursor, ce: &Elem, raw: &Raw, cpu: &mut CpuDef) -> Result<(), XmlError> {
    let bad = |msg: &str| c.err_elem(ce, XmlErrorKind::Invalid(msg.to_string()));
    if let Some((e, text)) = &raw.model {
        if !text.is_empty() {
            cpu.model = Some(text.clone());
        }
        if cpu.cpu_type == CpuType::Guest && !matches!(cpu.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
            if let Some(f) = e.attr("fallback") {
                cpu.fallback = Fallback::parse(f).ok_or_else(|| invalid(c, e, "fallback", f, "allow or forbid"))?;
            }
            if let Some(v) = e.attr("vendor_id") {
                if v.len() != 12 {
                    return Err(
                        c.err_elem(e, XmlErrorKind::Invalid("vendor_id must be exactly 12 characters long".into()))
                    );
                }
                if v.contains(',') {
                    return Err(c.err_elem(e, XmlErrorKind::Invalid("vendor id is invalid".into())));
                }
                cpu.vendor_id = Some(v.to_string());
            }
        }
    }
    if cpu.cpu_type == CpuType::Host && cpu.model.is_none() {
        return Err(bad("Missing CPU model name"));
    }
    if let Some(v) = raw.vendor.as_ref().filter(|v| !v.is_empty()) {
        if cpu.model.is_none() {
            return Err(bad("CPU vendor specified without CPU model"));
        }
        cpu.vendor = Some(v.clone());
    }
    Ok(())
}

/// `<topology>` (11.3.0 with `clusters`), `<cache>` and `<maxphysaddr>` (11.3.0 with `limit`).
fn read_layout(c: &Cursor, raw: &Raw, cpu: &mut CpuDef, v11: bool) -> Result<(), XmlError> {
    if let Some(e) = &raw.topology {
        // libvirt reads all four with VIR_XML_PROP_NONZERO: "Zero is not permitted".
        let count = |name: &'static str, required: bool, default: u32| match uint_attr(c, e, name, required)? {
            Some(0) => Err(invalid(c, e, name, "0", "a non-zero unsigned decimal number")),
            v => Ok(v.unwrap_or(default)),
        };
        cpu.topology = Some(Topology {
            sockets: count("sockets", true, 0)?,
            dies: count("dies", false, 1)?,
            // libvirt 11.3.0 reads `clusters` (non-zero, default 1) after `dies`; 9.0.0 does not
            // know it, so its CPUs have none and never write one.
            clusters: if v11 { Some(count("clusters", false, 1)?) } else { None },
            cores: count("cores", true, 0)?,
            threads: count("threads", true, 0)?,
        });
    }
    match raw.caches.as_slice() {
        [] => {}
        [e] => {
            let level = uint_attr(c, e, "level", false)?;
            if let Some(l) = level {
                if !(1..=3).contains(&l) {
                    return Err(invalid(c, e, "level", &l.to_string(), "1, 2 or 3"));
                }
            }
            let mode = required(c, e, "mode")?;
            let mode =
                CacheMode::parse(mode).ok_or_else(|| invalid(c, e, "mode", mode, "emulate, passthrough or disable"))?;
            cpu.cache = Some(CacheDef { level, mode });
        }
        [_, e, ..] => {
            return Err(c.err_elem(e, XmlErrorKind::Invalid("at most one CPU cache element may be specified".into())))
        }
    }
    if let Some(e) = &raw.maxphysaddr {
        let mode = required(c, e, "mode")?;
        let mode = MaxPhysAddrMode::parse(mode).ok_or_else(|| invalid(c, e, "mode", mode, "emulate or passthrough"))?;
        let bits = uint_attr(c, e, "bits", false)?;
        // libvirt 11.3.0: an optional non-zero `limit`, for mode `passthrough` only.
        let limit = match if v11 { uint_attr(c, e, "limit", false)? } else { None } {
            None => None,
            Some(0) => return Err(invalid(c, e, "limit", "0", "a non-zero unsigned decimal number")),
            Some(_) if mode != MaxPhysAddrMode::Passthrough => {
                return Err(c.err_elem(
                    e,
                    XmlErrorKind::Invalid(
                        "attribute 'limit' is only supported for maxphysaddr mode 'passthrough'".into(),
                    ),
                ))
            }
            l => l,
        };
        cpu.maxphysaddr = Some(MaxPhysAddr { mode, bits, limit });
    }
    Ok(())
}

/// The `<feature>` list: policies (guests), names non-empty and distinct.
fn read_features(c: &Cursor, ce: &Elem, raw: &Raw, cpu: &mut CpuDef) -> Result<(), XmlError> {
    let bad = |msg: &str| c.err_elem(ce, XmlErrorKind::Invalid(msg.to_string()));
    if !raw.features.is_empty()
        && cpu.model.is_none()
        && !matches!(cpu.mode, CpuMode::HostModel | CpuMode::HostPassthrough | CpuMode::Maximum)
    {
        return Err(bad("Non-empty feature list specified without CPU model"));
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(raw.features.len());
    cpu.features.reserve(raw.features.len());
    for e in &raw.features {
        let policy = if cpu.cpu_type == CpuType::Guest {
            Some(match e.attr("policy") {
                None => Policy::Require,
                Some(p) => Policy::parse(p)
                    .ok_or_else(|| invalid(c, e, "policy", p, "force, require, optional, disable or forbid"))?,
            })
        } else {
            None
        };
        let name = match e.attr("name") {
            Some(n) if !n.is_empty() => n,
            _ => return Err(c.err_elem(e, XmlErrorKind::EmptyFeatureName)),
        };
        if !seen.insert(name) {
            return Err(c.err_elem(e, XmlErrorKind::DuplicateFeature(name.to_string())));
        }
        cpu.features.push(Feature::new(name, policy));
    }
    Ok(())
}

/// Reads a document whose root is exactly one `<cpu>` (what libvirt's CPU tests read).
pub fn parse_cpu(input: &[u8], hint: TypeHint, version: LibvirtVersion, limits: Limits) -> Result<CpuDef, XmlError> {
    let mut c = Cursor::new(input, limits)?;
    let mut out = None;
    let mut extra = None;
    c.roots(|c, e| {
        if out.is_some() {
            extra = Some(c.err_elem(&e, XmlErrorKind::Syntax("extra content at the end of the document".into())));
            return Ok(());
        }
        if e.name != "cpu" {
            return Err(c.err_elem(&e, XmlErrorKind::UnexpectedRoot { found: e.name.clone(), expected: "<cpu>" }));
        }
        out = Some(read_cpu_elem(c, &e, hint, version)?);
        Ok(())
    })?;
    if let Some(e) = extra {
        return Err(e);
    }
    out.ok_or_else(|| c.err_at(0, XmlErrorKind::MissingElement("cpu")))
}
