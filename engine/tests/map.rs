//! The CPU map: counts from the pack README, and the embedded map equals a fresh import.

mod common;

use cpufleet_engine::{CpuMap, LibvirtVersion};

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

/// Each release's embedded map equals a fresh import of that release's own `cpu_map/` (its
/// conformance pack's, or for 12.9.0 the one Debian's package installs with the oracle), and is
/// recognised as that release's by content.
#[test]
fn embedded_maps_equal_imports_of_the_releases_maps() {
    // Every release of the table, with the x86 counts its row states.
    for version in LibvirtVersion::ALL {
        let size = version.release().x86_map;
        let (features, models) = (size.features, size.models);
        let embedded = CpuMap::embedded(version).expect("embedded map loads");
        assert_eq!(embedded.version(), version);
        assert_eq!(embedded.x86.features.len(), features);
        assert_eq!(embedded.x86.models.len(), models);
        let Some(dir) = common::map_dir_of(version) else {
            if common::releases::oracles(version).pack().is_some() {
                common::skip("embedded_maps_equal_imports_of_the_releases_maps");
            } else {
                let why = format!(
                    "libvirt {version}'s installed cpu_map is absent; install it with `{}`",
                    common::releases::oracles(version).virsh_install
                );
                assert!(
                    std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref() != Ok("1"),
                    "CPUFLEET_REQUIRE_VIRSH=1: {why}"
                );
                eprintln!("SKIPPED embedded map of libvirt {version}: {why}");
            }
            continue;
        };
        let files = common::map_files(&dir);
        let lookup = |n: &str| files.get(n).map(String::as_str);
        let imported = CpuMap::load(version, &files["index.xml"], &lookup).expect("the release's map loads");
        assert_eq!(
            embedded,
            imported,
            "data/cpu_map/libvirt-{version} differs from {}: run `cpufleet map import`",
            dir.display()
        );
        // The import is a fixed point: formatting the imported map gives the embedded files byte for byte.
        let docs = cpufleet_engine::map::embedded_documents(version);
        assert_eq!(imported.format_arch("x86").unwrap(), docs[0].1, "libvirt-{version} x86");
        assert_eq!(imported.format_arch("ppc64").unwrap(), docs[1].1, "libvirt-{version} ppc64");
        // The version is recognised from the release's own map, and from no other version's.
        assert_eq!(CpuMap::known_version(&files["index.xml"], &lookup), Some(version));
    }
}

/// The 11.3.0 loader rules on the 11.3.0 map (pack README 4.0): version copies and canonical
/// names, added features, mpx removed, compat check, groups; and the 9.0.0 loader reads no model
/// of the 11.3.0 index (it ignores `<group>`).
#[test]
fn libvirt_11_3_map_rules() {
    let Some(pack) = common::pack_dir_of(LibvirtVersion::V11_3_0) else {
        common::skip("libvirt_11_3_map_rules");
        return;
    };
    let map = common::pack_map_as(&pack, LibvirtVersion::V11_3_0);
    let x = &map.x86;
    assert_eq!((x.vendors.len(), x.features.len(), x.models.len()), (3, 364, 150));
    assert_eq!(x.models.first().unwrap().name, "486");
    assert_eq!(x.models.last().unwrap().name, "Dhyana-v2");
    let m = |n: &str| x.model(n).unwrap_or_else(|| panic!("{n}"));
    let name = |i: Option<usize>| i.map(|i| x.models[i].name.as_str());
    assert_eq!(name(m("Haswell").canonical), Some("Haswell-v1"));
    assert_eq!(name(m("Haswell-noTSX").canonical), Some("Haswell-v2"));
    assert_eq!(name(m("Haswell-v2").copy_of), Some("Haswell-noTSX"));
    assert_eq!(m("Haswell-v2").features, m("Haswell-noTSX").features);
    assert!(m("Haswell-v2").removed.is_empty() && m("Haswell-v2").added.is_empty());
    assert_eq!(x.models.iter().filter(|m| m.copy_of.is_some()).count(), 59);
    assert_eq!(x.models.iter().filter(|m| m.compat_check).count(), 62);
    assert_eq!(x.models.iter().filter(|m| !m.added.is_empty()).count(), 35);
    assert_eq!(x.models.iter().map(|m| m.added.len()).sum::<usize>(), 2145);
    assert_eq!(x.models.iter().filter(|m| m.decode_guest).count(), 57);
    let mpx = x.feature_id("mpx").unwrap();
    let removed = |n: &str| m(n).removed.iter().map(|&id| x.feature_name(id)).collect::<Vec<_>>();
    assert_eq!(removed("Icelake-Server"), ["intel-pt", "mpx"]);
    assert_eq!(removed("Skylake-Server-IBRS"), ["mpx"]);
    assert!(!m("Skylake-Server-IBRS").features.contains(mpx));
    assert!(m("Skylake-Server-v4").removed.is_empty());
    let vmx = x.feature_id("vmx-ept").unwrap();
    assert!(m("Skylake-Server").added.contains(&vmx) && !m("Skylake-Server").features.contains(vmx));
    assert!(m("Skylake-Server-v4").features.contains(vmx));
    // Map order: leaf 1 ECX before leaf 1 EDX (pack README 4.0-B).
    assert!(x.feature_id("pni").unwrap() < x.feature_id("fpu").unwrap());

    let files = common::map_files(&pack.join("cpu_map"));
    let old = CpuMap::load(LibvirtVersion::V9_0_0, &files["index.xml"], &|n| files.get(n).map(String::as_str)).unwrap();
    assert_eq!((old.x86.models.len(), old.ppc64.models.len(), old.x86.features.len()), (0, 0, 364));
}

/// The 11.3.0 model-parser errors (pack README 2.6, 4.0-C, 4.0-F).
#[test]
fn libvirt_11_3_map_errors() {
    let v = LibvirtVersion::V11_3_0;
    let doc = |models: &str| {
        format!("<cpus><arch name='x86'><feature name='a'><cpuid eax_in='1' ecx='1'/></feature>{models}</arch></cpus>")
    };
    let load = |models: &str| CpuMap::load_documents(v, &[("m.xml", &doc(models))]).map_err(|e| e.to_string());
    let e = load("<model name='m'><check/><decode host='on' guest='on'/></model>").unwrap_err();
    assert!(e.ends_with("Missing check/@partial in CPU model m"), "{e}");
    let e = load("<model name='m'><check partial='full'/><decode host='on' guest='on'/></model>").unwrap_err();
    assert!(e.ends_with("Invalid check/@partial value 'full' in CPU model m"), "{e}");
    assert!(e.starts_with("m.xml: 1:"), "position: {e}");
    let e = load(
        "<model name='m'><decode host='on' guest='on'/></model><model name='m-v1'><model name='m'/><decode host='on' guest='off'/></model><model name='m-v2'><model name='m'/><decode host='on' guest='off'/></model>",
    )
    .unwrap_err();
    assert!(
        e.ends_with("Cannot set CPU model 'm-v2' as canonical name of 'm' which is already an alias of 'm-v1'"),
        "{e}"
    );
    let e =
        load("<model name='m'><decode host='on' guest='on'/><feature name='a' added='maybe'/></model>").unwrap_err();
    assert!(e.contains("invalid value 'maybe' of attribute 'added'"), "{e}");
    // 9.0.0 reads the same models: no check, added features are ordinary ones.
    let old = CpuMap::load_documents(
        LibvirtVersion::V9_0_0,
        &[("m.xml", &doc("<model name='m'><check partial='full'/><decode host='on' guest='on'/><feature name='a' added='yes'/></model>"))],
    )
    .unwrap();
    let m = old.x86.model("m").unwrap();
    assert!(!m.compat_check && m.added.is_empty() && m.features.count() == 1);
}

#[test]
fn map_errors_name_the_file_and_problem() {
    let index = "<cpus><arch name='x86'><include filename='x86_missing.xml'/></arch></cpus>";
    let err = CpuMap::load(LibvirtVersion::V9_0_0, index, &|_| None).unwrap_err();
    assert_eq!(err.to_string(), "CPU map file 'x86_missing.xml' is included but missing");
    let features = "<cpus><feature name='a'><cpuid eax_in='1' ecx='1'/></feature><feature name='a'><cpuid eax_in='1' ecx='2'/></feature></cpus>";
    let index = "<cpus><arch name='x86'><include filename='f.xml'/></arch></cpus>";
    let err = CpuMap::load(LibvirtVersion::V9_0_0, index, &|n| (n == "f.xml").then_some(features)).unwrap_err();
    assert_eq!(err.to_string(), "f.xml: feature 'a' already defined");
    let models = "<cpus><model name='m'><decode host='on' guest='on'/><feature name='nope'/></model></cpus>";
    let err = CpuMap::load(LibvirtVersion::V9_0_0, index, &|n| (n == "f.xml").then_some(models)).unwrap_err();
    assert_eq!(err.to_string(), "f.xml: unknown feature 'nope'");
}
