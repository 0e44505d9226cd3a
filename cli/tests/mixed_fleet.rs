//! A fleet spec that puts hosts on two libvirt versions (a pool's `libvirt` and `libvirt_share`
//! keys): the migrate scenario then starts each guest under its host's version and has each
//! migration read and compared by the destination's version. On a small pool half 9.0.0, half
//! 11.3.0: refusals by direction and reason, determinism across thread counts, the injected
//! `ignore-version` fault caught, and the default fleet left on one version.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/bin.rs"]
mod bin;
use bin::{cpufleet, reasons, stderr, stdout, version_hosts, violated_invariants};

/// One pool of 200 Skylake-SP hosts, half of them (drawn with the seed) on libvirt 11.3.0, the
/// rest on the run's 9.0.0; the default guest configurations; migrations within the pool only.
const SPEC: &str = "name = \"mixed\"\nguests = 400\nmigrations = 8000\n\
    [variation]\ncross_pool = 0.0\n\
    [[pool]]\nname = \"sky\"\nhosts = 200\ngenerations = { Skylake-SP = 1 }\nlibvirt = \"11.3.0\"\nlibvirt_share = 0.5\n";

/// Writes `text` to a file of its own (tests run in parallel, so no two calls share one).
fn spec_file(name: &str, text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mixed-fleet");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{}-{name}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(extra: &[&str]) -> (Value, Output) {
    run_spec(&spec_file("mixed.toml", SPEC), extra)
}

fn run_spec(spec: &std::path::Path, extra: &[&str]) -> (Value, Output) {
    let mut args = vec!["simulate", "--libvirt", "9.0.0", "--scenario", "migrate", "--format", "json", "-q"];
    args.extend(["--spec", spec.to_str().unwrap()]);
    args.extend(extra);
    let o = cpufleet(&args);
    let v = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    (v, o)
}

#[test]
fn a_half_upgraded_pool_refuses_by_direction_and_reason() {
    let (v, o) = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m = &v["mixed_fleet"];
    let hosts = version_hosts(m);
    assert_eq!(hosts, [("9.0.0", 100), ("11.3.0", 100)]);
    let dirs = m["migrations"]["directions"].as_array().unwrap();
    for d in dirs {
        assert!(d["attempted"].as_u64().unwrap() > 1000, "{d}");
    }
    // 9.0.0 → 11.3.0: 11.3.0 knows every 9.0.0 name; no refusal for an unknown name.
    assert!(reasons(&dirs[0]).iter().all(|(r, _)| !r.starts_with("unknown")), "{:?}", reasons(&dirs[0]));
    // 11.3.0 → 9.0.0: guests start on the QEMU/KVM host model, a guest decode that never names
    // a -vN model (qemu-driver spec §5.1), so nothing is refused for an unknown name in either
    // direction; what is refused is refused by features, as within one version.
    let back = reasons(&dirs[1]);
    assert!(!back.is_empty() && back.iter().all(|(r, _)| !r.starts_with("unknown")), "{back:?}");
    let configs = m["configurations"].as_array().unwrap();
    let find = |name: &str| configs.iter().find(|c| c["name"] == name).unwrap();
    if let Some(example) = find("host-model")["example"].as_str() {
        assert!(!example.starts_with("unknown"), "{example}");
    }
    assert_eq!(find("host-passthrough")["fully_mobile"], true);
    // The single-version migrate section did not run; a note says why.
    assert_eq!(v["migrations"]["attempted"], 0);
    assert!(v["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("several libvirt versions")));
    assert!(v["checks"]["cross_version_checked"].as_u64().unwrap() > 0);
    assert_eq!(v["checks"]["violation_count"], 0);
    // The text report shows the section and the cross-version check count.
    let spec = spec_file("mixed.toml", SPEC);
    let text = stdout(&cpufleet(&[
        "simulate",
        "--libvirt",
        "9.0.0",
        "--scenario",
        "migrate",
        "-q",
        "--spec",
        spec.to_str().unwrap(),
    ]));
    assert!(
        text.contains(
            "MIXED FLEET — live migrations across libvirt versions (100 hosts on 9.0.0, 100 hosts on 11.3.0)"
        ),
        "{text}"
    );
    assert!(text.contains("accepted cross-version migrations checked"), "{text}");
}

/// Three releases in one fleet: a 9.0.0 pool, a pool half on 11.3.0, a 12.9.0 pool. Each
/// migration is classified by release order (towards a newer release is old→new), and every
/// accepted cross-version migration is one the destination's release accepts.
#[test]
fn three_releases_in_one_fleet() {
    let three = format!(
        "{SPEC}[[pool]]\nname = \"new\"\nhosts = 100\ngenerations = {{ Skylake-SP = 1 }}\nlibvirt = \"12.9.0\"\n"
    )
    .replace("cross_pool = 0.0", "cross_pool = 0.5");
    let (v, o) = run_spec(&spec_file("three.toml", &three), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m = &v["mixed_fleet"];
    let hosts = version_hosts(m);
    assert_eq!(hosts, [("9.0.0", 100), ("11.3.0", 100), ("12.9.0", 100)]);
    let dirs = m["migrations"]["directions"].as_array().unwrap();
    for d in &dirs[..2] {
        assert!(d["attempted"].as_u64().unwrap() > 500, "{d}");
    }
    assert!(v["checks"]["cross_version_checked"].as_u64().unwrap() > 0);
    assert_eq!(v["checks"]["violation_count"], 0, "{}", v["checks"]);
}

#[test]
fn the_versions_each_host_runs_depend_on_the_seed_only() {
    let spec = spec_file("mixed.toml", SPEC);
    let (a, b) = (run_spec(&spec, &["--threads", "1"]), run_spec(&spec, &["--threads", "4"]));
    assert_eq!(stdout(&a.1), stdout(&b.1));
    let other = run_spec(&spec, &["--threads", "4", "--seed", "2"]);
    assert_ne!(stdout(&a.1), stdout(&other.1));
    assert_eq!(other.0["mixed_fleet"]["versions"][1]["hosts"], 100, "the share is exact whatever the seed");
}

#[test]
fn ignoring_the_destination_version_is_caught_on_a_mixed_fleet() {
    let (v, o) = run(&["--inject-fault", "ignore-version"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let invariants = violated_invariants(&v);
    assert!(
        invariants
            .contains(&"a migration accepted across libvirt versions is one the destination version's compare accepts"),
        "{invariants:?}"
    );
}

#[test]
fn a_pool_on_the_run_version_is_not_a_mixed_fleet() {
    let spec = spec_file("one-version.toml", &SPEC.replace("11.3.0", "9.0.0"));
    let o = cpufleet(&[
        "simulate",
        "--libvirt",
        "9.0.0",
        "--scenario",
        "migrate",
        "--format",
        "json",
        "-q",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v.get("mixed_fleet").is_none());
    assert!(v["migrations"]["attempted"].as_u64().unwrap() > 0);
}

/// In the rollout, the hosts the spec already puts on 11.3.0 start there and the others follow.
#[test]
fn the_rollout_starts_from_the_versions_the_spec_gives() {
    let spec = spec_file("rollout.toml", SPEC);
    let o = cpufleet(&[
        "simulate",
        "--libvirt",
        "9.0.0",
        "--scenario",
        "libvirt-upgrade",
        "--upgrade-steps",
        "2",
        "--format",
        "json",
        "-q",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let new: Vec<u64> =
        v["libvirt_upgrade"]["timeline"].as_array().unwrap().iter().map(|s| s["hosts_new"].as_u64().unwrap()).collect();
    assert_eq!(new, [100, 150, 200]);
}
