//! The export crate's one error type.

use crate::vocabulary::Vocabulary;
use cpufleet_engine::{CpuError, CpuType, Pos, XmlError};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportError {
    /// A line of a name table that is not `libvirt-name<TAB>foreign-name`.
    Table { vocabulary: Vocabulary, line: u32, problem: String },
    /// A guest CPU in host-model mode: what it becomes depends on the host (`--host FILE`).
    HostModelNeedsHost,
    /// A custom guest CPU without a model.
    NoModel,
    /// A name the target refuses (`what` says which rule).
    InvalidName { name: String, rule: &'static str },
    /// `/proc/cpuinfo` or `lscpu` text that cannot be read as a host CPU.
    Cpuinfo { pos: Pos, problem: String },
    /// A format given the wrong kind of CPU: per-host formats take host CPUs, the others guest CPUs.
    WrongCpuType { format: &'static str, expected: CpuType },
    /// Something the target cannot express (`what` says which rule).
    Unsupported { format: &'static str, what: String },
    /// A document that does not read (line:column inside).
    Xml(XmlError),
    /// An engine operation failed (unknown model or feature, ...).
    Cpu(CpuError),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Table { vocabulary, line, problem } => {
                write!(f, "data/names/{}:{line}: {problem}", vocabulary.file_name())
            }
            ExportError::HostModelNeedsHost => {
                f.write_str("a host-model CPU becomes a copy of the host's: give the host with --host FILE")
            }
            ExportError::NoModel => f.write_str("custom CPU without a <model>"),
            ExportError::InvalidName { name, rule } => write!(f, "invalid name '{name}': {rule}"),
            ExportError::Cpuinfo { pos, problem } => write!(f, "{pos}: {problem}"),
            ExportError::WrongCpuType { format, expected: CpuType::Host } => write!(
                f,
                "{format} answers per host: give host CPUs (virsh capabilities, domcapabilities, a host <cpu>, \
                 /proc/cpuinfo or lscpu), not a guest CPU"
            ),
            ExportError::WrongCpuType { format, expected: CpuType::Guest } => write!(
                f,
                "this is a host CPU, and {format} exports a guest CPU (e.g. the output of `cpufleet baseline`); \
                 add --baseline to export the baseline of the host CPUs"
            ),
            ExportError::Unsupported { format, what } => write!(f, "{format} cannot express this: {what}"),
            ExportError::Xml(e) => write!(f, "{e}"),
            ExportError::Cpu(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<CpuError> for ExportError {
    fn from(e: CpuError) -> Self {
        ExportError::Cpu(e)
    }
}
