//! The engine's laws as property tests (x86; ppc64 is in `laws_ppc64.rs`; `laws_11_3.rs` runs the same laws on libvirt 11.3.0's map).
//!
//! CPUs are generated from the real, embedded map of `LIBVIRT` (`strategies`): a model, random
//! extra features, random policies, consistent and inconsistent vendors, topologies. Each law is
//! checked against the naive reference model of `strategies::naive` (sets of feature names,
//! written from the pack README 4.1, 4.2, 4.4, 4.5), not against the engine itself. Each
//! property runs 256 cases (`PROPTEST_CASES` overrides); failures are persisted under
//! `engine/proptest-regressions/` and replayed first on every run.
//!
//! Where libvirt's behaviour makes a textbook law false, the law is stated exactly as libvirt
//! satisfies it, with the reason next to it (look for "Precisely").
//!
//! This binary runs them under libvirt 9.0.0's map and rules; the body is `laws/x86.rs`.

mod strategies;

/// The libvirt version whose embedded map and rules these laws run on.
pub const LIBVIRT: cpufleet_engine::LibvirtVersion = cpufleet_engine::LibvirtVersion::V9_0_0;

include!("laws/x86.rs");
