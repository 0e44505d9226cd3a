//! Host files to distinct CPUs: files are read in parallel (a chunk at a time, so memory holds
//! one chunk plus the distinct contents), deduplicated by their bytes (`hash_bytes` of
//! `cpufleet-stream`, every equal hash confirmed by comparing the bytes), and each distinct
//! content is parsed once, in parallel. Contents that parse to the same CPU share one id.

use crate::docs::parse_host_doc;
use crate::{CpuId, Problem, ReadOpts};
use cpufleet_engine::{CpuDef, CpuMap};
use cpufleet_io::read_bounded;
use cpufleet_stream::hash_bytes;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;

/// Files read in parallel before their contents are deduplicated.
const CHUNK: usize = 4096;

/// Each file's CPU (or why it has none), in the order of `paths`, and the distinct CPUs, in the
/// order of their first file.
/// A distinct host CPU and, for a domcapabilities file, its host-model CPU.
pub(crate) type HostCpu = (CpuDef, Option<CpuDef>);

pub(crate) fn read_hosts(
    paths: &[&PathBuf],
    map: &CpuMap,
    opts: &ReadOpts,
) -> (Vec<Result<CpuId, Problem>>, Vec<HostCpu>) {
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
    // share one; a domcapabilities host keeps its host model apart.
    let mut cpus: Vec<HostCpu> = Vec::new();
    let mut by_cpu: HashMap<&HostCpu, u32> = HashMap::new();
    let mut content_cpu: Vec<Result<CpuId, Problem>> = Vec::with_capacity(parsed.len());
    for p in &parsed {
        content_cpu.push(match p {
            Ok(cpu) => Ok(CpuId(*by_cpu.entry(cpu).or_insert_with(|| {
                cpus.push(cpu.clone());
                cpus.len() as u32 - 1
            }))),
            Err(e) => Err(e.clone()),
        });
    }
    let files = file_content.into_iter().map(|r| r.and_then(|i| content_cpu[i as usize].clone())).collect();
    (files, cpus)
}
