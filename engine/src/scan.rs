//! The host scanner: a zero-allocation reader for host `<cpu>` elements with interned names
//! (`intern::NameTable`), feeding [`BaselineInput`] (and from there
//! [`crate::x86::BaselineAcc`]). The streaming baseline (`cpufleet-stream`) reads each distinct
//! element of a pool with it, and falls back to the full reader where it does not answer.
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
//!   maxphysaddr attributes, an x86 arch ([`Arch::is_x86`]), a model and features the map knows,
//!   no duplicate feature, a known vendor or none, every text and value within the limits.
//!   Otherwise [`Scan::Plain`] carries `cpu: None` and the caller uses the full reader for that
//!   element. These value checks mirror `xml::read::build_cpu` for host CPUs (e.g. non-zero
//!   topology counts) and must change with it: `stream/tests/stream.rs` compares the two on
//!   generated elements with valid and invalid values (zero, empty, too large, not a number),
//!   which catches a drift in any of the values it varies.
//!
//! Pure: no I/O, no threads, no allocation per element (the name tables are built once per map).

use crate::arch::Arch;
use crate::features::{FeatureId, FeatureSet};
use crate::intern::NameTable;
use crate::map::X86Map;
use crate::x86::BaselineInput;
use crate::xml::cursor::{first_forbidden, is_plain_ascii, is_space as is_ws, utf8_error};
use crate::xml::num::{parse_u32_dec, parse_u64_dec};
use crate::xml::Limits;

/// Deepest element nesting the scanner follows (a `<cpu>` is 1, its children 2, ...). Deeper
/// elements make the scan [`Scan::NotPlain`].
pub const MAX_NESTING: usize = 16;

/// Most attributes on one tag the scanner extracts; more make the element not simple.
const MAX_ATTRS: usize = 8;

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

impl<'a> Collect<'a> {
    /// The value slot of a text-bearing child.
    #[inline]
    fn slot(&mut self, field: Field) -> &mut Option<&'a [u8]> {
        match field {
            Field::Arch => &mut self.arch,
            Field::Model => &mut self.model,
            Field::Vendor => &mut self.vendor,
        }
    }
}

/// The scan found that the slice is not one plain element ([`Scan::NotPlain`]); an error type
/// so that the tokenizer's steps can stop the scan with `?`.
struct NotPlain;

/// The tokenizer's state over one element: the position, the open elements (name ranges), the
/// start tags counted, and what the simple path collected.
struct Tokens<'a> {
    s: &'a [u8],
    pos: usize,
    stack: [(usize, usize); MAX_NESTING],
    depth: usize,
    elements: u32,
    /// Still on the simple path (every detail so far understood and valid).
    simple: bool,
    c: Collect<'a>,
}

impl<'a> Tokens<'a> {
    /// Text up to the next markup (one text node of an open arch/model/vendor is taken).
    #[inline]
    fn text(&mut self, limits: &Limits) -> Result<(), NotPlain> {
        let s: &'a [u8] = self.s;
        let pos = self.pos;
        let lt = pos + s[pos..].iter().position(|&b| b == b'<').ok_or(NotPlain)?;
        if self.simple {
            let text = &s[pos..lt];
            if text.len() > limits.max_value_len || text.contains(&b'&') {
                self.simple = false;
            } else if let Some((_, seen)) = &mut self.c.field {
                if self.depth == 2 {
                    // One text node (a second one needs a child element in between, which
                    // already made the element not simple).
                    *seen = Some(text);
                }
            }
        }
        self.pos = lt;
        Ok(())
    }

    /// `<!`: a comment or CDATA inside the element, ended where quick-xml ends them; the full
    /// reader handles their content (CDATA is text).
    #[inline]
    fn comment_or_cdata(&mut self) -> Result<(), NotPlain> {
        let (s, pos) = (self.s, self.pos);
        let end = if s[pos..].starts_with(b"<!--") {
            find(s, pos + 4, b"-->").map(|p| p + 3)
        } else if s[pos..].starts_with(b"<![CDATA[") {
            find(s, pos + 9, b"]]>").map(|p| p + 3)
        } else {
            None
        };
        match end {
            Some(e) if self.depth > 0 => {
                self.simple = false;
                self.pos = e;
                Ok(())
            }
            _ => Err(NotPlain),
        }
    }

    /// `</`: an end tag, which must close the innermost open element. True when it closes the
    /// `<cpu>` exactly at the end of the slice.
    #[inline]
    fn end_tag(&mut self) -> Result<bool, NotPlain> {
        let s: &'a [u8] = self.s;
        let pos = self.pos;
        let gt = tag_end(s, pos + 1).ok_or(NotPlain)?;
        if self.depth == 0 {
            return Err(NotPlain);
        }
        let (a, b) = self.stack[self.depth - 1];
        if s[pos + 2..gt] != s[a..b] {
            return Err(NotPlain);
        }
        self.depth -= 1;
        if self.depth == 1 {
            if let Some((field, text)) = self.c.field.take() {
                *self.c.slot(field) = Some(text.unwrap_or(b""));
            }
        }
        self.pos = gt + 1;
        if self.depth == 0 {
            return if self.pos == s.len() { Ok(true) } else { Err(NotPlain) };
        }
        Ok(false)
    }

    /// Opens the element whose start tag is `s[pos..=gt]` (name `name_len` bytes long) unless
    /// it is empty (`<x/>`).
    #[inline]
    fn open(&mut self, gt: usize, name_len: usize, empty: bool, limits: &Limits) -> Result<(), NotPlain> {
        if empty {
            if self.depth == 0 {
                // `<cpu/>`: the element ended before the slice does.
                return Err(NotPlain);
            }
        } else {
            if self.depth == MAX_NESTING {
                return Err(NotPlain);
            }
            if self.depth + 1 > limits.max_depth {
                self.simple = false;
            }
            self.stack[self.depth] = (self.pos + 1, self.pos + 1 + name_len);
            self.depth += 1;
        }
        self.pos = gt + 1;
        Ok(())
    }
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

    /// The map the scanner's tables were built from.
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
        let mut t = Tokens {
            s,
            pos: 0,
            stack: [(0, 0); MAX_NESTING],
            depth: 0,
            elements: 0,
            simple: true,
            c: Collect::default(),
        };
        match self.tokens(&mut t, limits) {
            Err(NotPlain) => Scan::NotPlain,
            Ok(()) => {
                // The tokenizer checks structure and names, not characters: the reader's
                // character rule (valid UTF-8, no forbidden control) is applied here, so the
                // scanner answers only for bytes the full reader accepts. Once per distinct
                // element, in one vectorized pass for plain ASCII.
                let clean = is_plain_ascii(s) || (utf8_error(s).is_none() && first_forbidden(s).is_none());
                let cpu = if t.simple && clean { self.finish(&t.c) } else { None };
                Scan::Plain { elements: t.elements, cpu }
            }
        }
    }

    /// Runs the tokenizer to the end of the element.
    #[inline]
    fn tokens<'a>(&self, t: &mut Tokens<'a>, limits: &Limits) -> Result<(), NotPlain> {
        loop {
            if t.pos >= t.s.len() {
                return Err(NotPlain);
            }
            if t.s[t.pos] != b'<' {
                t.text(limits)?;
                continue;
            }
            match t.s.get(t.pos + 1) {
                None | Some(b'?') => return Err(NotPlain),
                Some(b'!') => t.comment_or_cdata()?,
                Some(b'/') => {
                    if t.end_tag()? {
                        return Ok(());
                    }
                }
                Some(_) => self.start(t, limits)?,
            }
        }
    }

    /// A start tag at `t.pos`.
    #[inline]
    fn start<'a>(&self, t: &mut Tokens<'a>, limits: &Limits) -> Result<(), NotPlain> {
        let s: &'a [u8] = t.s;
        let pos = t.pos;
        // The most common tag, `<feature name='x'/>`, without the general machinery (same
        // tokens: the quoted value holds no quote of its kind, `/>` follows).
        if t.depth == 1 && s[pos + 1..].starts_with(b"feature name=") {
            if let Some(end) = self.feature_tag(s, pos + 14, &mut t.c, &mut t.simple, limits) {
                t.elements = t.elements.saturating_add(1);
                t.pos = end;
                return Ok(());
            }
        }
        let gt = tag_end(s, pos + 1).ok_or(NotPlain)?;
        let mut content = &s[pos + 1..gt];
        let empty = content.last() == Some(&b'/');
        if empty {
            content = &content[..content.len() - 1];
        }
        let name_len = content.iter().position(|&b| is_ws(b)).unwrap_or(content.len());
        let name = &content[..name_len];
        t.elements = t.elements.saturating_add(1);
        if t.depth == 0 && (pos != 0 || name != b"cpu") {
            return Err(NotPlain);
        }
        if t.simple {
            t.simple = self.start_tag(&mut t.c, t.depth, name, &content[name_len..], empty, limits);
        }
        t.open(gt, name_len, empty, limits)
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
                && self.new_feature(c, Some(name));
            c.n_features += 1;
        }
        Some(close + 3)
    }

    /// Adds a feature by name; false (the full reader decides) when the name is missing, empty,
    /// unknown or escaped, or the feature is a duplicate.
    #[inline]
    fn new_feature(&self, c: &mut Collect, name: Option<&[u8]>) -> bool {
        match name.and_then(|n| self.feature_id(n)) {
            Some(id) if !c.features.contains(id) => {
                c.features.insert(id);
                true
            }
            _ => false,
        }
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
        self.child(c, name, attrs, empty, limits)
    }

    /// A child of `<cpu>`: each one the reader takes the first of at most once, with the values
    /// the reader accepts; other children are skipped, as the reader skips them.
    fn child(&self, c: &mut Collect, name: &[u8], attrs: &[(&[u8], &[u8])], empty: bool, limits: &Limits) -> bool {
        let fresh = |seen: &mut bool| !std::mem::replace(seen, true);
        let v11 = self.map.version().at_least_11_3();
        match name {
            b"arch" => text_child(c, Field::Arch, empty),
            b"model" => text_child(c, Field::Model, empty),
            b"vendor" => text_child(c, Field::Vendor, empty),
            b"microcode" => fresh(&mut c.microcode) && u32_ok(attr(attrs, "version"), true),
            b"signature" => fresh(&mut c.signature) && signature_ok(attrs),
            // Counters other than `tsc` are skipped by the reader.
            b"counter" if attr(attrs, "name") != Some(b"tsc") => true,
            b"counter" => fresh(&mut c.tsc) && tsc_ok(attrs),
            b"topology" => fresh(&mut c.topology) && topology_ok(attrs, v11),
            b"cache" => fresh(&mut c.cache) && cache_ok(attrs),
            b"maxphysaddr" => fresh(&mut c.maxphysaddr) && maxphysaddr_ok(attrs, v11),
            b"feature" => {
                if c.n_features >= limits.max_features {
                    return false;
                }
                c.n_features += 1;
                self.new_feature(c, attr(attrs, "name"))
            }
            _ => true,
        }
    }

    fn finish(&self, c: &Collect) -> Option<FastHostCpu> {
        let x86 = c.arch.and_then(|a| std::str::from_utf8(a).ok()).is_some_and(Arch::is_x86);
        if c.field.is_some() || !x86 {
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

/// `<arch>`, `<model>` or `<vendor>`: the first one only; its text is taken at its end tag.
fn text_child(c: &mut Collect, field: Field, empty: bool) -> bool {
    if c.slot(field).is_some() {
        return false;
    }
    if empty {
        *c.slot(field) = Some(b"");
    } else {
        c.field = Some((field, None));
    }
    true
}

fn signature_ok(attrs: &[(&[u8], &[u8])]) -> bool {
    u32_ok(attr(attrs, "family"), true) && u32_ok(attr(attrs, "model"), true) && u32_ok(attr(attrs, "stepping"), false)
}

fn tsc_ok(attrs: &[(&[u8], &[u8])]) -> bool {
    u64_ok(attr(attrs, "frequency")) && matches!(attr(attrs, "scaling"), None | Some(b"yes") | Some(b"no"))
}

/// All four counts are read as non-zero, and so is libvirt 11.3.0's `clusters` (which 9.0.0's
/// reader ignores).
fn topology_ok(attrs: &[(&[u8], &[u8])], v11: bool) -> bool {
    nonzero_ok(attr(attrs, "sockets"), true)
        && nonzero_ok(attr(attrs, "dies"), false)
        && (!v11 || nonzero_ok(attr(attrs, "clusters"), false))
        && nonzero_ok(attr(attrs, "cores"), true)
        && nonzero_ok(attr(attrs, "threads"), true)
}

fn cache_ok(attrs: &[(&[u8], &[u8])]) -> bool {
    let level_ok = match attr(attrs, "level") {
        None => true,
        Some(v) => std::str::from_utf8(v).ok().and_then(parse_u32_dec).is_some_and(|l| (1..=3).contains(&l)),
    };
    level_ok && matches!(attr(attrs, "mode"), Some(b"emulate" | b"passthrough" | b"disable"))
}

fn maxphysaddr_ok(attrs: &[(&[u8], &[u8])], v11: bool) -> bool {
    matches!(attr(attrs, "mode"), Some(b"emulate" | b"passthrough"))
        && u32_ok(attr(attrs, "bits"), false)
        // libvirt 11.3.0 validates `limit`; the full reader decides on it.
        && (!v11 || attr(attrs, "limit").is_none())
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
}
