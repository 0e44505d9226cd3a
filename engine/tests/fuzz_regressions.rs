//! One named test per input that made a fuzz target (`fuzz/`) crash, with the root cause. The
//! inputs are minimised and inlined; each test runs the same helper the target runs, plus a
//! direct check of the fixed behaviour.

use cpufleet_engine::xml::{self, Limits, TypeHint};
use cpufleet_engine::XmlErrorKind;
use cpufleet_reference::laws as fuzzing;

/// Found by `cpu_xml_roundtrip` in its first minute (crash-a4b77f10…, minimised by hand).
///
/// Root cause: the reader rejected C0 control characters only as raw bytes, before parsing.
/// A numeric character reference such as `&#30;` (U+001E) was expanded by quick-xml into the
/// attribute value, so the parsed CPU held a feature name with a control character in it; the
/// writer then wrote that character raw, and reading the written document failed with
/// `ForbiddenChar(0x1e)`: a CPU the tool accepted could not be written back in a form it
/// accepts. XML 1.0 (production [66], "Characters referred to using character references must
/// match the production for Char") forbids such references, and libvirt's parser (libxml2)
/// rejects them. Fix: after unescaping an attribute value or text, a referenced C0 control other
/// than tab, newline and carriage return is an error, `ForbiddenChar` at the element — the same
/// error as for the raw byte (`&#0;`, which quick-xml already refused, now reports it too).
#[test]
fn char_reference_to_control_character_is_refused() {
    let crash = "<cpu>\n  <arch>x86_64</arch>\n  <model>Skylake-Server-IBRS</model>\n  <vendor>Intel</vendor>\n  \
                 <signature family='6' model='85' stepping='6'/>\n  <feature name='a&#30;ifma'/>\n  \
                 8feature Rame='movdiri'/>\n</cpu>\n";
    assert_eq!(fuzzing::cpu_xml_roundtrip(crash.as_bytes()), Ok(()));
    let e =
        xml::parse_cpu(crash.as_bytes(), TypeHint::Auto, cpufleet_engine::LibvirtVersion::V9_0_0, Limits::default())
            .unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::ForbiddenChar(0x1e));
    assert_eq!((e.pos.line, e.pos.col, e.element.as_str()), (6, 3, "feature"));
    for (doc, c) in [
        ("<cpu><model>a&#x1F;b</model></cpu>", 0x1f),
        ("<cpu><model>&#1;</model></cpu>", 1),
        ("<cpu mode='&#x0;'/>", 0),
        ("<cpu><model>x</model><vendor>&#27;[31m</vendor></cpu>", 0x1b),
    ] {
        let e =
            xml::parse_cpu(doc.as_bytes(), TypeHint::Auto, cpufleet_engine::LibvirtVersion::V9_0_0, Limits::default())
                .unwrap_err();
        assert_eq!(e.kind, XmlErrorKind::ForbiddenChar(c), "{doc}");
    }
    // Tab, newline and carriage return are XML characters: allowed, and they round-trip.
    let ok = "<cpu><model>a&#9;b&#10;c&#13;d</model></cpu>";
    let cpu = xml::parse_cpu(ok.as_bytes(), TypeHint::Auto, cpufleet_engine::LibvirtVersion::V9_0_0, Limits::default())
        .unwrap();
    assert_eq!(cpu.model.as_deref(), Some("a\tb\nc\rd"));
    assert_eq!(fuzzing::cpu_xml_roundtrip(ok.as_bytes()), Ok(()));
}

/// Every committed seed (`corpus/<target>/`) passes the helper its target calls, so `cargo test`
/// exercises the fuzz targets on their seeds without cargo-fuzz or a nightly toolchain, and a
/// seed that would crash its target is caught here first. (`baseline_laws` seeds are raw bytes
/// for `arbitrary`, decoded only in the fuzz crate; its laws run in `laws.rs`.)
#[test]
fn corpus_seeds_pass_their_targets() {
    for v in cpufleet_engine::LibvirtVersion::ALL {
        corpus_seeds_pass_their_targets_under(v);
    }
}

fn corpus_seeds_pass_their_targets_under(v: cpufleet_engine::LibvirtVersion) {
    let map = cpufleet_engine::CpuMap::embedded(v).unwrap();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let scanner = cpufleet_engine::scan::HostScanner::new(&map.x86);
    let mut n = 0;
    let mut scanned = 0;
    for target in [
        "cpu_xml_parse",
        "cpu_xml_roundtrip",
        "cpuid_data_parse",
        "capabilities_parse",
        "cpu_map_parse",
        "host_scanner",
    ] {
        let mut seeds: Vec<_> = std::fs::read_dir(corpus.join(target)).unwrap().map(|e| e.unwrap().path()).collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "corpus/{target} is empty");
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            let verdict = match target {
                "cpu_xml_parse" => {
                    fuzzing::cpu_xml_parse(&data);
                    Ok(())
                }
                "cpu_xml_roundtrip" => fuzzing::cpu_xml_roundtrip(&data),
                "cpuid_data_parse" => fuzzing::cpuid_data_parse(&map, &data),
                "capabilities_parse" => {
                    assert!(fuzzing::capabilities_parse(&map, &data) > 0, "{} reads no CPU", seed.display());
                    Ok(())
                }
                "host_scanner" => fuzzing::host_scanner(&map, &scanner, &data).map(|answered| {
                    scanned += usize::from(answered);
                }),
                _ => fuzzing::cpu_map_parse(&data),
            };
            assert_eq!(verdict, Ok(()), "libvirt {v}: {}", seed.display());
            n += 1;
        }
    }
    assert!(n >= 50, "only {n} seeds");
    // The decoded hosts are plain: the scanner answers for them (so the law was exercised).
    assert!(scanned >= 15, "libvirt {v}: the host scanner answered for only {scanned} seeds");
}

/// Found by `host_scanner` within its first 34 executions (crash-7d5513f0…, a decoded-host seed
/// with one byte changed): a raw C0 control (U+0016) in the whitespace between two children.
///
/// Root cause: the host scanner checked structure and names, not characters, so it answered with
/// the CPU while the full reader rejects the document with `ForbiddenChar(0x16)` at 6:2.
/// `cpufleet baseline` was never wrong (the stream applies the document-wide character checks
/// itself before it uses a scanned CPU), but the scanner's own contract, "it answers only when
/// the reader gives the same CPU", had an exception. Fixed in the scanner: it applies the
/// reader's character rule (`xml::cursor::{utf8_error, first_forbidden}`) and declines, so the
/// law holds with no exception, for raw controls and invalid UTF-8 alike.
#[test]
fn scanner_declines_a_control_character_that_the_reader_rejects() {
    let doc = "<cpu>\n  <arch>x86_64</arch>\n  <model>SandyBridge</model>\n  <vendor>Intel</vendor>\n  \
               <signature family='6' model='42' stepping='0'/>\n \u{16}<feature name='tsc_adjust'/>\n</cpu>";
    for v in [cpufleet_engine::LibvirtVersion::V9_0_0, cpufleet_engine::LibvirtVersion::V11_3_0] {
        let map = cpufleet_engine::CpuMap::embedded(v).unwrap();
        let scanner = cpufleet_engine::scan::HostScanner::new(&map.x86);
        let clean = doc.replace('\u{16}', " ");
        let answers = |d: &[u8]| {
            matches!(scanner.scan(d, &Limits::default()), cpufleet_engine::scan::Scan::Plain { cpu: Some(_), .. })
        };
        assert!(answers(clean.as_bytes()), "the scanner answers on the same element without the control");
        assert!(!answers(doc.as_bytes()), "the scanner declines the raw control");
        let mut bad_utf8 = clean.clone().into_bytes();
        let at = clean.find("tsc_adjust").unwrap();
        bad_utf8[at] = 0xff;
        assert!(!answers(&bad_utf8), "the scanner declines invalid UTF-8");
        let e = xml::read_cpu_document(doc.as_bytes(), TypeHint::Host, v, Limits::default()).unwrap_err();
        assert_eq!((e.kind, e.pos.line, e.pos.col), (XmlErrorKind::ForbiddenChar(0x16), 6, 2));
        assert_eq!(fuzzing::host_scanner(&map, &scanner, doc.as_bytes()), Ok(false));
        assert_eq!(fuzzing::host_scanner(&map, &scanner, &bad_utf8), Ok(false));
    }
}
