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
