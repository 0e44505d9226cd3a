//! Issue 25 finding 1 against the real QEMU drivers of every row of the oracle table: an export
//! of a pool's baseline is `virsh hypervisor-cpu-baseline --migratable` of the pool's host
//! models (what guests get), not the raw `cpu-baseline`. The pool: the driver's own
//! domcapabilities and two copies whose host-model CPU lacks a few of its features (hosts of the
//! same QEMU with a poorer CPU; which features is drawn from the UTC day, `CPUFLEET_EXPORT_SEED`
//! replays one).
//!
//! For each accelerator (TCG, and KVM where /dev/kvm works):
//! - `export kubevirt-cpu --baseline --migratable --domcaps D D D1 D2` has the model and features
//!   (with policies, in order) of virsh's baseline of the three documents;
//! - `export qemu-cpu` of the same is the `-cpu` of `virsh domxml-to-native` of a domain with
//!   virsh's baseline as its CPU;
//! - Proxmox's `-cpu` for the same baseline's entry (`-cpu REPORTED,FLAGS` after qemu-server's own
//!   defaults) sets every feature as libvirt's `-cpu` does;
//! - KVM only (an inventory holds KVM hosts): `export kubevirt-cpu --inventory` of a pool whose
//!   hosts are D, D1, D2 gives the same, and `export nova --inventory`'s flags pass Nova's start-up
//!   check, `virsh hypervisor-cpu-compare` of the host (D, the driver's own) and cpufleet's
//!   `hypervisor-compare` of the others; `export kubevirt-labels --caps` of D is what the
//!   node-labeller's rules give from the real driver's answers, `cpu-timer` included. Without
//!   /dev/kvm these KVM checks do not run, and the summary line says so.

#[path = "support/diffgen.rs"]
#[allow(dead_code)]
mod diffgen;
#[path = "support/qemu_oracle.rs"]
#[allow(dead_code)]
mod qemu_oracle;
#[path = "../../engine/tests/common/releases.rs"]
#[macro_use]
mod releases;
#[path = "../../engine/tests/common/summary.rs"]
mod summary;

use diffgen::Rng;
use qemu_oracle::{write, Oracle, Stack};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CPUFLEET: &str = env!("CARGO_BIN_EXE_cpufleet");

fn cpufleet(args: &[&str]) -> Output {
    Command::new(CPUFLEET).args(args).output().expect("run cpufleet")
}

fn skip(what: &str, why: &str) {
    summary::summary(&format!("SKIPPED {what}: {why}\n"));
    assert!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref() != Ok("1"), "CPUFLEET_REQUIRE_VIRSH=1: {why}");
}

fn strip_decl(s: &str) -> &str {
    match s.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(s, |(_, r)| r.trim_start()),
        None => s,
    }
}

/// `(name, policy)` of every `<feature>` of a CPU's XML, in order, and its model.
fn cpu_parts(xml: &str) -> (String, Vec<(String, String)>) {
    let model = xml.split("<model").nth(1).and_then(|r| r.split('>').nth(1)).and_then(|r| r.split('<').next());
    let features = xml
        .lines()
        .filter(|l| l.contains("<feature "))
        .map(|l| {
            let attr = |a: &str| l.split(&format!("{a}='")).nth(1).and_then(|r| r.split('\'').next()).unwrap_or("");
            (attr("name").to_string(), attr("policy").to_string())
        })
        .collect();
    (model.unwrap_or_default().to_string(), features)
}

fn export_parts(v: &Value) -> (String, Vec<(String, String)>) {
    let cpu = &v["exports"][0]["domain"]["cpu"];
    let features = cpu["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| (f["name"].as_str().expect("name").to_string(), f["policy"].as_str().expect("policy").to_string()))
        .collect();
    (cpu["model"].as_str().expect("model").to_string(), features)
}

/// A copy of domcapabilities `text` whose host-model CPU lacks the required features `drop`.
fn poorer(text: &str, drop: &[String]) -> String {
    let i = text.find("<mode name='host-model'").expect("host-model");
    let j = i + text[i..].find("</mode>").expect("end of host-model");
    let mut mode = text[i..j].to_string();
    for f in drop {
        mode = mode.replace(&format!("<feature policy='require' name='{f}'/>"), "");
    }
    format!("{}{mode}{}", &text[..i], &text[j..])
}

fn guest_view(stack: Stack) {
    let what = format!("export guest view {}", stack.tag());
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance").join(stack.pack());
    if !pack.is_dir() {
        return skip(&what, &format!("{} is missing", pack.display()));
    }
    let oracle = match Oracle::new(stack, "export-view", Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(o) => o,
        Err(why) => return skip(&what, &why),
    };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("export-view-{}", stack.id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("tmp");
    let release = stack.version().as_str();
    let mut rng = Rng::new(releases::date_seed("CPUFLEET_EXPORT_SEED", 25));
    let mut lines = Vec::new();
    for virttype in ["qemu", "kvm"] {
        let o = oracle.one(&["domcapabilities", "--virttype", virttype]);
        if !o.ok || !o.stdout.contains("<mode name='host-model' supported='yes'>") {
            lines.push(format!("{virttype}: not available here"));
            continue;
        }
        let dir = root.join(virttype);
        std::fs::create_dir_all(&dir).expect("tmp");
        let emulator = o.stdout.split("<path>").nth(1).and_then(|r| r.split("</path>").next()).expect("path");
        let cache = oracle.qemu_cache(emulator, &dir.join("qemu-caps.xml")).expect("QEMU cache");
        let d0 = write(&dir, "d0.xml", &o.stdout);
        let required: Vec<String> = {
            let i = o.stdout.find("<mode name='host-model'").expect("host-model");
            let mode = &o.stdout[i..i + o.stdout[i..].find("</mode>").expect("end")];
            mode.lines()
                .filter(|l| l.contains("policy='require'"))
                .filter_map(|l| l.split("name='").nth(1)?.split('\'').next().map(str::to_string))
                .collect()
        };
        assert!(required.len() >= 6, "{what}: the host-model requires only {required:?}");
        let mut variants = vec![d0.clone()];
        for k in 1..=2 {
            let drop: Vec<String> = (0..3).map(|_| required[rng.below(required.len())].clone()).collect();
            variants.push(write(&dir, &format!("d{k}.xml"), &poorer(&o.stdout, &drop)));
        }
        let texts: Vec<String> = variants.iter().map(|v| std::fs::read_to_string(v).expect("read")).collect();
        let set = write(&dir, "set.xml", &texts.iter().map(|t| strip_decl(t)).collect::<Vec<_>>().join("\n"));
        let set_s = set.display().to_string();
        let virsh = oracle.one(&["hypervisor-cpu-baseline", "--migratable", "--virttype", virttype, &set_s]);
        assert!(virsh.ok, "{what}: virsh hypervisor-cpu-baseline: {:?}", virsh.errors);
        let want = cpu_parts(&virsh.stdout);
        let vs: Vec<String> = variants.iter().map(|v| v.display().to_string()).collect();
        let (d0s, cs) = (d0.display().to_string(), cache.display().to_string());
        let mut args = vec!["export", "kubevirt-cpu", "--libvirt", release, "--format", "json", "--baseline"];
        args.extend(["--migratable", "--domcaps", &d0s, "--qemu-caps", &cs]);
        args.extend(vs.iter().map(String::as_str));
        let o = cpufleet(&args);
        assert!(o.status.success(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
        let got = export_parts(&serde_json::from_slice(&o.stdout).expect("json"));
        assert_eq!(
            got, want,
            "{what} --virttype {virttype}: export --baseline vs hypervisor-cpu-baseline\n{}",
            virsh.stdout
        );
        // The -cpu of the same baseline: libvirt's for a domain with virsh's baseline as its CPU.
        let domain = format!(
            "<domain type='{virttype}'>\n  <name>cpufleet-view</name>\n  <memory>65536</memory>\n  <os><type arch='x86_64'>hvm</type></os>\n{}</domain>\n",
            virsh.stdout.trim_end()
        );
        let dom = write(&dir, "domain.xml", &domain).display().to_string();
        let native = oracle.one(&["domxml-to-native", "qemu-argv", &dom]);
        assert!(native.ok, "{what}: domxml-to-native: {:?}", native.errors);
        let theirs = native.stdout.split(" -cpu ").nth(1).and_then(|r| r.split(' ').next()).expect("-cpu").to_string();
        args[1] = "qemu-cpu";
        args.retain(|a| *a != "--format" && *a != "json");
        let o = cpufleet(&args);
        assert!(o.status.success(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim_end(), theirs, "{what} --virttype {virttype}: qemu-cpu");
        let proxmox = proxmox_matches(&what, &map_of(stack), &args, &theirs);
        let mut line =
            format!("{virttype}: baseline {} + {} features equal, -cpu equal, {proxmox}", want.0, want.1.len());
        if virttype == "kvm" {
            line.push_str(&inventory_checks(&what, &oracle, &dir, &texts, release, &want));
            line.push_str(&kubevirt_labels(&what, &oracle, &d0, &caps_of(&oracle, &dir), release));
        }
        lines.push(line);
    }
    summary::summary(&format!("{what}: {}\n", lines.join("; ")));
}

fn map_of(stack: Stack) -> cpufleet_engine::CpuMap {
    cpufleet_engine::CpuMap::embedded(stack.version()).expect("map")
}

/// Features named in a `-cpu` argument after its model, `_` read as `-` (as QEMU does):
/// (model, [(name, on)]), Proxmox's `+f`/`-f` and libvirt's `f=on|off` alike.
fn cpu_features(arg: &str) -> (String, Vec<(String, bool)>) {
    let mut parts = arg.split(',');
    let model = parts.next().unwrap_or_default().to_string();
    let features = parts
        .filter_map(|p| match (p.strip_prefix('+'), p.strip_prefix('-'), p.split_once('=')) {
            (Some(f), _, _) => Some((f.replace('_', "-"), true)),
            (_, Some(f), _) => Some((f.replace('_', "-"), false)),
            (_, _, Some((f, v))) if v == "on" || v == "off" => Some((f.replace('_', "-"), v == "on")),
            _ => None,
        })
        .collect();
    (model, features)
}

/// The Proxmox entry of the same baseline gives libvirt's `-cpu`: Proxmox runs
/// `-cpu REPORTED,FLAGS` with its own defaults for the model (qemu-server `get_pve_cpu_flags`:
/// `-rdtscp` on Opteron models, `+lahf_lm`/`+sep` on kvm64/kvm32) under the custom flags. Every
/// feature either string names must end up the same; one named on one side only is compared
/// with the model's definition (libvirt's map standing in for QEMU's: the same model).
fn proxmox_matches(what: &str, map: &cpufleet_engine::CpuMap, args: &[&str], libvirt: &str) -> String {
    let mut a: Vec<&str> = args.to_vec();
    a[1] = "proxmox";
    a.extend(["--name", "pool", "--format", "json"]);
    let o = cpufleet(&a);
    assert!(o.status.success(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let e = &v["exports"][0];
    let reported = e["reported-model"].as_str().expect("reported-model").to_string();
    let flags: Vec<&str> = e["flags"].as_array().expect("flags").iter().map(|f| f.as_str().expect("flag")).collect();
    let mut defaults: Vec<String> = Vec::new();
    if reported.starts_with("Opteron") {
        defaults.push("-rdtscp".into());
    }
    if reported == "kvm64" || reported == "kvm32" {
        defaults.extend(["+lahf_lm".to_string(), "+sep".to_string()]);
    }
    let mut pve: Vec<(String, bool)> = cpu_features(&format!("{reported},{}", defaults.join(","))).1;
    for (f, on) in cpu_features(&format!("{reported},{}", flags.join(","))).1 {
        pve.retain(|(g, _)| *g != f);
        pve.push((f, on));
    }
    let (model, theirs) = cpu_features(libvirt);
    assert_eq!(reported, model, "{what}: Proxmox's reported model vs libvirt's -cpu {libvirt}");
    let x = &map.x86;
    let in_model = |f: &str| {
        let lv = x.features.iter().find(|g| g.name.replace('_', "-") == f).map(|g| g.name.clone());
        lv.and_then(|n| x.feature_id(&n)).is_some_and(|id| x.model(&model).is_some_and(|m| m.features.contains(id)))
    };
    let state = |list: &[(String, bool)], f: &str| {
        list.iter().rev().find(|(g, _)| g == f).map_or_else(|| in_model(f), |(_, on)| *on)
    };
    // Properties that are not CPU features (libvirt's `host-phys-bits…` from `<maxphysaddr>`) are
    // not part of a Proxmox CPU model; the export warns about them.
    let table = cpufleet_export::NameTable::embedded(cpufleet_export::Vocabulary::Qemu).expect("QEMU names");
    let feature = |f: &String| table.libvirt(f).is_some();
    let props: Vec<&String> = theirs.iter().map(|(f, _)| f).filter(|f| !feature(f)).collect();
    if !props.is_empty() {
        let warnings = e["warnings"].to_string();
        assert!(props.iter().all(|p| warnings.contains(p.as_str())), "{what}: no warning about {props:?}: {warnings}");
    }
    let mut names: Vec<&String> = pve.iter().chain(theirs.iter()).map(|(f, _)| f).filter(|f| feature(f)).collect();
    names.sort();
    names.dedup();
    for f in &names {
        assert_eq!(
            state(&pve, f),
            state(&theirs, f),
            "{what}: feature {f}: Proxmox {reported} +{flags:?} vs libvirt's -cpu {libvirt}"
        );
    }
    format!("Proxmox's -cpu agrees on {} features", names.len())
}

/// `virsh capabilities` of the oracle, written beside.
fn caps_of(oracle: &Oracle, dir: &Path) -> PathBuf {
    let caps = oracle.one(&["capabilities"]);
    assert!(caps.ok, "virsh capabilities: {:?}", caps.errors);
    write(dir, "capabilities.xml", &caps.stdout)
}

/// KubeVirt's node-labeller on the driver's own KVM host, its rules applied here to what the real
/// driver says (`pkg/virt-handler/node-labeller/`): `cpu-feature` for each required feature of
/// `virsh hypervisor-cpu-baseline --features` of the domcapabilities (`node-labeller.sh`'s
/// `supported_features.xml`), `cpu-model` for each custom model not marked `usable='no'` (none of
/// KubeVirt's obsolete ones), `host-model-cpu` and `cpu-vendor` of the host-model, and the
/// `cpu-timer` labels of `virsh capabilities`' TSC counter; the Node's name a valid Kubernetes name.
fn kubevirt_labels(what: &str, oracle: &Oracle, domcaps: &Path, caps: &Path, release: &str) -> String {
    let (dc, cp) = (domcaps.display().to_string(), caps.display().to_string());
    let o = cpufleet(&["export", "kubevirt-labels", "--libvirt", release, "--caps", &cp, "--format", "json", &dc]);
    assert!(o.status.success(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let labels = v["exports"][0]["labels"].as_object().expect("labels");
    let node = v["exports"][0]["node"].as_str().expect("node");
    assert!(
        !node.is_empty()
            && node.split('.').all(|l| !l.is_empty()
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')),
        "{what}: node name {node}"
    );
    let ns = "node.kubevirt.io";
    let mut want: Vec<String> = Vec::new();
    let base = oracle.one(&["hypervisor-cpu-baseline", "--features", "--virttype", "kvm", &dc]);
    assert!(base.ok, "{what}: {:?}", base.errors);
    for (name, policy) in cpu_parts(&base.stdout).1 {
        if policy == "require" {
            want.push(format!("cpu-feature.{ns}/{name}"));
        }
    }
    let text = std::fs::read_to_string(domcaps).expect("domcaps");
    let custom = text.split("<mode name='custom'").nth(1).and_then(|r| r.split("</mode>").next()).unwrap_or("");
    let obsolete = cpufleet_export::kubevirt::DEFAULT_OBSOLETE_CPU_MODELS;
    for l in custom.lines().filter(|l| l.contains("<model ") && !l.contains("usable='no'")) {
        let m = l.split('>').nth(1).and_then(|r| r.split('<').next()).expect("model name").trim();
        if !obsolete.contains(&m) {
            want.push(format!("cpu-model.{ns}/{m}"));
        }
    }
    let (host_model, _) = cpu_parts(
        text.split("<mode name='host-model'").nth(1).and_then(|r| r.split("</mode>").next()).expect("host-model"),
    );
    want.push(format!("host-model-cpu.{ns}/{host_model}"));
    let vendor = text
        .split("<mode name='host-model'")
        .nth(1)
        .and_then(|r| r.split("<vendor>").nth(1))
        .and_then(|r| r.split('<').next())
        .expect("vendor");
    want.push(format!("cpu-vendor.{ns}/{vendor}"));
    let caps_text = std::fs::read_to_string(caps).expect("caps");
    let mut timers = 0;
    if let Some(c) = caps_text.split("<counter name='tsc'").nth(1) {
        let attr = |a: &str| c.split(&format!("{a}='")).nth(1).and_then(|r| r.split('\'').next()).map(str::to_string);
        let freq = attr("frequency").expect("tsc frequency");
        assert_eq!(
            labels.get(&format!("cpu-timer.{ns}/tsc-frequency")).and_then(Value::as_str),
            Some(freq.as_str()),
            "{what}"
        );
        let scalable = (attr("scaling").as_deref() == Some("yes")).to_string();
        assert_eq!(
            labels.get(&format!("cpu-timer.{ns}/tsc-scalable")).and_then(Value::as_str),
            Some(scalable.as_str()),
            "{what}"
        );
        timers = 2;
    }
    want.sort();
    let prefixes = ["cpu-feature.", "cpu-model.", "host-model-cpu.", "cpu-vendor."];
    let mut got: Vec<String> = labels.keys().filter(|k| prefixes.iter().any(|p| k.starts_with(p))).cloned().collect();
    got.sort();
    assert_eq!(got, want, "{what}: kubevirt-labels vs the node-labeller's rules on the real driver's answers");
    format!(", kubevirt-labels: {} labels as the node-labeller's rules give, {timers} cpu-timer", got.len())
}

/// The inventory form (KVM): the pool's export equals `want`, and Nova's flags pass the
/// hypervisor compare of each host.
fn inventory_checks(
    what: &str,
    oracle: &Oracle,
    dir: &Path,
    texts: &[String],
    release: &str,
    want: &(String, Vec<(String, String)>),
) -> String {
    let inv = dir.join("inv");
    let pool = inv.join("pool");
    std::fs::create_dir_all(&pool).expect("tmp");
    for (k, t) in texts.iter().enumerate() {
        write(&pool, &format!("h{k}.xml"), t);
    }
    let inv_s = inv.display().to_string();
    let base = ["--libvirt", release, "--migratable", "--inventory", &inv_s, "--format", "json"];
    let o = cpufleet(&[&["export", "kubevirt-cpu"], &base[..]].concat());
    assert!(o.status.success(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
    let got = export_parts(&serde_json::from_slice(&o.stdout).expect("json"));
    assert_eq!(&got, want, "{what}: export --inventory vs hypervisor-cpu-baseline");
    let o = cpufleet(&[&["export", "nova"], &base[..]].concat());
    assert!(o.status.success(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let e = &v["exports"][0];
    let mut cpu = format!("<cpu match='exact'>\n  <model>{}</model>\n", e["cpu_models"][0].as_str().expect("model"));
    for f in e["cpu_model_extra_flags"].as_array().expect("flags") {
        let f = f.as_str().expect("flag");
        let (policy, name) = f.strip_prefix('-').map_or(("require", f), |n| ("disable", n));
        cpu.push_str(&format!("  <feature policy='{policy}' name='{name}'/>\n"));
    }
    cpu.push_str("</cpu>\n");
    let nova = write(dir, "nova-cpu.xml", &cpu).display().to_string();
    let v = oracle.one(&["hypervisor-cpu-compare", "--virttype", "kvm", &nova]);
    assert!(
        v.ok && !v.stdout.contains("incompatible"),
        "{what}: Nova's CPU on the host: {:?} {}\n{cpu}",
        v.errors,
        v.stdout
    );
    for k in 1..texts.len() {
        let dk = pool.join(format!("h{k}.xml")).display().to_string();
        let o = cpufleet(&["hypervisor-compare", "--libvirt", release, "--domcaps", &dk, &nova]);
        assert!(o.status.success(), "{what}: Nova's CPU on h{k}: {}", String::from_utf8_lossy(&o.stdout));
    }
    format!(
        ", --inventory equal, Nova's {} flags pass on all 3 hosts",
        e["cpu_model_extra_flags"].as_array().map_or(0, Vec::len)
    )
}

/// The guest view of one QEMU stack (`$V`'s stack named `$stack`), a `#[test]` of its own:
/// `libvirt_11_3_0::upstream_qemu_7_2::export_guest_view` (`stack_modules!`).
macro_rules! stack_tests {
    ($V:ident, $stack:ident) => {
        mod $stack {
            #[test]
            fn export_guest_view() {
                crate::guest_view(crate::Stack::named(cpufleet_engine::LibvirtVersion::$V, stringify!($stack)));
            }
        }
    };
}

stack_modules!();

/// Every QEMU stack of the oracle table has its test here, and every test names a stack of it.
#[test]
fn every_stack_has_a_test() {
    releases::assert_stamped_stacks("cli/tests/export_guest_view.rs", &TESTED_STACKS);
}
