//! The fleet spec (`data/fleet.toml`, or `--spec FILE`): pools with their generation mix, host
//! variation, guest CPU configurations, and the parameters of the upgrade, microcode and plan
//! scenarios. Sections a user spec leaves out are taken from the embedded default spec.

//!
//! This module holds the resolved values ([`Spec`] and its parts); `read.rs` reads the TOML and
//! resolves it against the CPU map ([`load`], [`Spec::for_map`]).

mod read;

pub use read::load;

use crate::error::{SimError, SimResult};
use crate::profiles::Profiles;
use cpufleet_engine::{CpuMatch, CpuMode, FeatureSet, LibvirtVersion, Policy};

pub(crate) const EMBEDDED_SPEC: &str = include_str!("../../../data/fleet.toml");
pub(crate) const EMBEDDED_SPEC_NAME: &str = "data/fleet.toml (embedded)";

/// The most hosts a fleet may have (memory stays around 100 bytes per host).
pub(crate) const MAX_HOSTS: u64 = 20_000_000;
pub(crate) const MAX_GUESTS: u64 = 10_000_000;
pub(crate) const MAX_MIGRATIONS: u64 = 2_000_000_000;

/// The plan's parameters (`[plan]`, overridden by `--plan-k`, `--allow-cross-vendor`,
/// `--keep-pools-whole`, `--min-domain-hosts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanOpts {
    /// At most this many migration domains (1..=64).
    pub k: usize,
    /// Let a domain mix vendors (off by default: libvirt cannot baseline across vendors).
    pub allow_cross_vendor: bool,
    /// Domains are unions of whole pools.
    pub keep_pools_whole: bool,
    /// Every domain has at least this many hosts where the vendor's host count allows.
    pub min_domain_hosts: u64,
}

/// The bounds of `--plan-k` / `plan.k`.
pub const PLAN_K_MAX: usize = 64;

/// Host variation probabilities.
#[derive(Clone, Copy, Debug)]
pub struct Variation {
    pub virt_off: f64,
    pub ht_off: f64,
    pub microcode_latest: f64,
    pub odd: f64,
    pub cross_pool: f64,
}

#[derive(Clone, Debug)]
pub struct PoolSpec {
    pub name: String,
    pub hosts: u64,
    /// (profile index, weight), weights > 0 only.
    pub generations: Vec<(usize, f64)>,
    pub vendor: usize,
}

/// A pool's `libvirt` and `libvirt_share` keys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolLibvirt {
    pub version: LibvirtVersion,
    /// The share of the pool's hosts on `version` (exactly `round(share × hosts)` of them,
    /// chosen with the seed; see [`crate::versions::host_versions`]).
    pub share: f64,
}

/// What the model of a custom guest CPU is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelRef {
    /// The pool baseline: model and features.
    PoolBaseline,
    /// Only the pool baseline's model name.
    PoolModel,
    /// A copy of the host CPU the guest starts on (model, vendor and features as `require`).
    HostCpu,
    Named(String),
}

/// A guest CPU configuration.
#[derive(Clone, Debug)]
pub struct Template {
    pub name: String,
    pub weight: f64,
    pub mode: CpuMode,
    pub model: Option<ModelRef>,
    pub match_: CpuMatch,
    pub features: Vec<(String, Policy)>,
    /// In this pool (an index into the spec's pools), the configuration's guests use this CPU
    /// instead: how the libvirt-upgrade scenario re-simulates "in pool X: pin model M". Never
    /// set by a spec file.
    pub pinned_in: Option<(usize, Box<Template>)>,
}

impl Template {
    /// Whether the CPU it gives depends on the pool (its baseline, or a pin in one pool).
    pub fn uses_pool(&self) -> bool {
        self.pinned_in.is_some() || matches!(self.model, Some(ModelRef::PoolBaseline) | Some(ModelRef::PoolModel))
    }
    /// A short description: mode, model, match, features.
    pub fn describe(&self) -> String {
        let mut s = self.mode.as_str().to_string();
        if let Some(m) = &self.model {
            s.push(' ');
            s.push_str(match m {
                ModelRef::PoolBaseline => "@pool-baseline",
                ModelRef::PoolModel => "@pool-model",
                ModelRef::HostCpu => "@host-cpu",
                ModelRef::Named(n) => n,
            });
        }
        if self.mode == CpuMode::Custom {
            s.push_str(&format!(" match={}", self.match_));
        }
        for p in [Policy::Require, Policy::Optional, Policy::Disable, Policy::Forbid] {
            let names: Vec<&str> = self.features.iter().filter(|f| f.1 == p).map(|f| f.0.as_str()).collect();
            if !names.is_empty() {
                s.push_str(&format!(" {}={}", p, names.join(",")));
            }
        }
        s
    }
}

#[derive(Clone, Debug)]
pub struct Upgrade {
    pub steps: u32,
    /// Replacement profile per map vendor index.
    pub replace: Vec<Option<usize>>,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub name: String,
    pub remove: FeatureSet,
    pub share: f64,
    /// Restrict to these profiles (None = every host that has the features).
    pub generations: Option<Vec<usize>>,
}

/// A validated fleet spec.
#[derive(Clone, Debug)]
pub struct Spec {
    /// How the spec is named in reports and messages.
    pub label: String,
    pub name: String,
    pub guests: u64,
    pub migrations: u64,
    pub variation: Variation,
    pub pools: Vec<PoolSpec>,
    /// Per pool (same index as `pools`): the libvirt some of its hosts run (`libvirt =
    /// "11.3.0"`, `libvirt_share = 0.5`); the others run the run's default version. None, or a
    /// pool past the end: every host runs the default. Kept beside `pools` so that fleets built
    /// from other sources (an inventory) carry none.
    pub pool_libvirt: Vec<Option<PoolLibvirt>>,
    pub templates: Vec<Template>,
    pub upgrade: Upgrade,
    pub events: Vec<Event>,
    pub plan: PlanOpts,
    pub profiles: Profiles,
    /// The user's spec file (label, text) when there is one: its `[[profile]]` and `[odd]`
    /// sections are resolved again for another libvirt version's map ([`Spec::for_map`]).
    pub user_source: Option<(String, String)>,
}

impl Spec {
    pub fn total_hosts(&self) -> u64 {
        self.pools.iter().map(|p| p.hosts).sum()
    }

    /// Scales the pools to `n` hosts in all (largest remainder; every pool keeps ≥ 1 host).
    pub fn scale_hosts(&mut self, n: u64) -> SimResult<()> {
        let np = self.pools.len() as u64;
        if n < np {
            return Err(SimError::TooFewHosts { hosts: n, pools: np });
        }
        if n > MAX_HOSTS {
            return Err(SimError::TooManyHosts { hosts: n, max: MAX_HOSTS });
        }
        // Largest remainder over the spec's proportions, then every pool gets at least one host
        // (taken from the largest pools).
        let total = self.total_hosts() as u128;
        let mut shares: Vec<(u64, u128)> = self
            .pools
            .iter()
            .map(|p| {
                let exact = n as u128 * p.hosts as u128;
                ((exact / total) as u64, exact % total)
            })
            .collect();
        let mut left = n - shares.iter().map(|s| s.0).sum::<u64>();
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by(|&a, &b| shares[b].1.cmp(&shares[a].1).then(a.cmp(&b)));
        for &i in &order {
            if left == 0 {
                break;
            }
            shares[i].0 += 1;
            left -= 1;
        }
        while let Some(z) = shares.iter().position(|s| s.0 == 0) {
            let big = (0..shares.len()).max_by_key(|&i| (shares[i].0, std::cmp::Reverse(i))).expect("pools");
            shares[big].0 -= 1;
            shares[z].0 = 1;
        }
        for (p, s) in self.pools.iter_mut().zip(shares) {
            p.hosts = s.0;
        }
        Ok(())
    }

    /// Whether some hosts run another libvirt than `default` (a pool's `libvirt` key).
    pub fn is_mixed(&self, default: LibvirtVersion) -> bool {
        self.pool_libvirt.iter().take(self.pools.len()).flatten().any(|l| l.version != default && l.share > 0.0)
    }

    /// Sets the number of guests (`--guests N`).
    pub fn set_guests(&mut self, n: u64) -> SimResult<()> {
        if n > MAX_GUESTS {
            return Err(SimError::TooManyGuests { guests: n, max: MAX_GUESTS });
        }
        self.guests = n;
        Ok(())
    }

    /// Sets the number of migrations (`--migrations N`).
    pub fn set_migrations(&mut self, n: u64) -> SimResult<()> {
        if n > MAX_MIGRATIONS {
            return Err(SimError::TooManyMigrations { migrations: n, max: MAX_MIGRATIONS });
        }
        self.migrations = n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpufleet_engine::CpuMap;

    #[test]
    fn embedded_spec_is_the_documented_default() {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let s = load(&map.x86, None, 1 << 20).unwrap();
        assert_eq!(s.total_hosts(), 10_000);
        assert_eq!(s.pools.len(), 20);
        assert_eq!((s.guests, s.migrations), (5000, 100_000));
        assert!(s.templates.iter().any(|t| t.mode == CpuMode::HostPassthrough));
        assert!(s.templates.iter().any(|t| t.match_ == CpuMatch::Strict));
    }

    #[test]
    fn scaling_keeps_totals_and_proportions() {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let mut s = load(&map.x86, None, 1 << 20).unwrap();
        s.scale_hosts(1_000_000).unwrap();
        assert_eq!(s.total_hosts(), 1_000_000);
        assert_eq!(s.pools[0].hosts, 28_000);
        s.scale_hosts(20).unwrap();
        assert!(s.pools.iter().all(|p| p.hosts == 1));
        assert!(s.scale_hosts(19).is_err());
        s.scale_hosts(137).unwrap();
        assert_eq!(s.total_hosts(), 137);
    }
}
