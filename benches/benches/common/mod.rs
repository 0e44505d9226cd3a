//! Bench inputs built from the embedded map (nothing copied from ../shared): realistic host
//! `<cpu>` elements (the configurations `benches/compare_libvirt.py` generates), pools of them,
//! CPUID data of map models, guest CPUs.
#![allow(dead_code)]

use cpufleet_engine::x86::model::make_signature;
use cpufleet_engine::{CpuDef, CpuMap, CpuType, Feature, Policy};
use cpufleet_engine::{CpuidData, CpuidKey};
use cpufleet_sim::{Rng, Weighted};
use std::fmt::Write as _;

const EXTRAS_COMMON: &[&str] = &[
    "ds",
    "acpi",
    "ss",
    "ht",
    "tm",
    "pbe",
    "dtes64",
    "monitor",
    "ds_cpl",
    "vmx",
    "smx",
    "est",
    "tm2",
    "xtpr",
    "pdcm",
    "dca",
    "osxsave",
    "tsc_adjust",
    "cmt",
];

/// (model, family/model/stepping, microcode levels, TSC Hz, sockets/dies/cores/threads, extra
/// features): Intel server generations as `virsh capabilities` shows them.
pub struct HostConfig {
    pub model: &'static str,
    pub signature: (u32, u32, u32),
    pub microcode: [u32; 2],
    pub tsc: u64,
    pub topology: (u32, u32, u32, u32),
    pub extras: &'static [&'static str],
}

pub const CONFIGS: &[HostConfig] = &[
    HostConfig {
        model: "Haswell-noTSX-IBRS",
        signature: (6, 63, 2),
        microcode: [70, 73],
        tsc: 2_394_456_000,
        topology: (2, 1, 10, 2),
        extras: &["f16c", "rdrand", "arat", "md-clear", "stibp", "ssbd", "xsaveopt", "pdpe1gb", "abm", "invtsc"],
    },
    HostConfig {
        model: "Broadwell-IBRS",
        signature: (6, 79, 1),
        microcode: [184_549_443, 184_549_447],
        tsc: 2_194_916_000,
        topology: (2, 1, 14, 2),
        extras: &[
            "vme",
            "f16c",
            "rdrand",
            "arat",
            "md-clear",
            "stibp",
            "ssbd",
            "xsaveopt",
            "pdpe1gb",
            "abm",
            "invtsc",
            "mbm_total",
            "mbm_local",
        ],
    },
    HostConfig {
        model: "Skylake-Server-IBRS",
        signature: (6, 85, 4),
        microcode: [33_582_172, 33_582_180],
        tsc: 2_095_078_000,
        topology: (2, 1, 16, 2),
        extras: &[
            "intel-pt",
            "pku",
            "ospke",
            "md-clear",
            "stibp",
            "arch-capabilities",
            "ssbd",
            "xsaves",
            "mbm_total",
            "mbm_local",
            "invtsc",
            "skip-l1dfl-vmentry",
            "pschange-mc-no",
        ],
    },
    HostConfig {
        model: "Cascadelake-Server-noTSX",
        signature: (6, 85, 7),
        microcode: [83_898_371, 83_898_375],
        tsc: 2_294_608_000,
        topology: (2, 1, 20, 2),
        extras: &[
            "intel-pt",
            "pku",
            "ospke",
            "md-clear",
            "stibp",
            "arch-capabilities",
            "xsaves",
            "mbm_total",
            "mbm_local",
            "invtsc",
            "ibrs-all",
            "skip-l1dfl-vmentry",
            "mds-no",
            "pschange-mc-no",
            "tsx-ctrl",
        ],
    },
    HostConfig {
        model: "Icelake-Server-noTSX",
        signature: (6, 106, 6),
        microcode: [218_104_561, 218_104_566],
        tsc: 2_593_906_000,
        topology: (2, 1, 28, 2),
        extras: &[
            "ospke",
            "md-clear",
            "stibp",
            "arch-capabilities",
            "xsaves",
            "mbm_total",
            "mbm_local",
            "invtsc",
            "fsrm",
            "ibrs-all",
            "skip-l1dfl-vmentry",
            "mds-no",
            "pschange-mc-no",
            "taa-no",
            "sha-ni",
            "rdpid",
            "avx512ifma",
        ],
    },
];

/// Pool composition weights of [`CONFIGS`].
pub const WEIGHTS: &[u32] = &[10, 15, 30, 25, 20];

/// One host `<cpu>` element as `virsh capabilities` writes it; `tsc` overrides the config's.
pub fn host_xml(c: &HostConfig, microcode: u32, tsc: u64) -> String {
    let (fam, model, step) = c.signature;
    let (s, d, co, t) = c.topology;
    let mut o = format!(
        "<cpu>\n  <arch>x86_64</arch>\n  <model>{}</model>\n  <vendor>Intel</vendor>\n  <microcode version='{microcode}'/>\n  \
         <signature family='{fam}' model='{model}' stepping='{step}'/>\n  <counter name='tsc' frequency='{tsc}' scaling='no'/>\n  \
         <topology sockets='{s}' dies='{d}' cores='{co}' threads='{t}'/>\n  <maxphysaddr mode='emulate' bits='46'/>\n",
        c.model
    );
    for f in EXTRAS_COMMON.iter().chain(c.extras) {
        let _ = writeln!(o, "  <feature name='{f}'/>");
    }
    o.push_str("  <pages unit='KiB' size='4'/>\n  <pages unit='KiB' size='2048'/>\n  <pages unit='KiB' size='1048576'/>\n</cpu>\n");
    o
}

/// An index into [`CONFIGS`] by [`WEIGHTS`].
pub fn config(rng: &mut Rng) -> usize {
    let weights: Vec<f64> = WEIGHTS.iter().map(|&w| w as f64).collect();
    Weighted::new(&weights).expect("positive weights").pick(rng)
}

/// A pool file of `hosts` host CPUs: the 10 distinct elements of [`CONFIGS`] (two microcode
/// levels each) repeated in random order, or, with `unique`, every host with its own measured
/// TSC frequency (no two elements alike: the scanner's worst case).
pub fn pool(hosts: usize, seed: u64, unique: bool) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let variants: Vec<[String; 2]> =
        CONFIGS.iter().map(|c| [host_xml(c, c.microcode[0], c.tsc), host_xml(c, c.microcode[1], c.tsc)]).collect();
    let mut out = String::new();
    for i in 0..hosts {
        let c = config(&mut rng);
        let v = rng.chance(0.3) as usize;
        if unique {
            let cfg = &CONFIGS[c];
            out.push_str(&host_xml(cfg, cfg.microcode[v], cfg.tsc + i as u64));
        } else {
            out.push_str(&variants[c][v]);
        }
    }
    out.into_bytes()
}

/// The host CPUs of [`CONFIGS`] as parsed definitions.
pub fn host_cpus() -> Vec<CpuDef> {
    CONFIGS
        .iter()
        .map(|c| {
            let xml = host_xml(c, c.microcode[0], c.tsc);
            cpufleet_engine::xml::parse_cpu(
                xml.as_bytes(),
                cpufleet_engine::xml::TypeHint::Host,
                cpufleet_engine::LibvirtVersion::V9_0_0,
                Default::default(),
            )
            .expect("a valid host CPU")
        })
        .collect()
}

/// CPUID data of a host with the features of map model `model` plus `extras`, its vendor's
/// leaf 0 and a leaf 1 signature (what `cpufleet host --dump` prints, built from the map).
pub fn cpuid_of(map: &CpuMap, model: &str, extras: &[&str], signature: (u32, u32, u32)) -> CpuidData {
    let x = &map.x86;
    let m = x.model(model).expect("a map model");
    let mut set = m.features;
    for f in extras {
        set.insert(x.feature_id(f).expect("a map feature"));
    }
    let mut d = x.to_cpuid(&set);
    if let Some(v) = m.vendor {
        d.add(&x.vendors[v].data());
    }
    let (f, mo, s) = signature;
    d.add_item(CpuidKey::Cpuid { leaf: 1, subleaf: 0 }, [make_signature(f, mo, s), 0, 0, 0]);
    d
}

/// CPUID dumps of the bench hosts: [`CONFIGS`] plus a few AMD and older Intel models.
pub fn cpuid_hosts(map: &CpuMap) -> Vec<CpuidData> {
    let mut v: Vec<CpuidData> =
        CONFIGS.iter().map(|c| cpuid_of(map, c.model, &EXTRAS_COMMON[..12], c.signature)).collect();
    v.push(cpuid_of(map, "EPYC-Rome", &["svm", "npt", "nrip-save", "invtsc"], (23, 49, 0)));
    v.push(cpuid_of(map, "EPYC-Milan", &["svm", "npt", "nrip-save", "invtsc", "amd-ssbd"], (25, 1, 1)));
    v.push(cpuid_of(map, "SandyBridge", &["vmx", "ss", "ht", "invtsc"], (6, 45, 7)));
    v.push(cpuid_of(map, "Westmere", &["vmx", "ss", "ht"], (6, 44, 2)));
    v
}

/// Guest CPUs of several models and policies (custom mode, Intel models the bench hosts run).
pub fn guest_cpus(map: &CpuMap) -> Vec<CpuDef> {
    let specs: &[(&str, &[(&str, Policy)])] = &[
        ("Haswell-noTSX-IBRS", &[("vmx", Policy::Require), ("invtsc", Policy::Optional)]),
        ("Broadwell-IBRS", &[("pdpe1gb", Policy::Require), ("md-clear", Policy::Optional)]),
        ("Skylake-Server-IBRS", &[("ssbd", Policy::Require), ("pku", Policy::Optional), ("hle", Policy::Disable)]),
        ("Cascadelake-Server-noTSX", &[("stibp", Policy::Require), ("tsx-ctrl", Policy::Optional)]),
        ("Icelake-Server-noTSX", &[("fsrm", Policy::Optional), ("avx512ifma", Policy::Require)]),
        ("SandyBridge-IBRS", &[("ss", Policy::Force), ("vmx", Policy::Forbid)]),
        ("Nehalem", &[]),
        ("qemu64", &[("x2apic", Policy::Optional)]),
    ];
    specs
        .iter()
        .map(|(m, fs)| {
            assert!(map.x86.model(m).is_some(), "{m}");
            let mut c = CpuDef::new(CpuType::Guest);
            c.model = Some(m.to_string());
            c.features = fs.iter().map(|(n, p)| Feature::new(*n, Some(*p))).collect();
            c
        })
        .collect()
}
