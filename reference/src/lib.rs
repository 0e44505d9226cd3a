//! cpufleet-reference: one deliberately simple model of libvirt's x86 CPU semantics over sets of
//! feature *names* (`BTreeSet<String>`), computed from the CPU map's data and never from the
//! engine's bitsets, plus the law checks built on it.
//!
//! It is the oracle of the engine's property tests (`engine/tests/laws*`), of the fuzz targets
//! (`fuzz/`) and of the simulator's invariant checkers (`cpufleet simulate`): one function per
//! libvirt rule, each naming the function it restates.
//!
//! - [`names`]: `x86ModelFromCPU` on names ([`from_cpu`], [`all`]), the map's model and
//!   non-migratable names, the names the engine computes ([`provided`]).
//! - [`vendor`]: a model's vendor and vendor-consistent pools.
//! - [`compare`](mod@compare): `virCPUx86Compare` / `x86Compute` ([`compare()`](compare::compare)).
//! - [`baseline`](mod@baseline): `virCPUx86Baseline` up to the naming of the result.
//! - [`update`](mod@update): `virCPUx86Update` (optional → require/disable, host-model copy, removed features).
//! - [`view`]: the simulator's view of a CPU (names and policies only) and what a started guest
//!   sees on a host.
//! - [`laws`]: the law checks behind the fuzz targets, usable from tests.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod compare;
pub mod laws;
pub mod names;
pub mod qemu;
pub mod update;
pub mod vendor;
pub mod view;

pub use baseline::{baseline, intersection, Baseline};
pub use compare::{compare, Demands};
pub use names::{all, from_cpu, minus, model_names, non_migratable, provided, Names, Pick};
pub use update::update;
pub use vendor::{model_vendor, vendor_consistent};
pub use view::{naive_cpu, naive_host, NaiveCpu, NaiveHost};
