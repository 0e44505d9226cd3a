//! `cpufleet export`'s arguments.

use crate::args::{Common, Format, View};
use clap::Args;
use cpufleet_export::{ExportFormat, Takes};
use std::path::PathBuf;

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: Common,
    /// What to write (the help lists the formats from `ExportFormat`: `format_help`).
    #[arg(value_name = "FORMAT", value_parser = crate::closed::parser::<ExportFormat>(), help = format_help())]
    pub target: ExportFormat,
    /// Text (what the consuming project reads) or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Guest formats: export the baseline of the inputs' host CPUs: what guests get on all of them
    /// (`hypervisor-baseline` of their QEMU/KVM host-models), or with --view raw `cpufleet baseline`.
    #[arg(long)]
    pub baseline: bool,
    /// With --baseline or --inventory: drop features that block migration (virsh --migratable;
    /// what pool-baseline guests are configured with).
    #[arg(long)]
    pub migratable: bool,
    /// Guest formats: the host the guest starts on (a host CPU, `virsh capabilities`, or its
    /// `virsh domcapabilities`): the export is the CPU as libvirt's QEMU driver starts it there
    /// (the KVM view of a raw host CPU; with --domcaps, the full host CPU KVM checks against).
    #[arg(long, value_name = "FILE")]
    pub host: Option<PathBuf>,
    /// Guest formats: `virsh domcapabilities --virttype kvm|qemu` of the hypervisor the guest
    /// runs on (as the hypervisor commands take it): the guest is started there, a baseline is
    /// `hypervisor-cpu-baseline` against it.
    #[arg(long, value_name = "FILE")]
    pub domcaps: Option<PathBuf>,
    /// With --domcaps: libvirt's QEMU capabilities cache of the same QEMU binary (QEMU's
    /// blockers and exact feature names).
    #[arg(long, value_name = "FILE", requires = "domcaps")]
    pub qemu_caps: Option<PathBuf>,
    /// `virsh capabilities` of the host: with --domcaps the full host CPU a KVM start checks
    /// against; for kubevirt-labels the TSC (`cpu-timer` labels) beside a domcapabilities input.
    #[arg(long, value_name = "FILE")]
    pub caps: Option<PathBuf>,
    /// Which view of the hosts answers: guest (what QEMU/KVM gives guests: --domcaps, the
    /// inventory's HOST.domcaps.xml, else the KVM view of the host CPU) or raw (the host CPUs as
    /// `virsh capabilities` reports them, host-only features included, with a warning).
    #[arg(long, value_enum, default_value_t = View::Guest)]
    pub view: View,
    /// A fleet inventory (DIR/POOL/HOST.xml): every host (per-host formats, named POOL/HOST) or
    /// each pool's baseline (guest formats, named POOL; a pool without one is a note). Each host
    /// is computed by the libvirt release its HOST.meta.toml names (without: --libvirt), a pool
    /// whose hosts run several by the oldest of them (a note names it).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["inputs", "baseline"])]
    pub inventory: Option<PathBuf>,
    /// Name of the export (the Proxmox model, the KubeVirt node); several get -1, -2, … Default:
    /// the input's file name, POOL/HOST or POOL with --inventory, `baseline` with --baseline.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// CPU documents, directories (every *.xml inside), - (standard input), or /proc/cpuinfo or
    /// lscpu text (host CPUs).
    #[arg(value_name = "INPUT", required_unless_present = "inventory")]
    pub inputs: Vec<PathBuf>,
}

/// The formats that take `takes` (a guest CPU, or a host CPU each), as a help list: `a, b or c`.
pub fn format_list(takes: Takes) -> String {
    let names: Vec<&str> = ExportFormat::ALL.iter().filter(|f| f.takes() == takes).map(|f| f.as_str()).collect();
    crate::closed::list(&names, "or")
}

/// `FORMAT`'s help: every format, by what it takes.
fn format_help() -> String {
    format!(
        "What to write: {} (a guest CPU each); {} (per host CPU)",
        format_list(Takes::GuestCpu),
        format_list(Takes::HostCpu)
    )
}
