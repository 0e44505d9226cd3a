//! The recommendations re-simulated: the rollout again with each change applied.

use super::model::*;
use super::rollout::*;
use crate::error::SimResult;
use crate::guest::Fault;
use crate::progress::Silent;
use crate::versions::{Inputs, RealHosts};

/// The most migrations (per step × steps) a run re-simulates per recommendation, and the most
/// hosts: beyond these the recommendations stay suggestions, not verified.
pub(crate) const VERIFY_MAX_MIGRATIONS: u64 = 10_000_000;
pub(crate) const VERIFY_MAX_HOSTS: usize = 100_000;

/// Re-simulates each recommendation: the rollout again, from the same seed, with the change
/// applied (the configuration pinned, or the pool moved first), and records whether the
/// configuration then survives and how its guests of that pool fare. Skipped (the
/// recommendations stay unverified) beyond [`VERIFY_MAX_MIGRATIONS`] / [`VERIFY_MAX_HOSTS`].
pub(crate) fn verify(
    inputs: &Inputs,
    real: Option<&RealHosts>,
    run: &mut RolloutRun,
    rollout: &Rollout,
    seed: u64,
    fault: Option<Fault>,
) -> SimResult<()> {
    let spec = &inputs.specs[0];
    let steps = u64::from(rollout.steps.max(1)) + 1;
    if spec.total_hosts() as usize > VERIFY_MAX_HOSTS || spec.migrations.saturating_mul(steps) > VERIFY_MAX_MIGRATIONS {
        return Ok(());
    }
    let first = match real {
        Some(_) => inputs.maps.iter().position(|m| m.version() == rollout.from).expect("the rollout's releases"),
        None => rollout.indices().0,
    };
    let quiet = Silent;
    for (t, change) in run.changes.iter().enumerate() {
        let Some(change) = change else { continue };
        let again = match change {
            Change::Pin { pool, model } => {
                let specs = inputs
                    .specs
                    .iter()
                    .map(|s| {
                        let mut s = s.clone();
                        s.templates[t] = pinned(&s.templates[t], *pool, model);
                        s
                    })
                    .collect();
                let changed = Inputs { maps: inputs.maps.clone(), specs };
                let mut v = changed.build(real, seed, fault, first)?;
                run_with(&mut v, rollout, None, spec.guests, &quiet)
            }
            Change::UpgradeFirst { pool } => {
                let mut v = inputs.build(real, seed, fault, first)?;
                run_with(&mut v, rollout, Some(*pool), spec.guests, &quiet)
            }
        };
        let p = change.pool();
        let after = &again.report.configurations[t];
        run.report.configurations[t].verified = Some(Verification {
            pool_before: run.pool_refusals[t][p],
            pool_after: again.pool_refusals[t][p],
            survives: after.fully_mobile,
            version_refusals_after: after.version_refusals,
            started_before: run.report.timeline[0].per_configuration[t].started,
            started_after: again.report.timeline[0].per_configuration[t].started,
            stranded_after: after.max_stranded,
        });
    }
    Ok(())
}
