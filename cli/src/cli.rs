//! The command line: parse arguments, validate, then act.

use crate::args::{Common, Driver, Format, Outcome, View};
use crate::{commands, export, hypervisor, mapload, simulate};
use cpufleet_io as io;

use crate::error::{CliError, CliResult};
use clap::{Parser, Subcommand};
use io::{print_stdout, write_atomic};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cpufleet",
    version,
    about = "libvirt-exact CPU model logic for KVM/QEMU fleets, and a fleet simulator"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Import or show the CPU map.
    #[command(subcommand)]
    Map(MapCmd),
    /// Read CPU documents and write their CPU(s) as libvirt formats them.
    Fmt {
        #[command(flatten)]
        common: Common,
        /// Text (what virsh prints, where virsh has the command) or JSON (one line, keys sorted,
        /// with `"libvirt"`: the shapes are in the README's JSON output section).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Files, directories (every *.xml inside, sorted by name) or - (standard input).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// The richest guest CPU all CPUs of FILE… can run: exactly what `virsh cpu-baseline` prints for
    /// the files concatenated.
    Baseline {
        #[command(flatten)]
        common: Common,
        /// Expand the result to its full feature list (virsh --features).
        #[arg(long)]
        features: bool,
        /// Drop features that block migration (virsh --migratable).
        #[arg(long)]
        migratable: bool,
        /// Text (virsh's output) or JSON (the CPU, its features and x86-64 ABI level).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// After the result, say which input CPUs limit it (and what the baseline would be
        /// without them) and what each input CPU loses under it (x86 only).
        #[arg(long, conflicts_with = "driver")]
        explain: bool,
        /// Whose `virsh cpu-baseline`: libvirt's own rules (test driver, the conformance pack) or
        /// the QEMU driver's (`qemu:///system`), which also drops the features QEMU is never
        /// given: cmt, mbm_total, mbm_local, osxsave, ospke (11.3.0 also vmx-ept-uc, vmx-ept-wb,
        /// vmx-invvpid-single-context).
        #[arg(long, value_enum, default_value_t = Driver::Test)]
        driver: Driver,
        /// Documents holding host <cpu> elements (several <cpu>, capabilities documents,
        /// <cpuTest>): files, directories (every *.xml inside, sorted by name) or -.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Can every HOST run CPU? identical / superset (exit 0), incompatible (exit 1), error (exit 2).
    #[command(
        override_usage = "cpufleet compare [OPTIONS] <HOST>... <CPU>\n       cpufleet compare [OPTIONS] --inventory <DIR> [--on <POOL/HOST>] <CPU>"
    )]
    Compare {
        #[command(flatten)]
        common: Common,
        /// Text (virsh's wording) or JSON (one object per host CPU; an array when several).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// HOST… CPU: host documents (host <cpu>, capabilities; several CPUs each allowed; files,
        /// directories or -), then the CPU: a <cpu> or a domain XML. With --inventory: the CPU only.
        #[arg(required = true, num_args = 1.., value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Compare the CPU with every host of this inventory (DIR/POOL/HOST.xml, as `fleet show
        /// --inventory` reads it): a table per pool of host, verdict and blocking features. Each
        /// host answers under the libvirt release its HOST.meta.toml names (without: --libvirt).
        #[arg(long, value_name = "DIR")]
        inventory: Option<PathBuf>,
        /// With --inventory: the guest's home host, POOL/HOST; the CPU is first started there
        /// (as `cpufleet update` does) and the started CPU is compared.
        #[arg(long, value_name = "POOL/HOST", requires = "inventory")]
        on: Option<String>,
        /// With --inventory: guest (the default) answers as the QEMU driver does, on what each
        /// host's QEMU/KVM offers guests (its HOST.domcaps.xml, else the KVM view of its CPU), as
        /// `simulate --inventory` does; raw compares with the hosts' own CPUs (`virsh
        /// cpu-compare`).
        #[arg(long, value_enum, default_value_t = View::Guest, requires = "inventory")]
        view: View,
        /// As `virsh cpu-compare --error`, for one host CPU: an incompatible CPU is an error with
        /// libvirt's message (stderr), and the output is virsh's byte for byte.
        #[arg(long, conflicts_with_all = ["inventory", "format"])]
        error: bool,
    },
    /// Decode a <cpudata> CPUID dump to a host CPU (or a guest CPU with --guest).
    Decode {
        #[command(flatten)]
        common: Common,
        /// Decode as a guest CPU (libvirt's guest decoder: no vendor-specific host extras) instead
        /// of the host CPU `virsh capabilities` shows.
        #[arg(long)]
        guest: bool,
        /// Text (what virsh prints, where virsh has the command) or JSON (one line, keys sorted,
        /// with `"libvirt"`: the shapes are in the README's JSON output section).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// <cpudata> files, directories (every *.xml inside, sorted by name) or -.
        #[arg(required = true, value_name = "CPUID_FILE")]
        cpuid_files: Vec<PathBuf>,
    },
    /// The guest CPU after it starts on each HOST (optional features become require or disable).
    #[command(override_usage = "cpufleet update [OPTIONS] <HOST>... <GUEST>")]
    Update {
        #[command(flatten)]
        common: Common,
        /// Text (what virsh prints, where virsh has the command) or JSON (one line, keys sorted,
        /// with `"libvirt"`: the shapes are in the README's JSON output section).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// HOST… GUEST: host documents (files, directories or -), then the guest CPU.
        #[arg(required = true, num_args = 2.., value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Expand the CPU(s) of FILE… to their full feature lists.
    Expand {
        #[command(flatten)]
        common: Common,
        /// Text (what virsh prints, where virsh has the command) or JSON (one line, keys sorted,
        /// with `"libvirt"`: the shapes are in the README's JSON output section).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Files, directories (every *.xml inside, sorted by name) or -.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Simulate a fleet: pool baselines, guest starts and live migrations, upgrades, microcode
    /// events and migration-domain planning, with invariant checks. The main job.
    Simulate(simulate::SimulateArgs),
    /// Fleet generation.
    #[command(subcommand)]
    Fleet(simulate::FleetCmd),
    /// Collect an inventory from live hosts through libvirt (read-only connections): per host
    /// its capabilities, KVM domcapabilities, guests (virsh dumpxml) and a metadata file with its
    /// libvirt and hypervisor versions. Exit 0: all collected, 1: some failed, 2: bad arguments.
    Collect(crate::collect::CollectArgs),
    /// Inventories: what changed between two collections.
    #[command(subcommand)]
    Inventory(crate::inventory_diff::InventoryCmd),
    /// Can the hypervisor of --domcaps run CPU? Exactly `virsh hypervisor-cpu-compare`.
    HypervisorCompare(hypervisor::CompareArgs),
    /// The richest CPU the hypervisor of --domcaps can give all CPUs of FILE: exactly
    /// `virsh hypervisor-cpu-baseline`.
    HypervisorBaseline(hypervisor::BaselineArgs),
    /// CPUs in the formats other projects read: QEMU -cpu, KubeVirt labels and CPU stanza, Nova
    /// settings and traits, Proxmox cpu-models.conf. Guest CPUs as libvirt's QEMU driver starts
    /// them on their host (--domcaps, --host, the inventory's hosts); --view raw for the raw view.
    Export(export::ExportArgs),
    /// The guest CPU as libvirt's QEMU driver starts it on the hypervisor of --domcaps (what
    /// `virsh start` / `domxml-to-native` would run), or the error it would give. Exit 0: it
    /// starts; 1: the driver refuses it (incompatible with the host, a mode or model the
    /// hypervisor does not support; virsh fails, exit 1); 2: bad input (unreadable or malformed
    /// files, model or feature names the map does not know; virsh also fails, exit 1).
    Start(hypervisor::StartArgs),
    /// This machine's CPU as `virsh capabilities` shows it (x86_64, read with CPUID).
    Host {
        #[command(flatten)]
        common: Common,
        /// Print the raw <cpudata> dump instead (feed it back to `cpufleet decode`).
        #[arg(long)]
        dump: bool,
        /// Text (what virsh prints, where virsh has the command) or JSON (one line, keys sorted,
        /// with `"libvirt"`: the shapes are in the README's JSON output section).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum MapCmd {
    /// Import a libvirt cpu_map directory into the embedded format (one file per architecture).
    Import {
        #[command(flatten)]
        common: Common,
        /// The libvirt cpu_map directory (e.g. /usr/share/libvirt/cpu_map).
        dir: PathBuf,
        /// Output: a directory (gets x86.xml and ppc64.xml) or, with --arch, a file. Default: stdout.
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Import only this architecture (x86 or ppc64).
        #[arg(long)]
        arch: Option<String>,
    },
    /// Show the map's vendors, features and models, with counts.
    Show {
        #[command(flatten)]
        common: Common,
        /// Text (what virsh prints, where virsh has the command) or JSON (one line, keys sorted,
        /// with `"libvirt"`: the shapes are in the README's JSON output section).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Negative) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cpufleet: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> CliResult<Outcome> {
    match cli.cmd {
        Cmd::Map(MapCmd::Import { common, dir, output, arch }) => {
            match &output {
                Some(out) if out.is_dir() || arch.is_none() => io::check_output_dir(out)?,
                Some(out) => io::check_output_path(out)?,
                None => {}
            }
            let map = mapload::load_dir(&dir, common.libvirt, common.max_input_bytes)?;
            let arches: Vec<&str> = match arch.as_deref() {
                None => vec!["x86", "ppc64"],
                Some(a @ ("x86" | "ppc64")) => vec![a],
                Some(a) => return Err(CliError::new(format!("unknown architecture '{a}', expected x86 or ppc64"))),
            };
            match output {
                Some(out) if out.is_dir() => {
                    for a in arches {
                        let text = map.format_arch(a).expect("known arch");
                        write_atomic(&out.join(format!("{a}.xml")), text.as_bytes())?;
                    }
                }
                Some(out) => {
                    if arches.len() != 1 {
                        return Err(CliError::file(
                            &out,
                            "is not a directory; give --arch to write one architecture to a file",
                        ));
                    }
                    write_atomic(&out, map.format_arch(arches[0]).expect("known arch").as_bytes())?;
                }
                None => {
                    for a in arches {
                        print_stdout(&map.format_arch(a).expect("known arch"))?;
                    }
                }
            }
            Ok(Outcome::Ok)
        }
        Cmd::Map(MapCmd::Show { common, format }) => {
            let map = mapload::load(&common)?;
            match format {
                Format::Text => print_stdout(&show_map(&map))?,
                Format::Json => crate::json::print(&crate::json::map_show(&map))?,
            }
            Ok(Outcome::Ok)
        }
        Cmd::Baseline { common, features, migratable, format, explain, driver, files } => {
            let opts = commands::BaselineOpts { features, migratable, format, explain, driver };
            commands::baseline(&common, &files, &opts)
        }
        Cmd::Compare { common, format, files, inventory: Some(dir), on, view, .. } => {
            commands::whereto(&common, &dir, &files, on.as_deref(), view, format)
        }
        Cmd::Compare { common, format, files, error, .. } => commands::compare(&common, &files, format, error),
        Cmd::Decode { common, guest, format, cpuid_files } => commands::decode(&common, &cpuid_files, guest, format),
        Cmd::Update { common, format, files } => commands::update(&common, &files, format),
        Cmd::Expand { common, format, files } => commands::expand(&common, &files, format),
        Cmd::Host { common, dump, format } => commands::host(&common, dump, format),
        Cmd::HypervisorCompare(args) => hypervisor::compare(&args),
        Cmd::HypervisorBaseline(args) => hypervisor::baseline(&args),
        Cmd::Start(args) => hypervisor::start(&args),
        Cmd::Simulate(args) => simulate::run_simulate(args),
        Cmd::Fleet(cmd) => simulate::run_fleet(cmd),
        Cmd::Collect(args) => crate::collect::run(&args),
        Cmd::Inventory(cmd) => crate::inventory_diff::run(cmd),
        Cmd::Fmt { common, format, files } => commands::fmt(&common, &files, format),
        Cmd::Export(args) => export::run(&args),
    }
}

fn show_map(map: &cpufleet_engine::CpuMap) -> String {
    use std::fmt::Write;
    let x = &map.x86;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "libvirt {}: {} vendors, {} x86 features, {} x86 models, {} ppc64 models",
        map.version(),
        x.vendors.len(),
        x.features.len(),
        x.models.len(),
        map.ppc64.models.len()
    );
    let _ = writeln!(
        o,
        "x86: {} vendors, {} features ({} not migratable), {} models",
        x.vendors.len(),
        x.features.len(),
        x.non_migratable.count(),
        x.models.len()
    );
    for v in &x.vendors {
        let _ = writeln!(o, "  vendor {:<8} {}", v.name, v.string);
    }
    for m in &x.models {
        let vendor = m.vendor.map_or("-", |v| x.vendors[v].name.as_str());
        let decode = match (m.decode_host, m.decode_guest) {
            (true, true) => "",
            (true, false) => " decode=host-only",
            (false, true) => " decode=guest-only",
            (false, false) => " decode=off",
        };
        let removed: Vec<&str> = m.removed.iter().map(|&id| x.feature_name(id)).collect();
        let removed = if removed.is_empty() { String::new() } else { format!(" removed={}", removed.join(",")) };
        let _ = writeln!(
            o,
            "  model  {:<28} vendor={:<6} features={:<3}{decode}{removed}",
            m.name,
            vendor,
            m.features.count()
        );
    }
    let names: Vec<&str> = x.features.iter().map(|f| f.name.as_str()).collect();
    let _ = writeln!(o, "  features: {}", names.join(" "));
    let p = &map.ppc64;
    let _ = writeln!(o, "ppc64: {} vendors, {} models", p.vendors.len(), p.models.len());
    for m in &p.models {
        let pvrs: Vec<String> = m.pvrs.iter().map(|p| format!("0x{:08x}/0x{:08x}", p.value, p.mask)).collect();
        let _ = writeln!(
            o,
            "  model  {:<16} vendor={:<10} pvr={}",
            m.name,
            p.vendor_name(m.vendor).unwrap_or("-"),
            pvrs.join(",")
        );
    }
    o
}
