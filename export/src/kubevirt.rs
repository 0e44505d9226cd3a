//! KubeVirt: the labels its node-labeller puts on a node (`pkg/virt-handler/node-labeller/`,
//! `prepareLabels` and friends in `node_labeller.go`, `cpu_plugin.go`), and the CPU stanza that
//! pins a VM (or, cluster-wide, `spec.configuration.cpuModel`) to a guest CPU.
//!
//! Label rules (`prepareLabels`, `loadDomCapabilities`, `loadHostSupportedFeatures`; kubevirt
//! commit d923fdb, 2026), all values `"true"` unless said:
//! - `cpu-model.node.kubevirt.io/M`: each model of domcapabilities whose `usable` is not `no`,
//!   less the obsolete models; `cpu-model-migration.node.kubevirt.io/M`: each model with a
//!   `usable` attribute at all (usable or not), less the obsolete models;
//! - `cpu-feature.node.kubevirt.io/F`: each feature with policy require of
//!   `supported_features.xml`, which `node-labeller.sh` makes with `virsh domcapabilities |
//!   virsh hypervisor-cpu-baseline --features` (the host-model CPU expanded by the QEMU driver);
//! - `host-model-cpu.node.kubevirt.io/M` and `cpu-vendor.node.kubevirt.io/V` for the host-model
//!   CPU, plus `node-labeller.kubevirt.io/obsolete-host-model` when M is obsolete;
//! - `host-model-required-features.node.kubevirt.io/F`: the host-model CPU's own features with
//!   policy require;
//! - `cpu-timer.node.kubevirt.io/tsc-frequency` (the frequency) and `…/tsc-scalable` when the host
//!   CPU has a TSC counter (capabilities documents).

use crate::answer::Export;
use crate::error::ExportError;
use cpufleet_engine::hypervisor::Hypervisor;
use cpufleet_engine::xml::{self, Limits, ModelListEntry, TypeHint};
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
    /// Models whose `usable` is not `no`, in order.
    pub usable_models: Vec<String>,
    /// Models with a `usable` attribute, usable or not, in order.
    pub known_models: Vec<String>,
    /// The features of `supported_features.xml` with policy require.
    pub supported_features: Vec<String>,
    /// TSC frequency and scaling of the host CPU, when known.
    pub tsc: Option<(u64, bool)>,
}

impl HostCpuFacts {
    /// From a `virsh domcapabilities` document, as the node-labeller reads it: the host-model
    /// CPU, the model list, and the supported features that `virsh hypervisor-cpu-baseline
    /// --features` gives for the document against itself. A document without the hypervisor's
    /// `<path>`, `<domain>` and `<arch>` (a hand-made excerpt) cannot be asked that; its host-model
    /// CPU is expanded with the CPU map instead, with a warning. None: not a domcapabilities
    /// document with a host-model CPU.
    pub fn from_domcaps(
        map: &CpuMap,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<Option<(HostCpuFacts, Vec<String>)>, ExportError> {
        let doc = xml::read_cpu_document(bytes, TypeHint::Auto, map.version(), limits).map_err(ExportError::Xml)?;
        let (Some(models), [host_model]) = (&doc.models, doc.cpus.as_slice()) else {
            return Ok(None);
        };
        let mut host_model = host_model.clone();
        host_model.cpu_type = CpuType::Guest;
        host_model.mode = CpuMode::Custom;
        let mut warnings = Vec::new();
        let hv = Hypervisor::from_domcaps(map, bytes, limits);
        let supported = match hv.as_ref().map(|hv| hv.baseline(&map.x86, &doc.cpus, true, false)) {
            Ok(Ok(cpu)) => required(&cpu),
            Ok(Err(e)) => return Err(ExportError::Unsupported { format: "kubevirt-labels", what: e.to_string() }),
            Err(e) => {
                warnings.push(format!(
                    "{e}: cpu-feature labels come from the host-model CPU expanded by the CPU map \
                     (the node-labeller asks virsh hypervisor-cpu-baseline --features)"
                ));
                crate::answer::enabled_features(map, &host_model)?
            }
        };
        let (known_models, usable_models) = model_lists(models);
        let facts = HostCpuFacts { host_model, usable_models, known_models, supported_features: supported, tsc: None };
        Ok(Some((facts, warnings)))
    }

    /// From a host CPU (capabilities, `<cpu>`, cpuinfo): the host model is its migratable copy
    /// with its features required; the known models are the map's guest models, the usable ones
    /// those it runs (cpufleet's `compare`; libvirt asks QEMU instead); the supported features
    /// are the host model's, expanded.
    pub fn from_host_cpu(map: &CpuMap, host: &CpuDef) -> Result<HostCpuFacts, ExportError> {
        let arch = ops::Arch::of_cpu(map, host)?;
        let mut host_model = ops::copy_migratable(map, arch, host);
        host_model.cpu_type = CpuType::Guest;
        host_model.mode = CpuMode::Custom;
        for f in &mut host_model.features {
            f.policy = Some(f.effective_policy());
        }
        let mut usable_models = Vec::new();
        let mut known_models = Vec::new();
        for m in map.x86.models.iter().filter(|m| m.decode_guest) {
            let mut guest = CpuDef::new(CpuType::Guest);
            guest.model = Some(m.name.clone());
            guest.match_ = CpuMatch::Exact;
            if ops::compare(map, host, &guest).verdict.is_compatible() {
                usable_models.push(m.name.clone());
            }
            known_models.push(m.name.clone());
        }
        let supported_features = crate::answer::enabled_features(map, &host_model)?;
        let tsc = host.tsc.map(|t| (t.frequency, t.scaling == Some(true)));
        Ok(HostCpuFacts { host_model, usable_models, known_models, supported_features, tsc })
    }
}

/// The names of a CPU's features with policy require: what the node-labeller takes of
/// `supported_features.xml` (`loadHostSupportedFeatures`, `requirePolicy` on x86).
pub fn required(cpu: &CpuDef) -> Vec<String> {
    cpu.features.iter().filter(|f| f.policy == Some(Policy::Require)).map(|f| f.name.clone()).collect()
}

/// (known, usable) model names of a domcapabilities model list: a model with a `usable`
/// attribute is known; one whose `usable` is not `no` is usable. (`usable='unknown'` reads as no
/// attribute here, so such a model is neither.)
fn model_lists(models: &[ModelListEntry]) -> (Vec<String>, Vec<String>) {
    let named = |m: &&ModelListEntry| !m.name.trim().is_empty();
    let known = models.iter().filter(named).filter(|m| m.usable.is_some()).map(|m| m.name.trim().to_string());
    let usable = models.iter().filter(named).filter(|m| m.usable == Some(true)).map(|m| m.name.trim().to_string());
    (known.collect(), usable.collect())
}

/// The node-labeller's CPU labels for one host, with `obsolete` as the obsolete-model list.
pub fn node_labels(facts: &HostCpuFacts, obsolete: &[&str]) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    let mut yes = |key: String| l.insert(key, "true".to_string());
    let current = |m: &&String| !obsolete.contains(&m.as_str());
    for f in &facts.supported_features {
        yes(format!("cpu-feature.{NS}/{f}"));
    }
    for m in facts.usable_models.iter().filter(current) {
        yes(format!("cpu-model.{NS}/{m}"));
    }
    for m in facts.known_models.iter().filter(current) {
        yes(format!("cpu-model-migration.{NS}/{m}"));
    }
    for f in required(&facts.host_model) {
        yes(format!("host-model-required-features.{NS}/{f}"));
    }
    if let Some(model) = &facts.host_model.model {
        if obsolete.contains(&model.as_str()) {
            yes("node-labeller.kubevirt.io/obsolete-host-model".to_string());
        }
        yes(format!("cpu-vendor.{NS}/{}", facts.host_model.vendor.as_deref().unwrap_or("")));
        yes(format!("host-model-cpu.{NS}/{model}"));
    }
    if let Some((freq, scalable)) = facts.tsc {
        l.insert(format!("cpu-timer.{NS}/tsc-frequency"), freq.to_string());
        l.insert(format!("cpu-timer.{NS}/tsc-scalable"), scalable.to_string());
    }
    l
}

/// The labels of the node `name` as an [`Export`]: YAML (a partial `Node` named [`node_name`]`(name)`)
/// and `{"labels", "node"}`.
pub fn labels_export(name: &str, facts: &HostCpuFacts, obsolete: &[&str]) -> Export {
    let labels = node_labels(facts, obsolete);
    let node = node_name(name);
    let text = labels_yaml(&[(node.clone(), labels.clone())]);
    Export { text, json: serde_json::json!({ "labels": labels, "node": node }), warnings: Vec::new() }
}

/// A Kubernetes node name (a DNS-1123 subdomain: at most 253 characters of lowercase `a-z`, `0-9`,
/// `-` and `.`, each dot-separated part starting and ending with a letter or digit) for an
/// inventory name: lowercase; `/` (between pool and host) becomes `.`; any other character
/// outside `a-z0-9-.` becomes `-`; each part is trimmed of `-` (an empty part is dropped); an
/// empty result is `node`; longer than 253 characters, cut there (then trimmed again).
pub fn node_name(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            '/' => '.',
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .collect();
    let tidy = |s: &str| -> String {
        s.split('.').map(|p| p.trim_matches('-')).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(".")
    };
    let mut out = tidy(&mapped);
    if out.len() > 253 {
        out.truncate(253);
        out = tidy(&out);
    }
    if out.is_empty() {
        out = "node".to_string();
    }
    out
}

/// Whether `name` is a valid Kubernetes object name of the DNS-1123 subdomain kind (what a
/// Node's `metadata.name` must be).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    let label = |p: &str| {
        let b = p.as_bytes();
        !b.is_empty()
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label)
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
        // KubeVirt passes any other model name to libvirt as `<model>NAME</model>`, and libvirt
        // has no model named `maximum` (its mode is not a model): refused, not exported.
        if cpu.mode == CpuMode::Maximum {
            return Err(ExportError::Unsupported {
                format: "kubevirt-cpu",
                what: "CPU mode 'maximum': KubeVirt has no such mode and libvirt refuses a model named 'maximum' (use host-passthrough or a named model)".to_string(),
            });
        }
        let warnings = Vec::new();
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

#[cfg(test)]
mod node_name_tests {
    use super::{is_dns1123_subdomain, node_name};

    #[test]
    fn inventory_names_map_to_valid_node_names() {
        for (name, want) in [
            ("amd-epyc/amd-r1-n01", "amd-epyc.amd-r1-n01"),
            ("AMD-EPYC/amd_r1_N01", "amd-epyc.amd-r1-n01"),
            ("node1", "node1"),
            ("-x-/--y--", "x.y"),
            ("///", "node"),
            ("pool/host.example.com", "pool.host.example.com"),
        ] {
            assert_eq!(node_name(name), want, "{name}");
            assert!(is_dns1123_subdomain(want), "{want}");
        }
        let long = format!("{}/h", "a".repeat(300));
        let n = node_name(&long);
        assert!(n.len() <= 253 && is_dns1123_subdomain(&n), "{n}");
        for bad in ["", "A", "a..b", "-a", "a-", "a_b", &"a".repeat(254)] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }
}
