//! cpufleet: libvirt-exact guest CPU model logic for KVM/QEMU fleets, and a fleet simulator.
//! This crate is the command line only: it parses arguments, validates them, and calls the
//! engine (`cpufleet_engine`), the streaming baseline (`cpufleet_stream`) and the simulator
//! (`cpufleet_sim`). See ARCHITECTURE.md.

mod cli;
mod commands;
mod hostcpu;
mod mapload;
mod simulate;

pub use cli::{limits, read_cpus, Common, Outcome};

fn main() -> std::process::ExitCode {
    cli::main()
}
