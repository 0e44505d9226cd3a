//! libvirt's CPUID data (`virCPUx86Data`): items keyed by CPUID leaf/subleaf or MSR index.
//!
//! All-zero items are invisible to every operation, as in libvirt.

use std::collections::BTreeMap;

/// The key of a CPUID data item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuidKey {
    /// CPUID leaf (`eax_in`) and subleaf (`ecx_in`).
    Cpuid { leaf: u32, subleaf: u32 },
    /// Model-specific register index.
    Msr { index: u32 },
}

/// Register values of an item: `[eax, ebx, ecx, edx]` for CPUID, `[eax, 0, 0, edx]` for an MSR.
pub(crate) type Regs = [u32; 4];

pub(crate) const EAX: usize = 0;
pub(crate) const EBX: usize = 1;
pub(crate) const ECX: usize = 2;
pub(crate) const EDX: usize = 3;

/// A set of CPUID / MSR items.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuidData {
    items: BTreeMap<CpuidKey, Regs>,
}

impl CpuidData {
    pub fn new() -> Self {
        Self::default()
    }

    /// One item.
    pub fn single(key: CpuidKey, regs: Regs) -> Self {
        let mut d = Self::new();
        d.add_item(key, regs);
        d
    }

    /// ORs an item into the data (`virCPUx86DataAddItem`), creating the key if missing.
    pub fn add_item(&mut self, key: CpuidKey, regs: Regs) {
        let e = self.items.entry(key).or_insert([0; 4]);
        for (a, b) in e.iter_mut().zip(regs.iter()) {
            *a |= b;
        }
    }

    pub fn get(&self, key: CpuidKey) -> Option<&Regs> {
        self.items.get(&key).filter(|r| r.iter().any(|&v| v != 0))
    }

    /// Non-zero items in key order.
    pub fn items(&self) -> impl Iterator<Item = (CpuidKey, &Regs)> + '_ {
        self.items.iter().filter(|(_, r)| r.iter().any(|&v| v != 0)).map(|(k, r)| (*k, r))
    }

    /// Number of non-zero items.
    pub fn len(&self) -> usize {
        self.items().count()
    }

    /// `x86DataAdd`.
    pub fn add(&mut self, other: &CpuidData) {
        for (k, r) in other.items() {
            self.add_item(k, *r);
        }
    }

    /// `x86DataSubtract`: clears the bits of `other`'s same-key items.
    pub fn subtract(&mut self, other: &CpuidData) {
        for (k, r) in self.items.iter_mut() {
            if let Some(o) = other.items.get(k) {
                for (a, b) in r.iter_mut().zip(o.iter()) {
                    *a &= !b;
                }
            }
        }
    }

    /// `x86DataIntersect`: items whose key is missing in `other` become zero.
    pub fn intersect(&mut self, other: &CpuidData) {
        for (k, r) in self.items.iter_mut() {
            match other.items.get(k) {
                Some(o) => {
                    for (a, b) in r.iter_mut().zip(o.iter()) {
                        *a &= b;
                    }
                }
                None => *r = [0; 4],
            }
        }
    }

    /// `x86DataIsEmpty`.
    pub fn is_empty(&self) -> bool {
        self.items().next().is_none()
    }

    /// `x86DataIsSubset(self, sub)`: every non-zero item of `sub` is present here with all its bits.
    pub fn contains(&self, sub: &CpuidData) -> bool {
        sub.items().all(|(k, r)| match self.items.get(&k) {
            Some(have) => have.iter().zip(r.iter()).all(|(h, s)| h & s == *s),
            None => false,
        })
    }

    /// Drops all-zero items (normalised form, so that `==` compares meaning).
    pub fn normalized(&self) -> CpuidData {
        CpuidData { items: self.items().map(|(k, r)| (k, *r)).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives() {
        let k1 = CpuidKey::Cpuid { leaf: 1, subleaf: 0 };
        let k7 = CpuidKey::Cpuid { leaf: 7, subleaf: 0 };
        let mut a = CpuidData::single(k1, [0, 0, 0b101, 0]);
        a.add_item(k7, [0, 1, 0, 0]);
        let b = CpuidData::single(k1, [0, 0, 0b100, 0]);
        assert!(a.contains(&b));
        assert!(!b.contains(&a));
        let mut c = a.clone();
        c.subtract(&b);
        assert_eq!(c.get(k1), Some(&[0, 0, 1, 0]));
        let mut d = a.clone();
        d.intersect(&b);
        assert_eq!(d.get(k7), None);
        assert_eq!(d.normalized(), b);
        assert!(CpuidData::new().is_empty());
        assert!(a.contains(&CpuidData::single(k1, [0; 4])));
    }
}
