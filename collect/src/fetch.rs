//! One host's documents, read over a read-only libvirt connection (nothing is written here).

use virt::connect::Connect;
use virt::error::{Error, ErrorNumber};

/// What one host gave, in memory until the coordinator writes it.
#[derive(Clone, Debug)]
pub struct HostData {
    /// `virConnectGetLibVersion`, as `9.0.0`.
    pub libvirt: String,
    /// `virConnectGetType` (`QEMU`, `Test`).
    pub hypervisor: String,
    /// `virConnectGetVersion`, as `7.2.0`.
    pub hypervisor_version: String,
    /// `virConnectGetHostname`.
    pub hostname: String,
    /// `virConnectGetCapabilities`.
    pub capabilities: String,
    /// `virConnectGetDomainCapabilities` of KVM, or why there is none (the file is then not
    /// written: the inventory reader takes KVM hosts only, and derives their KVM view from the
    /// capabilities).
    pub domcaps: Result<String, String>,
    /// Each guest's name and `virDomainGetXMLDesc(0)`, by name.
    pub guests: Vec<(String, String)>,
}

/// `major.minor.release` of libvirt's version number.
fn version(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, v / 1000 % 1000, v % 1000)
}

/// libvirt's message of `e`, after what was being done.
fn err(what: &str, e: &Error) -> String {
    format!("{what}: {}", e.message())
}

/// Connects read-only to `uri` and reads the host's documents (domcapabilities, which libvirt
/// does not give a read-only connection, over a read-write one).
pub fn fetch(uri: &str, running_only: bool) -> Result<HostData, String> {
    let conn = Connect::open_read_only(Some(uri)).map_err(|e| err("cannot connect", &e))?;
    let libvirt = version(conn.lib_version().map_err(|e| err("virConnectGetLibVersion", &e))?);
    let hypervisor = conn.driver_type().map_err(|e| err("virConnectGetType", &e))?;
    let hypervisor_version = version(conn.hyp_version().map_err(|e| err("virConnectGetVersion", &e))?);
    let hostname = conn.hostname().map_err(|e| err("virConnectGetHostname", &e))?;
    let capabilities = conn.capabilities().map_err(|e| err("virConnectGetCapabilities", &e))?;
    let domcaps = match domcaps(&conn)? {
        // libvirt refuses domcapabilities on a read-only connection: ask it alone over a
        // read-write one (which can fail where read-write access is not granted: a reason then).
        Err(why) if why.contains("read only access") => match Connect::open(Some(uri)) {
            Ok(rw) => domcaps(&rw)?,
            Err(e) => Err(format!("{why}, and a read-write connection failed: {}", e.message())),
        },
        d => d,
    };
    let flags = if running_only { virt::sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE } else { 0 };
    let mut guests = Vec::new();
    for d in conn.list_all_domains(flags).map_err(|e| err("virConnectListAllDomains", &e))? {
        let name = d.name().map_err(|e| err("virDomainGetName", &e))?;
        match d.xml_desc(0) {
            Ok(xml) => guests.push((name, xml)),
            // Undefined between the listing and its XML: no longer a guest of the host.
            Err(e) if e.code() == virt::enumutil::Enum::Known(ErrorNumber::NoDomain) => {}
            Err(e) => return Err(err(&format!("virDomainGetXMLDesc of guest '{name}'"), &e)),
        }
    }
    guests.sort();
    Ok(HostData { libvirt, hypervisor, hypervisor_version, hostname, capabilities, domcaps, guests })
}

/// The KVM domcapabilities; failing that, what the host offers by default, when that is KVM.
/// A connection that broke is an error of the host; a driver without KVM is a reason.
fn domcaps(conn: &Connect) -> Result<Result<String, String>, String> {
    let kvm_err = match conn.domain_capabilities(None, None, None, Some("kvm"), 0) {
        Ok(x) => return Ok(Ok(x)),
        Err(e) => e,
    };
    if conn.is_alive().ok() == Some(false) {
        return Err(err("virConnectGetDomainCapabilities", &kvm_err));
    }
    match conn.domain_capabilities(None, None, None, None, 0) {
        Ok(x) if x.contains("<domain>kvm</domain>") => Ok(Ok(x)),
        Ok(x) => {
            let offered = x.split("<domain>").nth(1).and_then(|r| r.split('<').next()).unwrap_or("?").to_string();
            Ok(Err(format!(
                "none: KVM: {}; the host offers {offered} only, which the inventory reader does not take",
                kvm_err.message()
            )))
        }
        Err(_) => Ok(Err(format!("none: {}", kvm_err.message()))),
    }
}
