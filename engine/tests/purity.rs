//! The engine is pure: no I/O, no clock, no threads, no randomness, no global state and no
//! `unsafe` (ARCHITECTURE.md, "Invariants"). This test reads the engine's sources and refuses
//! the items that would break that, so a slip fails here and not in review. `unsafe` is also
//! refused by the compiler (`#![forbid(unsafe_code)]` in lib.rs, checked here too).

use std::path::{Path, PathBuf};

/// What the engine's code must not name, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("std::fs", "file I/O"),
    ("std::io::", "I/O"),
    ("std::net", "network I/O"),
    ("std::process", "processes"),
    ("std::env", "the environment"),
    ("std::time", "the clock"),
    ("Instant::", "the clock"),
    ("SystemTime", "the clock"),
    ("std::thread", "threads"),
    ("rayon", "threads"),
    ("thread_local!", "global state"),
    ("static mut", "global state"),
    ("OnceLock", "global state"),
    ("LazyLock", "global state"),
    ("lazy_static", "global state"),
    ("Mutex", "global state"),
    ("AtomicU", "global state"),
    ("AtomicBool", "global state"),
    ("Cell<", "interior mutability (the CPU map never changes after load)"),
    ("RefCell", "interior mutability (the CPU map never changes after load)"),
    ("UnsafeCell", "interior mutability (the CPU map never changes after load)"),
    ("unsafe ", "unsafe code"),
    ("unsafe{", "unsafe code"),
    ("RandomState", "randomness (per-process hash seeds)"),
    ("rand::", "randomness"),
    ("getrandom", "randomness"),
    ("println!", "output"),
    ("eprintln!", "output"),
    ("print!", "output"),
    ("dbg!", "output"),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line: what comes before a `//` comment (string literals holding `//` are rare
/// in the engine and would only make the check stricter).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

#[test]
fn engine_sources_name_no_io_clock_threads_randomness_or_global_state() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    assert!(files.len() > 10, "engine sources not found under {}", src.display());
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests may use what they like: stop at the first `#[cfg(test)]`.
        let body = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in body.lines().enumerate() {
            for (item, why) in FORBIDDEN {
                if code(line).contains(item) {
                    found.push(format!("{}:{}: `{item}` ({why}): {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "the engine must stay pure:\n{}", found.join("\n"));
}

#[test]
fn engine_forbids_unsafe_code() {
    let lib = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    assert!(lib.contains("#![forbid(unsafe_code)]"), "engine/src/lib.rs must keep #![forbid(unsafe_code)]");
}

#[test]
fn the_check_catches_what_it_names() {
    // The scan itself must be able to fail: a line naming a forbidden item is caught.
    let line = "    let t = std::time::Instant::now(); // a clock";
    assert!(FORBIDDEN.iter().any(|(item, _)| code(line).contains(item)));
    assert!(!FORBIDDEN.iter().any(|(item, _)| code("// std::fs in a comment only").contains(item)));
}

/// Versions are data (ARCHITECTURE.md, "Invariants"): each libvirt version's rules sit beside the
/// other's in one module, selected by the `LibvirtVersion` value the map carries, never in a
/// module copied per version. A file or folder named for a version (`v9`, `libvirt_11_3`,
/// `x86_9_0.rs`) would be such a copy.
#[test]
fn no_engine_module_is_a_copy_per_libvirt_version() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let versioned = |p: &Path| {
        let rel = p.strip_prefix(&src).unwrap().to_string_lossy().to_lowercase();
        ["9_0", "11_3", "v9", "v11", "9.0", "11.3"].iter().any(|v| rel.contains(v))
    };
    let copies: Vec<String> = files.iter().filter(|p| versioned(p)).map(|p| p.display().to_string()).collect();
    assert!(copies.is_empty(), "per-version module copies: {copies:?}");
    assert!(versioned(&src.join("x86_11_3/compare.rs")), "the check catches a versioned path");
    // And the version is a value the rules read: the map carries it.
    let map = std::fs::read_to_string(src.join("map/mod.rs")).unwrap();
    assert!(map.contains("pub fn version(&self) -> LibvirtVersion"), "CpuMap::version() must exist");
}
