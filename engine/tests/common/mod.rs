//! Test support: locating the shared conformance pack.
#![allow(dead_code)]

use std::path::PathBuf;

/// The public pack (`../shared/conformance/libvirt-9.0.0` beside the repository), or
/// `CPUFLEET_CONFORMANCE_DIR`.
pub fn pack_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("CPUFLEET_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/libvirt-9.0.0"),
    };
    if dir.join("cases.toml").is_file() {
        return Some(dir);
    }
    if std::env::var("CPUFLEET_REQUIRE_CONFORMANCE").as_deref() == Ok("1") {
        panic!("conformance pack not found at {} and CPUFLEET_REQUIRE_CONFORMANCE=1", dir.display());
    }
    None
}

/// Prints a plain skip notice (the test then returns without asserting).
pub fn skip(test: &str) {
    eprintln!(
        "SKIPPED {test}: ../shared/conformance/libvirt-9.0.0 is absent (set CPUFLEET_REQUIRE_CONFORMANCE=1 to make this an error)"
    );
    println!("{test}: skipped, conformance pack absent");
}

/// The map of the pack's `cpu_map/`.
pub fn pack_map(pack: &std::path::Path) -> cpufleet_engine::CpuMap {
    let dir = pack.join("cpu_map");
    let index = std::fs::read_to_string(dir.join("index.xml")).expect("index.xml");
    let mut files = std::collections::HashMap::new();
    for e in std::fs::read_dir(&dir).expect("cpu_map dir") {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        files.insert(name, std::fs::read_to_string(e.path()).unwrap());
    }
    cpufleet_engine::CpuMap::load(&index, &|n| files.get(n).map(String::as_str)).expect("pack map loads")
}
