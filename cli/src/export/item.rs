//! One CPU to export ([`Item`]): where it comes from, what its target is told, the host it
//! starts on; and the answer of a computed one.

use crate::args::Outcome;
use crate::error::CliResult;
use crate::inputs::CpuRef;
use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::hypervisor::Hypervisor;
use cpufleet_engine::{CpuDef, CpuMap};
use cpufleet_export::kubevirt::HostCpuFacts;
use std::path::PathBuf;

/// One CPU to export: its name, where it comes from, and what the target is told.
pub(super) struct Item<'a> {
    pub(super) name: String,
    pub(super) source: String,
    pub(super) path: PathBuf,
    pub(super) cpu: CpuDef,
    /// The CPU in its input, to locate errors (None for computed CPUs).
    pub(super) at: Option<CpuRef<'a>>,
    /// kubevirt-labels of a domcapabilities document: the node-labeller's exact view.
    pub(super) facts: Option<HostCpuFacts>,
    pub(super) warnings: Vec<String>,
    /// The domain settings that reach `-cpu` (a domain input's `<features>`, `<clock>`, …).
    pub(super) domain: DomainFeatures,
    /// The hypervisor the guest starts on (guest view), when known.
    pub(super) hv: Option<Hypervisor>,
    /// After the QEMU driver's start: the CPU `-cpu` is built from and what `-cpu` has after it.
    pub(super) started: Option<(CpuDef, Vec<cpufleet_engine::hypervisor::CpuProperty>)>,
    /// The release it is computed by, when not the run's (an inventory host's or pool's own).
    pub(super) map: Option<std::sync::Arc<CpuMap>>,
}

pub(super) type Answer<'a> = Result<Item<'a>, CliResult<Outcome>>;

/// An item for a computed CPU (no input CPU to point at).
pub(super) fn computed(
    name: String,
    source: String,
    path: PathBuf,
    cpu: CpuDef,
    warnings: Vec<String>,
) -> Item<'static> {
    Item {
        name,
        source,
        path,
        cpu,
        at: None,
        facts: None,
        warnings,
        domain: DomainFeatures::default(),
        hv: None,
        started: None,
        map: None,
    }
}
