//! `virCPUx86Baseline`: the richest guest CPU every input CPU can run.

use super::decode::{decode_into, DecodeOpts};
use super::model::{model_from_cpu, Sel, X86Data};
use crate::cpu::{CpuDef, CpuMatch, CpuType, Fallback};
use crate::error::CpuError;
use crate::features::FeatureSet;
use crate::map::X86Map;
use crate::xml::ModelListEntry;

/// The running state of a baseline: one pass over the CPUs, O(1) memory per CPU besides the
/// set of distinct model names. Feed CPUs with [`BaselineAcc::add`], then [`BaselineAcc::finish`].
#[derive(Clone, Debug)]
pub struct BaselineAcc {
    base: FeatureSet,
    /// The working vendor (map index).
    vendor: Option<usize>,
    output_vendor: bool,
    /// Distinct input model names, in input order.
    names: Vec<String>,
    n_cpus: usize,
}

/// One input CPU reduced to what baseline needs (parsed once, reusable for identical CPUs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaselineInput {
    pub features: FeatureSet,
    pub model_name: String,
    /// Vendor index of the map model.
    pub model_vendor: Option<usize>,
    /// The vendor the CPU states (its name, and its map index when known).
    pub vendor: Option<(String, Option<usize>)>,
}

impl BaselineInput {
    /// `x86ModelFromCPU(cpu, ALL)` plus the vendor facts baseline checks. Generic checks first:
    /// every CPU must have a model.
    pub fn from_cpu(map: &X86Map, cpu: &CpuDef, index: usize) -> Result<BaselineInput, CpuError> {
        let name = cpu.model.as_ref().ok_or(CpuError::NoModelAt(index))?;
        let m = model_from_cpu(map, cpu, Sel::All)?;
        Ok(BaselineInput {
            features: m.features,
            model_name: name.clone(),
            model_vendor: m.model.and_then(|i| map.models[i].vendor),
            vendor: cpu.vendor.as_ref().map(|v| (v.clone(), map.vendor_index(v))),
        })
    }
}

impl BaselineAcc {
    /// Starts from the first CPU (`cpus[0]`, whose vendor is not checked against its model).
    pub fn new(first: &BaselineInput) -> Result<BaselineAcc, CpuError> {
        let (vendor, output_vendor) = match &first.vendor {
            None => (None, false),
            Some((name, idx)) => (Some(idx.ok_or_else(|| CpuError::UnknownVendor(name.clone()))?), true),
        };
        Ok(BaselineAcc {
            base: first.features,
            vendor,
            output_vendor,
            names: vec![first.model_name.clone()],
            n_cpus: 1,
        })
    }

    /// Adds a later CPU (index ≥ 1).
    pub fn add(&mut self, map: &X86Map, cpu: &BaselineInput) -> Result<(), CpuError> {
        let index = self.n_cpus;
        self.n_cpus += 1;
        let vn: Option<usize> = match &cpu.vendor {
            Some((name, idx)) => {
                if let Some(mv) = cpu.model_vendor {
                    if *idx != Some(mv) {
                        return Err(CpuError::ModelVendorMismatch {
                            cpu: name.clone(),
                            model_vendor: map.vendors[mv].name.clone(),
                            index,
                        });
                    }
                }
                Some(idx.ok_or_else(|| CpuError::UnknownVendor(name.clone()))?)
            }
            None => {
                self.output_vendor = false;
                cpu.model_vendor
            }
        };
        self.adopt_vendor(map, vn)?;
        self.base.intersect_with(&cpu.features);
        if !self.names.contains(&cpu.model_name) {
            self.names.push(cpu.model_name.clone());
        }
        Ok(())
    }

    /// A CPU's candidate vendor becomes the working vendor if there is none yet, or must equal it.
    fn adopt_vendor(&mut self, map: &X86Map, candidate: Option<usize>) -> Result<(), CpuError> {
        match (self.vendor, candidate) {
            (None, Some(v)) => self.vendor = Some(v),
            (Some(w), Some(v)) if w != v => {
                return Err(CpuError::VendorsMismatch {
                    expected: map.vendors[w].name.clone(),
                    found: map.vendors[v].name.clone(),
                })
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `other` would name the same result: [`BaselineAcc::finish`] reads only the
    /// intersection, the vendor state and the set of input model names (the CPU count is not
    /// part of the result).
    pub fn same_state(&self, other: &BaselineAcc) -> bool {
        let same_names = self.names.len() == other.names.len() && self.names.iter().all(|n| other.names.contains(n));
        self.base == other.base
            && self.vendor == other.vendor
            && self.output_vendor == other.output_vendor
            && same_names
    }

    pub fn features(&self) -> &FeatureSet {
        &self.base
    }

    /// Names the result (decode with the input models preferred).
    pub fn finish(&self, map: &X86Map, migratable: bool) -> Result<CpuDef, CpuError> {
        self.finish_with(map, migratable, None, None)
    }

    /// [`BaselineAcc::finish`] as `virCPUx86Baseline` does it with a hypervisor's data (the QEMU
    /// driver's `virConnectBaselineHypervisorCPU`): `qemu_features` (the map features QEMU has a
    /// property for) first cuts the intersection, and only the map models of `models` (with
    /// their blockers) are decode candidates. Both None is the plain baseline.
    pub fn finish_with(
        &self,
        map: &X86Map,
        migratable: bool,
        models: Option<&[ModelListEntry]>,
        qemu_features: Option<&FeatureSet>,
    ) -> Result<CpuDef, CpuError> {
        let mut base = self.base;
        if let Some(f) = qemu_features {
            base.intersect_with(f);
        }
        if base.is_empty() {
            return Err(CpuError::IncompatibleCpus("no common features".into()));
        }
        let mut cpu = CpuDef::new(CpuType::Guest);
        cpu.match_ = CpuMatch::Exact;
        let data = X86Data { features: base, vendor: self.vendor, signature: 0 };
        decode_into(map, &mut cpu, &data, DecodeOpts { models, preferred: &self.names, migratable })?;
        cpu.signature = None;
        if self.names.len() == 1 && cpu.model.as_deref() == Some(self.names[0].as_str()) {
            cpu.fallback = Fallback::Forbid;
        }
        if !self.output_vendor {
            cpu.vendor = None;
        }
        Ok(cpu)
    }
}

/// `virCPUBaseline` for x86 CPUs.
pub fn baseline(map: &X86Map, cpus: &[CpuDef], migratable: bool) -> Result<CpuDef, CpuError> {
    if cpus.is_empty() {
        return Err(CpuError::NoCpus);
    }
    // Generic checks (`virCPUBaseline`) come before the x86 driver looks at any CPU.
    if let Some(i) = cpus.iter().position(|c| c.model.is_none()) {
        return Err(CpuError::NoModelAt(i));
    }
    let first = BaselineInput::from_cpu(map, &cpus[0], 0)?;
    let mut acc = BaselineAcc::new(&first)?;
    for (i, cpu) in cpus.iter().enumerate().skip(1) {
        acc.add(map, &BaselineInput::from_cpu(map, cpu, i)?)?;
    }
    acc.finish(map, migratable)
}

/// A baseline error with the index of the CPU it is about set to `index` (for folds that skip
/// repeated CPUs, such as the streaming baseline's, so that the accumulator's own count is not
/// the position).
pub fn with_index(e: CpuError, index: usize) -> CpuError {
    match e {
        CpuError::ModelVendorMismatch { cpu, model_vendor, .. } => {
            CpuError::ModelVendorMismatch { cpu, model_vendor, index }
        }
        other => other,
    }
}
