//! The MICROCODE section: one table per event.

use super::EventReport;
use crate::report::count;
use crate::report::model::*;

pub(crate) fn microcode(events: &[EventReport]) -> Section<'_> {
    let mut s = Section::titled("MICROCODE — features removed on a share of the hosts".into(), "Microcode events");
    for e in events {
        s.text(Block::Space);
        s.text(para(vec![
            plain(format!(
                "{}: removes {} on {:.0}% of the hosts that have it → {} changed\npool baselines changed: ",
                e.name,
                e.removes.join(" "),
                e.share * 100.0,
                count(e.hosts_affected, "host")
            )),
            Span::List { items: e.pools_baseline_changed.clone(), sep: " ", width: 40 },
        ]));
        s.html(Block::Subheading(plain(e.name.clone())));
        let changed = match e.pools_baseline_changed.is_empty() {
            true => "none".to_string(),
            false => e.pools_baseline_changed.join(", "),
        };
        s.html(para(vec![
            prose("Removes "),
            Span::Code(e.removes.join(" ")),
            plain(format!(
                " on {:.0}% of the hosts that have it: {} changed. Pool baselines changed: {changed}.",
                e.share * 100.0,
                count(e.hosts_affected, "host")
            )),
        ]));
        s.both(Block::Table(event_table(e)));
    }
    s.text(text_line(
        "(affected: on a changed host; unbacked: the host no longer has every feature of the running CPU;\n \
         pool-/fleet-stuck: could migrate before, cannot now; no restart: the definition no longer starts there;\n \
         restart-less: it restarts with fewer features)",
    ));
    s
}

fn event_table(e: &EventReport) -> Table<'_> {
    let columns = vec![
        Column::left("configuration", 22).clip(22),
        Column::right("guests", 7),
        Column::right("affected", 9).html_head("on changed hosts"),
        Column::right("unbacked", 10).html_head("CPU no longer backed"),
        Column::right("pool-stuck", 11).html_head("lost pool mobility"),
        Column::right("fleet-stuck", 11).html_head("lost all mobility"),
        Column::right("no restart", 10).html_head("cannot restart"),
        Column::right("restart-less", 12).html_head("restart loses features"),
    ];
    let rows = e
        .rows
        .iter()
        .chain(std::iter::once(&e.total))
        .map(|row| {
            vec![
                Cell::Text(row.configuration.clone()),
                Cell::Int(row.guests),
                Cell::Int(row.on_affected_hosts),
                Cell::Int(row.cpu_not_backed),
                Cell::Int(row.lost_pool_mobility),
                Cell::Int(row.lost_all_mobility),
                Cell::Int(row.cannot_restart),
                Cell::Int(row.restart_loses_features),
            ]
        })
        .collect();
    Table { columns, rows, text_header: true, indent: "" }
}
