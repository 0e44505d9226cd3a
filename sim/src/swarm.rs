//! Swarm testing (`cpufleet simulate --swarm N`): one simulation per seed S, S+1, …, S+N−1, each
//! over its own variant of the spec drawn from that seed, with every check on.
//!
//! A fixed spec exercises the same mix of hosts and guests on every run; bugs that need an
//! unusual mix (no odd hosts at all, only strict guests, half the hosts without virtualisation,
//! pools of one generation) stay hidden. Swarm testing (Groce et al., "Swarm Testing", ISSTA
//! 2012; TigerBeetle's VOPR does the same) draws the *configuration* from the seed as well: each
//! variant keeps the spec's pools, profiles and scenarios, and draws
//! - the host variation probabilities (BIOS toggles, microcode level, odd hosts, cross-pool moves),
//! - which guest configurations are used, and their weights (at least one stays on),
//! - which generations each pool mixes, and their weights (at least one stays per pool),
//!
//! at a size small enough to check everything (`check_all`). A variant depends on its seed and
//! the base spec only, so `cpufleet simulate --swarm 1 --seed M` reproduces member M exactly.

use super::rng::{tag, Rng};
use super::spec::Spec;

/// Hosts, guests and migrations of one swarm member: small enough to check every event.
pub const MEMBER_HOSTS: u64 = 400;
pub const MEMBER_GUESTS: u64 = 300;
pub const MEMBER_MIGRATIONS: u64 = 3_000;

/// The seeds of `n` members starting at `seed` (wrapping at u64::MAX).
pub fn member_seeds(seed: u64, n: u32) -> impl Iterator<Item = u64> {
    (0..n as u64).map(move |i| seed.wrapping_add(i))
}

/// A weight in (0, 1], or 0 with probability `off` (never all zero: see `keep_one`).
fn weight(rng: &mut Rng, off: f64) -> f64 {
    if rng.chance(off) {
        0.0
    } else {
        0.05 + 0.95 * rng.unit()
    }
}

/// Turns one weight back on if the draw switched all of them off.
fn keep_one(rng: &mut Rng, weights: &mut [f64]) {
    if !weights.is_empty() && weights.iter().all(|&w| w == 0.0) {
        let i = rng.index(weights.len());
        weights[i] = 1.0;
    }
}

/// The spec variant of swarm member `seed`: `base` with drawn variation, guest mix and
/// generation mixes, scaled to the member size. Pools keep their names, vendors and order.
pub fn variant(base: &Spec, seed: u64) -> Spec {
    let mut spec = base.clone();
    let mut rng = Rng::for_item(seed, tag::SWARM, 0);
    let v = &mut spec.variation;
    // Each probability is 0 a quarter of the time (the feature off), else drawn up to a bound
    // beyond which a fleet stops being plausible.
    let mut draw = |max: f64| if rng.chance(0.25) { 0.0 } else { max * rng.unit() };
    v.virt_off = draw(0.5);
    v.ht_off = draw(0.5);
    v.microcode_latest = draw(1.0);
    v.odd = draw(0.3);
    v.cross_pool = draw(1.0);
    let mut weights: Vec<f64> = spec.templates.iter().map(|_| weight(&mut rng, 0.5)).collect();
    keep_one(&mut rng, &mut weights);
    for (t, w) in spec.templates.iter_mut().zip(weights) {
        t.weight = w;
    }
    for p in &mut spec.pools {
        let mut w: Vec<f64> = p.generations.iter().map(|_| weight(&mut rng, 0.4)).collect();
        keep_one(&mut rng, &mut w);
        // Pool generation weights are > 0 only (the spec's rule): drop the ones switched off.
        p.generations = p.generations.iter().zip(w).filter(|(_, w)| *w > 0.0).map(|(g, w)| (g.0, w)).collect();
    }
    spec.guests = MEMBER_GUESTS;
    spec.migrations = MEMBER_MIGRATIONS;
    // A pool needs at least one host; the base spec has at most MEMBER_HOSTS pools in practice,
    // and scaling to fewer hosts than pools is refused, so keep one host per pool at least.
    let hosts = MEMBER_HOSTS.max(spec.pools.len() as u64);
    spec.scale_hosts(hosts).expect("at least one host per pool, within the limit");
    spec
}

/// One swarm member's outcome: what the swarm's line and JSON say of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its seed.
    pub seed: u64,
    /// Hosts and guests of its variant.
    pub hosts: u64,
    /// Guests of its variant.
    pub guests: u64,
    /// Checks run and violations found.
    pub checks: u64,
    /// Violations found (0: the member passed).
    pub violations: u64,
    /// The command that reruns it.
    pub reproduce: String,
}

/// The swarm: members `seed`, `seed`+1, … (`n` of them), each simulated over its own
/// [`variant`] of `base` with the configuration `config` gives for its seed (every check on,
/// its reproduce line). `each` sees every member and its report as it finishes (the command line
/// prints it then); its error stops the swarm. Returns the members in seed order.
pub fn run<'a, E: From<crate::SimError>>(
    map: &cpufleet_engine::CpuMap,
    base: &Spec,
    seed: u64,
    n: u32,
    config: impl Fn(u64) -> crate::Config<'a>,
    mut each: impl FnMut(&Member, &crate::report::Report) -> Result<(), E>,
) -> Result<Vec<Member>, E> {
    let mut members = Vec::with_capacity(n as usize);
    for seed in member_seeds(seed, n) {
        let spec = variant(base, seed);
        let config = config(seed);
        let report = crate::simulate(map, &spec, &config)?;
        let member = Member {
            seed,
            hosts: report.hosts,
            guests: report.guests,
            checks: report.checks.checks,
            violations: report.checks.violation_count,
            reproduce: config.reproduce.clone(),
        };
        each(&member, &report)?;
        members.push(member);
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Spec {
        let map = cpufleet_engine::CpuMap::embedded(cpufleet_engine::LibvirtVersion::V11_3_0).unwrap();
        crate::spec::load(&map.x86, None, u64::MAX).unwrap()
    }

    #[test]
    fn the_runner_reports_each_member_in_seed_order_and_a_fault_fails_them() {
        let map = cpufleet_engine::CpuMap::embedded(cpufleet_engine::LibvirtVersion::V11_3_0).unwrap();
        let base = base();
        let config = |fault| {
            move |seed| crate::Config {
                seed,
                scenarios: vec![crate::Scenario::Pools, crate::Scenario::Migrate],
                check_all: true,
                fault,
                reproduce: format!("member {seed}"),
                progress: &crate::progress::Silent,
                rollout: Default::default(),
            }
        };
        let mut seen = Vec::new();
        let members = run(&map, &base, u64::MAX, 2, config(None), |m, r| -> crate::SimResult<()> {
            assert_eq!((m.checks, m.violations), (r.checks.checks, r.checks.violation_count));
            seen.push(m.seed);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [u64::MAX, 0]);
        assert_eq!(
            members.iter().map(|m| m.reproduce.as_str()).collect::<Vec<_>>(),
            ["member 18446744073709551615", "member 0"]
        );
        assert!(members.iter().all(|m| m.violations == 0 && m.checks > 0 && m.hosts > 0), "{members:?}");
        let faulty =
            run(&map, &base, 1, 1, config(Some(crate::Fault::RawHostStart)), |_, _| -> crate::SimResult<()> { Ok(()) });
        assert!(faulty.unwrap()[0].violations > 0, "the raw-host-start fault must be caught");
    }

    #[test]
    fn a_variant_depends_on_its_seed_only_and_keeps_the_spec_valid() {
        let base = base();
        let (a, b, c) = (variant(&base, 7), variant(&base, 7), variant(&base, 8));
        assert_eq!(format!("{:?}", a.variation), format!("{:?}", b.variation));
        assert_ne!(format!("{:?}", a.variation), format!("{:?}", c.variation));
        for s in 0..200 {
            let v = variant(&base, s);
            assert!(v.templates.iter().any(|t| t.weight > 0.0), "seed {s}: no guest configuration on");
            assert!(v.pools.iter().all(|p| !p.generations.is_empty() && p.generations.iter().all(|g| g.1 > 0.0)));
            assert_eq!(v.pools.len(), base.pools.len());
            assert_eq!(v.total_hosts(), MEMBER_HOSTS.max(base.pools.len() as u64));
        }
    }

    #[test]
    fn variants_switch_things_off_and_on() {
        let base = base();
        let variants: Vec<Spec> = (0..100).map(|s| variant(&base, s)).collect();
        assert!(variants.iter().any(|v| v.variation.odd == 0.0) && variants.iter().any(|v| v.variation.odd > 0.0));
        assert!(
            variants.iter().any(|v| v.templates.iter().filter(|t| t.weight > 0.0).count() == 1)
                || variants.iter().any(|v| v.templates.iter().any(|t| t.weight == 0.0))
        );
        assert!(variants.iter().any(|v| v.pools.iter().any(|p| p.generations.len() < 2)));
    }
}
