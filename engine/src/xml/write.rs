//! Writing CPUs exactly as libvirt 9.0.0 formats them (`virCPUDefFormatBufFull`).

use crate::cpu::*;
use crate::cpuid::{CpuidData, CpuidKey};
use std::fmt::Write;

/// Escapes text and attribute values as libvirt's `virBufferEscapeString` does.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.bytes().any(|b| matches!(b, b'<' | b'>' | b'&' | b'\'' | b'"')) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Formats a CPU. Returns an empty string for a CPU with nothing to write (libvirt writes
/// nothing then). The text ends with a newline unless empty.
pub fn format_cpu(cpu: &CpuDef) -> String {
    let mut out = String::new();
    format_cpu_into(cpu, 0, &mut out);
    out
}

/// Formats a CPU indented by `indent` spaces into `out`.
pub fn format_cpu_into(cpu: &CpuDef, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let mut attrs = String::new();
    if cpu.cpu_type == CpuType::Guest {
        if cpu.mode != CpuMode::Custom || cpu.model.is_some() {
            let _ = write!(attrs, " mode='{}'", cpu.mode);
            if cpu.mode == CpuMode::Custom {
                let _ = write!(attrs, " match='{}'", cpu.match_);
            }
        }
        if let Some(check) = cpu.check {
            let _ = write!(attrs, " check='{check}'");
        }
        if matches!(cpu.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
            if let Some(m) = cpu.migratable {
                let _ = write!(attrs, " migratable='{}'", if m { "on" } else { "off" });
            }
        }
        // libvirt 11.3.0 writes it last, only where the other attributes are written.
        if cpu.mode != CpuMode::Custom || cpu.model.is_some() {
            if let Some(d) = cpu.deprecated_features {
                let _ = write!(attrs, " deprecated_features='{}'", if d { "on" } else { "off" });
            }
        }
    }
    let body = format_children(cpu, indent + 2);
    match (attrs.is_empty(), body.is_empty()) {
        (true, true) => {}
        (_, true) => {
            let _ = writeln!(out, "{pad}<cpu{attrs}/>");
        }
        _ => {
            let _ = writeln!(out, "{pad}<cpu{attrs}>");
            out.push_str(&body);
            let _ = writeln!(out, "{pad}</cpu>");
        }
    }
}

fn format_children(cpu: &CpuDef, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut b = String::new();
    let guest = cpu.cpu_type == CpuType::Guest;
    let format_model = matches!(cpu.mode, CpuMode::Custom | CpuMode::HostModel);
    if cpu.cpu_type == CpuType::Host {
        if let Some(a) = &cpu.arch {
            let _ = writeln!(b, "{pad}<arch>{}</arch>", escape(a));
        }
    }
    let vendor_id = cpu.vendor_id.as_deref().filter(|_| guest);
    if format_model && (cpu.model.is_some() || vendor_id.is_some()) {
        let _ = write!(b, "{pad}<model");
        if guest && cpu.model.is_some() {
            let _ = write!(b, " fallback='{}'", cpu.fallback);
        }
        if let Some(v) = vendor_id {
            let _ = write!(b, " vendor_id='{}'", escape(v));
        }
        match &cpu.model {
            Some(m) => {
                let _ = writeln!(b, ">{}</model>", escape(m));
            }
            None => b.push_str("/>\n"),
        }
    }
    if format_model {
        if let Some(v) = &cpu.vendor {
            let _ = writeln!(b, "{pad}<vendor>{}</vendor>", escape(v));
        }
    }
    if cpu.cpu_type == CpuType::Host {
        if let Some(m) = cpu.microcode {
            let _ = writeln!(b, "{pad}<microcode version='{m}'/>");
        }
        if let Some(s) = cpu.signature.filter(|s| s.family != 0) {
            let _ =
                writeln!(b, "{pad}<signature family='{}' model='{}' stepping='{}'/>", s.family, s.model, s.stepping);
        }
        if let Some(t) = cpu.tsc {
            let _ = write!(b, "{pad}<counter name='tsc' frequency='{}'", t.frequency);
            if let Some(s) = t.scaling {
                let _ = write!(b, " scaling='{}'", if s { "yes" } else { "no" });
            }
            b.push_str("/>\n");
        }
    }
    if let Some(t) = cpu.topology {
        if t.sockets != 0 && t.dies != 0 && t.clusters != Some(0) && t.cores != 0 && t.threads != 0 {
            let _ = write!(b, "{pad}<topology sockets='{}' dies='{}'", t.sockets, t.dies);
            if let Some(c) = t.clusters {
                let _ = write!(b, " clusters='{c}'");
            }
            let _ = writeln!(b, " cores='{}' threads='{}'/>", t.cores, t.threads);
        }
    }
    if let Some(cache) = &cpu.cache {
        let _ = write!(b, "{pad}<cache");
        if let Some(l) = cache.level {
            let _ = write!(b, " level='{l}'");
        }
        let _ = writeln!(b, " mode='{}'/>", cache.mode);
    }
    if let Some(a) = &cpu.maxphysaddr {
        let _ = write!(b, "{pad}<maxphysaddr mode='{}'", a.mode);
        if let Some(bits) = a.bits {
            let _ = write!(b, " bits='{bits}'");
        }
        if let Some(limit) = a.limit {
            let _ = write!(b, " limit='{limit}'");
        }
        b.push_str("/>\n");
    }
    for f in &cpu.features {
        if guest {
            let p = f.policy.unwrap_or(Policy::Require);
            let _ = writeln!(b, "{pad}<feature policy='{p}' name='{}'/>", escape(&f.name));
        } else {
            let _ = writeln!(b, "{pad}<feature name='{}'/>", escape(&f.name));
        }
    }
    b
}

/// Writes CPUID data as a `<cpudata arch='x86'>` dump (the format `parse_cpuid_data` reads).
pub fn format_cpuid_data(data: &CpuidData) -> String {
    let mut out = String::from("<cpudata arch='x86'>\n");
    for (k, r) in data.items() {
        match k {
            CpuidKey::Cpuid { leaf, subleaf } => {
                let _ = writeln!(
                    out,
                    "  <cpuid eax_in='0x{leaf:08x}' ecx_in='0x{subleaf:02x}' eax='0x{:08x}' ebx='0x{:08x}' ecx='0x{:08x}' edx='0x{:08x}'/>",
                    r[0], r[1], r[2], r[3]
                );
            }
            CpuidKey::Msr { index } => {
                let _ = writeln!(out, "  <msr index='0x{index:x}' edx='0x{:08x}' eax='0x{:08x}'/>", r[3], r[0]);
            }
        }
    }
    out.push_str("</cpudata>\n");
    out
}
