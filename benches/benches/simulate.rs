//! Fleet simulator benches: migration checks per second (the fast path on interned bitsets and
//! the whole migration loop), fleet generation, and a small full run of every scenario.

use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_sim::phases::{self, Compat, Sim};
use cpufleet_sim::phases::{GuestClassId, HostClassId, HostId};
use cpufleet_sim::{load_spec, simulate, Config, Fleet, Rng, Rollout, Scenario, Silent, Spec};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

fn spec_with_hosts(map: &CpuMap, hosts: u64) -> Spec {
    let mut s = load_spec(&map.x86, None, 1 << 20).expect("embedded spec");
    s.scale_hosts(hosts).expect("scale");
    s
}

/// One compare of a started guest CPU against a host CPU on the fast path (bitsets, no cache).
fn bench_fast_path(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        bench_fast_path_on(c, v);
    }
}

fn bench_fast_path_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let spec = spec_with_hosts(&map, 10_000);
    let mut sim = Sim::new(&map, &spec, 1, None).unwrap();
    let guests = phases::start_guests(&mut sim, 5_000);
    let started: Vec<GuestClassId> = guests.iter().filter_map(|g| g.class_id()).collect();
    // Fixed random (guest class, host) pairs.
    let mut rng = Rng::new(42);
    let n = 1 << 16;
    let pairs: Vec<(GuestClassId, HostClassId)> = (0..n)
        .map(|_| {
            let g = started[rng.below(started.len() as u64) as usize];
            let h = sim.fleet.host_class[HostId::new(rng.below(sim.fleet.n_hosts() as u64) as usize)];
            (g, h)
        })
        .collect();
    let compat = Compat::build(&sim.starter.classes, &sim.fleet.classes);
    let mut group = c.benchmark_group(format!("simulate/check/libvirt-{v}"));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("fast-path verdict", |b| {
        b.iter(|| {
            let mut ok = 0u32;
            for &(g, h) in &pairs {
                ok += u32::from(sim.starter.classes[g].sets.allows(&sim.fleet.classes[h]));
            }
            black_box(ok)
        })
    });
    group.bench_function("cached compat bit", |b| {
        b.iter(|| {
            let mut ok = 0u32;
            for &(g, h) in &pairs {
                ok += u32::from(compat.allows(g, h));
            }
            black_box(ok)
        })
    });
    group.finish();
}

/// The migration loop: random destinations, compat lookups, blocker histogram, pair recording.
fn bench_migrations(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        bench_migrations_on(c, v);
    }
}

fn bench_migrations_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let spec = spec_with_hosts(&map, 100_000);
    let mut sim = Sim::new(&map, &spec, 1, None).unwrap();
    let guests = phases::start_guests(&mut sim, 20_000);
    let compat = Compat::build(&sim.starter.classes, &sim.fleet.classes);
    let n = 1_000_000u64;
    let mut group = c.benchmark_group(format!("simulate/migrate/libvirt-{v}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function("1M migrations, 100k hosts, 20k guests", |b| {
        b.iter(|| black_box(phases::migrate(&sim, &guests, &compat, n, &Silent).stats.succeeded))
    });
    group.finish();
}

fn bench_generation(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        bench_generation_on(c, v);
    }
}

fn bench_generation_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let spec = spec_with_hosts(&map, 100_000);
    let mut group = c.benchmark_group(format!("simulate/fleet/libvirt-{v}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("generate 100k hosts", |b| {
        b.iter(|| black_box(Fleet::generate(&map.x86, &spec, 1).unwrap().classes.len()))
    });
    group.finish();
}

/// Every scenario on a small fleet (2,000 hosts, 1,000 guests, 20,000 migrations).
fn bench_full_run(c: &mut Criterion) {
    // The same work as `cpufleet simulate --hosts 2000 --guests 1000 --migrations 20000`: map,
    // spec, then every scenario.
    let run = |v: LibvirtVersion| {
        let map = CpuMap::embedded(v).expect("embedded map");
        let mut spec = spec_with_hosts(&map, 2_000);
        spec.guests = 1_000;
        spec.migrations = 20_000;
        let config = Config {
            seed: 1,
            scenarios: Scenario::all(),
            check_all: false,
            fault: None,
            reproduce: String::new(),
            progress: &Silent,
            rollout: Rollout::default(),
        };
        simulate(&map, &spec, &config).unwrap().checks.checks
    };
    let mut group = c.benchmark_group("simulate/run");
    group.sample_size(10);
    for v in LibvirtVersion::ALL {
        group.bench_function(format!("all scenarios, 2k hosts/libvirt-{v}"), |b| b.iter(|| black_box(run(v))));
    }
    group.finish();
}

/// The libvirt-upgrade scenario alone (2,000 hosts, 1,000 guests, 20,000 migrations per step, 5
/// steps), forward and reverse.
fn bench_libvirt_upgrade(c: &mut Criterion) {
    let map = CpuMap::embedded(LibvirtVersion::DEFAULT).expect("embedded map");
    let mut spec = spec_with_hosts(&map, 2_000);
    spec.guests = 1_000;
    spec.migrations = 20_000;
    let mut group = c.benchmark_group("libvirt_upgrade");
    group.sample_size(10);
    let (v9, v11, v12) = (LibvirtVersion::V9_0_0, LibvirtVersion::V11_3_0, LibvirtVersion::V12_9_0);
    for (from, to) in [(v9, v11), (v11, v9), (v11, v12)] {
        let config = Config {
            seed: 1,
            scenarios: vec![Scenario::LibvirtUpgrade],
            check_all: false,
            fault: None,
            reproduce: String::new(),
            progress: &Silent,
            rollout: Rollout { from, to, ..Rollout::default() },
        };
        let name = format!("{from} to {to}, 2k hosts");
        group.bench_function(&name, |b| b.iter(|| black_box(simulate(&map, &spec, &config).unwrap().checks.checks)));
    }
    group.finish();
}

criterion_group!(benches, bench_fast_path, bench_migrations, bench_generation, bench_full_run, bench_libvirt_upgrade);
criterion_main!(benches);
