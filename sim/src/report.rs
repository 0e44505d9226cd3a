//! The simulation report: one serialisable value, printed as text tables or JSON.

use super::check::{CheckReport, Invariant, Violation};
use super::scenarios::microcode::EventReport;
use super::scenarios::migrate::BlockerRow;
use super::scenarios::plan::PlanReport;
use super::scenarios::pools::{BaselineReport, CompatMatrix, PoolReport, VendorBaseline};
use super::scenarios::upgrade::UpgradeReport;
use super::scenarios::Scenario;
use serde::Serialize;
use std::fmt::Write;

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
    pub checks: CheckReport,
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

pub fn json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("the report serialises");
    s.push('\n');
    s
}

fn pct(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
}

fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n.saturating_sub(1)).collect();
        t + "…"
    }
}

/// The items joined by `sep`, as many as fit in `width` characters, then "(+N)" for the rest.
fn fit(v: &[String], sep: &str, width: usize) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = String::new();
    for (i, item) in v.iter().enumerate() {
        let more = format!(" (+{})", v.len() - i);
        let add = if i == 0 { item.chars().count() } else { sep.chars().count() + item.chars().count() };
        let room = if i + 1 == v.len() { 0 } else { more.chars().count() };
        if i > 0 && s.chars().count() + add + room > width {
            s.push_str(&more);
            return s;
        }
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(item);
    }
    s
}

fn heading(o: &mut String, title: &str) {
    let _ = writeln!(o, "\n{title}\n{}", "=".repeat(title.chars().count()));
}

fn baseline_cell(b: &BaselineReport) -> String {
    match (&b.model, &b.error) {
        (Some(m), _) => format!("{m} ({} features, {})", b.features, b.abi_level),
        (None, Some(e)) => format!("no baseline: {e}"),
        _ => "-".into(),
    }
}

/// The text report.
pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "cpufleet simulate — libvirt {}, seed {}, spec {}\nfleet: {} hosts in {} pools, {} generations, {} distinct host CPUs; {} guests ({} started)",
        r.libvirt, r.seed, r.spec, r.hosts, r.pool_count, r.generations, r.host_cpus, r.guests, r.guests_started
    );
    if r.has(Scenario::Pools) {
        heading(&mut o, "POOLS — the baseline of every pool (virsh cpu-baseline --migratable)");
        let _ = writeln!(
            o,
            "{:<16} {:>7} {:>5}  {:<26} {:>5}  {:<10}  generations (hosts)",
            "pool", "hosts", "CPUs", "baseline model", "feat", "ABI"
        );
        for p in &r.pools {
            let gens: Vec<String> = p.generations.iter().map(|g| format!("{} {}", g.generation, g.hosts)).collect();
            let b = &p.baseline;
            let _ = writeln!(
                o,
                "{:<16} {:>7} {:>5}  {:<26} {:>5}  {:<10}  {}",
                trunc(&p.name, 16),
                p.hosts,
                p.host_cpus,
                trunc(b.model.as_deref().unwrap_or("(none)"), 26),
                b.features,
                b.abi_level,
                fit(&gens, ", ", 46)
            );
        }
        let _ = writeln!(
            o,
            "\nfeatures each generation loses under its pool baseline (most hosts of the generation have them):"
        );
        for p in &r.pools {
            for g in p.generations.iter().filter(|g| !g.lost.is_empty()) {
                let _ = writeln!(
                    o,
                    "  {:<16} {:<15} −{:<3} {}",
                    trunc(&p.name, 16),
                    g.generation,
                    g.lost.len(),
                    fit(&g.lost, " ", 78)
                );
            }
        }
        let _ = writeln!(o, "\nfleet-wide baselines:");
        for v in &r.fleet_baselines.by_vendor {
            let _ = writeln!(o, "  {:<12} {:>7} hosts  {}", v.vendor, v.hosts, baseline_cell(&v.baseline));
        }
        let _ = writeln!(
            o,
            "  {:<12} {:>7} hosts  {}  (vendor-neutral: libvirt cannot baseline across vendors)",
            "all vendors",
            r.hosts,
            baseline_cell(&r.fleet_baselines.all_vendors)
        );
    }
    if r.has(Scenario::Migrate) {
        let m = &r.migrations;
        heading(&mut o, "MIGRATE — live migrations checked against the started guest CPU");
        if m.requested > m.attempted {
            let _ = writeln!(
                o,
                "{} of {} migrations skipped: drawn onto the guest's own host in a pool with no other host",
                m.requested - m.attempted,
                m.requested
            );
        }
        let _ = writeln!(
            o,
            "{} attempted, {} succeeded ({}), {} refused; across pools: {} attempted, {} succeeded ({})",
            m.attempted,
            m.succeeded,
            pct(m.succeeded, m.attempted),
            m.refused,
            m.cross_pool_attempted,
            m.cross_pool_succeeded,
            pct(m.cross_pool_succeeded, m.cross_pool_attempted)
        );
        let _ = writeln!(
            o,
            "host-passthrough: {} moves refused as unsafe that a naive scheduler would make\n  ({} of them onto hosts lacking features the guest uses)",
            m.passthrough_unsafe_naive, m.passthrough_unsafe_losing_features
        );
        let _ = writeln!(
            o,
            "\n{:<22} {:>7} {:>8} {:>9} {:>10} {:>9}  guest CPU",
            "configuration", "guests", "no start", "attempted", "succeeded", "success"
        );
        for c in &r.configurations {
            let _ = writeln!(
                o,
                "{:<22} {:>7} {:>8} {:>9} {:>10} {:>9}  {}",
                trunc(&c.name, 22),
                c.guests,
                c.start_failures,
                c.migrations_attempted,
                c.migrations_succeeded,
                pct(c.migrations_succeeded, c.migrations_attempted),
                trunc(&c.cpu, 46)
            );
        }
        for c in r.configurations.iter().filter(|c| c.top_start_failure.is_some()) {
            let _ =
                writeln!(o, "  {} cannot start: {}", c.name, trunc(c.top_start_failure.as_deref().unwrap_or(""), 100));
        }
        let _ = writeln!(o, "\nfeatures that block migrations (refusals in which the feature is a reason):");
        let _ = writeln!(o, "{:<24} {:<17} {:>9} {:>7}", "feature", "kind", "refusals", "share");
        for b in r.blockers.iter().take(20) {
            let _ = writeln!(o, "{:<24} {:<17} {:>9} {:>7}", b.feature, b.kind, b.refusals, pct(b.refusals, m.refused));
        }
        if r.blockers.len() > 20 {
            let _ = writeln!(o, "({} more in --format json)", r.blockers.len() - 20);
        }
    }
    if let Some(u) = &r.upgrade {
        heading(&mut o, &format!("UPGRADE — the oldest generation of each pool replaced in {} steps", u.steps));
        for p in &u.replacements {
            let _ = writeln!(o, "  {:<16} {} hosts: {} → {}", p.pool, p.hosts, p.old, p.new);
        }
        let _ = writeln!(
            o,
            "\n{:>4} {:>9} {:>10} {:>10} {:>9} {:>5} {:>9} {:>16}",
            "step", "replaced", "mean feat", "evacuated", "stranded", "lost", "immobile", "gain on restart"
        );
        for s in &u.timeline {
            let _ = writeln!(
                o,
                "{:>4} {:>9} {:>10.2} {:>10} {:>9} {:>5} {:>9} {:>9} (+{:.1})",
                s.step,
                s.replaced,
                s.mean_baseline_features,
                s.evacuated,
                s.stranded,
                s.lost,
                s.immobile,
                s.gain_on_restart,
                s.mean_gain
            );
        }
        if let (Some(first), Some(last)) = (u.timeline.first(), u.timeline.last()) {
            let _ = writeln!(o, "\npool baselines before → after:");
            for (a, b) in first.pools.iter().zip(&last.pools) {
                if a.model != b.model || a.features != b.features {
                    let _ = writeln!(
                        o,
                        "  {:<16} {} ({}) → {} ({})",
                        a.pool,
                        a.model.as_deref().unwrap_or("-"),
                        a.features,
                        b.model.as_deref().unwrap_or("-"),
                        b.features
                    );
                }
            }
        }
    }
    if let Some(events) = &r.microcode {
        heading(&mut o, "MICROCODE — features removed on a share of the hosts");
        for e in events {
            let _ = writeln!(
                o,
                "\n{}: removes {} on {:.0}% of the hosts that have it → {} hosts changed\npool baselines changed: {}",
                e.name,
                e.removes.join(" "),
                e.share * 100.0,
                e.hosts_affected,
                fit(&e.pools_baseline_changed, " ", 40)
            );
            let _ = writeln!(
                o,
                "{:<22} {:>7} {:>9} {:>10} {:>11} {:>11} {:>10} {:>12}",
                "configuration",
                "guests",
                "affected",
                "unbacked",
                "pool-stuck",
                "fleet-stuck",
                "no restart",
                "restart-less"
            );
            for row in e.rows.iter().chain(std::iter::once(&e.total)) {
                let _ = writeln!(
                    o,
                    "{:<22} {:>7} {:>9} {:>10} {:>11} {:>11} {:>10} {:>12}",
                    trunc(&row.configuration, 22),
                    row.guests,
                    row.on_affected_hosts,
                    row.cpu_not_backed,
                    row.lost_pool_mobility,
                    row.lost_all_mobility,
                    row.cannot_restart,
                    row.restart_loses_features
                );
            }
        }
        let _ = writeln!(
            o,
            "(affected: on a changed host; unbacked: the host no longer has every feature of the running CPU;\n pool-/fleet-stuck: could migrate before, cannot now; no restart: the definition no longer starts there;\n restart-less: it restarts with fewer features)"
        );
    }
    if let Some(p) = &r.plan {
        heading(&mut o, &format!("PLAN — at most {} migration domains (EVC-like), {}", p.k, p.method));
        let _ = writeln!(
            o,
            "{} distinct host CPUs; one fleet-wide baseline keeps {} features; keeping every host's own CPU would average {:.2}",
            p.items,
            p.fleet_wide_features,
            p.upper_bound as f64 / r.hosts.max(1) as f64
        );
        let _ = writeln!(o, "{:>3} {:>8} {:>14} {:>12} {:>8}", "k", "domains", "features/host", "gain/host", "gain");
        for c in &p.curve {
            let _ = writeln!(
                o,
                "{:>3} {:>8} {:>14.2} {:>12.2} {:>7.1}%",
                c.k, c.domains, c.mean_features_per_host, c.gain_per_host, c.gain_percent
            );
        }
        let _ = writeln!(o, "\ndomains for k = {}:", p.k);
        for (i, d) in p.domains.iter().enumerate() {
            let gens: Vec<String> = d.generations.iter().map(|(g, n)| format!("{g} {n}")).collect();
            let _ =
                writeln!(o, "  {}. {} hosts, {}: {}", i + 1, d.hosts, d.vendors.join("+"), baseline_cell(&d.baseline));
            let _ = writeln!(o, "     generations: {}", fit(&gens, ", ", 100));
            let pools: Vec<String> = d.pools.iter().map(|(p, n)| format!("{p} {n}")).collect();
            let _ = writeln!(o, "     pools: {}", fit(&pools, ", ", 106));
        }
    }
    heading(&mut o, "INVARIANTS");
    let c = &r.checks;
    let _ = writeln!(
        o,
        "{} checks ({}):\n{} guest starts, {} migrations, {} compare pairs checked against the reference model",
        c.checks,
        if c.all { "everything, --check-all" } else { "a sample; --check-all checks everything" },
        c.starts_checked,
        c.migrations_checked,
        c.pairs_checked
    );
    if c.violation_count == 0 {
        let _ = writeln!(o, "all invariants hold");
    } else {
        let _ = writeln!(o, "{} VIOLATIONS (first ones per invariant):", c.violation_count);
        for v in &r.invariant_violations {
            let _ = writeln!(o, "  [{}] {}", v.invariant, v.detail);
        }
        let _ = writeln!(o, "reproduce: {}", r.reproduce);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_what_fits_and_counts_the_rest() {
        let v: Vec<String> = ["alpha", "beta", "gamma", "delta"].iter().map(|s| s.to_string()).collect();
        assert_eq!(fit(&v, " ", 100), "alpha beta gamma delta");
        assert_eq!(fit(&v, " ", 16), "alpha beta (+2)");
        assert_eq!(fit(&v, ", ", 3), "alpha (+3)");
        assert_eq!(fit(&[], " ", 10), "-");
        assert_eq!(pct(1, 3), "33.3%");
        assert_eq!(pct(1, 0), "-");
        assert_eq!(trunc("abcdef", 4), "abc…");
    }
}
