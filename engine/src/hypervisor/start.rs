//! The QEMU driver's start path for a guest CPU (spec §4.1-§4.3): the defaults applied when the
//! domain XML is parsed (`qemuDomainDefCPUPostParse`, `qemuDomainDefSetDefaultCPU`), the
//! feature-name validation (`virCPUValidateFeatures`), `qemuProcessUpdateGuestCPU` (mode support,
//! forbidden features against FULL, `check='partial'`, update against MIGRATABLE, translation,
//! the filtered features) and what the command line leaves out; before them, what
//! `qemuValidateDomainDef` checks of the CPU's cache and address size and (12.9.0) of the
//! Hyper-V enlightenments; after them, the rest of the `-cpu` argument the domain's settings
//! give ([`super::command_line`]). x86 only.

use super::command_line::{cpu_properties, CpuProperty};
use super::{plain_compare, ErrorCode, Hypervisor, LibvirtError, NeedsCache};
use crate::cpu::{CacheMode, CpuCheck, CpuDef, CpuMatch, CpuMode, CpuType, Fallback, MaxPhysAddrMode, Policy};
use crate::domain::{DomainFeatures, HypervFeature, HypervMode, PvTimer};
use crate::map::X86Map;
use crate::version::LibvirtVersion;
use crate::x86::{self, Verdict};

/// QEMU's default CPU of the x86 `pc` and `q35` machine types (`default-cpu-type`
/// `qemu64-x86_64-cpu`), used for a domain without a CPU model (§4.1).
pub const DEFAULT_X86_MODEL: &str = "qemu64";

/// How the domain starts: `VIR_QEMU_PROCESS_START_NEW` set (a fresh start: `virsh start`,
/// `create`, `domxml-to-native`) or not (an incoming migration, a restore, a snapshot revert).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartKind {
    Fresh,
    Incoming,
}

/// A guest CPU after the start path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedCpu {
    /// The domain's CPU definition as the QEMU driver keeps it.
    pub cpu: CpuDef,
    /// The CPU QEMU's `-cpu` argument is built from: `cpu`, except that libvirt 11.3.0 leaves
    /// disabled features QEMU does not know off the command line (9.0.0 already dropped them
    /// from the definition).
    pub command_line: CpuDef,
    /// What `-cpu` has after `command_line`'s model and features, in libvirt's order.
    pub properties: Vec<CpuProperty>,
    /// Set when the view lacks what the answer rests on (the translation decoded against a QEMU
    /// list whose blockers domcapabilities does not name).
    pub needs_cache: Option<NeedsCache>,
}

impl Hypervisor {
    /// The guest CPU `guest` (a domain's `<cpu>`; custom without a model for a domain without
    /// one) of a domain with the settings `domain` as the QEMU driver starts it on this
    /// hypervisor, or the error it gives.
    pub fn start(
        &self,
        map: &X86Map,
        guest: &CpuDef,
        domain: &DomainFeatures,
        kind: StartKind,
    ) -> Result<StartedCpu, LibvirtError> {
        self.require_x86("starting a domain")?;
        let mut cpu = self.post_parse(guest)?;
        validate_domain(map.version(), &cpu, domain)?;
        validate_features(map, &cpu)?;
        let needs_cache = self.update_guest_cpu(map, &mut cpu, kind)?;
        // libvirt 11.3.0, at the end of `qemuProcessUpdateGuestCPU` (every mode): toggling
        // deprecated features needs QEMU's `deprecated-props` in CPU model expansion, which only
        // s390x QEMU reports (spec §4.3 and delta 7); on x86 the attribute is an error.
        if map.version().at_least_11_3() && cpu.deprecated_features.is_some() {
            return Err(LibvirtError::new(
                ErrorCode::ConfigUnsupported,
                "toggling deprecated features for CPU model is unsupported",
            ));
        }
        let mut command_line = cpu.clone();
        if map.version().at_least_11_3() {
            self.drop_unknown_disabled(map, &mut command_line);
        } else {
            self.drop_unknown_disabled(map, &mut cpu);
            command_line = cpu.clone();
        }
        let properties = cpu_properties(map.version(), &command_line, domain);
        Ok(StartedCpu { cpu, command_line, properties, needs_cache })
    }

    /// §4.1: the default CPU, `check`'s default, host-passthrough's `migratable='on'`.
    fn post_parse(&self, guest: &CpuDef) -> Result<CpuDef, LibvirtError> {
        let mut cpu = guest.clone();
        cpu.cpu_type = CpuType::Guest;
        if cpu.mode == CpuMode::Custom && cpu.model.is_none() {
            if !cpu.features.is_empty() {
                return Err(LibvirtError::new(
                    ErrorCode::XmlError,
                    "Non-empty feature list specified without CPU model",
                ));
            }
            cpu.model = Some(DEFAULT_X86_MODEL.to_string());
            cpu.match_ = CpuMatch::Exact;
            cpu.fallback = Fallback::Forbid;
            cpu.check = Some(CpuCheck::None);
        }
        if cpu.check.is_none() {
            cpu.check = Some(match cpu.mode {
                CpuMode::HostPassthrough | CpuMode::Maximum => CpuCheck::None,
                CpuMode::HostModel => CpuCheck::Partial,
                CpuMode::Custom if self.accel == super::Accel::Tcg => CpuCheck::None,
                CpuMode::Custom => CpuCheck::Partial,
            });
        }
        if cpu.mode == CpuMode::HostPassthrough && cpu.migratable.is_none() {
            cpu.migratable = Some(true);
        }
        Ok(cpu)
    }

    /// `virQEMUCapsIsCPUModeSupported`.
    fn mode_supported(&self, mode: CpuMode) -> bool {
        match mode {
            CpuMode::HostPassthrough => self.host_passthrough,
            CpuMode::HostModel => self.reported.is_some(),
            CpuMode::Custom => !self.models.is_empty(),
            CpuMode::Maximum => self.maximum,
        }
    }

    /// MIGRATABLE (§1.3): REPORTED without what QEMU marks non-migratable (invtsc); without
    /// QEMU's migratability info, libvirt's own filter (`virCPUCopyMigratable`).
    pub fn migratable_cpu(&self, map: &X86Map) -> Option<CpuDef> {
        let r = self.reported.as_ref()?;
        if !self.migratability {
            return Some(x86::copy_migratable(map, r));
        }
        let mut m = r.clone();
        match &self.qemu_features {
            Some((_, non_migratable)) => {
                m.features.retain(|f| map.feature_id(&f.name).is_none_or(|id| !non_migratable.contains(id)))
            }
            None => m.features.retain(|f| f.name != "invtsc"),
        }
        Some(m)
    }

    /// The host CPU the start checks use: FULL on KVM (REPORTED when FULL is unknown, as
    /// `virQEMUCapsGetHostModel` does without one), REPORTED on TCG.
    pub fn start_check_host(&self) -> Option<&CpuDef> {
        match self.accel {
            super::Accel::Kvm => self.full.as_ref().or(self.reported.as_ref()),
            super::Accel::Tcg => self.reported.as_ref(),
        }
    }

    /// `qemuProcessUpdateGuestCPU` (§4.3). Returns what the translation needed and the view
    /// lacks, if anything (see [`Hypervisor::baseline_checked`] for the check).
    fn update_guest_cpu(
        &self,
        map: &X86Map,
        cpu: &mut CpuDef,
        kind: StartKind,
    ) -> Result<Option<NeedsCache>, LibvirtError> {
        if kind == StartKind::Incoming && cpu.mode == CpuMode::HostModel && cpu.model.is_some() {
            cpu.mode = CpuMode::Custom;
        }
        if !self.mode_supported(cpu.mode) {
            return Err(LibvirtError::new(
                ErrorCode::ConfigUnsupported,
                format!(
                    "CPU mode '{}' for {arch} {} domain on {arch} host is not supported by hypervisor",
                    cpu.mode,
                    self.accel.virttype(),
                    arch = self.arch
                ),
            ));
        }
        let host = self.start_check_host();
        if cpu.check != Some(CpuCheck::None) {
            for f in cpu.features.iter().filter(|f| f.policy == Some(Policy::Forbid)) {
                let provided = host.and_then(|h| h.feature(&f.name)).is_some_and(|h| h.policy != Some(Policy::Disable));
                if provided {
                    let m = format!("Host CPU provides forbidden feature '{}'", f.name);
                    return Err(LibvirtError::new(ErrorCode::CpuIncompatible, m));
                }
            }
        }
        if matches!(cpu.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
            super::qemu_filter_features(map.version(), cpu);
            return Ok(None);
        }
        if let (Some(CpuCheck::Partial), Some(host)) = (cpu.check, host) {
            let r = if map.version().at_least_11_3() {
                self.check_cpu(map, cpu, host)?
            } else {
                plain_compare(map, host, cpu)?
            };
            if r.verdict == Verdict::Incompatible {
                let message = r.message.unwrap_or_default();
                return Err(LibvirtError { code: ErrorCode::CpuIncompatible, message, needs_cache: r.needs_cache });
            }
        }
        let cpu_err = |e| LibvirtError::from_cpu(e, &[]);
        let removed = match kind {
            StartKind::Fresh => Policy::Disable,
            StartKind::Incoming => Policy::Require,
        };
        let migratable = self.migratable_cpu(map);
        x86::update_with(map, cpu, migratable.as_ref(), removed).map_err(cpu_err)?;
        // Translation decodes against the QEMU list only for a model QEMU does not list; then
        // blockers this view lacks may matter: the answer must not change without the models
        // that may have them.
        let listed = cpu.model.as_ref().is_some_and(|m| self.models.iter().any(|e| e.name == *m));
        let needs_cache = match self.unknown_blockers() && !listed {
            true => {
                let mut other = cpu.clone();
                let usable = self.usable_models();
                let a = x86::translate(map, &mut other, Some(&usable));
                let mut mine = cpu.clone();
                let b = x86::translate(map, &mut mine, Some(&self.models));
                (a != b || other != mine).then_some(NeedsCache::Blockers)
            }
            false => None,
        };
        x86::translate(map, cpu, Some(&self.models))
            .map_err(|e| LibvirtError { needs_cache: needs_cache.clone(), ..cpu_err(e) })?;
        cpu.fallback = Fallback::Forbid;
        super::qemu_filter_features(map.version(), cpu);
        Ok(needs_cache)
    }

    /// Disabled (or forbidden) features QEMU has no property for: 9.0.0 drops them from the
    /// definition, 11.3.0 leaves them off the command line.
    fn drop_unknown_disabled(&self, map: &X86Map, cpu: &mut CpuDef) {
        let known = self.qemu_feature_set(map, false);
        cpu.features.retain(|f| {
            let off = matches!(f.policy, Some(Policy::Disable) | Some(Policy::Forbid));
            !off || map.feature_id(&f.name).is_none_or(|id| known.contains(id))
        });
    }
}

/// `virCPUValidateFeatures` (§4.2): every feature must be known to the map. The KVM and Hyper-V
/// pseudo-features (`hv-relaxed`, `kvm_pv_unhalt`, ...) are not map features: a domain asks for
/// them in `<features>`, and in `<cpu>` every release refuses them ("unknown CPU feature:
/// hv-relaxed").
fn validate_features(x: &X86Map, cpu: &CpuDef) -> Result<(), LibvirtError> {
    match cpu.features.iter().find(|f| x.feature_id(&f.name).is_none()) {
        Some(f) => Err(LibvirtError::new(ErrorCode::ConfigUnsupported, format!("unknown CPU feature: {}", f.name))),
        None => Ok(()),
    }
}

fn unsupported(message: String) -> LibvirtError {
    LibvirtError::new(ErrorCode::ConfigUnsupported, message)
}

/// What `qemuValidateDomainDef` checks before a start, in its order: the `<cpu>`'s maximum
/// physical address size and cache (`qemuValidateDomainDefCpu`), then, from libvirt 12.9.0, the
/// dependencies between Hyper-V enlightenments (not in passthrough mode). Same texts in every
/// release that has the check.
fn validate_domain(version: LibvirtVersion, cpu: &CpuDef, d: &DomainFeatures) -> Result<(), LibvirtError> {
    if let Some(a) = &cpu.maxphysaddr {
        match (a.mode, a.bits) {
            (MaxPhysAddrMode::Passthrough, Some(_)) => {
                return Err(unsupported(
                    "CPU maximum physical address bits number specification cannot be used with mode='passthrough'"
                        .into(),
                ))
            }
            // 9.0.0 only: 11.3.0 takes emulate without bits as `host-phys-bits=off`.
            (MaxPhysAddrMode::Emulate, None) if !version.at_least_11_3() => {
                return Err(unsupported(
                    "if using CPU maximum physical address mode='emulate', bits= must be specified too".into(),
                ))
            }
            _ => {}
        }
    }
    if let Some(c) = &cpu.cache {
        let host_like = matches!(cpu.mode, CpuMode::HostPassthrough | CpuMode::Maximum);
        match c.mode {
            CacheMode::Emulate if c.level != Some(3) => {
                return Err(unsupported("CPU cache mode 'emulate' can only be used with level='3'".into()))
            }
            CacheMode::Passthrough if !host_like => {
                return Err(unsupported(
                    "CPU cache mode 'passthrough' can only be used with 'host-passthrough' / 'maximum' CPUs".into(),
                ))
            }
            CacheMode::Passthrough | CacheMode::Disable if c.level.is_some() => {
                return Err(unsupported(format!("unsupported CPU cache level for mode '{}'", c.mode)))
            }
            _ => {}
        }
    }
    match &d.hyperv {
        Some(h) if version >= LibvirtVersion::V12_9_0 && h.mode != HypervMode::Passthrough => {
            let requires = |f: HypervFeature, g: HypervFeature| {
                unsupported(format!("'{}' hyperv feature requires '{}' feature", f.as_str(), g.as_str()))
            };
            for &(f, on) in &h.states {
                if !on {
                    continue;
                }
                match f {
                    HypervFeature::Stimer if !d.timer_present(PvTimer::Hypervclock) => {
                        return Err(unsupported("'stimer' hyperv feature requires 'hypervclock' timer".into()))
                    }
                    HypervFeature::Stimer if !h.is_on(HypervFeature::Synic) => {
                        return Err(requires(f, HypervFeature::Synic))
                    }
                    HypervFeature::Tlbflush | HypervFeature::Ipi if !h.is_on(HypervFeature::Vpindex) => {
                        return Err(requires(f, HypervFeature::Vpindex))
                    }
                    HypervFeature::Evmcs if !h.is_on(HypervFeature::Vapic) => {
                        return Err(requires(f, HypervFeature::Vapic))
                    }
                    _ => {}
                }
            }
            if h.is_on(HypervFeature::Tlbflush) && h.tlbflush_direct == Some(true) && !h.is_on(HypervFeature::Vapic) {
                return Err(unsupported("'hv-tlbflush-direct' hyperv feature requires 'vapic' feature".into()));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
