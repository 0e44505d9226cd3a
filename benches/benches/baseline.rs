//! Baseline at fleet scale: in memory over 1,000 / 100,000 / 1,000,000 pre-parsed hosts
//! (`BaselineAcc` on every host's `BaselineInput`, and on hosts interned as indices into their
//! distinct inputs; sequential and rayon-parallel), and from pool XML
//! (bytes/s: the streaming path sequential and parallel, the in-memory path, and a pool where
//! no two hosts are alike).
//!
//! `cargo bench -p cpufleet-benches --bench baseline` (add `-- GROUP` to run one group).

mod common;

use cpufleet_engine::fast::baseline_interned;
use cpufleet_engine::x86::BaselineInput;
use cpufleet_engine::xml::Limits;
use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_stream::{
    baseline_in_memory, baseline_inputs, baseline_interned_parallel, baseline_source, StreamOpts, Streamed,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

/// `n` pre-parsed hosts drawn from the bench configurations: their distinct inputs, and each
/// host as an index into them.
fn hosts(map: &CpuMap, n: usize) -> (Vec<BaselineInput>, Vec<u32>) {
    let distinct: Vec<BaselineInput> =
        common::host_cpus().iter().map(|c| BaselineInput::from_cpu(&map.x86, c, 0).unwrap()).collect();
    let mut rng = common::Rng(42);
    (distinct, (0..n).map(|_| rng.config() as u32).collect())
}

fn in_memory(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        in_memory_on(c, v);
    }
}

fn in_memory_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let mut g = c.benchmark_group(format!("baseline_in_memory/libvirt-{v}"));
    for n in [1_000usize, 100_000, 1_000_000] {
        let (distinct, ids) = hosts(&map, n);
        let inputs: Vec<BaselineInput> = ids.iter().map(|&i| distinct[i as usize].clone()).collect();
        let want = baseline_inputs(&map, &inputs, false, false);
        assert!(want.is_ok());
        assert_eq!(baseline_inputs(&map, &inputs, false, true), want, "parallel and sequential agree");
        assert_eq!(baseline_interned(&map.x86, &distinct, &ids, false), want);
        assert_eq!(baseline_interned_parallel(&map, &distinct, &ids, false), want);
        g.throughput(Throughput::Elements(n as u64));
        if n >= 100_000 {
            g.sample_size(20).measurement_time(Duration::from_secs(4));
        }
        // Every host's own BaselineInput folded into a BaselineAcc (when parallel: chunks on the
        // rayon pool, merged in order).
        g.bench_function(format!("inputs_sequential/{n}"), |b| {
            b.iter(|| baseline_inputs(&map, black_box(&inputs), false, false))
        });
        g.bench_function(format!("inputs_parallel/{n}"), |b| {
            b.iter(|| baseline_inputs(&map, black_box(&inputs), false, true))
        });
        // Hosts as indices into their distinct CPUs (how the streaming path and a fleet hold
        // them): each distinct input folded once, every other host a bit test.
        g.bench_function(format!("interned_sequential/{n}"), |b| {
            b.iter(|| baseline_interned(&map.x86, black_box(&distinct), black_box(&ids), false))
        });
        g.bench_function(format!("interned_parallel/{n}"), |b| {
            b.iter(|| baseline_interned_parallel(&map, black_box(&distinct), black_box(&ids), false))
        });
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
