//! Reading this machine's CPUID leaves (shell side: the engine never touches the hardware).

use cpufleet_engine::{CpuidData, CpuidKey};

/// Leaves whose subleaves matter (`ecx_in`), with how many subleaves to read at most.
#[cfg(target_arch = "x86_64")]
const SUBLEAF_LEAVES: &[(u32, u32)] = &[
    (0x4, 8),
    (0x7, 4),
    (0xb, 4),
    (0xd, 64),
    (0xf, 4),
    (0x10, 4),
    (0x12, 8),
    (0x14, 4),
    (0x17, 4),
    (0x18, 8),
    (0x1d, 4),
    (0x1e, 1),
];

/// One CPUID instruction for (`leaf`, `sub`).
#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)]
fn cpuid(leaf: u32, sub: u32) -> std::arch::x86_64::CpuidResult {
    // SAFETY: CPUID exists on every x86_64 CPU and only reads. The intrinsic is a safe function
    // from Rust 1.87 on and an `unsafe fn` before, down to the MSRV (1.82): hence the block.
    unsafe { std::arch::x86_64::__cpuid_count(leaf, sub) }
}

/// This machine's CPUID leaves, as `<cpudata>` would list them.
#[cfg(target_arch = "x86_64")]
pub fn read_cpuid() -> Option<CpuidData> {
    let mut data = CpuidData::new();
    let mut add = |leaf: u32, sub: u32| {
        let r = cpuid(leaf, sub);
        data.add_item(CpuidKey::Cpuid { leaf, subleaf: sub }, [r.eax, r.ebx, r.ecx, r.edx]);
    };
    let max = cpuid(0, 0).eax.min(0x40);
    for leaf in 0..=max {
        let subs = SUBLEAF_LEAVES.iter().find(|(l, _)| *l == leaf).map_or(1, |(_, n)| *n);
        for sub in 0..subs {
            add(leaf, sub);
        }
    }
    let max_ext = cpuid(0x8000_0000, 0).eax;
    if max_ext >= 0x8000_0000 {
        for leaf in 0x8000_0000..=max_ext.min(0x8000_0040) {
            add(leaf, 0);
        }
    }
    Some(data)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn read_cpuid() -> Option<CpuidData> {
    None
}
