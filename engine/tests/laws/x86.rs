// Included by the law test binaries of each libvirt version (`LIBVIRT` names it); see the
// including files for what the laws are.

use cpufleet_engine::ops;
use cpufleet_engine::x86::{self, Reason, Sel, Verdict, X86Data};
use cpufleet_engine::xml::{self, Limits, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMatch, CpuMode, CpuType, CpuidKey, Fallback, Feature, FeatureId, Policy};
use proptest::prelude::*;
use proptest::sample::{select, subsequence, Index};
use std::collections::BTreeSet;
use strategies::{map, minus, naive, Names, Pick};

fn names_of(set: &cpufleet_engine::FeatureSet) -> Names {
    set.iter().map(|id| map().x86.feature_name(id).to_string()).collect()
}

/// A host CPU and a guest derived from it: the host's model, a random part of the host's
/// features with random policies, a few features the host lacks (disable / forbid / optional),
/// any match. Reaches identical, superset and incompatible verdicts alike.
fn host_and_derived_guest() -> impl Strategy<Value = (CpuDef, CpuDef)> {
    strategies::x86_host().prop_flat_map(|host| {
        let have: Vec<String> = naive::all(&host).into_iter().collect();
        let lack: Vec<String> = minus(&map().x86.features.iter().map(|f| f.name.clone()).collect(), &naive::all(&host))
            .into_iter()
            .collect();
        let n_have = have.len();
        let n_lack = lack.len().min(4);
        (
            Just(host),
            subsequence(have, 0..=n_have),
            proptest::collection::vec(
                select(vec![Policy::Require, Policy::Force, Policy::Optional, Policy::Disable]),
                n_have,
            ),
            subsequence(lack, 0..=n_lack),
            proptest::collection::vec(
                select(vec![Policy::Disable, Policy::Forbid, Policy::Optional, Policy::Require]),
                4,
            ),
            select(CpuMatch::ALL.to_vec()),
            any::<bool>(),
        )
            .prop_map(|(host, have, hp, lack, lp, m, vendor)| {
                let mut g = CpuDef::new(CpuType::Guest);
                g.model = host.model.clone();
                g.match_ = m;
                g.vendor = host.vendor.clone().filter(|_| vendor);
                g.features = have
                    .into_iter()
                    .zip(hp)
                    .chain(lack.into_iter().zip(lp))
                    .map(|(n, p)| Feature::new(n, Some(p)))
                    .collect();
                (host, g)
            })
    })
}

fn compare_pair() -> impl Strategy<Value = (CpuDef, CpuDef)> {
    prop_oneof![
        2 => (strategies::x86_host(), strategies::x86_guest()),
        1 => (strategies::x86_host(), strategies::x86_host()),
        3 => host_and_derived_guest(),
    ]
}

/// A partition of `0..n` given by group labels (empty groups dropped).
fn groups_of(labels: &[usize], cpus: &[CpuDef]) -> Vec<Vec<CpuDef>> {
    let mut groups: Vec<Vec<CpuDef>> = vec![Vec::new(); 4];
    for (cpu, &l) in cpus.iter().zip(labels) {
        groups[l % 4].push(cpu.clone());
    }
    groups.into_iter().filter(|g| !g.is_empty()).collect()
}

/// A pool in which every CPU states the same (map) vendor, consistent with its model.
fn stated_pool(min: usize, max: usize) -> impl Strategy<Value = Vec<CpuDef>> {
    (0..3usize).prop_flat_map(move |family| {
        proptest::collection::vec(strategies::x86_host_of(strategies::family_models(family)), min..=max).prop_map(
            move |mut pool| {
                for c in &mut pool {
                    c.vendor = Some(map().x86.vendors[family].name.clone());
                }
                pool
            },
        )
    })
}

/// Adds random `optional` features (names the guest does not list yet) to a guest.
fn with_optionals(g: CpuDef, extra: BTreeSet<usize>) -> CpuDef {
    let mut g = g;
    for id in extra {
        let name = strategies::feature_name(id);
        g.add_feature_if_missing(&name, Some(Policy::Optional));
    }
    g
}

fn compatible(host: &CpuDef, cpu: &CpuDef) -> bool {
    x86::compare(&map().x86, host, cpu).verdict.is_compatible()
}

/// The guest as `update` leaves it when nothing is relative: its model's removed features added
/// as `disable` unless listed (README 4.5, last paragraph).
fn with_removed(g: &CpuDef) -> CpuDef {
    let x = &map().x86;
    let mut g = g.clone();
    let m = x.model(g.model.as_deref().unwrap()).unwrap();
    for &id in &m.removed {
        g.add_feature_if_missing(x.feature_name(id), Some(Policy::Disable));
    }
    g
}

/// `x86MakeSignature` as README 3.7 states it.
fn make_signature(family: u32, model: u32, stepping: u32) -> u32 {
    let fam = if family > 15 { ((family - 15) << 20) | (15 << 8) } else { family << 8 };
    fam | ((model >> 4) << 16) | ((model & 15) << 4) | (stepping & 15)
}

/// README 4.3 step 2: the TSX filter applies to Intel signatures family 6 model 63 stepping < 4,
/// or model 60, 69, 70.
fn tsx_filtered(vendor: Option<&str>, eax: u32) -> bool {
    let family = ((eax >> 20) & 0xff) + ((eax >> 8) & 0xf);
    let model = (((eax >> 16) & 0xf) << 4) + ((eax >> 4) & 0xf);
    let stepping = eax & 0xf;
    vendor == Some("Intel") && family == 6 && ((model == 63 && stepping < 4) || matches!(model, 60 | 69 | 70))
}

/// Inputs of the decode law: a host-decodable model, extra features, a few of the model's
/// features removed (edge: no model fits), a vendor (the model's, another, none) and a leaf-1
/// signature (one of the model's with any stepping, a random one, none).
fn decode_input() -> impl Strategy<Value = (usize, BTreeSet<usize>, Vec<Index>, Option<usize>, u32)> {
    let x = &map().x86;
    let models: Vec<usize> = (0..x.models.len()).filter(|&i| x.models[i].decode_host).collect();
    (select(models), proptest::collection::btree_set(0..x.features.len(), 0..12)).prop_flat_map(|(m, extra)| {
        let model = &map().x86.models[m];
        let own_vendor = model.vendor;
        let sigs = model.signatures.clone();
        let sig = if sigs.is_empty() {
            prop_oneof![Just(0u32), any::<u32>()].boxed()
        } else {
            prop_oneof![
                3 => (select(sigs), 0u32..16).prop_map(|(s, st)| make_signature(s.family, s.model, st)),
                1 => Just(0u32),
                1 => any::<u32>(),
            ]
            .boxed()
        };
        let vendor = prop_oneof![4 => Just(own_vendor), 1 => Just(None), 1 => (0..3usize).prop_map(Some)];
        let removals = prop_oneof![4 => Just(Vec::new()), 1 => proptest::collection::vec(any::<Index>(), 1..4)];
        (Just(m), Just(extra), removals, vendor, sig)
    })
}

proptest! {
    #![proptest_config(strategies::config(concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/laws.txt")))]

    // ---------------------------------------------------------------- XML round trip

    /// read(write(cpu)) == cpu for host CPUs (every field the format carries, hostile text).
    #[test]
    fn xml_roundtrip_host(cpu in strategies::canonical_host()) {
        let text = xml::format_cpu(&cpu);
        let back = xml::parse_cpu(text.as_bytes(), TypeHint::Auto, crate::LIBVIRT, Limits::default());
        prop_assert_eq!(back.as_ref(), Ok(&cpu), "written:\n{}", text);
        let forced = xml::parse_cpu(text.as_bytes(), TypeHint::Host, crate::LIBVIRT, Limits::default());
        prop_assert_eq!(forced.as_ref(), Ok(&cpu));
    }

    /// read(write(cpu)) == cpu for guest CPUs of every mode. Precisely: the writer writes
    /// nothing for exactly one guest, the empty custom CPU (libvirt does the same), which
    /// therefore has no text to read back.
    #[test]
    fn xml_roundtrip_guest(cpu in strategies::canonical_guest()) {
        let text = xml::format_cpu(&cpu);
        if text.is_empty() {
            prop_assert_eq!(&cpu, &CpuDef::new(CpuType::Guest));
        } else {
            let back = xml::parse_cpu(text.as_bytes(), TypeHint::Auto, crate::LIBVIRT, Limits::default());
            prop_assert_eq!(back.as_ref(), Ok(&cpu), "written:\n{}", text);
        }
    }

    /// A document of several CPUs (what `cpufleet fmt` writes) reads back to the same CPUs.
    #[test]
    fn xml_roundtrip_document(
        cpus in proptest::collection::vec(prop_oneof![strategies::canonical_host(), strategies::canonical_guest()], 1..5),
    ) {
        let text: String = cpus.iter().map(xml::format_cpu).collect();
        let written: Vec<CpuDef> = cpus.into_iter().filter(|c| !xml::format_cpu(c).is_empty()).collect();
        prop_assume!(!written.is_empty());
        let doc = xml::read_cpu_document(text.as_bytes(), TypeHint::Auto, crate::LIBVIRT, Limits::default());
        prop_assert_eq!(doc.map(|d| d.cpus), Ok(written), "written:\n{}", text);
    }

    /// read(write(data)) == data for CPUID dumps (all-zero items are invisible, so the
    /// comparison is on the normalised data).
    #[test]
    fn cpuid_roundtrip(data in strategies::cpuid_data()) {
        let text = xml::format_cpuid_data(&data);
        let back = xml::parse_cpuid_data(text.as_bytes(), Limits::default());
        prop_assert_eq!(back, Ok(data.normalized()), "written:\n{}", text);
    }

    // ---------------------------------------------------------------- ModelFromCPU

    /// The engine's bitset ModelFromCPU agrees with the naive one for ALL and every policy.
    #[test]
    fn model_from_cpu_matches_naive(cpu in prop_oneof![strategies::x86_host(), strategies::x86_guest()]) {
        let x = &map().x86;
        let mut picks = vec![(Sel::All, Pick::All)];
        picks.extend(strategies::POLICIES.iter().map(|&p| (Sel::Only(p), Pick::Only(p))));
        for (sel, pick) in picks {
            let got = x86::model_from_cpu(x, &cpu, sel).map(|m| names_of(&m.features)).map_err(|e| e.to_string());
            let want = naive::from_cpu(&cpu, pick);
            prop_assert_eq!(got.is_ok(), want.is_ok());
            if let (Ok(g), Ok(w)) = (got, want) {
                prop_assert_eq!(g, w, "{:?}", pick);
            }
        }
    }

    // ---------------------------------------------------------------- compare

    /// compare is consistent with subsets of feature sets: the engine's verdict equals the
    /// naive model's (README 4.2 on name sets: forbidden ∩ host, required ⊆ host, extra host
    /// features), for independent and derived pairs, every match and policy.
    #[test]
    fn compare_matches_naive((host, cpu) in compare_pair()) {
        let got = ops::compare(map(), &host, &cpu);
        let want = naive::compare(&host, &cpu);
        prop_assert_eq!(got.verdict, want, "reason {:?}", got.reason);
    }

    /// Host against host: identical iff the feature sets are equal, superset iff the second is a
    /// proper subset, incompatible iff it is not a subset (or states a vendor the first lacks).
    #[test]
    fn compare_hosts_is_subset(
        (a, b) in prop_oneof![
            strategies::x86_pool(2, 2).prop_map(|p| (p[0].clone(), p[1].clone())),
            (strategies::x86_host(), any::<bool>()).prop_map(|(h, drop_vendor)| {
                let mut b = h.clone();
                b.features.reverse();
                if drop_vendor { b.vendor = None; }
                (h, b)
            }),
        ],
    ) {
        // The law is about host CPUs: a pool may hold guest CPUs too (baseline accepts them),
        // whose `disable`/`forbid` policies x86Compute reads differently from a feature set.
        prop_assume!(b.cpu_type == CpuType::Host);
        let (ha, hb) = (naive::all(&a), naive::all(&b));
        let vendor_ok = b.vendor.is_none() || b.vendor == a.vendor;
        let want = if !vendor_ok || !hb.is_subset(&ha) {
            Verdict::Incompatible
        } else if ha == hb {
            Verdict::Identical
        } else {
            Verdict::Superset
        };
        prop_assert_eq!(x86::compare(&map().x86, &a, &b).verdict, want);
    }

    /// A `forbid` feature the host has makes the CPU incompatible, whatever else it says.
    #[test]
    fn compare_forbid_on_host_is_incompatible((host, guest) in compare_pair(), pick in any::<Index>()) {
        let have: Vec<String> = naive::all(&host).into_iter().collect();
        prop_assume!(!have.is_empty());
        let mut g = guest;
        g.cpu_type = CpuType::Guest;
        let f = pick.get(&have).clone();
        g.set_feature(&f, Some(Policy::Forbid));
        let c = x86::compare(&map().x86, &host, &g);
        prop_assert_eq!(c.verdict, Verdict::Incompatible);
    }

    /// `match='strict'` turns exactly the superset verdict (extra host features) into
    /// incompatible, naming the extra features; identical and incompatible stay.
    #[test]
    fn compare_strict_rejects_extra_host_features((host, guest) in host_and_derived_guest()) {
        let x = &map().x86;
        let mut exact = guest.clone();
        exact.match_ = CpuMatch::Exact;
        let mut strict = guest;
        strict.match_ = CpuMatch::Strict;
        let (ve, vs) = (x86::compare(x, &host, &exact), x86::compare(x, &host, &strict));
        match ve.verdict {
            Verdict::Superset => {
                prop_assert_eq!(vs.verdict, Verdict::Incompatible);
                match (&vs.reason, &ve.reason) {
                    (Reason::Extra(extra), Reason::Superset(diff)) => {
                        prop_assert!(!extra.is_empty());
                        prop_assert_eq!(extra, diff);
                    }
                    other => prop_assert!(false, "reasons {:?}", other),
                }
            }
            v => prop_assert_eq!(vs.verdict, v),
        }
    }

    // ---------------------------------------------------------------- baseline

    /// The engine's baseline succeeds exactly when the naive model's does (README 4.4, vendor
    /// rules included, on any pool), and then: it provides exactly the intersection `base`
    /// (with `migratable`: exactly base outside the non-migratable features NM, and inside NM
    /// exactly what its chosen model lists, since decode drops every NM entry, require and
    /// disable alike); it carries the naive vendor; its model's vendor fits the working vendor;
    /// fallback is forbid iff one distinct input model name was given and chosen.
    #[test]
    fn baseline_matches_naive(pool in strategies::x86_pool(1, 6), mig in any::<bool>()) {
        let x = &map().x86;
        let got = x86::baseline(x, &pool, mig);
        let want = naive::baseline(&pool);
        prop_assert_eq!(got.is_ok(), want.is_ok(), "engine {:?}\nnaive {:?}", got, want);
        let (Ok(r), Ok(w)) = (got, want) else { return Ok(()) };
        let provided = strategies::engine_all(&r);
        let model = r.model.clone().unwrap();
        let nm = strategies::non_migratable();
        if mig {
            prop_assert_eq!(minus(&provided, &nm), minus(&w.features, &nm));
            let model_nm: Names = strategies::model_names(&model).unwrap().intersection(&nm).cloned().collect();
            prop_assert_eq!(provided.intersection(&nm).cloned().collect::<Names>(), model_nm);
        } else {
            prop_assert_eq!(&provided, &w.features);
        }
        prop_assert_eq!(&r.vendor, &w.vendor);
        let mv = strategies::model_vendor(&r);
        prop_assert!(mv.is_none() || w.working_vendor.is_none() || mv == w.working_vendor);
        let single = w.names.len() == 1 && r.model.as_deref() == Some(w.names[0].as_str());
        prop_assert_eq!(r.fallback == Fallback::Forbid, single);
        prop_assert_eq!((r.cpu_type, r.mode, r.match_), (CpuType::Guest, CpuMode::Custom, CpuMatch::Exact));
        prop_assert!(r.signature.is_none() && r.arch.is_none());
    }

    /// Baseline is order-independent. Precisely, on vendor-consistent pools (every stated vendor
    /// is its model's, all effective vendors agree): success, the set of features the result
    /// provides (ModelFromCPU(result, ALL); outside the non-migratable features when
    /// `migratable`) and the result's vendor do not depend on the order. The model *name* may:
    /// the working vendor comes from the first CPU that names one, and it filters decode
    /// candidates. On inconsistent pools even success depends on the order (README 4.4 checks
    /// cpus[0] differently; see `baseline_order_matters_for_inconsistent_vendors`).
    #[test]
    fn baseline_is_order_independent(
        (pool, shuffled) in strategies::x86_consistent_pool(1, 6).prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        mig in any::<bool>(),
    ) {
        let x = &map().x86;
        let (a, b) = (x86::baseline(x, &pool, mig), x86::baseline(x, &shuffled, mig));
        prop_assert_eq!(a.is_ok(), b.is_ok(), "{:?}\nvs {:?}", a, b);
        if let (Ok(a), Ok(b)) = (a, b) {
            let nm = strategies::non_migratable();
            let (fa, fb) = (strategies::engine_all(&a), strategies::engine_all(&b));
            if mig {
                prop_assert_eq!(minus(&fa, &nm), minus(&fb, &nm));
            } else {
                prop_assert_eq!(fa, fb);
            }
            prop_assert_eq!(a.vendor, b.vendor);
        }
    }

    /// Baseline of copies of one CPU keeps all its features, and its model exactly when the
    /// model is guest-decodable (`decode guest='on'`), then with fallback forbid. It fails only
    /// if the CPU has no feature at all. Precondition: the CPU's vendor is its model's or none.
    #[test]
    fn baseline_is_idempotent(
        cpu in strategies::x86_host().prop_map(|mut c| {
            // The precondition, by construction: an inconsistent stated vendor is dropped.
            if !strategies::vendor_consistent(std::slice::from_ref(&c)) {
                c.vendor = None;
            }
            c
        }),
        copies in 1usize..5,
        mig in any::<bool>(),
    ) {
        prop_assert!(strategies::vendor_consistent(std::slice::from_ref(&cpu)));
        let x = &map().x86;
        let own = naive::all(&cpu);
        let r = x86::baseline(x, &vec![cpu.clone(); copies], mig);
        prop_assert_eq!(r.is_ok(), !own.is_empty());
        let r = r.unwrap();
        let nm = strategies::non_migratable();
        let provided = strategies::engine_all(&r);
        if mig {
            prop_assert_eq!(minus(&provided, &nm), minus(&own, &nm));
        } else {
            prop_assert_eq!(&provided, &own);
        }
        let decodable = x.model(cpu.model.as_deref().unwrap()).unwrap().decode_guest;
        prop_assert_eq!(r.model == cpu.model, decodable, "chose {:?}", r.model);
        prop_assert_eq!(r.fallback == Fallback::Forbid, decodable);
    }

    /// The baseline is a subset of every input, and every input (as host) compares identical or
    /// superset against it. Precisely, with `migratable`: an input runs the result exactly when
    /// it has the non-migratable features of the result's model (the decode drops their
    /// `disable` entries, e.g. `xsaves` of EPYC-Milan).
    #[test]
    fn baseline_is_run_by_every_input(pool in strategies::x86_pool(1, 6), mig in any::<bool>()) {
        let x = &map().x86;
        let Ok(r) = x86::baseline(x, &pool, mig) else { return Ok(()) };
        let provided = strategies::engine_all(&r);
        let nm = strategies::non_migratable();
        let model_nm: Names =
            strategies::model_names(r.model.as_deref().unwrap()).unwrap().intersection(&nm).cloned().collect();
        for host in &pool {
            let h = naive::all(host);
            prop_assert!(minus(&provided, &nm).is_subset(&h));
            if !mig {
                prop_assert!(provided.is_subset(&h));
            }
            let v = x86::compare(x, host, &r).verdict;
            let expect = !mig || model_nm.is_subset(&h);
            prop_assert_eq!(v.is_compatible(), expect, "{:?} for host {:?}", v, host.model);
        }
    }

    /// Monotone: adding a host never adds a feature to the baseline (outside NM with
    /// `migratable`), and on vendor-consistent pools never turns a failure into a success.
    #[test]
    fn baseline_is_monotone(pool in strategies::x86_pool(2, 6), mig in any::<bool>()) {
        let x = &map().x86;
        let small = x86::baseline(x, &pool[..pool.len() - 1], mig);
        let big = x86::baseline(x, &pool, mig);
        if strategies::vendor_consistent(&pool) && small.is_err() {
            prop_assert!(big.is_err());
        }
        if let (Ok(s), Ok(b)) = (small, big) {
            let nm = strategies::non_migratable();
            let (fs, fb) = (strategies::engine_all(&s), strategies::engine_all(&b));
            prop_assert!(minus(&fb, &nm).is_subset(&minus(&fs, &nm)));
            if !mig {
                prop_assert!(fb.is_subset(&fs));
            }
        }
    }

    /// Explain (`x86::explain`) is libvirt's baseline run again: a single input is listed as
    /// limiting exactly when removing every CPU equal to it changes the model or the features the
    /// baseline provides, and each limit's `without` is the baseline of the remaining CPUs.
    #[test]
    fn explain_lists_exactly_the_removals_that_change_the_baseline(
        pool in strategies::x86_pool(2, 6), mig in any::<bool>(),
    ) {
        use x86::explain::{explain, provided, DistinctInput};
        let x = &map().x86;
        let Ok(full) = x86::baseline(x, &pool, mig) else { return Ok(()) };
        let mut inputs: Vec<DistinctInput> = Vec::new();
        let mut of_cpu = Vec::new();
        for (i, c) in pool.iter().enumerate() {
            let input = x86::BaselineInput::from_cpu(x, c, i).unwrap();
            match inputs.iter().position(|d| d.input == input) {
                Some(k) => { inputs[k].count += 1; of_cpu.push(k) }
                None => { inputs.push(DistinctInput { input, count: 1 }); of_cpu.push(inputs.len() - 1) }
            }
        }
        let ex = explain(x, &inputs, mig).unwrap();
        prop_assert_eq!(&ex.provides, &provided(x, &full).unwrap());
        for k in 0..inputs.len() {
            let rest: Vec<CpuDef> =
                pool.iter().zip(&of_cpu).filter(|(_, &o)| o != k).map(|(c, _)| c.clone()).collect();
            let listed = ex.limits.iter().find(|l| l.inputs == vec![k]);
            let changes = match (rest.is_empty(), x86::baseline(x, &rest, mig)) {
                (false, Ok(w)) => {
                    let changes = w.model != full.model || provided(x, &w).unwrap() != ex.provides;
                    if let Some(l) = listed { prop_assert_eq!(&l.without, &w); }
                    changes
                }
                _ => false,
            };
            prop_assert_eq!(listed.is_some(), changes, "distinct input {}", k);
        }
    }

    /// Associative in effect: the baseline of the baselines of a partition provides the same
    /// features as the baseline of the whole (not migratable). Precisely: whenever all of them
    /// succeed the feature sets are equal; and when every CPU states the same vendor
    /// (consistently) the nested baseline succeeds exactly when the flat one does. Without stated
    /// vendors success is not associative: a part of vendorless models (e.g. qemu64 + kvm64) is
    /// named after a model of any vendor, whose vendor then clashes in the outer baseline.
    #[test]
    fn baseline_is_associative(
        (pool, labels) in prop_oneof![strategies::x86_consistent_pool(2, 7), stated_pool(2, 7)]
            .prop_flat_map(|p| { let n = p.len(); (Just(p), proptest::collection::vec(0..4usize, n)) }),
    ) {
        let x = &map().x86;
        let flat = x86::baseline(x, &pool, false);
        let parts: Vec<_> = groups_of(&labels, &pool).iter().map(|g| x86::baseline(x, g, false)).collect();
        let nested = if parts.iter().all(Result::is_ok) {
            let results: Vec<CpuDef> = parts.iter().map(|r| r.clone().unwrap()).collect();
            Some(x86::baseline(x, &results, false))
        } else {
            None
        };
        if let (Ok(f), Some(Ok(n))) = (&flat, &nested) {
            prop_assert_eq!(strategies::engine_all(f), strategies::engine_all(n));
        }
        let stated: BTreeSet<Option<String>> = pool.iter().map(|c| c.vendor.clone()).collect();
        if stated.len() == 1 && !stated.contains(&None) {
            prop_assert_eq!(flat.is_ok(), matches!(nested, Some(Ok(_))), "flat {:?}\nparts {:?}", flat, parts);
        }
    }

    /// The fuzz target `baseline_laws` checks the same laws with its own reference model; its
    /// checker must accept every generated pool (the engine obeys the laws), so that a fuzz
    /// crash always means a broken law, never a broken checker.
    #[test]
    fn fuzz_baseline_checker_accepts_generated_pools(
        pool in strategies::x86_pool(1, 6),
        order in proptest::collection::vec(0usize..6, 0..6),
        split in 0usize..6,
        migratable in any::<bool>(),
    ) {
        let p = cpufleet_reference::laws::BaselinePool { cpus: pool, order, split, migratable };
        let r = cpufleet_reference::laws::baseline_laws(map(), &p);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    // ---------------------------------------------------------------- update

    /// update equals the naive update (README 4.5) exactly, CPU for CPU, for every mode, match
    /// and policy (against the host's migratable copy, as libvirt does at start).
    #[test]
    fn update_matches_naive(host in strategies::x86_host(), guest in strategies::x86_guest()) {
        let x = &map().x86;
        let mig = x86::copy_migratable(x, &host);
        let mut got = guest.clone();
        let r = x86::update(x, &mut got, Some(&mig));
        let want = naive::update(&guest, &mig);
        prop_assert_eq!(r.is_ok(), want.is_ok());
        if let Ok(w) = want {
            prop_assert_eq!(got, w);
        }
    }

    /// update never enables a `forbid` or `disable` feature: each keeps its policy and stays out
    /// of what the updated CPU provides. After update no `optional` remains (custom and
    /// host-model); passthrough and maximum CPUs are left exactly as they were.
    #[test]
    fn update_never_enables_forbidden_and_resolves_optional(host in strategies::x86_host(), guest in strategies::x86_guest()) {
        let x = &map().x86;
        let mut g = guest.clone();
        prop_assert!(x86::update(x, &mut g, Some(&host)).is_ok());
        if matches!(guest.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
            prop_assert_eq!(&g, &guest);
            return Ok(());
        }
        let provided = strategies::engine_all(&g);
        for f in guest.features.iter().filter(|f| matches!(f.policy, Some(Policy::Disable | Policy::Forbid))) {
            prop_assert_eq!(g.feature(&f.name).map(|h| h.policy), Some(f.policy), "{}", f.name);
            prop_assert!(!provided.contains(&f.name), "{} enabled", f.name);
        }
        prop_assert!(g.features.iter().all(|f| f.policy != Some(Policy::Optional)));
        prop_assert_eq!(g.mode, CpuMode::Custom);
    }

    /// A custom guest (match exact or strict) updated on host A and compared on host B: with P
    /// the features A promoted (optional → require), B runs the updated guest exactly when B
    /// runs the guest as it was and B has every feature of P. Precisely, "as it was" is the
    /// guest with its model's removed features added as `disable`, which update always does
    /// (README 4.5); for match exact that makes no difference (also checked), for strict it
    /// can: an extra host feature such as `monitor` is then no longer extra. Same vendor
    /// situation on both sides: update does not touch a custom guest's vendor.
    #[test]
    fn update_on_a_then_compare_on_b(
        guest in strategies::x86_custom_guest(vec![CpuMatch::Exact, CpuMatch::Strict]),
        extra in proptest::collection::btree_set(0..212usize, 0..6),
        hosts in strategies::x86_pool(2, 2),
    ) {
        let x = &map().x86;
        let (a, b) = (&hosts[0], &hosts[1]);
        let g = with_optionals(guest, extra);
        let mut started = g.clone();
        prop_assert!(x86::update(x, &mut started, Some(a)).is_ok());
        let promoted: Names = g
            .features
            .iter()
            .filter(|f| f.policy == Some(Policy::Optional))
            .filter(|f| started.feature(&f.name).and_then(|h| h.policy) == Some(Policy::Require))
            .map(|f| f.name.clone())
            .collect();
        let before = with_removed(&g);
        if g.match_ == CpuMatch::Exact {
            prop_assert_eq!(compatible(b, &before), compatible(b, &g));
        }
        let want = compatible(b, &before) && promoted.is_subset(&naive::all(b));
        prop_assert_eq!(compatible(b, &started), want, "promoted {:?}", promoted);
    }

    /// A host-model guest (no features of its own) updated on host A becomes a copy of A that
    /// host B runs exactly when B has A's vendor (if A states one) and every feature of A: A
    /// promotes all of its features to `require`.
    #[test]
    fn update_host_model_on_a_then_compare_on_b(hosts in strategies::x86_pool(2, 2)) {
        let x = &map().x86;
        let (a, b) = (&hosts[0], &hosts[1]);
        let mut g = CpuDef::new(CpuType::Guest);
        g.mode = CpuMode::HostModel;
        prop_assert!(x86::update(x, &mut g, Some(a)).is_ok());
        prop_assert_eq!(strategies::engine_all(&g), naive::all(a));
        let want = (a.vendor.is_none() || a.vendor == b.vendor) && naive::all(a).is_subset(&naive::all(b));
        prop_assert_eq!(compatible(b, &g), want);
    }

    /// A guest started from its pool's baseline (plus optional features) on any host A of the
    /// pool can live-migrate to a host B of the pool exactly when B has the features A
    /// promoted; with no optional features it runs on every host of the pool.
    #[test]
    fn started_baseline_guest_migrates_within_its_pool(
        pool in strategies::x86_consistent_pool(2, 5),
        extra in proptest::collection::btree_set(0..212usize, 0..4),
    ) {
        let x = &map().x86;
        let Ok(base) = x86::baseline(x, &pool, false) else { return Ok(()) };
        let g = with_optionals(base, extra.clone());
        for a in &pool {
            let mut started = g.clone();
            prop_assert!(x86::update(x, &mut started, Some(&x86::copy_migratable(x, a))).is_ok());
            let promoted: Names = extra
                .iter()
                .map(|&id| strategies::feature_name(id))
                .filter(|n| g.feature(n).and_then(|f| f.policy) == Some(Policy::Optional))
                .filter(|n| started.feature(n).and_then(|f| f.policy) == Some(Policy::Require))
                .collect();
            for b in &pool {
                let want = promoted.is_subset(&naive::all(b));
                prop_assert_eq!(compatible(b, &started), want, "promoted {:?}", promoted);
            }
        }
    }

    // ---------------------------------------------------------------- decode

    /// Host CPUs: CPUID data built from a feature set S (map.to_cpuid(S) + a vendor's leaf 0 +
    /// a leaf-1 signature) converts back to exactly S; decoding it then expanding gives back
    /// exactly S, minus `hle`/`rtm` when the TSX filter applies (README 4.3 step 2). Decoding
    /// fails exactly when no host-decodable model of a fitting vendor is a subset of that set.
    /// The decoded features carry no policy and come in map order; the guest decode provides
    /// the same set.
    #[test]
    fn decode_then_expand_gives_back_the_set((model, extra, removals, vendor, eax) in decode_input()) {
        let x = &map().x86;
        let m = &x.models[model];
        let mut set = m.features;
        for id in &extra {
            set.insert(FeatureId(*id as u16));
        }
        let own: Vec<FeatureId> = m.features.iter().collect();
        for r in removals.iter().filter(|_| !own.is_empty()) {
            set.remove(*r.get(&own));
        }
        let mut data = x.to_cpuid(&set);
        if let Some(v) = vendor {
            data.add(&x.vendors[v].data());
        }
        data.add_item(CpuidKey::Cpuid { leaf: 1, subleaf: 0 }, [eax, 0, 0, 0]);
        let xd = X86Data::from_cpuid(x, &data);
        prop_assert_eq!(xd.features, set);
        prop_assert_eq!(xd.vendor, vendor);
        prop_assert_eq!(xd.signature, eax & 0x0fff_3fff);

        let vendor_name = vendor.map(|v| x.vendors[v].name.clone());
        let mut want = names_of(&set);
        if tsx_filtered(vendor_name.as_deref(), eax) {
            want.remove("hle");
            want.remove("rtm");
        }
        let fits: Vec<&str> = x
            .models
            .iter()
            .filter(|c| c.decode_host && (vendor.is_none() || c.vendor.is_none() || c.vendor == vendor))
            .filter(|c| strategies::model_names(&c.name).unwrap().is_subset(&want))
            .map(|c| c.name.as_str())
            .collect();
        match x86::decode_host(x, &xd) {
            Err(e) => {
                prop_assert!(fits.is_empty(), "decode failed ({e}) though {fits:?} fit");
                prop_assert_eq!(e, CpuError::NoCandidate);
            }
            Ok(mut cpu) => {
                prop_assert!(fits.contains(&cpu.model.as_deref().unwrap()), "{:?} not in {:?}", cpu.model, fits);
                prop_assert_eq!(&cpu.vendor, &vendor_name);
                prop_assert!(cpu.features.iter().all(|f| f.policy.is_none()));
                let ids: Vec<u16> = cpu.features.iter().map(|f| x.feature_id(&f.name).unwrap().0).collect();
                prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "not in map order");
                x86::expand_features(x, &mut cpu).unwrap();
                let expanded: Names = cpu.features.iter().map(|f| f.name.clone()).collect();
                prop_assert_eq!(expanded, want.clone());
            }
        }
        let guest = x86::decode_guest(x, &xd).unwrap();
        prop_assert_eq!(strategies::engine_all(&guest), want);
    }
}

/// The naive compare reduces libvirt's item-by-item comparison (README 4.2 step 6) to set
/// inclusion. That is only valid because every map feature is exactly one bit of one CPUID/MSR
/// item and no two features share a bit (README 4.0). Checked here on the embedded map.
#[test]
fn map_features_are_single_distinct_bits() {
    let x = &map().x86;
    let mut seen = BTreeSet::new();
    for f in &x.features {
        let items: Vec<_> = f.items.iter().filter(|(_, r)| r.iter().any(|&v| v != 0)).collect();
        assert_eq!(items.len(), 1, "{} has {} non-zero items", f.name, items.len());
        let (key, regs) = items[0];
        let bits: Vec<(usize, u32)> = regs
            .iter()
            .enumerate()
            .flat_map(|(i, &v)| (0..32).filter(move |b| v & (1 << b) != 0).map(move |b| (i, b)))
            .collect();
        assert_eq!(bits.len(), 1, "{} sets {} bits", f.name, bits.len());
        assert!(seen.insert((*key, bits[0])), "{} shares its bit", f.name);
    }
    let expected = if crate::LIBVIRT.at_least_11_3() { 364 } else { 212 };
    assert_eq!(seen.len(), expected);
}

/// The `migratable` edge of `baseline_is_run_by_every_input`, on libvirt's own data: EPYC-Milan
/// lists the non-migratable `xsaves`. An input without `xsaves` makes the result disable it,
/// and the migratable decode drops that `disable` entry with every other non-migratable one,
/// so the result provides `xsaves` again and the input that lacks it cannot run the result.
#[test]
fn migratable_baseline_keeps_its_models_non_migratable_features() {
    let x = &map().x86;
    let mut host = CpuDef::new(CpuType::Host);
    host.arch = Some("x86_64".into());
    host.model = Some("EPYC-Milan".into());
    let mut without = host.clone();
    without.cpu_type = CpuType::Guest;
    without.arch = None;
    without.set_feature("xsaves", Some(Policy::Disable));
    let pool = [host.clone(), without.clone()];
    let plain = x86::baseline(x, &pool, false).unwrap();
    assert_eq!(plain.feature("xsaves").and_then(|f| f.policy), Some(Policy::Disable));
    assert!(compatible(&without, &plain));
    let mig = x86::baseline(x, &pool, true).unwrap();
    assert_eq!(mig.model.as_deref(), Some("EPYC-Milan"));
    assert!(mig.feature("xsaves").is_none());
    assert!(strategies::engine_all(&mig).contains("xsaves"));
    assert!(compatible(&host, &mig));
    assert!(!compatible(&without, &mig));
}

/// Why `baseline_is_order_independent` needs vendor-consistent pools: with vendorless inputs
/// of different vendors' models, libvirt's baseline succeeds or fails depending on the order,
/// because cpus[0]'s model vendor never becomes the working vendor (README 4.4 steps 2 and 4).
/// The naive model predicts both outcomes.
#[test]
fn baseline_order_matters_for_inconsistent_vendors() {
    let x = &map().x86;
    let host = |model: &str| {
        let mut c = CpuDef::new(CpuType::Host);
        c.arch = Some("x86_64".into());
        c.model = Some(model.into());
        c
    };
    let failing = [host("Skylake-Client"), host("EPYC"), host("Haswell")];
    let passing = [host("EPYC"), host("Skylake-Client"), host("Haswell")];
    assert!(matches!(x86::baseline(x, &failing, false), Err(CpuError::VendorsMismatch { .. })));
    assert!(naive::baseline(&failing).is_err());
    let ok = x86::baseline(x, &passing, false).expect("EPYC first: its vendor is never checked");
    assert_eq!(strategies::engine_all(&ok), naive::baseline(&passing).unwrap().features);
    assert!(!strategies::vendor_consistent(&failing));
}
