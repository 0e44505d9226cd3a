//! Pure helpers behind the cargo-fuzz targets in `fuzz/` (and usable from tests).
//!
//! Each fuzz target is a few lines that call one function here, so that what a target checks is
//! ordinary, documented, testable library code. The functions never panic on any input: a broken
//! law is returned as a [`LawViolation`], and the fuzz target turns it into a crash (which is
//! what makes libFuzzer keep the input). No I/O, no global state: callers pass the map.
//!
//! The laws checked here are the ones `engine/tests/laws.rs` states as property tests; this is a
//! second, coverage-guided search for counterexamples, with its own small reference model (sets
//! of feature *names*, computed from the map data, never from the engine's bitsets).

use crate::cpu::{CpuDef, CpuMode, CpuType, Fallback, Policy};
use crate::map::{CpuMap, X86Map};
use crate::ops;
use crate::version::LibvirtVersion;
use crate::x86::{self, Sel, X86Data};
use crate::xml::{self, Limits, TypeHint};
use std::collections::BTreeSet;
use std::fmt;

/// A law that did not hold, with the evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LawViolation {
    /// The law, as stated in `engine/tests/laws.rs`.
    pub law: &'static str,
    pub detail: String,
}

impl fmt::Display for LawViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "law violated: {}: {}", self.law, self.detail)
    }
}

impl std::error::Error for LawViolation {}

fn violation(law: &'static str, detail: impl Into<String>) -> LawViolation {
    LawViolation { law, detail: detail.into() }
}

fn check(ok: bool, law: &'static str, detail: impl FnOnce() -> String) -> Result<(), LawViolation> {
    if ok {
        Ok(())
    } else {
        Err(violation(law, detail()))
    }
}

/// The limits the fuzz helpers read with: the defaults, except a 1 MiB document cap (inputs are
/// bounded by `-max_len` anyway) so that a run never spends its time on one huge input.
pub fn fuzz_limits() -> Limits {
    Limits { max_bytes: 1 << 20, ..Limits::default() }
}

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
            let half: crate::FeatureSet = all.iter().filter(|id| id.0 % 2 == 0).collect();
            let mut live = cpu.clone();
            let _ = x86::update_live(&map.x86, &mut live, &half, &all.difference(&half));
        }
    }
}

/// The input of the `baseline_laws` target: a pool of x86 CPUs (host or guest type, any vendor
/// situation), a permutation of it, a split point and the migratable flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaselinePool {
    pub cpus: Vec<CpuDef>,
    /// A permutation of `0..cpus.len()` (entries out of range or repeated are ignored and the
    /// missing indices appended, so any vector is accepted).
    pub order: Vec<usize>,
    /// The pool is partitioned into `cpus[..split]` and `cpus[split..]` (clamped).
    pub split: usize,
    pub migratable: bool,
}

type Names = BTreeSet<String>;

/// Reference model: `x86ModelFromCPU(cpu, ALL)` (pack README 4.1) on sets of names.
fn naive_all(map: &X86Map, cpu: &CpuDef) -> Option<Names> {
    let model = map.model(cpu.model.as_deref()?)?;
    let mut set: Names = model.features.iter().map(|id| map.feature_name(id).to_string()).collect();
    for f in &cpu.features {
        map.feature_id(&f.name)?;
        match f.effective_policy() {
            Policy::Optional => {}
            Policy::Force | Policy::Require => {
                set.insert(f.name.clone());
            }
            Policy::Disable | Policy::Forbid => {
                set.remove(&f.name);
            }
        }
    }
    Some(set)
}

fn model_vendor<'m>(map: &'m X86Map, cpu: &CpuDef) -> Option<&'m str> {
    let m = map.model(cpu.model.as_deref()?)?;
    m.vendor.map(|v| map.vendors[v].name.as_str())
}

/// Every CPU's stated vendor agrees with its model's vendor, every stated vendor is a map
/// vendor, and all "effective" vendors (stated, else the model's) are one and the same. On such
/// pools libvirt's baseline fails only for an empty intersection, whatever the order.
pub fn vendor_consistent(map: &X86Map, cpus: &[CpuDef]) -> bool {
    let mut seen: Option<&str> = None;
    for c in cpus {
        let mv = model_vendor(map, c);
        if let Some(v) = c.vendor.as_deref() {
            if map.vendor(v).is_none() || mv.is_some_and(|m| m != v) {
                return false;
            }
        }
        if let Some(v) = c.vendor.as_deref().or(mv) {
            match seen {
                None => seen = Some(v),
                Some(s) if s != v => return false,
                _ => {}
            }
        }
    }
    true
}

fn names_of(map: &X86Map, cpu: &CpuDef) -> Result<Names, LawViolation> {
    x86::model_from_cpu(map, cpu, Sel::All)
        .map(|m| m.features.iter().map(|id| map.feature_name(id).to_string()).collect())
        .map_err(|e| violation("baseline result is a valid CPU", e.to_string()))
}

fn permute(cpus: &[CpuDef], order: &[usize]) -> Vec<CpuDef> {
    let mut used = vec![false; cpus.len()];
    let mut out = Vec::with_capacity(cpus.len());
    for &i in order {
        if i < cpus.len() && !used[i] {
            used[i] = true;
            out.push(cpus[i].clone());
        }
    }
    out.extend(cpus.iter().zip(used).filter(|(_, u)| !u).map(|(c, _)| c.clone()));
    out
}

/// Target `baseline_laws`: the baseline laws of `engine/tests/laws.rs` on one pool. `base` is
/// the intersection of the inputs' ModelFromCPU(ALL) name sets (the reference model), `NM` the
/// map's non-migratable features. Checked:
/// - feature set: without `migratable`, the result provides exactly `base`; with it, exactly
///   `base − NM` outside NM, and inside NM exactly what its chosen model lists (the decode drops
///   every NM feature entry, `require` and `disable` alike);
/// - every input compares identical or superset against the result (with `migratable`: exactly
///   when the input has the NM features the result's model lists);
/// - order independence (vendor-consistent pools): same success, same features, same vendor;
/// - monotonicity: dropping the last CPU never removes a feature, nor turns success into failure;
/// - associativity in effect: the baseline of the baselines of `cpus[..split]` and
///   `cpus[split..]` provides the same features as the baseline of the whole, and (when every
///   CPU states the same vendor, consistently) succeeds exactly when the whole does;
/// - idempotence: the baseline of three copies of the first CPU provides exactly its features.
pub fn baseline_laws(map: &CpuMap, pool: &BaselinePool) -> Result<(), LawViolation> {
    let x = &map.x86;
    let cpus = &pool.cpus;
    if cpus.is_empty() || cpus.iter().any(|c| naive_all(x, c).is_none()) {
        return Ok(());
    }
    let nm: Names = x.non_migratable.iter().map(|id| x.feature_name(id).to_string()).collect();
    let mig = pool.migratable;
    let consistent = vendor_consistent(x, cpus);
    let whole = x86::baseline(x, cpus, mig);
    let base = cpus.iter().filter_map(|c| naive_all(x, c)).reduce(|a, b| a.intersection(&b).cloned().collect());
    let base = base.unwrap_or_default();
    if consistent {
        check(whole.is_ok() != base.is_empty(), "baseline fails only on an empty intersection", || {
            format!("{whole:?} with base {base:?}")
        })?;
    }
    let provided = |r: &CpuDef| -> Result<Names, LawViolation> { names_of(x, r) };
    let minus_nm = |s: &Names| -> Names { s.difference(&nm).cloned().collect() };
    if let Ok(r) = &whole {
        let got = provided(r)?;
        let model_nm: Names = naive_all(x, &CpuDef { features: vec![], ..r.clone() })
            .unwrap_or_default()
            .intersection(&nm)
            .cloned()
            .collect();
        if mig {
            check(minus_nm(&got) == minus_nm(&base), "baseline provides the intersection (migratable)", || {
                format!("got {got:?}\nbase {base:?}")
            })?;
            let got_nm: Names = got.intersection(&nm).cloned().collect();
            check(got_nm == model_nm, "migratable baseline keeps exactly its model's NM features", || {
                format!("got {got_nm:?}, model {model_nm:?}")
            })?;
        } else {
            check(got == base, "baseline provides the intersection", || format!("got {got:?}\nbase {base:?}"))?;
        }
        for (i, c) in cpus.iter().enumerate() {
            let v = x86::compare(x, c, r).verdict;
            let h = naive_all(x, c).unwrap_or_default();
            let expect = !mig || model_nm.is_subset(&h);
            check(v.is_compatible() == expect, "every input runs the baseline", || {
                format!("input {i} gives {v:?}, expected compatible={expect}")
            })?;
        }
    }
    // Order independence.
    let permuted = permute(cpus, &pool.order);
    let other = x86::baseline(x, &permuted, mig);
    if consistent {
        check(other.is_ok() == whole.is_ok(), "baseline is order-independent (success)", || {
            format!("{whole:?}\nvs permuted {other:?}")
        })?;
    }
    if let (Ok(a), Ok(b)) = (&whole, &other) {
        let (fa, fb) = (provided(a)?, provided(b)?);
        check(minus_nm(&fa) == minus_nm(&fb), "baseline is order-independent (features)", || {
            format!("{fa:?}\nvs permuted {fb:?}")
        })?;
        check(!consistent || a.vendor == b.vendor, "baseline is order-independent (vendor)", || {
            format!("{:?} vs {:?}", a.vendor, b.vendor)
        })?;
    }
    // Monotonicity.
    if cpus.len() > 1 {
        let fewer = x86::baseline(x, &cpus[..cpus.len() - 1], mig);
        if consistent && fewer.is_err() {
            check(whole.is_err(), "adding a CPU never turns failure into success", || format!("{whole:?}"))?;
        }
        if let (Ok(small), Ok(big)) = (&fewer, &whole) {
            let (fs, fb) = (minus_nm(&provided(small)?), minus_nm(&provided(big)?));
            check(fb.is_subset(&fs), "adding a CPU never adds a feature", || format!("{fb:?}\nnot within {fs:?}"))?;
        }
    }
    // Associativity in effect (not migratable: the NM rule above is not associative).
    let k = pool.split.clamp(1, cpus.len());
    if k < cpus.len() {
        let flat = x86::baseline(x, cpus, false);
        let parts = (x86::baseline(x, &cpus[..k], false), x86::baseline(x, &cpus[k..], false));
        let outer = match &parts {
            (Ok(a), Ok(b)) => Some(x86::baseline(x, &[a.clone(), b.clone()], false)),
            _ => None,
        };
        if let (Ok(w), Some(Ok(o))) = (&flat, &outer) {
            let (fw, fo) = (provided(w)?, provided(o)?);
            check(fw == fo, "baseline of baselines == baseline (features)", || format!("{fw:?}\nvs {fo:?}"))?;
        }
        let stated = cpus.iter().map(|c| c.vendor.as_deref()).collect::<BTreeSet<_>>();
        if consistent && stated.len() == 1 && !stated.contains(&None) {
            let nested_ok = matches!(outer, Some(Ok(_)));
            check(flat.is_ok() == nested_ok, "baseline of baselines == baseline (success)", || {
                format!("whole {flat:?}\nparts {parts:?}\nouter {outer:?}")
            })?;
        }
    }
    // Idempotence.
    let c0 = &cpus[0];
    if vendor_consistent(x, std::slice::from_ref(c0)) {
        let copies = [c0.clone(), c0.clone(), c0.clone()];
        let own = naive_all(x, c0).unwrap_or_default();
        match x86::baseline(x, &copies, false) {
            Ok(r) => {
                let got = provided(&r)?;
                check(got == own, "baseline of copies keeps every feature", || format!("{got:?}\nvs {own:?}"))?;
                let decodable = x.model(c0.model.as_deref().unwrap_or("")).is_some_and(|m| m.decode_guest);
                check((r.model == c0.model) == decodable, "baseline of copies keeps its model", || {
                    format!("{:?} for {:?}", r.model, c0.model)
                })?;
                let forbid = r.fallback == Fallback::Forbid;
                check(forbid == decodable, "fallback forbid iff the single input model is kept", || {
                    format!("{:?}", r.fallback)
                })?;
            }
            Err(e) => check(own.is_empty(), "baseline of copies fails only without features", || e.to_string())?,
        }
    }
    Ok(())
}

/// Builds a CPU for the fuzz and test generators: model `model` of the x86 map, host or guest,
/// with `features` (map feature names and policies; host CPUs drop the policy).
pub fn x86_cpu(
    cpu_type: CpuType,
    model: &str,
    vendor: Option<&str>,
    features: impl IntoIterator<Item = (String, Policy)>,
) -> CpuDef {
    let mut cpu = CpuDef::new(cpu_type);
    cpu.model = Some(model.to_string());
    cpu.vendor = vendor.map(str::to_string);
    if cpu_type == CpuType::Host {
        cpu.arch = Some("x86_64".into());
    } else {
        cpu.mode = CpuMode::Custom;
    }
    for (name, p) in features {
        let policy = if cpu_type == CpuType::Host { None } else { Some(p) };
        cpu.set_feature(&name, policy);
    }
    cpu
}
