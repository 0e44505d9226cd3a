//! The walk over one region's bytes: whitespace and comments between elements, then `<cpu` …
//! first `</cpu>`. Each element is matched against the region's distinct elements (its length
//! guessed from known ones, else a search for `</cpu>` and a hash); a new one is scanned once
//! ([`HostScanner::scan`], or the full reader where the scanner does not answer), with a cache
//! of scans shared by all regions ([`Ctx`]).

use cpufleet_engine::ops::Arch;
use cpufleet_engine::scan::{FastHostCpu, HostScanner, Scan};
use cpufleet_engine::x86::BaselineInput;
use cpufleet_engine::xml::cursor::is_space as is_ws;
use cpufleet_engine::xml::cursor::{first_forbidden, is_plain_ascii, utf8_error};
use cpufleet_engine::xml::{read_cpu_document, Limits, TypeHint};
use cpufleet_engine::{CpuError, CpuMap, XmlError};
use cpufleet_mix::hash_bytes;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

/// What every worker shares: the map, its scanner and the limits.
pub(crate) struct Ctx<'m> {
    pub(crate) map: &'m CpuMap,
    pub(crate) scanner: HostScanner<'m>,
    pub(crate) limits: Limits,
    end_tag: memchr::memmem::Finder<'static>,
    pub(crate) cpu_tag: memchr::memmem::Finder<'static>,
    /// Buffers of finished regions, for reuse (no page faults after the first ones).
    buffers: Mutex<Vec<Vec<u8>>>,
    known: Mutex<Known>,
    known_full: std::sync::atomic::AtomicBool,
}

impl<'m> Ctx<'m> {
    pub(crate) fn new(map: &'m CpuMap, limits: Limits) -> Self {
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

    pub(crate) fn take_buffer(&self) -> Vec<u8> {
        self.buffers.lock().ok().and_then(|mut b| b.pop()).unwrap_or_default()
    }

    pub(crate) fn recycle(&self, buf: Vec<u8>) {
        if let Ok(mut b) = self.buffers.lock() {
            b.push(buf);
        }
    }
}

/// Whether `b[at..]` starts a `<cpu>` start tag (`<cpu` then whitespace, `>` or `/`); None
/// when the bytes that decide it are not there yet.
#[inline]
pub(crate) fn cpu_start_at(b: &[u8], at: usize) -> Option<bool> {
    let avail = &b[at..];
    let n = avail.len().min(4);
    if avail[..n] != b"<cpu"[..n] {
        return Some(false);
    }
    avail.get(4).map(|&c| is_ws(c) || c == b'>' || c == b'/')
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
pub(crate) enum Sem {
    Fast(FastHostCpu),
    Slow { arch: Result<Arch, CpuError>, input: Result<BaselineInput, CpuError> },
}

/// A distinct element of a region.
pub(crate) struct Entry {
    /// Offset of its first occurrence in the region's buffer, and its length.
    pub(crate) rep: u32,
    pub(crate) len: u32,
    /// Next entry with the same hash.
    pub(crate) next: Option<u32>,
    /// Start tags in it.
    pub(crate) tags: u32,
    /// First invalid UTF-8 byte and first forbidden character (offset in the element, byte).
    pub(crate) utf8: Option<u32>,
    pub(crate) forbidden: Option<(u32, u8)>,
    /// The CPU (index into the region's sems) or the reader's error, relative to the element.
    pub(crate) parsed: Result<u32, XmlError>,
}

/// One region's walk.
#[derive(Default)]
pub(crate) struct BatchOut {
    /// Each element: its offset in the buffer and its entry.
    pub(crate) recs: Vec<(u32, u32)>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) sems: Vec<Sem>,
    /// (index of the CPU in the region, sem) at the first occurrence of each sem, and at the
    /// second occurrence of the sem of the region's first CPU (the document's first CPU is not
    /// folded like the others).
    pub(crate) adds: Vec<(u32, u32)>,
    /// Where the plain structure broke.
    pub(crate) odd: Option<u32>,
    /// UTF-8 and forbidden characters outside elements (comments).
    pub(crate) raw_utf8: Option<u32>,
    pub(crate) raw_forbidden: Option<(u32, u8)>,
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
pub(crate) enum WalkEnd {
    /// At the first element start at or after the region's end, or at the end of the input.
    Done(usize),
    /// Where the plain structure broke.
    Odd(usize),
    /// The buffer ends before the walk can decide; resume at this offset with more bytes.
    NeedMore(usize),
}

/// The state of one region's walk, resumable when the buffer grows.
#[derive(Default)]
pub(crate) struct Walker {
    pub(crate) out: BatchOut,
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
    pub(crate) fn walk(&mut self, ctx: &Ctx, b: &[u8], mut pos: usize, eof: bool, stop: usize) -> WalkEnd {
        // Where the buffer ends before the walk can decide: more bytes, or the end of a
        // document that is not a plain pool.
        let short = |at| if eof { WalkEnd::Odd(at) } else { WalkEnd::NeedMore(at) };
        loop {
            pos = match self.between(b, pos, eof) {
                Ok(p) => p,
                Err(end) => return end,
            };
            if pos >= stop {
                return WalkEnd::Done(pos);
            }
            match cpu_start_at(b, pos) {
                Some(true) => {}
                Some(false) => return WalkEnd::Odd(pos),
                None => return short(pos),
            }
            let entry = match self.known(b, pos) {
                Some(e) => e,
                None => {
                    let Some(end) = ctx.end_tag.find(&b[pos + 4..]).map(|p| pos + 4 + p + 6) else {
                        return short(pos);
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
            pos += self.record(pos, entry);
        }
    }

    /// Skips whitespace and comments between elements from `pos`: where the next element may
    /// start, or how the walk ends.
    #[inline]
    fn between(&mut self, b: &[u8], mut pos: usize, eof: bool) -> Result<usize, WalkEnd> {
        loop {
            while pos < b.len() && is_ws(b[pos]) {
                pos += 1;
            }
            if pos == b.len() {
                return Err(if eof { WalkEnd::Done(pos) } else { WalkEnd::NeedMore(pos) });
            }
            let avail = (b.len() - pos).min(4);
            if b[pos..pos + avail] != b"<!--"[..avail] {
                return Ok(pos);
            }
            if avail < 4 {
                return Err(if eof { WalkEnd::Odd(pos) } else { WalkEnd::NeedMore(pos) });
            }
            match memchr::memmem::find(&b[pos + 4..], b"-->") {
                Some(p) => {
                    let end = pos + 4 + p + 3;
                    self.out.raw_range(b, pos, end);
                    pos = end;
                }
                None if eof => return Err(WalkEnd::Odd(pos)),
                None => return Err(WalkEnd::NeedMore(pos)),
            }
        }
    }

    /// Records an occurrence of `entry` at `pos` (and, at the first occurrence of its CPU, a CPU
    /// to fold); returns the element's length.
    #[inline]
    fn record(&mut self, pos: usize, entry: u32) -> usize {
        let index = self.out.recs.len() as u32;
        self.out.recs.push((pos as u32, entry));
        let e = &self.out.entries[entry as usize];
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
        e.len as usize
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
    let plain = is_plain_ascii(s);
    Some(Scanned {
        tags,
        utf8: if plain { None } else { utf8_error(s).map(|p| p as u32) },
        forbidden: if plain { None } else { first_forbidden(s).map(|(p, c)| (p as u32, c)) },
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
