//! Parse a <cpu>, write it, parse it again: the written CPU parses, writing is a fixpoint, and
//! read(write(c)) == c on the normalised CPU.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = cpufleet_reference::laws::cpu_xml_roundtrip(data) {
        panic!("{v}");
    }
});
