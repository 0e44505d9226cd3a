//! `cpufleet baseline --explain` at the cost of `cpufleet baseline`: one pool of 24,000 hosts
//! as `cpufleet fleet gen` writes it (`web-2016`'s generations, bare host `<cpu>` elements each
//! named in a comment), both commands run side by side as processes of the release binary
//! (`target/release/cpufleet`; the explanation lives in the command, not in a library), output
//! to a pipe that is drained. The goal is explain within 10x of plain baseline.
//!
//! `cargo build --release -p cpufleet && cargo bench -p cpufleet-benches --bench explain`

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Hosts of the pool.
const HOSTS: usize = 24_000;

fn binary() -> Option<PathBuf> {
    let p = std::env::var_os("CPUFLEET_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/cpufleet"));
    p.is_file().then_some(p)
}

/// The default spec with its pools replaced by one pool of [`HOSTS`] hosts.
fn one_pool_spec() -> String {
    let spec = include_str!("../../data/fleet.toml");
    let (head, rest) = spec.split_once("\n[[pool]]").expect("the default spec has pools");
    let guests = rest.find("\n[[guest]]").expect("and guests");
    format!(
        "{head}\n[[pool]]\nname = \"web-2016\"\nhosts = {HOSTS}\ngenerations = {{ Haswell = 1, Broadwell = 2 }}\n{}",
        &rest[guests..]
    )
}

/// Runs the binary; its standard output's length.
fn run(bin: &Path, args: &[&str]) -> usize {
    let o = Command::new(bin).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout.len()
}

fn explain(c: &mut Criterion) {
    let Some(bin) = binary() else {
        println!("SKIPPED explain: no target/release/cpufleet (cargo build --release -p cpufleet first)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("cpufleet-bench-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("one-pool.toml");
    std::fs::write(&spec, one_pool_spec()).unwrap();
    let out = dir.join("fleet");
    run(&bin, &["fleet", "gen", "--spec", spec.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let pool = out.join("web-2016.xml");
    let text = std::fs::read_to_string(&pool).unwrap();
    assert_eq!(text.matches("<cpu>").count(), HOSTS);
    let p = pool.to_str().unwrap();
    assert!(
        run(&bin, &["baseline", "--explain", p]) > run(&bin, &["baseline", p]),
        "the explanation follows the baseline"
    );
    let mut g = c.benchmark_group(format!("explain/pool_{HOSTS}"));
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("baseline", |b| b.iter(|| run(&bin, &["baseline", p])));
    g.bench_function("baseline_explain", |b| b.iter(|| run(&bin, &["baseline", "--explain", p])));
    g.bench_function("baseline_explain_json", |b| {
        b.iter(|| run(&bin, &["baseline", "--explain", "--format", "json", p]))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, explain);
criterion_main!(benches);
