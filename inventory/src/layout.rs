//! The inventory's folders, listed and sorted: which files are hosts, which are guests, and
//! what is passed over (with the reason, for the note the command line prints).

use crate::error::{Ignored, IgnoredWhy, InventoryError};
use crate::meta::META_SUFFIX;
use cpufleet_io::io_reason;
use rayon::prelude::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One pool folder: its host files and, per host, its guest files, all sorted by name.
pub(crate) struct PoolDir {
    pub name: String,
    pub path: PathBuf,
    /// (host name, path of `HOST.xml`, path of `HOST.domcaps.xml` when both exist). A
    /// `HOST.domcaps.xml` alone is the host's only file.
    pub hosts: Vec<(String, PathBuf, Option<PathBuf>)>,
    /// Per host (same index as `hosts`): its `HOST.meta.toml`, when there is one.
    pub metas: Vec<Option<PathBuf>>,
    /// (index into `hosts`, path of a `HOST/*.xml` domain), by host then file name.
    pub guests: Vec<(usize, PathBuf)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    /// A file, or anything that is not a directory (a broken link fails when read).
    File,
}

struct Entry {
    name: OsString,
    path: PathBuf,
    kind: Kind,
}

/// The entries of `dir`, sorted by name; symbolic links followed.
fn entries(dir: &Path) -> Result<Vec<Entry>, InventoryError> {
    let dir_err = |e: std::io::Error| InventoryError::Dir { path: dir.to_path_buf(), reason: io_reason(&e) };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(dir_err)? {
        let e = e.map_err(dir_err)?;
        let path = e.path();
        let ft = e.file_type().map_err(dir_err)?;
        let is_dir = if ft.is_symlink() { std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) } else { ft.is_dir() };
        out.push(Entry { name: e.file_name(), path, kind: if is_dir { Kind::Dir } else { Kind::File } });
    }
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `name` without `.xml` when it is a visible `NAME.xml`, else why it is passed over.
fn xml_stem(e: &Entry) -> Result<String, IgnoredWhy> {
    let name = e.name.to_str().ok_or(IgnoredWhy::NotUtf8Name)?;
    if name.starts_with('.') {
        return Err(IgnoredWhy::Hidden);
    }
    match name.strip_suffix(".xml") {
        Some(stem) if !stem.is_empty() && e.kind == Kind::File => Ok(stem.to_string()),
        _ => Err(IgnoredWhy::NotXml),
    }
}

/// The host name of a visible `HOST.meta.toml` file (`cpufleet collect`'s metadata).
fn meta_stem(e: &Entry) -> Option<String> {
    let name = e.name.to_str()?;
    let stem = name.strip_suffix(META_SUFFIX)?;
    (e.kind == Kind::File && !name.starts_with('.') && !stem.is_empty()).then(|| stem.to_string())
}

/// Lists `dir`: its pool folders (sorted by name) and what it passes over.
pub(crate) fn scan(dir: &Path) -> Result<(Vec<PoolDir>, Vec<Ignored>), InventoryError> {
    let meta =
        std::fs::metadata(dir).map_err(|e| InventoryError::Dir { path: dir.to_path_buf(), reason: io_reason(&e) })?;
    if !meta.is_dir() {
        return Err(InventoryError::Dir { path: dir.to_path_buf(), reason: "is not a directory".into() });
    }
    let mut ignored = Vec::new();
    let mut pools = Vec::new();
    for e in entries(dir)? {
        let why = match (e.kind, e.name.to_str()) {
            (Kind::File, _) => IgnoredWhy::TopLevelFile,
            (Kind::Dir, None) => IgnoredWhy::NotUtf8Name,
            (Kind::Dir, Some(n)) if n.starts_with('.') => IgnoredWhy::Hidden,
            (Kind::Dir, Some(n)) => {
                pools.push((n.to_string(), e.path));
                continue;
            }
        };
        ignored.push(Ignored { path: e.path, why });
    }
    if pools.is_empty() {
        return Err(InventoryError::NoPools { path: dir.to_path_buf() });
    }
    let listed: Vec<Result<(PoolDir, Vec<Ignored>), InventoryError>> =
        pools.into_par_iter().map(|(name, path)| scan_pool(name, path)).collect();
    let mut out = Vec::with_capacity(listed.len());
    for r in listed {
        let (pool, mut notes) = r?;
        if pool.hosts.is_empty() {
            return Err(InventoryError::EmptyPool { path: pool.path, skipped: 0, first: None });
        }
        ignored.append(&mut notes);
        out.push(pool);
    }
    Ok((out, ignored))
}

/// One pool folder: `HOST.xml` files, and `HOST/` folders of guest domains.
fn scan_pool(name: String, path: PathBuf) -> Result<(PoolDir, Vec<Ignored>), InventoryError> {
    let mut ignored = Vec::new();
    let mut hosts = Vec::new();
    let mut guest_dirs = Vec::new();
    let mut meta_files = Vec::new();
    for e in entries(&path)? {
        if e.kind == Kind::Dir {
            match e.name.to_str() {
                Some(n) if !n.starts_with('.') => guest_dirs.push((n.to_string(), e.path)),
                Some(_) => ignored.push(Ignored { path: e.path, why: IgnoredWhy::Hidden }),
                None => ignored.push(Ignored { path: e.path, why: IgnoredWhy::NotUtf8Name }),
            }
            continue;
        }
        if let Some(host) = meta_stem(&e) {
            meta_files.push((host, e.path));
            continue;
        }
        match xml_stem(&e) {
            Ok(host) => hosts.push((host, e.path)),
            Err(why) => ignored.push(Ignored { path: e.path, why }),
        }
    }
    let hosts = pair_domcaps(hosts);
    let mut metas = vec![None; hosts.len()];
    for (host, path) in meta_files {
        match hosts.binary_search_by(|(n, ..)| n.as_str().cmp(&host)) {
            Ok(h) => metas[h] = Some(path),
            Err(_) => ignored.push(Ignored { path, why: IgnoredWhy::MetaWithoutHost }),
        }
    }
    let mut guests = Vec::new();
    for (host, dir) in guest_dirs {
        let Ok(h) = hosts.binary_search_by(|(n, ..)| n.as_str().cmp(&host)) else {
            ignored.push(Ignored { path: dir, why: IgnoredWhy::NoHostFile });
            continue;
        };
        for e in entries(&dir)? {
            match (e.kind, xml_stem(&e)) {
                (Kind::File, Ok(_)) => guests.push((h, e.path)),
                (Kind::Dir, _) => ignored.push(Ignored { path: e.path, why: IgnoredWhy::NestedDir }),
                (Kind::File, Err(why)) => ignored.push(Ignored { path: e.path, why }),
            }
        }
    }
    guests.sort_by_key(|g| g.0);
    Ok((PoolDir { name, path, hosts, metas, guests }, ignored))
}

/// The suffix of a host's `virsh domcapabilities` document kept beside its `HOST.xml`.
pub(crate) const DOMCAPS_SUFFIX: &str = ".domcaps";

/// Host files (stem, path) to hosts sorted by name: `HOST.domcaps` joins `HOST` as its
/// domcapabilities document; without a `HOST` it is the host `HOST`, on its own. (A stem that
/// is only the suffix names no host and stays a host of that name.)
fn pair_domcaps(files: Vec<(String, PathBuf)>) -> Vec<(String, PathBuf, Option<PathBuf>)> {
    let host_of = |stem: &str| stem.strip_suffix(DOMCAPS_SUFFIX).filter(|h| !h.is_empty()).map(str::to_string);
    let (domcaps, plain): (Vec<_>, Vec<_>) = files.into_iter().partition(|(n, _)| host_of(n).is_some());
    let mut hosts: std::collections::BTreeMap<String, (PathBuf, Option<PathBuf>)> =
        plain.into_iter().map(|(n, p)| (n, (p, None))).collect();
    for (stem, path) in domcaps {
        let host = host_of(&stem).expect("partitioned on it");
        match hosts.get_mut(&host) {
            Some(h) => h.1 = Some(path),
            None => {
                hosts.insert(host, (path, None));
            }
        }
    }
    // Sorted by host name (file names sort `a-b.xml` before `a.xml`, host names the other way).
    hosts.into_iter().map(|(n, (p, d))| (n, p, d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domcaps_files_join_their_host_or_stand_alone() {
        let f = |n: &str| (n.to_string(), PathBuf::from(format!("{n}.xml")));
        let got = pair_domcaps(vec![f("b.domcaps"), f("a"), f("b"), f("c.domcaps"), f(".domcaps"), f("a-b")]);
        let p = |n: &str| PathBuf::from(format!("{n}.xml"));
        assert_eq!(
            got,
            vec![
                (".domcaps".to_string(), p(".domcaps"), None),
                ("a".to_string(), p("a"), None),
                ("a-b".to_string(), p("a-b"), None),
                ("b".to_string(), p("b"), Some(p("b.domcaps"))),
                ("c".to_string(), p("c.domcaps"), None),
            ]
        );
    }
}
