//! Bad input from the command line: every subcommand that reads a file, given a missing file, a
//! directory, an empty file, binary garbage, a truncated document, a document of the wrong kind,
//! or a file above the input limit (`--max-input-bytes 100`), must exit with code 2 and write
//! exactly one line on stderr that names the file and, where the reader knows one, the position
//! (`LINE:COL`); never a panic, never a backtrace (the binary runs with `RUST_BACKTRACE=1`, so a
//! panic would show one).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cpufleet-bad-input-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }
    fn dir(&self, name: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The kinds of bad input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    Missing,
    Directory,
    Empty,
    Garbage,
    Truncated,
    WrongKind,
    TooBig,
}

const ALL_BAD: [Bad; 7] =
    [Bad::Missing, Bad::Directory, Bad::Empty, Bad::Garbage, Bad::Truncated, Bad::WrongKind, Bad::TooBig];

/// What kind of document an argument expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Doc {
    /// A CPU document (bare <cpu>, capabilities, ...).
    Cpu,
    /// A <cpudata> CPUID dump.
    Cpuid,
    /// A libvirt cpu_map directory (the file is DIR/index.xml).
    MapDir,
    /// A fleet spec (TOML).
    Spec,
}

const HOST: &str = "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n  <vendor>Intel</vendor>\n  \
                    <feature name='vmx'/>\n  <feature name='pdpe1gb'/>\n</cpu>\n";
const GUEST: &str = "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>Haswell</model>\n  \
                     <feature policy='optional' name='vmx'/>\n  <feature policy='require' name='aes'/>\n</cpu>\n";
const CPUID: &str = "<cpudata arch='x86'>\n  <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x0000000d' \
                     ebx='0x756e6547' ecx='0x6c65746e' edx='0x49656e69'/>\n  <cpuid eax_in='0x00000001' ecx_in='0x00' \
                     eax='0x000306c3' ebx='0x00000000' ecx='0x7ffafbff' edx='0xbfebfbff'/>\n</cpudata>\n";
const SPEC: &str = "name = \"bad-input\"\nguests = 10\nmigrations = 10\n\n[[pool]]\nname = \"p\"\nhosts = 4\n\
                    generations = { Haswell = 1 }\n";

/// The good companion files given beside the argument under test: under 100 bytes, so that the
/// `--max-input-bytes 100` case fails on the argument under test only.
const OK_HOST: &str = "<cpu><arch>x86_64</arch><model>Haswell</model></cpu>\n";
const OK_GUEST: &str = "<cpu><model>Haswell</model></cpu>\n";

/// A good document of the kind (used as the "other" argument, and cut for the truncated case).
fn good(doc: Doc) -> String {
    match doc {
        Doc::Cpu => HOST.to_string(),
        Doc::Cpuid => CPUID.to_string(),
        Doc::MapDir => {
            cpufleet_engine::map::embedded_documents(cpufleet_engine::LibvirtVersion::DEFAULT)[1].1.to_string()
        }
        Doc::Spec => SPEC.to_string(),
    }
}

/// A document of another kind than `doc` expects.
fn wrong_kind(doc: Doc) -> &'static str {
    match doc {
        Doc::Cpu => CPUID,
        Doc::Cpuid | Doc::MapDir | Doc::Spec => HOST,
    }
}

/// Bytes that are neither UTF-8 nor XML: a fixed pseudo-random sequence.
fn garbage() -> Vec<u8> {
    let mut rng = cpufleet_sim::Rng::new(0x9e37_79b9);
    (0..512).map(|_| (rng.next_u64() >> 56) as u8).chain([0xff, 0xfe, 0x00]).collect()
}

/// Makes the bad input of kind `bad` for an argument expecting `doc`; returns the path to pass
/// and the path the error must name.
fn make(s: &Scratch, doc: Doc, bad: Bad) -> (PathBuf, PathBuf) {
    let name = match doc {
        Doc::Spec => "input.toml",
        _ => "input.xml",
    };
    let content: Option<Vec<u8>> = match bad {
        Bad::Missing | Bad::Directory => None,
        Bad::Empty => Some(Vec::new()),
        Bad::Garbage => Some(garbage()),
        Bad::Truncated => {
            let g = good(doc);
            Some(g.as_bytes()[..g.len() / 2].to_vec())
        }
        Bad::WrongKind => Some(wrong_kind(doc).as_bytes().to_vec()),
        Bad::TooBig => Some(good(doc).into_bytes()),
    };
    if doc == Doc::MapDir {
        let dir = s.0.join("cpu_map");
        let index = dir.join("index.xml");
        match (bad, content) {
            (Bad::Missing, _) => return (dir.clone(), dir),
            (Bad::Directory, _) => {
                s.dir("cpu_map/index.xml");
            }
            (_, Some(c)) => {
                s.file("cpu_map/index.xml", &c);
            }
            (_, None) => unreachable!(),
        }
        return (dir, index);
    }
    let path = match (bad, content) {
        (Bad::Missing, _) => s.0.join(name),
        (Bad::Directory, _) => s.dir(name),
        (_, Some(c)) => s.file(name, &c),
        (_, None) => unreachable!(),
    };
    (path.clone(), path)
}

/// One subcommand and which of its arguments is under test.
struct Target {
    label: &'static str,
    /// Builds the argument list given the bad path (the scratch dir is for the other files).
    args: fn(&Scratch, &Path) -> Vec<String>,
    doc: Doc,
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn targets() -> Vec<Target> {
    vec![
        Target { label: "fmt", doc: Doc::Cpu, args: |_, f| vec!["fmt".into(), p(f)] },
        Target { label: "baseline", doc: Doc::Cpu, args: |_, f| vec!["baseline".into(), p(f)] },
        Target {
            label: "compare (host)",
            doc: Doc::Cpu,
            args: |s, f| vec!["compare".into(), p(f), p(&s.file("ok-guest.xml", OK_GUEST.as_bytes()))],
        },
        Target {
            label: "compare (cpu)",
            doc: Doc::Cpu,
            args: |s, f| vec!["compare".into(), p(&s.file("ok-host.xml", OK_HOST.as_bytes())), p(f)],
        },
        Target { label: "decode", doc: Doc::Cpuid, args: |_, f| vec!["decode".into(), p(f)] },
        Target { label: "decode --guest", doc: Doc::Cpuid, args: |_, f| vec!["decode".into(), "--guest".into(), p(f)] },
        Target {
            label: "update (host)",
            doc: Doc::Cpu,
            args: |s, f| vec!["update".into(), p(f), p(&s.file("ok-guest.xml", OK_GUEST.as_bytes()))],
        },
        Target {
            label: "update (guest)",
            doc: Doc::Cpu,
            args: |s, f| vec!["update".into(), p(&s.file("ok-host.xml", OK_HOST.as_bytes())), p(f)],
        },
        Target { label: "expand", doc: Doc::Cpu, args: |_, f| vec!["expand".into(), p(f)] },
        Target {
            label: "map import",
            doc: Doc::MapDir,
            args: |s, f| vec!["map".into(), "import".into(), p(f), "-o".into(), p(&s.dir("out"))],
        },
        Target {
            label: "map show --cpu-map",
            doc: Doc::MapDir,
            args: |_, f| vec!["map".into(), "show".into(), "--cpu-map".into(), p(f)],
        },
        Target {
            label: "compare --cpu-map",
            doc: Doc::MapDir,
            args: |s, f| {
                let (h, g) = (s.file("ok-host.xml", OK_HOST.as_bytes()), s.file("ok-guest.xml", OK_GUEST.as_bytes()));
                vec!["compare".into(), "--cpu-map".into(), p(f), p(&h), p(&g)]
            },
        },
        Target {
            label: "simulate --spec",
            doc: Doc::Spec,
            args: |_, f| vec!["simulate".into(), "--spec".into(), p(f)],
        },
        Target {
            label: "fleet gen --spec",
            doc: Doc::Spec,
            args: |s, f| {
                vec!["fleet".into(), "gen".into(), "--spec".into(), p(f), "--output".into(), p(&s.dir("fleet"))]
            },
        },
    ]
}

fn cpufleet(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cpufleet"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run cpufleet")
}

/// `LINE:COL` somewhere in the message (a colon-separated pair of numbers), or TOML's
/// "line N, column M".
fn has_position(msg: &str) -> bool {
    let b = msg.as_bytes();
    let pair = (0..b.len()).any(|i| {
        let digits = |mut j: usize| {
            let s = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            (j > s).then_some(j)
        };
        (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && digits(i).is_some_and(|j| j < b.len() && b[j] == b':' && digits(j + 1).is_some())
    });
    pair || (msg.contains("line ") && msg.contains("column "))
}

/// Whether a subcommand exists in this build (the simulator landed later than the rest).
fn available(sub: &str) -> bool {
    let out = cpufleet(&[sub.to_string(), "--help".into()]);
    out.status.success()
}

/// Checks one (target, bad kind) pair; returns a failure description.
fn check(t: &Target, bad: Bad, extra: &[&str]) -> Option<String> {
    let s = Scratch::new("case");
    let (arg, named) = make(&s, t.doc, bad);
    let mut args = (t.args)(&s, &arg);
    args.extend(extra.iter().map(|x| x.to_string()));
    let out = cpufleet(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let what = format!("{} / {bad:?}: `cpufleet {}`", t.label, args.join(" "));
    let mut problems = Vec::new();
    if out.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", out.status.code()));
    }
    if stderr.contains("panicked") || stderr.contains("backtrace") || stderr.contains("RUST_BACKTRACE") {
        problems.push("a panic".to_string());
    }
    let lines: Vec<&str> = stderr.lines().collect();
    if lines.len() != 1 || !stderr.ends_with('\n') {
        problems.push(format!("{} lines on stderr, expected exactly one", lines.len()));
    }
    let first = lines.first().copied().unwrap_or("");
    if !first.starts_with("cpufleet: ") {
        problems.push("the line does not start with 'cpufleet: '".into());
    }
    if !first.contains(&p(&named)) {
        problems.push(format!("the line does not name {}", named.display()));
    }
    let positioned = match t.doc {
        Doc::Spec => matches!(bad, Bad::Truncated | Bad::WrongKind),
        _ => matches!(bad, Bad::Garbage | Bad::Truncated | Bad::WrongKind | Bad::Empty),
    };
    if positioned && !has_position(first) {
        problems.push("the line gives no LINE:COL position".into());
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!("{what}\n    {}\n    stderr: {stderr:?}", problems.join("; ")))
    }
}

fn run_all(filter: impl Fn(&Target) -> bool) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut failures = Vec::new();
    // Every case under every release's readers (the test's own maps are no release's, so map
    // commands need the version anyway).
    for version in cpufleet_engine::LibvirtVersion::ALL.map(|v| v.as_str()) {
        for t in targets().iter().filter(|t| filter(t)) {
            for bad in ALL_BAD {
                let mut extra = vec!["--libvirt", version];
                if bad == Bad::TooBig {
                    extra.extend(["--max-input-bytes", "100"]);
                }
                n += 1;
                if let Some(f) = check(t, bad, &extra) {
                    failures.push(format!("[libvirt {version}] {f}"));
                }
            }
        }
    }
    (n, failures)
}

fn is_sim(t: &Target) -> bool {
    t.doc == Doc::Spec
}

#[test]
fn every_file_reading_subcommand_rejects_bad_input_cleanly() {
    let (n, failures) = run_all(|t| !is_sim(t));
    println!("{n} bad-input cases checked");
    assert!(failures.is_empty(), "{} of {n} cases misbehaved:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn simulator_subcommands_reject_bad_specs_cleanly() {
    if !available("simulate") || !available("fleet") {
        println!("skipped: simulate not built yet");
        return;
    }
    let (n, failures) = run_all(is_sim);
    println!("{n} bad-input cases checked");
    assert!(failures.is_empty(), "{} of {n} cases misbehaved:\n{}", failures.len(), failures.join("\n"));
}

/// The good inputs this test builds its cases from are accepted, so every rejection above is
/// due to the one bad argument.
#[test]
fn the_good_inputs_are_accepted() {
    let s = Scratch::new("good");
    let (h, g, d) =
        (s.file("h.xml", HOST.as_bytes()), s.file("g.xml", GUEST.as_bytes()), s.file("d.xml", CPUID.as_bytes()));
    let map = s.file("cpu_map/index.xml", good(Doc::MapDir).as_bytes());
    let runs: Vec<Vec<String>> = vec![
        vec!["fmt".into(), p(&h)],
        vec!["baseline".into(), p(&h)],
        vec!["compare".into(), p(&h), p(&g)],
        vec!["decode".into(), p(&d)],
        vec!["update".into(), p(&h), p(&g)],
        vec!["expand".into(), p(&h)],
        vec![
            "map".into(),
            "show".into(),
            "--libvirt".into(),
            "11.3.0".into(),
            "--cpu-map".into(),
            p(map.parent().unwrap()),
        ],
    ];
    for args in runs {
        let out = cpufleet(&args);
        assert_eq!(out.status.code(), Some(0), "cpufleet {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
}

/// Spec errors are located with the TOML parser's spans, not by searching the text: when two
/// entries have the same shape the wrong one's line is reported, and single-quoted strings are
/// located like double-quoted ones.
#[test]
fn spec_errors_point_at_the_entry_that_is_wrong() {
    if !available("simulate") {
        println!("skipped: simulate not built yet");
        return;
    }
    let s = Scratch::new("located");
    let pool = "[[pool]]\nname = \"p\"\nhosts = 3\ngenerations = { Haswell = 1 }\n";
    let guest =
        |name: &str, model: &str| format!("[[guest]]\nname = \"{name}\"\nweight = 1\nmode = \"custom\"\n{model}");
    let cases = [
        ("twice.toml", format!("{pool}\n{pool}"), "twice.toml: 7:8: pool 'p' is defined twice".to_string()),
        (
            "no-model.toml",
            format!("{}{}{pool}", guest("a", "model = \"Haswell\"\n"), guest("b", "")),
            "no-model.toml: 7:8: guest 'b': a custom CPU needs a model".to_string(),
        ),
        (
            "quoted.toml",
            format!("[[guest]]\nname = 'g'\nweight = 1\nmode = 'custom'\nmodel = 'Haswell'\noptional = ['turbo-boost']\n{pool}"),
            "quoted.toml: 6:13: guest 'g': optional: unknown feature 'turbo-boost'".to_string(),
        ),
        (
            "quoted-model.toml",
            format!("{}[[guest]]\nname = 'h'\nweight = 1\nmode = 'custom'\nmodel = 'Pentium-9000'\n{pool}", guest("a", "model = \"Haswell\"\n")),
            "quoted-model.toml: 10:9: guest 'h': unknown model 'Pentium-9000'".to_string(),
        ),
        (
            "libvirt.toml",
            format!("{pool}libvirt = \"8.0.0\"\n"),
            "libvirt.toml: 5:11: pool 'p': unsupported libvirt version '8.0.0'".to_string(),
        ),
        (
            "libvirt-share.toml",
            format!("{pool}libvirt = \"11.3.0\"\nlibvirt_share = 1.5\n"),
            "libvirt-share.toml: 6:17: pool 'p': libvirt_share = 1.5: must be in 0..1".to_string(),
        ),
        (
            "share-alone.toml",
            format!("{pool}libvirt_share = 0.5\n"),
            "share-alone.toml: 5:17: pool 'p': libvirt_share without libvirt".to_string(),
        ),
    ];
    for (name, text, want) in cases {
        let f = s.file(name, text.as_bytes());
        let out = cpufleet(&["simulate".into(), "--spec".into(), p(&f), "-q".into()]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&want), "{name}: want {want:?} in {stderr}");
    }
}

/// Runs `cpufleet ARGS`; expects exit 2 and one `cpufleet: ` line on stderr, which it returns.
fn one_error(args: &[String]) -> String {
    let out = cpufleet(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "cpufleet {}: {stderr}", args.join(" "));
    assert!(out.stdout.is_empty(), "cpufleet {}: printed on stdout", args.join(" "));
    assert!(stderr.starts_with("cpufleet: ") && stderr.lines().count() == 1, "cpufleet {}: {stderr:?}", args.join(" "));
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr.trim_end().to_string()
}

fn strs(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[test]
fn unknown_names_are_located_with_a_close_match() {
    let s = Scratch::new("names");
    let typo = s.file("typo.xml", HOST.replace("Haswell", "Haswel").as_bytes());
    let msg = one_error(&strs(&["baseline", &p(&typo)]));
    assert_eq!(msg, format!("cpufleet: {}: 3:3: unknown CPU model 'Haswel'; did you mean Haswell?", p(&typo)));
    // Among several inputs, the file that holds the name.
    let ok = s.file("ok.xml", HOST.as_bytes());
    let msg = one_error(&strs(&["baseline", &p(&ok), &p(&typo)]));
    assert!(msg.contains(&format!("{}: 3:3: unknown CPU model 'Haswel'", p(&typo))), "{msg}");
    let feat = s.file("feat.xml", HOST.replace("pdpe1gb", "pdpe1g").as_bytes());
    let msg = one_error(&strs(&["baseline", &p(&feat)]));
    assert_eq!(msg, format!("cpufleet: {}: 6:3: unknown CPU feature 'pdpe1g'; did you mean pdpe1gb?", p(&feat)));
    let far = s.file("far.xml", HOST.replace("Haswell", "Zzyzx").as_bytes());
    let msg = one_error(&strs(&["baseline", &p(&far)]));
    assert!(msg.ends_with("3:3: unknown CPU model 'Zzyzx'"), "no close match, no suggestion: {msg}");
    // compare and update: the guest's names.
    let guest = s.file("guest.xml", GUEST.replace("'vmx'", "'vmxx'").as_bytes());
    for cmd in ["compare", "update"] {
        let msg = one_error(&strs(&[cmd, &p(&ok), &p(&ok), &p(&guest)]));
        assert_eq!(
            msg,
            format!("cpufleet: {}: 3:3: unknown CPU feature 'vmxx'; did you mean vmx?", p(&guest)),
            "{cmd}"
        );
    }
}

#[test]
fn baseline_of_guest_cpus_says_what_to_run_instead() {
    let s = Scratch::new("guest");
    let guest = s.file("guest.xml", GUEST.as_bytes());
    let domain = s.file(
        "domain.xml",
        format!("<domain type='kvm'>\n  <name>vm1</name>\n  {}</domain>\n", GUEST.replace('\n', "\n  ")).as_bytes(),
    );
    for (f, what, pos) in [(&guest, "a guest CPU", "1:1"), (&domain, "a domain's guest CPU", "3:3")] {
        let msg = one_error(&strs(&["baseline", &p(f)]));
        assert!(
            msg.starts_with(&format!("cpufleet: {}: {pos}: this is {what}, and baseline needs host CPUs", p(f))),
            "{msg}"
        );
        assert!(msg.contains("virsh capabilities") && msg.contains("cpufleet update HOST GUEST"), "{msg}");
    }
}

#[test]
fn a_file_that_is_not_xml_says_so() {
    let s = Scratch::new("notxml");
    let text = s.file("cpuinfo", b"processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse\n");
    let (h, g) = (s.file("h.xml", OK_HOST.as_bytes()), s.file("g.xml", OK_GUEST.as_bytes()));
    let t = p(&text);
    for args in [
        vec!["fmt", &t],
        vec!["baseline", &t],
        vec!["baseline", &p(&h), &t],
        vec!["expand", &t],
        vec!["decode", &t],
        vec!["compare", &t, &p(&g)],
        vec!["update", &p(&h), &t],
    ] {
        let msg = one_error(&strs(&args));
        assert_eq!(
            msg,
            format!("cpufleet: {t}: 1:1: is not XML: expected a libvirt CPU document such as `virsh capabilities`"),
            "{args:?}"
        );
    }
    // /proc/cpuinfo says its size is 0 and still has content.
    if std::path::Path::new("/proc/cpuinfo").exists() {
        let msg = one_error(&strs(&["baseline", "/proc/cpuinfo"]));
        assert!(msg.contains("/proc/cpuinfo: 1:1: is not XML"), "{msg}");
    }
}

#[test]
fn output_paths_are_checked_before_any_work() {
    let s = Scratch::new("out");
    let file = s.file("a-file", b"x");
    let missing_dir = s.0.join("no-such-dir").join("r.html");
    let start = std::time::Instant::now();
    let msg = one_error(&strs(&["simulate", "--hosts", "100000", "--html", &p(&missing_dir)]));
    assert!(msg.contains(&format!("{}: cannot write: directory", p(&missing_dir))), "{msg}");
    assert!(start.elapsed().as_secs() < 5, "the simulation ran first");
    let msg = one_error(&strs(&["simulate", "--html", &p(&s.0)]));
    assert!(msg.contains("is a directory, expected an output file"), "{msg}");
    let msg = one_error(&strs(&["fleet", "gen", "--output", &p(&file)]));
    assert!(msg.contains(&format!("{}: is not a directory", p(&file))), "{msg}");
    let under_file = file.join("fleet");
    let msg = one_error(&strs(&["fleet", "gen", "--output", &p(&under_file)]));
    assert!(msg.contains(&p(&under_file)), "{msg}");
    let map_dir = p(s.file("cpu_map/index.xml", good(Doc::MapDir).as_bytes()).parent().unwrap());
    let msg = one_error(&strs(&["map", "import", &map_dir, "--arch", "x86", "-o", &p(&missing_dir)]));
    assert!(msg.contains(&format!("{}: cannot write: directory", p(&missing_dir))), "{msg}");
}
