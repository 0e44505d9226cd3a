//! The HTML page's SVG charts, each drawn from the report: the pool × generation compatibility
//! matrix, the blocker histogram and the line charts (upgrade timeline, plan curve).

use super::esc;
use crate::report::model::Chart;
use crate::report::Report;
use crate::scenarios::migrate::BlockerKind;
use crate::scenarios::upgrade::Step;
use std::fmt::Write;

/// The chart `c` of report `r`.
pub fn svg(c: Chart, r: &Report) -> String {
    match c {
        Chart::Matrix => matrix_svg(r),
        Chart::Blockers => blockers_svg(r),
        Chart::UpgradeGuests | Chart::UpgradeFeatures => upgrade_svg(c, r),
        Chart::RolloutRefusals(d) => rollout_svg(d, r),
        Chart::PlanCurve => {
            let curve = r.plan.as_ref().map(|p| &p.curve[..]).unwrap_or(&[]);
            line_chart(
                "plan: features per host",
                "k (at most k domains)",
                1,
                &[("features per host", "#4f7cac", curve.iter().map(|c| c.mean_features_per_host).collect())],
            )
        }
    }
}

fn upgrade_svg(c: Chart, r: &Report) -> String {
    let timeline = r.upgrade.as_ref().map(|u| &u.timeline[..]).unwrap_or(&[]);
    let xs = |f: fn(&Step) -> f64| timeline.iter().map(f).collect::<Vec<f64>>();
    if c == Chart::UpgradeFeatures {
        return line_chart(
            "upgrade: baseline features",
            "step",
            0,
            &[("mean baseline features", "#4f7cac", xs(|s| s.mean_baseline_features))],
        );
    }
    line_chart(
        "upgrade: guests",
        "step",
        0,
        &[
            ("stranded", "#c0504d", xs(|s| s.stranded as f64)),
            ("immobile", "#e08e0b", xs(|s| s.immobile as f64)),
            ("gain on restart", "#1a7f37", xs(|s| s.gain_on_restart as f64)),
            ("evacuated", "#4f7cac", xs(|s| s.evacuated as f64)),
        ],
    )
}

/// The Okabe–Ito palette (distinguishable with the common colour-vision deficiencies), black
/// left out for the axes.
pub const PALETTE: [&str; 7] = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"];

/// libvirt-upgrade: refused migrations of direction `d` per step, one line per configuration.
fn rollout_svg(d: usize, r: &Report) -> String {
    let Some(u) = &r.libvirt_upgrade else { return String::new() };
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
    line_chart_axes(
        &format!("libvirt {} → {}: {dir} refusals", u.from, u.to),
        "rollout step (share of hosts on the new version = step / steps)",
        Some(&format!("refused {dir} migrations (count)")),
        0,
        &series,
    )
}

/// Red (0) → amber → green (1).
fn share_color(s: f64) -> String {
    let s = s.clamp(0.0, 1.0);
    let (r, g, b) = if s < 0.5 {
        let t = s / 0.5;
        (220.0 + (245.0 - 220.0) * t, 80.0 + (190.0 - 80.0) * t, 70.0 + (60.0 - 70.0) * t)
    } else {
        let t = (s - 0.5) / 0.5;
        (245.0 + (60.0 - 245.0) * t, 190.0 + (170.0 - 190.0) * t, 60.0 + (90.0 - 60.0) * t)
    };
    format!("rgb({},{},{})", r as u8, g as u8, b as u8)
}

fn matrix_svg(r: &Report) -> String {
    let m = &r.compatibility_matrix;
    // Fit the page (about 1100 px) whatever the number of generations.
    let (cell_h, left, top) = (22.0, 130.0, 120.0);
    let cell_w = ((1080.0 - left) / m.generations.len().max(1) as f64).clamp(30.0, 56.0);
    let w = left + cell_w * m.generations.len() as f64 + 90.0;
    let h = top + cell_h * r.pools.len() as f64 + 10.0;
    let mut s = String::new();
    let _ = write!(s, "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img' aria-label='pool by generation compatibility matrix'>");
    for (j, g) in m.generations.iter().enumerate() {
        let x = left + cell_w * j as f64 + cell_w / 2.0;
        let _ = write!(
            s,
            "<text x='{x}' y='{}' font-size='11' transform='rotate(-45 {x} {})' text-anchor='start'>{}</text>",
            top - 6.0,
            top - 6.0,
            esc(g)
        );
    }
    for (i, p) in r.pools.iter().enumerate() {
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
            let (fill, label) = match v {
                Some(s) => (share_color(*s), format!("{:.0}", s * 100.0)),
                None => ("#d0d5db".to_string(), "–".to_string()),
            };
            let _ = write!(
                s,
                "<rect x='{x}' y='{y}' width='{}' height='{}' fill='{fill}' stroke='#fff'><title>{}: {} hosts that run its baseline: {label}%</title></rect>\
                 <text x='{}' y='{}' font-size='10.5' text-anchor='middle' fill='#1d2733'>{label}</text>",
                cell_w - 1.0,
                cell_h - 1.0,
                esc(&p.name),
                esc(&m.generations[j]),
                x + cell_w / 2.0,
                y + 15.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn blockers_svg(r: &Report) -> String {
    let rows: Vec<_> = r.blockers.iter().take(25).collect();
    if rows.is_empty() {
        return "<p class='note'>No migration was refused.</p>".into();
    }
    let max = rows.iter().map(|b| b.refusals).max().unwrap_or(1).max(1) as f64;
    let (left, bar_h, width) = (250.0, 18.0, 640.0);
    let h = 10.0 + bar_h * rows.len() as f64 + 20.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{h}' role='img' aria-label='blocker histogram'>",
        left + width + 90.0
    );
    for (i, b) in rows.iter().enumerate() {
        let y = 10.0 + bar_h * i as f64;
        let bw = (b.refusals as f64 / max * width).max(1.0);
        let color = match b.kind {
            BlockerKind::Missing => "#4f7cac",
            BlockerKind::Forbidden => "#c0504d",
            BlockerKind::Extra => "#9b59b6",
            BlockerKind::Vendor => "#e08e0b",
            BlockerKind::HostPassthrough => "#7f8c8d",
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
    s.push_str("</svg>");
    s
}

/// A line chart: series of (name, color, values) over x = x0, x0 + 1, ….
fn line_chart(title: &str, x_label: &str, x0: usize, series: &[(&str, &str, Vec<f64>)]) -> String {
    line_chart_axes(title, x_label, None, x0, series)
}

/// [`line_chart`] with a title on the y axis (its quantity and unit).
fn line_chart_axes(
    title: &str,
    x_label: &str,
    y_label: Option<&str>,
    x0: usize,
    series: &[(&str, &str, Vec<f64>)],
) -> String {
    let n = series.iter().map(|s| s.2.len()).max().unwrap_or(0);
    let (w, h, left, right, top, bottom) = (780.0, 260.0, 60.0, 210.0, 24.0, 40.0);
    let ymax = series.iter().flat_map(|s| s.2.iter().copied()).fold(0.0f64, f64::max);
    let ymax = if ymax <= 0.0 { 1.0 } else { nice_ceil(ymax) };
    let px = |i: usize| left + (w - left - right) * if n <= 1 { 0.0 } else { i as f64 / (n - 1) as f64 };
    let py = |v: f64| top + (h - top - bottom) * (1.0 - v / ymax);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img' aria-label='{}'>",
        esc(title)
    );
    for k in 0..=4 {
        let v = ymax * k as f64 / 4.0;
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
    for i in 0..n {
        let _ = write!(
            s,
            "<text x='{:.1}' y='{}' font-size='11' text-anchor='middle'>{}</text>",
            px(i),
            h - bottom + 16.0,
            i + x0
        );
    }
    let _ = write!(
        s,
        "<text x='{:.1}' y='{}' font-size='11' text-anchor='middle' fill='#5b6b7c'>{}</text>",
        (left + w - right) / 2.0,
        h - 6.0,
        esc(x_label)
    );
    if let Some(y) = y_label {
        let (x, yc) = (14.0, (top + h - bottom) / 2.0);
        let _ = write!(
            s,
            "<text x='{x}' y='{yc:.1}' font-size='11' text-anchor='middle' fill='#5b6b7c' transform='rotate(-90 {x} {yc:.1})'>{}</text>",
            esc(y)
        );
    }
    for (k, (name, color, vals)) in series.iter().enumerate() {
        let pts: Vec<String> = vals.iter().enumerate().map(|(i, &v)| format!("{:.1},{:.1}", px(i), py(v))).collect();
        let _ = write!(s, "<polyline fill='none' stroke='{color}' stroke-width='2.2' points='{}'/>", pts.join(" "));
        for (i, &v) in vals.iter().enumerate() {
            let _ = write!(
                s,
                "<circle cx='{:.1}' cy='{:.1}' r='3' fill='{color}'><title>{}: {} at {}</title></circle>",
                px(i),
                py(v),
                esc(name),
                fmt_num(v),
                i + x0
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

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_colors() {
        assert_eq!(nice_ceil(7.3), 10.0);
        assert_eq!(nice_ceil(2300.0), 2500.0);
        assert_eq!(nice_ceil(0.4), 0.5);
        assert_eq!(share_color(1.0), "rgb(60,170,90)");
        assert_eq!(share_color(0.0), "rgb(220,80,70)");
    }
}
