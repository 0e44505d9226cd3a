//! The libvirt-upgrade scenario through the `cpufleet` binary: the rollout on a small fleet in
//! both directions, determinism across thread counts, the flags in the reproduce line, and the
//! injected `ignore-version` fault caught by the cross-version invariants.

use serde_json::Value;
use std::process::Output;

#[path = "support/bin.rs"]
mod bin;
use bin::{cpufleet, stderr, stdout, violated_invariants};

const SMALL: [&str; 6] = ["--hosts", "400", "--guests", "300", "--migrations", "6000"];

fn run(extra: &[&str]) -> (Value, Output) {
    let mut args = vec!["simulate", "--scenario", "libvirt-upgrade", "--format", "json", "--quiet"];
    args.extend(SMALL);
    args.extend(extra);
    let o = cpufleet(&args);
    let v = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    (v, o)
}

#[test]
fn the_rollout_reports_every_step_direction_and_configuration() {
    let (v, o) = run(&["--upgrade-steps", "4"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let u = &v["libvirt_upgrade"];
    assert_eq!((u["from"].as_str(), u["to"].as_str()), (Some("9.0.0"), Some("11.3.0")));
    let steps = u["timeline"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    // Nobody upgraded at step 0, everybody at the end: no cross-version migration either time.
    for s in [&steps[0], &steps[4]] {
        for d in 0..2 {
            assert_eq!(s["directions"][d]["attempted"], 0);
        }
    }
    assert_eq!(steps[4]["hosts_new"], 400);
    // Mid-rollout, migrations cross in both directions. Host-model guests start on the QEMU
    // driver's host model, a guest decode that never names a `-vN` model (qemu-driver spec §5.1),
    // so 11.3.0's go back to 9.0.0 like 9.0.0's go forward: no name is unknown on either side.
    let mid = &steps[2]["directions"][1];
    assert!(mid["attempted"].as_u64().unwrap() > 0);
    let reasons: Vec<&str> = mid["reasons"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(!reasons.is_empty() && !reasons.contains(&"unknown-model"), "{reasons:?}");
    let configs = u["configurations"].as_array().unwrap();
    let host_model = configs.iter().find(|c| c["name"] == "host-model").unwrap();
    assert_eq!(host_model["fully_mobile"], true, "{host_model}");
    let passthrough = configs.iter().find(|c| c["name"] == "host-passthrough").unwrap();
    assert_eq!(passthrough["fully_mobile"], true, "hardware identity does not depend on the version");
    assert!(v["checks"]["cross_version_checked"].as_u64().unwrap() > 0);
}

#[test]
fn the_reverse_rollout_goes_from_11_3_to_9_0() {
    let (v, o) = run(&["--reverse", "--upgrade-order", "random"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let u = &v["libvirt_upgrade"];
    assert_eq!(
        (u["from"].as_str(), u["to"].as_str(), u["order"].as_str()),
        (Some("11.3.0"), Some("9.0.0"), Some("random"))
    );
    // Guests started on the 11.3.0 hosts (old here) are refused by 9.0.0 (new) by name.
    let refused: u64 = u["timeline"].as_array().unwrap()[1..5]
        .iter()
        .flat_map(|s| s["directions"][0]["reasons"].as_array().unwrap().clone())
        .filter(|r| r["reason"] == "unknown-model")
        .map(|r| r["refusals"].as_u64().unwrap())
        .sum();
    assert!(refused > 0);
    assert!(v["reproduce"].as_str().unwrap().ends_with("--scenario libvirt-upgrade --upgrade-order random --reverse"));
}

#[test]
fn json_is_byte_identical_across_thread_counts() {
    let (a, b) = (
        run(&["--threads", "1", "--upgrade-order", "generation"]),
        run(&["--threads", "4", "--upgrade-order", "generation"]),
    );
    assert_eq!(stdout(&a.1), stdout(&b.1));
    let other_seed = run(&["--threads", "4", "--upgrade-order", "generation", "--seed", "2"]);
    assert_ne!(stdout(&a.1), stdout(&other_seed.1));
}

#[test]
fn ignoring_the_destination_version_is_caught() {
    let (v, o) = run(&["--inject-fault", "ignore-version"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let invariants = violated_invariants(&v);
    assert!(
        invariants
            .contains(&"a migration accepted across libvirt versions is one the destination version's compare accepts"),
        "{invariants:?}"
    );
    assert!(invariants.contains(&"no accepted guest uses a model or feature name unknown to its host's version"));
}

/// Any two releases, either way: 11.3.0 → 12.9.0 on the default configurations (whose guests
/// cross by name both ways: 12.9.0 reads every 11.3.0 name), and the rollback 12.9.0 → 11.3.0
/// of a guest pinned to a model only 12.9.0's map has (`EPYC-Rome-v5`), refused by name.
#[test]
fn rollouts_between_any_two_releases() {
    let (v, o) = run(&["--upgrade-from", "11.3.0", "--upgrade-to", "12.9.0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let u = &v["libvirt_upgrade"];
    assert_eq!(
        (u["from"].as_str(), u["to"].as_str(), u["reverse"].as_bool()),
        (Some("11.3.0"), Some("12.9.0"), Some(false))
    );
    assert!(v["reproduce"].as_str().unwrap().ends_with("--upgrade-from 11.3.0 --upgrade-to 12.9.0"));
    let mid = &u["timeline"].as_array().unwrap()[2]["directions"];
    assert!(mid[0]["attempted"].as_u64().unwrap() > 0 && mid[1]["attempted"].as_u64().unwrap() > 0, "{mid}");
    for c in u["configurations"].as_array().unwrap() {
        assert!(
            c["reasons"].as_array().unwrap().iter().all(|r| !r["reason"].as_str().unwrap().starts_with("unknown")),
            "{c}"
        );
    }

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("rollout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("rome-v5.toml");
    let default = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/fleet.toml")).unwrap();
    std::fs::write(
        &spec,
        format!("{default}\n[[guest]]\nname = \"rome-v5\"\nweight = 10\nmode = \"custom\"\nmodel = \"EPYC-Rome-v5\"\n"),
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let (v, o) = run(&["--libvirt", "12.9.0", "--spec", spec, "--upgrade-from", "12.9.0", "--upgrade-to", "11.3.0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let u = &v["libvirt_upgrade"];
    assert_eq!(u["reverse"], true);
    let configs = u["configurations"].as_array().unwrap();
    let rome = configs.iter().find(|c| c["name"] == "rome-v5").unwrap();
    assert_eq!(rome["fully_mobile"], false, "{rome}");
    assert_eq!(rome["example"], "unknown CPU model EPYC-Rome-v5 on libvirt 11.3.0", "{rome}");
    assert!(rome["recommendation"].as_str().unwrap().contains("a model both versions know"), "{rome}");
    let _ = std::fs::remove_dir_all(&dir);
    // The same rollout with both ends equal is refused before any work.
    let o =
        cpufleet(&["simulate", "--scenario", "libvirt-upgrade", "--upgrade-from", "12.9.0", "--upgrade-to", "12.9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--upgrade-from and --upgrade-to are both 12.9.0"), "{}", stderr(&o));
}

/// A configuration none of whose guests starts is "fix first", with libvirt's reason, ahead of
/// any survival claim: not fully mobile, no recommendation, listed before the rollout's tables.
/// Which ones never start is checked against the migrate scenario's own start of the same
/// guests (its per-configuration `started`).
#[test]
fn configurations_that_never_start_are_fix_first_before_any_survival_claim() {
    let (v, o) = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut args = vec!["simulate", "--scenario", "migrate", "--format", "json", "--quiet"];
    args.extend(SMALL);
    let m: Value = serde_json::from_str(&stdout(&cpufleet(&args))).unwrap();
    let configs = v["libvirt_upgrade"]["configurations"].as_array().unwrap();
    let mut fixes = 0;
    for c in configs {
        let started = m["configurations"].as_array().unwrap().iter().find(|x| x["name"] == c["name"]).unwrap();
        assert_eq!((&c["guests"], &c["started"]), (&started["guests"], &started["started"]), "{}", c["name"]);
        let never = started["guests"].as_u64().unwrap() > 0 && started["started"] == 0;
        assert_eq!(c["fix_first"].is_string(), never, "{c}");
        if never {
            fixes += 1;
            assert_eq!(c["fully_mobile"], false, "no survival claim: {c}");
            assert!(c["recommendation"].is_null(), "{c}");
            let reason = started["top_start_failure"].as_str().unwrap_or_default().to_string();
            assert!(!reason.is_empty() && c["fix_first"].as_str().unwrap().contains("none of its"), "{c}");
        }
    }
    let named = configs.iter().find(|c| c["name"] == "named+optional").unwrap();
    assert!(named["fix_first"].as_str().unwrap().contains("forbidden feature 'hypervisor'"), "{named}");
    assert!(fixes >= 1);
    // The text: the fix-first list comes before the step table, the row says so.
    let mut text_args = vec!["simulate", "--scenario", "libvirt-upgrade", "--quiet"];
    text_args.extend(SMALL);
    let t = stdout(&cpufleet(&text_args));
    let (fix, table) = (t.find("fix first: ").unwrap(), t.find("step  hosts new").unwrap());
    assert!(fix < table, "{t}");
    // The row points at the fix-first line above it (which names the reason).
    let row = t.lines().find(|l| l.starts_with("named+optional ") && l.contains("its guests never start")).unwrap();
    assert!(row.contains("fix first") && !row.contains("none needed"), "{row}");
}
