//! XML reading and writing with quick-xml and no DOM.

pub mod attr;
pub mod cursor;
pub mod domain;
pub mod num;
pub mod read;
pub mod write;

pub use cursor::{Cursor, Elem, Limits};
pub use domain::{read_domain, DomainDocument};
pub use read::{
    parse_cpu, parse_cpuid_data, read_cpu_document, CpuDocument, CpuSpan, DocKind, DomCapsInfo, ModelListEntry,
    TypeHint,
};
pub use write::{format_cpu, format_cpuid_data};
