//! The simulator's view of the model: a CPU as names and policies only ([`NaiveCpu`]), a host
//! as its names ([`NaiveHost`]), and the rules restated on them by converting to [`CpuDef`] and
//! calling the rule ([`update`](crate::update()), [`compare`](crate::compare())), plus what only
//! the simulator asks: what a started guest sees on a host, and a strict guest's unlisted
//! host features.

use crate::compare::compare;
use crate::names::{all, model_names, Names};
use crate::update::update;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::Verdict;
use cpufleet_engine::{CpuDef, CpuMatch, CpuMode, CpuType, Feature, Policy};
use std::collections::BTreeMap;

/// A guest CPU in the reference model: names and policies only (a feature without a policy is
/// `require`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NaiveCpu {
    /// `<cpu mode>`.
    pub mode: CpuMode,
    /// `<cpu match>`.
    pub match_: CpuMatch,
    /// `<model>`.
    pub model: Option<String>,
    /// `<vendor>`.
    pub vendor: Option<String>,
    /// Every `<feature>` and its policy.
    pub features: BTreeMap<String, Policy>,
}

/// A host in the reference model.
#[derive(Clone, Debug)]
pub struct NaiveHost {
    /// `<vendor>`.
    pub vendor: Option<String>,
    /// `<model>`.
    pub model: Option<String>,
    /// The `<feature>` elements (the host-model copy takes these).
    pub explicit: Vec<String>,
    /// Model features plus explicit ones (`x86ModelFromCPU(host, ALL)`).
    pub all: Names,
}

/// The model's view of a guest CPU definition.
pub fn naive_cpu(def: &CpuDef) -> NaiveCpu {
    NaiveCpu {
        mode: def.mode,
        match_: def.match_,
        model: def.model.clone(),
        vendor: def.vendor.clone(),
        features: def.features.iter().map(|f| (f.name.clone(), f.effective_policy())).collect(),
    }
}

/// The model's view of a host CPU. (A host with unknown names, which the simulator never
/// builds, provides nothing.)
pub fn naive_host(map: &X86Map, cpu: &CpuDef) -> NaiveHost {
    NaiveHost {
        vendor: cpu.vendor.clone(),
        model: cpu.model.clone(),
        explicit: cpu.features.iter().map(|f| f.name.clone()).collect(),
        all: all(map, cpu).unwrap_or_default(),
    }
}

impl NaiveCpu {
    /// The guest CPU definition this view stands for.
    pub fn to_def(&self) -> CpuDef {
        let mut def = CpuDef::new(CpuType::Guest);
        def.mode = self.mode;
        def.match_ = self.match_;
        def.model = self.model.clone();
        def.vendor = self.vendor.clone();
        def.features = self.features.iter().map(|(n, &p)| Feature::new(n.clone(), Some(p))).collect();
        def
    }
}

impl NaiveHost {
    /// The host CPU definition this view stands for.
    pub fn to_def(&self) -> CpuDef {
        let mut def = CpuDef::new(CpuType::Host);
        def.model = self.model.clone();
        def.vendor = self.vendor.clone();
        def.features = self.explicit.iter().map(|n| Feature::new(n.clone(), None)).collect();
        def
    }
}

/// The features of `g` with policy `p`.
pub fn with(g: &NaiveCpu, p: Policy) -> Names {
    g.features.iter().filter(|(_, &q)| q == p).map(|(n, _)| n.clone()).collect()
}

/// What starting `g` on `host` gives: [`update`](crate::update()). (When libvirt's update
/// fails, on unknown names, which the simulator's validated specs never hold: `g` unchanged,
/// which the checkers then report as a difference.)
pub fn naive_update(map: &X86Map, g: &NaiveCpu, host: &NaiveHost) -> NaiveCpu {
    update(map, &g.to_def(), &host.to_def()).map_or_else(|_| g.clone(), |d| naive_cpu(&d))
}

/// Can `host` run `g`: [`compare`](crate::compare()).
pub fn naive_compare(map: &X86Map, host: &NaiveHost, g: &NaiveCpu) -> Verdict {
    compare(map, &host.to_def(), &g.to_def())
}

/// The features a started guest sees on `host`: the host's for passthrough and maximum; else
/// the model's, plus `require`, `force` and the `optional` ones the host has, minus `disable`
/// and `forbid`.
pub fn naive_visible(map: &X86Map, g: &NaiveCpu, host: &NaiveHost) -> Names {
    if matches!(g.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
        return host.all.clone();
    }
    let mut v = g.model.as_deref().and_then(|m| model_names(map, m)).unwrap_or_default();
    v.extend(with(g, Policy::Require));
    v.extend(with(g, Policy::Force));
    v.extend(with(g, Policy::Optional).into_iter().filter(|n| host.all.contains(n)));
    for n in with(g, Policy::Disable).iter().chain(with(g, Policy::Forbid).iter()) {
        v.remove(n);
    }
    v
}

/// Whether two hosts are the same CPU (vendor, model and names).
pub fn same_cpu(a: &NaiveHost, b: &NaiveHost) -> bool {
    a.vendor == b.vendor && a.model == b.model && a.all == b.all
}

/// Host features a strict guest does not list (model features count as listed).
pub fn strict_extra(map: &X86Map, g: &NaiveCpu, host: &NaiveHost) -> Vec<String> {
    let mut listed = g.model.as_deref().and_then(|m| model_names(map, m)).unwrap_or_default();
    listed.extend(g.features.keys().cloned());
    host.all.iter().filter(|n| !listed.contains(*n)).cloned().collect()
}
