//! The inputs read: CPU documents, or `/proc/cpuinfo` / `lscpu` text as one host CPU; `--caps`.

use super::args::ExportArgs;
use crate::args::Common;
use crate::error::{CliError, CliResult};
use crate::inputs::{self, first_cpu, Loaded};
use cpufleet_engine::xml::{CpuDocument, CpuSpan, DocKind, TypeHint};
use cpufleet_engine::CpuMap;
use cpufleet_export::cpuinfo::{host_from_cpuinfo, looks_like_cpuinfo};
use cpufleet_export::NameTables;
use cpufleet_io::{gather_inputs, not_xml, read_input_any, NOT_XML};
use std::path::{Path, PathBuf};

/// Reads every input: CPU documents, or `/proc/cpuinfo` / `lscpu` text as one host CPU.
pub(super) fn read_inputs(args: &[PathBuf], common: &Common, map: &CpuMap, hint: TypeHint) -> CliResult<Vec<Loaded>> {
    let tables = NameTables::embedded().map_err(|e| CliError::new(e.to_string()))?;
    let mut docs = Vec::new();
    for input in gather_inputs(args)? {
        let bytes = read_input_any(&input, common.max_input_bytes)?;
        let Some((line, col)) = not_xml(&bytes) else {
            // A domcapabilities excerpt without <arch> does not read as host CPUs; its host-model
            // CPU still tells the node-labeller's facts.
            let retry = (hint == TypeHint::Host).then(|| (input.clone(), bytes.clone()));
            let loaded = match (inputs::parse(input, bytes, common, map, hint), retry) {
                (Ok(l), _) => l,
                (Err(e), Some((input, bytes))) => match inputs::parse(input, bytes, common, map, TypeHint::Auto) {
                    Ok(l) if l.doc.kinds == [DocKind::DomainCapabilities] => l,
                    _ => return Err(e),
                },
                (Err(e), None) => return Err(e),
            };
            docs.push(loaded);
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        if !looks_like_cpuinfo(&text) {
            let what = format!("{line}:{col}: {NOT_XML}, or /proc/cpuinfo or lscpu text (no 'flags' line)");
            return Err(CliError::file(input.path(), what));
        }
        let host = host_from_cpuinfo(map, &text, &tables.linux).map_err(|e| CliError::file(input.path(), e))?;
        let span = CpuSpan::default();
        let doc =
            CpuDocument { kinds: Vec::new(), cpus: vec![host.cpu], spans: vec![span], models: None, domcaps: None };
        docs.push(Loaded { input, bytes, doc });
    }
    for l in &docs {
        first_cpu(l)?;
    }
    Ok(docs)
}

/// Whether a loaded input was cpuinfo text (no XML document kind).
pub(super) fn is_cpuinfo(l: &Loaded) -> bool {
    l.doc.kinds.is_empty()
}

/// The TSC of `--caps` (a `virsh capabilities` document), for the KubeVirt `cpu-timer` labels.
pub(super) fn caps_tsc(a: &ExportArgs, map: &CpuMap, caps: &Path) -> CliResult<Option<(u64, bool)>> {
    let docs = read_inputs(std::slice::from_ref(&caps.to_path_buf()), &a.common, map, TypeHint::Host)?;
    if docs[0].doc.kinds != [DocKind::Capabilities] {
        return Err(CliError::file(caps, "--caps: expected a virsh capabilities document"));
    }
    Ok(first_cpu(&docs[0])?.cpu().tsc.map(|t| (t.frequency, t.scaling == Some(true))))
}
