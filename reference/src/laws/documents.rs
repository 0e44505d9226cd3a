//! The document targets: every reader on arbitrary bytes, the XML, CPUID and CPU map round
//! trips, and every operation on what a document holds.

use super::{check, fuzz_limits, violation, LawViolation};
use cpufleet_engine::cpu::{CpuDef, CpuType};
use cpufleet_engine::map::CpuMap;
use cpufleet_engine::ops;
use cpufleet_engine::x86::{self, X86Data};
use cpufleet_engine::xml::{self, TypeHint};
use cpufleet_engine::LibvirtVersion;
use std::collections::BTreeSet;

/// Most CPUs of one document the operation helpers work on (keeps one input's cost bounded).
const MAX_CPUS_PER_INPUT: usize = 16;

/// Target `cpu_xml_parse`: every CPU reader on arbitrary bytes, with every type hint, then the
/// writer on whatever was read. Returns the number of CPUs read (0 when every reader refused).
pub fn cpu_xml_parse(data: &[u8]) -> usize {
    let limits = fuzz_limits();
    let mut n = 0;
    for (hint, v) in [TypeHint::Auto, TypeHint::Host, TypeHint::Guest]
        .into_iter()
        .flat_map(|h| LibvirtVersion::ALL.into_iter().map(move |v| (h, v)))
    {
        if let Ok(doc) = xml::read_cpu_document(data, hint, v, limits) {
            for cpu in &doc.cpus {
                let _ = xml::format_cpu(cpu);
            }
            n += doc.cpus.len();
        }
        if let Ok(cpu) = xml::parse_cpu(data, hint, v, limits) {
            let _ = xml::format_cpu(&cpu);
            n += 1;
        }
    }
    n
}

/// Target `cpu_xml_roundtrip`: parse a `<cpu>`, write it, parse the text again, under each
/// supported libvirt version's parser.
///
/// Laws: (1) what the writer produces from a parsed CPU parses again, unless the writer wrote
/// nothing (libvirt writes nothing for a CPU with no attribute and no child); (2) writing is a
/// fixpoint after one pass: `write(read(write(c))) == write(c)`; (3) on the normalised CPU
/// `c2 = read(write(c))`, reading is the exact inverse of writing: `read(write(c2)) == c2`.
/// (`read(write(c)) == c` itself does not hold for every parsed `c`: the writer drops what
/// libvirt drops, e.g. a zero `<signature family>` or a topology with a zero count.)
pub fn cpu_xml_roundtrip(data: &[u8]) -> Result<(), LawViolation> {
    LibvirtVersion::ALL.into_iter().try_for_each(|v| cpu_xml_roundtrip_under(v, data))
}

fn cpu_xml_roundtrip_under(v: LibvirtVersion, data: &[u8]) -> Result<(), LawViolation> {
    let limits = fuzz_limits();
    let Ok(c1) = xml::parse_cpu(data, TypeHint::Auto, v, limits) else { return Ok(()) };
    let w1 = xml::format_cpu(&c1);
    if w1.is_empty() {
        return Ok(());
    }
    let c2 = xml::parse_cpu(w1.as_bytes(), TypeHint::Auto, v, limits)
        .map_err(|e| violation("XML round trip: written CPU parses", format!("{e}\n--- written:\n{w1}")))?;
    let w2 = xml::format_cpu(&c2);
    check(w2 == w1, "XML round trip: writing is a fixpoint", || format!("first:\n{w1}\nsecond:\n{w2}"))?;
    let c3 = xml::parse_cpu(w2.as_bytes(), TypeHint::Auto, v, limits)
        .map_err(|e| violation("XML round trip: written CPU parses", format!("{e}\n--- written:\n{w2}")))?;
    check(c3 == c2, "XML round trip: read(write(c)) == c", || format!("{c2:?}\n!=\n{c3:?}"))
}

/// Target `cpuid_data_parse`: parse a `<cpudata>` dump; if it parses, check that it round-trips
/// through the writer, decode it as a host and as a guest CPU, and check the decode law on the
/// host result: expanding the decoded CPU gives back exactly the feature set of the data (minus
/// `hle`/`rtm`, which the TSX filter may remove for some Intel signatures).
pub fn cpuid_data_parse(map: &CpuMap, data: &[u8]) -> Result<(), LawViolation> {
    let limits = fuzz_limits();
    let Ok(d) = xml::parse_cpuid_data(data, limits) else { return Ok(()) };
    let text = xml::format_cpuid_data(&d);
    let again = xml::parse_cpuid_data(text.as_bytes(), limits)
        .map_err(|e| violation("CPUID round trip: written data parses", format!("{e}\n{text}")))?;
    check(again == d.normalized(), "CPUID round trip: read(write(d)) == d", || format!("{d:?}\n!=\n{again:?}"))?;
    let x = X86Data::from_cpuid(&map.x86, &d);
    let _ = x86::decode_guest(&map.x86, &x).map(|c| xml::format_cpu(&c));
    let Ok(mut host) = x86::decode_host(&map.x86, &x) else { return Ok(()) };
    let _ = xml::format_cpu(&host);
    x86::expand_features(&map.x86, &mut host)
        .map_err(|e| violation("decode then expand gives the decoded set", format!("expand failed: {e}")))?;
    let expanded: BTreeSet<&str> = host.features.iter().map(|f| f.name.as_str()).collect();
    let decoded: BTreeSet<&str> = x.features.iter().map(|id| map.x86.feature_name(id)).collect();
    let tsx: BTreeSet<&str> = ["hle", "rtm"].into_iter().collect();
    let ok = expanded.is_subset(&decoded) && decoded.difference(&expanded).all(|n| tsx.contains(n));
    check(ok, "decode then expand gives the decoded set", || {
        format!("decoded {decoded:?}\nexpanded {expanded:?}\nmodel {:?}", host.model)
    })
}

/// Splits a fuzz input into a map: the first NUL-separated segment is `index.xml`, every later
/// segment is `NAME\nCONTENT` (an included file). `None` when the input is not UTF-8.
pub fn split_map_input(data: &[u8]) -> Option<(&str, Vec<(&str, &str)>)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut parts = text.split('\0');
    let index = parts.next().unwrap_or("");
    let files = parts.map(|p| p.split_once('\n').unwrap_or((p, ""))).collect();
    Some((index, files))
}

/// Target `cpu_map_parse`: load a CPU map from an index with includes ([`split_map_input`]) and,
/// separately, the same text as a self-contained document (the embedded format). Law: a map
/// that loads is written by [`CpuMap::format_arch`] in a form that loads back to the same map.
pub fn cpu_map_parse(data: &[u8]) -> Result<(), LawViolation> {
    let Some((index, files)) = split_map_input(data) else { return Ok(()) };
    let lookup = |name: &str| files.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
    let loaded = LibvirtVersion::ALL
        .into_iter()
        .flat_map(|v| [CpuMap::load(v, index, &lookup), CpuMap::load_documents(v, &[("fuzz.xml", index)])]);
    for map in loaded.flatten() {
        for arch in ["x86", "ppc64"] {
            let Some(text) = map.format_arch(arch) else { continue };
            let back = CpuMap::load_documents(map.version(), &[(arch, text.as_str())])
                .map_err(|e| violation("CPU map: the written map loads", format!("{e}\n{text}")))?;
            let same = if arch == "x86" { back.x86 == map.x86 } else { back.ppc64 == map.ppc64 };
            check(same, "CPU map: load(format(map)) == map", || text.clone())?;
        }
    }
    Ok(())
}

/// Target `capabilities_parse`: read a capabilities / domcapabilities / domain / `<cpuTest>`
/// document, then run every CPU operation on what it holds (compare, baseline, update,
/// translate, expand, has_feature, live update) through the architecture dispatch. Operations
/// may fail with an error; they must not panic. Returns the number of CPUs read.
pub fn capabilities_parse(map: &CpuMap, data: &[u8]) -> usize {
    let limits = fuzz_limits();
    let mut n = 0;
    for hint in [TypeHint::Host, TypeHint::Auto] {
        let Ok(doc) = xml::read_cpu_document(data, hint, map.version(), limits) else { continue };
        let cpus = &doc.cpus[..doc.cpus.len().min(MAX_CPUS_PER_INPUT)];
        n += cpus.len();
        exercise_ops(map, cpus, doc.models.as_deref());
    }
    n
}

fn exercise_ops(map: &CpuMap, cpus: &[CpuDef], models: Option<&[xml::ModelListEntry]>) {
    let Some(first) = cpus.first() else { return };
    for migratable in [false, true] {
        if let Ok(mut b) = ops::baseline(map, cpus, None, migratable) {
            if let Ok(arch) = ops::Arch::of_cpu(map, first) {
                let _ = ops::expand_features(map, arch, &mut b);
            }
            let _ = xml::format_cpu(&b);
        }
    }
    for cpu in cpus {
        let _ = ops::compare(map, first, cpu);
        let _ = ops::compare(map, cpu, first);
        let Ok(arch) = ops::Arch::of_cpu(map, first) else { continue };
        let host = ops::copy_migratable(map, arch, first);
        let mut guest = cpu.clone();
        guest.cpu_type = CpuType::Guest;
        if ops::update(map, arch, &mut guest, Some(&host)).is_ok() {
            let _ = xml::format_cpu(&guest);
        }
        let mut t = cpu.clone();
        let _ = ops::translate(map, arch, &mut t, models);
        let mut e = cpu.clone();
        let _ = ops::expand_features(map, arch, &mut e);
        if arch == ops::Arch::X86 {
            let _ = x86::has_feature(&map.x86, cpu, "vmx");
            let all = map.x86.all_features();
            let half: cpufleet_engine::FeatureSet = all.iter().filter(|id| id.0 % 2 == 0).collect();
            let mut live = cpu.clone();
            let _ = x86::update_live(&map.x86, &mut live, &half, &all.difference(&half));
        }
    }
}
