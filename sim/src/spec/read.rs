//! The spec file read: its TOML shape (`SpecToml`, sections a user spec may leave out), each
//! section validated with its position and resolved against the CPU map into the values of
//! [`super`], the sections a user spec leaves out taken from the embedded one.

use super::*;
use crate::error::Source;
use crate::profiles::{self, ProfilesToml};
use cpufleet_engine::map::X86Map;
use cpufleet_engine::Pos;
use cpufleet_io::read_file;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct SpecToml {
    name: Option<String>,
    guests: Option<Spanned<u64>>,
    migrations: Option<Spanned<u64>>,
    variation: Option<VariationToml>,
    pool: Option<Vec<PoolToml>>,
    guest: Option<Vec<GuestToml>>,
    upgrade: Option<UpgradeToml>,
    microcode: Option<Vec<EventToml>>,
    plan: Option<PlanToml>,
    #[serde(default)]
    profile: Vec<profiles::ProfileToml>,
    odd: Option<profiles::OddToml>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct VariationToml {
    virt_off: Option<Spanned<f64>>,
    ht_off: Option<Spanned<f64>>,
    microcode_latest: Option<Spanned<f64>>,
    odd: Option<Spanned<f64>>,
    cross_pool: Option<Spanned<f64>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct PoolToml {
    name: Spanned<String>,
    hosts: Spanned<u64>,
    generations: Spanned<BTreeMap<Spanned<String>, f64>>,
    libvirt: Option<Spanned<String>>,
    libvirt_share: Option<Spanned<f64>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct GuestToml {
    name: Spanned<String>,
    weight: Spanned<f64>,
    mode: Spanned<String>,
    model: Option<Spanned<String>>,
    #[serde(rename = "match")]
    match_: Option<Spanned<String>>,
    #[serde(default)]
    require: Vec<Spanned<String>>,
    #[serde(default)]
    optional: Vec<Spanned<String>>,
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    forbid: Vec<Spanned<String>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct UpgradeToml {
    steps: Spanned<u32>,
    #[serde(default)]
    replace: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct EventToml {
    name: Spanned<String>,
    remove: Spanned<Vec<Spanned<String>>>,
    share: Spanned<f64>,
    generations: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct PlanToml {
    k: Spanned<u32>,
    #[serde(default)]
    allow_cross_vendor: bool,
    #[serde(default)]
    keep_pools_whole: bool,
    #[serde(default)]
    min_domain_hosts: u64,
}

impl Spec {
    /// The same spec seen through another libvirt version's map: the profiles (hardware) are
    /// resolved again against `map` (a feature that map does not know is a CPUID bit that version
    /// cannot see), the microcode events keep the features `map` knows; pools, counts and guest
    /// configurations (names) are unchanged. Profile indices are the same in both. `from` is the
    /// map this spec was resolved with.
    pub fn for_map(&self, from: &X86Map, map: &X86Map) -> SimResult<Spec> {
        let profiles = match &self.user_source {
            None => profiles::load(map, None)?,
            Some((label, text)) => {
                let user = Parsed::parse(Source { label, text })?;
                let toml = ProfilesToml { odd: user.toml.odd.clone(), profile: user.toml.profile.clone() };
                profiles::load(map, Some((&user.src, &toml)))?
            }
        };
        let translate = |set: &FeatureSet| -> FeatureSet {
            set.iter().filter_map(|id| map.feature_id(from.feature_name(id))).collect()
        };
        let mut spec = self.clone();
        spec.events = self.events.iter().map(|e| Event { remove: translate(&e.remove), ..e.clone() }).collect();
        spec.profiles = profiles;
        Ok(spec)
    }
}

fn probability(src: &Source, key: &str, v: Option<&Spanned<f64>>, default: f64) -> SimResult<f64> {
    let Some(v) = v else { return Ok(default) };
    let x = *v.as_ref();
    if !(0.0..=1.0).contains(&x) {
        return Err(src.at(v, format!("variation.{key} = {x}: must be in 0..1")));
    }
    Ok(x)
}

fn resolve_variation(src: &Source, v: &VariationToml, d: &Variation) -> SimResult<Variation> {
    Ok(Variation {
        virt_off: probability(src, "virt_off", v.virt_off.as_ref(), d.virt_off)?,
        ht_off: probability(src, "ht_off", v.ht_off.as_ref(), d.ht_off)?,
        microcode_latest: probability(src, "microcode_latest", v.microcode_latest.as_ref(), d.microcode_latest)?,
        odd: probability(src, "odd", v.odd.as_ref(), d.odd)?,
        cross_pool: probability(src, "cross_pool", v.cross_pool.as_ref(), d.cross_pool)?,
    })
}

fn valid_pool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn resolve_pools(src: &Source, pools: &[PoolToml], profiles: &Profiles) -> SimResult<Vec<PoolSpec>> {
    if pools.is_empty() {
        return Err(src.error(None, "the spec has no [[pool]]"));
    }
    let mut out: Vec<PoolSpec> = Vec::new();
    for p in pools {
        let name = p.name.as_ref();
        if !valid_pool_name(name) {
            return Err(src.at(
                &p.name,
                format!("pool name '{name}': use 1-64 letters, digits, '-', '_' or '.' (it names a file)"),
            ));
        }
        if out.iter().any(|q| &q.name == name) {
            return Err(src.at(&p.name, format!("pool '{name}' is defined twice")));
        }
        let hosts = *p.hosts.as_ref();
        if hosts == 0 {
            return Err(src.at(&p.hosts, format!("pool '{name}': hosts = 0, a pool needs at least one host")));
        }
        if hosts > MAX_HOSTS {
            return Err(src.at(&p.hosts, format!("pool '{name}': at most {MAX_HOSTS} hosts")));
        }
        let (generations, vendor) = resolve_generations(src, name, &p.generations, profiles)?;
        out.push(PoolSpec { name: name.clone(), hosts, generations, vendor });
    }
    Ok(out)
}

/// A pool's `libvirt` version and the share of its hosts that run it (1 when left out).
fn resolve_pool_libvirt(src: &Source, p: &PoolToml) -> SimResult<Option<PoolLibvirt>> {
    let name = p.name.as_ref();
    let Some(v) = &p.libvirt else {
        return match &p.libvirt_share {
            Some(s) => Err(src.at(s, format!("pool '{name}': libvirt_share without libvirt (which version?)"))),
            None => Ok(None),
        };
    };
    let version = v.as_ref().parse::<LibvirtVersion>().map_err(|e| src.at(v, format!("pool '{name}': {e}")))?;
    let share = match &p.libvirt_share {
        None => 1.0,
        Some(s) if (0.0..=1.0).contains(s.as_ref()) => *s.as_ref(),
        Some(s) => return Err(src.at(s, format!("pool '{name}': libvirt_share = {}: must be in 0..1", s.as_ref()))),
    };
    Ok(Some(PoolLibvirt { version, share }))
}

/// A pool's generation mix: (profile, weight) for the weights > 0, and the pool's vendor.
fn resolve_generations(
    src: &Source,
    pool: &str,
    generations: &Spanned<BTreeMap<Spanned<String>, f64>>,
    profiles: &Profiles,
) -> SimResult<(Vec<(usize, f64)>, usize)> {
    let mut gens = Vec::new();
    let mut sum = 0.0;
    for (name, &w) in generations.as_ref() {
        let idx = profiles.index(name.as_ref()).ok_or_else(|| {
            let known: Vec<&str> = profiles.list.iter().map(|p| p.name.as_str()).collect();
            src.at(
                name,
                format!("pool '{pool}': unknown generation profile '{}' (known: {})", name.as_ref(), known.join(", ")),
            )
        })?;
        if !(w.is_finite() && w >= 0.0) {
            return Err(src.at(name, format!("pool '{pool}': weight of '{}' must be a number ≥ 0", name.as_ref())));
        }
        sum += w;
        if w > 0.0 {
            gens.push((idx, w));
        }
    }
    if !(sum > 0.0 && sum.is_finite()) {
        return Err(src.at(
            generations,
            format!("pool '{pool}': the generation weights sum to 0; give at least one a positive weight"),
        ));
    }
    let vendor = profiles.list[gens[0].0].vendor;
    if let Some(&(other, _)) = gens.iter().find(|g| profiles.list[g.0].vendor != vendor) {
        return Err(src.at(
            generations,
            format!(
                "pool '{pool}' mixes vendors ({} and {}): libvirt cannot baseline such a pool; split it",
                profiles.list[gens[0].0].vendor_name, profiles.list[other].vendor_name
            ),
        ));
    }
    Ok((gens, vendor))
}

fn resolve_templates(src: &Source, map: &X86Map, guests: &[GuestToml]) -> SimResult<Vec<Template>> {
    let Some(first) = guests.first() else {
        return Err(src.error(None, "the spec has no [[guest]] configuration"));
    };
    let mut out: Vec<Template> = Vec::new();
    let mut sum = 0.0;
    for g in guests {
        let name = g.name.as_ref();
        if name.is_empty() || out.iter().any(|t| &t.name == name) {
            return Err(src.at(&g.name, format!("guest configuration name '{name}' is empty or used twice")));
        }
        sum += *g.weight.as_ref();
        out.push(resolve_template(src, map, g)?);
    }
    if !(sum > 0.0 && sum.is_finite()) {
        return Err(src.at(&first.name, "the guest configuration weights sum to 0"));
    }
    Ok(out)
}

/// One guest configuration.
fn resolve_template(src: &Source, map: &X86Map, g: &GuestToml) -> SimResult<Template> {
    let name = g.name.as_ref();
    let weight = *g.weight.as_ref();
    if !(weight.is_finite() && weight >= 0.0) {
        return Err(src.at(&g.weight, format!("guest '{name}': weight must be a number ≥ 0")));
    }
    let mode = match g.mode.as_ref().as_str() {
        "host-model" => CpuMode::HostModel,
        "host-passthrough" => CpuMode::HostPassthrough,
        "custom" => CpuMode::Custom,
        other => {
            return Err(src.at(
                &g.mode,
                format!("guest '{name}': mode '{other}': expected custom, host-model or host-passthrough"),
            ))
        }
    };
    let match_ = match &g.match_ {
        None => CpuMatch::Exact,
        Some(m) => CpuMatch::parse(m.as_ref()).ok_or_else(|| {
            src.at(m, format!("guest '{name}': match '{}': expected minimum, exact or strict", m.as_ref()))
        })?,
    };
    let model = resolve_model(src, map, g, mode)?;
    if let (false, Some(m)) = (mode == CpuMode::Custom, &g.match_) {
        return Err(src.at(m, format!("guest '{name}': only a custom CPU has a match")));
    }
    let features = resolve_features(src, map, g)?;
    if mode == CpuMode::HostPassthrough && !features.is_empty() {
        return Err(src.at(&g.name, format!("guest '{name}': a host-passthrough CPU takes no features here")));
    }
    Ok(Template { name: name.clone(), weight, mode, model, match_, features, pinned_in: None })
}

/// The model of a guest configuration: a map model or one of the `@` references.
fn resolve_model(src: &Source, map: &X86Map, g: &GuestToml, mode: CpuMode) -> SimResult<Option<ModelRef>> {
    let name = g.name.as_ref();
    let model = g.model.as_ref().map(|m| (m, m.as_ref().as_str()));
    Ok(match (mode, model) {
        (CpuMode::Custom, None) => {
            return Err(src.at(&g.name, format!("guest '{name}': a custom CPU needs a model")));
        }
        (CpuMode::Custom, Some((_, "@pool-baseline"))) => Some(ModelRef::PoolBaseline),
        (CpuMode::Custom, Some((_, "@pool-model"))) => Some(ModelRef::PoolModel),
        (CpuMode::Custom, Some((_, "@host-cpu"))) => Some(ModelRef::HostCpu),
        (CpuMode::Custom, Some((at, m))) => {
            if map.model(m).is_none() {
                return Err(src.at(
                    at,
                    format!(
                        "guest '{name}': unknown model '{m}' (a map model, \"@pool-baseline\", \"@pool-model\" or \"@host-cpu\")"
                    ),
                ));
            }
            Some(ModelRef::Named(m.to_string()))
        }
        (_, Some((at, _))) => {
            return Err(src.at(at, format!("guest '{name}': only a custom CPU has a model")));
        }
        (_, None) => None,
    })
}

/// The features of a guest configuration with their policies, each known and listed once.
fn resolve_features(src: &Source, map: &X86Map, g: &GuestToml) -> SimResult<Vec<(String, Policy)>> {
    let name = g.name.as_ref();
    let mut features: Vec<(String, Policy)> = Vec::new();
    for (list, policy) in [
        (&g.require, Policy::Require),
        (&g.optional, Policy::Optional),
        (&g.disable, Policy::Disable),
        (&g.forbid, Policy::Forbid),
    ] {
        for spanned in list {
            let n = spanned.as_ref();
            if map.feature_id(n).is_none() {
                return Err(src.at(
                    spanned,
                    format!("guest '{name}': {policy}: unknown feature '{n}' (see `cpufleet map show`)"),
                ));
            }
            if features.iter().any(|f| &f.0 == n) {
                return Err(src.at(spanned, format!("guest '{name}': feature '{n}' is listed twice")));
            }
            features.push((n.clone(), policy));
        }
    }
    Ok(features)
}

fn resolve_upgrade(src: &Source, map: &X86Map, u: &UpgradeToml, profiles: &Profiles) -> SimResult<Upgrade> {
    let steps = *u.steps.as_ref();
    if steps == 0 || steps > 1000 {
        return Err(src.at(&u.steps, "upgrade.steps must be 1..1000"));
    }
    let mut replace = vec![None; map.vendors.len()];
    for (vendor, prof) in &u.replace {
        let (vendor_name, prof_name) = (vendor.as_ref(), prof.as_ref());
        let v = map
            .vendor_index(vendor_name)
            .ok_or_else(|| src.at(vendor, format!("upgrade.replace: unknown vendor '{vendor_name}'")))?;
        let p = profiles
            .index(prof_name)
            .ok_or_else(|| src.at(prof, format!("upgrade.replace: unknown profile '{prof_name}'")))?;
        if profiles.list[p].vendor != v {
            return Err(
                src.at(prof, format!("upgrade.replace: profile '{prof_name}' is not a {vendor_name} generation"))
            );
        }
        replace[v] = Some(p);
    }
    Ok(Upgrade { steps, replace })
}

fn resolve_events(src: &Source, map: &X86Map, events: &[EventToml], profiles: &Profiles) -> SimResult<Vec<Event>> {
    let mut out = Vec::new();
    for e in events {
        let name = e.name.as_ref();
        let mut remove = FeatureSet::new();
        for n in e.remove.as_ref() {
            let id = map
                .feature_id(n.as_ref())
                .ok_or_else(|| src.at(n, format!("microcode '{name}': unknown feature '{}'", n.as_ref())))?;
            remove.insert(id);
        }
        if remove.is_empty() {
            return Err(src.at(&e.remove, format!("microcode '{name}': remove lists no feature")));
        }
        let share = *e.share.as_ref();
        if !(0.0..=1.0).contains(&share) {
            return Err(src.at(&e.share, format!("microcode '{name}': share must be in 0..1")));
        }
        let generations = match &e.generations {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|g| {
                        profiles
                            .index(g.as_ref())
                            .ok_or_else(|| src.at(g, format!("microcode '{name}': unknown profile '{}'", g.as_ref())))
                    })
                    .collect::<SimResult<Vec<usize>>>()?,
            ),
        };
        out.push(Event { name: name.clone(), remove, share, generations });
    }
    Ok(out)
}

/// A spec file parsed, with the source its spans refer to.
struct Parsed<'a> {
    src: Source<'a>,
    toml: SpecToml,
}

impl<'a> Parsed<'a> {
    fn parse(src: Source<'a>) -> SimResult<Parsed<'a>> {
        Ok(Parsed { src, toml: toml::from_str(src.text).map_err(|e| src.toml_error(&e))? })
    }
}

/// A spec file's text (UTF-8, at most `max_bytes`).
fn read_text(path: &Path, max_bytes: u64) -> SimResult<String> {
    let bytes = read_file(path, max_bytes)?;
    String::from_utf8(bytes).map_err(|e| SimError::Spec {
        file: path.display().to_string(),
        pos: Some(Pos::locate(e.as_bytes(), e.utf8_error().valid_up_to())),
        message: "invalid UTF-8".into(),
    })
}

/// Reads and validates a spec: `path` or the embedded one.
pub fn load(map: &X86Map, path: Option<&Path>, max_bytes: u64) -> SimResult<Spec> {
    let emb = Parsed::parse(Source { label: EMBEDDED_SPEC_NAME, text: EMBEDDED_SPEC })?;
    match path {
        None => resolve(map, &emb, None),
        Some(p) => {
            let (label, text) = (p.display().to_string(), read_text(p, max_bytes)?);
            let user = Parsed::parse(Source { label: &label, text: &text })?;
            resolve(map, &emb, Some(&user))
        }
    }
}

/// A section of the spec: the user's when it has one, else the embedded spec's, with its source.
fn section<'p, T>(
    emb: &'p Parsed,
    user: Option<&'p Parsed>,
    get: impl Fn(&'p SpecToml) -> Option<&'p T>,
) -> (Source<'p>, Option<&'p T>) {
    match user.and_then(|u| get(&u.toml).map(|t| (u.src, t))) {
        Some((src, t)) => (src, Some(t)),
        None => (emb.src, get(&emb.toml)),
    }
}

/// Validates the user's spec (`user`), taking the sections it leaves out from the embedded one.
fn resolve(map: &X86Map, emb: &Parsed, user: Option<&Parsed>) -> SimResult<Spec> {
    let src = user.map_or(emb.src, |u| u.src);
    let user_profiles = user.map(|u| ProfilesToml { odd: u.toml.odd.clone(), profile: u.toml.profile.clone() });
    let profiles = profiles::load(map, user_profiles.as_ref().map(|p| (&src, p)))?;
    let no_variation = Variation { virt_off: 0.0, ht_off: 0.0, microcode_latest: 1.0, odd: 0.0, cross_pool: 0.0 };
    let default_var = resolve_variation(
        &emb.src,
        emb.toml.variation.as_ref().expect("embedded spec has [variation]"),
        &no_variation,
    )?;
    let variation = match user.and_then(|u| u.toml.variation.as_ref()) {
        Some(v) => resolve_variation(&src, v, &default_var)?,
        None => default_var,
    };
    // The pools are the user's own: a user spec without [[pool]] is an error.
    let (pools, pool_libvirt) = match user.map_or(emb, |u| u).toml.pool.as_deref() {
        Some(p) => (
            resolve_pools(&src, p, &profiles)?,
            p.iter().map(|p| resolve_pool_libvirt(&src, p)).collect::<SimResult<Vec<_>>>()?,
        ),
        None => return Err(src.error(None, "the spec has no [[pool]]")),
    };
    let (guest_src, guests_toml) = section(emb, user, |t| t.guest.as_ref());
    let templates = resolve_templates(&guest_src, map, guests_toml.map_or(&[], |g| g.as_slice()))?;
    let (up_src, up) = section(emb, user, |t| t.upgrade.as_ref());
    let upgrade = resolve_upgrade(&up_src, map, up.expect("embedded [upgrade]"), &profiles)?;
    let (ev_src, ev) = section(emb, user, |t| t.microcode.as_ref());
    let events = resolve_events(&ev_src, map, ev.map_or(&[], |e| e.as_slice()), &profiles)?;
    let (plan_src, plan) = section(emb, user, |t| t.plan.as_ref());
    let plan = plan.expect("embedded [plan]");
    let k = &plan.k;
    if *k.as_ref() == 0 || *k.as_ref() as usize > PLAN_K_MAX {
        return Err(plan_src.at(k, format!("plan.k must be 1..{PLAN_K_MAX}")));
    }
    let (count_src, guests) = section(emb, user, |t| t.guests.as_ref());
    let guests = match guests {
        Some(g) if *g.as_ref() > MAX_GUESTS => {
            return Err(count_src.at(g, format!("guests = {}: at most {MAX_GUESTS}", g.as_ref())))
        }
        g => g.map_or(0, |g| *g.as_ref()),
    };
    let (count_src, migrations) = section(emb, user, |t| t.migrations.as_ref());
    let migrations = match migrations {
        Some(m) if *m.as_ref() > MAX_MIGRATIONS => {
            return Err(count_src.at(m, format!("migrations = {}: at most {MAX_MIGRATIONS}", m.as_ref())))
        }
        m => m.map_or(0, |m| *m.as_ref()),
    };
    let spec = Spec {
        label: src.label.to_string(),
        name: section(emb, user, |t| t.name.as_ref()).1.cloned().unwrap_or_default(),
        guests,
        migrations,
        variation,
        pools,
        pool_libvirt,
        templates,
        upgrade,
        events,
        plan: PlanOpts {
            k: *k.as_ref() as usize,
            allow_cross_vendor: plan.allow_cross_vendor,
            keep_pools_whole: plan.keep_pools_whole,
            min_domain_hosts: plan.min_domain_hosts,
        },
        profiles,
        user_source: user.map(|u| (u.src.label.to_string(), u.src.text.to_string())),
    };
    if spec.total_hosts() > MAX_HOSTS {
        return Err(src.error(None, format!("the fleet has {} hosts: at most {MAX_HOSTS}", spec.total_hosts())));
    }
    Ok(spec)
}
