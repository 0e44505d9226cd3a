//! Every region read, walked and folded, in document order: on the rayon pool with a bounded
//! number in flight, or all on the calling thread ([`StreamOpts`]).

use crate::fold::Fold;
use crate::region::{region, Region};
use crate::source::Source;
use crate::walk::Ctx;
use std::collections::BTreeMap;
use std::sync::mpsc;

/// Default region size of the streaming reader.
pub const DEFAULT_CHUNK: usize = 2 << 20;

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

/// Reads, walks and folds every region, in parallel unless `opts.parallel` is false.
pub(crate) fn drive<S: Source + ?Sized>(
    ctx: &Ctx,
    src: &S,
    n: u64,
    opts: StreamOpts,
    fold: &mut Fold,
) -> std::io::Result<()> {
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
