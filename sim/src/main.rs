//! cpufleet: libvirt-exact guest CPU model logic for KVM/QEMU fleets, and a fleet simulator.

fn main() -> std::process::ExitCode {
    cpufleet_sim::cli::main()
}
