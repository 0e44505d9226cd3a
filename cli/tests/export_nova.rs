//! Issue 26 / issue 25 finding 1: Nova's own rule for `cpu_model_extra_flags`. At start-up
//! nova-compute builds a guest CPU from `cpu_models` and the flags (`_get_guest_cpu_model_config`:
//! `<cpu match='exact'>`, the model, each flag `require`, `-FLAG` `disable`) and asks libvirt's
//! hypervisor compare of its own host (`_compare_cpu` → `compareHypervisorCPU`); an incompatible
//! CPU stops the service. So the flags of every pool must pass the hypervisor compare of every
//! host of the pool.
//!
//! Hosts: every x86 host CPU of both conformance packs (`cputestdata/x86_64-cpuid-*-host.xml`,
//! real hosts as `virsh capabilities` reports them), each under its own release's rules, as an
//! inventory with one pool per host and one per pair of consecutive hosts of one vendor. Their
//! hypervisor is the KVM view of the raw CPU (no domcapabilities in the packs), the same one
//! `export` and the simulator use. The export's default (guest) view must pass on every pool;
//! the raw view (`--view raw`, the pre-issue behaviour) must fail on some, which shows the check
//! can fail.

#[path = "support/bin.rs"]
mod bin;

use cpufleet_engine::hypervisor::Hypervisor;
use cpufleet_engine::xml::{self, Limits, TypeHint};
use cpufleet_engine::{x86, CpuDef, CpuMap, LibvirtVersion};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The KVM view of a raw host CPU as a hypervisor (`data/kvm_view.toml`).
fn kvm_view(map: &CpuMap, host: &CpuDef) -> Hypervisor {
    let x = &map.x86;
    let kvm = cpufleet_sim::KvmView::embedded(x).expect("KVM view");
    let vendor = x.vendor_index(host.vendor.as_deref().expect("vendor")).expect("vendor");
    let md = x86::model_from_cpu(x, host, x86::Sel::All).expect("model");
    let signature = host.signature.map_or(0, |s| x86::model::make_signature(s.family, s.model, s.stepping));
    let reported = cpufleet_sim::host_model(x, &kvm, &md.features, vendor, signature).expect("host model");
    Hypervisor::kvm_with_host_model(x, reported, Some(host)).expect("hypervisor")
}

/// The guest CPU Nova builds from its settings.
fn nova_cpu(model: &str, flags: &[String]) -> String {
    let mut s = format!("<cpu match='exact'><model>{model}</model>");
    for f in flags {
        match f.strip_prefix('-') {
            Some(name) => s.push_str(&format!("<feature policy='disable' name='{name}'/>")),
            None => s.push_str(&format!("<feature policy='require' name='{f}'/>")),
        }
    }
    s.push_str("</cpu>");
    s
}

struct Pool {
    name: String,
    hosts: Vec<CpuDef>,
}

fn build(version: LibvirtVersion, pack: &Path, root: &Path) -> (CpuMap, Vec<Pool>) {
    let map = CpuMap::embedded(version).expect("map");
    let mut files: Vec<PathBuf> = std::fs::read_dir(pack)
        .expect("pack")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            n.starts_with("x86_64-cpuid-") && n.ends_with("-host.xml")
        })
        .collect();
    files.sort();
    let _ = std::fs::remove_dir_all(root);
    let mut hosts = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let doc = xml::read_cpu_document(text.as_bytes(), TypeHint::Host, version, Limits::default()).expect("host");
        let stem = f.file_stem().and_then(|n| n.to_str()).expect("name").to_string();
        hosts.push((stem, text, doc.cpus[0].clone()));
    }
    let mut pools = Vec::new();
    let mut add = |name: String, members: &[&(String, String, CpuDef)]| {
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).expect("pool dir");
        for (stem, text, _) in members {
            std::fs::write(dir.join(format!("{stem}.xml")), text).expect("write");
        }
        pools.push(Pool { name, hosts: members.iter().map(|m| m.2.clone()).collect() });
    };
    for h in &hosts {
        add(format!("one-{}", h.0), &[h]);
    }
    for (i, w) in hosts.windows(2).enumerate() {
        if w[0].2.vendor == w[1].2.vendor {
            add(format!("pair-{i:02}"), &[&w[0], &w[1]]);
        }
    }
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    (map, pools)
}

/// Exports `nova` of the inventory at `root` and counts the pools whose flags fail the
/// hypervisor compare of one of their hosts (with the first few named).
fn failing(map: &CpuMap, pools: &[Pool], root: &Path, view: &str) -> (usize, usize, Vec<String>) {
    let o = bin::cpufleet(&[
        "export",
        "nova",
        "--libvirt",
        map.version().as_str(),
        "--migratable",
        "--view",
        view,
        "--inventory",
        root.to_str().expect("path"),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", bin::stderr(&o));
    let v: Value = serde_json::from_str(&bin::stdout(&o)).expect("json");
    let exports = v["exports"].as_array().expect("exports");
    let (mut checked, mut bad) = (0, Vec::new());
    for e in exports {
        let name = e["name"].as_str().expect("name");
        let pool = pools.iter().find(|p| p.name == name).expect("a pool of the inventory");
        let model = e["cpu_models"][0].as_str().expect("model");
        let flags: Vec<String> = e["cpu_model_extra_flags"]
            .as_array()
            .expect("flags")
            .iter()
            .map(|f| f.as_str().expect("flag").to_string())
            .collect();
        let text = nova_cpu(model, &flags);
        let cpu = xml::read_cpu_document(text.as_bytes(), TypeHint::Guest, map.version(), Limits::default())
            .expect("Nova's CPU")
            .cpus
            .remove(0);
        for h in &pool.hosts {
            checked += 1;
            let c = kvm_view(map, h).compare(map, &cpu, false).expect("hypervisor compare");
            if !c.verdict.is_compatible() {
                bad.push(format!("{name}: {text}: {}", c.message.unwrap_or_default()));
            }
        }
    }
    assert_eq!(exports.len() + v["notes"].as_array().map_or(0, Vec::len), pools.len());
    (checked, exports.len(), bad)
}

#[test]
fn nova_extra_flags_pass_the_hypervisor_compare_of_their_hosts() {
    for (version, pack) in [(LibvirtVersion::V9_0_0, "libvirt-9.0.0"), (LibvirtVersion::V11_3_0, "libvirt-11.3.0")] {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance").join(pack).join("cputestdata");
        if !dir.is_dir() {
            assert_ne!(std::env::var("CPUFLEET_REQUIRE_CONFORMANCE").as_deref(), Ok("1"), "{} missing", dir.display());
            println!("SKIPPED nova flags {pack}: {} absent", dir.display());
            continue;
        }
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("export-nova-{version}"));
        let (map, pools) = build(version, &dir, &root);
        let (checked, exported, bad) = failing(&map, &pools, &root, "guest");
        let (_, raw_exported, raw_bad) = failing(&map, &pools, &root, "raw");
        println!(
            "nova flags libvirt-{version}: {} pools ({exported} exported), {checked} host compares: {} failed; --view raw ({raw_exported} pools): {} host compares fail",
            pools.len(),
            bad.len(),
            raw_bad.len()
        );
        for b in bad.iter().take(5) {
            println!("FAIL {b}");
        }
        assert!(bad.is_empty(), "libvirt {version}: {} host compares fail (first above)", bad.len());
        assert!(exported >= pools.len() * 9 / 10, "only {exported} of {} pools exported", pools.len());
        assert!(!raw_bad.is_empty(), "the raw view passes everywhere: the check cannot fail here");
    }
}
