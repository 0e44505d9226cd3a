//! KubeVirt's node-labeller on its own test data: `pkg/virt-handler/node-labeller/testdata/`
//! (github.com/kubevirt/kubevirt, commit d923fdb815cd, 2026) and the expectations of
//! `cpu_plugin_test.go` and `node_labeller_test.go` in the same folder; the VM CPU stanza's field
//! paths from KubeVirt's API round-trip test data
//! (`staging/src/kubevirt.io/api/apitesting/testdata/HEAD/kubevirt.io.v1.{VirtualMachineInstance,KubeVirt}.yaml`).

use cpufleet_engine::xml::{parse_cpu, Limits, TypeHint};
use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_export::kubevirt::{node_labels, required, CpuStanza, HostCpuFacts, DEFAULT_OBSOLETE_CPU_MODELS};
use std::collections::BTreeSet;

/// `testdata/virsh_domcapabilities.xml`, verbatim.
const DOMCAPS: &str = "<domainCapabilities>
    <cpu>
        <mode name='host-passthrough' supported='yes'/>
        <mode name='host-model' supported='yes'>
            <model fallback='allow'>Skylake-Client-IBRS</model>
            <vendor>Intel</vendor>
            <feature policy='require' name='ds'/>
            <feature policy='require' name='acpi'/>
            <feature policy='require' name='ss'/>
        </mode>
        <mode name='custom' supported='yes'>
            <model usable='no'>EPYC-IBPB</model>
            <model>fake-model-without-usable</model>
            <model usable='no'>486</model>
            <model usable='no'>Conroe</model>
            <model usable='yes'>Penryn</model>
            <model usable='yes'>IvyBridge</model>
            <model usable='yes'>Haswell</model>
            <model usable='yes'>Skylake-Client-IBRS</model>
            <model usable='yes'>Opteron_G2</model>
        </mode>
    </cpu>
    <features>
        <sev supported='yes'>
          <cbitpos>47</cbitpos>
          <reducedPhysBits>1</reducedPhysBits>
          <maxGuests>15</maxGuests>
          <maxESGuests>15</maxESGuests>
        </sev>
        <launchSecurity supported='yes'>
          <enum name='sectype'>
            <value>sev</value>
            <value>sev-snp</value>
          </enum>
        </launchSecurity>
        <tdx supported='no'/>
    </features>
</domainCapabilities>
";

/// `testdata/supported_features.xml`, verbatim.
const SUPPORTED_FEATURES: &str = "<cpu mode='custom' match='exact'>
    <model fallback='forbid'>Skylake-Client-IBRS</model>
    <vendor>Intel</vendor>
    <feature policy='require' name='apic'/>
    <feature policy='require' name='clflush'/>
    <feature policy='require' name='vmx'/>
    <feature policy='require' name='xsaves'/>
</cpu>";

fn with_prefix(labels: &std::collections::BTreeMap<String, String>, prefix: &str) -> BTreeSet<String> {
    labels.keys().filter_map(|k| k.strip_prefix(prefix)).map(str::to_string).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn node_labeller_test_data() {
    for v in LibvirtVersion::ALL {
        let map = CpuMap::embedded(v).unwrap();
        let (facts, warnings) =
            HostCpuFacts::from_domcaps(&map, DOMCAPS.as_bytes(), Limits::default()).unwrap().unwrap();
        // The excerpt has no <path>/<domain>/<arch>: no hypervisor to ask, said once.
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let l = node_labels(&facts, DEFAULT_OBSOLETE_CPU_MODELS);
        assert!(l.values().all(|v| v == "true"));
        // cpu_plugin_test "should return correct cpu models": 4 usable after the obsolete filter.
        let usable = with_prefix(&l, "cpu-model.node.kubevirt.io/");
        assert_eq!(usable, set(&["Penryn", "IvyBridge", "Haswell", "Skylake-Client-IBRS"]));
        // "should mark all CPU models from domCapabilities as known, regardless of usability".
        let known = with_prefix(&l, "cpu-model-migration.node.kubevirt.io/");
        assert_eq!(known, set(&["EPYC-IBPB", "Penryn", "IvyBridge", "Haswell", "Skylake-Client-IBRS"]));
        // "should return correct host cpu": model and required features.
        assert_eq!(with_prefix(&l, "host-model-cpu.node.kubevirt.io/"), set(&["Skylake-Client-IBRS"]));
        assert_eq!(with_prefix(&l, "host-model-required-features.node.kubevirt.io/"), set(&["ds", "acpi", "ss"]));
        assert_eq!(with_prefix(&l, "cpu-vendor.node.kubevirt.io/"), set(&["Intel"]));
        assert!(!l.contains_key("node-labeller.kubevirt.io/obsolete-host-model"));
        // The host-model CPU's own features are among the expanded supported features.
        let features = with_prefix(&l, "cpu-feature.node.kubevirt.io/");
        assert!(features.is_superset(&set(&["ds", "acpi", "ss", "avx2", "sse4.2"])), "{features:?}");
    }
}

/// cpu_plugin_test "Should return the cpu features on amd64 only with policy='require'": the four
/// features of `supported_features.xml`.
#[test]
fn supported_features_are_the_required_ones() {
    let map = CpuMap::embedded(LibvirtVersion::DEFAULT).unwrap();
    let cpu = parse_cpu(SUPPORTED_FEATURES.as_bytes(), TypeHint::Guest, map.version(), Limits::default()).unwrap();
    assert_eq!(required(&cpu), ["apic", "clflush", "vmx", "xsaves"]);
}

#[test]
fn obsolete_host_model() {
    let map = CpuMap::embedded(LibvirtVersion::DEFAULT).unwrap();
    let doc = DOMCAPS.replace("<model fallback='allow'>Skylake-Client-IBRS</model>", "<model>Opteron_G2</model>");
    let (facts, _) = HostCpuFacts::from_domcaps(&map, doc.as_bytes(), Limits::default()).unwrap().unwrap();
    let l = node_labels(&facts, DEFAULT_OBSOLETE_CPU_MODELS);
    assert_eq!(l.get("node-labeller.kubevirt.io/obsolete-host-model").map(String::as_str), Some("true"));
    // prepareLabels still labels the obsolete host model.
    assert!(l.contains_key("host-model-cpu.node.kubevirt.io/Opteron_G2"));
    let none = node_labels(&facts, &[]);
    assert!(!none.contains_key("node-labeller.kubevirt.io/obsolete-host-model"));
    assert!(none.contains_key("cpu-model.node.kubevirt.io/Opteron_G2"));
}

/// The field paths of a YAML text (`a.b.c` per `key:` line, `-` items included), from its
/// indentation: enough to check where each value sits.
fn yaml_paths(text: &str) -> Vec<(String, String)> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && *l != "---") {
        let body = line.trim_start();
        let mut indent = line.len() - body.len();
        let body = match body.strip_prefix("- ") {
            Some(rest) => {
                indent += 2;
                rest
            }
            None => body,
        };
        let (key, value) = body.split_once(':').expect("key: value");
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).chain([key]).collect();
        out.push((path.join("."), value.trim().trim_matches('"').to_string()));
        stack.push((indent, key.to_string()));
    }
    out
}

#[test]
fn cpu_stanza_field_paths() {
    let map = CpuMap::embedded(LibvirtVersion::DEFAULT).unwrap();
    let xml = "<cpu match='exact'><model>Haswell-noTSX</model><feature policy='require' name='vmx'/>\
               <feature policy='disable' name='hle'/></cpu>";
    let cpu = parse_cpu(xml.as_bytes(), TypeHint::Guest, map.version(), Limits::default()).unwrap();
    let s = CpuStanza::of_cpu(&cpu).unwrap();
    let paths = yaml_paths(&s.yaml());
    let want = [
        ("spec.configuration.cpuModel", "Haswell-noTSX"),
        ("spec.domain.cpu.model", "Haswell-noTSX"),
        ("spec.domain.cpu.features.name", "vmx"),
        ("spec.domain.cpu.features.policy", "require"),
        ("spec.domain.cpu.features.name", "hle"),
        ("spec.domain.cpu.features.policy", "disable"),
    ];
    let got: Vec<(&str, &str)> =
        paths.iter().filter(|(_, v)| !v.is_empty()).map(|(p, v)| (p.as_str(), v.as_str())).collect();
    assert_eq!(got, want);
    let j = s.json();
    assert_eq!(j["configuration"]["cpuModel"], "Haswell-noTSX");
    assert_eq!(j["domain"]["cpu"]["features"][1]["policy"], "disable");
}
