//! The UPGRADE section: the per-step timeline.

use super::UpgradeReport;
use crate::report::model::*;
use crate::report::noun_for;

pub(crate) fn upgrade(u: &UpgradeReport) -> Section<'_> {
    let mut s = Section::titled(
        format!("UPGRADE — the oldest generation of each pool replaced in {} steps", u.steps),
        "Upgrade timeline",
    );
    s.html(note(vec![prose(
        "Each pool's oldest generation is replaced by the newest of its vendor, a share at each step. \
         Stranded: guests on a host being replaced with no compatible destination (cold restart needed); immobile: guests with no compatible destination left; \
         gain on restart: guests whose CPU would gain features if restarted now.",
    )]));
    s.html(Block::Chart(Chart::UpgradeGuests));
    s.html(Block::Chart(Chart::UpgradeFeatures));
    let columns = vec![
        Column::left("pool", 16),
        Column::right("hosts replaced", 0),
        Column::left("old", 0),
        Column::left("new", 0).sep(" → "),
    ];
    let rows = u
        .replacements
        .iter()
        .map(|p| {
            vec![
                Cell::Text(p.pool.clone()),
                Cell::Suffixed(Box::new(Cell::Int(p.hosts)), format!(" {}:", noun_for(p.hosts, "host"))),
                Cell::Text(p.old.clone()),
                Cell::Text(p.new.clone()),
            ]
        })
        .collect();
    s.both(Block::Table(Table { columns, rows, text_header: false, indent: "  " }));
    s.text(Block::Space);
    s.text(Block::Table(timeline_table(u)));
    if let (Some(first), Some(last)) = (u.timeline.first(), u.timeline.last()) {
        s.text(Block::Space);
        s.text(text_line("pool baselines before → after:"));
        let columns = vec![Column::left("pool", 16), Column::left("before", 0), Column::left("after", 0).sep(" → ")];
        let baseline = |model: &Option<String>, n| Cell::Text(format!("{} ({n})", model.as_deref().unwrap_or("-")));
        let rows = first
            .pools
            .iter()
            .zip(&last.pools)
            .filter(|(a, b)| a.model != b.model || a.features != b.features)
            .map(|(a, b)| {
                vec![Cell::Text(a.pool.clone()), baseline(&a.model, a.features), baseline(&b.model, b.features)]
            })
            .collect();
        s.text(Block::Table(Table { columns, rows, text_header: false, indent: "  " }));
    }
    s
}

fn timeline_table(u: &UpgradeReport) -> Table<'_> {
    let columns = vec![
        Column::right("step", 4),
        Column::right("replaced", 9),
        Column::right("mean feat", 10),
        Column::right("evacuated", 10),
        Column::right("stranded", 9),
        Column::right("lost", 5),
        Column::right("immobile", 9),
        Column::right("gain on restart", 9).head_width(16),
    ];
    let rows = u
        .timeline
        .iter()
        .map(|s| {
            vec![
                Cell::Int(s.step as u64),
                Cell::Int(s.replaced),
                Cell::Float(s.mean_baseline_features, 2),
                Cell::Int(s.evacuated),
                Cell::Int(s.stranded),
                Cell::Int(s.lost),
                Cell::Int(s.immobile),
                Cell::Suffixed(Box::new(Cell::Int(s.gain_on_restart)), format!(" (+{:.1})", s.mean_gain)),
            ]
        })
        .collect();
    Table { columns, rows, text_header: true, indent: "" }
}
