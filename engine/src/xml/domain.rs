//! Reading a domain definition as the QEMU driver's start path needs it (`virDomainDefParseXML`):
//! its `<cpu>` and the settings of [`crate::domain`]. Everything else of the domain is passed
//! over.
//!
//! Order of errors, as libvirt's parser gives them: an error in the `<cpu>` comes before one in
//! `<features>`, `<clock>` or `<devices>`, wherever they are in the document (libvirt parses the
//! CPU first). So those parts are collected while the document is walked and read afterwards.

use super::attr::invalid;
use super::cursor::{Cursor, Elem, Limits};
use super::num::parse_u32_dec;
use super::read::{read_cpu_elem_spanned, CpuSpan, TypeHint};
use crate::domain::{DomainDef, DomainFeatures, Hyperv, HypervFeature, HypervMode, KvmFeature, PvTimer};
use crate::error::{XmlError, XmlErrorKind};
use crate::version::LibvirtVersion;

/// An element with the children below it, down to a fixed depth: what is read after the walk.
#[derive(Clone, Debug)]
struct Node {
    elem: Elem,
    children: Vec<Node>,
}

/// `e` (the element just returned by the cursor) with its children `depth` levels deep.
fn collect(c: &mut Cursor, e: Elem, depth: usize) -> Result<Node, XmlError> {
    let mut children = Vec::new();
    if depth > 0 {
        c.children(&e, |c, child| {
            children.push(collect(c, child, depth - 1)?);
            Ok(())
        })?;
    }
    Ok(Node { elem: e, children })
}

/// A domain document read for a start: the root must be `<domain>`.
#[derive(Clone, Debug)]
pub struct DomainDocument {
    pub domain: DomainDef,
    /// Where the `<cpu>` is (None without one).
    pub cpu_span: Option<CpuSpan>,
    /// Byte offsets of the `<domain>` and (if any) `<name>` start tags.
    pub offset: usize,
    pub name_offset: Option<usize>,
}

/// Reads a `<domain>` document: its type, name, first `<cpu>` (a guest CPU) and the settings
/// that reach `-cpu`, under release `version`'s parser rules. Another root element is
/// [`XmlErrorKind::UnexpectedRoot`] (a caller may then read the document as a bare CPU).
pub fn read_domain(input: &[u8], version: LibvirtVersion, limits: Limits) -> Result<DomainDocument, XmlError> {
    let mut c = Cursor::new(input, limits)?;
    let mut out: Option<DomainDocument> = None;
    c.roots(|c, root| {
        if out.is_some() {
            return Err(c.err_elem(&root, XmlErrorKind::Syntax("extra content at the end of the document".into())));
        }
        if root.name != "domain" {
            let kind = XmlErrorKind::UnexpectedRoot { found: root.name.clone(), expected: "<domain>" };
            return Err(c.err_elem(&root, kind));
        }
        let mut doc = DomainDocument {
            domain: DomainDef { virttype: root.attr("type").map(str::to_string), ..DomainDef::default() },
            cpu_span: None,
            offset: root.offset,
            name_offset: None,
        };
        let (mut features, mut clock, mut devices) = (None, None, None);
        c.children(&root, |c, e| {
            match e.name.as_str() {
                "name" if doc.domain.name.is_none() => {
                    doc.name_offset = Some(e.offset);
                    doc.domain.name = Some(c.text(&e)?);
                }
                "cpu" if doc.domain.cpu.is_none() => {
                    let (cpu, span) = read_cpu_elem_spanned(c, &e, TypeHint::Guest, version)?;
                    doc.domain.cpu = Some(cpu);
                    doc.cpu_span = Some(span);
                }
                "features" if features.is_none() => features = Some(collect(c, e, 3)?),
                "clock" if clock.is_none() => clock = Some(collect(c, e, 1)?),
                "devices" if devices.is_none() => devices = Some(collect(c, e, 1)?),
                _ => {}
            }
            Ok(())
        })?;
        let f = &mut doc.domain.features;
        if let Some(n) = &features {
            read_features(c, n, f, version)?;
        }
        if let Some(n) = &clock {
            read_timers(c, n, f)?;
        }
        if let Some(n) = &devices {
            f.hyperv_panic =
                n.children.iter().any(|d| d.elem.name == "panic" && d.elem.attr("model") == Some("hyperv"));
        }
        out = Some(doc);
        Ok(())
    })?;
    out.ok_or_else(|| c.err_at(0, XmlErrorKind::MissingElement("domain")))
}

/// `state='on|off'` of `e`; `default` when absent (None: the attribute is required).
fn switch(c: &Cursor, e: &Elem, name: &'static str, default: Option<bool>) -> Result<bool, XmlError> {
    match e.attr(name) {
        None => default.ok_or_else(|| c.err_elem(e, XmlErrorKind::MissingAttribute(name))),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(v) => Err(invalid(c, e, name, v, "on or off")),
    }
}

fn unsupported(c: &Cursor, e: &Elem, message: String) -> XmlError {
    c.err_elem(e, XmlErrorKind::Invalid(message))
}

/// `<features>`: `hyperv`, `kvm`, `pmu`, `pvspinlock`, `apic` (`virDomainFeaturesDefParse`).
fn read_features(c: &Cursor, features: &Node, f: &mut DomainFeatures, version: LibvirtVersion) -> Result<(), XmlError> {
    for n in &features.children {
        let e = &n.elem;
        match e.name.as_str() {
            "hyperv" => f.hyperv = Some(read_hyperv(c, n, version)?),
            "kvm" => {
                let mut states: Vec<(KvmFeature, bool)> = Vec::new();
                for k in &n.children {
                    let feature = KvmFeature::parse(&k.elem.name)
                        .ok_or_else(|| unsupported(c, &k.elem, format!("unsupported KVM feature: {}", k.elem.name)))?;
                    let on = switch(c, &k.elem, "state", None)?;
                    states.retain(|(g, _)| *g != feature);
                    states.push((feature, on));
                }
                states.sort_by_key(|&(g, _)| g);
                f.kvm = Some(states);
            }
            "pmu" => f.pmu = Some(switch(c, e, "state", Some(true))?),
            "pvspinlock" => f.pvspinlock = Some(switch(c, e, "state", Some(true))?),
            "apic" if e.attr("eoi").is_some() => f.apic_eoi = Some(switch(c, e, "eoi", None)?),
            _ => {}
        }
    }
    Ok(())
}

/// `<hyperv mode>` and its enlightenments (`virDomainFeaturesHyperVDefParse`).
fn read_hyperv(c: &Cursor, n: &Node, version: LibvirtVersion) -> Result<Hyperv, XmlError> {
    let e = &n.elem;
    let mut h = Hyperv::default();
    if let Some(m) = e.attr("mode") {
        let expected = if version >= LibvirtVersion::V12_9_0 {
            "custom, passthrough or host-model"
        } else {
            "custom or passthrough"
        };
        h.mode = HypervMode::parse(m, version).ok_or_else(|| invalid(c, e, "mode", m, expected))?;
    }
    for child in &n.children {
        let ce = &child.elem;
        let feature = HypervFeature::parse_for(&ce.name, version)
            .ok_or_else(|| unsupported(c, ce, format!("unsupported HyperV Enlightenment feature: {}", ce.name)))?;
        let on = switch(c, ce, "state", None)?;
        h.set(feature, on);
        if !on {
            continue;
        }
        match feature {
            HypervFeature::Spinlocks => {
                // libvirt 12.9.0 makes `retries` optional (QEMU's default, 0xffffffff).
                let retries = match ce.attr("retries") {
                    None if version >= LibvirtVersion::V12_9_0 => u32::MAX,
                    None => return Err(c.err_elem(ce, XmlErrorKind::MissingAttribute("retries"))),
                    Some(v) => parse_u32_dec(v)
                        .ok_or_else(|| invalid(c, ce, "retries", v, "an unsigned decimal number below 2^32"))?,
                };
                if retries < 0xfff {
                    return Err(unsupported(c, ce, "HyperV spinlock retry count must be at least 4095".into()));
                }
                h.spinlock_retries = retries;
            }
            HypervFeature::VendorId => {
                let value = ce.attr("value").ok_or_else(|| {
                    unsupported(c, ce, "missing 'value' attribute for HyperV feature 'vendor_id'".into())
                })?;
                if value.chars().count() > 12 {
                    let m = "HyperV vendor_id value must not be more than 12 characters.";
                    return Err(unsupported(c, ce, m.into()));
                }
                if value.contains(',') {
                    return Err(unsupported(c, ce, "HyperV vendor_id value is invalid".into()));
                }
                h.vendor_id = Some(value.to_string());
            }
            HypervFeature::Stimer => {
                for d in child.children.iter().filter(|d| d.elem.name == "direct") {
                    h.stimer_direct = Some(switch(c, &d.elem, "state", None)?);
                }
            }
            // libvirt 11.3.0 and later read `<direct>` and `<extended>`; 9.0.0 passes them over.
            HypervFeature::Tlbflush if version.at_least_11_3() => {
                for d in &child.children {
                    match d.elem.name.as_str() {
                        "direct" => h.tlbflush_direct = Some(switch(c, &d.elem, "state", None)?),
                        "extended" => h.tlbflush_extended = Some(switch(c, &d.elem, "state", None)?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(h)
}

/// The `kvmclock` and `hypervclock` timers of `<clock>` that say `present`.
fn read_timers(c: &Cursor, clock: &Node, f: &mut DomainFeatures) -> Result<(), XmlError> {
    for t in clock.children.iter().filter(|t| t.elem.name == "timer") {
        let timer = match t.elem.attr("name") {
            Some("kvmclock") => PvTimer::Kvmclock,
            Some("hypervclock") => PvTimer::Hypervclock,
            _ => continue,
        };
        let present = match t.elem.attr("present") {
            None => continue,
            Some("yes") => true,
            Some("no") => false,
            Some(v) => return Err(invalid(c, &t.elem, "present", v, "yes or no")),
        };
        f.timers.push((timer, present));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str, v: LibvirtVersion) -> Result<DomainDocument, XmlError> {
        read_domain(xml.as_bytes(), v, Limits::default())
    }

    #[test]
    fn reads_the_settings_that_reach_cpu_and_reports_the_cpu_error_first() {
        let xml = "<domain type='kvm'><name>g</name><features><hyperv mode='custom'><relaxed state='on'/>\
                   <spinlocks state='on' retries='8191'/><relaxed state='off'/><vapic state='on'/></hyperv>\
                   <kvm><hidden state='on'/></kvm><pmu state='off'/><pvspinlock/><apic eoi='on'/></features>\
                   <cpu><model>qemu64</model></cpu><clock><timer name='hypervclock' present='yes'/></clock>\
                   <devices><panic model='hyperv'/></devices></domain>";
        let d = read(xml, LibvirtVersion::V9_0_0).unwrap().domain;
        let f = &d.features;
        let h = f.hyperv.as_ref().unwrap();
        assert!(!h.is_on(HypervFeature::Relaxed) && h.is_on(HypervFeature::Vapic) && h.spinlock_retries == 8191);
        assert!(f.kvm_is(KvmFeature::Hidden, true) && f.pmu == Some(false) && f.pvspinlock == Some(true));
        assert!(f.apic_eoi == Some(true) && f.timer_present(PvTimer::Hypervclock) && f.hyperv_panic);
        assert_eq!(d.virttype.as_deref(), Some("kvm"));
        // Both parts are bad: the CPU's error is the one reported, although it comes later.
        let bad = "<domain><features><hyperv><relaxed state='x'/></hyperv></features>\
                   <cpu><cache mode='bogus'/></cpu></domain>";
        assert!(read(bad, LibvirtVersion::V9_0_0).unwrap_err().to_string().contains("cache"));
    }

    #[test]
    fn release_rules_of_the_hyperv_parser() {
        let one = |body: &str, v| read(&format!("<domain><features><hyperv>{body}</hyperv></features></domain>"), v);
        let (v9, v11, v12) = (LibvirtVersion::V9_0_0, LibvirtVersion::V11_3_0, LibvirtVersion::V12_9_0);
        assert!(one("<xmm_input state='on'/>", v9).unwrap_err().to_string().contains("xmm_input"));
        assert!(one("<xmm_input state='on'/>", v11).is_ok());
        assert!(one("<spinlocks state='on'/>", v11).is_err());
        let d = one("<spinlocks state='on'/>", v12).unwrap().domain;
        assert_eq!(d.features.hyperv.unwrap().spinlock_retries, u32::MAX);
        assert!(one("<spinlocks state='on' retries='100'/>", v12).is_err());
        assert!(one("<vendor_id state='on' value='ABCDEFGHIJKLM'/>", v9).is_err());
        let tlb = "<tlbflush state='on'><direct state='on'/></tlbflush>";
        assert_eq!(one(tlb, v9).unwrap().domain.features.hyperv.unwrap().tlbflush_direct, None);
        assert_eq!(one(tlb, v11).unwrap().domain.features.hyperv.unwrap().tlbflush_direct, Some(true));
        let hm = |v| read("<domain><features><hyperv mode='host-model'/></features></domain>", v);
        assert!(hm(v11).is_err() && hm(v12).is_ok());
        assert!(one("<foo state='on'/>", v12).unwrap_err().to_string().contains("unsupported HyperV"));
    }
}
