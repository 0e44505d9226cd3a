//! The libvirt release whose rules an operation follows.
//!
//! A version is a value that travels with the CPU map ([`crate::CpuMap::version`]): the map was
//! loaded under that release's loader rules, and every operation that behaves differently between
//! releases reads it from there. No operation keeps a version of its own, and there is no global
//! default: the shell chooses one per run. Each difference is written beside the rule it changes,
//! naming the libvirt function and release.
//!
//! The supported releases are one closed set, [`LibvirtVersion`] (a variant with its names, by
//! [`crate::closed_set!`]), with one table beside it, [`RELEASES`] (where each ships; a compile-time
//! check keeps the two in step). Both come from one line per release in `releases!` below, which
//! also embeds the release's CPU map and stamps the tests; beside it only the rules that truly differ,
//! each keyed by the first release that has it (`version >= LibvirtVersion::V12_9_0`).

/// The release table: one line per supported release, oldest first. A line gives the variant,
/// the ident its tests are named by, its names, where it ships, the Debian suite whose packages
/// are its oracles (`bookworm`: the system's) and the QEMU that suite ships. The expansion is the
/// closed set [`LibvirtVersion`], the table `RELEASES` (with the embedded CPU map read from
/// `data/cpu_map/libvirt-NAME/`, written by `cpufleet map import`) and the exported
/// [`for_each_release!`](crate::for_each_release) that the tests stamp their per-release tests
/// and oracles with. The leading `$` lets the expansion define a macro of its own.
macro_rules! releases {
    ($d:tt $(
        $(#[doc = $doc:literal])*
        $V:ident / $tag:ident = $name:literal | $short:literal,
            ships_in $ships:literal, suite $suite:literal, qemu ($qmaj:literal, $qmin:literal),
            x86 ($features:literal features, $models:literal models);
    )+) => {
        crate::closed_set! {
            /// A libvirt release cpufleet reproduces exactly. The discriminant is the release's row in
            /// `RELEASES` (oldest first), so versions order by release. Its name is `MAJOR.MINOR.MICRO`,
            /// as `virsh --version` prints it; `MAJOR.MINOR` is also accepted on the command line.
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub enum LibvirtVersion: "libvirt version" {
                $( $(#[doc = $doc])* $V = $name | $short, )+
            }
        }

        /// Every supported release, oldest first; row `i` is the version with discriminant `i`.
        pub(crate) const RELEASES: [Release; LibvirtVersion::ALL.len()] = [$(
            Release {
                version: LibvirtVersion::$V,
                ships_in: $ships,
                debian_suite: $suite,
                qemu: QemuVersion::new($qmaj, $qmin),
                x86_map: MapSize { features: $features, models: $models },
                cpu_map: [
                    include_str!(concat!("../../data/cpu_map/libvirt-", $name, "/x86.xml")),
                    include_str!(concat!("../../data/cpu_map/libvirt-", $name, "/ppc64.xml")),
                ],
            },
        )+];

        /// Calls the macro `$callback` once with every row of the release table, oldest first:
        /// `$callback! { (V9_0_0, libvirt_9_0_0, "9.0.0", "bookworm", 7, 2), ... }` (variant of
        /// [`LibvirtVersion`], test ident, name, Debian suite, the suite's QEMU major and minor). The tests stamp
        /// one `#[test]` per release with it, and derive each release's oracles from the suite.
        #[macro_export]
        macro_rules! for_each_release {
            ($d callback:ident) => {
                $d callback! { $( ($V, $tag, $name, $suite, $qmaj, $qmin) ),+ }
            };
        }
    };
}

releases! { $
    /// libvirt 9.0.0 (Debian 12).
    V9_0_0 / libvirt_9_0_0 = "9.0.0" | "9.0",
        ships_in "Debian 12", suite "bookworm", qemu (7, 2), x86 (212 features, 58 models);
    /// libvirt 11.3.0 (Debian 13, Debian 12 backports).
    V11_3_0 / libvirt_11_3_0 = "11.3.0" | "11.3",
        ships_in "Debian 13, Debian 12 backports", suite "trixie", qemu (10, 0), x86 (364 features, 150 models);
    /// libvirt 12.9.0 (Debian 13 backports).
    V12_9_0 / libvirt_12_9_0 = "12.9.0" | "12.9",
        ships_in "Debian 13 backports", suite "trixie-backports", qemu (11, 1), x86 (400 features, 176 models);
}

/// One supported release: what it is called and where fleets get it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// The release.
    pub version: LibvirtVersion,
    /// The distributions that ship it (documentation and `map show`).
    pub ships_in: &'static str,
    /// The Debian suite whose packages are this release (`bookworm`, `trixie`,
    /// `trixie-backports`): where its oracles come from.
    pub debian_suite: &'static str,
    /// The QEMU that suite ships with it (the QEMU of a hypervisor known only by its host-model
    /// CPU).
    pub qemu: QemuVersion,
    /// What its x86 CPU map holds, as written in its row: the documentation of its map, which
    /// `engine/tests/map.rs` checks against the embedded map (and that against a fresh import).
    pub x86_map: MapSize,
    /// Its embedded CPU map, x86 then ppc64 (`data/cpu_map/libvirt-NAME/`).
    pub(crate) cpu_map: [&'static str; 2],
}

/// The size of a CPU map's architecture: its features and models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapSize {
    /// Features.
    pub features: usize,
    /// Models.
    pub models: usize,
}

// Row `i` of the table is the version with discriminant `i`, and every version has a row.
const _: () = {
    assert!(RELEASES.len() == LibvirtVersion::ALL.len());
    let mut i = 0;
    while i < RELEASES.len() {
        assert!(RELEASES[i].version as usize == i);
        i += 1;
    }
};

impl LibvirtVersion {
    /// The newest supported version.
    pub const NEWEST: LibvirtVersion = RELEASES[RELEASES.len() - 1].version;

    /// The version a run follows when none is chosen: Debian's stable release (11.3.0, Debian 13).
    /// Newer releases are opt-in (`--libvirt 12.9.0`) until Debian's stable release carries them.
    pub const DEFAULT: LibvirtVersion = LibvirtVersion::V11_3_0;

    /// This version's row of the release table (`RELEASES`).
    pub fn release(self) -> &'static Release {
        &RELEASES[self as usize]
    }

    /// True from libvirt 11.3.0 on (the first release after 9.0.0 that cpufleet supports; the
    /// rules below changed somewhere between the two, and only these releases are claimed).
    pub fn at_least_11_3(self) -> bool {
        self >= LibvirtVersion::V11_3_0
    }

    /// The supported names, for messages: `9.0.0, 11.3.0, 12.9.0`.
    pub fn names() -> String {
        LibvirtVersion::NAMES.join(", ")
    }
}

/// A QEMU release, major.minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QemuVersion {
    pub major: u16,
    pub minor: u16,
}

impl QemuVersion {
    pub const fn new(major: u16, minor: u16) -> QemuVersion {
        QemuVersion { major, minor }
    }

    /// `7.2` or `10.0`.
    pub fn parse(s: &str) -> Option<QemuVersion> {
        let (a, b) = s.split_once('.')?;
        let num = |t: &str| (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit())).then(|| t.parse().ok()).flatten();
        Some(QemuVersion { major: num(a)?, minor: num(b)? })
    }

    /// The QEMU release a versioned x86 machine type belongs to: `pc-i440fx-X.Y` and
    /// `pc-q35-X.Y` (QEMU's `DEFINE_I440FX_MACHINE` / `DEFINE_Q35_MACHINE` names). None for
    /// other names (an alias such as `pc`, a distribution's own `pc-q35-rhel9.4.0`).
    pub fn from_machine(machine: &str) -> Option<QemuVersion> {
        let rest = machine.strip_prefix("pc-i440fx-").or_else(|| machine.strip_prefix("pc-q35-"))?;
        QemuVersion::parse(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parse_and_print() {
        for v in LibvirtVersion::ALL {
            assert_eq!(LibvirtVersion::parse(v.as_str()), Some(v));
            assert_eq!(LibvirtVersion::parse(&v.as_str()[..v.as_str().rfind('.').unwrap()]), Some(v));
        }
        assert_eq!(LibvirtVersion::parse("9.0"), Some(LibvirtVersion::V9_0_0));
        assert_eq!(LibvirtVersion::parse("11.3"), Some(LibvirtVersion::V11_3_0));
        assert_eq!(LibvirtVersion::parse("12.9.0"), Some(LibvirtVersion::V12_9_0));
        assert_eq!(LibvirtVersion::parse("10.0.0"), None);
        assert_eq!(LibvirtVersion::parse("12.8.0"), None);
        let e = "11".parse::<LibvirtVersion>().unwrap_err().to_string();
        assert_eq!(e, "unsupported libvirt version '11' (supported: 9.0.0, 11.3.0, 12.9.0; 9.0, 11.3, 12.9 accepted)");
        assert!(LibvirtVersion::V11_3_0.at_least_11_3() && !LibvirtVersion::V9_0_0.at_least_11_3());
        assert!(LibvirtVersion::V12_9_0.at_least_11_3());
        assert_eq!(LibvirtVersion::NEWEST, LibvirtVersion::V12_9_0);
        assert_eq!(LibvirtVersion::DEFAULT, LibvirtVersion::V11_3_0);
        assert!(LibvirtVersion::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
