//! The simulator's PRNG: the one seeded PRNG of the project ([`cpufleet_mix`]: SplitMix64 and
//! sub-seed derivation), and the simulator's domain tags, one per kind of random stream.
//!
//! Every random decision of the simulator draws from a stream seeded by [`derive()`]: the run
//! seed, a domain tag (what the stream is for) and an index (which host, guest, step …).

pub use cpufleet_mix::{derive, Rng, Weighted};

/// Domain tags: one per kind of random stream.
pub mod tag {
    pub const HOST: u64 = 0x686f_7374;
    pub const GUEST: u64 = 0x6775_6573;
    pub const GUEST_HOST: u64 = 0x6768_6f73;
    pub const MIGRATION: u64 = 0x6d69_6772;
    pub const UPGRADE_HOST: u64 = 0x7570_6768;
    pub const UPGRADE_ORDER: u64 = 0x7570_676f;
    pub const UPGRADE_STEP: u64 = 0x7570_6773;
    pub const MICROCODE: u64 = 0x6d63_6f64;
    pub const CHECK_SAMPLE: u64 = 0x6368_6b73;
    pub const SWARM: u64 = 0x7377_726d;
    pub const LIBVIRT_ORDER: u64 = 0x6c76_6f72;
    pub const LIBVIRT_STEP: u64 = 0x6c76_7374;
    pub const LIBVIRT_HOST: u64 = 0x6c76_686f;
}
