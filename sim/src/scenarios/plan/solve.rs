//! The unconstrained solver: items (distinct CPUs or whole pools) grouped into at most k domains,
//! exact by dynamic programming up to [`EXACT_MAX`] items, heuristics plus local search above.

use cpufleet_engine::FeatureSet;

/// Up to this many items the plan is exact.
pub(crate) const EXACT_MAX: usize = 12;

/// A distinct CPU with its host count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub set: FeatureSet,
    pub weight: u64,
    /// Vendor index (only orders the starting points of the heuristic).
    pub vendor: usize,
}

/// A grouping: domain index per item, and its objective.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Grouping {
    pub assign: Vec<usize>,
    pub objective: u64,
}

/// Σ over domains of (hosts in it) × |intersection of its sets|.
pub(crate) fn objective(items: &[Item], assign: &[usize]) -> u64 {
    let k = assign.iter().copied().max().map_or(0, |m| m + 1);
    let mut inter: Vec<Option<FeatureSet>> = vec![None; k];
    let mut weight = vec![0u64; k];
    for (it, &d) in items.iter().zip(assign) {
        inter[d] = Some(inter[d].map_or(it.set, |s| s.intersection(&it.set)));
        weight[d] += it.weight;
    }
    inter.iter().zip(&weight).map(|(s, &w)| s.map_or(0, |s| s.count() as u64 * w)).sum()
}

/// Renumbers domains in order of first use.
fn normalise(assign: &[usize]) -> Vec<usize> {
    let mut map: Vec<Option<usize>> = vec![None; assign.iter().copied().max().map_or(0, |m| m + 1)];
    let mut next = 0;
    assign
        .iter()
        .map(|&d| {
            *map[d].get_or_insert_with(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// The best grouping into at most `k` domains for every k in 1..=k_max.
pub(crate) fn solve_all(items: &[Item], k_max: usize) -> Vec<Grouping> {
    let n = items.len();
    if n == 0 {
        return vec![Grouping { assign: Vec::new(), objective: 0 }; k_max];
    }
    if n <= EXACT_MAX {
        return (1..=k_max).map(|k| exact(items, k)).collect();
    }
    heuristic_all(items, k_max)
}

/// Exact subset dynamic programming (n ≤ EXACT_MAX).
pub(crate) fn exact(items: &[Item], k: usize) -> Grouping {
    let n = items.len();
    assert!(n <= 20);
    if n <= k {
        let assign: Vec<usize> = (0..n).collect();
        return Grouping { objective: objective(items, &assign), assign };
    }
    let full = (1usize << n) - 1;
    let mut val = vec![0u64; full + 1];
    let mut inter = vec![FeatureSet::new(); full + 1];
    let mut weight = vec![0u64; full + 1];
    for mask in 1..=full {
        let low = mask.trailing_zeros() as usize;
        let rest = mask & (mask - 1);
        inter[mask] = if rest == 0 { items[low].set } else { inter[rest].intersection(&items[low].set) };
        weight[mask] = weight[rest] + items[low].weight;
        val[mask] = weight[mask] * inter[mask].count() as u64;
    }
    // best[j][mask], choice[j][mask] = the domain holding mask's lowest item.
    let mut best = vec![val.clone()];
    let mut choice = vec![(0..=full).collect::<Vec<usize>>()];
    for j in 1..k {
        let prev = &best[j - 1];
        let mut b = vec![0u64; full + 1];
        let mut c = vec![0usize; full + 1];
        for mask in 1..=full {
            let low = mask & mask.wrapping_neg();
            let others = mask ^ low;
            // Enumerate sub = low | s for every s ⊆ others.
            let mut s = others;
            let (mut bv, mut bc) = (0u64, mask);
            loop {
                let sub = low | s;
                let v = val[sub] + prev[mask ^ sub];
                if v > bv || (v == bv && sub > bc) {
                    bv = v;
                    bc = sub;
                }
                if s == 0 {
                    break;
                }
                s = (s - 1) & others;
            }
            b[mask] = bv;
            c[mask] = bc;
        }
        best.push(b);
        choice.push(c);
    }
    let mut assign = vec![0usize; n];
    let mut mask = full;
    let mut j = k - 1;
    let mut d = 0;
    while mask != 0 {
        let sub = choice[j][mask];
        for (i, a) in assign.iter_mut().enumerate() {
            if sub >> i & 1 == 1 {
                *a = d;
            }
        }
        d += 1;
        mask ^= sub;
        j = j.saturating_sub(1);
    }
    let assign = normalise(&assign);
    Grouping { objective: objective(items, &assign), assign }
}

struct Cluster {
    set: FeatureSet,
    weight: u64,
    alive: bool,
}

fn merge_loss(a: &Cluster, b: &Cluster) -> u64 {
    let keep = (a.weight + b.weight) * a.set.intersection(&b.set).count() as u64;
    a.weight * a.set.count() as u64 + b.weight * b.set.count() as u64 - keep
}

/// Agglomerative merging down to 1 domain, snapshotting every k ≤ k_max, each refined by local
/// search.
pub(crate) fn heuristic_all(items: &[Item], k_max: usize) -> Vec<Grouping> {
    let n = items.len();
    let mut cl: Vec<Cluster> = items.iter().map(|i| Cluster { set: i.set, weight: i.weight, alive: true }).collect();
    let mut owner: Vec<usize> = (0..n).collect();
    let best_of = |cl: &[Cluster], a: usize| -> (u64, usize) {
        let mut best = (u64::MAX, usize::MAX);
        for (b, c) in cl.iter().enumerate() {
            if b != a && c.alive {
                let l = merge_loss(&cl[a], c);
                if l < best.0 {
                    best = (l, b);
                }
            }
        }
        best
    };
    let mut best: Vec<(u64, usize)> = (0..n).map(|a| best_of(&cl, a)).collect();
    let mut snapshots: Vec<Option<Vec<usize>>> = vec![None; k_max + 1];
    let mut alive = n;
    if alive <= k_max {
        snapshots[alive] = Some(owner.clone());
    }
    while alive > 1 {
        let a = (0..n).filter(|&i| cl[i].alive).min_by_key(|&i| (best[i].0, i)).expect("two alive");
        let b = best[a].1;
        let (lo, hi) = (a.min(b), a.max(b));
        cl[lo].set = cl[lo].set.intersection(&cl[hi].set);
        cl[lo].weight += cl[hi].weight;
        cl[hi].alive = false;
        for o in owner.iter_mut() {
            if *o == hi {
                *o = lo;
            }
        }
        alive -= 1;
        best[lo] = best_of(&cl, lo);
        for x in 0..n {
            if !cl[x].alive || x == lo {
                continue;
            }
            if best[x].1 == lo || best[x].1 == hi {
                best[x] = best_of(&cl, x);
            } else {
                let l = merge_loss(&cl[x], &cl[lo]);
                if l < best[x].0 || (l == best[x].0 && lo < best[x].1) {
                    best[x] = (l, lo);
                }
            }
        }
        if alive <= k_max {
            snapshots[alive] = Some(owner.clone());
        }
    }
    // Second family of starting points: the best split into contiguous runs of the items ordered
    // by vendor then richness (within a vendor, generations are nearly nested, and for nested
    // sets the optimum is such a split), and of the items ordered by richness alone.
    let by_vendor = {
        let mut o: Vec<usize> = (0..n).collect();
        o.sort_by_key(|&i| (items[i].vendor, items[i].set.count(), i));
        interval_splits(items, &o, k_max)
    };
    let by_size = {
        let mut o: Vec<usize> = (0..n).collect();
        o.sort_by_key(|&i| (items[i].set.count(), i));
        interval_splits(items, &o, k_max)
    };
    let mut out: Vec<Grouping> = Vec::with_capacity(k_max);
    for k in 1..=k_max {
        // With fewer items than k, the best snapshot is the one with every item apart.
        let snap = (1..=k).rev().find_map(|j| snapshots[j].clone()).expect("k=1 snapshot exists");
        let mut best: Option<Grouping> = None;
        for start in [normalise(&snap), by_vendor[k - 1].clone(), by_size[k - 1].clone()] {
            let assign = local_search(items, &start);
            let g = Grouping { objective: objective(items, &assign), assign };
            if best.as_ref().is_none_or(|b| g.objective > b.objective) {
                best = Some(g);
            }
        }
        let g = best.expect("three candidates");
        // A grouping into fewer domains is also one into at most k: never report less.
        match out.last() {
            Some(prev) if prev.objective > g.objective => out.push(prev.clone()),
            _ => out.push(g),
        }
    }
    out
}

/// For every k ≤ k_max, the best split of `order` into at most k contiguous runs (dynamic
/// programming, O(k·n²) set operations), as a domain assignment.
fn interval_splits(items: &[Item], order: &[usize], k_max: usize) -> Vec<Vec<usize>> {
    let n = order.len();
    // dp[j][e]: best value of order[..e] in at most j+1 runs; from[j][e]: where the last run starts.
    let mut dp = vec![vec![0u64; n + 1]; k_max];
    let mut from = vec![vec![0usize; n + 1]; k_max];
    for j in 0..k_max {
        for e in 1..=n {
            let (mut inter, mut w) = (items[order[e - 1]].set, 0u64);
            let (mut best, mut arg) = (0u64, 0usize);
            for s in (0..e).rev() {
                inter.intersect_with(&items[order[s]].set);
                w += items[order[s]].weight;
                let prev = if s == 0 {
                    0
                } else if j == 0 {
                    continue;
                } else {
                    dp[j - 1][s]
                };
                let v = prev + w * inter.count() as u64;
                if v > best || (v == best && s > arg) {
                    best = v;
                    arg = s;
                }
            }
            dp[j][e] = best;
            from[j][e] = arg;
        }
    }
    (0..k_max)
        .map(|j| {
            let mut assign = vec![0usize; items.len()];
            let (mut e, mut jj, mut d) = (n, j, 0usize);
            while e > 0 {
                let s = from[jj][e];
                for &i in &order[s..e] {
                    assign[i] = d;
                }
                d += 1;
                e = s;
                jj = jj.saturating_sub(1);
            }
            normalise(&assign)
        })
        .collect()
}

/// Moves single items between domains while a move raises the objective.
pub(crate) fn local_search(items: &[Item], assign: &[usize]) -> Vec<usize> {
    let mut assign = assign.to_vec();
    let k = assign.iter().copied().max().map_or(0, |m| m + 1);
    let nf = cpufleet_engine::MAX_FEATURES;
    let mut counts = vec![vec![0u32; nf]; k];
    let mut size = vec![0u32; k];
    let mut weight = vec![0u64; k];
    for (it, &d) in items.iter().zip(&assign) {
        for id in it.set.iter() {
            counts[d][id.index()] += 1;
        }
        size[d] += 1;
        weight[d] += it.weight;
    }
    let inter_of = |counts: &[u32], size: u32, minus: Option<&FeatureSet>| -> FeatureSet {
        counts
            .iter()
            .enumerate()
            .filter(|&(f, &c)| {
                let own = minus.is_some_and(|s| s.contains(cpufleet_engine::FeatureId(f as u16)));
                size > 0 && c - u32::from(own) == size - u32::from(minus.is_some())
            })
            .map(|(f, _)| cpufleet_engine::FeatureId(f as u16))
            .collect()
    };
    let mut inter: Vec<FeatureSet> = (0..k).map(|d| inter_of(&counts[d], size[d], None)).collect();
    for _pass in 0..50 {
        let mut moved = false;
        for (i, it) in items.iter().enumerate() {
            let a = assign[i];
            // Change of the objective when item i leaves domain a …
            let val_a = (weight[a] * inter[a].count() as u64) as i128;
            let without = if size[a] == 1 {
                0
            } else {
                ((weight[a] - it.weight) * inter_of(&counts[a], size[a], Some(&it.set)).count() as u64) as i128
            };
            let leave = without - val_a;
            // … and joins domain b; take the best strictly improving move.
            let mut best: Option<(i128, usize)> = None;
            for b in 0..k {
                if b == a || size[b] == 0 {
                    continue;
                }
                let joined = ((weight[b] + it.weight) * inter[b].intersection(&it.set).count() as u64) as i128;
                let now = (weight[b] * inter[b].count() as u64) as i128;
                let delta = leave + joined - now;
                if delta > 0 && best.is_none_or(|(d, _)| delta > d) {
                    best = Some((delta, b));
                }
            }
            if let Some((_, b)) = best {
                for id in it.set.iter() {
                    counts[a][id.index()] -= 1;
                    counts[b][id.index()] += 1;
                }
                size[a] -= 1;
                size[b] += 1;
                weight[a] -= it.weight;
                weight[b] += it.weight;
                assign[i] = b;
                inter[a] = inter_of(&counts[a], size[a], None);
                inter[b] = inter_of(&counts[b], size[b], None);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    normalise(&assign)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use cpufleet_engine::FeatureSet;
    use cpufleet_engine::{CpuMap, FeatureId};

    /// Every partition of 0..n into at most k blocks (restricted growth strings).
    fn brute_force(items: &[Item], k: usize) -> u64 {
        fn rec(items: &[Item], k: usize, assign: &mut Vec<usize>, used: usize, best: &mut u64) {
            if assign.len() == items.len() {
                *best = (*best).max(objective(items, assign));
                return;
            }
            for d in 0..(used + 1).min(k) {
                assign.push(d);
                rec(items, k, assign, used.max(d + 1), best);
                assign.pop();
            }
        }
        let mut best = 0;
        rec(items, k, &mut Vec::new(), 0, &mut best);
        best
    }

    fn random_items(rng: &mut Rng, n: usize, universe: u64) -> Vec<Item> {
        (0..n)
            .map(|_| {
                let set: FeatureSet = (0..universe).filter(|_| rng.chance(0.7)).map(|f| FeatureId(f as u16)).collect();
                Item { set, weight: 1 + rng.below(20), vendor: 0 }
            })
            .collect()
    }

    /// Items from the generation profiles: the realistic shape (nearly nested within a vendor).
    fn profile_items(rng: &mut Rng, n: usize) -> Vec<Item> {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let profiles = crate::profiles::load(&map.x86, None).unwrap();
        (0..n)
            .map(|_| {
                let p = &profiles.list[rng.below(profiles.list.len() as u64) as usize];
                let level = rng.below(p.levels.len() as u64 + 1) as usize;
                Item { set: p.features_at(level), weight: 1 + rng.below(500), vendor: p.vendor }
            })
            .collect()
    }

    #[test]
    fn exact_plan_equals_brute_force_on_small_fleets() {
        let mut rng = Rng::new(42);
        for case in 0..300 {
            let n = 1 + (case % 8);
            let items = if case % 2 == 0 { random_items(&mut rng, n, 12) } else { profile_items(&mut rng, n) };
            for k in 1..=3 {
                let g = exact(&items, k);
                let bf = brute_force(&items, k);
                assert_eq!(g.objective, bf, "case {case} n {n} k {k}");
                assert_eq!(objective(&items, &g.assign), g.objective);
                assert!(g.assign.iter().all(|&d| d < k));
            }
        }
    }

    #[test]
    fn heuristic_plan_against_brute_force() {
        // The heuristic (used above EXACT_MAX items) never claims more than the optimum, always
        // returns a valid grouping, and on realistic fleets finds the optimum or comes close.
        let mut rng = Rng::new(7);
        let (mut optimal, mut total, mut worst) = (0, 0, 1.0f64);
        for case in 0..200 {
            let n = 2 + (case % 7);
            let items = if case % 2 == 0 { random_items(&mut rng, n, 12) } else { profile_items(&mut rng, n) };
            let all = heuristic_all(&items, 3);
            for (i, g) in all.iter().enumerate() {
                let k = i + 1;
                let bf = brute_force(&items, k);
                assert!(g.objective <= bf);
                assert_eq!(objective(&items, &g.assign), g.objective);
                assert!(g.assign.iter().all(|&d| d < k), "case {case} k {k}: {:?}", g.assign);
                total += 1;
                optimal += usize::from(g.objective == bf);
                if bf > 0 {
                    worst = worst.min(g.objective as f64 / bf as f64);
                }
                if case % 2 == 1 {
                    assert!(g.objective as f64 >= 0.97 * bf as f64, "case {case} k {k}: {} vs {bf}", g.objective);
                }
            }
        }
        eprintln!("heuristic optimal in {optimal} of {total}, worst ratio {worst:.3}");
        assert!(optimal * 100 >= total * 95, "optimal in {optimal} of {total}");
        assert!(worst >= 0.85, "worst ratio {worst}");
    }

    #[test]
    fn more_domains_never_keep_fewer_features() {
        let mut rng = Rng::new(3);
        let items = profile_items(&mut rng, 40);
        let all = solve_all(&items, 6);
        for w in all.windows(2) {
            assert!(w[1].objective >= w[0].objective);
        }
        // k = 1 is the fleet-wide intersection.
        let mut inter = items[0].set;
        for i in &items {
            inter.intersect_with(&i.set);
        }
        let w: u64 = items.iter().map(|i| i.weight).sum();
        assert_eq!(all[0].objective, w * inter.count() as u64);
    }
}
