//! cpufleet: libvirt-exact guest CPU model logic for KVM/QEMU fleets, and a fleet simulator.
//! This crate is the command line only: it parses arguments, validates them, and calls the
//! engine (`cpufleet_engine`), the streaming baseline (`cpufleet_stream`) and the simulator
//! (`cpufleet_sim`). See ARCHITECTURE.md.

// The doc comments of the argument types are clap's `--help` text, printed as written: element
// names such as <cpu> stay plain there, so rustdoc must not read them as HTML.
#![allow(rustdoc::invalid_html_tags)]

mod args;
mod cli;
mod closed;
mod collect;
mod commands;
mod export;
mod hostcpu;
mod hypervisor;
mod inputs;
mod inventory;
mod inventory_diff;
mod json;
mod mapload;
mod simulate;

// Shared with the cpufleet-collect binary (the package's library, src/lib.rs).
use cpufleet_cli::{error, progress};

fn main() -> std::process::ExitCode {
    cli::main()
}
