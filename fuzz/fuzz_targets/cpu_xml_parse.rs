//! Every CPU reader (bare <cpu>, <cpuTest>, capabilities, domcapabilities, domain; every type
//! hint) on arbitrary bytes, then the writer on what was read. Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cpufleet_reference::laws::cpu_xml_parse(data);
});
