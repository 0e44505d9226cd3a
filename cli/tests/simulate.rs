//! The fleet simulator, run through the `cpufleet` binary: every scenario on a small fleet,
//! determinism across thread counts, the injected fault, bad specs, `fleet gen` against
//! `cpufleet baseline` and `virsh cpu-baseline`, and the HTML report.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/bin.rs"]
mod bin;
use bin::{cpufleet, stderr, stdout, too_wide, violated_invariants, wrong_plurals};

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("simulate").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(d: &Path, name: &str, content: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small fleet: three pools, two vendors, TSX and non-TSX hosts. Guest configurations,
/// variation and microcode events come from the embedded default spec.
const SMALL: &str = r#"
name = "small"
guests = 400
migrations = 8000

[[pool]]
name = "intel-a"
hosts = 120
generations = { Haswell = 1, Broadwell = 1, Skylake-SP = 1 }

[[pool]]
name = "intel-b"
hosts = 90
generations = { CascadeLake-SP = 1 }

[[pool]]
name = "amd"
hosts = 70
generations = { Naples = 1, Rome = 1 }

[upgrade]
steps = 3
replace = { Intel = "IceLake-SP", AMD = "Milan" }

[plan]
k = 3
"#;

fn small_spec(d: &Path) -> PathBuf {
    write(d, "small.toml", SMALL)
}

fn json_run(args: &[&str]) -> (Value, Output) {
    let mut a = args.to_vec();
    a.extend(["--format", "json", "--quiet"]);
    let o = cpufleet(&a);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(&o), stderr(&o)));
    (v, o)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[test]
fn simulate_with_no_arguments_prints_a_useful_report() {
    let o = cpufleet(&["simulate"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for section in ["POOLS", "MIGRATE", "UPGRADE", "MICROCODE", "PLAN", "INVARIANTS"] {
        assert!(out.contains(section), "missing {section}:\n{out}");
    }
    assert!(out.contains("fleet: 10000 hosts in 20 pools"), "{out}");
    assert!(out.contains("5000 guests"), "{out}");
    assert!(out.contains("100000 attempted"), "{out}");
    assert!(out.contains("all invariants hold"), "{out}");
    // Not a terminal: no progress bar, nothing on stderr.
    assert_eq!(stderr(&o), "");
}

/// Issue 25 (finding 9): every line of the text report fits 100 columns and counts agree with
/// their nouns, for every release, on the default fleet (every scenario) and on a tiny one.
#[test]
fn text_reports_fit_100_columns_and_say_1_guest() {
    // The default fleet, and one with a host or two per pool (the counts of one).
    let tiny = ["--hosts", "21", "--guests", "20", "--migrations", "100", "--scenario", "all"];
    for libvirt in cpufleet_engine::LibvirtVersion::NAMES {
        for extra in [&["--seed", "2"][..], &tiny[..]] {
            let mut args = vec!["simulate", "--quiet", "--libvirt", libvirt];
            args.extend(extra);
            let o = cpufleet(&args);
            assert!(matches!(o.status.code(), Some(0 | 1)), "{args:?}: {}", stderr(&o));
            let out = stdout(&o);
            assert!(out.lines().count() > 60, "{args:?}: a short report:\n{out}");
            let wide = too_wide(&out);
            assert!(wide.is_empty(), "{args:?}: lines wider than 100 columns:\n{}", wide.join("\n"));
            let plural = wrong_plurals(&out);
            assert!(plural.is_empty(), "{args:?}: \"1 …s\":\n{}", plural.join("\n"));
        }
    }
}

#[test]
fn pools_scenario_reports_libvirt_baselines_and_abi_levels() {
    let d = dir("pools");
    let spec = small_spec(&d);
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "pools"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(u(&v["seed"]), 1);
    assert_eq!(u(&v["hosts"]), 280);
    assert_eq!(v["scenarios"], serde_json::json!(["pools"]));
    let pools = v["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 3);
    for p in pools {
        let b = &p["baseline"];
        assert!(b["model"].is_string(), "{p}");
        assert!(u(&b["features"]) > 20, "{p}");
        assert!(b["abi_level"].as_str().unwrap().starts_with("x86-64-v"), "{p}");
        assert!(b["cpu_xml"].as_str().unwrap().starts_with("<cpu mode='custom' match='exact'>"), "{p}");
        let hosts: u64 = p["generations"].as_array().unwrap().iter().map(|g| u(&g["hosts"])).sum();
        assert_eq!(hosts, u(&p["hosts"]));
    }
    // The mixed pool's oldest generation loses little, its newest a lot (AVX-512 among others).
    let a = &pools[0]["generations"];
    let lost =
        |i: usize| a[i]["lost"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(a[2]["generation"], "Skylake-SP");
    assert!(lost(2).contains(&"avx512f".to_string()), "{:?}", lost(2));
    assert!(lost(2).len() > lost(0).len());
    // Fleet-wide: one baseline per vendor, and a vendor-neutral one with fewer features.
    let by_vendor = v["fleet_baselines"]["by_vendor"].as_array().unwrap();
    assert_eq!(by_vendor.len(), 2);
    let neutral = &v["fleet_baselines"]["all_vendors"];
    assert!(neutral["vendor"].is_null());
    for b in by_vendor {
        assert!(u(&neutral["features"]) <= u(&b["baseline"]["features"]));
    }
    // Migrations were not run.
    assert_eq!(u(&v["migrations"]["attempted"]), 0);
    assert_eq!(v["invariant_violations"], serde_json::json!([]));
}

#[test]
fn migrate_scenario_counts_refusals_blockers_and_unsafe_passthrough_moves() {
    let d = dir("migrate");
    let spec = small_spec(&d);
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "migrate", "--check-all"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m = &v["migrations"];
    assert_eq!(u(&v["guests"]), 400);
    assert_eq!(u(&m["attempted"]), 8000);
    assert_eq!(u(&m["succeeded"]) + u(&m["refused"]), 8000);
    assert!(u(&m["refused"]) > 0 && u(&m["succeeded"]) > 0);
    assert!(u(&m["cross_pool_attempted"]) > 0);
    assert!(u(&m["passthrough_unsafe_naive"]) > 0);
    assert!(u(&m["passthrough_unsafe_losing_features"]) <= u(&m["passthrough_unsafe_naive"]));
    // Per configuration, the counts add up.
    let configs = v["configurations"].as_array().unwrap();
    let attempted: u64 = configs.iter().map(|c| u(&c["migrations_attempted"])).sum();
    assert_eq!(attempted, 8000);
    let guests: u64 = configs.iter().map(|c| u(&c["guests"])).sum();
    assert_eq!(guests, 400);
    for c in configs {
        assert_eq!(u(&c["started"]) + u(&c["start_failures"]), u(&c["guests"]));
    }
    // The pool-baseline CPU migrates more freely than host-model; host-passthrough least.
    let rate = |name: &str| {
        let c = configs.iter().find(|c| c["name"] == name).unwrap();
        u(&c["migrations_succeeded"]) as f64 / u(&c["migrations_attempted"]).max(1) as f64
    };
    assert!(rate("pool-baseline") > rate("host-model"), "{} vs {}", rate("pool-baseline"), rate("host-model"));
    assert!(rate("host-model") > rate("host-passthrough"));
    // Blockers: sorted, with kinds, including the vendor and the passthrough pseudo-blockers.
    let blockers = v["blockers"].as_array().unwrap();
    assert!(!blockers.is_empty());
    let counts: Vec<u64> = blockers.iter().map(|b| u(&b["refusals"])).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let kinds: Vec<&str> = blockers.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    for k in ["missing", "vendor", "host-passthrough"] {
        assert!(kinds.contains(&k), "no {k} blocker: {kinds:?}");
    }
    // A destination runs no compare on a live (check='full') CPU, so match='strict' refuses no
    // migration (qemu-driver spec §4.5).
    assert!(!kinds.contains(&"extra"), "{kinds:?}");
    let checks = &v["checks"];
    assert_eq!(checks["all"], true);
    assert!(u(&checks["migrations_checked"]) > 0 && u(&checks["pairs_checked"]) > 0);
    assert_eq!(u(&checks["violation_count"]), 0);
}

#[test]
fn upgrade_scenario_replaces_the_oldest_generation_step_by_step() {
    let d = dir("upgrade");
    let spec = small_spec(&d);
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "upgrade"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let up = &v["upgrade"];
    assert_eq!(u(&up["steps"]), 3);
    let repl = up["replacements"].as_array().unwrap();
    let old: Vec<(&str, &str, &str)> = repl
        .iter()
        .map(|r| (r["pool"].as_str().unwrap(), r["old"].as_str().unwrap(), r["new"].as_str().unwrap()))
        .collect();
    assert_eq!(
        old,
        vec![
            ("intel-a", "Haswell", "IceLake-SP"),
            ("intel-b", "CascadeLake-SP", "IceLake-SP"),
            ("amd", "Naples", "Milan")
        ]
    );
    let total: u64 = repl.iter().map(|r| u(&r["hosts"])).sum();
    let tl = up["timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 4);
    let replaced: Vec<u64> = tl.iter().map(|s| u(&s["replaced"])).collect();
    assert_eq!(replaced[0], 0);
    assert!(replaced.windows(2).all(|w| w[0] < w[1]), "{replaced:?}");
    assert_eq!(replaced[3], total);
    assert_eq!(u(&tl[0]["evacuated"]) + u(&tl[0]["stranded"]), 0);
    assert!(tl.iter().map(|s| u(&s["evacuated"])).sum::<u64>() > 0);
    // intel-b is a single-generation pool: after the last step it is all Ice Lake, whose
    // baseline is richer; guests would gain features on restart by then.
    let pool = |step: &Value, name: &str| {
        step["pools"].as_array().unwrap().iter().find(|p| p["pool"] == name).cloned().unwrap()
    };
    assert!(u(&pool(&tl[3], "intel-b")["features"]) > u(&pool(&tl[0], "intel-b")["features"]));
    assert!(u(&tl[3]["gain_on_restart"]) > 0);
    assert_eq!(u(&v["checks"]["violation_count"]), 0);
}

#[test]
fn microcode_scenario_counts_guests_hurt_by_tsx_and_mpx_removal() {
    let d = dir("microcode");
    let spec = small_spec(&d);
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "microcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let events = v["microcode"].as_array().unwrap();
    assert_eq!(events[0]["name"], "TSX removal");
    assert_eq!(events[0]["removes"], serde_json::json!(["hle", "rtm"]));
    let e = &events[0];
    assert!(u(&e["hosts_affected"]) > 0);
    let row = |name: &str| e["rows"].as_array().unwrap().iter().find(|r| r["configuration"] == name).cloned().unwrap();
    // A host-model guest copied hle/rtm from its host: if that host lost them, the running CPU
    // is no longer backed, and a restart gives a CPU without them.
    let hm = row("host-model");
    assert!(u(&hm["on_affected_hosts"]) > 0);
    assert_eq!(u(&hm["cpu_not_backed"]), u(&hm["on_affected_hosts"]));
    assert_eq!(u(&hm["restart_loses_features"]), u(&hm["on_affected_hosts"]));
    assert_eq!(u(&hm["cannot_restart"]), 0);
    // MPX removal: intel-b's pool baseline (Cascade Lake) has mpx, so its pool-baseline guests on
    // affected hosts run a CPU the host no longer backs and cannot restart there; the pool's
    // baseline shrinks.
    let e2 = &events[1];
    assert_eq!(e2["removes"], serde_json::json!(["mpx"]));
    assert!(e2["pools_baseline_changed"].as_array().unwrap().contains(&serde_json::json!("intel-b")), "{e2}");
    let pb = e2["rows"].as_array().unwrap().iter().find(|r| r["configuration"] == "pool-baseline").cloned().unwrap();
    assert!(u(&pb["cannot_restart"]) > 0, "{pb}");
    assert_eq!(u(&pb["cannot_restart"]), u(&pb["cpu_not_backed"]));
    assert!(u(&pb["cannot_restart"]) <= u(&pb["on_affected_hosts"]));
    assert_eq!(u(&pb["restart_loses_features"]), 0);
    let total = &e["total"];
    let sum: u64 = e["rows"].as_array().unwrap().iter().map(|r| u(&r["guests"])).sum();
    assert_eq!(u(&total["guests"]), sum);
}

#[test]
fn plan_scenario_groups_hosts_into_domains_that_keep_more_features() {
    let d = dir("plan");
    let spec = small_spec(&d);
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "plan", "--allow-cross-vendor"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = &v["plan"];
    assert_eq!(u(&p["k"]), 3);
    let curve = p["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 3);
    let retained: Vec<u64> = curve.iter().map(|c| u(&c["retained"])).collect();
    assert!(retained.windows(2).all(|w| w[0] <= w[1]), "{retained:?}");
    assert!(retained[2] > retained[0], "{retained:?}");
    assert!(retained[2] <= u(&p["upper_bound"]));
    assert_eq!(curve[0]["gain_per_host"].as_f64(), Some(0.0));
    // k = 1 keeps the fleet-wide common features on every host.
    assert_eq!(retained[0], 280 * u(&p["fleet_wide_features"]));
    let domains = p["domains"].as_array().unwrap();
    assert!(!domains.is_empty() && domains.len() <= 3);
    assert_eq!(domains.iter().map(|d| u(&d["hosts"])).sum::<u64>(), 280);
    for d in domains {
        assert!(d["baseline"]["model"].is_string(), "{d}");
    }
    assert_eq!(u(&v["checks"]["violation_count"]), 0);
}

/// The names of a domain's or pool's hosts.
fn names(v: &Value) -> Vec<String> {
    v["host_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect()
}

#[test]
fn plan_domains_keep_vendors_apart_by_default_and_name_their_hosts() {
    let d = dir("plan-vendors");
    let spec = small_spec(&d);
    let out = d.join("domains");
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "plan", "--plan-output", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = &v["plan"];
    assert_eq!(p["allow_cross_vendor"], false);
    // Two vendors: no vendor-pure grouping into one domain, so the curve starts at k = 2.
    let ks: Vec<u64> = p["curve"].as_array().unwrap().iter().map(|c| u(&c["k"])).collect();
    assert_eq!(ks, [2, 3]);
    let domains = p["domains"].as_array().unwrap();
    let mut all: Vec<String> = Vec::new();
    for (i, dom) in domains.iter().enumerate() {
        assert_eq!(dom["vendors"].as_array().unwrap().len(), 1, "domain mixes vendors: {dom}");
        let n = names(dom);
        assert_eq!(n.len() as u64, u(&dom["hosts"]));
        all.extend(n);
        // --plan-output wrote the domain's baseline, exactly as the report gives it.
        let xml = std::fs::read_to_string(out.join(format!("domain-{}.xml", i + 1))).unwrap();
        assert_eq!(xml, dom["baseline"]["cpu_xml"].as_str().unwrap());
    }
    // Every host in exactly one domain, named as its pool lists it.
    all.sort();
    let mut pools: Vec<String> = v["pools"].as_array().unwrap().iter().flat_map(names).collect();
    pools.sort();
    assert_eq!(all, pools);
    assert_eq!(pools.len(), 280);
    assert!(pools.contains(&"intel-a-0".to_string()) && pools.contains(&"amd-69".to_string()));
    assert!(!out.join(format!("domain-{}.xml", domains.len() + 1)).exists());
    // One domain cannot keep two vendors apart: the report says so and how to fix it.
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "plan", "--plan-k", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(v["plan"]["domains"].as_array().unwrap().is_empty());
    let note = v["plan"]["notes"][0].as_str().unwrap();
    assert!(note.contains("--plan-k 2 or --allow-cross-vendor"), "{note}");
}

#[test]
fn plan_constraints_pools_whole_and_minimum_domain_size() {
    let d = dir("plan-constraints");
    let spec = small_spec(&d);
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "plan", "--keep-pools-whole"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pool_of = |name: &str| name.rsplit_once('-').unwrap().0.to_string();
    for dom in v["plan"]["domains"].as_array().unwrap() {
        // Each pool is wholly inside one domain: the domain's pool counts are full pools.
        for pair in dom["pools"].as_array().unwrap() {
            let want = match pair[0].as_str().unwrap() {
                "intel-a" => 120,
                "intel-b" => 90,
                _ => 70,
            };
            assert_eq!(u(&pair[1]), want, "{dom}");
        }
        assert!(names(dom).iter().all(|n| dom["pools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == pool_of(n).as_str())));
    }
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "plan", "--min-domain-hosts", "100"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = &v["plan"];
    assert_eq!(u(&p["min_domain_hosts"]), 100);
    let small: Vec<u64> =
        p["domains"].as_array().unwrap().iter().map(|d| u(&d["hosts"])).filter(|&h| h < 100).collect();
    // AMD has 70 hosts in all: its one domain is below the minimum, and the report says why.
    assert_eq!(small, [70]);
    assert!(p["notes"][0].as_str().unwrap().contains("fewer than 100 hosts"), "{p}");
    assert_eq!(u(&v["checks"]["violation_count"]), 0);
}

#[test]
fn plan_out_is_checked_before_the_run() {
    let d = dir("plan-out");
    let spec = small_spec(&d);
    let file = write(&d, "a-file", "x");
    let o = cpufleet(&["simulate", "--spec", s(&spec), "--plan-output", s(&file.join("sub")), "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "nothing runs before the output path is checked");
    let o = cpufleet(&["simulate", "--spec", s(&spec), "--scenario", "pools", "--plan-output", s(&d.join("x")), "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--plan-output needs the plan scenario"), "{}", stderr(&o));
}

#[test]
fn pool_outliers_name_the_hosts_that_hold_the_baseline_down() {
    let d = dir("outliers");
    let spec = small_spec(&d);
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "pools"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut seen = 0;
    for pool in v["pools"].as_array().unwrap() {
        let hosts = names(pool);
        for o in pool["outliers"].as_array().unwrap() {
            seen += 1;
            let n = names(o);
            assert_eq!(n.len() as u64, u(&o["hosts"]));
            assert!(2 * n.len() <= hosts.len(), "an outlier is a minority: {o}");
            assert!(n.iter().all(|h| hosts.contains(h)), "{o}");
            assert!(!o["gained"].as_array().unwrap().is_empty() || o["without_model"] != pool["baseline"]["model"]);
        }
    }
    assert!(seen > 0, "the small fleet has hosts with virtualization off, which hold their pools down");
}

#[test]
fn json_is_byte_identical_across_thread_counts_and_changes_with_the_seed() {
    let d = dir("determinism");
    let spec = small_spec(&d);
    let run = |threads: &str, seed: &str| {
        let o =
            cpufleet(&["simulate", "--spec", s(&spec), "--seed", seed, "--threads", threads, "--format", "json", "-q"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        o.stdout
    };
    let one = run("1", "7");
    assert_eq!(one, run("2", "7"), "1 vs 2 threads");
    assert_eq!(one, run("4", "7"), "1 vs 4 threads");
    assert_ne!(one, run("2", "8"), "another seed gives another fleet");
}

/// `simulate --spec SMALL --scenario migrate --inject-fault FAULT` (in a folder of its own,
/// `name`), as JSON: it exits 1 with violations, whose reproduce line ends with the fault, and the
/// same run without the fault exits 0. The JSON report, the faulty run's output, and its
/// arguments (the fault last).
fn injected(name: &str, fault: &str) -> (Value, Output, Vec<String>) {
    let spec = small_spec(&dir(name));
    let args: Vec<String> =
        ["simulate", "--spec", s(&spec), "--scenario", "migrate", "--inject-fault", fault].map(String::from).to_vec();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (v, o) = json_run(&argv);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let violations = v["invariant_violations"].as_array().unwrap();
    assert!(!violations.is_empty());
    assert!(violations[0]["reproduce"].as_str().unwrap().ends_with(&format!("--inject-fault {fault}")));
    // The same run without the fault holds every invariant.
    let clean = cpufleet(&argv[..5]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    (v, o, args)
}

/// The fast path skipping what a started CPU requires beyond its model is caught through the
/// binary, under the fast-path invariant only; without the fault the run holds.
#[test]
fn injected_fault_in_the_fast_path_is_caught_as_a_fast_path_disagreement() {
    let (v, _, _) = injected("fault-fast", "fast-skip-required");
    for x in v["invariant_violations"].as_array().unwrap() {
        assert_eq!(x["invariant"], "the fast path agrees with the naive reference model", "{x}");
    }
}

/// Starting guests against the raw host CPU (`virsh capabilities`) instead of the host's QEMU/KVM
/// host model is caught: the reference model's start path disagrees with what was started.
#[test]
fn injected_fault_starting_on_the_raw_host_cpu_is_caught() {
    let (v, _, _) = injected("fault-raw", "raw-host-start");
    let details: Vec<&str> = v["invariant_violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["invariant"] == "the fast path agrees with the naive reference model")
        .map(|x| x["detail"].as_str().unwrap())
        .collect();
    // A host-model guest started on the raw CPU lacks what KVM adds (`hypervisor`).
    assert!(
        details.iter().any(|d| d.contains("guest 'host-model'") && d.contains("hypervisor=require")),
        "{details:?}"
    );
}

#[test]
fn injected_fault_breaking_promotion_is_caught_as_an_invariant_violation() {
    let (v, o, args) = injected("fault", "break-promotion");
    let invariants = violated_invariants(&v);
    assert!(invariants.contains(&"promoted optional features stay require"), "{invariants:?}");
    assert!(invariants.contains(&"guest CPU never changes across live migrations"), "{invariants:?}");
    let repro = v["invariant_violations"][0]["reproduce"].as_str().unwrap();
    assert!(
        repro.starts_with("cpufleet simulate --spec ")
            && repro.ends_with("--scenario migrate --inject-fault break-promotion"),
        "{repro}"
    );
    let err = stderr(&o);
    assert!(err.contains("invariant violation") && err.contains("--inject-fault break-promotion"), "{err}");
    // Text output names the violations and the command.
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = cpufleet(&argv);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("VIOLATIONS") && stdout(&o).contains("reproduce: cpufleet simulate"));
}

#[test]
fn bad_specs_are_exit_2_with_the_file_and_the_problem() {
    let d = dir("bad");
    let cases: &[(&str, &str, &str)] = &[
        ("syntax.toml", "[[pool]\nname = 'x'\n", "syntax.toml: 1:"),
        ("model.toml", "[[profile]]\nname = \"P\"\nvendor = \"Intel\"\nyear = 2020\nmodel = \"Pentium-9000\"\nsignature = { family = 6, model = 1, stepping = 1 }\n", "unknown model 'Pentium-9000'"),
        ("feature.toml", "[[guest]]\nname = \"g\"\nweight = 1\nmode = \"custom\"\nmodel = \"Haswell\"\noptional = [\"turbo-boost\"]\n[[pool]]\nname = \"p\"\nhosts = 3\ngenerations = { Haswell = 1 }\n", "feature.toml: 6:13: guest 'g': optional: unknown feature 'turbo-boost'"),
        ("profile.toml", "[[pool]]\nname = \"p\"\nhosts = 3\ngenerations = { Pentium4 = 1 }\n", "unknown generation profile 'Pentium4'"),
        ("zero.toml", "[[pool]]\nname = \"p\"\nhosts = 0\ngenerations = { Haswell = 1 }\n", "zero.toml: 3:9: pool 'p': hosts = 0"),
        ("weights.toml", "[[pool]]\nname = \"p\"\nhosts = 5\ngenerations = { Haswell = 0, Rome = 0 }\n", "the generation weights sum to 0"),
        ("vendors.toml", "[[pool]]\nname = \"p\"\nhosts = 5\ngenerations = { Haswell = 1, Rome = 1 }\n", "mixes vendors"),
        ("unknown-key.toml", "[[pool]]\nname = \"p\"\nhost = 5\ngenerations = { Haswell = 1 }\n", "unknown field `host`"),
        ("nopools.toml", "guests = 3\n", "the spec has no [[pool]]"),
        ("share.toml", "[[microcode]]\nname = \"m\"\nremove = [\"hle\"]\nshare = 1.5\n[[pool]]\nname = \"p\"\nhosts = 3\ngenerations = { Haswell = 1 }\n", "share must be in 0..1"),
    ];
    for (name, text, want) in cases {
        let p = write(&d, name, text);
        for cmd in [vec!["simulate", "--spec", s(&p), "-q"], vec!["fleet", "gen", "--spec", s(&p), "--output", s(&d)]] {
            let o = cpufleet(&cmd);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{name}: {err}");
            assert!(err.starts_with(&format!("cpufleet: {}", s(&p))), "{name}: {err}");
            assert!(err.contains(want), "{name}: want {want:?} in {err}");
            assert_eq!(err.lines().count(), 1, "{name}: {err}");
            assert!(o.stdout.is_empty());
        }
    }
    let missing = d.join("missing.toml");
    let o = cpufleet(&["simulate", "--spec", s(&missing)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.toml: no such file or directory"), "{}", stderr(&o));
    let o = cpufleet(&["simulate", "--hosts", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--hosts 5: the fleet has 20 pools"), "{}", stderr(&o));
}

#[test]
fn fleet_gen_writes_pools_whose_baseline_is_the_simulators_and_virshs() {
    let d = dir("gen");
    let spec = small_spec(&d);
    let out = d.join("fleet");
    let o = cpufleet(&["fleet", "gen", "--spec", s(&spec), "--seed", "3", "--output", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (v, _) = json_run(&["simulate", "--spec", s(&spec), "--seed", "3", "--scenario", "pools"]);
    for p in v["pools"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let file = out.join(format!("{name}.xml"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.matches("<cpu>").count() as u64, u(&p["hosts"]), "{name}");
        assert!(text.contains("<arch>x86_64</arch>"));
        // `cpufleet baseline --migratable` of the generated hosts = the simulator's raw pool
        // baseline (the hypervisor one is of the hosts' QEMU/KVM host models).
        let o = cpufleet(&["baseline", "--migratable", s(&file)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), format!("{}\n", p["raw_baseline"]["cpu_xml"].as_str().unwrap()), "{name}");
        assert_ne!(p["baseline"]["cpu_xml"], p["raw_baseline"]["cpu_xml"], "{name}");
    }
    // The same seed writes the same files.
    let again = d.join("again");
    assert_eq!(
        cpufleet(&["fleet", "gen", "--spec", s(&spec), "--seed", "3", "--output", s(&again)]).status.code(),
        Some(0)
    );
    for name in ["intel-a", "intel-b", "amd"] {
        assert_eq!(
            std::fs::read(out.join(format!("{name}.xml"))).unwrap(),
            std::fs::read(again.join(format!("{name}.xml"))).unwrap()
        );
    }
    // libvirt's own baseline of a generated pool is byte-identical to ours.
    let virsh =
        Command::new("virsh").args(["-c", "test:///default", "cpu-baseline", s(&out.join("intel-a.xml"))]).output();
    match virsh {
        Ok(vo) if vo.status.success() => {
            let ours = cpufleet(&["baseline", s(&out.join("intel-a.xml"))]);
            assert_eq!(stdout(&ours), String::from_utf8_lossy(&vo.stdout));
        }
        _ => println!("SKIPPED: virsh (libvirt-clients) not available"),
    }
}

#[test]
fn html_report_is_self_contained_with_the_three_charts() {
    let d = dir("html");
    let spec = small_spec(&d);
    let html = d.join("report.html");
    let o = cpufleet(&["simulate", "--spec", s(&spec), "-q", "--html", s(&html)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.starts_with("<!DOCTYPE html>") && text.trim_end().ends_with("</html>"));
    assert!(text.contains("aria-label='pool by generation compatibility matrix'"));
    assert!(text.contains("aria-label='blocker histogram'"));
    assert!(text.contains("aria-label='upgrade: guests'"));
    // Nothing external: no script, no linked or sourced resource.
    for banned in ["<script", "<link", "src=", "href=", "url("] {
        assert!(!text.contains(banned), "{banned}");
    }
    // Written atomically: no temporary file left beside it.
    let left: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    // An unwritable destination is an I/O error (exit 2), not a panic.
    let o = cpufleet(&[
        "simulate",
        "--spec",
        s(&spec),
        "-q",
        "--scenario",
        "pools",
        "--html",
        s(&d.join("no/such/dir/r.html")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot write"), "{}", stderr(&o));
}

/// Every scenario under each libvirt release of the table: the invariants hold, the JSON names
/// the release, and the releases' answers differ where their maps do (from 11.3.0 on, hosts
/// report `-vN` models).
#[test]
fn every_scenario_runs_under_every_libvirt_release() {
    let d = dir("versions");
    let spec = small_spec(&d);
    let mut host_models = Vec::new();
    for version in cpufleet_engine::LibvirtVersion::NAMES {
        let (v, o) = json_run(&["simulate", "--libvirt", version, "--spec", s(&spec), "--check-all"]);
        assert_eq!(o.status.code(), Some(0), "{version}: {}", stderr(&o));
        assert_eq!(v["libvirt"], version);
        assert_eq!(u(&v["checks"]["violation_count"]), 0, "{version}");
        assert!(v["reproduce"].as_str().unwrap().contains(&format!("--libvirt {version}")));
        let out = d.join(format!("gen-{version}"));
        let o = cpufleet(&["fleet", "gen", "--libvirt", version, "--spec", s(&spec), "--output", s(&out)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        host_models.push(std::fs::read_to_string(out.join("intel-b.xml")).unwrap());
    }
    assert!(!host_models[0].contains("-v1</model>") && !host_models[0].contains("-v2</model>"));
    for m in &host_models[1..] {
        assert!(m.contains("<model>Cascadelake-Server-v"), "{}", &m[..400]);
    }
}

#[test]
fn swarm_runs_members_over_spec_variants_and_prints_reproducible_failures() {
    let o = cpufleet(&["simulate", "--swarm", "3", "--seed", "40", "--scenario", "migrate"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for seed in 40..43 {
        // Each line names the member's draws: its release, mixed pools, scenarios and rollout.
        let head = format!("swarm member seed {seed}: all invariants hold (");
        let at = out.find(&head).expect(&out);
        let member: Vec<&str> = out[at..].lines().take_while(|l| l.starts_with(&head) || l.starts_with("  ")).collect();
        let draws = member[1..].join(" ");
        assert!(draws.starts_with("  libvirt ") && draws.contains(", 400 hosts, 300 guests, "), "{member:?}");
        // migrate alone: no rollout (it is drawn for libvirt-upgrade only)
        assert!(draws.contains(" mixed-release pools   scenarios migrate") && !draws.contains("rollout"), "{member:?}");
    }
    assert!(out.lines().all(|l| l.len() <= 100), "{out}");
    assert!(out.ends_with("swarm: 3 members, 0 failed\n"), "{out}");
    // Members differ: each draws its own variant of the spec.
    let (v, _) = json_run(&["simulate", "--swarm", "2", "--seed", "40", "--scenario", "migrate"]);
    let checks: Vec<u64> = v["members"].as_array().unwrap().iter().map(|m| u(&m["checks"])).collect();
    assert_ne!(checks[0], checks[1], "{v}");
    // A fault is caught in every member, and each failure's command reproduces it alone.
    let args =
        ["simulate", "--swarm", "2", "--seed", "7", "--scenario", "migrate", "--inject-fault", "break-promotion"];
    let (v, o) = json_run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(u(&v["failed"]), 2);
    let m = &v["members"][1];
    let line = m["reproduce"].as_str().unwrap();
    assert!(line.starts_with("cpufleet simulate --swarm 1 --seed 8 "), "{line}");
    let argv: Vec<&str> = line.split(' ').skip(1).collect();
    let (again, o) = json_run(&argv);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(again["members"][0]["violations"], m["violations"]);
}

#[test]
fn plan_out_exports_each_domain_in_a_guest_format() {
    let d = dir("plan-export");
    let spec = small_spec(&d);
    let out = d.join("domains");
    let args = ["simulate", "--spec", s(&spec), "--scenario", "plan", "--plan-output", s(&out), "--export", "qemu-cpu"];
    let (v, o) = json_run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for (i, dom) in v["plan"]["domains"].as_array().unwrap().iter().enumerate() {
        // The same as `cpufleet export qemu-cpu` of the domain's XML.
        let xml = out.join(format!("domain-{}.xml", i + 1));
        let direct = cpufleet(&["export", "qemu-cpu", s(&xml)]);
        assert_eq!(direct.status.code(), Some(0), "{}", stderr(&direct));
        let got = std::fs::read_to_string(out.join(format!("domain-{}.qemu-cpu", i + 1))).unwrap();
        assert!(got.starts_with(dom["baseline"]["model"].as_str().unwrap()), "{got}");
        assert!(stdout(&direct).contains(got.trim_end()), "{got} vs {}", stdout(&direct));
    }
    // A per-host format cannot describe a domain's guest CPU: refused before the run.
    let args =
        ["simulate", "--spec", s(&spec), "--scenario", "plan", "--plan-output", s(&out), "--export", "nova-traits"];
    let o = cpufleet(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty() && stderr(&o).contains("per-host format"), "{}", stderr(&o));
}

#[test]
fn blockers_name_the_hosts_they_concern() {
    let d = dir("blocker-hosts");
    let spec = small_spec(&d);
    let (v, o) = json_run(&["simulate", "--spec", s(&spec), "--scenario", "migrate"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let all: Vec<String> = v["pools"].as_array().unwrap().iter().flat_map(names).collect();
    let rows = v["blockers"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["kind"] == "missing"), "{rows:?}");
    for r in rows {
        if r["kind"] == "vendor" || r["kind"] == "host-passthrough" {
            assert!(r.get("hosts").is_none(), "{r}");
            continue;
        }
        let n = names(r);
        assert!(u(&r["hosts"]) > 0 && n.len() as u64 == u(&r["hosts"]).min(20), "{r}");
        assert!(n.iter().all(|h| all.contains(h)), "{r}");
        // In fleet order: the first hosts of the fleet that it concerns.
        let pos: Vec<usize> = n.iter().map(|h| all.iter().position(|a| a == h).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{r}");
    }
}
