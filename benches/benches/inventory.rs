//! Reading a real fleet inventory (`cpufleet_inventory::Inventory::read`): 100,000 host files in
//! 20 pool folders, `virsh capabilities` documents of 10 distinct host CPUs (the bench
//! configurations of `common`, two microcode levels each), generated once into a temporary
//! directory. Measures listing, parallel reads, byte dedupe and one parse per distinct content
//! (`read`), and that plus `cpufleet simulate --inventory`'s work on the default spec's guests,
//! migrations and plan: pools, migrate and plan (`read_and_simulate`).
//!
//! `cargo bench -p cpufleet-benches --bench inventory -- --warm-up-time 1 --measurement-time 5`

mod common;
#[path = "../../cli/tests/support/inventory.rs"]
mod sample;

use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_inventory::{Inventory, ReadOpts};
use cpufleet_sim::Scenario;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const POOLS: usize = 20;
const HOSTS_PER_POOL: usize = 5_000;

/// Writes the inventory: host `i` of a pool gets variant `(i * 7 + pool) % 10`.
fn generate(dir: &std::path::Path) {
    let variants: Vec<String> = common::CONFIGS
        .iter()
        .flat_map(|c| c.microcode.map(|m| sample::capabilities(&common::host_xml(c, m, c.tsc), 0)))
        .collect();
    for p in 0..POOLS {
        let pdir = dir.join(format!("pool-{p:02}"));
        std::fs::create_dir_all(&pdir).unwrap();
        for i in 0..HOSTS_PER_POOL {
            let v = &variants[(i * 7 + p) % variants.len()];
            std::fs::write(pdir.join(format!("host-{i:05}.xml")), v).unwrap();
        }
    }
}

fn read(c: &mut Criterion) {
    let dir = sample::TempDir::new("bench-inventory");
    generate(&dir.0);
    let v = LibvirtVersion::V11_3_0;
    let map = CpuMap::embedded(v).unwrap();
    let opts = ReadOpts::default();
    let inv = Inventory::read(&dir.0, &map, &opts).unwrap();
    assert_eq!(inv.n_hosts(), POOLS * HOSTS_PER_POOL);
    assert_eq!(inv.cpus.len(), 10);
    let mut g = c.benchmark_group(format!("inventory/libvirt-{v}"));
    g.sample_size(10);
    g.throughput(Throughput::Elements((POOLS * HOSTS_PER_POOL) as u64));
    g.bench_function(format!("read/{}_host_files", POOLS * HOSTS_PER_POOL), |b| {
        b.iter(|| Inventory::read(black_box(&dir.0), &map, &opts).unwrap())
    });
    let spec = cpufleet_sim::load_spec(&map.x86, None, u64::MAX).unwrap();
    let config = cpufleet_sim::Config {
        seed: 1,
        scenarios: vec![Scenario::Pools, Scenario::Migrate, Scenario::Plan],
        check_all: false,
        fault: None,
        reproduce: String::new(),
        progress: &cpufleet_sim::Silent,
        rollout: Default::default(),
    };
    g.bench_function(format!("read_and_simulate/{}_host_files", POOLS * HOSTS_PER_POOL), |b| {
        b.iter(|| {
            let inv = Inventory::read(black_box(&dir.0), &map, &opts).unwrap();
            let real = cpufleet_sim::from_inventory(&map.x86, &spec, &inv).unwrap();
            let report = cpufleet_sim::simulate_real(&map, real, &config).unwrap();
            assert_eq!(report.checks.violation_count, 0);
            report
        })
    });
    g.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
