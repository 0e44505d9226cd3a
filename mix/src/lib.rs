//! Deterministic mixing, with no state beyond the values it is given: [`hash_bytes`], the byte
//! hash that deduplicates contents (the stream's `<cpu>` elements, the inventory's files), and
//! [`Rng`], the one seeded PRNG (SplitMix64) with sub-seed derivation ([`derive()`]) that the
//! simulator and the tests draw from.
//!
//! Its own crate so that the stream, the inventory, the simulator and their tests reach the same
//! hash and PRNG without depending on each other; the engine stays free of anything random.
//! Every random decision of the simulator draws from a stream seeded by [`derive()`]: the run
//! seed, a domain tag (what the stream is for) and an index (which host, guest, step …). All
//! sub-seeds are therefore fixed before any parallel fan-out, and the outcome does not depend on
//! which thread draws what or in which order.

#![forbid(unsafe_code)]

/// A fast 64-bit hash of bytes (four independent multiply-rotate lanes); not cryptographic:
/// its users confirm equal hashes by comparing the bytes. The stream dedupes `<cpu>` elements
/// with it, the inventory reader and `baseline --explain` whole files.
#[inline]
pub fn hash_bytes(s: &[u8]) -> u64 {
    const M: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: [u64; 4] = [0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344, 0xA409_3822_299F_31D0, 0x082E_FA98_EC4E_6C89];
    let mut lanes = |c: &[u8]| {
        for (l, hl) in h.iter_mut().enumerate() {
            let w = u64::from_le_bytes(c[l * 8..l * 8 + 8].try_into().expect("8 bytes"));
            *hl = (*hl ^ w).wrapping_mul(M).rotate_left(29);
        }
    };
    let mut chunks = s.chunks_exact(32);
    for c in &mut chunks {
        lanes(c);
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let mut t = [0u8; 32];
        t[..rem.len()].copy_from_slice(rem);
        lanes(&t);
    }
    let x = h[0] ^ h[1].rotate_left(17) ^ h[2].rotate_left(31) ^ h[3].rotate_left(47) ^ s.len() as u64;
    let x = x.wrapping_mul(M);
    x ^ (x >> 29)
}

/// One SplitMix64 step applied to `x` (a strong 64-bit mixer).
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The seed of the stream for (`seed`, `tag`, `index`).
#[inline]
pub fn derive(seed: u64, tag: u64, index: u64) -> u64 {
    mix64(mix64(seed ^ mix64(tag)) ^ index)
}

/// SplitMix64: fast, 64-bit state, passes BigCrush; ample for a simulator.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The stream whose state starts at `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The stream for (`seed`, `tag`, `index`).
    pub fn for_item(seed: u64, tag: u64, index: u64) -> Rng {
        Rng::new(derive(seed, tag, index))
    }

    /// The next 64 bits of the stream.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; `n` = 0 gives 0).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `0..n` as an index (`n` = 0 gives 0).
    #[inline]
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// A uniformly drawn element of `v` (which must not be empty).
    #[inline]
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.index(v.len())]
    }

    /// Uniform in `[0, 1)` with 53 bits.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

/// A weighted choice over `0..n` by cumulative weights (all finite, ≥ 0, positive sum).
#[derive(Clone, Debug)]
pub struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    /// `None` when the weights do not sum to a positive finite number.
    pub fn new(weights: &[f64]) -> Option<Weighted> {
        let mut acc = 0.0;
        let mut cumulative = Vec::with_capacity(weights.len());
        for &w in weights {
            if !(w.is_finite() && w >= 0.0) {
                return None;
            }
            acc += w;
            cumulative.push(acc);
        }
        (acc > 0.0 && acc.is_finite()).then_some(Weighted { cumulative })
    }

    /// The number of choices.
    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    /// Whether there is no choice (never, for a value [`Weighted::new`] returned).
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// An index drawn with probability proportional to its weight (never a zero-weight one).
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().expect("non-empty");
        let x = rng.unit() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        // x < total always, so i < len; skip zero-weight entries ending exactly at x.
        i.min(self.cumulative.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two domain tags (the simulator's own live in `cpufleet_sim::rng::tag`).
    mod tag {
        pub const HOST: u64 = 0x686f_7374;
        pub const GUEST: u64 = 0x6775_6573;
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| 0).scan(Rng::for_item(7, tag::HOST, 3), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..4).map(|_| 0).scan(Rng::for_item(7, tag::HOST, 3), |r, _| Some(r.next_u64())).collect();
        let c: Vec<u64> = (0..4).map(|_| 0).scan(Rng::for_item(7, tag::HOST, 4), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(derive(7, tag::HOST, 3), derive(7, tag::GUEST, 3));
    }

    #[test]
    fn below_and_unit_stay_in_range() {
        let mut r = Rng::new(1);
        let mut seen = [0u32; 5];
        for _ in 0..10_000 {
            let v = r.below(5);
            assert!(v < 5);
            seen[v as usize] += 1;
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert!(seen.iter().all(|&n| n > 1700), "{seen:?}");
    }

    #[test]
    fn weighted_pick_respects_weights() {
        let w = Weighted::new(&[0.0, 3.0, 0.0, 1.0]).unwrap();
        let mut r = Rng::new(9);
        let mut seen = [0u32; 4];
        for _ in 0..8000 {
            seen[w.pick(&mut r)] += 1;
        }
        assert_eq!(seen[0], 0);
        assert_eq!(seen[2], 0);
        assert!(seen[1] > 5500 && seen[3] > 1500, "{seen:?}");
        assert!(Weighted::new(&[0.0, 0.0]).is_none());
        assert!(Weighted::new(&[1.0, f64::NAN]).is_none());
        assert!(Weighted::new(&[]).is_none());
    }
}
