//! `cpufleet simulate` against its recorded output: the JSON of seeds 1–5, the text report and
//! the HTML page of seed 1, and the JSON of seed 1 with `--check-all`, under each libvirt
//! version, on the default spec. The files were written by the simulator before the house was
//! restructured (issue 11); a change of behaviour shows here as the first differing line.
//! To record a deliberate change: `CPUFLEET_BLESS=1 cargo test --release -p cpufleet --test golden`.

use std::path::PathBuf;
use std::process::Command;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

/// Runs `cpufleet simulate ARGS`, returning stdout, and the HTML page when `html` is set.
fn simulate(args: &[&str], html: bool) -> (String, Option<String>) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("golden");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join(format!("{}.html", args.join("_").replace(['-', ' '], "")));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cpufleet"));
    cmd.arg("simulate").args(args).arg("-q");
    if html {
        cmd.arg("--html").arg(&page);
    }
    let out = cmd.output().expect("run cpufleet");
    assert!(out.status.success(), "cpufleet simulate {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let page = html.then(|| std::fs::read_to_string(&page).expect("HTML page written"));
    (String::from_utf8(out.stdout).expect("UTF-8 stdout"), page)
}

/// Compares `got` with the golden file `name`, naming the first differing line.
fn check(name: &str, got: &str) {
    let path = golden(name);
    if std::env::var_os("CPUFLEET_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{name}: output differs from the golden file at line {}:\n  want: {:?}\n  got:  {:?}",
            line + 1,
            want.lines().nth(line),
            got.lines().nth(line)
        );
    }
}

#[test]
fn json_of_seeds_1_to_5() {
    for v in cpufleet_engine::LibvirtVersion::NAMES {
        for seed in 1..=5 {
            let s = seed.to_string();
            let (json, _) = simulate(&["--libvirt", v, "--seed", &s, "--format", "json"], false);
            check(&format!("simulate-libvirt-{v}-seed-{seed}.json"), &json);
        }
    }
}

#[test]
fn text_and_html_of_seed_1() {
    for v in cpufleet_engine::LibvirtVersion::NAMES {
        let (text, page) = simulate(&["--libvirt", v, "--seed", "1"], true);
        check(&format!("simulate-libvirt-{v}-seed-1.txt"), &text);
        check(&format!("simulate-libvirt-{v}-seed-1.html"), &page.unwrap());
    }
}

#[test]
fn json_of_seed_1_checking_all() {
    for v in cpufleet_engine::LibvirtVersion::NAMES {
        let (json, _) = simulate(&["--libvirt", v, "--seed", "1", "--format", "json", "--check-all"], false);
        check(&format!("simulate-libvirt-{v}-seed-1-check-all.json"), &json);
    }
}
