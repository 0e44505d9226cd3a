//! The arguments and answers every command shares: the common flags (`Common`), the closed sets
//! several commands take (`Format`, `View`, `Driver`), a command's `Outcome` and the input
//! `limits`. A leaf of the binary: the commands and the dispatcher (`cli.rs`) use it, it uses
//! none of them.

use clap::Args;
use cpufleet_engine::xml::Limits;
use cpufleet_engine::LibvirtVersion;
use cpufleet_io as io;
use std::path::PathBuf;

/// `--libvirt`'s help: every supported release with where it ships, the short names, the default.
fn libvirt_help() -> String {
    let releases: Vec<String> = LibvirtVersion::ALL.iter().map(|v| format!("{v} ({})", v.release().ships_in)).collect();
    format!(
        "Follow this libvirt version's rules and CPU map: {}; {} are accepted. Default: {}, or with --cpu-map the version whose map it is",
        crate::closed::list(&releases, "or"),
        crate::closed::list(LibvirtVersion::ALIASES, "and"),
        LibvirtVersion::DEFAULT
    )
}

#[derive(Args, Clone)]
pub struct Common {
    /// Follow this libvirt version's rules and CPU map (the help lists every release, from
    /// `LibvirtVersion` and its `RELEASES` table: `libvirt_help`).
    #[arg(long, value_name = "VERSION", global = true, help = libvirt_help())]
    pub libvirt: Option<LibvirtVersion>,
    /// Use a libvirt cpu_map directory (index.xml and its includes) instead of the embedded map.
    #[arg(long, value_name = "DIR", global = true)]
    pub cpu_map: Option<PathBuf>,
    /// Largest input file accepted, in bytes.
    #[arg(long, value_name = "BYTES", global = true, default_value_t = io::DEFAULT_MAX_INPUT)]
    pub max_input_bytes: u64,
}

cpufleet_engine::closed_set! {
    /// The shape of a command's answer on stdout: libvirt's text (what virsh prints, where virsh
    /// has the command) or JSON (documented per command in the README).
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub enum Format: "output format" {
        #[default]
        Text = "text",
        Json = "json",
    }
}

cpufleet_engine::closed_set! {
    /// Whose view of a host answers for guests: what QEMU/KVM gives a guest there (the host's
    /// `HOST.domcaps.xml` when there is one, else the KVM view of its CPU), or the host's own CPU
    /// as `virsh capabilities` shows it (libvirt's `cpu-compare`/`cpu-baseline`, which ask for
    /// features KVM never gives a guest). One flag, `--view`, for every command that answers for
    /// a guest; its name is what `--view` takes, and JSON's `view`.
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub enum View: "view" {
        /// What guests get: libvirt's QEMU driver on the host's QEMU/KVM.
        #[default]
        Guest = "guest",
        /// The host's own CPU (`virsh capabilities`), as libvirt's test driver compares it.
        Raw = "raw",
    }
}

cpufleet_engine::closed_set! {
    /// Which libvirt driver's `cpu-baseline` to follow.
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub enum Driver: "driver" {
        /// libvirt's own CPU rules (`test:///default`, the conformance pack).
        #[default]
        Test = "test",
        /// The QEMU driver (`qemu:///system`): libvirt's baseline without the features QEMU never gets.
        Qemu = "qemu",
    }
}

crate::closed::value_enum!(Format, View, Driver);

/// A command's outcome: exit 0 (success / compatible) or 1 (a negative answer).
pub enum Outcome {
    Ok,
    Negative,
}

/// The reader limits of a command's inputs: `--max-input-bytes`, the rest libvirt's.
pub fn limits(common: &Common) -> Limits {
    Limits { max_bytes: common.max_input_bytes.min(usize::MAX as u64) as usize, ..Limits::default() }
}
