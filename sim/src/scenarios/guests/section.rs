//! The GUESTS section: where each inventory guest can go.

use super::GuestsReport;
use crate::report::count;
use crate::report::model::*;

/// The inventory's guests: where each can go, and what stops it elsewhere.
pub(crate) fn guests(g: &GuestsReport) -> Section<'_> {
    let mut s = Section::titled(
        "GUESTS — each inventory guest started on its host, compared with every other host".into(),
        "Where each guest can go",
    );
    s.both(text_line(format!(
        "{}: {} can move to every other host, {} to every host of their pool, {} nowhere",
        count(g.guests, "guest"),
        g.mobile_everywhere,
        g.mobile_in_pool,
        g.stranded
    )));
    let columns = vec![
        Column::left("guest", 18).clip(18),
        Column::left("host", 22).clip(22),
        Column::right("accept", 6),
        Column::right("refuse", 6),
        Column::left("pools (accepting/other hosts)", 41).sep("  ").clip(41),
        Column::left("blockers (hosts)", 0).sep("  ").clip(90),
    ];
    let rows = g
        .rows
        .iter()
        .map(|r| {
            let pools = r.pools.iter().map(|p| format!("{} {}/{}", p.pool, p.accept, p.accept + p.refuse)).collect();
            let blockers = match &r.start_error {
                Some(e) => vec![format!("cannot start on its host: {e}")],
                None => r
                    .blockers
                    .iter()
                    .map(|b| format!("{} {} ({})", b.kind.as_str(), b.feature.as_deref().unwrap_or("CPU"), b.hosts))
                    .collect(),
            };
            vec![
                Cell::Text(r.name.clone()),
                Cell::Text(format!("{}/{}", r.pool, r.host)),
                Cell::Int(r.accept),
                Cell::Int(r.refuse),
                Cell::List(pools, ", "),
                // Text: a guest without blockers ends its row at the pools.
                if blockers.is_empty() { Cell::Empty } else { Cell::List(blockers, ", ") },
            ]
        })
        .collect();
    s.both(Block::Table(Table { columns, rows, text_header: true, indent: "" }));
    s
}
