// Included by the law test binaries of each libvirt version (`LIBVIRT` names it); see the
// including files for what the laws are.

use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::Verdict;
use cpufleet_engine::xml::{self, Limits, TypeHint};
use cpufleet_engine::{CpuDef, CpuMatch, CpuMode, CpuType, Fallback};
use proptest::prelude::*;
use proptest::sample::select;
use strategies::map;

/// The POWER<n> models of the map, with n.
fn power_models() -> Vec<(String, i64)> {
    map()
        .ppc64
        .models
        .iter()
        .filter_map(|m| Some((m.name.clone(), m.name.strip_prefix("POWER")?.parse().ok()?)))
        .collect()
}

fn ppc64_models() -> Vec<String> {
    map().ppc64.models.iter().map(|m| m.name.clone()).collect()
}

fn ppc64_host(model: &str, vendor: Option<String>, le: bool) -> CpuDef {
    let mut c = CpuDef::new(CpuType::Host);
    c.arch = Some(if le { "ppc64le" } else { "ppc64" }.into());
    c.model = Some(model.to_string());
    c.vendor = vendor;
    c
}

/// A guest in host-model mode asking for compatibility mode `compat` (its `<model>` text).
fn compat_guest(compat: Option<String>) -> CpuDef {
    let mut g = CpuDef::new(CpuType::Guest);
    g.mode = CpuMode::HostModel;
    g.model = compat;
    g
}

/// How one copy in a ppc64 baseline states its vendor: none, the model's, another map vendor,
/// or a name the map does not know.
#[derive(Clone, Debug)]
enum PpcVendor {
    Absent,
    Model,
    Map(usize),
    Unknown,
}

fn ppc_vendor() -> impl Strategy<Value = PpcVendor> {
    prop_oneof![
        4 => Just(PpcVendor::Absent),
        4 => Just(PpcVendor::Model),
        1 => (0..2usize).prop_map(PpcVendor::Map),
        1 => Just(PpcVendor::Unknown),
    ]
}

/// Spellings of a compatibility mode number m that `virStrToLong_i` reads as m (README 5:
/// whole decimal integers; strtol takes leading white space, a sign and leading zeros).
fn spell(m: i64, style: u8) -> String {
    match style % 4 {
        0 => format!("power{m}"),
        1 => format!("power+{m}"),
        2 => format!("power0{m}"),
        _ => format!("power {m}"),
    }
}

proptest! {
    #![proptest_config(strategies::config(concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/laws_ppc64.txt")))]

    /// The baseline of copies of one model (host or guest copies, any arch spelling) is that
    /// model: a guest CPU, match exact, fallback forbid, and no vendor since every ppc64 model
    /// of the map has one (README 5: only vendorless models keep the common vendor). It fails
    /// exactly when a copy states a vendor that is unknown or not its model's.
    #[test]
    fn ppc64_baseline_of_identical_models_is_that_model(
        model in select(ppc64_models()),
        copies in proptest::collection::vec((ppc_vendor(), any::<bool>(), any::<bool>()), 1..6),
        mig in any::<bool>(),
    ) {
        let p = &map().ppc64;
        let m = p.model(&model).unwrap();
        let own = p.vendor_name(m.vendor).map(str::to_string);
        let mut consistent = true;
        let cpus: Vec<CpuDef> = copies
            .iter()
            .map(|(v, le, guest)| {
                let vendor = match v {
                    PpcVendor::Absent => None,
                    PpcVendor::Model => own.clone(),
                    PpcVendor::Map(i) => Some(p.vendors[i % p.vendors.len()].clone()),
                    PpcVendor::Unknown => Some("Motorola".to_string()),
                };
                if vendor.is_some() && vendor != own {
                    consistent = false;
                }
                let mut c = ppc64_host(&model, vendor, *le);
                if *guest {
                    c.cpu_type = CpuType::Guest;
                    c.arch = None;
                }
                c
            })
            .collect();
        let r = ops::baseline(map(), &cpus, Some(Arch::Ppc64), mig);
        prop_assert_eq!(r.is_ok(), consistent, "{:?}", r);
        if let Ok(r) = r {
            prop_assert_eq!(r.model.as_deref(), Some(model.as_str()));
            prop_assert_eq!(r.vendor, None);
            prop_assert_eq!((r.cpu_type, r.match_, r.fallback), (CpuType::Guest, CpuMatch::Exact, Fallback::Forbid));
            // The arch is found from the model when none is given.
            prop_assert_eq!(ops::baseline(map(), &cpus, None, mig).map(|c| c.model), Ok(Some(model.clone())));
        }
    }

    /// A baseline over two different models fails (only identical models baseline).
    #[test]
    fn ppc64_baseline_of_different_models_fails(a in 0..ppc64_models().len(), shift in 1..ppc64_models().len()) {
        let models = ppc64_models();
        let (a, b) = (&models[a], &models[(a + shift) % models.len()]);
        let cpus = [ppc64_host(a, None, false), ppc64_host(b, None, false)];
        prop_assert!(ops::baseline(map(), &cpus, Some(Arch::Ppc64), false).is_err());
    }

    /// A POWER<n> host runs a host-model guest in compatibility mode power<m> exactly when
    /// m <= n: a newer host against an older compat guest is identical, never incompatible; an
    /// older host against a newer mode is incompatible. A host-model guest with no mode runs
    /// on every POWER host.
    #[test]
    fn ppc64_newer_host_runs_older_compat_guest(
        (host_model, n) in select(power_models()),
        m in 6i64..=10,
        style in any::<u8>(),
        le in any::<bool>(),
    ) {
        let host = ppc64_host(&host_model, Some("IBM".into()), le);
        let v = ops::compare(map(), &host, &compat_guest(Some(spell(m, style)))).verdict;
        let want = if m <= n { Verdict::Identical } else { Verdict::Incompatible };
        prop_assert_eq!(v, want, "host {} mode {}", host_model, spell(m, style));
        prop_assert_eq!(ops::compare(map(), &host, &compat_guest(None)).verdict, Verdict::Identical);
    }

    /// Compatibility values outside 6..10, and anything that is not a whole number (`power7+`,
    /// `power8.0`, `POWER8`), are errors, not incompatibilities; so is any compat mode on a
    /// host that is not POWER<n> (e.g. POWERPC_e5500).
    #[test]
    fn ppc64_compat_mode_outside_6_to_10_is_an_error(
        (host_model, _n) in select(power_models()),
        m in prop_oneof![i64::MIN..6i64, 11i64..=i64::MAX, -10i64..6, 11i64..100],
        style in any::<u8>(),
        junk in select(vec!["power7+", "power8.0", "power", "power8x", "POWER8", "power0x8", "power 8 ", "", "power-"]),
        other_host in select(vec!["POWERPC_e5500", "POWERPC_e6500"]),
        ok_mode in 6i64..=10,
    ) {
        let host = ppc64_host(&host_model, None, false);
        let out_of_range = ops::compare(map(), &host, &compat_guest(Some(spell(m, style)))).verdict;
        prop_assert_eq!(out_of_range, Verdict::Error, "mode {}", spell(m, style));
        // An empty <model> is no model at all (README 2), so "" is not a compat value.
        let want = if junk.is_empty() { Verdict::Identical } else { Verdict::Error };
        let junk_guest = compat_guest(Some(junk.to_string()).filter(|s| !s.is_empty()));
        prop_assert_eq!(ops::compare(map(), &host, &junk_guest).verdict, want, "mode {:?}", junk);
        let e = ppc64_host(other_host, None, false);
        prop_assert_eq!(ops::compare(map(), &e, &compat_guest(Some(spell(ok_mode, 0)))).verdict, Verdict::Error);
    }

    /// Custom ppc64 guests: identical exactly when the model (after the legacy-name conversion
    /// of `POWER7_v2.1`-style names) is the host's, incompatible for another map model, error
    /// for a name the map does not know. match strict and exact behave alike.
    #[test]
    fn ppc64_custom_compare_is_by_model_name(
        host_model in select(ppc64_models()),
        guest_model in select(vec![
            "POWER6", "POWER7", "POWER8", "POWER9", "POWER10", "POWERPC_e5500", "POWERPC_e6500",
            "POWER7_v2.1", "POWER7_v2.3", "POWER7+_v2.1", "POWER8_v1.0", "power8e", "POWER7+",
        ]),
        strict in any::<bool>(),
    ) {
        let host = ppc64_host(&host_model, None, false);
        let mut g = CpuDef::new(CpuType::Guest);
        g.model = Some(guest_model.to_string());
        g.match_ = if strict { CpuMatch::Strict } else { CpuMatch::Exact };
        let converted = match guest_model {
            "POWER7_v2.1" | "POWER7_v2.3" | "POWER7+_v2.1" => "POWER7",
            "POWER8_v1.0" => "POWER8",
            other => other,
        };
        let want = if converted == host_model {
            Verdict::Identical
        } else if map().ppc64.model(converted).is_some() {
            Verdict::Incompatible
        } else {
            Verdict::Error
        };
        prop_assert_eq!(ops::compare(map(), &host, &g).verdict, want);
    }

    /// ppc64 host CPUs round-trip through XML, and update only sets match exact on custom
    /// guests (README 5), leaving host-model compat guests alone.
    #[test]
    fn ppc64_roundtrip_and_update(model in select(ppc64_models()), le in any::<bool>(), m in 6i64..=10) {
        let host = ppc64_host(&model, Some("IBM".into()), le);
        let text = xml::format_cpu(&host);
        prop_assert_eq!(xml::parse_cpu(text.as_bytes(), TypeHint::Auto, crate::LIBVIRT, Limits::default()), Ok(host.clone()));
        let mut custom = CpuDef::new(CpuType::Guest);
        custom.model = Some(model.clone());
        custom.match_ = CpuMatch::Minimum;
        prop_assert!(ops::update(map(), Arch::Ppc64, &mut custom, Some(&host)).is_ok());
        prop_assert_eq!(custom.match_, CpuMatch::Exact);
        prop_assert_eq!(custom.model.as_deref(), Some(model.as_str()));
        let g = compat_guest(Some(format!("power{m}")));
        let mut updated = g.clone();
        prop_assert!(ops::update(map(), Arch::Ppc64, &mut updated, Some(&host)).is_ok());
        prop_assert_eq!(updated, g);
    }
}
