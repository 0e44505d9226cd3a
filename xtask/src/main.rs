//! `cargo xtask`: the project's checks as one entry point, cheapest first, so a broken format
//! fails in seconds and not after the tests.
//!
//! ```text
//! cargo xtask ci            every step below, in order (what `.ci/run` calls)
//! cargo xtask STEP...       only these steps: fmt deps graph clippy doc msrv test install swarm fuzz
//! ```
//!
//! Steps:
//! - `fmt`: `cargo fmt --check` on the main workspace and on `fuzz/` (its own workspace).
//! - `deps`: every dependency each package declares is used by its sources (`deps.rs`: the
//!   crate name as a path, `use` or `extern crate` outside comments; fails naming the unused).
//! - `graph`: each crate's file-level import graph has no circle and no non-test file is over
//!   700 lines (`graph.rs`; no allow-list).
//! - `clippy`: clippy with `-D warnings` on both workspaces (`fuzz/` with nightly features on
//!   the stable toolchain, `RUSTC_BOOTSTRAP=1`, as cargo-fuzz builds it), and on the cli package
//!   without its default features (no `collect`, so no libvirt).
//! - `doc`: `cargo doc --workspace --no-deps` with warnings denied.
//! - `msrv`: `cargo check --workspace --all-targets` on the toolchain named by `rust-version` in
//!   the root `Cargo.toml` (installed with rustup when missing), so the declared MSRV stays true.
//! - `test`: the README's test command, `cargo test --workspace --release`; the tests that
//!   produce summary lines (conformance per libvirt version, the differential test against
//!   virsh) append them to a file named by `CPUFLEET_SUMMARY_FILE`, printed once at the end.
//! - `install`: the README's install line, `cargo install --path cli --locked`, into a scratch
//!   root (`target/install-check`, reusing the release build); both binaries must be there
//!   (`cpufleet` and `cpufleet-collect`, which `cpufleet collect` runs); the installed `cpufleet`
//!   runs `--version`, a small simulation and `collect -o DIR test:///default` (PATH empty, so
//!   the helper beside it is the one run).
//! - `swarm`: the simulator's seed sweep, `cpufleet simulate --swarm N --seed S` (each member
//!   draws its release), then with `--libvirt V` for every supported release V (every check on,
//!   each member over its own spec variant and run; a failure prints its reproduce command). N is
//!   `CPUFLEET_SWARM` (default 64); S is `CPUFLEET_SWARM_SEED`, by default the day number since
//!   1970, so each day's CI explores new seeds and a failing seed stays reproducible from the log.
//! - `fuzz`: `fuzz/ci.sh` (every fuzz target, `CPUFLEET_FUZZ_SECONDS` each, default 60).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod deps;
mod graph;

const STEPS: [&str; 10] = ["fmt", "deps", "graph", "clippy", "doc", "msrv", "test", "install", "swarm", "fuzz"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let steps: Vec<&str> = match args.first().map(String::as_str) {
        None | Some("-h" | "--help") => {
            eprintln!(
                "usage: cargo xtask ci | cargo xtask STEP... (steps: {}) | cargo xtask releases",
                STEPS.join(" ")
            );
            return if args.is_empty() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
        Some("ci") if args.len() == 1 => STEPS.to_vec(),
        Some("releases") if args.len() == 1 => {
            releases();
            return ExitCode::SUCCESS;
        }
        _ => match args.iter().map(|a| STEPS.iter().copied().find(|s| s == a).ok_or(a)).collect() {
            Ok(steps) => steps,
            Err(bad) => {
                eprintln!("xtask: unknown step '{bad}' (steps: {})", STEPS.join(" "));
                return ExitCode::from(2);
            }
        },
    };
    let root = root();
    let start = Instant::now();
    for step in steps {
        println!("\n=== xtask {step} ({}s)", start.elapsed().as_secs());
        if let Err(e) = run_step(&root, step) {
            eprintln!("xtask: {step} failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("\n=== xtask done ({}s)", start.elapsed().as_secs());
    ExitCode::SUCCESS
}

/// `cargo xtask releases`: the engine's release table, one line per release, oldest first:
/// `NAME SUITE QEMU` (`12.9.0 trixie-backports 11.1`). `.ci/run` installs each suite's oracles
/// from it.
fn releases() {
    for v in cpufleet_engine::LibvirtVersion::ALL {
        let r = v.release();
        println!("{v} {} {}", r.debian_suite, r.qemu);
    }
}

/// The repository root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the repository root").to_path_buf()
}

type StepResult = Result<(), String>;

fn run_step(root: &Path, step: &str) -> StepResult {
    let fuzz = root.join("fuzz");
    match step {
        "fmt" => {
            cargo(root, &["fmt", "--all", "--check"], &[])?;
            cargo(&fuzz, &["fmt", "--all", "--check"], &[])
        }
        "deps" => deps::check(root),
        "graph" => graph::check(root, &deps::workspace_members(root)?),
        "clippy" => {
            cargo(root, &["clippy", "--workspace", "--all-targets", "--release", "--", "-D", "warnings"], &[])?;
            // The command line without libvirt (`cpufleet collect` says so): its own feature set.
            let lean = ["clippy", "-p", "cpufleet", "--all-targets", "--release", "--no-default-features"];
            cargo(root, &[&lean[..], &["--", "-D", "warnings"]].concat(), &[])?;
            cargo(&fuzz, &["clippy", "--all-targets", "--", "-D", "warnings"], &[("RUSTC_BOOTSTRAP", "1")])
        }
        "doc" => cargo(root, &["doc", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")]),
        "msrv" => msrv(root),
        "test" => test(root),
        "install" => install(root),
        "swarm" => swarm(root),
        "fuzz" => {
            let secs = std::env::var("CPUFLEET_FUZZ_SECONDS").unwrap_or_else(|_| "60".into());
            run(Command::new(fuzz.join("ci.sh")).arg(secs).current_dir(root))
        }
        other => Err(format!("unknown step {other}")),
    }
}

/// `cpufleet simulate --swarm N --seed S` on the release binary the tests built, its members
/// drawing their release, then with `--libvirt V` once per supported libvirt release.
fn swarm(root: &Path) -> StepResult {
    let n = std::env::var("CPUFLEET_SWARM").unwrap_or_else(|_| "64".into());
    let seed = std::env::var("CPUFLEET_SWARM_SEED").unwrap_or_else(|_| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (now.as_secs() / 86_400).to_string()
    });
    let swarm = ["run", "--release", "-q", "-p", "cpufleet", "--", "simulate", "--swarm", &n, "--seed", &seed];
    println!("swarm, each member under the release it draws");
    cargo(root, &swarm, &[])?;
    for version in cpufleet_engine::LibvirtVersion::ALL.map(|v| v.as_str()) {
        let mut args = swarm.to_vec();
        args.extend(["--libvirt", version]);
        println!("swarm under libvirt {version}");
        cargo(root, &args, &[])?;
    }
    Ok(())
}

/// `cargo install --path cli --locked` (the README's install line) into `target/install-check`,
/// with the workspace's target directory so the release build is reused, then the installed
/// binaries run (`collect` through the installed helper).
fn install(root: &Path) -> StepResult {
    let dest = root.join("target").join("install-check");
    let _ = std::fs::remove_dir_all(&dest);
    let (dest_s, target) = (dest.to_string_lossy().into_owned(), root.join("target").to_string_lossy().into_owned());
    cargo(root, &["install", "--path", "cli", "--locked", "--root", &dest_s], &[("CARGO_TARGET_DIR", &target)])?;
    let bin = dest.join("bin").join("cpufleet");
    let helper = dest.join("bin").join("cpufleet-collect");
    if !helper.is_file() {
        return Err(format!("{}: not installed beside {}", helper.display(), bin.display()));
    }
    run(Command::new(&bin).arg("--version"))?;
    let small = ["simulate", "--hosts", "21", "--guests", "20", "--migrations", "100", "--quiet"];
    run(Command::new(&bin).args(small).stdout(std::process::Stdio::null()))?;
    // `cpufleet collect` runs the installed cpufleet-collect (beside it; PATH left out).
    let inv = dest.join("collected");
    let inv_s = inv.to_string_lossy().into_owned();
    run(Command::new(&bin).args(["collect", "--quiet", "-o", &inv_s, "test:///default"]).env("PATH", ""))?;
    for f in ["default/localhost.xml", "default/localhost.meta.toml"] {
        if !inv.join(f).is_file() {
            return Err(format!("installed cpufleet collect wrote no {}", inv.join(f).display()));
        }
    }
    for b in [&bin, &helper] {
        let size = std::fs::metadata(b).map_err(|e| format!("{}: {e}", b.display()))?.len();
        println!("installed {} ({:.1} MB)", b.display(), size as f64 / 1e6);
    }
    Ok(())
}

/// Runs `cargo ARGS` in `dir` with extra environment variables.
fn cargo(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> StepResult {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

fn run(cmd: &mut Command) -> StepResult {
    println!("$ {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} exited with {status}"))
    }
}

/// The `rust-version` of the root `Cargo.toml`'s `[workspace.package]`.
fn rust_version(root: &Path) -> Result<String, String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).map_err(|e| format!("Cargo.toml: {e}"))?;
    manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version").map(|v| v.trim_start().trim_start_matches('=').trim()))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or_else(|| "Cargo.toml: no rust-version".to_string())
}

/// `cargo +MSRV check --workspace --all-targets`, installing the toolchain when missing. The
/// MSRV build has its own target directory, so it never invalidates the main build.
fn msrv(root: &Path) -> StepResult {
    let version = rust_version(root)?;
    let have = Command::new("rustup").args(["run", &version, "rustc", "--version"]).output();
    if !have.is_ok_and(|o| o.status.success()) {
        run(Command::new("rustup").args(["toolchain", "install", &version, "--profile", "minimal"]))?;
    }
    let target = root.join("target").join("msrv");
    // `rustup run` and not `cargo +V`: under cargo, PATH may lead to a toolchain's own cargo.
    let mut cmd = Command::new("rustup");
    cmd.args(["run", &version, "cargo", "check", "--workspace", "--all-targets", "--locked"])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN")
        .current_dir(root);
    run(&mut cmd)
}

/// The README's test command, then the summary lines its tests wrote.
fn test(root: &Path) -> StepResult {
    let summary = root.join("target").join("test-summary.txt");
    let _ = std::fs::remove_file(&summary);
    let summary_path = summary.to_string_lossy().into_owned();
    let result = cargo(root, &["test", "--workspace", "--release"], &[("CPUFLEET_SUMMARY_FILE", &summary_path)]);
    println!("\n=== summary lines of the tests");
    match std::fs::read_to_string(&summary) {
        Ok(text) => print!("{text}"),
        Err(e) => println!("(none: {}: {e})", summary.display()),
    }
    result
}
