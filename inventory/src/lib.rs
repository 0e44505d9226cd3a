//! Reading a real fleet inventory: a directory of host documents, one folder per pool,
//! optionally with the guests running on each host.
//!
//! ```text
//! DIR/<pool>/<host>.xml          a host: `virsh capabilities`, `virsh domcapabilities` (its
//!                                host-model CPU), a host <cpu>, or a <cpudata> CPUID dump
//! DIR/<pool>/<host>.domcaps.xml  optional, beside <host>.xml: the host's `virsh domcapabilities
//!                                --virttype kvm` (its QEMU/KVM view; <host>.xml stays its raw
//!                                CPU, and FULL for the start path when it is capabilities)
//! DIR/<pool>/<host>.meta.toml   optional: `cpufleet collect`'s metadata of the host (its libvirt
//!                                release, hypervisor, host name, when and from where; [`meta`])
//! DIR/<pool>/<host>/<any>.xml    a guest on that host: `virsh dumpxml` (name from <name>, CPU
//!                                from <cpu>)
//! ```
//!
//! Pool = folder name, host = file name without `.xml`; pools, hosts and each host's guest files
//! are sorted by name, so the result does not depend on the file system's order. Anything else
//! (files at the top level, files not named `*.xml`, hidden entries, folders without a host
//! file, folders inside a guest folder) is passed over and listed in [`Inventory::ignored`].
//! Symbolic links are followed.
//!
//! Host documents are read as `cpufleet baseline` (and `virsh cpu-baseline`) reads its inputs:
//! every CPU typed as a host CPU, by the parser of the map's libvirt version; a `<cpudata>` dump
//! is decoded with the engine's `x86::decode_host`. A host file must hold exactly one CPU.
//!
//! **Fast at 10⁵ files.** Files are read in parallel (rayon) with the bounded read of
//! `cpufleet-io`, deduplicated by their bytes (hashed, then compared), and each distinct content
//! is parsed once; hosts hold a [`CpuId`] into [`Inventory::cpus`], and contents that parse to
//! the same CPU share one id.
//!
//! **Errors.** Without [`ReadOpts::keep_going`] the first bad file, in the order pools → hosts →
//! guests (each sorted by name), is the error, with its path and the reader's line:column. With
//! it, each bad file becomes a [`Skipped`] entry (and the guests of a skipped host are skipped
//! too). An inventory without pool folders, and a pool without a (readable) host file, are
//! errors either way.

mod content;
pub mod docs;
mod error;
mod layout;
pub mod meta;

pub use content::{CpuId, ReadOpts};
pub use error::{Ignored, IgnoredWhy, InventoryError, Problem, Skipped};

use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::hypervisor::Hypervisor;
use cpufleet_engine::{CpuDef, CpuMap, LibvirtVersion};
use cpufleet_io::read_bounded;
use meta::HostMeta;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// A fleet read from a directory.
#[derive(Clone, Debug)]
pub struct Inventory {
    /// The rules and map the files were read with.
    pub libvirt: LibvirtVersion,
    /// Pools sorted by name, each with at least one host.
    pub pools: Vec<Pool>,
    /// The distinct host CPUs (host type, as read or decoded), in the order of their first host.
    pub cpus: Vec<CpuDef>,
    /// Per distinct CPU (same index as `cpus`): the host's own QEMU/KVM (host-model CPU, model
    /// list, as `virsh domcapabilities` shows them) when its file, or its `HOST.domcaps.xml`, was
    /// a domcapabilities document; with FULL from the host's CPU when that came from another file.
    pub hypervisors: Vec<Option<Box<Hypervisor>>>,
    /// Files skipped under [`ReadOpts::keep_going`], in reading order.
    pub skipped: Vec<Skipped>,
    /// Entries passed over because they are not part of the layout.
    pub ignored: Vec<Ignored>,
}

/// One pool folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub path: PathBuf,
    /// Sorted by name.
    pub hosts: Vec<Host>,
    /// By host, then file name.
    pub guests: Vec<Guest>,
}

/// One host file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// The file name without `.xml`.
    pub name: String,
    pub cpu: CpuId,
    pub path: PathBuf,
    /// Its `HOST.domcaps.xml`, when one is beside `HOST.xml`.
    pub domcaps: Option<PathBuf>,
    /// Its `HOST.meta.toml` (`cpufleet collect`), when one is beside `HOST.xml`.
    pub meta: Option<Box<HostMeta>>,
    /// The host's own libvirt release, from its metadata; `None` without metadata (the
    /// host then runs the run's `--libvirt`).
    pub libvirt: Option<LibvirtVersion>,
}

/// One guest domain file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guest {
    /// The domain's `<name>`.
    pub name: String,
    /// Index of its host in the pool's [`Pool::hosts`].
    pub host: usize,
    /// The domain's `<cpu>`, read as a guest CPU; `None` when the domain has no `<cpu>` element
    /// (libvirt's default CPU).
    pub cpu: Option<CpuDef>,
    /// The domain's settings that reach QEMU's `-cpu` (Hyper-V, KVM, `pmu`, timers, ...).
    pub features: DomainFeatures,
    pub path: PathBuf,
}

impl Inventory {
    /// Reads the inventory in `dir` with `map`'s rules (see the crate documentation).
    pub fn read(dir: &Path, map: &CpuMap, opts: &ReadOpts) -> Result<Inventory, InventoryError> {
        Inventory::read_inner(dir, map, opts, false)
    }

    /// The inventory in `dir` as another libvirt release (`map`'s) reads it, for the scenarios
    /// that run hosts under several releases: every bad file is a [`Skipped`] entry (as with
    /// [`ReadOpts::keep_going`]), and a pool whose every host file that release cannot read is
    /// left out instead of being an error (its hosts' reasons are in [`Inventory::skipped`]).
    pub fn read_by_release(dir: &Path, map: &CpuMap, opts: &ReadOpts) -> Result<Inventory, InventoryError> {
        Inventory::read_inner(dir, map, &ReadOpts { keep_going: true, ..*opts }, true)
    }

    /// The libvirt release each host's metadata names, per pool (sorted as the inventory is:
    /// `(pool, [(host, release)])`); `None` for a host without metadata, or whose metadata
    /// cannot be read (the readers name that file). Only the layout and the metadata files are
    /// read.
    pub fn host_release_list(dir: &Path, opts: &ReadOpts) -> Result<Vec<PoolReleases>, InventoryError> {
        let (dirs, _) = layout::scan(dir)?;
        let metas = read_metas(&dirs, opts);
        let mut metas = metas.into_iter();
        Ok(dirs
            .into_iter()
            .map(|d| {
                let hosts = d.hosts.into_iter().zip(&mut metas).map(|(h, m)| (h.0, meta_release(&m))).collect();
                (d.name, hosts)
            })
            .collect())
    }

    /// The inventory in `dir` restricted to the hosts `select` keeps: it is given each pool's
    /// name and its hosts' releases (as [`Inventory::host_release_list`] gives them) and
    /// answers one flag per host. Only the kept hosts' files (and their guests) are read; a
    /// pool with no kept host is left out (not an error); errors as [`Inventory::read`]'s.
    pub fn read_selected(
        dir: &Path,
        map: &CpuMap,
        opts: &ReadOpts,
        select: &Select<'_>,
    ) -> Result<Inventory, InventoryError> {
        Inventory::read_inner_with(dir, map, opts, false, Some(select))
    }

    fn read_inner(dir: &Path, map: &CpuMap, opts: &ReadOpts, keep_empty: bool) -> Result<Inventory, InventoryError> {
        Inventory::read_inner_with(dir, map, opts, keep_empty, None)
    }

    fn read_inner_with(
        dir: &Path,
        map: &CpuMap,
        opts: &ReadOpts,
        keep_empty: bool,
        select: Option<&Select<'_>>,
    ) -> Result<Inventory, InventoryError> {
        let (mut dirs, ignored) = layout::scan(dir)?;
        let mut metas: Vec<MetaResult> = read_metas(&dirs, opts);
        if let Some(select) = select {
            let mut all = std::mem::take(&mut metas).into_iter();
            let mut kept_dirs = Vec::new();
            for mut d in dirs {
                let mine: Vec<MetaResult> = all.by_ref().take(d.hosts.len()).collect();
                let keep = select(&d.name, &mine.iter().map(meta_release).collect::<Vec<_>>());
                // New index of each host kept.
                let mut new_index = Vec::with_capacity(keep.len());
                let mut n = 0;
                for &k in &keep {
                    new_index.push(k.then_some(n));
                    n += usize::from(k);
                }
                let mut flags = keep.iter();
                d.hosts.retain(|_| *flags.next().unwrap_or(&false));
                let mut flags = keep.iter();
                d.metas.retain(|_| *flags.next().unwrap_or(&false));
                metas.extend(mine.into_iter().zip(&keep).filter(|(_, &k)| k).map(|(m, _)| m));
                d.guests = d.guests.into_iter().filter_map(|(h, p)| new_index[h].map(|h| (h, p))).collect();
                if !d.hosts.is_empty() {
                    kept_dirs.push(d);
                }
            }
            dirs = kept_dirs;
        }
        let host_files: Vec<(&PathBuf, Option<&PathBuf>)> =
            dirs.iter().flat_map(|p| p.hosts.iter().map(|h| (&h.1, h.2.as_ref()))).collect();
        let (host_cpus, cpus) = content::read_hosts(&host_files, map, opts);
        let guest_paths: Vec<&PathBuf> = dirs.iter().flat_map(|p| p.guests.iter().map(|g| &g.1)).collect();
        let version = map.version();
        let guests: Vec<Result<docs::ParsedGuest, Problem>> = guest_paths
            .par_iter()
            .map(|p| {
                let bytes = read_bounded(p, opts.max_input_bytes).map_err(Problem::Read)?;
                docs::parse_guest(&bytes, version, opts.limits).map_err(Problem::Xml)
            })
            .collect();
        let (cpus, hypervisors) = cpus.into_iter().unzip();
        let mut inv =
            Inventory { libvirt: version, pools: Vec::new(), cpus, hypervisors, skipped: Vec::new(), ignored };
        let (mut host_results, mut guest_results) = (host_cpus.into_iter(), guests.into_iter());
        let mut meta_results = metas.into_iter();
        for d in dirs {
            match inv.assemble(d, &mut host_results, &mut meta_results, &mut guest_results, opts.keep_going) {
                Ok(pool) => inv.pools.push(pool),
                Err(InventoryError::EmptyPool { .. }) if keep_empty => {}
                Err(e) => return Err(e),
            }
        }
        Ok(inv)
    }

    /// One pool from its folder and the results of its files (taken in order from the two
    /// iterators).
    fn assemble(
        &mut self,
        d: layout::PoolDir,
        host_results: &mut impl Iterator<Item = content::HostResult>,
        meta_results: &mut impl Iterator<Item = MetaResult>,
        guest_results: &mut impl Iterator<Item = Result<docs::ParsedGuest, Problem>>,
        keep_going: bool,
    ) -> Result<Pool, InventoryError> {
        let mut pool = Pool { name: d.name, path: d.path, hosts: Vec::new(), guests: Vec::new() };
        let n_skipped = self.skipped.len();
        // Index of each host file's entry in `pool.hosts`, None when skipped.
        let mut kept: Vec<Option<usize>> = Vec::with_capacity(d.hosts.len());
        for (((name, path, domcaps), r), m) in d.hosts.into_iter().zip(host_results).zip(meta_results) {
            let m = m.transpose();
            match (r, m) {
                (Ok(cpu), Ok(m)) => {
                    let (meta, libvirt) = m.map_or((None, None), |(meta, v)| (Some(meta), Some(v)));
                    kept.push(Some(pool.hosts.len()));
                    pool.hosts.push(Host { name, cpu, path, domcaps, meta, libvirt });
                }
                (Err(bad), Ok(Some((meta, _)))) if matches!(bad.1, Problem::NoModel { .. }) => {
                    // Its metadata says whether libvirt's test driver wrote it.
                    let (path, mut problem) = *bad;
                    if let Problem::NoModel { test_driver, .. } = &mut problem {
                        *test_driver = meta.hypervisor == "TEST";
                    }
                    kept.push(None);
                    self.skip(&pool.name, path, problem, keep_going)?;
                }
                (Ok(_), Err(bad)) | (Err(bad), _) => {
                    let (path, problem) = *bad;
                    kept.push(None);
                    self.skip(&pool.name, path, problem, keep_going)?;
                }
            }
        }
        for ((host_file, path), r) in d.guests.into_iter().zip(guest_results) {
            match (kept[host_file], r) {
                (Some(host), Ok((name, cpu, features))) => pool.guests.push(Guest { name, host, cpu, features, path }),
                (None, _) => self.skip(&pool.name, path, Problem::HostSkipped, keep_going)?,
                (Some(_), Err(problem)) => self.skip(&pool.name, path, problem, keep_going)?,
            }
        }
        if pool.hosts.is_empty() {
            // Its host files skipped (the guests of a skipped host are not host files).
            let skipped = kept.iter().filter(|k| k.is_none()).count();
            let first = self.skipped.get(n_skipped).map(|s| s.to_string());
            return Err(InventoryError::EmptyPool { path: pool.path, skipped, first });
        }
        Ok(pool)
    }

    /// Several reads of one inventory, each of other hosts ([`Inventory::read_selected`]), as
    /// one: pools by name, each pool's hosts by name with their guests, the CPUs of every read
    /// (a CPU read by two releases counts twice), `libvirt` as the rules named. The entries
    /// passed over are the first read's (every read of a folder passes over the same).
    pub fn merge(libvirt: LibvirtVersion, parts: Vec<Inventory>) -> Inventory {
        let mut out = Inventory {
            libvirt,
            pools: Vec::new(),
            cpus: Vec::new(),
            hypervisors: Vec::new(),
            skipped: Vec::new(),
            ignored: Vec::new(),
        };
        // Per pool name: its hosts with their guests.
        let mut pools: std::collections::BTreeMap<String, (PathBuf, Vec<HostGuests>)> = Default::default();
        for (i, part) in parts.into_iter().enumerate() {
            let offset = out.cpus.len() as u32;
            out.cpus.extend(part.cpus);
            out.hypervisors.extend(part.hypervisors);
            out.skipped.extend(part.skipped);
            if i == 0 {
                out.ignored = part.ignored;
            }
            for p in part.pools {
                let entry = pools.entry(p.name).or_insert_with(|| (p.path, Vec::new()));
                let mut hosts: Vec<HostGuests> = p
                    .hosts
                    .into_iter()
                    .map(|mut h| {
                        h.cpu = CpuId(h.cpu.0 + offset);
                        (h, Vec::new())
                    })
                    .collect();
                for g in p.guests {
                    hosts[g.host].1.push(g);
                }
                entry.1.extend(hosts);
            }
        }
        for (name, (path, mut hosts)) in pools {
            hosts.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            let mut pool = Pool { name, path, hosts: Vec::new(), guests: Vec::new() };
            for (i, (h, guests)) in hosts.into_iter().enumerate() {
                pool.hosts.push(h);
                pool.guests.extend(guests.into_iter().map(|g| Guest { host: i, ..g }));
            }
            out.pools.push(pool);
        }
        out
    }

    /// Hosts with a metadata file, and the releases they run with their host counts (by
    /// release).
    pub fn host_releases(&self) -> (usize, Vec<(LibvirtVersion, usize)>) {
        let mut with = 0;
        let mut counts: Vec<(LibvirtVersion, usize)> = Vec::new();
        for v in self.pools.iter().flat_map(|p| &p.hosts).filter_map(|h| h.libvirt) {
            with += 1;
            match counts.iter_mut().find(|c| c.0 == v) {
                Some(c) => c.1 += 1,
                None => counts.push((v, 1)),
            }
        }
        counts.sort();
        (with, counts)
    }

    fn skip(&mut self, pool: &str, path: PathBuf, problem: Problem, keep_going: bool) -> Result<(), InventoryError> {
        if !keep_going {
            return Err(InventoryError::File { path, problem: Box::new(problem) });
        }
        self.skipped.push(Skipped { path, pool: pool.to_string(), problem });
        Ok(())
    }

    /// Number of hosts in all pools.
    pub fn n_hosts(&self) -> usize {
        self.pools.iter().map(|p| p.hosts.len()).sum()
    }

    /// Number of guests in all pools.
    pub fn n_guests(&self) -> usize {
        self.pools.iter().map(|p| p.guests.len()).sum()
    }

    /// A pool's summary: its distinct CPUs, host CPU models and vendors.
    pub fn summary(&self, pool: &Pool) -> PoolSummary {
        let mut ids: Vec<CpuId> = pool.hosts.iter().map(|h| h.cpu).collect();
        ids.sort_unstable();
        let mut models: Vec<(String, usize)> = Vec::new();
        let mut vendors: Vec<String> = Vec::new();
        let mut distinct_cpus = 0;
        for run in ids.chunk_by(|a, b| a == b) {
            distinct_cpus += 1;
            let cpu = &self.cpus[run[0].index()];
            let model = cpu.model.clone().unwrap_or_else(|| NONE.to_string());
            match models.iter_mut().find(|(m, _)| *m == model) {
                Some((_, n)) => *n += run.len(),
                None => models.push((model, run.len())),
            }
            let vendor = cpu.vendor.clone().unwrap_or_else(|| NONE.to_string());
            if !vendors.contains(&vendor) {
                vendors.push(vendor);
            }
        }
        models.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        vendors.sort();
        PoolSummary { distinct_cpus, models, vendors }
    }
}

/// A host's metadata and release, or the file and why it is bad (`None`: no metadata file).
type MetaResult = Option<Result<(Box<HostMeta>, LibvirtVersion), content::BadFile>>;

/// Which hosts [`Inventory::read_selected`] reads: given a pool's name and its hosts' releases,
/// one flag per host.
pub type Select<'a> = dyn Fn(&str, &[Option<LibvirtVersion>]) -> Vec<bool> + 'a;

/// A host with its guests (while merging).
type HostGuests = (Host, Vec<Guest>);

/// A pool's name and its hosts' names with the release each one's metadata names
/// ([`Inventory::host_release_list`]).
pub type PoolReleases = (String, Vec<(String, Option<LibvirtVersion>)>);

/// The metadata of every host of `dirs`, in order (pools, then hosts).
fn read_metas(dirs: &[layout::PoolDir], opts: &ReadOpts) -> Vec<MetaResult> {
    let meta_paths: Vec<Option<&PathBuf>> = dirs.iter().flat_map(|p| p.metas.iter().map(Option::as_ref)).collect();
    meta_paths.par_iter().map(|p| p.map(|p| read_meta(p, opts))).collect()
}

/// The release a host's metadata names; None without (readable) metadata.
fn meta_release(m: &MetaResult) -> Option<LibvirtVersion> {
    m.as_ref().and_then(|r| r.as_ref().ok()).map(|(_, v)| *v)
}

/// Reads and checks one `HOST.meta.toml`.
fn read_meta(path: &Path, opts: &ReadOpts) -> Result<(Box<HostMeta>, LibvirtVersion), content::BadFile> {
    let bad = |p: Problem| Box::new((path.to_path_buf(), p));
    let bytes = read_bounded(path, opts.max_input_bytes).map_err(|e| bad(Problem::Read(e)))?;
    let meta = HostMeta::parse(&bytes).map_err(|e| bad(Problem::Meta(e)))?;
    let v = meta.release().map_err(|e| bad(Problem::Meta(e)))?;
    Ok((Box::new(meta), v))
}

/// What stands for a missing model or vendor name in a [`PoolSummary`].
pub const NONE: &str = "(none)";

/// What [`Inventory::summary`] says about a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSummary {
    /// Distinct host CPUs among the pool's hosts.
    pub distinct_cpus: usize,
    /// Host CPU model names (as read or decoded) with their host counts, most hosts first.
    pub models: Vec<(String, usize)>,
    /// Vendor names, sorted.
    pub vendors: Vec<String>,
}
