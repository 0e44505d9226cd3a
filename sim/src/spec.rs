//! The fleet spec (`data/fleet.toml`, or `--spec FILE`): pools with their generation mix, host
//! variation, guest CPU configurations, and the parameters of the upgrade, microcode and plan
//! scenarios. Sections a user spec leaves out are taken from the embedded default spec.

use super::profiles::{self, Profiles, ProfilesToml, Source};
use cpufleet_engine::map::X86Map;
use cpufleet_engine::{CpuMatch, CpuMode, FeatureSet, Policy};
use cpufleet_io::{read_file, CliError, CliResult};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

pub const EMBEDDED_SPEC: &str = include_str!("../../data/fleet.toml");
pub const EMBEDDED_SPEC_NAME: &str = "data/fleet.toml (embedded)";

/// The most hosts a fleet may have (memory stays around 100 bytes per host).
pub const MAX_HOSTS: u64 = 20_000_000;
pub const MAX_GUESTS: u64 = 10_000_000;
pub const MAX_MIGRATIONS: u64 = 2_000_000_000;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct SpecToml {
    name: Option<String>,
    guests: Option<u64>,
    migrations: Option<u64>,
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

#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct VariationToml {
    virt_off: Option<f64>,
    ht_off: Option<f64>,
    microcode_latest: Option<f64>,
    odd: Option<f64>,
    cross_pool: Option<f64>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct PoolToml {
    name: String,
    hosts: u64,
    generations: BTreeMap<String, f64>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct GuestToml {
    name: String,
    weight: f64,
    mode: String,
    model: Option<String>,
    #[serde(rename = "match")]
    match_: Option<String>,
    #[serde(default)]
    require: Vec<String>,
    #[serde(default)]
    optional: Vec<String>,
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    forbid: Vec<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct UpgradeToml {
    steps: u32,
    #[serde(default)]
    replace: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct EventToml {
    name: String,
    remove: Vec<String>,
    share: f64,
    generations: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct PlanToml {
    k: u32,
}

/// Host variation probabilities.
#[derive(Clone, Copy, Debug)]
pub struct Variation {
    pub virt_off: f64,
    pub ht_off: f64,
    pub microcode_latest: f64,
    pub odd: f64,
    pub cross_pool: f64,
}

#[derive(Clone, Debug)]
pub struct PoolSpec {
    pub name: String,
    pub hosts: u64,
    /// (profile index, weight), weights > 0 only.
    pub generations: Vec<(usize, f64)>,
    pub vendor: usize,
}

/// What the model of a custom guest CPU is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelRef {
    /// The pool baseline: model and features.
    PoolBaseline,
    /// Only the pool baseline's model name.
    PoolModel,
    /// A copy of the host CPU the guest starts on (model, vendor and features as `require`).
    HostCpu,
    Named(String),
}

/// A guest CPU configuration.
#[derive(Clone, Debug)]
pub struct Template {
    pub name: String,
    pub weight: f64,
    pub mode: CpuMode,
    pub model: Option<ModelRef>,
    pub match_: CpuMatch,
    pub features: Vec<(String, Policy)>,
}

impl Template {
    /// Whether the CPU it gives depends on the pool (its baseline).
    pub fn uses_pool(&self) -> bool {
        matches!(self.model, Some(ModelRef::PoolBaseline) | Some(ModelRef::PoolModel))
    }
    /// A short description: mode, model, match, features.
    pub fn describe(&self) -> String {
        let mut s = self.mode.as_str().to_string();
        if let Some(m) = &self.model {
            s.push(' ');
            s.push_str(match m {
                ModelRef::PoolBaseline => "@pool-baseline",
                ModelRef::PoolModel => "@pool-model",
                ModelRef::HostCpu => "@host-cpu",
                ModelRef::Named(n) => n,
            });
        }
        if self.mode == CpuMode::Custom {
            s.push_str(&format!(" match={}", self.match_));
        }
        for p in [Policy::Require, Policy::Optional, Policy::Disable, Policy::Forbid] {
            let names: Vec<&str> = self.features.iter().filter(|f| f.1 == p).map(|f| f.0.as_str()).collect();
            if !names.is_empty() {
                s.push_str(&format!(" {}={}", p, names.join(",")));
            }
        }
        s
    }
}

#[derive(Clone, Debug)]
pub struct Upgrade {
    pub steps: u32,
    /// Replacement profile per map vendor index.
    pub replace: Vec<Option<usize>>,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub name: String,
    pub remove: FeatureSet,
    pub share: f64,
    /// Restrict to these profiles (None = every host that has the features).
    pub generations: Option<Vec<usize>>,
}

/// A validated fleet spec.
#[derive(Clone, Debug)]
pub struct Spec {
    /// How the spec is named in reports and messages.
    pub label: String,
    pub name: String,
    pub guests: u64,
    pub migrations: u64,
    pub variation: Variation,
    pub pools: Vec<PoolSpec>,
    pub templates: Vec<Template>,
    pub upgrade: Upgrade,
    pub events: Vec<Event>,
    pub plan_k: usize,
    pub profiles: Profiles,
}

impl Spec {
    pub fn total_hosts(&self) -> u64 {
        self.pools.iter().map(|p| p.hosts).sum()
    }

    /// Scales the pools to `n` hosts in all (largest remainder; every pool keeps ≥ 1 host).
    pub fn scale_hosts(&mut self, n: u64) -> CliResult<()> {
        let np = self.pools.len() as u64;
        if n < np {
            return Err(CliError::new(format!(
                "--hosts {n}: the fleet has {np} pools, so it needs at least {np} hosts"
            )));
        }
        if n > MAX_HOSTS {
            return Err(CliError::new(format!("--hosts {n}: at most {MAX_HOSTS} hosts")));
        }
        // Largest remainder over the spec's proportions, then every pool gets at least one host
        // (taken from the largest pools).
        let total = self.total_hosts() as u128;
        let mut shares: Vec<(u64, u128)> = self
            .pools
            .iter()
            .map(|p| {
                let exact = n as u128 * p.hosts as u128;
                ((exact / total) as u64, exact % total)
            })
            .collect();
        let mut left = n - shares.iter().map(|s| s.0).sum::<u64>();
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by(|&a, &b| shares[b].1.cmp(&shares[a].1).then(a.cmp(&b)));
        for &i in &order {
            if left == 0 {
                break;
            }
            shares[i].0 += 1;
            left -= 1;
        }
        while let Some(z) = shares.iter().position(|s| s.0 == 0) {
            let big = (0..shares.len()).max_by_key(|&i| (shares[i].0, std::cmp::Reverse(i))).expect("pools");
            shares[big].0 -= 1;
            shares[z].0 = 1;
        }
        for (p, s) in self.pools.iter_mut().zip(shares) {
            p.hosts = s.0;
        }
        Ok(())
    }
}

fn probability(src: &Source, key: &str, v: f64) -> CliResult<f64> {
    if !(0.0..=1.0).contains(&v) {
        return Err(src.error(Some("[variation]"), Some(key), format!("variation.{key} = {v}: must be in 0..1")));
    }
    Ok(v)
}

fn resolve_variation(src: &Source, v: &VariationToml, d: &Variation) -> CliResult<Variation> {
    Ok(Variation {
        virt_off: probability(src, "virt_off", v.virt_off.unwrap_or(d.virt_off))?,
        ht_off: probability(src, "ht_off", v.ht_off.unwrap_or(d.ht_off))?,
        microcode_latest: probability(src, "microcode_latest", v.microcode_latest.unwrap_or(d.microcode_latest))?,
        odd: probability(src, "odd", v.odd.unwrap_or(d.odd))?,
        cross_pool: probability(src, "cross_pool", v.cross_pool.unwrap_or(d.cross_pool))?,
    })
}

fn valid_pool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn resolve_pools(src: &Source, pools: &[PoolToml], profiles: &Profiles) -> CliResult<Vec<PoolSpec>> {
    if pools.is_empty() {
        return Err(src.error(None, None, "the spec has no [[pool]]"));
    }
    let mut out: Vec<PoolSpec> = Vec::new();
    for p in pools {
        let anchor = format!("name = \"{}\"", p.name);
        let at = |needle: Option<&str>, msg: String| src.error(Some(&anchor), needle, msg);
        if !valid_pool_name(&p.name) {
            return Err(at(
                None,
                format!("pool name '{}': use 1-64 letters, digits, '-', '_' or '.' (it names a file)", p.name),
            ));
        }
        if out.iter().any(|q| q.name == p.name) {
            return Err(at(None, format!("pool '{}' is defined twice", p.name)));
        }
        if p.hosts == 0 {
            return Err(at(Some("hosts"), format!("pool '{}': hosts = 0, a pool needs at least one host", p.name)));
        }
        if p.hosts > MAX_HOSTS {
            return Err(at(Some("hosts"), format!("pool '{}': at most {MAX_HOSTS} hosts", p.name)));
        }
        let mut gens = Vec::new();
        let mut sum = 0.0;
        for (name, &w) in &p.generations {
            let idx = profiles.index(name).ok_or_else(|| {
                let known: Vec<&str> = profiles.list.iter().map(|p| p.name.as_str()).collect();
                at(
                    Some(name),
                    format!("pool '{}': unknown generation profile '{name}' (known: {})", p.name, known.join(", ")),
                )
            })?;
            if !(w.is_finite() && w >= 0.0) {
                return Err(at(Some(name), format!("pool '{}': weight of '{name}' must be a number ≥ 0", p.name)));
            }
            sum += w;
            if w > 0.0 {
                gens.push((idx, w));
            }
        }
        if !(sum > 0.0 && sum.is_finite()) {
            return Err(at(
                Some("generations"),
                format!("pool '{}': the generation weights sum to 0; give at least one a positive weight", p.name),
            ));
        }
        let vendor = profiles.list[gens[0].0].vendor;
        if let Some(&(other, _)) = gens.iter().find(|g| profiles.list[g.0].vendor != vendor) {
            return Err(at(
                Some("generations"),
                format!(
                    "pool '{}' mixes vendors ({} and {}): libvirt cannot baseline such a pool; split it",
                    p.name, profiles.list[gens[0].0].vendor_name, profiles.list[other].vendor_name
                ),
            ));
        }
        out.push(PoolSpec { name: p.name.clone(), hosts: p.hosts, generations: gens, vendor });
    }
    Ok(out)
}

fn resolve_templates(src: &Source, map: &X86Map, guests: &[GuestToml]) -> CliResult<Vec<Template>> {
    if guests.is_empty() {
        return Err(src.error(None, None, "the spec has no [[guest]] configuration"));
    }
    let mut out: Vec<Template> = Vec::new();
    let mut sum = 0.0;
    for g in guests {
        let anchor = format!("name = \"{}\"", g.name);
        let at = |needle: Option<&str>, msg: String| src.error(Some(&anchor), needle, msg);
        if g.name.is_empty() || out.iter().any(|t| t.name == g.name) {
            return Err(at(None, format!("guest configuration name '{}' is empty or used twice", g.name)));
        }
        if !(g.weight.is_finite() && g.weight >= 0.0) {
            return Err(at(Some("weight"), format!("guest '{}': weight must be a number ≥ 0", g.name)));
        }
        sum += g.weight;
        let mode = match g.mode.as_str() {
            "host-model" => CpuMode::HostModel,
            "host-passthrough" => CpuMode::HostPassthrough,
            "custom" => CpuMode::Custom,
            other => {
                return Err(at(
                    Some(&format!("\"{other}\"")),
                    format!("guest '{}': mode '{other}': expected custom, host-model or host-passthrough", g.name),
                ))
            }
        };
        let match_ = match g.match_.as_deref() {
            None => CpuMatch::Exact,
            Some(m) => CpuMatch::parse(m).ok_or_else(|| {
                at(
                    Some(&format!("\"{m}\"")),
                    format!("guest '{}': match '{m}': expected minimum, exact or strict", g.name),
                )
            })?,
        };
        let model = match (mode, g.model.as_deref()) {
            (CpuMode::Custom, None) => {
                return Err(at(None, format!("guest '{}': a custom CPU needs a model", g.name)));
            }
            (CpuMode::Custom, Some("@pool-baseline")) => Some(ModelRef::PoolBaseline),
            (CpuMode::Custom, Some("@pool-model")) => Some(ModelRef::PoolModel),
            (CpuMode::Custom, Some("@host-cpu")) => Some(ModelRef::HostCpu),
            (CpuMode::Custom, Some(m)) => {
                if map.model(m).is_none() {
                    return Err(at(
                        Some(&format!("\"{m}\"")),
                        format!(
                            "guest '{}': unknown model '{m}' (a map model, \"@pool-baseline\", \"@pool-model\" or \"@host-cpu\")",
                            g.name
                        ),
                    ));
                }
                Some(ModelRef::Named(m.to_string()))
            }
            (_, Some(_)) => {
                return Err(at(Some("model"), format!("guest '{}': only a custom CPU has a model", g.name)));
            }
            (_, None) => None,
        };
        if mode != CpuMode::Custom && g.match_.is_some() {
            return Err(at(Some("match"), format!("guest '{}': only a custom CPU has a match", g.name)));
        }
        let mut features: Vec<(String, Policy)> = Vec::new();
        for (list, policy) in [
            (&g.require, Policy::Require),
            (&g.optional, Policy::Optional),
            (&g.disable, Policy::Disable),
            (&g.forbid, Policy::Forbid),
        ] {
            for n in list {
                if map.feature_id(n).is_none() {
                    return Err(at(
                        Some(&format!("\"{n}\"")),
                        format!("guest '{}': {policy}: unknown feature '{n}' (see `cpufleet map show`)", g.name),
                    ));
                }
                if features.iter().any(|f| &f.0 == n) {
                    return Err(at(
                        Some(&format!("\"{n}\"")),
                        format!("guest '{}': feature '{n}' is listed twice", g.name),
                    ));
                }
                features.push((n.clone(), policy));
            }
        }
        if mode == CpuMode::HostPassthrough && !features.is_empty() {
            return Err(at(None, format!("guest '{}': a host-passthrough CPU takes no features here", g.name)));
        }
        out.push(Template { name: g.name.clone(), weight: g.weight, mode, model, match_, features });
    }
    if !(sum > 0.0 && sum.is_finite()) {
        return Err(src.error(None, Some("[[guest]]"), "the guest configuration weights sum to 0"));
    }
    Ok(out)
}

fn resolve_upgrade(src: &Source, map: &X86Map, u: &UpgradeToml, profiles: &Profiles) -> CliResult<Upgrade> {
    if u.steps == 0 || u.steps > 1000 {
        return Err(src.error(Some("[upgrade]"), Some("steps"), "upgrade.steps must be 1..1000"));
    }
    let mut replace = vec![None; map.vendors.len()];
    for (vendor, prof) in &u.replace {
        let v = map.vendor_index(vendor).ok_or_else(|| {
            src.error(Some("[upgrade]"), Some(vendor), format!("upgrade.replace: unknown vendor '{vendor}'"))
        })?;
        let p = profiles.index(prof).ok_or_else(|| {
            src.error(
                Some("[upgrade]"),
                Some(&format!("\"{prof}\"")),
                format!("upgrade.replace: unknown profile '{prof}'"),
            )
        })?;
        if profiles.list[p].vendor != v {
            return Err(src.error(
                Some("[upgrade]"),
                Some(&format!("\"{prof}\"")),
                format!("upgrade.replace: profile '{prof}' is not a {vendor} generation"),
            ));
        }
        replace[v] = Some(p);
    }
    Ok(Upgrade { steps: u.steps, replace })
}

fn resolve_events(src: &Source, map: &X86Map, events: &[EventToml], profiles: &Profiles) -> CliResult<Vec<Event>> {
    let mut out = Vec::new();
    for e in events {
        let anchor = format!("name = \"{}\"", e.name);
        let at = |needle: Option<&str>, msg: String| src.error(Some(&anchor), needle, msg);
        let mut remove = FeatureSet::new();
        for n in &e.remove {
            let id = map.feature_id(n).ok_or_else(|| {
                at(Some(&format!("\"{n}\"")), format!("microcode '{}': unknown feature '{n}'", e.name))
            })?;
            remove.insert(id);
        }
        if remove.is_empty() {
            return Err(at(Some("remove"), format!("microcode '{}': remove lists no feature", e.name)));
        }
        if !(0.0..=1.0).contains(&e.share) {
            return Err(at(Some("share"), format!("microcode '{}': share must be in 0..1", e.name)));
        }
        let generations = match &e.generations {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|g| {
                        profiles.index(g).ok_or_else(|| {
                            at(Some(&format!("\"{g}\"")), format!("microcode '{}': unknown profile '{g}'", e.name))
                        })
                    })
                    .collect::<CliResult<Vec<usize>>>()?,
            ),
        };
        out.push(Event { name: e.name.clone(), remove, share: e.share, generations });
    }
    Ok(out)
}

/// Reads and validates a spec: `path` or the embedded one.
pub fn load(map: &X86Map, path: Option<&Path>, max_bytes: u64) -> CliResult<Spec> {
    let emb_src = Source { label: EMBEDDED_SPEC_NAME, text: EMBEDDED_SPEC };
    let emb: SpecToml = toml::from_str(EMBEDDED_SPEC).map_err(|e| emb_src.toml_error(&e))?;
    let user_text: String;
    let label: String;
    let (src, user) = match path {
        None => (emb_src, None),
        Some(p) => {
            let bytes = read_file(p, max_bytes)?;
            user_text = String::from_utf8(bytes).map_err(|e| {
                let ok = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let (line, col) = profiles::line_col(std::str::from_utf8(ok).unwrap_or(""), ok.len());
                CliError::file(p, format!("{line}:{col}: invalid UTF-8"))
            })?;
            label = p.display().to_string();
            let src = Source { label: &label, text: &user_text };
            let parsed: SpecToml = toml::from_str(src.text).map_err(|e| src.toml_error(&e))?;
            (src, Some(parsed))
        }
    };
    let emb_src = Source { label: EMBEDDED_SPEC_NAME, text: EMBEDDED_SPEC };
    let user_profiles = user.as_ref().map(|u| ProfilesToml { odd: u.odd.clone(), profile: u.profile.clone() });
    let profiles = profiles::load(map, user_profiles.as_ref().map(|p| (&src, p)))?;
    let pick = |f: fn(&SpecToml) -> bool| -> bool { user.as_ref().is_some_and(f) };
    // Which source each section comes from.
    let u = user.as_ref();
    let s_of = |has: bool| if has { &src } else { &emb_src };

    let default_var = {
        let v = emb.variation.expect("embedded spec has [variation]");
        resolve_variation(
            &emb_src,
            &v,
            &Variation { virt_off: 0.0, ht_off: 0.0, microcode_latest: 1.0, odd: 0.0, cross_pool: 0.0 },
        )?
    };
    let variation = match u.and_then(|u| u.variation) {
        Some(v) => resolve_variation(&src, &v, &default_var)?,
        None => default_var,
    };
    let pools_toml = u.and_then(|u| u.pool.clone()).or(if u.is_none() { emb.pool.clone() } else { None });
    let pools = match pools_toml {
        Some(p) => resolve_pools(&src, &p, &profiles)?,
        None => return Err(src.error(None, None, "the spec has no [[pool]]")),
    };
    let has_guests = pick(|u| u.guest.is_some());
    let guests_toml =
        if has_guests { u.unwrap().guest.clone().unwrap() } else { emb.guest.clone().unwrap_or_default() };
    let templates = resolve_templates(s_of(has_guests), map, &guests_toml)?;
    let has_up = pick(|u| u.upgrade.is_some());
    let up =
        if has_up { u.unwrap().upgrade.clone().unwrap() } else { emb.upgrade.clone().expect("embedded [upgrade]") };
    let upgrade = resolve_upgrade(s_of(has_up), map, &up, &profiles)?;
    let has_ev = pick(|u| u.microcode.is_some());
    let ev = if has_ev { u.unwrap().microcode.clone().unwrap() } else { emb.microcode.clone().unwrap_or_default() };
    let events = resolve_events(s_of(has_ev), map, &ev, &profiles)?;
    let has_plan = pick(|u| u.plan.is_some());
    let plan = if has_plan { u.unwrap().plan.unwrap() } else { emb.plan.expect("embedded [plan]") };
    if plan.k == 0 || plan.k > 64 {
        return Err(s_of(has_plan).error(Some("[plan]"), Some("k"), "plan.k must be 1..64"));
    }
    let guests = u.and_then(|u| u.guests).or(emb.guests).unwrap_or(0);
    let migrations = u.and_then(|u| u.migrations).or(emb.migrations).unwrap_or(0);
    if guests > MAX_GUESTS {
        return Err(src.error(None, Some("guests"), format!("guests = {guests}: at most {MAX_GUESTS}")));
    }
    if migrations > MAX_MIGRATIONS {
        return Err(src.error(
            None,
            Some("migrations"),
            format!("migrations = {migrations}: at most {MAX_MIGRATIONS}"),
        ));
    }
    let spec = Spec {
        label: src.label.to_string(),
        name: u.and_then(|u| u.name.clone()).or(emb.name.clone()).unwrap_or_default(),
        guests,
        migrations,
        variation,
        pools,
        templates,
        upgrade,
        events,
        plan_k: plan.k as usize,
        profiles,
    };
    if spec.total_hosts() > MAX_HOSTS {
        return Err(src.error(None, None, format!("the fleet has {} hosts: at most {MAX_HOSTS}", spec.total_hosts())));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpufleet_engine::CpuMap;

    #[test]
    fn embedded_spec_is_the_documented_default() {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let s = load(&map.x86, None, 1 << 20).unwrap();
        assert_eq!(s.total_hosts(), 10_000);
        assert_eq!(s.pools.len(), 20);
        assert_eq!((s.guests, s.migrations), (5000, 100_000));
        assert!(s.templates.iter().any(|t| t.mode == CpuMode::HostPassthrough));
        assert!(s.templates.iter().any(|t| t.match_ == CpuMatch::Strict));
    }

    #[test]
    fn scaling_keeps_totals_and_proportions() {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let mut s = load(&map.x86, None, 1 << 20).unwrap();
        s.scale_hosts(1_000_000).unwrap();
        assert_eq!(s.total_hosts(), 1_000_000);
        assert_eq!(s.pools[0].hosts, 28_000);
        s.scale_hosts(20).unwrap();
        assert!(s.pools.iter().all(|p| p.hosts == 1));
        assert!(s.scale_hosts(19).is_err());
        s.scale_hosts(137).unwrap();
        assert_eq!(s.total_hosts(), 137);
    }
}
