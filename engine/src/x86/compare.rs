//! `virCPUx86Compare`, `x86Compute`: can a host run a CPU?
//!
//! A CPU resolved against the map once ([`PolicySets`]) compares with any number of hosts at a
//! few bit operations per pair and no allocation for a compatible pair; [`compare`] resolves
//! both CPUs and then compares the same way, so the two cannot drift apart.

use super::model::{model_from_cpu, Sel};
use crate::arch::Arch;
use crate::cpu::{CpuDef, CpuMatch, CpuType, Policy};
use crate::error::CpuError;
use crate::features::FeatureSet;
use crate::map::X86Map;

crate::closed_set! {
    /// libvirt's compare verdicts (`virCPUCompareResult`), named as cpufleet's JSON names them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Verdict: "compare verdict" {
        Incompatible = "incompatible",
        Identical = "identical",
        Superset = "superset",
        Error = "error",
    }
}

impl Verdict {
    /// Identical or superset: the host can run the CPU.
    pub fn is_compatible(self) -> bool {
        matches!(self, Verdict::Identical | Verdict::Superset)
    }
}

/// Why a comparison came out as it did, in terms a user can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    None,
    /// The host CPU has no model.
    UnknownHost,
    /// The CPU's arch is not x86.
    Arch(String),
    /// The CPU requires a vendor the host does not have.
    Vendor {
        required: String,
        host: Option<String>,
    },
    /// The host has features the CPU forbids.
    Forbidden(FeatureSet),
    /// The CPU requires features the host lacks.
    Missing(FeatureSet),
    /// `match='strict'` and the host has features the CPU does not list.
    Extra(FeatureSet),
    /// The host has features beyond the CPU (superset).
    Superset(FeatureSet),
    Error(String),
}

/// A verdict with its reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub verdict: Verdict,
    pub reason: Reason,
}

impl Comparison {
    fn new(verdict: Verdict, reason: Reason) -> Self {
        Comparison { verdict, reason }
    }

    /// A one-line explanation, naming features from `map`.
    pub fn explain(&self, map: &X86Map) -> String {
        let names = |s: &FeatureSet| s.iter().map(|id| map.feature_name(id)).collect::<Vec<_>>().join(" ");
        match &self.reason {
            Reason::None => String::new(),
            Reason::UnknownHost => "the host CPU has no model".into(),
            Reason::Arch(a) => format!("CPU arch {a} does not match host arch"),
            Reason::Vendor { required, host } => match host {
                Some(h) => format!("host CPU vendor {h} does not match required CPU vendor {required}"),
                None => format!("host CPU has no vendor, required CPU vendor {required}"),
            },
            Reason::Forbidden(s) => format!("host CPU has forbidden features: {}", names(s)),
            Reason::Missing(s) => format!("host CPU does not provide required features: {}", names(s)),
            Reason::Extra(s) => format!("host CPU provides features the strict CPU does not list: {}", names(s)),
            Reason::Superset(s) => format!("host CPU provides more features: {}", names(s)),
            Reason::Error(e) => e.clone(),
        }
    }
}

/// `virCPUx86Compare(host, cpu, failIncompatible=false)`: the checks on the CPUs as given
/// (host model, arch, vendor), then both resolved against the map (the host's features, the
/// CPU's [`PolicySets`]) and compared on bitsets ([`PolicySets::compare`]).
pub fn compare(map: &X86Map, host: &CpuDef, cpu: &CpuDef) -> Comparison {
    try_compare(map, host, cpu).unwrap_or_else(|e| Comparison::new(Verdict::Error, Reason::Error(e.to_string())))
}

/// [`compare`] with its errors typed (an unknown model or feature of either CPU), for callers
/// that report them as libvirt does.
pub fn try_compare(map: &X86Map, host: &CpuDef, cpu: &CpuDef) -> Result<Comparison, CpuError> {
    if host.model.is_none() {
        return Ok(Comparison::new(Verdict::Incompatible, Reason::UnknownHost));
    }
    if let Some(a) = &cpu.arch {
        if !Arch::is_x86(a) {
            return Ok(Comparison::new(Verdict::Incompatible, Reason::Arch(a.clone())));
        }
    }
    if let Some(v) = &cpu.vendor {
        if host.vendor.as_deref() != Some(v.as_str()) {
            return Ok(Comparison::new(
                Verdict::Incompatible,
                Reason::Vendor { required: v.clone(), host: host.vendor.clone() },
            ));
        }
    }
    let h = model_from_cpu(map, host, Sel::All)?.features;
    Ok(PolicySets::of_cpu(map, cpu)?.compare(&h))
}

impl Comparison {
    /// The message `x86Compute` gives an incompatible result (what `--error` prints after "the
    /// CPU is incompatible with host CPU: "), feature names in map order joined by ", "; None
    /// for a compatible result.
    pub fn libvirt_message(&self, map: &X86Map) -> Option<String> {
        let names = |s: &FeatureSet| s.iter().map(|id| map.feature_name(id)).collect::<Vec<_>>().join(", ");
        Some(match &self.reason {
            Reason::UnknownHost => "unknown host CPU".into(),
            Reason::Arch(a) => format!("CPU arch {a} does not match host arch"),
            Reason::Vendor { required, .. } => format!("host CPU vendor does not match required CPU vendor {required}"),
            Reason::Forbidden(s) => format!("Host CPU provides forbidden features: {}", names(s)),
            Reason::Missing(s) => format!("Host CPU does not provide required features: {}", names(s)),
            Reason::Extra(s) => format!("Host CPU does not strictly match guest CPU: Extra features: {}", names(s)),
            Reason::Error(e) => e.clone(),
            Reason::None | Reason::Superset(_) => return None,
        })
    }
}

/// A CPU resolved against the map for comparing (the sets `x86Compute` works on): from its
/// force, require, optional, disable and forbid sets (`x86ModelFromCPU(cpu, POLICY)`) and
/// whether it matches strictly, the three sets every comparison reads. [`compare`] resolves its
/// CPU into one on every call; the simulator resolves each started guest CPU once and compares
/// it with many hosts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PolicySets {
    /// Features with `policy='forbid'`: a host with any of them is incompatible.
    forbid: FeatureSet,
    /// require − force − optional − disable: what a host must have.
    need: FeatureSet,
    /// Every feature the CPU lists one way or another (force, need, optional, disable): a host
    /// with more is a superset.
    listed: FeatureSet,
    /// A guest CPU with `match='strict'`: a superset host is incompatible.
    strict: bool,
}

/// Which case of `x86Compute` a host falls in, in the order the cases are decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Forbidden,
    Missing,
    Identical,
    Extra,
    Superset,
}

impl PolicySets {
    /// From the five policy sets and `match='strict'` (of a guest CPU).
    #[inline]
    pub fn new(
        force: FeatureSet,
        require: FeatureSet,
        optional: FeatureSet,
        disable: FeatureSet,
        forbid: FeatureSet,
        strict: bool,
    ) -> PolicySets {
        // R −= F, O, D (what a host must have); everything listed, in one pass over the words.
        let [need, listed] = FeatureSet::zip_words([&force, &require, &optional, &disable], |[f, r, o, d]| {
            let need = r & !f & !o & !d;
            [need, f | need | o | d]
        });
        PolicySets { forbid, need, listed, strict }
    }

    /// `cpu` resolved against `map`: its sets in the order libvirt resolves them (force,
    /// require, optional, disable, forbid; the first error is the one reported), and `strict`
    /// for a guest CPU with `match='strict'`.
    pub fn of_cpu(map: &X86Map, cpu: &CpuDef) -> Result<PolicySets, CpuError> {
        let set = |p| model_from_cpu(map, cpu, Sel::Only(p)).map(|m| m.features);
        Ok(PolicySets::new(
            set(Policy::Force)?,
            set(Policy::Require)?,
            set(Policy::Optional)?,
            set(Policy::Disable)?,
            set(Policy::Forbid)?,
            cpu.cpu_type == CpuType::Guest && cpu.match_ == CpuMatch::Strict,
        ))
    }

    /// Features with `policy='forbid'`.
    pub fn forbid(&self) -> &FeatureSet {
        &self.forbid
    }
    /// A guest CPU with `match='strict'`.
    pub fn strict(&self) -> bool {
        self.strict
    }
    /// require − force − optional − disable: what a host must have.
    pub fn need(&self) -> &FeatureSet {
        &self.need
    }
    /// Every feature the CPU lists (a host with more is a superset).
    pub fn listed(&self) -> &FeatureSet {
        &self.listed
    }

    /// The case of `x86Compute` for host features `h`.
    #[inline]
    fn case(&self, h: &FeatureSet) -> Case {
        // Incompatible unless need ⊆ H (x86ModelCompare gives SUBSET or UNRELATED exactly when
        // some bit of R is missing from H, since no two features share a bit); what the host has
        // beyond the CPU's lists decides identical / superset / strict. Each test stops at the
        // first word that decides it.
        if self.forbid.intersects(h) {
            Case::Forbidden
        } else if !self.need.is_subset(h) {
            Case::Missing
        } else if h.is_subset(&self.listed) {
            Case::Identical
        } else if self.strict {
            Case::Extra
        } else {
            Case::Superset
        }
    }

    /// The verdict of `x86Compute` for a host with features `h` (what [`Self::compare`] gives,
    /// without building the reason).
    #[inline]
    pub fn verdict(&self, h: &FeatureSet) -> Verdict {
        match self.case(h) {
            Case::Forbidden | Case::Missing | Case::Extra => Verdict::Incompatible,
            Case::Identical => Verdict::Identical,
            Case::Superset => Verdict::Superset,
        }
    }

    /// The set part of `x86Compute` for a host with features `h` (model plus listed features,
    /// `x86ModelFromCPU(host, ALL)`): the verdict, and the set its reason names.
    #[inline]
    pub fn compare(&self, h: &FeatureSet) -> Comparison {
        let no = |reason| Comparison::new(Verdict::Incompatible, reason);
        let extra = || FeatureSet::zip_words([h, &self.listed], |[h, l]| [h & !l])[0];
        match self.case(h) {
            Case::Forbidden => no(Reason::Forbidden(FeatureSet::zip_words([&self.forbid, h], |[x, h]| [x & h])[0])),
            Case::Missing => no(Reason::Missing(FeatureSet::zip_words([&self.need, h], |[n, h]| [n & !h])[0])),
            Case::Identical => Comparison::new(Verdict::Identical, Reason::None),
            Case::Extra => no(Reason::Extra(extra())),
            Case::Superset => Comparison::new(Verdict::Superset, Reason::Superset(extra())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Few distinct bits so that subsets and overlaps happen often.
    fn small_set() -> impl Strategy<Value = FeatureSet> {
        (0u64..64, 0u64..16).prop_map(|(a, b)| FeatureSet::from_words(&[a, b << 60, 0, 0]))
    }

    proptest! {
        /// The verdict alone is the verdict of the full comparison, and the reason's set is
        /// the one `x86Compute` names, computed from the five sets directly.
        #[test]
        fn verdict_and_reason_follow_x86compute(
            h in small_set(), f in small_set(), r in small_set(), o in small_set(),
            d in small_set(), x in small_set(), strict in any::<bool>()
        ) {
            let sets = PolicySets::new(f, r, o, d, x, strict);
            let c = sets.compare(&h);
            prop_assert_eq!(sets.verdict(&h), c.verdict);
            let need = r.difference(&f).difference(&o).difference(&d);
            let extra = h.difference(&o).difference(&need).difference(&d).difference(&f);
            let want = if x.intersects(&h) {
                Reason::Forbidden(x.intersection(&h))
            } else if !need.is_subset(&h) {
                Reason::Missing(need.difference(&h))
            } else if extra.is_empty() {
                Reason::None
            } else if strict {
                Reason::Extra(extra)
            } else {
                Reason::Superset(extra)
            };
            prop_assert_eq!(c.reason, want);
        }
    }
}
