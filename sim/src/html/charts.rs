//! The HTML page's SVG charts, each drawn from the report: the pool × generation compatibility
//! matrix, the blocker histogram and the line charts (upgrade timeline, plan curve).

use super::escape::esc;
use crate::report::model::Chart;
use crate::report::Report;
use crate::scenarios::migrate::BlockerKind;
use crate::scenarios::upgrade::Step;
use std::fmt::Write;

/// The chart `c` of report `r`. Every chart is an `<svg class='chart'>` whose axes carry a
/// title with its unit (`text.axis-title.x`, `text.axis-title.y`), which the headless-browser
/// test checks as rendered (`cli/tests/html_browser.rs`).
pub(crate) fn svg(c: Chart, r: &Report) -> String {
    match c {
        Chart::Matrix => matrix_svg(r),
        Chart::Blockers => blockers_svg(r),
        Chart::UpgradeGuests | Chart::UpgradeFeatures => upgrade_svg(c, r),
        Chart::RolloutRefusals(d) => rollout_svg(d, r),
        Chart::PlanCurve => {
            let curve = r.parts.plan.plan.as_ref().map(|p| &p.curve[..]).unwrap_or(&[]);
            line_chart(&LineChart {
                title: "plan: features per host",
                x_title: "k: at most k migration domains (count)",
                y_title: "mean features per host (count)",
                xs: curve.iter().map(|c| c.k as f64).collect(),
                series: vec![(
                    "features per host",
                    PALETTE[4],
                    curve.iter().map(|c| c.mean_features_per_host).collect(),
                )],
            })
        }
    }
}

fn upgrade_svg(c: Chart, r: &Report) -> String {
    let timeline = r.parts.upgrade.upgrade.as_ref().map(|u| &u.timeline[..]).unwrap_or(&[]);
    let vals = |f: fn(&Step) -> f64| timeline.iter().map(f).collect::<Vec<f64>>();
    let xs: Vec<f64> = (0..timeline.len()).map(|i| i as f64).collect();
    if c == Chart::UpgradeFeatures {
        return line_chart(&LineChart {
            title: "upgrade: baseline features",
            x_title: "upgrade step",
            y_title: "mean baseline features per pool (count)",
            xs,
            series: vec![("mean baseline features", PALETTE[4], vals(|s| s.mean_baseline_features))],
        });
    }
    line_chart(&LineChart {
        title: "upgrade: guests",
        x_title: "upgrade step",
        y_title: "guests (count)",
        xs,
        series: vec![
            ("stranded", PALETTE[5], vals(|s| s.stranded as f64)),
            ("immobile", PALETTE[0], vals(|s| s.immobile as f64)),
            ("gain on restart", PALETTE[2], vals(|s| s.gain_on_restart as f64)),
            ("evacuated", PALETTE[4], vals(|s| s.evacuated as f64)),
        ],
    })
}

/// The Okabe–Ito palette (distinguishable with the common colour-vision deficiencies), black
/// left out for the axes.
pub(crate) const PALETTE: [&str; 7] = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"];

/// libvirt-upgrade: refused migrations of direction `d` per step, one line per configuration.
fn rollout_svg(d: usize, r: &Report) -> String {
    let Some(u) = &r.parts.libvirt_upgrade.libvirt_upgrade else { return String::new() };
    let series: Vec<(&str, &str, Vec<f64>)> = u
        .configurations
        .iter()
        .enumerate()
        .map(|(t, c)| {
            let vals = u.timeline.iter().map(|s| s.per_configuration[t].refused[d] as f64).collect();
            (c.name.as_str(), PALETTE[t % PALETTE.len()], vals)
        })
        .collect();
    let dir = if d == 0 { "old→new" } else { "new→old" };
    let title = format!("libvirt {} → {}: {dir} refusals", u.from, u.to);
    let y_title = format!("refused {dir} (count)");
    line_chart(&LineChart {
        title: &title,
        x_title: "rollout step (share of hosts on the new version = step / steps)",
        y_title: &y_title,
        xs: u.timeline.iter().map(|s| s.step as f64).collect(),
        series,
    })
}

/// Viridis (perceptually uniform, readable under the common colour-vision deficiencies and in
/// grey): share 0 → dark purple, 1 → yellow; eight linear pieces between its stops.
fn share_color(s: f64) -> String {
    const STOPS: [(u8, u8, u8); 9] = [
        (0x44, 0x01, 0x54),
        (0x47, 0x2d, 0x7b),
        (0x3b, 0x52, 0x8b),
        (0x2c, 0x72, 0x8e),
        (0x21, 0x91, 0x8c),
        (0x28, 0xae, 0x80),
        (0x5e, 0xc9, 0x62),
        (0xad, 0xdc, 0x30),
        (0xfd, 0xe7, 0x25),
    ];
    let x = s.clamp(0.0, 1.0) * 8.0;
    let i = (x.floor() as usize).min(7);
    let t = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * t).round() as u8;
    format!("rgb({},{},{})", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The text colour readable on a share's cell (white on the dark half of viridis).
fn on_share(s: f64) -> &'static str {
    if s < 0.55 {
        "#ffffff"
    } else {
        "#1d2733"
    }
}

fn axis_title_x(s: &mut String, x: f64, y: f64, text: &str) {
    let _ = write!(
        s,
        "<text class='axis-title x' x='{x:.1}' y='{y:.1}' font-size='11' text-anchor='middle' fill='#3d4b5a'>{}</text>",
        esc(text)
    );
}

fn axis_title_y(s: &mut String, x: f64, y: f64, text: &str) {
    let _ = write!(
        s,
        "<text class='axis-title y' x='{x:.1}' y='{y:.1}' font-size='11' text-anchor='middle' fill='#3d4b5a' transform='rotate(-90 {x:.1} {y:.1})'>{}</text>",
        esc(text)
    );
}

fn matrix_svg(r: &Report) -> String {
    let m = &r.parts.pools.compatibility_matrix;
    // Fit the page (about 1100 px) whatever the number of generations; column labels upright
    // (rotated a quarter turn) so that neighbours never overlap.
    let (cell_h, left, top) = (22.0, 150.0, 130.0);
    let cell_w = ((1080.0 - left) / m.generations.len().max(1) as f64).clamp(30.0, 56.0);
    let w = left + cell_w * m.generations.len() as f64 + 40.0;
    let h = top + cell_h * r.parts.pools.pools.len() as f64 + 34.0;
    let mut s = String::new();
    let _ = write!(s, "<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img' aria-label='pool by generation compatibility matrix'>");
    for (j, g) in m.generations.iter().enumerate() {
        let x = left + cell_w * j as f64 + cell_w / 2.0 + 4.0;
        let y = top - 6.0;
        let _ = write!(
            s,
            "<text x='{x:.1}' y='{y}' font-size='11' transform='rotate(-90 {x:.1} {y})' text-anchor='start'>{}</text>",
            esc(g)
        );
    }
    for (i, p) in r.parts.pools.pools.iter().enumerate() {
        let y = top + cell_h * i as f64;
        let _ = write!(
            s,
            "<text x='{}' y='{}' font-size='12' text-anchor='end'>{}</text>",
            left - 6.0,
            y + 15.0,
            esc(&p.name)
        );
        for (j, v) in m.share.get(i).map(|v| v.as_slice()).unwrap_or(&[]).iter().enumerate() {
            let x = left + cell_w * j as f64;
            let why = m.why_none.get(i).and_then(|w| w.get(j)).cloned().flatten();
            let (fill, ink, label, tip) = match v {
                Some(sh) => {
                    let label = format!("{:.0}", sh * 100.0);
                    let tip = match &why {
                        Some(reason) => format!("{label}%: no host of the generation runs it: {reason}"),
                        None => format!("{label}%"),
                    };
                    (share_color(*sh), on_share(*sh), label, tip)
                }
                None => ("#d0d5db".to_string(), "#1d2733", "–".to_string(), "the pool has no baseline".to_string()),
            };
            let _ = write!(
                s,
                "<rect x='{x}' y='{y}' width='{}' height='{}' fill='{fill}' stroke='#fff'><title>{}: {} hosts that run its baseline guest CPU: {}</title></rect>\
                 <text x='{}' y='{}' font-size='10.5' text-anchor='middle' fill='{ink}'>{label}</text>",
                cell_w - 1.0,
                cell_h - 1.0,
                esc(&p.name),
                esc(&m.generations[j]),
                esc(&tip),
                x + cell_w / 2.0,
                y + 15.0
            );
        }
    }
    let grid_w = cell_w * m.generations.len() as f64;
    axis_title_x(
        &mut s,
        left + grid_w / 2.0,
        h - 10.0,
        "host generation (cell: % of its hosts, fleet-wide, that run the pool's baseline guest CPU)",
    );
    axis_title_y(&mut s, 14.0, top + cell_h * r.parts.pools.pools.len() as f64 / 2.0, "pool");
    s.push_str("</svg>");
    s
}

fn blockers_svg(r: &Report) -> String {
    let rows: Vec<_> = r.parts.migrate.blockers.iter().take(25).collect();
    if rows.is_empty() {
        return "<p class='note'>No migration was refused.</p>".into();
    }
    let max = rows.iter().map(|b| b.refusals).max().unwrap_or(1).max(1) as f64;
    let (left, bar_h, width) = (270.0, 18.0, 620.0);
    let h = 10.0 + bar_h * rows.len() as f64 + 36.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='{}' height='{h}' role='img' aria-label='blocker histogram'>",
        left + width + 90.0
    );
    for (i, b) in rows.iter().enumerate() {
        let y = 10.0 + bar_h * i as f64;
        let bw = (b.refusals as f64 / max * width).max(1.0);
        let color = match b.kind {
            BlockerKind::Missing => PALETTE[4],
            BlockerKind::Forbidden => PALETTE[5],
            BlockerKind::Extra => PALETTE[6],
            BlockerKind::Vendor => PALETTE[0],
            BlockerKind::HostPassthrough => PALETTE[1],
        };
        let _ = write!(
            s,
            "<text x='{}' y='{}' font-size='12' text-anchor='end'>{} <tspan fill='#5b6b7c'>({})</tspan></text>\
             <rect x='{left}' y='{}' width='{bw:.1}' height='{}' fill='{color}'><title>{}: {} refusals</title></rect>\
             <text x='{}' y='{}' font-size='11'>{}</text>",
            left - 6.0,
            y + 13.0,
            esc(b.label()),
            b.kind.as_str(),
            y + 2.0,
            bar_h - 4.0,
            esc(b.label()),
            b.refusals,
            left + bw + 5.0,
            y + 13.0,
            b.refusals
        );
    }
    axis_title_x(
        &mut s,
        left + width / 2.0,
        h - 8.0,
        "refused migrations (count; the value is printed beside each bar)",
    );
    axis_title_y(&mut s, 12.0, 10.0 + bar_h * rows.len() as f64 / 2.0, "blocker (kind)");
    s.push_str("</svg>");
    s
}

/// A line chart: one point per x value of `xs` (ticks at those values), one line per series
/// (name, colour, values).
struct LineChart<'a> {
    title: &'a str,
    x_title: &'a str,
    /// The y axis' quantity and unit.
    y_title: &'a str,
    xs: Vec<f64>,
    series: Vec<(&'a str, &'a str, Vec<f64>)>,
}

/// How the y axis maps values: linear, or log(1 + v) when small counts would vanish beside
/// large ones (the smallest positive value under 1/20 of the largest).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Scale {
    Linear(f64),
    /// The axis top, a power of ten.
    Log(f64),
}

impl Scale {
    fn of(values: impl Iterator<Item = f64> + Clone) -> Scale {
        let max = values.clone().fold(0.0f64, f64::max);
        let min_pos = values.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
        if max <= 0.0 {
            return Scale::Linear(1.0);
        }
        if min_pos < max / 20.0 && max >= 20.0 {
            return Scale::Log(10f64.powf((max + 1.0).log10().ceil()));
        }
        Scale::Linear(nice_ceil(max))
    }

    /// 0 (bottom) … 1 (top).
    fn frac(self, v: f64) -> f64 {
        match self {
            Scale::Linear(top) => v / top,
            Scale::Log(top) => (v.max(0.0) + 1.0).log10() / (top + 1.0).log10(),
        }
    }

    fn ticks(self) -> Vec<f64> {
        match self {
            Scale::Linear(top) => (0..=4).map(|k| top * k as f64 / 4.0).collect(),
            Scale::Log(top) => {
                let mut t = vec![0.0];
                let mut p = 1.0;
                while p <= top {
                    t.push(p);
                    p *= 10.0;
                }
                t
            }
        }
    }
}

fn line_chart(c: &LineChart) -> String {
    let n = c.xs.len();
    let (w, h, left, right, top, bottom) = (780.0, 290.0, 70.0, 210.0, 24.0, 48.0);
    let scale = Scale::of(c.series.iter().flat_map(|s| s.2.iter().copied()));
    let (x_min, x_max) = c.xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let px =
        |x: f64| left + (w - left - right) * if n <= 1 || x_max <= x_min { 0.0 } else { (x - x_min) / (x_max - x_min) };
    let py = |v: f64| top + (h - top - bottom) * (1.0 - scale.frac(v));
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img' aria-label='{}'>",
        esc(c.title)
    );
    for v in scale.ticks() {
        let y = py(v);
        let _ = write!(
            s,
            "<line x1='{left}' x2='{}' y1='{y:.1}' y2='{y:.1}' stroke='#e3e8ee'/><text x='{}' y='{:.1}' font-size='11' text-anchor='end'>{}</text>",
            w - right,
            left - 6.0,
            y + 4.0,
            fmt_num(v)
        );
    }
    // Ticks at the points' own x values; when they crowd, every k-th, always the last.
    let every = (n as f64 * 28.0 / (w - left - right)).ceil().max(1.0) as usize;
    for (i, &x) in c.xs.iter().enumerate() {
        let last_far = i + 1 == n && i % every >= every.div_ceil(2);
        if i % every != 0 && !last_far {
            continue;
        }
        let _ = write!(
            s,
            "<text x='{:.1}' y='{}' font-size='11' text-anchor='middle'>{}</text>",
            px(x),
            h - bottom + 16.0,
            fmt_num(x)
        );
    }
    axis_title_x(&mut s, (left + w - right) / 2.0, h - 10.0, c.x_title);
    let y_title = match scale {
        Scale::Log(_) => match c.y_title.strip_suffix(')') {
            Some(head) => format!("{head}, log scale)"),
            None => format!("{} (log scale)", c.y_title),
        },
        Scale::Linear(_) => c.y_title.to_string(),
    };
    axis_title_y(&mut s, 16.0, (top + h - bottom) / 2.0, &y_title);
    for (k, (name, color, vals)) in c.series.iter().enumerate() {
        let pts: Vec<String> = vals.iter().zip(&c.xs).map(|(&v, &x)| format!("{:.1},{:.1}", px(x), py(v))).collect();
        let _ = write!(s, "<polyline fill='none' stroke='{color}' stroke-width='2.2' points='{}'/>", pts.join(" "));
        for (&v, &x) in vals.iter().zip(&c.xs) {
            let _ = write!(
                s,
                "<circle cx='{:.1}' cy='{:.1}' r='3' fill='{color}'><title>{}: {} at {}</title></circle>",
                px(x),
                py(v),
                esc(name),
                fmt_num(v),
                fmt_num(x)
            );
        }
        let ly = top + 8.0 + 18.0 * k as f64;
        let _ = write!(
            s,
            "<rect x='{}' y='{}' width='14' height='4' fill='{color}'/><text x='{}' y='{}' font-size='12'>{}</text>",
            w - right + 14.0,
            ly - 2.0,
            w - right + 34.0,
            ly + 3.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

fn nice_ceil(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

/// A number as an axis or tooltip shows it: integers with thousands separated (2,000).
fn fmt_num(v: f64) -> String {
    if v.fract() != 0.0 {
        return format!("{v:.1}");
    }
    let digits = (v.abs() as u64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_colors() {
        assert_eq!(nice_ceil(7.3), 10.0);
        assert_eq!(nice_ceil(2300.0), 2500.0);
        assert_eq!(nice_ceil(0.4), 0.5);
        // Viridis' ends and middle.
        assert_eq!(share_color(0.0), "rgb(68,1,84)");
        assert_eq!(share_color(0.5), "rgb(33,145,140)");
        assert_eq!(share_color(1.0), "rgb(253,231,37)");
        // Small counts beside large ones get a log axis; even values a linear one.
        assert_eq!(Scale::of([47.0, 2000.0, 0.0].into_iter()), Scale::Log(10000.0));
        assert_eq!(Scale::of([900.0, 2300.0].into_iter()), Scale::Linear(2500.0));
        let log = Scale::Log(10000.0);
        assert!(log.frac(47.0) > 0.4, "47 of 2,000 stays visible: {}", log.frac(47.0));
    }
}
