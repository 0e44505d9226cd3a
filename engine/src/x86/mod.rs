//! x86 CPU operations, mirroring libvirt 9.0.0's `cpu_x86.c`.

pub mod abi;
pub mod baseline;
pub mod compare;
pub mod decode;
pub mod explain;
pub mod model;
pub mod update;

pub use abi::{abi_level, AbiLevel, ABI_LEVELS};
pub use baseline::{baseline, with_index, BaselineAcc, BaselineInput};
pub use compare::{compare, try_compare, Comparison, PolicySets, Reason, Verdict};
pub use decode::{decode_guest, decode_host, decode_into, DecodeOpts};
pub use model::{model_from_cpu, signature_text, Sel, X86Data};
pub use update::{
    copy_migratable, expand_features, has_feature, is_kvm_feature, translate, update, update_live, update_with,
};
