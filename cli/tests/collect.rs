//! `cpufleet collect` against real libvirt (the test driver in process, libvirt 9.0.0's QEMU
//! driver daemon at qemu:///system from `../shared/oracles/libvirt-qemu-driver.sh`), with the
//! fault cases (a refused port, a listener that never answers, a host that vanishes mid-run, a
//! full disk, a read-only DIR, a URI with a password), and `cpufleet inventory diff`. Every
//! listener and loop here is bounded in count and time and reaches only 127.0.0.1. A missing
//! oracle prints `SKIPPED …` (a failure under `CPUFLEET_REQUIRE_VIRSH=1`).

#[path = "support/bin.rs"]
mod bin;
#[path = "support/inventory.rs"]
mod support;

use bin::{cpufleet, stderr, stdout};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::TempDir;

fn skip(what: &str, why: &str) {
    println!("SKIPPED {what}: {why}");
    assert_ne!(std::env::var("CPUFLEET_REQUIRE_VIRSH").as_deref(), Ok("1"), "CPUFLEET_REQUIRE_VIRSH=1: {what}: {why}");
}

fn virsh(args: &[&str]) -> Option<String> {
    let o = Command::new("virsh").args(args).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// libvirt 9.0.0's QEMU driver daemon, started by the shared oracle script (idempotent, root).
fn qemu_daemon() -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/oracles/libvirt-qemu-driver.sh");
    let o = Command::new("sh").arg(&script).output().map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("{}: {}", script.display(), String::from_utf8_lossy(&o.stderr).trim()))
    }
}

/// Every file under `dir` with its bytes, sorted by path.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn test_driver_collect_is_what_virsh_gives_and_update_replaces_only_on_success() {
    if virsh(&["-c", "test:///default", "version"]).is_none() {
        return skip("collect from test:///default", "no virsh (libvirt-clients)");
    }
    let tmp = TempDir::new("collect-test");
    let out = tmp.0.join("inv");
    let o = cpufleet(&["collect", "-q", "-o", s(&out), "test:///default"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("collected 1 of 1 hosts"), "{}", stdout(&o));
    let host = out.join("default/localhost.xml");
    let caps = virsh(&["-c", "test:///default", "capabilities"]).unwrap();
    assert_eq!(std::fs::read_to_string(&host).unwrap().trim_end(), caps.trim_end());
    let dom = virsh(&["-c", "test:///default", "dumpxml", "test"]).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("default/localhost/test.xml")).unwrap().trim_end(), dom.trim_end());
    let meta = std::fs::read_to_string(out.join("default/localhost.meta.toml")).unwrap();
    for want in ["libvirt = \"9.0.0\"", "hypervisor = \"TEST\"", "uri = \"test:///default\"", "domcaps = \"none: "] {
        assert!(meta.contains(want), "{want} not in {meta}");
    }
    // The test driver's host CPU has no model: the reader says so, naming the file (libvirt's
    // own reader refuses it the same way).
    let o = cpufleet(&["fleet", "show", "--inventory", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("localhost.xml") && stderr(&o).contains("Missing CPU model name"), "{}", stderr(&o));

    // Not into a directory that holds something, unless --update.
    let before = files(&out);
    let o = cpufleet(&["collect", "-q", "-o", s(&out), "test:///default"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("exists and is not empty"), "{}", stderr(&o));
    assert_eq!(files(&out), before);

    // --update with a host that fails: its files stay exactly as they were.
    let hosts = tmp.0.join("hosts.txt");
    std::fs::write(&hosts, format!("default localhost qemu+tcp://127.0.0.1:{}/system\n", closed_port())).unwrap();
    let o = cpufleet(&["collect", "-q", "--update", "-o", s(&out), "--hosts", s(&hosts)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("Connection refused"), "{}", stdout(&o));
    assert_eq!(files(&out), before);

    // --update that succeeds: a guest that no longer exists goes.
    std::fs::write(out.join("default/localhost/gone.xml"), "<domain/>").unwrap();
    let o = cpufleet(&["collect", "-q", "--update", "-o", s(&out), "test:///default"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 guests written, 1 removed"), "{}", stdout(&o));
    let names: Vec<PathBuf> = files(&out).into_iter().map(|f| f.0).collect();
    assert_eq!(
        names,
        ["default/localhost/test.xml", "default/localhost.meta.toml", "default/localhost.xml"].map(PathBuf::from)
    );
}

#[test]
fn password_in_a_uri_is_refused_and_nothing_is_written() {
    let tmp = TempDir::new("collect-pw");
    let out = tmp.0.join("inv");
    let o = cpufleet(&["collect", "-o", s(&out), "qemu+ssh://root:hunter2@127.0.0.1/system"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("password is refused") && !stderr(&o).contains("hunter2"), "{}", stderr(&o));
    let hosts = tmp.0.join("hosts.txt");
    std::fs::write(&hosts, "# fleet\nweb h1 qemu+tls://admin:pw@h1/system\n").unwrap();
    let o = cpufleet(&["collect", "-o", s(&out), "--hosts", s(&hosts)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("hosts.txt: 2:1: ") && !stderr(&o).contains(":pw@"), "{}", stderr(&o));
    assert!(!out.exists());
}

/// Accepts up to 8 connections on 127.0.0.1 and never answers; gives up after `life`.
fn silent_listener(life: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let (start, mut held) = (Instant::now(), Vec::new());
        while start.elapsed() < life && held.len() < 8 {
            if let Ok((c, _)) = l.accept() {
                held.push(c);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    port
}

/// A libvirt daemon on 127.0.0.1 (a proxy to its UNIX socket) that vanishes after sending
/// `limit` bytes on a connection: the host disappears in the middle of its collection.
fn vanishing_host(socket: &'static str, limit: usize, life: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let (start, mut n) = (Instant::now(), 0);
        while start.elapsed() < life && n < 4 {
            let Ok((c, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            n += 1;
            c.set_nonblocking(false).unwrap();
            let Ok(mut u) = std::os::unix::net::UnixStream::connect(socket) else { return };
            let (mut c_in, mut u_out) = (c.try_clone().unwrap(), u.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_in, &mut u_out);
            });
            let mut c = c;
            std::thread::spawn(move || {
                let (mut sent, mut buf) = (0, vec![0u8; 65536]);
                u.set_read_timeout(Some(life)).unwrap();
                while let Ok(k) = u.read(&mut buf) {
                    if k == 0 || sent + k > limit {
                        let _ = c.write_all(&buf[..limit.saturating_sub(sent).min(k)]);
                        break;
                    }
                    if c.write_all(&buf[..k]).is_err() {
                        break;
                    }
                    sent += k;
                }
                let _ = c.shutdown(std::net::Shutdown::Both);
                let _ = u.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn refused_hanging_and_vanishing_hosts_fail_alone() {
    if virsh(&["-c", "test:///default", "version"]).is_none() {
        return skip("collect fault cases", "no virsh (libvirt-clients)");
    }
    let daemon = qemu_daemon();
    let tmp = TempDir::new("collect-faults");
    let out = tmp.0.join("inv");
    let hang = silent_listener(Duration::from_secs(60));
    let mut list = format!(
        "ok t1 test:///default\nbad refused qemu+tcp://127.0.0.1:{}/system\nbad hang qemu+tcp://127.0.0.1:{hang}/system\n",
        closed_port()
    );
    match &daemon {
        Ok(()) => {
            let gone = vanishing_host("/var/run/libvirt/libvirt-sock", 100, Duration::from_secs(60));
            list.push_str(&format!("bad gone qemu+tcp://127.0.0.1:{gone}/system\n"));
        }
        Err(why) => skip("collect: a host that vanishes mid-run", why),
    }
    let hosts = tmp.0.join("hosts.txt");
    std::fs::write(&hosts, &list).unwrap();
    let start = Instant::now();
    let o = cpufleet(&["collect", "-q", "--timeout", "3", "--jobs", "4", "-o", s(&out), "--hosts", s(&hosts)]);
    let took = start.elapsed();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    assert!(text.contains("collected 1 of"), "{text}");
    assert!(text.contains("bad/refused (qemu+tcp://127.0.0.1:") && text.contains("Connection refused"), "{text}");
    assert!(text.contains("bad/hang") && text.contains("no answer within 3 s (--timeout)"), "{text}");
    if daemon.is_ok() {
        let line = text.lines().find(|l| l.contains("bad/gone")).expect("the vanished host is listed");
        assert!(
            !line.contains("no answer") && (line.contains("End of file") || line.contains("socket is closed")),
            "{line}"
        );
    }
    assert!(took < Duration::from_secs(40), "took {took:?}");
    // Only the host that answered has files, and no temporary file is left anywhere.
    let names: Vec<PathBuf> = files(&out).into_iter().map(|f| f.0).collect();
    assert_eq!(names, ["ok/t1/test.xml", "ok/t1.meta.toml", "ok/t1.xml"].map(PathBuf::from));
}

/// A tmpfs mounted at `dir` with `opts` (root only), unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn new(dir: &Path, opts: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs", s(dir)])
            .output()
            .map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(Mount(dir.to_path_buf()))
        } else {
            Err(format!("mount tmpfs: {}", String::from_utf8_lossy(&o.stderr).trim()))
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_and_read_only_dir_leave_nothing_half_written() {
    if virsh(&["-c", "test:///default", "version"]).is_none() {
        return skip("collect on a full disk", "no virsh (libvirt-clients)");
    }
    let tmp = TempDir::new("collect-disk");
    // A read-only DIR: refused before any host is contacted.
    let ro = tmp.0.join("ro");
    match Mount::new(&ro, "ro,size=64k") {
        Ok(_m) => {
            let o = cpufleet(&["collect", "-q", "-o", s(&ro), "test:///default"]);
            assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
            assert!(stderr(&o).contains("cannot write in"), "{}", stderr(&o));
            assert!(files(&ro).is_empty());
        }
        Err(why) => skip("collect into a read-only DIR", &why),
    }
    // A full disk (a 4 KiB tmpfs; the capabilities are larger): the host fails with the
    // system's error and nothing of it stays, not even its pool folder.
    let full = tmp.0.join("full");
    match Mount::new(&full, "size=4k") {
        Ok(_m) => {
            let o = cpufleet(&["collect", "-q", "-o", s(&full), "test:///default"]);
            assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
            assert!(stdout(&o).contains("No space left on device"), "{}", stdout(&o));
            assert_eq!(std::fs::read_dir(&full).unwrap().count(), 0);
        }
        Err(why) => skip("collect onto a full disk", &why),
    }
}

/// A libvirt domain defined on qemu:///system for the test, undefined on drop.
struct Defined(String);

impl Drop for Defined {
    fn drop(&mut self) {
        let _ = Command::new("virsh").args(["-c", "qemu:///system", "undefine", &self.0]).output();
    }
}

#[test]
fn qemu_system_collect_reads_back_like_files_collected_with_virsh() {
    if let Err(why) = qemu_daemon() {
        return skip("collect from qemu:///system", &why);
    }
    let tmp = TempDir::new("collect-qemu");
    let cpus = [
        "<cpu mode='host-model'/>",
        "<cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model><feature policy='require' name='sse4.2'/></cpu>",
        "<cpu mode='host-passthrough'/>",
        "",
    ];
    let mut defined = Vec::new();
    for (i, cpu) in cpus.iter().enumerate() {
        let name = format!("cpufleet-collect-{}-{i}", std::process::id());
        let xml = format!(
            "<domain type='kvm'><name>{name}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os>{cpu}</domain>"
        );
        let f = tmp.0.join(format!("{name}.xml"));
        std::fs::write(&f, xml).unwrap();
        assert!(virsh(&["-c", "qemu:///system", "define", s(&f)]).is_some(), "virsh define {name}");
        defined.push(Defined(name));
    }
    let inv = tmp.0.join("inv");
    let hosts = tmp.0.join("hosts.txt");
    std::fs::write(&hosts, "[[host]]\npool = \"kvm\"\nname = \"q1\"\nuri = \"qemu:///system\"\n").unwrap();
    let o = cpufleet(&["collect", "-q", "-o", s(&inv), "--hosts", s(&hosts)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let meta = std::fs::read_to_string(inv.join("kvm/q1.meta.toml")).unwrap();
    assert!(meta.contains("libvirt = \"9.0.0\"") && meta.contains("hypervisor = \"QEMU\""), "{meta}");
    for d in &defined {
        assert!(inv.join(format!("kvm/q1/{}.xml", d.0)).is_file(), "{} collected", d.0);
    }
    let kvm = meta.contains("domcaps = \"kvm\"");
    let mut names: Vec<String> = virsh(&["-c", "qemu:///system", "list", "--all", "--name"])
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect();
    names.sort();

    // The same files collected by hand with virsh, at the same path (the JSON names it).
    let collected = tmp.0.join("collected");
    std::fs::rename(&inv, &collected).unwrap();
    std::fs::create_dir_all(inv.join("kvm/q1")).unwrap();
    std::fs::write(inv.join("kvm/q1.xml"), virsh(&["-c", "qemu:///system", "capabilities"]).unwrap()).unwrap();
    if kvm {
        let dc = virsh(&["-c", "qemu:///system", "domcapabilities", "--virttype", "kvm"]).unwrap();
        std::fs::write(inv.join("kvm/q1.domcaps.xml"), dc).unwrap();
    }
    for n in &names {
        std::fs::write(inv.join(format!("kvm/q1/{n}.xml")), virsh(&["-c", "qemu:///system", "dumpxml", n]).unwrap())
            .unwrap();
    }
    std::fs::write(inv.join("kvm/q1.meta.toml"), &meta).unwrap();
    let guest = inv.join(format!("kvm/q1/{}.xml", defined[1].0));
    let run_all = || {
        let sim = cpufleet(&["simulate", "-q", "--inventory", s(&inv), "--format", "json"]);
        let cmp = cpufleet(&["compare", "--inventory", s(&inv), s(&guest), "--on", "kvm/q1", "--format", "json"]);
        let exp = cpufleet(&["export", "kubevirt-labels", "--inventory", s(&inv)]);
        [sim, cmp, exp].map(|o| (o.status.code(), stdout(&o), stderr(&o)))
    };
    let by_hand = run_all();
    std::fs::remove_dir_all(&inv).unwrap();
    std::fs::rename(&collected, &inv).unwrap();
    let by_collect = run_all();
    assert_eq!(by_collect[0].0, Some(0), "{}", by_collect[0].2);
    let report: serde_json::Value = serde_json::from_str(&by_collect[0].1).unwrap();
    assert_eq!(report["libvirt"], "9.0.0", "the host's release from its metadata");
    for (a, b) in by_hand.iter().zip(&by_collect) {
        assert_eq!(a.0, b.0, "{} / {}", a.2, b.2);
        assert_eq!(a.1, b.1, "byte for byte");
    }
}

const SKX: &str = "<cpu><arch>x86_64</arch><model>Skylake-Client-IBRS</model><vendor>Intel</vendor></cpu>\n";
const SKX_NO_TSX: &str =
    "<cpu><arch>x86_64</arch><model>Skylake-Client-noTSX-IBRS</model><vendor>Intel</vendor></cpu>\n";
const GUEST: &str = "<domain type='kvm'><name>NAME</name><cpu mode='custom' match='exact'><model>Skylake-Client-IBRS</model></cpu></domain>\n";

fn meta(libvirt: &str, qemu: &str) -> String {
    format!(
        "format = 1\nlibvirt = \"{libvirt}\"\nhypervisor = \"QEMU\"\nhypervisor_version = \"{qemu}\"\nhostname = \"h\"\n\
         collected = \"2026-12-06T00:00:00Z\"\nuri = \"qemu+ssh://h/system\"\ndomcaps = \"none: test\"\n"
    )
}

fn write_inv(dir: &Path, h2: &str, h2_meta: &str, guests: &[&str]) {
    std::fs::create_dir_all(dir.join("p/h1")).unwrap();
    std::fs::write(dir.join("p/h1.xml"), SKX).unwrap();
    std::fs::write(dir.join("p/h1.meta.toml"), meta("9.0.0", "7.2.0")).unwrap();
    std::fs::write(dir.join("p/h2.xml"), h2).unwrap();
    std::fs::write(dir.join("p/h2.meta.toml"), h2_meta).unwrap();
    for g in guests {
        std::fs::write(dir.join(format!("p/h1/{g}.xml")), GUEST.replace("NAME", g)).unwrap();
    }
}

#[test]
fn inventory_diff_shows_lost_features_versions_guests_and_lost_destinations() {
    let tmp = TempDir::new("inventory-diff");
    let (old, new) = (tmp.0.join("old"), tmp.0.join("new"));
    write_inv(&old, SKX, &meta("9.0.0", "7.2.0"), &["g1", "g2"]);
    // A microcode update drops TSX on h2 and it moves to libvirt 11.3.0; g2 goes, g3 comes.
    write_inv(&new, SKX_NO_TSX, &meta("11.3.0", "10.0.0"), &["g1", "g3"]);
    let o = cpufleet(&["inventory", "diff", s(&old), s(&old)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 hosts in both, 0 added, 0 removed, 0 changed"), "{}", stdout(&o));
    let o = cpufleet(&["inventory", "diff", s(&old), s(&new)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "host p/h1:\n",
        "  guests added: g3\n  guests removed: g2\n",
        "  guest g1 can no longer migrate to: p/h2\n",
        "host p/h2:\n  CPU model: Skylake-Client-IBRS -> Skylake-Client-noTSX-IBRS\n  features lost: hle, rtm\n",
        "  libvirt: 9.0.0 -> 11.3.0\n  hypervisor: QEMU 7.2.0 -> QEMU 10.0.0\n",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let o = cpufleet(&["inventory", "diff", s(&old), s(&new), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["libvirt"], "11.3.0");
    assert_eq!(v["hosts_changed"][1]["features_lost"], serde_json::json!(["hle", "rtm"]));
    assert_eq!(v["hosts_changed"][0]["no_longer_migrate"][0]["hosts"], serde_json::json!(["p/h2"]));
    // An unknown release in a metadata file is named, not mapped.
    std::fs::write(new.join("p/h2.meta.toml"), meta("10.0.0", "8.2.0")).unwrap();
    let o = cpufleet(&["inventory", "diff", s(&old), s(&new)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("h2.meta.toml: libvirt = \"10.0.0\": a release cpufleet does not know"),
        "{}",
        stderr(&o)
    );
}
