//! capabilities / domcapabilities / domain / <cpuTest> documents, then every CPU operation on
//! the CPUs they hold (compare, baseline, update, translate, expand, live update). Never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for map in cpufleet_fuzz::maps() {
        cpufleet_reference::laws::capabilities_parse(map, data);
    }
});
