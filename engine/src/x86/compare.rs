//! `virCPUx86Compare`, `x86Compute`: can a host run a CPU?

use super::model::{model_from_cpu, Sel};
use crate::cpu::{CpuDef, CpuMatch, CpuType, Policy};
use crate::features::FeatureSet;
use crate::map::X86Map;

/// libvirt's compare verdicts (`virCPUCompareResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Incompatible,
    Identical,
    Superset,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Incompatible => "incompatible",
            Verdict::Identical => "identical",
            Verdict::Superset => "superset",
            Verdict::Error => "error",
        }
    }
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

/// `virCPUx86Compare(host, cpu, failIncompatible=false)`.
pub fn compare(map: &X86Map, host: &CpuDef, cpu: &CpuDef) -> Comparison {
    if host.model.is_none() {
        return Comparison::new(Verdict::Incompatible, Reason::UnknownHost);
    }
    if let Some(a) = &cpu.arch {
        if a != "x86_64" && a != "i686" {
            return Comparison::new(Verdict::Incompatible, Reason::Arch(a.clone()));
        }
    }
    if let Some(v) = &cpu.vendor {
        if host.vendor.as_deref() != Some(v.as_str()) {
            return Comparison::new(
                Verdict::Incompatible,
                Reason::Vendor { required: v.clone(), host: host.vendor.clone() },
            );
        }
    }
    let sets = (|| {
        Ok::<_, crate::error::CpuError>((
            model_from_cpu(map, host, Sel::All)?.features,
            model_from_cpu(map, cpu, Sel::Only(Policy::Force))?.features,
            model_from_cpu(map, cpu, Sel::Only(Policy::Require))?.features,
            model_from_cpu(map, cpu, Sel::Only(Policy::Optional))?.features,
            model_from_cpu(map, cpu, Sel::Only(Policy::Disable))?.features,
            model_from_cpu(map, cpu, Sel::Only(Policy::Forbid))?.features,
        ))
    })();
    let (h, f, r, o, d, x) = match sets {
        Ok(s) => s,
        Err(e) => return Comparison::new(Verdict::Error, Reason::Error(e.to_string())),
    };
    compute_sets(&h, &f, &r, &o, &d, &x, cpu.cpu_type == CpuType::Guest && cpu.match_ == CpuMatch::Strict)
}

/// The set part of `x86Compute` on feature bitsets: host `h`; the CPU's force, require,
/// optional, disable and forbid sets.
#[inline]
pub fn compute_sets(
    h: &FeatureSet,
    f: &FeatureSet,
    r: &FeatureSet,
    o: &FeatureSet,
    d: &FeatureSet,
    x: &FeatureSet,
    strict: bool,
) -> Comparison {
    // R −= F, O, D; incompatible unless R ⊆ H (x86ModelCompare gives SUBSET or UNRELATED
    // exactly when some bit of R is missing from H, since no two features share a bit); what the
    // host has beyond the CPU's lists decides identical / superset / strict. One pass over the
    // words finds which case applies; only the set the reason names is then built.
    let forbidden = |[h, _, _, _, _, x]: [u64; 6]| [x & h];
    let missing = |[h, f, r, o, d, _]: [u64; 6]| [r & !f & !o & !d & !h];
    let diff = |[h, f, r, o, d, _]: [u64; 6]| [h & !o & !(r & !f & !o & !d) & !d & !f];
    let all = [h, f, r, o, d, x];
    let [any_forbidden, any_missing, any_diff] =
        FeatureSet::any_words(all, |w| [forbidden(w)[0], missing(w)[0], diff(w)[0]]);
    if any_forbidden {
        Comparison::new(Verdict::Incompatible, Reason::Forbidden(FeatureSet::zip_words(all, forbidden)[0]))
    } else if any_missing {
        Comparison::new(Verdict::Incompatible, Reason::Missing(FeatureSet::zip_words(all, missing)[0]))
    } else if !any_diff {
        Comparison::new(Verdict::Identical, Reason::None)
    } else if strict {
        Comparison::new(Verdict::Incompatible, Reason::Extra(FeatureSet::zip_words(all, diff)[0]))
    } else {
        Comparison::new(Verdict::Superset, Reason::Superset(FeatureSet::zip_words(all, diff)[0]))
    }
}
