//! The CPU map's writer: one architecture as a self-contained document (the embedded form
//! `cpufleet map import` writes).

use super::*;
use crate::cpuid::CpuidKey;
use std::fmt::Write;

pub(super) fn format_steppings(mask: u16) -> String {
    let mut parts = Vec::new();
    let mut v = 0u32;
    while v < 16 {
        if mask & (1 << v) != 0 {
            let lo = v;
            while v + 1 < 16 && mask & (1 << (v + 1)) != 0 {
                v += 1;
            }
            parts.push(if lo == v { lo.to_string() } else { format!("{lo}-{v}") });
        }
        v += 1;
    }
    parts.join(",")
}

impl CpuMap {
    /// Writes one architecture's map as a self-contained document (the embedded format).
    pub fn format_arch(&self, arch: &str) -> Option<String> {
        let mut o = String::from("<cpus>\n");
        match arch {
            "x86" => format_x86(&mut o, &self.x86),
            "ppc64" => format_ppc64(&mut o, &self.ppc64),
            _ => return None,
        }
        o.push_str("  </arch>\n</cpus>\n");
        Some(o)
    }
}

/// The x86 `<arch>` element's opening and children: vendors, features, models.
fn format_x86(o: &mut String, x: &X86Map) {
    o.push_str("  <arch name='x86'>\n");
    for v in &x.vendors {
        let _ = writeln!(o, "    <vendor name='{}' string='{}'/>", esc(&v.name), esc(&v.string));
    }
    for f in &x.features {
        format_x86_feature(o, f);
    }
    for m in &x.models {
        format_x86_model(o, x, m);
    }
}

/// One `<feature>` of the map with its CPUID and MSR items (zero registers left out).
fn format_x86_feature(o: &mut String, f: &X86Feature) {
    let mig = if f.migratable { "" } else { " migratable='no'" };
    let _ = writeln!(o, "    <feature name='{}'{mig}>", esc(&f.name));
    for (k, r) in &f.items {
        match k {
            CpuidKey::Cpuid { leaf, subleaf } => {
                let _ = write!(o, "      <cpuid eax_in='0x{leaf:08x}'");
                if *subleaf != 0 {
                    let _ = write!(o, " ecx_in='0x{subleaf:08x}'");
                }
                for (n, v) in ["eax", "ebx", "ecx", "edx"].iter().zip(r.iter()) {
                    if *v != 0 {
                        let _ = write!(o, " {n}='0x{v:08x}'");
                    }
                }
                o.push_str("/>\n");
            }
            CpuidKey::Msr { index } => {
                let _ = writeln!(o, "      <msr index='0x{index:08x}' edx='0x{:08x}' eax='0x{:08x}'/>", r[3], r[0]);
            }
        }
    }
    o.push_str("    </feature>\n");
}

/// One `<model>` of the map.
fn format_x86_model(o: &mut String, x: &X86Map, m: &X86Model) {
    let _ = writeln!(o, "    <model name='{}'>", esc(&m.name));
    let onoff = |b: bool| if b { "on" } else { "off" };
    // A version copy is written as libvirt writes it (its ancestor, its own check and decode,
    // nothing else), so that a reload makes it the ancestor's canonical model again.
    if let Some(a) = m.copy_of {
        let _ = writeln!(o, "      <model name='{}'/>", esc(&x.models[a].name));
    }
    if m.compat_check {
        o.push_str("      <check partial='compat'/>\n");
    }
    let _ = writeln!(o, "      <decode host='{}' guest='{}'/>", onoff(m.decode_host), onoff(m.decode_guest));
    if m.copy_of.is_some() {
        o.push_str("    </model>\n");
        return;
    }
    for s in &m.signatures {
        let _ = write!(o, "      <signature family='{}' model='{}'", s.family, s.model);
        if let Some(st) = s.steppings {
            let _ = write!(o, " stepping='{}'", format_steppings(st));
        }
        o.push_str("/>\n");
    }
    if let Some(v) = m.vendor {
        let _ = writeln!(o, "      <vendor name='{}'/>", esc(&x.vendors[v].name));
    }
    for id in m.features.iter() {
        let _ = writeln!(o, "      <feature name='{}'/>", esc(x.feature_name(id)));
    }
    for id in &m.removed {
        let _ = writeln!(o, "      <feature name='{}' removed='yes'/>", esc(x.feature_name(*id)));
    }
    for id in &m.added {
        let _ = writeln!(o, "      <feature name='{}' added='yes'/>", esc(x.feature_name(*id)));
    }
    o.push_str("    </model>\n");
}

/// The ppc64 `<arch>` element's opening and children: vendors, then models with their PVRs.
fn format_ppc64(o: &mut String, p: &Ppc64Map) {
    o.push_str("  <arch name='ppc64'>\n");
    for v in &p.vendors {
        let _ = writeln!(o, "    <vendor name='{}'/>", esc(v));
    }
    for m in &p.models {
        let _ = writeln!(o, "    <model name='{}'>", esc(&m.name));
        if let Some(v) = m.vendor {
            let _ = writeln!(o, "      <vendor name='{}'/>", esc(&p.vendors[v]));
        }
        for pvr in &m.pvrs {
            let _ = writeln!(o, "      <pvr value='0x{:08x}' mask='0x{:08x}'/>", pvr.value, pvr.mask);
        }
        o.push_str("    </model>\n");
    }
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    crate::xml::write::escape(s)
}
