//! Baseline at fleet scale: in memory, `x86::baseline` over 1,000 / 10,000 parsed hosts and its
//! fold (`BaselineAcc` on every host's `BaselineInput`, what both the in-memory and the
//! streaming path fold into) over 1,000 / 100,000 / 1,000,000 hosts; and from pool XML
//! (bytes/s: the streaming path sequential and parallel, the in-memory path, and a pool where
//! no two hosts are alike).
//!
//! `cargo bench -p cpufleet-benches --bench baseline` (add `-- GROUP` to run one group).

mod common;

use cpufleet_engine::x86::{self, BaselineAcc, BaselineInput};
use cpufleet_engine::xml::Limits;
use cpufleet_engine::{CpuDef, CpuError, CpuMap, LibvirtVersion};
use cpufleet_sim::Rng;
use cpufleet_stream::{baseline_in_memory, baseline_source, StreamOpts, Streamed};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

/// `n` hosts drawn from the bench configurations, as indices into [`common::host_cpus`].
fn host_ids(n: usize) -> Vec<usize> {
    let mut rng = Rng::new(42);
    (0..n).map(|_| common::config(&mut rng)).collect()
}

/// The fold of `x86::baseline` (and of the streaming path) over resolved inputs.
fn fold(map: &CpuMap, inputs: &[BaselineInput]) -> Result<CpuDef, CpuError> {
    let mut acc = BaselineAcc::new(&inputs[0])?;
    for i in &inputs[1..] {
        acc.add(&map.x86, i)?;
    }
    acc.finish(&map.x86, false)
}

fn in_memory(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        in_memory_on(c, v);
    }
}

fn in_memory_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let cpus = common::host_cpus();
    let distinct: Vec<BaselineInput> = cpus.iter().map(|c| BaselineInput::from_cpu(&map.x86, c, 0).unwrap()).collect();
    let mut g = c.benchmark_group(format!("baseline_in_memory/libvirt-{v}"));
    for n in [1_000usize, 10_000] {
        let hosts: Vec<CpuDef> = host_ids(n).into_iter().map(|i| cpus[i].clone()).collect();
        assert!(x86::baseline(&map.x86, &hosts, false).is_ok());
        g.throughput(Throughput::Elements(n as u64));
        // Every host resolved against the map (`BaselineInput::from_cpu`) and folded.
        g.bench_function(format!("x86_baseline/{n}"), |b| b.iter(|| x86::baseline(&map.x86, black_box(&hosts), false)));
    }
    for n in [1_000usize, 100_000, 1_000_000] {
        let inputs: Vec<BaselineInput> = host_ids(n).into_iter().map(|i| distinct[i].clone()).collect();
        let want = fold(&map, &inputs);
        assert!(want.is_ok());
        if n <= 10_000 {
            let hosts: Vec<CpuDef> = host_ids(n).into_iter().map(|i| cpus[i].clone()).collect();
            assert_eq!(x86::baseline(&map.x86, &hosts, false), want, "the fold is x86::baseline's");
        }
        g.throughput(Throughput::Elements(n as u64));
        if n >= 100_000 {
            g.sample_size(20).measurement_time(Duration::from_secs(4));
        }
        // Every host's BaselineInput folded into a BaselineAcc.
        g.bench_function(format!("acc_fold/{n}"), |b| b.iter(|| fold(&map, black_box(&inputs))));
    }
    g.finish();
}

fn stream(map: &CpuMap, bytes: &[u8], parallel: bool) -> Streamed {
    let opts = StreamOpts { parallel, ..StreamOpts::default() };
    baseline_source(map, bytes, u64::MAX, Limits::default(), false, false, opts).unwrap()
}

fn from_xml(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        from_xml_on(c, v);
    }
}

fn from_xml_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let hosts = 20_000;
    let pool = common::pool(hosts, 7, false);
    let unique = common::pool(hosts, 7, true);
    let want = baseline_in_memory(&map, &pool, Limits::default(), false, false);
    for (p, parallel) in [(&pool, false), (&pool, true), (&unique, true)] {
        assert_eq!(stream(&map, p, parallel), Streamed::Done(Box::new(want.clone())), "streamed = in memory");
    }
    let mut g = c.benchmark_group(format!("baseline_xml/libvirt-{v}"));
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Bytes(pool.len() as u64));
    g.bench_function(format!("stream_sequential/{hosts}_hosts"), |b| b.iter(|| stream(&map, black_box(&pool), false)));
    g.bench_function(format!("stream_parallel/{hosts}_hosts"), |b| b.iter(|| stream(&map, black_box(&pool), true)));
    g.throughput(Throughput::Bytes(unique.len() as u64));
    g.bench_function(format!("stream_parallel_all_distinct/{hosts}_hosts"), |b| {
        b.iter(|| stream(&map, black_box(&unique), true))
    });
    g.bench_function(format!("stream_sequential_all_distinct/{hosts}_hosts"), |b| {
        b.iter(|| stream(&map, black_box(&unique), false))
    });
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Bytes(pool.len() as u64));
    g.bench_function(format!("in_memory_reader/{hosts}_hosts"), |b| {
        b.iter(|| baseline_in_memory(&map, black_box(&pool), Limits::default(), false, false))
    });
    g.finish();
}

criterion_group!(benches, in_memory, from_xml);
criterion_main!(benches);
