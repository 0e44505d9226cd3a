//! The KVM view of a host (`data/kvm_view.toml`): which features QEMU/KVM takes away from, and
//! adds to, a host's raw CPU before offering it to guests, per vendor (qemu-driver spec §5.2).
//!
//! Every synthetic host has its raw CPU (what `virsh capabilities` shows, which `cpu-baseline`
//! reads) and a hypervisor host model (what `virsh domcapabilities` would show, which guest starts,
//! migrations and `hypervisor-cpu-baseline` use). The host model is derived as spec §5.1 says:
//! the raw feature set, the KVM transformation of this table, `invtsc` kept when the raw CPU has
//! it, decoded as a guest CPU (see [`crate::fleet::host_class`]).

use super::error::{SimResult, Source};
use cpufleet_engine::map::X86Map;
use cpufleet_engine::{CpuDef, FeatureSet};
use serde::Deserialize;
use toml::Spanned;

/// The embedded table.
pub(crate) const EMBEDDED_KVM_VIEW: &str = include_str!("../../data/kvm_view.toml");
/// How the embedded table is named in messages.
pub(crate) const EMBEDDED_KVM_VIEW_NAME: &str = "data/kvm_view.toml (embedded)";

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct KvmViewToml {
    pub vendor: Vec<VendorToml>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct VendorToml {
    pub vendors: Vec<Spanned<String>>,
    #[serde(default)]
    pub remove: Vec<Spanned<String>>,
    #[serde(default)]
    pub add: Vec<Spanned<String>>,
}

/// The table resolved against one CPU map: per map vendor (by index), what KVM removes and adds.
#[derive(Clone, Debug, Default)]
pub struct KvmView {
    per_vendor: Vec<(FeatureSet, FeatureSet)>,
    invtsc: Option<cpufleet_engine::FeatureId>,
    /// The map's QEMU/KVM before any host (`Hypervisor::kvm_base`), which every simulated host's
    /// view shares its tables with.
    base: Option<Box<cpufleet_engine::hypervisor::Hypervisor>>,
}

/// Parses the table.
pub(crate) fn parse(src: &Source) -> SimResult<KvmViewToml> {
    toml::from_str(src.text).map_err(|e| src.toml_error(&e))
}

impl KvmView {
    /// The embedded table under `map`.
    pub fn embedded(map: &X86Map) -> SimResult<KvmView> {
        let src = Source { label: EMBEDDED_KVM_VIEW_NAME, text: EMBEDDED_KVM_VIEW };
        KvmView::resolve(map, &src, &parse(&src)?)
    }

    /// `t` under `map`: vendors must be the map's; a feature name the map does not know is a bit
    /// that libvirt version cannot see, and is skipped (names unknown to every supported map are
    /// caught by this module's tests).
    pub fn resolve(map: &X86Map, src: &Source, t: &KvmViewToml) -> SimResult<KvmView> {
        let mut per_vendor = vec![(FeatureSet::new(), FeatureSet::new()); map.vendors.len()];
        let set = |names: &[Spanned<String>]| names.iter().filter_map(|n| map.feature_id(n.as_ref())).collect();
        for v in &t.vendor {
            let (remove, add): (FeatureSet, FeatureSet) = (set(&v.remove), set(&v.add));
            for name in &v.vendors {
                let i = map
                    .vendor_index(name.as_ref())
                    .ok_or_else(|| src.at(name, format!("unknown vendor '{}' (not in the CPU map)", name.as_ref())))?;
                per_vendor[i] = (remove, add);
            }
        }
        let base = Some(Box::new(cpufleet_engine::hypervisor::Hypervisor::kvm_base(map)));
        Ok(KvmView { per_vendor, invtsc: map.feature_id("invtsc"), base })
    }

    /// A simulated host's QEMU/KVM: `reported` its host-model CPU, `raw` its own CPU (FULL), as
    /// `Hypervisor::kvm_with_host_model`, sharing this view's tables.
    pub fn hypervisor(
        &self,
        map: &X86Map,
        reported: CpuDef,
        raw: &CpuDef,
    ) -> Result<cpufleet_engine::hypervisor::Hypervisor, cpufleet_engine::CpuError> {
        match &self.base {
            Some(base) if base.version() == map.version() => base.with_host_model(map, reported, Some(raw)),
            _ => cpufleet_engine::hypervisor::Hypervisor::kvm_with_host_model(map, reported, Some(raw)),
        }
    }

    /// The features QEMU/KVM offers guests on a host of `vendor` whose raw CPU has `raw`
    /// (spec §5.1 steps 1-3): `raw` minus what KVM removes, plus what it adds, with `invtsc`
    /// (non-migratable, but in domcapabilities) kept when the raw CPU has it.
    pub fn apply(&self, vendor: usize, raw: &FeatureSet) -> FeatureSet {
        let Some((remove, add)) = self.per_vendor.get(vendor) else { return *raw };
        let mut out = raw.difference(remove).union(add);
        if let Some(id) = self.invtsc.filter(|&id| raw.contains(id)) {
            out.insert(id);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpufleet_engine::x86::{self, Sel};
    use cpufleet_engine::xml::{read_cpu_document, Limits, TypeHint};
    use cpufleet_engine::{CpuMap, LibvirtVersion};
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;

    fn pack_data() -> Option<PathBuf> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/libvirt-9.0.0");
        if dir.join("cases.toml").is_file() {
            return Some(dir.join("cputestdata"));
        }
        if std::env::var("CPUFLEET_REQUIRE_CONFORMANCE").as_deref() == Ok("1") {
            panic!("conformance pack not found at {} and CPUFLEET_REQUIRE_CONFORMANCE=1", dir.display());
        }
        eprintln!("SKIPPED kvm_view: the libvirt 9.0.0 conformance pack is absent (set CPUFLEET_REQUIRE_CONFORMANCE=1 to make this an error)");
        None
    }

    fn spec_text() -> Option<String> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs/qemu-driver-cpu.md");
        std::fs::read_to_string(p).ok()
    }

    type Names = BTreeSet<String>;

    /// A pack CPU file's features (`ModelFromCPU(cpu, ALL)`, as spec §5.2 counts them) and vendor.
    fn features(map: &CpuMap, path: &std::path::Path) -> (Names, String) {
        let bytes = std::fs::read(path).unwrap();
        let doc = read_cpu_document(&bytes, TypeHint::Auto, map.version(), Limits::default()).unwrap();
        let cpu = &doc.cpus[0];
        let md = x86::model_from_cpu(&map.x86, cpu, Sel::All).unwrap();
        let names = md.features.iter().map(|id| map.x86.feature_name(id).to_string()).collect();
        (names, cpu.vendor.clone().unwrap_or_default())
    }

    /// Per pack host with both files (spec §5.2's method, 9.0.0 map): vendor, raw, QEMU view.
    fn pack_hosts(map: &CpuMap, dir: &std::path::Path) -> Vec<(String, Names, Names)> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.strip_prefix("x86_64-cpuid-")?.strip_suffix("-host.xml").map(str::to_string))
            .collect();
        names.sort();
        names
            .iter()
            .filter(|n| dir.join(format!("x86_64-cpuid-{n}-json.xml")).is_file())
            .map(|n| {
                let (raw, vendor) = features(map, &dir.join(format!("x86_64-cpuid-{n}-host.xml")));
                let (qemu, _) = features(map, &dir.join(format!("x86_64-cpuid-{n}-json.xml")));
                (vendor, raw, qemu)
            })
            .collect()
    }

    /// The rows of spec §5.2's table: feature, hosts only in raw, hosts only in the QEMU view.
    fn spec_table(spec: &str) -> BTreeMap<String, (usize, usize)> {
        let section = spec.split("### 5.2").nth(1).unwrap().split("Per host,").next().unwrap();
        section
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((name.to_string(), (cells.get(2)?.parse().ok()?, cells.get(3)?.parse().ok()?)))
            })
            .collect()
    }

    #[test]
    fn the_table_follows_the_packs_hosts_and_the_spec() {
        let Some(dir) = pack_data() else { return };
        let map = CpuMap::embedded(LibvirtVersion::V9_0_0).unwrap();
        let hosts = pack_hosts(&map, &dir);
        assert_eq!(hosts.len(), 38, "spec §5.2 counts 38 hosts with both files");
        // Our computation of the per-feature counts is the spec's table, row for row.
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (_, raw, qemu) in &hosts {
            for n in raw.difference(qemu) {
                counts.entry(n.clone()).or_default().0 += 1;
            }
            for n in qemu.difference(raw) {
                counts.entry(n.clone()).or_default().1 += 1;
            }
        }
        if let Some(spec) = spec_text() {
            assert_eq!(counts, spec_table(&spec), "spec §5.2's table");
        }
        let src = Source { label: EMBEDDED_KVM_VIEW_NAME, text: EMBEDDED_KVM_VIEW };
        let t = parse(&src).unwrap();
        for v in &t.vendor {
            let of_vendor: Vec<&(String, Names, Names)> =
                hosts.iter().filter(|h| v.vendors.iter().any(|n| *n.as_ref() == h.0)).collect();
            assert!(!of_vendor.is_empty());
            for f in v.remove.iter().map(|n| n.as_ref().as_str()) {
                let with: Vec<_> = of_vendor.iter().filter(|h| h.1.contains(f)).collect();
                assert!(with.iter().any(|h| !h.2.contains(f)), "{f}: removed on no pack host of {:?}", v.vendors);
                // Nesting (vmx/svm) is on in some captures; everything else KVM never gives.
                if !matches!(f, "vmx" | "svm") {
                    assert!(with.iter().all(|h| !h.2.contains(f)), "{f}: some pack host's QEMU view has it");
                }
            }
            for f in v.add.iter().map(|n| n.as_ref().as_str()) {
                assert!(
                    of_vendor.iter().any(|h| h.2.contains(f) && !h.1.contains(f)),
                    "{f}: added on no pack host of {:?}",
                    v.vendors
                );
            }
        }
    }

    #[test]
    fn every_name_is_known_and_the_view_applies_per_vendor() {
        let maps: Vec<CpuMap> = LibvirtVersion::ALL.into_iter().map(|v| CpuMap::embedded(v).unwrap()).collect();
        let src = Source { label: EMBEDDED_KVM_VIEW_NAME, text: EMBEDDED_KVM_VIEW };
        let t = parse(&src).unwrap();
        for v in &t.vendor {
            for n in v.remove.iter().chain(&v.add) {
                assert!(maps.iter().any(|m| m.x86.feature_id(n.as_ref()).is_some()), "{}", n.as_ref());
            }
        }
        let x = &maps[0].x86;
        let view = KvmView::embedded(x).unwrap();
        let id = |n: &str| x.feature_id(n).unwrap();
        let raw: FeatureSet = ["ds", "monitor", "vmx", "invtsc", "sse4.2"].iter().map(|n| id(n)).collect();
        let intel = view.apply(x.vendor_index("Intel").unwrap(), &raw);
        for n in ["ds", "monitor", "vmx"] {
            assert!(!intel.contains(id(n)), "{n}");
        }
        for n in ["invtsc", "sse4.2", "hypervisor", "x2apic"] {
            assert!(intel.contains(id(n)), "{n}");
        }
        assert!(!view.apply(x.vendor_index("AMD").unwrap(), &raw).contains(id("monitor")));
    }
}
