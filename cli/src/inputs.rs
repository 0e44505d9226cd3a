//! The CPU documents a command reads: every argument gathered ([`cpufleet_io::gather_inputs`]:
//! files, directories, `-`), read with the bounded reads of cpufleet-io, parsed once; and the
//! errors about them, located in the file they come from.

use crate::args::{limits, Common};
use crate::error::{CliError, CliResult};
use cpufleet_engine::closest;
use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::ops::Arch;
use cpufleet_engine::xml::{self, CpuDocument, DocKind, TypeHint};
use cpufleet_engine::{CpuDef, CpuError, CpuMap, CpuType, Pos, XmlErrorKind};
use cpufleet_io::{gather_inputs, read_input, Input};
use std::path::{Path, PathBuf};

/// One input read and parsed.
pub struct Loaded {
    pub input: Input,
    pub bytes: Vec<u8>,
    pub doc: CpuDocument,
}

/// A CPU of an input: which input, which CPU of it (0-based).
#[derive(Clone, Copy)]
pub struct CpuRef<'a> {
    pub loaded: &'a Loaded,
    pub index: usize,
}

impl<'a> CpuRef<'a> {
    pub fn cpu(&self) -> &'a CpuDef {
        &self.loaded.doc.cpus[self.index]
    }
    pub fn path(&self) -> &'a Path {
        self.loaded.input.path()
    }
    /// Where the CPU's element starts in its input.
    pub fn pos(&self) -> Pos {
        let offset = self.loaded.doc.spans.get(self.index).map_or(0, |s| s.offset);
        Pos::locate(&self.loaded.bytes, offset)
    }
    /// `FILE#N (LINE:COL)`: the CPU named by input, 1-based position and place.
    pub fn label(&self) -> String {
        cpu_label(self.path(), self.index, self.pos())
    }
}

/// `FILE#N (LINE:COL)` for the CPU at 0-based `index` of `path`, whose element starts at `pos`
/// (the one spelling of a CPU's name, for CPUs read without a [`Loaded`] of their own).
pub fn cpu_label(path: &Path, index: usize, pos: Pos) -> String {
    format!("{}#{} ({})", path.display(), index + 1, pos)
}

impl Loaded {
    pub fn cpu_refs(&self) -> impl Iterator<Item = CpuRef<'_>> {
        (0..self.doc.cpus.len()).map(move |index| CpuRef { loaded: self, index })
    }
}

/// Reads one input as a CPU document with the parser of the map's libvirt version.
pub fn load(input: Input, common: &Common, map: &CpuMap, hint: TypeHint) -> CliResult<Loaded> {
    let bytes = read_input(&input, common.max_input_bytes)?;
    parse(input, bytes, common, map, hint)
}

/// Parses the bytes of an input already read as a CPU document.
pub fn parse(input: Input, bytes: Vec<u8>, common: &Common, map: &CpuMap, hint: TypeHint) -> CliResult<Loaded> {
    let doc = xml::read_cpu_document(&bytes, hint, map.version(), limits(common))
        .map_err(|e| CliError::file(input.path(), e))?;
    Ok(Loaded { input, bytes, doc })
}

/// Gathers the arguments and reads every input (in order).
pub fn load_all(args: &[PathBuf], common: &Common, map: &CpuMap, hint: TypeHint) -> CliResult<Vec<Loaded>> {
    gather_inputs(args)?.into_iter().map(|i| load(i, common, map, hint)).collect()
}

/// Gathers the arguments of `CMD A… B`: the inputs of every argument but the last, and the
/// last argument's single input.
pub fn split_last(args: &[PathBuf], what: &str) -> CliResult<(Vec<Input>, Input)> {
    let (last, rest) = args.split_last().ok_or_else(|| CliError::new(format!("missing {what}")))?;
    if rest.is_empty() {
        return Err(CliError::new(format!("give the host document(s) before the {what}")));
    }
    let mut last = gather_inputs(std::slice::from_ref(last))?;
    if last.len() != 1 {
        return Err(CliError::file(args.last().expect("non-empty"), format!("expected one file for the {what}")));
    }
    Ok((gather_inputs(rest)?, last.remove(0)))
}

/// The first CPU of an input (commands that take one CPU there).
pub fn first_cpu(l: &Loaded) -> CliResult<CpuRef<'_>> {
    l.cpu_refs().next().ok_or_else(|| CliError::file(l.input.path(), "no CPU definition found"))
}

/// An error of a CPU operation on `cpus` as the user should see it: an unknown model or feature
/// name is located at its element, with the closest known name; anything else keeps its words.
pub fn op_error(map: &CpuMap, cpus: &[CpuRef], e: &CpuError, default_path: &Path) -> CliError {
    let name = match e {
        CpuError::UnknownModel(n) | CpuError::UnknownFeature(n) => Some(n.as_str()),
        _ => None,
    };
    name.and_then(|n| unknown_name(map, cpus, Some(n))).unwrap_or_else(|| CliError::file(default_path, e))
}

/// The first model or feature name of `cpus` the map does not know (`only`: that name), as a
/// located error with a suggestion; None when every name is known.
pub fn unknown_name(map: &CpuMap, cpus: &[CpuRef], only: Option<&str>) -> Option<CliError> {
    for r in cpus {
        let cpu = r.cpu();
        let ppc = matches!(Arch::of_cpu(map, cpu), Ok(Arch::Ppc64));
        let models: Vec<&str> = if ppc {
            map.ppc64.models.iter().map(|m| m.name.as_str()).collect()
        } else {
            map.x86.models.iter().map(|m| m.name.as_str()).collect()
        };
        let wanted = |n: &str| only.is_none_or(|o| o == n);
        let known = |m: &str| if ppc { map.ppc64.model(m).is_some() } else { map.x86.model(m).is_some() };
        if let Some(m) = cpu.model.as_deref().filter(|m| wanted(m) && !known(m)) {
            return Some(name_error(r, "CPU model", m, closest(m, models.iter().copied())));
        }
        if ppc {
            continue;
        }
        if let Some(f) = cpu.features.iter().find(|f| wanted(&f.name) && map.x86.feature_id(&f.name).is_none()) {
            let known = map.x86.features.iter().map(|f| f.name.as_str());
            return Some(name_error(r, "CPU feature", &f.name, closest(&f.name, known)));
        }
    }
    None
}

fn name_error(r: &CpuRef, what: &str, name: &str, suggestion: Option<&str>) -> CliError {
    let span = &r.loaded.doc.spans[r.index];
    let offset = span.of_name(r.cpu(), name).unwrap_or(span.offset);
    let pos = Pos::locate(&r.loaded.bytes, offset);
    let hint = suggestion.map(|s| format!("; did you mean {s}?")).unwrap_or_default();
    CliError::file(r.path(), format!("{pos}: unknown {what} '{name}'{hint}"))
}

/// Why `baseline` cannot read a document as host CPUs, when the reason is that it holds guest
/// CPUs or a domain: read as written, the document says so. None otherwise.
pub fn guest_for_baseline(path: &Path, bytes: &[u8], map: &CpuMap, common: &Common) -> Option<CliError> {
    let doc = xml::read_cpu_document(bytes, TypeHint::Auto, map.version(), limits(common)).ok()?;
    let guest = doc.cpus.iter().position(|c| c.cpu_type == CpuType::Guest)?;
    let what = if doc.kinds.contains(&DocKind::Domain) { "a domain's guest CPU" } else { "a guest CPU" };
    let pos = Pos::locate(bytes, doc.spans[guest].offset);
    Some(CliError::file(
        path,
        format!(
            "{pos}: this is {what}, and baseline needs host CPUs (the `virsh capabilities` of each host, or \
             host <cpu> elements with <arch>); to see what this guest CPU becomes on a host run \
             `cpufleet update HOST GUEST`, to check that a host can run it `cpufleet compare HOST GUEST`"
        ),
    ))
}

/// virsh's error lines for a document it cannot even wrap (`virshExtractCPUDefXMLs` puts the
/// file inside `<container>` after dropping an XML declaration only when the file starts with
/// one): a declaration after a UTF-8 byte-order mark or blanks is then not at the start, and
/// libxml2 refuses it. 9.0.0's virsh names the file, 11.3.0 and later say "at line N"; both
/// show libxml2's context line and caret. None for a document virsh can wrap.
pub fn virsh_wrap_error(map: &CpuMap, path: &Path, bytes: &[u8]) -> Option<Vec<String>> {
    if bytes.starts_with(b"<?xml") {
        return None;
    }
    let body = bytes.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(bytes);
    let lead = bytes.len() - body.len() + body.iter().take_while(|b| b" \t\r\n".contains(b)).count();
    let rest = &bytes[lead..];
    if !(rest.starts_with(b"<?xml") && rest.get(5).is_some_and(|b| b" \t\r\n".contains(b))) {
        return None;
    }
    let container: Vec<u8> = [b"<container>".as_slice(), bytes].concat();
    let at = "<container>".len() + lead + "<?xml".len();
    let line_no = container[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = container[..at].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1).max(at.saturating_sub(80));
    let line_end = container[at..].iter().position(|&b| b == b'\n').map_or(container.len(), |p| at + p);
    let what = "XML declaration allowed only at the start of the document";
    let first = if map.version().at_least_11_3() {
        format!("error: at line {line_no}: {what}")
    } else {
        format!("error: {}:{line_no}: {what}", path.display())
    };
    let context = String::from_utf8_lossy(&container[line_start..line_end]).into_owned();
    Some(vec![first, context, format!("{}^", "-".repeat(at - line_start))])
}

/// Reads the CPU input of `compare` and the hypervisor commands as virsh sends it to libvirt:
/// every CPU typed by its own `<arch>` ([`TypeHint::AsSent`]); refused where virsh cannot wrap it
/// ([`virsh_wrap_error`]) or finds no CPU in it (a namespaced `<cpu>` included). The refusal is
/// the located `cpufleet:` line of every bad input; with `virsh_lines` (the hypervisor commands,
/// whose errors are virsh's) virsh's own lines come first on stderr, and its newline on stdout.
pub fn load_as_sent(input: Input, common: &Common, map: &CpuMap, virsh_lines: bool) -> CliResult<Loaded> {
    let bytes = read_input(&input, common.max_input_bytes)?;
    let refuse = |lines: &[String], why: String| {
        if virsh_lines {
            let _ = cpufleet_io::print_stdout("\n");
            for l in lines {
                eprintln!("{l}");
            }
        }
        CliError::file(input.path(), why)
    };
    if let Some(lines) = virsh_wrap_error(map, input.path(), &bytes) {
        let at = bytes.windows(5).position(|w| w == b"<?xml").unwrap_or(0);
        let why = format!(
            "{}: XML declaration allowed only at the start of the document (virsh drops a declaration only at byte 0, so after a byte-order mark or blanks libxml2 refuses it)",
            Pos::locate(&bytes, at)
        );
        return Err(refuse(&lines, why));
    }
    match xml::read_cpu_document(&bytes, TypeHint::AsSent, map.version(), limits(common)) {
        Ok(doc) => Ok(Loaded { input, bytes, doc }),
        Err(e)
            if matches!(
                e.kind,
                cpufleet_engine::XmlErrorKind::UnexpectedRoot { .. } | cpufleet_engine::XmlErrorKind::MissingElement(_)
            ) =>
        {
            let line = format!(
                "error: File '{}' does not contain any <cpu> element or valid domain XML, host capabilities XML, or domain capabilities XML",
                input.path().display()
            );
            Err(refuse(&[line], e.to_string()))
        }
        Err(e) => Err(CliError::file(input.path(), e)),
    }
}

/// Reads a guest: a domain XML (its `<cpu>`, or QEMU's default CPU without one, and the domain
/// settings that reach `-cpu` and the start checks) or any other CPU document (its first CPU,
/// in a domain with nothing else). Returns the input as loaded, the guest CPU and the settings.
pub fn load_guest(input: Input, common: &Common, map: &CpuMap) -> CliResult<(Loaded, CpuDef, DomainFeatures)> {
    let bytes = read_input(&input, common.max_input_bytes)?;
    parse_guest(input, bytes, common, map)
}

/// [`load_guest`] of bytes already read.
pub fn parse_guest(
    input: Input,
    bytes: Vec<u8>,
    common: &Common,
    map: &CpuMap,
) -> CliResult<(Loaded, CpuDef, DomainFeatures)> {
    let (doc, features) = match xml::read_domain(&bytes, map.version(), limits(common)) {
        Ok(d) => {
            let (cpus, spans) = match (d.domain.cpu, d.cpu_span) {
                (Some(cpu), Some(span)) => (vec![cpu], vec![span]),
                _ => (vec![], vec![]),
            };
            (CpuDocument { kinds: vec![DocKind::Domain], cpus, spans, models: None, domcaps: None }, d.domain.features)
        }
        Err(e) if matches!(e.kind, XmlErrorKind::UnexpectedRoot { .. }) => {
            let doc = xml::read_cpu_document(&bytes, TypeHint::Guest, map.version(), limits(common))
                .map_err(|e| CliError::file(input.path(), e))?;
            (doc, DomainFeatures::default())
        }
        Err(e) => return Err(CliError::file(input.path(), e)),
    };
    let loaded = Loaded { input, bytes, doc };
    let guest = loaded.doc.cpus.first().cloned().unwrap_or_else(|| CpuDef::new(CpuType::Guest));
    Ok((loaded, guest, features))
}
