//! CPU definitions (`virCPUDef`): one type for host and guest CPUs.

/// Host or guest CPU (`virCPUType`). Decides how the CPU is read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CpuType {
    Host,
    Guest,
}

/// `mode` of a guest CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CpuMode {
    #[default]
    Custom,
    HostModel,
    HostPassthrough,
    Maximum,
}

/// `match` of a guest CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CpuMatch {
    Minimum,
    #[default]
    Exact,
    Strict,
}

/// `check` of a guest CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CpuCheck {
    None,
    Partial,
    Full,
}

/// `<model fallback>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Fallback {
    #[default]
    Allow,
    Forbid,
}

/// Feature policy of a guest CPU feature (`virCPUFeaturePolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Policy {
    Force,
    Require,
    Optional,
    Disable,
    Forbid,
}

crate::closed_set!(impl CpuMode: "CPU mode" { Custom = "custom", HostModel = "host-model", HostPassthrough = "host-passthrough", Maximum = "maximum" });
crate::closed_set!(impl CpuMatch: "CPU match" { Minimum = "minimum", Exact = "exact", Strict = "strict" });
crate::closed_set!(impl CpuCheck: "CPU check" { None = "none", Partial = "partial", Full = "full" });
crate::closed_set!(impl Fallback: "fallback" { Allow = "allow", Forbid = "forbid" });
crate::closed_set!(impl Policy: "feature policy" { Force = "force", Require = "require", Optional = "optional", Disable = "disable", Forbid = "forbid" });

/// One `<feature>` of a CPU. Host features carry no policy (treated as `require`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Feature {
    pub name: String,
    pub policy: Option<Policy>,
}

impl Feature {
    pub fn new(name: impl Into<String>, policy: Option<Policy>) -> Self {
        Feature { name: name.into(), policy }
    }
    /// The policy every computation uses (`None` counts as `require`).
    pub fn effective_policy(&self) -> Policy {
        self.policy.unwrap_or(Policy::Require)
    }
}

/// `<topology sockets dies [clusters] cores threads/>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Topology {
    pub sockets: u32,
    pub dies: u32,
    /// libvirt 11.3.0 only (default 1, always written); `None` for a CPU read by 9.0.0.
    pub clusters: Option<u32>,
    pub cores: u32,
    pub threads: u32,
}

/// Host CPU signature (`<signature family model stepping/>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Signature {
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
}

/// `<counter name='tsc' frequency scaling/>` of a host CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TscCounter {
    pub frequency: u64,
    pub scaling: Option<bool>,
}

/// `<cache mode>` (`virCPUCacheMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CacheMode {
    Emulate,
    Passthrough,
    Disable,
}

/// `<maxphysaddr mode>` (`virCPUMaxPhysAddrMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum MaxPhysAddrMode {
    Emulate,
    Passthrough,
}

crate::closed_set!(impl CacheMode: "cache mode" { Emulate = "emulate", Passthrough = "passthrough", Disable = "disable" });
crate::closed_set!(impl MaxPhysAddrMode: "maxphysaddr mode" { Emulate = "emulate", Passthrough = "passthrough" });

/// `<cache level mode/>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CacheDef {
    pub level: Option<u32>,
    pub mode: CacheMode,
}

/// `<maxphysaddr mode bits/>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MaxPhysAddr {
    pub mode: MaxPhysAddrMode,
    pub bits: Option<u32>,
    /// libvirt 11.3.0's `limit` (mode `passthrough` only).
    pub limit: Option<u32>,
}

/// A CPU definition, host or guest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CpuDef {
    pub cpu_type: CpuType,
    pub mode: CpuMode,
    pub match_: CpuMatch,
    pub check: Option<CpuCheck>,
    /// `migratable='on|off'` (passthrough / maximum).
    pub migratable: Option<bool>,
    /// libvirt 11.3.0's `deprecated_features='on|off'` (guest CPUs; no operation reads it).
    pub deprecated_features: Option<bool>,
    /// `<arch>` text (host CPUs; an optional constraint on guests read from capabilities).
    pub arch: Option<String>,
    pub model: Option<String>,
    pub fallback: Fallback,
    pub vendor_id: Option<String>,
    pub vendor: Option<String>,
    pub microcode: Option<u32>,
    pub signature: Option<Signature>,
    pub tsc: Option<TscCounter>,
    pub topology: Option<Topology>,
    pub cache: Option<CacheDef>,
    pub maxphysaddr: Option<MaxPhysAddr>,
    pub features: Vec<Feature>,
}

impl CpuDef {
    /// An empty CPU of the given type, mode custom (`virCPUDefNew`).
    pub fn new(cpu_type: CpuType) -> Self {
        CpuDef {
            cpu_type,
            mode: CpuMode::Custom,
            match_: CpuMatch::Exact,
            check: None,
            migratable: None,
            deprecated_features: None,
            arch: None,
            model: None,
            fallback: Fallback::Allow,
            vendor_id: None,
            vendor: None,
            microcode: None,
            signature: None,
            tsc: None,
            topology: None,
            cache: None,
            maxphysaddr: None,
            features: Vec::new(),
        }
    }

    pub fn is_host(&self) -> bool {
        self.cpu_type == CpuType::Host
    }

    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.name == name)
    }

    /// `virCPUDefUpdateFeature`: replaces the policy in place, or appends.
    pub fn set_feature(&mut self, name: &str, policy: Option<Policy>) {
        match self.features.iter_mut().find(|f| f.name == name) {
            Some(f) => f.policy = policy,
            None => self.features.push(Feature::new(name, policy)),
        }
    }

    /// `virCPUDefAddFeatureIfMissing`.
    pub fn add_feature_if_missing(&mut self, name: &str, policy: Option<Policy>) {
        if self.feature(name).is_none() {
            self.features.push(Feature::new(name, policy));
        }
    }
}
