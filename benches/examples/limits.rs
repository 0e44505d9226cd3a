//! The two limit lines of `benches/compare_libvirt.py`, measured in process on one core:
//!
//! - **byte pass**: one plain pass over the file's bytes, counting `<` (read in 1 MiB blocks);
//! - **quick-xml scan**: the file read whole, then every quick-xml event read and every
//!   attribute of every start tag decoded, building nothing (a generic event loop's floor).
//!
//! Usage: `cargo run --release -p cpufleet-benches --example limits -- FILE [RUNS]`; prints one
//! JSON object with the best time of each over RUNS (default 3).

use quick_xml::events::Event;
use quick_xml::Reader;
use std::hint::black_box;
use std::io::Read;
use std::time::Instant;

fn byte_pass(path: &str) -> std::io::Result<u64> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n_lt = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(n_lt);
        }
        n_lt += buf[..n].iter().filter(|&&b| b == b'<').count() as u64;
    }
}

fn quick_xml_scan(path: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    let mut r = Reader::from_reader(&bytes[..]);
    let mut events = 0u64;
    loop {
        match r.read_event()? {
            Event::Start(e) | Event::Empty(e) => {
                for a in e.attributes() {
                    black_box(a?.value.len());
                }
            }
            Event::Eof => return Ok(events),
            other => {
                black_box(&other);
            }
        }
        events += 1;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: limits FILE [RUNS]")?;
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3).max(1);
    let (mut pass, mut scan) = (f64::MAX, f64::MAX);
    let (mut n_lt, mut n_events) = (0, 0);
    for _ in 0..runs {
        let t = Instant::now();
        n_lt = black_box(byte_pass(&path)?);
        pass = pass.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        n_events = black_box(quick_xml_scan(&path)?);
        scan = scan.min(t.elapsed().as_secs_f64());
    }
    let bytes = std::fs::metadata(&path)?.len();
    println!(
        "{{\"bytes\": {bytes}, \"lt\": {n_lt}, \"events\": {n_events}, \"byte_pass_s\": {pass:.6}, \"quick_xml_scan_s\": {scan:.6}}}"
    );
    Ok(())
}
