//! The name tables of `data/names/`: complete for both embedded maps, and consistent with their
//! sources.

use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_export::{NameTable, NameTables, Vocabulary};
use std::path::PathBuf;

#[test]
fn every_feature_of_both_maps_is_in_every_table() {
    let tables = NameTables::embedded().unwrap();
    for v in LibvirtVersion::ALL {
        let map = CpuMap::embedded(v).unwrap();
        for voc in Vocabulary::ALL {
            let t = tables.get(voc);
            let missing: Vec<&str> =
                map.x86.features.iter().map(|f| f.name.as_str()).filter(|n| t.lookup(n).is_none()).collect();
            assert!(missing.is_empty(), "libvirt {v}: {} lacks {missing:?}", voc.file_name());
        }
    }
}

/// Every QEMU name that differs from libvirt's is one libvirt's own map gives as the feature's
/// QEMU alias (`<alias source='qemu'>`, libvirt 11.3.0's x86_features.xml), except the renames
/// from libvirt's translation table that the map does not carry.
#[test]
fn qemu_renames_match_libvirt_aliases() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/libvirt-11.3.0/cpu_map/x86_features.xml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("SKIPPED: {} absent", path.display());
        return;
    };
    let qemu = NameTable::embedded(Vocabulary::Qemu).unwrap();
    let mut renamed = 0;
    for (libvirt, foreign) in qemu.entries() {
        let Some(q) = foreign.first() else { continue };
        if q == libvirt || libvirt.starts_with("kvm_pv_") {
            continue;
        }
        renamed += 1;
        let start = text.find(&format!("<feature name='{libvirt}'")).unwrap_or_else(|| panic!("{libvirt} not in map"));
        let body = &text[start..start + text[start..].find("</feature>").unwrap()];
        assert!(body.contains(&format!("<alias name='{q}' source='qemu'/>")), "{libvirt} -> {q}");
    }
    assert!(renamed >= 9, "{renamed}");
}

/// The Linux names the issue cites, and MSR-only features having none.
#[test]
fn linux_names() {
    let linux = NameTable::embedded(Vocabulary::Linux).unwrap();
    for (libvirt, flag) in [
        ("pclmuldq", "pclmulqdq"),
        ("sse4.1", "sse4_1"),
        ("tsc-deadline", "tsc_deadline_timer"),
        ("pni", "pni"),
        ("cmt", "cqm"),
        ("ds", "dts"),
    ] {
        assert_eq!(linux.foreign(libvirt), Some(flag), "{libvirt}");
        assert_eq!(linux.libvirt(flag), Some(libvirt));
    }
    for msr_only in ["rdctl-no", "vmx-ept", "pschange-mc-no"] {
        assert_eq!(linux.lookup(msr_only), Some(&[][..]), "{msr_only}");
    }
}

#[test]
fn a_malformed_table_line_is_an_error_with_its_line() {
    let e = NameTable::parse(Vocabulary::Qemu, "# c\nfoo\tbar\nbaz\n").unwrap_err();
    assert_eq!(e.to_string(), "data/names/qemu.tsv:3: expected 'libvirt-name<TAB>foreign-name'");
    assert!(NameTable::parse(Vocabulary::Qemu, "a\tb\na\tc\n").is_err());
}
