//! Proxmox VE 8 `cpu-models.conf` entries checked with the format rules of qemu-server's
//! `src/PVE/QemuServer/CPUConfig.pm` (github.com/proxmox/qemu-server, branch stable-bookworm,
//! 8.4.10): the `cpu-model: NAME` section, `flags` matching `$cpu_flag_any_re(;$cpu_flag_any_re)*`
//! and `reported-model` from `$cpu_vendor_list`. The parser reads qemu-server's own test
//! configuration (`src/test/run_config2command_tests.pl`), and round trips: an entry parsed back
//! gives the CPU's features as reported model plus/minus the flags.

use cpufleet_engine::xml::{parse_cpu, Limits, TypeHint};
use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_export::proxmox::{check_name, parse_conf, proxmox_default_flags, CpuModelEntry, PROXMOX_MODELS};
use cpufleet_export::{enabled_features, NameTable, Vocabulary};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The custom model configuration of qemu-server's config2command tests, less the properties
/// this checker does not read (hv-vendor-id, phys-bits).
const PVE_TEST_CONF: &str = "
# \"qemu64\" is also a default CPU, used here to test that this doesn't matter
cpu-model: qemu64
    reported-model athlon
    flags +aes;+avx;-kvm_pv_unhalt

cpu-model: alldefault

";

#[test]
fn reads_qemu_servers_test_config() {
    let e = parse_conf(PVE_TEST_CONF).unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].name, "qemu64");
    assert_eq!(e[0].reported_model.as_deref(), Some("athlon"));
    let flags: Vec<(bool, &str)> = e[0].flags.iter().map(|(on, f)| (*on, f.as_str())).collect();
    assert_eq!(flags, [(true, "aes"), (true, "avx"), (false, "kvm_pv_unhalt")]);
    assert_eq!((e[1].name.as_str(), e[1].reported_model.as_ref(), e[1].flags.len()), ("alldefault", None, 0));
}

#[test]
fn refuses_what_proxmox_refuses() {
    for bad in [
        "cpu-model: 1abc\n",
        "cpu-model: a\n",
        "cpu-model: x\n    flags aes\n",
        "cpu-model: xx\n    flags +aes;;-avx\n",
        "cpu-model: xx\n    flags +a b\n",
        "cpu-model: xx\n    reported-model Skylake-Server-v9\n",
        "vm-model: xx\n",
        "    flags +aes\n",
    ] {
        assert!(parse_conf(bad).is_err(), "{bad:?}");
    }
    assert!(check_name("pool-a_2").is_ok());
}

fn hosts(v: LibvirtVersion) -> Option<Vec<cpufleet_engine::CpuDef>> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../shared/conformance/libvirt-{v}/cputestdata"));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("SKIPPED: {} absent", dir.display());
        return None;
    };
    let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let hosts = names
        .iter()
        .filter(|n| n.starts_with("x86_64-cpuid-") && n.ends_with("-host.xml"))
        .map(|n| parse_cpu(&std::fs::read(dir.join(n)).unwrap(), TypeHint::Host, v, Limits::default()).unwrap())
        .collect();
    Some(hosts)
}

/// Every baseline of two neighbouring test hosts, as an entry: valid for Proxmox, and parsed back
/// (QEMU names through the table) it is the reported model's features plus the `+` flags minus
/// the `-` flags = exactly the baseline's enabled features (those with a QEMU name); a flag may
/// restate the model only to counter one of Proxmox's own defaults (`-rdtscp` on Opteron models).
#[test]
fn baseline_entries_round_trip() {
    let qemu = NameTable::embedded(Vocabulary::Qemu).unwrap();
    for v in LibvirtVersion::ALL {
        let Some(hosts) = hosts(v) else { continue };
        let map = CpuMap::embedded(v).unwrap();
        let mut checked = 0;
        for (i, pair) in hosts.windows(2).enumerate() {
            let Ok(base) = cpufleet_engine::ops::baseline(&map, pair, None, true) else { continue };
            let entry = CpuModelEntry::of_cpu(&map, &qemu, &base, &format!("pool{i}")).unwrap();
            let parsed = parse_conf(&entry.conf()).unwrap_or_else(|e| panic!("{e}\n{}", entry.conf()));
            let [p] = parsed.as_slice() else { panic!("one entry") };
            let reported = map.x86.model(p.reported_model.as_deref().unwrap()).unwrap();
            let mut got: BTreeSet<String> =
                reported.features.iter().map(|id| map.x86.feature_name(id).to_string()).collect();
            // Flags that counter Proxmox's own defaults for the model may restate it.
            let counters: Vec<String> = proxmox_default_flags(p.reported_model.as_deref().unwrap())
                .iter()
                .map(|(f, _)| f.replace('_', "-"))
                .collect();
            for (on, q) in &p.flags {
                let f = qemu.libvirt(q).unwrap().to_string();
                let counter = counters.contains(q);
                if *on {
                    assert!(got.insert(f) || counter, "{q} added twice");
                } else {
                    assert!(got.remove(&f) || counter, "{q} removed but absent");
                }
            }
            let named = |f: &String| qemu.foreign(f).is_some();
            let want: BTreeSet<String> = enabled_features(&map, &base).unwrap().into_iter().filter(named).collect();
            assert_eq!(got.into_iter().filter(named).collect::<BTreeSet<_>>(), want, "{}", entry.conf());
            checked += 1;
        }
        assert!(checked > 5, "libvirt {v}: {checked}");
    }
}

/// Issue 26: Proxmox's own `-rdtscp` on Opteron models is countered when the CPU has rdtscp,
/// `force`/`forbid` features are kept, and a 64-bit CPU never gets a 32-bit reported model.
#[test]
fn proxmox_defaults_countered_policies_kept_no_32_bit_models() {
    let qemu = NameTable::embedded(Vocabulary::Qemu).unwrap();
    let map = CpuMap::embedded(LibvirtVersion::V11_3_0).unwrap();
    let read = |x: &str| parse_cpu(x.as_bytes(), TypeHint::Guest, map.version(), Limits::default()).unwrap();
    let g3 = read("<cpu match='exact'><model>Opteron_G3</model><feature policy='force' name='aes'/><feature policy='forbid' name='sse4a'/></cpu>");
    let e = CpuModelEntry::of_cpu(&map, &qemu, &g3, "g3").unwrap();
    assert_eq!(e.reported_model, "Opteron_G3");
    assert!(map.x86.model("Opteron_G3").unwrap().features.contains(map.x86.feature_id("rdtscp").unwrap()));
    assert_eq!(e.flags, ["+aes", "-sse4a", "+rdtscp"]);
    // Without rdtscp, Proxmox's default already says so: no flag.
    let no_rdtscp = read("<cpu match='exact'><model>Opteron_G3</model><feature policy='disable' name='rdtscp'/></cpu>");
    assert_eq!(CpuModelEntry::of_cpu(&map, &qemu, &no_rdtscp, "g3").unwrap().flags, ["-rdtscp"]);
    // kvm64 without lahf_lm: Proxmox's +lahf_lm countered; sep (in kvm64) needs nothing.
    let k = read("<cpu match='exact'><model>kvm64</model><feature policy='disable' name='lahf_lm'/></cpu>");
    let e = CpuModelEntry::of_cpu(&map, &qemu, &k, "kk").unwrap();
    assert_eq!(e.flags, ["-lahf-lm"]);
    // A model Proxmox lacks, 64-bit: the reported model has lm.
    let mut checked = 0;
    for m in ["Dhyana", "EPYC-Rome-v1", "Snowridge", "Denverton", "Cascadelake-Server-v1"] {
        let Some(model) = map.x86.model(m) else { continue };
        if PROXMOX_MODELS.contains(&m) || !model.features.contains(map.x86.feature_id("lm").unwrap()) {
            continue;
        }
        checked += 1;
        let cpu = read(&format!("<cpu match='exact'><model>{m}</model></cpu>"));
        let e = CpuModelEntry::of_cpu(&map, &qemu, &cpu, "xx").unwrap();
        let r = map.x86.model(&e.reported_model).unwrap();
        assert!(r.features.contains(map.x86.feature_id("lm").unwrap()), "{m}: reported {}", e.reported_model);
        assert!(e.warnings.iter().any(|w| w.contains("not a Proxmox built-in")), "{m}: {:?}", e.warnings);
    }
    assert!(checked >= 3, "{checked}");
}
