//! The command line that reproduces a run: every input that changes the result, from the parsed
//! arguments, each path quoted for a POSIX shell by `shlex`. Printed with every violation and
//! with each failing swarm member.

use crate::guest::Fault;
use crate::scenarios::libvirt_upgrade::{Order, Rollout};
use cpufleet_engine::LibvirtVersion;
use std::path::PathBuf;

/// The inputs of `cpufleet simulate` that change its result, as parsed; [`Reproduce::line`]
/// writes them back as a command. Flags at their default are left out.
#[derive(Clone, Debug)]
pub struct Reproduce {
    /// `--swarm 1`: the line reruns one swarm member (its spec variant and every check).
    pub swarm_member: bool,
    /// `--libvirt`.
    pub libvirt: Option<LibvirtVersion>,
    /// `--cpu-map`.
    pub cpu_map: Option<PathBuf>,
    /// `--spec`.
    pub spec: Option<PathBuf>,
    /// `--inventory`.
    pub inventory: Option<PathBuf>,
    /// `--keep-going`.
    pub keep_going: bool,
    /// `--seed` (always written).
    pub seed: u64,
    /// `--hosts`.
    pub hosts: Option<u64>,
    /// `--guests`.
    pub guests: Option<u64>,
    /// `--migrations`.
    pub migrations: Option<u64>,
    /// The `--scenario` values as given (a scenario's name, or `all`).
    pub scenarios: Vec<String>,
    /// `--plan-k`.
    pub plan_k: Option<u16>,
    /// `--allow-cross-vendor`.
    pub allow_cross_vendor: bool,
    /// `--keep-pools-whole`.
    pub keep_pools_whole: bool,
    /// `--min-domain-hosts`.
    pub min_domain_hosts: Option<u64>,
    /// `--check-all`.
    pub check_all: bool,
    /// `--inject-fault`.
    pub fault: Option<Fault>,
    /// `--upgrade-steps`.
    pub upgrade_steps: u32,
    /// `--upgrade-order`.
    pub upgrade_order: Order,
    /// `--upgrade-from`.
    pub upgrade_from: LibvirtVersion,
    /// `--upgrade-to`.
    pub upgrade_to: LibvirtVersion,
    /// `--reverse`.
    pub reverse: bool,
}

/// A path as one shell word (`shlex`; a path holds no NUL, the one thing it cannot quote).
fn quote(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    shlex::try_quote(&text).map(|q| q.into_owned()).unwrap_or(text)
}

impl Reproduce {
    /// The command: `cpufleet simulate` and every input not at its default.
    pub fn line(&self) -> String {
        let default = Rollout::default();
        let mut v = vec!["cpufleet".to_string(), "simulate".to_string()];
        if self.swarm_member {
            v.push("--swarm 1".into());
        }
        if let Some(l) = self.libvirt {
            v.push(format!("--libvirt {l}"));
        }
        for (flag, path) in [("--cpu-map", &self.cpu_map), ("--spec", &self.spec), ("--inventory", &self.inventory)] {
            if let Some(p) = path {
                v.push(format!("{flag} {}", quote(p)));
            }
        }
        if self.keep_going {
            v.push("--keep-going".into());
        }
        v.push(format!("--seed {}", self.seed));
        for (flag, val) in [("--hosts", self.hosts), ("--guests", self.guests), ("--migrations", self.migrations)] {
            if let Some(n) = val {
                v.push(format!("{flag} {n}"));
            }
        }
        for s in &self.scenarios {
            v.push(format!("--scenario {s}"));
        }
        if let Some(k) = self.plan_k {
            v.push(format!("--plan-k {k}"));
        }
        for (flag, on) in
            [("--allow-cross-vendor", self.allow_cross_vendor), ("--keep-pools-whole", self.keep_pools_whole)]
        {
            if on {
                v.push(flag.into());
            }
        }
        if let Some(n) = self.min_domain_hosts {
            v.push(format!("--min-domain-hosts {n}"));
        }
        if self.check_all {
            v.push("--check-all".into());
        }
        if let Some(f) = self.fault {
            v.push(format!("--inject-fault {f}"));
        }
        if self.upgrade_steps != default.steps {
            v.push(format!("--upgrade-steps {}", self.upgrade_steps));
        }
        if self.upgrade_order != default.order {
            v.push(format!("--upgrade-order {}", self.upgrade_order));
        }
        if self.upgrade_from != default.from {
            v.push(format!("--upgrade-from {}", self.upgrade_from));
        }
        if self.upgrade_to != default.to {
            v.push(format!("--upgrade-to {}", self.upgrade_to));
        }
        if self.reverse {
            v.push("--reverse".into());
        }
        v.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(seed: u64) -> Reproduce {
        let d = Rollout::default();
        Reproduce {
            swarm_member: false,
            libvirt: None,
            cpu_map: None,
            spec: None,
            inventory: None,
            keep_going: false,
            seed,
            hosts: None,
            guests: None,
            migrations: None,
            scenarios: Vec::new(),
            plan_k: None,
            allow_cross_vendor: false,
            keep_pools_whole: false,
            min_domain_hosts: None,
            check_all: false,
            fault: None,
            upgrade_steps: d.steps,
            upgrade_order: d.order,
            upgrade_from: d.from,
            upgrade_to: d.to,
            reverse: false,
        }
    }

    #[test]
    fn defaults_are_left_out_and_every_other_input_is_named() {
        assert_eq!(plain(7).line(), "cpufleet simulate --seed 7");
        let r = Reproduce {
            swarm_member: true,
            libvirt: Some(LibvirtVersion::V12_9_0),
            spec: Some("my spec's.toml".into()),
            hosts: Some(40),
            scenarios: vec!["plan".into(), "libvirt-upgrade".into()],
            check_all: true,
            fault: Some(Fault::IgnoreVersion),
            upgrade_order: Order::Random,
            upgrade_to: LibvirtVersion::V12_9_0,
            reverse: true,
            ..plain(3)
        };
        let line = r.line();
        assert_eq!(
            line,
            "cpufleet simulate --swarm 1 --libvirt 12.9.0 --spec \"my spec's.toml\" --seed 3 --hosts 40 \
             --scenario plan --scenario libvirt-upgrade --check-all --inject-fault ignore-version \
             --upgrade-order random --upgrade-to 12.9.0 --reverse"
        );
        // The line splits back into the words it was built from (the quoted path is one word).
        let words = shlex::split(&line).expect("a shell line");
        assert!(words.iter().any(|w| w == "my spec's.toml"), "{words:?}");
    }
}
