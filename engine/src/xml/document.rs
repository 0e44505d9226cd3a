//! Documents that carry CPUs, each read as virsh reads it: a bare `<cpu>`, `virsh capabilities`,
//! `virsh domcapabilities` (its host-model CPU and model list, [`DomCapsInfo`]), a `<domain>`,
//! libvirt's `<cpuTest>` files, and CPUID dumps (`<cpudata>`). One `<cpu>` element is
//! [`super::read`]'s.

use super::attr::{cpuid_item, invalid, required};
use super::cursor::{Cursor, Elem, Limits};
use super::read::{read_cpu_elem_spanned, CpuSpan, TypeHint};
use crate::cpu::*;
use crate::cpuid::CpuidData;
use crate::error::{XmlError, XmlErrorKind};
use crate::version::LibvirtVersion;

/// Whether `e` is in an XML namespace of its own (a prefix, or a default `xmlns` it declares),
/// which virsh's XPath (`/container/cpu`, ...) does not match.
fn in_namespace(e: &Elem) -> bool {
    e.name.contains(':') || e.attr("xmlns").is_some_and(|v| !v.is_empty())
}

/// One entry of a hypervisor's CPU model list (`virDomainCapsCPUModel`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelListEntry {
    pub name: String,
    /// `usable='yes|no|unknown'` (None = unknown).
    pub usable: Option<bool>,
    /// Features that block the model on this host (`<blockers>`).
    pub blockers: Vec<String>,
    pub deprecated: bool,
}

impl ModelListEntry {
    pub fn named(name: &str) -> Self {
        ModelListEntry { name: name.to_string(), usable: None, blockers: Vec::new(), deprecated: false }
    }
}

/// What kind of document the CPUs came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    Cpu,
    CpuTest,
    Capabilities,
    DomainCapabilities,
    Domain,
}

/// What a `virsh domcapabilities` document says about its hypervisor besides the CPUs (the
/// first such document of a file): the top-level texts and which CPU modes are supported, with
/// the byte offset of its root for error positions.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DomCapsInfo {
    /// Byte offset of the `<domainCapabilities>` start tag.
    pub offset: usize,
    /// `<path>`: the emulator binary.
    pub path: Option<String>,
    /// `<domain>`: the virttype (`kvm`, `qemu`).
    pub domain: Option<String>,
    pub machine: Option<String>,
    /// `<arch>`: the guest arch; the host-model CPU has none of its own.
    pub arch: Option<String>,
    /// `<mode name='host-passthrough' supported='yes'>`.
    pub host_passthrough: bool,
    /// `<mode name='maximum' supported='yes'>`.
    pub maximum: bool,
    /// `<mode name='host-model' supported='yes'>`.
    pub host_model: bool,
}

/// The CPUs of one or more documents, plus a domcapabilities model list if there was one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuDocument {
    pub kinds: Vec<DocKind>,
    pub cpus: Vec<CpuDef>,
    /// Where each CPU of `cpus` is (same order).
    pub spans: Vec<CpuSpan>,
    pub models: Option<Vec<ModelListEntry>>,
    /// The first domcapabilities document's own facts (None without one).
    pub domcaps: Option<DomCapsInfo>,
}

/// Reads any CPU document: bare `<cpu>` elements (several allowed), `<cpuTest>`, `virsh
/// capabilities` (`host/cpu`, host type), `virsh domcapabilities` (host-model CPU and the custom
/// model list), or a domain (`domain/cpu`). `hint` types the bare and `<cpuTest>` CPUs.
pub fn read_cpu_document(
    input: &[u8],
    hint: TypeHint,
    version: LibvirtVersion,
    limits: Limits,
) -> Result<CpuDocument, XmlError> {
    let mut c = Cursor::new(input, limits)?;
    // Like virsh: the file is the content of a container, and every CPU found at
    // `/container/cpu | /container/domain/cpu | /container/capabilities/host/cpu |
    // /container/domainCapabilities/cpu/mode[@name='host-model' and @supported='yes']` is used
    // (plus `<cpuTest>/cpu`, libvirt's test files). Anything else is passed over; it only matters
    // when no CPU is found at all, and then the first such root is what the error names.
    c.container = true;
    let mut doc = CpuDocument { kinds: Vec::new(), cpus: Vec::new(), spans: Vec::new(), models: None, domcaps: None };
    let mut nothing_found: Option<XmlError> = None;
    let max_cpus = limits.max_cpus;
    let push = |c: &Cursor, doc: &mut CpuDocument, e: &Elem, (cpu, span): (CpuDef, CpuSpan)| {
        if doc.cpus.len() >= max_cpus {
            return Err(c.err_elem(e, XmlErrorKind::TooMany { what: "CPUs", limit: max_cpus }));
        }
        doc.cpus.push(cpu);
        doc.spans.push(span);
        Ok(())
    };
    // `<cpu>` children of `parent`, read with `hint`; how many there were.
    let cpu_children = |c: &mut Cursor, doc: &mut CpuDocument, parent: &Elem, hint: TypeHint| {
        let mut n = 0;
        c.children(parent, |c, e| {
            if e.name == "cpu" && !in_namespace(&e) {
                n += 1;
                let cpu = read_cpu_elem_spanned(c, &e, hint, version)?;
                push(c, doc, &e, cpu)?;
            }
            Ok(())
        })?;
        Ok::<usize, XmlError>(n)
    };
    let guest_unless_host = match hint {
        TypeHint::Host => TypeHint::Host,
        TypeHint::AsSent => TypeHint::AsSent,
        _ => TypeHint::Guest,
    };
    let host_unless_sent = if hint == TypeHint::AsSent { TypeHint::AsSent } else { TypeHint::Host };
    c.roots(|c, root| {
        let mut note = |c: &Cursor, kind: XmlErrorKind| {
            if nothing_found.is_none() {
                nothing_found = Some(c.err_elem(&root, kind));
            }
        };
        // virsh's XPath names elements in no namespace: a prefixed or default-namespaced element
        // is not there for it ("does not contain any <cpu> element ...").
        let name = if in_namespace(&root) { "" } else { root.name.as_str() };
        match name {
            "cpu" => {
                doc.kinds.push(DocKind::Cpu);
                let cpu = read_cpu_elem_spanned(c, &root, hint, version)?;
                push(c, &mut doc, &root, cpu)?;
            }
            "cpuTest" => {
                doc.kinds.push(DocKind::CpuTest);
                if cpu_children(c, &mut doc, &root, hint)? == 0 {
                    note(c, XmlErrorKind::MissingElement("cpu"));
                }
            }
            "capabilities" => {
                doc.kinds.push(DocKind::Capabilities);
                let mut n = 0;
                c.children(&root, |c, host| {
                    if host.name == "host" && !in_namespace(&host) {
                        n += cpu_children(c, &mut doc, &host, host_unless_sent)?;
                    }
                    Ok(())
                })?;
                if n == 0 {
                    note(c, XmlErrorKind::MissingElement("host/cpu"));
                }
            }
            "domainCapabilities" => {
                doc.kinds.push(DocKind::DomainCapabilities);
                read_domcaps(c, &root, &mut doc, hint, version)?;
            }
            "domain" => {
                doc.kinds.push(DocKind::Domain);
                if cpu_children(c, &mut doc, &root, guest_unless_host)? == 0 {
                    note(c, XmlErrorKind::MissingElement("cpu"));
                }
            }
            _ => note(
                c,
                XmlErrorKind::UnexpectedRoot {
                    found: root.name.clone(),
                    expected: "<cpu>, <cpuTest>, <capabilities>, <domainCapabilities> or <domain>",
                },
            ),
        }
        Ok(())
    })?;
    if doc.cpus.is_empty() && doc.models.is_none() {
        return Err(nothing_found.unwrap_or_else(|| c.err_at(0, XmlErrorKind::MissingElement("cpu"))));
    }
    Ok(doc)
}

fn read_domcaps(
    c: &mut Cursor,
    root: &Elem,
    doc: &mut CpuDocument,
    hint: TypeHint,
    version: LibvirtVersion,
) -> Result<(), XmlError> {
    let mut models = Vec::new();
    let mut host_model = None;
    let mut info = DomCapsInfo { offset: root.offset, ..DomCapsInfo::default() };
    c.children(root, |c, child| {
        match child.name.as_str() {
            "path" => info.path = Some(c.text(&child)?),
            "domain" => info.domain = Some(c.text(&child)?),
            "machine" => info.machine = Some(c.text(&child)?),
            "arch" => info.arch = Some(c.text(&child)?),
            "cpu" => c.children(&child, |c, mode| {
                if mode.name != "mode" {
                    return Ok(());
                }
                let supported = mode.attr("supported") == Some("yes");
                match mode.attr("name") {
                    Some("host-passthrough") => info.host_passthrough = supported,
                    Some("maximum") => info.maximum = supported,
                    Some("host-model") if supported => {
                        info.host_model = true;
                        host_model = Some(read_host_model(c, &mode, hint, version)?);
                    }
                    Some("custom") => read_custom_models(c, &mode, &mut models)?,
                    _ => {}
                }
                Ok(())
            })?,
            _ => {}
        }
        Ok(())
    })?;
    if let Some((cpu, span)) = host_model {
        doc.cpus.push(cpu);
        doc.spans.push(span);
    }
    doc.models = Some(models);
    if doc.domcaps.is_none() {
        doc.domcaps = Some(info);
    }
    Ok(())
}

/// The host-model `<mode>` as virsh sends it: renamed to `<cpu>`, its attributes dropped.
/// Forced to the host type (as `cpu-baseline` does) it needs an `<arch>`, like in libvirt.
fn read_host_model(
    c: &mut Cursor,
    mode: &Elem,
    hint: TypeHint,
    version: LibvirtVersion,
) -> Result<(CpuDef, CpuSpan), XmlError> {
    let as_cpu = Elem { attrs: Vec::new(), ..mode.clone() };
    if hint == TypeHint::Host {
        return read_cpu_elem_spanned(c, &as_cpu, TypeHint::Host, version);
    }
    let mut def = read_cpu_elem_spanned(c, &as_cpu, TypeHint::Guest, version)?;
    def.0.mode = CpuMode::HostModel;
    Ok(def)
}

/// The custom mode's `<model usable deprecated>` list, with libvirt 11.3.0's `<blockers
/// model='X'><feature name/></blockers>` attached to the model they name.
fn read_custom_models(c: &mut Cursor, mode: &Elem, models: &mut Vec<ModelListEntry>) -> Result<(), XmlError> {
    c.children(mode, |c, m| {
        match m.name.as_str() {
            "model" => {
                let usable = match m.attr("usable") {
                    Some("yes") => Some(true),
                    Some("no") => Some(false),
                    _ => None,
                };
                let deprecated = m.attr("deprecated") == Some("yes");
                let name = c.text(&m)?;
                models.push(ModelListEntry { name, usable, blockers: Vec::new(), deprecated });
            }
            "blockers" => {
                let name = required(c, &m, "model")?.to_string();
                let mut blockers = Vec::new();
                c.children(&m, |_, f| {
                    if f.name == "feature" {
                        if let Some(n) = f.attr("name") {
                            blockers.push(n.to_string());
                        }
                    }
                    Ok(())
                })?;
                match models.iter_mut().rev().find(|e| e.name == name) {
                    Some(e) => e.blockers.extend(blockers),
                    None => {
                        let kind = XmlErrorKind::Invalid(format!("blockers for model '{name}', which is not listed"));
                        return Err(c.err_elem(&m, kind));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })
}

/// Reads a `<cpudata arch='x86'>` CPUID dump. Items with the same key are merged by OR.
pub fn parse_cpuid_data(input: &[u8], limits: Limits) -> Result<CpuidData, XmlError> {
    let mut c = Cursor::new(input, limits)?;
    let mut out: Option<CpuidData> = None;
    c.roots(|c, root| {
        if root.name != "cpudata" {
            return Err(
                c.err_elem(&root, XmlErrorKind::UnexpectedRoot { found: root.name.clone(), expected: "<cpudata>" })
            );
        }
        if out.is_some() {
            return Err(c.err_elem(&root, XmlErrorKind::Syntax("extra content at the end of the document".into())));
        }
        match root.attr("arch") {
            None => return Err(c.err_elem(&root, XmlErrorKind::MissingAttribute("arch"))),
            Some("x86") | Some("x86_64") | Some("i686") => {}
            Some(a) => return Err(invalid(c, &root, "arch", a, "x86")),
        }
        let mut data = CpuidData::new();
        let mut n = 0usize;
        let max = c.limits.max_elements;
        c.children(&root, |c, e| {
            let item = cpuid_item(c, &e)?;
            if let Some((k, r)) = item {
                n += 1;
                if n > max {
                    return Err(c.err_elem(&e, XmlErrorKind::TooMany { what: "CPUID items", limit: max }));
                }
                data.add_item(k, r);
            }
            Ok(())
        })?;
        out = Some(data);
        Ok(())
    })?;
    out.ok_or_else(|| c.err_at(0, XmlErrorKind::MissingElement("cpudata")))
}
