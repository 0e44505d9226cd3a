//! libvirt's errors as virsh prints them ([`LibvirtError`], its [`ErrorCode`]), what an answer
//! without the QEMU capabilities cache cannot know ([`NeedsCache`]), and virsh's warning for a
//! host CPU definition given as input.

use super::qemu_names::{known_qemu_versions, QemuVersion};
use crate::cpu::CpuDef;
use crate::error::CpuError;
use crate::version::LibvirtVersion;
use std::fmt;

/// What libvirt's virsh warns from 11.3.0 on for every CPU it extracts from a
/// `hypervisor-cpu-compare` or `hypervisor-cpu-baseline` input (sent or not) that has a
/// `<feature>` without a `policy`: a host CPU definition. The command goes on.
pub const HOST_INPUT_WARNING: &str = "using host CPU definition as input may provide incorrect results";

/// The stderr line the virsh of `version` prints for the CPU at `span`, if any: 9.0.0's virsh
/// has no such warning; 11.3.0's prints it with `vshError` (an `error: ` line); 12.9.0's with
/// `vshWarn` (a `warning: ` line).
pub fn host_input_warning(version: LibvirtVersion, span: &crate::xml::CpuSpan) -> Option<String> {
    match version {
        _ if !span.unpoliced_feature || !version.at_least_11_3() => None,
        v if v >= LibvirtVersion::V12_9_0 => Some(format!("warning: {HOST_INPUT_WARNING}")),
        _ => Some(format!("error: {HOST_INPUT_WARNING}")),
    }
}

/// libvirt error codes, with the prefix virsh prints before the message (`virErrorMsg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    Internal,
    OperationFailed,
    OperationUnsupported,
    InvalidArg,
    CpuIncompatible,
    ConfigUnsupported,
    XmlError,
}

impl ErrorCode {
    fn prefix(self) -> &'static str {
        match self {
            ErrorCode::Internal => "internal error: ",
            ErrorCode::OperationFailed => "operation failed: ",
            ErrorCode::OperationUnsupported => "Operation not supported: ",
            ErrorCode::InvalidArg => "invalid argument: ",
            ErrorCode::CpuIncompatible => "the CPU is incompatible with host CPU: ",
            ErrorCode::ConfigUnsupported => "unsupported configuration: ",
            ErrorCode::XmlError => "XML error: ",
        }
    }
}

/// An error as the QEMU driver reports it; `Display` is the text virsh prints after "error: ".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibvirtError {
    pub code: ErrorCode,
    pub message: String,
    /// Set when the error was computed without QEMU's capabilities cache and its text (or its
    /// being an error) rests on what only the cache has.
    pub needs_cache: Option<NeedsCache>,
}

impl LibvirtError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        LibvirtError { code, message: message.into(), needs_cache: None }
    }
    /// Whether it is a negative answer about the CPUs (incompatible, vendors differ) rather than
    /// bad input (unknown names, missing models, an unsupported hypervisor).
    pub fn is_negative(&self) -> bool {
        matches!(self.code, ErrorCode::CpuIncompatible | ErrorCode::OperationFailed)
    }
    /// A CPU operation's error with libvirt's code and wording. `cpus`: the inputs, to name the
    /// model of a baseline vendor mismatch.
    pub fn from_cpu(e: CpuError, cpus: &[CpuDef]) -> LibvirtError {
        use CpuError::*;
        use ErrorCode::*;
        match e {
            UnknownModel(m) => LibvirtError::new(Internal, format!("Unknown CPU model {m}")),
            UnknownFeature(n) => LibvirtError::new(Internal, format!("Unknown CPU feature {n}")),
            UnknownVendor(v) => LibvirtError::new(OperationFailed, format!("Unknown CPU vendor {v}")),
            NoModelAt(i) => LibvirtError::new(InvalidArg, format!("no CPU model specified at index {i}")),
            VendorsMismatch { .. } => LibvirtError::new(OperationFailed, "CPU vendors do not match"),
            ModelVendorMismatch { cpu, model_vendor, index } => {
                let model = cpus.get(index).and_then(|c| c.model.as_deref()).unwrap_or("");
                LibvirtError::new(
                    OperationFailed,
                    format!("CPU vendor {model_vendor} of model {model} differs from vendor {cpu}"),
                )
            }
            IncompatibleCpus(_) => LibvirtError::new(OperationFailed, "CPUs are incompatible"),
            NoCandidate => LibvirtError::new(OperationFailed, "Cannot find suitable CPU model for given data"),
            Unsupported(m) => LibvirtError::new(ConfigUnsupported, m),
            other => LibvirtError::new(Internal, other.to_string()),
        }
    }
}

impl fmt::Display for LibvirtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.code.prefix(), self.message)
    }
}

impl std::error::Error for LibvirtError {}

/// What an answer computed from domcapabilities alone needs from QEMU's capabilities cache
/// (`--qemu-caps`) to be exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NeedsCache {
    /// The message lists QEMU's blockers of a model, which libvirt keeps in QEMU's order with
    /// QEMU's repeats; domcapabilities (11.3.0) gives them sorted and de-duplicated. The verdict
    /// is exact, the order of the names is not.
    BlockerOrder { model: String },
    /// Whether QEMU's CPU model (one libvirt's map lacks, such as `max`, `host` or `base`) is
    /// usable: domcapabilities lists only models of the map.
    ModelUsable { model: String },
    /// libvirt 9.0.0's domcapabilities names no QEMU blockers, and the answer depends on those of
    /// the models it marks unusable (a decode against the QEMU list: baseline, translation).
    Blockers,
    /// The QEMU version domcapabilities names (by its machine type) is not in cpufleet's table
    /// of QEMU versions, so what QEMU can name is that of the nearest known version.
    QemuVersion { machine: Option<String>, nearest: QemuVersion },
}

impl NeedsCache {
    /// Whether only the text of a message depends on it (not the answer itself).
    pub fn only_text(&self) -> bool {
        matches!(self, NeedsCache::BlockerOrder { .. })
    }
}

impl fmt::Display for NeedsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NeedsCache::BlockerOrder { model } => write!(
                f,
                "libvirt lists QEMU's blockers of {model} in QEMU's order, with QEMU's repeats; domcapabilities has them sorted and de-duplicated, so the names below may come in another order"
            ),
            NeedsCache::ModelUsable { model } => write!(
                f,
                "whether QEMU's CPU model {model} (not in libvirt's CPU map) is usable is not in domcapabilities; taken as QEMU reports it on this machine's QEMU releases"
            ),
            NeedsCache::Blockers => write!(
                f,
                "libvirt 9.0.0's domcapabilities marks QEMU's unusable models but names none of their blockers, and this answer depends on them"
            ),
            NeedsCache::QemuVersion { machine, nearest } => {
                let known: Vec<String> = known_qemu_versions().iter().map(|v| v.to_string()).collect();
                match machine {
                    Some(m) => write!(f, "machine type {m} names a QEMU release cpufleet has no data of")?,
                    None => write!(f, "domcapabilities names no machine type")?,
                }
                write!(
                    f,
                    " (known: QEMU {}); the CPU features and models QEMU has are taken from QEMU {nearest}'s",
                    known.join(", ")
                )
            }
        }
    }
}
