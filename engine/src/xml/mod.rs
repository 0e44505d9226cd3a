//! XML reading and writing with quick-xml and no DOM.

pub mod attr;
pub mod cursor;
mod document;
pub mod domain;
pub mod num;
pub mod read;
pub mod write;

pub use cursor::{Cursor, Elem, Limits};
pub use document::{parse_cpuid_data, read_cpu_document, CpuDocument, DocKind, DomCapsInfo, ModelListEntry};
pub use domain::{read_domain, DomainDocument};
pub use read::{parse_cpu, CpuSpan, TypeHint};
pub use write::{format_cpu, format_cpuid_data};
