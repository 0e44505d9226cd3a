//! Every CPU command, run through the `cpufleet` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/bin.rs"]
mod bin;
use bin::{cpufleet, stderr, stdout};

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The cputestdata of the pack of libvirt `version`, if present.
fn pack_of(version: &str) -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../shared/conformance/libvirt-{version}/cputestdata"));
    if d.is_dir() {
        Some(d)
    } else {
        assert_ne!(std::env::var("CPUFLEET_REQUIRE_CONFORMANCE").as_deref(), Ok("1"), "conformance pack missing");
        println!("SKIPPED: ../shared/conformance/libvirt-{version} absent");
        None
    }
}

const HOST: &str = "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell-noTSX</model>\n  <vendor>Intel</vendor>\n  <feature name='vmx'/>\n  <feature name='invtsc'/>\n</cpu>\n";
const HOST_OLD: &str = "<cpu>\n  <arch>x86_64</arch>\n  <model>SandyBridge</model>\n  <vendor>Intel</vendor>\n  <feature name='vmx'/>\n</cpu>\n";

#[test]
fn baseline_prints_virsh_output() {
    let f = tmp("pool.xml", &format!("{HOST}{HOST_OLD}"));
    let o = cpufleet(&["baseline", s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>SandyBridge</model>\n  <vendor>Intel</vendor>\n  <feature policy='require' name='vmx'/>\n</cpu>\n\n"
    );
    let o = cpufleet(&["baseline", "--features", s(&f)]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("<feature policy='require' name='avx'/>") && out.contains("name='vmx'"), "{out}");
    let names: Vec<&str> = out.lines().filter_map(|l| l.split("name='").nth(1)).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "expanded features are sorted by name");
}

#[test]
fn baseline_migratable_drops_invtsc() {
    let f = tmp("pool-invtsc.xml", &format!("{HOST}{HOST}"));
    let plain = stdout(&cpufleet(&["baseline", s(&f)]));
    assert!(plain.contains("name='invtsc'"), "{plain}");
    let o = cpufleet(&["baseline", "--migratable", s(&f)]);
    assert_eq!(o.status.code(), Some(0));
    let expected: String = plain.lines().filter(|l| !l.contains("name='invtsc'")).map(|l| format!("{l}\n")).collect();
    assert_eq!(stdout(&o), expected);
}

#[test]
fn baseline_of_incompatible_vendors_is_a_negative_answer() {
    let amd = "<cpu><arch>x86_64</arch><model>EPYC</model><vendor>AMD</vendor></cpu>";
    let f = tmp("mixed.xml", &format!("{HOST}{amd}"));
    let o = cpufleet(&["baseline", s(&f)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("mixed.xml: CPU vendors do not match: Intel vs AMD"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

#[test]
fn baseline_of_x86_and_ppc64_is_an_error_not_a_panic() {
    let ppc = "<cpu><arch>ppc64</arch><model>POWER8</model><vendor>IBM</vendor></cpu>";
    let f = tmp("x86-ppc.xml", &format!("{HOST}{ppc}"));
    let o = cpufleet(&["baseline", s(&f)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Unknown CPU model POWER8"), "{}", stderr(&o));
    let f = tmp("ppc-x86.xml", &format!("{ppc}{HOST}"));
    let o = cpufleet(&["baseline", s(&f)]);
    assert_ne!(o.status.code(), Some(0));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn baseline_ppc64() {
    let ppc = "<cpu><arch>ppc64</arch><model>POWER9</model><vendor>IBM</vendor></cpu>\n";
    let f = tmp("ppc.xml", &format!("{ppc}{ppc}"));
    let o = cpufleet(&["baseline", s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>POWER9</model>\n</cpu>\n\n");
}

#[test]
fn compare_verdicts_and_exit_codes() {
    let host = tmp("host.xml", HOST);
    let superset = tmp("g-superset.xml", "<cpu match='exact'><model>SandyBridge</model></cpu>");
    let o = cpufleet(&["compare", s(&host), s(&superset)]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("Host CPU is a superset of CPU described in"), "{}", stdout(&o));

    let strict = tmp("g-strict.xml", "<cpu match='strict'><model>SandyBridge</model></cpu>");
    let o = cpufleet(&["compare", s(&host), s(&strict)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("is incompatible with host CPU"));
    assert!(stdout(&o).contains("strict CPU does not list: "), "{}", stdout(&o));

    let missing = tmp("g-missing.xml", "<cpu match='exact'><model>Skylake-Client</model></cpu>");
    let o = cpufleet(&["compare", "--format", "json", s(&host), s(&missing)]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "incompatible");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("host CPU does not provide required features:") && reason.contains("xsavec"),
        "{reason}"
    );

    let forbid = tmp("g-forbid.xml", "<cpu><model>SandyBridge</model><feature policy='forbid' name='vmx'/></cpu>");
    let o = cpufleet(&["compare", s(&host), s(&forbid)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("forbidden features: vmx"), "{}", stdout(&o));

    let identical = tmp("host-copy.xml", HOST);
    let o = cpufleet(&["compare", s(&host), s(&identical)]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("is identical to host CPU"), "{}", stdout(&o));

    let unknown = tmp("g-unknown.xml", "<cpu><model>NoSuchModel</model></cpu>");
    let o = cpufleet(&["compare", s(&host), s(&unknown)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("g-unknown.xml: 1:6: unknown CPU model 'NoSuchModel'\n"), "{}", stderr(&o));
}

#[test]
fn compare_reads_capabilities_and_domain_documents() {
    let caps = tmp("caps.xml", &format!("<capabilities><host><uuid>x</uuid>{HOST}<topology><cells num='1'><cell id='0'><cpus num='1'><cpu id='0'/></cpus></cell></cells></topology></host></capabilities>"));
    let dom = tmp("dom.xml", "<domain type='kvm'><name>vm</name><cpu mode='custom' match='exact'><model fallback='allow'>Haswell-noTSX</model><feature policy='require' name='vmx'/></cpu></domain>");
    let o = cpufleet(&["compare", s(&caps), s(&dom)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("superset"), "{}", stdout(&o));
}

#[test]
fn compare_x86_host_with_ppc64_cpu_is_incompatible() {
    let host = tmp("host2.xml", HOST);
    let ppc = tmp("ppc-host.xml", "<cpu><arch>ppc64</arch><model>POWER8</model></cpu>");
    let o = cpufleet(&["compare", s(&host), s(&ppc)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("arch ppc64"), "{}", stdout(&o));
    let o = cpufleet(&["compare", s(&ppc), s(&host)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn compare_ppc64_compat_mode() {
    let host = tmp("p8.xml", "<cpu><arch>ppc64</arch><model>POWER8</model><vendor>IBM</vendor></cpu>");
    let older = tmp("compat7.xml", "<cpu mode='host-model'><model>power7</model></cpu>");
    let o = cpufleet(&["compare", s(&host), s(&older)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let newer = tmp("compat9.xml", "<cpu mode='host-model'><model>power9</model></cpu>");
    assert_eq!(cpufleet(&["compare", s(&host), s(&newer)]).status.code(), Some(1));
    let bad = tmp("compat7plus.xml", "<cpu mode='host-model'><model>power7+</model></cpu>");
    let o = cpufleet(&["compare", s(&host), s(&bad)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Unknown compatibility mode power7+"), "{}", stderr(&o));
}

#[test]
fn update_promotes_optional_features() {
    let host = tmp("uhost.xml", HOST);
    let guest = tmp(
        "uguest.xml",
        "<cpu match='exact'><model>SandyBridge</model><feature policy='optional' name='vmx'/><feature policy='optional' name='svm'/><feature policy='optional' name='invtsc'/></cpu>",
    );
    let o = cpufleet(&["update", s(&host), s(&guest)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // invtsc is on the host but not migratable, so the start uses the host's migratable copy.
    assert_eq!(
        stdout(&o),
        "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>SandyBridge</model>\n  <feature policy='require' name='vmx'/>\n  <feature policy='disable' name='svm'/>\n  <feature policy='disable' name='invtsc'/>\n</cpu>\n"
    );
    let hm = tmp("hostmodel.xml", "<cpu mode='host-model'/>");
    let o = cpufleet(&["update", s(&host), s(&hm)]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>Haswell-noTSX</model>\n  <vendor>Intel</vendor>\n  <feature policy='require' name='vmx'/>\n</cpu>\n"
    );
}

#[test]
fn update_ppc64_sets_exact() {
    let host = tmp("p9.xml", "<cpu><arch>ppc64</arch><model>POWER9</model></cpu>");
    let guest = tmp("p9guest.xml", "<cpu match='minimum'><model>POWER9</model></cpu>");
    let o = cpufleet(&["update", s(&host), s(&guest)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>POWER9</model>\n</cpu>\n");
}

/// Decoding gives each version's expected files: 11.3.0's by default, 9.0.0's with
/// `--libvirt 9.0.0` (or `9.0`); e.g. a Xeon Gold 5115 is `Skylake-Server-v2` in 11.3.0 and
/// `Skylake-Server-IBRS` in 9.0.0.
#[test]
fn decode_matches_the_pack() {
    for (version, flags) in
        [("11.3.0", &[][..]), ("11.3.0", &["--libvirt", "11.3"][..]), ("9.0.0", &["--libvirt", "9.0.0"][..])]
    {
        let Some(p) = pack_of(version) else { return };
        for name in ["Core-i7-8700", "EPYC-7502-32-Core", "Xeon-E5-2650-v3", "Xeon-Gold-5115"] {
            let dump = p.join(format!("x86_64-cpuid-{name}.xml"));
            let o = cpufleet(&[&["decode"], flags, &[s(&dump)]].concat());
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            let want = std::fs::read_to_string(p.join(format!("x86_64-cpuid-{name}-host.xml"))).unwrap();
            assert_eq!(stdout(&o), want, "{version} {name}");
            let o = cpufleet(&[&["decode", "--guest"], flags, &[s(&dump)]].concat());
            let want = std::fs::read_to_string(p.join(format!("x86_64-cpuid-{name}-guest.xml"))).unwrap();
            assert_eq!(stdout(&o), want, "{version} {name} guest");
        }
    }
    let Some(p) = pack_of("11.3.0") else { return };
    let gold = p.join("x86_64-cpuid-Xeon-Gold-5115.xml");
    assert!(stdout(&cpufleet(&["decode", s(&gold)])).contains("<model>Skylake-Server-v2</model>"));
    assert!(stdout(&cpufleet(&["decode", "--libvirt", "9.0", s(&gold)])).contains("<model>Skylake-Server-IBRS</model>"));
}

/// `--libvirt` on every command: the default, the accepted spellings, a bad value, and the
/// version every JSON output names.
#[test]
fn libvirt_version_is_chosen_per_run() {
    let o = cpufleet(&["map", "show"]);
    assert!(
        stdout(&o).starts_with("libvirt 11.3.0: 3 vendors, 364 x86 features, 150 x86 models, 7 ppc64 models\n"),
        "{}",
        stdout(&o)
    );
    let o = cpufleet(&["map", "show", "--libvirt", "9.0"]);
    assert!(
        stdout(&o).starts_with("libvirt 9.0.0: 3 vendors, 212 x86 features, 58 x86 models, 7 ppc64 models\n"),
        "{}",
        stdout(&o)
    );
    let o = cpufleet(&["map", "show", "--libvirt", "10.0.0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unsupported libvirt version '10.0.0' (supported: 9.0.0, 11.3.0"), "{}", stderr(&o));

    let host = tmp("v-host.xml", HOST);
    let guest = tmp("v-guest.xml", "<cpu match='exact'><model>Haswell-v1</model></cpu>");
    for (v, code, verdict) in [("11.3.0", 1, "incompatible"), ("9.0.0", 2, "error")] {
        let o = cpufleet(&["compare", "--libvirt", v, "--format", "json", s(&host), s(&guest)]);
        assert_eq!(o.status.code(), Some(code), "{v}: {}", stderr(&o));
        if code == 1 {
            let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!((j["libvirt"].as_str(), j["verdict"].as_str()), (Some(v), Some(verdict)));
        } else {
            // 9.0.0 has no -vN models.
            assert!(stderr(&o).contains("unknown CPU model 'Haswell-v1'; did you mean Haswell?"), "{}", stderr(&o));
        }
    }

    // libvirt 11.3.0 reads and writes `clusters`; 9.0.0 ignores it.
    let topo = tmp(
        "v-topo.xml",
        "<cpu match='exact'><model>Penryn</model><topology sockets='1' clusters='2' cores='2' threads='1'/></cpu>",
    );
    let o = cpufleet(&["fmt", s(&topo)]);
    assert!(
        stdout(&o).contains("<topology sockets='1' dies='1' clusters='2' cores='2' threads='1'/>"),
        "{}",
        stdout(&o)
    );
    let o = cpufleet(&["fmt", "--libvirt", "9.0.0", s(&topo)]);
    assert!(stdout(&o).contains("<topology sockets='1' dies='1' cores='2' threads='1'/>"), "{}", stdout(&o));
    let zero = tmp(
        "v-zero.xml",
        "<cpu match='exact'><model>Penryn</model><topology sockets='1' clusters='0' cores='2' threads='1'/></cpu>",
    );
    let o = cpufleet(&["fmt", s(&zero)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("v-zero.xml: 1:") && stderr(&o).contains("clusters"), "{}", stderr(&o));
    assert_eq!(cpufleet(&["fmt", "--libvirt", "9.0.0", s(&zero)]).status.code(), Some(0));
}

/// `--cpu-map DIR` without `--libvirt` reads the map under the version whose map it is, and a
/// map cpufleet does not know stops with exit 2 asking for `--libvirt`.
#[test]
fn cpu_map_version_is_inferred_or_asked_for() {
    for version in ["9.0.0", "11.3.0"] {
        let Some(p) = pack_of(version) else { return };
        let map_dir = p.parent().unwrap().join("cpu_map");
        let o = cpufleet(&["map", "show", "--cpu-map", s(&map_dir)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).starts_with(&format!("libvirt {version}: ")), "{}", stdout(&o));
    }
    let Some(p) = pack_of("11.3.0") else { return };
    let src = p.parent().unwrap().join("cpu_map");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("unknown-map");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    // A locally edited map: one model less.
    let f = dir.join("x86_Dhyana-v2.xml");
    std::fs::write(&f, std::fs::read_to_string(&f).unwrap().replace("Dhyana-v2", "Dhyana-v9")).unwrap();
    let o = cpufleet(&["map", "show", "--cpu-map", s(&dir)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--libvirt 9.0.0 or --libvirt 11.3.0"), "{}", stderr(&o));
    let o = cpufleet(&["map", "show", "--cpu-map", s(&dir), "--libvirt", "11.3.0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("Dhyana-v9"));
}

#[test]
fn expand_lists_every_feature() {
    let f = tmp("expand.xml", "<cpu match='exact'><model>486</model><feature policy='disable' name='vme'/><feature policy='require' name='sse'/></cpu>");
    let o = cpufleet(&["expand", s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>486</model>\n  <feature policy='require' name='fpu'/>\n  <feature policy='require' name='pse'/>\n  <feature policy='require' name='sse'/>\n  <feature policy='disable' name='vme'/>\n</cpu>\n"
    );
}

#[test]
fn fmt_writes_libvirt_format() {
    let f = tmp("fmt.xml", "<cpu  match=\"exact\" ><model>Penryn</model><topology sockets=\"1\" cores=\"2\" threads=\"1\"/><feature name=\"vmx\"/></cpu>");
    let o = cpufleet(&["fmt", s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>Penryn</model>\n  <topology sockets='1' dies='1' clusters='1' cores='2' threads='1'/>\n  <feature policy='require' name='vmx'/>\n</cpu>\n"
    );
}

#[test]
fn map_show_and_import() {
    let o = cpufleet(&["map", "show", "--libvirt", "9.0.0"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("\nx86: 3 vendors, 212 features (2 not migratable), 58 models\n"), "{}", stdout(&o));
    assert!(stdout(&o).contains("ppc64: 2 vendors, 7 models"));
    for version in ["9.0.0", "11.3.0"] {
        let Some(p) = pack_of(version) else { return };
        let map_dir = p.parent().unwrap().join("cpu_map");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("map-import-{version}"));
        std::fs::create_dir_all(&out).unwrap();
        let o = cpufleet(&["map", "import", "--libvirt", version, s(&map_dir), "-o", s(&out)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../data/cpu_map/libvirt-{version}"));
        for f in ["x86.xml", "ppc64.xml"] {
            assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(data.join(f)).unwrap(), "{version} {f}");
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn host_reads_this_machine() {
    let o = cpufleet(&["host"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("<cpu>\n  <arch>x86_64</arch>\n  <model>"), "{text}");
    // --dump feeds back into decode and gives the same CPU.
    let dump = cpufleet(&["host", "--dump"]);
    assert_eq!(dump.status.code(), Some(0));
    let f = tmp("thishost.xml", &stdout(&dump));
    let o = cpufleet(&["decode", s(&f)]);
    assert_eq!(stdout(&o), text);
}

/// Document shapes where virsh's extraction (`/container/cpu | /container/domain/cpu |
/// /container/capabilities/host/cpu | …`) decides which CPUs count: cpufleet must agree.
#[test]
fn baseline_document_shapes_agree_with_virsh() {
    let c = |model: &str, extra: &str| {
        format!(
            "<cpu><arch>x86_64</arch><model>{model}</model><vendor>Intel</vendor>{extra}<feature name='vmx'/></cpu>"
        )
    };
    let shapes: Vec<(&str, String)> = vec![
        (
            "two-cpus-in-one-host",
            format!("<capabilities><host>{}{}</host></capabilities>", c("Haswell", ""), c("SandyBridge", "")),
        ),
        ("empty-capabilities-beside-cpus", format!("<capabilities><host/></capabilities>{}", c("Westmere", ""))),
        ("domain-without-cpu-beside-cpus", format!("<domain><name>x</name></domain>\n{}", c("Nehalem", ""))),
        ("unknown-root-and-text", format!("some text <foo>{}</foo>\n{}", c("Haswell", ""), c("IvyBridge", ""))),
        ("lenient-numbers", c("Haswell", "<topology sockets=' 1' cores='+2' threads='1'/>")),
        ("negative-number", c("Haswell", "<topology sockets='-1' cores='2' threads='1'/>")),
        ("only-unknown-root", format!("<foo>{}</foo>", c("Haswell", ""))),
    ];
    let virsh = Command::new("virsh").arg("--version").output().is_ok_and(|o| o.status.success());
    for (name, text) in &shapes {
        let f = tmp(&format!("shape-{name}.xml"), text);
        let ours = cpufleet(&["baseline", s(&f)]);
        assert!(!stderr(&ours).contains("panicked"), "{name}");
        if !virsh {
            continue;
        }
        let theirs = Command::new("virsh").args(["-c", "test:///default", "cpu-baseline", s(&f)]).output().unwrap();
        // On failure virsh prints a bare newline on stdout; what counts then is that both fail.
        let out = |o: &Output| if o.status.success() { stdout(o) } else { String::new() };
        assert_eq!(
            (ours.status.success(), out(&ours)),
            (theirs.status.success(), out(&theirs)),
            "{name}: cpufleet vs virsh ({} / {})",
            stderr(&ours),
            stderr(&theirs)
        );
    }
    if !virsh {
        assert_ne!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref(), Ok("1"), "virsh required");
        println!("SKIPPED virsh comparison of document shapes: virsh not found");
    }
    // Without virsh the expectations still hold on their own.
    let f = tmp("shape-check.xml", &shapes[0].1);
    assert!(stdout(&cpufleet(&["baseline", s(&f)])).contains("<model fallback='allow'>SandyBridge</model>"));
    let f = tmp("shape-only-unknown.xml", &shapes[6].1);
    let o = cpufleet(&["baseline", s(&f)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("1:1: in <foo>: unexpected root element <foo>"), "{}", stderr(&o));
}

/// Runs `cpufleet ARGS` with `input` on standard input.
fn cpufleet_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cpufleet"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A fresh directory of files (name, content).
fn tmp_dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (f, content) in files {
        std::fs::write(dir.join(f), content).unwrap();
    }
    dir
}

const HOST_AMD: &str = "<cpu>\n  <arch>x86_64</arch>\n  <model>EPYC</model>\n  <vendor>AMD</vendor>\n</cpu>\n";

#[test]
fn baseline_of_several_inputs_is_baseline_of_their_concatenation() {
    let a = tmp("many-a.xml", HOST);
    let b = tmp("many-b.xml", &format!("{HOST_OLD}{HOST}"));
    let cat = tmp("many-cat.xml", &format!("{HOST}{HOST_OLD}{HOST}"));
    for flags in [&[][..], &["--features"][..], &["--migratable"][..]] {
        let want = cpufleet(&[&["baseline"], flags, &[s(&cat)]].concat());
        assert_eq!(want.status.code(), Some(0), "{}", stderr(&want));
        let got = cpufleet(&[&["baseline"], flags, &[s(&a), s(&b)]].concat());
        assert_eq!((got.status.code(), stdout(&got)), (Some(0), stdout(&want)), "{flags:?}: {}", stderr(&got));
        let got = cpufleet_stdin(&[&["baseline"], flags, &[s(&a), "-"]].concat(), &format!("{HOST_OLD}{HOST}"));
        assert_eq!(stdout(&got), stdout(&want), "{flags:?} with -: {}", stderr(&got));
    }
    // A directory: every *.xml inside, sorted by name (other files are not read).
    let dir = tmp_dir("many-dir", &[("2.xml", HOST_OLD), ("1.xml", HOST), ("notes.txt", "not a CPU"), ("3.xml", HOST)]);
    let got = cpufleet(&["baseline", s(&dir)]);
    assert_eq!(stdout(&got), stdout(&cpufleet(&["baseline", s(&cat)])), "{}", stderr(&got));
    // The order matters where the result depends on it: vendors mismatch, named at the file of
    // the CPU that breaks the baseline.
    let amd = tmp("many-amd.xml", HOST_AMD);
    let o = cpufleet(&["baseline", s(&a), s(&amd)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // Standard input once at most; an empty directory is an error.
    let o = cpufleet_stdin(&["baseline", "-", "-"], HOST);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("standard input ('-') can be given only once"), "{}", stderr(&o));
    let empty = tmp_dir("many-empty", &[("x.txt", "")]);
    let o = cpufleet(&["baseline", s(&empty)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("holds no *.xml file"), "{}", stderr(&o));
}

#[test]
fn every_cpu_command_reads_several_inputs() {
    let a = tmp("several-a.xml", HOST);
    let b = tmp("several-b.xml", HOST_OLD);
    let both = tmp("several-ab.xml", &format!("{HOST}{HOST_OLD}"));
    for cmd in ["fmt", "expand"] {
        let want = stdout(&cpufleet(&[cmd, s(&both)]));
        assert!(want.matches("<cpu").count() == 2, "{want}");
        assert_eq!(stdout(&cpufleet(&[cmd, s(&a), s(&b)])), want, "{cmd}");
        assert_eq!(stdout(&cpufleet_stdin(&[cmd, s(&a), "-"], HOST_OLD)), want, "{cmd} -");
    }
    let Some(p) = pack_of("11.3.0") else { return };
    let d1 = p.join("x86_64-cpuid-Core-i7-8700.xml");
    let d2 = p.join("x86_64-cpuid-Xeon-Gold-5115.xml");
    let o = cpufleet(&["decode", s(&d1), s(&d2)]);
    let want = [d1, d2].map(|d| stdout(&cpufleet(&["decode", s(&d)]))).concat();
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), want));
    // update HOST… GUEST: one updated guest per host CPU, each after a comment naming it.
    let guest = tmp(
        "several-guest.xml",
        "<cpu match='exact'><model>SandyBridge</model><feature policy='optional' name='vmx'/></cpu>",
    );
    let o = cpufleet(&["update", s(&a), s(&b), s(&guest)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("<!-- ") && out.contains("several-a.xml#1 (1:1)") && out.contains("several-b.xml#1 (1:1)"),
        "{out}"
    );
    assert_eq!(out.matches("<cpu").count(), 2, "{out}");
}

#[test]
fn compare_answers_for_every_host_cpu() {
    let hosts = tmp("cmp-hosts.xml", &format!("{HOST}{HOST_OLD}"));
    let guest = tmp("cmp-guest.xml", "<cpu match='exact'><model>Haswell-noTSX</model></cpu>");
    let o = cpufleet(&["compare", s(&hosts), s(&guest)]);
    assert_eq!(o.status.code(), Some(1), "the second host cannot run it: {}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("{}#1 (1:1): Host CPU is a superset", s(&hosts))), "{out}");
    assert!(out.contains(&format!("{}#2 (8:1): CPU described in {} is incompatible", s(&hosts), s(&guest))), "{out}");
    assert!(out.contains("  reason: host CPU does not provide required features: "), "{out}");
    assert_eq!(lines.last(), Some(&format!("1 of 2 host CPUs can run the CPU described in {}", s(&guest)).as_str()));
    // Every host can: exit 0. Hosts from several files and a directory, in order.
    let dir = tmp_dir("cmp-dir", &[("b.xml", HOST), ("a.xml", HOST)]);
    let old_guest = tmp("cmp-old-guest.xml", "<cpu match='exact'><model>SandyBridge</model></cpu>");
    let o = cpufleet(&["compare", s(&hosts), s(&dir), s(&old_guest)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let a = out.find("a.xml#1").unwrap();
    assert!(a < out.find("b.xml#1").unwrap() && out.contains("4 of 4 host CPUs"), "{out}");
    // JSON: an array, one object per host CPU, in order.
    let o = cpufleet(&["compare", "--format", "json", s(&hosts), s(&guest)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = v.as_array().expect("an array for several hosts");
    assert_eq!(list.len(), 2);
    assert_eq!((list[0]["verdict"].as_str(), list[1]["verdict"].as_str()), (Some("superset"), Some("incompatible")));
    assert_eq!((list[1]["host"]["index"].as_u64(), list[1]["host"]["line"].as_u64()), (Some(2), Some(8)));
    let missing: Vec<&str> = list[1]["missing"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    assert!(missing.contains(&"avx2") && missing.contains(&"fma"), "{missing:?}");
    // Only CPU and no host is a usage error.
    assert_eq!(cpufleet(&["compare", s(&guest)]).status.code(), Some(2));
}

/// The JSON answer of `args`: exit 0, an object carrying `"libvirt"`.
fn json_of(args: &[&str]) -> serde_json::Value {
    let o = cpufleet(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert_eq!(v["libvirt"].as_str(), Some("11.3.0"), "{args:?}: {v}");
    v
}

/// A CPU object: model, vendor, features of {name, policy} and its XML.
fn check_cpu(v: &serde_json::Value, model: &str) {
    assert_eq!(v["model"].as_str(), Some(model), "{v}");
    assert!(v["xml"].as_str().unwrap().starts_with("<cpu"), "{v}");
    for f in v["features"].as_array().unwrap() {
        assert!(f["name"].is_string() && (f["policy"].is_string() || f["policy"].is_null()), "{f}");
    }
}

#[test]
fn every_command_answers_in_json() {
    let pool = tmp("json-pool.xml", &format!("{HOST}{HOST_OLD}"));
    let host = tmp("json-host.xml", HOST);
    let v = json_of(&["baseline", "--format", "json", s(&pool)]);
    check_cpu(&v, "SandyBridge");
    assert_eq!(v["vendor"].as_str(), Some("Intel"));
    assert_eq!(v["features"][0]["name"].as_str(), Some("vmx"));
    assert_eq!(v["features"][0]["policy"].as_str(), Some("require"));
    assert_eq!(v["abi_level"].as_str(), Some("x86-64-v2"));
    assert_eq!(
        v["xml"].as_str().unwrap(),
        stdout(&cpufleet(&["baseline", s(&pool)])).trim_end_matches('\n').to_string() + "\n"
    );

    let guest = tmp("json-guest.xml", "<cpu match='exact'><model>SandyBridge</model></cpu>");
    let v = json_of(&["compare", "--format", "json", s(&host), s(&guest)]);
    assert_eq!(v["verdict"].as_str(), Some("superset"));
    for k in ["missing", "forbidden", "extra_strict"] {
        assert!(v[k].as_array().is_some_and(|a| a.is_empty()), "{k}: {v}");
    }
    for k in ["vendor_mismatch", "arch_mismatch"] {
        assert_eq!(v[k].as_bool(), Some(false), "{k}: {v}");
    }
    assert_eq!(v["host"]["file"].as_str(), Some(s(&host)));

    for cmd in ["fmt", "expand"] {
        let v = json_of(&[cmd, "--format", "json", s(&pool)]);
        let cpus = v["cpus"].as_array().unwrap();
        assert_eq!(cpus.len(), 2, "{cmd}");
        check_cpu(&cpus[0], "Haswell-noTSX");
        check_cpu(&cpus[1], "SandyBridge");
        assert_eq!(cpus[1]["source"].as_str(), Some(format!("{}#2 (8:1)", s(&pool)).as_str()));
        assert_eq!(cpus[0]["type"].as_str(), Some("host"));
    }
    let opt = tmp(
        "json-opt.xml",
        "<cpu match='exact'><model>SandyBridge</model><feature policy='optional' name='vmx'/></cpu>",
    );
    let v = json_of(&["update", "--format", "json", s(&host), s(&opt)]);
    let cpu = &v["cpus"][0];
    check_cpu(cpu, "SandyBridge");
    assert_eq!((cpu["type"].as_str(), cpu["match"].as_str()), (Some("guest"), Some("exact")));
    let vmx = cpu["features"].as_array().unwrap().iter().find(|f| f["name"] == "vmx").unwrap();
    assert_eq!(vmx["policy"].as_str(), Some("require"));

    let v = json_of(&["map", "show", "--format", "json"]);
    assert_eq!(v["models"].as_array().unwrap().len(), 150);
    let sb = v["models"].as_array().unwrap().iter().find(|m| m["model"] == "SandyBridge").unwrap();
    assert_eq!(sb["vendor"].as_str(), Some("Intel"));
    assert!(sb["features"].as_array().unwrap().iter().any(|f| f == "avx"), "{sb}");
    assert!(v["features"].as_array().unwrap().iter().any(|f| f["name"] == "invtsc" && f["migratable"] == false));

    if cfg!(target_arch = "x86_64") {
        let v = json_of(&["host", "--format", "json"]);
        assert_eq!(v["cpus"].as_array().unwrap().len(), 1);
        assert!(v["cpus"][0]["xml"].as_str().unwrap().starts_with("<cpu"));
        let v = json_of(&["host", "--dump", "--format", "json"]);
        assert!(v["xml"].as_str().unwrap().starts_with("<cpudata"));
    }
    let Some(p) = pack_of("11.3.0") else { return };
    let v = json_of(&["decode", "--format", "json", s(&p.join("x86_64-cpuid-Core-i7-8700.xml"))]);
    // The model the pack's expected host CPU names.
    let want = std::fs::read_to_string(p.join("x86_64-cpuid-Core-i7-8700-host.xml")).unwrap();
    let model = want.split("<model>").nth(1).and_then(|m| m.split('<').next()).unwrap();
    check_cpu(&v["cpus"][0], model);
    assert_eq!(v["cpus"][0]["xml"].as_str(), Some(want.as_str()));
}
