//! `cpufleet compare --inventory DIR GUEST [--on POOL/HOST] [--view guest|raw]` ("where can
//! this VM go?") on an inventory built from the libvirt 11.3.0 pack's real host CPUs
//! (`support/inventory.rs`). The guest view (the default) gives the answer `simulate
//! --inventory` gives, guest by guest; in the raw view each host's verdict is checked against
//! `cpufleet compare HOSTFILE GUEST` of that host's own file, and the started guest against
//! `cpufleet update HOSTFILE GUEST`.

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
fn raw_view_every_host_gets_the_verdict_compare_gives_it() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "whereto-verdicts");
    let guest = guest_file(&sample);
    let o = cpufleet(&["compare", "--format", "json", "--view", "raw", "--inventory", s(sample.path()), s(&guest)]);
    let v = json(&o);
    assert_eq!(v["libvirt"], "11.3.0");
    assert_eq!(v["view"], "raw");
    assert_eq!(v["on"], Value::Null);
    let all_ok = check_every_host(&sample, &v, &guest);
    assert_eq!(o.status.code(), Some(if all_ok { 0 } else { 1 }));
    assert!(!all_ok, "the guest (Opteron_G3, from the AMD pool) cannot go everywhere");
    // The text: the same counts per pool, every host named with its verdict.
    let t = cpufleet(&["compare", "--view", "raw", "--inventory", s(sample.path()), s(&guest)]);
    assert_eq!(t.status.code(), o.status.code());
    let text = stdout(&t);
    for p in v["pools"].as_array().unwrap() {
        let n = p["total"].as_u64().unwrap();
        let hosts = if n == 1 { "host" } else { "hosts" };
        let line = format!("pool {}: {} of {n} {hosts} can run it", p["name"].as_str().unwrap(), p["can_run"]);
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
    assert!(text.lines().nth(1).unwrap().contains(&head), "{text}");
}

#[test]
fn raw_view_on_starts_the_guest_on_its_home_host_first() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "whereto-on");
    let guest = guest_file(&sample);
    let (pool, host, _) = &sample.guests[0];
    let home = host_file(&sample, pool, host);
    let on = format!("{pool}/{host}");
    let inv = s(sample.path());
    let o = cpufleet(&["compare", "--format", "json", "--view", "raw", "--inventory", inv, "--on", &on, s(&guest)]);
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

/// The guest view answers "where can this VM go?" as `simulate --inventory` does: for every
/// guest of the sample, `--on` its own host gives the GUESTS row's counts (its own host left
/// out) and the same blocking features with the same host counts; a guest that cannot start on
/// its home host is said to be so (exit 1), never "started on" it.
#[test]
fn guest_view_gives_the_simulators_answer_for_every_guest() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "whereto-guest-view");
    let inv = s(sample.path());
    let sim = cpufleet(&["simulate", "--inventory", inv, "-q", "--scenario", "migrate", "--format", "json"]);
    assert_eq!(sim.status.code(), Some(0), "{}", stderr(&sim));
    let sim = json(&sim);
    let rows = sim["inventory_guests"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), sample.guests.len());
    let (mut refused_home, mut checked) = (0, 0);
    for (pool, host, guest) in &sample.guests {
        let row = rows.iter().find(|r| r["name"] == guest.as_str()).unwrap();
        let file = sample.path().join(pool).join(host).join(format!("{guest}.xml"));
        let on = format!("{pool}/{host}");
        let o = cpufleet(&["compare", "--format", "json", "--inventory", inv, "--on", &on, s(&file)]);
        let v = json(&o);
        assert_eq!(v["view"], "guest");
        if let Some(e) = row["start_error"].as_str() {
            assert_eq!(o.status.code(), Some(1), "{guest}");
            assert_eq!(v["start_error"], e, "{guest}");
            let t = stdout(&cpufleet(&["compare", "--inventory", inv, "--on", &on, s(&file)]));
            assert!(t.contains(&format!("cannot start on its home host {on}")) && !t.contains("started on"), "{t}");
            refused_home += 1;
            continue;
        }
        // Every host but its own, as the simulator counts destinations.
        let mut accept = 0;
        let mut blockers: std::collections::BTreeMap<(String, String), u64> = Default::default();
        for p in v["pools"].as_array().unwrap() {
            for h in p["hosts"].as_array().unwrap() {
                if p["name"] == pool.as_str() && h["name"] == host.as_str() {
                    assert_eq!(h["runs"], true, "{guest} runs where it started");
                    continue;
                }
                if h["runs"] == true {
                    accept += 1;
                }
                for b in h["blockers"].as_array().unwrap() {
                    let key =
                        (b["kind"].as_str().unwrap().to_string(), b["feature"].as_str().unwrap_or("").to_string());
                    *blockers.entry(key).or_default() += 1;
                }
            }
        }
        assert_eq!(row["accept"], accept, "{guest}");
        let want: std::collections::BTreeMap<(String, String), u64> = row["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let key = (b["kind"].as_str().unwrap().to_string(), b["feature"].as_str().unwrap_or("").to_string());
                (key, b["hosts"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(blockers, want, "{guest}");
        assert_eq!(o.status.code(), Some(if v["can_run"] == v["total"] { 0 } else { 1 }));
        checked += 1;
    }
    assert!(checked >= 10 && refused_home >= 1, "{checked} compared, {refused_home} refused at home");
}

/// Without `--on`, the guest view starts the guest on each host: a host runs it exactly when
/// `--on` that host starts it there.
#[test]
fn guest_view_without_on_starts_the_guest_on_each_host() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "whereto-guest-each");
    let inv = s(sample.path());
    let guest = guest_file(&sample);
    let v = json(&cpufleet(&["compare", "--format", "json", "--inventory", inv, s(&guest)]));
    let (mut runs, mut refused) = (0, 0);
    for p in v["pools"].as_array().unwrap() {
        for h in p["hosts"].as_array().unwrap() {
            let on = format!("{}/{}", p["name"].as_str().unwrap(), h["name"].as_str().unwrap());
            let one = json(&cpufleet(&["compare", "--format", "json", "--inventory", inv, "--on", &on, s(&guest)]));
            assert_eq!(one["start_error"].is_null(), h["runs"] == true, "{on}: {h}");
            if h["runs"] == true {
                runs += 1;
            } else {
                assert!(h["reason"].as_str().is_some_and(|r| !r.is_empty()), "{h}");
                refused += 1;
            }
        }
    }
    assert!(runs > 0 && refused > 0, "{runs} run it, {refused} refuse it");
}
