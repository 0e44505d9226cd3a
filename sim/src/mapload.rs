//! Loading the CPU map: the embedded one, or a libvirt `cpu_map` directory (`--cpu-map DIR`).

use crate::io::{read_file, CliError, CliResult};
use cpufleet_engine::CpuMap;
use std::collections::HashMap;
use std::path::Path;

const MAX_MAP_FILE: u64 = 16 << 20;

/// Reads `DIR/index.xml` and every file it could include (`*.xml` in DIR).
pub fn load_dir(dir: &Path) -> CliResult<CpuMap> {
    let index_path = dir.join("index.xml");
    let index = String::from_utf8(read_file(&index_path, MAX_MAP_FILE)?)
        .map_err(|_| CliError::file(&index_path, "invalid UTF-8"))?;
    let mut files: HashMap<String, String> = HashMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::file(dir, crate::io::io_reason(&e)))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".xml") && name != "index.xml" && entry.path().is_file() {
            let p = entry.path();
            let text =
                String::from_utf8(read_file(&p, MAX_MAP_FILE)?).map_err(|_| CliError::file(&p, "invalid UTF-8"))?;
            files.insert(name, text);
        }
    }
    CpuMap::load(&index, &|name| files.get(name).map(String::as_str))
        .map_err(|e| CliError::new(format!("{}/{e}", dir.display())))
}

/// The map a command uses: `--cpu-map DIR` or the embedded one.
pub fn load(cpu_map: Option<&Path>) -> CliResult<CpuMap> {
    match cpu_map {
        Some(dir) => load_dir(dir),
        None => CpuMap::embedded().map_err(|e| CliError::new(format!("embedded CPU map: {e}"))),
    }
}
