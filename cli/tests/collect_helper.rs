//! The two binaries (issue 24, process start): `cpufleet` links no libvirt library, and
//! `cpufleet-collect` (what `cpufleet collect` runs, found beside `cpufleet` or on PATH) does;
//! `cpufleet collect` checks its arguments before running it, hands it the arguments as given,
//! exits with its code, and says where it looked when it is missing. Real binaries only (the
//! built ones, copies of them in temporary directories), `readelf -d` (binutils) on them, and
//! libvirt's in-process test driver (`test:///default`). Without readelf: `SKIPPED …` (a failure
//! under `CPUFLEET_REQUIRE_VIRSH=1`, as in CI).

#[path = "support/bin.rs"]
mod bin;
#[path = "support/inventory.rs"]
mod support;

use bin::{stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use support::TempDir;

const MAIN: &str = env!("CARGO_BIN_EXE_cpufleet");
const HELPER: &str = env!("CARGO_BIN_EXE_cpufleet-collect");

/// The shared libraries `readelf -d FILE` says FILE needs, or None (SKIPPED) without readelf.
fn needed(file: &str) -> Option<Vec<String>> {
    let o = match Command::new("readelf").arg("-d").arg(file).output() {
        Ok(o) if o.status.success() => o,
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            println!("SKIPPED readelf -d {file}: {why}");
            assert_ne!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref(), Ok("1"), "readelf: {why}");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let libs: Vec<String> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.trim_end_matches(']').to_string()))
        .collect();
    assert!(libs.iter().any(|l| l.starts_with("libc.so")), "{file}: no libc among NEEDED: {text}");
    Some(libs)
}

#[test]
fn only_the_helper_links_libvirt() {
    let (Some(main), Some(helper)) = (needed(MAIN), needed(HELPER)) else { return };
    let virt = |libs: &[String]| libs.iter().filter(|l| l.starts_with("libvirt")).cloned().collect::<Vec<_>>();
    assert_eq!(virt(&main), Vec::<String>::new(), "cpufleet needs {main:?}");
    assert!(virt(&helper).iter().any(|l| l.starts_with("libvirt.so")), "cpufleet-collect needs {helper:?}");
}

/// One test at a time: a file being written while another test's thread forks stays open in
/// that child until its exec, and running it then fails with ETXTBSY ("Text file busy").
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A directory holding a copy of `cpufleet` (and nothing else yet).
fn lone_cpufleet() -> (TempDir, PathBuf) {
    let dir = TempDir::new("collect-helper");
    let exe = dir.0.join("cpufleet");
    std::fs::copy(MAIN, &exe).expect("copy cpufleet");
    (dir, exe)
}

fn run(exe: &Path, path_env: &str, args: &[&str]) -> Output {
    Command::new(exe).args(args).env("PATH", path_env).output().expect("run cpufleet")
}

#[test]
fn missing_helper_names_where_it_looked() {
    let _serial = serial();
    let (dir, exe) = lone_cpufleet();
    let out = dir.0.join("inv");
    let o = run(&exe, "", &["collect", "-o", out.to_str().unwrap(), "test:///default"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cpufleet-collect not found"), "{err}");
    assert!(err.contains(&format!("not in {}", dir.0.display())), "{err}");
    assert!(err.contains("not on PATH"), "{err}");
    assert!(!out.exists(), "{} written without a helper", out.display());
}

/// A stand-in `cpufleet-collect` that records its arguments one a line and exits with CODE: the
/// probe for what `cpufleet collect` hands over (the real helper's work is tested in collect.rs).
fn recording_helper(dir: &Path, code: i32) -> PathBuf {
    let log = dir.join("args.log");
    let script =
        format!("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\nexit {code}\n", log.display());
    let p = dir.join("cpufleet-collect");
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

#[test]
fn bad_arguments_stop_before_the_helper_and_good_ones_pass_through() {
    let _serial = serial();
    let (dir, exe) = lone_cpufleet();
    let log = recording_helper(&dir.0, 0);
    for bad in [
        &["collect", "--timeout", "0", "-o", "x", "test:///default"][..],
        &["collect", "--timeout", "nan", "-o", "x", "test:///default"],
        &["collect", "--jobs", "0", "-o", "x", "test:///default"],
        &["collect", "--bogus", "-o", "x"],
        &["collect", "test:///default"],
    ] {
        let o = run(&exe, "", bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(!log.exists(), "{bad:?}: the helper ran");
    }
    let o = run(&exe, "", &["collect", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Usage: cpufleet collect"), "{}", stdout(&o));
    assert!(!log.exists(), "--help ran the helper");

    let args = ["--jobs", "3", "-o", "a dir", "--pool", "p", "test:///default", "--quiet"];
    let o = run(&exe, "", &[&["collect"][..], &args].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().collect::<Vec<_>>(), args);
    for code in [1, 2, 3] {
        std::fs::remove_file(&log).unwrap();
        recording_helper(&dir.0, code);
        let o = run(&exe, "", &["collect", "-o", "x", "test:///default"]);
        assert_eq!(o.status.code(), Some(code), "helper exit {code}: {}", stderr(&o));
        assert!(log.exists());
    }
}

#[test]
fn helper_found_on_path_collects() {
    let _serial = serial();
    let (dir, exe) = lone_cpufleet();
    let helper_dir = Path::new(HELPER).parent().unwrap().to_str().unwrap().to_string();
    let out = dir.0.join("inv");
    let o = run(&exe, &helper_dir, &["collect", "--quiet", "-o", out.to_str().unwrap(), "test:///default"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("collected 1 of 1 hosts"), "{}", stdout(&o));
    for f in ["default/localhost.xml", "default/localhost.meta.toml", "default/localhost/test.xml"] {
        assert!(out.join(f).is_file(), "{f} missing; {}", stdout(&o));
    }
}
