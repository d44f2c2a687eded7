//! Strict mode: only jobs with the same control signature share a batch, and each signature's
//! jobs are split into the cheapest batches found.
//!
//! Within one (settings group, signature) every batch loads the same controls, so it costs
//! the same start and load, and its compute is cheaper only as one batched forward pass, which
//! needs identical weights, frames and aspect bucket (`Item::compat`). Filling batches in queue
//! order (what the tool cosmosq replaces does) can mix weights and lose that pass; filling
//! each compat class on its own first can leave many half-empty batches. So the partition is
//! the cheapest of: queue-order chunks of every size up to the batch's capacity (so it is never
//! worse than that tool at any batch size), the exact optimum for small signatures, and a
//! compat-first fill whose leftovers are pooled where that saves more start-ups than it loses
//! batched passes.

use super::{Members, Problem, EPSILON, EXACT_LIMIT};
use std::collections::HashMap;

impl Problem<'_> {
    /// Strict batches of one settings group.
    pub(super) fn strict(&self, group: &[usize]) -> Vec<Members> {
        let mut signatures: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<u8, usize> = HashMap::new();
        for &m in group {
            let sig = self.items[m].signature.bits();
            let at = *index.entry(sig).or_insert_with(|| {
                signatures.push(Vec::new());
                signatures.len() - 1
            });
            signatures[at].push(m);
        }
        let mut batches = Vec::new();
        for jobs in signatures {
            let cap = self.capacity(self.loaded(&jobs)).max(1);
            // Queue-order chunks of every size up to the capacity: what the replaced tool
            // would have run at any batch size (smaller chunks can keep a batched pass).
            let mut best = self.fill(&jobs, |_| 0);
            let mut best_total = self.total(&best);
            let mut consider = |candidate: Vec<Members>| {
                let total = self.total(&candidate);
                if total < best_total - EPSILON {
                    best = candidate;
                    best_total = total;
                }
            };
            for size in 1..cap {
                consider(jobs.chunks(size).map(<[usize]>::to_vec).collect());
            }
            consider(if jobs.len() <= EXACT_LIMIT {
                self.exact(&jobs)
            } else {
                self.compat_first(&jobs, cap)
            });
            batches.extend(best);
        }
        batches
    }

    /// Full batches of each compat class in queue order; what is left of each class either
    /// stays a batch of its own (it keeps its batched pass) or joins a pool of leftovers that
    /// is filled in queue order (fewer start-ups), whichever the cost model prefers.
    fn compat_first(&self, jobs: &[usize], cap: usize) -> Vec<Members> {
        let mut classes: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<u32, usize> = HashMap::new();
        for &m in jobs {
            let at = *index.entry(self.items[m].compat).or_insert_with(|| {
                classes.push(Vec::new());
                classes.len() - 1
            });
            classes[at].push(m);
        }
        let mut batches: Vec<Members> = Vec::new();
        let mut pool: Vec<usize> = Vec::new();
        let mut leftovers: Vec<Members> = Vec::new();
        for class in classes {
            let mut chunks = class.chunks(cap).map(<[usize]>::to_vec).collect::<Vec<_>>();
            if chunks.last().is_some_and(|c| c.len() < cap) {
                let last = chunks.pop().expect("checked");
                if last.len() == 1 {
                    pool.extend(last);
                } else {
                    leftovers.push(last);
                }
            }
            batches.extend(chunks);
        }
        // Every batch here costs `fixed` to start and load; a leftover kept apart saves its
        // batched pass, the pool adds a batch per `cap` jobs.
        let fixed = self.tables.startup + self.tables.load[self.loaded(jobs).bits() as usize];
        let gain = |b: &Members| self.cost_as_mixed(b) - self.cost(b);
        leftovers.sort_by(|a, b| gain(a).total_cmp(&gain(b)));
        let mut kept = Vec::new();
        for leftover in leftovers {
            let before = pool.len().div_ceil(cap);
            let after = (pool.len() + leftover.len()).div_ceil(cap);
            let change = (after - before) as f64 * fixed - fixed + gain(&leftover);
            if change < -EPSILON {
                pool.extend(leftover);
            } else {
                kept.push(leftover);
            }
        }
        pool.sort_unstable();
        batches.extend(kept);
        batches.extend(pool.chunks(cap).map(<[usize]>::to_vec));
        batches
    }

    /// What `members` would cost without a batched pass.
    fn cost_as_mixed(&self, members: &[usize]) -> f64 {
        self.summary(members)
            .map_or(0.0, |s| self.price(&super::Summary { compat: None, ..s }))
    }
}
