//! The <cpudata> CPUID reader on arbitrary bytes; parsed data must round-trip through the writer,
//! decode as host and guest without panicking, and satisfy the decode-then-expand law.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for map in cpufleet_fuzz::maps() {
        if let Err(v) = cpufleet_reference::laws::cpuid_data_parse(map, data) {
            panic!("libvirt {}: {v}", map.version());
        }
    }
});
