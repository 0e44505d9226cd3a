//! The simulator's PRNG: the one seeded PRNG of the project ([`cpufleet_mix`]: SplitMix64 and
//! sub-seed derivation), and the simulator's domain tags, one per kind of random stream.
//!
//! Every random decision of the simulator draws from a stream seeded by [`derive()`]: the run
//! seed, a domain tag (what the stream is for) and an index (which host, guest, step …).

pub(crate) use cpufleet_mix::derive;
pub use cpufleet_mix::{Rng, Weighted};

/// Domain tags: one per kind of random stream.
pub(crate) mod tag {
    pub(crate) const HOST: u64 = 0x686f_7374;
    pub(crate) const GUEST: u64 = 0x6775_6573;
    pub(crate) const GUEST_HOST: u64 = 0x6768_6f73;
    pub(crate) const MIGRATION: u64 = 0x6d69_6772;
    pub(crate) const UPGRADE_HOST: u64 = 0x7570_6768;
    pub(crate) const UPGRADE_ORDER: u64 = 0x7570_676f;
    pub(crate) const UPGRADE_STEP: u64 = 0x7570_6773;
    pub(crate) const MICROCODE: u64 = 0x6d63_6f64;
    pub(crate) const CHECK_SAMPLE: u64 = 0x6368_6b73;
    pub(crate) const SWARM: u64 = 0x7377_726d;
    pub(crate) const LIBVIRT_ORDER: u64 = 0x6c76_6f72;
    pub(crate) const LIBVIRT_STEP: u64 = 0x6c76_7374;
    pub(crate) const LIBVIRT_HOST: u64 = 0x6c76_686f;
}
