//! KubeVirt: the labels its node-labeller puts on a node (`pkg/virt-handler/node-labeller/`,
//! `prepareLabels` and friends in `node_labeller.go`, `cpu_plugin.go`), and the CPU stanza that
//! pins a VM (or, cluster-wide, `spec.configuration.cpuModel`) to a guest CPU.
//!
//! Label rules (all values `"true"` unless said):
//! - `cpu-model.node.kubevirt.io/M` and `cpu-model-migration.node.kubevirt.io/M`: each usable
//!   model of domcapabilities' custom mode, less the obsolete models;
//! - `cpu-feature.node.kubevirt.io/F`: each feature of the host-model CPU expanded to its full list
//!   (`supported_features.xml`, policy require);
//! - `host-model-cpu.node.kubevirt.io/M`, `cpu-vendor.node.kubevirt.io/V`, and
//!   `cpu-model-migration.node.kubevirt.io/M` for the host model unless obsolete (then
//!   `node-host-model-is-obsolete.node.kubevirt.io`);
//! - `host-model-required-features.node.kubevirt.io/F`: the host-model CPU's own features with
//!   policy require;
//! - `cpu-timer.node.kubevirt.io/tsc-frequency` (the frequency) and `…/tsc-scalable` when the host
//!   CPU has a TSC counter (capabilities documents).

use crate::error::ExportError;
use cpufleet_engine::xml::ModelListEntry;
use cpufleet_engine::{ops, CpuDef, CpuMap, CpuMatch, CpuMode, CpuType, Policy};
use std::collections::BTreeMap;

/// KubeVirt's default obsolete CPU models (`DefaultObsoleteCPUModels`, node-labeller `util`).
pub const DEFAULT_OBSOLETE_CPU_MODELS: &[&str] = &[
    "486",
    "486-v1",
    "pentium",
    "pentium-v1",
    "pentium2",
    "pentium2-v1",
    "pentium3",
    "pentium3-v1",
    "pentiumpro",
    "pentiumpro-v1",
    "coreduo",
    "coreduo-v1",
    "n270",
    "n270-v1",
    "core2duo",
    "core2duo-v1",
    "Conroe",
    "Conroe-v1",
    "athlon",
    "athlon-v1",
    "phenom",
    "phenom-v1",
    "qemu64",
    "qemu64-v1",
    "qemu32",
    "qemu32-v1",
    "kvm64",
    "kvm64-v1",
    "kvm32",
    "kvm32-v1",
    "Opteron_G1",
    "Opteron_G1-v1",
    "Opteron_G2",
    "Opteron_G2-v1",
];

const NS: &str = "node.kubevirt.io";

/// What the node-labeller reads of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCpuFacts {
    /// The host-model CPU (custom mode, model plus features with policies).
    pub host_model: CpuDef,
    /// Usable custom models, in order.
    pub usable_models: Vec<String>,
    /// TSC frequency and scaling of the host CPU, when known.
    pub tsc: Option<(u64, bool)>,
}

impl HostCpuFacts {
    /// From a domcapabilities document: its host-model CPU and its usable-model list.
    pub fn from_domcapabilities(host_model: &CpuDef, models: &[ModelListEntry]) -> HostCpuFacts {
        let usable_models = models.iter().filter(|m| m.usable == Some(true)).map(|m| m.name.clone()).collect();
        HostCpuFacts { host_model: host_model.clone(), usable_models, tsc: None }
    }

    /// From a host CPU (capabilities, `<cpu>` or cpuinfo): the host model is its migratable copy
    /// with its features required, and the usable models are the map's models it runs
    /// (cpufleet's `compare`; libvirt asks QEMU instead).
    pub fn from_host_cpu(map: &CpuMap, host: &CpuDef) -> Result<HostCpuFacts, ExportError> {
        let arch = ops::Arch::of_cpu(map, host)?;
        let mut host_model = ops::copy_migratable(map, arch, host);
        host_model.cpu_type = CpuType::Guest;
        host_model.mode = CpuMode::Custom;
        for f in &mut host_model.features {
            f.policy = Some(f.effective_policy());
        }
        let mut usable_models = Vec::new();
        for m in map.x86.models.iter().filter(|m| m.decode_guest) {
            let mut guest = CpuDef::new(CpuType::Guest);
            guest.model = Some(m.name.clone());
            guest.match_ = CpuMatch::Exact;
            let verdict = ops::compare(map, host, &guest).verdict;
            if matches!(verdict, cpufleet_engine::x86::Verdict::Identical | cpufleet_engine::x86::Verdict::Superset) {
                usable_models.push(m.name.clone());
            }
        }
        let tsc = host.tsc.map(|t| (t.frequency, t.scaling == Some(true)));
        Ok(HostCpuFacts { host_model, usable_models, tsc })
    }
}

/// The node-labeller's CPU labels for one host, with `obsolete` as the obsolete-model list.
pub fn node_labels(
    map: &CpuMap,
    facts: &HostCpuFacts,
    obsolete: &[&str],
) -> Result<BTreeMap<String, String>, ExportError> {
    let mut l = BTreeMap::new();
    let mut yes = |key: String| l.insert(key, "true".to_string());
    for f in crate::enabled_features(map, &facts.host_model)? {
        yes(format!("cpu-feature.{NS}/{f}"));
    }
    for m in facts.usable_models.iter().filter(|m| !obsolete.contains(&m.as_str())) {
        yes(format!("cpu-model.{NS}/{m}"));
        yes(format!("cpu-model-migration.{NS}/{m}"));
    }
    for f in facts.host_model.features.iter().filter(|f| f.policy == Some(Policy::Require)) {
        yes(format!("host-model-required-features.{NS}/{}", f.name));
    }
    if let Some(model) = &facts.host_model.model {
        if obsolete.contains(&model.as_str()) {
            yes(format!("node-host-model-is-obsolete.{NS}"));
        } else {
            yes(format!("cpu-model-migration.{NS}/{model}"));
        }
        yes(format!("cpu-vendor.{NS}/{}", facts.host_model.vendor.as_deref().unwrap_or("")));
        yes(format!("host-model-cpu.{NS}/{model}"));
    }
    if let Some((freq, scalable)) = facts.tsc {
        l.insert(format!("cpu-timer.{NS}/tsc-frequency"), freq.to_string());
        l.insert(format!("cpu-timer.{NS}/tsc-scalable"), scalable.to_string());
    }
    Ok(l)
}

/// Label maps of several nodes as a YAML stream of partial `Node` objects (`metadata.labels`).
pub fn labels_yaml(nodes: &[(String, BTreeMap<String, String>)]) -> String {
    let mut o = String::new();
    for (name, labels) in nodes {
        o.push_str(&format!("---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {}\n  labels:\n", yaml_str(name)));
        for (k, v) in labels {
            o.push_str(&format!("    {k}: {}\n", yaml_str(v)));
        }
    }
    o
}

/// A YAML double-quoted scalar (JSON's escaping is valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The VM CPU stanza (`spec.domain.cpu`: `model`, `features[{name, policy}]`) of a guest CPU,
/// and the cluster-wide `spec.configuration.cpuModel` that pins the model alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuStanza {
    /// `host-model`, `host-passthrough`, or the model name.
    pub model: String,
    pub features: Vec<(String, Policy)>,
    pub warnings: Vec<String>,
}

impl CpuStanza {
    pub fn of_cpu(cpu: &CpuDef) -> Result<CpuStanza, ExportError> {
        let model = match cpu.mode {
            CpuMode::Custom => cpu.model.clone().ok_or(ExportError::NoModel)?,
            mode => mode.as_str().to_string(),
        };
        let mut warnings = Vec::new();
        if cpu.mode == CpuMode::Maximum {
            warnings.push("KubeVirt has no 'maximum' CPU mode".to_string());
        }
        let features = cpu.features.iter().map(|f| (f.name.clone(), f.effective_policy())).collect();
        Ok(CpuStanza { model, features, warnings })
    }

    pub fn yaml(&self) -> String {
        let model = yaml_str(&self.model);
        let mut o = format!("# KubeVirt CR, cluster-wide default\nspec:\n  configuration:\n    cpuModel: {model}\n");
        o.push_str(&format!(
            "---\n# VirtualMachineInstance (or VM template) spec\nspec:\n  domain:\n    cpu:\n      model: {model}\n"
        ));
        if !self.features.is_empty() {
            o.push_str("      features:\n");
            for (name, policy) in &self.features {
                o.push_str(&format!("        - name: {}\n          policy: {policy}\n", yaml_str(name)));
            }
        }
        o
    }

    pub fn json(&self) -> serde_json::Value {
        let features: Vec<serde_json::Value> =
            self.features.iter().map(|(n, p)| serde_json::json!({ "name": n, "policy": p.as_str() })).collect();
        serde_json::json!({
            "configuration": { "cpuModel": self.model },
            "domain": { "cpu": { "model": self.model, "features": features } },
        })
    }
}
