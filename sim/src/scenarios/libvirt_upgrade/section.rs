//! The LIBVIRT UPGRADE and MIXED FLEET sections.

use super::model::{Direction, LibvirtUpgradeReport, MixedFleetReport, RolloutConfig, RolloutStep};
use crate::report::count;
use crate::report::model::*;

pub(crate) fn libvirt_upgrade(u: &LibvirtUpgradeReport) -> Section<'_> {
    let mut s = Section::titled(
        format!("LIBVIRT UPGRADE — libvirt {} → {} in {} steps, {} order", u.from, u.to, u.steps, u.order),
        "libvirt upgrade: migrations across versions",
    );
    s.html(note(vec![prose(
        "A growing share of the hosts runs the new libvirt at each step; guests start under their host's version and \
         each migration is read and compared by the destination's version. Version refusals: refused across versions \
         although the same hardware accepts the guest under its own version.",
    )]));
    fix_first(&mut s, &u.configurations);
    s.html(Block::Chart(Chart::RolloutRefusals(0)));
    s.html(Block::Chart(Chart::RolloutRefusals(1)));
    s.both(Block::Table(direction_table(&u.timeline, true)));
    s.text(Block::Space);
    s.both(Block::Subheading(prose("Configurations through the rollout, and what would make them survive")));
    s.both(Block::Table(rollout_config_table(&u.configurations)));
    s
}

/// Migrations per direction (one row per rollout step, or the one row of a mixed fleet).
fn direction_table(steps: &[RolloutStep], rollout: bool) -> Table<'_> {
    let mut columns = vec![
        Column::right("step", 4),
        Column::right("hosts new", 10),
        Column::right("started", 8),
        Column::right("old→new", 16).html_head("old→new refused / attempted"),
        Column::right("new→old", 16).html_head("new→old refused / attempted"),
        Column::right("same", 16).html_head("same version refused / attempted"),
        Column::right("stranded", 9),
        Column::left("why refused", 0).sep("  ").html_head("cross-version reasons"),
    ];
    if !rollout {
        columns.drain(..2);
    }
    let rows = steps
        .iter()
        .map(|st| {
            let dir = |d: usize| Cell::Text(format!("{} / {}", st.directions[d].refused, st.directions[d].attempted));
            let reasons = st.directions[..2]
                .iter()
                .zip(Direction::ALL)
                .flat_map(|(d, dn)| {
                    d.reasons.iter().map(move |r| format!("{} {} {}", dn.as_str(), r.reason.as_str(), r.refusals))
                })
                .collect();
            let mut row = vec![
                Cell::Int(st.step as u64),
                Cell::Int(st.hosts_new),
                Cell::Int(st.guests_started),
                dir(0),
                dir(1),
                dir(2),
                Cell::Int(st.stranded),
                Cell::List(reasons, ", "),
            ];
            if !rollout {
                row.drain(..2);
            }
            row
        })
        .collect();
    Table { columns, rows, text_header: true, indent: "" }
}

/// The configurations none of whose guests start, ahead of everything the rollout says: they
/// are to be fixed before any upgrade question means anything for them.
fn fix_first<'a>(s: &mut Section<'a>, configurations: &'a [RolloutConfig]) {
    let broken: Vec<&RolloutConfig> = configurations.iter().filter(|c| c.fix_first.is_some()).collect();
    if broken.is_empty() {
        return;
    }
    s.both(text_line(format!(
        "fix first: {} whose guests never start (the rollout says nothing about them):",
        count(broken.len() as u64, "configuration")
    )));
    for c in broken {
        s.both(text_line(format!("  {}: {}", c.name, c.fix_first.as_deref().unwrap_or_default())));
    }
    s.text(Block::Space);
}

/// Per configuration: whether it survives, why not, and the recommendation; the configurations
/// to fix first (none of their guests starts) first, marked so.
fn rollout_config_table(configurations: &[RolloutConfig]) -> Table<'_> {
    let columns = vec![
        Column::left("configuration", 16).clip(16),
        Column::left("survives", 9),
        Column::right("version refusals", 16),
        Column::right("stranded (max)", 14),
        Column::left("why (most frequent)", 24).clip(24).sep("  ").show(Show::Text),
        Column::left("why (most frequent)", 0).show(Show::Html),
        Column::left("recommendation", 0).sep("  "),
    ];
    let (broken, rest): (Vec<&RolloutConfig>, Vec<&RolloutConfig>) =
        configurations.iter().partition(|c| c.fix_first.is_some());
    let rows = broken
        .into_iter()
        .chain(rest)
        .map(|c| {
            let why = c.example.clone().unwrap_or_else(|| {
                c.reasons.iter().max_by_key(|r| r.refusals).map_or("-".into(), |r| r.reason.as_str().to_string())
            });
            let (survives, why) = match &c.fix_first {
                Some(reason) => ("fix first", reason.clone()),
                None if c.fully_mobile => ("yes", "-".into()),
                None => ("no", why),
            };
            vec![
                Cell::Text(c.name.clone()),
                Cell::Text(survives.into()),
                Cell::Int(c.version_refusals),
                Cell::Int(c.max_stranded),
                // The text names the reason in its fix-first lines above the table.
                Cell::Text(if c.fix_first.is_some() { "its guests never start".into() } else { why.clone() }),
                Cell::Text(why),
                Cell::Text(recommendation(c)),
            ]
        })
        .collect();
    Table { columns, rows, text_header: true, indent: "" }
}

/// The recommendation and what re-simulating it showed, or that it was not verified.
fn recommendation(c: &RolloutConfig) -> String {
    if c.fix_first.is_some() {
        return "make its guests start first (cpufleet start shows why on a host)".into();
    }
    let Some(r) = &c.recommendation else { return "none needed".into() };
    match &c.verified {
        None => format!("{r} (a suggestion, not verified by re-simulation)"),
        Some(v) => {
            format!(
                "{r}; re-simulated: that pool's version refusals {} → {}, {}",
                v.pool_before,
                v.pool_after,
                match (v.survives, v.version_refusals_after) {
                    (true, _) => "the configuration then survives".to_string(),
                    (false, n) => format!("the configuration still does not survive ({n} version refusals in all)"),
                },
            ) + &match v.started_before.checked_sub(v.started_after) {
                Some(fewer) if fewer > 0 => format!(" ({fewer} fewer of its guests start)"),
                _ => String::new(),
            } + &if c.max_stranded != v.stranded_after {
                format!("; stranded (max) {} → {}", c.max_stranded, v.stranded_after)
            } else {
                String::new()
            }
        }
    }
}

/// The migrate scenario on a fleet of several libvirt versions.
pub(crate) fn mixed_fleet(m: &MixedFleetReport) -> Section<'_> {
    let hosts: Vec<String> =
        m.versions.iter().map(|v| format!("{} on {}", count(v.hosts, "host"), v.libvirt)).collect();
    let mut s = Section::titled(
        format!("MIXED FLEET — live migrations across libvirt versions ({})", hosts.join(", ")),
        "Live migrations across libvirt versions",
    );
    s.both(note(vec![prose(
        "Each guest starts under its host's libvirt; each migration is read and compared by the destination's \
         version (old→new: 9.0.0 to 11.3.0).",
    )]));
    fix_first(&mut s, &m.configurations);
    s.both(Block::Table(direction_table(std::slice::from_ref(&m.migrations), false)));
    s.text(Block::Space);
    s.both(Block::Subheading(prose("Configurations across the versions")));
    s.both(Block::Table(rollout_config_table(&m.configurations)));
    s
}
