//! Streaming, parallel `cpufleet baseline`: flat memory whatever the pool size, byte-identical
//! results (and errors) to the in-memory path ([`baseline_in_memory`]: the whole document read
//! by `xml::read_cpu_document(…, TypeHint::Host, …)`, then `ops::baseline`).
//!
//! How it works:
//! 1. The file is read in blocks of `chunk_size` bytes. Each block is cut after its last
//!    `<cpu` start (a byte search); the tail is carried into the next block. Batches hold whole
//!    top-level elements, and only a few batches are alive at a time.
//! 2. Batches are processed in parallel (rayon). A worker walks its batch: whitespace and
//!    comments between elements, then `<cpu` … first `</cpu>`. It hashes the element's bytes and
//!    compares them with the distinct elements it has already seen; only a new one is scanned
//!    ([`HostScanner::scan`], zero-allocation, interned names) or, when the scanner does not
//!    understand every detail, read with the full reader on the element's bytes alone. Real
//!    pools repeat a few configurations thousands of times, so almost every element costs one
//!    hash and one comparison.
//! 3. Batch results are folded in document order on the calling thread: the document-wide
//!    checks of the reader (UTF-8, forbidden characters, the element and CPU count limits), the
//!    first parse error, and the baseline itself in a [`BaselineAcc`]. An input is folded only
//!    at its first occurrence (per batch): repeating a CPU that was already accepted changes
//!    nothing, and the error index of a later CPU is the one it has in the whole document.
//! 4. Anything that is not a plain sequence of top-level host `<cpu>` elements (a capabilities
//!    document, `<cpuTest>`, a processing instruction, an element whose extent is in doubt, a
//!    ppc64 first CPU, no CPU at all) makes the streaming path give up with
//!    [`Streamed::Fallback`] before it reports anything; the caller then runs the in-memory path
//!    on the whole file (still bounded by the input size limit).
//!
//! Error positions: an error inside an element is computed on the element's bytes, then moved
//! to the document: its offset is shifted and its line and column are recomputed by reading the
//! file again up to that offset (errors are rare; the common path counts no lines).

use crate::io::{io_reason, CliError, CliResult};
use cpufleet_engine::error::Pos;
use cpufleet_engine::fast::{FastHostCpu, HostScanner, Scan};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::{BaselineAcc, BaselineInput};
use cpufleet_engine::xml::{read_cpu_document, Limits, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMap, XmlError, XmlErrorKind};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::mpsc;

/// Default block size of the streaming reader.
pub const DEFAULT_CHUNK: usize = 2 << 20;

/// A pending block may grow to this size while no `<cpu` start is found after its beginning
/// (one huge element, or not a pool at all); beyond it the in-memory path takes over.
pub const MAX_PENDING: usize = 16 << 20;

/// How the streaming baseline runs.
#[derive(Clone, Copy, Debug)]
pub struct StreamOpts {
    /// Bytes read per block (any size ≥ 1 gives the same result; tests use tiny ones).
    pub chunk_size: usize,
    /// Process batches on the rayon pool (false: all on the calling thread).
    pub parallel: bool,
}

impl Default for StreamOpts {
    fn default() -> Self {
        StreamOpts { chunk_size: DEFAULT_CHUNK, parallel: true }
    }
}

/// Why a baseline failed, in the terms the command line reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The input file itself (size limit, empty, I/O): exit 2, `FILE: message`.
    Input(String),
    /// The document could not be read: exit 2, `FILE: LINE:COL: ...`.
    Xml(XmlError),
    /// A document without CPUs: exit 2.
    NoCpus,
    /// The CPU operation failed (`commands::cpu_error` decides between exit 1 and 2).
    Cpu(CpuError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Input(m) => f.write_str(m),
            Failure::Xml(e) => write!(f, "{e}"),
            Failure::NoCpus => f.write_str("does not contain any <cpu> element or valid domain capabilities"),
            Failure::Cpu(e) => write!(f, "{e}"),
        }
    }
}

/// What the streaming path concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Streamed {
    Done(Box<Result<CpuDef, Failure>>),
    /// Not a plain pool of host `<cpu>` elements: use [`baseline_in_memory`] on the whole file.
    Fallback,
}

impl Streamed {
    fn done(r: Result<CpuDef, Failure>) -> Streamed {
        Streamed::Done(Box::new(r))
    }
}

/// The in-memory path: exactly what `cpufleet baseline` always did (and `virsh cpu-baseline`
/// does): read every CPU of the document as a host CPU, baseline them, expand on request.
pub fn baseline_in_memory(
    map: &CpuMap,
    bytes: &[u8],
    limits: Limits,
    features: bool,
    migratable: bool,
) -> Result<CpuDef, Failure> {
    let doc = read_cpu_document(bytes, TypeHint::Host, limits).map_err(Failure::Xml)?;
    if doc.cpus.is_empty() {
        return Err(Failure::NoCpus);
    }
    let mut cpu = ops::baseline(map, &doc.cpus, None, migratable).map_err(Failure::Cpu)?;
    if features {
        let arch = Arch::of_cpu(map, &doc.cpus[0]).map_err(Failure::Cpu)?;
        ops::expand_features(map, arch, &mut cpu).map_err(Failure::Cpu)?;
    }
    Ok(cpu)
}

/// `cpufleet baseline FILE`: streams the file, and reads it whole only when the streaming path
/// gives up. File errors (missing, directory, too large, empty) read exactly as
/// [`crate::io::read_file`] words them.
pub fn baseline_file(
    map: &CpuMap,
    path: &Path,
    max_bytes: u64,
    limits: Limits,
    features: bool,
    migratable: bool,
    opts: StreamOpts,
) -> CliResult<Result<CpuDef, Failure>> {
    let meta = std::fs::metadata(path).map_err(|e| CliError::file(path, io_reason(&e)))?;
    if meta.is_dir() {
        return Err(CliError::file(path, "is a directory, expected a file"));
    }
    if meta.len() > max_bytes {
        return Err(CliError::file(
            path,
            format!("file of {} bytes exceeds the input limit of {max_bytes} bytes", meta.len()),
        ));
    }
    let f = std::fs::File::open(path).map_err(|e| CliError::file(path, io_reason(&e)))?;
    let streamed = baseline_reader(map, f, max_bytes, limits, features, migratable, opts)
        .map_err(|e| CliError::file(path, io_reason(&e)))?;
    match streamed {
        Streamed::Done(r) => match *r {
            Err(Failure::Input(m)) => Err(CliError::file(path, m)),
            r => Ok(r),
        },
        Streamed::Fallback => {
            let bytes = crate::io::read_file(path, max_bytes)?;
            Ok(baseline_in_memory(map, &bytes, limits, features, migratable))
        }
    }
}

/// The streaming path on any seekable reader (the seek is used only to locate an error).
pub fn baseline_reader<R: Read + Seek>(
    map: &CpuMap,
    mut reader: R,
    max_bytes: u64,
    limits: Limits,
    features: bool,
    migratable: bool,
    opts: StreamOpts,
) -> std::io::Result<Streamed> {
    let ctx = Ctx::new(map, limits);
    let mut fold = Fold::new(&ctx);
    let total = drive(&ctx, &mut reader, max_bytes, opts, &mut fold)?;
    if fold.fallback {
        return Ok(Streamed::Fallback);
    }
    // The reader's own checks, in its order: size and emptiness (`read_file`), then the
    // document-wide ones of `Cursor::new`, then the first error in document order.
    if total > max_bytes {
        return Ok(Streamed::done(Err(Failure::Input(format!("file exceeds the input limit of {max_bytes} bytes")))));
    }
    if total == 0 {
        return Ok(Streamed::done(Err(Failure::Input("1:1: empty file".into()))));
    }
    if total > limits.max_bytes as u64 {
        let kind = XmlErrorKind::TooLarge { what: "input", limit: limits.max_bytes };
        return Ok(Streamed::done(Err(Failure::Xml(XmlError {
            pos: Pos { line: 1, col: 1, offset: 0 },
            element: String::new(),
            kind,
        }))));
    }
    let located = |reader: &mut R, offset: u64, element: String, kind| -> std::io::Result<Streamed> {
        let pos = locate(reader, offset)?;
        Ok(Streamed::done(Err(Failure::Xml(XmlError { pos, element, kind }))))
    };
    if let Some(off) = fold.utf8 {
        return located(&mut reader, off, String::new(), XmlErrorKind::InvalidUtf8);
    }
    if let Some((off, b)) = fold.forbidden {
        return located(&mut reader, off, String::new(), XmlErrorKind::ForbiddenChar(b as u32));
    }
    if let Some(e) = fold.error.take() {
        return located(&mut reader, e.offset, e.element, e.kind);
    }
    if fold.n_cpus == 0 {
        // Comments and whitespace only: the reader's own message for that.
        return Ok(Streamed::Fallback);
    }
    if let Some(e) = fold.base_err.take() {
        return Ok(Streamed::done(Err(Failure::Cpu(e))));
    }
    let acc = fold.acc.take().expect("a baseline accumulator once a CPU was folded without error");
    let result = acc.finish(&map.x86, migratable).and_then(|mut cpu| {
        if features {
            ops::expand_features(map, Arch::X86, &mut cpu)?;
        }
        Ok(cpu)
    });
    Ok(Streamed::done(result.map_err(Failure::Cpu)))
}

/// Line and column of byte `offset`, as [`Pos::locate`] computes them on the whole document
/// (columns count characters: bytes that do not continue a UTF-8 sequence).
pub fn locate<R: Read + Seek>(reader: &mut R, offset: u64) -> std::io::Result<Pos> {
    reader.seek(SeekFrom::Start(0))?;
    let mut line = 1u32;
    let mut col_chars = 0u64;
    let mut left = offset;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        let part = &buf[..n];
        match memchr::memrchr(b'\n', part) {
            Some(last) => {
                line += memchr::memchr_iter(b'\n', part).count() as u32;
                col_chars = chars(&part[last + 1..]);
            }
            None => col_chars += chars(part),
        }
        left -= n as u64;
    }
    Ok(Pos { line, col: col_chars as u32 + 1, offset: offset as usize })
}

fn chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&x| (x & 0xC0) != 0x80).count() as u64
}

/// What every worker shares: the map, its scanner and the limits.
struct Ctx<'m> {
    map: &'m CpuMap,
    scanner: HostScanner<'m>,
    limits: Limits,
    end_tag: memchr::memmem::Finder<'static>,
    cpu_tag: memchr::memmem::FinderRev<'static>,
}

impl<'m> Ctx<'m> {
    fn new(map: &'m CpuMap, limits: Limits) -> Self {
        Ctx {
            map,
            scanner: HostScanner::new(&map.x86),
            limits,
            end_tag: memchr::memmem::Finder::new(b"</cpu>"),
            cpu_tag: memchr::memmem::FinderRev::new(b"<cpu"),
        }
    }
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Whether `b[at..]` starts a `<cpu>` start tag (`<cpu` then whitespace, `>` or `/`); None
/// when the byte after `<cpu` is not there yet.
#[inline]
fn cpu_start_at(b: &[u8], at: usize) -> Option<bool> {
    if !b[at..].starts_with(b"<cpu") {
        return Some(false);
    }
    b.get(at + 4).map(|&c| is_ws(c) || c == b'>' || c == b'/')
}

/// A fast 64-bit hash of an element's bytes (four independent multiply-rotate lanes); equal
/// hashes are always confirmed by comparing the bytes.
#[inline]
pub fn hash_bytes(s: &[u8]) -> u64 {
    const M: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: [u64; 4] = [0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344, 0xA409_3822_299F_31D0, 0x082E_FA98_EC4E_6C89];
    let mut lanes = |c: &[u8]| {
        for (l, hl) in h.iter_mut().enumerate() {
            let w = u64::from_le_bytes(c[l * 8..l * 8 + 8].try_into().expect("8 bytes"));
            *hl = (*hl ^ w).wrapping_mul(M).rotate_left(29);
        }
    };
    let mut chunks = s.chunks_exact(32);
    for c in &mut chunks {
        lanes(c);
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let mut t = [0u8; 32];
        t[..rem.len()].copy_from_slice(rem);
        lanes(&t);
    }
    let x = h[0] ^ h[1].rotate_left(17) ^ h[2].rotate_left(31) ^ h[3].rotate_left(47) ^ s.len() as u64;
    let x = x.wrapping_mul(M);
    x ^ (x >> 29)
}

#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// What baseline takes from one distinct CPU.
enum Sem {
    Fast(FastHostCpu),
    Slow { arch: Result<Arch, CpuError>, input: Result<BaselineInput, CpuError> },
}

/// A distinct element of a batch.
struct Entry {
    /// Offset of its first occurrence in the batch, and its length.
    rep: u32,
    len: u32,
    /// Next entry with the same hash.
    next: Option<u32>,
    /// Start tags in it.
    tags: u32,
    /// First invalid UTF-8 byte and first forbidden character (offset in the element, byte).
    utf8: Option<u32>,
    forbidden: Option<(u32, u8)>,
    /// The CPU (index into the batch's sems) or the reader's error, relative to the element.
    parsed: Result<u32, XmlError>,
}

/// One batch's result.
#[derive(Default)]
struct BatchOut {
    /// Each element: its offset in the batch and its entry.
    recs: Vec<(u32, u32)>,
    entries: Vec<Entry>,
    sems: Vec<Sem>,
    /// (index of the CPU in the batch, sem) at the first occurrence of each sem, and at the
    /// second occurrence of the sem of the batch's first CPU (the document's first CPU is not
    /// folded like the others).
    adds: Vec<(u32, u32)>,
    /// Where the plain structure broke (the rest of the batch is only validated).
    odd: Option<u32>,
    /// UTF-8 and forbidden characters outside elements (comments, the rest after `odd`).
    raw_utf8: Option<u32>,
    raw_forbidden: Option<(u32, u8)>,
}

fn first_forbidden(b: &[u8]) -> Option<(usize, u8)> {
    b.iter().position(|&x| x < 0x20 && x != b'\t' && x != b'\n' && x != b'\r').map(|i| (i, b[i]))
}

fn utf8_error(b: &[u8]) -> Option<usize> {
    std::str::from_utf8(b).err().map(|e| e.valid_up_to())
}

impl BatchOut {
    fn raw(&mut self, b: &[u8], at: usize) {
        if self.raw_utf8.is_none() {
            self.raw_utf8 = utf8_error(&b[at..]).map(|p| (at + p) as u32);
        }
        if self.raw_forbidden.is_none() {
            self.raw_forbidden = first_forbidden(&b[at..]).map(|(p, c)| ((at + p) as u32, c));
        }
    }
}

/// Walks one batch (see the module documentation).
fn process(ctx: &Ctx, b: &[u8]) -> BatchOut {
    let mut out = BatchOut { recs: Vec::with_capacity(b.len() / 512 + 1), ..BatchOut::default() };
    let mut table: IdMap<u32> = IdMap::default();
    let mut fast_sems: HashMap<FastHostCpu, u32> = HashMap::new();
    let mut seen: Vec<u8> = Vec::new();
    let mut first_sem: Option<u32> = None;
    let mut pos = 0usize;
    loop {
        // Whitespace and comments between elements.
        loop {
            while pos < b.len() && is_ws(b[pos]) {
                pos += 1;
            }
            if !b[pos..].starts_with(b"<!--") {
                break;
            }
            match memchr::memmem::find(&b[pos + 4..], b"-->") {
                Some(p) => {
                    let end = pos + 4 + p + 3;
                    out.raw_range(b, pos, end);
                    pos = end;
                }
                None => {
                    out.odd = Some(pos as u32);
                    out.raw(b, pos);
                    return out;
                }
            }
        }
        if pos == b.len() {
            return out;
        }
        let end = match cpu_start_at(b, pos) {
            Some(true) => ctx.end_tag.find(&b[pos + 4..]).map(|p| pos + 4 + p + 6),
            _ => None,
        };
        let Some(end) = end else {
            out.odd = Some(pos as u32);
            out.raw(b, pos);
            return out;
        };
        let s = &b[pos..end];
        let h = hash_bytes(s);
        let mut found = None;
        let mut cand = table.get(&h).copied();
        while let Some(c) = cand {
            let e = &out.entries[c as usize];
            if e.len as usize == s.len() && b[e.rep as usize..e.rep as usize + s.len()] == *s {
                found = Some(c);
                break;
            }
            cand = e.next;
        }
        let entry = match found {
            Some(c) => c,
            None => {
                let Some(e) = new_entry(ctx, &mut out, &mut fast_sems, s, pos) else {
                    out.odd = Some(pos as u32);
                    out.raw(b, pos);
                    return out;
                };
                let id = out.entries.len() as u32;
                let e = Entry { next: table.insert(h, id), ..e };
                out.entries.push(e);
                id
            }
        };
        let index = out.recs.len() as u32;
        out.recs.push((pos as u32, entry));
        if let Ok(sem) = out.entries[entry as usize].parsed {
            if seen.len() <= sem as usize {
                seen.resize(sem as usize + 1, 0);
            }
            let n = &mut seen[sem as usize];
            *n = n.saturating_add(1);
            if index == 0 {
                first_sem = Some(sem);
            }
            if *n == 1 || (*n == 2 && first_sem == Some(sem)) {
                out.adds.push((index, sem));
            }
        }
        pos = end;
    }
}

impl BatchOut {
    fn raw_range(&mut self, b: &[u8], from: usize, to: usize) {
        if self.raw_utf8.is_none() {
            self.raw_utf8 = utf8_error(&b[from..to]).map(|p| (from + p) as u32);
        }
        if self.raw_forbidden.is_none() {
            self.raw_forbidden = first_forbidden(&b[from..to]).map(|(p, c)| ((from + p) as u32, c));
        }
    }
}

/// Scans (or reads) a new distinct element. None: not plain.
fn new_entry(
    ctx: &Ctx,
    out: &mut BatchOut,
    fast_sems: &mut HashMap<FastHostCpu, u32>,
    s: &[u8],
    pos: usize,
) -> Option<Entry> {
    let (tags, fast) = match ctx.scanner.scan(s, &ctx.limits) {
        Scan::NotPlain => return None,
        Scan::Plain { elements, cpu } => (elements, cpu),
    };
    let parsed = match fast {
        Some(cpu) => Ok(*fast_sems.entry(cpu).or_insert_with(|| {
            out.sems.push(Sem::Fast(cpu));
            out.sems.len() as u32 - 1
        })),
        None => match read_cpu_document(s, TypeHint::Host, ctx.limits) {
            Err(e) => Err(e),
            Ok(doc) => {
                if doc.cpus.len() != 1 {
                    return None;
                }
                let cpu = &doc.cpus[0];
                let arch = Arch::of_cpu(ctx.map, cpu);
                let input = BaselineInput::from_cpu(&ctx.map.x86, cpu, 0);
                out.sems.push(Sem::Slow { arch, input });
                Ok(out.sems.len() as u32 - 1)
            }
        },
    };
    Some(Entry {
        rep: pos as u32,
        len: s.len() as u32,
        next: None,
        tags,
        utf8: utf8_error(s).map(|p| p as u32),
        forbidden: first_forbidden(s).map(|(p, c)| (p as u32, c)),
        parsed,
    })
}

/// The first parse error in document order, relative to the document.
struct PendingXml {
    offset: u64,
    element: String,
    kind: XmlErrorKind,
}

/// The in-order fold of batch results.
struct Fold<'c, 'm> {
    ctx: &'c Ctx<'m>,
    n_cpus: u64,
    n_elements: u64,
    utf8: Option<u64>,
    forbidden: Option<(u64, u8)>,
    error: Option<PendingXml>,
    base_err: Option<CpuError>,
    acc: Option<BaselineAcc>,
    fallback: bool,
}

impl<'c, 'm> Fold<'c, 'm> {
    fn new(ctx: &'c Ctx<'m>) -> Self {
        Fold {
            ctx,
            n_cpus: 0,
            n_elements: 0,
            utf8: None,
            forbidden: None,
            error: None,
            base_err: None,
            acc: None,
            fallback: false,
        }
    }

    /// Whether the rest of the input needs to be processed at all (it always needs reading,
    /// for the size limit).
    fn wants_more(&self) -> bool {
        self.utf8.is_none() && !self.fallback
    }

    fn fold(&mut self, offset: u64, b: &[u8], out: BatchOut) {
        if !self.wants_more() {
            return;
        }
        // Document-wide checks: the first invalid UTF-8 byte and forbidden character.
        let first_elem = |f: &dyn Fn(&Entry) -> Option<u32>| {
            out.recs.iter().find_map(|&(start, e)| f(&out.entries[e as usize]).map(|p| start + p))
        };
        let u = [first_elem(&|e| e.utf8), out.raw_utf8].into_iter().flatten().min();
        if let Some(u) = u {
            self.utf8 = Some(offset + u as u64);
            return;
        }
        if self.forbidden.is_none() {
            let in_elems =
                out.recs.iter().find_map(|&(start, e)| out.entries[e as usize].forbidden.map(|(p, c)| (start + p, c)));
            let f = [in_elems, out.raw_forbidden].into_iter().flatten().min_by_key(|&(p, _)| p);
            if let Some((p, c)) = f {
                self.forbidden = Some((offset + p as u64, c));
            }
        }
        if self.error.is_some() {
            return;
        }
        let limits = &self.ctx.limits;
        let cpus_before = self.n_cpus;
        for &(start, e) in &out.recs {
            let entry = &out.entries[e as usize];
            let at = offset + start as u64;
            if self.n_elements + entry.tags as u64 > limits.max_elements as u64 {
                // The element limit runs out inside this element: the reader, given what is
                // left of it, stops where it stops in the whole document.
                let s = &b[start as usize..(start + entry.len) as usize];
                let left = limits.max_elements - self.n_elements as usize;
                match read_cpu_document(s, TypeHint::Host, Limits { max_elements: left, ..*limits }) {
                    Err(mut err) => {
                        if let XmlErrorKind::TooMany { what: "elements", limit } = &mut err.kind {
                            *limit = limits.max_elements;
                        }
                        self.set_error(at, err);
                    }
                    // Cannot happen (the reader counts the start tags the scanner counted); if
                    // it did, the whole-document reader would settle it.
                    Ok(_) => self.fallback = true,
                }
                return;
            }
            self.n_elements += entry.tags as u64;
            match &entry.parsed {
                Err(err) => {
                    self.set_error(at, err.clone());
                    return;
                }
                Ok(_) if self.n_cpus >= limits.max_cpus as u64 => {
                    self.error = Some(PendingXml {
                        offset: at,
                        element: "cpu".into(),
                        kind: XmlErrorKind::TooMany { what: "CPUs", limit: limits.max_cpus },
                    });
                    return;
                }
                Ok(_) => self.n_cpus += 1,
            }
        }
        if out.odd.is_some() {
            self.fallback = true;
            return;
        }
        // The baseline: every sem at its first occurrence, in document order.
        let map = &self.ctx.map.x86;
        for &(local, sem) in &out.adds {
            if self.base_err.is_some() || self.fallback {
                break;
            }
            let index = cpus_before + local as u64;
            let (arch, input) = match &out.sems[sem as usize] {
                Sem::Fast(cpu) => (Ok(Arch::X86), Ok(self.ctx.scanner.input(cpu))),
                Sem::Slow { arch, input } => (arch.clone(), input.clone()),
            };
            let step = if index == 0 {
                match arch {
                    Ok(Arch::X86) => {}
                    Ok(Arch::Ppc64) => {
                        self.fallback = true;
                        break;
                    }
                    Err(e) => {
                        self.base_err = Some(e);
                        break;
                    }
                }
                input.and_then(|i| BaselineAcc::new(&i)).map(|acc| self.acc = Some(acc))
            } else {
                let acc = self.acc.as_mut().expect("the first CPU was folded");
                input.and_then(|i| acc.add(map, &i)).map_err(|e| match e {
                    CpuError::ModelVendorMismatch { cpu, model_vendor, .. } => {
                        CpuError::ModelVendorMismatch { cpu, model_vendor, index: index as usize }
                    }
                    other => other,
                })
            };
            if let Err(e) = step {
                self.base_err = Some(e);
            }
        }
    }

    fn set_error(&mut self, at: u64, err: XmlError) {
        self.error = Some(PendingXml { offset: at + err.pos.offset as u64, element: err.element, kind: err.kind });
    }
}

/// A block of the input: its offset in the file and its bytes.
struct Batch {
    offset: u64,
    bytes: Vec<u8>,
}

/// Where to cut `buf` so that the cut starts a `<cpu` element: the last such start after 0.
fn cut_point(ctx: &Ctx, buf: &[u8]) -> Option<usize> {
    let mut end = buf.len();
    while let Some(p) = ctx.cpu_tag.rfind(&buf[..end]) {
        if p == 0 {
            return None;
        }
        if cpu_start_at(buf, p) == Some(true) {
            return Some(p);
        }
        end = p + 3;
    }
    None
}

/// Reads, cuts, processes and folds the whole input; returns the number of bytes read (at most
/// `max_bytes + 1`).
fn drive<R: Read>(
    ctx: &Ctx,
    reader: &mut R,
    max_bytes: u64,
    opts: StreamOpts,
    fold: &mut Fold,
) -> std::io::Result<u64> {
    let chunk = opts.chunk_size.max(1);
    let max_in_flight = rayon::current_num_threads() + 2;
    let mut total: u64 = 0;
    let mut carry: Vec<u8> = Vec::new();
    let mut carry_offset: u64 = 0;
    rayon::in_place_scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Batch, BatchOut)>();
        let mut pending: BTreeMap<usize, (Batch, BatchOut)> = BTreeMap::new();
        let (mut next_seq, mut next_fold, mut in_flight) = (0usize, 0usize, 0usize);
        let mut eof = false;
        let result = loop {
            if eof || fold.fallback {
                break Ok(());
            }
            let mut buf = std::mem::take(&mut carry);
            buf.reserve(chunk);
            let budget = max_bytes.saturating_add(1).saturating_sub(total);
            let want = (chunk as u64).min(budget);
            let n = match reader.by_ref().take(want).read_to_end(&mut buf) {
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            total += n as u64;
            if (n as u64) < want || total > max_bytes {
                eof = true;
            }
            if total > max_bytes {
                // Too large: that is the answer, whatever the content.
                break Ok(());
            }
            let cut = if eof { Some(buf.len()) } else { cut_point(ctx, &buf) };
            let Some(cut) = cut else {
                if buf.len() > MAX_PENDING {
                    fold.fallback = true;
                    break Ok(());
                }
                carry = buf;
                continue;
            };
            carry = buf[cut..].to_vec();
            buf.truncate(cut);
            let batch = Batch { offset: carry_offset, bytes: buf };
            carry_offset += cut as u64;
            if !fold.wants_more() || batch.bytes.is_empty() {
                continue;
            }
            if !opts.parallel {
                let out = process(ctx, &batch.bytes);
                fold.fold(batch.offset, &batch.bytes, out);
                continue;
            }
            let seq = next_seq;
            next_seq += 1;
            let tx = tx.clone();
            scope.spawn(move |_| {
                let out = process(ctx, &batch.bytes);
                let _ = tx.send((seq, batch, out));
            });
            in_flight += 1;
            while in_flight >= max_in_flight {
                let Ok((seq, batch, out)) = rx.recv() else { break };
                in_flight -= 1;
                pending.insert(seq, (batch, out));
                fold_ready(&mut pending, &mut next_fold, fold);
            }
        };
        while in_flight > 0 {
            let Ok((seq, batch, out)) = rx.recv() else { break };
            in_flight -= 1;
            pending.insert(seq, (batch, out));
            fold_ready(&mut pending, &mut next_fold, fold);
        }
        result
    })?;
    Ok(total)
}

/// Folds the results that are next in document order.
fn fold_ready(pending: &mut BTreeMap<usize, (Batch, BatchOut)>, next_fold: &mut usize, fold: &mut Fold) {
    while let Some((batch, out)) = pending.remove(next_fold) {
        fold.fold(batch.offset, &batch.bytes, out);
        *next_fold += 1;
    }
}
