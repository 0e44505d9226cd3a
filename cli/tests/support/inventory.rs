//! Builds a real-looking fleet inventory for tests (and later the simulator's): 3 pools of
//! named hosts from the libvirt 11.3.0 pack's real host CPUs (`cputestdata/x86_64-cpuid-*-host.xml`),
//! some wrapped in a `virsh capabilities` document, some bare, one `<cpudata>` CPUID dump per
//! pool, two hosts per pool with the same bytes, and guests as `virsh dumpxml`-like domains.
//! The directory is under `std::env::temp_dir()` with a unique name and removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The cputestdata folder of the libvirt 11.3.0 pack, if present (beside the repository).
pub fn pack() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/libvirt-11.3.0/cputestdata");
    if d.is_dir() {
        return Some(d);
    }
    assert_ne!(std::env::var("CPUFLEET_REQUIRE_CONFORMANCE").as_deref(), Ok("1"), "conformance pack missing");
    println!("SKIPPED: ../shared/conformance/libvirt-11.3.0 absent");
    None
}

/// A fresh, empty temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("cpufleet-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A built inventory and what was put in it.
pub struct SampleInventory {
    pub dir: TempDir,
    /// (pool, its host names in the order written).
    pub pools: Vec<(String, Vec<String>)>,
    /// (pool, host, guest name).
    pub guests: Vec<(String, String, String)>,
    /// (pool, host, host): two hosts whose files have the same bytes.
    pub twins: Vec<(String, String, String)>,
    /// Hosts written as `<cpudata>` dumps: (pool, host, the pack's decoded `-host.xml` of it).
    pub dumps: Vec<(String, String, PathBuf)>,
}

impl SampleInventory {
    pub fn path(&self) -> &Path {
        &self.dir.0
    }

    /// Writes `POOL/NAME.xml` with `content` (a broken file, a duplicate, …) and returns its path.
    pub fn write_host(&self, pool: &str, name: &str, content: &str) -> PathBuf {
        let p = self.path().join(pool).join(format!("{name}.xml"));
        std::fs::write(&p, content).unwrap();
        p
    }
}

fn vendor_of(xml: &str) -> &str {
    let Some(i) = xml.find("<vendor>") else { return "" };
    let rest = &xml[i + 8..];
    &rest[..rest.find('<').unwrap_or(0)]
}

/// Wraps a host `<cpu>` in a `virsh capabilities` document.
pub fn capabilities(cpu: &str, uuid: usize) -> String {
    let cpu: String = cpu.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "<capabilities>\n\n  <host>\n    <uuid>00000000-0000-0000-0000-{uuid:012}</uuid>\n{cpu}    <power_management/>\n  </host>\n\n</capabilities>\n"
    )
}

/// A guest domain with `cpu` (an element, or nothing).
pub fn domain(name: &str, cpu: &str) -> String {
    format!("<domain type='kvm'>\n  <name>{name}</name>\n  <memory unit='KiB'>1048576</memory>\n  <vcpu>2</vcpu>\n{cpu}</domain>\n")
}

/// Builds the sample inventory from `pack`: pools `amd`, `intel-a`, `intel-b`, 12 hosts each.
pub fn build(pack: &Path, name: &str) -> SampleInventory {
    let dir = TempDir::new(name);
    let mut sources: Vec<(PathBuf, String)> = std::fs::read_dir(pack)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.starts_with("x86_64-cpuid-") && n.ends_with("-host.xml")
        })
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    sources.sort();
    let amd: Vec<_> = sources.iter().filter(|s| vendor_of(&s.1) == "AMD").collect();
    let intel: Vec<_> = sources.iter().filter(|s| vendor_of(&s.1) == "Intel").collect();
    let (intel_a, intel_b) = intel.split_at(intel.len() / 2);
    let mut inv = SampleInventory { dir, pools: Vec::new(), guests: Vec::new(), twins: Vec::new(), dumps: Vec::new() };
    let mut uuid = 0;
    for (pool, srcs, guest_model) in
        [("amd", &amd[..], "Opteron_G3"), ("intel-a", intel_a, "Nehalem"), ("intel-b", intel_b, "Nehalem")]
    {
        let pdir = inv.path().join(pool);
        std::fs::create_dir_all(&pdir).unwrap();
        let mut hosts = Vec::new();
        for i in 0..12 {
            let (src, text) = srcs[i % srcs.len()];
            let host = format!("{pool}-{i:02}");
            let content = match i {
                // One CPUID dump per pool: the `<cpudata>` the -host.xml was decoded from.
                0 => {
                    inv.dumps.push((pool.to_string(), host.clone(), src.clone()));
                    let dump = src.to_str().unwrap().replace("-host.xml", ".xml");
                    std::fs::read_to_string(dump).unwrap()
                }
                i if i % 2 == 1 => {
                    uuid += 1;
                    capabilities(text, uuid)
                }
                _ => text.clone(),
            };
            std::fs::write(pdir.join(format!("{host}.xml")), &content).unwrap();
            hosts.push(host);
        }
        // A twin: same bytes as host 2 (a bare <cpu>).
        let twin = format!("{pool}-twin");
        std::fs::copy(pdir.join(format!("{}.xml", hosts[2])), pdir.join(format!("{twin}.xml"))).unwrap();
        inv.twins.push((pool.to_string(), hosts[2].clone(), twin.clone()));
        hosts.push(twin);
        let guest_cpus = [
            format!("  <cpu mode='custom' match='exact'>\n    <model fallback='allow'>{guest_model}</model>\n    <feature policy='optional' name='aes'/>\n  </cpu>\n"),
            "  <cpu mode='host-model'/>\n".to_string(),
            String::new(),
        ];
        for (h, host) in hosts.iter().take(3).enumerate() {
            let gdir = pdir.join(host);
            std::fs::create_dir_all(&gdir).unwrap();
            for (g, cpu) in guest_cpus.iter().enumerate().take(h + 1) {
                let guest = format!("{host}-vm{g}");
                std::fs::write(gdir.join(format!("{guest}.xml")), domain(&guest, cpu)).unwrap();
                inv.guests.push((pool.to_string(), host.clone(), guest));
            }
        }
        inv.pools.push((pool.to_string(), hosts));
    }
    inv
}
