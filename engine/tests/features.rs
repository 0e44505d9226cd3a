//! `FeatureSet` against a plain reference (a `BTreeSet` of ids) at every number of words in use,
//! 0 to `FEATURE_WORDS` (libvirt 9.0.0's map needs 4, 11.3.0's 6, 12.9.0's 7), so across every
//! width class (4, 8, 16 words) and its edges. Operands of different widths are paired on
//! purpose, and members are removed again so that a set's width can exceed its highest member. Each property runs 256 cases (`PROPTEST_CASES`
//! overrides).

use cpufleet_engine::{FeatureId, FeatureSet, FEATURE_WORDS, MAX_FEATURES};
use proptest::prelude::*;
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

/// A set built by inserting ids below `64 * words` (ids clustered in one word, or spread over
/// all of them), then removing some of them again; with the reference set of what is left.
fn set_of_width(words: usize) -> impl Strategy<Value = (FeatureSet, BTreeSet<u16>)> {
    let limit = (64 * words) as u16;
    let ids = if words == 0 {
        Just(Vec::new()).boxed()
    } else {
        prop_oneof![
            // Few ids, so that subsets, overlaps and equal sets happen often.
            prop::collection::vec((0..words as u16).prop_flat_map(|w| (w * 64)..(w * 64 + 4)), 0..6),
            prop::collection::vec(0..limit, 0..40),
            // The last word's top bits: where a wide map's newest features live.
            prop::collection::vec((limit - 4)..limit, 0..4),
        ]
        .boxed()
    };
    (ids, prop::collection::vec(any::<prop::sample::Index>(), 0..4)).prop_map(|(ids, removals)| {
        let mut set = FeatureSet::EMPTY;
        let mut reference = BTreeSet::new();
        for &id in &ids {
            set.insert(FeatureId(id));
            reference.insert(id);
        }
        for r in removals {
            if !ids.is_empty() {
                let id = ids[r.index(ids.len())];
                set.remove(FeatureId(id));
                reference.remove(&id);
            }
        }
        (set, reference)
    })
}

/// A set of any width from 0 to `FEATURE_WORDS` words.
fn any_set() -> impl Strategy<Value = (FeatureSet, BTreeSet<u16>)> {
    (0..=FEATURE_WORDS).prop_flat_map(set_of_width)
}

fn ids(set: &FeatureSet) -> Vec<u16> {
    set.iter().map(|id| id.0).collect()
}

fn plain(reference: &BTreeSet<u16>) -> Vec<u16> {
    reference.iter().copied().collect()
}

/// The reference's words, all `FEATURE_WORDS` of them.
fn words_of(reference: &BTreeSet<u16>) -> [u64; FEATURE_WORDS] {
    let mut words = [0u64; FEATURE_WORDS];
    for &id in reference {
        words[id as usize / 64] |= 1 << (id % 64);
    }
    words
}

fn hash_of(set: &FeatureSet) -> u64 {
    let mut h = DefaultHasher::new();
    set.hash(&mut h);
    h.finish()
}

proptest! {
    /// One set: membership, iteration in id order, count, emptiness, its words.
    #[test]
    fn one_set_matches_reference((s, r) in any_set(), probe in 0..MAX_FEATURES as u16) {
        prop_assert_eq!(ids(&s), plain(&r));
        prop_assert_eq!(s.count(), r.len());
        prop_assert_eq!(s.is_empty(), r.is_empty());
        prop_assert_eq!(s.contains(FeatureId(probe)), r.contains(&probe));
        for &id in &r {
            prop_assert!(s.contains(FeatureId(id)));
        }
        // Every member lies within the words the set reports, and those words are the
        // reference's (the rest of the reference's words are zero).
        let want = words_of(&r);
        let used = s.words();
        prop_assert!(used.len() <= FEATURE_WORDS);
        prop_assert_eq!(used, &want[..used.len()]);
        prop_assert!(want[used.len()..].iter().all(|&w| w == 0));
        prop_assert_eq!(FeatureSet::from_words(used), s);
        prop_assert_eq!(FeatureSet::from_words(&want), s);
        prop_assert_eq!(r.iter().map(|&id| FeatureId(id)).collect::<FeatureSet>(), s);
    }

    /// Two sets of any two widths: every operation, in place and not, the fused word passes,
    /// equality, order and hash.
    #[test]
    fn two_sets_match_reference((a, ra) in any_set(), (b, rb) in any_set()) {
        let and: BTreeSet<u16> = ra.intersection(&rb).copied().collect();
        let or: BTreeSet<u16> = ra.union(&rb).copied().collect();
        let minus: BTreeSet<u16> = ra.difference(&rb).copied().collect();
        prop_assert_eq!(ids(&a.intersection(&b)), plain(&and));
        prop_assert_eq!(ids(&a.union(&b)), plain(&or));
        prop_assert_eq!(ids(&a.difference(&b)), plain(&minus));
        prop_assert_eq!(ids(&(a & b)), plain(&and));
        prop_assert_eq!(ids(&(a | b)), plain(&or));
        prop_assert_eq!(ids(&(a - b)), plain(&minus));
        let mut x = a;
        x.intersect_with(&b);
        prop_assert_eq!(ids(&x), plain(&and));
        let mut x = a;
        x.union_with(&b);
        prop_assert_eq!(ids(&x), plain(&or));
        let mut x = a;
        x.subtract(&b);
        prop_assert_eq!(ids(&x), plain(&minus));
        prop_assert_eq!(a.is_subset(&b), ra.is_subset(&rb));
        prop_assert_eq!(b.is_subset(&a), rb.is_subset(&ra));
        prop_assert_eq!(a.intersects(&b), !ra.is_disjoint(&rb));
        prop_assert_eq!(b.intersects(&a), !ra.is_disjoint(&rb));

        let [zand, zandnot, zxor] = FeatureSet::zip_words([&a, &b], |[x, y]| [x & y, x & !y, x ^ y]);
        let xor: BTreeSet<u16> = ra.symmetric_difference(&rb).copied().collect();
        prop_assert_eq!(ids(&zand), plain(&and));
        prop_assert_eq!(ids(&zandnot), plain(&minus));
        prop_assert_eq!(ids(&zxor), plain(&xor));
        prop_assert_eq!(
            FeatureSet::any_words([&a, &b], |[x, y]| [x & y, x & !y, y & !x]),
            [!and.is_empty(), !minus.is_empty(), !rb.is_subset(&ra)]
        );

        // Equal exactly when the members are, whatever the widths; ordered as the words are.
        prop_assert_eq!(a == b, ra == rb);
        prop_assert_eq!(a.cmp(&b), words_of(&ra).cmp(&words_of(&rb)));
        prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
        if ra == rb {
            prop_assert_eq!(hash_of(&a), hash_of(&b));
        }
    }

    /// Three sets: the fused pass over several operands of different widths, as
    /// `PolicySets::new` uses it.
    #[test]
    fn fused_pass_over_three_sets((a, ra) in any_set(), (b, rb) in any_set(), (c, rc) in any_set()) {
        let [need, listed] = FeatureSet::zip_words([&a, &b, &c], |[x, y, z]| {
            let need = x & !y & !z;
            [need, need | y | z]
        });
        let want_need: BTreeSet<u16> = ra.iter().filter(|id| !rb.contains(id) && !rc.contains(id)).copied().collect();
        let want_listed: BTreeSet<u16> = want_need.iter().chain(&rb).chain(&rc).copied().collect();
        prop_assert_eq!(ids(&need), plain(&want_need));
        prop_assert_eq!(ids(&listed), plain(&want_listed));
    }
}

/// The width classes the maps in use get: `FeatureSet::all(n)` of each map's feature count (4, 8
/// or 16 words).
#[test]
fn maps_widths() {
    for (features, words) in
        [(0, 4), (1, 4), (212, 4), (256, 4), (257, 8), (364, 8), (400, 8), (512, 8), (513, 16), (MAX_FEATURES, 16)]
    {
        let all = FeatureSet::all(features);
        assert_eq!(all.count(), features);
        assert_eq!(all.words().len(), words, "{features} features");
    }
}
