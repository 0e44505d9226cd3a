//! cpufleet-engine: libvirt's CPU model logic, exact for libvirt 9.0.0 and 11.3.0 and fast, with
//! no I/O. The version is a value carried by the map ([`CpuMap::version`]).
//!
//! Data flows one way: bytes → parsed values ([`CpuMap`], [`CpuDef`], [`CpuidData`]) →
//! operations ([`x86`], `ppc64`, [`ops`]) → values → bytes ([`xml::write`]).
#![forbid(unsafe_code)]

mod arch;
pub mod closed;
pub mod cpu;
mod cpuid;
pub mod domain;
mod error;
mod features;
pub mod hypervisor;
mod intern;
pub mod map;
pub mod ops;
mod ppc64;
pub mod scan;
mod suggest;
mod version;
pub mod x86;
pub mod xml;

pub use cpu::{CpuDef, CpuMatch, CpuMode, CpuType, Fallback, Feature, Policy};
pub use cpuid::{CpuidData, CpuidKey};
pub use error::{CpuError, MapError, Pos, XmlError, XmlErrorKind};
pub use features::{FeatureId, FeatureSet, FEATURE_WORDS, MAX_FEATURES};
pub use map::CpuMap;
pub use suggest::closest;
pub use version::{LibvirtVersion, MapSize, Release};
