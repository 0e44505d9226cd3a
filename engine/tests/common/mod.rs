//! Test support: locating the shared conformance packs (one per libvirt version).
#![allow(dead_code)]

pub mod releases;
pub mod summary;

use cpufleet_engine::{CpuMap, LibvirtVersion};
use std::path::{Path, PathBuf};

/// The folder holding the packs: `../shared/conformance` beside the repository.
pub fn packs_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
}

/// The version a pack folder's name selects: it ends in `libvirt-VERSION`.
pub fn version_of_dir(dir: &Path) -> Option<LibvirtVersion> {
    let name = dir.file_name()?.to_str()?;
    let (_, v) = name.rsplit_once("libvirt-")?;
    LibvirtVersion::parse(v)
}

/// The public pack of `version` (`../shared/conformance/libvirt-VERSION`); for 9.0.0,
/// `CPUFLEET_CONFORMANCE_DIR` overrides it. None for a release without a pack (see
/// [`releases::ReleaseOracles::pack`]). Panics when a release's pack is absent and
/// `CPUFLEET_REQUIRE_CONFORMANCE=1`.
pub fn pack_dir_of(version: LibvirtVersion) -> Option<PathBuf> {
    let name = releases::oracles(version).pack()?;
    let dir = match std::env::var_os("CPUFLEET_CONFORMANCE_DIR") {
        Some(d) if version == LibvirtVersion::V9_0_0 => PathBuf::from(d),
        _ => packs_root().join(name),
    };
    if dir.join("cases.toml").is_file() {
        return Some(dir);
    }
    if std::env::var("CPUFLEET_REQUIRE_CONFORMANCE").as_deref() == Ok("1") {
        panic!("conformance pack not found at {} and CPUFLEET_REQUIRE_CONFORMANCE=1", dir.display());
    }
    None
}

/// The `cpu_map/` of `version`: its pack's, or the installed package's for a release without a
/// pack (None when that is not installed; the caller says so).
pub fn map_dir_of(version: LibvirtVersion) -> Option<PathBuf> {
    match releases::oracles(version).installed_map() {
        Some(dir) => Some(PathBuf::from(dir)).filter(|d| d.join("index.xml").is_file()),
        None => pack_dir_of(version).map(|p| p.join("cpu_map")),
    }
}

/// The libvirt 9.0.0 pack.
pub fn pack_dir() -> Option<PathBuf> {
    pack_dir_of(LibvirtVersion::V9_0_0)
}

/// Every public pack present, with its version, oldest first. With
/// `CPUFLEET_REQUIRE_CONFORMANCE=1`, every pack the release table names must be present.
pub fn packs() -> Vec<(LibvirtVersion, PathBuf)> {
    LibvirtVersion::ALL.into_iter().filter_map(|v| pack_dir_of(v).map(|d| (v, d))).collect()
}

/// Prints a plain skip notice (the test then returns without asserting).
pub fn skip(test: &str) {
    eprintln!(
        "SKIPPED {test}: a conformance pack under ../shared/conformance/ is absent (set CPUFLEET_REQUIRE_CONFORMANCE=1 to make this an error)"
    );
    println!("{test}: skipped, conformance pack absent");
}

/// The files of a pack's `cpu_map/`, by name.
pub fn map_files(dir: &Path) -> std::collections::HashMap<String, String> {
    let mut files = std::collections::HashMap::new();
    for e in std::fs::read_dir(dir).expect("cpu_map dir") {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        files.insert(name, std::fs::read_to_string(e.path()).unwrap());
    }
    files
}

/// The map of the pack's `cpu_map/`, loaded under the pack's version (from its folder name;
/// 9.0.0 for a folder named otherwise, such as `CPUFLEET_CONFORMANCE_DIR`).
pub fn pack_map(pack: &Path) -> CpuMap {
    pack_map_as(pack, version_of_dir(pack).unwrap_or(LibvirtVersion::V9_0_0))
}

/// The map of the pack's `cpu_map/`, loaded under `version`'s rules.
pub fn pack_map_as(pack: &Path, version: LibvirtVersion) -> CpuMap {
    let files = map_files(&pack.join("cpu_map"));
    let index = files.get("index.xml").expect("index.xml");
    CpuMap::load(version, index, &|n| files.get(n).map(String::as_str)).expect("pack map loads")
}
