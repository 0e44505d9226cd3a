//! cpufleet-sim: the `cpufleet` command line, fleet generation and the fleet simulator.
//! All I/O, threads, time and randomness live here; the engine stays pure.

pub mod cli;
pub mod commands;
pub mod hostcpu;
pub mod io;
pub mod mapload;
pub mod simulate;
pub mod stream;

pub use cli::{limits, read_cpus, Common, Outcome};
