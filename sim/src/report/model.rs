//! The report as a document, its types: sections of headings, paragraphs, tables with typed
//! columns, cards and chart slots, and the helpers the sections share. The document is built once
//! from a [`Report`](super::Report) ([`document`](super::document::document): the intro, each scenario's sections from
//! its `section.rs`, the invariants); the text renderer ([`mod@super::text`]) and the HTML renderer
//! ([`crate::html`]) walk it. Where the two reports word or lay out a part differently, the part is
//! written once per format, side by side, marked with [`Show`].

use super::count;
use crate::fleet::HostNames;
use crate::scenarios::pools::BaselineReport;

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
    /// How the value is coloured.
    pub class: CardClass,
}

/// How a card's value is coloured on the page: the CSS class of its `<b>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardClass {
    /// No colour (a plain figure).
    Plain,
    /// Good news (green): `ok`.
    Ok,
    /// Bad news (red): `bad`.
    Bad,
}

impl CardClass {
    /// The CSS class the page's style sheet defines for it (empty for [`CardClass::Plain`]).
    pub fn css(self) -> &'static str {
        match self {
            CardClass::Plain => "",
            CardClass::Ok => "ok",
            CardClass::Bad => "bad",
        }
    }
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
    pub(crate) fn titled(text_title: String, html_title: &'static str) -> Section<'a> {
        let mut s = Section::default();
        s.text(Block::Heading(Span::Plain(text_title)));
        s.html(Block::Heading(Span::Prose(html_title)));
        s
    }
    pub(crate) fn both(&mut self, block: Block<'a>) {
        self.items.push(Item { show: Show::Both, block });
    }
    pub(crate) fn text(&mut self, block: Block<'a>) {
        self.items.push(Item { show: Show::Text, block });
    }
    pub(crate) fn html(&mut self, block: Block<'a>) {
        self.items.push(Item { show: Show::Html, block });
    }
    /// Keeps only the HTML parts (the HTML page always has the pools, the text only when run).
    pub(crate) fn html_only(mut self) -> Section<'a> {
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
pub(crate) fn pct(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
}

/// A baseline in a few words: "MODEL (N features, ABI)", or why there is none.
pub(crate) fn baseline_summary(b: &BaselineReport) -> String {
    match (&b.model, &b.error) {
        (Some(m), _) => format!(
            "{m} ({}, {})",
            count(b.features as u64, "feature"),
            crate::scenarios::pools::abi_or_dash_str(b.abi_level)
        ),
        (None, Some(e)) => format!("no baseline: {e}"),
        _ => "-".into(),
    }
}

pub(crate) fn prose(s: &'static str) -> Span {
    Span::Prose(s)
}

pub(crate) fn plain(s: impl Into<String>) -> Span {
    Span::Plain(s.into())
}

pub(crate) fn para(spans: Vec<Span>) -> Block<'static> {
    Block::Para(Style::Plain, spans)
}

pub(crate) fn note(spans: Vec<Span>) -> Block<'static> {
    Block::Para(Style::Note, spans)
}

pub(crate) fn text_line(s: impl Into<String>) -> Block<'static> {
    para(vec![plain(s)])
}

/// The first names of a long list, and how many more there are.
pub(crate) fn sample(names: &[String]) -> Vec<String> {
    sampled(names.iter().take(SAMPLE).cloned().collect(), names.len())
}

/// [`sample`] of a report's host list.
pub(crate) fn sample_names(names: &HostNames) -> Vec<String> {
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
