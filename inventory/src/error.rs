//! What goes wrong while an inventory is read, and what it leaves out: a bad file
//! ([`Problem`], skipped under `--keep-going`), an entry passed over ([`Ignored`]), and the
//! errors that stop the read ([`InventoryError`]).

use cpufleet_engine::{CpuError, XmlError};
use cpufleet_io::ReadError;
use std::fmt;
use std::path::PathBuf;

/// A file skipped under [`crate::ReadOpts::keep_going`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    /// Name of its pool.
    pub pool: String,
    pub problem: Problem,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

/// An entry passed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    pub path: PathBuf,
    pub why: IgnoredWhy,
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ignored ({})", self.path.display(), self.why)
    }
}

/// Why an entry is not part of the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoredWhy {
    /// A file beside the pool folders.
    TopLevelFile,
    /// Not named `*.xml`.
    NotXml,
    /// A name starting with `.`.
    Hidden,
    /// A name that is not UTF-8.
    NotUtf8Name,
    /// A guest folder `POOL/NAME/` without `POOL/NAME.xml`.
    NoHostFile,
    /// A folder inside a guest folder.
    NestedDir,
    /// A `HOST.meta.toml` without `HOST.xml`.
    MetaWithoutHost,
}

impl fmt::Display for IgnoredWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IgnoredWhy::TopLevelFile => "a file at the top level; hosts go in DIR/POOL/HOST.xml",
            IgnoredWhy::NotXml => "not an .xml file",
            IgnoredWhy::Hidden => "hidden",
            IgnoredWhy::NotUtf8Name => "name is not UTF-8",
            IgnoredWhy::NoHostFile => "a guest folder without its host file HOST.xml",
            IgnoredWhy::NestedDir => "a folder inside a guest folder",
            IgnoredWhy::MetaWithoutHost => "a metadata file without its host file HOST.xml",
        })
    }
}

/// What is wrong with one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// It could not be read (missing, too large, empty …).
    Read(ReadError),
    /// The XML reader's error, with line:column.
    Xml(XmlError),
    /// A `<cpudata>` dump the engine could not decode.
    Decode(CpuError),
    /// A `virsh domcapabilities` host-model CPU the engine could not resolve.
    HostModel(CpuError),
    /// A host document without a host CPU.
    NoCpu,
    /// A host document with several CPUs.
    SeveralCpus(usize),
    /// A guest domain where a host document belongs.
    DomainAsHost,
    /// A guest whose host file was skipped.
    HostSkipped,
    /// A `virsh domcapabilities` document of TCG (`<domain>qemu</domain>`).
    NotKvm,
    /// A `HOST.domcaps.xml` that is not a `virsh domcapabilities` document.
    NotDomcaps,
    /// A `HOST.meta.toml` that cannot be read, or names a libvirt release cpufleet does not
    /// know (the reason).
    Meta(String),
    /// A host CPU without a model name (libvirt's reader refuses it: "Missing CPU model
    /// name"), at `pos` of the file; `test_driver` when the host's metadata says it was
    /// collected from libvirt's test driver (`test:///default`), whose host CPU has none.
    NoModel {
        /// Where the CPU is in the file.
        pos: cpufleet_engine::Pos,
        /// Whether the host's metadata names libvirt's test driver (`hypervisor = "TEST"`).
        test_driver: bool,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Read(e) => write!(f, "{e}"),
            Problem::Xml(e) => write!(f, "{e}"),
            Problem::Decode(e) => write!(f, "decoding the CPUID dump: {e}"),
            Problem::HostModel(e) => write!(f, "the domcapabilities host-model CPU: {e}"),
            Problem::NoCpu => f.write_str("no host CPU found (expected virsh capabilities, virsh domcapabilities with a host-model CPU, a host <cpu> or a <cpudata> CPUID dump)"),
            Problem::SeveralCpus(n) => write!(f, "{n} CPUs found; a host file describes exactly one host"),
            Problem::DomainAsHost => f.write_str("a guest domain, not a host document (guests go in POOL/HOST/*.xml)"),
            Problem::HostSkipped => f.write_str("its host file was skipped"),
            Problem::NotKvm => f.write_str("domcapabilities of virttype 'qemu' (TCG emulation); an inventory describes KVM hosts: collect `virsh domcapabilities --virttype kvm`"),
            Problem::NotDomcaps => f.write_str("not a `virsh domcapabilities` document with a host-model CPU (HOST.domcaps.xml is the host's domcapabilities)"),
            Problem::Meta(reason) => write!(f, "{reason}"),
            Problem::NoModel { pos, test_driver: true } => write!(
                f,
                "{pos}: the host CPU names no model; libvirt's test driver reports none (test:///default is no \
                 real host: collect the host's own hypervisor, e.g. qemu:///system or qemu+ssh://HOST/system)"
            ),
            Problem::NoModel { pos, test_driver: false } => write!(
                f,
                "{pos}: the host CPU names no model (libvirt's reader refuses it too: Missing CPU model name); \
                 a host file needs its CPU's model, as `virsh capabilities` of a QEMU/KVM host gives it"
            ),
        }
    }
}

/// Why an inventory could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InventoryError {
    /// A folder that cannot be listed (or the inventory path is not a folder).
    Dir { path: PathBuf, reason: String },
    /// No pool folder in the inventory.
    NoPools { path: PathBuf },
    /// A pool folder without host files (or whose every host file was skipped: how many, and
    /// the first of them with its problem).
    EmptyPool { path: PathBuf, skipped: usize, first: Option<String> },
    /// A bad file (without `keep_going`; boxed: the error stays small on the `Ok` path).
    File { path: PathBuf, problem: Box<Problem> },
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InventoryError::Dir { path, reason } => write!(f, "{}: {reason}", path.display()),
            InventoryError::NoPools { path } => {
                write!(f, "{}: empty inventory: no pool folder (expected DIR/POOL/HOST.xml)", path.display())
            }
            InventoryError::EmptyPool { path, skipped: 0, .. } => {
                write!(f, "{}: empty pool: no host file (expected POOL/HOST.xml)", path.display())
            }
            InventoryError::EmptyPool { path, skipped, first } => {
                write!(f, "{}: empty pool: all {skipped} host file(s) skipped", path.display())?;
                first.as_ref().map_or(Ok(()), |s| write!(f, " (the first: {s})"))
            }
            InventoryError::File { path, problem } => write!(f, "{}: {problem}", path.display()),
        }
    }
}

impl std::error::Error for InventoryError {}
