//! The x86-64 psABI micro-architecture levels (v1..v4) a feature set satisfies.

use crate::features::FeatureSet;
use crate::map::X86Map;

crate::closed_set! {
    /// An x86-64 psABI micro-architecture level a feature set satisfies, named as the psABI
    /// names it (and as cpufleet's JSON prints it).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum AbiLevel: "x86-64 ABI level" {
        /// Not even x86-64-v1 (a 32-bit model, or one missing a baseline feature).
        Below = "below x86-64-v1",
        /// x86-64-v1: the original x86-64 (long mode, SSE2).
        V1 = "x86-64-v1",
        /// x86-64-v2: adds CX16, LAHF/SAHF, POPCNT, SSE3, SSE4.1, SSE4.2, SSSE3.
        V2 = "x86-64-v2",
        /// x86-64-v3: adds AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE, XSAVE.
        V3 = "x86-64-v3",
        /// x86-64-v4: adds AVX-512 F, BW, CD, DQ, VL.
        V4 = "x86-64-v4",
    }
}

/// The x86-64 psABI micro-architecture levels, with the map's feature names. `lm` stands for
/// long mode itself; v3 lists `xsave` (the CPUID bit a guest CPU model carries) where the psABI
/// says OSXSAVE (set by the guest kernel once it enables XSAVE); `abm` is the map's LZCNT bit.
pub const ABI_LEVELS: [(AbiLevel, &[&str]); 4] = [
    (AbiLevel::V1, &["lm", "cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse", "sse2"]),
    (AbiLevel::V2, &["cx16", "lahf_lm", "popcnt", "pni", "sse4.1", "sse4.2", "ssse3"]),
    (AbiLevel::V3, &["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"]),
    (AbiLevel::V4, &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]),
];

/// The highest ABI level whose features (and those of every lower level) are all in `set`.
pub fn abi_level(map: &X86Map, set: &FeatureSet) -> AbiLevel {
    let mut level = AbiLevel::Below;
    for (name, feats) in ABI_LEVELS {
        if feats.iter().all(|f| map.feature_id(f).is_some_and(|id| set.contains(id))) {
            level = name;
        } else {
            break;
        }
    }
    level
}
