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

// graph-uses: scenarios/*/mod.rs (the expansion of `for_each_scenario!` names each scenario's `Part`)

use crate::check::{CheckReport, Invariant, Violation};
use crate::scenarios::Scenario;
use serde::Serialize;

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
    pub configurations: Vec<ConfigRow>,
    /// Each scenario's fields (its `Part`), in [`Scenario`] order.
    #[serde(flatten)]
    pub parts: Parts,
    pub checks: CheckReport,
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

/// `Parts`: one field per scenario (its module's name), each that scenario's `Part`.
macro_rules! parts {
    ($( $module:ident ),+) => {
        /// Each scenario's fields of the report (its module's `Part`), in [`Scenario`] order, each
        /// flattened into the report's JSON; a scenario that did not run leaves its default.
        #[derive(Clone, Debug, Default, Serialize)]
        pub struct Parts {
            $(
                #[allow(missing_docs)]
                #[serde(flatten)]
                pub $module: crate::scenarios::$module::Part,
            )+
        }
    };
}
crate::scenarios::for_each_scenario!(parts);

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
