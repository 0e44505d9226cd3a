//! Fixed-width feature bitsets over the feature ids interned by the CPU map.
//!
//! Feature ids are assigned in map load order, so iterating a set in id order is iterating it in
//! map order, which is the order libvirt walks features in (`x86DataToCPUFeatures`).

/// The most 64-bit words a [`FeatureSet`] holds.
pub const FEATURE_WORDS: usize = 16;
/// The most features one architecture of a CPU map may define: 1,024 (libvirt 9.0.0's x86 map
/// has 212, 11.3.0's has 364).
pub const MAX_FEATURES: usize = FEATURE_WORDS * 64;

/// The id of a feature in its architecture's map (its index in load order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeatureId(pub u16);

impl FeatureId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The width classes a set can be in, in words: every set operation runs over a fixed number of
/// words (4, 8 or 16), chosen per call from the operands' classes. The ids of a map with `n`
/// features all fit the class of `n`, so every set of libvirt 9.0.0's map (212 features) is
/// handled four words at a time, exactly as before sets grew, and 11.3.0's (364) and 12.9.0's
/// (400) eight at a time. Classes, not each set's exact width: with exact widths (0 to 16 words,
/// each loop unrolled for its width) the prepared compare measured 1.28-1.30x slower on 9.0.0's map
/// and 1.08-1.14x on 11.3.0's, as the width a call dispatches on then changes from set to set
/// (`benches/README.md`, "Profile per phase (issue 24)").
const CLASSES: [u8; 3] = [4, 8, 16];

/// The smallest width class holding word index `word`.
#[inline]
fn class_for_word(word: usize) -> u8 {
    if word < 4 {
        4
    } else if word < 8 {
        8
    } else {
        16
    }
}

/// A set of features: subset is `a & !b == 0`, intersection is `&`.
///
/// Invariant: every word at or beyond `width` is zero, so two sets are equal, ordered and hashed
/// by their words alone, whatever their widths.
#[derive(Clone, Copy)]
pub struct FeatureSet {
    words: [u64; FEATURE_WORDS],
    /// The width class (4, 8 or 16 words) covering every non-zero word.
    width: u8,
}

impl Default for FeatureSet {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl PartialEq for FeatureSet {
    #[inline]
    fn eq(&self, other: &FeatureSet) -> bool {
        let w = self.width.max(other.width) as usize;
        self.words[..w] == other.words[..w]
    }
}

impl Eq for FeatureSet {}

impl PartialOrd for FeatureSet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FeatureSet {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let w = self.width.max(other.width) as usize;
        self.words[..w].cmp(&other.words[..w])
    }
}

impl std::hash::Hash for FeatureSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Trailing zero words are skipped so that equal sets of different widths hash alike.
        let used = self.words[..self.width as usize].iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
        self.words[..used].hash(state);
    }
}

impl std::fmt::Debug for FeatureSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(|id| id.0)).finish()
    }
}

/// Runs `$body` with the constant `$n` bound to the width class `$w` (4, 8 or 16 words), so that
/// the loops in `$body` are unrolled for that width: the one place a class picks a width.
macro_rules! by_class {
    ($w:expr, $n:ident => $body:expr) => {
        match $w {
            4 => {
                const $n: usize = 4;
                $body
            }
            8 => {
                const $n: usize = 8;
                $body
            }
            _ => {
                const $n: usize = 16;
                $body
            }
        }
    };
}

/// Runs `f` over the first `N` word pairs; `N` is a constant so each loop is unrolled.
#[inline(always)]
fn zip_n<const N: usize>(a: &mut [u64; FEATURE_WORDS], b: &[u64; FEATURE_WORDS], f: impl Fn(&mut u64, u64)) {
    let (a, b) = (&mut a[..N], &b[..N]);
    for i in 0..N {
        f(&mut a[i], b[i]);
    }
}

/// Whether `f` holds for every one of the first `N` word pairs.
#[inline(always)]
fn all_n<const N: usize>(a: &[u64; FEATURE_WORDS], b: &[u64; FEATURE_WORDS], f: impl Fn(u64, u64) -> bool) -> bool {
    let (a, b) = (&a[..N], &b[..N]);
    let mut ok = true;
    for i in 0..N {
        ok &= f(a[i], b[i]);
    }
    ok
}

impl FeatureSet {
    pub const EMPTY: FeatureSet = FeatureSet { words: [0; FEATURE_WORDS], width: CLASSES[0] };

    pub const fn new() -> Self {
        Self::EMPTY
    }

    /// The set of the first `n` ids (every feature of a map with `n` features).
    pub fn all(n: usize) -> Self {
        let mut s = Self::EMPTY;
        for i in 0..n.min(MAX_FEATURES) {
            s.insert(FeatureId(i as u16));
        }
        s
    }

    /// A set from its first words (ids `64 * i + bit`); at most [`FEATURE_WORDS`] words.
    pub fn from_words(words: &[u64]) -> Self {
        let mut s = Self::EMPTY;
        for (i, &w) in words.iter().enumerate().take(FEATURE_WORDS) {
            if w != 0 {
                s.words[i] = w;
                s.width = s.width.max(class_for_word(i));
            }
        }
        s
    }

    /// The words in use (ids `64 * i + bit`): as many as the set's width class, trailing words
    /// possibly zero.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.width as usize]
    }

    #[inline]
    pub fn insert(&mut self, id: FeatureId) {
        let w = id.index() / 64;
        self.words[w] |= 1 << (id.index() % 64);
        if w >= self.width as usize {
            self.width = class_for_word(w);
        }
    }

    #[inline]
    pub fn remove(&mut self, id: FeatureId) {
        if let Some(w) = self.words.get_mut(id.index() / 64) {
            *w &= !(1 << (id.index() % 64));
        }
    }

    #[inline]
    pub fn contains(&self, id: FeatureId) -> bool {
        self.words.get(id.index() / 64).is_some_and(|w| w & (1 << (id.index() % 64)) != 0)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.words[..self.width as usize].iter().all(|&w| w == 0)
    }

    /// `self ⊆ other`.
    #[inline]
    pub fn is_subset(&self, other: &FeatureSet) -> bool {
        let f = |a: u64, b: u64| a & !b == 0;
        by_class!(self.width, N => all_n::<N>(&self.words, &other.words, f))
    }

    #[inline]
    pub fn intersects(&self, other: &FeatureSet) -> bool {
        let f = |a: u64, b: u64| a & b == 0;
        !by_class!(self.width.min(other.width), N => all_n::<N>(&self.words, &other.words, f))
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

    /// Applies `f` to every word pair of the wider of the two classes (words beyond a set's width
    /// are zero, so this covers both).
    #[inline(always)]
    fn zip_with(&mut self, other: &FeatureSet, f: impl Fn(&mut u64, u64)) {
        let w = self.width.max(other.width);
        by_class!(w, N => zip_n::<N>(&mut self.words, &other.words, f));
        self.width = w;
    }

    #[inline]
    pub fn intersect_with(&mut self, other: &FeatureSet) {
        self.zip_with(other, |a, b| *a &= b);
    }

    #[inline]
    pub fn union_with(&mut self, other: &FeatureSet) {
        self.zip_with(other, |a, b| *a |= b);
    }

    #[inline]
    pub fn subtract(&mut self, other: &FeatureSet) {
        // Only self's words can be non-zero in the result.
        let f = |a: &mut u64, b: u64| *a &= !b;
        by_class!(self.width, N => zip_n::<N>(&mut self.words, &other.words, f));
    }

    /// Computes `R` sets from `A` sets in one pass over the words of the widest operand's width
    /// class: `f` gets word `i` of every operand and returns word `i` of every result. For
    /// formulas over several sets this avoids a temporary set per step.
    #[inline(always)]
    pub fn zip_words<const A: usize, const R: usize>(
        sets: [&FeatureSet; A],
        f: impl Fn([u64; A]) -> [u64; R],
    ) -> [FeatureSet; R] {
        #[inline(always)]
        fn run<const N: usize, const A: usize, const R: usize>(
            sets: &[&FeatureSet; A],
            f: &impl Fn([u64; A]) -> [u64; R],
            out: &mut [FeatureSet; R],
        ) {
            for i in 0..N {
                let words = f(std::array::from_fn(|j| sets[j].words[i]));
                for (o, w) in out.iter_mut().zip(words) {
                    o.words[i] = w;
                }
            }
        }
        let width = sets.iter().map(|s| s.width).max().unwrap_or(CLASSES[0]);
        let mut out = [FeatureSet { width, ..FeatureSet::EMPTY }; R];
        by_class!(width, N => run::<N, A, R>(&sets, &f, &mut out));
        out
    }

    /// Whether each of `R` formulas over `A` sets has any member, in one pass over the words of
    /// the widest operand's class and without building a set: `f` as for [`Self::zip_words`].
    #[inline(always)]
    pub fn any_words<const A: usize, const R: usize>(
        sets: [&FeatureSet; A],
        f: impl Fn([u64; A]) -> [u64; R],
    ) -> [bool; R] {
        #[inline(always)]
        fn run<const N: usize, const A: usize, const R: usize>(
            sets: &[&FeatureSet; A],
            f: &impl Fn([u64; A]) -> [u64; R],
        ) -> [u64; R] {
            let mut acc = [0u64; R];
            for i in 0..N {
                let words = f(std::array::from_fn(|j| sets[j].words[i]));
                for (a, w) in acc.iter_mut().zip(words) {
                    *a |= w;
                }
            }
            acc
        }
        let acc = by_class!(sets.iter().map(|s| s.width).max().unwrap_or(CLASSES[0]), N => run::<N, A, R>(&sets, &f));
        acc.map(|w| w != 0)
    }

    #[inline]
    pub fn count(&self) -> usize {
        self.words[..self.width as usize].iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The ids in ascending order (map order).
    pub fn iter(&self) -> impl Iterator<Item = FeatureId> + '_ {
        self.words[..self.width as usize].iter().enumerate().flat_map(|(wi, &w)| {
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

    /// Sets of different width classes: equality, order and hash see only the members, and every
    /// operation agrees with the same operation on plain id lists.
    #[test]
    fn width_classes() {
        use std::collections::hash_map::DefaultHasher;
        use std::hash::{Hash, Hasher};
        let ids = |s: &FeatureSet| s.iter().map(|i| i.0).collect::<Vec<_>>();
        let h = |s: &FeatureSet| {
            let mut st = DefaultHasher::new();
            s.hash(&mut st);
            st.finish()
        };
        let mut wide: FeatureSet = [3u16, 1000].into_iter().map(FeatureId).collect();
        let narrow: FeatureSet = [3u16].into_iter().map(FeatureId).collect();
        assert_ne!(wide, narrow);
        wide.remove(FeatureId(1000));
        assert_eq!(wide, narrow);
        assert_eq!(h(&wide), h(&narrow));
        assert_eq!(wide.cmp(&narrow), std::cmp::Ordering::Equal);
        let a: FeatureSet = [1u16, 300, 500, 1023].into_iter().map(FeatureId).collect();
        let b: FeatureSet = [1u16, 2, 500].into_iter().map(FeatureId).collect();
        assert_eq!(ids(&(a & b)), vec![1, 500]);
        assert_eq!(ids(&(a | b)), vec![1, 2, 300, 500, 1023]);
        assert_eq!(ids(&(a - b)), vec![300, 1023]);
        assert_eq!(ids(&(b - a)), vec![2]);
        assert!(a.intersects(&b) && !(a - b).intersects(&b));
        assert!((a & b).is_subset(&b) && !a.is_subset(&b) && !b.is_subset(&a));
        assert_eq!(FeatureSet::all(MAX_FEATURES).count(), 1024);
        assert_eq!(FeatureSet::all(364).words().len(), 8);
        assert_eq!(FeatureSet::all(400).words().len(), 8);
        assert_eq!(FeatureSet::all(212).words().len(), 4);
        assert_eq!(FeatureSet::from_words(a.words()), a);
        assert!((a - a).is_empty());
        let [and, andnot] = FeatureSet::zip_words([&a, &b], |[x, y]| [x & y, x & !y]);
        assert_eq!((and, andnot), (a & b, a - b));
        assert_eq!(FeatureSet::any_words([&a, &b], |[x, y]| [x & y, x & !x & y]), [true, false]);
    }
}
