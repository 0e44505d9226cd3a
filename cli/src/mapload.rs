//! Loading the CPU map: the embedded one of the chosen libvirt version, or a libvirt `cpu_map`
//! directory (`--cpu-map DIR`), read under the chosen version's rules or, without `--libvirt`,
//! the version whose map it is.

use crate::args::Common;
use crate::error::{CliError, CliResult};
use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_io::read_file;
use std::collections::HashMap;
use std::path::Path;

const MAX_MAP_FILE: u64 = 16 << 20;

/// Reads a map file as UTF-8, bounded by `max_bytes` (and by 16 MiB in any case).
fn read_text(path: &Path, max_bytes: u64) -> CliResult<String> {
    String::from_utf8(read_file(path, max_bytes.min(MAX_MAP_FILE))?).map_err(|e| {
        let pos = cpufleet_engine::Pos::locate(e.as_bytes(), e.utf8_error().valid_up_to());
        CliError::file(path, format!("{pos}: invalid UTF-8"))
    })
}

/// The files of a `cpu_map` directory: `index.xml` and every file it could include (`*.xml` in
/// DIR), each at most `max_bytes` long (`--max-input-bytes`).
fn read_dir_files(dir: &Path, max_bytes: u64) -> CliResult<(String, HashMap<String, String>)> {
    let index_path = dir.join("index.xml");
    let index = read_text(&index_path, max_bytes)?;
    let mut files: HashMap<String, String> = HashMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::file(dir, cpufleet_io::io_reason(&e)))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".xml") && name != "index.xml" && entry.path().is_file() {
            files.insert(name, read_text(&entry.path(), max_bytes)?);
        }
    }
    Ok((index, files))
}

/// Reads a `cpu_map` directory under `version`'s loader rules or, when `version` is None, under
/// the rules of the supported version whose map it is (by content: it must load to exactly that
/// version's embedded map); a map cpufleet does not know needs `--libvirt`.
pub fn load_dir(dir: &Path, version: Option<LibvirtVersion>, max_bytes: u64) -> CliResult<CpuMap> {
    let (index, files) = read_dir_files(dir, max_bytes)?;
    let lookup = |name: &str| files.get(name).map(String::as_str);
    let load = |v| CpuMap::load(v, &index, &lookup).map_err(|e| CliError::new(format!("{}/{e}", dir.display())));
    match version.or_else(|| CpuMap::known_version(&index, &lookup)) {
        Some(v) => load(v),
        None => {
            // A map that does not even load is reported as it is (file, position, problem).
            load(LibvirtVersion::NEWEST)?;
            let flags: Vec<String> = LibvirtVersion::ALL.iter().map(|v| format!("--libvirt {v}")).collect();
            Err(CliError::new(format!(
                "{}: this CPU map is not one of the libvirt versions cpufleet knows by content ({}); \
                 say which libvirt's rules to read it with: {}",
                dir.display(),
                LibvirtVersion::names(),
                flags.join(" or ")
            )))
        }
    }
}

/// The map a command uses: `--cpu-map DIR` (under `--libvirt`, or its own version) or the
/// embedded map of `--libvirt` (default: [`LibvirtVersion::DEFAULT`], Debian's stable release).
pub fn load(common: &Common) -> CliResult<CpuMap> {
    match &common.cpu_map {
        Some(dir) => load_dir(dir, common.libvirt, common.max_input_bytes),
        None => {
            let v = common.libvirt.unwrap_or(LibvirtVersion::DEFAULT);
            CpuMap::embedded(v).map_err(|e| CliError::new(format!("embedded libvirt {v} CPU map: {e}")))
        }
    }
}
