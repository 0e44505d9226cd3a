//! The law checks behind the cargo-fuzz targets in `fuzz/` (and usable from tests: each target
//! is a few lines that call one function here, so that what a target checks is ordinary,
//! documented, testable library code).
//!
//! The functions never panic on any input: a broken law is returned as a [`LawViolation`], and
//! the fuzz target turns it into a crash (which is what makes libFuzzer keep the input). No
//! I/O, no global state: callers pass the map. The baseline laws are those `engine/tests/laws.rs`
//! states as property tests, checked against the reference model of this crate.

mod baseline;
mod documents;
mod scanner;

pub use baseline::{baseline_laws, x86_cpu, BaselinePool};
pub use documents::{
    capabilities_parse, cpu_map_parse, cpu_xml_parse, cpu_xml_roundtrip, cpuid_data_parse, split_map_input,
};
pub use scanner::host_scanner;

use cpufleet_engine::xml::Limits;
use std::fmt;

/// A law that did not hold, with the evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LawViolation {
    /// The law, as stated in `engine/tests/laws.rs` (or on the check's function).
    pub law: &'static str,
    /// The evidence: the values that broke it.
    pub detail: String,
}

impl fmt::Display for LawViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "law violated: {}: {}", self.law, self.detail)
    }
}

impl std::error::Error for LawViolation {}

fn violation(law: &'static str, detail: impl Into<String>) -> LawViolation {
    LawViolation { law, detail: detail.into() }
}

fn check(ok: bool, law: &'static str, detail: impl FnOnce() -> String) -> Result<(), LawViolation> {
    if ok {
        Ok(())
    } else {
        Err(violation(law, detail()))
    }
}

/// The limits the law checks read with: the defaults, except a 1 MiB document cap (inputs are
/// bounded by `-max_len` anyway) so that a run never spends its time on one huge input.
pub fn fuzz_limits() -> Limits {
    Limits { max_bytes: 1 << 20, ..Limits::default() }
}
