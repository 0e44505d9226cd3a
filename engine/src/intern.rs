//! Name interning: byte strings (the map's feature and model names) to their indices without
//! building a `String`, for the host scanner ([`crate::scan::HostScanner`]), which looks up
//! every feature name of every distinct host element it reads.
//!
//! Pure: the tables are built once per map and only read afterwards.

/// An open-addressing table from byte strings (map feature or model names) to their indices,
/// probed with a cheap hash of the first and last 8 bytes and the length.
#[derive(Clone, Debug)]
pub(crate) struct NameTable {
    /// 0 = empty, otherwise index + 1.
    slots: Vec<u32>,
    names: Vec<Box<[u8]>>,
    /// Per name: its first and last 8 bytes (zero-padded) and its length, which decide equality
    /// outright for names of up to 16 bytes.
    keys: Vec<(u64, u64, usize)>,
    mask: usize,
}

#[inline]
fn name_key(b: &[u8]) -> (u64, u64, usize) {
    (load_le(b), load_le(&b[b.len().saturating_sub(8)..]), b.len())
}

#[inline]
fn load_le(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w)
}

/// The probe hash of a name key (its head, tail and length mixed by one multiply); a different
/// rule from the stream's element hash, which covers every byte of a whole element.
#[inline]
fn name_hash((head, tail, len): (u64, u64, usize)) -> u64 {
    let h = (head ^ tail.rotate_left(29) ^ (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 32)
}

impl NameTable {
    /// A table of `names`; the index of a name is its position (the first one if repeated).
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> NameTable {
        let names: Vec<Box<[u8]>> = names.into_iter().map(|n| n.as_bytes().into()).collect();
        let size = (names.len() * 4).next_power_of_two().max(16);
        let mut t = NameTable { slots: vec![0; size], names: Vec::new(), keys: Vec::new(), mask: size - 1 };
        for n in names {
            let key = name_key(&n);
            if t.get(&n).is_none() {
                let mut i = name_hash(key) as usize & t.mask;
                while t.slots[i] != 0 {
                    i = (i + 1) & t.mask;
                }
                t.names.push(n);
                t.keys.push(key);
                t.slots[i] = t.names.len() as u32;
            } else {
                // Keep indices aligned with the input order (the slot keeps the first).
                t.names.push(n);
                t.keys.push(key);
            }
        }
        t
    }

    /// The index of `name`, if it is in the table.
    #[inline]
    pub(crate) fn get(&self, name: &[u8]) -> Option<usize> {
        let key = name_key(name);
        let mut i = name_hash(key) as usize & self.mask;
        loop {
            match self.slots[i] {
                0 => return None,
                s => {
                    let idx = s as usize - 1;
                    if self.keys[idx] == key && (key.2 <= 16 || *self.names[idx] == *name) {
                        return Some(idx);
                    }
                }
            }
            i = (i + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CpuMap, LibvirtVersion};

    #[test]
    fn finds_every_map_name_and_nothing_else() {
        let map = CpuMap::embedded(LibvirtVersion::V9_0_0).unwrap();
        let features = NameTable::new(map.x86.features.iter().map(|f| f.name.as_str()));
        let models = NameTable::new(map.x86.models.iter().map(|m| m.name.as_str()));
        for (i, f) in map.x86.features.iter().enumerate() {
            assert_eq!(features.get(f.name.as_bytes()), Some(i), "{}", f.name);
            let mut longer = f.name.clone().into_bytes();
            longer.push(b'x');
            assert_eq!(features.get(&longer), None);
        }
        for (i, m) in map.x86.models.iter().enumerate() {
            assert_eq!(models.get(m.name.as_bytes()), Some(i));
        }
        assert_eq!(features.get(b""), None);
        assert_eq!(models.get(b"Skylake"), None);
    }

    #[test]
    fn repeated_names_keep_the_first_index() {
        let t = NameTable::new(["a", "bb", "a", "c"]);
        assert_eq!(t.get(b"a"), Some(0));
        assert_eq!(t.get(b"bb"), Some(1));
        assert_eq!(t.get(b"c"), Some(3));
        assert_eq!(t.get(b"d"), None);
    }
}
