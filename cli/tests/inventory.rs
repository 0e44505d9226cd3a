//! `cpufleet fleet show --inventory DIR` through the binary, on an inventory built from the
//! libvirt 11.3.0 pack's real host CPUs (`support/inventory.rs`).

#[path = "support/bin.rs"]
mod bin;
#[path = "support/inventory.rs"]
mod support;

use bin::{cpufleet, stderr, stdout};
use cpufleet_engine::xml::{read_cpu_document, Limits, TypeHint};
use cpufleet_engine::LibvirtVersion;
use serde_json::Value;
use support::{build, pack};

const BROKEN: &str = "<capabilities>\n  <host>\n    <cpu>\n      <arch>x86_64</arch>\n      <model>Haswell\n    </cpu>\n  </host>\n</capabilities>\n";

fn show(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["fleet", "show", "--inventory", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    cpufleet(&args)
}

fn json(o: &std::process::Output) -> Value {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    serde_json::from_str(&stdout(o)).unwrap()
}

fn pool<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["pools"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("pool {name}"))
}

#[test]
fn json_names_every_host_and_guest() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "cli-inv-json");
    let v = json(&show(sample.path(), &["--format", "json"]));
    assert_eq!(v["libvirt"], "11.3.0");
    let n_hosts: usize = sample.pools.iter().map(|p| p.1.len()).sum();
    assert_eq!(v["totals"]["hosts"], n_hosts);
    assert_eq!(v["totals"]["pools"], sample.pools.len());
    assert_eq!(v["totals"]["guests"], sample.guests.len());
    for (name, hosts) in &sample.pools {
        let p = pool(&v, name);
        let got: Vec<&str> = p["hosts"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
        for h in hosts {
            assert!(got.contains(&h.as_str()), "{name}: host {h} missing from {got:?}");
        }
        let counted: u64 = p["models"].as_array().unwrap().iter().map(|m| m["hosts"].as_u64().unwrap()).sum();
        assert_eq!(counted as usize, hosts.len());
    }
    for (pool_name, host, guest) in &sample.guests {
        let gs = pool(&v, pool_name)["guests"].as_array().unwrap().clone();
        let g = gs.iter().find(|g| g["name"] == guest.as_str()).unwrap_or_else(|| panic!("guest {guest}"));
        assert_eq!(g["host"], host.as_str());
    }
    assert_eq!(pool(&v, "amd")["vendors"], serde_json::json!(["AMD"]));
}

#[test]
fn hosts_with_the_same_bytes_share_one_cpu() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "cli-inv-dedupe");
    let v = json(&show(sample.path(), &["--format", "json"]));
    for (pool_name, a, b) in &sample.twins {
        let hosts = pool(&v, pool_name)["hosts"].as_array().unwrap().clone();
        let cpu = |n: &str| hosts.iter().find(|h| h["name"] == n).unwrap()["cpu"].clone();
        assert_eq!(cpu(a), cpu(b), "{pool_name}: {a} and {b}");
    }
    let distinct = v["totals"]["distinct_cpus"].as_u64().unwrap();
    assert_eq!(v["cpus"].as_array().unwrap().len() as u64, distinct);
    assert!(distinct < v["totals"]["hosts"].as_u64().unwrap());
}

#[test]
fn a_broken_file_exits_2_naming_it_or_is_skipped_and_counted() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "cli-inv-broken");
    let path = sample.write_host("intel-b", "intel-b-zz", BROKEN);
    let e =
        read_cpu_document(BROKEN.as_bytes(), TypeHint::Host, LibvirtVersion::V11_3_0, Limits::default()).unwrap_err();
    for format in ["text", "json"] {
        let o = show(sample.path(), &["--format", format]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(o.stdout.is_empty(), "no output before the error");
        let want = format!("cpufleet: {}: {}:{}: ", path.display(), e.pos.line, e.pos.col);
        assert!(stderr(&o).starts_with(&want), "{} does not start with {want}", stderr(&o));
    }
    let o = show(sample.path(), &["--format", "json", "--keep-going"]);
    let v = json(&o);
    assert_eq!(v["totals"]["skipped"], 1);
    assert_eq!(pool(&v, "intel-b")["skipped"], 1);
    assert_eq!(pool(&v, "intel-a")["skipped"], 0);
    assert_eq!(v["skipped"][0]["path"], path.display().to_string());
    assert!(
        stderr(&o).contains(&format!("warning: {}: {}:{}", path.display(), e.pos.line, e.pos.col)),
        "{}",
        stderr(&o)
    );
    let text = show(sample.path(), &["--keep-going"]);
    assert_eq!(text.status.code(), Some(0));
    assert!(
        stdout(&text).contains("pool intel-b: 13 hosts,") && stdout(&text).contains("1 skipped"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn output_is_deterministic() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "cli-inv-determinism");
    for format in ["text", "json"] {
        let a = show(sample.path(), &["--format", format]);
        let b = show(sample.path(), &["--format", format]);
        assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
        assert_eq!(stdout(&a), stdout(&b));
    }
}

#[test]
fn bad_inventory_paths_exit_2() {
    let dir = support::TempDir::new("cli-inv-empty");
    for (path, want) in [(dir.0.clone(), "empty inventory"), (dir.0.join("missing"), "no such file or directory")] {
        let o = show(&path, &[]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
    }
}
