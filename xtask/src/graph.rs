//! `cargo xtask graph`: small rooms, no circles (issue 23.6). For every crate of the workspace,
//! the file-level import graph of its library or binary sources (`src/`): file A uses file B when
//! A names a path into B's module (`crate::b::…`, `super::b::…`, `self::b::…`, a `use` of them,
//! or `b::…` for a child module `b` of A; of a group `crate::{b, c::D}` each item, not the
//! group's base). `pub use` re-exports (a facade, also wrapped over several lines) and the `mod`
//! lines are not uses; a file's `#[cfg(test)]` module (from that line on) is test code and not read.
//! A macro expansion's uses, which no path shows, are declared in the file that expands it:
//! `// graph-uses: PATTERN` (a path under `src/`, `*` for one component; it must match a file).
//! Fails on a circle (it prints each one with the uses inside it) and on a non-test source file
//! over [`MAX_LINES`] lines. There is no allow-list: every crate is held to both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a non-test source file may be.
pub const MAX_LINES: usize = 700;

/// The graph of one crate: module path → file, and the edges between files.
struct Crate {
    files: BTreeMap<Vec<String>, PathBuf>,
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

/// The check over every member crate; `Err` lists the circles and the long files.
pub fn check(root: &Path, members: &[PathBuf]) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut files = 0;
    for member in members {
        let src = member.join("src");
        if !src.is_dir() {
            continue;
        }
        let krate = read_crate(&src)?;
        files += krate.files.len();
        for path in krate.files.values() {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let lines = code_part(&text).lines().count();
            let rel = path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/");
            if lines > MAX_LINES {
                problems.push(format!("{rel}: {lines} lines of non-test code (at most {MAX_LINES})"));
            }
        }
        for circle in circles(&krate.edges) {
            let names: Vec<String> =
                circle.iter().map(|p| p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/")).collect();
            // The uses inside the circle, so that whoever breaks it sees which lines to move.
            let inside: Vec<String> = circle
                .iter()
                .flat_map(|from| krate.edges[from].iter().filter(|to| circle.contains(to)).map(move |to| (from, to)))
                .map(|(from, to)| {
                    let short = |p: &PathBuf| p.strip_prefix(&src).unwrap_or(p).to_string_lossy().replace('\\', "/");
                    format!("{} -> {}", short(from), short(to))
                })
                .collect();
            problems.push(format!("import circle among: {} (uses: {})", names.join(", "), inside.join(", ")));
        }
    }
    if problems.is_empty() {
        println!("graph: {files} files of {} crates: no import circle, none over {MAX_LINES} lines", members.len());
        Ok(())
    } else {
        Err(format!("{} problem(s):\n  {}", problems.len(), problems.join("\n  ")))
    }
}

/// The text before the file's `#[cfg(test)]` module, if any.
fn code_part(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "#[cfg(test)]" && text[offset + line.len()..].trim_start().starts_with("mod ") {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

/// Every `.rs` file under `src/`, by module path, and the edges between them.
fn read_crate(src: &Path) -> Result<Crate, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).expect("under src");
                let mut module: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
                let last = module.pop().expect("a file name");
                let stem = last.trim_end_matches(".rs");
                if !(stem == "mod" || (module.is_empty() && (stem == "lib" || stem == "main"))) {
                    module.push(stem.to_string());
                }
                // A binary's main.rs and a library's lib.rs are both the root; keep the first.
                files.entry(module).or_insert(path);
            }
        }
    }
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let used = edges.entry(path.clone()).or_default();
        for target in uses(code_part(&text), module, &files) {
            if &target != module {
                used.insert(files[&target].clone());
            }
        }
        for pattern in declared_uses(code_part(&text)) {
            let matched: Vec<&PathBuf> = files.values().filter(|f| matches_pattern(src, f, pattern)).collect();
            if matched.is_empty() {
                return Err(format!("{}: `// graph-uses: {pattern}` matches no file", path.display()));
            }
            used.extend(matched.into_iter().filter(|f| *f != path).cloned());
        }
    }
    Ok(Crate { files, edges })
}

/// The patterns of a file's `// graph-uses: PATTERN` lines: the uses a macro expansion makes,
/// which the paths of the text do not show (a registry built by a callback macro). A pattern is
/// a path under `src/` whose `*` stands for one path component.
fn declared_uses(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("// graph-uses: "))
        .filter_map(|rest| rest.split_whitespace().next())
}

/// Whether `file` (under `src`) is one of `pattern`'s files.
fn matches_pattern(src: &Path, file: &Path, pattern: &str) -> bool {
    let Ok(rel) = file.strip_prefix(src) else { return false };
    let parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    let want: Vec<&str> = pattern.split('/').collect();
    parts.len() == want.len() && parts.iter().zip(&want).all(|(p, w)| *w == "*" || p == w)
}

/// The modules (keys of `files`) a file of module `module` names in paths.
fn uses(text: &str, module: &[String], files: &BTreeMap<Vec<String>, PathBuf>) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    // Inside a re-export that rustfmt wrapped over several lines (`pub use a::{\n  B,\n};`).
    let mut in_reexport = false;
    for line in text.lines() {
        let line = line.trim_start();
        if in_reexport {
            in_reexport = !line.contains(';');
            continue;
        }
        if line.starts_with("//") {
            continue;
        }
        if line.starts_with("pub use ") || line.starts_with("pub(crate) use ") {
            in_reexport = !line.contains(';');
            continue;
        }
        let line = &without_strings(line);
        let bytes = line.as_bytes();
        for (i, _) in line.match_indices("::") {
            // The path this `::` is in: identifiers and `::` back to its start (every `::` of a
            // path finds the same start).
            let mut start = i;
            while start > 0 {
                let b = bytes[start - 1];
                if b.is_ascii_alphanumeric() || b == b'_' || b == b':' {
                    start -= 1;
                } else {
                    break;
                }
            }
            let path = segments(&line[start..]);
            // `crate::{` alone names no module: the group's items below say which it uses.
            if matches!(path[..], ["crate" | "super" | "self"]) && line[i + 2..].starts_with('{') {
                continue;
            }
            if let Some(target) = resolve(&path, module, files) {
                out.insert(target);
            }
        }
        // `use crate::{a, b::C}` and `use super::{a, b}`: each item of the group.
        for prefix in ["crate::{", "super::{", "self::{"] {
            if let Some(at) = line.find(prefix) {
                let base = &line[at..at + prefix.len() - 3];
                let group = &line[at + prefix.len()..];
                for item in group.split([',', '}']).map(str::trim).filter(|s| !s.is_empty()) {
                    // An item names something after the base (not the `;` after the group).
                    let joined = format!("{base}::{item}");
                    let path = segments(&joined);
                    if path.len() < 2 {
                        continue;
                    }
                    if let Some(target) = resolve(&path, module, files) {
                        out.insert(target);
                    }
                }
            }
        }
    }
    out
}

/// The line with the insides of its string literals blanked (a path in a string is not a use).
fn without_strings(line: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::with_capacity(line.len()), false, false);
    for c in line.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            out.push(if in_string { ' ' } else { c });
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// The module a path names: `crate::`, `super::`, `self::` or a child module of `module`, to the
/// longest prefix that is a module with a file.
fn resolve(segments: &[&str], module: &[String], files: &BTreeMap<Vec<String>, PathBuf>) -> Option<Vec<String>> {
    let (mut base, mut rest): (Vec<String>, &[&str]) = match segments.first()? {
        &"crate" => (Vec::new(), &segments[1..]),
        &"self" => (module.to_vec(), &segments[1..]),
        &"super" => {
            let mut base = module.to_vec();
            let mut rest = segments;
            while rest.first() == Some(&"super") {
                base.pop()?;
                rest = &rest[1..];
            }
            (base, rest)
        }
        first => {
            let mut child = module.to_vec();
            child.push(first.to_string());
            if !files.contains_key(&child) {
                return None;
            }
            (module.to_vec(), segments)
        }
    };
    let mut best = files.contains_key(&base).then(|| base.clone());
    while let Some((head, tail)) = rest.split_first() {
        base.push(head.to_string());
        rest = tail;
        if files.contains_key(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

/// Every circle of the graph, once each (its strongly connected components of two or more
/// files, and files that use themselves are already excluded), as one cycle through it.
fn circles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        components: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.components.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.components
}

/// The leading path segments of `path` (`crate::a::B::f(x)` → `crate`, `a`, `B`, `f`): each
/// segment's identifier, up to the first that is not one.
fn segments(path: &str) -> Vec<&str> {
    path.split("::")
        .map(|s| s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or(""))
        .take_while(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crate of modules `a`, `b` and the root, as `uses` sees it.
    fn files() -> BTreeMap<Vec<String>, PathBuf> {
        [(vec![], "lib.rs"), (vec!["a".to_string()], "a.rs"), (vec!["b".to_string()], "b.rs")]
            .into_iter()
            .map(|(m, f)| (m, PathBuf::from(f)))
            .collect()
    }

    fn used(text: &str, module: &[&str]) -> Vec<Vec<String>> {
        let module: Vec<String> = module.iter().map(|s| s.to_string()).collect();
        uses(text, &module, &files()).into_iter().collect()
    }

    #[test]
    fn a_group_uses_its_items_not_its_base() {
        let m = |s: &str| vec![s.to_string()];
        // `crate::{a, b}` names a and b, not the root.
        assert_eq!(used("use crate::{a, b};", &["a"]), vec![m("a"), m("b")]);
        // An item the root defines is a use of the root.
        assert_eq!(used("use crate::{b::X, Root};", &["a"]), vec![vec![], m("b")]);
        // A plain path into a module.
        assert_eq!(used("let x = crate::b::f();", &["a"]), vec![m("b")]);
        assert_eq!(used("use super::b::X;", &["a"]), vec![m("b")]);
    }

    #[test]
    fn declared_uses_name_the_files_a_macro_expansion_uses() {
        let text = "//! A registry.\n// graph-uses: scenarios/*/entry.rs (each entry)\nuse x::Y;\n";
        assert_eq!(declared_uses(text).collect::<Vec<_>>(), ["scenarios/*/entry.rs"]);
        let src = Path::new("/c/src");
        assert!(matches_pattern(src, Path::new("/c/src/scenarios/pools/entry.rs"), "scenarios/*/entry.rs"));
        assert!(!matches_pattern(src, Path::new("/c/src/scenarios/entry.rs"), "scenarios/*/entry.rs"));
        assert!(!matches_pattern(src, Path::new("/c/src/scenarios/pools/mod.rs"), "scenarios/*/entry.rs"));
    }

    /// A circle through a declared use is found: the registry uses an entry (declared), the
    /// entry uses the registry (a path).
    #[test]
    fn a_circle_through_a_declared_use_is_a_circle() {
        let dir = std::env::temp_dir().join(format!("xtask-graph-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("s/a")).unwrap();
        std::fs::write(src.join("lib.rs"), "mod registry;\nmod s;\n").unwrap();
        std::fs::write(src.join("registry.rs"), "// graph-uses: s/*/entry.rs\n").unwrap();
        std::fs::write(src.join("s/mod.rs"), "mod a;\n").unwrap();
        std::fs::write(src.join("s/a/mod.rs"), "mod entry;\n").unwrap();
        std::fs::write(src.join("s/a/entry.rs"), "use crate::registry::X;\n").unwrap();
        let krate = read_crate(&src).unwrap();
        let found = circles(&krate.edges);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn re_exports_are_not_uses_even_when_wrapped() {
        assert!(used("pub use a::X;", &[]).is_empty());
        assert!(used("pub use a::{\n    X,\n    Y,\n};", &[]).is_empty());
        // The line after a wrapped re-export is read again.
        assert_eq!(used("pub use a::{\n    X,\n};\nuse b::Y;", &[]), vec![vec!["b".to_string()]]);
        // A comment is not a use, and does not start a re-export.
        assert_eq!(used("// see a::X\nuse b::Y;", &[]), vec![vec!["b".to_string()]]);
    }
}
