//! The progress bar, drawn on a real terminal: `cpufleet simulate` run under `script` (util-linux,
//! a pseudo-terminal for stdin, stdout and stderr). A run that lasts more than a second shows its
//! phases with the bar; `--quiet` draws none; the bar is cleared before the report is printed.

use std::process::Command;
use std::time::Duration;

/// `cpufleet simulate ARGS` on a pseudo-terminal: everything the terminal received. Bounded by
/// `timeout 300`.
fn on_terminal(args: &str) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        println!("SKIPPED progress bar: no `script` (util-linux) to give cpufleet a terminal");
        return None;
    }
    let cmd = format!("{} simulate {args}", env!("CARGO_BIN_EXE_cpufleet"));
    let out = Command::new("timeout")
        .args(["300", "script", "-qfec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("script runs");
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Long enough to pass the bar's quiet second on any machine: 10⁸ migrations (2 s here).
const LONG: &str = "--hosts 1000000 --guests 100000 --migrations 100000000 --scenario migrate --format json";

#[test]
fn a_run_on_a_terminal_draws_its_phases_then_clears_the_line() {
    let start = std::time::Instant::now();
    let Some(t) = on_terminal(LONG) else { return };
    let took = start.elapsed();
    assert!(took > Duration::from_secs(1), "the run took {took:?}: too short to show the bar");
    // The migrate phase's bar: its name, the bar and its share.
    let drawn = t.lines().chain(t.split('\r')).any(|l| l.contains("migrate") && l.contains('[') && l.contains('%'));
    assert!(drawn, "no progress bar for the migrate phase on the terminal:\n{}", &t[..t.len().min(2000)]);
    // Cleared before the report: after the last erase-line sequence no bar is drawn again.
    let report = t.find("{\r\n").or_else(|| t.find("{\n")).expect("the JSON report");
    let clear = t[..report].rfind("\x1b[2K").expect("the bar's line erased");
    assert!(!t[clear..report].contains('%'), "a bar was drawn after the last erase, before the report");
    // The report whole after it (the time line on stderr follows it).
    let end = t[report..].rfind("\n}").expect("the report's end") + report + 2;
    let v: serde_json::Value = serde_json::from_str(&t[report..end].replace("\r\n", "\n")).expect("whole JSON");
    assert!(v["parts"].is_null() && v["migrations"]["attempted"].as_u64() > Some(0));
}

#[test]
fn quiet_draws_no_bar_on_a_terminal() {
    let Some(t) = on_terminal(&format!("{LONG} --quiet")) else { return };
    assert!(!t.contains('%') && !t.contains("\x1b[2K"), "--quiet drew on the terminal:\n{}", &t[..t.len().min(2000)]);
    assert!(t.contains("\"migrations\""), "no report on the terminal");
}
