//! `cpufleet export` through the binary: the --baseline path equals exporting `cpufleet
//! baseline`'s output, the JSON shape, cpuinfo input with its warning, --host, --inventory,
//! domcapabilities read as KubeVirt's node-labeller reads them, and bad input (exit 2, located).

#[path = "support/bin.rs"]
mod bin;
#[path = "support/inventory.rs"]
mod support;

use bin::{cpufleet, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use support::{build, pack, TempDir};

const A: &str = "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell-noTSX</model>\n  <vendor>Intel</vendor>\n  <feature name='vmx'/>\n</cpu>\n";
const B: &str = "<cpu>\n  <arch>x86_64</arch>\n  <model>SandyBridge</model>\n  <vendor>Intel</vendor>\n  <feature name='vmx'/>\n</cpu>\n";
const GUEST: &str = "<cpu match='exact'>\n  <model>Haswell-noTSX</model>\n  <feature policy='optional' name='vmx'/>\n  <feature policy='optional' name='svm'/>\n</cpu>\n";
/// A Haswell host's /proc/cpuinfo (abridged to the lines the reader uses and a few others).
const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 63\n\
model name\t: Intel(R) Xeon(R) CPU E5-2650 v3 @ 2.30GHz\nstepping\t: 2\n\
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr \
sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon pebs bts rep_good nopl xtopology \
nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm \
pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm cpuid_fault \
epb invpcid_single pti intel_ppin ssbd ibrs ibpb stibp tpr_shadow flexpriority ept vpid ept_ad fsgsbase \
tsc_adjust bmi1 avx2 smep bmi2 erms invpcid cqm xsaveopt cqm_llc cqm_occup_llc dtherm ida arat pln pts md_clear flush_l1d\n";

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.0.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = cpufleet(args);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const GUEST_FORMATS: [&str; 4] = ["qemu-cpu", "kubevirt-cpu", "nova", "proxmox"];

#[test]
fn baseline_flag_equals_exporting_the_baseline_command() {
    let d = TempDir::new("export-base");
    let (a, b) = (write(&d, "a.xml", A), write(&d, "b.xml", B));
    let (code, base, _) = run(&["baseline", s(&a), s(&b)]);
    assert_eq!(code, 0);
    let base = write(&d, "baseline.xml", &base);
    // `cpufleet baseline` is the raw view (`virsh cpu-baseline`): equal under --view raw, with
    // the warning naming what of it is host-only (vmx: the KVM view has nesting off).
    for f in GUEST_FORMATS {
        let (c1, direct, e1) = run(&["export", f, "--view", "raw", "--baseline", s(&a), s(&b)]);
        let (c2, via, e2) = run(&["export", f, "--view", "raw", s(&base)]);
        assert_eq!((c1, c2), (0, 0), "{f}: {e1} {e2}");
        assert_eq!(direct, via, "{f}");
        assert!(e1.contains("host-only (QEMU/KVM never gives them to a guest): vmx"), "{f}: {e1}");
    }
    // The default (guest) view is the QEMU driver's: the KVM view's hypervisor baseline, started.
    let (code, q, err) = run(&["export", "qemu-cpu", "--baseline", s(&a), s(&b)]);
    assert_eq!(
        (code, q.as_str()),
        (0, "SandyBridge,hypervisor=on,arat=on,tsc-adjust=on,umip=on,arch-capabilities=on\n"),
        "{err}"
    );
    let (_, q, _) = run(&["export", "qemu-cpu", s(&base)]);
    assert_eq!(q, "SandyBridge,vmx=on\n");
    let (_, n, _) = run(&["export", "nova", s(&base)]);
    assert_eq!(n, "[libvirt]\ncpu_mode = custom\ncpu_models = SandyBridge\ncpu_model_extra_flags = vmx\n");
    let (_, p, _) = run(&["export", "proxmox", "--name", "pool-a", s(&base)]);
    assert_eq!(p, "cpu-model: pool-a\n    flags +vmx\n    reported-model SandyBridge\n\n");
}

#[test]
fn json_shape_for_every_format() {
    let d = TempDir::new("export-json");
    let (a, b) = (write(&d, "a.xml", A), write(&d, "b.xml", B));
    let keys: [(&str, &[&str]); 6] = [
        ("qemu-cpu", &["arg"]),
        ("kubevirt-cpu", &["configuration", "domain"]),
        ("nova", &["cpu_mode", "cpu_models", "cpu_model_extra_flags"]),
        ("proxmox", &["cpu-model", "flags", "reported-model"]),
        ("kubevirt-labels", &["labels"]),
        ("nova-traits", &["traits"]),
    ];
    for (f, own) in keys {
        let per_host = f == "kubevirt-labels" || f == "nova-traits";
        let mut args = vec!["export", f, "--format", "json"];
        if !per_host {
            args.push("--baseline");
        }
        args.extend([s(&a), s(&b)]);
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{f}: {err}");
        assert_eq!(out.lines().count(), 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["libvirt"], "11.3.0");
        assert_eq!(v["format"], f);
        let exports = v["exports"].as_array().unwrap();
        assert_eq!(exports.len(), if per_host { 2 } else { 1 }, "{f}");
        for e in exports {
            for k in own.iter().chain(&["name", "source", "warnings"]) {
                assert!(e.get(*k).is_some(), "{f}: no {k} in {e}");
            }
        }
    }
}

#[test]
fn cpuinfo_is_a_host_input_with_the_msr_warning() {
    let d = TempDir::new("export-cpuinfo");
    let info = write(&d, "cpuinfo", CPUINFO);
    let (code, out, err) = run(&["export", "nova-traits", s(&info)]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("cannot show MSR-based features"), "{err}");
    for t in ["HW_CPU_X86_AVX2", "HW_CPU_X86_FMA3", "HW_CPU_X86_CLMUL", "HW_CPU_X86_SSE41", "HW_CPU_X86_VMX"] {
        assert!(out.lines().any(|l| l == t), "{t} in {out}");
    }
    let (code, out, err) = run(&["export", "qemu-cpu", "--baseline", s(&info), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("MSR"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["exports"][0]["warnings"][0].as_str().unwrap().contains("MSR"));
    assert!(v["exports"][0]["arg"].as_str().unwrap().starts_with("Haswell"), "{v}");
}

#[test]
fn host_resolves_optional_features() {
    let d = TempDir::new("export-host");
    let (a, g) = (write(&d, "a.xml", A), write(&d, "guest.xml", GUEST));
    // The raw host CPU has vmx; what QEMU/KVM gives guests on it (the KVM view, nesting off)
    // does not, so the QEMU driver's start disables it.
    let (code, out, err) = run(&["export", "qemu-cpu", "--view", "raw", "--host", s(&a), s(&g)]);
    assert_eq!((code, out.as_str()), (0, "Haswell-noTSX,vmx=on,svm=off\n"), "{err}");
    let (code, out, err) = run(&["export", "qemu-cpu", "--host", s(&a), s(&g)]);
    assert_eq!((code, out.as_str()), (0, "Haswell-noTSX,vmx=off,svm=off\n"), "{err}");
    // As written, optional features are left out, with a warning each, and one line saying so.
    let (code, out, err) = run(&["export", "qemu-cpu", s(&g)]);
    assert_eq!((code, out.as_str()), (0, "Haswell-noTSX\n"));
    assert_eq!(err.matches("is optional").count(), 2, "{err}");
    assert_eq!(err.matches("no --host, --domcaps or --inventory").count(), 1, "{err}");
}

/// KubeVirt's `virsh_domcapabilities.xml` test file, completed with the hypervisor facts a real
/// document has: the cpu-feature labels are the required features of `hypervisor-baseline
/// --features` of the document, as `node-labeller.sh` makes `supported_features.xml`.
#[test]
fn domcapabilities_as_the_node_labeller_reads_them() {
    let d = TempDir::new("export-domcaps");
    let doc = "<domainCapabilities>\n  <path>/usr/bin/qemu-system-x86_64</path>\n  <domain>kvm</domain>\n  \
<machine>pc-q35-9.2</machine>\n  <arch>x86_64</arch>\n  <cpu>\n    <mode name='host-passthrough' supported='yes'/>\n    \
<mode name='host-model' supported='yes'>\n      <model fallback='allow'>Skylake-Client-IBRS</model>\n      \
<vendor>Intel</vendor>\n      <feature policy='require' name='ds'/>\n      <feature policy='require' name='acpi'/>\n      \
<feature policy='require' name='ss'/>\n    </mode>\n    <mode name='custom' supported='yes'>\n      \
<model usable='no'>EPYC-IBPB</model>\n      <model usable='yes'>Penryn</model>\n      \
<model usable='yes'>Skylake-Client-IBRS</model>\n      <model usable='yes'>Opteron_G2</model>\n    </mode>\n  </cpu>\n\
</domainCapabilities>\n";
    let dc = write(&d, "node1.xml", doc);
    let (code, out, err) = run(&["export", "kubevirt-labels", "--format", "json", s(&dc)]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let labels = v["exports"][0]["labels"].as_object().unwrap();
    let got: Vec<&str> = labels.keys().filter_map(|k| k.strip_prefix("cpu-feature.node.kubevirt.io/")).collect();
    let (code, base, _) = run(&["hypervisor-baseline", "--features", "--domcaps", s(&dc), s(&dc)]);
    assert_eq!(code, 0);
    let mut want: Vec<&str> = base
        .lines()
        .filter(|l| l.contains("policy='require'"))
        .filter_map(|l| l.split("name='").nth(1)?.split('\'').next())
        .collect();
    want.sort();
    assert!(want.len() > 40);
    assert_eq!(got, want);
    assert!(labels.contains_key("cpu-model.node.kubevirt.io/Penryn"));
    assert!(!labels.contains_key("cpu-model.node.kubevirt.io/Opteron_G2"));
    assert!(labels.contains_key("cpu-model-migration.node.kubevirt.io/EPYC-IBPB"));
    let (_, yaml, _) = run(&["export", "kubevirt-labels", s(&dc)]);
    assert!(yaml.starts_with("---\napiVersion: v1\nkind: Node\nmetadata:\n  name: \"node1\"\n  labels:\n"), "{yaml}");
}

#[test]
fn inventory_hosts_and_pool_baselines() {
    let Some(pack) = pack() else { return };
    let inv = build(&pack, "export-inv");
    let dir = s(inv.path());
    let (code, out, err) = run(&["export", "nova-traits", "--inventory", dir, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["exports"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    let want: Vec<String> = inv.pools.iter().flat_map(|(p, hs)| hs.iter().map(move |h| format!("{p}/{h}"))).collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(names, want_sorted);
    let (code, out, err) = run(&["export", "proxmox", "--inventory", dir]);
    assert_eq!(code, 0, "{err}");
    let headers: Vec<&str> = out.lines().filter(|l| l.starts_with("cpu-model: ")).collect();
    assert_eq!(headers, ["cpu-model: amd", "cpu-model: intel-a", "cpu-model: intel-b"]);
}

#[test]
fn bad_inputs_exit_2_with_file_and_position() {
    let d = TempDir::new("export-bad");
    let a = write(&d, "a.xml", A);
    let text = write(&d, "notes.txt", "hello\n");
    let broken = write(&d, "broken.xml", "<cpu>\n  <model>Haswell\n</cpu>\n");
    let typo = write(
        &d,
        "typo.xml",
        "<cpu match='exact'>\n  <model>Haswell</model>\n  <feature policy='require' name='avx3'/>\n</cpu>\n",
    );
    let cases: [(Vec<&str>, &[&str]); 8] = [
        (vec!["qemu-cpu", s(&text)], &["notes.txt", "1:1", "cpuinfo"]),
        (vec!["nova", s(&broken)], &["broken.xml", "3:"]),
        (vec!["qemu-cpu", s(&typo)], &["typo.xml", "3:3", "avx3", "did you mean"]),
        (vec!["qemu-cpu", s(&a)], &["a.xml", "1:1", "host CPU", "--baseline"]),
        (vec!["kubevirt-labels", "--baseline", s(&a)], &["guest formats only"]),
        (vec!["proxmox", "--baseline", "--name", "1x", s(&a)], &["invalid name '1x'"]),
        (vec!["nova", "--migratable", s(&a)], &["--migratable"]),
        (vec!["nova", "no-such.xml"], &["no-such.xml"]),
    ];
    for (args, want) in cases {
        let mut all = vec!["export"];
        all.extend(args.iter());
        let (code, out, err) = run(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        for w in want {
            assert!(err.contains(w), "{args:?}: '{w}' not in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, err) = run(&["export", "pdf", s(&a)]);
    assert_eq!(code, 2, "{err}");
}

/// Issue 25 finding 8: `nova-traits` of a domcapabilities document (its message said such
/// documents are accepted, and it refused them): the traits of its host-model CPU, the same as an
/// inventory holding that document as a host file gives.
#[test]
fn nova_traits_of_domcapabilities() {
    let d = TempDir::new("export-traits-domcaps");
    let doc = "<domainCapabilities>\n  <path>/usr/bin/qemu-system-x86_64</path>\n  <domain>kvm</domain>\n  \
<machine>pc-q35-9.2</machine>\n  <arch>x86_64</arch>\n  <cpu>\n    <mode name='host-model' supported='yes'>\n      \
<model fallback='forbid'>Skylake-Client-IBRS</model>\n      <vendor>Intel</vendor>\n      \
<feature policy='require' name='ss'/>\n      <feature policy='disable' name='hle'/>\n    </mode>\n    \
<mode name='custom' supported='yes'>\n      <model usable='yes'>Skylake-Client-IBRS</model>\n    </mode>\n  </cpu>\n\
</domainCapabilities>\n";
    let dc = write(&d, "node1.xml", doc);
    let (code, out, err) = run(&["export", "nova-traits", s(&dc)]);
    assert_eq!(code, 0, "{err}");
    for t in ["HW_CPU_X86_AVX2", "HW_CPU_X86_AVX", "HW_CPU_X86_SSE42"] {
        assert!(out.lines().any(|l| l == t), "{t} in {out}");
    }
    assert!(!out.lines().any(|l| l == "HW_CPU_X86_TSX"), "hle is disabled in the host-model: {out}");
    let inv = d.0.join("inv/pool");
    std::fs::create_dir_all(&inv).unwrap();
    std::fs::write(inv.join("node1.xml"), doc).unwrap();
    let (code, via_inv, err) = run(&["export", "nova-traits", "--inventory", s(&d.0.join("inv"))]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(via_inv, out);
}

/// An independent check of Kubernetes' DNS-1123 subdomain rule (what a Node name must be).
fn valid_node_name(n: &str) -> bool {
    n.len() <= 253
        && !n.is_empty()
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Issue 26: KubeVirt Node names are valid Kubernetes names (inventory names `POOL/HOST` mapped:
/// lowercase, `/` to `.`, other characters to `-`); `cpu-timer` labels from the capabilities
/// beside the domcapabilities (`--caps`, or the inventory's HOST.xml beside HOST.domcaps.xml);
/// `kubevirt-cpu` refuses `maximum`, which libvirt refuses as a model name.
#[test]
fn kubevirt_names_timers_and_no_maximum() {
    let Some(pack) = pack() else { return };
    let d = TempDir::new("export-kubevirt");
    let host = std::fs::read_to_string(pack.join("x86_64-cpuid-Xeon-Gold-5115-host.xml")).unwrap();
    let with_tsc = host.replacen("</cpu>", "  <counter name='tsc' frequency='2095078000' scaling='yes'/>\n</cpu>", 1);
    let caps = support::capabilities(&with_tsc, 7);
    let domcaps = "<domainCapabilities>\n  <path>/usr/bin/qemu-system-x86_64</path>\n  <domain>kvm</domain>\n  \
<machine>pc-i440fx-7.2</machine>\n  <arch>x86_64</arch>\n  <cpu>\n    <mode name='host-model' supported='yes'>\n      \
<model fallback='forbid'>Skylake-Server-IBRS</model>\n      <vendor>Intel</vendor>\n      \
<feature policy='require' name='ss'/>\n    </mode>\n    <mode name='custom' supported='yes'>\n      \
<model usable='yes'>Skylake-Server-IBRS</model>\n    </mode>\n  </cpu>\n</domainCapabilities>\n";
    let pool = d.0.join("inv/AMD-EPYC_Pool");
    std::fs::create_dir_all(&pool).unwrap();
    std::fs::write(pool.join("Node_R1-n01.xml"), &caps).unwrap();
    std::fs::write(pool.join("Node_R1-n01.domcaps.xml"), domcaps).unwrap();
    std::fs::write(pool.join("--weird--.xml"), &host).unwrap();
    let (code, out, err) = run(&["export", "kubevirt-labels", "--inventory", s(&d.0.join("inv"))]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("  name: ")).collect();
    assert_eq!(names, ["\"amd-epyc-pool.weird\"", "\"amd-epyc-pool.node-r1-n01\""]);
    for n in &names {
        assert!(valid_node_name(n.trim_matches('"')), "{n}");
    }
    assert!(out.contains("cpu-timer.node.kubevirt.io/tsc-frequency: \"2095078000\""), "{out}");
    assert!(out.contains("cpu-timer.node.kubevirt.io/tsc-scalable: \"true\""), "{out}");
    // The same pair as files: the domcapabilities with --caps beside it.
    let dc = write(&d, "node.domcaps.xml", domcaps);
    let cp = write(&d, "node.caps.xml", &caps);
    let (code, out, err) = run(&["export", "kubevirt-labels", "--caps", s(&cp), s(&dc)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cpu-timer.node.kubevirt.io/tsc-frequency: \"2095078000\""), "{out}");
    assert!(out.contains("  name: \"node.domcaps\"\n"), "{out}");
    // maximum: refused with the reason, exit 2.
    let max = write(&d, "max.xml", "<cpu mode='maximum'/>\n");
    let (code, out, err) = run(&["export", "kubevirt-cpu", s(&max)]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("maximum") && err.contains("host-passthrough"), "{err}");
}

/// Issue 25: a pool without a common CPU (Intel and AMD hosts) is a note with the reason and the
/// action, the other pools are exported, exit 0; in JSON the notes are listed.
#[test]
fn inventory_pool_without_an_answer_is_a_note() {
    let Some(pack) = pack() else { return };
    let inv = build(&pack, "export-mixed");
    let intel = std::fs::read_to_string(pack.join("x86_64-cpuid-Xeon-Gold-5115-host.xml")).unwrap();
    let amd = std::fs::read_to_string(pack.join("x86_64-cpuid-EPYC-7502-32-Core-host.xml")).unwrap();
    std::fs::create_dir_all(inv.path().join("pool2")).unwrap();
    inv.write_host("pool2", "a", &intel);
    inv.write_host("pool2", "b", &amd);
    let dir = s(inv.path());
    for view in ["guest", "raw"] {
        for f in GUEST_FORMATS {
            let (code, out, err) = run(&["export", f, "--view", view, "--inventory", dir, "--format", "json"]);
            assert_eq!(code, 0, "{f} {view}: {err}");
            assert!(err.contains("note: pool2 mixes Intel and AMD hosts: no common CPU; split it"), "{f}: {err}");
            let v: Value = serde_json::from_str(&out).unwrap();
            let names: Vec<&str> =
                v["exports"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
            assert_eq!(names, ["amd", "intel-a", "intel-b"], "{f} {view}");
            assert_eq!(v["notes"][0], "pool2 mixes Intel and AMD hosts: no common CPU; split it");
            assert_eq!(v["view"], view);
        }
    }
}
