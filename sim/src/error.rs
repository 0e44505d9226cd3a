//! The simulator's typed errors. The command line turns them into its `CliError` (one line on
//! stderr, exit code 2) through `From` (in `cli/src/error.rs`); the messages are written here,
//! once.

use cpufleet_engine::hypervisor::LibvirtError;
use cpufleet_engine::{CpuError, Pos};
use cpufleet_io::IoError;
use std::fmt;
use std::ops::Range;

/// Why a simulation (or a fleet generation) could not run.
#[derive(Debug)]
pub enum SimError {
    /// A problem in a spec or profile file: the file, the position when known, the problem.
    Spec { file: String, pos: Option<Pos>, message: String },
    /// A file could not be read (missing, a directory, too large ...).
    Read(IoError),
    /// An embedded CPU map does not load.
    EmbeddedMap(String),
    /// More profiles than a host key can name.
    TooManyProfiles,
    /// An inventory the simulator cannot use (the message names the file).
    Inventory(String),
    /// A host CPU of a generation profile does not decode under the run's map.
    Undecodable { profile: String, error: CpuError },
    /// A pool's generation weights cannot be drawn from.
    BadWeights { pool: String },
    /// `--hosts N` below the number of pools.
    TooFewHosts { hosts: u64, pools: u64 },
    /// `--hosts N` above `max` (`crate::spec::MAX_HOSTS`).
    TooManyHosts { hosts: u64, max: u64 },
    /// `--guests N` above `max` (`crate::spec::MAX_GUESTS`).
    TooManyGuests { guests: u64, max: u64 },
    /// `--migrations N` above `max` (`crate::spec::MAX_MIGRATIONS`).
    TooManyMigrations { migrations: u64, max: u64 },
}

pub type SimResult<T> = Result<T, SimError>;

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Spec { file, pos: Some(pos), message } => write!(f, "{file}: {pos}: {message}"),
            SimError::Spec { file, pos: None, message } => write!(f, "{file}: {message}"),
            SimError::Read(e) => write!(f, "{e}"),
            SimError::EmbeddedMap(e) => write!(f, "embedded CPU map: {e}"),
            SimError::TooManyProfiles => f.write_str("too many profiles"),
            SimError::Inventory(m) => f.write_str(m),
            SimError::Undecodable { profile, error } => write!(
                f,
                "generation '{profile}': a host CPU of this profile cannot be decoded ({error}); check its model and features"
            ),
            SimError::BadWeights { pool } => write!(f, "pool '{pool}': bad weights"),
            SimError::TooFewHosts { hosts, pools } => {
                write!(f, "--hosts {hosts}: the fleet has {pools} pools, so it needs at least {pools} hosts")
            }
            SimError::TooManyHosts { hosts, max } => write!(f, "--hosts {hosts}: at most {max} hosts"),
            SimError::TooManyGuests { guests, max } => write!(f, "--guests {guests}: at most {max}"),
            SimError::TooManyMigrations { migrations, max } => {
                write!(f, "--migrations {migrations}: at most {max}")
            }
        }
    }
}

impl std::error::Error for SimError {}

impl From<IoError> for SimError {
    fn from(e: IoError) -> SimError {
        SimError::Read(e)
    }
}

/// A TOML document being read: its name in messages and its text, which locates spans.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub label: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error about this file at byte span `span` (located by [`Pos::locate`], the one
    /// line:column locator), or about the whole file when `span` is None.
    pub fn error(&self, span: Option<Range<usize>>, message: impl fmt::Display) -> SimError {
        SimError::Spec {
            file: self.label.to_string(),
            pos: span.map(|s| Pos::locate(self.text.as_bytes(), s.start)),
            message: message.to_string(),
        }
    }

    /// An error at a spanned value of this file.
    pub fn at<T>(&self, value: &toml::Spanned<T>, message: impl fmt::Display) -> SimError {
        self.error(Some(value.span()), message)
    }

    /// A TOML syntax or shape error.
    pub fn toml_error(&self, e: &toml::de::Error) -> SimError {
        self.error(e.span(), e.message().trim().replace('\n', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_located_at_the_start_of_their_span_in_characters() {
        let src = Source { label: "f.toml", text: "a = 1\nbé = \"x\"\n" };
        let e = src.error(Some(11..14), "bad");
        assert_eq!(e.to_string(), "f.toml: 2:5: bad");
        assert_eq!(src.error(None, "bad").to_string(), "f.toml: bad");
    }

    /// The texts the report and the checkers print (the goldens hold some of them).
    #[test]
    fn guest_errors_read_as_they_always_have() {
        let texts = [
            (GuestError::NoPoolContext, "no pool context"),
            (GuestError::NoPoolBaseline(BaselineError::NoHosts), "the pool has no baseline: no hosts"),
            (GuestError::NoModel, "custom CPU without a model"),
            (GuestError::UnknownVendor("Foo".into()), "unknown vendor Foo"),
            (GuestError::VendorMismatch("AMD".into()), "the guest CPU's vendor AMD is not the host's"),
        ];
        for (e, text) in texts {
            assert_eq!(e.to_string(), text);
        }
        let cpu = CpuError::NoCpus;
        assert_eq!(GuestError::from(cpu.clone()).to_string(), cpu.to_string());
    }
}

/// Why a pool, domain or fleet has no baseline CPU: carried as a value up to the report, which
/// writes it as text once ([`fmt::Display`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaselineError {
    /// There was no host to take a baseline of.
    NoHosts,
    /// libvirt's baseline refused (the engine's error).
    Cpu(CpuError),
    /// The QEMU driver's hypervisor baseline refused (as virsh reports it).
    Libvirt(LibvirtError),
}

impl From<LibvirtError> for BaselineError {
    fn from(e: LibvirtError) -> BaselineError {
        BaselineError::Libvirt(e)
    }
}

impl From<CpuError> for BaselineError {
    fn from(e: CpuError) -> BaselineError {
        BaselineError::Cpu(e)
    }
}

impl fmt::Display for BaselineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaselineError::NoHosts => f.write_str("no hosts"),
            BaselineError::Cpu(e) => e.fmt(f),
            BaselineError::Libvirt(e) => e.fmt(f),
        }
    }
}

/// Why a guest CPU could not be built from its configuration, read into bitsets, or taken by a
/// host (a start's live update, a migration destination): carried as a value to where the
/// report or a checker writes it as text ([`fmt::Display`]), the texts written here once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestError {
    /// A configuration that depends on its pool, built without a pool context.
    NoPoolContext,
    /// The pool has no baseline to configure the guest CPU with.
    NoPoolBaseline(BaselineError),
    /// A custom CPU configuration without a model.
    NoModel,
    /// The engine refused the CPU (the map cannot read it, an update failed).
    Cpu(CpuError),
    /// The CPU names a vendor the map does not know.
    UnknownVendor(String),
    /// The CPU names a vendor that is not the host's (the simulator's vendor rule).
    VendorMismatch(String),
    /// The host's QEMU driver refused the CPU (as libvirt reports it).
    Libvirt(LibvirtError),
}

impl From<CpuError> for GuestError {
    fn from(e: CpuError) -> GuestError {
        GuestError::Cpu(e)
    }
}

impl From<LibvirtError> for GuestError {
    fn from(e: LibvirtError) -> GuestError {
        GuestError::Libvirt(e)
    }
}

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestError::NoPoolContext => f.write_str("no pool context"),
            GuestError::NoPoolBaseline(e) => write!(f, "the pool has no baseline: {e}"),
            GuestError::NoModel => f.write_str("custom CPU without a model"),
            GuestError::Cpu(e) => e.fmt(f),
            GuestError::UnknownVendor(v) => write!(f, "unknown vendor {v}"),
            GuestError::VendorMismatch(v) => write!(f, "the guest CPU's vendor {v} is not the host's"),
            GuestError::Libvirt(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GuestError {}
