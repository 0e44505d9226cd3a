//! Every CPU XML or CPUID file of the pack reads without error (with named exceptions), and every
//! expected-result file reads and writes back to the same bytes.

mod common;

use cpufleet_engine::xml::{self, Limits, TypeHint};
use std::path::Path;

/// Files libvirt itself rejects while parsing, with the reason. (None in the public pack: the
/// `error` cases there fail in the operations, not in the parser.)
const PARSE_EXCEPTIONS: &[(&str, &str)] = &[];

fn kind_of(bytes: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let root = text.split('<').find_map(|t| {
        let t = t.trim_start();
        (!t.starts_with('!') && !t.starts_with('?') && !t.is_empty())
            .then(|| t.split(|c: char| !c.is_alphanumeric()).next())
    })??;
    match root {
        "cpudata" => Some("cpuid"),
        "cpu" | "cpuTest" => Some("cpu"),
        _ => None,
    }
}

#[test]
fn every_pack_file_reads() {
    let Some(pack) = common::pack_dir() else {
        common::skip("every_pack_file_reads");
        return;
    };
    let dir = pack.join("cputestdata");
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let (mut cpu_files, mut cpuid_files, mut other) = (0, 0, 0);
    let mut failures = Vec::new();
    for name in &names {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let result = match kind_of(&bytes) {
            Some("cpuid") => {
                cpuid_files += 1;
                xml::parse_cpuid_data(&bytes, Limits::default()).map(|_| ())
            }
            Some(_) => {
                cpu_files += 1;
                xml::read_cpu_document(
                    &bytes,
                    TypeHint::Auto,
                    cpufleet_engine::LibvirtVersion::V9_0_0,
                    Limits::default(),
                )
                .map(|_| ())
            }
            None => {
                other += 1;
                continue;
            }
        };
        let excepted = PARSE_EXCEPTIONS.iter().any(|(f, _)| f == name);
        match (result, excepted) {
            (Ok(()), false) | (Err(_), true) => {}
            (Err(e), false) => failures.push(format!("{name}: {e}")),
            (Ok(()), true) => failures.push(format!("{name}: listed as a parse exception but reads fine")),
        }
    }
    println!(
        "pack files: {cpu_files} CPU XML, {cpuid_files} CPUID data, {other} other (.sig), {} failures",
        failures.len()
    );
    assert!(cpu_files > 100 && cpuid_files > 100, "too few files found in {}", dir.display());
    assert!(failures.is_empty(), "files that do not read:\n{}", failures.join("\n"));
}

/// The expected-result files named by the manifest (`expect_file`), which libvirt wrote.
fn expected_files(pack: &Path) -> Vec<String> {
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(pack.join("cases.toml")).unwrap()).unwrap();
    let mut out: Vec<String> = manifest
        .as_table()
        .unwrap()
        .values()
        .filter_map(toml::Value::as_array)
        .flatten()
        .filter_map(|c| c.get("expect_file").and_then(toml::Value::as_str))
        .filter(|f| f.ends_with(".xml"))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn expected_results_round_trip_byte_for_byte() {
    let Some(pack) = common::pack_dir() else {
        common::skip("expected_results_round_trip_byte_for_byte");
        return;
    };
    let files = expected_files(&pack);
    let mut failures = Vec::new();
    for name in &files {
        let bytes = std::fs::read(pack.join("cputestdata").join(name)).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        match xml::parse_cpu(&bytes, TypeHint::Auto, cpufleet_engine::LibvirtVersion::V9_0_0, Limits::default()) {
            Ok(cpu) => {
                let written = xml::format_cpu(&cpu);
                if written != text {
                    failures.push(format!("{name}: written text differs:\n{written}"));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    println!("round trip: {} expected-result files, {} identical", files.len(), files.len() - failures.len());
    assert!(files.len() > 150, "expected-result files not found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
