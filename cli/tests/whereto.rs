//! `cpufleet compare --inventory DIR GUEST [--on POOL/HOST]` ("where can this VM go?") on an
//! inventory built from the libvirt 11.3.0 pack's real host CPUs (`support/inventory.rs`). Each
//! host's verdict is checked against `cpufleet compare HOSTFILE GUEST` of that host's own file,
//! and the started guest against `cpufleet update HOSTFILE GUEST`.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/inventory.rs"]
mod support;

use bin::{cpufleet, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::{build, pack, SampleInventory};

/// The verdict fields `compare --format json` and `compare --inventory` share.
const FIELDS: [&str; 7] =
    ["verdict", "missing", "forbidden", "extra_strict", "vendor_mismatch", "arch_mismatch", "reason"];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {} {}", stdout(o), stderr(o)))
}

/// A file `compare` reads for a host of the sample: its own file, or for a `<cpudata>` dump the
/// pack's host CPU decoded from it.
fn host_file(sample: &SampleInventory, pool: &str, host: &str) -> PathBuf {
    match sample.dumps.iter().find(|d| d.0 == pool && d.1 == host) {
        Some(d) => d.2.clone(),
        None => sample.path().join(pool).join(format!("{host}.xml")),
    }
}

fn guest_file(sample: &SampleInventory) -> PathBuf {
    let (pool, host, guest) = &sample.guests[0];
    sample.path().join(pool).join(host).join(format!("{guest}.xml"))
}

/// Checks the answer of `compare --inventory` for `cpu` (the file `compare` gets) against
/// `compare HOSTFILE CPU` of every host, and returns whether every host can run it.
fn check_every_host(sample: &SampleInventory, v: &Value, cpu: &Path) -> bool {
    let mut all_ok = true;
    let mut total = 0;
    for (pool, hosts) in &sample.pools {
        let p = v["pools"].as_array().unwrap().iter().find(|p| p["name"] == pool.as_str()).unwrap();
        let got = p["hosts"].as_array().unwrap();
        assert_eq!(got.len(), hosts.len(), "{pool}");
        let mut ok = 0;
        for h in hosts {
            let entry = got.iter().find(|e| e["name"] == h.as_str()).unwrap_or_else(|| panic!("host {h}"));
            let one = cpufleet(&["compare", "--format", "json", s(&host_file(sample, pool, h)), s(cpu)]);
            let want = json(&one);
            for f in FIELDS {
                assert_eq!(entry[f], want[f], "{pool}/{h}: {f}");
            }
            if one.status.code() == Some(0) {
                ok += 1;
            }
        }
        assert_eq!(p["can_run"], ok, "{pool}");
        assert_eq!(p["total"], hosts.len());
        all_ok &= ok == hosts.len();
        total += hosts.len();
    }
    assert_eq!(v["total"], total);
    all_ok
}

#[test]
fn every_host_gets_the_verdict_compare_gives_it() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "whereto-verdicts");
    let guest = guest_file(&sample);
    let o = cpufleet(&["compare", "--format", "json", "--inventory", s(sample.path()), s(&guest)]);
    let v = json(&o);
    assert_eq!(v["libvirt"], "11.3.0");
    assert_eq!(v["on"], Value::Null);
    let all_ok = check_every_host(&sample, &v, &guest);
    assert_eq!(o.status.code(), Some(if all_ok { 0 } else { 1 }));
    assert!(!all_ok, "the guest (Opteron_G3, from the AMD pool) cannot go everywhere");
    // The text: the same counts per pool, every host named with its verdict.
    let t = cpufleet(&["compare", "--inventory", s(sample.path()), s(&guest)]);
    assert_eq!(t.status.code(), o.status.code());
    let text = stdout(&t);
    for p in v["pools"].as_array().unwrap() {
        let line = format!("pool {}: {} of {} hosts can run it", p["name"].as_str().unwrap(), p["can_run"], p["total"]);
        assert!(text.contains(&line), "{line} in {text}");
        for h in p["hosts"].as_array().unwrap() {
            let start = format!("  {} ", h["name"].as_str().unwrap());
            let row = text.lines().find(|l| l.starts_with(&start)).unwrap_or_else(|| panic!("{h} in {text}"));
            assert!(row.contains(h["verdict"].as_str().unwrap()), "{row}");
            for f in h["missing"].as_array().unwrap() {
                assert!(row.contains(f.as_str().unwrap()), "{row} names {f}");
            }
        }
    }
    let head = format!("{} of {} hosts of inventory {} can run it", v["can_run"], v["total"], s(sample.path()));
    assert!(text.lines().next().unwrap().contains(&head), "{text}");
}

#[test]
fn on_starts_the_guest_on_its_home_host_first() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "whereto-on");
    let guest = guest_file(&sample);
    let (pool, host, _) = &sample.guests[0];
    let home = host_file(&sample, pool, host);
    let on = format!("{pool}/{host}");
    let o = cpufleet(&["compare", "--format", "json", "--inventory", s(sample.path()), "--on", &on, s(&guest)]);
    let v = json(&o);
    assert_eq!(v["on"], on.as_str());
    // The CPU compared is the one `update HOME GUEST` gives.
    let started = cpufleet(&["update", s(&home), s(&guest)]);
    assert_eq!(started.status.code(), Some(0), "{}", stderr(&started));
    assert_eq!(v["cpu"]["xml"].as_str().unwrap(), stdout(&started));
    let file = sample.path().join("started.xml");
    std::fs::write(&file, stdout(&started)).unwrap();
    let all_ok = check_every_host(&sample, &v, &file);
    assert_eq!(o.status.code(), Some(if all_ok { 0 } else { 1 }));
    // The home host itself can always run what started on it.
    let p = v["pools"].as_array().unwrap().iter().find(|p| p["name"] == pool.as_str()).unwrap();
    let me = p["hosts"].as_array().unwrap().iter().find(|h| h["name"] == host.as_str()).unwrap();
    assert_ne!(me["verdict"], "incompatible");
}

#[test]
fn bad_input_exits_2_before_any_output() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "whereto-bad");
    let guest = guest_file(&sample);
    let inv = s(sample.path());
    let cases: [(Vec<&str>, &str); 3] = [
        (
            vec!["--on", "intel-a/intel-a-0"],
            "no such host (POOL/HOST) in the inventory; did you mean intel-a/intel-a-00?",
        ),
        (vec![s(&guest)], "with --inventory, give only the guest"),
        (vec!["--on", "nopool"], "--on nopool: no such host"),
    ];
    for (extra, want) in cases {
        let args = [&["compare", "--inventory", inv][..], &extra, &[s(&guest)]].concat();
        let o = cpufleet(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty());
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    let broken = sample.write_host("intel-b", "intel-b-zz", "<cpu>\n  <model>Haswell\n</cpu>\n");
    let o = cpufleet(&["compare", "--inventory", inv, s(&guest)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty() && stderr(&o).contains(s(&broken)), "{}", stderr(&o));
}
