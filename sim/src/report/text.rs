//! The text renderer: walks the [`Doc`] and lays out its headings, lines and fixed-width tables.

use super::model::{baseline_summary, pct, Align, Block, Cell, Column, Doc, Span, Table};
use std::fmt::Write;

/// The text report of a document.
pub fn render(doc: &Doc) -> String {
    let mut o = String::new();
    for item in doc.sections.iter().flat_map(|s| &s.items).filter(|i| i.show.text()) {
        block(&mut o, &item.block);
    }
    o
}

fn block(o: &mut String, b: &Block) {
    match b {
        Block::Heading(title) => {
            let title = inline(std::slice::from_ref(title));
            let _ = writeln!(o, "\n{title}\n{}", "=".repeat(title.chars().count()));
        }
        Block::Subheading(title) => {
            let _ = writeln!(o, "{}", inline(std::slice::from_ref(title)));
        }
        Block::Para(_, spans) => {
            let _ = writeln!(o, "{}", inline(spans));
        }
        Block::Bullets(items) => {
            for spans in items {
                let _ = writeln!(o, "  {}", inline(spans));
            }
        }
        Block::Table(t) => table(o, t),
        Block::Space => o.push('\n'),
        // Cards and charts are drawn for the page; the text states their figures in lines.
        Block::Cards(_) | Block::Chart(_) => {}
    }
}

fn inline(spans: &[Span]) -> String {
    let mut s = String::new();
    for span in spans {
        match span {
            Span::Prose(t) => s.push_str(t),
            Span::Plain(t) | Span::Strong(t) | Span::Code(t) | Span::Colored(_, t) => s.push_str(t),
            Span::List { items, sep, width } => s.push_str(&fit(items, sep, *width)),
        }
    }
    s
}

fn pad(s: &str, width: usize, align: Align) -> String {
    match align {
        Align::Left => format!("{s:<width$}"),
        Align::Right => format!("{s:>width$}"),
    }
}

fn table(o: &mut String, t: &Table) {
    let shown: Vec<usize> = (0..t.columns.len()).filter(|&i| t.columns[i].show.text()).collect();
    if t.text_header {
        let heads = shown.iter().map(|&i| {
            let c = &t.columns[i];
            pad(&c.head, c.head_width.unwrap_or(c.width), c.align)
        });
        line(o, t, &shown, heads.collect());
    }
    for row in &t.rows {
        // A row ends at its last non-empty cell.
        let n = shown.iter().rposition(|&i| !matches!(row[i], Cell::Empty)).map_or(0, |p| p + 1);
        let cells = shown[..n].iter().map(|&i| cell(&row[i], &t.columns[i]));
        line(o, t, &shown, cells.collect());
    }
}

/// One line of a table: the indent, then each cell after its column's separator.
fn line(o: &mut String, t: &Table, shown: &[usize], cells: Vec<String>) {
    o.push_str(t.indent);
    for (k, c) in cells.iter().enumerate() {
        if k > 0 {
            o.push_str(t.columns[shown[k]].sep);
        }
        o.push_str(c);
    }
    o.push('\n');
}

/// A cell padded to its column.
fn cell(c: &Cell, col: &Column) -> String {
    let clip = col.clip.unwrap_or(usize::MAX);
    let s = match c {
        Cell::Empty => String::new(),
        Cell::Text(t) | Cell::Code(t) => trunc(t, clip),
        Cell::Int(n) => n.to_string(),
        Cell::Float(v, decimals) => format!("{v:.decimals$}"),
        Cell::Percent(v) => format!("{v:.1}%"),
        Cell::Share(a, b) => pct(*a, *b),
        Cell::List(items, sep) => fit(items, sep, clip),
        Cell::Lines(items) => items.join("; "),
        Cell::Baseline(b) => baseline_summary(b),
        Cell::Suffixed(inner, suffix) => return cell(inner, col) + suffix,
        Cell::Noted(inner, _) => return cell(inner, col),
    };
    pad(&s, col.width, col.align)
}

/// `s` cut to `n` characters, the last one an ellipsis when cut.
fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n.saturating_sub(1)).collect();
        t + "…"
    }
}

/// The items joined by `sep`, as many as fit in `width` characters, then "(+N)" for the rest.
fn fit(v: &[String], sep: &str, width: usize) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = String::new();
    for (i, item) in v.iter().enumerate() {
        let more = format!(" (+{})", v.len() - i);
        let add = if i == 0 { item.chars().count() } else { sep.chars().count() + item.chars().count() };
        let room = if i + 1 == v.len() { 0 } else { more.chars().count() };
        if i > 0 && s.chars().count() + add + room > width {
            s.push_str(&more);
            return s;
        }
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(item);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_what_fits_and_counts_the_rest() {
        let v: Vec<String> = ["alpha", "beta", "gamma", "delta"].iter().map(|s| s.to_string()).collect();
        assert_eq!(fit(&v, " ", 100), "alpha beta gamma delta");
        assert_eq!(fit(&v, " ", 16), "alpha beta (+2)");
        assert_eq!(fit(&v, ", ", 3), "alpha (+3)");
        assert_eq!(fit(&[], " ", 10), "-");
        assert_eq!(pct(1, 3), "33.3%");
        assert_eq!(pct(1, 0), "-");
        assert_eq!(trunc("abcdef", 4), "abc…");
    }

    #[test]
    fn tables_pad_clip_suffix_and_end_at_the_last_cell() {
        let columns = vec![Column::left("name", 6).clip(6), Column::right("n", 4), Column::left("note", 0).sep("  ")];
        let rows = vec![
            vec![Cell::Text("abcdefgh".into()), Cell::Suffixed(Box::new(Cell::Int(7)), " x".into()), Cell::Empty],
            vec![Cell::Text("ab".into()), Cell::Int(12), Cell::Text("tail".into())],
        ];
        let mut o = String::new();
        table(&mut o, &Table { columns, rows, text_header: true, indent: "> " });
        assert_eq!(o, "> name      n  note\n> abcde…    7 x\n> ab       12  tail\n");
    }
}
