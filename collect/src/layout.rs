//! Writing one host's files into the inventory: all under temporary (hidden) names first, then
//! renamed into place, so a host whose writing fails leaves nothing and changes nothing.

use crate::fetch::HostData;
use crate::target::{check_name, Target};
use cpufleet_inventory::meta::{HostMeta, FORMAT, META_SUFFIX};
use cpufleet_io::{check_output_dir, io_reason};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What was written for a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Guest files written.
    pub guests: usize,
    /// Guest files of an earlier collection removed (`--update`: guests that no longer exist).
    pub removed: usize,
    /// Why `HOST.domcaps.xml` was not written, when it was not.
    pub no_domcaps: Option<String>,
}

/// Checks the output directory before any host is contacted: without `update` it must be new
/// or empty (it is created); with `update` it may hold an earlier collection. Either way it
/// must be writable.
pub fn prepare_dir(dir: &Path, update: bool) -> Result<(), String> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{shown}: is not a directory"));
    }
    if dir.is_dir() && !update {
        let mut entries = std::fs::read_dir(dir).map_err(|e| format!("{shown}: {}", io_reason(&e)))?;
        if entries.next().is_some() {
            return Err(format!(
                "{shown}: exists and is not empty; collect into a new directory, or add --update to replace the \
                 files of the hosts collected successfully"
            ));
        }
    }
    check_output_dir(dir).map_err(|e| e.message)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{shown}: cannot create: {}", io_reason(&e)))
}

/// Temporary paths written but not yet renamed into place; removed on drop unless committed.
#[derive(Default)]
struct Staged {
    files: Vec<(PathBuf, PathBuf)>,
    dirs: Vec<PathBuf>,
}

impl Staged {
    fn file(&mut self, tmp_dir: &Path, path: PathBuf, bytes: &[u8]) -> Result<(), String> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = tmp_dir.join(format!(".{name}.{}.tmp", std::process::id()));
        self.files.push((tmp.clone(), path.clone()));
        write_new(&tmp, bytes).map_err(|e| format!("{}: cannot write: {}", path.display(), io_reason(&e)))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in &self.files {
            let _ = std::fs::remove_file(tmp);
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A guest's file name from its domain name (libvirt names have no `/`; a leading `.` would
/// hide the file from the reader, so it becomes `_`).
fn guest_file(name: &str) -> String {
    let safe: String = name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    match check_name("guest", &safe) {
        Ok(()) => format!("{safe}.xml"),
        Err(_) => format!("_{}.xml", safe.trim_start_matches('.')),
    }
}

/// Writes one host's documents and metadata into `dir/POOL/` (see the crate documentation).
/// With `update`, an earlier collection of the host is replaced: its guest folder swapped for
/// the new one (guests that no longer exist go), its files renamed over.
pub fn write_host(dir: &Path, t: &Target, data: &HostData, update: bool) -> Result<Written, String> {
    let pool = dir.join(&t.pool);
    let new_pool = !pool.is_dir();
    std::fs::create_dir_all(&pool).map_err(|e| format!("{}: cannot create: {}", pool.display(), io_reason(&e)))?;
    let r = write_files(&pool, t, data, update);
    if r.is_err() && new_pool {
        // A pool folder this host created stays only with a host in it (the reader refuses
        // an empty pool); removing a folder that is not empty fails, which is what is wanted.
        let _ = std::fs::remove_dir(&pool);
    }
    r
}

fn write_files(pool: &Path, t: &Target, data: &HostData, update: bool) -> Result<Written, String> {
    let tag = format!(".{}.collect-{}", t.name, std::process::id());
    let mut staged = Staged::default();
    let guest_dir = pool.join(&t.name);
    let new_guests = pool.join(format!("{tag}.guests"));
    if !data.guests.is_empty() {
        let _ = std::fs::remove_dir_all(&new_guests);
        staged.dirs.push(new_guests.clone());
        std::fs::create_dir(&new_guests)
            .map_err(|e| format!("{}: cannot create: {}", guest_dir.display(), io_reason(&e)))?;
        for (name, xml) in &data.guests {
            let path = new_guests.join(guest_file(name));
            write_new(&path, xml.as_bytes()).map_err(|e| {
                format!("{}: cannot write: {}", guest_dir.join(guest_file(name)).display(), io_reason(&e))
            })?;
        }
    }
    let domcaps_path = pool.join(format!("{}.domcaps.xml", t.name));
    if let Ok(x) = &data.domcaps {
        staged.file(pool, domcaps_path.clone(), x.as_bytes())?;
    }
    staged.file(pool, pool.join(format!("{}.xml", t.name)), data.capabilities.as_bytes())?;
    let meta = HostMeta {
        format: FORMAT,
        libvirt: data.libvirt.clone(),
        hypervisor: data.hypervisor.clone(),
        hypervisor_version: data.hypervisor_version.clone(),
        hostname: data.hostname.clone(),
        collected: crate::now_rfc3339(),
        uri: t.shown_uri.clone(),
        domcaps: match &data.domcaps {
            Ok(_) => "kvm".into(),
            Err(why) => why.clone(),
        },
    };
    staged.file(pool, pool.join(format!("{}{META_SUFFIX}", t.name)), meta.to_toml().as_bytes())?;

    // Everything is written: now into place, guests first, the metadata last.
    let fail =
        |what: &Path, e: std::io::Error| format!("{}: cannot rename into place: {}", what.display(), io_reason(&e));
    let mut removed = 0;
    if guest_dir.is_dir() {
        if !update {
            return Err(format!("{}: exists (collect into a new directory, or use --update)", guest_dir.display()));
        }
        let kept: Vec<String> = data.guests.iter().map(|g| guest_file(&g.0)).collect();
        removed = std::fs::read_dir(&guest_dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| {
                        e.file_name().to_str().is_some_and(|n| n.ends_with(".xml") && !kept.iter().any(|k| k == n))
                    })
                    .count()
            })
            .unwrap_or(0);
        let old = pool.join(format!("{tag}.old"));
        std::fs::rename(&guest_dir, &old).map_err(|e| fail(&guest_dir, e))?;
        if !data.guests.is_empty() {
            if let Err(e) = std::fs::rename(&new_guests, &guest_dir) {
                // Put the earlier guests back: nothing of this host changes.
                let _ = std::fs::rename(&old, &guest_dir);
                return Err(fail(&guest_dir, e));
            }
        }
        staged.dirs.push(old);
    } else if !data.guests.is_empty() {
        std::fs::rename(&new_guests, &guest_dir).map_err(|e| fail(&guest_dir, e))?;
    }
    if data.domcaps.is_err() {
        match std::fs::remove_file(&domcaps_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(&domcaps_path, e)),
            _ => {}
        }
    }
    while let Some((tmp, path)) = staged.files.first().cloned() {
        std::fs::rename(&tmp, &path).map_err(|e| fail(&path, e))?;
        staged.files.remove(0);
    }
    Ok(Written { guests: data.guests.len(), removed, no_domcaps: data.domcaps.clone().err() })
}
