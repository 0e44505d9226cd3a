//! The foreign vocabularies of CPU feature names that `data/names/` maps libvirt's names to.

cpufleet_engine::closed_set! {
    /// A foreign vocabulary of CPU feature names.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Vocabulary: "name vocabulary" {
        /// QEMU's `-cpu` property names, as libvirt's QEMU driver writes them.
        Qemu = "qemu",
        /// Linux's `/proc/cpuinfo` flags.
        Linux = "linux",
        /// os-traits' `HW_CPU_X86_*` traits, as Nova's libvirt driver reports them (without prefix).
        OsTraits = "os-traits",
    }
}

impl Vocabulary {
    /// The table's file name in `data/names/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Vocabulary::Qemu => "qemu.tsv",
            Vocabulary::Linux => "linux.tsv",
            Vocabulary::OsTraits => "os-traits.tsv",
        }
    }
    /// The embedded table text.
    pub fn embedded_text(self) -> &'static str {
        match self {
            Vocabulary::Qemu => include_str!("../../data/names/qemu.tsv"),
            Vocabulary::Linux => include_str!("../../data/names/linux.tsv"),
            Vocabulary::OsTraits => include_str!("../../data/names/os-traits.tsv"),
        }
    }
}
