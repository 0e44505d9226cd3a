//! The README and `--help` as one manual: every command `cpufleet --help` lists has a row in the
//! README's commands table, every flag a row names exists in that command's `--help`, every
//! option of every command is described, usage lines name each argument once, no help text
//! points at the project's issue tracker, the README says how to install the binary, and the
//! output flags have one name (`-o`/`--output`, `--plan-output`; the old names still work).

#[path = "support/bin.rs"]
mod bin;

use bin::{cpufleet, stdout};
use std::collections::BTreeSet;

fn help(cmd: &[&str]) -> String {
    let mut args = cmd.to_vec();
    args.push("--help");
    let o = cpufleet(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}");
    stdout(&o)
}

/// The subcommands a help page lists under `Commands:` (without `help`).
fn subcommands(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut on = false;
    for line in page.lines() {
        if line.starts_with("Commands:") {
            on = true;
            continue;
        }
        if on {
            let Some(name) = line.strip_prefix("  ").and_then(|l| l.split_whitespace().next()) else { break };
            if name != "help" {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Every command path: `["simulate"]`, `["fleet", "gen"]`, … (a command with subcommands is
/// listed through them).
fn commands() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for c in subcommands(&help(&[])) {
        let subs = subcommands(&help(&[c.as_str()]));
        if subs.is_empty() {
            out.push(vec![c]);
        } else {
            out.extend(subs.into_iter().map(|s| vec![c.clone(), s]));
        }
    }
    out
}

/// The long flags a help page documents, and the ones without a description.
fn options(page: &str) -> (BTreeSet<String>, Vec<String>) {
    let lines: Vec<&str> = page.lines().collect();
    let (mut all, mut bare) = (BTreeSet::new(), Vec::new());
    let Some(start) = lines.iter().position(|l| l.starts_with("Options:")) else { return (all, bare) };
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let t = line.trim_start();
        if !t.starts_with('-') || line.len() - t.len() > 6 {
            continue;
        }
        for word in t.split([' ', ',']).filter(|w| w.starts_with("--")) {
            all.insert(word.trim_end_matches(['=', '.']).to_string());
        }
        // The description: after two spaces on the flag's line, or on the next line.
        let same = t.split_once("  ").map(|(_, d)| d.trim().to_string()).unwrap_or_default();
        let next = lines.get(i + 1).map(|l| l.trim().to_string()).unwrap_or_default();
        let desc = if same.is_empty() && !next.starts_with('-') { next } else { same };
        if desc.is_empty() || desc.starts_with("[default") || desc.starts_with("[possible") {
            bare.push(t.split("  ").next().unwrap().to_string());
        }
    }
    (all, bare)
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap()
}

#[test]
fn every_command_and_option_is_described_and_usage_names_arguments_once() {
    let mut problems = Vec::new();
    for cmd in commands() {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let page = help(&args);
        let name = cmd.join(" ");
        let (_, bare) = options(&page);
        for b in bare {
            problems.push(format!("{name}: {b} has no description"));
        }
        if page.contains("(issue") {
            problems.push(format!("{name}: its help points at an issue"));
        }
        for usage in page.lines().filter(|l| l.starts_with("Usage:") || l.starts_with("       cpufleet")) {
            let words: Vec<&str> = usage.split_whitespace().collect();
            for w in words.windows(2) {
                if w[1].trim_end_matches("...") == w[0] && w[0].starts_with('<') {
                    problems.push(format!("{name}: usage repeats {}: {usage}", w[0]));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_commands_table_matches_the_help() {
    let text = readme();
    assert!(text.contains("cargo install --path cli"), "the README says how to install the binary");
    // The table: rows `| \`cpufleet CMD …\` | what it does |`.
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| `cpufleet ")).collect();
    assert!(rows.len() >= 15, "{rows:?}");
    let mut problems = Vec::new();
    for cmd in commands() {
        let name = cmd.join(" ");
        let mine: Vec<&&str> = rows
            .iter()
            .filter(|r| {
                let head = r.trim_start_matches("| `cpufleet ");
                head.starts_with(&format!("{name} ")) || head.starts_with(&format!("{name}`"))
            })
            .collect();
        if mine.is_empty() {
            problems.push(format!("no README row for `cpufleet {name}`"));
            continue;
        }
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let (flags, _) = options(&help(&args));
        for row in mine {
            let synopsis = row.split('|').nth(1).unwrap();
            for w in synopsis.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                if w.starts_with("--") && !flags.contains(w) {
                    problems.push(format!("README row `cpufleet {name}` names {w}, which its --help lacks"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn output_flags_have_one_name_and_the_old_names_still_work() {
    let gen = help(&["fleet", "gen"]);
    assert!(gen.contains("-o, --output <DIR>"), "{gen}");
    let sim = help(&["simulate"]);
    assert!(sim.contains("--plan-output <DIR>"), "{sim}");
    for (cmd, old) in [(&["fleet", "gen"][..], "--out"), (&["simulate"][..], "--plan-out")] {
        let page = help(cmd);
        assert!(page.contains(&format!("aliases: {old}")) || page.contains(&format!("alias: {old}")), "{page}");
    }
    let dir = std::env::temp_dir().join(format!("cpufleet-manual-{}", std::process::id()));
    let o = cpufleet(&["fleet", "gen", "--hosts", "40", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", bin::stderr(&o));
    assert!(std::fs::read_dir(&dir).unwrap().count() > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
