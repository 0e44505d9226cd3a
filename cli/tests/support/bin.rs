//! Running the `cpufleet` binary from the CLI's integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs `cpufleet ARGS` and returns its output.
pub fn cpufleet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cpufleet")).args(args).output().expect("run cpufleet")
}

/// Its stdout, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Its stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The invariants a `simulate --format json` report says were violated, in report order.
pub fn violated_invariants(report: &serde_json::Value) -> Vec<&str> {
    let list = report["invariant_violations"].as_array().expect("invariant_violations");
    list.iter().map(|x| x["invariant"].as_str().expect("invariant")).collect()
}

/// The lines of a text report wider than the report's 100 columns (`cpufleet_sim`'s text
/// width), each with its line number and width.
pub fn too_wide(text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.chars().count() > 100)
        .map(|(i, l)| format!("line {} ({} columns): {l}", i + 1, l.chars().count()))
        .collect()
}

/// "1 hosts", "1 guests", …: a count printed with the wrong number.
pub fn wrong_plurals(text: &str) -> Vec<&str> {
    let nouns = ["hosts", "guests", "features", "configurations", "pools", "migrations", "domains", "generations"];
    text.lines()
        .filter(|l| {
            l.split(|c: char| !c.is_alphanumeric() && c != '-')
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w[0] == "1" && nouns.contains(&w[1]))
        })
        .collect()
}

/// A `simulate --format json` mixed-fleet section's (release, hosts) list.
pub fn version_hosts(m: &serde_json::Value) -> Vec<(&str, u64)> {
    m["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["libvirt"].as_str().unwrap(), x["hosts"].as_u64().unwrap()))
        .collect()
}

/// A direction's (reason, refusals) list in a cross-release section.
pub fn reasons(dir: &serde_json::Value) -> Vec<(String, u64)> {
    dir["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["reason"].as_str().unwrap().to_string(), r["refusals"].as_u64().unwrap()))
        .collect()
}
