//! Streaming, parallel `cpufleet baseline`: flat memory whatever the pool size, byte-identical
//! results (and errors) to the in-memory path ([`baseline_in_memory`]: the whole document read
//! by `xml::read_cpu_document(…, TypeHint::Host, …)`, then `ops::baseline`).
//!
//! How it works (one module per step):
//! 1. `source`: the input, read with positional reads. `region`: the file is cut into regions of `chunk_size` bytes. Each region is handled by one rayon
//!    task that reads it with positional reads (plus what its last element needs beyond the
//!    region's end) into a recycled buffer, so reading is parallel too. A region owns the
//!    elements that *start* in it: its task finds the first `<cpu` start at or after the
//!    region's start (a byte search) and walks from there, element after element, until the
//!    next element starts at or after the region's end. Only a few regions are in flight at a
//!    time: memory stays flat.
//! 2. `walk`: whitespace and comments between elements, then `<cpu` … first `</cpu>`. The
//!    element's bytes are hashed and compared with the distinct elements the region has seen;
//!    only a new one is scanned (`scan::HostScanner::scan` of the engine, zero-allocation, interned names) or,
//!    when the scanner does not understand every detail, read with the full reader on the
//!    element's bytes alone. Real pools repeat a few configurations thousands of times, so
//!    almost every element costs one hash and one comparison (the end is guessed from the
//!    lengths of known elements before any search).
//! 3. `fold`: region results are folded in document order on the calling thread. The fold checks that
//!    each region starts exactly where the previous walk stopped (a `<cpu` inside a comment or
//!    an attribute would break that chain, and then the whole document goes to the in-memory
//!    path), and applies the document-wide checks of the reader (UTF-8, forbidden characters,
//!    the element and CPU count limits), the first parse error, and the baseline itself in a
//!    `BaselineAcc`. An input is folded only at its first occurrence (per region): repeating a
//!    CPU that was already accepted changes nothing, and the error index of a later CPU is the
//!    one it has in the whole document.
//! 4. Anything that is not a plain sequence of top-level host `<cpu>` elements (a capabilities
//!    document, `<cpuTest>`, a processing instruction, an element whose extent is in doubt, a
//!    ppc64 first CPU, no CPU at all, a file that changes while read) makes the streaming path
//!    give up with [`Streamed::Fallback`] before it reports anything; the caller then runs the
//!    in-memory path on the whole file (still bounded by the input size limit).
//!
//! Error positions (`locate`): an error inside an element is computed on the element's bytes, then moved
//! to the document: its offset is shifted and its line and column are recomputed by reading the
//! file again up to that offset (errors are rare; the common path counts no lines). After the
//! first error the rest of the file is only checked for what the reader checks before parsing
//! (UTF-8, forbidden characters), in one plain pass.

mod drive;
mod fold;
mod locate;
mod region;
mod source;
mod walk;

use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::xml::{read_cpu_document, Limits, TypeHint};
use cpufleet_engine::Pos;
use cpufleet_engine::{CpuDef, CpuError, CpuMap, XmlError, XmlErrorKind};
use cpufleet_io::{io_reason, IoError, IoResult};
use drive::drive;
use fold::{validate_rest, Fold};
use std::fmt;
use std::path::Path;
use walk::Ctx;

pub use drive::{StreamOpts, DEFAULT_CHUNK};
pub use locate::locate;
pub use region::MAX_PENDING;
pub use source::{ConcatSource, FileSource, Source};

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
) -> IoResult<Result<CpuDef, Failure>> {
    let in_memory = || -> IoResult<Result<CpuDef, Failure>> {
        let bytes = cpufleet_io::read_file(path, max_bytes)?;
        Ok(baseline_in_memory(map, &bytes, limits, features, migratable))
    };
    let meta = std::fs::metadata(path).map_err(|e| IoError::file(path, io_reason(&e)))?;
    if !meta.is_file() || meta.len() > max_bytes || meta.len() == 0 {
        // Directories, pipes, devices and files of size 0 (procfs and sysfs files say 0 and
        // still have content: their size says nothing about it) and files over the limit:
        // `read_file` says what is wrong, or reads what there is.
        return in_memory();
    }
    let f = std::fs::File::open(path).map_err(|e| IoError::file(path, io_reason(&e)))?;
    let src = FileSource::new(f, meta.len());
    let streamed = baseline_source(map, &src, max_bytes, limits, features, migratable, opts)
        .map_err(|e| IoError::file(path, io_reason(&e)))?;
    match streamed {
        Streamed::Done(r) => match *r {
            Err(Failure::Input(m)) => Err(IoError::file(path, m)),
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

/// `cpufleet baseline FILE…` on the streaming path: the files read as their concatenation,
/// streamed in parallel with flat memory. `Some(cpu)` when that gives the answer; None when the
/// caller must read the files one by one (any file that is not a plain regular file within
/// `max_bytes`, any document the streaming path does not take, and every failure, so that the
/// error names its file and the position within it). Each file is bounded by `max_bytes` and
/// the reader's limits scale with the number of files.
pub fn baseline_concat(
    map: &CpuMap,
    paths: &[std::path::PathBuf],
    max_bytes: u64,
    limits: Limits,
    features: bool,
    migratable: bool,
    opts: StreamOpts,
) -> std::io::Result<Option<CpuDef>> {
    let mut files = Vec::with_capacity(paths.len());
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_file() && m.len() > 0 && m.len() <= max_bytes && m.len() <= limits.max_bytes as u64 => {
                files.push((p.clone(), m.len()))
            }
            _ => return Ok(None),
        }
    }
    let n = paths.len().max(1);
    let limits = Limits {
        max_bytes: usize::MAX,
        max_elements: limits.max_elements.saturating_mul(n),
        max_cpus: limits.max_cpus.saturating_mul(n),
        ..limits
    };
    let src = ConcatSource::new(files);
    match baseline_source(map, &src, u64::MAX, limits, features, migratable, opts)? {
        Streamed::Done(r) => Ok((*r).ok()),
        Streamed::Fallback => Ok(None),
    }
}
