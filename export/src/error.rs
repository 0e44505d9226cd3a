//! The export crate's one error type.

use crate::names::Vocabulary;
use cpufleet_engine::{CpuError, Pos};
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
