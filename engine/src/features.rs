//! Fixed-width feature bitsets over the feature ids interned by the CPU map.
//!
//! Feature ids are assigned in map load order, so iterating a set in id order is iterating it in
//! map order, which is the order libvirt walks features in (`x86DataToCPUFeatures`).

/// Number of 64-bit words in a [`FeatureSet`].
pub const FEATURE_WORDS: usize = 4;
/// The most features one architecture of a CPU map may define (libvirt 9.0.0's x86 map has 212).
pub const MAX_FEATURES: usize = FEATURE_WORDS * 64;

/// The id of a feature in its architecture's map (its index in load order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeatureId(pub u16);

impl FeatureId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A set of features: subset is `a & !b == 0`, intersection is `&`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct FeatureSet {
    words: [u64; FEATURE_WORDS],
}

impl std::fmt::Debug for FeatureSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(|id| id.0)).finish()
    }
}

impl FeatureSet {
    pub const EMPTY: FeatureSet = FeatureSet { words: [0; FEATURE_WORDS] };

    pub const fn new() -> Self {
        Self::EMPTY
    }

    /// The set of the first `n` ids (every feature of a map with `n` features).
    pub fn all(n: usize) -> Self {
        let mut s = Self::EMPTY;
        for i in 0..n.min(MAX_FEATURES) {
            s.words[i / 64] |= 1 << (i % 64);
        }
        s
    }

    pub fn from_words(words: [u64; FEATURE_WORDS]) -> Self {
        FeatureSet { words }
    }

    pub fn words(&self) -> &[u64; FEATURE_WORDS] {
        &self.words
    }

    #[inline]
    pub fn insert(&mut self, id: FeatureId) {
        self.words[id.index() / 64] |= 1 << (id.index() % 64);
    }

    #[inline]
    pub fn remove(&mut self, id: FeatureId) {
        self.words[id.index() / 64] &= !(1 << (id.index() % 64));
    }

    #[inline]
    pub fn contains(&self, id: FeatureId) -> bool {
        self.words[id.index() / 64] & (1 << (id.index() % 64)) != 0
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// `self ⊆ other`.
    #[inline]
    pub fn is_subset(&self, other: &FeatureSet) -> bool {
        self.words.iter().zip(other.words.iter()).all(|(a, b)| a & !b == 0)
    }

    #[inline]
    pub fn intersects(&self, other: &FeatureSet) -> bool {
        self.words.iter().zip(other.words.iter()).any(|(a, b)| a & b != 0)
    }

    #[inline]
    pub fn intersection(&self, other: &FeatureSet) -> FeatureSet {
        let mut out = *self;
        out.intersect_with(other);
        out
    }

    #[inline]
    pub fn union(&self, other: &FeatureSet) -> FeatureSet {
        let mut out = *self;
        out.union_with(other);
        out
    }

    #[inline]
    pub fn difference(&self, other: &FeatureSet) -> FeatureSet {
        let mut out = *self;
        out.subtract(other);
        out
    }

    #[inline]
    pub fn intersect_with(&mut self, other: &FeatureSet) {
        for (a, b) in self.words.iter_mut().zip(other.words.iter()) {
            *a &= b;
        }
    }

    #[inline]
    pub fn union_with(&mut self, other: &FeatureSet) {
        for (a, b) in self.words.iter_mut().zip(other.words.iter()) {
            *a |= b;
        }
    }

    #[inline]
    pub fn subtract(&mut self, other: &FeatureSet) {
        for (a, b) in self.words.iter_mut().zip(other.words.iter()) {
            *a &= !b;
        }
    }

    #[inline]
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The ids in ascending order (map order).
    pub fn iter(&self) -> impl Iterator<Item = FeatureId> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(FeatureId((wi * 64 + bit) as u16))
            })
        })
    }
}

impl FromIterator<FeatureId> for FeatureSet {
    fn from_iter<I: IntoIterator<Item = FeatureId>>(iter: I) -> Self {
        let mut s = FeatureSet::EMPTY;
        for id in iter {
            s.insert(id);
        }
        s
    }
}

impl std::ops::BitAnd for FeatureSet {
    type Output = FeatureSet;
    fn bitand(self, rhs: FeatureSet) -> FeatureSet {
        self.intersection(&rhs)
    }
}

impl std::ops::BitOr for FeatureSet {
    type Output = FeatureSet;
    fn bitor(self, rhs: FeatureSet) -> FeatureSet {
        self.union(&rhs)
    }
}

impl std::ops::Sub for FeatureSet {
    type Output = FeatureSet;
    fn sub(self, rhs: FeatureSet) -> FeatureSet {
        self.difference(&rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_algebra() {
        let a: FeatureSet = [1u16, 5, 64, 200].into_iter().map(FeatureId).collect();
        let b: FeatureSet = [5u16, 200].into_iter().map(FeatureId).collect();
        assert!(b.is_subset(&a));
        assert!(!a.is_subset(&b));
        assert_eq!((a & b), b);
        assert_eq!((a - b).iter().map(|i| i.0).collect::<Vec<_>>(), vec![1, 64]);
        assert_eq!(a.count(), 4);
        assert_eq!(FeatureSet::all(212).count(), 212);
        assert!(FeatureSet::EMPTY.is_subset(&b));
    }
}
