//! The <cpudata> CPUID reader on arbitrary bytes; parsed data must round-trip through the writer,
//! decode as host and guest without panicking, and satisfy the decode-then-expand law.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = cpufleet_engine::fuzzing::cpuid_data_parse(cpufleet_fuzz::map(), data) {
        panic!("{v}");
    }
});
