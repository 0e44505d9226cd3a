//! The CPU map's loader: `index.xml` and its includes, under each version's loader rules.

use super::*;
use crate::arch::Arch;
use crate::cpuid::{CpuidKey, Regs, EBX, ECX, EDX};
use crate::error::{MapError, Pos, XmlError, XmlErrorKind};
use crate::features::{FeatureId, FeatureSet, MAX_FEATURES};
use crate::version::LibvirtVersion;
use crate::xml::attr::{cpuid_item, invalid, required};
use crate::xml::cursor::{Cursor, Elem, Limits};
use crate::xml::num::{parse_u32_dec, parse_u32_hex};

#[derive(Default)]
struct Items {
    vendors: Vec<RawVendor>,
    features: Vec<RawFeature>,
    models: Vec<RawModel>,
}

struct RawVendor {
    /// Byte offset of the element (its line:column is computed only for an error).
    at: usize,
    name: String,
    string: Option<String>,
}

struct RawFeature {
    name: String,
    migratable: bool,
    items: Vec<(CpuidKey, Regs)>,
}

struct RawModel {
    /// Byte offset of the element (its line:column is computed only for an error).
    at: usize,
    name: String,
    parent: Option<String>,
    decode: Option<(bool, bool)>,
    signatures: Vec<X86Signature>,
    vendor: Option<String>,
    features: Vec<RawModelFeature>,
    /// The `partial` attribute of each `<check>` child, in order.
    checks: Vec<Option<String>>,
    pvrs: Vec<Ppc64Pvr>,
}

struct RawModelFeature {
    at: usize,
    name: String,
    removed: Option<String>,
    added: Option<String>,
}

/// libvirt 11.3.0 `x86ModelParseCheck`, before `<decode>`: with any `<check>` child, the first
/// `partial` attribute must exist and be `compat`; then the model is a compat-check model.
/// 9.0.0 ignores the element.
fn compat_check(m: &RawModel, v11: bool, invalid: &dyn Fn(usize, String) -> MapError) -> Result<bool, MapError> {
    if !v11 || m.checks.is_empty() {
        return Ok(false);
    }
    match m.checks.iter().flatten().next().map(String::as_str) {
        None => Err(invalid(m.at, format!("Missing check/@partial in CPU model {}", m.name))),
        Some("compat") => Ok(true),
        Some(v) => Err(invalid(m.at, format!("Invalid check/@partial value '{v}' in CPU model {}", m.name))),
    }
}

/// A model feature's `removed` or `added` attribute (`attr`, with `value`) as a yes/no flag.
fn yes_no(
    m: &RawModel,
    f: &RawModelFeature,
    attr: &str,
    value: &Option<String>,
    v11: bool,
    invalid: &dyn Fn(usize, String) -> MapError,
) -> Result<bool, MapError> {
    match value.as_deref() {
        None => Ok(false),
        Some("yes") => Ok(true),
        // libvirt 11.3.0 parses `removed` and `added` as yes/no (`virXMLPropTristateBool`);
        // 9.0.0 tests `removed` for `yes` only and does not know `added`.
        Some(_) if !v11 => Ok(false),
        Some("no") => Ok(false),
        Some(other) => Err(invalid(
            f.at,
            format!("invalid value '{other}' of attribute '{attr}' of feature {} in CPU model {}", f.name, m.name),
        )),
    }
}

/// Parses a stepping list such as `0-4` or `1,3,5-7` (values 0..15).
fn parse_steppings(s: &str) -> Option<u16> {
    let mut mask = 0u16;
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (parse_u32_dec(a.trim())?, parse_u32_dec(b.trim())?),
            None => {
                let v = parse_u32_dec(part.trim())?;
                (v, v)
            }
        };
        if lo > hi || hi > 15 {
            return None;
        }
        for v in lo..=hi {
            mask |= 1 << v;
        }
    }
    Some(mask)
}

impl Items {
    /// Reads one `vendor`, `feature` or `model` element of an arch section.
    fn read(&mut self, c: &mut Cursor, e: Elem, arch: Arch) -> Result<(), XmlError> {
        match e.name.as_str() {
            "vendor" => self.vendors.push(RawVendor {
                at: e.offset,
                name: required(c, &e, "name")?.to_string(),
                string: e.attr("string").map(str::to_string),
            }),
            "feature" if arch == Arch::X86 => {
                let name = required(c, &e, "name")?.to_string();
                let migratable = match e.attr("migratable") {
                    None | Some("yes") => true,
                    Some("no") => false,
                    Some(v) => return Err(invalid(c, &e, "migratable", v, "yes or no")),
                };
                let mut items = Vec::new();
                c.children(&e, |c, i| {
                    items.extend(cpuid_item(c, &i)?);
                    Ok(())
                })?;
                self.features.push(RawFeature { name, migratable, items });
            }
            "model" => {
                let mut m = RawModel {
                    at: e.offset,
                    name: required(c, &e, "name")?.to_string(),
                    parent: None,
                    decode: None,
                    signatures: Vec::new(),
                    vendor: None,
                    features: Vec::new(),
                    checks: Vec::new(),
                    pvrs: Vec::new(),
                };
                c.children(&e, |c, i| {
                    match i.name.as_str() {
                        "model" => m.parent = Some(required(c, &i, "name")?.to_string()),
                        "decode" => {
                            let sw = |c: &Cursor, n: &'static str| match required(c, &i, n)? {
                                "on" => Ok(true),
                                "off" => Ok(false),
                                v => Err(invalid(c, &i, n, v, "on or off")),
                            };
                            m.decode = Some((sw(c, "host")?, sw(c, "guest")?));
                        }
                        "signature" => {
                            let num = |c: &Cursor, n: &'static str| {
                                let v = required(c, &i, n)?;
                                parse_u32_dec(v).ok_or_else(|| invalid(c, &i, n, v, "an unsigned decimal number"))
                            };
                            let steppings = match i.attr("stepping") {
                                None => None,
                                Some(v) => Some(
                                    parse_steppings(v)
                                        .ok_or_else(|| invalid(c, &i, "stepping", v, "a list of steppings 0-15"))?,
                                ),
                            };
                            m.signatures.push(X86Signature {
                                family: num(c, "family")?,
                                model: num(c, "model")?,
                                steppings,
                            });
                        }
                        "vendor" => m.vendor = Some(required(c, &i, "name")?.to_string()),
                        "feature" => m.features.push(RawModelFeature {
                            at: i.offset,
                            name: required(c, &i, "name")?.to_string(),
                            removed: i.attr("removed").map(str::to_string),
                            added: i.attr("added").map(str::to_string),
                        }),
                        "check" => m.checks.push(i.attr("partial").map(str::to_string)),
                        "pvr" => {
                            let hex = |c: &Cursor, n: &'static str| {
                                let v = required(c, &i, n)?;
                                parse_u32_hex(v).ok_or_else(|| invalid(c, &i, n, v, "a hexadecimal number"))
                            };
                            m.pvrs.push(Ppc64Pvr { value: hex(c, "value")?, mask: hex(c, "mask")? });
                        }
                        _ => {}
                    }
                    Ok(())
                })?;
                self.models.push(m);
            }
            _ => {}
        }
        Ok(())
    }
}

/// One arch section of a parsed index: its direct items and its includes.
struct Section {
    arch: Arch,
    items: Items,
    includes: Vec<String>,
}

fn read_cpus_doc(
    version: LibvirtVersion,
    file: &str,
    text: &str,
    arch_sections: bool,
    include_arch: Arch,
) -> Result<Vec<Section>, MapError> {
    let mut c = Cursor::new(text.as_bytes(), Limits::default()).map_err(xml_err(file))?;
    let mut sections = Vec::new();
    c.roots(|c, root| {
        if root.name != "cpus" {
            return Err(
                c.err_elem(&root, XmlErrorKind::UnexpectedRoot { found: root.name.clone(), expected: "<cpus>" })
            );
        }
        if !arch_sections {
            // An included file: its vendors, features and models belong to the includer's arch.
            let mut items = Items::default();
            c.children(&root, |c, e| items.read(c, e, include_arch))?;
            sections.push(Section { arch: include_arch, items, includes: Vec::new() });
            return Ok(());
        }
        c.children(&root, |c, arch| {
            let a = match (arch.name.as_str(), arch.attr("name")) {
                ("arch", Some("x86")) => Arch::X86,
                ("arch", Some("ppc64")) => Arch::Ppc64,
                _ => return Ok(()),
            };
            let mut s = Section { arch: a, items: Items::default(), includes: Vec::new() };
            c.children(&arch, |c, e| match e.name.as_str() {
                "include" => {
                    s.includes.push(required(c, &e, "filename")?.to_string());
                    Ok(())
                }
                // libvirt 11.3.0 (`loadIncludes`, XPath `include|group[@name]/include`): the
                // includes of every direct `<group>` child that has a name, in document order
                // with the direct includes; unnamed groups are skipped, nested groups are not
                // followed. libvirt 9.0.0 reads direct includes only, so it ignores groups.
                "group" if version.at_least_11_3() && e.attr("name").is_some() => c.children(&e, |c, g| {
                    if g.name == "include" {
                        s.includes.push(required(c, &g, "filename")?.to_string());
                    }
                    Ok(())
                }),
                _ => s.items.read(c, e, a),
            })?;
            sections.push(s);
            Ok(())
        })
    })
    .map_err(xml_err(file))?;
    Ok(sections)
}

fn xml_err(file: &str) -> impl Fn(XmlError) -> MapError + '_ {
    move |error| MapError::Xml { file: file.to_string(), error: Box::new(error) }
}

impl CpuMap {
    /// Loads a map from `index.xml` and the files it includes, which `lookup` returns by file
    /// name. Only the `x86` and `ppc64` sections are read; files they include must exist.
    pub fn load<'t>(
        version: LibvirtVersion,
        index: &'t str,
        lookup: &dyn Fn(&str) -> Option<&'t str>,
    ) -> Result<CpuMap, MapError> {
        let mut map = CpuMap::empty(version);
        map.add_index("index.xml", index, lookup)?;
        map.finish();
        Ok(map)
    }

    /// Loads a map from self-contained documents in the index format (arch sections with their
    /// vendors, features and models inline), such as the embedded ones.
    pub fn load_documents(version: LibvirtVersion, docs: &[(&str, &str)]) -> Result<CpuMap, MapError> {
        let mut map = CpuMap::empty(version);
        for (name, text) in docs {
            map.add_index(name, text, &|_| None)?;
        }
        map.finish();
        Ok(map)
    }

    /// A map with no vendors, features or models.
    pub fn empty(version: LibvirtVersion) -> CpuMap {
        CpuMap { x86: X86Map::new(version), ppc64: Ppc64Map::default() }
    }

    /// The libvirt version whose loader read this map and whose rules every operation on it
    /// follows.
    pub fn version(&self) -> LibvirtVersion {
        self.x86.version
    }

    /// The embedded map of `version` (`data/cpu_map/libvirt-VERSION/`).
    pub fn embedded(version: LibvirtVersion) -> Result<CpuMap, MapError> {
        let docs = embedded_documents(version);
        Self::load_documents(version, &[(docs[0].0.as_str(), docs[0].1), (docs[1].0.as_str(), docs[1].1)])
    }

    /// The supported version whose embedded map equals this map's content, loaded under that
    /// version's rules (used to infer `--libvirt` from a `--cpu-map` directory).
    pub fn known_version<'t>(index: &'t str, lookup: &dyn Fn(&str) -> Option<&'t str>) -> Option<LibvirtVersion> {
        LibvirtVersion::ALL
            .into_iter()
            .rev()
            .find(|&v| matches!((CpuMap::load(v, index, lookup), CpuMap::embedded(v)), (Ok(a), Ok(b)) if a == b))
    }

    fn add_index<'t>(
        &mut self,
        file: &str,
        text: &'t str,
        lookup: &dyn Fn(&str) -> Option<&'t str>,
    ) -> Result<(), MapError> {
        for s in read_cpus_doc(self.version(), file, text, true, Arch::X86)? {
            self.apply(file, text, s.arch, s.items)?;
            for inc in &s.includes {
                let inc_text = lookup(inc).ok_or_else(|| MapError::MissingFile { file: inc.clone() })?;
                for sub in read_cpus_doc(self.version(), inc, inc_text, false, s.arch)? {
                    self.apply(inc, inc_text, s.arch, sub.items)?;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) {
        let x = &mut self.x86;
        x.index();
        x.non_migratable =
            x.features.iter().enumerate().filter(|(_, f)| !f.migratable).map(|(i, _)| FeatureId(i as u16)).collect();
    }

    /// Loads the items of one file: vendors, then features, then models.
    fn apply(&mut self, file: &str, text: &str, arch: Arch, items: Items) -> Result<(), MapError> {
        let dup = |what: &'static str, name: &str| MapError::Duplicate {
            file: file.to_string(),
            what,
            name: name.to_string(),
        };
        let unknown =
            |what: &'static str, name: &str| MapError::Unknown { file: file.to_string(), what, name: name.to_string() };
        let invalid = |at: usize, message: String| MapError::Invalid {
            file: file.to_string(),
            message: format!("{}: {message}", Pos::locate(text.as_bytes(), at)),
        };
        match arch {
            Arch::X86 => {
                let x = &mut self.x86;
                for v in items.vendors {
                    if x.vendor(&v.name).is_some() {
                        return Err(dup("vendor", &v.name));
                    }
                    let s = v
                        .string
                        .ok_or_else(|| invalid(v.at, format!("missing vendor string for CPU vendor {}", v.name)))?;
                    if s.len() != 12 {
                        return Err(invalid(v.at, format!("invalid CPU vendor string '{s}'")));
                    }
                    let b = s.as_bytes();
                    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
                    let mut regs = [0u32; 4];
                    regs[EBX] = word(0);
                    regs[EDX] = word(4);
                    regs[ECX] = word(8);
                    x.vendors.push(X86Vendor { name: v.name, string: s, regs });
                }
                for f in items.features {
                    if x.feature_ids.contains_key(&f.name) {
                        return Err(dup("feature", &f.name));
                    }
                    if x.features.len() >= MAX_FEATURES {
                        return Err(MapError::TooManyFeatures { limit: MAX_FEATURES });
                    }
                    x.feature_ids.insert(f.name.clone(), FeatureId(x.features.len() as u16));
                    x.features.push(X86Feature { name: f.name, migratable: f.migratable, items: f.items });
                }
                for m in items.models {
                    let model = x.parse_model(&m, &invalid, &unknown, &dup)?;
                    if let Some(a) = model.copy_of {
                        x.models[a].canonical = Some(x.models.len());
                    }
                    x.model_ids.insert(m.name, x.models.len());
                    x.models.push(model);
                }
            }
            Arch::Ppc64 => {
                let p = &mut self.ppc64;
                for v in items.vendors {
                    if p.vendors.contains(&v.name) {
                        return Err(dup("vendor", &v.name));
                    }
                    p.vendors.push(v.name);
                }
                for m in items.models {
                    if p.model(&m.name).is_some() {
                        return Err(dup("CPU model", &m.name));
                    }
                    let vendor = match &m.vendor {
                        Some(v) => Some(p.vendors.iter().position(|x| x == v).ok_or_else(|| unknown("vendor", v))?),
                        None => None,
                    };
                    if m.pvrs.is_empty() {
                        return Err(invalid(m.at, format!("Missing PVR information for CPU model {}", m.name)));
                    }
                    p.models.push(Ppc64Model { name: m.name, vendor, pvrs: m.pvrs });
                }
            }
        }
        Ok(())
    }
}

impl X86Map {
    /// `x86ModelParse`: one model, against the models loaded before it.
    fn parse_model(
        &self,
        m: &RawModel,
        invalid: &dyn Fn(usize, String) -> MapError,
        unknown: &dyn Fn(&'static str, &str) -> MapError,
        dup: &dyn Fn(&'static str, &str) -> MapError,
    ) -> Result<X86Model, MapError> {
        let v11 = self.version.at_least_11_3();
        if self.model_ids.contains_key(&m.name) {
            return Err(dup("CPU model", &m.name));
        }
        let compat_check = compat_check(m, v11, invalid)?;
        let (decode_host, decode_guest) =
            m.decode.ok_or_else(|| invalid(m.at, format!("missing <decode> for CPU model {}", m.name)))?;
        let mut model = X86Model {
            name: m.name.clone(),
            vendor: None,
            signatures: Vec::new(),
            decode_host,
            decode_guest,
            features: FeatureSet::new(),
            removed: Vec::new(),
            added: Vec::new(),
            compat_check,
            copy_of: None,
            canonical: None,
        };
        let mut ancestor = None;
        if let Some(p) = &m.parent {
            // `x86ModelParseAncestor`: vendor, signatures and data come from the ancestor.
            let a = self.model_index(p).ok_or_else(|| unknown("parent CPU model", p))?;
            let parent = &self.models[a];
            model.vendor = parent.vendor;
            model.signatures = parent.signatures.clone();
            model.features = parent.features;
            // libvirt 11.3.0: minus the data of every feature in the ancestor's removed list
            // (9.0.0 copies the data as it is).
            if v11 {
                for &r in &parent.removed {
                    model.features = self.without_bits_of(&model.features, r);
                }
            }
            ancestor = Some(a);
        }
        if !m.signatures.is_empty() {
            model.signatures = m.signatures.clone();
        }
        if let Some(v) = &m.vendor {
            model.vendor = Some(self.vendor_index(v).ok_or_else(|| unknown("vendor", v))?);
        }
        self.read_model_features(m, &mut model, invalid, unknown)?;
        // libvirt 11.3.0 `x86ModelParse`: a model with an ancestor and no signature, vendor or
        // feature of its own is a version copy and becomes the ancestor's canonical model.
        let changed = !m.signatures.is_empty() || m.vendor.is_some() || !m.features.is_empty();
        if let (true, Some(a), false) = (v11, ancestor, changed) {
            if let Some(c) = self.models[a].canonical {
                return Err(invalid(
                    m.at,
                    format!(
                        "Cannot set CPU model '{}' as canonical name of '{}' which is already an alias of '{}'",
                        m.name, self.models[a].name, self.models[c].name
                    ),
                ));
            }
            model.copy_of = Some(a);
        }
        Ok(model)
    }

    /// The `<feature>` children of a model: removed, added (11.3.0) or part of its data.
    fn read_model_features(
        &self,
        m: &RawModel,
        model: &mut X86Model,
        invalid: &dyn Fn(usize, String) -> MapError,
        unknown: &dyn Fn(&'static str, &str) -> MapError,
    ) -> Result<(), MapError> {
        let v11 = self.version.at_least_11_3();
        for f in &m.features {
            let id = self.feature_id(&f.name).ok_or_else(|| unknown("feature", &f.name))?;
            if yes_no(m, f, "removed", &f.removed, v11, invalid)? {
                model.removed.push(id);
            } else if v11 && yes_no(m, f, "added", &f.added, v11, invalid)? {
                // libvirt 11.3.0: an added feature is recorded, not OR-ed into the data.
                model.added.push(id);
            } else {
                model.features.insert(id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::write::format_steppings;
    #[test]
    fn steppings_roundtrip() {
        assert_eq!(parse_steppings("0-4"), Some(0b11111));
        assert_eq!(parse_steppings("1,3,5-7"), Some(0b1110_1010));
        assert_eq!(parse_steppings("16"), None);
        assert_eq!(format_steppings(0b1110_1010), "1,3,5-7");
    }

    fn raw_model(checks: Vec<Option<String>>) -> RawModel {
        RawModel {
            at: 7,
            name: "M".into(),
            parent: None,
            decode: Some((true, true)),
            signatures: Vec::new(),
            vendor: None,
            features: Vec::new(),
            checks,
            pvrs: Vec::new(),
        }
    }

    fn invalid(at: usize, message: String) -> MapError {
        MapError::Invalid { file: format!("@{at}"), message }
    }

    #[test]
    fn compat_check_is_read_by_11_3_only_and_wants_the_first_partial_to_be_compat() {
        let m = |checks: &[Option<&str>]| raw_model(checks.iter().map(|c| c.map(String::from)).collect());
        assert_eq!(compat_check(&m(&[]), true, &invalid), Ok(false));
        assert_eq!(compat_check(&m(&[Some("bad")]), false, &invalid), Ok(false), "9.0.0 ignores <check>");
        assert_eq!(compat_check(&m(&[None, Some("compat")]), true, &invalid), Ok(true));
        assert_eq!(compat_check(&m(&[Some("compat"), Some("bad")]), true, &invalid), Ok(true));
        let err = |checks: &[Option<&str>]| compat_check(&m(checks), true, &invalid).unwrap_err().to_string();
        assert_eq!(err(&[None]), "@7: Missing check/@partial in CPU model M");
        assert_eq!(err(&[Some("full")]), "@7: Invalid check/@partial value 'full' in CPU model M");
    }

    #[test]
    fn removed_and_added_are_yes_no_in_11_3_and_only_yes_counts_in_9_0() {
        let m = raw_model(Vec::new());
        let f = RawModelFeature { at: 3, name: "f".into(), removed: None, added: None };
        let flag = |v: Option<&str>, v11: bool| yes_no(&m, &f, "removed", &v.map(String::from), v11, &invalid);
        for v11 in [false, true] {
            assert_eq!(flag(None, v11), Ok(false));
            assert_eq!(flag(Some("yes"), v11), Ok(true));
            assert_eq!(flag(Some("no"), v11), Ok(false));
        }
        assert_eq!(flag(Some("maybe"), false), Ok(false));
        assert_eq!(
            flag(Some("maybe"), true).unwrap_err().to_string(),
            "@3: invalid value 'maybe' of attribute 'removed' of feature f in CPU model M"
        );
    }
}
