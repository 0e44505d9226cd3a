//! Malformed and hostile inputs, one table: each row feeds bytes to one engine reader
//! (`read_cpu_document`, `parse_cpu`, `parse_cpuid_data`, `CpuMap::load`) and names the exact
//! typed error it must produce (the `XmlErrorKind` / `MapError` variant and its fields, not just
//! "an error"), and for some rows the line and column. Every row runs on its own thread under a
//! watchdog (a hang detector, not a performance assertion) and inside `catch_unwind`, so a panic
//! or a runaway parse is reported with the row's name.

use cpufleet_engine::xml::{self, Limits, TypeHint};
use cpufleet_engine::LibvirtVersion;
use cpufleet_engine::{CpuMap, MapError, XmlError, XmlErrorKind};
use std::sync::mpsc;
use std::time::Duration;

/// Which reader a row exercises.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// `read_cpu_document` (any CPU document) with this type hint.
    Doc(TypeHint),
    /// `parse_cpu` (exactly one `<cpu>` root) with this type hint.
    Cpu(TypeHint),
    /// `parse_cpuid_data`.
    Cpuid,
    /// `CpuMap::load`: the input is `index.xml`; `Row::files` are the files it may include.
    Map,
}

/// The error a row must produce.
enum Expect {
    /// Exactly this kind.
    Kind(XmlErrorKind),
    /// `XmlErrorKind::Syntax` whose message contains this text.
    Syntax(&'static str),
    /// `XmlErrorKind::Invalid` whose message contains this text.
    Invalid(&'static str),
    /// `XmlErrorKind::InvalidValue` for this attribute (or element text) and value.
    Value(&'static str, &'static str),
    /// A map error satisfying the predicate (described for the failure message).
    Map(&'static str, fn(&MapError) -> bool),
}

struct Row {
    name: &'static str,
    reader: Reader,
    input: Box<dyn Fn() -> Vec<u8> + Send>,
    files: Vec<(&'static str, String)>,
    limits: Limits,
    expect: Expect,
    /// Expected (line, column) of the error, where it is worth pinning.
    at: Option<(u32, u32)>,
}

fn row(name: &'static str, reader: Reader, input: impl Into<Vec<u8>>, expect: Expect) -> Row {
    let bytes: Vec<u8> = input.into();
    Row {
        name,
        reader,
        input: Box::new(move || bytes.clone()),
        files: Vec::new(),
        limits: Limits::default(),
        expect,
        at: None,
    }
}

/// A row whose (large) input is built lazily on its own thread.
fn big(name: &'static str, reader: Reader, make: fn() -> Vec<u8>, expect: Expect) -> Row {
    Row { input: Box::new(make), ..row(name, reader, Vec::new(), expect) }
}

impl Row {
    fn at(mut self, line: u32, col: u32) -> Row {
        self.at = Some((line, col));
        self
    }
    fn limits(mut self, limits: Limits) -> Row {
        self.limits = limits;
        self
    }
    fn files(mut self, files: Vec<(&'static str, String)>) -> Row {
        self.files = files;
        self
    }
}

const DOC: Reader = Reader::Doc(TypeHint::Auto);
const CPU: Reader = Reader::Cpu(TypeHint::Auto);
const HOST: Reader = Reader::Cpu(TypeHint::Host);
const GUEST: Reader = Reader::Cpu(TypeHint::Guest);

/// What a reader returned: an XML error, a map error, or success.
#[derive(Debug)]
enum Got {
    Xml(XmlError),
    Map(MapError),
    Ok(String),
}

fn run(reader: Reader, input: &[u8], files: &[(&'static str, String)], limits: Limits, v: LibvirtVersion) -> Got {
    let done = |r: Result<String, XmlError>| match r {
        Ok(s) => Got::Ok(s),
        Err(e) => Got::Xml(e),
    };
    match reader {
        Reader::Doc(h) => done(xml::read_cpu_document(input, h, v, limits).map(|d| format!("{:?}", d.cpus))),
        Reader::Cpu(h) => done(xml::parse_cpu(input, h, v, limits).map(|c| format!("{c:?}"))),
        Reader::Cpuid => done(xml::parse_cpuid_data(input, limits).map(|d| format!("{d:?}"))),
        Reader::Map => {
            let Ok(index) = std::str::from_utf8(input) else { return Got::Ok("not UTF-8".into()) };
            let lookup = |n: &str| files.iter().find(|(f, _)| *f == n).map(|(_, t)| t.as_str());
            match CpuMap::load(v, index, &lookup) {
                Ok(_) => Got::Ok("map".into()),
                Err(e) => Got::Map(e),
            }
        }
    }
}

fn matches(expect: &Expect, got: &Got) -> bool {
    match (expect, got) {
        (Expect::Kind(k), Got::Xml(e)) => e.kind == *k,
        (Expect::Syntax(s), Got::Xml(e)) => matches!(&e.kind, XmlErrorKind::Syntax(m) if m.contains(s)),
        (Expect::Invalid(s), Got::Xml(e)) => matches!(&e.kind, XmlErrorKind::Invalid(m) if m.contains(s)),
        (Expect::Value(a, v), Got::Xml(e)) => {
            matches!(&e.kind, XmlErrorKind::InvalidValue { attribute, value, .. } if attribute == a && value == v)
        }
        (Expect::Map(_, f), Got::Map(e)) => f(e),
        _ => false,
    }
}

fn describe(expect: &Expect) -> String {
    match expect {
        Expect::Kind(k) => format!("{k:?}"),
        Expect::Syntax(s) => format!("Syntax(..{s}..)"),
        Expect::Invalid(s) => format!("Invalid(..{s}..)"),
        Expect::Value(a, v) => format!("InvalidValue {{ attribute: {a}, value: {v} }}"),
        Expect::Map(d, _) => format!("MapError::{d}"),
    }
}

const X86_INDEX: &str = "<cpus>\n  <arch name='x86'>\n    <include filename='x.xml'/>\n  </arch>\n</cpus>\n";

fn map_file(body: &str) -> Vec<(&'static str, String)> {
    vec![("x.xml", format!("<cpus>\n{body}</cpus>\n"))]
}

const VENDOR: &str = "  <vendor name='Intel' string='GenuineIntel'/>\n";
const FPU: &str = "  <feature name='fpu'>\n    <cpuid eax_in='0x01' edx='0x01'/>\n  </feature>\n";

fn deep_nesting() -> Vec<u8> {
    let n = 100_000;
    let mut s = String::with_capacity(n * 7 + 16);
    s.push_str("<cpu>");
    s.push_str(&"<a>".repeat(n));
    s.push_str(&"</a>".repeat(n));
    s.push_str("</cpu>");
    s.into_bytes()
}

fn huge_attribute() -> Vec<u8> {
    let mut s = String::from("<cpu><model fallback='");
    s.push_str(&"A".repeat(50 << 20));
    s.push_str("'>Haswell</model></cpu>");
    s.into_bytes()
}

fn huge_text() -> Vec<u8> {
    format!("<cpu><model>{}</model></cpu>", "A".repeat(50 << 20)).into_bytes()
}

fn million_features() -> Vec<u8> {
    let mut s = String::from("<cpu match='exact'>\n  <model>Haswell</model>\n");
    for i in 0..1_000_000 {
        s.push_str("  <feature name='f");
        s.push_str(&i.to_string());
        s.push_str("'/>\n");
    }
    s.push_str("</cpu>\n");
    s.into_bytes()
}

/// A start tag with a million attributes, the last repeating the first. Regression: quick-xml's
/// duplicate-attribute check (and the engine's own, then) compared every attribute with every
/// earlier one, so such a tag cost time quadratic in its size (1.6 MB of attributes took 44 s,
/// this 11 MB tag would have taken about half an hour); the check is now a hash set beyond 16
/// attributes, and names the attribute.
fn million_attributes() -> Vec<u8> {
    let mut s = String::from("<cpu");
    for i in 0..1_000_000 {
        s.push_str(" a");
        s.push_str(&i.to_string());
        s.push_str("=''");
    }
    s.push_str(" a0='again'/>");
    s.into_bytes()
}

fn many_cpus() -> Vec<u8> {
    "<cpu><model>Haswell</model></cpu>\n".repeat(10).into_bytes()
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<cpu><model>&lol9;</model></cpu>
"#;

const XXE: &str = r#"<?xml version="1.0"?>
<!DOCTYPE cpu [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<cpu><model>&xxe;</model></cpu>
"#;

fn rows() -> Vec<Row> {
    use XmlErrorKind as K;
    let guest = |body: &str| {
        format!("<cpu mode='custom' match='exact'>\n  <model fallback='allow'>Haswell</model>\n{body}</cpu>\n")
    };
    let host = |body: &str| format!("<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n{body}</cpu>\n");
    let cpuid = |body: &str| format!("<cpudata arch='x86'>\n{body}</cpudata>\n");
    let small = Limits { max_bytes: 100, ..Limits::default() };
    vec![
        // --- Well-formedness.
        row("truncated inside an end tag", CPU, "<cpu mode='custom'>\n  <model>Haswell</mod", Expect::Syntax("")).at(2, 17),
        row("truncated after a child", DOC, "<cpu>\n  <model>Haswell</model>\n", Expect::Syntax("<cpu> is not closed")).at(3, 1),
        row("unclosed tag", CPU, "<cpu>\n  <model>Haswell\n</cpu>\n", Expect::Syntax("")),
        row("mismatched end tag", DOC, "<cpu>\n  <model>Haswell</vendor>\n</cpu>\n", Expect::Syntax("")).at(2, 17),
        row("end tag without start", DOC, "</cpu>", Expect::Syntax("")),
        // The single-document reader (what libvirt's parser reads) refuses text outside the root;
        // the multi-document reader takes its input as a container's content, like virsh.
        row("text outside the root", CPU, "hello <cpu/>", Expect::Syntax("text outside of any element")).at(1, 1),
        row("only an unknown root", DOC, "hello <foo><cpu/></foo>", Expect::Kind(K::UnexpectedRoot { found: "foo".into(), expected: "<cpu>, <cpuTest>, <capabilities>, <domainCapabilities> or <domain>" })).at(1, 7),
        row("text after the root", CPU, "<cpu/>\ntrailing", Expect::Syntax("text outside of any element")),
        row("two roots for parse_cpu", CPU, "<cpu/>\n<cpu/>\n", Expect::Syntax("extra content")).at(2, 1),
        row("unquoted attribute", CPU, "<cpu mode=custom/>", Expect::Syntax("")),
        row("duplicate attribute", CPU, "<cpu mode='custom' mode='host-model'/>", Expect::Kind(K::DuplicateAttribute("mode".into()))).at(1, 1),
        row("empty document", DOC, "", Expect::Kind(K::Empty)),
        row("white space only", CPU, " \n\t\n", Expect::Kind(K::Empty)),
        row("comment only", DOC, "<!-- nothing here -->\n", Expect::Kind(K::MissingElement("cpu"))),
        row("invalid UTF-8", DOC, b"<cpu>\n  <model>Has\xffwell</model>\n</cpu>".to_vec(), Expect::Kind(K::InvalidUtf8)).at(2, 13),
        row("NUL byte", DOC, b"<cpu>\n<model>Haswell\0</model></cpu>".to_vec(), Expect::Kind(K::ForbiddenChar(0))).at(2, 15),
        row("character reference to a C0 control", CPU, "<cpu>\n  <model>Has&#x1b;well</model>\n</cpu>", Expect::Kind(K::ForbiddenChar(0x1b))).at(2, 10),
        row("character reference to NUL", CPU, "<cpu><feature name='&#0;'/></cpu>", Expect::Kind(K::ForbiddenChar(0))),
        row("other C0 control", CPU, "<cpu>\u{1b}</cpu>", Expect::Kind(K::ForbiddenChar(0x1b))),
        // --- Resource attacks.
        big("100,000-deep nesting", DOC, deep_nesting, Expect::Kind(K::TooDeep { limit: 64 })),
        row("billion laughs DTD", DOC, BILLION_LAUGHS, Expect::Kind(K::DtdNotAllowed)).at(2, 1),
        row("external entity to /etc/passwd", DOC, XXE, Expect::Kind(K::DtdNotAllowed)),
        row("undeclared entity", CPU, "<cpu><model>&xxe;</model></cpu>", Expect::Kind(K::UnknownEntity("xxe".into()))),
        row("undeclared entity in an attribute", CPU, "<cpu mode='&xxe;'/>", Expect::Kind(K::UnknownEntity("xxe".into()))),
        big("50 MB attribute", DOC, huge_attribute, Expect::Kind(K::TooLarge { what: "attribute value", limit: 64 << 10 })),
        big("50 MB text", DOC, huge_text, Expect::Kind(K::TooLarge { what: "text", limit: 64 << 10 })),
        big("a million features", DOC, million_features, Expect::Kind(K::TooMany { what: "features in one CPU", limit: 4096 })),
        big("a million attributes, one repeated", DOC, million_attributes, Expect::Kind(K::DuplicateAttribute("a0".into()))),
        big("more CPUs than the limit", DOC, many_cpus, Expect::Kind(K::TooMany { what: "CPUs", limit: 3 }))
            .limits(Limits { max_cpus: 3, ..Limits::default() }),
        row("more elements than the limit", DOC, "<cpu><a/><a/><a/><a/></cpu>", Expect::Kind(K::TooMany { what: "elements", limit: 3 }))
            .limits(Limits { max_elements: 3, ..Limits::default() }),
        row("input above the byte limit", DOC, host("").repeat(3), Expect::Kind(K::TooLarge { what: "input", limit: 100 })).limits(small),
        // --- Structure and roots.
        row("wrong root (document)", DOC, "<host><cpu/></host>", Expect::Kind(K::UnexpectedRoot {
            found: "host".into(),
            expected: "<cpu>, <cpuTest>, <capabilities>, <domainCapabilities> or <domain>",
        })),
        row("wrong root (cpu)", CPU, "<cpus/>", Expect::Kind(K::UnexpectedRoot { found: "cpus".into(), expected: "<cpu>" })),
        row("wrong root (cpudata)", Reader::Cpuid, "<cpu/>", Expect::Kind(K::UnexpectedRoot { found: "cpu".into(), expected: "<cpudata>" })),
        row("capabilities without host cpu", DOC, "<capabilities><host/></capabilities>", Expect::Kind(K::MissingElement("host/cpu"))),
        row("domain without cpu", DOC, "<domain type='kvm'><name>x</name></domain>", Expect::Kind(K::MissingElement("cpu"))),
        // --- CPU semantics (virCPUDefParseXML).
        row("unknown policy", CPU, guest("  <feature policy='maybe' name='sse'/>\n"), Expect::Value("policy", "maybe")).at(3, 3),
        row("unknown mode", CPU, "<cpu mode='host-magic'/>", Expect::Value("mode", "host-magic")),
        row("unknown match", CPU, "<cpu match='fuzzy'><model>Haswell</model></cpu>", Expect::Value("match", "fuzzy")),
        row("unknown check", CPU, "<cpu check='maybe'/>", Expect::Value("check", "maybe")),
        row("unknown fallback", CPU, "<cpu><model fallback='never'>Haswell</model></cpu>", Expect::Value("fallback", "never")),
        row("duplicate feature", CPU, guest("  <feature name='sse'/>\n  <feature policy='disable' name='sse'/>\n"), Expect::Kind(K::DuplicateFeature("sse".into()))).at(4, 3),
        row("empty feature name", CPU, guest("  <feature policy='require' name=''/>\n"), Expect::Kind(K::EmptyFeatureName)).at(3, 3),
        row("feature without name", HOST, host("  <feature/>\n"), Expect::Kind(K::EmptyFeatureName)),
        row("non-numeric topology", CPU, guest("  <topology sockets='two' cores='1' threads='1'/>\n"), Expect::Value("sockets", "two")),
        row("overflowing topology", CPU, guest("  <topology sockets='1' cores='4294967296' threads='1'/>\n"), Expect::Value("cores", "4294967296")),
        row("negative topology", CPU, guest("  <topology sockets='1' cores='1' threads='-1'/>\n"), Expect::Value("threads", "-1")),
        row("topology without sockets", CPU, guest("  <topology cores='1' threads='1'/>\n"), Expect::Kind(K::MissingAttribute("sockets"))),
        row("arch together with match", DOC, "<cpu match='exact'>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n</cpu>", Expect::Invalid("'arch' element cannot be used")).at(1, 1),
        row("vendor without model", CPU, "<cpu>\n  <vendor>Intel</vendor>\n</cpu>", Expect::Invalid("CPU vendor specified without CPU model")),
        row("features without model", CPU, "<cpu>\n  <feature name='sse'/>\n</cpu>", Expect::Invalid("Non-empty feature list specified without CPU model")),
        row("vendor_id of wrong length", CPU, "<cpu><model vendor_id='Intel'>Haswell</model></cpu>", Expect::Invalid("exactly 12 characters")),
        row("vendor_id with a comma", CPU, "<cpu><model vendor_id='Genuine,Inte'>Haswell</model></cpu>", Expect::Invalid("vendor id is invalid")),
        row("migratable on a custom CPU", CPU, "<cpu migratable='on'><model>Haswell</model></cpu>", Expect::Invalid("migratable is only allowed")),
        row("migratable neither on nor off", CPU, "<cpu mode='host-passthrough' migratable='yes'/>", Expect::Value("migratable", "yes")),
        row("host CPU without arch", HOST, "<cpu><model>Haswell</model></cpu>", Expect::Invalid("Missing CPU architecture")),
        row("host CPU of unknown arch", DOC, "<cpu><arch>z80</arch><model>Haswell</model></cpu>", Expect::Invalid("Unknown architecture z80")),
        row("host CPU with a mode", HOST, "<cpu mode='custom'><arch>x86_64</arch><model>Haswell</model></cpu>", Expect::Invalid("mode is only allowed for guest")),
        row("host CPU without model", DOC, "<cpu><arch>x86_64</arch></cpu>", Expect::Invalid("Missing CPU model name")),
        row("non-numeric signature", HOST, host("  <signature family='six' model='60'/>\n"), Expect::Value("family", "six")),
        row("overflowing microcode", HOST, host("  <microcode version='99999999999'/>\n"), Expect::Value("version", "99999999999")),
        row("overflowing tsc frequency", HOST, host("  <counter name='tsc' frequency='18446744073709551616'/>\n"), Expect::Value("frequency", "18446744073709551616")),
        row("cache level 4", GUEST, guest("  <cache level='4' mode='emulate'/>\n"), Expect::Value("level", "4")),
        row("two caches", GUEST, guest("  <cache mode='emulate'/>\n  <cache mode='disable'/>\n"), Expect::Invalid("at most one CPU cache")).at(4, 3),
        row("unknown maxphysaddr mode", GUEST, guest("  <maxphysaddr mode='guess'/>\n"), Expect::Value("mode", "guess")),
        // --- CPUID dumps (virCPUx86DataParse).
        row("cpudata without arch", Reader::Cpuid, "<cpudata><cpuid eax_in='0x1'/></cpudata>", Expect::Kind(K::MissingAttribute("arch"))),
        row("cpudata of another arch", Reader::Cpuid, "<cpudata arch='arm'/>", Expect::Value("arch", "arm")),
        row("non-numeric CPUID leaf", Reader::Cpuid, cpuid("  <cpuid eax_in='0xZZ' eax='0x1'/>\n"), Expect::Value("eax_in", "0xZZ")).at(2, 3),
        row("overflowing CPUID register", Reader::Cpuid, cpuid("  <cpuid eax_in='0x1' edx='0x100000000'/>\n"), Expect::Value("edx", "0x100000000")),
        row("negative CPUID register", Reader::Cpuid, cpuid("  <cpuid eax_in='0x1' ecx='-1'/>\n"), Expect::Value("ecx", "-1")),
        row("bad octal CPUID value", Reader::Cpuid, cpuid("  <cpuid eax_in='09'/>\n"), Expect::Value("eax_in", "09")),
        row("CPUID without leaf", Reader::Cpuid, cpuid("  <cpuid eax='0x1'/>\n"), Expect::Kind(K::MissingAttribute("eax_in"))),
        row("MSR without edx", Reader::Cpuid, cpuid("  <msr index='0x10a' eax='0x1'/>\n"), Expect::Kind(K::MissingAttribute("edx"))),
        row("two cpudata roots", Reader::Cpuid, "<cpudata arch='x86'/><cpudata arch='x86'/>", Expect::Syntax("extra content")),
        // --- CPU maps (cpuMapLoad).
        row("map: wrong root", Reader::Map, "<cpu/>", Expect::Map("Xml { index.xml, UnexpectedRoot }", |e| {
            matches!(e, MapError::Xml { file, error } if file == "index.xml" && matches!(error.kind, XmlErrorKind::UnexpectedRoot { .. }))
        })),
        row("map: missing include", Reader::Map, X86_INDEX, Expect::Map("MissingFile { x.xml }", |e| {
            matches!(e, MapError::MissingFile { file } if file == "x.xml")
        })),
        row("map: DTD in an include", Reader::Map, X86_INDEX, Expect::Map("Xml { x.xml, DtdNotAllowed }", |e| {
            matches!(e, MapError::Xml { file, error } if file == "x.xml" && error.kind == XmlErrorKind::DtdNotAllowed)
        }))
        .files(vec![("x.xml", XXE.replace("<cpu><model>&xxe;</model></cpu>", "<cpus/>"))]),
        row("map: duplicate feature", Reader::Map, X86_INDEX, Expect::Map("Duplicate { feature fpu }", |e| {
            matches!(e, MapError::Duplicate { what: "feature", name, .. } if name == "fpu")
        }))
        .files(map_file(&format!("{FPU}{FPU}"))),
        row("map: model with unknown feature", Reader::Map, X86_INDEX, Expect::Map("Unknown { feature sse }", |e| {
            matches!(e, MapError::Unknown { what: "feature", name, .. } if name == "sse")
        }))
        .files(map_file(&format!("{FPU}  <model name='m'>\n    <decode host='on' guest='on'/>\n    <feature name='sse'/>\n  </model>\n"))),
        row("map: unknown parent model", Reader::Map, X86_INDEX, Expect::Map("Unknown { parent CPU model }", |e| {
            matches!(e, MapError::Unknown { what: "parent CPU model", name, .. } if name == "nope")
        }))
        .files(map_file("  <model name='m'>\n    <decode host='on' guest='on'/>\n    <model name='nope'/>\n  </model>\n")),
        row("map: vendor string of wrong length", Reader::Map, X86_INDEX, Expect::Map("Invalid { vendor string }", |e| {
            matches!(e, MapError::Invalid { message, .. } if message.contains("invalid CPU vendor string"))
        }))
        .files(map_file("  <vendor name='Intel' string='Intel'/>\n")),
        row("map: model without decode", Reader::Map, X86_INDEX, Expect::Map("Invalid { missing <decode> }", |e| {
            matches!(e, MapError::Invalid { message, .. } if message.contains("missing <decode>"))
        }))
        .files(map_file(&format!("{VENDOR}  <model name='m'/>\n"))),
        row("map: overflowing CPUID value", Reader::Map, X86_INDEX, Expect::Map("Xml { InvalidValue edx }", |e| {
            matches!(e, MapError::Xml { error, .. } if matches!(&error.kind, XmlErrorKind::InvalidValue { attribute, .. } if attribute == "edx"))
        }))
        .files(map_file("  <feature name='x'>\n    <cpuid eax_in='0x1' edx='0x1ffffffff'/>\n  </feature>\n")),
        row("map: stepping out of range", Reader::Map, X86_INDEX, Expect::Map("Xml { InvalidValue stepping }", |e| {
            matches!(e, MapError::Xml { error, .. } if matches!(&error.kind, XmlErrorKind::InvalidValue { attribute, value, .. } if attribute == "stepping" && value == "0-16"))
        }))
        .files(map_file("  <model name='m'>\n    <decode host='on' guest='on'/>\n    <signature family='6' model='1' stepping='0-16'/>\n  </model>\n")),
        row("map: more than 1024 features", Reader::Map, X86_INDEX, Expect::Map("TooManyFeatures { 1024 }", |e| {
            matches!(e, MapError::TooManyFeatures { limit: 1024 })
        }))
        .files(map_file(&(0..1025).map(|i| format!("  <feature name='f{i}'/>\n")).collect::<String>())),
        row("map: ppc64 model without PVR", Reader::Map, "<cpus><arch name='ppc64'><model name='POWER42'/></arch></cpus>", Expect::Map("Invalid { Missing PVR }", |e| {
            matches!(e, MapError::Invalid { message, .. } if message.contains("Missing PVR information for CPU model POWER42"))
        })),
        row("map: non-hex PVR", Reader::Map, "<cpus><arch name='ppc64'><model name='P'><pvr value='0xZ' mask='0xffff0000'/></model></arch></cpus>", Expect::Map("Xml { InvalidValue value }", |e| {
            matches!(e, MapError::Xml { error, .. } if matches!(&error.kind, XmlErrorKind::InvalidValue { attribute, .. } if attribute == "value"))
        })),
    ]
}

/// Generous bound per row, far above the slowest row's cost in a debug build: a hang detector.
const WATCHDOG: Duration = Duration::from_secs(120);

#[test]
fn hostile_inputs_give_typed_errors() {
    let rows = rows();
    assert!(rows.len() >= 30, "the table has {} rows", rows.len());
    let mut failures = Vec::new();
    for r in rows {
        let Row { name, reader, input, files, limits, expect, at } = r;
        let (tx, rx) = mpsc::channel();
        let files_for_thread = files.clone();
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let bytes = input();
                LibvirtVersion::ALL.map(|v| (v, run(reader, &bytes, &files_for_thread, limits, v)))
            }));
            let _ = tx.send(result);
        });
        let gots = match rx.recv_timeout(WATCHDOG) {
            Ok(Ok(gots)) => gots,
            Ok(Err(_)) => {
                failures.push(format!("{name}: PANICKED"));
                continue;
            }
            Err(_) => {
                failures.push(format!("{name}: no answer within {WATCHDOG:?}"));
                continue;
            }
        };
        // Every row holds under both libvirt versions' readers.
        for (v, got) in gots {
            let name = format!("{name} (libvirt {v})");
            if !matches(&expect, &got) {
                let shown = match &got {
                    Got::Ok(s) => format!("Ok({})", s.chars().take(200).collect::<String>()),
                    other => format!("{other:?}").chars().take(400).collect(),
                };
                failures.push(format!("{name}: expected {}, got {shown}", describe(&expect)));
                continue;
            }
            if let (Some((line, col)), Got::Xml(e)) = (at, &got) {
                if (e.pos.line, e.pos.col) != (line, col) {
                    failures
                        .push(format!("{name}: error at {}:{}, expected {line}:{col} ({e})", e.pos.line, e.pos.col));
                }
            }
            // The message a user sees names the problem and its place.
            if let Got::Xml(e) = &got {
                let msg = e.to_string();
                if !msg.starts_with(&format!("{}:{}: ", e.pos.line, e.pos.col)) {
                    failures.push(format!("{name}: message does not start with the position: {msg}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} hostile inputs misbehaved:\n{}", failures.len(), failures.join("\n"));
}

/// A hostile document is refused before anything is resolved: no file is ever read because a
/// document names it (the XXE row above never reaches an entity), and the DTD error points at
/// the `<!DOCTYPE` line, not at the entity use.
#[test]
fn dtd_is_refused_where_it_starts() {
    let e = xml::read_cpu_document(
        XXE.as_bytes(),
        TypeHint::Auto,
        cpufleet_engine::LibvirtVersion::V9_0_0,
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::DtdNotAllowed);
    assert_eq!((e.pos.line, e.pos.col), (2, 1));
    assert!(!e.to_string().contains("root:"), "no file content in the message: {e}");
}
