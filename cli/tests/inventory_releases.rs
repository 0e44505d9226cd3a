//! `cpufleet simulate --inventory DIR` with hosts on their own libvirt release (issues 22.2 and
//! 25.6): an inventory built here from the libvirt 9.0.0 and 11.3.0 packs (`virsh capabilities`
//! host CPUs written by 9.0.0, `<cpudata>` CPUID dumps, and one host CPU as 11.3.0 writes it,
//! which names a `-v1` model 9.0.0 does not know), each host with a `HOST.meta.toml` naming its
//! release. The MIXED FLEET section runs with each host's release, libvirt-upgrade runs on the
//! inventory, and the host 9.0.0 cannot read is named with the reason. One name the report says
//! 9.0.0 refuses is checked against 9.0.0's own virsh (test driver).

#[path = "support/bin.rs"]
mod bin;
#[path = "../../engine/tests/common/releases.rs"]
mod releases;
#[path = "support/inventory.rs"]
mod support;

use bin::{cpufleet, reasons, stderr, stdout, version_hosts};
use cpufleet_engine::LibvirtVersion;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::TempDir;

/// The two packs' cputestdata folders, or None (SKIPPED) when absent.
fn packs() -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    let (p9, p11) = (root.join("libvirt-9.0.0/cputestdata"), root.join("libvirt-11.3.0/cputestdata"));
    if p9.is_dir() && p11.is_dir() {
        return Some((p9, p11));
    }
    assert_ne!(std::env::var("CPUFLEET_REQUIRE_CONFORMANCE").as_deref(), Ok("1"), "conformance packs missing");
    println!("SKIPPED: ../shared/conformance/libvirt-{{9.0.0,11.3.0}} absent");
    None
}

fn meta(libvirt: &str) -> String {
    format!(
        "format = 1\nlibvirt = \"{libvirt}\"\nhypervisor = \"QEMU\"\nhypervisor_version = \"7.2.0\"\nhostname = \"h\"\n\
         collected = \"2026-12-06T00:00:00Z\"\nuri = \"qemu+ssh://h/system\"\ndomcaps = \"none: test\"\n"
    )
}

/// Writes `DIR/POOL/HOST.xml` (a copy of `src`) and its metadata naming `libvirt`.
fn host(dir: &Path, pool: &str, name: &str, src: &Path, libvirt: &str) {
    let p = dir.join(pool);
    std::fs::create_dir_all(&p).unwrap();
    let text = std::fs::read_to_string(src).unwrap();
    let text = if text.contains("<cpudata") { text } else { support::capabilities(&text, name.len()) };
    std::fs::write(p.join(format!("{name}.xml")), text).unwrap();
    std::fs::write(p.join(format!("{name}.meta.toml")), meta(libvirt)).unwrap();
}

/// Pool `p9`: three hosts as libvirt 9.0.0's `virsh capabilities` shows them and one CPUID
/// dump, all on 9.0.0. Pool `p11`: three CPUID dumps and one host CPU as 11.3.0 writes it
/// (`Skylake-Server-v1`, unknown to 9.0.0: the host 9.0.0 cannot read), all on 11.3.0.
fn build(p9: &Path, p11: &Path, name: &str) -> TempDir {
    let dir = TempDir::new(name);
    for (i, m) in ["Xeon-Gold-6148", "Xeon-E5-2650-v4", "Xeon-Platinum-8268"].iter().enumerate() {
        host(&dir.0, "p9", &format!("h9-{i}"), &p9.join(format!("x86_64-cpuid-{m}-host.xml")), "9.0.0");
    }
    host(&dir.0, "p9", "h9-dump", &p9.join("x86_64-cpuid-Xeon-Gold-6148.xml"), "9.0.0");
    for (i, m) in ["Cooperlake", "Ice-Lake-Server", "Xeon-Gold-6148"].iter().enumerate() {
        host(&dir.0, "p11", &format!("h11-{i}"), &p11.join(format!("x86_64-cpuid-{m}.xml")), "11.3.0");
    }
    host(&dir.0, "p11", "h11-caps", &p11.join("x86_64-cpuid-Xeon-Gold-6148-host.xml"), "11.3.0");
    // Guests: host-model on an 11.3.0 host, a custom Broadwell on a 9.0.0 host.
    for (pool, h, name, cpu) in [
        ("p11", "h11-0", "vm-hm", "  <cpu mode='host-model'/>\n"),
        (
            "p9",
            "h9-0",
            "vm-bdw",
            "  <cpu mode='custom' match='exact'>\n    <model fallback='forbid'>Broadwell</model>\n  </cpu>\n",
        ),
    ] {
        let g = dir.0.join(pool).join(h);
        std::fs::create_dir_all(&g).unwrap();
        std::fs::write(g.join(format!("{name}.xml")), support::domain(name, cpu)).unwrap();
    }
    dir
}

fn simulate(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["simulate", "--inventory", dir.to_str().unwrap(), "-q", "--format", "json"];
    args.extend_from_slice(extra);
    let o = cpufleet(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn notes(r: &Value) -> Vec<String> {
    r["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect()
}

#[test]
fn mixed_inventory_runs_each_host_under_its_own_release() {
    let Some((p9, p11)) = packs() else { return };
    let inv = build(&p9, &p11, "releases-mixed");
    let r = simulate(&inv.0, &["--libvirt", "11.3.0", "--scenario", "migrate"]);
    let all = notes(&r).join("\n");
    // The old behaviour (every host under one release) is gone.
    assert!(!all.contains("not simulated yet"), "{all}");
    let m = &r["mixed_fleet"];
    assert!(m.is_object(), "no mixed_fleet section: {all}");
    // Each host on its own release; h11-caps is left out (9.0.0 cannot read it), by name.
    assert_eq!(version_hosts(m), [("9.0.0", 4), ("11.3.0", 3)], "{all}");
    let left = notes(&r).into_iter().find(|n| n.starts_with("MIXED FLEET leaves out")).expect(&all);
    assert!(
        left.contains("p11/h11-caps") && left.contains("Skylake-Server-v1") && left.contains("libvirt 9.0.0"),
        "{left}"
    );
    assert!(!left.contains("h11-0") && !left.contains("h9-"), "{left}");
    // Cross-release migrations were attempted both ways, and some refused for a name the
    // destination's release does not know or a feature its host lacks.
    let dirs = m["migrations"]["directions"].as_array().unwrap();
    let (fwd, back) = (&dirs[0], &dirs[1]);
    assert!(fwd["attempted"].as_u64().unwrap() > 0 && back["attempted"].as_u64().unwrap() > 0, "{dirs:?}");
    let cross: Vec<(String, u64)> = reasons(fwd).into_iter().chain(reasons(back)).collect();
    assert!(cross.iter().any(|(r, n)| (r == "unknown-feature" || r == "unknown-model") && *n > 0), "{cross:?}");
    assert!(cross.iter().any(|(r, n)| r == "missing" && *n > 0), "{cross:?}");
    // The single-release migrate section does not run beside it (as for a synthetic mixed fleet).
    assert_eq!(r["migrations"]["attempted"].as_u64(), Some(0));
    // The inventory's own guests start on their host under its release, and every other kept
    // host answers under its own: 9.0.0 cannot read what host-model gives on the 11.3.0 host.
    let rows = r["inventory_guests"]["rows"].as_array().unwrap();
    let own = |name: &str| rows.iter().find(|g| g["name"] == name).unwrap()["own_release"].clone();
    let hm = own("vm-hm");
    assert_eq!((hm["libvirt"].as_str(), hm["start_error"].is_null()), (Some("11.3.0"), true), "{hm}");
    let dest =
        |o: &Value, v: &str| o["destinations"].as_array().unwrap().iter().find(|d| d["libvirt"] == v).unwrap().clone();
    let to9 = dest(&hm, "9.0.0");
    assert_eq!((to9["accept"].as_u64(), to9["refuse"].as_u64()), (Some(0), Some(4)), "{to9}");
    assert_eq!(reasons(&to9), [("unknown-feature".to_string(), 4)], "{to9}");
    assert!(to9["unknown"].as_str().unwrap().starts_with("unknown CPU feature "), "{to9}");
    let to11 = dest(&hm, "11.3.0");
    assert_eq!(to11["accept"].as_u64().unwrap() + to11["refuse"].as_u64().unwrap(), 2, "{to11}");
    let bdw = own("vm-bdw");
    assert_eq!(bdw["libvirt"].as_str(), Some("9.0.0"));
    let total: u64 = bdw["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["accept"].as_u64().unwrap() + d["refuse"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 6, "every other kept host answers: {bdw}");
    assert_eq!(r["invariant_violations"].as_array().map(Vec::len), Some(0));
}

#[test]
fn a_name_the_report_says_9_0_0_refuses_is_unknown_to_9_0_0s_virsh() {
    let Some((p9, p11)) = packs() else { return };
    let inv = build(&p9, &p11, "releases-virsh");
    let r = simulate(&inv.0, &["--libvirt", "11.3.0", "--scenario", "migrate"]);
    let example = r["mixed_fleet"]["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["example"].as_str())
        .find(|e| e.starts_with("unknown CPU feature ") && e.ends_with(" on libvirt 9.0.0"))
        .expect("a refusal by an unknown feature name on 9.0.0")
        .to_string();
    let name = example.trim_start_matches("unknown CPU feature ").trim_end_matches(" on libvirt 9.0.0");
    let o9 = releases::oracles(LibvirtVersion::V9_0_0);
    let virsh9 = std::env::var(o9.virsh_env()).ok().or(o9.virsh_default.map(String::from)).unwrap_or("virsh".into());
    let o11 = releases::oracles(LibvirtVersion::V11_3_0);
    let virsh11 = std::env::var(o11.virsh_env()).ok().or(o11.virsh_default.map(String::from)).unwrap_or("virsh".into());
    let present = |v: &str| Command::new(v).arg("--version").output().is_ok_and(|o| o.status.success());
    if !present(&virsh9) || !present(&virsh11) {
        assert_ne!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref(), Ok("1"), "{virsh9} or {virsh11} missing");
        println!("SKIPPED the unknown-name cross-check: {virsh9} or {virsh11} absent ({})", o11.virsh_install);
        return;
    }
    // A host CPU naming the feature: 9.0.0's libvirt does not know it, 11.3.0's does.
    let file = inv.0.join("named.xml");
    std::fs::write(
        &file,
        format!("<cpu>\n  <arch>x86_64</arch>\n  <model>Skylake-Server</model>\n  <vendor>Intel</vendor>\n  <feature name='{name}'/>\n</cpu>\n"),
    )
    .unwrap();
    let run = |v: &str| {
        Command::new(v).args(["-c", "test:///default", "cpu-baseline"]).arg(&file).env("LC_ALL", "C").output().unwrap()
    };
    let (a, b) = (run(&virsh9), run(&virsh11));
    let e9 = String::from_utf8_lossy(&a.stderr).to_string();
    assert!(!a.status.success() && e9.contains(&format!("Unknown CPU feature {name}")), "9.0.0: {e9}");
    assert!(b.status.success(), "11.3.0: {}", String::from_utf8_lossy(&b.stderr));
    println!("cross-check: {example}: libvirt 9.0.0's virsh says {:?}; 11.3.0's accepts it", e9.trim());
}

#[test]
fn libvirt_upgrade_runs_on_the_inventory_and_names_the_host_left_out() {
    let Some((p9, p11)) = packs() else { return };
    let inv = build(&p9, &p11, "releases-upgrade");
    let r = simulate(&inv.0, &["--libvirt", "11.3.0", "--scenario", "libvirt-upgrade"]);
    let all = notes(&r).join("\n");
    assert!(!all.contains("a real inventory has none"), "{all}");
    let u = &r["libvirt_upgrade"];
    assert!(u.is_object(), "no libvirt_upgrade section: {all}");
    assert_eq!((u["from"].as_str(), u["to"].as_str()), (Some("9.0.0"), Some("11.3.0")));
    // The sections a synthetic fleet's report has.
    for k in ["timeline", "configurations", "steps", "order"] {
        assert!(!u[k].is_null(), "{k} missing: {u}");
    }
    let timeline = u["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 6, "steps 0..=5");
    // The 11.3.0 hosts are on 11.3.0 from the start; at the end all 7 kept hosts are.
    let new_at = |i: usize| timeline[i]["hosts_new"].as_u64().unwrap();
    assert_eq!((new_at(0), new_at(5)), (3, 7));
    let cross: u64 = timeline.iter().map(|s| s["directions"][0]["attempted"].as_u64().unwrap()).sum();
    assert!(cross > 0, "cross-release migrations during the rollout");
    let left = notes(&r).into_iter().find(|n| n.starts_with("libvirt-upgrade leaves out")).expect(&all);
    assert!(left.contains("p11/h11-caps") && left.contains("libvirt 9.0.0 cannot read it"), "{left}");
    assert!(all.contains("each host starts on the release its metadata names"), "{all}");
    assert_eq!(r["invariant_violations"].as_array().map(Vec::len), Some(0));
}

#[test]
fn libvirt_upgrade_says_why_when_no_host_can_be_read_by_the_rollout() {
    let Some((_, p11)) = packs() else { return };
    let dir = TempDir::new("releases-none");
    host(&dir.0, "p", "a", &p11.join("x86_64-cpuid-Xeon-Gold-6148-host.xml"), "11.3.0");
    host(&dir.0, "p", "b", &p11.join("x86_64-cpuid-Cooperlake-host.xml"), "11.3.0");
    let r = simulate(&dir.0, &["--scenario", "libvirt-upgrade"]);
    assert!(r["libvirt_upgrade"].is_null());
    let all = notes(&r).join("\n");
    let why = notes(&r).into_iter().find(|n| n.starts_with("the libvirt-upgrade scenario did not run")).expect(&all);
    assert!(why.contains("(9.0.0, 11.3.0)") && why.contains("p/a") && why.contains("p/b"), "{why}");
    assert!(why.contains("Unknown CPU model Skylake-Server-v1") && why.contains("Cooperlake-v1"), "{why}");
    // The same inventory rolled between two releases that read it runs.
    let r = simulate(&dir.0, &["--scenario", "libvirt-upgrade", "--upgrade-from", "11.3.0", "--upgrade-to", "12.9.0"]);
    assert!(r["libvirt_upgrade"].is_object(), "{}", notes(&r).join("\n"));
}

/// `build`'s inventory plus pool `mix`: host `a` on 9.0.0 and host `b` on 11.3.0 (two CPUID
/// dumps both releases read), whose baseline the two releases compute differently.
fn build_with_mixed_pool(p9: &Path, p11: &Path, name: &str) -> TempDir {
    let dir = build(p9, p11, name);
    host(&dir.0, "mix", "a", &p9.join("x86_64-cpuid-Xeon-E5-2650-v4.xml"), "9.0.0");
    host(&dir.0, "mix", "b", &p11.join("x86_64-cpuid-Ice-Lake-Server.xml"), "11.3.0");
    dir
}

/// A new inventory with the pools `pools` of `dir` (with their metadata when `meta`).
fn sub(dir: &Path, pools: &[&str], meta: bool, name: &str) -> TempDir {
    fn copy(from: &Path, to: &Path, meta: bool) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let (src, dst) = (e.path(), to.join(e.file_name()));
            if src.is_dir() {
                copy(&src, &dst, meta);
            } else if meta || !e.file_name().to_string_lossy().ends_with(".meta.toml") {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    let out = TempDir::new(name);
    for p in pools {
        copy(&dir.join(p), &out.0.join(p), meta);
    }
    out
}

/// `cpufleet ARGS --format json`, exit 0 or 1, parsed.
fn json_of(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let o = cpufleet(&a);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{args:?}: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)))
}

/// The pool named `name` of a JSON answer's `pools`.
fn pool<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["pools"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no pool {name}: {v}"))
}

/// `compare --inventory` answers each host as its own release does: every host of pool p9
/// (all on 9.0.0) as `--libvirt 9.0.0` answers on that pool alone, every host of p11 as
/// `--libvirt 11.3.0` does, in both views and with `--on` a host of the other release; the
/// note says so. Read under one release, h11-caps (Skylake-Server-v1) stops 9.0.0 altogether.
#[test]
fn compare_answers_each_host_under_its_own_release() {
    let Some((p9, p11)) = packs() else { return };
    let all = build_with_mixed_pool(&p9, &p11, "releases-compare");
    let (s9, s11) =
        (sub(&all.0, &["p9"], true, "releases-compare-9"), sub(&all.0, &["p11"], true, "releases-compare-11"));
    let guest = all.0.join("guest.xml");
    std::fs::write(
        &guest,
        support::domain(
            "g",
            "  <cpu mode='custom' match='exact'>\n    <model fallback='forbid'>Broadwell</model>\n  </cpu>\n",
        ),
    )
    .unwrap();
    let g = guest.to_str().unwrap();
    let d = |t: &TempDir| t.0.to_str().unwrap().to_string();
    for view in ["guest", "raw"] {
        for lv in ["9.0.0", "11.3.0"] {
            let whole = json_of(&["compare", "--inventory", &d(&all), g, "--view", view, "--libvirt", lv]);
            let notes = whole["notes"].to_string();
            assert!(notes.contains("9.0.0, 11.3.0") && notes.contains("HOST.meta.toml"), "{notes}");
            assert_eq!(
                whole["releases"],
                serde_json::json!([{"libvirt": "9.0.0", "hosts": 5}, {"libvirt": "11.3.0", "hosts": 5}])
            );
            for (pool_name, s, v) in [("p9", &s9, "9.0.0"), ("p11", &s11, "11.3.0")] {
                let alone = json_of(&["compare", "--inventory", &d(s), g, "--view", view, "--libvirt", v]);
                assert_eq!(
                    pool(&whole, pool_name),
                    pool(&alone, pool_name),
                    "{view} view, --libvirt {lv}, pool {pool_name}"
                );
            }
            let hosts = |p: &str| pool(&whole, p)["hosts"].as_array().unwrap().clone();
            assert!(hosts("mix").iter().map(|h| h["libvirt"].as_str().unwrap()).eq(["9.0.0", "11.3.0"]));
        }
        // Started on an 11.3.0 host, the guest reaches 9.0.0's hosts as an incoming CPU: each
        // answers (no error for the whole command), and the 11.3.0 hosts as on 11.3.0 alone.
        let whole = json_of(&["compare", "--inventory", &d(&all), g, "--view", view, "--on", "p11/h11-0"]);
        let alone = json_of(&["compare", "--inventory", &d(&s11), g, "--view", view, "--on", "p11/h11-0"]);
        assert_eq!(pool(&whole, "p11"), pool(&alone, "p11"), "{view} view --on");
        assert_eq!(pool(&whole, "p9")["total"].as_u64(), Some(4));
    }
    // One release for every host (the old reading): 9.0.0 cannot read h11-caps at all.
    let flat = sub(&all.0, &["p9", "p11"], false, "releases-compare-flat");
    let o = cpufleet(&["compare", "--inventory", &d(&flat), g, "--libvirt", "9.0.0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Skylake-Server-v1"), "{}", stderr(&o));
}

/// `fleet show --inventory` reads each host with its own release: its pools as each release
/// shows them alone (the CPU ids aside, which number the whole inventory's CPUs).
#[test]
fn fleet_show_reads_each_host_under_its_own_release() {
    let Some((p9, p11)) = packs() else { return };
    let all = build_with_mixed_pool(&p9, &p11, "releases-show");
    let strip = |mut p: Value| {
        for h in p["hosts"].as_array_mut().unwrap() {
            h.as_object_mut().unwrap().remove("cpu");
        }
        p
    };
    let whole = json_of(&["fleet", "show", "--inventory", all.0.to_str().unwrap(), "--libvirt", "9.0.0"]);
    assert!(whole["notes"].to_string().contains("9.0.0, 11.3.0"), "{}", whole["notes"]);
    for (p, v) in [("p9", "9.0.0"), ("p11", "11.3.0")] {
        let s = sub(&all.0, &[p], true, &format!("releases-show-{p}"));
        let alone = json_of(&["fleet", "show", "--inventory", s.0.to_str().unwrap(), "--libvirt", v]);
        assert_eq!(strip(pool(&whole, p).clone()), strip(pool(&alone, p).clone()), "pool {p}");
    }
    let caps = pool(&whole, "p11")["models"].to_string();
    assert!(caps.contains("Skylake-Server-v1"), "{caps}");
}

/// `export --inventory`: the per-host formats by each host's release, the guest formats (a
/// pool's baseline) by the pool's oldest release, named in a note; pool `mix` (9.0.0 and
/// 11.3.0) gets 9.0.0's baseline, which differs from 11.3.0's.
#[test]
fn export_computes_hosts_by_their_release_and_a_mixed_pool_by_its_oldest() {
    let Some((p9, p11)) = packs() else { return };
    let all = build_with_mixed_pool(&p9, &p11, "releases-export");
    let d = all.0.to_str().unwrap();
    let exports = |v: &Value| -> Vec<(String, Value)> {
        v["exports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.as_object_mut().unwrap().remove("source");
                (e["name"].as_str().unwrap().to_string(), e)
            })
            .collect()
    };
    let traits = exports(&json_of(&["export", "nova-traits", "--inventory", d, "--libvirt", "9.0.0"]));
    for (p, v) in [("p9", "9.0.0"), ("p11", "11.3.0")] {
        let s = sub(&all.0, &[p], true, &format!("releases-export-{p}"));
        let alone = exports(&json_of(&["export", "nova-traits", "--inventory", s.0.to_str().unwrap(), "--libvirt", v]));
        let mine: Vec<_> = traits.iter().filter(|(n, _)| n.starts_with(&format!("{p}/"))).cloned().collect();
        assert_eq!(mine, alone, "pool {p}");
    }
    let whole = json_of(&["export", "qemu-cpu", "--inventory", d]);
    let notes = whole["notes"].to_string();
    assert!(
        notes.contains("pool mix: its hosts run libvirt 9.0.0, 11.3.0") && notes.contains("by libvirt 9.0.0"),
        "{notes}"
    );
    let got = exports(&whole);
    let mix = sub(&all.0, &["mix"], false, "releases-export-mix");
    let by =
        |v: &str| exports(&json_of(&["export", "qemu-cpu", "--inventory", mix.0.to_str().unwrap(), "--libvirt", v]));
    let (by9, by11) = (by("9.0.0"), by("11.3.0"));
    assert_ne!(by9, by11, "the releases' baselines of pool mix differ (else this test cannot tell them apart)");
    assert_eq!(got.iter().find(|(n, _)| n == "mix"), by9.first());
    let s11 = sub(&all.0, &["p11"], false, "releases-export-p11");
    let p11 = exports(&json_of(&["export", "qemu-cpu", "--inventory", s11.0.to_str().unwrap(), "--libvirt", "11.3.0"]));
    assert_eq!(got.iter().find(|(n, _)| n == "p11"), p11.first());
}
