//! The parts of cpufleet's command line that both of its binaries use: `cpufleet` (every command)
//! and `cpufleet-collect` (`cpufleet collect`'s work, the only binary that links libvirt's client
//! library): the error type, the progress bar and `collect`'s arguments. See ARCHITECTURE.md.

pub mod collect_args;
pub mod error;
pub mod progress;
