//! `cpufleet baseline --explain FILE…`: which input CPUs limit the baseline, what it would be
//! without them, and what each input CPU loses under it.
//!
//! The rule is the engine's (`x86::explain`, libvirt's baseline run again without some inputs);
//! this module only reads the inputs for it and words the answer. Inputs are deduplicated twice
//! so that 10⁵ identical hosts stay fast: files by their bytes (each distinct content parsed
//! once), then CPUs by what baseline reads of them (`BaselineInput`), so the engine sees each
//! distinct CPU once, with the number of CPUs it stands for.

use super::BaselineOpts;
use crate::inputs::{cpu_label, Loaded};
use crate::{json, limits, Common};
use cpufleet_engine::ops::{self, Arch};
use cpufleet_engine::x86::explain::{self as rule, DistinctInput, Explanation};
use cpufleet_engine::x86::BaselineInput;
use cpufleet_engine::xml::{read_cpu_document, CpuDocument, TypeHint};
use cpufleet_engine::{CpuDef, CpuMap, FeatureSet, Policy, Pos};
use cpufleet_io::{read_file, CliError, CliResult, Input};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt::Write;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

/// Files read in parallel per batch (bounds the bytes held at once).
const BATCH: usize = 512;

/// A baseline explained: the engine's explanation over the distinct input CPUs, with every input
/// CPU named.
pub struct Explained {
    /// The baseline's model and feature summary.
    result: CpuDef,
    ex: Explanation,
    /// Per distinct input, the labels (`FILE#N (L:C)`) of the CPUs it stands for, in input order.
    names: Vec<Vec<String>>,
    /// Per limit: the baseline without it, as `baseline` with the same options prints it.
    without: Vec<CpuDef>,
}

/// The distinct contents of the inputs and, per input, which content it holds.
#[derive(Default)]
struct Contents {
    bytes: Vec<Vec<u8>>,
    /// The first path of each content.
    first: Vec<PathBuf>,
    by_hash: HashMap<u64, Vec<usize>>,
    inputs: Vec<(PathBuf, usize)>,
}

impl Contents {
    fn add(&mut self, path: PathBuf, bytes: &[u8]) {
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let ids = self.by_hash.entry(h.finish()).or_default();
        let id = match ids.iter().find(|&&i| self.bytes[i] == bytes) {
            Some(&i) => i,
            None => {
                self.bytes.push(bytes.to_vec());
                self.first.push(path.clone());
                ids.push(self.bytes.len() - 1);
                self.bytes.len() - 1
            }
        };
        self.inputs.push((path, id));
    }

    /// The inputs' contents: from `docs` when the baseline read them one by one (standard input
    /// among them), else read again from the files, in parallel batches.
    fn read(inputs: &[Input], docs: &[Loaded], max_bytes: u64) -> CliResult<Contents> {
        let mut c = Contents::default();
        if !docs.is_empty() {
            for d in docs {
                c.add(d.input.path().to_path_buf(), &d.bytes);
            }
            return Ok(c);
        }
        for batch in inputs.chunks(BATCH) {
            let read: Vec<CliResult<Vec<u8>>> = batch.par_iter().map(|i| read_file(i.path(), max_bytes)).collect();
            for (input, bytes) in batch.iter().zip(read) {
                c.add(input.path().to_path_buf(), &bytes?);
            }
        }
        Ok(c)
    }
}

/// Explains `result`, the baseline `baseline` just printed of `inputs` (`docs`: the documents it
/// read one by one, empty when it streamed them).
pub fn explain(
    map: &CpuMap,
    common: &Common,
    (inputs, docs): (&[Input], &[Loaded]),
    result: &CpuDef,
    opts: &BaselineOpts,
) -> CliResult<Explained> {
    let contents = Contents::read(inputs, docs, common.max_input_bytes)?;
    let (version, lim) = (map.version(), limits(common));
    let parsed: Vec<Result<CpuDocument, _>> =
        contents.bytes.par_iter().map(|b| read_cpu_document(b, TypeHint::Host, version, lim)).collect();
    let mut docs_of: Vec<CpuDocument> = Vec::with_capacity(parsed.len());
    for (i, d) in parsed.into_iter().enumerate() {
        docs_of.push(d.map_err(|e| CliError::file(&contents.first[i], e))?);
    }
    // Each content's CPUs as distinct baseline inputs (first-occurrence order) and positions.
    let mut distinct: Vec<DistinctInput> = Vec::new();
    let mut index: HashMap<BaselineInput, usize> = HashMap::new();
    let mut which: Vec<Vec<(usize, Pos)>> = Vec::with_capacity(docs_of.len());
    for (c, doc) in docs_of.iter().enumerate() {
        let path = contents.first[c].as_path();
        let mut of_content = Vec::with_capacity(doc.cpus.len());
        for (i, cpu) in doc.cpus.iter().enumerate() {
            if Arch::of_cpu(map, cpu).ok() != Some(Arch::X86) {
                return Err(CliError::file(path, "--explain explains x86 baselines only"));
            }
            let input = BaselineInput::from_cpu(&map.x86, cpu, i).map_err(|e| CliError::file(path, e))?;
            let d = *index.entry(input.clone()).or_insert_with(|| {
                distinct.push(DistinctInput { input, count: 0 });
                distinct.len() - 1
            });
            of_content.push((d, Pos::locate(&contents.bytes[c], doc.spans.get(i).map_or(0, |s| s.offset))));
        }
        which.push(of_content);
    }
    let mut names: Vec<Vec<String>> = vec![Vec::new(); distinct.len()];
    for (path, c) in &contents.inputs {
        for (i, &(d, pos)) in which[*c].iter().enumerate() {
            distinct[d].count += 1;
            names[d].push(cpu_label(path, i, pos));
        }
    }
    let ex = rule::explain(&map.x86, &distinct, opts.migratable).map_err(|e| CliError::new(e.to_string()))?;
    let mut without = Vec::with_capacity(ex.limits.len());
    for l in &ex.limits {
        let mut cpu = l.without.clone();
        if opts.features {
            ops::expand_features(map, Arch::X86, &mut cpu).map_err(|e| CliError::new(e.to_string()))?;
        }
        without.push(cpu);
    }
    Ok(Explained { result: result.clone(), ex, names, without })
}

/// `MODEL + N features` (required ones), `, M disabled` when some are disabled.
fn summary(cpu: &CpuDef) -> String {
    let model = cpu.model.as_deref().unwrap_or("(no model)");
    let n = |p: Policy| cpu.features.iter().filter(|f| f.policy == Some(p)).count();
    let (req, off) = (n(Policy::Require), n(Policy::Disable) + n(Policy::Forbid));
    let mut s = format!("{model} + {req} feature{}", plural(req));
    if off > 0 {
        let _ = write!(s, ", {off} disabled");
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn names<'a>(map: &'a CpuMap, s: &FeatureSet) -> Vec<&'a str> {
    s.iter().map(|id| map.x86.feature_name(id)).collect()
}

impl Explained {
    /// The text after the baseline's XML.
    pub fn text(&self, map: &CpuMap) -> String {
        let mut o = String::new();
        let cpus: usize = self.names.iter().map(Vec::len).sum();
        let _ = writeln!(
            o,
            "explanation: {cpus} input CPU{} ({} distinct); the baseline {} provides {} features",
            plural(cpus),
            self.names.len(),
            summary(&self.result),
            self.ex.provides.count()
        );
        if self.ex.limits.is_empty() {
            o.push_str("no input CPU limits the baseline: removing any of them leaves it as it is\n");
        } else {
            o.push_str("limited by:\n");
        }
        for (l, without) in self.ex.limits.iter().zip(&self.without) {
            let (it, force) = if l.cpus == 1 { ("it", "forces") } else { ("them", "force") };
            let _ = writeln!(
                o,
                "  {} host{} {force} {}; without {it}: {}",
                l.cpus,
                plural(l.cpus),
                summary(&self.result),
                summary(without)
            );
            let gained = names(map, &l.gained);
            let _ = writeln!(o, "    gained ({}): {}", gained.len(), gained.join(" "));
            if !l.lost.is_empty() {
                let lost = names(map, &l.lost);
                let _ = writeln!(o, "    lost ({}): {}", lost.len(), lost.join(" "));
            }
            for label in l.inputs.iter().flat_map(|&i| &self.names[i]) {
                let _ = writeln!(o, "    {label}");
            }
        }
        o.push_str("lost under the baseline, per input CPU:\n");
        for (lost, labels) in self.ex.lost.iter().zip(&self.names) {
            let lost = names(map, lost);
            match lost.len() {
                0 => o.push_str("  nothing:\n"),
                n => {
                    let _ = writeln!(o, "  {n} feature{}: {}", plural(n), lost.join(" "));
                }
            }
            for label in labels {
                let _ = writeln!(o, "    {label}");
            }
        }
        o
    }

    /// The `explain` object of `baseline --format json --explain`.
    pub fn json(&self, map: &CpuMap) -> Value {
        let limits: Vec<Value> = self
            .ex
            .limits
            .iter()
            .zip(&self.without)
            .map(|(l, without)| {
                let hosts: Vec<&String> = l.inputs.iter().flat_map(|&i| &self.names[i]).collect();
                let mut w = json::cpu(without);
                w["abi_level"] = json::abi(map, without);
                json!({
                    "cpus": l.cpus,
                    "hosts": hosts,
                    "without": w,
                    "gained": names(map, &l.gained),
                    "lost": names(map, &l.lost),
                })
            })
            .collect();
        let lost: Vec<Value> = self
            .ex
            .lost
            .iter()
            .zip(&self.names)
            .map(|(lost, labels)| json!({ "features": names(map, lost), "hosts": labels }))
            .collect();
        json!({
            "cpus": self.names.iter().map(Vec::len).sum::<usize>(),
            "distinct": self.names.len(),
            "provides": names(map, &self.ex.provides),
            "limits": limits,
            "lost": lost,
        })
    }
}
