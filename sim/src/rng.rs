//! A small seeded PRNG (SplitMix64) and sub-seed derivation.
//!
//! Every random decision of the simulator draws from a stream seeded by [`derive()`]: the run
//! seed, a domain tag (what the stream is for) and an index (which host, guest, step …). All
//! sub-seeds are therefore fixed before any parallel fan-out, and the outcome does not depend on
//! which thread draws what or in which order.

/// Domain tags: one per kind of random stream.
pub mod tag {
    pub const HOST: u64 = 0x686f_7374;
    pub const GUEST: u64 = 0x6775_6573;
    pub const GUEST_HOST: u64 = 0x6768_6f73;
    pub const MIGRATION: u64 = 0x6d69_6772;
    pub const UPGRADE_HOST: u64 = 0x7570_6768;
    pub const UPGRADE_ORDER: u64 = 0x7570_676f;
    pub const UPGRADE_STEP: u64 = 0x7570_6773;
    pub const MICROCODE: u64 = 0x6d63_6f64;
    pub const CHECK_SAMPLE: u64 = 0x6368_6b73;
    pub const SWARM: u64 = 0x7377_726d;
    pub const LIBVIRT_ORDER: u64 = 0x6c76_6f72;
    pub const LIBVIRT_STEP: u64 = 0x6c76_7374;
    pub const LIBVIRT_HOST: u64 = 0x6c76_686f;
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
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The stream for (`seed`, `tag`, `index`).
    pub fn for_item(seed: u64, tag: u64, index: u64) -> Rng {
        Rng::new(derive(seed, tag, index))
    }

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

    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

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
