//! The HTML report: one self-contained page (inline CSS and SVG, no script, no external
//! resource) with a pool-by-generation compatibility matrix, the blocker histogram, the upgrade
//! timeline, the plan curve and the tables of the text report.

use super::report::Report;
use super::scenarios::pools::BaselineReport;
use super::scenarios::Scenario;
use std::fmt::Write;

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1180px;color:#1d2733;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 8px;border-bottom:2px solid #e3e8ee;padding-bottom:4px}
.sub{color:#5b6b7c}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{background:#f4f7fa;border-radius:8px;padding:10px 14px;min-width:130px}.card b{display:block;font-size:20px}
.ok{color:#1a7f37}.bad{color:#c62828}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td:first-child{white-space:nowrap}th,td{padding:3px 9px;border-bottom:1px solid #e3e8ee;text-align:left;vertical-align:top}th{background:#f4f7fa}
td.n{text-align:right;font-variant-numeric:tabular-nums}.note{color:#5b6b7c;font-size:12.5px;max-width:900px}
svg text{font-family:system-ui,sans-serif}code{background:#f4f7fa;padding:1px 4px;border-radius:3px}
details{margin:6px 0}pre{background:#f4f7fa;padding:8px;overflow:auto;font-size:12px}";

fn pct(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
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
            "missing" => "#4f7cac",
            "forbidden" => "#c0504d",
            "extra" => "#9b59b6",
            "vendor" => "#e08e0b",
            _ => "#7f8c8d",
        };
        let _ = write!(
            s,
            "<text x='{}' y='{}' font-size='12' text-anchor='end'>{} <tspan fill='#5b6b7c'>({})</tspan></text>\
             <rect x='{left}' y='{}' width='{bw:.1}' height='{}' fill='{color}'><title>{}: {} refusals</title></rect>\
             <text x='{}' y='{}' font-size='11'>{}</text>",
            left - 6.0,
            y + 13.0,
            esc(&b.feature),
            b.kind,
            y + 2.0,
            bar_h - 4.0,
            esc(&b.feature),
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

fn baseline_cell(b: &BaselineReport) -> String {
    match (&b.model, &b.error) {
        (Some(m), _) => format!(
            "<details><summary><b>{}</b> · {} features · {}</summary><pre>{}</pre></details>",
            esc(m),
            b.features,
            b.abi_level,
            esc(&b.cpu_xml)
        ),
        (None, Some(e)) => format!("<span class='bad'>no baseline: {}</span>", esc(e)),
        _ => "-".into(),
    }
}

fn card(o: &mut String, label: &str, value: &str, class: &str) {
    let _ =
        write!(o, "<div class='card'><span class='sub'>{}</span><b class='{class}'>{}</b></div>", esc(label), value);
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>cpufleet simulate — seed {}</title><style>{CSS}</style></head><body>",
        r.seed
    );
    let _ = write!(
        o,
        "<h1>cpufleet fleet simulation</h1><div class='sub'>libvirt {} · seed {} · spec {} · scenarios: {} · reproduce: <code>{}</code></div>",
        r.libvirt,
        r.seed,
        esc(&r.spec),
        esc(&r.scenarios.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
        esc(&r.reproduce)
    );
    o.push_str("<div class='cards'>");
    card(&mut o, "hosts", &r.hosts.to_string(), "");
    card(&mut o, "pools", &r.pool_count.to_string(), "");
    card(&mut o, "generations", &r.generations.to_string(), "");
    card(&mut o, "distinct host CPUs", &r.host_cpus.to_string(), "");
    card(&mut o, "guests started", &format!("{} / {}", r.guests_started, r.guests), "");
    if r.has(Scenario::Migrate) {
        card(&mut o, "migrations succeeded", &pct(r.migrations.succeeded, r.migrations.attempted), "");
    }
    let (inv, cls) = if r.checks.violation_count == 0 {
        ("all hold".to_string(), "ok")
    } else {
        (format!("{} violated", r.checks.violation_count), "bad")
    };
    card(&mut o, &format!("invariants ({} checks)", r.checks.checks), &inv, cls);
    o.push_str("</div>");

    // Pools.
    o.push_str("<h2>Pools and their baselines</h2><p class='note'>The baseline of each pool is what <code>virsh cpu-baseline --migratable</code> gives for its hosts; \
                a guest with that CPU can start on and migrate to every host of the pool.</p><table><tr><th>pool</th><th>hosts</th><th>CPUs</th><th>baseline</th><th>generations (hosts, features lost under the baseline)</th></tr>");
    for p in &r.pools {
        let gens: Vec<String> = p
            .generations
            .iter()
            .map(|g| {
                let lost = if g.lost.is_empty() {
                    String::new()
                } else {
                    format!(" −{}: {}", g.lost.len(), esc(&g.lost.join(" ")))
                };
                format!("{} ({}){}", esc(&g.generation), g.hosts, lost)
            })
            .collect();
        let _ = write!(
            o,
            "<tr><td>{}</td><td class='n'>{}</td><td class='n'>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.name),
            p.hosts,
            p.host_cpus,
            baseline_cell(&p.baseline),
            gens.join("<br>")
        );
    }
    o.push_str("</table><table><tr><th>fleet-wide</th><th>hosts</th><th>baseline</th></tr>");
    for v in &r.fleet_baselines.by_vendor {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class='n'>{}</td><td>{}</td></tr>",
            esc(&v.vendor),
            v.hosts,
            baseline_cell(&v.baseline)
        );
    }
    let _ = write!(
        o,
        "<tr><td>all vendors (vendor-neutral)</td><td class='n'>{}</td><td>{}</td></tr></table>",
        r.hosts,
        baseline_cell(&r.fleet_baselines.all_vendors)
    );
    o.push_str("<h2>Where each pool's guests can go</h2><p class='note'>Share (%) of each generation's hosts, fleet-wide, that can run the baseline guest CPU of the pool \
                (green: all of them, red: none, grey: no baseline).</p>");
    o.push_str(&matrix_svg(r));

    if r.has(Scenario::Migrate) {
        let m = &r.migrations;
        let _ = write!(
            o,
            "<h2>Live migrations</h2><p>{} attempted, <b>{}</b> succeeded ({}), {} refused. Across pools: {} attempted, {} succeeded ({}). \
             host-passthrough: {} moves refused as unsafe that a naive scheduler would have made ({} onto hosts lacking features the guest uses).</p>",
            m.attempted,
            m.succeeded,
            pct(m.succeeded, m.attempted),
            m.refused,
            m.cross_pool_attempted,
            m.cross_pool_succeeded,
            pct(m.cross_pool_succeeded, m.cross_pool_attempted),
            m.passthrough_unsafe_naive,
            m.passthrough_unsafe_losing_features
        );
        o.push_str("<table><tr><th>configuration</th><th>guest CPU</th><th>guests</th><th>cannot start</th><th>migrations</th><th>succeeded</th></tr>");
        for c in &r.configurations {
            let fail = c
                .top_start_failure
                .as_deref()
                .map(|f| format!("<br><span class='note'>{}</span>", esc(f)))
                .unwrap_or_default();
            let _ = write!(
                o,
                "<tr><td>{}</td><td><code>{}</code></td><td class='n'>{}</td><td class='n'>{}{fail}</td><td class='n'>{}</td><td class='n'>{}</td></tr>",
                esc(&c.name),
                esc(&c.cpu),
                c.guests,
                c.start_failures,
                c.migrations_attempted,
                pct(c.migrations_succeeded, c.migrations_attempted)
            );
        }
        o.push_str("</table><h2>What blocks migrations</h2><p class='note'>Refused migrations in which each feature is a reason (a refusal can have several): \
                    <b style='color:#4f7cac'>missing</b> on the destination, <b style='color:#c0504d'>forbidden</b> but present, <b style='color:#9b59b6'>extra</b> on a strict CPU, \
                    <b style='color:#e08e0b'>vendor</b> mismatch, host-passthrough onto a CPU that is not identical.</p>");
        o.push_str(&blockers_svg(r));
    }

    if let Some(u) = &r.upgrade {
        o.push_str("<h2>Upgrade timeline</h2><p class='note'>Each pool's oldest generation is replaced by the newest of its vendor, a share at each step. \
                    Stranded: guests on a host being replaced with no compatible destination (cold restart needed); immobile: guests with no compatible destination left; \
                    gain on restart: guests whose CPU would gain features if restarted now.</p>");
        let xs = |f: fn(&super::scenarios::upgrade::Step) -> f64| u.timeline.iter().map(f).collect::<Vec<f64>>();
        o.push_str(&line_chart(
            "upgrade: guests",
            "step",
            0,
            &[
                ("stranded", "#c0504d", xs(|s| s.stranded as f64)),
                ("immobile", "#e08e0b", xs(|s| s.immobile as f64)),
                ("gain on restart", "#1a7f37", xs(|s| s.gain_on_restart as f64)),
                ("evacuated", "#4f7cac", xs(|s| s.evacuated as f64)),
            ],
        ));
        o.push_str(&line_chart(
            "upgrade: baseline features",
            "step",
            0,
            &[("mean baseline features", "#4f7cac", xs(|s| s.mean_baseline_features))],
        ));
        o.push_str("<table><tr><th>pool</th><th>hosts replaced</th><th>old</th><th>new</th></tr>");
        for p in &u.replacements {
            let _ = write!(
                o,
                "<tr><td>{}</td><td class='n'>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.pool),
                p.hosts,
                esc(&p.old),
                esc(&p.new)
            );
        }
        o.push_str("</table>");
    }

    if let Some(events) = &r.microcode {
        o.push_str("<h2>Microcode events</h2>");
        for e in events {
            let _ = write!(
                o,
                "<h3>{}</h3><p>Removes <code>{}</code> on {:.0}% of the hosts that have it: {} hosts changed. Pool baselines changed: {}.</p>\
                 <table><tr><th>configuration</th><th>guests</th><th>on changed hosts</th><th>CPU no longer backed</th><th>lost pool mobility</th><th>lost all mobility</th><th>cannot restart</th><th>restart loses features</th></tr>",
                esc(&e.name),
                esc(&e.removes.join(" ")),
                e.share * 100.0,
                e.hosts_affected,
                esc(&if e.pools_baseline_changed.is_empty() { "none".to_string() } else { e.pools_baseline_changed.join(", ") })
            );
            for row in e.rows.iter().chain(std::iter::once(&e.total)) {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td class='n'>{}</td><td class='n'>{}</td><td class='n'>{}</td><td class='n'>{}</td><td class='n'>{}</td><td class='n'>{}</td><td class='n'>{}</td></tr>",
                    esc(&row.configuration),
                    row.guests,
                    row.on_affected_hosts,
                    row.cpu_not_backed,
                    row.lost_pool_mobility,
                    row.lost_all_mobility,
                    row.cannot_restart,
                    row.restart_loses_features
                );
            }
            o.push_str("</table>");
        }
    }

    if let Some(p) = &r.plan {
        let _ = write!(
            o,
            "<h2>Migration domains (EVC-like plan)</h2><p class='note'>Hosts grouped into at most k domains, each with its own baseline, to keep as many features \
             as possible ({}; {} distinct host CPUs). One fleet-wide baseline keeps {} features.</p>",
            esc(p.method),
            p.items,
            p.fleet_wide_features
        );
        o.push_str(&line_chart(
            "plan: features per host",
            "k (at most k domains)",
            1,
            &[("features per host", "#4f7cac", p.curve.iter().map(|c| c.mean_features_per_host).collect())],
        ));
        o.push_str("<table><tr><th>k</th><th>domains</th><th>features/host</th><th>gain/host</th><th>gain</th></tr>");
        for c in &p.curve {
            let _ = write!(
                o,
                "<tr><td class='n'>{}</td><td class='n'>{}</td><td class='n'>{:.2}</td><td class='n'>{:.2}</td><td class='n'>{:.1}%</td></tr>",
                c.k, c.domains, c.mean_features_per_host, c.gain_per_host, c.gain_percent
            );
        }
        let _ = write!(
            o,
            "</table><table><tr><th>domain (k = {})</th><th>hosts</th><th>generations</th><th>baseline</th></tr>",
            p.k
        );
        for (i, d) in p.domains.iter().enumerate() {
            let gens: Vec<String> = d.generations.iter().map(|(g, n)| format!("{} ({n})", esc(g))).collect();
            let _ = write!(
                o,
                "<tr><td>{} · {}</td><td class='n'>{}</td><td>{}</td><td>{}</td></tr>",
                i + 1,
                esc(&d.vendors.join("+")),
                d.hosts,
                gens.join(", "),
                baseline_cell(&d.baseline)
            );
        }
        o.push_str("</table>");
    }

    let c = &r.checks;
    let _ = write!(
        o,
        "<h2>Invariants</h2><p>{} checks ({}): {} guest starts, {} migrations, {} compare pairs against the naive reference model.</p>",
        c.checks,
        if c.all { "everything" } else { "a deterministic sample; <code>--check-all</code> checks everything" },
        c.starts_checked,
        c.migrations_checked,
        c.pairs_checked
    );
    if c.violation_count == 0 {
        o.push_str("<p class='ok'><b>All invariants hold.</b></p>");
    } else {
        let _ = write!(
            o,
            "<p class='bad'><b>{} violations.</b> Reproduce: <code>{}</code></p><ul>",
            c.violation_count,
            esc(&r.reproduce)
        );
        for v in &r.invariant_violations {
            let _ = write!(o, "<li><b>{}</b>: {}</li>", esc(v.invariant.sentence()), esc(&v.detail));
        }
        o.push_str("</ul>");
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_scales() {
        assert_eq!(esc("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
        assert_eq!(nice_ceil(7.3), 10.0);
        assert_eq!(nice_ceil(2300.0), 2500.0);
        assert_eq!(nice_ceil(0.4), 0.5);
        assert_eq!(share_color(1.0), "rgb(60,170,90)");
        assert_eq!(share_color(0.0), "rgb(220,80,70)");
    }
}
