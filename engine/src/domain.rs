//! What of a domain definition (`virDomainDef`) besides its `<cpu>` reaches QEMU's `-cpu`
//! argument or the QEMU driver's checks before a start: the Hyper-V enlightenments
//! (`<features><hyperv>`), the KVM features (`<features><kvm>`), `<pmu>`, `<pvspinlock>`,
//! `<apic eoi>`, the `kvmclock` and `hypervclock` timers of `<clock>` and a Hyper-V panic device.
//! Read by [`crate::xml::read_domain`]; turned into `-cpu` properties by
//! [`crate::hypervisor::command_line`].

use crate::cpu::CpuDef;
use crate::version::LibvirtVersion;

/// `<hyperv mode>` (`virDomainHyperVMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HypervMode {
    #[default]
    Custom,
    Passthrough,
    /// libvirt 12.9.0 (not in 9.0.0 or 11.3.0, whose parser refuses the value).
    HostModel,
}

impl HypervMode {
    pub fn parse(s: &str, version: LibvirtVersion) -> Option<HypervMode> {
        match s {
            "custom" => Some(HypervMode::Custom),
            "passthrough" => Some(HypervMode::Passthrough),
            "host-model" if version >= LibvirtVersion::V12_9_0 => Some(HypervMode::HostModel),
            _ => None,
        }
    }
}

crate::closed_set! {
    /// A Hyper-V enlightenment (`virDomainHyperv`), in libvirt's enum order: the order of the
    /// `-cpu` properties and of the dependency checks. Its name is the element name
    /// (`virDomainHypervTypeToString`); [`HypervFeature::parse_for`] knows which release reads it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum HypervFeature: "Hyper-V enlightenment" {
        Relaxed = "relaxed",
        Vapic = "vapic",
        Spinlocks = "spinlocks",
        Vpindex = "vpindex",
        Runtime = "runtime",
        Synic = "synic",
        Stimer = "stimer",
        Reset = "reset",
        VendorId = "vendor_id",
        Frequencies = "frequencies",
        Reenlightenment = "reenlightenment",
        Tlbflush = "tlbflush",
        Ipi = "ipi",
        Evmcs = "evmcs",
        Avic = "avic",
        EmsrBitmap = "emsr_bitmap",
        XmmInput = "xmm_input",
    }
}

impl HypervFeature {
    /// The first release whose parser knows it: `emsr_bitmap` and `xmm_input` came after 9.0.0
    /// (9.0.0 says "unsupported HyperV Enlightenment feature: xmm_input").
    pub fn since(self) -> LibvirtVersion {
        match self {
            HypervFeature::EmsrBitmap | HypervFeature::XmmInput => LibvirtVersion::V11_3_0,
            _ => LibvirtVersion::V9_0_0,
        }
    }

    /// The element named `s`, if release `version` knows it.
    pub fn parse_for(s: &str, version: LibvirtVersion) -> Option<HypervFeature> {
        HypervFeature::parse(s).filter(|f| f.since() <= version)
    }
}

/// `<features><hyperv>`: the mode and each enlightenment's state as given (a repeated element
/// overrides the earlier one, as libvirt's parser does), with the values of `spinlocks`,
/// `vendor_id` and the `stimer`/`tlbflush` sub-features.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Hyperv {
    pub mode: HypervMode,
    /// `state` of each enlightenment given, at most one entry each, in [`HypervFeature`] order.
    pub states: Vec<(HypervFeature, bool)>,
    /// `<spinlocks retries>` when `state='on'` (libvirt 12.9.0 defaults it to 0xffffffff).
    pub spinlock_retries: u32,
    /// `<vendor_id value>` when `state='on'`.
    pub vendor_id: Option<String>,
    /// `<stimer><direct state/>`.
    pub stimer_direct: Option<bool>,
    /// `<tlbflush><direct state/>` (libvirt 11.3.0 and later read it).
    pub tlbflush_direct: Option<bool>,
    /// `<tlbflush><extended state/>` (libvirt 11.3.0 and later read it).
    pub tlbflush_extended: Option<bool>,
}

impl Hyperv {
    /// Whether enlightenment `f` is on.
    pub fn is_on(&self, f: HypervFeature) -> bool {
        self.states.iter().any(|&(g, on)| g == f && on)
    }

    /// Records `f`'s state, replacing an earlier one.
    pub fn set(&mut self, f: HypervFeature, on: bool) {
        match self.states.iter_mut().find(|(g, _)| *g == f) {
            Some(s) => s.1 = on,
            None => {
                self.states.push((f, on));
                self.states.sort_by_key(|&(g, _)| g);
            }
        }
    }
}

crate::closed_set! {
    /// A KVM feature of `<features><kvm>` (`virDomainKVM`), in libvirt's enum order; its name is
    /// the element name.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum KvmFeature: "KVM feature" {
        Hidden = "hidden",
        HintDedicated = "hint-dedicated",
        PollControl = "poll-control",
        PvIpi = "pv-ipi",
        DirtyRing = "dirty-ring",
    }
}

/// A paravirtual clock timer of `<clock>` that reaches `-cpu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PvTimer {
    /// `<timer name='kvmclock' present>`.
    Kvmclock,
    /// `<timer name='hypervclock' present>`.
    Hypervclock,
}

/// The domain-level settings a start reads besides the `<cpu>`: absent ones are `None`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct DomainFeatures {
    pub hyperv: Option<Hyperv>,
    /// `<features><kvm>` (present: libvirt's `features[KVM] = on`) with each child's state.
    pub kvm: Option<Vec<(KvmFeature, bool)>>,
    /// `<features><pmu state>` (`on` when the attribute is absent).
    pub pmu: Option<bool>,
    /// `<features><pvspinlock state>` (`on` when the attribute is absent).
    pub pvspinlock: Option<bool>,
    /// `<features><apic eoi>`.
    pub apic_eoi: Option<bool>,
    /// The `kvmclock`/`hypervclock` timers with a `present` attribute, in document order.
    pub timers: Vec<(PvTimer, bool)>,
    /// A `<devices><panic model='hyperv'/>`.
    pub hyperv_panic: bool,
}

impl DomainFeatures {
    /// Whether timer `t` is given with `present='yes'`.
    pub fn timer_present(&self, t: PvTimer) -> bool {
        self.timers.iter().any(|&(u, p)| u == t && p)
    }

    /// Whether KVM feature `f` is given with state `on`.
    pub fn kvm_is(&self, f: KvmFeature, on: bool) -> bool {
        self.kvm.as_ref().is_some_and(|k| k.iter().any(|&(g, s)| g == f && s == on))
    }
}

/// A domain as the QEMU driver's start path reads it: its `<cpu>` (None: libvirt's default) and
/// the other settings that reach `-cpu`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DomainDef {
    /// `<name>`.
    pub name: Option<String>,
    /// `<domain type>` (`kvm`, `qemu`).
    pub virttype: Option<String>,
    pub cpu: Option<CpuDef>,
    pub features: DomainFeatures,
}

impl DomainDef {
    /// A domain that is only the CPU `cpu` (a bare `<cpu>` document).
    pub fn of_cpu(cpu: Option<CpuDef>) -> DomainDef {
        DomainDef { cpu, ..DomainDef::default() }
    }
}
