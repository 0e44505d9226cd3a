//! Loading the CPU map: the embedded one, or a libvirt `cpu_map` directory (`--cpu-map DIR`).

use crate::io::{read_file, CliError, CliResult};
use cpufleet_engine::CpuMap;
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

/// Reads `DIR/index.xml` and every file it could include (`*.xml` in DIR), each at most
/// `max_bytes` long (`--max-input-bytes`).
pub fn load_dir(dir: &Path, max_bytes: u64) -> CliResult<CpuMap> {
    let index_path = dir.join("index.xml");
    let index = read_text(&index_path, max_bytes)?;
    let mut files: HashMap<String, String> = HashMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::file(dir, crate::io::io_reason(&e)))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".xml") && name != "index.xml" && entry.path().is_file() {
            files.insert(name, read_text(&entry.path(), max_bytes)?);
        }
    }
    CpuMap::load(&index, &|name| files.get(name).map(String::as_str))
        .map_err(|e| CliError::new(format!("{}/{e}", dir.display())))
}

/// The map a command uses: `--cpu-map DIR` or the embedded one.
pub fn load(cpu_map: Option<&Path>, max_bytes: u64) -> CliResult<CpuMap> {
    match cpu_map {
        Some(dir) => load_dir(dir, max_bytes),
        None => CpuMap::embedded().map_err(|e| CliError::new(format!("embedded CPU map: {e}"))),
    }
}
