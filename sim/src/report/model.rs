//! The report as a document: sections of headings, paragraphs, tables with typed columns, cards
//! and chart slots, built once from a [`Report`]; the text renderer ([`mod@super::text`]) and the
//! HTML renderer ([`crate::html`]) walk it. Where the two reports word or lay out a part
//! differently, the part is written here once per format, side by side, marked with [`Show`].

use super::{count, noun_for, Report};
use crate::fleet::HostNames;
use crate::scenarios::guests::GuestsReport;
use crate::scenarios::libvirt_upgrade::{
    Direction, LibvirtUpgradeReport, MixedFleetReport, RolloutConfig, RolloutStep,
};
use crate::scenarios::microcode::EventReport;
use crate::scenarios::plan::PlanReport;
use crate::scenarios::pools::{BaselineReport, Outlier, PoolReport};
use crate::scenarios::upgrade::UpgradeReport;
use crate::scenarios::Scenario;

/// Which renderers show a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    Both,
    Text,
    Html,
}

impl Show {
    pub fn text(self) -> bool {
        self != Show::Html
    }
    pub fn html(self) -> bool {
        self != Show::Text
    }
}

/// A run of inline text: the text renderer prints the words, the HTML renderer marks them up.
#[derive(Clone, Debug)]
pub enum Span {
    /// Fixed wording of the report, emitted as written (escaped for element content only).
    Prose(&'static str),
    /// A value: escaped in full.
    Plain(String),
    Strong(String),
    Code(String),
    /// Bold in a colour (the colour of the matching chart series).
    Colored(&'static str, String),
    /// Items joined by `sep`; the text cuts them to `width` characters and counts the rest.
    List {
        items: Vec<String>,
        sep: &'static str,
        width: usize,
    },
}

/// How a paragraph looks in HTML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Note,
    Ok,
    Bad,
    /// The subtitle under the page heading.
    Sub,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A typed table cell.
#[derive(Clone, Debug)]
pub enum Cell<'a> {
    Empty,
    Text(String),
    /// Text in HTML `<code>`.
    Code(String),
    Int(u64),
    /// A number with this many decimals.
    Float(f64, usize),
    /// A percentage already computed, one decimal.
    Percent(f64),
    /// `a` of `b` as a percentage, "-" when `b` is 0.
    Share(u64, u64),
    /// Items joined by `sep`; the text fits them to the column's clip width.
    List(Vec<String>, &'static str),
    /// One item a line in HTML (the text joins them with "; ").
    Lines(Vec<String>),
    Baseline(&'a BaselineReport),
    /// Text only: the value padded to the column, then the suffix; HTML shows the value.
    Suffixed(Box<Cell<'a>>, String),
    /// HTML only: a note under the value; the text shows the value.
    Noted(Box<Cell<'a>>, String),
}

/// A table column: its header, alignment, and how the text lays it out.
#[derive(Clone, Debug)]
pub struct Column {
    pub head: String,
    /// The HTML header where it differs from the text's.
    pub html_head: Option<&'static str>,
    pub show: Show,
    pub align: Align,
    /// Text: the width values are padded to (0: unpadded).
    pub width: usize,
    /// Text: the width of the header, where the cells carry a suffix past `width`.
    pub head_width: Option<usize>,
    /// Text: the width text cells are cut to.
    pub clip: Option<usize>,
    /// Text: what comes between this column and the previous one.
    pub sep: &'static str,
}

impl Column {
    /// A left-aligned column shown by both renderers.
    pub fn left(head: impl Into<String>, width: usize) -> Column {
        Column {
            head: head.into(),
            html_head: None,
            show: Show::Both,
            align: Align::Left,
            width,
            head_width: None,
            clip: None,
            sep: " ",
        }
    }
    /// A right-aligned (numeric) column shown by both renderers.
    pub fn right(head: impl Into<String>, width: usize) -> Column {
        Column { align: Align::Right, ..Column::left(head, width) }
    }
    pub fn show(self, show: Show) -> Column {
        Column { show, ..self }
    }
    pub fn html_head(self, head: &'static str) -> Column {
        Column { html_head: Some(head), ..self }
    }
    pub fn head_width(self, width: usize) -> Column {
        Column { head_width: Some(width), ..self }
    }
    pub fn clip(self, width: usize) -> Column {
        Column { clip: Some(width), ..self }
    }
    pub fn sep(self, sep: &'static str) -> Column {
        Column { sep, ..self }
    }
}

#[derive(Clone, Debug)]
pub struct Table<'a> {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell<'a>>>,
    /// Text: print the header line.
    pub text_header: bool,
    /// Text: what each line starts with.
    pub indent: &'static str,
}

/// A summary figure at the top of the HTML page.
#[derive(Clone, Debug)]
pub struct Card {
    pub label: String,
    pub value: String,
    /// "ok", "bad" or "".
    pub class: &'static str,
}

/// The HTML charts; each is drawn from the report by its own function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chart {
    /// Pool × generation compatibility matrix.
    Matrix,
    /// Blocker histogram.
    Blockers,
    /// Upgrade timeline: guests stranded, immobile, … per step.
    UpgradeGuests,
    /// Upgrade timeline: mean baseline features per step.
    UpgradeFeatures,
    /// Plan curve: features per host as k grows.
    PlanCurve,
    /// libvirt-upgrade: refusals per step, one line per configuration, for one direction
    /// (0: old→new, 1: new→old).
    RolloutRefusals(usize),
}

#[derive(Clone, Debug)]
pub enum Block<'a> {
    Heading(Span),
    Subheading(Span),
    Para(Style, Vec<Span>),
    Bullets(Vec<Vec<Span>>),
    Table(Table<'a>),
    Cards(Vec<Card>),
    Chart(Chart),
    /// Text: an empty line.
    Space,
}

#[derive(Clone, Debug)]
pub struct Item<'a> {
    pub show: Show,
    pub block: Block<'a>,
}

/// One part of the report (a scenario, the invariants).
#[derive(Clone, Debug, Default)]
pub struct Section<'a> {
    pub items: Vec<Item<'a>>,
}

impl<'a> Section<'a> {
    /// A section headed by `text_title` in the text and `html_title` in HTML.
    fn titled(text_title: String, html_title: &'static str) -> Section<'a> {
        let mut s = Section::default();
        s.text(Block::Heading(Span::Plain(text_title)));
        s.html(Block::Heading(Span::Prose(html_title)));
        s
    }
    fn both(&mut self, block: Block<'a>) {
        self.items.push(Item { show: Show::Both, block });
    }
    fn text(&mut self, block: Block<'a>) {
        self.items.push(Item { show: Show::Text, block });
    }
    fn html(&mut self, block: Block<'a>) {
        self.items.push(Item { show: Show::Html, block });
    }
    /// Keeps only the HTML parts (the HTML page always has the pools, the text only when run).
    fn html_only(mut self) -> Section<'a> {
        self.items.retain(|i| i.show.html());
        for i in &mut self.items {
            i.show = Show::Html;
        }
        self
    }
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct Doc<'a> {
    /// HTML `<title>`.
    pub page_title: String,
    /// HTML `<h1>`.
    pub heading: String,
    pub sections: Vec<Section<'a>>,
}

/// `a` of `b` as a percentage with one decimal, "-" when `b` is 0.
pub fn pct(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
}

/// A baseline in a few words: "MODEL (N features, ABI)", or why there is none.
pub fn baseline_summary(b: &BaselineReport) -> String {
    match (&b.model, &b.error) {
        (Some(m), _) => format!("{m} ({}, {})", count(b.features as u64, "feature"), b.abi_level),
        (None, Some(e)) => format!("no baseline: {e}"),
        _ => "-".into(),
    }
}

fn prose(s: &'static str) -> Span {
    Span::Prose(s)
}

fn plain(s: impl Into<String>) -> Span {
    Span::Plain(s.into())
}

fn para(spans: Vec<Span>) -> Block<'static> {
    Block::Para(Style::Plain, spans)
}

fn note(spans: Vec<Span>) -> Block<'static> {
    Block::Para(Style::Note, spans)
}

fn text_line(s: impl Into<String>) -> Block<'static> {
    para(vec![plain(s)])
}

/// The document the renderers walk.
pub fn document(r: &Report) -> Doc<'_> {
    let mut sections = vec![intro(r)];
    let pools = pools(r);
    sections.push(if r.has(Scenario::Pools) { pools } else { pools.html_only() });
    // Inventory guests replace the synthetic ones: the synthetic section would be all zeros.
    if let Some(m) = &r.mixed_fleet {
        sections.push(mixed_fleet(m));
    } else if r.has(Scenario::Migrate) && !(r.inventory_guests.is_some() && r.guests == 0) {
        sections.push(migrate(r));
    }
    if let Some(g) = &r.inventory_guests {
        sections.push(guests(g));
    }
    if let Some(u) = &r.upgrade {
        sections.push(upgrade(u));
    }
    if let Some(events) = &r.microcode {
        sections.push(microcode(events));
    }
    if let Some(p) = &r.plan {
        sections.push(plan(p, r.hosts));
    }
    if let Some(u) = &r.libvirt_upgrade {
        sections.push(libvirt_upgrade(u));
    }
    sections.push(invariants(r));
    Doc {
        page_title: format!("cpufleet simulate — seed {}", r.seed),
        heading: "cpufleet fleet simulation".into(),
        sections,
    }
}

fn card(label: impl Into<String>, value: impl Into<String>, class: &'static str) -> Card {
    Card { label: label.into(), value: value.into(), class }
}

fn intro(r: &Report) -> Section<'_> {
    let mut s = Section::default();
    // An inventory's own guests replace the synthetic ones.
    let guests = match &r.inventory_guests {
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
        card("hosts", r.hosts.to_string(), ""),
        card("pools", r.pool_count.to_string(), ""),
        card("generations", r.generations.to_string(), ""),
        card("distinct host CPUs", r.host_cpus.to_string(), ""),
        card("guests started", format!("{} / {}", r.guests_started, r.guests), ""),
    ];
    if r.has(Scenario::Migrate) {
        cards.push(card("migrations succeeded", pct(r.migrations.succeeded, r.migrations.attempted), ""));
    }
    let c = &r.checks;
    let invariants = format!("invariants ({})", count(c.checks, "check"));
    cards.push(match c.violation_count {
        0 => card(invariants, "all hold", "ok"),
        n => card(invariants, format!("{n} violated"), "bad"),
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

/// The inventory's guests: where each can go, and what stops it elsewhere.
fn guests(g: &GuestsReport) -> Section<'_> {
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

fn pools(r: &Report) -> Section<'_> {
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
        .pools
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
        r.pools.iter().flat_map(|p| p.outliers.iter().map(move |o| outlier_line(p, o))).collect();
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
        .pools
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
                Cell::Text(b.abi_level.to_string()),
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
        .fleet_baselines
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
        Cell::Baseline(&r.fleet_baselines.all_vendors),
        Cell::Text("(vendor-neutral)".into()),
    ]);
    Table { columns, rows, text_header: false, indent: "  " }
}

fn migrate(r: &Report) -> Section<'_> {
    let m = &r.migrations;
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
        .blockers
        .iter()
        .take(TEXT_BLOCKERS)
        .map(|b| {
            vec![
                Cell::Text(b.label().to_string()),
                Cell::Text(b.kind.as_str().to_string()),
                Cell::Int(b.refusals),
                Cell::Share(b.refusals, r.migrations.refused),
            ]
        })
        .collect();
    s.text(Block::Table(Table { columns, rows, text_header: true, indent: "" }));
    if r.blockers.len() > TEXT_BLOCKERS {
        s.text(text_line(format!("({} more in --format json)", r.blockers.len() - TEXT_BLOCKERS)));
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

fn upgrade(u: &UpgradeReport) -> Section<'_> {
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

fn microcode(events: &[EventReport]) -> Section<'_> {
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

fn plan(p: &PlanReport, hosts: u64) -> Section<'_> {
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

/// The first names of a long list, and how many more there are.
pub fn sample(names: &[String]) -> Vec<String> {
    sampled(names.iter().take(SAMPLE).cloned().collect(), names.len())
}

/// [`sample`] of a report's host list.
fn sample_names(names: &HostNames) -> Vec<String> {
    sampled(names.first(SAMPLE), names.len())
}

/// How many names a sample shows.
const SAMPLE: usize = 6;

fn sampled(mut first: Vec<String>, len: usize) -> Vec<String> {
    if len > SAMPLE {
        first.push(format!("… {} more", len - SAMPLE));
    }
    first
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

fn libvirt_upgrade(u: &LibvirtUpgradeReport) -> Section<'_> {
    let mut s = Section::titled(
        format!("LIBVIRT UPGRADE — libvirt {} → {} in {} steps, {} order", u.from, u.to, u.steps, order_name(u)),
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
fn mixed_fleet(m: &MixedFleetReport) -> Section<'_> {
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

fn order_name(u: &LibvirtUpgradeReport) -> &'static str {
    use crate::scenarios::libvirt_upgrade::Order;
    match u.order {
        Order::Pool => "pool",
        Order::Generation => "generation",
        Order::Random => "random",
    }
}
