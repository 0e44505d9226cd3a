//! CPU generation profiles (`data/profiles.toml`): a map model plus the extra features real hosts
//! of a generation report, and the microcode levels that changed them.
//!
//! A profile describes hardware, which does not change with the libvirt version that looks at
//! it: its `model` names the feature list of that model in libvirt 9.0.0's map (the oldest
//! supported one, whose every model and feature 11.3.0 also has), and feature names are features
//! of any supported map. Resolved for a run, the hardware is seen through the run's map: a feature
//! that map does not know is a CPUID bit that libvirt version cannot see, and is left out.

pub(crate) use super::error::Source;
use super::error::{SimError, SimResult};
use super::kvm_view::KvmView;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::{CpuMap, FeatureId, FeatureSet, LibvirtVersion};
use serde::Deserialize;
use toml::Spanned;

/// The embedded profile file.
pub(crate) const EMBEDDED_PROFILES: &str = include_str!("../../data/profiles.toml");
/// How the embedded profile file is named in messages.
pub(crate) const EMBEDDED_PROFILES_NAME: &str = "data/profiles.toml (embedded)";

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfilesToml {
    pub odd: Option<OddToml>,
    #[serde(default)]
    pub profile: Vec<ProfileToml>,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct OddToml {
    #[serde(default)]
    pub remove: Vec<Spanned<String>>,
    #[serde(default)]
    pub nested_add: Vec<Spanned<String>>,
    #[serde(default)]
    pub nested_remove: Vec<Spanned<String>>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileToml {
    pub name: Spanned<String>,
    pub vendor: Spanned<String>,
    pub year: u32,
    #[serde(default)]
    pub example: String,
    pub model: Spanned<String>,
    pub signature: Spanned<SignatureToml>,
    #[serde(default)]
    pub extra: Vec<Spanned<String>>,
    #[serde(default)]
    pub without: Vec<Spanned<String>>,
    #[serde(default)]
    pub virt: Vec<Spanned<String>>,
    #[serde(default)]
    pub microcode: Vec<LevelToml>,
}

#[derive(Deserialize, Clone, Copy, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignatureToml {
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct LevelToml {
    pub name: String,
    #[serde(default)]
    pub add: Vec<Spanned<String>>,
    #[serde(default)]
    pub remove: Vec<Spanned<String>>,
}

/// One microcode level: applied on top of the previous ones.
#[derive(Clone, Debug)]
pub struct Level {
    pub name: String,
    pub add: FeatureSet,
    pub remove: FeatureSet,
}

/// A resolved generation profile.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub vendor: usize,
    pub vendor_name: String,
    pub year: u32,
    pub example: String,
    /// The map model the hosts start from.
    pub model: usize,
    pub signature: (u32, u32, u32),
    /// Leaf 1 EAX of the signature (what the decoder sees).
    pub signature_eax: u32,
    /// Model features plus extra minus without, at microcode level 0.
    pub base: FeatureSet,
    /// What "virtualisation disabled in the BIOS" hides.
    pub virt: FeatureSet,
    pub levels: Vec<Level>,
}

impl Profile {
    /// The features at microcode level `level` (0 = as shipped).
    pub fn features_at(&self, level: usize) -> FeatureSet {
        let mut f = self.base;
        for l in &self.levels[..level.min(self.levels.len())] {
            f.union_with(&l.add);
            f.subtract(&l.remove);
        }
        f
    }
}

/// How odd hosts differ.
#[derive(Clone, Debug, Default)]
pub struct OddRules {
    pub remove: Vec<FeatureId>,
    pub nested_add: FeatureSet,
    pub nested_remove: FeatureSet,
}

/// Every profile, by index, plus the odd-host rules.
#[derive(Clone, Debug)]
pub struct Profiles {
    pub list: Vec<Profile>,
    pub odd: OddRules,
    /// What QEMU/KVM makes of each vendor's raw CPUs (`data/kvm_view.toml`): every profile's
    /// KVM view, from which each host's hypervisor host model is derived.
    pub kvm: KvmView,
}

impl Profiles {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|p| p.name == name)
    }
}

/// Parses a profile file.
pub(crate) fn parse(src: &Source) -> SimResult<ProfilesToml> {
    toml::from_str::<ProfilesToml>(src.text).map_err(|e| src.toml_error(&e))
}

/// The maps a profile is resolved with: the run's, and the embedded ones of every supported
/// version (the hardware vocabulary: a name must be known to one of them).
pub(crate) struct Vocabulary<'m> {
    pub map: &'m X86Map,
    known: Vec<CpuMap>,
}

impl<'m> Vocabulary<'m> {
    pub(crate) fn new(map: &'m X86Map) -> SimResult<Vocabulary<'m>> {
        let known = LibvirtVersion::ALL
            .into_iter()
            .map(CpuMap::embedded)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SimError::EmbeddedMap(e.to_string()))?;
        Ok(Vocabulary { map, known })
    }

    /// The reference map the profiles' `model` names are read from (libvirt 9.0.0's).
    fn reference(&self) -> &X86Map {
        &self.known[0].x86
    }

    fn is_known(&self, name: &str) -> bool {
        self.map.feature_id(name).is_some() || self.known.iter().any(|m| m.x86.feature_id(name).is_some())
    }
}

/// Resolves feature names against the run's map; a name no supported map knows is an error.
fn feature_set(voc: &Vocabulary, src: &Source, what: &str, names: &[Spanned<String>]) -> SimResult<FeatureSet> {
    let mut set = FeatureSet::new();
    for spanned in names {
        let n = spanned.as_ref();
        if !voc.is_known(n) {
            return Err(
                src.at(spanned, format!("{what}: unknown feature '{n}' (not in the CPU map; see `cpufleet map show`)"))
            );
        }
        if let Some(id) = voc.map.feature_id(n) {
            set.insert(id);
        }
    }
    Ok(set)
}

/// Resolves one profile against the run's map.
pub(crate) fn resolve_profile(voc: &Vocabulary, src: &Source, p: &ProfileToml) -> SimResult<Profile> {
    let map = voc.map;
    let name = p.name.as_ref();
    let ctx = |field: &str| format!("profile '{name}': {field}");
    if name.is_empty() {
        return Err(src.error(None, "a profile has an empty name"));
    }
    let (vendor_name, model_name) = (p.vendor.as_ref(), p.model.as_ref());
    let vendor = map.vendor_index(vendor_name).ok_or_else(|| {
        let known: Vec<&str> = map.vendors.iter().map(|v| v.name.as_str()).collect();
        src.at(&p.vendor, format!("{}: unknown vendor '{vendor_name}' (known: {})", ctx("vendor"), known.join(", ")))
    })?;
    let model = map.model_index(model_name).ok_or_else(|| {
        src.at(
            &p.model,
            format!("{}: unknown model '{model_name}' (not in the CPU map; see `cpufleet map show`)", ctx("model")),
        )
    })?;
    if let Some(mv) = map.models[model].vendor {
        if mv != vendor {
            return Err(src.at(
                &p.model,
                format!(
                    "{}: model '{model_name}' is a {} model, not {vendor_name}",
                    ctx("model"),
                    map.vendors[mv].name
                ),
            ));
        }
    }
    let signature = signature_of(src, &p.signature, &ctx("signature"))?;
    let extra = feature_set(voc, src, &ctx("extra"), &p.extra)?;
    let without = feature_set(voc, src, &ctx("without"), &p.without)?;
    let virt = feature_set(voc, src, &ctx("virt"), &p.virt)?;
    let mut levels = Vec::new();
    for l in &p.microcode {
        let what = ctx(&format!("microcode '{}'", l.name));
        levels.push(Level {
            name: l.name.clone(),
            add: feature_set(voc, src, &what, &l.add)?,
            remove: feature_set(voc, src, &what, &l.remove)?,
        });
    }
    if levels.len() > 15 {
        return Err(src.at(&p.name, format!("{}: at most 15 levels", ctx("microcode"))));
    }
    // The model's hardware features: its feature list in the reference map when it has the
    // model (11.3.0's, for instance, no longer lists `mpx` in Skylake-Server), else the run's.
    let model_features: FeatureSet = match voc.reference().model(model_name) {
        Some(m) => m.features.iter().filter_map(|id| map.feature_id(voc.reference().feature_name(id))).collect(),
        None => map.models[model].features,
    };
    let base = model_features.union(&extra).difference(&without);
    if base.is_empty() {
        return Err(src.at(&p.name, format!("profile '{name}' has no features")));
    }
    let (family, smodel, stepping) = signature;
    Ok(Profile {
        name: name.clone(),
        vendor,
        vendor_name: vendor_name.clone(),
        year: p.year,
        example: p.example.clone(),
        model,
        signature,
        signature_eax: cpufleet_engine::x86::model::make_signature(family, smodel, stepping),
        base,
        virt,
        levels,
    })
}

/// A profile's (family, model, stepping), checked against what CPUID leaf 1 can hold.
fn signature_of(src: &Source, sig: &Spanned<SignatureToml>, what: &str) -> SimResult<(u32, u32, u32)> {
    let s = sig.as_ref();
    if !(1..=0xff + 0xf).contains(&s.family) || s.model > 0xff || s.stepping > 0xf {
        return Err(src.at(sig, format!("{what}: family must be 1..270, model 0..255, stepping 0..15")));
    }
    Ok((s.family, s.model, s.stepping))
}

pub(crate) fn resolve_odd(voc: &Vocabulary, src: &Source, odd: &OddToml) -> SimResult<OddRules> {
    let remove = feature_set(voc, src, "odd: remove", &odd.remove)?;
    Ok(OddRules {
        remove: remove.iter().collect(),
        nested_add: feature_set(voc, src, "odd: nested_add", &odd.nested_add)?,
        nested_remove: feature_set(voc, src, "odd: nested_remove", &odd.nested_remove)?,
    })
}

/// Loads the embedded profiles, then applies `extra` (the spec's own `[[profile]]` entries, which
/// add profiles or replace same-named ones, and its `[odd]` table).
pub(crate) fn load(map: &X86Map, extra: Option<(&Source, &ProfilesToml)>) -> SimResult<Profiles> {
    let voc = Vocabulary::new(map)?;
    let emb_src = Source { label: EMBEDDED_PROFILES_NAME, text: EMBEDDED_PROFILES };
    let emb = parse(&emb_src)?;
    let mut list: Vec<Profile> = Vec::new();
    let add = |src: &Source, p: &ProfileToml, list: &mut Vec<Profile>, allow_replace: bool| {
        let resolved = resolve_profile(&voc, src, p)?;
        match list.iter().position(|q| q.name == *p.name.as_ref()) {
            Some(i) if allow_replace => list[i] = resolved,
            Some(_) => return Err(src.at(&p.name, format!("profile '{}' is defined twice", p.name.as_ref()))),
            None => list.push(resolved),
        }
        Ok::<(), SimError>(())
    };
    for p in &emb.profile {
        add(&emb_src, p, &mut list, false)?;
    }
    let mut odd = resolve_odd(&voc, &emb_src, emb.odd.as_ref().unwrap_or(&OddToml::default()))?;
    if let Some((src, user)) = extra {
        let mut seen = std::collections::HashSet::new();
        for p in &user.profile {
            if !seen.insert(p.name.as_ref()) {
                return Err(src.at(&p.name, format!("profile '{}' is defined twice", p.name.as_ref())));
            }
            add(src, p, &mut list, true)?;
        }
        if let Some(o) = &user.odd {
            odd = resolve_odd(&voc, src, o)?;
        }
    }
    if list.len() > u16::MAX as usize {
        return Err(SimError::TooManyProfiles);
    }
    Ok(Profiles { list, odd, kvm: KvmView::embedded(map)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_profiles_resolve_and_cover_both_vendors_and_the_years() {
        for v in LibvirtVersion::ALL {
            embedded_profiles_under(v);
        }
    }

    fn embedded_profiles_under(v: LibvirtVersion) {
        let map = CpuMap::embedded(v).unwrap();
        let p = load(&map.x86, None).unwrap();
        assert!(p.list.len() >= 15);
        let vendors: std::collections::BTreeSet<&str> = p.list.iter().map(|p| p.vendor_name.as_str()).collect();
        assert!(vendors.contains("Intel") && vendors.contains("AMD"));
        assert!(p.list.iter().any(|p| p.year <= 2009) && p.list.iter().any(|p| p.year >= 2022));
        // Later microcode levels change features (mitigations added, TSX removed).
        let sky = &p.list[p.index("Skylake-SP").unwrap()];
        let hle = map.x86.feature_id("hle").unwrap();
        assert!(sky.features_at(0).contains(hle));
        assert!(!sky.features_at(sky.levels.len()).contains(hle));
        assert!(sky.features_at(1).contains(map.x86.feature_id("spec-ctrl").unwrap()));
        // The same hardware under either version: Skylake-SP keeps MPX although 11.3.0's
        // Skylake-Server model no longer lists it.
        assert!(sky.features_at(0).contains(map.x86.feature_id("mpx").unwrap()), "{v}");
    }

    #[test]
    fn unknown_feature_is_reported_with_file_and_position() {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let text = "[[profile]]\nname = \"X\"\nvendor = \"Intel\"\nyear = 2020\nmodel = \"Haswell\"\n\
                    signature = { family = 6, model = 60, stepping = 1 }\nextra = [\"vmx\", \"warp-drive\"]\n";
        let src = Source { label: "my.toml", text };
        let parsed = parse(&src).unwrap();
        let err = load(&map.x86, Some((&src, &parsed))).unwrap_err().to_string();
        assert_eq!(err, "my.toml: 7:17: profile 'X': extra: unknown feature 'warp-drive' (not in the CPU map; see `cpufleet map show`)");
    }
}
