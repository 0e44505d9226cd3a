//! The architectures with a CPU driver and their libvirt names: a value the map (its arch
//! sections) and the dispatcher (`ops.rs`, which adds `Arch::of_cpu`) both use, so neither
//! imports the other for it.

use crate::error::CpuError;

/// The architectures with a CPU driver (also the arch sections of the CPU map).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86,
    Ppc64,
}

impl Arch {
    /// The CPU driver of a libvirt arch name (`x86_64` and `i686` are x86, `ppc64` and
    /// `ppc64le` ppc64); None for an arch without one. The one place arch names are matched.
    pub fn parse(name: &str) -> Option<Arch> {
        match name {
            "x86_64" | "i686" => Some(Arch::X86),
            "ppc64" | "ppc64le" => Some(Arch::Ppc64),
            _ => None,
        }
    }

    /// Whether `name` is an x86 arch name (`x86_64`, `i686`).
    #[inline]
    pub fn is_x86(name: &str) -> bool {
        Arch::parse(name) == Some(Arch::X86)
    }

    /// `cpuGetSubDriver`: from a libvirt arch name.
    pub fn from_name(name: &str) -> Result<Arch, CpuError> {
        Arch::parse(name).ok_or_else(|| CpuError::UnsupportedArch(name.to_string()))
    }
}
