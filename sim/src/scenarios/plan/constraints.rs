//! The plan's constraints operators ask for, on top of the unconstrained solver of `solve.rs`.
//!
//! - **Domains never mix vendors** (unless `--allow-cross-vendor`): libvirt refuses to baseline
//!   CPUs of different vendors and the migrate scenario refuses cross-vendor moves, so a mixed
//!   domain is one no guest could use. Vendors are solved apart and the domain budget is shared
//!   out by a knapsack over the per-vendor curves: the best split into j domains of each vendor
//!   (`solve_all`, exact up to `EXACT_MAX` items, heuristic above), combined exactly. Every vendor
//!   needs a domain of its own, so k below the number of vendors has no plan.
//! - **At least N hosts per domain** (`--min-domain-hosts`): a domain below N is merged into the
//!   domain of its vendor where the merge loses least, until none is below N or a vendor has only
//!   one domain left (a vendor with fewer than N hosts in all cannot meet it; the report says so).
//! - **Pools whole** (`--keep-pools-whole`) is a choice of items, not a constraint here: one
//!   item per pool (its hosts' intersection, weighted by its host count) gives exactly the
//!   objective of domains made of whole pools.

use super::solve::{objective, solve_all, Grouping, Item};

/// Indices of `items` per vendor, vendors in ascending order.
pub(crate) fn by_vendor(items: &[Item]) -> Vec<Vec<usize>> {
    let mut vendors: Vec<usize> = items.iter().map(|i| i.vendor).collect();
    vendors.sort_unstable();
    vendors.dedup();
    vendors.iter().map(|&v| (0..items.len()).filter(|&i| items[i].vendor == v).collect()).collect()
}

/// The best vendor-pure grouping into at most k domains, for every k in 1..=k_max; `None` for
/// k smaller than the number of vendors.
pub(crate) fn solve_by_vendor(items: &[Item], k_max: usize) -> Vec<Option<Grouping>> {
    let groups = by_vendor(items);
    let n_vendors = groups.len();
    if n_vendors <= 1 {
        return solve_all(items, k_max).into_iter().map(Some).collect();
    }
    // curves[v][j-1] = the best grouping of vendor v's items into at most j domains.
    let curves: Vec<Vec<Grouping>> = groups
        .iter()
        .map(|idx| {
            let sub: Vec<Item> = idx.iter().map(|&i| items[i].clone()).collect();
            solve_all(&sub, k_max)
        })
        .collect();
    // best[v][j] = (objective, domains given to vendor v) using j domains for vendors 0..=v.
    let mut best: Vec<Vec<Option<(u64, usize)>>> = Vec::with_capacity(n_vendors);
    for (v, curve) in curves.iter().enumerate() {
        let mut row = vec![None; k_max + 1];
        for (j, slot) in row.iter_mut().enumerate() {
            for take in 1..=j.min(k_max) {
                let before = if v == 0 { (j == take).then_some(0) } else { best[v - 1][j - take].map(|(o, _)| o) };
                if let Some(b) = before {
                    let total = b + curve[take - 1].objective;
                    if slot.is_none_or(|(o, _)| total > o) {
                        *slot = Some((total, take));
                    }
                }
            }
        }
        best.push(row);
    }
    (1..=k_max)
        .map(|k| {
            // At most k domains: the best over exactly j ≤ k.
            let j = (1..=k)
                .filter(|&j| best[n_vendors - 1][j].is_some())
                .max_by_key(|&j| (best[n_vendors - 1][j].map(|(o, _)| o), std::cmp::Reverse(j)))?;
            Some(assemble(items, &groups, &curves, &best, j))
        })
        .collect()
}

/// The grouping behind `best[last][j]`: each vendor's own grouping, its domains numbered after
/// the previous vendors'.
fn assemble(
    items: &[Item],
    groups: &[Vec<usize>],
    curves: &[Vec<Grouping>],
    best: &[Vec<Option<(u64, usize)>>],
    mut j: usize,
) -> Grouping {
    let mut takes = vec![0; groups.len()];
    for v in (0..groups.len()).rev() {
        let (_, take) = best[v][j].expect("reachable");
        takes[v] = take;
        j -= take;
    }
    let mut assign = vec![0usize; items.len()];
    let mut offset = 0;
    for (v, idx) in groups.iter().enumerate() {
        let g = &curves[v][takes[v] - 1];
        for (pos, &i) in idx.iter().enumerate() {
            assign[i] = offset + g.assign[pos];
        }
        offset += g.assign.iter().copied().max().map_or(0, |m| m + 1);
    }
    let assign = renumber(&assign);
    Grouping { objective: objective(items, &assign), assign }
}

/// Domains renumbered in order of first use.
fn renumber(assign: &[usize]) -> Vec<usize> {
    let mut seen: Vec<usize> = Vec::new();
    assign
        .iter()
        .map(|d| match seen.iter().position(|s| s == d) {
            Some(p) => p,
            None => {
                seen.push(*d);
                seen.len() - 1
            }
        })
        .collect()
}

/// Merges domains with fewer than `min_hosts` hosts into the same-vendor domain where the merge
/// loses least, smallest first, until every domain has `min_hosts` or is its vendor's only one.
/// Returns the grouping and whether the minimum holds everywhere.
pub(crate) fn enforce_min_hosts(items: &[Item], g: &Grouping, min_hosts: u64, cross_vendor: bool) -> (Grouping, bool) {
    let mut assign = g.assign.clone();
    loop {
        let k = assign.iter().copied().max().map_or(0, |m| m + 1);
        let weight =
            |a: &[usize], d: usize| items.iter().zip(a).filter(|(_, &x)| x == d).map(|(i, _)| i.weight).sum::<u64>();
        let vendor = |a: &[usize], d: usize| items.iter().zip(a).find(|(_, &x)| x == d).map(|(i, _)| i.vendor);
        let small = (0..k)
            .filter(|&d| weight(&assign, d) < min_hosts)
            .filter(|&d| (0..k).any(|o| o != d && (cross_vendor || vendor(&assign, o) == vendor(&assign, d))))
            .min_by_key(|&d| (weight(&assign, d), d));
        let Some(d) = small else { break };
        let target = (0..k)
            .filter(|&o| o != d && (cross_vendor || vendor(&assign, o) == vendor(&assign, d)))
            .max_by_key(|&o| {
                let merged: Vec<usize> = assign.iter().map(|&x| if x == d { o } else { x }).collect();
                (objective(items, &merged), std::cmp::Reverse(o))
            })
            .expect("a partner exists");
        assign = renumber(&assign.iter().map(|&x| if x == d { target } else { x }).collect::<Vec<_>>());
    }
    let k = assign.iter().copied().max().map_or(0, |m| m + 1);
    let met = (0..k)
        .all(|d| items.iter().zip(&assign).filter(|(_, &x)| x == d).map(|(i, _)| i.weight).sum::<u64>() >= min_hosts);
    (Grouping { objective: objective(items, &assign), assign }, met)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpufleet_engine::FeatureSet;

    fn item(bits: &[u16], weight: u64, vendor: usize) -> Item {
        let mut set = FeatureSet::new();
        for &b in bits {
            set.insert(cpufleet_engine::FeatureId(b));
        }
        Item { set, weight, vendor }
    }

    /// Every vendor-pure partition into at most k domains, by brute force.
    fn brute(items: &[Item], k: usize) -> Option<u64> {
        fn go(items: &[Item], i: usize, assign: &mut Vec<usize>, k: usize, best: &mut Option<u64>) {
            if i == items.len() {
                let used = assign.iter().copied().max().map_or(0, |m| m + 1);
                let pure = (0..used).all(|d| {
                    let v: Vec<usize> =
                        items.iter().zip(assign.iter()).filter(|(_, &x)| x == d).map(|(it, _)| it.vendor).collect();
                    v.windows(2).all(|w| w[0] == w[1])
                });
                if pure {
                    let o = objective(items, assign);
                    *best = Some(best.map_or(o, |b: u64| b.max(o)));
                }
                return;
            }
            let used = assign.iter().copied().max().map_or(0, |m| m + 1);
            for d in 0..=used.min(k - 1) {
                assign.push(d);
                go(items, i + 1, assign, k, best);
                assign.pop();
            }
        }
        let mut best = None;
        go(items, 0, &mut Vec::new(), k, &mut best);
        best
    }

    #[test]
    fn vendor_pure_plans_are_optimal_and_never_mix_vendors() {
        let mut rng = crate::rng::Rng::new(0x1234_5678);
        let mut next = |n: u64| rng.below(n);
        for _case in 0..200 {
            let n = 2 + next(6) as usize;
            let items: Vec<Item> = (0..n)
                .map(|_| {
                    let bits: Vec<u16> = (0..12).filter(|_| next(3) != 0).collect();
                    item(&bits, 1 + next(5), next(2) as usize)
                })
                .collect();
            let plans = solve_by_vendor(&items, 4);
            let vendors = by_vendor(&items).len();
            for (k, plan) in (1..=4).zip(&plans) {
                let want = brute(&items, k);
                match plan {
                    None => assert!(k < vendors && want.is_none(), "k={k}: no plan, brute {want:?}"),
                    Some(g) => {
                        assert_eq!(Some(g.objective), want, "k={k} items={items:?}");
                        for d in 0..k {
                            let v: Vec<usize> =
                                items.iter().zip(&g.assign).filter(|(_, &x)| x == d).map(|(i, _)| i.vendor).collect();
                            assert!(v.windows(2).all(|w| w[0] == w[1]), "domain {d} mixes vendors");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn small_domains_merge_into_their_vendors_best_partner() {
        // Two rich single hosts, one big poorer group, all one vendor; a lone host of another.
        let items =
            vec![item(&[1, 2, 3, 4], 1, 0), item(&[1, 2, 3], 10, 0), item(&[1, 2, 3, 4, 5], 1, 0), item(&[7], 1, 1)];
        let g = Grouping { assign: vec![0, 1, 2, 3], objective: objective(&items, &[0, 1, 2, 3]) };
        let (m, met) = enforce_min_hosts(&items, &g, 2, false);
        let d = &m.assign;
        assert_eq!(d[0], d[1], "the small Intel domains join the big one");
        assert_eq!(d[2], d[1]);
        assert_ne!(d[3], d[1], "never across vendors");
        assert!(!met, "the other vendor has one host only");
        let (_, met) = enforce_min_hosts(&items, &g, 1, false);
        assert!(met);
    }
}
