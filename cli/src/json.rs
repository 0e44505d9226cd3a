//! The JSON answers: one serializer for a CPU ([`cpu`]), and the `"libvirt"` version every
//! answer object carries ([`answer`]).

use crate::error::CliResult;
use cpufleet_engine::x86::{abi_level, model_from_cpu, Sel};
use cpufleet_engine::xml;
use cpufleet_engine::{CpuDef, CpuMap, CpuType};
use cpufleet_io::print_stdout;
use serde_json::{json, Map, Value};

/// A CPU as structured data plus its XML (what the text output prints for it):
/// `type`, `mode`, `match`, `arch`, `model`, `vendor`, `features` (array of {name, policy}; a
/// host feature's policy is null) and `xml`.
pub fn cpu(c: &CpuDef) -> Value {
    let features: Vec<Value> =
        c.features.iter().map(|f| json!({ "name": f.name, "policy": f.policy.map(|p| p.as_str()) })).collect();
    json!({
        "type": match c.cpu_type { CpuType::Host => "host", CpuType::Guest => "guest" },
        "mode": c.mode.as_str(),
        "match": (c.cpu_type == CpuType::Guest).then(|| c.match_.as_str()),
        "arch": c.arch,
        "model": c.model,
        "vendor": c.vendor,
        "features": features,
        "xml": xml::format_cpu(c),
    })
}

/// The x86-64 ABI level (`x86-64-v1` … `x86-64-v4`) a CPU's full feature set satisfies; null
/// for a CPU the x86 map cannot resolve (ppc64, no model).
pub fn abi(map: &CpuMap, c: &CpuDef) -> Value {
    match model_from_cpu(&map.x86, c, Sel::All) {
        Ok(m) if c.model.is_some() => Value::from(abi_level(&map.x86, &m.features).as_str()),
        _ => Value::Null,
    }
}

/// An answer object: `"libvirt"` (the version whose rules gave the answer) plus `fields`.
pub fn answer(map: &CpuMap, fields: Value) -> Value {
    let mut o = Map::new();
    o.insert("libvirt".into(), Value::from(map.version().as_str()));
    if let Value::Object(f) = fields {
        o.extend(f);
    }
    Value::Object(o)
}

/// Prints a JSON value on one line (keys sorted), with a final newline.
pub fn print(v: &Value) -> CliResult<()> {
    Ok(print_stdout(&format!("{v}\n"))?)
}

/// `map show --format json`: the map's vendors, features and models; each x86 model as a CPU
/// (its name, vendor and feature names, and the `xml` of a guest CPU of that model).
pub fn map_show(map: &CpuMap) -> Value {
    let x = &map.x86;
    let vendors: Vec<Value> = x.vendors.iter().map(|v| json!({ "name": v.name, "string": v.string })).collect();
    let features: Vec<Value> = x
        .features
        .iter()
        .map(|f| {
            let id = x.feature_id(&f.name);
            json!({ "name": f.name, "migratable": !id.is_some_and(|id| x.non_migratable.contains(id)) })
        })
        .collect();
    let models: Vec<Value> = x
        .models
        .iter()
        .map(|m| {
            let mut c = CpuDef::new(CpuType::Guest);
            c.model = Some(m.name.clone());
            let mut v = cpu(&c);
            v["vendor"] = m.vendor.map(|i| x.vendors[i].name.as_str()).into();
            v["features"] = m.features.iter().map(|id| x.feature_name(id)).collect::<Vec<_>>().into();
            v["removed"] = m.removed.iter().map(|&id| x.feature_name(id)).collect::<Vec<_>>().into();
            v
        })
        .collect();
    let ppc64: Vec<Value> = map
        .ppc64
        .models
        .iter()
        .map(|m| {
            let pvrs: Vec<String> = m.pvrs.iter().map(|p| format!("0x{:08x}/0x{:08x}", p.value, p.mask)).collect();
            json!({ "name": m.name, "vendor": map.ppc64.vendor_name(m.vendor), "pvrs": pvrs })
        })
        .collect();
    answer(map, json!({ "vendors": vendors, "features": features, "models": models, "ppc64_models": ppc64 }))
}
