//! What every format shares: one export's answer ([`Export`]), and the features a CPU enables
//! ([`enabled_features`]), which the formats read off it.

use crate::error::ExportError;
use cpufleet_engine::{CpuDef, CpuMap};

/// One export of one CPU: the text an operator pastes, the same as a JSON object, and warnings
/// (what the target cannot express).
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    pub text: String,
    pub json: serde_json::Value,
    pub warnings: Vec<String>,
}

/// The features `cpu` enables once expanded to its full list (`virsh cpu-baseline --features`):
/// its model's features and the listed ones with policy force or require (host CPUs' features
/// count as require), in the expanded order.
pub fn enabled_features(map: &CpuMap, cpu: &CpuDef) -> Result<Vec<String>, ExportError> {
    use cpufleet_engine::ops::{self, Arch};
    use cpufleet_engine::Policy;
    let mut full = cpu.clone();
    if full.mode != cpufleet_engine::CpuMode::Custom {
        full.mode = cpufleet_engine::CpuMode::Custom;
    }
    let arch = Arch::of_cpu(map, &full)?;
    ops::expand_features(map, arch, &mut full)?;
    Ok(full
        .features
        .into_iter()
        .filter(|f| matches!(f.effective_policy(), Policy::Force | Policy::Require))
        .map(|f| f.name)
        .collect())
}
