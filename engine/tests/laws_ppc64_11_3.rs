//! ppc64 laws as property tests (issue 4), checked against README section 5 restated below as a
//! naive model. POWER CPUs are identified by model name (processor generation), not features.
//!
//! This binary runs them under libvirt 11.3.0's map and rules; the body is `laws/ppc64.rs`.

mod strategies;

/// The libvirt version whose embedded map and rules these laws run on.
pub const LIBVIRT: cpufleet_engine::LibvirtVersion = cpufleet_engine::LibvirtVersion::V11_3_0;

include!("laws/ppc64.rs");
