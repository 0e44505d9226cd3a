//! The QEMU driver's view of one host ("the hypervisor"), as data, and the QEMU driver's CPU
//! operations on it: `virConnectCompareHypervisorCPU`, `virConnectBaselineHypervisorCPU`, the
//! plain `virConnectBaselineCPU` feature filter and the start path. The specification is
//! `../shared/specs/qemu-driver-cpu.md` (§ numbers below are its sections).
//!
//! A [`Hypervisor`] is built from a `virsh domcapabilities` document (REPORTED = its host-model
//! CPU, the QEMU model list), optionally completed by libvirt's QEMU capabilities cache (the
//! blockers libvirt 9.0.0's domcapabilities lack, the exact QEMU feature-name list) and by a
//! `virsh capabilities` document (the FULL host CPU the start path checks against). Pure: the
//! caller reads the files.

pub mod command_line;
mod error;
mod filter;
mod qemu_caps;
mod qemu_names;
mod start;

pub use command_line::{cpu_properties, CpuProperty};
pub use error::{host_input_warning, ErrorCode, LibvirtError, NeedsCache, HOST_INPUT_WARNING};
pub use filter::{
    from_qemu, is_filtered, qemu_driver_baseline, qemu_driver_baseline_finish, qemu_filter_features, to_qemu,
};
pub use qemu_caps::{parse_qemu_caps, QemuCaps, QemuProp};
pub use qemu_names::{distribution_qemu, known_qemu_versions, QemuNames, QemuVersion};
pub use start::{StartKind, StartedCpu, DEFAULT_X86_MODEL};

use crate::cpu::{CpuDef, Fallback, MaxPhysAddr, MaxPhysAddrMode, Policy};
use crate::error::{CpuError, Pos, XmlError, XmlErrorKind};
use crate::features::FeatureSet;
use crate::map::{CpuMap, X86Map};
use crate::ops::Arch;
use crate::version::LibvirtVersion;
use crate::x86::{self, BaselineAcc, BaselineInput, Comparison, Verdict, X86Data};
use crate::xml::{self, DocKind, Limits, ModelListEntry, TypeHint};
use std::sync::Arc;

/// The accelerator a hypervisor view belongs to (libvirt keeps one per accelerator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Accel {
    Kvm,
    /// TCG, virttype `qemu`.
    Tcg,
}

impl Accel {
    /// The virttype name (`virsh --virttype`, domcapabilities `<domain>`).
    pub fn virttype(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "qemu",
        }
    }
    /// From a virttype name.
    pub fn parse(virttype: &str) -> Option<Accel> {
        match virttype {
            "kvm" => Some(Accel::Kvm),
            "qemu" => Some(Accel::Tcg),
            _ => None,
        }
    }
    /// The `type` of the cache's `<hostCPU>` / `<cpu>` elements.
    pub fn cache_type(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// A hypervisor compare's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HvComparison {
    pub verdict: Verdict,
    /// Why it is incompatible, as libvirt words it (what `--error` reports).
    pub message: Option<String>,
    /// Set when the answer was computed without QEMU's capabilities cache and rests on what
    /// only the cache has.
    pub needs_cache: Option<NeedsCache>,
}

/// One host's hypervisor (one accelerator of one QEMU binary), as libvirt's QEMU driver sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hypervisor {
    version: LibvirtVersion,
    pub arch: String,
    pub accel: Accel,
    /// The QEMU binary (`<path>`), as libvirt names it in messages.
    pub emulator: String,
    /// REPORTED (§1.2): domcapabilities' host-model CPU as a guest CPU (mode custom, match
    /// exact); None when host-model is not supported.
    pub reported: Option<CpuDef>,
    /// The QEMU model list: the cache's whole list when given, else domcapabilities' custom
    /// models (QEMU's list ∩ the map), with blockers where known.
    /// Shared, not copied, between the views made from one [`Hypervisor::kvm_base`].
    pub models: Arc<[ModelListEntry]>,
    /// Whether the models carry QEMU's blockers (11.3.0 domcapabilities, or a cache).
    pub blockers_known: bool,
    /// QEMU's feature-name list from a cache: (every property, those marked non-migratable),
    /// as map features. None: approximated (§1.3).
    qemu_features: Option<(FeatureSet, FeatureSet)>,
    /// QEMU gave migratability info (always true without a cache: QEMU ≥ 2.x).
    migratability: bool,
    /// What QEMU can name, without a cache: the table's data of the QEMU version
    /// domcapabilities' machine type names (with a cache: unused).
    pub qemu: Arc<QemuNames>,
    /// Set when `qemu` is not that version's data (unknown version: the nearest one's).
    pub qemu_inexact: Option<NeedsCache>,
    /// Whether the models' blockers are in QEMU's order with QEMU's repeats (a cache), not sorted
    /// and de-duplicated (11.3.0 domcapabilities).
    blocker_order_known: bool,
    /// FULL (§1.2), KVM only, from a capabilities document.
    pub full: Option<CpuDef>,
    pub host_passthrough: bool,
    pub maximum: bool,
}

fn doc_error(bytes: &[u8], offset: usize, kind: XmlErrorKind, element: &str) -> XmlError {
    XmlError { pos: Pos::locate(bytes, offset), element: element.to_string(), kind }
}

impl Hypervisor {
    /// From a `virsh domcapabilities` document, read with the map's libvirt version.
    pub fn from_domcaps(map: &CpuMap, bytes: &[u8], limits: Limits) -> Result<Hypervisor, XmlError> {
        let version = map.version();
        let mut doc = xml::read_cpu_document(bytes, TypeHint::Auto, version, limits)?;
        let Some(info) = doc.domcaps.take().filter(|_| doc.kinds == [DocKind::DomainCapabilities]) else {
            let kind = XmlErrorKind::UnexpectedRoot {
                found: "(another document)".into(),
                expected: "exactly one <domainCapabilities> (virsh domcapabilities)",
            };
            return Err(doc_error(bytes, 0, kind, ""));
        };
        let missing = |what| doc_error(bytes, info.offset, XmlErrorKind::MissingElement(what), "domainCapabilities");
        let arch = info.arch.clone().ok_or_else(|| missing("arch"))?;
        let emulator = info.path.clone().ok_or_else(|| missing("path"))?;
        let domain = info.domain.clone().ok_or_else(|| missing("domain"))?;
        let accel = Accel::parse(&domain).ok_or_else(|| {
            let kind =
                XmlErrorKind::InvalidValue { attribute: "domain".into(), value: domain, expected: "kvm or qemu" };
            doc_error(bytes, info.offset, kind, "domainCapabilities")
        })?;
        let reported = doc.cpus.pop().map(|mut cpu| {
            // virsh sends the <mode> renamed to <cpu>, attributes dropped: mode custom.
            cpu.mode = crate::cpu::CpuMode::Custom;
            decode_order(&map.x86, &mut cpu);
            cpu
        });
        let models = doc.models.unwrap_or_default();
        let x = &map.x86;
        let wanted = info.machine.as_deref().and_then(QemuVersion::from_machine);
        let (mut qemu, qemu_inexact) = match wanted.and_then(|v| QemuNames::of(x, v)) {
            Some(q) => (q, None),
            None => {
                let q = QemuNames::nearest(x, wanted);
                let why = NeedsCache::QemuVersion { machine: info.machine.clone(), nearest: q.version };
                (q, Some(why))
            }
        };
        // What domcapabilities itself shows QEMU to have: the host-model's required features
        // (QEMU reported them) and the blockers (QEMU's own names). A known version's data has
        // them all already; for an unknown one they complete the nearest version's.
        let shown = reported.iter().flat_map(|r| r.features.iter().filter(|f| f.policy == Some(Policy::Require)));
        for name in
            shown.map(|f| f.name.as_str()).chain(models.iter().flat_map(|m| m.blockers.iter().map(String::as_str)))
        {
            if let Some(id) = x.feature_id(name) {
                qemu.features.insert(id);
            }
        }
        Ok(Hypervisor {
            version,
            arch,
            accel,
            emulator,
            reported,
            models: models.into(),
            blockers_known: version.at_least_11_3(),
            qemu_features: None,
            migratability: true,
            qemu: Arc::new(qemu),
            qemu_inexact,
            blocker_order_known: false,
            full: None,
            host_passthrough: info.host_passthrough,
            maximum: info.maximum,
        })
    }

    /// Completes the view with libvirt's QEMU capabilities cache of the same QEMU binary: the
    /// whole QEMU model list with blockers, and the exact QEMU feature-name list.
    pub fn with_qemu_caps(mut self, map: &CpuMap, bytes: &[u8], limits: Limits) -> Result<Hypervisor, XmlError> {
        let caps = parse_qemu_caps(bytes, self.accel, &self.arch, self.version, limits)?;
        let (mut all, mut non_migratable) = (FeatureSet::new(), FeatureSet::new());
        for p in &caps.props {
            if let Some(id) = map.x86.feature_id(&p.name) {
                all.insert(id);
                if p.migratable == Some(false) {
                    non_migratable.insert(id);
                }
            }
        }
        self.qemu_features = Some((all, non_migratable));
        self.migratability = caps.migratability;
        self.models = caps.models.into();
        self.blockers_known = true;
        self.blocker_order_known = true;
        self.qemu_inexact = None;
        Ok(self)
    }

    /// Completes the view with the host's `virsh capabilities` document: FULL (§1.3), for KVM.
    pub fn with_capabilities(self, map: &CpuMap, bytes: &[u8], limits: Limits) -> Result<Hypervisor, XmlError> {
        let doc = xml::read_cpu_document(bytes, TypeHint::Host, self.version, limits)?;
        let host = match (doc.kinds.as_slice(), doc.cpus.first()) {
            ([DocKind::Capabilities], Some(cpu)) => cpu,
            _ => {
                let kind = XmlErrorKind::UnexpectedRoot {
                    found: "(another document)".into(),
                    expected: "exactly one <capabilities> with a host CPU (virsh capabilities)",
                };
                return Err(doc_error(bytes, 0, kind, ""));
            }
        };
        let at = doc.spans.first().map_or(0, |s| s.offset);
        self.with_host_cpu(&map.x86, host)
            .map_err(|e| doc_error(bytes, at, XmlErrorKind::Invalid(format!("host CPU: {e}")), "cpu"))
    }

    /// Completes the view with the host CPU `virsh capabilities` reports (a parsed host CPU):
    /// FULL (§1.3), for KVM; unchanged for TCG.
    pub fn with_host_cpu(mut self, x: &X86Map, host: &CpuDef) -> Result<Hypervisor, CpuError> {
        if self.accel == Accel::Kvm {
            self.full = Some(full_cpu(x, host, self.reported.as_ref())?);
        }
        Ok(self)
    }

    /// A KVM hypervisor on x86_64 known only by its host-model CPU `reported` (REPORTED, a
    /// guest CPU as domcapabilities shows it) and, when given, the host's raw CPU as
    /// `virsh capabilities` reports it (for FULL, §1.3): what a simulated host's QEMU/KVM offers
    /// (§5.1). Its QEMU is the one the release ships with ([`distribution_qemu`]: its feature
    /// properties), taken to know every model of the map (usability and blockers unknown, as
    /// libvirt 9.0.0's domcapabilities) and to give migratability info.
    pub fn kvm_with_host_model(
        x: &X86Map,
        reported: CpuDef,
        caps_host: Option<&CpuDef>,
    ) -> Result<Hypervisor, CpuError> {
        Hypervisor::kvm_base(x).with_host_model(x, reported, caps_host)
    }

    /// What every [`Hypervisor::kvm_with_host_model`] of `x` has in common, before its host:
    /// the release's QEMU and model list. Views made from one base with
    /// [`Hypervisor::with_host_model`] share its tables instead of copying them (a fleet of
    /// thousands of distinct CPUs holds one model list, not thousands).
    pub fn kvm_base(x: &X86Map) -> Hypervisor {
        let qemu_version = distribution_qemu(x.version());
        let qemu = QemuNames::of(x, qemu_version).unwrap_or_else(|| QemuNames::nearest(x, Some(qemu_version)));
        Hypervisor {
            version: x.version(),
            arch: "x86_64".into(),
            accel: Accel::Kvm,
            emulator: "/usr/bin/qemu-system-x86_64".into(),
            reported: None,
            models: x.models.iter().map(|m| ModelListEntry::named(&m.name)).collect(),
            blockers_known: false,
            qemu_features: None,
            migratability: true,
            qemu: Arc::new(qemu),
            qemu_inexact: None,
            blocker_order_known: false,
            full: None,
            host_passthrough: true,
            maximum: true,
        }
    }

    /// This base ([`Hypervisor::kvm_base`] of `x`) on a host: REPORTED and, when given, FULL
    /// from the host's raw CPU, as [`Hypervisor::kvm_with_host_model`].
    pub fn with_host_model(
        &self,
        x: &X86Map,
        reported: CpuDef,
        caps_host: Option<&CpuDef>,
    ) -> Result<Hypervisor, CpuError> {
        let full = caps_host.map(|h| full_cpu(x, h, Some(&reported))).transpose()?;
        Ok(Hypervisor { reported: Some(reported), full, ..self.clone() })
    }

    pub fn version(&self) -> LibvirtVersion {
        self.version
    }

    /// The host-model CPU as a host CPU with the document's arch: what an inventory takes as
    /// the host (the CPU QEMU/KVM offers guests). A host CPU cannot disable features, so the
    /// host-model's data (model + required − disabled) is decoded as a host CPU (pack §4.3).
    /// None without a host-model.
    pub fn host_model_as_host(&self, map: &CpuMap) -> Result<Option<CpuDef>, CpuError> {
        let Some(r) = &self.reported else { return Ok(None) };
        let x = &map.x86;
        let md = x86::model_from_cpu(x, r, x86::Sel::All)?;
        let vendor = r.vendor.as_deref().and_then(|v| x.vendor_index(v));
        let mut host = x86::decode_host(x, &X86Data { features: md.features, vendor, signature: 0 })?;
        host.arch = Some(self.arch.clone());
        Ok(Some(host))
    }

    /// `virQEMUCapsGetHostModel(REPORTED)` for the hypervisor APIs (§2.2): an error when there
    /// is none or it is not QEMU's (`fallback='allow'`).
    fn reported_for_api(&self) -> Result<&CpuDef, LibvirtError> {
        match &self.reported {
            Some(r) if r.fallback == Fallback::Forbid => Ok(r),
            _ => Err(LibvirtError::new(
                ErrorCode::OperationUnsupported,
                format!(
                    "QEMU '{}' does not support reporting CPU model for virttype '{}'",
                    self.emulator,
                    self.accel.virttype()
                ),
            )),
        }
    }

    fn require_x86(&self, what: &str) -> Result<(), LibvirtError> {
        if Arch::is_x86(&self.arch) {
            return Ok(());
        }
        Err(LibvirtError::new(
            ErrorCode::OperationUnsupported,
            format!("{what} with the hypervisor CPU is not supported for arch {}", self.arch),
        ))
    }

    /// QEMU's feature-name list as map features (§1.3, §3.2 `virQEMUCapsGetCPUFeatures`), without
    /// the non-migratable ones when `migratable`.
    pub fn qemu_feature_set(&self, x: &X86Map, migratable: bool) -> FeatureSet {
        match &self.qemu_features {
            Some((all, non_migratable)) if migratable => all.difference(non_migratable),
            Some((all, _)) => *all,
            None => {
                let mut f = self.qemu.features;
                // QEMU marks only invtsc non-migratable, on KVM hosts that have it.
                let has_invtsc = self.reported.as_ref().is_some_and(|r| {
                    r.features.iter().any(|f| f.name == "invtsc" && f.effective_policy() == Policy::Require)
                });
                if migratable && self.accel == Accel::Kvm && has_invtsc {
                    if let Some(id) = x.feature_id("invtsc") {
                        f.remove(id);
                    }
                }
                f
            }
        }
    }

    /// `virConnectCompareHypervisorCPU` (§2): 9.0.0 compares with REPORTED; 11.3.0 runs
    /// `qemuDomainCheckCPU` with REPORTED as the compat host. `fail_incompatible`: virsh
    /// `--error`, an incompatible CPU is an error naming why.
    pub fn compare(&self, map: &CpuMap, cpu: &CpuDef, fail_incompatible: bool) -> Result<HvComparison, LibvirtError> {
        let r = self.reported_for_api()?;
        self.require_x86("comparing")?;
        let x = &map.x86;
        let out = if self.version.at_least_11_3() { self.check_cpu(x, cpu, r)? } else { plain_compare(x, r, cpu)? };
        match (&out.message, fail_incompatible) {
            (Some(m), true) if out.verdict == Verdict::Incompatible => {
                Err(LibvirtError { code: ErrorCode::CpuIncompatible, message: m.clone(), needs_cache: out.needs_cache })
            }
            _ => Ok(out),
        }
    }

    /// 11.3.0's `qemuDomainCheckCPU(arch, virttype, caps, cpu, compat_host)` (§2.4): the usable
    /// shortcut, then a plain compare for models with the compat flag (or unknown to QEMU), else
    /// `virCPUCompareUnusable` with REPORTED and the model's blockers.
    ///
    /// From domcapabilities alone the QEMU list holds only models of the map; whether QEMU lists
    /// a model the map lacks (`max`, `host`, `base`, …) comes from the table of QEMU versions
    /// ([`QemuNames`]), and whether it is usable from QEMU's own rule for them (`host` needs an
    /// accelerator, KVM here; the others are usable), with [`NeedsCache::ModelUsable`] saying so.
    pub fn check_cpu(&self, map: &X86Map, cpu: &CpuDef, compat_host: &CpuDef) -> Result<HvComparison, LibvirtError> {
        let entry = cpu.model.as_ref().and_then(|m| self.models.iter().find(|e| e.name == *m));
        let only_disabled = cpu.features.iter().all(|f| f.policy == Some(Policy::Disable));
        // A model QEMU lists that the map lacks, known from the QEMU table (no cache).
        let table_model = match (entry, &cpu.model) {
            (None, Some(m)) if self.qemu_features.is_none() && map.model(m).is_none() && self.qemu.has_model(m) => {
                Some(m.as_str())
            }
            _ => None,
        };
        // Unknown QEMU version: whatever rests on the table rests on the nearest version's.
        let version_caveat = match (&self.qemu_inexact, &cpu.model) {
            (Some(why), Some(m)) if map.model(m).is_none() => Some(why.clone()),
            _ => None,
        };
        let usable = match (entry, table_model) {
            (Some(e), _) => e.usable == Some(true),
            (None, Some(m)) => m != "host" || self.accel == Accel::Kvm,
            (None, None) => false,
        };
        let usability_caveat = table_model
            .filter(|_| only_disabled)
            .map(|m| version_caveat.clone().unwrap_or(NeedsCache::ModelUsable { model: m.to_string() }));
        if usable && only_disabled {
            return Ok(HvComparison { verdict: Verdict::Superset, message: None, needs_cache: usability_caveat });
        }
        let hv = self.reported.as_ref().filter(|r| r.fallback == Fallback::Forbid);
        let listed = entry.map(|e| e.name.as_str()).or(table_model);
        let compat = match (listed, hv) {
            (Some(name), Some(_)) => match map.model(name) {
                Some(m) => m.compat_check,
                // `virCPUGetCheckMode` → `x86ModelFind` fails (`virCPUx86GetCheckMode`).
                None => {
                    return Err(LibvirtError {
                        code: ErrorCode::InvalidArg,
                        message: format!("unknown CPU model {name}"),
                        needs_cache: usability_caveat,
                    })
                }
            },
            _ => true,
        };
        let mut out = match (compat, entry, hv) {
            (false, Some(e), Some(hv)) => {
                let mut out = compare_unusable(map, hv, cpu, &e.blockers)?;
                if !self.blocker_order_known && out.message.is_some() && e.blockers.iter().any(|b| !disables(cpu, b)) {
                    out.needs_cache = Some(NeedsCache::BlockerOrder { model: e.name.clone() });
                }
                out
            }
            _ => plain_compare(map, compat_host, cpu).map_err(|mut e| {
                e.needs_cache = version_caveat.clone();
                e
            })?,
        };
        out.needs_cache = out.needs_cache.or(version_caveat);
        Ok(out)
    }

    /// Whether answers that decode against the QEMU list can depend on blockers this view lacks:
    /// libvirt 9.0.0's domcapabilities marks models unusable but names no blockers.
    fn unknown_blockers(&self) -> bool {
        !self.blockers_known && self.models.iter().any(|m| m.usable != Some(true))
    }

    /// The QEMU list without the models that may have blockers (those not usable).
    fn usable_models(&self) -> Vec<ModelListEntry> {
        self.models.iter().filter(|m| m.usable == Some(true)).cloned().collect()
    }

    /// `virConnectBaselineHypervisorCPU` (§3.2, 11.3.0's maxphysaddr §3.3).
    pub fn baseline(
        &self,
        map: &X86Map,
        cpus: &[CpuDef],
        expand: bool,
        migratable: bool,
    ) -> Result<CpuDef, LibvirtError> {
        self.baseline_checked(map, cpus, expand, migratable, false).map(|(cpu, _)| cpu)
    }

    /// The model and features of [`Hypervisor::baseline`] (`--migratable` as `migratable`) from
    /// an accumulator of the host CPUs, before expansion and `maxphysaddr`: what an explanation
    /// of a hypervisor baseline runs again without some of the hosts
    /// (`x86::explain::explain_with`).
    pub fn baseline_finish(&self, map: &X86Map, acc: &BaselineAcc, migratable: bool) -> Result<CpuDef, CpuError> {
        let mut out = self.finish_among(map, acc, migratable, &self.models)?;
        out.fallback = Fallback::Forbid;
        Ok(out)
    }

    /// The decode of a hypervisor baseline among `models`.
    fn finish_among(
        &self,
        map: &X86Map,
        acc: &BaselineAcc,
        migratable: bool,
        models: &[ModelListEntry],
    ) -> Result<CpuDef, CpuError> {
        let features = self.qemu_feature_set(map, migratable);
        // With QEMU's migratability info libvirt's own non-migratable filter is skipped.
        let own_filter = migratable && !self.migratability;
        acc.finish_with(map, own_filter, Some(models), Some(&features))
    }

    /// [`Hypervisor::baseline`], and with `check` whether the answer rests on blockers this view
    /// lacks (libvirt 9.0.0 domcapabilities alone): the decode sees every unusable model with no
    /// blockers; the same decode without those models at all is the other extreme (QEMU's real
    /// blockers make a candidate only worse, never better). When both give the same answer, the
    /// blockers cannot change it; otherwise it is marked [`NeedsCache::Blockers`] (on the CPU's
    /// answer, or on the error).
    pub fn baseline_checked(
        &self,
        map: &X86Map,
        cpus: &[CpuDef],
        expand: bool,
        migratable: bool,
        check: bool,
    ) -> Result<(CpuDef, Option<NeedsCache>), LibvirtError> {
        if self.models.is_empty() {
            return Err(LibvirtError::new(
                ErrorCode::OperationUnsupported,
                format!(
                    "QEMU '{}' does not support any CPU models for virttype '{}'",
                    self.emulator,
                    self.accel.virttype()
                ),
            ));
        }
        self.require_x86("computing baseline")?;
        let err = |e| LibvirtError::from_cpu(e, cpus);
        let first = cpus.first().ok_or(CpuError::NoCpus).map_err(err)?;
        if let Some(i) = cpus.iter().position(|c| c.model.is_none()) {
            return Err(err(CpuError::NoModelAt(i)));
        }
        let x = map;
        let mut acc = BaselineAcc::new(&BaselineInput::from_cpu(x, first, 0).map_err(err)?).map_err(err)?;
        for (i, cpu) in cpus.iter().enumerate().skip(1) {
            acc.add(x, &BaselineInput::from_cpu(x, cpu, i).map_err(err)?).map_err(err)?;
        }
        let answer = self.finish_among(x, &acc, migratable, &self.models);
        let needs_cache = match check && self.unknown_blockers() {
            true => {
                let usable = self.usable_models();
                let other = self.finish_among(x, &acc, migratable, &usable);
                (other != answer).then_some(NeedsCache::Blockers)
            }
            false => None,
        };
        let mut out = answer.map_err(|e| LibvirtError { needs_cache: needs_cache.clone(), ..err(e) })?;
        out.fallback = Fallback::Forbid;
        if expand {
            x86::expand_features(x, &mut out).map_err(err)?;
        }
        if self.version.at_least_11_3() {
            out.maxphysaddr = min_phys_limit(cpus).map(|limit| MaxPhysAddr {
                mode: MaxPhysAddrMode::Passthrough,
                bits: None,
                limit: Some(limit),
            });
        }
        Ok((out, needs_cache))
    }
}

/// REPORTED's features in the order its decode gave them (`x86Decode`: the required extras,
/// then the model's features QEMU lacks, each in map order, then the model's removed features in
/// the model's order), which is the order the start path writes them on the command line.
/// libvirt 9.0.0 and 11.3.0 show the host-model that way in domcapabilities; 12.9.0's
/// domcapabilities lists them sorted by name, so for 12.9.0 the order is rebuilt (a stable sort:
/// a name the map does not know keeps its place among the last).
fn decode_order(x: &X86Map, cpu: &mut CpuDef) {
    if x.version() < LibvirtVersion::V12_9_0 {
        return;
    }
    let removed: &[crate::features::FeatureId] =
        cpu.model.as_deref().and_then(|m| x.model(m)).map_or(&[], |m| m.removed.as_slice());
    cpu.features.sort_by_key(|f| {
        let id = x.feature_id(&f.name);
        let group = match (f.policy, id) {
            (Some(Policy::Disable), Some(i)) if removed.contains(&i) => 2,
            (Some(Policy::Disable), _) => 1,
            _ => 0,
        };
        let place = match (group, id) {
            (2, Some(i)) => removed.iter().position(|&r| r == i).unwrap_or(usize::MAX),
            (_, Some(i)) => i.index(),
            (_, None) => usize::MAX,
        };
        (group, place)
    });
}

/// 11.3.0 §3.3: the smallest `<maxphysaddr limit>` when every input has one.
fn min_phys_limit(cpus: &[CpuDef]) -> Option<u32> {
    let mut phys = 0;
    for (i, cpu) in cpus.iter().enumerate() {
        match cpu.maxphysaddr.as_ref().and_then(|m| m.limit) {
            None | Some(0) => phys = 0,
            Some(l) if i == 0 || l < phys => phys = l,
            Some(_) => {}
        }
    }
    (phys > 0).then_some(phys)
}

/// `compare(host, cpu)` (pack §4.2) with libvirt's message for an incompatible result.
fn plain_compare(map: &X86Map, host: &CpuDef, cpu: &CpuDef) -> Result<HvComparison, LibvirtError> {
    let c: Comparison =
        x86::try_compare(map, host, cpu).map_err(|e| LibvirtError::from_cpu(e, std::slice::from_ref(cpu)))?;
    let message = if c.verdict == Verdict::Incompatible { c.libvirt_message(map) } else { None };
    Ok(HvComparison { verdict: c.verdict, message, needs_cache: None })
}

/// Whether `cpu` disables feature `name` (policy `disable`).
fn disables(cpu: &CpuDef, name: &str) -> bool {
    cpu.features.iter().any(|f| f.name == name && f.policy == Some(Policy::Disable))
}

/// 11.3.0's `virCPUCompareUnusable(hv, cpu, blockers)` (§2.4 step 4).
fn compare_unusable(
    map: &X86Map,
    hv: &CpuDef,
    cpu: &CpuDef,
    blockers: &[String],
) -> Result<HvComparison, LibvirtError> {
    let mut bad: Vec<&str> = blockers.iter().map(String::as_str).filter(|b| !disables(cpu, b)).collect();
    let mut expanded = hv.clone();
    x86::expand_features(map, &mut expanded).map_err(|e| LibvirtError::from_cpu(e, &[]))?;
    for f in &cpu.features {
        if f.policy == Some(Policy::Require) {
            let provided = expanded.feature(&f.name).is_some_and(|e| e.policy == Some(Policy::Require));
            if !provided {
                bad.push(&f.name);
            }
        }
    }
    if bad.is_empty() {
        return Ok(HvComparison { verdict: Verdict::Superset, message: None, needs_cache: None });
    }
    let message = format!("Host CPU does not provide required features: {}", bad.join(", "));
    Ok(HvComparison { verdict: Verdict::Incompatible, message: Some(message), needs_cache: None })
}

/// FULL (§1.3): the capabilities host CPU decoded as a guest CPU without a model list, then
/// every feature REPORTED requires (expanded) forced to `require`.
fn full_cpu(x: &X86Map, caps_host: &CpuDef, reported: Option<&CpuDef>) -> Result<CpuDef, CpuError> {
    let md = x86::model_from_cpu(x, caps_host, x86::Sel::All)?;
    let vendor = caps_host.vendor.as_deref().and_then(|v| x.vendor_index(v));
    let signature = caps_host.signature.map_or(0, |s| x86::model::make_signature(s.family, s.model, s.stepping));
    let mut full = x86::decode_guest(x, &X86Data { features: md.features, vendor, signature })?;
    if let Some(r) = reported {
        let mut e = r.clone();
        x86::expand_features(x, &mut e)?;
        for f in e.features.iter().filter(|f| f.policy == Some(Policy::Require)) {
            full.set_feature(&f.name, Some(Policy::Require));
        }
    }
    Ok(full)
}
