//! The libvirt release whose rules an operation follows.
//!
//! A version is a value that travels with the CPU map ([`crate::CpuMap::version`]): the map was
//! loaded under that release's loader rules, and every operation that behaves differently between
//! releases reads it from there. No operation keeps a version of its own, and there is no global
//! default: the shell chooses one per run. Each difference is written beside the rule it changes,
//! naming the libvirt function and release.

use std::fmt;
use std::str::FromStr;

/// A libvirt release cpufleet reproduces exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LibvirtVersion {
    /// libvirt 9.0.0 (Debian 12).
    V9_0_0,
    /// libvirt 11.3.0 (Debian 13, Debian 12 backports).
    V11_3_0,
}

impl LibvirtVersion {
    /// Every supported version, oldest first.
    pub const ALL: [LibvirtVersion; 2] = [LibvirtVersion::V9_0_0, LibvirtVersion::V11_3_0];

    /// The newest supported version (the command line's default).
    pub const NEWEST: LibvirtVersion = LibvirtVersion::V11_3_0;

    /// `9.0.0` or `11.3.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            LibvirtVersion::V9_0_0 => "9.0.0",
            LibvirtVersion::V11_3_0 => "11.3.0",
        }
    }

    /// Parses `9.0.0`, `9.0`, `11.3.0` or `11.3`.
    pub fn parse(s: &str) -> Option<LibvirtVersion> {
        match s {
            "9.0.0" | "9.0" => Some(LibvirtVersion::V9_0_0),
            "11.3.0" | "11.3" => Some(LibvirtVersion::V11_3_0),
            _ => None,
        }
    }

    /// True from libvirt 11.3.0 on (the first release after 9.0.0 that cpufleet supports; the
    /// rules below changed somewhere between the two, and only these two are claimed).
    pub fn at_least_11_3(self) -> bool {
        self >= LibvirtVersion::V11_3_0
    }
}

impl fmt::Display for LibvirtVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`LibvirtVersion::from_str`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownVersion(pub String);

impl fmt::Display for UnknownVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported libvirt version '{}' (supported: 9.0.0, 11.3.0; 9.0 and 11.3 accepted)", self.0)
    }
}

impl std::error::Error for UnknownVersion {}

impl FromStr for LibvirtVersion {
    type Err = UnknownVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LibvirtVersion::parse(s).ok_or_else(|| UnknownVersion(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parse_and_print() {
        for v in LibvirtVersion::ALL {
            assert_eq!(LibvirtVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(LibvirtVersion::parse("9.0"), Some(LibvirtVersion::V9_0_0));
        assert_eq!(LibvirtVersion::parse("11.3"), Some(LibvirtVersion::V11_3_0));
        assert_eq!(LibvirtVersion::parse("10.0.0"), None);
        assert!("11".parse::<LibvirtVersion>().unwrap_err().to_string().contains("'11'"));
        assert!(LibvirtVersion::V11_3_0.at_least_11_3() && !LibvirtVersion::V9_0_0.at_least_11_3());
    }
}
