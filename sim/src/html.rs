//! The HTML report: one self-contained page (inline CSS and SVG, no script, no external
//! resource) with a pool-by-generation compatibility matrix, the blocker histogram, the upgrade
//! timeline, the plan curve and the tables of the text report. It walks the report's document
//! ([`crate::report::model`]); the charts are drawn by [`charts`].

pub(crate) mod charts;
mod escape;

pub(crate) use escape::esc;

use crate::report::model::{pct, Align, Block, Card, Cell, Span, Style, Table};
use crate::report::Report;
use std::fmt::Write;

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1180px;color:#1d2733;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 8px;border-bottom:2px solid #e3e8ee;padding-bottom:4px}
.sub{color:#5b6b7c}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{background:#f4f7fa;border-radius:8px;padding:10px 14px;min-width:130px}.card b{display:block;font-size:20px}
.ok{color:#1a7f37}.bad{color:#c62828}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td:first-child{white-space:nowrap}th,td{padding:3px 9px;border-bottom:1px solid #e3e8ee;text-align:left;vertical-align:top}th{background:#f4f7fa}
td.n{text-align:right;font-variant-numeric:tabular-nums}.note{color:#5b6b7c;font-size:12.5px;max-width:900px}
svg text{font-family:system-ui,sans-serif}code{background:#f4f7fa;padding:1px 4px;border-radius:3px}
details{margin:6px 0}pre{background:#f4f7fa;padding:8px;overflow:auto;font-size:12px}";

/// The whole page.
pub fn render(r: &Report) -> String {
    let doc = crate::report::document(r);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{}</title><style>{CSS}</style></head><body><h1>{}</h1>",
        esc(&doc.page_title),
        esc(&doc.heading)
    );
    for item in doc.sections.iter().flat_map(|s| &s.items).filter(|i| i.show.html()) {
        block(&mut o, &item.block, r);
    }
    o.push_str("</body></html>\n");
    o
}

fn block(o: &mut String, b: &Block, r: &Report) {
    match b {
        Block::Heading(t) => {
            let _ = write!(o, "<h2>{}</h2>", inline(std::slice::from_ref(t)));
        }
        Block::Subheading(t) => {
            let _ = write!(o, "<h3>{}</h3>", inline(std::slice::from_ref(t)));
        }
        Block::Para(style, spans) => {
            let (open, close) = match style {
                Style::Plain => ("<p>", "</p>"),
                Style::Note => ("<p class='note'>", "</p>"),
                Style::Ok => ("<p class='ok'>", "</p>"),
                Style::Bad => ("<p class='bad'>", "</p>"),
                Style::Sub => ("<div class='sub'>", "</div>"),
            };
            let _ = write!(o, "{open}{}{close}", inline(spans));
        }
        Block::Bullets(items) => {
            o.push_str("<ul>");
            for spans in items {
                let _ = write!(o, "<li>{}</li>", inline(spans));
            }
            o.push_str("</ul>");
        }
        Block::Table(t) => table(o, t),
        Block::Cards(cards) => {
            o.push_str("<div class='cards'>");
            cards.iter().for_each(|c| card(o, c));
            o.push_str("</div>");
        }
        Block::Chart(c) => o.push_str(&charts::svg(*c, r)),
        Block::Space => {}
    }
}

fn inline(spans: &[Span]) -> String {
    let mut s = String::new();
    for span in spans {
        let _ = match span {
            Span::Prose(t) => write!(s, "{}", t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")),
            Span::Plain(t) => write!(s, "{}", esc(t)),
            Span::Strong(t) => write!(s, "<b>{}</b>", esc(t)),
            Span::Code(t) => write!(s, "<code>{}</code>", esc(t)),
            Span::Colored(color, t) => write!(s, "<b style='color:{color}'>{}</b>", esc(t)),
            Span::List { items, sep, .. } => write!(s, "{}", esc(&items.join(sep))),
        };
    }
    s
}

fn card(o: &mut String, c: &Card) {
    let _ = write!(
        o,
        "<div class='card'><span class='sub'>{}</span><b class='{}'>{}</b></div>",
        esc(&c.label),
        c.class.css(),
        esc(&c.value)
    );
}

fn table(o: &mut String, t: &Table) {
    let shown: Vec<usize> = (0..t.columns.len()).filter(|&i| t.columns[i].show.html()).collect();
    o.push_str("<table><tr>");
    for &i in &shown {
        let c = &t.columns[i];
        let _ = write!(o, "<th>{}</th>", esc(c.html_head.unwrap_or(&c.head)));
    }
    o.push_str("</tr>");
    for row in &t.rows {
        o.push_str("<tr>");
        for &i in &shown {
            let class = if t.columns[i].align == Align::Right { " class='n'" } else { "" };
            let _ = write!(o, "<td{class}>{}</td>", cell(&row[i]));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
}

fn cell(c: &Cell) -> String {
    match c {
        Cell::Empty => String::new(),
        Cell::Text(t) => esc(t),
        Cell::Code(t) => format!("<code>{}</code>", esc(t)),
        Cell::Int(n) => n.to_string(),
        Cell::Float(v, decimals) => format!("{v:.decimals$}"),
        Cell::Percent(v) => format!("{v:.1}%"),
        Cell::Share(a, b) => pct(*a, *b),
        Cell::List(items, sep) => esc(&items.join(sep)),
        Cell::Lines(items) => items.iter().map(|s| esc(s)).collect::<Vec<_>>().join("<br>"),
        Cell::Baseline(b) => match (&b.model, &b.error) {
            (Some(m), _) => format!(
                "<details><summary><b>{}</b> · {} features · {}</summary><pre>{}</pre></details>",
                esc(m),
                b.features,
                crate::scenarios::pools::abi_or_dash_str(b.abi_level),
                esc(&b.cpu_xml)
            ),
            (None, Some(e)) => format!("<span class='bad'>no baseline: {}</span>", esc(e)),
            _ => "-".into(),
        },
        Cell::Suffixed(inner, _) => cell(inner),
        Cell::Noted(inner, note) => format!("{}<br><span class='note'>{}</span>", cell(inner), esc(note)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
        // Fixed wording keeps its apostrophes (as the page always has); values are escaped in full.
        let spans = [Span::Prose("pool's <b>"), Span::Plain("it's".into()), Span::Code("a&b".into())];
        assert_eq!(inline(&spans), "pool's &lt;b&gt;it&#39;s<code>a&amp;b</code>");
    }
}
