//! Fast paths for fleet-scale inputs: a zero-allocation scanner for host `<cpu>` elements and
//! name interning, feeding [`BaselineInput`] (and from there [`crate::x86::BaselineAcc`]).
//!
//! The scanner is exact by construction, because it only ever answers for inputs it fully
//! understands and says so otherwise:
//!
//! - It tokenizes the element the way quick-xml (the full reader under
//!   [`crate::xml::read_cpu_document`]) does: start and end tags end at the first `>` outside
//!   quotes, text runs to the next `<`, comments end at the first `-->`, CDATA at the first `]]>`.
//!   When the tokens it sees put the element's end exactly at the end of the slice it was given,
//!   the element is [`Scan::Plain`]: the full reader, run on that slice alone, sees the same
//!   events as it does inside the whole document, so a caller can fall back to it for this one
//!   element and get the same result and the same error (shifted by the element's offset).
//!   Anything else (processing instructions, `<!DOCTYPE`, unbalanced or mismatched tags, nesting
//!   deeper than [`MAX_NESTING`]) is [`Scan::NotPlain`]: the caller must read the whole document
//!   with the full reader.
//! - Within a plain element it extracts arch, model, vendor and features only when every detail
//!   is one it checks exactly like the reader does for a host CPU (`TypeHint::Host`): no
//!   attribute on `<cpu>`, strict `name='value'` attributes without entities, at most one of each
//!   child the reader takes the first of, valid microcode/signature/counter/topology/cache/
//!   maxphysaddr attributes, an `x86_64` or `i686` arch, a model and features the map knows, no
//!   duplicate feature, a known vendor or none, every text and value within the limits. Otherwise
//!   [`Scan::Plain`] carries `cpu: None` and the caller uses the full reader for that element.
//!   These value checks mirror `xml::read::build_cpu` for host CPUs (e.g. non-zero topology
//!   counts) and must change with it: `stream/tests/stream.rs` compares the two on generated
//!   elements with valid and invalid values (zero, empty, too large, not a number), which
//!   catches a drift in any of the values it varies.
//!
//! It also holds [`baseline_interned`] (a fleet's hosts as indices into its distinct CPUs) and
//! [`PreparedHost`] / [`PreparedCpu`]: CPUs resolved once to feature bitsets so that comparing
//! many pairs ([`compare_prepared`]) costs a few bit operations per pair and no allocation for a
//! compatible pair, with the same verdict and reason as [`crate::x86::compare`].
//!
//! Pure: no I/O, no threads, no allocation per element (the name tables are built once per map).

use crate::cpu::{CpuDef, CpuMatch, CpuType, Policy};
use crate::error::CpuError;
use crate::features::{FeatureId, FeatureSet};
use crate::map::X86Map;
use crate::x86::compare::compute_sets;
use crate::x86::{model_from_cpu, BaselineInput, Comparison, Reason, Sel, Verdict};
use crate::xml::num::{parse_u32_dec, parse_u64_dec};
use crate::xml::Limits;

/// Deepest element nesting the scanner follows (a `<cpu>` is 1, its children 2, ...). Deeper
/// elements make the scan [`Scan::NotPlain`].
pub const MAX_NESTING: usize = 16;

/// Most attributes on one tag the scanner extracts; more make the element not simple.
const MAX_ATTRS: usize = 8;

/// An open-addressing table from byte strings (map feature or model names) to their indices,
/// probed with a cheap hash of the first and last 8 bytes and the length.
#[derive(Clone, Debug)]
pub struct NameTable {
    /// 0 = empty, otherwise index + 1.
    slots: Vec<u32>,
    names: Vec<Box<[u8]>>,
    /// Per name: its first and last 8 bytes (zero-padded) and its length, which decide equality
    /// outright for names of up to 16 bytes.
    keys: Vec<(u64, u64, usize)>,
    mask: usize,
}

#[inline]
fn name_key(b: &[u8]) -> (u64, u64, usize) {
    (load_le(b), load_le(&b[b.len().saturating_sub(8)..]), b.len())
}

#[inline]
fn load_le(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w)
}

#[inline]
fn name_hash((head, tail, len): (u64, u64, usize)) -> u64 {
    let h = (head ^ tail.rotate_left(29) ^ (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 32)
}

impl NameTable {
    /// A table of `names`; the index of a name is its position (the first one if repeated).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> NameTable {
        let names: Vec<Box<[u8]>> = names.into_iter().map(|n| n.as_bytes().into()).collect();
        let size = (names.len() * 4).next_power_of_two().max(16);
        let mut t = NameTable { slots: vec![0; size], names: Vec::new(), keys: Vec::new(), mask: size - 1 };
        for n in names {
            let key = name_key(&n);
            if t.get(&n).is_none() {
                let mut i = name_hash(key) as usize & t.mask;
                while t.slots[i] != 0 {
                    i = (i + 1) & t.mask;
                }
                t.names.push(n);
                t.keys.push(key);
                t.slots[i] = t.names.len() as u32;
            } else {
                // Keep indices aligned with the input order (the slot keeps the first).
                t.names.push(n);
                t.keys.push(key);
            }
        }
        t
    }

    /// The index of `name`, if it is in the table.
    #[inline]
    pub fn get(&self, name: &[u8]) -> Option<usize> {
        let key = name_key(name);
        let mut i = name_hash(key) as usize & self.mask;
        loop {
            match self.slots[i] {
                0 => return None,
                s => {
                    let idx = s as usize - 1;
                    if self.keys[idx] == key && (key.2 <= 16 || *self.names[idx] == *name) {
                        return Some(idx);
                    }
                }
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// What a host CPU contributes to a baseline, as the scanner found it: everything interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FastHostCpu {
    /// Index of the map model.
    pub model: u16,
    /// Index of the map vendor the CPU states (None: no `<vendor>` or an empty one).
    pub vendor: Option<u8>,
    /// The model's features plus the CPU's own (`x86ModelFromCPU(cpu, ALL)`).
    pub features: FeatureSet,
}

/// The outcome of scanning one `<cpu>` element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// The scanner cannot vouch that this slice is exactly one element as the full reader sees
    /// it: read the whole document with the full reader.
    NotPlain,
    /// Exactly one element, tokenized as the full reader tokenizes it.
    Plain {
        /// Start tags in the element, its own included (what counts against
        /// [`Limits::max_elements`]).
        elements: u32,
        /// The CPU when every detail was understood and valid; `None`: run the full reader on
        /// the slice for this element (it may be valid, or hold an error the reader reports).
        cpu: Option<FastHostCpu>,
    },
}

/// The scanner and its interning tables for one x86 map.
#[derive(Clone, Debug)]
pub struct HostScanner<'m> {
    map: &'m X86Map,
    features: NameTable,
    models: NameTable,
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[inline]
fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

#[inline]
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.' | b'-')
}

/// The index of the `>` that ends the tag whose content starts at `from` (quote-aware, like
/// quick-xml's `ElementParser`).
#[inline]
fn tag_end(s: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let j = i + s[i..].iter().position(|&b| b == b'>' || b == b'\'' || b == b'"')?;
        if s[j] == b'>' {
            return Some(j);
        }
        let q = s[j];
        i = j + 2 + s[j + 1..].iter().position(|&b| b == q)?;
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| from + p)
}

/// Strictly parses the attributes after an element name: whitespace-separated `name='value'` or
/// `name="value"`, values without `&` or `<`, no duplicates. `None` when anything is unusual.
fn parse_attrs<'a>(rest: &'a [u8], out: &mut [(&'a [u8], &'a [u8]); MAX_ATTRS]) -> Option<usize> {
    let mut i = 0;
    let mut k = 0;
    loop {
        let ws = i;
        while i < rest.len() && is_ws(rest[i]) {
            i += 1;
        }
        if i == rest.len() {
            return Some(k);
        }
        if i == ws || !is_name_start(rest[i]) {
            return None;
        }
        let ns = i;
        while i < rest.len() && is_name_char(rest[i]) {
            i += 1;
        }
        let name = &rest[ns..i];
        if rest.get(i) != Some(&b'=') {
            return None;
        }
        let q = *rest.get(i + 1)?;
        if q != b'\'' && q != b'"' {
            return None;
        }
        i += 2;
        let vs = i;
        while i < rest.len() && rest[i] != q {
            if rest[i] == b'&' || rest[i] == b'<' {
                return None;
            }
            i += 1;
        }
        if i == rest.len() || k == MAX_ATTRS || out[..k].iter().any(|(n, _)| *n == name) {
            return None;
        }
        out[k] = (name, &rest[vs..i]);
        k += 1;
        i += 1;
    }
}

fn attr<'a>(attrs: &[(&'a [u8], &'a [u8])], name: &str) -> Option<&'a [u8]> {
    attrs.iter().find(|(n, _)| *n == name.as_bytes()).map(|(_, v)| *v)
}

fn u32_ok(v: Option<&[u8]>, required: bool) -> bool {
    match v {
        None => !required,
        Some(v) => std::str::from_utf8(v).ok().and_then(parse_u32_dec).is_some(),
    }
}

fn nonzero_ok(v: Option<&[u8]>, required: bool) -> bool {
    match v {
        None => !required,
        Some(v) => std::str::from_utf8(v).ok().and_then(parse_u32_dec).is_some_and(|n| n != 0),
    }
}

fn u64_ok(v: Option<&[u8]>) -> bool {
    v.and_then(|v| std::str::from_utf8(v).ok()).and_then(parse_u64_dec).is_some()
}

/// Which text-bearing child of `<cpu>` is open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Arch,
    Model,
    Vendor,
}

/// What the scan collected so far for the simple path.
#[derive(Default)]
struct Collect<'a> {
    arch: Option<&'a [u8]>,
    model: Option<&'a [u8]>,
    vendor: Option<&'a [u8]>,
    /// The open text-bearing child and the text seen in it.
    field: Option<(Field, Option<&'a [u8]>)>,
    microcode: bool,
    signature: bool,
    tsc: bool,
    topology: bool,
    cache: bool,
    maxphysaddr: bool,
    n_features: usize,
    features: FeatureSet,
}

impl<'m> HostScanner<'m> {
    /// Builds the name tables for `map`'s features and models.
    pub fn new(map: &'m X86Map) -> HostScanner<'m> {
        HostScanner {
            map,
            features: NameTable::new(map.features.iter().map(|f| f.name.as_str())),
            models: NameTable::new(map.models.iter().map(|m| m.name.as_str())),
        }
    }

    pub fn map(&self) -> &'m X86Map {
        self.map
    }

    /// The feature id of a name, through the interning table.
    #[inline]
    pub fn feature_id(&self, name: &[u8]) -> Option<FeatureId> {
        self.features.get(name).map(|i| FeatureId(i as u16))
    }

    /// The map model index of a name, through the interning table.
    #[inline]
    pub fn model_index(&self, name: &[u8]) -> Option<usize> {
        self.models.get(name)
    }

    /// The baseline input of a scanned CPU: what [`BaselineInput::from_cpu`] gives for the same
    /// CPU read by the full reader.
    pub fn input(&self, cpu: &FastHostCpu) -> BaselineInput {
        let m = &self.map.models[cpu.model as usize];
        BaselineInput {
            features: cpu.features,
            model_name: m.name.clone(),
            model_vendor: m.vendor,
            vendor: cpu.vendor.map(|v| (self.map.vendors[v as usize].name.clone(), Some(v as usize))),
        }
    }

    /// Scans `s`, which should hold one `<cpu>` element from its `<` to the end of its `</cpu>`.
    pub fn scan(&self, s: &[u8], limits: &Limits) -> Scan {
        if !s.starts_with(b"<cpu") || !s.ends_with(b"</cpu>") {
            return Scan::NotPlain;
        }
        let n = s.len();
        let mut stack: [(usize, usize); MAX_NESTING] = [(0, 0); MAX_NESTING];
        let mut depth = 0usize;
        let mut pos = 0usize;
        let mut elements = 0u32;
        let mut simple = true;
        let mut c = Collect::default();
        loop {
            if pos >= n {
                return Scan::NotPlain;
            }
            if s[pos] != b'<' {
                // Text up to the next markup.
                let lt = match s[pos..].iter().position(|&b| b == b'<') {
                    Some(p) => pos + p,
                    None => return Scan::NotPlain,
                };
                if simple {
                    let text = &s[pos..lt];
                    if text.len() > limits.max_value_len || text.contains(&b'&') {
                        simple = false;
                    } else if let Some((_, seen)) = &mut c.field {
                        if depth == 2 {
                            // One text node (a second one needs a child element in between,
                            // which already made the element not simple).
                            *seen = Some(text);
                        }
                    }
                }
                pos = lt;
                continue;
            }
            match s.get(pos + 1) {
                None | Some(b'?') => return Scan::NotPlain,
                Some(b'!') => {
                    // Comments and CDATA, ended where quick-xml ends them; the full reader
                    // handles their content (CDATA is text).
                    let end = if s[pos..].starts_with(b"<!--") {
                        find(s, pos + 4, b"-->").map(|p| p + 3)
                    } else if s[pos..].starts_with(b"<![CDATA[") {
                        find(s, pos + 9, b"]]>").map(|p| p + 3)
                    } else {
                        None
                    };
                    match end {
                        Some(e) if depth > 0 => {
                            simple = false;
                            pos = e;
                        }
                        _ => return Scan::NotPlain,
                    }
                }
                Some(b'/') => {
                    let Some(gt) = tag_end(s, pos + 1) else { return Scan::NotPlain };
                    if depth == 0 {
                        return Scan::NotPlain;
                    }
                    let (a, b) = stack[depth - 1];
                    if s[pos + 2..gt] != s[a..b] {
                        return Scan::NotPlain;
                    }
                    depth -= 1;
                    if depth == 1 {
                        if let Some((field, text)) = c.field.take() {
                            let text = text.unwrap_or(b"");
                            match field {
                                Field::Arch => c.arch = Some(text),
                                Field::Model => c.model = Some(text),
                                Field::Vendor => c.vendor = Some(text),
                            }
                        }
                    }
                    pos = gt + 1;
                    if depth == 0 {
                        if pos != n {
                            return Scan::NotPlain;
                        }
                        break;
                    }
                }
                Some(_) => {
                    // The most common tag, `<feature name='x'/>`, without the general machinery
                    // (same tokens: the quoted value holds no quote of its kind, `/>` follows).
                    if depth == 1 && s[pos + 1..].starts_with(b"feature name=") {
                        if let Some(end) = self.feature_tag(s, pos + 14, &mut c, &mut simple, limits) {
                            elements = elements.saturating_add(1);
                            pos = end;
                            continue;
                        }
                    }
                    let Some(gt) = tag_end(s, pos + 1) else { return Scan::NotPlain };
                    let mut content = &s[pos + 1..gt];
                    let empty = content.last() == Some(&b'/');
                    if empty {
                        content = &content[..content.len() - 1];
                    }
                    let name_len = content.iter().position(|&b| is_ws(b)).unwrap_or(content.len());
                    let name = &content[..name_len];
                    elements = elements.saturating_add(1);
                    if depth == 0 && (pos != 0 || name != b"cpu") {
                        return Scan::NotPlain;
                    }
                    if simple {
                        simple = self.start_tag(&mut c, depth, name, &content[name_len..], empty, limits);
                    }
                    if empty {
                        if depth == 0 {
                            // `<cpu/>`: the element ended before the slice does.
                            return Scan::NotPlain;
                        }
                    } else {
                        if depth == MAX_NESTING {
                            return Scan::NotPlain;
                        }
                        if depth + 1 > limits.max_depth {
                            simple = false;
                        }
                        stack[depth] = (pos + 1, pos + 1 + name_len);
                        depth += 1;
                    }
                    pos = gt + 1;
                }
            }
        }
        let cpu = if simple { self.finish(&c) } else { None };
        Scan::Plain { elements, cpu }
    }

    /// `<feature name='x'/>` with the quote at `q`: the offset after its `>`, or None when the
    /// tag has any other shape (the general path then reads it).
    #[inline]
    fn feature_tag(&self, s: &[u8], q: usize, c: &mut Collect, simple: &mut bool, limits: &Limits) -> Option<usize> {
        let quote = *s.get(q)?;
        if quote != b'\'' && quote != b'"' {
            return None;
        }
        let close = q + 1 + s[q + 1..].iter().position(|&b| b == quote)?;
        if s.get(close + 1..close + 3) != Some(b"/>") {
            return None;
        }
        if *simple {
            let name = &s[q + 1..close];
            *simple = name.len() <= limits.max_value_len
                && c.n_features < limits.max_features
                && match self.feature_id(name) {
                    Some(id) if !c.features.contains(id) => {
                        c.features.insert(id);
                        true
                    }
                    // Unknown, empty, escaped or duplicate: the full reader decides.
                    _ => false,
                };
            c.n_features += 1;
        }
        Some(close + 3)
    }

    /// Checks one start tag for the simple path; false when the element is not simple.
    fn start_tag<'a>(
        &self,
        c: &mut Collect<'a>,
        depth: usize,
        name: &'a [u8],
        rest: &'a [u8],
        empty: bool,
        limits: &Limits,
    ) -> bool {
        if name.is_empty() || !is_name_start(name[0]) || !name.iter().all(|&b| is_name_char(b)) {
            return false;
        }
        let mut attrs: [(&[u8], &[u8]); MAX_ATTRS] = [(b"", b""); MAX_ATTRS];
        let Some(k) = parse_attrs(rest, &mut attrs) else { return false };
        let attrs = &attrs[..k];
        if attrs.iter().any(|(_, v)| v.len() > limits.max_value_len) {
            return false;
        }
        if depth == 0 {
            // The <cpu> itself: host CPUs take no attribute (`mode` is an error), and the
            // others are left to the full reader.
            return attrs.is_empty();
        }
        if depth >= 2 {
            // Grandchildren are skipped by the reader, except inside arch/model/vendor, whose
            // text would then include theirs.
            return c.field.is_none();
        }
        let fresh = |seen: &mut bool| !std::mem::replace(seen, true);
        match name {
            b"arch" | b"model" | b"vendor" => {
                let field = match name {
                    b"arch" => Field::Arch,
                    b"model" => Field::Model,
                    _ => Field::Vendor,
                };
                let taken = match field {
                    Field::Arch => c.arch.is_some(),
                    Field::Model => c.model.is_some(),
                    Field::Vendor => c.vendor.is_some(),
                };
                if taken {
                    return false;
                }
                if empty {
                    match field {
                        Field::Arch => c.arch = Some(b""),
                        Field::Model => c.model = Some(b""),
                        Field::Vendor => c.vendor = Some(b""),
                    }
                } else {
                    c.field = Some((field, None));
                }
                true
            }
            b"microcode" => fresh(&mut c.microcode) && u32_ok(attr(attrs, "version"), true),
            b"signature" => {
                fresh(&mut c.signature)
                    && u32_ok(attr(attrs, "family"), true)
                    && u32_ok(attr(attrs, "model"), true)
                    && u32_ok(attr(attrs, "stepping"), false)
            }
            b"counter" => {
                if attr(attrs, "name") != Some(b"tsc") {
                    return true; // skipped by the reader
                }
                fresh(&mut c.tsc)
                    && u64_ok(attr(attrs, "frequency"))
                    && matches!(attr(attrs, "scaling"), None | Some(b"yes") | Some(b"no"))
            }
            b"topology" => {
                // All four are read as non-zero counts, and so is libvirt 11.3.0's `clusters`
                // (which 9.0.0's reader ignores).
                let v11 = self.map.version().at_least_11_3();
                fresh(&mut c.topology)
                    && nonzero_ok(attr(attrs, "sockets"), true)
                    && nonzero_ok(attr(attrs, "dies"), false)
                    && (!v11 || nonzero_ok(attr(attrs, "clusters"), false))
                    && nonzero_ok(attr(attrs, "cores"), true)
                    && nonzero_ok(attr(attrs, "threads"), true)
            }
            b"cache" => {
                let level_ok = match attr(attrs, "level") {
                    None => true,
                    Some(v) => {
                        std::str::from_utf8(v).ok().and_then(parse_u32_dec).is_some_and(|l| (1..=3).contains(&l))
                    }
                };
                fresh(&mut c.cache)
                    && level_ok
                    && matches!(attr(attrs, "mode"), Some(b"emulate" | b"passthrough" | b"disable"))
            }
            b"maxphysaddr" => {
                fresh(&mut c.maxphysaddr)
                    && matches!(attr(attrs, "mode"), Some(b"emulate" | b"passthrough"))
                    && u32_ok(attr(attrs, "bits"), false)
                    // libvirt 11.3.0 validates `limit`; the full reader decides on it.
                    && (!self.map.version().at_least_11_3() || attr(attrs, "limit").is_none())
            }
            b"feature" => {
                if c.n_features >= limits.max_features {
                    return false;
                }
                c.n_features += 1;
                match attr(attrs, "name").and_then(|n| self.feature_id(n)) {
                    Some(id) if !c.features.contains(id) => {
                        c.features.insert(id);
                        true
                    }
                    // Unknown, empty or missing name, or a duplicate: the full reader decides.
                    _ => false,
                }
            }
            _ => true,
        }
    }

    fn finish(&self, c: &Collect) -> Option<FastHostCpu> {
        if c.field.is_some() || !matches!(c.arch, Some(b"x86_64" | b"i686")) {
            return None;
        }
        let model = c.model.filter(|m| !m.is_empty()).and_then(|m| self.model_index(m))?;
        let vendor = match c.vendor {
            None | Some(b"") => None,
            Some(v) => Some(self.map.vendors.iter().position(|x| x.name.as_bytes() == v)? as u8),
        };
        let mut features = self.map.models[model].features;
        features = features.union(&c.features);
        Some(FastHostCpu { model: model as u16, vendor, features })
    }
}

/// The baseline of a fleet's hosts given as indices into its distinct host CPUs (a fleet holds
/// each distinct configuration once): the result and error of `x86::baseline` over the hosts in
/// order, with each distinct input folded once. Folding an input that was already folded
/// changes nothing and cannot fail, so every host after the first occurrence of its input is a
/// bit test. The first host's input is folded again where it recurs, since the first CPU is
/// not checked like the others; error indices are the hosts' positions.
pub fn baseline_interned(
    map: &X86Map,
    distinct: &[BaselineInput],
    hosts: &[u32],
    migratable: bool,
) -> Result<crate::CpuDef, CpuError> {
    let first = *hosts.first().ok_or(CpuError::NoCpus)?;
    let input =
        |h: u32| distinct.get(h as usize).ok_or_else(|| CpuError::Invalid(format!("host CPU index {h} out of range")));
    let mut acc = crate::x86::BaselineAcc::new(input(first)?)?;
    let mut folded = vec![false; distinct.len()];
    for (i, &h) in hosts.iter().enumerate().skip(1) {
        if folded.get(h as usize) == Some(&true) {
            continue;
        }
        acc.add(map, input(h)?).map_err(|e| with_index(e, i))?;
        folded[h as usize] = true;
    }
    acc.finish(map, migratable)
}

/// A baseline error with the index of the CPU it is about set to `index` (for folds that skip
/// repeated CPUs, so that the accumulator's own count is not the position).
pub fn with_index(e: CpuError, index: usize) -> CpuError {
    match e {
        CpuError::ModelVendorMismatch { cpu, model_vendor, .. } => {
            CpuError::ModelVendorMismatch { cpu, model_vendor, index }
        }
        other => other,
    }
}

/// A host CPU resolved once for [`compare_prepared`]: what `x86::compare` reads from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedHost {
    has_model: bool,
    vendor: Option<String>,
    /// `x86ModelFromCPU(host, ALL)`.
    features: Result<FeatureSet, CpuError>,
}

impl PreparedHost {
    pub fn new(map: &X86Map, host: &CpuDef) -> PreparedHost {
        PreparedHost {
            has_model: host.model.is_some(),
            vendor: host.vendor.clone(),
            features: model_from_cpu(map, host, Sel::All).map(|m| m.features),
        }
    }

    /// The host's features (model plus listed features), when they resolve.
    pub fn features(&self) -> Option<&FeatureSet> {
        self.features.as_ref().ok()
    }
}

/// A CPU (usually a guest) resolved once for [`compare_prepared`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedCpu {
    /// Its arch, when it is not an x86 one.
    foreign_arch: Option<String>,
    vendor: Option<String>,
    /// Force, require, optional, disable and forbid sets, or the first error resolving them.
    sets: Result<[FeatureSet; 5], CpuError>,
    strict: bool,
}

impl PreparedCpu {
    pub fn new(map: &X86Map, cpu: &CpuDef) -> PreparedCpu {
        let foreign_arch = cpu.arch.as_ref().filter(|a| *a != "x86_64" && *a != "i686").cloned();
        let set = |p| model_from_cpu(map, cpu, Sel::Only(p)).map(|m| m.features);
        let sets = (|| {
            Ok::<_, CpuError>([
                set(Policy::Force)?,
                set(Policy::Require)?,
                set(Policy::Optional)?,
                set(Policy::Disable)?,
                set(Policy::Forbid)?,
            ])
        })();
        PreparedCpu {
            foreign_arch,
            vendor: cpu.vendor.clone(),
            sets,
            strict: cpu.cpu_type == CpuType::Guest && cpu.match_ == CpuMatch::Strict,
        }
    }
}

/// `x86::compare(map, host, cpu)` on prepared CPUs: the same verdict and reason, in the same
/// order of checks (host model, arch, vendor, name resolution, then the feature sets).
#[inline]
pub fn compare_prepared(host: &PreparedHost, cpu: &PreparedCpu) -> Comparison {
    let no = |reason| Comparison { verdict: Verdict::Incompatible, reason };
    if !host.has_model {
        return no(Reason::UnknownHost);
    }
    if let Some(a) = &cpu.foreign_arch {
        return no(Reason::Arch(a.clone()));
    }
    if let Some(v) = &cpu.vendor {
        if host.vendor.as_deref() != Some(v.as_str()) {
            return no(Reason::Vendor { required: v.clone(), host: host.vendor.clone() });
        }
    }
    let error = |e: &CpuError| Comparison { verdict: Verdict::Error, reason: Reason::Error(e.to_string()) };
    let h = match &host.features {
        Ok(h) => h,
        Err(e) => return error(e),
    };
    match &cpu.sets {
        Ok([f, r, o, d, x]) => compute_sets(h, f, r, o, d, x, cpu.strict),
        Err(e) => error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{read_cpu_document, TypeHint};
    use crate::CpuMap;

    fn scan(map: &CpuMap, s: &str) -> Scan {
        HostScanner::new(&map.x86).scan(s.as_bytes(), &Limits::default())
    }

    fn slow(map: &CpuMap, s: &str) -> Result<BaselineInput, String> {
        let doc = read_cpu_document(s.as_bytes(), TypeHint::Host, map.version(), Limits::default())
            .map_err(|e| e.to_string())?;
        BaselineInput::from_cpu(&map.x86, &doc.cpus[0], 0).map_err(|e| e.to_string())
    }

    #[test]
    fn name_table_finds_every_map_name_and_nothing_else() {
        let map = CpuMap::embedded(crate::LibvirtVersion::V9_0_0).unwrap();
        let sc = HostScanner::new(&map.x86);
        for (i, f) in map.x86.features.iter().enumerate() {
            assert_eq!(sc.feature_id(f.name.as_bytes()), Some(FeatureId(i as u16)), "{}", f.name);
            let mut longer = f.name.clone().into_bytes();
            longer.push(b'x');
            assert_eq!(sc.feature_id(&longer), None);
        }
        for (i, m) in map.x86.models.iter().enumerate() {
            assert_eq!(sc.model_index(m.name.as_bytes()), Some(i));
        }
        assert_eq!(sc.feature_id(b""), None);
        assert_eq!(sc.model_index(b"Skylake"), None);
    }

    #[test]
    fn simple_host_cpu_matches_the_full_reader() {
        let map = CpuMap::embedded(crate::LibvirtVersion::V9_0_0).unwrap();
        let s = "<cpu>\n  <arch>x86_64</arch>\n  <model>Skylake-Client-IBRS</model>\n  <vendor>Intel</vendor>\n  \
                 <microcode version='240'/>\n  <signature family='6' model='94' stepping='3'/>\n  \
                 <counter name='tsc' frequency='3407998000' scaling='no'/>\n  \
                 <topology sockets='1' dies='1' cores='4' threads='2'/>\n  <maxphysaddr mode='emulate' bits='39'/>\n  \
                 <feature name='ds'/>\n  <feature name=\"vmx\"/>\n  <pages unit='KiB' size='4'/>\n</cpu>";
        let Scan::Plain { elements, cpu: Some(cpu) } = scan(&map, s) else { panic!("{:?}", scan(&map, s)) };
        assert_eq!(elements, 12);
        let sc = HostScanner::new(&map.x86);
        assert_eq!(Ok(sc.input(&cpu)), slow(&map, s));
    }

    /// libvirt 11.3.0's `clusters` and `<maxphysaddr limit>`: a valid `clusters` is scanned, and
    /// whatever 11.3.0's reader validates and the scanner does not is left to the reader; 9.0.0's
    /// reader ignores both attributes, and so does the scanner.
    #[test]
    fn libvirt_11_3_topology_and_maxphysaddr() {
        let base = |body: &str| format!("<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n{body}</cpu>");
        let (v9, v11) = (crate::LibvirtVersion::V9_0_0, crate::LibvirtVersion::V11_3_0);
        let (old, new) = (CpuMap::embedded(v9).unwrap(), CpuMap::embedded(v11).unwrap());
        let ok = base("<topology sockets='1' dies='1' clusters='2' cores='4' threads='2'/>");
        for map in [&old, &new] {
            let Scan::Plain { cpu: Some(cpu), .. } = scan(map, &ok) else { panic!("{:?}", scan(map, &ok)) };
            assert_eq!(Ok(HostScanner::new(&map.x86).input(&cpu)), slow(map, &ok));
        }
        for body in [
            "<topology sockets='1' clusters='0' cores='4' threads='2'/>",
            "<topology sockets='1' clusters='x' cores='4' threads='2'/>",
            "<maxphysaddr mode='passthrough' limit='39'/>",
            "<maxphysaddr mode='emulate' bits='39' limit='39'/>",
        ] {
            let s = base(body);
            assert!(matches!(scan(&new, &s), Scan::Plain { cpu: None, .. }), "{s}");
            // All but the passthrough limit are errors for 11.3.0's reader.
            assert_eq!(slow(&new, &s).is_err(), !body.contains("passthrough"), "{s}");
            let Scan::Plain { cpu: Some(cpu), .. } = scan(&old, &s) else { panic!("9.0.0 {s}") };
            assert_eq!(Ok(HostScanner::new(&old.x86).input(&cpu)), slow(&old, &s));
        }
    }

    #[test]
    fn anything_unusual_is_left_to_the_full_reader() {
        let map = CpuMap::embedded(crate::LibvirtVersion::V9_0_0).unwrap();
        let base = |body: &str| format!("<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n{body}</cpu>");
        for body in [
            "<vendor>Intel</vendor><vendor>AMD</vendor>",
            "<feature name='vmx'/><feature name='vmx'/>",
            "<feature name='no-such-feature'/>",
            "<feature name=''/>",
            "<feature/>",
            "<feature name='vmx' name='svm'/>",
            "<feature name=vmx/>",
            "<feature name='&amp;'/>",
            "<vendor>Intel&amp;</vendor>",
            "<vendor>Sparc</vendor>",
            "<microcode version='x'/>",
            "<microcode/>",
            "<signature family='6'/>",
            "<counter name='tsc' frequency='1' scaling='maybe'/>",
            "<topology sockets='1' cores='1'/>",
            "<cache mode='emulate'/><cache mode='emulate'/>",
            "<cache level='4' mode='emulate'/>",
            "<maxphysaddr mode='other'/>",
            "<!-- a comment -->",
            "<![CDATA[text]]>",
            "<vendor>Int<b/>el</vendor>",
        ] {
            let s = base(body);
            assert!(matches!(scan(&map, &s), Scan::Plain { cpu: None, .. }), "{s}: {:?}", scan(&map, &s));
        }
        for s in [
            "<cpu mode='custom'><arch>x86_64</arch><model>Haswell</model></cpu>",
            "<cpu><arch>ppc64</arch><model>POWER9</model></cpu>",
            "<cpu><arch>x86_64</arch><model>NoSuchModel</model></cpu>",
            "<cpu><arch>x86_64</arch><model></model></cpu>",
            "<cpu><arch>x86_64</arch></cpu>",
        ] {
            assert!(matches!(scan(&map, s), Scan::Plain { cpu: None, .. }), "{s}");
        }
        // Where the element's extent is in doubt, the whole document goes to the full reader.
        for s in [
            "<cpu><arch>x86_64</arch><model>Haswell</model><?pi x?></cpu>",
            "<cpu><!-- </cpu>",
            "<cpu><feature name='</cpu>",
            "<cpu><feature></cpu>",
            "<cpu><cpu></cpu>",
            "<cpu/><cpu></cpu>",
            "<cpux></cpu>",
            "<cpu></cpu ></cpu>",
            "<cpu><!DOCTYPE x></cpu>",
        ] {
            assert_eq!(scan(&map, s), Scan::NotPlain, "{s}");
        }
    }

    #[test]
    fn the_first_of_a_counter_only_if_tsc_and_unknown_children_are_skipped() {
        let map = CpuMap::embedded(crate::LibvirtVersion::V9_0_0).unwrap();
        let s = "<cpu><arch>i686</arch><model>Haswell</model><counter name='other' frequency='x'/>\
                 <numa><cell id='0'/></numa><vendor/></cpu>";
        let Scan::Plain { elements, cpu: Some(cpu) } = scan(&map, s) else { panic!() };
        assert_eq!(elements, 7);
        assert_eq!(cpu.vendor, None);
        assert_eq!(Ok(HostScanner::new(&map.x86).input(&cpu)), slow(&map, s));
    }

    #[test]
    fn prepared_compare_equals_compare() {
        use crate::cpu::{CpuMode, Feature};
        let map = CpuMap::embedded(crate::LibvirtVersion::V9_0_0).unwrap();
        let x = &map.x86;
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut cpus = Vec::new();
        for i in 0..120 {
            let mut c = CpuDef::new(if i % 3 == 0 { CpuType::Host } else { CpuType::Guest });
            c.model = match next(20) {
                0 => None,
                1 => Some("NoSuchModel".into()),
                _ => Some(x.models[next(x.models.len())].name.clone()),
            };
            c.arch = match next(10) {
                0 => Some("ppc64".into()),
                1 | 2 => None,
                3 => Some("i686".into()),
                _ => Some("x86_64".into()),
            };
            c.vendor = match next(6) {
                0 | 1 => None,
                2 => Some("AMD".into()),
                _ => Some("Intel".into()),
            };
            if next(5) == 0 {
                c.match_ = CpuMatch::Strict;
            }
            if next(10) == 0 {
                c.mode = CpuMode::HostModel;
            }
            for _ in 0..next(12) {
                let name =
                    if next(40) == 0 { "no-such".to_string() } else { x.features[next(x.features.len())].name.clone() };
                let policy = if c.cpu_type == CpuType::Host { None } else { Some(Policy::ALL[next(5)]) };
                c.features.push(Feature::new(&name, policy));
            }
            cpus.push(c);
        }
        let hosts: Vec<PreparedHost> = cpus.iter().map(|c| PreparedHost::new(x, c)).collect();
        let guests: Vec<PreparedCpu> = cpus.iter().map(|c| PreparedCpu::new(x, c)).collect();
        let mut verdicts = std::collections::HashMap::new();
        for (h, ph) in cpus.iter().zip(&hosts) {
            for (g, pg) in cpus.iter().zip(&guests) {
                let want = crate::x86::compare(x, h, g);
                assert_eq!(compare_prepared(ph, pg), want, "{h:?}\n{g:?}");
                *verdicts.entry(want.verdict).or_insert(0) += 1;
            }
        }
        assert_eq!(verdicts.len(), 4, "{verdicts:?}");
    }
}
