//! The `host_scanner` target: the second reader (the streaming baseline's host scanner) answers
//! only when the full reader would give the same CPU.

use super::{check, fuzz_limits, violation, LawViolation};
use cpufleet_engine::map::CpuMap;
use cpufleet_engine::ops::Arch;
use cpufleet_engine::scan::{HostScanner, Scan};
use cpufleet_engine::x86::BaselineInput;
use cpufleet_engine::xml::{self, TypeHint};

/// Law: whenever `scanner` (built for `map`'s x86 map) answers with a CPU for `data`
/// (`Scan::Plain` with `cpu: Some`), the full reader (`xml::read_cpu_document(data,
/// TypeHint::Host, map.version(), limits)`, the streaming baseline's in-memory reference) reads
/// exactly one CPU from the same bytes, an x86 one, whose baseline input
/// (`BaselineInput::from_cpu`) equals the scanner's (`HostScanner::input`).
/// Unconditional: the scanner applies the reader's character rule itself (invalid UTF-8 and
/// forbidden controls make it decline), so no input is excused. Returns whether the scanner
/// answered.
pub fn host_scanner(map: &CpuMap, scanner: &HostScanner, data: &[u8]) -> Result<bool, LawViolation> {
    let limits = fuzz_limits();
    let Scan::Plain { cpu: Some(fast), .. } = scanner.scan(data, &limits) else { return Ok(false) };
    let law = "the host scanner answers only when the full reader gives the same CPU";
    let doc = match xml::read_cpu_document(data, TypeHint::Host, map.version(), limits) {
        Ok(doc) => doc,
        Err(e) => return Err(violation(law, format!("the scanner read {fast:?}, the reader fails: {e}"))),
    };
    check(doc.cpus.len() == 1, law, || format!("the scanner read one CPU, the reader {}", doc.cpus.len()))?;
    let cpu = &doc.cpus[0];
    let arch = Arch::of_cpu(map, cpu);
    check(matches!(arch, Ok(Arch::X86)), law, || format!("the scanner read an x86 CPU, the reader {arch:?}"))?;
    let want = BaselineInput::from_cpu(&map.x86, cpu, 0)
        .map_err(|e| violation(law, format!("the scanner read {fast:?}, the reader's CPU fails: {e}")))?;
    let got = scanner.input(&fast);
    check(got == want, law, || format!("scanner {got:?}\nreader {want:?}\nCPU {cpu:?}"))?;
    Ok(true)
}
