//! `cargo xtask deps`: every dependency a package declares is used by its sources.
//!
//! For each package of the main workspace and of `fuzz/`, reads its `Cargo.toml`
//! (`[dependencies]`, `[dev-dependencies]`, `[build-dependencies]` and their `[target.*]`
//! forms) and looks for the dependency's crate name (`-` written `_`) followed by `::`, or after
//! `use` / `extern crate`, in the package's Rust sources: `src/`, `tests/`, `benches/`,
//! `examples/`, `build.rs` and any other folder of the package (nested packages and `target/`
//! excluded). Line comments are not sources: a crate named only in a comment is unused.
//! A dependency found nowhere is reported with its manifest and section; any report fails.

use std::path::{Path, PathBuf};

/// One declared dependency: its key in the manifest, the section it is in.
struct Declared {
    key: String,
    section: String,
}

/// The check over every package of both workspaces; `Err` lists each unused dependency.
pub fn check(root: &Path) -> Result<(), String> {
    let mut packages = workspace_members(root)?;
    packages.push(root.join("fuzz"));
    let mut unused = Vec::new();
    let mut checked = 0usize;
    for package in &packages {
        let manifest_path = package.join("Cargo.toml");
        let declared = declared(&manifest_path)?;
        let sources = sources(package)?;
        for dep in declared {
            checked += 1;
            let name = dep.key.replace('-', "_");
            if !sources.iter().any(|text| uses(text, &name)) {
                unused.push(format!(
                    "{}: [{}] {} is not used by any source",
                    manifest_path.display(),
                    dep.section,
                    dep.key
                ));
            }
        }
    }
    if unused.is_empty() {
        println!("deps: {checked} dependencies of {} packages, each used", packages.len());
        Ok(())
    } else {
        Err(format!("unused dependencies (remove them, or use them):\n  {}", unused.join("\n  ")))
    }
}

/// The member folders of the root `Cargo.toml`'s `[workspace]`.
pub(crate) fn workspace_members(root: &Path) -> Result<Vec<PathBuf>, String> {
    let manifest = read_toml(&root.join("Cargo.toml"))?;
    let members = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .ok_or_else(|| format!("{}: no [workspace] members", root.join("Cargo.toml").display()))?;
    members
        .iter()
        .map(|m| {
            m.as_str().map(|s| root.join(s)).ok_or_else(|| "Cargo.toml: a workspace member is not a string".to_string())
        })
        .collect()
}

fn read_toml(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.parse::<toml::Table>().map_err(|e| format!("{}: {e}", path.display()))
}

const SECTIONS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];

/// Every dependency the manifest declares, in every section (target-specific ones included).
fn declared(manifest_path: &Path) -> Result<Vec<Declared>, String> {
    let manifest = read_toml(manifest_path)?;
    let mut out = Vec::new();
    let mut collect = |table: &toml::Table, prefix: &str| {
        for section in SECTIONS {
            if let Some(deps) = table.get(section).and_then(|d| d.as_table()) {
                for key in deps.keys() {
                    out.push(Declared { key: key.clone(), section: format!("{prefix}{section}") });
                }
            }
        }
    };
    collect(&manifest, "");
    if let Some(targets) = manifest.get("target").and_then(|t| t.as_table()) {
        for (cfg, table) in targets {
            if let Some(table) = table.as_table() {
                collect(table, &format!("target.{cfg}."));
            }
        }
    }
    Ok(out)
}

/// The text of every `.rs` file under the package folder, line comments removed.
fn sources(package: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut stack = vec![package.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.is_dir() {
                let nested = path != package && path.join("Cargo.toml").exists();
                if !nested && path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                out.push(strip_line_comments(&text));
            }
        }
    }
    Ok(out)
}

/// The text without `//` comments (doc comments included); `//` inside a string literal stays.
fn strip_line_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else if b == b'"' {
                in_string = true;
            } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
                cut = i;
                break;
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether the sources name crate `name` as code: `name::`, `use name`, `extern crate name`.
fn uses(text: &str, name: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find(name).map(|i| i + from) {
        from = at + name.len();
        let before_ok = at == 0 || !is_ident_byte(bytes[at - 1]);
        let after = &text[from..];
        let after_ok = after.as_bytes().first().is_none_or(|&b| !is_ident_byte(b));
        if !before_ok || !after_ok {
            continue;
        }
        let preceded = text[..at].trim_end();
        if after.starts_with("::") || preceded.ends_with("use") || preceded.ends_with("extern crate") {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{strip_line_comments, uses};

    #[test]
    fn a_path_or_use_counts_and_a_comment_or_longer_name_does_not() {
        assert!(uses("use rayon::prelude::*;", "rayon"));
        assert!(uses("fn f() { rayon::scope(|_| {}); }", "rayon"));
        assert!(uses("use serde;", "serde"));
        assert!(uses("extern crate proptest;", "proptest"));
        assert!(uses("#[derive(serde::Serialize)]", "serde"));
        assert!(!uses("use serde_json::Value;", "serde"));
        assert!(!uses("let rayon = 1;", "rayon"));
        assert!(!uses(&strip_line_comments("// rayon::scope\n/// use serde;\n"), "rayon"));
        assert!(!uses(&strip_line_comments("let x = 1; // uses rayon::join\n"), "rayon"));
        assert!(uses(&strip_line_comments("let s = \"http://x\"; rayon::join(a, b);\n"), "rayon"));
    }
}
