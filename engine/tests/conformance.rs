//! libvirt's own CPU test cases (`tests/cputest.c`) of every supported version, run through the
//! engine exactly as each pack's README section 3 prescribes, with that version's map and rules.
//! Also runs extra packs named in `CPUFLEET_CONFORMANCE_EXTRA` (colon-separated directories, each
//! named `…libvirt-VERSION`; a file missing there is taken from that version's public pack).

mod common;

use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::{self, Verdict, X86Data};
use cpufleet_engine::xml::{self, Limits, ModelListEntry, TypeHint};
use cpufleet_engine::{CpuDef, CpuMap, Fallback, LibvirtVersion};
use std::path::{Path, PathBuf};
use toml::Value;

/// Where a pack's files are looked up: its own `cputestdata/` first, then the public one.
struct Files {
    dirs: Vec<PathBuf>,
    version: LibvirtVersion,
}

impl Files {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        for d in &self.dirs {
            if let Ok(b) = std::fs::read(d.join(name)) {
                return Ok(b);
            }
        }
        Err(format!("file {name} not found"))
    }
    fn text(&self, name: &str) -> Result<String, String> {
        String::from_utf8(self.read(name)?).map_err(|_| format!("{name}: invalid UTF-8"))
    }
    fn cpu(&self, name: &str, hint: TypeHint) -> Result<CpuDef, String> {
        xml::parse_cpu(&self.read(name)?, hint, self.version, Limits::default()).map_err(|e| format!("{name}: {e}"))
    }
    fn cpuid(&self, map: &CpuMap, name: &str) -> Result<X86Data, String> {
        let d = xml::parse_cpuid_data(&self.read(name)?, Limits::default()).map_err(|e| format!("{name}: {e}"))?;
        Ok(X86Data::from_cpuid(&map.x86, &d))
    }
}

fn s<'a>(case: &'a Value, key: &str) -> &'a str {
    case.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("case lacks '{key}': {case:?}"))
}

fn flags(case: &Value) -> Vec<&str> {
    case.get("flags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn arch(case: &Value) -> Arch {
    Arch::from_name(s(case, "arch")).expect("known arch")
}

/// Exact byte comparison (`virTestCompareToFile`), with a short diff on mismatch.
fn compare_text(files: &Files, expect_file: &str, actual: &str) -> Result<(), String> {
    let expected = files.text(expect_file)?;
    let mut actual = actual.to_string();
    if expected.ends_with('\n') && !actual.ends_with('\n') {
        actual.push('\n');
    }
    if expected == actual {
        return Ok(());
    }
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let first = e.iter().zip(a.iter()).position(|(x, y)| x != y).unwrap_or(e.len().min(a.len()));
    Err(format!(
        "{expect_file} differs at line {}: expected {:?}, got {:?} ({} vs {} lines)",
        first + 1,
        e.get(first).copied().unwrap_or("<eof>"),
        a.get(first).copied().unwrap_or("<eof>"),
        e.len(),
        a.len()
    ))
}

fn outcome_of(expect: &str, got: &str) -> Result<(), String> {
    if expect == got {
        Ok(())
    } else {
        Err(format!("expected {expect}, got {got}"))
    }
}

fn err_str(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn run_compare(map: &CpuMap, f: &Files, c: &Value) -> Result<(), String> {
    let host = f.cpu(s(c, "host"), TypeHint::Auto)?;
    let cpu = f.cpu(s(c, "cpu"), TypeHint::Auto)?;
    let got = ops::compare(map, &host, &cpu);
    outcome_of(s(c, "expect"), got.verdict.as_str())
}

fn run_update(map: &CpuMap, f: &Files, c: &Value) -> Result<(), String> {
    let host = f.cpu(s(c, "host"), TypeHint::Auto)?;
    let mut cpu = f.cpu(s(c, "cpu"), TypeHint::Auto)?;
    let a = arch(c);
    let mig = ops::copy_migratable(map, a, &host);
    ops::update(map, Arch::of_cpu(map, &host).map_err(err_str)?, &mut cpu, Some(&mig)).map_err(err_str)?;
    compare_text(f, s(c, "expect_file"), &xml::format_cpu(&cpu))
}

fn run_baseline(map: &CpuMap, f: &Files, c: &Value) -> Result<(), String> {
    let name = s(c, "input");
    let doc = xml::read_cpu_document(&f.read(name)?, TypeHint::Host, f.version, Limits::default())
        .map_err(|e| format!("{name}: {e}"))?;
    let fl = flags(c);
    let a = arch(c);
    let result = ops::baseline(map, &doc.cpus, Some(a), fl.contains(&"migratable")).and_then(|mut cpu| {
        if fl.contains(&"expand_features") {
            ops::expand_features(map, a, &mut cpu)?;
        }
        Ok(cpu)
    });
    if c.get("expect").and_then(Value::as_str) == Some("error") {
        return match result {
            Err(_) => Ok(()),
            Ok(cpu) => Err(format!("expected error, got a CPU:\n{}", xml::format_cpu(&cpu))),
        };
    }
    let cpu = result.map_err(|e| format!("expected a CPU, got error: {e}"))?;
    compare_text(f, s(c, "expect_file"), &xml::format_cpu(&cpu))?;
    check_inputs_run(map, &doc.cpus, &cpu)
}

/// Every input CPU (as host) must be identical or a superset of the result.
fn check_inputs_run(map: &CpuMap, inputs: &[CpuDef], result: &CpuDef) -> Result<(), String> {
    for (i, host) in inputs.iter().enumerate() {
        let v = ops::compare(map, host, result).verdict;
        if !v.is_compatible() {
            return Err(format!("input CPU {i} compares {} against the baseline", v.as_str()));
        }
    }
    Ok(())
}

fn run_has_feature(map: &CpuMap, f: &Files, c: &Value) -> Result<(), String> {
    let host = f.cpu(s(c, "host"), TypeHint::Auto)?;
    let (a, b) = match x86::has_feature(&map.x86, &host, s(c, "feature")) {
        Ok((a, b)) => (if a { "yes" } else { "no" }, if b { "yes" } else { "no" }),
        Err(_) => ("error", "error"),
    };
    outcome_of(s(c, "expect"), a)?;
    outcome_of(s(c, "expect"), b).map_err(|e| format!("data check: {e}"))
}

fn run_guest_cpu(map: &CpuMap, f: &Files, c: &Value) -> Result<(), String> {
    let host = f.cpu(s(c, "host"), TypeHint::Auto)?;
    let mut cpu = f.cpu(s(c, "cpu"), TypeHint::Auto)?;
    let models: Option<Vec<ModelListEntry>> = c
        .get("models")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(ModelListEntry::named).collect());
    let a = Arch::of_cpu(map, &host).map_err(err_str)?;
    let result = (|| -> Result<CpuDef, String> {
        ops::convert_legacy(a, &mut cpu);
        let v = ops::compare(map, &host, &cpu).verdict;
        if matches!(v, Verdict::Error | Verdict::Incompatible) {
            return Err(format!("compare: {}", v.as_str()));
        }
        ops::update(map, a, &mut cpu, Some(&host)).map_err(|e| format!("update: {e}"))?;
        ops::translate(map, a, &mut cpu, models.as_deref()).map_err(|e| format!("translate: {e}"))?;
        Ok(cpu)
    })();
    match (c.get("expect").and_then(Value::as_str), result) {
        (Some("error"), Err(_)) => Ok(()),
        (Some("error"), Ok(cpu)) => Err(format!("expected error, got:\n{}", xml::format_cpu(&cpu))),
        (_, Err(e)) => Err(format!("expected a CPU, got error: {e}")),
        (_, Ok(cpu)) => compare_text(f, s(c, "expect_file"), &xml::format_cpu(&cpu)),
    }
}

fn run_cpuid(map: &CpuMap, f: &Files, c: &Value, guest: bool) -> Result<(), String> {
    let data = f.cpuid(map, s(c, "cpuid"))?;
    let cpu =
        if guest { x86::decode_guest(&map.x86, &data) } else { x86::decode_host(&map.x86, &data) }.map_err(err_str)?;
    compare_text(f, s(c, "expect_file"), &xml::format_cpu(&cpu))
}

fn run_signature(f: &Files, c: &Value) -> Result<(), String> {
    let name = s(c, "cpuid");
    let d = xml::parse_cpuid_data(&f.read(name)?, Limits::default()).map_err(|e| format!("{name}: {e}"))?;
    let eax = d.get(cpufleet_engine::CpuidKey::Cpuid { leaf: 1, subleaf: 0 }).map_or(0, |r| r[0]);
    compare_text(f, s(c, "expect_file"), &x86::signature_text(eax))
}

fn run_update_live(map: &CpuMap, f: &Files, c: &Value) -> Result<(), String> {
    let mut cpu = f.cpu(s(c, "cpu"), TypeHint::Auto)?;
    let mut expected = f.cpu(s(c, "expect_file"), TypeHint::Auto)?;
    if cpu.model != expected.model {
        let saved = cpu.fallback;
        cpu.fallback = Fallback::Allow;
        let list = vec![ModelListEntry::named(expected.model.as_deref().unwrap_or(""))];
        let _ = x86::translate(&map.x86, &mut cpu, Some(&list));
        cpu.fallback = saved;
    }
    let enabled = f.cpuid(map, s(c, "enabled"))?.features;
    let disabled = f.cpuid(map, s(c, "disabled"))?.features;
    x86::update_live(&map.x86, &mut cpu, &enabled, &disabled).map_err(err_str)?;
    x86::expand_features(&map.x86, &mut cpu).map_err(err_str)?;
    x86::expand_features(&map.x86, &mut expected).map_err(err_str)?;
    if cpu.model != expected.model {
        return Err(format!("model {:?}, expected {:?}", cpu.model, expected.model));
    }
    let (mut i, mut j) = (0, 0);
    let (a, e) = (&cpu.features, &expected.features);
    while i < a.len() || j < e.len() {
        let order = match (a.get(i), e.get(j)) {
            (Some(x), Some(y)) => x.name.as_bytes().cmp(y.name.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Equal => {
                if a[i].policy != e[j].policy {
                    return Err(format!("feature {}: policy {:?}, expected {:?}", a[i].name, a[i].policy, e[j].policy));
                }
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                if a[i].policy != Some(cpufleet_engine::Policy::Disable) {
                    return Err(format!("feature {} ({:?}) is not in the expectation", a[i].name, a[i].policy));
                }
                i += 1;
            }
            std::cmp::Ordering::Greater => return Err(format!("expected feature {} is missing", e[j].name)),
        }
    }
    Ok(())
}

fn run_cpuid_baseline(map: &CpuMap, f: &Files, c: &Value) -> Result<(), String> {
    let inputs: Vec<CpuDef> = c
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or("no inputs")?
        .iter()
        .map(|v| f.cpu(v.as_str().unwrap_or(""), TypeHint::Auto))
        .collect::<Result<_, _>>()?;
    let cpu = ops::baseline(map, &inputs, Some(Arch::X86), false).map_err(err_str)?;
    compare_text(f, s(c, "expect_file"), &xml::format_cpu(&cpu))?;
    check_inputs_run(map, &inputs, &cpu)
}

const OPS: &[&str] = &[
    "compare",
    "update",
    "baseline",
    "has_feature",
    "guest_cpu",
    "cpuid_host",
    "cpuid_guest",
    "cpuid_signature",
    "cpuid_update_live",
    "cpuid_baseline",
];

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

fn run_manifest(map: &CpuMap, manifest: &Path, files: &Files, tally: &mut Tally) {
    let text = std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let doc: Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    for op in OPS {
        let Some(cases) = doc.get(op).and_then(Value::as_array) else { continue };
        for c in cases {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match *op {
                "compare" => run_compare(map, files, c),
                "update" => run_update(map, files, c),
                "baseline" => run_baseline(map, files, c),
                "has_feature" => run_has_feature(map, files, c),
                "guest_cpu" => run_guest_cpu(map, files, c),
                "cpuid_host" => run_cpuid(map, files, c, false),
                "cpuid_guest" => run_cpuid(map, files, c, true),
                "cpuid_signature" => run_signature(files, c),
                "cpuid_update_live" => run_update_live(map, files, c),
                "cpuid_baseline" => run_cpuid_baseline(map, files, c),
                _ => unreachable!(),
            }))
            .unwrap_or_else(|_| Err("PANIC".to_string()));
            match result {
                Ok(()) => tally.passed += 1,
                Err(e) => {
                    tally.failed += 1;
                    println!("FAIL libvirt-{} {}: {e}", files.version, s(c, "id"));
                }
            }
        }
    }
    for key in doc.as_table().map(|t| t.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
        if !OPS.contains(&key.as_str()) {
            let n = doc.get(&key).and_then(Value::as_array).map_or(0, Vec::len);
            tally.skipped += n;
            println!("SKIP {n} case(s) of unknown operation '{key}'");
        }
    }
}

#[test]
fn conformance() {
    let packs = common::packs();
    if packs.is_empty() {
        common::skip("conformance");
        return;
    }
    let mut failed = Vec::new();
    let mut maps: Vec<(LibvirtVersion, CpuMap, PathBuf)> = Vec::new();
    for (version, pack) in packs {
        let map = common::pack_map_as(&pack, version);
        let public = Files { dirs: vec![pack.join("cputestdata")], version };
        let mut tally = Tally::default();
        run_manifest(&map, &pack.join("cases.toml"), &public, &mut tally);
        common::summary::summary(&format!(
            "conformance libvirt-{version}: {} passed, {} failed, {} skipped\n",
            tally.passed, tally.failed, tally.skipped
        ));
        assert!(tally.passed > 0, "libvirt-{version}: no conformance case ran");
        if tally.failed > 0 {
            failed.push(format!("libvirt-{version}: {} case(s) failed", tally.failed));
        }
        maps.push((version, map, pack));
    }

    if let Some(list) = std::env::var_os("CPUFLEET_CONFORMANCE_EXTRA") {
        let mut by_version: Vec<(LibvirtVersion, Tally)> = Vec::new();
        for dir in std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()) {
            let version = common::version_of_dir(&dir).unwrap_or_else(|| {
                panic!("CPUFLEET_CONFORMANCE_EXTRA: {} does not end in libvirt-9.0.0 or libvirt-11.3.0", dir.display())
            });
            let (_, map, pack) = maps
                .iter()
                .find(|(v, _, _)| *v == version)
                .unwrap_or_else(|| panic!("{}: the public libvirt-{version} pack is absent", dir.display()));
            let files = Files { dirs: vec![dir.join("cputestdata"), pack.join("cputestdata")], version };
            let i = match by_version.iter().position(|(v, _)| *v == version) {
                Some(i) => i,
                None => {
                    by_version.push((version, Tally::default()));
                    by_version.len() - 1
                }
            };
            run_manifest(map, &dir.join("cases.toml"), &files, &mut by_version[i].1);
        }
        by_version.sort_by_key(|(v, _)| *v);
        for (version, t) in &by_version {
            common::summary::summary(&format!(
                "conformance-extra libvirt-{version}: {} passed, {} failed, {} skipped\n",
                t.passed, t.failed, t.skipped
            ));
            if t.failed > 0 {
                failed.push(format!("conformance-extra libvirt-{version}: {} case(s) failed", t.failed));
            }
        }
    }
    assert!(failed.is_empty(), "conformance: {} (see FAIL lines above)", failed.join("; "));
}
