//! Local search for small and mid-sized settings groups: single moves, exact re-solving of a
//! few batches at a time, and kicks out of local optima.

use super::{Batch, Problem, Summary, EPSILON, EXACT_LIMIT, POLISH_BATCHES};

impl Problem<'_> {
    /// Best-improvement local search: repeatedly apply the move that saves most (merge two
    /// batches, move one job to another batch or a batch of its own, swap two jobs) until none
    /// saves anything or the plan's evaluation budget runs out.
    pub(super) fn improve(&self, mut batches: Vec<Batch>) -> Vec<Batch> {
        loop {
            let jobs: usize = batches.iter().map(|b| b.members.len()).sum();
            let open: Vec<usize> = (0..batches.len())
                .filter(|&i| self.fits_more(&batches[i].sum))
                .collect();
            // Charge the whole step up front, so the budget is an exact function of the input.
            let evaluations = open.len() * open.len() / 2 + jobs * (open.len() + 1 + jobs / 2);
            if !self.spend(evaluations as u64) {
                break;
            }

            let prices: Vec<f64> = batches.iter().map(|b| self.price(&b.sum)).collect();
            let without: Vec<Vec<Option<Summary>>> = batches
                .iter()
                .map(|b| {
                    (0..b.members.len())
                        .map(|k| self.summary_without(&b.members, k))
                        .collect()
                })
                .collect();
            let priced = |s: &Option<Summary>| s.as_ref().map_or(0.0, |s| self.price(s));
            let mut best = Move::None;
            let mut best_gain = EPSILON;
            let mut consider = |gain: f64, m: Move| {
                if gain > best_gain {
                    best_gain = gain;
                    best = m;
                }
            };

            for (n, &i) in open.iter().enumerate() {
                for &j in &open[n + 1..] {
                    let merged = batches[i].sum.add(&batches[j].sum);
                    if self.fits(&merged) {
                        consider(
                            prices[i] + prices[j] - self.price(&merged),
                            Move::Merge(i, j),
                        );
                    }
                }
            }
            for (a, source) in batches.iter().enumerate() {
                for (k, &x) in source.members.iter().enumerate() {
                    let rest = priced(&without[a][k]);
                    let unit = self.units[x];
                    // Learned sizes can make a smaller control set hold fewer jobs, so what a
                    // job leaves behind must fit too.
                    let leaves = without[a][k].is_none_or(|s| self.fits(&s));
                    if source.members.len() > 1 && leaves {
                        consider(prices[a] - rest - self.price(&unit), Move::Split(a, k));
                    }
                    for &b in open.iter().filter(|_| leaves) {
                        let grown = batches[b].sum.add(&unit);
                        if b != a && self.fits(&grown) {
                            let gain = prices[a] + prices[b] - rest - self.price(&grown);
                            consider(gain, Move::Relocate(a, k, b));
                        }
                    }
                    for (b, target) in batches.iter().enumerate().skip(a + 1) {
                        if source.members.len() == 1 && target.members.len() == 1 {
                            continue; // swapping two lone jobs changes nothing
                        }
                        for (l, &y) in target.members.iter().enumerate() {
                            let here =
                                without[a][k].map_or(self.units[y], |s| s.add(&self.units[y]));
                            let there = without[b][l].map_or(unit, |s| s.add(&unit));
                            if self.fits(&here) && self.fits(&there) {
                                let gain =
                                    prices[a] + prices[b] - self.price(&here) - self.price(&there);
                                consider(gain, Move::Swap(a, k, b, l));
                            }
                        }
                    }
                }
            }

            let touched = match best {
                Move::None => break,
                Move::Merge(i, j) => {
                    let moved = std::mem::take(&mut batches[j].members);
                    batches[i].members.extend(moved);
                    [i, j]
                }
                Move::Split(a, k) => {
                    let x = batches[a].members.remove(k);
                    batches.push(self.batch(vec![x]));
                    [a, batches.len() - 1]
                }
                Move::Relocate(a, k, b) => {
                    let x = batches[a].members.remove(k);
                    batches[b].members.push(x);
                    [a, b]
                }
                Move::Swap(a, k, b, l) => {
                    let x = batches[a].members[k];
                    batches[a].members[k] = batches[b].members[l];
                    batches[b].members[l] = x;
                    [a, b]
                }
            };
            for i in touched {
                if let Some(s) = self.summary(&batches[i].members) {
                    batches[i].sum = s;
                }
            }
            batches.retain(|b| !b.members.is_empty());
        }
        batches
    }

    /// A larger neighbourhood around the local search: re-solve exactly the jobs of any two to
    /// `POLISH_BATCHES` batches that hold at most `EXACT_LIMIT` jobs together. This finds chains
    /// such as "move a job out, then merge what is left elsewhere" whose first step alone costs
    /// time. Keeps the first re-grouping that saves time and starts over, alternating with the
    /// local search until neither saves anything.
    pub(super) fn polish(&self, mut batches: Vec<Batch>) -> Vec<Batch> {
        // Re-solving comes first: after `kick` dissolves a batch, the local search would merge
        // its jobs straight back before a larger re-grouping could use them.
        'search: while !self.spent() {
            let sizes: Vec<usize> = batches.iter().map(|b| b.members.len()).collect();
            let mut sets = Vec::new();
            subsets(&sizes, 0, &mut Vec::new(), 0, &mut sets);
            for set in sets {
                let jobs: Vec<usize> = set
                    .iter()
                    .flat_map(|&i| batches[i].members.iter().copied())
                    .collect();
                // One DP step is a few instructions: about a quarter of a move evaluation.
                if !self.spend(3u64.pow(jobs.len() as u32) / 4) {
                    break 'search;
                }
                let now: f64 = set.iter().map(|&i| self.price(&batches[i].sum)).sum();
                let better = self.exact(&jobs);
                if self.total(&better) < now - EPSILON {
                    for &i in set.iter().rev() {
                        batches.swap_remove(i);
                    }
                    batches.extend(better.into_iter().map(|b| self.batch(b)));
                    continue 'search;
                }
            }
            let total: f64 = batches.iter().map(|b| self.price(&b.sum)).sum();
            batches = self.improve(batches);
            let after: f64 = batches.iter().map(|b| self.price(&b.sum)).sum();
            if after >= total - EPSILON {
                break;
            }
        }
        batches
    }

    /// Escapes from local optima: take one batch apart and put its jobs back, two ways (each
    /// job where it adds least, then the local search; or each alone, then polish); keep a
    /// result when it is cheaper, and go on until no batch's dissolution helps.
    pub(super) fn kick(&self, mut batches: Vec<Batch>) -> Vec<Batch> {
        let mut total: f64 = batches.iter().map(|b| self.price(&b.sum)).sum();
        let mut i = 0;
        while i < batches.len() && !self.spent() {
            if batches[i].members.len() == 1 {
                i += 1; // a lone job dissolves into itself
                continue;
            }
            let mut kept = false;
            for trial in [self.reinsert(&batches, i), Some(self.dissolve(&batches, i))]
                .into_iter()
                .flatten()
            {
                let trial_total: f64 = trial.iter().map(|b| self.price(&b.sum)).sum();
                if trial_total < total - EPSILON {
                    batches = trial;
                    total = trial_total;
                    kept = true;
                    break;
                }
            }
            i = if kept { 0 } else { i + 1 };
        }
        batches
    }

    /// Batch `i` dissolved into lone jobs, then polished.
    fn dissolve(&self, batches: &[Batch], i: usize) -> Vec<Batch> {
        let mut trial = batches.to_vec();
        let dissolved = trial.swap_remove(i);
        trial.extend(dissolved.members.iter().map(|&m| self.batch(vec![m])));
        self.polish(trial)
    }

    /// Batch `i`'s jobs put back one by one where each adds the least (another batch it fits,
    /// or alone), then the local search: this reaches "move one job out, merge the rest
    /// elsewhere" when those batches hold too many jobs together to re-solve exactly.
    /// `None` when the budget is spent.
    fn reinsert(&self, batches: &[Batch], i: usize) -> Option<Vec<Batch>> {
        let mut trial = batches.to_vec();
        let taken = trial.swap_remove(i);
        if !self.spend((taken.members.len() * (trial.len() + 1)) as u64) {
            return None;
        }
        for &m in &taken.members {
            let unit = self.units[m];
            let mut best = (self.price(&unit), None);
            for (b, batch) in trial.iter().enumerate() {
                let grown = batch.sum.add(&unit);
                if self.fits(&grown) {
                    let added = self.price(&grown) - self.price(&batch.sum);
                    if added < best.0 - EPSILON {
                        best = (added, Some((b, grown)));
                    }
                }
            }
            match best.1 {
                Some((b, grown)) => {
                    trial[b].members.push(m);
                    trial[b].sum = grown;
                }
                None => trial.push(self.batch(vec![m])),
            }
        }
        Some(self.improve(trial))
    }
}

/// Every set of 2 to `POLISH_BATCHES` batches (indices from `from` on, added to `chosen`) that
/// holds at most `EXACT_LIMIT` jobs, in lexicographic order.
fn subsets(
    sizes: &[usize],
    from: usize,
    chosen: &mut Vec<usize>,
    jobs: usize,
    out: &mut Vec<Vec<usize>>,
) {
    for i in from..sizes.len() {
        if jobs + sizes[i] > EXACT_LIMIT {
            continue;
        }
        chosen.push(i);
        if chosen.len() >= 2 {
            out.push(chosen.clone());
        }
        if chosen.len() < POLISH_BATCHES {
            subsets(sizes, i + 1, chosen, jobs + sizes[i], out);
        }
        chosen.pop();
    }
}

#[derive(Clone, Copy)]
enum Move {
    None,
    Merge(usize, usize),
    /// Take the `k`-th job of batch `a` into a batch of its own.
    Split(usize, usize),
    /// Move the `k`-th job of batch `a` to batch `b`.
    Relocate(usize, usize, usize),
    /// Exchange the `k`-th job of batch `a` with the `l`-th job of batch `b`.
    Swap(usize, usize, usize, usize),
}
