//! The simulation report: one serialisable value, printed as JSON, or laid out as a document
//! ([`model`]) that the text renderer ([`mod@text`]) and the HTML renderer ([`crate::html`]) walk.

pub(crate) mod document;
pub(crate) mod model;
pub mod text;
pub(crate) mod words;

pub(crate) use document::document;
pub use document::text;
pub use words::count;
pub(crate) use words::noun_for;

use crate::check::{CheckReport, Invariant, Violation};
use crate::scenarios::guests::GuestsReport;
use crate::scenarios::libvirt_upgrade::{LibvirtUpgradeReport, MixedFleetReport};
use crate::scenarios::microcode::EventReport;
use crate::scenarios::migrate::BlockerRow;
use crate::scenarios::plan::PlanReport;
use crate::scenarios::pools::{BaselineReport, CompatMatrix, PoolReport, VendorBaseline};
use crate::scenarios::upgrade::UpgradeReport;
use crate::scenarios::Scenario;
use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Migrations {
    /// Migrations asked for (`--migrations`); a draw onto the guest's own host in a pool with no
    /// other host is skipped, so `attempted` can be lower.
    pub requested: u64,
    pub attempted: u64,
    pub succeeded: u64,
    pub refused: u64,
    pub cross_pool_attempted: u64,
    pub cross_pool_succeeded: u64,
    /// host-passthrough moves refused because the destination CPU is not identical: a naive
    /// scheduler (libvirt does not compare CPUs for host-passthrough) would have made them.
    pub passthrough_unsafe_naive: u64,
    /// … of which onto a host lacking features the guest already uses.
    pub passthrough_unsafe_losing_features: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConfigRow {
    pub name: String,
    pub cpu: String,
    pub guests: u64,
    pub started: u64,
    pub start_failures: u64,
    /// The most frequent reason a guest of this configuration could not start.
    pub top_start_failure: Option<String>,
    pub migrations_attempted: u64,
    pub migrations_succeeded: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FleetBaselines {
    pub by_vendor: Vec<VendorBaseline>,
    pub all_vendors: BaselineReport,
}

/// Where a real fleet came from, and the files it could not use.
#[derive(Clone, Debug, Serialize)]
pub struct InventoryInfo {
    pub dir: String,
    pub host_files: u64,
    pub guest_files: u64,
    /// `PATH: problem` of each file skipped under `--keep-going`.
    pub skipped: Vec<String>,
    /// Entries that are not part of the layout (passed over).
    pub ignored: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ViolationOut {
    pub invariant: Invariant,
    pub detail: String,
    pub reproduce: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The libvirt version whose map and rules the run follows.
    pub libvirt: &'static str,
    pub seed: u64,
    pub spec: String,
    pub scenarios: Vec<Scenario>,
    pub hosts: u64,
    pub pool_count: usize,
    pub generations: usize,
    /// Distinct host CPUs in the fleet.
    pub host_cpus: usize,
    pub guests: u64,
    pub guests_started: u64,
    pub migrations: Migrations,
    pub configurations: Vec<ConfigRow>,
    pub blockers: Vec<BlockerRow>,
    pub pools: Vec<PoolReport>,
    pub fleet_baselines: FleetBaselines,
    pub compatibility_matrix: CompatMatrix,
    pub upgrade: Option<UpgradeReport>,
    pub microcode: Option<Vec<EventReport>>,
    pub plan: Option<PlanReport>,
    /// The libvirt-upgrade scenario (absent from the JSON when it did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libvirt_upgrade: Option<LibvirtUpgradeReport>,
    /// The migrate scenario across versions, when the spec puts hosts on several libvirt
    /// versions (it replaces `migrations`, `blockers` and the per-configuration migrations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixed_fleet: Option<MixedFleetReport>,
    pub checks: CheckReport,
    /// The inventory's guests, where each can and cannot move (simulate --inventory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory_guests: Option<GuestsReport>,
    /// What the run left out or did differently, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Problems of the fleet's data, each with its reason and what to do (a pool mixing vendors,
    /// a guest that cannot start on its own host): reported, never invariant violations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_problems: Vec<crate::scenarios::pools::DataProblem>,
    /// The inventory the fleet was read from (simulate --inventory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryInfo>,
    pub invariant_violations: Vec<ViolationOut>,
    /// The command that reproduces this run.
    pub reproduce: String,
}

impl Report {
    pub fn violations(checks: &CheckReport, reproduce: &str) -> Vec<ViolationOut> {
        checks
            .violations
            .iter()
            .map(|v: &Violation| ViolationOut {
                invariant: v.invariant,
                detail: v.detail.clone(),
                reproduce: reproduce.to_string(),
            })
            .collect()
    }

    pub fn has(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }
}

/// The report as JSON, written to `w` as it is serialised (a report over a million hosts names each one:
/// tens of megabytes never held in memory at once).
pub fn write_json(r: &Report, mut w: impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut w, r)?;
    w.write_all(b"\n")?;
    w.flush()
}
