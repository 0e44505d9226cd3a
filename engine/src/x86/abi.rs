//! The x86-64 psABI micro-architecture levels (v1..v4) a feature set satisfies.

use crate::features::FeatureSet;
use crate::map::X86Map;

/// The x86-64 psABI micro-architecture levels, with the map's feature names. `lm` stands for
/// long mode itself; v3 lists `xsave` (the CPUID bit a guest CPU model carries) where the psABI
/// says OSXSAVE (set by the guest kernel once it enables XSAVE); `abm` is the map's LZCNT bit.
pub const ABI_LEVELS: [(&str, &[&str]); 4] = [
    ("x86-64-v1", &["lm", "cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse", "sse2"]),
    ("x86-64-v2", &["cx16", "lahf_lm", "popcnt", "pni", "sse4.1", "sse4.2", "ssse3"]),
    ("x86-64-v3", &["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"]),
    ("x86-64-v4", &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]),
];

/// The highest ABI level whose features (and those of every lower level) are all in `set`.
pub fn abi_level(map: &X86Map, set: &FeatureSet) -> &'static str {
    let mut level = "below x86-64-v1";
    for (name, feats) in ABI_LEVELS {
        if feats.iter().all(|f| map.feature_id(f).is_some_and(|id| set.contains(id))) {
            level = name;
        } else {
            break;
        }
    }
    level
}
