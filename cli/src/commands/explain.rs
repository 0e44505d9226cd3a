//! `cpufleet baseline --explain FILE…`: which input CPUs limit the baseline, what it would be
//! without them, and what each input CPU loses under it.
//!
//! The rule is the engine's (`x86::explain`, libvirt's baseline run again without some inputs);
//! this module only reads the inputs for it and words the answer. Inputs are deduplicated so
//! that the explanation costs about what the baseline costs (a 24,000-host pool: 3x, `benches`'
//! `explain`): files by their bytes (each distinct content read once), a pool file's bare
//! `<cpu>` elements by their bytes (each distinct element parsed once), then CPUs by what
//! baseline reads of them (`BaselineInput`), so the engine sees each distinct CPU once, with the
//! number of CPUs it stands for. Positions are found in one pass per file, and CPUs that
//! `fleet gen` named are labelled by name.

use super::BaselineOpts;
use crate::args::{limits, Common};
use crate::error::{CliError, CliResult};
use crate::inputs::{cpu_label, Loaded};
use crate::json;
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::explain::{self as rule, DistinctInput, Explanation};
use cpufleet_engine::x86::BaselineInput;
use cpufleet_engine::xml::{read_cpu_document, CpuDocument, CpuSpan, DocKind, TypeHint};
use cpufleet_engine::{CpuDef, CpuMap, FeatureSet, Policy, Pos, XmlError};
use cpufleet_inventory::docs::parse_host;
use cpufleet_io::{read_file, Input};
use cpufleet_mix::hash_bytes;
use memchr::memmem;
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Files read in parallel per batch (bounds the bytes held at once).
const BATCH: usize = 512;

/// A baseline explained: the engine's explanation over the distinct input CPUs, with every input
/// CPU named.
pub struct Explained {
    /// The baseline's model and feature summary.
    result: CpuDef,
    ex: Explanation,
    /// Per distinct input, the labels (`FILE#N (L:C)`) of the CPUs it stands for, in input order.
    names: Vec<Vec<String>>,
    /// Per limit: the baseline without it, as `baseline` with the same options prints it.
    without: Vec<CpuDef>,
}

/// The distinct contents of the inputs and, per input, which content it holds.
#[derive(Default)]
struct Contents {
    bytes: Vec<Vec<u8>>,
    /// Each content's CPUs when they were read already (the documents `baseline` read one by
    /// one, host files the inventory's reader decoded among them); None: parse the bytes.
    docs: Vec<Option<CpuDocument>>,
    /// The first path of each content.
    first: Vec<PathBuf>,
    by_hash: HashMap<u64, Vec<usize>>,
    inputs: Vec<(PathBuf, usize)>,
}

impl Contents {
    fn add(&mut self, path: PathBuf, bytes: Vec<u8>, doc: Option<&CpuDocument>) {
        let ids = self.by_hash.entry(hash_bytes(&bytes)).or_default();
        let id = match ids.iter().find(|&&i| self.bytes[i] == bytes) {
            Some(&i) => i,
            None => {
                self.bytes.push(bytes);
                self.docs.push(doc.cloned());
                self.first.push(path.clone());
                ids.push(self.bytes.len() - 1);
                self.bytes.len() - 1
            }
        };
        self.inputs.push((path, id));
    }

    /// The inputs' contents: from `docs` when the baseline read them one by one (standard input
    /// among them), else read again from the files, in parallel batches.
    fn read(inputs: &[Input], docs: &[Loaded], max_bytes: u64) -> CliResult<Contents> {
        let mut c = Contents::default();
        if !docs.is_empty() {
            for d in docs {
                c.add(d.input.path().to_path_buf(), d.bytes.clone(), Some(&d.doc));
            }
            return Ok(c);
        }
        for batch in inputs.chunks(BATCH) {
            let read: Vec<CliResult<Vec<u8>>> =
                batch.par_iter().map(|i| read_file(i.path(), max_bytes).map_err(CliError::from)).collect();
            for (input, bytes) in batch.iter().zip(read) {
                c.add(input.path().to_path_buf(), bytes?, None);
            }
        }
        Ok(c)
    }
}

/// With `--explain`, the inputs as host files, read as the inventory reads them
/// (`cpufleet_inventory::docs::parse_host`, the one reader of host files): besides the CPU
/// documents `baseline` reads, a `<cpudata>` CPUID dump (decoded as libvirt would) and a `virsh
/// domcapabilities` (its host-model CPU); a `HOST.domcaps.xml` beside its `HOST.xml` among the
/// inputs is that host's QEMU/KVM view, not another host, and is left out. None when there is
/// nothing of the kind (standard input among the inputs, or a file neither reader takes: then
/// `baseline` reads the inputs its own way and says what is wrong where).
pub fn host_files(map: &CpuMap, common: &Common, inputs: &[Input]) -> CliResult<Option<Vec<Loaded>>> {
    let mut paths: Vec<&Path> = Vec::with_capacity(inputs.len());
    for i in inputs {
        match i {
            Input::File(p) => paths.push(p),
            Input::Stdin => return Ok(None),
        }
    }
    let named: HashSet<&Path> = paths.iter().copied().collect();
    let beside = |p: &Path| {
        let name = p.file_name().and_then(|n| n.to_str())?;
        let stem = name.strip_suffix(".domcaps.xml")?;
        Some(named.contains(p.with_file_name(format!("{stem}.xml")).as_path()))
    };
    let kept: Vec<&Path> = paths.iter().copied().filter(|p| beside(p) != Some(true)).collect();
    let (version, lim) = (map.version(), limits(common));
    // A look at each file's first bytes first: most inputs are CPU documents `baseline` reads.
    let special = kept.par_iter().any(|p| sniff(p).is_some_and(|head| host_file_only(&head)));
    if !special && kept.len() == paths.len() {
        return Ok(None);
    }
    let mut read_all = Vec::with_capacity(kept.len());
    let mut inventory_read = kept.len() != paths.len();
    for batch in kept.chunks(BATCH) {
        // Per file: its bytes, its document when read here, and whether only the inventory's
        // reader took it.
        type Read = Option<(Vec<u8>, Option<CpuDocument>, bool)>;
        let read: Vec<Read> = batch
            .par_iter()
            .map(|p| {
                let bytes = read_file(p, common.max_input_bytes).ok()?;
                if !host_file_only(&bytes) {
                    return Some((bytes, None, false));
                }
                if let Ok(doc) = read_cpu_document(&bytes, TypeHint::Host, version, lim) {
                    return Some((bytes, Some(doc), false));
                }
                let cpu = parse_host(&bytes, map, lim).ok()?;
                let doc = CpuDocument {
                    kinds: vec![DocKind::Cpu],
                    cpus: vec![cpu],
                    spans: vec![CpuSpan::default()],
                    models: None,
                    domcaps: None,
                };
                Some((bytes, Some(doc), true))
            })
            .collect();
        for (p, r) in batch.iter().zip(read) {
            let Some((bytes, doc, by_inventory)) = r else { return Ok(None) };
            inventory_read |= by_inventory;
            read_all.push((p, bytes, doc));
        }
    }
    if !inventory_read {
        return Ok(None);
    }
    // Some inputs only the inventory's reader takes: every input read as a host file.
    let mut docs = Vec::with_capacity(read_all.len());
    for (p, bytes, doc) in read_all {
        let doc = match doc {
            Some(d) => d,
            None => match read_cpu_document(&bytes, TypeHint::Host, version, lim) {
                Ok(d) => d,
                Err(_) => return Ok(None),
            },
        };
        docs.push(Loaded { input: Input::File(p.to_path_buf()), bytes, doc });
    }
    Ok(Some(docs))
}

/// The first bytes of a file (None when it cannot be read: `baseline` then says why).
fn sniff(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path).ok()?.take(4096).read_to_end(&mut head).ok()?;
    Some(head)
}

/// Whether a document's root is one only host files are (`<cpudata>`, `<domainCapabilities>`):
/// a look at its first element, so that ordinary CPU documents are not parsed here.
fn host_file_only(bytes: &[u8]) -> bool {
    let mut rest = bytes.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(bytes);
    loop {
        rest = rest.trim_ascii_start();
        let skip = |open: &[u8], close: &[u8], r: &[u8]| {
            r.starts_with(open).then(|| r.windows(close.len()).position(|w| w == close).map(|p| p + close.len()))
        };
        match skip(b"<?", b"?>", rest).or_else(|| skip(b"<!--", b"-->", rest)) {
            Some(Some(n)) => rest = &rest[n..],
            Some(None) => return false,
            None => break,
        }
    }
    let name: &[u8] = rest.strip_prefix(b"<").unwrap_or(b"");
    let end = name.iter().position(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b':')).unwrap_or(name.len());
    matches!(&name[..end], b"cpudata" | b"domainCapabilities")
}

/// Explains `result`, the baseline `baseline` just printed of `inputs` (`docs`: the documents it
/// read one by one, empty when it streamed them).
pub fn explain(
    map: &CpuMap,
    common: &Common,
    (inputs, docs): (&[Input], &[Loaded]),
    result: &CpuDef,
    opts: &BaselineOpts,
) -> CliResult<Explained> {
    let contents = Contents::read(inputs, docs, common.max_input_bytes)?;
    let (version, lim) = (map.version(), limits(common));
    let parsed: Vec<Result<Parsed, _>> = contents
        .bytes
        .par_iter()
        .zip(&contents.docs)
        .map(|(b, d)| match d {
            Some(d) => Ok(Parsed::whole(d.clone())),
            None => Parsed::read(b, |b| read_cpu_document(b, TypeHint::Host, version, lim)),
        })
        .collect();
    let mut docs_of: Vec<Parsed> = Vec::with_capacity(parsed.len());
    for (i, d) in parsed.into_iter().enumerate() {
        docs_of.push(d.map_err(|e| CliError::file(&contents.first[i], e))?);
    }
    // Each content's CPUs as distinct baseline inputs (first-occurrence order) and positions.
    let mut distinct: Vec<DistinctInput> = Vec::new();
    let mut index: HashMap<BaselineInput, usize> = HashMap::new();
    // Per content, per CPU: its distinct input, position and `fleet gen` name.
    type Cpu = (usize, Option<Pos>, Option<String>);
    let mut which: Vec<Vec<Cpu>> = Vec::with_capacity(docs_of.len());
    for (c, doc) in docs_of.iter().enumerate() {
        let (path, bytes) = (contents.first[c].as_path(), &contents.bytes[c]);
        // Each distinct CPU of the content as its distinct input.
        let mut input_of = Vec::with_capacity(doc.cpus.len());
        for (k, cpu) in doc.cpus.iter().enumerate() {
            if Arch::of_cpu(map, cpu).ok() != Some(Arch::X86) {
                return Err(CliError::file(path, "--explain explains x86 baselines only"));
            }
            let first = doc.of.iter().position(|&x| x == k).unwrap_or(0);
            let input = BaselineInput::from_cpu(&map.x86, cpu, first).map_err(|e| CliError::file(path, e))?;
            input_of.push(*index.entry(input.clone()).or_insert_with(|| {
                distinct.push(DistinctInput { input, count: 0 });
                distinct.len() - 1
            }));
        }
        let named: Vec<Option<String>> = (0..doc.of.len())
            .map(|i| host_comment(bytes, doc.offsets[i], i.checked_sub(1).map(|p| doc.offsets[p])))
            .collect();
        // Positions only where a CPU has no name (one pass over the content).
        let positions = match named.iter().any(Option::is_none) {
            true => locate_all(bytes, &doc.offsets).into_iter().map(Some).collect(),
            false => vec![None; doc.of.len()],
        };
        which.push(doc.of.iter().zip(positions).zip(named).map(|((&k, pos), name)| (input_of[k], pos, name)).collect());
    }
    let mut names: Vec<Vec<String>> = vec![Vec::new(); distinct.len()];
    for (path, c) in &contents.inputs {
        for (i, (d, pos, name)) in which[*c].iter().enumerate() {
            distinct[*d].count += 1;
            names[*d].push(match name {
                Some(n) => n.clone(),
                None => cpu_label(path, i, pos.unwrap_or_default()),
            });
        }
    }
    let ex = rule::explain(&map.x86, &distinct, opts.migratable).map_err(|e| CliError::new(e.to_string()))?;
    let mut without = Vec::with_capacity(ex.limits.len());
    for l in &ex.limits {
        let mut cpu = l.without.clone();
        if opts.features {
            ops::expand_features(map, Arch::X86, &mut cpu).map_err(|e| CliError::new(e.to_string()))?;
        }
        without.push(cpu);
    }
    Ok(Explained { result: result.clone(), ex, names, without })
}

/// A content's CPUs: each distinct one once, and per CPU of the document which it is and where
/// it starts.
struct Parsed {
    /// The distinct CPUs (every CPU when the document was read whole).
    cpus: Vec<CpuDef>,
    /// Per CPU of the document, in order: its index in `cpus`.
    of: Vec<usize>,
    /// Per CPU of the document: the offset of its `<cpu>` element.
    offsets: Vec<usize>,
}

impl Parsed {
    fn whole(doc: CpuDocument) -> Parsed {
        let offsets = (0..doc.cpus.len()).map(|i| doc.spans.get(i).map_or(0, |s| s.offset)).collect();
        Parsed { of: (0..doc.cpus.len()).collect(), cpus: doc.cpus, offsets }
    }

    /// Reads `text` with `read`: a pool of bare host `<cpu>` elements (what `fleet gen` writes)
    /// is cut into its elements and each distinct element read once, as the streaming baseline
    /// does (`baseline` has read the whole document already, so its document-wide checks hold);
    /// any other document, or an element that does not read alone as one CPU, is read whole.
    fn read(text: &[u8], read: impl Fn(&[u8]) -> Result<CpuDocument, XmlError>) -> Result<Parsed, XmlError> {
        if let Some(p) = bare_cpus(text).and_then(|els| Parsed::of_elements(text, &els, &read)) {
            return Ok(p);
        }
        read(text).map(Parsed::whole)
    }

    fn of_elements(
        text: &[u8],
        els: &[std::ops::Range<usize>],
        read: &impl Fn(&[u8]) -> Result<CpuDocument, XmlError>,
    ) -> Option<Parsed> {
        // Elements by their hash (confirmed by their bytes), each read once.
        let mut seen: HashMap<u64, Vec<(&[u8], usize)>> = HashMap::new();
        let mut p =
            Parsed { cpus: Vec::new(), of: Vec::with_capacity(els.len()), offsets: Vec::with_capacity(els.len()) };
        for r in els {
            let el = &text[r.clone()];
            let same = seen.entry(hash_bytes(el)).or_default();
            let k = match same.iter().find(|(b, _)| *b == el) {
                Some(&(_, k)) => k,
                None => {
                    let mut doc = read(el).ok()?;
                    if doc.cpus.len() != 1 || doc.kinds != [DocKind::Cpu] {
                        return None;
                    }
                    p.cpus.push(doc.cpus.remove(0));
                    same.push((el, p.cpus.len() - 1));
                    p.cpus.len() - 1
                }
            };
            p.of.push(k);
            p.offsets.push(r.start);
        }
        Some(p)
    }
}

/// The byte ranges of the `<cpu>` elements of a document that is nothing but top-level `<cpu>`
/// elements with blanks and comments between them; None for any other document.
fn bare_cpus(text: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let find = |from: usize, what: &[u8]| memmem::find(&text[from..], what).map(|p| from + p);
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < text.len() && text[i].is_ascii_whitespace() {
            i += 1;
        }
        let rest = &text[i..];
        if rest.is_empty() {
            break;
        }
        if rest.starts_with(b"<!--") {
            i = find(i + 4, b"-->")? + 3;
        } else if rest.starts_with(b"<cpu") && rest.get(4).is_some_and(|&b| b == b'>' || b.is_ascii_whitespace()) {
            let end = find(i, b"</cpu>")? + 6;
            if find(i + 4, b"<cpu").is_some_and(|n| n < end) {
                return None;
            }
            out.push(i..end);
            i = end;
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The positions of the elements at `offsets` (ascending, as a document's CPUs are) in one pass
/// over `text`: each is `Pos::locate(text, offset)`, without reading the text again per CPU.
fn locate_all(text: &[u8], offsets: &[usize]) -> Vec<Pos> {
    let mut out = Vec::with_capacity(offsets.len());
    let (mut at, mut line, mut line_start) = (0usize, 1u32, 0usize);
    for &offset in offsets {
        let offset = offset.min(text.len());
        if offset < at {
            // Not ascending (cannot happen for one document's CPUs): locate from the start.
            out.push(Pos::locate(text, offset));
            continue;
        }
        for (k, &b) in text[at..offset].iter().enumerate() {
            if b == b'\n' {
                line += 1;
                line_start = at + k + 1;
            }
        }
        at = offset;
        let col = String::from_utf8_lossy(&text[line_start..offset]).chars().count() as u32 + 1;
        out.push(Pos { line, col, offset });
    }
    out
}

/// The name `cpufleet fleet gen` gives the CPU at `offset`: its `<!-- host NAME -->` comment,
/// the last thing before the element (only blanks between), after the previous CPU (which
/// starts at `prev`). None for any other document.
fn host_comment(text: &[u8], offset: usize, prev: Option<usize>) -> Option<String> {
    let from = prev.map_or(0, |p| p + 1).max(offset.saturating_sub(1024));
    let before = text.get(from..offset)?.trim_ascii_end();
    let body = before.strip_suffix(b"-->")?;
    let start = body.windows(4).rposition(|w| w == b"<!--")?;
    let name = std::str::from_utf8(&body[start + 4..]).ok()?.trim().strip_prefix("host ")?.trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| name.to_string())
}

/// `n` with thousands separated by commas (2,310).
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The text output lists at most this many CPUs per group (the JSON lists all).
const SHOWN: usize = 8;

/// Writes the CPU labels of a group, indented, at most [`SHOWN`] of them and then how many more.
fn write_labels<'a>(o: &mut String, labels: impl ExactSizeIterator<Item = &'a String>) {
    let n = labels.len();
    let shown = if n > SHOWN { SHOWN - 1 } else { n };
    for label in labels.take(shown) {
        let _ = writeln!(o, "    {label}");
    }
    if n > shown {
        let _ = writeln!(o, "    … and {} more (all of them in --format json)", grouped(n - shown));
    }
}

/// `MODEL + N features` (required ones), `, M disabled` when some are disabled.
fn summary(cpu: &CpuDef) -> String {
    let model = cpu.model.as_deref().unwrap_or("(no model)");
    let n = |p: Policy| cpu.features.iter().filter(|f| f.policy == Some(p)).count();
    let (req, off) = (n(Policy::Require), n(Policy::Disable) + n(Policy::Forbid));
    let mut s = format!("{model} + {req} feature{}", plural(req));
    if off > 0 {
        let _ = write!(s, ", {off} disabled");
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn names<'a>(map: &'a CpuMap, s: &FeatureSet) -> Vec<&'a str> {
    s.iter().map(|id| map.x86.feature_name(id)).collect()
}

impl Explained {
    /// The text after the baseline's XML.
    pub fn text(&self, map: &CpuMap) -> String {
        let mut o = String::new();
        let cpus: usize = self.names.iter().map(Vec::len).sum();
        let _ = writeln!(
            o,
            "explanation: {cpus} input CPU{} ({} distinct); the baseline {} provides {} features",
            plural(cpus),
            self.names.len(),
            summary(&self.result),
            self.ex.provides.count()
        );
        if self.ex.limits.is_empty() {
            o.push_str("no input CPU limits the baseline: removing any of them leaves it as it is\n");
        } else {
            o.push_str("limited by:\n");
        }
        for (l, without) in self.ex.limits.iter().zip(&self.without) {
            let (it, force) = if l.cpus == 1 { ("it", "forces") } else { ("them", "force") };
            let _ = writeln!(
                o,
                "  {} host{} {force} {}; without {it}: {}",
                l.cpus,
                plural(l.cpus),
                summary(&self.result),
                summary(without)
            );
            let gained = names(map, &l.gained);
            let _ = writeln!(o, "    gained ({}): {}", gained.len(), gained.join(" "));
            if !l.lost.is_empty() {
                let lost = names(map, &l.lost);
                let _ = writeln!(o, "    lost ({}): {}", lost.len(), lost.join(" "));
            }
            let labels: Vec<&String> = l.inputs.iter().flat_map(|&i| &self.names[i]).collect();
            write_labels(&mut o, labels.into_iter());
        }
        o.push_str("lost under the baseline, per input CPU:\n");
        for (lost, labels) in self.ex.lost.iter().zip(&self.names) {
            let lost = names(map, lost);
            match lost.len() {
                0 => o.push_str("  nothing:\n"),
                n => {
                    let _ = writeln!(o, "  {n} feature{}: {}", plural(n), lost.join(" "));
                }
            }
            write_labels(&mut o, labels.iter());
        }
        o
    }

    /// The `explain` object of `baseline --format json --explain`.
    pub fn json(&self, map: &CpuMap) -> Value {
        let limits: Vec<Value> = self
            .ex
            .limits
            .iter()
            .zip(&self.without)
            .map(|(l, without)| {
                let hosts: Vec<&String> = l.inputs.iter().flat_map(|&i| &self.names[i]).collect();
                let mut w = json::cpu(without);
                w["abi_level"] = json::abi(map, without);
                json!({
                    "cpus": l.cpus,
                    "hosts": hosts,
                    "without": w,
                    "gained": names(map, &l.gained),
                    "lost": names(map, &l.lost),
                })
            })
            .collect();
        let lost: Vec<Value> = self
            .ex
            .lost
            .iter()
            .zip(&self.names)
            .map(|(lost, labels)| json!({ "features": names(map, lost), "hosts": labels }))
            .collect();
        json!({
            "cpus": self.names.iter().map(Vec::len).sum::<usize>(),
            "distinct": self.names.len(),
            "provides": names(map, &self.ex.provides),
            "limits": limits,
            "lost": lost,
        })
    }
}
