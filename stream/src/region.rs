//! Regions: the input cut into `chunk_size` pieces, each read with positional reads into a
//! recycled buffer (plus what its last element needs beyond its end) and walked by one task
//! from its first element start (`crate::drive` runs them).

use crate::source::{fill, Source};
use crate::walk::{cpu_start_at, BatchOut, Ctx, WalkEnd, Walker};

/// Bytes read beyond a region's end at first (its last element usually ends there), and the
/// first step by which a region's buffer grows when it needs more (doubling after that).
const OVERHANG: usize = 8 << 10;

/// A walk may need this many bytes beyond its region's end (one huge element, or not a pool at
/// all); beyond it the in-memory path takes over.
pub const MAX_PENDING: usize = 16 << 20;

/// One region: `[lo, hi)` of the input, the bytes read for it (from `lo`) and its walk.
pub(crate) struct Region {
    pub(crate) lo: u64,
    pub(crate) hi: u64,
    /// The buffer (kept at its size for reuse) and how many of its bytes are the input's.
    pub(crate) bytes: Vec<u8>,
    pub(crate) len: usize,
    /// Where its first element starts (None: no element starts in it).
    pub(crate) start: Option<u64>,
    /// Where its walk stopped (the next region's start, the end of the input, or `odd`).
    pub(crate) end: u64,
    pub(crate) out: BatchOut,
}

/// Reads and walks region `k` (see the module documentation).
pub(crate) fn region<S: Source + ?Sized>(ctx: &Ctx, src: &S, k: u64, chunk: u64, n: u64) -> std::io::Result<Region> {
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
