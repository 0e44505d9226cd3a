//! The POOLS section: baselines per pool and fleet, outliers, the compatibility matrix.

use super::{abi_or_dash_str, Outlier, PoolReport};
use crate::report::model::*;
use crate::report::{count, noun_for, Report};

pub(crate) fn pools(r: &Report) -> Section<'_> {
    let mut s = Section::titled(
        "POOLS — the baseline of every pool (hypervisor view: virsh hypervisor-cpu-baseline --migratable)".into(),
        "Pools and their baselines",
    );
    s.html(note(vec![
        prose("Hypervisor view: each pool's baseline is what "),
        Span::Code("virsh hypervisor-cpu-baseline --migratable".into()),
        prose(
            " gives for its hosts' QEMU/KVM host models (what domcapabilities shows); a KVM guest with that CPU \
             can start on and migrate to every host of the pool. Raw view: ",
        ),
        Span::Code("virsh cpu-baseline --migratable".into()),
        prose(" of the hosts' own CPUs (virsh capabilities), which asks for features KVM never gives a guest."),
    ]));
    s.text(text_line("hypervisor baseline: of the hosts' QEMU/KVM host models (domcapabilities): what guests get"));
    s.text(text_line("raw cpu-baseline: of the hosts' own CPUs (capabilities), with features KVM never gives guests"));
    s.both(Block::Table(pool_table(r)));
    s.text(Block::Space);
    s.text(text_line("each pool's generations, and the features each loses under the pool's hypervisor baseline"));
    s.text(text_line("(features most hosts of the generation offer guests):"));
    let columns = vec![
        Column::left("pool", 16).clip(16),
        Column::left("generation", 18).clip(18),
        Column::right("hosts", 6),
        Column::left("lost", 4).sep("  "),
        Column::left("features", 0).clip(49),
    ];
    let rows = r
        .parts.pools.pools
        .iter()
        .flat_map(|p| p.generations.iter().map(move |g| (p, g)))
        .map(|(p, g)| {
            vec![
                Cell::Text(p.name.clone()),
                Cell::Text(g.generation.clone()),
                Cell::Int(g.hosts),
                Cell::Text(if g.lost.is_empty() { "-".into() } else { format!("−{}", g.lost.len()) }),
                if g.lost.is_empty() { Cell::Empty } else { Cell::List(g.lost.clone(), " ") },
            ]
        })
        .collect();
    s.text(Block::Table(Table { columns, rows, text_header: false, indent: "  " }));
    let outliers: Vec<String> =
        r.parts.pools.pools.iter().flat_map(|p| p.outliers.iter().map(move |o| outlier_line(p, o))).collect();
    if !outliers.is_empty() {
        s.both(Block::Space);
        s.both(text_line(
            "outliers: the hosts that hold a pool's guest (hypervisor) baseline down, and what guests gain:",
        ));
        for line in outliers {
            s.both(text_line(line));
        }
    }
    s.text(Block::Space);
    s.text(text_line("fleet-wide baselines (raw view: virsh cpu-baseline of the hosts' CPUs):"));
    s.both(Block::Table(fleet_table(r)));
    s.html(Block::Heading(prose("Where each pool's guests can go")));
    s.html(note(vec![prose(
        "Share (%) of each generation's hosts, fleet-wide, that can run the baseline guest CPU of the pool \
         (green: all of them, red: none, grey: no baseline).",
    )]));
    s.html(Block::Chart(Chart::Matrix));
    s
}

/// "pool: without host a the pool's guest baseline would be Cooperlake (now Cascadelake-Server,
/// 64 features), gaining 17 features: …": the result and the gain apart, both in the guests'
/// (hypervisor) view.
fn outlier_line(p: &PoolReport, o: &Outlier) -> String {
    let model = |m: &Option<String>| m.clone().unwrap_or_else(|| "-".into());
    let (now, then) = (model(&p.baseline.model), model(&o.without_model));
    let result = if now == then {
        format!("would still be {then} ({}, now {})", count(o.without_features as u64, "feature"), p.baseline.features)
    } else {
        format!("would be {then} ({}; now {now}, {})", count(o.without_features as u64, "feature"), p.baseline.features)
    };
    let hosts = match o.hosts {
        1 => format!("host {}", o.host_names.first(1).first().map_or("-", String::as_str)),
        n => format!("{n} hosts ({})", sample_names(&o.host_names).join(", ")),
    };
    let n = o.gained.len();
    let mut line = format!(
        "  {}: without {hosts} the pool's guest baseline {result}, gaining {}: {}",
        p.name,
        count(n as u64, "feature"),
        sample(&o.gained).join(" ")
    );
    if !o.lost.is_empty() {
        line.push_str(&format!("; losing {}: {}", o.lost.len(), sample(&o.lost).join(" ")));
    }
    line
}

/// A pool's missing baseline in a table cell, with the short reason when the data has one.
fn none_why(p: &PoolReport) -> String {
    if p.problem.is_some() { "(mixed vendors)" } else { "(none)" }.into()
}

fn pool_table(r: &Report) -> Table<'_> {
    // Text: 100 columns; the generations are the table below it.
    let columns = vec![
        Column::left("pool", 16).clip(16),
        Column::right("hosts", 6),
        Column::right("CPUs", 5),
        Column::left("hypervisor baseline", 20).clip(20).sep("  ").show(Show::Text),
        Column::right("feat", 4).show(Show::Text),
        Column::left("ABI", 15).sep("  ").show(Show::Text),
        Column::left("hypervisor baseline", 0).show(Show::Html),
        Column::left("raw cpu-baseline", 20).clip(20).sep("  ").show(Show::Text),
        Column::right("feat", 4).show(Show::Text),
        Column::left("raw cpu-baseline", 0).show(Show::Html),
        Column::left("generations (hosts, features lost under the baseline)", 0).show(Show::Html),
    ];
    let rows = r
        .parts.pools.pools
        .iter()
        .map(|p| {
            let b = &p.baseline;
            let lost = p
                .generations
                .iter()
                .map(|g| match g.lost.len() {
                    0 => format!("{} ({})", g.generation, g.hosts),
                    n => format!("{} ({}) −{n}: {}", g.generation, g.hosts, g.lost.join(" ")),
                })
                .collect();
            vec![
                Cell::Text(p.name.clone()),
                Cell::Int(p.hosts),
                Cell::Int(p.host_cpus as u64),
                Cell::Text(b.model.clone().unwrap_or_else(|| none_why(p))),
                Cell::Int(b.features as u64),
                Cell::Text(abi_or_dash_str(b.abi_level).to_string()),
                Cell::Baseline(b),
                Cell::Text(p.raw_baseline.model.clone().unwrap_or_else(|| none_why(p))),
                Cell::Int(p.raw_baseline.features as u64),
                Cell::Baseline(&p.raw_baseline),
                Cell::Lines(lost),
            ]
        })
        .collect();
    Table { columns, rows, text_header: true, indent: "" }
}

fn fleet_table(r: &Report) -> Table<'_> {
    let columns = vec![
        Column::left("fleet-wide", 12).show(Show::Text),
        Column::left("fleet-wide", 0).show(Show::Html),
        Column::right("hosts", 7),
        Column::left("baseline", 0).sep("  "),
        Column::left("", 0).sep("  ").show(Show::Text),
    ];
    let hosts = |n: u64| Cell::Suffixed(Box::new(Cell::Int(n)), format!(" {}", noun_for(n, "host")));
    let mut rows: Vec<Vec<Cell>> = r
        .parts.pools.fleet_baselines
        .by_vendor
        .iter()
        .map(|v| {
            let name = v.vendor.to_string();
            vec![Cell::Text(name.clone()), Cell::Text(name), hosts(v.hosts), Cell::Baseline(&v.baseline), Cell::Empty]
        })
        .collect();
    rows.push(vec![
        Cell::Text("all vendors".into()),
        Cell::Text("all vendors (vendor-neutral)".into()),
        hosts(r.hosts),
        Cell::Baseline(&r.parts.pools.fleet_baselines.all_vendors),
        Cell::Text("(vendor-neutral)".into()),
    ]);
    Table { columns, rows, text_header: false, indent: "  " }
}
