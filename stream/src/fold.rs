//! The fold: region results in document order, on the calling thread. It checks that each
//! region starts exactly where the previous walk stopped, applies the reader's document-wide
//! checks (UTF-8, forbidden characters, the element and CPU count limits), keeps the first
//! parse error, and folds each CPU at its first occurrence into a [`BaselineAcc`]. After a parse
//! error, [`validate_rest`] checks the rest of the input for what the reader checks before
//! parsing, in one plain pass.

use crate::region::Region;
use crate::source::Source;
use crate::walk::{BatchOut, Ctx, Entry, Sem};
use cpufleet_engine::ops::Arch;
use cpufleet_engine::x86::{with_index, BaselineAcc};
use cpufleet_engine::xml::cursor::first_forbidden;
use cpufleet_engine::xml::{read_cpu_document, Limits, TypeHint};
use cpufleet_engine::{CpuError, XmlError, XmlErrorKind};

/// The document-wide checks (UTF-8, forbidden characters) on `[from, to)`, in one plain pass.
pub(crate) fn validate_rest<S: Source + ?Sized>(src: &S, from: u64, to: u64, fold: &mut Fold) -> std::io::Result<()> {
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

/// The first parse error in document order, relative to the document.
pub(crate) struct PendingXml {
    pub(crate) offset: u64,
    pub(crate) element: String,
    pub(crate) kind: XmlErrorKind,
}

/// The in-order fold of region results.
pub(crate) struct Fold<'c, 'm> {
    pub(crate) ctx: &'c Ctx<'m>,
    /// Where the next region must start (where the last walk stopped).
    pub(crate) expected: u64,
    /// The document-wide checks cover `[0, validated)`.
    pub(crate) validated: u64,
    pub(crate) n_cpus: u64,
    pub(crate) n_elements: u64,
    pub(crate) utf8: Option<u64>,
    pub(crate) forbidden: Option<(u64, u8)>,
    pub(crate) error: Option<PendingXml>,
    pub(crate) base_err: Option<CpuError>,
    pub(crate) acc: Option<BaselineAcc>,
    pub(crate) fallback: bool,
}

impl<'c, 'm> Fold<'c, 'm> {
    pub(crate) fn new(ctx: &'c Ctx<'m>) -> Self {
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
    pub(crate) fn wants_more(&self) -> bool {
        self.utf8.is_none() && self.error.is_none() && !self.fallback
    }

    pub(crate) fn fold_region(&mut self, r: &Region) {
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

    /// Folds one region's walk (its buffer `b` starts at `offset` of the input).
    fn fold(&mut self, offset: u64, b: &[u8], out: &BatchOut) {
        if !self.char_checks(offset, out) {
            return;
        }
        let cpus_before = self.n_cpus;
        if !self.count_elements(offset, b, out) {
            return;
        }
        if out.odd.is_some() {
            self.fallback = true;
            return;
        }
        self.fold_cpus(cpus_before, out);
    }

    /// Document-wide checks: the first invalid UTF-8 byte (which ends the fold: false) and the
    /// first forbidden character.
    fn char_checks(&mut self, offset: u64, out: &BatchOut) -> bool {
        let first_elem = |f: &dyn Fn(&Entry) -> Option<u32>| {
            out.recs.iter().find_map(|&(start, e)| f(&out.entries[e as usize]).map(|p| start + p))
        };
        let u = [first_elem(&|e| e.utf8), out.raw_utf8].into_iter().flatten().min();
        if let Some(u) = u {
            self.utf8 = Some(offset + u as u64);
            return false;
        }
        if self.forbidden.is_none() {
            let in_elems =
                out.recs.iter().find_map(|&(start, e)| out.entries[e as usize].forbidden.map(|(p, c)| (start + p, c)));
            let f = [in_elems, out.raw_forbidden].into_iter().flatten().min_by_key(|&(p, _)| p);
            if let Some((p, c)) = f {
                self.forbidden = Some((offset + p as u64, c));
            }
        }
        true
    }

    /// The reader's element and CPU counts and the first parse error, element by element;
    /// false when an error ends the fold.
    fn count_elements(&mut self, offset: u64, b: &[u8], out: &BatchOut) -> bool {
        let limits = &self.ctx.limits;
        for &(start, e) in &out.recs {
            let entry = &out.entries[e as usize];
            let at = offset + start as u64;
            if self.n_elements + entry.tags as u64 > limits.max_elements as u64 {
                self.element_limit(at, &b[start as usize..(start + entry.len) as usize]);
                return false;
            }
            self.n_elements += entry.tags as u64;
            match &entry.parsed {
                Err(err) => {
                    self.set_error(at, err.clone());
                    return false;
                }
                Ok(_) if self.n_cpus >= limits.max_cpus as u64 => {
                    self.error = Some(PendingXml {
                        offset: at,
                        element: "cpu".into(),
                        kind: XmlErrorKind::TooMany { what: "CPUs", limit: limits.max_cpus },
                    });
                    return false;
                }
                Ok(_) => self.n_cpus += 1,
            }
        }
        true
    }

    /// The element limit runs out inside element `s` (at `at`): the reader, given what is left
    /// of the limit, stops where it stops in the whole document.
    fn element_limit(&mut self, at: u64, s: &[u8]) {
        let limits = self.ctx.limits;
        let left = limits.max_elements - self.n_elements as usize;
        let version = self.ctx.scanner.map().version();
        match read_cpu_document(s, TypeHint::Host, version, Limits { max_elements: left, ..limits }) {
            Err(mut err) => {
                if let XmlErrorKind::TooMany { what: "elements", limit } = &mut err.kind {
                    *limit = limits.max_elements;
                }
                self.set_error(at, err);
            }
            // Cannot happen (the reader counts the start tags the scanner counted); if it did,
            // the whole-document reader would settle it.
            Ok(_) => self.fallback = true,
        }
    }

    /// The baseline: every sem at its first occurrence, in document order (the region's CPUs
    /// are numbered from `cpus_before`).
    fn fold_cpus(&mut self, cpus_before: u64, out: &BatchOut) {
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
                input.and_then(|i| acc.add(map, &i)).map_err(|e| with_index(e, index as usize))
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
