//! The CPU map loader on arbitrary bytes (index.xml, then NUL-separated `NAME\nCONTENT` include
//! files); a map that loads must survive its own writer unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = cpufleet_reference::laws::cpu_map_parse(data) {
        panic!("{v}");
    }
});
