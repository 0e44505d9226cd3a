//! The PLAN section: the curve and the domains.

use super::PlanReport;
use crate::report::count;
use crate::report::model::*;

pub(crate) fn plan(p: &PlanReport, hosts: u64) -> Section<'_> {
    let mut s = Section::titled(
        format!("PLAN — at most {} migration domains (EVC-like), {}", p.k, p.method),
        "Migration domains (EVC-like plan)",
    );
    s.text(text_line(format!(
        "{}; one fleet-wide baseline keeps {}; keeping every host's own CPU would average {:.2}",
        count(p.items as u64, "distinct host CPU"),
        count(p.fleet_wide_features as u64, "feature"),
        p.upper_bound as f64 / hosts.max(1) as f64
    )));
    s.html(note(vec![plain(format!(
        "Hosts grouped into at most k domains, each with its own baseline, to keep as many features \
         as possible ({}; {} distinct host CPUs). One fleet-wide baseline keeps {} features.",
        p.method, p.items, p.fleet_wide_features
    ))]));
    s.html(Block::Chart(Chart::PlanCurve));
    let columns = vec![
        Column::right("k", 3),
        Column::right("domains", 8),
        Column::right("features/host", 14),
        Column::right("gain/host", 12),
        Column::right("gain", 8),
    ];
    let rows = p
        .curve
        .iter()
        .map(|c| {
            vec![
                Cell::Int(c.k as u64),
                Cell::Int(c.domains as u64),
                Cell::Float(c.mean_features_per_host, 2),
                Cell::Float(c.gain_per_host, 2),
                Cell::Percent(c.gain_percent),
            ]
        })
        .collect();
    s.both(Block::Table(Table { columns, rows, text_header: true, indent: "" }));
    plan_domains(p, &mut s);
    s
}

/// The plan's constraints in one line.
fn constraints(p: &PlanReport) -> String {
    let mut c = vec![if p.allow_cross_vendor { "vendors may mix" } else { "one vendor per domain" }.to_string()];
    if p.keep_pools_whole {
        c.push("pools kept whole".into());
    }
    if p.min_domain_hosts > 1 {
        c.push(format!("at least {} per domain", count(p.min_domain_hosts, "host")));
    }
    format!("constraints: {}", c.join(", "))
}

fn plan_domains<'a>(p: &'a PlanReport, s: &mut Section<'a>) {
    s.text(Block::Space);
    s.both(text_line(constraints(p)));
    for n in &p.notes {
        s.both(text_line(format!("note: {n}")));
    }
    s.text(text_line(format!("domains for k = {}:", p.k)));
    for (i, d) in p.domains.iter().enumerate() {
        let gens = d.generations.iter().map(|(g, n)| format!("{g} {n}")).collect();
        let pools = d.pools.iter().map(|(p, n)| format!("{p} {n}")).collect();
        s.text(text_line(format!(
            "  {}. {}, {}: {}",
            i + 1,
            count(d.hosts, "host"),
            d.vendors.join("+"),
            baseline_summary(&d.baseline)
        )));
        s.text(para(vec![prose("     generations: "), Span::List { items: gens, sep: ", ", width: 82 }]));
        s.text(para(vec![prose("     pools: "), Span::List { items: pools, sep: ", ", width: 88 }]));
        s.text(text_line(format!("     hosts: {}", sample_names(&d.host_names).join(", "))));
    }
    let columns = vec![
        Column::left(format!("domain (k = {})", p.k), 0),
        Column::right("hosts", 0),
        Column::left("generations", 0),
        Column::left("baseline", 0),
    ];
    let rows = p
        .domains
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let gens: Vec<String> = d.generations.iter().map(|(g, n)| format!("{g} ({n})")).collect();
            vec![
                Cell::Text(format!("{} · {}", i + 1, d.vendors.join("+"))),
                Cell::Int(d.hosts),
                Cell::Text(gens.join(", ")),
                Cell::Baseline(&d.baseline),
            ]
        })
        .collect();
    s.html(Block::Table(Table { columns, rows, text_header: false, indent: "" }));
}
