//! The CPU map: counts from the pack README, and the embedded map equals a fresh import.

mod common;

use cpufleet_engine::CpuMap;

#[test]
fn pack_map_has_the_documented_counts() {
    let Some(pack) = common::pack_dir() else {
        common::skip("pack_map_has_the_documented_counts");
        return;
    };
    let map = common::pack_map(&pack);
    assert_eq!(map.x86.vendors.len(), 3);
    assert_eq!(map.x86.features.len(), 212);
    assert_eq!(map.x86.models.len(), 58);
    assert_eq!(map.ppc64.vendors, vec!["IBM".to_string(), "Freescale".to_string()]);
    let ppc: Vec<&str> = map.ppc64.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(ppc, ["POWER6", "POWER7", "POWER8", "POWER9", "POWER10", "POWERPC_e5500", "POWERPC_e6500"]);
    // Load order: 486 first, Dhyana last; non-migratable features are exactly xsaves and invtsc.
    assert_eq!(map.x86.models.first().unwrap().name, "486");
    assert_eq!(map.x86.models.last().unwrap().name, "Dhyana");
    let nm: Vec<&str> = map.x86.non_migratable.iter().map(|id| map.x86.feature_name(id)).collect();
    assert_eq!(nm, ["xsaves", "invtsc"]);
    // decode guest='off' and removed features, as the pack README lists them.
    let guest_off: Vec<&str> = map.x86.models.iter().filter(|m| !m.decode_guest).map(|m| m.name.as_str()).collect();
    assert_eq!(
        guest_off,
        [
            "cpu64-rhel5",
            "cpu64-rhel6",
            "Skylake-Client-noTSX-IBRS",
            "Skylake-Server-noTSX-IBRS",
            "Cascadelake-Server-noTSX",
            "Icelake-Client-noTSX",
            "Icelake-Server-noTSX"
        ]
    );
    let with_removed: Vec<&str> =
        map.x86.models.iter().filter(|m| !m.removed.is_empty()).map(|m| m.name.as_str()).collect();
    assert_eq!(
        with_removed,
        [
            "Icelake-Client",
            "Icelake-Client-noTSX",
            "Icelake-Server",
            "Icelake-Server-noTSX",
            "Opteron_G3",
            "EPYC",
            "EPYC-IBPB",
            "Dhyana"
        ]
    );
    let vendorless: Vec<&str> = map.x86.models.iter().filter(|m| m.vendor.is_none()).map(|m| m.name.as_str()).collect();
    assert_eq!(
        vendorless,
        [
            "486",
            "pentium",
            "pentium2",
            "pentium3",
            "pentiumpro",
            "qemu32",
            "kvm32",
            "cpu64-rhel5",
            "cpu64-rhel6",
            "qemu64",
            "kvm64"
        ]
    );
}

#[test]
fn embedded_map_equals_import_of_the_pack() {
    let embedded = CpuMap::embedded().expect("embedded map loads");
    assert_eq!(embedded.x86.features.len(), 212);
    let Some(pack) = common::pack_dir() else {
        common::skip("embedded_map_equals_import_of_the_pack");
        return;
    };
    let imported = common::pack_map(&pack);
    assert_eq!(embedded, imported, "data/cpu_map differs from the pack's map: run `cpufleet map import`");
    // The import is a fixed point: formatting the imported map gives the embedded files byte for byte.
    assert_eq!(imported.format_arch("x86").unwrap(), cpufleet_engine::map::EMBEDDED_X86);
    assert_eq!(imported.format_arch("ppc64").unwrap(), cpufleet_engine::map::EMBEDDED_PPC64);
}

#[test]
fn map_errors_name_the_file_and_problem() {
    let index = "<cpus><arch name='x86'><include filename='x86_missing.xml'/></arch></cpus>";
    let err = CpuMap::load(index, &|_| None).unwrap_err();
    assert_eq!(err.to_string(), "CPU map file 'x86_missing.xml' is included but missing");
    let features = "<cpus><feature name='a'><cpuid eax_in='1' ecx='1'/></feature><feature name='a'><cpuid eax_in='1' ecx='2'/></feature></cpus>";
    let index = "<cpus><arch name='x86'><include filename='f.xml'/></arch></cpus>";
    let err = CpuMap::load(index, &|n| (n == "f.xml").then_some(features)).unwrap_err();
    assert_eq!(err.to_string(), "f.xml: feature 'a' already defined");
    let models = "<cpus><model name='m'><decode host='on' guest='on'/><feature name='nope'/></model></cpus>";
    let err = CpuMap::load(index, &|n| (n == "f.xml").then_some(models)).unwrap_err();
    assert_eq!(err.to_string(), "f.xml: unknown feature 'nope'");
}
