//! `Inventory::read` on an inventory built from the libvirt 11.3.0 pack's real host CPUs.

#[path = "../../cli/tests/support/inventory.rs"]
mod support;

use cpufleet_engine::xml::{read_cpu_document, Limits, TypeHint};
use cpufleet_engine::{CpuMap, LibvirtVersion};
use cpufleet_inventory::docs::parse_host;
use cpufleet_inventory::{IgnoredWhy, Inventory, InventoryError, Problem, ReadOpts};
use support::{build, pack, SampleInventory, TempDir};

fn map() -> CpuMap {
    CpuMap::embedded(LibvirtVersion::V11_3_0).unwrap()
}

fn read(inv: &SampleInventory, keep_going: bool) -> Result<Inventory, InventoryError> {
    Inventory::read(inv.path(), &map(), &ReadOpts { keep_going, ..ReadOpts::default() })
}

/// The position the engine's reader gives for `text` read as host CPUs.
fn reader_pos(text: &str) -> String {
    let e = read_cpu_document(text.as_bytes(), TypeHint::Host, LibvirtVersion::V11_3_0, Limits::default()).unwrap_err();
    format!("{}:{}", e.pos.line, e.pos.col)
}

const BROKEN: &str = "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n  <feature name='aes'>\n</cpu>\n";

#[test]
fn reads_every_pool_host_and_guest_in_order() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "inv-read");
    let inv = read(&sample, false).unwrap();
    assert_eq!(inv.libvirt, LibvirtVersion::V11_3_0);
    let pools: Vec<&str> = inv.pools.iter().map(|p| p.name.as_str()).collect();
    let mut expected: Vec<&str> = sample.pools.iter().map(|p| p.0.as_str()).collect();
    expected.sort();
    assert_eq!(pools, expected);
    for (name, hosts) in &sample.pools {
        let pool = inv.pools.iter().find(|p| p.name == *name).unwrap();
        let mut want = hosts.clone();
        want.sort();
        let got: Vec<String> = pool.hosts.iter().map(|h| h.name.clone()).collect();
        assert_eq!(got, want, "pool {name}");
    }
    assert!(inv.n_hosts() >= 30 && inv.pools.len() >= 3);
    assert_eq!(inv.n_guests(), sample.guests.len());
    for (pool, host, guest) in &sample.guests {
        let p = inv.pools.iter().find(|p| p.name == *pool).unwrap();
        let g = p.guests.iter().find(|g| g.name == *guest).unwrap_or_else(|| panic!("guest {guest}"));
        assert_eq!(p.hosts[g.host].name, *host);
    }
    // The guest written without <cpu> is recorded as such; the others have their CPU.
    let no_cpu: Vec<&str> =
        inv.pools.iter().flat_map(|p| &p.guests).filter(|g| g.cpu.is_none()).map(|g| g.name.as_str()).collect();
    assert_eq!(no_cpu.len(), sample.pools.len(), "{no_cpu:?}");
    assert!(no_cpu.iter().all(|n| n.ends_with("-vm2")));
    assert!(inv.skipped.is_empty() && inv.ignored.is_empty());
}

#[test]
fn same_bytes_share_one_cpu_and_dumps_are_decoded() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "inv-dedupe");
    let inv = read(&sample, false).unwrap();
    let host = |pool: &str, name: &str| {
        let p = inv.pools.iter().find(|p| p.name == pool).unwrap();
        p.hosts.iter().find(|h| h.name == name).unwrap().clone()
    };
    for (pool, a, b) in &sample.twins {
        assert_eq!(host(pool, a).cpu, host(pool, b).cpu, "{pool}: {a} and {b}");
    }
    // Fewer distinct CPUs than hosts, and every id is used.
    assert!(inv.cpus.len() < inv.n_hosts());
    let mut used: Vec<usize> = inv.pools.iter().flat_map(|p| &p.hosts).map(|h| h.cpu.index()).collect();
    used.sort();
    used.dedup();
    assert_eq!(used, (0..inv.cpus.len()).collect::<Vec<_>>());
    // A <cpudata> dump decodes to the host CPU libvirt's test suite expects for it.
    for (pool, name, decoded) in &sample.dumps {
        let cpu = &inv.cpus[host(pool, name).cpu.index()];
        let expected = parse_host(&std::fs::read(decoded).unwrap(), &map(), Limits::default()).unwrap();
        assert_eq!(*cpu, expected, "{pool}/{name}");
    }
}

#[test]
fn a_bad_file_is_the_error_with_its_position_or_a_counted_skip() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "inv-bad");
    let first = sample.write_host("intel-a", "aaa-broken", BROKEN);
    let second = sample.write_host("intel-b", "aaa-broken", BROKEN);
    match read(&sample, false) {
        Err(InventoryError::File { path, problem }) => {
            let Problem::Xml(e) = *problem else { panic!("{problem}") };
            assert_eq!(path, first, "the first bad file in sorted order");
            assert_eq!(format!("{}:{}", e.pos.line, e.pos.col), reader_pos(BROKEN));
        }
        other => panic!("{other:?}"),
    }
    let err = read(&sample, false).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: {}", first.display(), reader_pos(BROKEN))), "{err}");
    let inv = read(&sample, true).unwrap();
    let skipped: Vec<_> = inv.skipped.iter().map(|s| (s.path.clone(), s.pool.as_str())).collect();
    assert_eq!(skipped, vec![(first, "intel-a"), (second, "intel-b")]);
    let all: usize = sample.pools.iter().map(|p| p.1.len()).sum();
    assert_eq!(inv.n_hosts(), all);
}

#[test]
fn a_skipped_host_takes_its_guests_along() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "inv-skip-guests");
    let (pool, host, _) = sample.guests.last().unwrap().clone();
    sample.write_host(&pool, &host, BROKEN);
    let inv = read(&sample, true).unwrap();
    let n_guests = sample.guests.iter().filter(|g| g.1 == host).count();
    assert_eq!(inv.skipped.len(), 1 + n_guests);
    assert!(inv.skipped[1..].iter().all(|s| s.problem == Problem::HostSkipped));
    assert_eq!(inv.n_guests(), sample.guests.len() - n_guests);
}

#[test]
fn documents_of_the_wrong_shape_are_clear_errors() {
    let Some(pack) = pack() else { return };
    let cpu = std::fs::read_to_string(pack.join("x86_64-cpuid-Xeon-E5-2650-host.xml")).unwrap();
    type Check = fn(&Problem) -> bool;
    let cases: Vec<(String, Check)> = vec![
        (format!("{cpu}{cpu}"), |p| *p == Problem::SeveralCpus(2)),
        (support::domain("vm", "  <cpu mode='host-model'/>\n"), |p| *p == Problem::DomainAsHost),
        (String::new(), |p| matches!(p, Problem::Read(cpufleet_io::ReadError::Empty))),
        ("not xml at all".into(), |p| matches!(p, Problem::Xml(_))),
        ("<cpudata arch='x86'>\n</cpudata>\n".into(), |p| matches!(p, Problem::Decode(_) | Problem::Xml(_))),
    ];
    for (content, check) in cases {
        let dir = TempDir::new("inv-shape");
        std::fs::create_dir_all(dir.0.join("p")).unwrap();
        std::fs::write(dir.0.join("p/h.xml"), &content).unwrap();
        match Inventory::read(&dir.0, &map(), &ReadOpts::default()) {
            Err(InventoryError::File { problem, .. }) => assert!(check(&problem), "{content:?}: {problem}"),
            other => panic!("{content:?}: {other:?}"),
        }
    }
}

#[test]
fn empty_inventories_and_pools_and_ignored_entries() {
    let Some(pack) = pack() else { return };
    let dir = TempDir::new("inv-empty");
    assert!(matches!(Inventory::read(&dir.0, &map(), &ReadOpts::default()), Err(InventoryError::NoPools { .. })));
    std::fs::write(dir.0.join("notes.txt"), "x").unwrap();
    std::fs::create_dir_all(dir.0.join("p/h")).unwrap();
    let e = Inventory::read(&dir.0, &map(), &ReadOpts::default()).unwrap_err();
    assert!(matches!(&e, InventoryError::EmptyPool { path, skipped: 0, .. } if path.ends_with("p")), "{e:?}");
    std::fs::copy(pack.join("x86_64-cpuid-Xeon-E5-2650-host.xml"), dir.0.join("p/h.xml")).unwrap();
    std::fs::write(dir.0.join("p/h.txt"), "x").unwrap();
    std::fs::create_dir_all(dir.0.join("p/orphan")).unwrap();
    let inv = Inventory::read(&dir.0, &map(), &ReadOpts::default()).unwrap();
    let why: Vec<IgnoredWhy> = inv.ignored.iter().map(|i| i.why).collect();
    assert_eq!(why, vec![IgnoredWhy::TopLevelFile, IgnoredWhy::NotXml, IgnoredWhy::NoHostFile]);
    std::fs::write(dir.0.join("p/h.xml"), BROKEN).unwrap();
    let e = Inventory::read(&dir.0, &map(), &ReadOpts { keep_going: true, ..ReadOpts::default() }).unwrap_err();
    assert!(matches!(e, InventoryError::EmptyPool { skipped: 1, .. }), "{e:?}");
}

#[test]
fn reading_is_deterministic() {
    let Some(pack) = pack() else { return };
    let sample = build(&pack, "inv-determinism");
    sample.write_host("amd", "zz-broken", BROKEN);
    let a = read(&sample, true).unwrap();
    let b = read(&sample, true).unwrap();
    assert_eq!(a.pools, b.pools);
    assert_eq!(a.cpus, b.cpus);
    assert_eq!(a.skipped, b.skipped);
}

/// A `virsh domcapabilities` document (KVM, libvirt 11.3.0 style): its host-model CPU has no
/// `<arch>` of its own; the document's is the arch.
fn domcaps(arch: &str) -> String {
    format!(
        "<domainCapabilities>\n  <path>/usr/bin/qemu-system-x86_64</path>\n  <domain>kvm</domain>\n  <machine>pc-q35-9.2</machine>\n{arch}  <cpu>\n    <mode name='host-passthrough' supported='yes'/>\n    <mode name='host-model' supported='yes'>\n      <model fallback='forbid'>Skylake-Client-IBRS</model>\n      <vendor>Intel</vendor>\n      <feature policy='require' name='hypervisor'/>\n      <feature policy='require' name='ss'/>\n      <feature policy='disable' name='pcid'/>\n    </mode>\n    <mode name='custom' supported='yes'>\n      <model usable='yes' vendor='Intel'>Skylake-Client-IBRS</model>\n    </mode>\n  </cpu>\n</domainCapabilities>\n"
    )
}

#[test]
fn domcapabilities_hosts_are_the_cpu_kvm_offers_with_the_documents_arch() {
    use cpufleet_engine::x86::{model_from_cpu, Sel};
    let m = map();
    let text = domcaps("  <arch>x86_64</arch>\n");
    let cpu = parse_host(text.as_bytes(), &m, Limits::default()).unwrap();
    assert!(cpu.is_host());
    assert_eq!(cpu.arch.as_deref(), Some("x86_64"));
    let data = model_from_cpu(&m.x86, &cpu, Sel::All).unwrap().features;
    let has = |n: &str| data.contains(m.x86.feature_id(n).unwrap());
    // Required features are in the host's data, disabled ones are not (the host-model says KVM
    // does not offer them), the model's other features are.
    assert!(has("hypervisor") && has("ss") && has("avx2"));
    assert!(!has("pcid"));
    // In an inventory, as a host file: read, and the same CPU.
    let dir = TempDir::new("inv-domcaps");
    std::fs::create_dir_all(dir.0.join("p")).unwrap();
    std::fs::write(dir.0.join("p/kvm-host.xml"), &text).unwrap();
    let inv = Inventory::read(&dir.0, &m, &ReadOpts::default()).unwrap();
    assert_eq!(inv.n_hosts(), 1);
    assert_eq!(inv.cpus, vec![cpu]);
    // Without the document's <arch>: the reader's error, located at <domainCapabilities>.
    let e = parse_host(domcaps("").as_bytes(), &m, Limits::default()).unwrap_err();
    match e {
        Problem::Xml(x) => assert_eq!((x.pos.line, x.pos.col, x.to_string().contains("arch")), (1, 1, true), "{x}"),
        other => panic!("{other:?}"),
    }
}

/// `HOST.domcaps.xml` beside `HOST.xml`: one host whose CPU is the file's and whose QEMU/KVM is
/// the domcapabilities' (FULL from the file's CPU); alone it is the host `HOST`. A partner that
/// is not domcapabilities, or domcapabilities of TCG, is an error naming that file.
#[test]
fn a_domcaps_file_joins_its_host() {
    let m = map();
    let dir = TempDir::new("inv-domcaps-pair");
    let p = dir.0.join("p");
    std::fs::create_dir_all(&p).unwrap();
    let host = "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n  <vendor>Intel</vendor>\n  <feature name='vmx'/>\n</cpu>\n";
    std::fs::write(p.join("a.xml"), host).unwrap();
    std::fs::write(p.join("a.domcaps.xml"), domcaps("  <arch>x86_64</arch>\n")).unwrap();
    std::fs::write(p.join("b.domcaps.xml"), domcaps("  <arch>x86_64</arch>\n")).unwrap();
    let inv = Inventory::read(&dir.0, &m, &ReadOpts::default()).unwrap();
    let names: Vec<&str> = inv.pools[0].hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let (a, b) = (&inv.pools[0].hosts[0], &inv.pools[0].hosts[1]);
    assert_eq!(a.domcaps.as_deref(), Some(p.join("a.domcaps.xml").as_path()));
    assert_eq!(b.domcaps, None);
    assert_eq!(inv.cpus[a.cpu.index()].model.as_deref(), Some("Haswell"), "a's CPU is its own file's");
    let as_host = parse_host(domcaps("  <arch>x86_64</arch>\n").as_bytes(), &m, Limits::default()).unwrap();
    assert_eq!(inv.cpus[b.cpu.index()], as_host, "b's CPU is its host model as a host CPU");
    for h in [a, b] {
        let hv = inv.hypervisors[h.cpu.index()].as_ref().expect("a QEMU/KVM view");
        assert_eq!(hv.reported.as_ref().and_then(|r| r.model.as_deref()), Some("Skylake-Client-IBRS"));
        assert!(hv.start_check_host().is_some(), "FULL known");
    }
    // A partner that is not domcapabilities.
    std::fs::write(p.join("a.domcaps.xml"), host).unwrap();
    match Inventory::read(&dir.0, &m, &ReadOpts::default()).unwrap_err() {
        InventoryError::File { path, problem } => {
            assert_eq!((path, *problem), (p.join("a.domcaps.xml"), Problem::NotDomcaps));
        }
        other => panic!("{other:?}"),
    }
    // Domcapabilities of TCG.
    std::fs::write(p.join("a.domcaps.xml"), domcaps("  <arch>x86_64</arch>\n").replace("<domain>kvm", "<domain>qemu"))
        .unwrap();
    let e = Inventory::read(&dir.0, &m, &ReadOpts::default()).unwrap_err();
    assert!(e.to_string().contains("a.domcaps.xml: domcapabilities of virttype 'qemu'"), "{e}");
}

/// A `HOST.domcaps.xml` without `HOST.xml` is still the host's domcapabilities: one holding a
/// `virsh capabilities` document (or any other host file) is an error naming it, not a host.
#[test]
fn a_lone_domcaps_file_must_be_domcapabilities() {
    let m = map();
    let dir = TempDir::new("inv-domcaps-lone");
    let p = dir.0.join("p");
    std::fs::create_dir_all(&p).unwrap();
    let caps = "<capabilities>\n  <host>\n    <cpu>\n      <arch>x86_64</arch>\n      <model>Haswell</model>\n      <vendor>Intel</vendor>\n    </cpu>\n  </host>\n</capabilities>\n";
    std::fs::write(p.join("a.xml"), domcaps("  <arch>x86_64</arch>\n")).unwrap();
    std::fs::write(p.join("b.domcaps.xml"), caps).unwrap();
    match Inventory::read(&dir.0, &m, &ReadOpts::default()).unwrap_err() {
        InventoryError::File { path, problem } => {
            assert_eq!((path, *problem), (p.join("b.domcaps.xml"), Problem::NotDomcaps));
        }
        other => panic!("{other:?}"),
    }
    // Under keep-going it is skipped and counted; the other host stays.
    let inv = Inventory::read(&dir.0, &m, &ReadOpts { keep_going: true, ..ReadOpts::default() }).unwrap();
    assert_eq!(inv.n_hosts(), 1);
    assert_eq!(inv.skipped.len(), 1);
    assert_eq!(inv.skipped[0].path, p.join("b.domcaps.xml"));
}

/// A host CPU as libvirt's test driver (`test:///default`) reports it: no model.
const TEST_DRIVER_CAPS: &str = "<capabilities>\n  <host>\n    <cpu>\n      <arch>i686</arch>\n      \
    <features>\n        <pae/>\n        <nonpae/>\n      </features>\n    </cpu>\n  </host>\n</capabilities>\n";

fn test_driver_meta(hypervisor: &str) -> String {
    format!(
        "format = 1\nlibvirt = \"9.0.0\"\nhypervisor = \"{hypervisor}\"\nhypervisor_version = \"2.0.0\"\n\
         hostname = \"h\"\ncollected = \"2026-12-07T00:00:00Z\"\nuri = \"test:///default\"\ndomcaps = \"none: test\"\n"
    )
}

#[test]
fn a_host_cpu_without_a_model_is_named_for_what_it_is() {
    let Some(pack) = pack() else { return };
    let tmp = TempDir::new("inv-no-model");
    let dir = tmp.0.join("inv");
    std::fs::create_dir_all(dir.join("test/localhost")).unwrap();
    std::fs::write(dir.join("test/localhost.xml"), TEST_DRIVER_CAPS).unwrap();
    std::fs::write(dir.join("test/localhost/g.xml"), "<domain type='test'><name>g</name></domain>").unwrap();
    let opts = |keep_going| ReadOpts { keep_going, ..ReadOpts::default() };
    // Without metadata: no model, at the CPU's position, with libvirt's own words.
    let e = Inventory::read(&dir, &map(), &opts(false)).unwrap_err().to_string();
    assert!(e.ends_with("test/localhost.xml: 3:5: the host CPU names no model (libvirt's reader refuses it too: Missing CPU model name); a host file needs its CPU's model, as `virsh capabilities` of a QEMU/KVM host gives it"), "{e}");
    // Collected from the test driver (its metadata says so): said so.
    std::fs::write(dir.join("test/localhost.meta.toml"), test_driver_meta("TEST")).unwrap();
    let e = Inventory::read(&dir, &map(), &opts(false)).unwrap_err().to_string();
    assert!(
        e.contains("test/localhost.xml: 3:5: the host CPU names no model; libvirt's test driver reports none"),
        "{e}"
    );
    // A QEMU host whose capabilities name no model is not called the test driver's.
    std::fs::write(dir.join("test/localhost.meta.toml"), test_driver_meta("QEMU")).unwrap();
    let e = Inventory::read(&dir, &map(), &opts(false)).unwrap_err().to_string();
    assert!(e.contains("3:5: the host CPU names no model (libvirt's reader"), "{e}");
    std::fs::write(dir.join("test/localhost.meta.toml"), test_driver_meta("TEST")).unwrap();
    // Alone in its pool: the pool is empty, one host file skipped (its guest is no host file).
    let e = Inventory::read(&dir, &map(), &opts(true)).unwrap_err().to_string();
    assert!(e.contains("test: empty pool: all 1 host file(s) skipped (the first: "), "{e}");
    assert!(e.ends_with("localhost.xml: 3:5: the host CPU names no model; libvirt's test driver reports none (test:///default is no real host: collect the host's own hypervisor, e.g. qemu:///system or qemu+ssh://HOST/system))"), "{e}");
    // Beside a real host: skipped with --keep-going (with its guest), the rest read.
    let cpu = std::fs::read_to_string(pack.join("x86_64-cpuid-Xeon-E5-2650-host.xml")).unwrap();
    std::fs::write(dir.join("test/real.xml"), cpu).unwrap();
    let inv = Inventory::read(&dir, &map(), &opts(true)).unwrap();
    assert_eq!(inv.n_hosts(), 1);
    assert_eq!(inv.skipped.len(), 2);
    assert!(
        matches!(inv.skipped[0].problem, Problem::NoModel { pos, test_driver: true } if (pos.line, pos.col) == (3, 5)),
        "{:?}",
        inv.skipped[0]
    );
    assert_eq!(inv.skipped[1].problem, Problem::HostSkipped);
}
