//! Why a migration or a guest's start on another host is refused, by kind: the blocker
//! histogram's and the guests section's one vocabulary (its own file, so that the migrations
//! and the guests sections share it without importing each other).

use serde::Serialize;

cpufleet_engine::closed_set! {
    /// Why a migration was refused, as counted in the blocker histogram. Its name is what the
    /// JSON (serde's kebab-case names, the same: `blocker_kind_names_are_serde_names`) and the
    /// reports print.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum BlockerKind: "blocker kind" {
        /// The destination lacks the feature.
        Missing = "missing",
        /// The destination has a feature the guest forbids.
        Forbidden = "forbidden",
        /// A strict CPU: the destination has the feature unlisted.
        Extra = "extra",
        /// The destination's vendor differs.
        Vendor = "vendor",
        /// host-passthrough onto a CPU that is not identical.
        HostPassthrough = "host-passthrough",
    }
}

#[cfg(test)]
mod tests {
    use super::BlockerKind;

    #[test]
    fn blocker_kind_names_are_serde_names() {
        for k in BlockerKind::ALL {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
    }
}
