//! Each item exported in its format (errors located at its CPU), and the answer printed.

use super::args::ExportArgs;
use super::item::Item;
use crate::args::{Format, View};
use crate::error::{CliError, CliResult};
use crate::hypervisor::command_line_names;
use crate::inputs::op_error;
use crate::json;
use cpufleet_engine::CpuMap;
use cpufleet_export::kubevirt::{self, DEFAULT_OBSOLETE_CPU_MODELS};
use cpufleet_export::{export, Export, ExportError, ExportFormat, NameTables};
use cpufleet_io::print_stdout;
use serde_json::Value;

/// One item's export, with errors located at its CPU.
pub(super) fn export_item(
    format: ExportFormat,
    item: &Item,
    name: &str,
    map: &CpuMap,
    tables: &NameTables,
) -> CliResult<Export> {
    let result = match (&item.facts, &item.started) {
        (Some(facts), _) => Ok(kubevirt::labels_export(name, facts, DEFAULT_OBSOLETE_CPU_MODELS)),
        // The started CPU's -cpu: what `cpufleet start --qemu-argv` prints, the same names.
        (None, Some((cpu, props))) if format == ExportFormat::QemuCpu => {
            let names = command_line_names(map)?;
            cpufleet_export::qemu::qemu_cpu_arg(cpu, props, &names).map(|q| Export {
                text: format!("{}\n", q.arg),
                json: serde_json::json!({ "arg": q.arg }),
                warnings: q.warnings,
            })
        }
        (None, Some((cpu, props))) if format == ExportFormat::Proxmox => export(format, cpu, name, map, tables).map(|mut e| {
            if !props.is_empty() {
                let list: Vec<String> = props.iter().map(|p| p.to_string()).collect();
                e.warnings.push(format!(
                    "libvirt's -cpu also has {}, which is not part of a Proxmox CPU model (set what Proxmox has an option for, such as phys-bits, in the VM's cpu setting)",
                    list.join(",")
                ));
            }
            e
        }),
        (None, _) => export(format, &item.cpu, name, map, tables),
    };
    result.map_err(|e| match (&e, item.at) {
        (ExportError::Cpu(ce), Some(r)) => op_error(map, &[r], ce, r.path()),
        (_, Some(r)) => CliError::file(r.path(), format!("{}: {e}", r.pos())),
        (_, None) => CliError::file(&item.path, format!("{}: {e}", item.source)),
    })
}

/// Prints the exports: text one after the other (each after a `# NAME: SOURCE` comment when
/// several, except where the format names its items itself), or one JSON answer.
pub(super) fn print(
    a: &ExportArgs,
    map: &CpuMap,
    items: &[Item],
    out: &[(String, Export)],
    notes: &[String],
) -> CliResult<()> {
    if a.format == Format::Json {
        let list: Vec<Value> = items
            .iter()
            .zip(out)
            .map(|(item, (name, e))| {
                let mut v = e.json.clone();
                v["name"] = Value::from(name.as_str());
                v["source"] = Value::from(item.source.as_str());
                let warnings: Vec<&String> = item.warnings.iter().chain(&e.warnings).collect();
                v["warnings"] = serde_json::json!(warnings);
                v
            })
            .collect();
        let v = serde_json::json!({ "format": a.target.as_str(), "exports": list, "notes": notes, "view": match a.view { View::Guest => "guest", View::Raw => "raw" } });
        return json::print(&json::answer(map, v));
    }
    let headers = out.len() > 1 && !matches!(a.target, ExportFormat::KubevirtLabels | ExportFormat::Proxmox);
    let mut text = String::new();
    for (i, (item, (name, e))) in items.iter().zip(out).enumerate() {
        if headers {
            let sep = match (i, a.target) {
                (0, _) => "",
                (_, ExportFormat::KubevirtCpu) => "---\n",
                _ => "\n",
            };
            text.push_str(&format!("{sep}# {name}: {}\n", item.source));
        }
        text.push_str(&e.text);
    }
    Ok(print_stdout(&text)?)
}
