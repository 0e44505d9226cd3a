//! Name tables between libvirt's x86 feature names and a foreign vocabulary, one file per
//! vocabulary in `data/names/` (`libvirt-name<TAB>foreign-name`, `-` for none, several foreign
//! names comma-separated, `#` comments). How each was made and checked: `data/names/README.md`.

use crate::error::ExportError;
use crate::vocabulary::Vocabulary;
use std::collections::HashMap;

/// One table: libvirt name → foreign names (empty: listed as having none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameTable {
    pub vocabulary: Vocabulary,
    entries: Vec<(String, Vec<String>)>,
    by_libvirt: HashMap<String, usize>,
    by_foreign: HashMap<String, usize>,
}

impl NameTable {
    /// Parses a table text (`vocabulary` only names it in errors).
    pub fn parse(vocabulary: Vocabulary, text: &str) -> Result<NameTable, ExportError> {
        let mut t =
            NameTable { vocabulary, entries: Vec::new(), by_libvirt: HashMap::new(), by_foreign: HashMap::new() };
        for (i, line) in text.lines().enumerate() {
            let line_no = i as u32 + 1;
            let err = |problem: String| ExportError::Table { vocabulary, line: line_no, problem };
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (libvirt, foreign) =
                line.split_once('\t').ok_or_else(|| err("expected 'libvirt-name<TAB>foreign-name'".into()))?;
            if libvirt.is_empty() || foreign.is_empty() || foreign.contains('\t') {
                return Err(err("expected 'libvirt-name<TAB>foreign-name'".into()));
            }
            let names: Vec<String> =
                if foreign == "-" { Vec::new() } else { foreign.split(',').map(str::to_string).collect() };
            if t.by_libvirt.insert(libvirt.to_string(), t.entries.len()).is_some() {
                return Err(err(format!("'{libvirt}' is listed twice")));
            }
            for n in &names {
                t.by_foreign.entry(n.clone()).or_insert(t.entries.len());
            }
            t.entries.push((libvirt.to_string(), names));
        }
        Ok(t)
    }

    pub fn embedded(vocabulary: Vocabulary) -> Result<NameTable, ExportError> {
        NameTable::parse(vocabulary, vocabulary.embedded_text())
    }

    /// The foreign names of a libvirt feature: `None` when the table does not list it, an empty
    /// slice when it is listed as having none.
    pub fn lookup(&self, libvirt: &str) -> Option<&[String]> {
        self.by_libvirt.get(libvirt).map(|&i| self.entries[i].1.as_slice())
    }

    /// The first foreign name of a libvirt feature, if it has one.
    pub fn foreign(&self, libvirt: &str) -> Option<&str> {
        self.lookup(libvirt).and_then(|n| n.first()).map(String::as_str)
    }

    /// The libvirt feature a foreign name stands for.
    pub fn libvirt(&self, foreign: &str) -> Option<&str> {
        self.by_foreign.get(foreign).map(|&i| self.entries[i].0.as_str())
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(l, f)| (l.as_str(), f.as_slice()))
    }
}

/// The three embedded tables, parsed once by the caller and passed by reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameTables {
    pub qemu: NameTable,
    pub linux: NameTable,
    pub os_traits: NameTable,
}

impl NameTables {
    pub fn embedded() -> Result<NameTables, ExportError> {
        Ok(NameTables {
            qemu: NameTable::embedded(Vocabulary::Qemu)?,
            linux: NameTable::embedded(Vocabulary::Linux)?,
            os_traits: NameTable::embedded(Vocabulary::OsTraits)?,
        })
    }
    pub fn get(&self, v: Vocabulary) -> &NameTable {
        match v {
            Vocabulary::Qemu => &self.qemu,
            Vocabulary::Linux => &self.linux,
            Vocabulary::OsTraits => &self.os_traits,
        }
    }
}
