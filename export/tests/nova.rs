//! Nova against its own code and tests (github.com/openstack/nova, commit 00a030403f67, 2026):
//! `CPU_TRAITS_MAPPING` of `nova/virt/libvirt/utils.py`, the expected traits of
//! `test_cpu_traits_with_*` in `nova/tests/unit/virt/libvirt/test_driver.py` (with the CPUs
//! libvirt returned there, `_fake_*_cpu_feature`), and the `cpu_model_extra_flags` rules of
//! `nova/conf/libvirt.py` and `_prepare_cpu_flag` (`nova/virt/libvirt/driver.py`).

use cpufleet_engine::xml::{parse_cpu, Limits, TypeHint};
use cpufleet_engine::{CpuDef, CpuMap, LibvirtVersion, Policy};
use cpufleet_export::nova::{host_traits, parse_extra_flags, traits_of, LibvirtSection};
use cpufleet_export::{NameTable, Vocabulary};
use std::collections::BTreeMap;

/// Nova's `CPU_TRAITS_MAPPING`, as written there (libvirt name → traits).
const CPU_TRAITS_MAPPING: &[(&str, &[&str])] = &[
    ("3dnow", &["HW_CPU_X86_3DNOW"]),
    ("abm", &["HW_CPU_X86_ABM"]),
    ("aes", &["HW_CPU_X86_AESNI"]),
    ("amx-bf16", &["HW_CPU_X86_AMXBF16"]),
    ("amx-int8", &["HW_CPU_X86_AMXINT8"]),
    ("amx-tile", &["HW_CPU_X86_AMXTILE"]),
    ("avx", &["HW_CPU_X86_AVX"]),
    ("avx2", &["HW_CPU_X86_AVX2"]),
    ("avx512bw", &["HW_CPU_X86_AVX512BW"]),
    ("avx512cd", &["HW_CPU_X86_AVX512CD"]),
    ("avx512dq", &["HW_CPU_X86_AVX512DQ"]),
    ("avx512er", &["HW_CPU_X86_AVX512ER"]),
    ("avx512f", &["HW_CPU_X86_AVX512F"]),
    ("avx512pf", &["HW_CPU_X86_AVX512PF"]),
    ("avx512vl", &["HW_CPU_X86_AVX512VL"]),
    ("avx512vnni", &["HW_CPU_X86_AVX512VNNI"]),
    ("avx512vbmi", &["HW_CPU_X86_AVX512VBMI"]),
    ("avx512ifma", &["HW_CPU_X86_AVX512IFMA"]),
    ("avx512vbmi2", &["HW_CPU_X86_AVX512VBMI2"]),
    ("avx512bitalg", &["HW_CPU_X86_AVX512BITALG"]),
    ("vaes", &["HW_CPU_X86_AVX512VAES"]),
    ("gfni", &["HW_CPU_X86_AVX512GFNI"]),
    ("vpclmulqdq", &["HW_CPU_X86_AVX512VPCLMULQDQ"]),
    ("avx512-vpopcntdq", &["HW_CPU_X86_AVX512VPOPCNTDQ"]),
    ("bmi1", &["HW_CPU_X86_BMI"]),
    ("bmi2", &["HW_CPU_X86_BMI2"]),
    ("pclmuldq", &["HW_CPU_X86_CLMUL"]),
    ("f16c", &["HW_CPU_X86_F16C"]),
    ("fma", &["HW_CPU_X86_FMA3"]),
    ("fma4", &["HW_CPU_X86_FMA4"]),
    ("mmx", &["HW_CPU_X86_MMX"]),
    ("mpx", &["HW_CPU_X86_MPX"]),
    ("sha-ni", &["HW_CPU_X86_SHA"]),
    ("sse", &["HW_CPU_X86_SSE"]),
    ("sse2", &["HW_CPU_X86_SSE2"]),
    ("sse3", &["HW_CPU_X86_SSE3"]),
    ("sse4.1", &["HW_CPU_X86_SSE41"]),
    ("sse4.2", &["HW_CPU_X86_SSE42"]),
    ("sse4a", &["HW_CPU_X86_SSE4A"]),
    ("ssse3", &["HW_CPU_X86_SSSE3"]),
    ("svm", &["HW_CPU_X86_SVM", "HW_CPU_X86_AMD_SVM"]),
    ("tbm", &["HW_CPU_X86_TBM"]),
    ("vmx", &["HW_CPU_X86_VMX", "HW_CPU_X86_INTEL_VMX"]),
    ("xop", &["HW_CPU_X86_XOP"]),
];

/// Our table holds exactly Nova's mapping, for the names libvirt has ('sse3' is not one:
/// libvirt calls it 'pni', so Nova never reports HW_CPU_X86_SSE3 from libvirt).
#[test]
fn os_traits_table_is_novas_mapping() {
    let table = NameTable::embedded(Vocabulary::OsTraits).unwrap();
    let map = CpuMap::embedded(LibvirtVersion::DEFAULT).unwrap();
    let ours: BTreeMap<&str, Vec<String>> = table
        .entries()
        .filter(|(_, t)| !t.is_empty())
        .map(|(f, t)| (f, t.iter().map(|t| format!("HW_CPU_X86_{t}")).collect()))
        .collect();
    let nova: BTreeMap<&str, Vec<String>> = CPU_TRAITS_MAPPING
        .iter()
        .filter(|(f, _)| map.x86.feature_id(f).is_some())
        .map(|(f, t)| (*f, t.iter().map(|t| t.to_string()).collect()))
        .collect();
    assert_eq!(ours, nova);
    assert!(map.x86.feature_id("sse3").is_none());
}

fn cpu(map: &CpuMap, xml: &str) -> CpuDef {
    parse_cpu(xml.as_bytes(), TypeHint::Guest, map.version(), Limits::default()).unwrap()
}

fn strs(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// `test_cpu_traits_with_mode_custom`: Broadwell-noTSX. Nova got the expanded CPU from libvirt
/// (`_fake_broadwell_cpu_feature`); we expand the model with our map and must agree.
#[test]
fn mode_custom_broadwell() {
    let want = strs(&[
        "HW_CPU_X86_BMI2",
        "HW_CPU_X86_AVX2",
        "HW_CPU_X86_BMI",
        "HW_CPU_X86_AVX",
        "HW_CPU_X86_AESNI",
        "HW_CPU_X86_SSE42",
        "HW_CPU_X86_SSE41",
        "HW_CPU_X86_FMA3",
        "HW_CPU_X86_SSSE3",
        "HW_CPU_X86_CLMUL",
        "HW_CPU_X86_SSE2",
        "HW_CPU_X86_SSE",
        "HW_CPU_X86_MMX",
    ]);
    let table = NameTable::embedded(Vocabulary::OsTraits).unwrap();
    for v in LibvirtVersion::ALL {
        let map = CpuMap::embedded(v).unwrap();
        let c = cpu(&map, "<cpu><model>Broadwell-noTSX</model><vendor>Intel</vendor></cpu>");
        assert_eq!(host_traits(&map, &c, &table).unwrap(), want, "libvirt {v}");
    }
}

/// `test_cpu_traits_with_mode_custom_multi_models`: the union over qemu64 and SandyBridge, and
/// `…_and_extra_flags`: plus cpu_model_extra_flags pcid, avx2.
#[test]
fn mode_custom_multi_models_and_extra_flags() {
    let want = strs(&[
        "HW_CPU_X86_AVX",
        "HW_CPU_X86_AESNI",
        "HW_CPU_X86_SSE42",
        "HW_CPU_X86_SSE41",
        "HW_CPU_X86_CLMUL",
        "HW_CPU_X86_SSSE3",
        "HW_CPU_X86_SSE2",
        "HW_CPU_X86_SSE",
        "HW_CPU_X86_MMX",
        "HW_CPU_X86_AMD_SVM",
        "HW_CPU_X86_SVM",
    ]);
    let table = NameTable::embedded(Vocabulary::OsTraits).unwrap();
    let map = CpuMap::embedded(LibvirtVersion::DEFAULT).unwrap();
    let mut features = Vec::new();
    for model in ["qemu64", "SandyBridge"] {
        let c = cpu(&map, &format!("<cpu><model>{model}</model></cpu>"));
        features.extend(cpufleet_export::enabled_features(&map, &c).unwrap());
    }
    assert_eq!(traits_of(features.iter().map(String::as_str), &table), want);
    features.extend(parse_extra_flags("pcid, avx2").into_iter().map(|(f, _)| f));
    let mut with_flags = want.clone();
    with_flags.push("HW_CPU_X86_AVX2".into());
    with_flags.sort();
    assert_eq!(traits_of(features.iter().map(String::as_str), &table), with_flags);
}

/// `test_cpu_traits_with_passthrough_mode`: the features fakelibvirt's baselineCPU returns,
/// as listed (the fake does not expand Penryn's).
#[test]
fn passthrough_mode_listed_features() {
    let listed =
        ["xtpr", "tm2", "est", "vmx", "ds_cpl", "monitor", "pbe", "tm", "ht", "ss", "acpi", "ds", "vme", "aes"];
    let table = NameTable::embedded(Vocabulary::OsTraits).unwrap();
    assert_eq!(
        traits_of(listed.into_iter(), &table),
        strs(&["HW_CPU_X86_AESNI", "HW_CPU_X86_VMX", "HW_CPU_X86_INTEL_VMX"])
    );
}

/// The examples of `nova/conf/libvirt.py` read as Nova reads them.
#[test]
fn extra_flags_as_nova_reads_them() {
    let got = parse_extra_flags("-hle, -rtm, +ssbd, mtrr");
    let want =
        [("hle", Policy::Disable), ("mtrr", Policy::Require), ("rtm", Policy::Disable), ("ssbd", Policy::Require)];
    assert_eq!(got, want.map(|(f, p)| (f.to_string(), p)));
    let got = parse_extra_flags("-PDPE1GB, +VMX, pcid");
    let want = [("pcid", Policy::Require), ("pdpe1gb", Policy::Disable), ("vmx", Policy::Require)];
    assert_eq!(got, want.map(|(f, p)| (f.to_string(), p)));
}

/// Round trip: the section's cpu_model_extra_flags, read back by Nova's rules, are the CPU's
/// features with their policies (force/require → require, disable/forbid → disable).
#[test]
fn section_round_trip() {
    let map = CpuMap::embedded(LibvirtVersion::DEFAULT).unwrap();
    let c = cpu(
        &map,
        "<cpu match='exact'><model>Cascadelake-Server</model><feature policy='disable' name='hle'/>\
         <feature policy='forbid' name='rtm'/><feature policy='require' name='ssbd'/>\
         <feature policy='force' name='mtrr'/></cpu>",
    );
    let s = LibvirtSection::of_cpu(&c).unwrap();
    let ini = s.ini();
    assert!(ini.starts_with("[libvirt]\ncpu_mode = custom\ncpu_models = Cascadelake-Server\n"), "{ini}");
    let line = ini.lines().find_map(|l| l.strip_prefix("cpu_model_extra_flags = ")).unwrap();
    let back = parse_extra_flags(line);
    let mut want: Vec<(String, Policy)> = c
        .features
        .iter()
        .map(|f| {
            let p = match f.effective_policy() {
                Policy::Force | Policy::Require => Policy::Require,
                _ => Policy::Disable,
            };
            (f.name.clone(), p)
        })
        .collect();
    want.sort();
    assert_eq!(back, want);
    let max = cpu(&map, "<cpu mode='maximum'/>");
    assert!(LibvirtSection::of_cpu(&max).is_err());
}
