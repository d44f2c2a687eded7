//! Where batches are formed: the strict grouping and the mixed-mode search.
//!
//! Jobs whose process-global settings differ can never share a batch, so the queue splits into
//! independent settings groups. Strict mode fills batches per (group, control signature) in
//! queue order. Mixed mode starts from the strict grouping (so it can never do worse) and from a
//! grouping that clusters identical jobs (so batched passes are found), improves both by local
//! search (merge two batches, move one job) on the cost model, and keeps the cheaper.

use super::{safe_batch_size, Limits, PlanJob, PlanMode};
use crate::control::{Control, ControlSet};
use crate::cost::CostModel;
use std::collections::HashMap;

/// Improvements smaller than this many seconds are noise, not progress.
const EPSILON: f64 = 1e-7;

/// A batchable job, reduced to what the cost model needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item {
    /// Index of the job in the planner's input (its queue position).
    pub job: usize,
    pub signature: ControlSet,
    pub supplied: ControlSet,
    /// chunks × num_steps.
    pub work: f64,
    /// Jobs with equal `compat` have identical weights, frame counts and aspect buckets.
    pub compat: u32,
    /// Jobs with equal `group` share every process-global setting.
    pub group: u32,
}

/// Precomputed sums of the cost model's per-control parameters for every control set.
struct Tables {
    startup: f64,
    step: f64,
    efficiency: f64,
    load: [f64; 128],
    control_step: [f64; 128],
    preprocess: [f64; 128],
}

impl Tables {
    fn new(cost: &CostModel) -> Self {
        let mut t = Tables {
            startup: cost.startup_seconds,
            step: cost.step_seconds,
            efficiency: cost.batched_pass_efficiency,
            load: [0.0; 128],
            control_step: [0.0; 128],
            preprocess: [0.0; 128],
        };
        for bits in 0..128u8 {
            let set: ControlSet = Control::ALL
                .into_iter()
                .filter(|c| bits & (1 << (*c as u8)) != 0)
                .collect();
            let i = bits as usize;
            for c in set.iter() {
                t.load[i] += cost.control_load(c);
                t.control_step[i] += cost.control_step(c);
                t.preprocess[i] += cost.preprocess(c);
            }
        }
        t
    }
}

/// A batch being formed: indices into `Problem::items`.
pub(super) type Members = Vec<usize>;

pub(super) struct Problem<'a> {
    pub jobs: &'a [PlanJob],
    pub items: Vec<Item>,
    pub limits: Limits,
    pub cost: &'a CostModel,
    tables: Tables,
}

/// Interns keys to small dense ids in order of first appearance.
struct Interner<K>(HashMap<K, u32>);

impl<K: std::hash::Hash + Eq> Interner<K> {
    fn new() -> Self {
        Interner(HashMap::new())
    }

    fn id(&mut self, key: K) -> u32 {
        let next = self.0.len() as u32;
        *self.0.entry(key).or_insert(next)
    }
}

/// f64s compared by value, with -0.0 equal to 0.0.
fn bits(x: f64) -> u64 {
    if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

impl<'a> Problem<'a> {
    pub fn new(jobs: &'a [PlanJob], limits: Limits, cost: &'a CostModel) -> Self {
        let mut groups = Interner::new();
        let mut compats = Interner::new();
        let items = jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.batchable())
            .map(|(index, j)| {
                let c = &j.config;
                let group = groups.id((
                    c.num_steps,
                    bits(c.guidance),
                    c.seed,
                    bits(c.sigma_max),
                    c.blur_strength,
                    c.canny_threshold,
                    c.fps,
                    j.negative_prompt.clone(),
                ));
                let weights: Vec<u64> = Control::ALL.iter().map(|k| bits(c.weight(*k))).collect();
                let compat = compats.id((weights, j.frames, j.bucket));
                let load = j.load();
                Item {
                    job: index,
                    signature: load.signature,
                    supplied: load.supplied,
                    work: load.chunks as f64 * load.num_steps as f64,
                    compat,
                    group,
                }
            })
            .collect();
        Problem {
            jobs,
            items,
            limits,
            cost,
            tables: Tables::new(cost),
        }
    }

    /// Controls a batch loads: the union of its jobs' signatures.
    pub fn loaded(&self, members: &[usize]) -> ControlSet {
        members
            .iter()
            .fold(ControlSet::EMPTY, |u, &m| u.union(self.items[m].signature))
    }

    /// Most jobs a batch that loads `loaded` may hold.
    pub fn capacity(&self, loaded: ControlSet) -> usize {
        safe_batch_size(loaded.len(), self.limits.max_batch_size) as usize
    }

    /// The `--batch_size` for these jobs: all of them in one pass when they are identical in
    /// weights, frames and aspect bucket, otherwise one at a time.
    pub fn batch_size(&self, members: &[usize]) -> u32 {
        let first = self.items[members[0]].compat;
        if members.len() > 1 && members.iter().all(|&m| self.items[m].compat == first) {
            members.len() as u32
        } else {
            1
        }
    }

    /// Estimated seconds of a batch of `a` plus `b` (either may be empty), skipping `skip`.
    fn cost_of(&self, a: &[usize], b: &[usize], skip: Option<usize>) -> f64 {
        let t = &self.tables;
        let mut loaded = ControlSet::EMPTY;
        let mut count = 0usize;
        let mut first_compat = None;
        let mut uniform = true;
        for &m in a.iter().chain(b).filter(|&&m| Some(m) != skip) {
            let item = &self.items[m];
            loaded = loaded.union(item.signature);
            count += 1;
            match first_compat {
                None => first_compat = Some(item.compat),
                Some(c) => uniform &= c == item.compat,
            }
        }
        if count == 0 {
            return 0.0;
        }
        let efficiency = if count > 1 && uniform {
            t.efficiency
        } else {
            1.0
        };
        let u = loaded.bits() as usize;
        let step = (t.step + t.control_step[u]) * efficiency;
        let mut total = t.startup + t.load[u];
        for &m in a.iter().chain(b).filter(|&&m| Some(m) != skip) {
            let item = &self.items[m];
            total +=
                item.work * step + t.preprocess[(loaded.bits() & !item.supplied.bits()) as usize];
        }
        total
    }

    pub fn cost(&self, members: &[usize]) -> f64 {
        self.cost_of(members, &[], None)
    }

    /// The batches for `mode`, each sorted by queue order, ordered by their earliest job.
    pub fn solve(&self, mode: PlanMode) -> Vec<Members> {
        let mut all = Vec::new();
        for group in self.groups() {
            let strict = self.fill(&group, |item| item.signature.bits() as u64);
            let batches = match mode {
                PlanMode::Strict => strict,
                PlanMode::Mixed => {
                    let from_strict = self.improve(strict);
                    let clustered = self.improve(self.fill(&group, |item| item.compat as u64));
                    if self.total(&clustered) < self.total(&from_strict) - EPSILON {
                        clustered
                    } else {
                        from_strict
                    }
                }
            };
            all.extend(batches);
        }
        for b in &mut all {
            b.sort_unstable();
        }
        all.sort_by_key(|b| b[0]);
        all
    }

    /// Item indices per settings group, groups in order of their first job.
    fn groups(&self) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            let g = item.group as usize;
            if g == groups.len() {
                groups.push(Vec::new());
            }
            groups[g].push(i);
        }
        groups
    }

    /// Fill batches in queue order, one open batch per key, each up to its safe size.
    fn fill(&self, group: &[usize], key: impl Fn(&Item) -> u64) -> Vec<Members> {
        let mut batches: Vec<Members> = Vec::new();
        let mut open: HashMap<u64, usize> = HashMap::new();
        for &m in group {
            let item = &self.items[m];
            let k = key(item);
            match open.get(&k) {
                Some(&b) if batches[b].len() < self.capacity(self.loaded(&batches[b])) => {
                    batches[b].push(m)
                }
                _ => {
                    open.insert(k, batches.len());
                    batches.push(vec![m]);
                }
            }
        }
        batches
    }

    fn total(&self, batches: &[Members]) -> f64 {
        batches.iter().map(|b| self.cost(b)).sum()
    }

    /// Local search: repeatedly apply the best cost-reducing move (merge two batches, or move
    /// one job into another batch or a batch of its own) until none is left.
    fn improve(&self, mut batches: Vec<Members>) -> Vec<Members> {
        let mut costs: Vec<f64> = batches.iter().map(|b| self.cost(b)).collect();
        loop {
            let loaded: Vec<ControlSet> = batches.iter().map(|b| self.loaded(b)).collect();
            let open: Vec<usize> = (0..batches.len())
                .filter(|&i| batches[i].len() < self.capacity(loaded[i]))
                .collect();
            let mut best = Move::None;
            let mut best_gain = EPSILON;

            for (n, &i) in open.iter().enumerate() {
                for &j in &open[n + 1..] {
                    let union = loaded[i].union(loaded[j]);
                    if batches[i].len() + batches[j].len() > self.capacity(union) {
                        continue;
                    }
                    let gain = costs[i] + costs[j] - self.cost_of(&batches[i], &batches[j], None);
                    if gain > best_gain {
                        best_gain = gain;
                        best = Move::Merge(i, j);
                    }
                }
            }

            for (a, source) in batches.iter().enumerate() {
                for &x in source {
                    let without = self.cost_of(source, &[], Some(x));
                    let signature = self.items[x].signature;
                    if source.len() > 1 {
                        let gain = costs[a] - without - self.cost(&[x]);
                        if gain > best_gain {
                            best_gain = gain;
                            best = Move::Split(a, x);
                        }
                    }
                    for &b in &open {
                        if b == a
                            || batches[b].len() + 1 > self.capacity(loaded[b].union(signature))
                        {
                            continue;
                        }
                        let gain =
                            costs[a] + costs[b] - without - self.cost_of(&batches[b], &[x], None);
                        if gain > best_gain {
                            best_gain = gain;
                            best = Move::Relocate(a, x, b);
                        }
                    }
                }
            }

            let touched = match best {
                Move::None => break,
                Move::Merge(i, j) => {
                    let moved = std::mem::take(&mut batches[j]);
                    batches[i].extend(moved);
                    vec![i, j]
                }
                Move::Split(a, x) => {
                    batches[a].retain(|&m| m != x);
                    batches.push(vec![x]);
                    costs.push(0.0);
                    vec![a, batches.len() - 1]
                }
                Move::Relocate(a, x, b) => {
                    batches[a].retain(|&m| m != x);
                    batches[b].push(x);
                    vec![a, b]
                }
            };
            for i in touched {
                costs[i] = self.cost(&batches[i]);
            }
            // Drop emptied batches, keeping costs aligned.
            let mut k = 0;
            while k < batches.len() {
                if batches[k].is_empty() {
                    batches.swap_remove(k);
                    costs.swap_remove(k);
                } else {
                    k += 1;
                }
            }
        }
        batches
    }
}

#[derive(Clone, Copy)]
enum Move {
    None,
    Merge(usize, usize),
    /// Take job `x` out of batch `a` into a batch of its own.
    Split(usize, usize),
    /// Move job `x` from batch `a` to batch `b`.
    Relocate(usize, usize, usize),
}
