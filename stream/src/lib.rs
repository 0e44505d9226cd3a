//! Streaming, parallel `cpufleet baseline`: flat memory whatever the pool size, byte-identical
//! results (and errors) to the in-memory path ([`baseline_in_memory`]: the whole document read
//! by `xml::read_cpu_document(…, TypeHint::Host, …)`, then `ops::baseline`).
//!
//! How it works:
//! 1. The file is cut into regions of `chunk_size` bytes. Each region is handled by one rayon
//!    task that reads it with positional reads (plus what its last element needs beyond the
//!    region's end) into a recycled buffer, so reading is parallel too. A region owns the
//!    elements that *start* in it: its task finds the first `<cpu` start at or after the
//!    region's start (a byte search) and walks from there, element after element, until the
//!    next element starts at or after the region's end. Only a few regions are in flight at a
//!    time: memory stays flat.
//! 2. The walk: whitespace and comments between elements, then `<cpu` … first `</cpu>`. The
//!    element's bytes are hashed and compared with the distinct elements the region has seen;
//!    only a new one is scanned ([`HostScanner::scan`], zero-allocation, interned names) or,
//!    when the scanner does not understand every detail, read with the full reader on the
//!    element's bytes alone. Real pools repeat a few configurations thousands of times, so
//!    almost every element costs one hash and one comparison (the end is guessed from the
//!    lengths of known elements before any search).
//! 3. Region results are folded in document order on the calling thread. The fold checks that
//!    each region starts exactly where the previous walk stopped (a `<cpu` inside a comment or
//!    an attribute would break that chain, and then the whole document goes to the in-memory
//!    path), and applies the document-wide checks of the reader (UTF-8, forbidden characters,
//!    the element and CPU count limits), the first parse error, and the baseline itself in a
//!    [`BaselineAcc`]. An input is folded only at its first occurrence (per region): repeating a
//!    CPU that was already accepted changes nothing, and the error index of a later CPU is the
//!    one it has in the whole document.
//! 4. Anything that is not a plain sequence of top-level host `<cpu>` elements (a capabilities
//!    document, `<cpuTest>`, a processing instruction, an element whose extent is in doubt, a
//!    ppc64 first CPU, no CPU at all, a file that changes while read) makes the streaming path
//!    give up with [`Streamed::Fallback`] before it reports anything; the caller then runs the
//!    in-memory path on the whole file (still bounded by the input size limit).
//!
//! Error positions: an error inside an element is computed on the element's bytes, then moved
//! to the document: its offset is shifted and its line and column are recomputed by reading the
//! file again up to that offset (errors are rare; the common path counts no lines). After the
//! first error the rest of the file is only checked for what the reader checks before parsing
//! (UTF-8, forbidden characters), in one plain pass.

use cpufleet_engine::error::Pos;
use cpufleet_engine::fast::{self, FastHostCpu, HostScanner, Scan};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::{BaselineAcc, BaselineInput};
use cpufleet_engine::xml::{read_cpu_document, Limits, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMap, XmlError, XmlErrorKind};
use cpufleet_io::{io_reason, CliError, CliResult};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::{mpsc, Mutex};

/// Default region size of the streaming reader.
pub const DEFAULT_CHUNK: usize = 2 << 20;

/// Bytes read beyond a region's end at first (its last element usually ends there), and the
/// first step by which a region's buffer grows when it needs more (doubling after that).
const OVERHANG: usize = 8 << 10;

/// A walk may need this many bytes beyond its region's end (one huge element, or not a pool at
/// all); beyond it the in-memory path takes over.
pub const MAX_PENDING: usize = 16 << 20;

/// How the streaming baseline runs.
#[derive(Clone, Copy, Debug)]
pub struct StreamOpts {
    /// Bytes per region (any size ≥ 1 gives the same result; tests use tiny ones).
    pub chunk_size: usize,
    /// Process regions on the rayon pool (false: all on the calling thread).
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
    /// The input file itself (size limit, empty): exit 2, `FILE: message`.
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

/// Random access to the input: a file (positional reads) or bytes in memory (tests, benches).
pub trait Source: Sync {
    /// Its length when the read starts.
    fn size(&self) -> u64;
    /// Reads at `offset` into `buf`; returns the bytes read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let start = (offset.min(self.len() as u64)) as usize;
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// A file and the length its metadata gave.
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

impl FileSource {
    pub fn new(file: std::fs::File, len: u64) -> Self {
        FileSource { file, len }
    }
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.len
    }
    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
    }
    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(&self.file, buf, offset)
    }
}

/// Fills `buf[from..to]` from `src` at `offset + from`; returns the new length of valid bytes
/// (short at the end of the input).
fn fill<S: Source + ?Sized>(src: &S, buf: &mut Vec<u8>, offset: u64, from: usize, to: usize) -> std::io::Result<usize> {
    if buf.len() < to {
        buf.resize(to, 0);
    }
    let mut at = from;
    while at < to {
        match src.read_at(&mut buf[at..to], offset + at as u64) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
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
    let doc = read_cpu_document(bytes, TypeHint::Host, map.version(), limits).map_err(Failure::Xml)?;
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

/// The baseline of CPUs already reduced to [`BaselineInput`]s, in order: what
/// `x86::baseline` computes once every CPU went through `BaselineInput::from_cpu`. With
/// `parallel`, chunks are folded on the rayon pool and merged in order
/// ([`BaselineAcc::merge`]); should any chunk or merge fail, the sequential fold runs instead,
/// so that the error is the one the sequential order meets first.
pub fn baseline_inputs(
    map: &CpuMap,
    inputs: &[BaselineInput],
    migratable: bool,
    parallel: bool,
) -> Result<CpuDef, CpuError> {
    let chunk = if parallel { inputs.len().div_ceil(rayon::current_num_threads() * 4).max(4096) } else { usize::MAX };
    baseline_inputs_chunked(map, inputs, migratable, chunk)
}

/// [`baseline_inputs`] with chunks of `chunk` inputs (`usize::MAX`: sequential).
pub fn baseline_inputs_chunked(
    map: &CpuMap,
    inputs: &[BaselineInput],
    migratable: bool,
    chunk: usize,
) -> Result<CpuDef, CpuError> {
    use rayon::prelude::*;
    let x = &map.x86;
    let fold = |c: &[BaselineInput]| -> Result<BaselineAcc, CpuError> {
        let mut acc = BaselineAcc::new(&c[0])?;
        for i in &c[1..] {
            acc.add(x, i)?;
        }
        Ok(acc)
    };
    if inputs.is_empty() {
        return Err(CpuError::NoCpus);
    }
    if chunk >= inputs.len() {
        return fold(inputs)?.finish(x, migratable);
    }
    let parts: Vec<Result<BaselineAcc, CpuError>> = inputs.par_chunks(chunk.max(1)).map(fold).collect();
    let merged = (|| {
        let mut parts = parts.into_iter().zip(inputs.chunks(chunk.max(1)));
        let (first, _) = parts.next()?;
        let mut acc = first.ok()?;
        for (p, c) in parts {
            acc.merge(x, &p.ok()?, &c[0]).ok()?;
        }
        Some(acc)
    })();
    match merged {
        Some(acc) => acc.finish(x, migratable),
        None => fold(inputs)?.finish(x, migratable),
    }
}

/// [`fast::baseline_interned`] with the scan for first occurrences split across the rayon
/// pool: each chunk of hosts reports where each distinct input first appears in it (and where
/// the first host's input recurs), then the inputs are folded in the order of their first
/// occurrence in the whole list. Same result and error.
pub fn baseline_interned_parallel(
    map: &CpuMap,
    distinct: &[BaselineInput],
    hosts: &[u32],
    migratable: bool,
) -> Result<CpuDef, CpuError> {
    use rayon::prelude::*;
    let x = &map.x86;
    let first = *hosts.first().ok_or(CpuError::NoCpus)?;
    let n = distinct.len();
    if let Some(&h) = hosts.iter().find(|&&h| h as usize >= n) {
        return Err(CpuError::Invalid(format!("host CPU index {h} out of range")));
    }
    let chunk = hosts.len().div_ceil(rayon::current_num_threads() * 2).max(1 << 14);
    // Per chunk: the first position (after host 0) of each distinct input, u32::MAX if none.
    let firsts: Vec<Vec<u32>> = hosts
        .par_chunks(chunk)
        .enumerate()
        .map(|(k, c)| {
            let mut at = vec![u32::MAX; n];
            let base = k * chunk;
            for (j, &h) in c.iter().enumerate() {
                let p = (base + j) as u32;
                if p > 0 && at[h as usize] == u32::MAX {
                    at[h as usize] = p;
                }
            }
            at
        })
        .collect();
    let mut order: Vec<(u32, u32)> = (0..n as u32)
        .filter_map(|h| firsts.iter().map(|f| f[h as usize]).find(|&p| p != u32::MAX).map(|p| (p, h)))
        .collect();
    order.sort_unstable();
    let mut acc = BaselineAcc::new(&distinct[first as usize])?;
    for (p, h) in order {
        acc.add(x, &distinct[h as usize]).map_err(|e| fast::with_index(e, p as usize))?;
    }
    acc.finish(x, migratable)
}

/// `cpufleet baseline FILE`: streams the file, and reads it whole only when the streaming path
/// gives up. File errors (missing, directory, too large, empty) read exactly as
/// [`cpufleet_io::read_file`] words them.
pub fn baseline_file(
    map: &CpuMap,
    path: &Path,
    max_bytes: u64,
    limits: Limits,
    features: bool,
    migratable: bool,
    opts: StreamOpts,
) -> CliResult<Result<CpuDef, Failure>> {
    let in_memory = || -> CliResult<Result<CpuDef, Failure>> {
        let bytes = cpufleet_io::read_file(path, max_bytes)?;
        Ok(baseline_in_memory(map, &bytes, limits, features, migratable))
    };
    let meta = std::fs::metadata(path).map_err(|e| CliError::file(path, io_reason(&e)))?;
    if !meta.is_file() || meta.len() > max_bytes {
        // Directories, pipes, devices (whose size says nothing about their content) and files
        // over the limit: `read_file` says what is wrong, or reads what there is.
        return in_memory();
    }
    let f = std::fs::File::open(path).map_err(|e| CliError::file(path, io_reason(&e)))?;
    let src = FileSource::new(f, meta.len());
    let streamed = baseline_source(map, &src, max_bytes, limits, features, migratable, opts)
        .map_err(|e| CliError::file(path, io_reason(&e)))?;
    match streamed {
        Streamed::Done(r) => match *r {
            Err(Failure::Input(m)) => Err(CliError::file(path, m)),
            r => Ok(r),
        },
        Streamed::Fallback => in_memory(),
    }
}

/// The streaming path on any [`Source`].
pub fn baseline_source<S: Source + ?Sized>(
    map: &CpuMap,
    src: &S,
    max_bytes: u64,
    limits: Limits,
    features: bool,
    migratable: bool,
    opts: StreamOpts,
) -> std::io::Result<Streamed> {
    let n = src.size();
    // The reader's own checks, in its order: size and emptiness (`read_file`), then the
    // document-wide ones of `Cursor::new`, then the first error in document order.
    if n > max_bytes {
        let m = format!("file of {n} bytes exceeds the input limit of {max_bytes} bytes");
        return Ok(Streamed::done(Err(Failure::Input(m))));
    }
    if n == 0 {
        return Ok(Streamed::done(Err(Failure::Input("1:1: empty file".into()))));
    }
    if n > limits.max_bytes as u64 {
        let kind = XmlErrorKind::TooLarge { what: "input", limit: limits.max_bytes };
        let pos = Pos { line: 1, col: 1, offset: 0 };
        return Ok(Streamed::done(Err(Failure::Xml(XmlError { pos, element: String::new(), kind }))));
    }
    let ctx = Ctx::new(map, limits);
    let mut fold = Fold::new(&ctx);
    drive(&ctx, src, n, opts, &mut fold)?;
    if !fold.fallback && fold.utf8.is_none() {
        if fold.error.is_some() {
            // Stopped at a parse error: the rest still counts for the document-wide checks.
            validate_rest(src, fold.validated, n, &mut fold)?;
        } else if fold.expected != n {
            // The chain of regions did not reach the end (the file shrank while read).
            fold.fallback = true;
        }
    }
    // A file that grew while read: the in-memory path reads (and limits) all of it.
    if !fold.fallback && src.read_at(&mut [0u8; 1], n)? > 0 {
        fold.fallback = true;
    }
    if fold.fallback {
        return Ok(Streamed::Fallback);
    }
    let located = |offset: u64, element: String, kind| -> std::io::Result<Streamed> {
        let pos = locate(src, offset)?;
        Ok(Streamed::done(Err(Failure::Xml(XmlError { pos, element, kind }))))
    };
    if let Some(off) = fold.utf8 {
        return located(off, String::new(), XmlErrorKind::InvalidUtf8);
    }
    if let Some((off, b)) = fold.forbidden {
        return located(off, String::new(), XmlErrorKind::ForbiddenChar(b as u32));
    }
    if let Some(e) = fold.error.take() {
        return located(e.offset, e.element, e.kind);
    }
    if fold.n_cpus == 0 {
        // Comments and whitespace only: the reader's own message for that.
        return Ok(Streamed::Fallback);
    }
    if let Some(e) = fold.base_err.take() {
        return Ok(Streamed::done(Err(Failure::Cpu(e))));
    }
    let Some(acc) = fold.acc.take() else { return Ok(Streamed::Fallback) };
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
pub fn locate<S: Source + ?Sized>(src: &S, offset: u64) -> std::io::Result<Pos> {
    let mut line = 1u32;
    let mut col_chars = 0u64;
    let mut at = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while at < offset {
        let want = (buf.len() as u64).min(offset - at) as usize;
        let n = src.read_at(&mut buf[..want], at)?;
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
        at += n as u64;
    }
    Ok(Pos { line, col: col_chars as u32 + 1, offset: offset as usize })
}

fn chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&x| (x & 0xC0) != 0x80).count() as u64
}

/// The document-wide checks (UTF-8, forbidden characters) on `[from, to)`, in one plain pass.
fn validate_rest<S: Source + ?Sized>(src: &S, from: u64, to: u64, fold: &mut Fold) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut at = from;
    // Bytes of an incomplete UTF-8 sequence carried from the previous block.
    let mut carry = 0usize;
    while at < to && fold.utf8.is_none() {
        let want = ((buf.len() - carry) as u64).min(to - at) as usize;
        let n = src.read_at(&mut buf[carry..carry + want], at)?;
        if n == 0 {
            break;
        }
        let blen = carry + n;
        let block_start = at - carry as u64;
        if fold.forbidden.is_none() {
            if let Some((p, c)) = first_forbidden(&buf[carry..blen]) {
                fold.forbidden = Some((at + p as u64, c));
            }
        }
        let last = at + n as u64 >= to;
        carry = match std::str::from_utf8(&buf[..blen]) {
            Ok(_) => 0,
            Err(e) if e.error_len().is_none() && !last => blen - e.valid_up_to(),
            Err(e) => {
                fold.utf8 = Some(block_start + e.valid_up_to() as u64);
                0
            }
        };
        buf.copy_within(blen - carry..blen, 0);
        at += n as u64;
    }
    Ok(())
}

/// What every worker shares: the map, its scanner and the limits.
struct Ctx<'m> {
    map: &'m CpuMap,
    scanner: HostScanner<'m>,
    limits: Limits,
    end_tag: memchr::memmem::Finder<'static>,
    cpu_tag: memchr::memmem::Finder<'static>,
    /// Buffers of finished regions, for reuse (no page faults after the first ones).
    buffers: Mutex<Vec<Vec<u8>>>,
    known: Mutex<Known>,
    known_full: std::sync::atomic::AtomicBool,
}

impl<'m> Ctx<'m> {
    fn new(map: &'m CpuMap, limits: Limits) -> Self {
        Ctx {
            map,
            scanner: HostScanner::new(&map.x86),
            limits,
            end_tag: memchr::memmem::Finder::new(b"</cpu>"),
            cpu_tag: memchr::memmem::Finder::new(b"<cpu"),
            buffers: Mutex::new(Vec::new()),
            known: Mutex::new(Known::default()),
            known_full: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A distinct element some region already scanned. Never waits: when another region
    /// holds the cache, this one scans the element itself.
    fn known(&self, h: u64, s: &[u8]) -> Option<Scanned> {
        let k = self.known.try_lock().ok()?;
        let ids = k.by_hash.get(&h)?;
        ids.iter().map(|&i| &k.items[i as usize]).find(|(b, _)| **b == *s).map(|(_, x)| x.clone())
    }

    fn remember(&self, h: u64, s: &[u8], x: &Scanned) {
        if self.known_full.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Ok(mut k) = self.known.try_lock() else { return };
        if k.items.len() >= KNOWN_MAX_ITEMS || k.bytes + s.len() > KNOWN_MAX_BYTES {
            self.known_full.store(true, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let id = k.items.len() as u32;
        k.items.push((s.into(), x.clone()));
        k.bytes += s.len();
        k.by_hash.entry(h).or_default().push(id);
    }

    fn take_buffer(&self) -> Vec<u8> {
        self.buffers.lock().ok().and_then(|mut b| b.pop()).unwrap_or_default()
    }

    fn recycle(&self, buf: Vec<u8>) {
        if let Ok(mut b) = self.buffers.lock() {
            b.push(buf);
        }
    }
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Whether `b[at..]` starts a `<cpu>` start tag (`<cpu` then whitespace, `>` or `/`); None
/// when the bytes that decide it are not there yet.
#[inline]
fn cpu_start_at(b: &[u8], at: usize) -> Option<bool> {
    let avail = &b[at..];
    let n = avail.len().min(4);
    if avail[..n] != b"<cpu"[..n] {
        return Some(false);
    }
    avail.get(4).map(|&c| is_ws(c) || c == b'>' || c == b'/')
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
#[derive(Clone)]
enum Sem {
    Fast(FastHostCpu),
    Slow { arch: Result<Arch, CpuError>, input: Result<BaselineInput, CpuError> },
}

/// A distinct element of a region.
struct Entry {
    /// Offset of its first occurrence in the region's buffer, and its length.
    rep: u32,
    len: u32,
    /// Next entry with the same hash.
    next: Option<u32>,
    /// Start tags in it.
    tags: u32,
    /// First invalid UTF-8 byte and first forbidden character (offset in the element, byte).
    utf8: Option<u32>,
    forbidden: Option<(u32, u8)>,
    /// The CPU (index into the region's sems) or the reader's error, relative to the element.
    parsed: Result<u32, XmlError>,
}

/// One region's walk.
#[derive(Default)]
struct BatchOut {
    /// Each element: its offset in the buffer and its entry.
    recs: Vec<(u32, u32)>,
    entries: Vec<Entry>,
    sems: Vec<Sem>,
    /// (index of the CPU in the region, sem) at the first occurrence of each sem, and at the
    /// second occurrence of the sem of the region's first CPU (the document's first CPU is not
    /// folded like the others).
    adds: Vec<(u32, u32)>,
    /// Where the plain structure broke.
    odd: Option<u32>,
    /// UTF-8 and forbidden characters outside elements (comments).
    raw_utf8: Option<u32>,
    raw_forbidden: Option<(u32, u8)>,
}

fn first_forbidden(b: &[u8]) -> Option<(usize, u8)> {
    let bad = |x: u8| x < 0x20 && x != b'\t' && x != b'\n' && x != b'\r';
    // Blocks without a control byte are skipped with a branch-free test (vectorized).
    for (k, c) in b.chunks(64).enumerate() {
        if c.iter().fold(false, |acc, &x| acc | (x < 0x20)) {
            if let Some(i) = c.iter().position(|&x| bad(x)) {
                return Some((k * 64 + i, c[i]));
            }
        }
    }
    None
}

fn utf8_error(b: &[u8]) -> Option<usize> {
    std::str::from_utf8(b).err().map(|e| e.valid_up_to())
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

/// Where a walk stopped.
enum WalkEnd {
    /// At the first element start at or after the region's end, or at the end of the input.
    Done(usize),
    /// Where the plain structure broke.
    Odd(usize),
    /// The buffer ends before the walk can decide; resume at this offset with more bytes.
    NeedMore(usize),
}

/// The state of one region's walk, resumable when the buffer grows.
#[derive(Default)]
struct Walker {
    out: BatchOut,
    table: IdMap<u32>,
    fast_sems: HashMap<FastHostCpu, u32>,
    /// Occurrences of each sem so far (saturating).
    seen: Vec<u8>,
    first_sem: Option<u32>,
    /// Distinct element lengths and the entries of each (the first few), to guess where a
    /// repeated element ends and compare it with its likely twins without hashing it.
    lens: Vec<(u32, Vec<u32>)>,
}

/// Entries per length compared directly before hashing.
const DIRECT: usize = 4;

const MAX_GUESSES: usize = 16;

impl Walker {
    /// Walks `b` from `pos`; `eof`: the buffer ends where the input ends; `stop`: the region's
    /// end in the buffer.
    fn walk(&mut self, ctx: &Ctx, b: &[u8], mut pos: usize, eof: bool, stop: usize) -> WalkEnd {
        loop {
            // Whitespace and comments between elements.
            loop {
                while pos < b.len() && is_ws(b[pos]) {
                    pos += 1;
                }
                if pos == b.len() {
                    return if eof { WalkEnd::Done(pos) } else { WalkEnd::NeedMore(pos) };
                }
                let avail = (b.len() - pos).min(4);
                if b[pos..pos + avail] != b"<!--"[..avail] {
                    break;
                }
                if avail < 4 {
                    return if eof { WalkEnd::Odd(pos) } else { WalkEnd::NeedMore(pos) };
                }
                match memchr::memmem::find(&b[pos + 4..], b"-->") {
                    Some(p) => {
                        let end = pos + 4 + p + 3;
                        self.out.raw_range(b, pos, end);
                        pos = end;
                    }
                    None if eof => return WalkEnd::Odd(pos),
                    None => return WalkEnd::NeedMore(pos),
                }
            }
            if pos >= stop {
                return WalkEnd::Done(pos);
            }
            match cpu_start_at(b, pos) {
                Some(true) => {}
                Some(false) => return WalkEnd::Odd(pos),
                None if eof => return WalkEnd::Odd(pos),
                None => return WalkEnd::NeedMore(pos),
            }
            let entry = match self.known(b, pos) {
                Some(e) => e,
                None => {
                    let Some(end) = ctx.end_tag.find(&b[pos + 4..]).map(|p| pos + 4 + p + 6) else {
                        return if eof { WalkEnd::Odd(pos) } else { WalkEnd::NeedMore(pos) };
                    };
                    match self.lookup(b, pos, end) {
                        (Some(e), _) => e,
                        (None, h) => match self.add_entry(ctx, b, pos, end, h) {
                            Some(e) => e,
                            None => return WalkEnd::Odd(pos),
                        },
                    }
                }
            };
            let index = self.out.recs.len() as u32;
            self.out.recs.push((pos as u32, entry));
            let e = &self.out.entries[entry as usize];
            pos += e.len as usize;
            if let Ok(sem) = e.parsed {
                if self.seen.len() <= sem as usize {
                    self.seen.resize(sem as usize + 1, 0);
                }
                let n = &mut self.seen[sem as usize];
                *n = n.saturating_add(1);
                if index == 0 {
                    self.first_sem = Some(sem);
                }
                if *n == 1 || (*n == 2 && self.first_sem == Some(sem)) {
                    self.out.adds.push((index, sem));
                }
            }
        }
    }

    /// A known element at `pos`, found by guessing its end from the known lengths and comparing
    /// with the first few elements of that length (equal bytes: the same element, whose first
    /// `</cpu>` is its end). Anything else goes through the search and the hash table.
    #[inline]
    fn known(&self, b: &[u8], pos: usize) -> Option<u32> {
        for (len, ids) in &self.lens {
            let end = pos + *len as usize;
            if end > b.len() || &b[end - 6..end] != b"</cpu>" {
                continue;
            }
            let s = &b[pos..end];
            for &id in ids {
                let rep = self.out.entries[id as usize].rep as usize;
                if b[rep..rep + s.len()] == *s {
                    return Some(id);
                }
            }
        }
        None
    }

    /// The entry whose bytes are `b[pos..end]`, and the hash of those bytes.
    #[inline]
    fn lookup(&self, b: &[u8], pos: usize, end: usize) -> (Option<u32>, u64) {
        let s = &b[pos..end];
        let h = hash_bytes(s);
        let mut cand = self.table.get(&h).copied();
        while let Some(c) = cand {
            let e = &self.out.entries[c as usize];
            if e.len as usize == s.len() && b[e.rep as usize..e.rep as usize + s.len()] == *s {
                return (Some(c), h);
            }
            cand = e.next;
        }
        (None, h)
    }

    /// A new distinct element of this region: its scan from an earlier region, or a new scan
    /// (or read). None: not plain.
    fn add_entry(&mut self, ctx: &Ctx, b: &[u8], pos: usize, end: usize, h: u64) -> Option<u32> {
        let s = &b[pos..end];
        let scanned = match ctx.known(h, s) {
            Some(x) => x,
            None => {
                let x = scan_element(ctx, s)?;
                ctx.remember(h, s, &x);
                x
            }
        };
        let out = &mut self.out;
        let parsed = scanned.parsed.map(|sem| match sem {
            Sem::Fast(cpu) => *self.fast_sems.entry(cpu).or_insert_with(|| {
                out.sems.push(Sem::Fast(cpu));
                out.sems.len() as u32 - 1
            }),
            slow => {
                out.sems.push(slow);
                out.sems.len() as u32 - 1
            }
        });
        let id = out.entries.len() as u32;
        out.entries.push(Entry {
            rep: pos as u32,
            len: s.len() as u32,
            next: self.table.insert(h, id),
            tags: scanned.tags,
            utf8: scanned.utf8,
            forbidden: scanned.forbidden,
            parsed,
        });
        let len = s.len() as u32;
        match self.lens.iter().position(|(l, _)| *l == len) {
            Some(i) if self.lens[i].1.len() < DIRECT => self.lens[i].1.push(id),
            Some(_) => {}
            None if self.lens.len() < MAX_GUESSES => self.lens.push((len, vec![id])),
            None => {}
        }
        Some(id)
    }
}

/// What one distinct element gave: its start tags, its first invalid UTF-8 byte and control
/// character, and its CPU or the reader's error (relative to the element).
#[derive(Clone)]
struct Scanned {
    tags: u32,
    utf8: Option<u32>,
    forbidden: Option<(u32, u8)>,
    parsed: Result<Sem, XmlError>,
}

/// Scans (or, when the scanner does not understand every detail, reads) one element. None:
/// not plain.
fn scan_element(ctx: &Ctx, s: &[u8]) -> Option<Scanned> {
    let (tags, fast) = match ctx.scanner.scan(s, &ctx.limits) {
        Scan::NotPlain => return None,
        Scan::Plain { elements, cpu } => (elements, cpu),
    };
    let parsed = match fast {
        Some(cpu) => Ok(Sem::Fast(cpu)),
        None => match read_cpu_document(s, TypeHint::Host, ctx.scanner.map().version(), ctx.limits) {
            Err(e) => Err(e),
            Ok(doc) => {
                if doc.cpus.len() != 1 {
                    return None;
                }
                let cpu = &doc.cpus[0];
                let arch = Arch::of_cpu(ctx.map, cpu);
                let input = BaselineInput::from_cpu(&ctx.map.x86, cpu, 0);
                Ok(Sem::Slow { arch, input })
            }
        },
    };
    Some(Scanned {
        tags,
        utf8: utf8_error(s).map(|p| p as u32),
        forbidden: first_forbidden(s).map(|(p, c)| (p as u32, c)),
        parsed,
    })
}

/// Distinct elements scanned by any region, shared so that each is scanned about once per run
/// (bounded: beyond the bounds, regions scan their own).
#[derive(Default)]
struct Known {
    by_hash: IdMap<Vec<u32>>,
    items: Vec<(Box<[u8]>, Scanned)>,
    bytes: usize,
}

const KNOWN_MAX_ITEMS: usize = 4096;
const KNOWN_MAX_BYTES: usize = 4 << 20;

/// One region: `[lo, hi)` of the input, the bytes read for it (from `lo`) and its walk.
struct Region {
    lo: u64,
    hi: u64,
    /// The buffer (kept at its size for reuse) and how many of its bytes are the input's.
    bytes: Vec<u8>,
    len: usize,
    /// Where its first element starts (None: no element starts in it).
    start: Option<u64>,
    /// Where its walk stopped (the next region's start, the end of the input, or `odd`).
    end: u64,
    out: BatchOut,
}

/// Reads and walks region `k` (see the module documentation).
fn region<S: Source + ?Sized>(ctx: &Ctx, src: &S, k: u64, chunk: u64, n: u64) -> std::io::Result<Region> {
    let lo = k * chunk;
    let hi = (lo + chunk).min(n);
    let span = (hi - lo) as usize;
    let mut buf = ctx.take_buffer();
    // Small regions (tests) read little beyond their end.
    let over = span.clamp(8, OVERHANG);
    let first = (hi + over as u64).min(n) - lo;
    let mut len = fill(src, &mut buf, lo, 0, first as usize)?;
    // More bytes; an input that ends before its size said is an error (the caller falls back).
    let mut step = over.max(64);
    let mut grow = |buf: &mut Vec<u8>, len: usize| -> std::io::Result<usize> {
        let to = (len + step).min((n - lo) as usize);
        step = step.saturating_mul(2);
        match fill(src, buf, lo, len, to)? {
            got if got > len => Ok(got),
            _ => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the input shrank while read")),
        }
    };
    let mut r = Region { lo, hi, bytes: Vec::new(), len: 0, start: None, end: hi, out: BatchOut::default() };
    // The first element start at or after `lo` (the whole input for region 0).
    let start = if k == 0 {
        0
    } else {
        let mut from = 0;
        loop {
            match ctx.cpu_tag.find(&buf[from..len]).map(|p| from + p) {
                Some(p) if p >= span => break span,
                Some(p) => match cpu_start_at(&buf[..len], p) {
                    Some(true) => break p,
                    Some(false) => from = p + 1,
                    None if lo + len as u64 == n => from = p + 1,
                    None => len = grow(&mut buf, len)?,
                },
                None if len >= span + 3 || lo + len as u64 == n => break span,
                None => len = grow(&mut buf, len)?,
            }
        }
    };
    if start >= span {
        r.bytes = buf;
        r.len = len;
        return Ok(r);
    }
    r.start = Some(lo + start as u64);
    let mut walker = Walker::default();
    walker.out.recs.reserve(span / 512 + 1);
    let mut pos = start;
    loop {
        let eof = lo + len as u64 == n;
        match walker.walk(ctx, &buf[..len], pos, eof, span) {
            WalkEnd::Done(e) => {
                r.end = lo + e as u64;
                break;
            }
            WalkEnd::Odd(q) => {
                walker.out.odd = Some(q as u32);
                r.end = lo + q as u64;
                break;
            }
            WalkEnd::NeedMore(p) => {
                if len.saturating_sub(span) > MAX_PENDING {
                    walker.out.odd = Some(p as u32);
                    r.end = lo + p as u64;
                    break;
                }
                pos = p;
                len = grow(&mut buf, len)?;
            }
        }
    }
    r.bytes = buf;
    r.len = len;
    r.out = walker.out;
    Ok(r)
}

/// Reads, walks and folds every region, in parallel unless `opts.parallel` is false.
fn drive<S: Source + ?Sized>(ctx: &Ctx, src: &S, n: u64, opts: StreamOpts, fold: &mut Fold) -> std::io::Result<()> {
    // Offsets within a region's buffer are 32-bit.
    let chunk = opts.chunk_size.clamp(1, 1 << 30) as u64;
    let regions = n.div_ceil(chunk);
    if !opts.parallel {
        for k in 0..regions {
            if !fold.wants_more() {
                break;
            }
            match region(ctx, src, k, chunk, n) {
                Ok(r) => {
                    fold.fold_region(&r);
                    ctx.recycle(r.bytes);
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => fold.fallback = true,
                Err(e) => return Err(e),
            }
        }
        return Ok(());
    }
    // Regions spawned and not yet folded (running, or done and waiting for an earlier one):
    // this bounds the buffers alive at once, whatever the order in which regions finish.
    let max_in_flight = rayon::current_num_threads() as u64 + 2;
    rayon::in_place_scope(|scope| {
        let (tx, rx) = mpsc::channel::<(u64, std::io::Result<Region>)>();
        let mut pending: BTreeMap<u64, std::io::Result<Region>> = BTreeMap::new();
        let (mut next, mut next_fold, mut in_flight) = (0u64, 0u64, 0u64);
        let mut result = Ok(());
        loop {
            while result.is_ok() && fold.wants_more() && next < regions && next - next_fold < max_in_flight {
                let tx = tx.clone();
                let k = next;
                scope.spawn(move |_| {
                    // A panic (a bug) must not leave the fold waiting for this region forever.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| region(ctx, src, k, chunk, n)))
                        .unwrap_or_else(|_| Err(std::io::Error::other("internal error while reading the input")));
                    let _ = tx.send((k, r));
                });
                next += 1;
                in_flight += 1;
            }
            if in_flight == 0 {
                break;
            }
            let Ok((k, r)) = rx.recv() else { break };
            in_flight -= 1;
            pending.insert(k, r);
            while let Some(r) = pending.remove(&next_fold) {
                next_fold += 1;
                match r {
                    Ok(r) => {
                        if result.is_ok() && fold.wants_more() {
                            fold.fold_region(&r);
                        }
                        ctx.recycle(r.bytes);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => fold.fallback = true,
                    Err(e) => {
                        if result.is_ok() {
                            result = Err(e);
                        }
                    }
                }
            }
        }
        result
    })
}

/// The first parse error in document order, relative to the document.
struct PendingXml {
    offset: u64,
    element: String,
    kind: XmlErrorKind,
}

/// The in-order fold of region results.
struct Fold<'c, 'm> {
    ctx: &'c Ctx<'m>,
    /// Where the next region must start (where the last walk stopped).
    expected: u64,
    /// The document-wide checks cover `[0, validated)`.
    validated: u64,
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
            expected: 0,
            validated: 0,
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

    /// Whether more regions need walking (after a parse error, only a plain validation pass).
    fn wants_more(&self) -> bool {
        self.utf8.is_none() && self.error.is_none() && !self.fallback
    }

    fn fold_region(&mut self, r: &Region) {
        match r.start {
            // Each region must start exactly where the previous walk stopped.
            Some(s) if s != self.expected => self.fallback = true,
            None if self.expected < r.hi => self.fallback = true,
            None => {}
            Some(_) => {
                self.expected = r.end;
                self.validated = r.end;
                self.fold(r.lo, &r.bytes[..r.len], &r.out);
            }
        }
    }

    fn fold(&mut self, offset: u64, b: &[u8], out: &BatchOut) {
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
                match read_cpu_document(
                    s,
                    TypeHint::Host,
                    self.ctx.scanner.map().version(),
                    Limits { max_elements: left, ..*limits },
                ) {
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
                let Some(acc) = self.acc.as_mut() else {
                    // Cannot happen (the first CPU is folded first); the reader settles it.
                    self.fallback = true;
                    break;
                };
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
