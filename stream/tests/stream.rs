//! The streaming baseline (`cpufleet_stream`) against the in-memory path on generated
//! pools: the same CPU or the same error (variant, message, line and column), for block sizes
//! from 1 byte up (so that block and batch boundaries fall everywhere), sequential and parallel.
//!
//! Pools repeat a few distinct host CPUs (like real fleets) drawn from the embedded map: random
//! models, features and vendors (matching, missing, mismatched, unknown), realistic extra
//! elements with valid and invalid values, formatting variations, and document-level damage
//! (invalid UTF-8, control characters, truncation, wrappers, processing instructions).
//! Knobs: `CPUFLEET_STREAM_POOLS` (default 600), `CPUFLEET_STREAM_SEED`.

use cpufleet_engine::xml::{format_cpu, Limits};
use cpufleet_engine::{CpuDef, CpuMap};
use cpufleet_mix::Rng;
use cpufleet_stream::{baseline_file, baseline_in_memory, baseline_source, Failure, Source, StreamOpts, Streamed};
use std::fmt::Write as _;

fn seed() -> u64 {
    std::env::var("CPUFLEET_STREAM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_0007)
}

fn pools() -> usize {
    std::env::var("CPUFLEET_STREAM_POOLS").ok().and_then(|s| s.parse().ok()).unwrap_or(600)
}

/// Either `'v'` or `"v"`.
fn q(rng: &mut Rng, v: &str) -> String {
    if rng.chance(0.15) {
        format!("\"{v}\"")
    } else {
        format!("'{v}'")
    }
}

fn num(rng: &mut Rng, noisy: bool) -> String {
    match if noisy { rng.index(40) } else { 5 + rng.index(35) } {
        0 => "0".into(),
        1 => "".into(),
        2 => "x1".into(),
        3 => "4294967296".into(),
        4 => "-1".into(),
        5 => "007".into(),
        _ => (1 + rng.index(5000)).to_string(),
    }
}

/// One host `<cpu>` element: with `noisy`, sometimes with one of many kinds of problems;
/// otherwise valid (in varied formatting), though a pool of them may still fail (vendors).
fn host(rng: &mut Rng, map: &CpuMap, vendor_hint: usize, noisy: bool) -> String {
    let x = &map.x86;
    // Draws below `n` in noisy hosts; in clean ones, never one of the `bad` first values.
    let pick = |rng: &mut Rng, n: usize, bad: usize| if noisy { rng.index(n) } else { bad + rng.index(n - bad) };
    let mut o = String::new();
    let ind = *rng.pick(&["  ", "", "\t", "    "]);
    let nl = if rng.chance(0.05) { "" } else { "\n" };
    match pick(rng, 60, 2) {
        0 => o.push_str("<cpu mode='custom'>"),
        1 => o.push_str("<cpu match='exact'>"),
        2 => o.push_str("<cpu >"),
        3 => o.push_str("<cpu\n>"),
        _ => o.push_str("<cpu>"),
    }
    o.push_str(nl);
    let arch = match pick(rng, 50, 5) {
        0 => Some("ppc64"),
        1 => Some("aarch64"),
        2 => Some("vax"),
        3 => Some(""),
        4 => None,
        5 | 6 => Some("i686"),
        _ => Some("x86_64"),
    };
    if let Some(a) = arch {
        let _ = write!(o, "{ind}<arch>{a}</arch>{nl}");
    }
    // Models of the hinted vendor mostly, so that many pools succeed.
    let same: Vec<usize> =
        (0..x.models.len()).filter(|&i| x.models[i].vendor.is_none_or(|v| v == vendor_hint)).collect();
    let mi = if rng.chance(0.85) { *rng.pick(&same) } else { rng.index(x.models.len()) };
    let model = match pick(rng, 60, 4) {
        0 => "NoSuchModel".to_string(),
        1 => String::new(),
        2 => format!(" {}", x.models[mi].name),
        3 => "POWER9".into(),
        _ => x.models[mi].name.clone(),
    };
    match rng.index(60) {
        0 => {}
        1 => {
            let _ = write!(o, "{ind}<model><![CDATA[{model}]]></model>{nl}");
        }
        2 => {
            let _ = write!(o, "{ind}<model fallback='forbid'>{model}</model>{nl}");
        }
        3 => {
            let _ = write!(o, "{ind}<model>{}</model>{nl}", model.replace('-', "&#45;"));
        }
        _ => {
            let _ = write!(o, "{ind}<model>{model}</model>{nl}");
        }
    }
    let model_vendor = x.models[mi].vendor;
    let vendor = match pick(rng, 40, 0) {
        5 if noisy => Some("Sparc".to_string()),
        0..=6 => None,
        40 => Some(String::new()),
        7..=9 => Some(x.vendors[rng.index(x.vendors.len())].name.clone()),
        _ => Some(x.vendors[model_vendor.unwrap_or(vendor_hint)].name.clone()),
    };
    if let Some(v) = &vendor {
        if v.is_empty() && rng.chance(0.5) {
            let _ = write!(o, "{ind}<vendor/>{nl}");
        } else {
            let _ = write!(o, "{ind}<vendor>{v}</vendor>{nl}");
        }
    }
    if rng.chance(0.8) {
        let v = num(rng, noisy);
        let _ = write!(o, "{ind}<microcode version={}/>{nl}", q(rng, &v));
    }
    if rng.chance(0.8) {
        let (f, m) = (num(rng, noisy), num(rng, noisy));
        let _ = write!(o, "{ind}<signature family={} model={} stepping='3'/>{nl}", q(rng, &f), q(rng, &m));
    }
    if rng.chance(0.7) {
        let scaling = *rng.pick(&["no", "yes", "no", "maybe"][..if noisy { 4 } else { 3 }]);
        let f = if noisy && rng.chance(0.05) {
            "fast".to_string()
        } else {
            (2_000_000_000 + rng.index(1 << 20)).to_string()
        };
        let _ = write!(o, "{ind}<counter name='tsc' frequency='{f}' scaling='{scaling}'/>{nl}");
    }
    if rng.chance(0.7) {
        let (s, c) = (num(rng, noisy), num(rng, noisy));
        let dies = if rng.chance(0.5) { " dies='1'".to_string() } else { String::new() };
        let _ = write!(o, "{ind}<topology sockets={}{dies} cores={} threads='2'/>{nl}", q(rng, &s), q(rng, &c));
    }
    if rng.chance(0.15) {
        let mode = *rng.pick(&["emulate", "passthrough", "disable", "other"][..if noisy { 4 } else { 3 }]);
        let level = *rng.pick(&["", " level='3'", " level='4'"][..if noisy { 3 } else { 2 }]);
        let _ = write!(o, "{ind}<cache{level} mode='{mode}'/>{nl}");
        if noisy && rng.chance(0.1) {
            let _ = write!(o, "{ind}<cache mode='emulate'/>{nl}");
        }
    }
    if rng.chance(0.5) {
        let mode = *rng.pick(&["emulate", "passthrough", "emulate", "bogus"][..if noisy { 4 } else { 3 }]);
        let _ = write!(o, "{ind}<maxphysaddr mode='{mode}' bits='46'/>{nl}");
    }
    let n = rng.index(14);
    let mut names: Vec<String> = (0..n).map(|_| x.features[rng.index(x.features.len())].name.clone()).collect();
    names.sort();
    names.dedup();
    if noisy && rng.chance(0.04) {
        names.push("no-such-feature".into());
    }
    if noisy && rng.chance(0.03) && !names.is_empty() {
        names.push(names[0].clone());
    }
    for f in &names {
        match pick(rng, 200, 5) {
            0 => {
                let _ = write!(o, "{ind}<feature name=''/>{nl}");
            }
            1 => {
                let _ = write!(o, "{ind}<feature policy='require'/>{nl}");
            }
            2 => {
                let _ = write!(o, "{ind}<feature name='{f}' name='{f}'/>{nl}");
            }
            3 => {
                let _ = write!(o, "{ind}<feature name={f}/>{nl}");
            }
            4 => {
                let _ = write!(o, "{ind}<feature name='{f}'&bogus;/>{nl}");
            }
            5 => {
                let _ = write!(o, "{ind}<feature name='{f}'></feature>{nl}");
            }
            6 => {
                let _ = write!(o, "{ind}<feature  name =  '{f}' />{nl}");
            }
            7 => {
                let _ = write!(o, "{ind}<!-- {f} -->{nl}");
            }
            _ => {
                let v = q(rng, f);
                let _ = write!(o, "{ind}<feature name={v}/>{nl}");
            }
        }
    }
    if rng.chance(0.4) {
        let _ = write!(o, "{ind}<pages unit='KiB' size='4'/>{nl}{ind}<pages unit='KiB' size='2048'/>{nl}");
    }
    if rng.chance(0.05) {
        let _ = write!(o, "{ind}<numa><cell id='0'><memory unit='KiB'>1&lt;2</memory></cell></numa>{nl}");
    }
    if noisy && rng.chance(0.03) {
        let _ = write!(o, "{ind}<arch>x86_64</arch>{nl}");
    }
    if rng.chance(0.02) {
        o.push_str("text &amp; more");
    }
    o.push_str(match pick(rng, 80, 2) {
        0 => "</cpu >",
        1 => "</cpux>",
        _ => "</cpu>",
    });
    o
}

/// One pool document, and whether it is meant to be a plain pool (streamed without fallback).
fn pool(rng: &mut Rng, map: &CpuMap) -> (Vec<u8>, bool) {
    let vendor_hint = rng.index(2);
    let n_distinct = 1 + rng.index(5);
    let noisy = rng.chance(0.5);
    let distinct: Vec<String> = (0..n_distinct).map(|_| host(rng, map, vendor_hint, noisy)).collect();
    let max = if rng.chance(0.2) { 300 } else { 25 };
    let n = 1 + rng.index(max);
    let mut doc = String::new();
    let mut plain = true;
    if rng.chance(0.1) {
        let prolog = *rng.pick(&["\n", "  \n", "<!-- pool -->\n", "<?xml version='1.0'?>\n", "\u{feff}"]);
        plain = !prolog.contains(['?', '\u{feff}']);
        doc.push_str(prolog);
    }
    for _ in 0..n {
        let i = if rng.chance(0.6) { 0 } else { rng.index(n_distinct) };
        doc.push_str(&distinct[i]);
        doc.push_str(match rng.index(30) {
            0 => "",
            1 => "\n\n",
            2 => "\n<!-- next host -->\n",
            3 => " \t\r\n",
            _ => "\n",
        });
    }
    let mut bytes = doc.into_bytes();
    plain &= !noisy;
    match if noisy { rng.index(40) } else { 9 } {
        0 => {
            let at = rng.index(bytes.len());
            bytes.insert(at, 0xff);
        }
        1 => {
            let at = rng.index(bytes.len());
            bytes.insert(at, 0x01);
        }
        2 => {
            let at = rng.index(bytes.len());
            bytes.truncate(at);
            plain = false;
        }
        3 => {
            bytes.splice(0..0, b"<cpuTest>".iter().copied());
            bytes.extend_from_slice(b"</cpuTest>");
            plain = false;
        }
        4 => {
            bytes.extend_from_slice(b"<?pi after?>");
            plain = false;
        }
        5 => {
            bytes.extend_from_slice(b"stray text");
            plain = false;
        }
        6 => {
            let at = rng.index(bytes.len());
            bytes.splice(at..at, "é€".bytes());
        }
        7 => {
            bytes.splice(0..0, b"<capabilities><host>".iter().copied());
            bytes.extend_from_slice(b"</host></capabilities>");
            plain = false;
        }
        8 => {
            // Several corruptions: a control character before an invalid UTF-8 byte.
            let a = rng.index(bytes.len());
            bytes.insert(a, 0x02);
            let b = a + 1 + rng.index(bytes.len() - a);
            bytes.insert(b, 0xc3);
        }
        _ => {}
    }
    (bytes, plain)
}

fn key(r: &Result<CpuDef, Failure>) -> String {
    match r {
        Ok(cpu) => format_cpu(cpu),
        Err(e) => format!("ERR {e:?} / {e}"),
    }
}

/// The streaming path as the command line runs it: the in-memory path on fallback.
fn streamed(map: &CpuMap, bytes: &[u8], limits: Limits, flags: (bool, bool), opts: StreamOpts) -> (String, bool) {
    let (features, migratable) = flags;
    match baseline_source(map, bytes, u64::MAX, limits, features, migratable, opts).unwrap() {
        Streamed::Done(r) => (key(&r), false),
        Streamed::Fallback => (key(&baseline_in_memory(map, bytes, limits, features, migratable)), true),
    }
}

#[test]
fn streaming_equals_in_memory_on_generated_pools() {
    let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
    let mut rng = Rng::new(seed());
    let (mut streamed_ok, mut streamed_err, mut fell_back, mut plain_fell_back) = (0, 0, 0, 0);
    for p in 0..pools() {
        let (bytes, plain) = pool(&mut rng, &map);
        let flags = (rng.chance(0.25), rng.chance(0.25));
        let limits = Limits::default();
        let want = key(&baseline_in_memory(&map, &bytes, limits, flags.0, flags.1));
        let chunks = [1 + rng.index(3), 1 + rng.index(64), 1 + rng.index(4096), 1 << 20];
        for (k, &chunk) in chunks.iter().enumerate() {
            let opts = StreamOpts { chunk_size: chunk, parallel: k % 2 == 1 };
            let (got, fb) = streamed(&map, &bytes, limits, flags, opts);
            assert_eq!(
                got,
                want,
                "pool {p} (seed {}), chunk {chunk}, parallel {}:\n{}",
                seed(),
                opts.parallel,
                String::from_utf8_lossy(&bytes)
            );
            if k == 3 {
                match (fb, want.starts_with("ERR")) {
                    (true, _) => {
                        fell_back += 1;
                        if plain {
                            plain_fell_back += 1;
                        }
                    }
                    (false, false) => streamed_ok += 1,
                    (false, true) => streamed_err += 1,
                }
            }
        }
    }
    println!(
        "streamed ok {streamed_ok}, streamed error {streamed_err}, fell back {fell_back} ({plain_fell_back} plain)"
    );
    // The streaming path must carry most pools itself, results and errors alike.
    let n = pools();
    assert!(streamed_ok * 5 >= n, "only {streamed_ok} of {n} pools streamed to a result");
    assert!(streamed_err * 5 >= n, "only {streamed_err} of {n} pools streamed to an error");
    assert_eq!(plain_fell_back, 0, "plain pools of host <cpu> elements must not need the in-memory path");
}

/// The first CPU is not checked against its model's vendor; the same CPU later in the pool is,
/// with its own index, wherever block boundaries fall.
#[test]
fn first_cpu_vendor_rule_and_error_indices() {
    let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
    let cpu = |m: &str, v: Option<&str>| {
        let v = v.map(|v| format!("<vendor>{v}</vendor>")).unwrap_or_default();
        format!("<cpu><arch>x86_64</arch><model>{m}</model>{v}</cpu>\n")
    };
    let odd = cpu("Haswell", Some("AMD"));
    let intel = cpu("Haswell", Some("Intel"));
    let bare = cpu("Haswell", None);
    let amd = cpu("EPYC", Some("AMD"));
    let pools = [
        vec![&odd, &amd, &amd, &odd, &amd],
        vec![&bare, &intel, &bare, &amd],
        vec![&bare, &amd, &intel],
        vec![&odd, &amd, &bare],
        vec![&bare, &bare, &odd],
        vec![&intel, &bare, &intel, &intel],
    ];
    let mut seen = Vec::new();
    for p in pools {
        let doc: String = p.into_iter().map(String::as_str).collect();
        let want = key(&baseline_in_memory(&map, doc.as_bytes(), Limits::default(), false, false));
        for chunk in [1, 3, 30, 70, 1000] {
            for parallel in [false, true] {
                let opts = StreamOpts { chunk_size: chunk, parallel };
                let (got, fb) = streamed(&map, doc.as_bytes(), Limits::default(), (false, false), opts);
                assert!(!fb);
                assert_eq!(got, want, "chunk {chunk}\n{doc}");
            }
        }
        seen.push(want);
    }
    assert!(seen[0].contains("ModelVendorMismatch") && seen[0].contains("index: 3"), "{}", seen[0]);
    assert!(seen[1].contains("VendorsMismatch"), "{}", seen[1]);
    assert!(seen[5].starts_with("<cpu"), "{}", seen[5]);
}

/// Host CPUs that differ only in places that do not change the baseline input (microcode,
/// TSC) are distinct byte strings; a realistic pool of those, in many block sizes.
#[test]
fn realistic_pool_streams_without_fallback_and_matches() {
    let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
    let mut doc = String::new();
    let hosts = [
        ("Skylake-Server-IBRS", "Intel", &["vmx", "invtsc", "pdpe1gb", "md-clear"][..]),
        ("Cascadelake-Server-noTSX", "Intel", &["vmx", "invtsc", "md-clear", "tsx-ctrl"][..]),
        ("Haswell-noTSX-IBRS", "Intel", &["vmx", "invtsc", "abm"][..]),
    ];
    // The first 40 hosts also go through tiny block sizes (one region per byte).
    let mut small = 0;
    for i in 0..2000 {
        if i == 40 {
            small = doc.len();
        }
        let (m, v, fs) = hosts[(i * 7 + i / 3) % hosts.len()];
        let _ = write!(
            doc,
            "<cpu>\n  <arch>x86_64</arch>\n  <model>{m}</model>\n  <vendor>{v}</vendor>\n  <microcode version='{}'/>\n  \
             <counter name='tsc' frequency='{}' scaling='no'/>\n  <topology sockets='2' dies='1' cores='16' threads='2'/>\n",
            100 + i % 3,
            2_095_078_000 + (i % 5) * 1000
        );
        for f in fs {
            let _ = writeln!(doc, "  <feature name='{f}'/>");
        }
        doc.push_str("  <pages unit='KiB' size='4'/>\n</cpu>\n");
    }
    let bytes = doc.as_bytes();
    for flags in [(false, false), (true, false), (false, true)] {
        let want = key(&baseline_in_memory(&map, bytes, Limits::default(), flags.0, flags.1));
        assert!(want.contains("<model fallback='allow'>Haswell-noTSX-IBRS</model>"), "{want}");
        if flags == (false, false) {
            // One region larger than the pending bound (16 MiB) covering a pool larger than it.
            let big = bytes.repeat((16 << 20) / bytes.len() + 2);
            let (got, fb) =
                streamed(&map, &big, Limits::default(), flags, StreamOpts { chunk_size: 1 << 26, parallel: true });
            assert!(!fb && got == want, "one 64 MiB region over {} bytes", big.len());
        }
        let want_small = key(&baseline_in_memory(&map, &bytes[..small], Limits::default(), flags.0, flags.1));
        for chunk in [1, 2, 3, 17, 100, 999, 4096, 65536, 1 << 22] {
            let (part, want) = if chunk < 100 { (&bytes[..small], &want_small) } else { (bytes, &want) };
            for parallel in [false, true] {
                let (got, fb) =
                    streamed(&map, part, Limits::default(), flags, StreamOpts { chunk_size: chunk, parallel });
                assert!(!fb, "chunk {chunk}: fell back");
                assert_eq!(&got, want, "chunk {chunk} parallel {parallel}");
            }
        }
    }
}

/// The document-wide limits (elements, CPUs) run out at the same element, with the same error,
/// whatever the block size.
#[test]
fn document_limits_are_exact() {
    let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
    let one = |m: &str, f: &str| format!("<cpu><arch>x86_64</arch><model>{m}</model><feature name='{f}'/></cpu>\n");
    let doc = format!(
        "{}{}{}{}",
        one("Haswell", "vmx"),
        one("Haswell", "vmx"),
        one("Broadwell", "vmx"),
        one("Haswell", "ss")
    );
    let bytes = doc.as_bytes();
    let mut errors = 0;
    for max_elements in 0..20 {
        for max_cpus in [1, 2, 3, 4, 100] {
            let limits = Limits { max_elements, max_cpus, ..Limits::default() };
            let want = key(&baseline_in_memory(&map, bytes, limits, false, false));
            errors += want.starts_with("ERR") as usize;
            for chunk in [1, 5, 40, 1000] {
                for parallel in [false, true] {
                    let (got, fb) =
                        streamed(&map, bytes, limits, (false, false), StreamOpts { chunk_size: chunk, parallel });
                    assert!(!fb);
                    assert_eq!(got, want, "max_elements {max_elements} max_cpus {max_cpus} chunk {chunk}");
                }
            }
        }
    }
    assert!(errors > 50, "the limits were hit {errors} times");
}

/// Errors inside an element are reported at the line and column the whole-document reader
/// reports, including columns counted in characters after multi-byte ones.
#[test]
fn error_positions_are_document_positions() {
    let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
    let good = "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n</cpu>\n";
    for bad in [
        "<cpu><arch>x86_64</arch><model>Haswell</model><topology sockets='0' cores='1' threads='1'/></cpu>",
        "<cpu>\n<arch>x86_64</arch><!-- é --><model>Haswell</model><feature name='vmx'/><feature name='vmx'/></cpu>",
        "<cpu><arch>x86_64</arch><model>Haswell</model><feature name='a'&x;/></cpu>",
        "<cpu mode='host-model'><arch>x86_64</arch><model>Haswell</model></cpu>",
        "<cpu><model>Haswell</model></cpu>",
    ] {
        let doc = format!("{good}{good}<!-- é€ -->  {bad}\n{good}");
        let want = key(&baseline_in_memory(&map, doc.as_bytes(), Limits::default(), false, false));
        assert!(want.starts_with("ERR Xml"), "{want}");
        for chunk in [1, 7, 1 << 20] {
            let (got, fb) = streamed(
                &map,
                doc.as_bytes(),
                Limits::default(),
                (false, false),
                StreamOpts { chunk_size: chunk, parallel: true },
            );
            assert!(!fb, "{bad}");
            assert_eq!(got, want);
        }
    }
}

/// File-level errors read as the in-memory path's `read_file` words them.
#[test]
fn file_errors_match_read_file() {
    let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stream");
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.xml");
    std::fs::write(&empty, b"").unwrap();
    let big = dir.join("big.xml");
    std::fs::write(&big, "<cpu><arch>x86_64</arch><model>Haswell</model></cpu>".repeat(4)).unwrap();
    let missing = dir.join("missing.xml");
    let opts = StreamOpts::default();
    for (path, max) in [(&empty, 1000), (&big, 100), (&missing, 1000), (&dir, 1000)] {
        let want = cpufleet_io::read_file(path, max).map(|_| ()).unwrap_err().to_string();
        let got =
            baseline_file(&map, path, max, Limits::default(), false, false, opts).map(|_| ()).unwrap_err().to_string();
        assert_eq!(got, want);
    }
    // A file too large and unreadable: the size is reported first, as read_file does (as root
    // the file stays readable, and this is one more size check).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.join("locked.xml");
        std::fs::write(&locked, "<cpu><arch>x86_64</arch><model>Haswell</model></cpu>".repeat(4)).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let want = cpufleet_io::read_file(&locked, 100).map(|_| ()).unwrap_err().to_string();
        let got = baseline_file(&map, &locked, 100, Limits::default(), false, false, opts)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert_eq!(got, want);
        assert!(want.contains("exceeds the input limit"), "{want}");
    }
    // Not a regular file (its size says nothing): read as read_file reads it.
    #[cfg(unix)]
    {
        let doc = "<cpu><arch>x86_64</arch><model>Haswell</model></cpu>";
        let want = key(&baseline_in_memory(&map, doc.as_bytes(), Limits::default(), false, false));
        let fifo = dir.join("fifo.xml");
        let _ = std::fs::remove_file(&fifo);
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            let f = fifo.clone();
            let writer = std::thread::spawn(move || std::fs::write(&f, doc).unwrap());
            let got = baseline_file(&map, &fifo, 1000, Limits::default(), false, false, opts).unwrap();
            writer.join().unwrap();
            assert_eq!(key(&got), want);
        }
    }
    // A file that grows or shrinks while it is read goes to the in-memory path, which reads
    // (and limits) what is there.
    struct Moving(Vec<u8>, u64);
    impl Source for Moving {
        fn size(&self) -> u64 {
            self.1
        }
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
            self.0[..].read_at(buf, offset)
        }
    }
    let doc = "<cpu><arch>x86_64</arch><model>Haswell</model></cpu>\n".repeat(3).into_bytes();
    let limits = Limits::default();
    for size in [doc.len() as u64 - 10, doc.len() as u64 + 10] {
        for chunk in [1, 20, 1000] {
            let src = Moving(doc.clone(), size);
            let o = StreamOpts { chunk_size: chunk, parallel: chunk == 20 };
            let r = baseline_source(&map, &src, 1 << 20, limits, false, false, o).unwrap();
            assert_eq!(r, Streamed::Fallback, "size {size} chunk {chunk}");
        }
    }
    let r = baseline_source(&map, &doc[..], 100, limits, false, false, opts).unwrap();
    let m = format!("file of {} bytes exceeds the input limit of 100 bytes", doc.len());
    assert_eq!(r, Streamed::Done(Box::new(Err(Failure::Input(m)))));
}

/// Several files streamed as their concatenation (`ConcatSource`): the same bytes as the
/// concatenated file, whatever the block size (regions and elements across file boundaries
/// included), and `baseline_concat` answers without reading the files one by one.
#[test]
fn concatenated_files_stream_as_one_document() {
    use cpufleet_stream::{baseline_concat, ConcatSource};
    let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V11_3_0).unwrap();
    let dir = std::env::temp_dir().join(format!("cpufleet-stream-concat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = [("Skylake-Server", &["vmx", "invtsc"][..]), ("Haswell-noTSX", &["vmx"][..]), ("Broadwell", &[][..])];
    let mut paths = Vec::new();
    let mut all = Vec::new();
    for i in 0..30 {
        let (m, fs) = hosts[i % 3];
        let mut doc = String::new();
        for _ in 0..(1 + i % 4) {
            let _ = write!(doc, "<cpu>\n  <arch>x86_64</arch>\n  <model>{m}</model>\n  <vendor>Intel</vendor>\n");
            for f in fs {
                let _ = writeln!(doc, "  <feature name='{f}'/>");
            }
            doc.push_str("</cpu>\n");
        }
        let p = dir.join(format!("{i:02}.xml"));
        std::fs::write(&p, &doc).unwrap();
        all.extend_from_slice(doc.as_bytes());
        paths.push(p);
    }
    let sizes: Vec<(std::path::PathBuf, u64)> =
        paths.iter().map(|p| (p.clone(), p.metadata().unwrap().len())).collect();
    let src = ConcatSource::new(sizes);
    for flags in [(false, false), (true, false), (false, true)] {
        let want = key(&baseline_in_memory(&map, &all, Limits::default(), flags.0, flags.1));
        assert!(want.contains("<model fallback='allow'>"), "{want}");
        for chunk in [1, 7, 100, 4096, 1 << 21] {
            let opts = StreamOpts { chunk_size: chunk, parallel: true };
            match baseline_source(&map, &src, u64::MAX, Limits::default(), flags.0, flags.1, opts).unwrap() {
                Streamed::Done(r) => assert_eq!(key(&r), want, "chunk {chunk}"),
                Streamed::Fallback => panic!("chunk {chunk}: fell back"),
            }
        }
        let got = baseline_concat(&map, &paths, 1 << 20, Limits::default(), flags.0, flags.1, StreamOpts::default());
        assert_eq!(key(&Ok(got.unwrap().expect("streamed"))), want);
    }
    // A file over the limit, or a missing one: the caller reads them one by one.
    let opts = StreamOpts::default();
    assert_eq!(baseline_concat(&map, &paths, 10, Limits::default(), false, false, opts).unwrap(), None);
    let missing = [paths[0].clone(), dir.join("missing.xml")];
    assert_eq!(baseline_concat(&map, &missing, 1 << 20, Limits::default(), false, false, opts).unwrap(), None);
    let _ = std::fs::remove_dir_all(&dir);
}
