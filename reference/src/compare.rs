//! `virCPUx86Compare` / `x86Compute` on names (pack README 4.2), with the item-by-item
//! comparison of step 6 reduced to set inclusion (valid because every map feature is one bit
//! and no two features share a bit; `engine/tests/laws.rs` checks that property of the map).

use crate::names::{all, from_cpu, minus, Names, Pick};
use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::Verdict;
use cpufleet_engine::{CpuDef, CpuMatch, CpuType, Policy};

/// What a CPU asks of a host: `x86ModelFromCPU(cpu, P)` for each policy P.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Demands {
    /// `force` features.
    pub force: Names,
    /// The model's features and the `require` ones.
    pub require: Names,
    /// `optional` features.
    pub optional: Names,
    /// `disable` features.
    pub disable: Names,
    /// `forbid` features.
    pub forbid: Names,
}

impl Demands {
    /// The demands of `cpu`. Err: an unknown model or feature name.
    pub fn of(map: &X86Map, cpu: &CpuDef) -> Result<Demands, String> {
        let pick = |p| from_cpu(map, cpu, Pick::Only(p));
        Ok(Demands {
            force: pick(Policy::Force)?,
            require: pick(Policy::Require)?,
            optional: pick(Policy::Optional)?,
            disable: pick(Policy::Disable)?,
            forbid: pick(Policy::Forbid)?,
        })
    }

    /// `x86Compute`'s decision once the arch and vendor passed: a `forbid` feature on the host
    /// is incompatible; so is a required feature (neither forced, optional nor disabled) the host
    /// lacks; a host feature the CPU does not account for makes a superset (incompatible for
    /// `strict`), none an identical CPU.
    pub fn verdict(&self, host: &Names, strict: bool) -> Verdict {
        if !self.forbid.is_disjoint(host) {
            return Verdict::Incompatible;
        }
        let required = minus(&minus(&minus(&self.require, &self.force), &self.optional), &self.disable);
        if !required.is_subset(host) {
            return Verdict::Incompatible;
        }
        let accounted = |n: &String| {
            self.optional.contains(n) || required.contains(n) || self.disable.contains(n) || self.force.contains(n)
        };
        if host.iter().all(accounted) {
            Verdict::Identical
        } else if strict {
            Verdict::Incompatible
        } else {
            Verdict::Superset
        }
    }
}

/// `virCPUx86Compare(host, cpu)`: a host without a model, a CPU of another architecture or one
/// stating a vendor the host does not state is incompatible; unknown names are an error; then
/// [`Demands::verdict`] against the host's ALL set (`strict` only for guest CPUs).
pub fn compare(map: &X86Map, host: &CpuDef, cpu: &CpuDef) -> Verdict {
    if host.model.is_none() {
        return Verdict::Incompatible;
    }
    if cpu.arch.as_deref().is_some_and(|a| a != "x86_64" && a != "i686") {
        return Verdict::Incompatible;
    }
    if cpu.vendor.as_ref().is_some_and(|v| host.vendor.as_ref() != Some(v)) {
        return Verdict::Incompatible;
    }
    let (Ok(h), Ok(d)) = (all(map, host), Demands::of(map, cpu)) else { return Verdict::Error };
    d.verdict(&h, cpu.cpu_type == CpuType::Guest && cpu.match_ == CpuMatch::Strict)
}
