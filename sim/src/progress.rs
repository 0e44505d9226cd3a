//! How a run reports its progress: through an [`Observer`] the caller passes (the command line
//! draws a bar on stderr; `cli/src/progress.rs`). The library itself draws nothing and spawns
//! nothing; [`Silent`] is the observer that ignores everything.

/// What a run tells as it goes: the phase it is in, and units of that phase done. Every method
/// has a no-op default. Called from the run's worker threads, so it must be `Sync`.
pub trait Observer: Sync {
    /// A phase of `total` units starts (0: a phase without a known size).
    fn phase(&self, _name: &'static str, _total: u64) {}
    /// `n` more units of the current phase are done.
    fn add(&self, _n: u64) {}
    /// The run's work is done (what remains is building the report): stop showing progress.
    fn finish(&self) {}
}

/// A reference to an observer observes (so `&progress` passes on a `&dyn Observer`).
impl<T: Observer + ?Sized> Observer for &T {
    fn phase(&self, name: &'static str, total: u64) {
        (**self).phase(name, total)
    }
    fn add(&self, n: u64) {
        (**self).add(n)
    }
    fn finish(&self) {
        (**self).finish()
    }
}

/// The observer a scenario is given: any [`Observer`].
pub(crate) type Progress<'a> = dyn Observer + 'a;

/// The observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {}
