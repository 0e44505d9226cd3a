//! `cpufleet baseline --explain`: a pool of the pack's real hosts in which old hosts force an
//! older model. Every claim of the explanation is checked against `cpufleet` itself run another
//! way: "without them" is `baseline` of the other files, "lost" is the host's expanded features
//! minus the baseline's.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/inventory.rs"]
mod support;

use bin::{cpufleet, stderr, stdout};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::{pack, TempDir};

const SKYLAKE: &str = "x86_64-cpuid-Xeon-Gold-6148-host.xml";
const BROADWELL: &str = "x86_64-cpuid-Xeon-E5-2650-v4-host.xml";
const CORE2: &str = "x86_64-cpuid-Core2-Q9500-host.xml";

/// A pool: 3 identical Broadwell hosts, a Skylake one, and 2 identical old Core 2 hosts (their
/// files, in order; the old ones are `old-*`).
fn pool(pack: &Path, dir: &TempDir) -> Vec<PathBuf> {
    let layout = [("b1", BROADWELL), ("old-1", CORE2), ("b2", BROADWELL), ("sky", SKYLAKE), ("b3", BROADWELL)];
    let mut files = Vec::new();
    for (name, src) in layout.into_iter().chain([("old-2", CORE2)]) {
        let p = dir.0.join(format!("{name}.xml"));
        std::fs::copy(pack.join(src), &p).unwrap();
        files.push(p);
    }
    files
}

fn args<'a>(head: &[&'a str], files: &'a [PathBuf]) -> Vec<&'a str> {
    head.iter().copied().chain(files.iter().map(|p| p.to_str().unwrap())).collect()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    stdout(o)
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&ok(o)).unwrap()
}

fn label(p: &Path) -> String {
    format!("{}#1 (1:1)", p.display())
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn the_old_hosts_force_the_model_and_without_them_is_the_baseline_of_the_rest() {
    let Some(pack) = pack() else { return };
    for flags in [&[][..], &["--migratable"][..], &["--features"][..], &["--libvirt", "9.0.0"][..]] {
        // Each version reads its own pack's host files (their model names differ).
        let pack = match flags {
            [_, "9.0.0"] => pack.join("../../libvirt-9.0.0/cputestdata"),
            _ => pack.clone(),
        };
        let dir = TempDir::new("explain-old");
        let files = pool(&pack, &dir);
        let (old, rest): (Vec<PathBuf>, Vec<PathBuf>) =
            files.iter().cloned().partition(|p| p.file_name().unwrap().to_str().unwrap().starts_with("old-"));
        let plain = ok(&cpufleet(&args(&[&["baseline"], flags].concat(), &files)));
        let text = ok(&cpufleet(&args(&[&["baseline", "--explain"], flags].concat(), &files)));
        assert!(text.starts_with(&plain), "{flags:?}: the text starts with the plain answer");
        let v = json(&cpufleet(&args(&[&["baseline", "--explain", "--format", "json"], flags].concat(), &files)));
        let mut bare = v.clone();
        bare.as_object_mut().unwrap().remove("explain");
        assert_eq!(bare, json(&cpufleet(&args(&[&["baseline", "--format", "json"], flags].concat(), &files))));
        let ex = &v["explain"];
        assert_eq!((ex["cpus"].as_u64(), ex["distinct"].as_u64()), (Some(6), Some(3)), "{flags:?}");
        // The first limit: the two old hosts together, and without them: the rest's baseline.
        let first = &ex["limits"][0];
        let old_labels: Vec<String> = old.iter().map(|p| label(p)).collect();
        assert_eq!(strs(&first["hosts"]), old_labels, "{flags:?}");
        assert_eq!(first["cpus"], 2);
        let without = ok(&cpufleet(&args(&[&["baseline"], flags].concat(), &rest)));
        assert_eq!(format!("{}\n", first["without"]["xml"].as_str().unwrap()), without, "{flags:?}");
        assert_ne!(first["without"]["model"], v["model"], "{flags:?}: the old hosts force an older model");
        assert!(!strs(&first["gained"]).is_empty());
        let line = format!("2 hosts force {}", v["model"].as_str().unwrap());
        let without_model = first["without"]["model"].as_str().unwrap();
        assert!(text.contains(&line) && text.contains(&format!("without them: {without_model} + ")), "{text}");
        // Every limit is a real one: its hosts removed, the baseline changes as it says.
        for l in ex["limits"].as_array().unwrap() {
            let hosts = strs(&l["hosts"]);
            let keep: Vec<PathBuf> = files.iter().filter(|p| !hosts.contains(&label(p))).cloned().collect();
            let got = ok(&cpufleet(&args(&[&["baseline"], flags].concat(), &keep)));
            assert_eq!(format!("{}\n", l["without"]["xml"].as_str().unwrap()), got, "{flags:?}: {hosts:?}");
        }
    }
}

/// The feature names of `expand FILE` (the CPU with its full feature list; a guest CPU's
/// disabled features left out).
fn expanded(files: &[&Path]) -> BTreeSet<String> {
    let v = json(&cpufleet(&args(
        &["expand", "--format", "json"],
        &files.iter().map(|p| p.to_path_buf()).collect::<Vec<_>>(),
    )));
    let cpu = &v["cpus"][0];
    let on = |f: &&Value| f["policy"].is_null() || f["policy"] == "require";
    cpu["features"].as_array().unwrap().iter().filter(on).map(|f| f["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn each_host_loses_what_it_has_beyond_the_baseline() {
    let Some(pack) = pack() else { return };
    let dir = TempDir::new("explain-lost");
    let files = pool(&pack, &dir);
    let v = json(&cpufleet(&args(&["baseline", "--explain", "--format", "json"], &files)));
    let base = dir.0.join("baseline.xml");
    std::fs::write(&base, v["xml"].as_str().unwrap()).unwrap();
    let offered = expanded(&[&base]);
    let mut seen = Vec::new();
    for entry in v["explain"]["lost"].as_array().unwrap() {
        let lost: BTreeSet<String> = strs(&entry["features"]).into_iter().collect();
        for host in strs(&entry["hosts"]) {
            let file = files.iter().find(|p| label(p) == host).unwrap();
            let want: BTreeSet<String> = expanded(&[file]).difference(&offered).cloned().collect();
            assert_eq!(lost, want, "{host}");
            seen.push(host);
        }
    }
    seen.sort();
    let mut all: Vec<String> = files.iter().map(|p| label(p)).collect();
    all.sort();
    assert_eq!(seen, all, "every input CPU is listed once");
}

#[test]
fn identical_hosts_are_explained_once_and_nothing_limits_them() {
    let Some(pack) = pack() else { return };
    let dir = TempDir::new("explain-many");
    let bytes = std::fs::read(pack.join(BROADWELL)).unwrap();
    for i in 0..3000 {
        std::fs::write(dir.0.join(format!("h{i:05}.xml")), &bytes).unwrap();
    }
    let d = dir.0.to_str().unwrap();
    let v = json(&cpufleet(&["baseline", "--explain", "--format", "json", d]));
    assert_eq!((v["explain"]["cpus"].as_u64(), v["explain"]["distinct"].as_u64()), (Some(3000), Some(1)));
    assert_eq!(v["explain"]["limits"], serde_json::json!([]));
    assert_eq!(v["explain"]["lost"][0]["hosts"].as_array().unwrap().len(), 3000);
    let text = ok(&cpufleet(&["baseline", "--explain", d]));
    assert!(text.contains("explanation: 3000 input CPUs (1 distinct)"), "{text}");
    assert!(text.contains("no input CPU limits the baseline"), "{text}");
}

#[test]
fn standard_input_is_read_once_and_named_dash() {
    let Some(pack) = pack() else { return };
    let sky = pack.join(SKYLAKE);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cpufleet"))
        .args(["baseline", "--explain", sky.to_str().unwrap(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&std::fs::read(pack.join(CORE2)).unwrap()).unwrap();
    let text = ok(&child.wait_with_output().unwrap());
    let plain = ok(&cpufleet(&["baseline", sky.to_str().unwrap(), pack.join(CORE2).to_str().unwrap()]));
    assert!(text.starts_with(&plain), "{text}");
    assert!(text.contains("1 host forces") && text.contains("\n    -#1 (1:1)\n"), "{text}");
}

#[test]
fn ppc64_is_refused_with_exit_2() {
    let Some(pack) = pack() else { return };
    let o = cpufleet(&["baseline", "--explain", pack.join("ppc64-host.xml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("--explain explains x86 baselines only"), "{}", stderr(&o));
}

/// The names `fleet gen` writes above each host (`<!-- host NAME -->`), in file order.
fn comment_names(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.trim().strip_prefix("<!-- host ")?.strip_suffix(" -->")).map(String::from).collect()
}

#[test]
fn a_generated_pool_is_explained_by_host_name_with_long_groups_shortened_in_text_only() {
    let dir = TempDir::new("explain-gen");
    let out = dir.0.join("fleet");
    ok(&cpufleet(&["fleet", "gen", "--hosts", "4000", "--out", out.to_str().unwrap()]));
    let pool = out.join("web-2016.xml");
    let text = std::fs::read_to_string(&pool).unwrap();
    let names = comment_names(&text);
    assert_eq!(names.len(), text.matches("<cpu>").count(), "one comment per host");
    let p = pool.to_str().unwrap();
    let v = json(&cpufleet(&["baseline", "--explain", "--format", "json", p]));
    let ex = &v["explain"];
    assert_eq!(ex["cpus"].as_u64(), Some(names.len() as u64));
    // Every host by the name in its comment, once (the JSON lists every member of every group).
    let mut listed: Vec<String> = ex["lost"].as_array().unwrap().iter().flat_map(|e| strs(&e["hosts"])).collect();
    listed.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(listed, want);
    // A host's name is the one above its own CPU (no off-by-one): the CPU after the k-th
    // comment, given again as a file of its own, joins the group the name is in.
    let groups = ex["lost"].as_array().unwrap();
    let limited = ex["limits"].as_array().unwrap().iter().flat_map(|l| strs(&l["hosts"]));
    let sample: Vec<String> =
        groups.iter().take(3).map(|g| strs(&g["hosts"])[0].clone()).chain(limited.take(3)).collect();
    for host in sample {
        let k = names.iter().position(|n| *n == host).unwrap();
        let cpu = text.split("<!-- host ").nth(k + 1).unwrap().split_once("-->\n").unwrap().1;
        let one = dir.0.join("one.xml");
        std::fs::write(&one, cpu).unwrap();
        let files = [pool.clone(), one.clone()];
        let again = json(&cpufleet(&args(&["baseline", "--explain", "--format", "json"], &files)));
        let lost = again["explain"]["lost"].as_array().unwrap();
        let g = lost.iter().find(|e| strs(&e["hosts"]).contains(&host)).unwrap();
        assert!(strs(&g["hosts"]).contains(&format!("{}#1 (1:1)", one.display())), "{host}: {g}");
    }
    // The text lists at most 8 CPUs per group, then how many more; the JSON lists them all.
    let t = ok(&cpufleet(&["baseline", "--explain", p]));
    let biggest = groups.iter().map(|e| e["hosts"].as_array().unwrap().len()).max().unwrap();
    assert!(biggest > 8, "a group of more than 8 hosts: {biggest}");
    let rest = biggest - 7;
    let rest = if rest >= 1000 { format!("{},{:03}", rest / 1000, rest % 1000) } else { rest.to_string() };
    assert!(t.contains(&format!("\n    … and {rest} more (all of them in --format json)\n")), "{t}");
    let longest = t.lines().filter(|l| l.starts_with("    ") && !l.contains(':')).count();
    assert!(longest <= 8 * groups.len() + 8 * ex["limits"].as_array().unwrap().len(), "{t}");
    assert!(!t.contains(&format!("{p}#")), "hosts by name, not by position: {t}");
}

#[test]
fn cpuid_dumps_and_domcapabilities_are_host_files_as_in_the_inventory() {
    let Some(pack) = pack() else { return };
    let dir = TempDir::new("explain-host-files");
    let web = dir.0.join("web");
    std::fs::create_dir(&web).unwrap();
    // Two <cpudata> CPUID dumps, and a host's capabilities with its domcapabilities beside it.
    std::fs::copy(pack.join("x86_64-cpuid-Xeon-Gold-6148.xml"), web.join("gold.xml")).unwrap();
    std::fs::copy(pack.join("x86_64-cpuid-Core2-Q9500.xml"), web.join("old.xml")).unwrap();
    let caps = support::capabilities(&std::fs::read_to_string(pack.join(BROADWELL)).unwrap(), 1);
    std::fs::write(web.join("bdw.xml"), caps).unwrap();
    let dc = "<domainCapabilities>\n  <path>/usr/bin/qemu-system-x86_64</path>\n  <domain>kvm</domain>\n  \
              <machine>pc-q35-9.2</machine>\n  <arch>x86_64</arch>\n  <cpu>\n    <mode name='host-model' \
              supported='yes'>\n      <model fallback='forbid'>Broadwell-IBRS</model>\n      <vendor>Intel</vendor>\n    \
              </mode>\n    <mode name='custom' supported='yes'>\n      <model usable='yes'>Broadwell</model>\n    \
              </mode>\n  </cpu>\n</domainCapabilities>\n";
    std::fs::write(web.join("bdw.domcaps.xml"), dc).unwrap();
    let v = json(&cpufleet(&["baseline", "--explain", "--format", "json", web.to_str().unwrap()]));
    // The baseline is that of the hosts as libvirt decodes them (the pack's `-host.xml` of each
    // dump is libvirt's own decode), the domcapabilities being the Broadwell host's own view.
    let decoded = [pack.join(SKYLAKE), pack.join(CORE2), web.join("bdw.xml")];
    let want = json(&cpufleet(&args(&["baseline", "--format", "json"], &decoded)));
    assert_eq!(v["xml"], want["xml"]);
    assert_eq!(v["explain"]["cpus"].as_u64(), Some(3), "{}", v["explain"]);
    let limits = v["explain"]["limits"].as_array().unwrap();
    assert_eq!(strs(&limits[0]["hosts"]), [format!("{}#1 (1:1)", web.join("old.xml").display())]);
    let others = [decoded[0].clone(), decoded[2].clone()];
    let without = json(&cpufleet(&args(&["baseline", "--format", "json"], &others)));
    assert_eq!(limits[0]["without"]["xml"], without["xml"], "without the old host: the baseline of the others");
}
