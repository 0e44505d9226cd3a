//! Host files to distinct CPUs: files are read in parallel (a chunk at a time, so memory holds
//! one chunk plus the distinct contents), deduplicated by their bytes (`hash_bytes` of
//! `cpufleet-mix`, every equal hash confirmed by comparing the bytes), and each distinct
//! content is parsed once, in parallel. Contents that parse to the same CPU share one id.

use crate::docs::parse_host_doc;
use crate::error::Problem;
use cpufleet_engine::hypervisor::Hypervisor;
use cpufleet_engine::xml::Limits;
use cpufleet_engine::{CpuDef, CpuMap};
use cpufleet_io::read_bounded;
use cpufleet_io::DEFAULT_MAX_INPUT;
use cpufleet_mix::hash_bytes;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How an inventory is read.
#[derive(Clone, Copy, Debug)]
pub struct ReadOpts {
    /// Skip bad files (each recorded in [`crate::Inventory::skipped`]) instead of failing on the first.
    pub keep_going: bool,
    /// Largest file read, in bytes (`--max-input-bytes`).
    pub max_input_bytes: u64,
    /// The XML reader's limits.
    pub limits: Limits,
}

impl Default for ReadOpts {
    fn default() -> Self {
        ReadOpts { keep_going: false, max_input_bytes: DEFAULT_MAX_INPUT, limits: Limits::default() }
    }
}

/// Index of a distinct host CPU in [`crate::Inventory::cpus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpuId(pub u32);

impl CpuId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Files read in parallel before their contents are deduplicated.
const CHUNK: usize = 4096;

/// A host's CPU id, or the file that has none and why (boxed: the error stays small on the `Ok`
/// path).
pub(crate) type HostResult = Result<CpuId, BadFile>;

/// A file that gives a host no CPU, and why (boxed: small on the `Ok` path).
pub(crate) type BadFile = Box<(PathBuf, Problem)>;

/// A distinct host CPU and, for a domcapabilities file, its hypervisor.
pub(crate) type HostCpu = (CpuDef, Option<Box<Hypervisor>>);

/// Each host's CPU (or the file that has none, and why), in the order of `hosts` = (its file,
/// its `HOST.domcaps.xml` when there is one), and the distinct CPUs, in the order of their first
/// host. A host with a domcapabilities document beside its file takes its CPU from the file and
/// its hypervisor from the domcapabilities.
pub(crate) fn read_hosts(
    hosts: &[(&PathBuf, Option<&PathBuf>)],
    map: &CpuMap,
    opts: &ReadOpts,
) -> (Vec<HostResult>, Vec<HostCpu>) {
    let mut paths: Vec<&PathBuf> = hosts.iter().map(|h| h.0).collect();
    paths.extend(hosts.iter().filter_map(|h| h.1));
    let (files, parsed) = read_files(&paths, map, opts);
    let mut partner = files[hosts.len()..].iter();
    let mut cpus: Vec<HostCpu> = Vec::new();
    let mut by_pair: HashMap<(u32, Option<u32>), u32> = HashMap::new();
    let mut out = Vec::with_capacity(hosts.len());
    for (&(path, domcaps), m) in hosts.iter().zip(&files[..hosts.len()]) {
        // Taken for every host that has one: the partners' results are in that order.
        let d = domcaps.map(|dp| (dp, partner.next().expect("one result per domcaps file")));
        out.push(host_pair(path, m, d, &parsed).and_then(|pair| {
            if let Some(&i) = by_pair.get(&pair) {
                return Ok(CpuId(i));
            }
            let (m, d) = pair;
            let raw = parsed[m as usize].0.clone();
            // FULL from the host's CPU: its capabilities (or other host file), or for a
            // domcapabilities file alone its host-model CPU as a host CPU.
            let (hv, hv_file) = match (d, domcaps) {
                (Some(d), Some(dp)) => (&parsed[d as usize].1, dp),
                _ => (&parsed[m as usize].1, path),
            };
            let hv = match hv {
                Some(hv) => Some(Box::new(
                    (**hv)
                        .clone()
                        .with_host_cpu(&map.x86, &raw)
                        .map_err(|e| Box::new((hv_file.clone(), Problem::HostModel(e))))?,
                )),
                None => None,
            };
            cpus.push((raw, hv));
            by_pair.insert(pair, cpus.len() as u32 - 1);
            Ok(CpuId(cpus.len() as u32 - 1))
        }));
    }
    (out, cpus)
}

/// A host's (file, domcapabilities) parse ids, or the file that failed and why: a
/// `HOST.domcaps.xml` must be a domcapabilities document.
fn host_pair(
    path: &Path,
    main: &Result<u32, Problem>,
    domcaps: Option<(&PathBuf, &Result<u32, Problem>)>,
    parsed: &[HostCpu],
) -> Result<(u32, Option<u32>), BadFile> {
    let m = main.clone().map_err(|e| Box::new((path.to_path_buf(), e)))?;
    let Some((dp, d)) = domcaps else {
        // A `HOST.domcaps.xml` standing alone is still the host's domcapabilities, nothing else.
        if is_domcaps_name(path) && parsed[m as usize].1.is_none() {
            return Err(Box::new((path.to_path_buf(), Problem::NotDomcaps)));
        }
        return Ok((m, None));
    };
    let d = d.clone().map_err(|e| Box::new((dp.clone(), e)))?;
    if parsed[d as usize].1.is_none() {
        return Err(Box::new((dp.clone(), Problem::NotDomcaps)));
    }
    Ok((m, Some(d)))
}

/// Whether `path` is named `HOST.domcaps.xml`.
fn is_domcaps_name(path: &Path) -> bool {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem.strip_suffix(crate::layout::DOMCAPS_SUFFIX).is_some_and(|h| !h.is_empty())
}

/// Each file's parsed CPU (an index into the second list, or why it has none), in the order of
/// `paths`, and the distinct parsed CPUs, in the order of their first file.
fn read_files(paths: &[&PathBuf], map: &CpuMap, opts: &ReadOpts) -> (Vec<Result<u32, Problem>>, Vec<HostCpu>) {
    let mut by_hash: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut contents: Vec<Vec<u8>> = Vec::new();
    let mut file_content: Vec<Result<u32, Problem>> = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(CHUNK) {
        let read: Vec<_> =
            chunk.par_iter().map(|p| read_bounded(p, opts.max_input_bytes).map(|b| (hash_bytes(&b), b))).collect();
        for r in read {
            file_content.push(match r {
                Ok((h, bytes)) => {
                    let ids = by_hash.entry(h).or_default();
                    match ids.iter().find(|&&i| contents[i as usize] == bytes) {
                        Some(&i) => Ok(i),
                        None => {
                            let i = contents.len() as u32;
                            ids.push(i);
                            contents.push(bytes);
                            Ok(i)
                        }
                    }
                }
                Err(e) => Err(Problem::Read(e)),
            });
        }
    }
    let parsed: Vec<Result<HostCpu, Problem>> =
        contents.par_iter().map(|b| parse_host_doc(b, map, opts.limits)).collect();
    // Content ids to CPU ids: equal CPUs (a dump and its decoded `<cpu>`, different whitespace)
    // share one; a domcapabilities host keeps its hypervisor apart (hashed by the CPU, the
    // hypervisors compared).
    let mut cpus: Vec<HostCpu> = Vec::new();
    let mut by_cpu: HashMap<&CpuDef, Vec<u32>> = HashMap::new();
    let mut content_cpu: Vec<Result<u32, Problem>> = Vec::with_capacity(parsed.len());
    for p in &parsed {
        content_cpu.push(match p {
            Ok(cpu) => {
                let ids = by_cpu.entry(&cpu.0).or_default();
                Ok(match ids.iter().find(|&&i| cpus[i as usize].1 == cpu.1) {
                    Some(&i) => i,
                    None => {
                        cpus.push(cpu.clone());
                        ids.push(cpus.len() as u32 - 1);
                        cpus.len() as u32 - 1
                    }
                })
            }
            Err(e) => Err(e.clone()),
        });
    }
    let files = file_content.into_iter().map(|r| r.and_then(|i| content_cpu[i as usize].clone())).collect();
    (files, cpus)
}
