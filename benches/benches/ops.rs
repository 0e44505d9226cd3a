//! One group per engine operation on the real embedded map: map load, CPU XML parse (bytes/s),
//! decode (per host), compare (per pair), update (per guest).
//!
//! `cargo bench -p cpufleet-benches --bench ops` (add `-- GROUP` to run one group).

mod common;

use cpufleet_engine::scan::{HostScanner, Scan};
use cpufleet_engine::x86::{self, PolicySets, Sel, X86Data};
use cpufleet_engine::xml::{parse_cpu, Limits, TypeHint};
use cpufleet_engine::{CpuDef, FeatureSet};
use cpufleet_engine::{CpuMap, LibvirtVersion};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn map_load(c: &mut Criterion) {
    let mut g = c.benchmark_group("map_load");
    g.measurement_time(Duration::from_secs(3));
    for v in LibvirtVersion::ALL {
        g.bench_function(format!("embedded/libvirt-{v}"), |b| {
            b.iter(|| CpuMap::embedded(v).expect("the embedded map"))
        });
    }
    g.finish();
}

fn xml_parse(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        xml_parse_on(c, v);
    }
}

fn xml_parse_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let scanner = HostScanner::new(&map.x86);
    let cfg = &common::CONFIGS[2];
    let host = common::host_xml(cfg, cfg.microcode[0], cfg.tsc);
    let guest = "<cpu mode='custom' match='exact' check='partial'>\n  <model fallback='forbid'>Skylake-Server-IBRS</model>\n  \
                 <vendor>Intel</vendor>\n  <feature policy='require' name='ssbd'/>\n  <feature policy='optional' name='pku'/>\n  \
                 <feature policy='disable' name='hle'/>\n  <feature policy='disable' name='rtm'/>\n</cpu>\n";
    let mut g = c.benchmark_group(format!("xml_parse/libvirt-{v}"));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(host.len() as u64));
    g.bench_function("host_cpu/reader", |b| {
        b.iter(|| parse_cpu(black_box(host.as_bytes()), TypeHint::Host, v, Limits::default()).unwrap())
    });
    // The scanner takes the element alone (`<cpu` to `</cpu>`), as the streaming path cuts it.
    let element = host.trim_end().as_bytes();
    assert!(matches!(scanner.scan(element, &Limits::default()), Scan::Plain { cpu: Some(_), .. }));
    g.bench_function("host_cpu/fast_scanner", |b| b.iter(|| scanner.scan(black_box(element), &Limits::default())));
    g.throughput(Throughput::Bytes(guest.len() as u64));
    g.bench_function("guest_cpu/reader", |b| {
        b.iter(|| parse_cpu(black_box(guest.as_bytes()), TypeHint::Guest, v, Limits::default()).unwrap())
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        decode_on(c, v);
    }
}

fn decode_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let x = &map.x86;
    let dumps = common::cpuid_hosts(&map);
    let data: Vec<X86Data> = dumps.iter().map(|d| X86Data::from_cpuid(x, d)).collect();
    let mut g = c.benchmark_group(format!("decode/libvirt-{v}"));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(dumps.len() as u64));
    g.bench_function("host/from_cpuid+decode", |b| {
        b.iter(|| {
            for d in &dumps {
                black_box(x86::decode_host(x, &X86Data::from_cpuid(x, black_box(d))).unwrap());
            }
        })
    });
    g.bench_function("host/decode", |b| {
        b.iter(|| {
            for d in &data {
                black_box(x86::decode_host(x, black_box(d)).unwrap());
            }
        })
    });
    g.bench_function("guest/decode", |b| {
        b.iter(|| {
            for d in &data {
                black_box(x86::decode_guest(x, black_box(d)).unwrap());
            }
        })
    });
    g.finish();
}

fn compare(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        compare_on(c, v);
    }
}

fn compare_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let x = &map.x86;
    let hosts = common::host_cpus();
    let guests = common::guest_cpus(&map);
    let pairs = (hosts.len() * guests.len()) as u64;
    // Resolved once, as the simulator holds its hosts and started guests: each host's
    // features (`x86ModelFromCPU(host, ALL)`) and each guest's policy sets.
    let resolve = |hosts: &[CpuDef], guests: &[CpuDef]| -> (Vec<FeatureSet>, Vec<PolicySets>) {
        (
            hosts.iter().map(|h| x86::model_from_cpu(x, h, Sel::All).unwrap().features).collect(),
            guests.iter().map(|g| PolicySets::of_cpu(x, g).unwrap()).collect(),
        )
    };
    let (ph, pg) = resolve(&hosts, &guests);
    let mut g = c.benchmark_group(format!("compare/libvirt-{v}"));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(pairs));
    g.bench_function("pair/x86_compare", |b| {
        b.iter(|| {
            for h in &hosts {
                for cpu in &guests {
                    black_box(x86::compare(x, black_box(h), black_box(cpu)));
                }
            }
        })
    });
    g.bench_function("pair/policy_sets", |b| {
        b.iter(|| {
            for h in &ph {
                for cpu in &pg {
                    black_box(black_box(cpu).compare(black_box(h)));
                }
            }
        })
    });
    g.throughput(Throughput::Elements((hosts.len() + guests.len()) as u64));
    g.bench_function("prepare_each_cpu", |b| b.iter(|| black_box(resolve(black_box(&hosts), black_box(&guests)))));
    g.finish();
}

fn update(c: &mut Criterion) {
    for v in LibvirtVersion::ALL {
        update_on(c, v);
    }
}

fn update_on(c: &mut Criterion, v: LibvirtVersion) {
    let map = CpuMap::embedded(v).unwrap();
    let x = &map.x86;
    let host = x86::copy_migratable(x, &common::host_cpus()[4]);
    let guests = common::guest_cpus(&map);
    let mut g = c.benchmark_group(format!("update/libvirt-{v}"));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(guests.len() as u64));
    g.bench_function("guest_on_host", |b| {
        b.iter_batched(
            || guests.clone(),
            |mut gs| {
                for cpu in &mut gs {
                    x86::update(x, cpu, Some(&host)).unwrap();
                }
                gs
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, map_load, xml_parse, decode, compare, update);
criterion_main!(benches);
