//! The HTML report as a real browser renders it: `cpufleet simulate --html` (every scenario, the
//! default fleet), opened in headless Chromium (Debian's `chromium`, no network, a fresh
//! profile). A screenshot must be a non-blank PNG of the window's size; and the page's layout,
//! measured by the browser, must hold: every chart has both axis titles, drawn; no two text
//! labels of a chart overlap; every label lies inside its chart. The measurements come from a
//! script added to a copy of the page (the report itself has none), which writes them into the
//! DOM that `--dump-dom` prints.
//!
//! Skipped (with `SKIPPED`) where Chromium is missing; under `CPUFLEET_REQUIRE_VIRSH=1` (CI,
//! whose `.ci/run` installs it) that is a failure.

#[path = "support/bin.rs"]
mod bin;

use bin::{cpufleet, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The measurements, written as JSON into `<pre id='layout-check'>`.
const CHECK: &str = r#"<script>
(function () {
  var out = { charts: [], untitled: [], overlaps: [], outside: [] };
  var svgs = document.querySelectorAll('svg.chart');
  for (var i = 0; i < svgs.length; i++) {
    var svg = svgs[i], name = svg.getAttribute('aria-label'), box = svg.getBoundingClientRect();
    var drawn = function (t) {
      if (!t || t.textContent.trim() === '') return false;
      var r = t.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    };
    if (!drawn(svg.querySelector('text.axis-title.x')) || !drawn(svg.querySelector('text.axis-title.y'))) {
      out.untitled.push(name);
    }
    var texts = svg.querySelectorAll('text'), boxes = [];
    for (var k = 0; k < texts.length; k++) {
      var r = texts[k].getBoundingClientRect();
      boxes.push([texts[k].textContent, r]);
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
        out.outside.push([name, texts[k].textContent]);
      }
    }
    for (var a = 0; a < boxes.length; a++) {
      for (var b = a + 1; b < boxes.length; b++) {
        var p = boxes[a][1], q = boxes[b][1];
        var w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
        var h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
        if (w > 0.5 && h > 0.5) out.overlaps.push([name, boxes[a][0], boxes[b][0]]);
      }
    }
    out.charts.push({ name: name, texts: texts.length, width: box.width, height: box.height });
  }
  var pre = document.createElement('pre');
  pre.id = 'layout-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;

fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("CPUFLEET_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.is_file()));
    if found.is_none() {
        assert_ne!(
            std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref(),
            Ok("1"),
            "chromium missing (.ci/run installs it)"
        );
        println!("SKIPPED: no chromium (apt-get install chromium)");
    }
    found
}

/// Runs Chromium headless on `page` with `extra` flags, a fresh profile under `dir`, at most
/// 90 seconds; its standard output.
fn browse(bin: &Path, dir: &Path, extra: &[String], page: &Path) -> String {
    let profile = dir.join(format!("profile-{}", extra.len()));
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()));
    // Output to files: a pipe nobody reads while waiting would fill and stall the browser.
    let (out, err) = (dir.join(format!("stdout-{}", extra.len())), dir.join(format!("stderr-{}", extra.len())));
    cmd.stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()));
    let mut child = cmd.spawn().expect("start chromium");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "chromium: {}", std::fs::read_to_string(&err).unwrap_or_default());
    String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn the_html_report_renders_in_chromium_with_titled_axes_and_no_overlapping_labels() {
    let Some(browser) = chromium() else { return };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("html-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let o = cpufleet(&["simulate", "-q", "--html", page.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    let charts = html.matches("<svg class='chart'").count();
    assert!(charts >= 7, "every scenario's charts: {charts}");

    // The screenshot: a PNG of the window, not blank (a blank page compresses to a few kB).
    let shot = dir.join("report.png");
    let (w, h) = (1280u32, 6000u32);
    let flags = [format!("--window-size={w},{h}"), format!("--screenshot={}", shot.display())];
    browse(&browser, &dir, &flags, &page);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(png_size(&png), (w, h));
    assert!(png.len() > 100_000, "a drawn page, not a blank one: {} bytes", png.len());

    // The layout as rendered.
    let checked = dir.join("report-checked.html");
    std::fs::write(&checked, html.replace("</body>", &format!("{CHECK}</body>"))).unwrap();
    let dom = browse(&browser, &dir, &[format!("--window-size={w},{h}"), "--dump-dom".into()], &checked);
    let json = dom
        .split_once("<pre id=\"layout-check\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(j, _)| j.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("the check did not run: {}", &dom[dom.len().saturating_sub(2000)..]));
    let v: Value = serde_json::from_str(&json).unwrap();
    let measured = v["charts"].as_array().unwrap();
    assert_eq!(measured.len(), charts, "every chart measured: {v}");
    for c in measured {
        assert!(c["width"].as_f64().unwrap() > 100.0 && c["texts"].as_u64().unwrap() > 3, "drawn: {c}");
    }
    assert_eq!(v["untitled"], serde_json::json!([]), "charts without both axis titles");
    assert_eq!(v["overlaps"], serde_json::json!([]), "overlapping labels");
    assert_eq!(v["outside"], serde_json::json!([]), "labels outside their chart");
    let _ = std::fs::remove_dir_all(&dir);
}
