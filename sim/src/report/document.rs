//! The document of a report: the intro, each scenario's sections (from the scenarios' registry)
//! and the invariants.

use crate::report::model::*;
use crate::report::{count, Report};
use crate::scenarios::Scenario;

/// The document the renderers walk.
pub(crate) fn document(r: &Report) -> Doc<'_> {
    let mut sections = vec![intro(r)];
    for e in &crate::scenarios::registry::ENTRIES {
        sections.extend((e.sections)(r));
    }
    sections.push(invariants(r));
    Doc {
        page_title: format!("cpufleet simulate — seed {}", r.seed),
        heading: "cpufleet fleet simulation".into(),
        sections,
    }
}

fn card(label: impl Into<String>, value: impl Into<String>, class: CardClass) -> Card {
    Card { label: label.into(), value: value.into(), class }
}

fn intro(r: &Report) -> Section<'_> {
    let mut s = Section::default();
    // An inventory's own guests replace the synthetic ones.
    let guests = match &r.parts.migrate.inventory_guests {
        Some(g) if r.guests == 0 => {
            let started = g.rows.iter().filter(|row| row.start_error.is_none()).count();
            format!("{} ({started} start on their own host)", count(g.guests, "inventory guest"))
        }
        _ => format!("{} ({} started)", count(r.guests, "guest"), r.guests_started),
    };
    s.text(text_line(format!(
        "cpufleet simulate — libvirt {}, seed {}, spec {}\nfleet: {} in {}, {}, {}; {guests}",
        r.libvirt,
        r.seed,
        r.spec,
        count(r.hosts, "host"),
        count(r.pool_count as u64, "pool"),
        count(r.generations as u64, "generation"),
        count(r.host_cpus as u64, "distinct host CPU"),
    )));
    s.html(Block::Para(
        Style::Sub,
        vec![
            plain(format!(
                "libvirt {} · seed {} · spec {} · scenarios: {} · reproduce: ",
                r.libvirt,
                r.seed,
                r.spec,
                r.scenarios.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
            )),
            Span::Code(r.reproduce.clone()),
        ],
    ));
    let mut cards = vec![
        card("hosts", r.hosts.to_string(), CardClass::Plain),
        card("pools", r.pool_count.to_string(), CardClass::Plain),
        card("generations", r.generations.to_string(), CardClass::Plain),
        card("distinct host CPUs", r.host_cpus.to_string(), CardClass::Plain),
        card("guests started", format!("{} / {}", r.guests_started, r.guests), CardClass::Plain),
    ];
    if r.has(Scenario::Migrate) {
        cards.push(card(
            "migrations succeeded",
            pct(r.parts.migrate.migrations.succeeded, r.parts.migrate.migrations.attempted),
            CardClass::Plain,
        ));
    }
    let c = &r.checks;
    let invariants = format!("invariants ({})", count(c.checks, "check"));
    cards.push(match c.violation_count {
        0 => card(invariants, "all hold", CardClass::Ok),
        n => card(invariants, format!("{n} violated"), CardClass::Bad),
    });
    s.html(Block::Cards(cards));
    if let Some(inv) = &r.inventory {
        s.both(text_line(format!(
            "inventory {}: {} host files, {} guest files, {} skipped, {} other entries passed over",
            inv.dir,
            inv.host_files,
            inv.guest_files,
            inv.skipped.len(),
            inv.ignored
        )));
        for f in &inv.skipped {
            s.both(text_line(format!("  skipped: {f}")));
        }
    }
    for n in &r.notes {
        s.both(text_line(format!("note: {n}")));
    }
    if !r.data_problems.is_empty() {
        let n = r.data_problems.len();
        s.both(text_line(format!(
            "{} in the fleet's data (the rest of the report covers everything else):",
            count(n as u64, "problem")
        )));
        for p in &r.data_problems {
            s.both(text_line(format!("  {}: {}; {}", p.subject, p.problem, p.action)));
        }
    }
    s
}

fn invariants(r: &Report) -> Section<'_> {
    let c = &r.checks;
    let mut s = Section::titled("INVARIANTS".into(), "Invariants");
    s.text(text_line(format!(
        "{} checks ({}):\n{} guest starts, {} migrations, {} compare pairs checked against the reference model",
        c.checks,
        if c.all { "everything, --check-all" } else { "a sample; --check-all checks everything" },
        c.starts_checked,
        c.migrations_checked,
        c.pairs_checked
    )));
    let cross = c.cross_version_checked.map(|n| {
        format!(
            "{n} accepted cross-version migrations checked: names known to the destination's libvirt, its compare \
             and the reference model accept, guest CPU unchanged"
        )
    });
    if let Some(line) = &cross {
        s.text(text_line(line.clone()));
    }
    let scope = match c.all {
        true => vec![prose("everything")],
        false => vec![prose("a deterministic sample; "), Span::Code("--check-all".into()), prose(" checks everything")],
    };
    let mut spans = vec![plain(format!("{} checks (", c.checks))];
    spans.extend(scope);
    spans.push(plain(format!(
        "): {} guest starts, {} migrations, {} compare pairs against the naive reference model.",
        c.starts_checked, c.migrations_checked, c.pairs_checked
    )));
    if let Some(line) = cross {
        spans.push(plain(format!(" {line}.")));
    }
    s.html(para(spans));
    if c.violation_count == 0 {
        s.text(text_line("all invariants hold"));
        s.html(Block::Para(Style::Ok, vec![Span::Strong("All invariants hold.".into())]));
        return s;
    }
    s.text(text_line(format!("{} VIOLATIONS (first ones per invariant):", c.violation_count)));
    for v in &r.invariant_violations {
        s.text(text_line(format!("  [{}] {}", v.invariant, v.detail)));
    }
    s.text(text_line(format!("reproduce: {}", r.reproduce)));
    s.html(Block::Para(
        Style::Bad,
        vec![
            Span::Strong(format!("{} violations.", c.violation_count)),
            prose(" Reproduce: "),
            Span::Code(r.reproduce.clone()),
        ],
    ));
    let items = r
        .invariant_violations
        .iter()
        .map(|v| vec![Span::Strong(v.invariant.sentence().into()), plain(format!(": {}", v.detail))]);
    s.html(Block::Bullets(items.collect()));
    s
}

/// The text report.
pub fn text(r: &Report) -> String {
    super::text::render(&document(r))
}
