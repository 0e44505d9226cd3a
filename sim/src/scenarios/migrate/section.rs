//! The MIGRATE section: per configuration, the blockers.

use crate::report::model::*;
use crate::report::Report;

pub(crate) fn migrate(r: &Report) -> Section<'_> {
    let m = &r.parts.migrate.migrations;
    let mut s =
        Section::titled("MIGRATE — live migrations checked against the started guest CPU".into(), "Live migrations");
    if m.requested > m.attempted {
        s.text(text_line(format!(
            "{} of {} migrations skipped: drawn onto the guest's own host in a pool with no other host",
            m.requested - m.attempted,
            m.requested
        )));
    }
    let (ok, cross_ok) = (pct(m.succeeded, m.attempted), pct(m.cross_pool_succeeded, m.cross_pool_attempted));
    s.text(text_line(format!(
        "{} attempted, {} succeeded ({ok}), {} refused; across pools: {} attempted, {} succeeded ({cross_ok})\n\
         host-passthrough: {} moves refused as unsafe that a naive scheduler would make\n  ({} of them onto hosts lacking features the guest uses)",
        m.attempted, m.succeeded, m.refused, m.cross_pool_attempted, m.cross_pool_succeeded,
        m.passthrough_unsafe_naive, m.passthrough_unsafe_losing_features
    )));
    s.html(para(vec![
        plain(format!("{} attempted, ", m.attempted)),
        Span::Strong(m.succeeded.to_string()),
        plain(format!(
            " succeeded ({ok}), {} refused. Across pools: {} attempted, {} succeeded ({cross_ok}). \
             host-passthrough: {} moves refused as unsafe that a naive scheduler would have made ({} onto hosts lacking features the guest uses).",
            m.refused, m.cross_pool_attempted, m.cross_pool_succeeded, m.passthrough_unsafe_naive, m.passthrough_unsafe_losing_features
        )),
    ]));
    s.text(Block::Space);
    s.both(Block::Table(configuration_table(r)));
    let columns = vec![Column::left("configuration", 0), Column::left("reason", 0).sep(" cannot start: ").clip(100)];
    let rows = r
        .configurations
        .iter()
        .filter_map(|c| Some(vec![Cell::Text(c.name.clone()), Cell::Text(c.top_start_failure.clone()?)]))
        .collect();
    s.text(Block::Table(Table { columns, rows, text_header: false, indent: "  " }));
    blockers(r, &mut s);
    s
}

fn configuration_table(r: &Report) -> Table<'_> {
    let columns = vec![
        Column::left("configuration", 17).clip(17),
        Column::left("guest CPU", 0).show(Show::Html),
        Column::right("guests", 7),
        Column::right("no start", 8).html_head("cannot start"),
        Column::right("attempted", 9).html_head("migrations"),
        Column::right("succeeded", 10).show(Show::Text),
        Column::right("success", 9).html_head("succeeded"),
        Column::left("guest CPU", 0).sep("  ").clip(46).show(Show::Text),
    ];
    let rows = r
        .configurations
        .iter()
        .map(|c| {
            let no_start = match &c.top_start_failure {
                Some(f) => Cell::Noted(Box::new(Cell::Int(c.start_failures)), f.clone()),
                None => Cell::Int(c.start_failures),
            };
            vec![
                Cell::Text(c.name.clone()),
                Cell::Code(c.cpu.clone()),
                Cell::Int(c.guests),
                no_start,
                Cell::Int(c.migrations_attempted),
                Cell::Int(c.migrations_succeeded),
                Cell::Share(c.migrations_succeeded, c.migrations_attempted),
                Cell::Text(c.cpu.clone()),
            ]
        })
        .collect();
    Table { columns, rows, text_header: true, indent: "" }
}

/// How many blockers the text lists (the JSON has them all).
const TEXT_BLOCKERS: usize = 20;

fn blockers<'a>(r: &'a Report, s: &mut Section<'a>) {
    s.text(Block::Space);
    s.text(text_line("features that block migrations (refusals in which the feature is a reason):"));
    let columns = vec![
        Column::left("feature", 24),
        Column::left("kind", 17),
        Column::right("refusals", 9),
        Column::right("share", 7),
    ];
    let rows = r
        .parts.migrate.blockers
        .iter()
        .take(TEXT_BLOCKERS)
        .map(|b| {
            vec![
                Cell::Text(b.label().to_string()),
                Cell::Text(b.kind.as_str().to_string()),
                Cell::Int(b.refusals),
                Cell::Share(b.refusals, r.parts.migrate.migrations.refused),
            ]
        })
        .collect();
    s.text(Block::Table(Table { columns, rows, text_header: true, indent: "" }));
    if r.parts.migrate.blockers.len() > TEXT_BLOCKERS {
        s.text(text_line(format!("({} more in --format json)", r.parts.migrate.blockers.len() - TEXT_BLOCKERS)));
    }
    s.html(Block::Heading(prose("What blocks migrations")));
    s.html(note(vec![
        prose("Refused migrations in which each feature is a reason (a refusal can have several): "),
        Span::Colored("#4f7cac", "missing".into()),
        prose(" on the destination, "),
        Span::Colored("#c0504d", "forbidden".into()),
        prose(" but present, "),
        Span::Colored("#9b59b6", "extra".into()),
        prose(" on a strict CPU, "),
        Span::Colored("#e08e0b", "vendor".into()),
        prose(" mismatch, host-passthrough onto a CPU that is not identical."),
    ]));
    s.html(Block::Chart(Chart::Blockers));
}
