//! What `qemuBuildCpuCommandLine` appends to the CPU model part of QEMU's `-cpu` argument (the
//! model, `vendor=` and the CPU's features, `qemuBuildCpuModelArgStr`): the paravirtual timers,
//! `kvm-pv-eoi`, `kvm-pv-unhalt`, the Hyper-V enlightenments, `hv-crash`, the KVM features, `pmu`,
//! then the `<cpu>`'s cache and maximum physical address size, in that order. Checked against
//! `virsh domxml-to-native qemu-argv` of libvirt 9.0.0, 11.3.0 and 12.9.0.

use crate::cpu::{CacheMode, CpuDef, CpuMode, MaxPhysAddrMode};
use crate::domain::{DomainFeatures, HypervFeature, HypervMode, KvmFeature, PvTimer};
use crate::version::LibvirtVersion;
use std::fmt;

/// One `NAME[=VALUE]` property of `-cpu` after the model part.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CpuProperty {
    /// `kvmclock=on|off` (`<timer name='kvmclock' present>`).
    Kvmclock(bool),
    /// `hv-time=on` (`<timer name='hypervclock' present='yes'>`).
    HvTime,
    /// `kvm-pv-eoi=on|off` (`<apic eoi>`).
    KvmPvEoi(bool),
    /// `kvm-pv-unhalt=on|off` (`<pvspinlock state>`).
    KvmPvUnhalt(bool),
    /// `hv-passthrough=on` (`<hyperv mode='passthrough'>`).
    HvPassthrough,
    /// `hv-NAME=on` for an enlightenment without a value.
    Hyperv(HypervFeature),
    /// `hv-spinlocks=0xN`.
    HvSpinlocks(u32),
    /// `hv-vendor-id=ID`.
    HvVendorId(String),
    /// `hv-stimer-direct=on`.
    HvStimerDirect,
    /// `hv-tlbflush-direct=on` (libvirt 11.3.0 and later).
    HvTlbflushDirect,
    /// `hv-tlbflush-ext=on` (libvirt 11.3.0 and later).
    HvTlbflushExt,
    /// `hv-crash` (9.0.0, 11.3.0) or `hv-crash=on` (12.9.0): a Hyper-V panic device.
    HvCrash { with_value: bool },
    /// `kvm=off` (`<kvm><hidden state='on'/>`).
    KvmHidden,
    /// `kvm-hint-dedicated=on`.
    KvmHintDedicated,
    /// `kvm-poll-control=on`.
    KvmPollControl,
    /// `kvm-pv-ipi=off`.
    KvmPvIpiOff,
    /// `pmu=on|off`.
    Pmu(bool),
    /// `l3-cache=on|off`.
    L3Cache(bool),
    /// `host-cache-info=on|off`.
    HostCacheInfo(bool),
    /// `host-phys-bits=on|off`.
    HostPhysBits(bool),
    /// `host-phys-bits-limit=N` (libvirt 11.3.0 and later).
    HostPhysBitsLimit(u32),
    /// `phys-bits=N`.
    PhysBits(u32),
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl fmt::Display for CpuProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CpuProperty::*;
        match self {
            Kvmclock(b) => write!(f, "kvmclock={}", on_off(*b)),
            HvTime => f.write_str("hv-time=on"),
            KvmPvEoi(b) => write!(f, "kvm-pv-eoi={}", on_off(*b)),
            KvmPvUnhalt(b) => write!(f, "kvm-pv-unhalt={}", on_off(*b)),
            HvPassthrough => f.write_str("hv-passthrough=on"),
            // QEMU spells the enlightenments with dashes: hv-emsr-bitmap, hv-xmm-input.
            Hyperv(h) => write!(f, "hv-{}=on", h.as_str().replace('_', "-")),
            HvSpinlocks(n) => write!(f, "hv-spinlocks=0x{n:x}"),
            HvVendorId(v) => write!(f, "hv-vendor-id={v}"),
            HvStimerDirect => f.write_str("hv-stimer-direct=on"),
            HvTlbflushDirect => f.write_str("hv-tlbflush-direct=on"),
            HvTlbflushExt => f.write_str("hv-tlbflush-ext=on"),
            HvCrash { with_value: false } => f.write_str("hv-crash"),
            HvCrash { with_value: true } => f.write_str("hv-crash=on"),
            KvmHidden => f.write_str("kvm=off"),
            KvmHintDedicated => f.write_str("kvm-hint-dedicated=on"),
            KvmPollControl => f.write_str("kvm-poll-control=on"),
            KvmPvIpiOff => f.write_str("kvm-pv-ipi=off"),
            Pmu(b) => write!(f, "pmu={}", on_off(*b)),
            L3Cache(b) => write!(f, "l3-cache={}", on_off(*b)),
            HostCacheInfo(b) => write!(f, "host-cache-info={}", on_off(*b)),
            HostPhysBits(b) => write!(f, "host-phys-bits={}", on_off(*b)),
            HostPhysBitsLimit(n) => write!(f, "host-phys-bits-limit={n}"),
            PhysBits(n) => write!(f, "phys-bits={n}"),
        }
    }
}

/// The properties `qemuBuildCpuCommandLine` of release `version` appends after the model part
/// for the started CPU `cpu` of a domain with settings `d` (x86, QEMU with `host-cache-info`).
pub fn cpu_properties(version: LibvirtVersion, cpu: &CpuDef, d: &DomainFeatures) -> Vec<CpuProperty> {
    use CpuProperty::*;
    let mut out = Vec::new();
    // The timers in document order.
    for &(t, present) in &d.timers {
        match t {
            PvTimer::Kvmclock => out.push(Kvmclock(present)),
            PvTimer::Hypervclock if present => out.push(HvTime),
            PvTimer::Hypervclock => {}
        }
    }
    if let Some(eoi) = d.apic_eoi {
        out.push(KvmPvEoi(eoi));
    }
    if let Some(p) = d.pvspinlock {
        out.push(KvmPvUnhalt(p));
    }
    if let Some(h) = &d.hyperv {
        // 9.0.0 writes the enlightenments after `hv-passthrough=on` too; 11.3.0 and later write
        // `hv-passthrough=on` alone.
        let features = match h.mode {
            HypervMode::Passthrough => {
                out.push(HvPassthrough);
                !version.at_least_11_3()
            }
            HypervMode::Custom | HypervMode::HostModel => true,
        };
        for &(f, on) in h.states.iter().filter(|_| features) {
            if !on {
                continue;
            }
            out.push(match f {
                HypervFeature::Spinlocks => HvSpinlocks(h.spinlock_retries),
                HypervFeature::VendorId => HvVendorId(h.vendor_id.clone().unwrap_or_default()),
                _ => Hyperv(f),
            });
            if f == HypervFeature::Stimer && h.stimer_direct == Some(true) {
                out.push(HvStimerDirect);
            }
            if f == HypervFeature::Tlbflush {
                if h.tlbflush_direct == Some(true) {
                    out.push(HvTlbflushDirect);
                }
                if h.tlbflush_extended == Some(true) {
                    out.push(HvTlbflushExt);
                }
            }
        }
    }
    if d.hyperv_panic {
        out.push(HvCrash { with_value: version >= LibvirtVersion::V12_9_0 });
    }
    if let Some(kvm) = &d.kvm {
        for &(f, on) in kvm {
            match (f, on) {
                (KvmFeature::Hidden, true) => out.push(KvmHidden),
                (KvmFeature::HintDedicated, true) => out.push(KvmHintDedicated),
                (KvmFeature::PollControl, true) => out.push(KvmPollControl),
                (KvmFeature::PvIpi, false) => out.push(KvmPvIpiOff),
                _ => {}
            }
        }
    }
    if let Some(p) = d.pmu {
        out.push(Pmu(p));
    }
    let host_like = matches!(cpu.mode, CpuMode::HostPassthrough | CpuMode::Maximum);
    if let Some(c) = &cpu.cache {
        match c.mode {
            CacheMode::Emulate => {
                out.push(L3Cache(true));
                if host_like {
                    out.push(HostCacheInfo(false));
                }
            }
            CacheMode::Passthrough => out.extend([HostCacheInfo(true), L3Cache(false)]),
            CacheMode::Disable => {
                if host_like {
                    out.push(HostCacheInfo(false));
                }
                out.push(L3Cache(false));
            }
        }
    }
    if let Some(a) = &cpu.maxphysaddr {
        match a.mode {
            MaxPhysAddrMode::Passthrough => {
                out.push(HostPhysBits(true));
                if let Some(l) = a.limit.filter(|&l| l > 0) {
                    out.push(HostPhysBitsLimit(l));
                }
            }
            // 9.0.0 writes any given `bits` (0 included; validation requires one); 11.3.0 and
            // later write `phys-bits=N` for N > 0 and `host-phys-bits=off` otherwise.
            MaxPhysAddrMode::Emulate => match a.bits {
                Some(b) if !version.at_least_11_3() => out.push(PhysBits(b)),
                Some(b) if b > 0 => out.push(PhysBits(b)),
                _ if version.at_least_11_3() => out.push(HostPhysBits(false)),
                _ => {}
            },
        }
    }
    out
}
