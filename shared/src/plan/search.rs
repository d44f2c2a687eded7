//! Where batches are formed: the strict grouping and the mixed-mode search.
//!
//! Jobs whose process-global settings differ, as the program resolves them, or that need
//! different models ([`crate::Family`]) can never share a batch, so the queue splits into
//! independent settings groups. Strict mode partitions each (group, control signature) into
//! the cheapest batches it finds (see `Problem::strict`), never worse than filling them in
//! queue order. Mixed mode solves each group by the cheapest method that is good enough:
//!
//! - up to [`EXACT_LIMIT`] jobs: exactly, by dynamic programming over subsets;
//! - otherwise from several starts (the strict grouping, so it can never do worse; a grouping
//!   that clusters identical jobs, so batched passes are found; in smaller groups, every job
//!   alone), each improved by greedy merging of whole classes of interchangeable batches
//!   (`classes`: fast at any size), then in groups of up to [`LOCAL_LIMIT`] jobs by local search
//!   (`local`: merge, move, split, swap), and in groups of up to [`POLISH_LIMIT`] jobs also by
//!   re-solving a few batches at a time exactly and by kicks out of local optima;
//! - the cheapest result wins, and strict is kept unless beaten.
//!
//! Every step is deterministic: hash maps serve lookups only, never an order; no clocks, no
//! randomness. The local search runs under an evaluation budget per plan, so no input makes
//! planning slow (groups later in the queue then keep their merge-search result).
//!
//! Batch costs come from a [`Summary`] of the members (what they load, counts, work, their
//! own compute and preprocessing), so a merged or reduced batch is priced in O(1), as `CostModel::estimate` would.

use super::{Limits, PlanJob, PlanMode};
use crate::control::{Control, ControlSet};
use crate::cost::CostModel;
use std::cell::Cell;
use std::collections::HashMap;

mod classes;
mod local;
mod strict;

/// Improvements smaller than this many seconds are noise, not progress.
const EPSILON: f64 = 1e-7;
/// Groups this small are solved exactly: 3^8 subset steps take microseconds.
const EXACT_LIMIT: usize = 8;
/// Groups up to this size also get the local search, whose step is quadratic in the jobs.
const LOCAL_LIMIT: usize = 48;
/// Groups up to this size also get their batches re-solved exactly a few at a time, and kicks.
const POLISH_LIMIT: usize = 16;
/// Polishing re-solves up to this many batches at a time.
const POLISH_BATCHES: usize = 4;
/// Move evaluations the local search may spend in one plan (a few ms on a slow core): a queue
/// of many mid-sized groups stays fast, the later groups keep their merge-search result.
const LOCAL_BUDGET: u64 = 400_000;

/// A batchable job, reduced to what the cost model needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item {
    /// Index of the job in the planner's input (its queue position).
    pub job: usize,
    pub signature: ControlSet,
    /// What it loads in any batch (`JobLoad::alone`: its signature, or on Transfer2.5's
    /// multibranch model all four branches).
    pub loads: ControlSet,
    /// chunks × num_steps.
    pub work: f64,
    /// Its compute when only its own branches run: work × (step + its controls' steps).
    pub own_compute: f64,
    /// Its preprocessing: the controls it asked for without supplying their input.
    pub preprocess: f64,
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
}

impl Tables {
    fn new(cost: &CostModel) -> Self {
        let mut t = Tables {
            startup: cost.startup_seconds,
            step: cost.step_seconds,
            efficiency: cost.batched_pass_efficiency,
            load: [0.0; 128],
            control_step: [0.0; 128],
        };
        for bits in 0..128usize {
            for (i, c) in Control::ALL.into_iter().enumerate() {
                if bits & (1 << i) != 0 {
                    t.load[bits] += cost.control_load(c);
                    t.control_step[bits] += cost.control_step(c);
                }
            }
        }
        t
    }
}

/// Everything the cost of a batch depends on, so merged or reduced batches are priced in O(1).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    /// Union of what the members load (bits as in `ControlSet::bits`).
    loaded: u8,
    count: u32,
    /// Σ chunks × steps.
    work: f64,
    /// Σ `Item::own_compute`.
    own_compute: f64,
    /// Σ `Item::preprocess`.
    preprocess: f64,
    /// The members' common `compat`, if they all share one (then 2+ run as one batched pass).
    compat: Option<u32>,
}

impl Summary {
    fn of(item: &Item) -> Self {
        Summary {
            loaded: item.loads.bits(),
            count: 1,
            work: item.work,
            own_compute: item.own_compute,
            preprocess: item.preprocess,
            compat: Some(item.compat),
        }
    }

    fn add(&self, other: &Summary) -> Summary {
        Summary {
            loaded: self.loaded | other.loaded,
            count: self.count + other.count,
            work: self.work + other.work,
            own_compute: self.own_compute + other.own_compute,
            preprocess: self.preprocess + other.preprocess,
            compat: if self.compat == other.compat {
                self.compat
            } else {
                None
            },
        }
    }

    /// Batches with equal keys cost the same and merge with others identically (a shared
    /// `compat` only matters within one key, and equal-compat batches never stay apart: see
    /// `merge_classes`).
    fn key(&self) -> ClassKey {
        (
            self.loaded,
            self.count,
            self.work.to_bits(),
            self.own_compute.to_bits(),
            self.preprocess.to_bits(),
            self.compat.is_some(),
        )
    }
}

/// See `Summary::key`.
type ClassKey = (u8, u32, u64, u64, u64, bool);

/// A batch being formed: indices into `Problem::items`.
pub(super) type Members = Vec<usize>;

/// A batch during the search: its members and their summary.
#[derive(Debug, Clone)]
struct Batch {
    members: Members,
    sum: Summary,
}

pub(super) struct Problem<'a> {
    pub jobs: &'a [PlanJob],
    pub items: Vec<Item>,
    pub limits: Limits,
    pub cost: &'a CostModel,
    tables: Tables,
    /// `Summary::of` every item.
    units: Vec<Summary>,
    /// Local-search evaluations left in this plan.
    budget: Cell<u64>,
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
        let profile = limits.profile;
        let mut groups = Interner::new();
        let mut compats = Interner::new();
        let items: Vec<Item> = jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.batchable())
            .map(|(index, j)| {
                // Settings as the program runs them: a job that leaves sigma_max out and one
                // that names the program's default run alike.
                let c = profile.resolve(&j.config);
                let group = groups.id((
                    profile.family(&c),
                    c.num_steps,
                    bits(c.guidance),
                    c.seed,
                    c.sigma_max.map(bits),
                    c.blur_strength,
                    c.canny_threshold,
                    c.fps,
                    j.negative_prompt.clone(),
                ));
                let weights: Vec<u64> = Control::ALL.iter().map(|k| bits(c.weight(*k))).collect();
                let compat = compats.id((weights, j.frames, j.bucket));
                let load = j.load(profile);
                let work = load.chunks as f64 * load.num_steps as f64;
                Item {
                    job: index,
                    signature: load.signature,
                    loads: load.alone,
                    work,
                    own_compute: work * cost.step_with(load.signature),
                    preprocess: cost.preprocess_of(&load),
                    compat,
                    group,
                }
            })
            .collect();
        Problem {
            jobs,
            units: items.iter().map(Summary::of).collect(),
            items,
            limits,
            cost,
            tables: Tables::new(cost),
            budget: Cell::new(LOCAL_BUDGET),
        }
    }

    /// Controls a batch loads: the union of what its jobs load.
    pub fn loaded(&self, members: &[usize]) -> ControlSet {
        members
            .iter()
            .fold(ControlSet::EMPTY, |u, &m| u.union(self.items[m].loads))
    }

    /// Most jobs a batch that loads `loaded` may hold.
    pub fn capacity(&self, loaded: ControlSet) -> usize {
        self.limits.capacity(loaded.len()) as usize
    }

    fn fits(&self, s: &Summary) -> bool {
        s.count <= self.limits.capacity(s.loaded.count_ones() as usize)
    }

    /// Whether a batch with this summary could take one more job.
    fn fits_more(&self, s: &Summary) -> bool {
        s.count < self.limits.capacity(s.loaded.count_ones() as usize)
    }

    /// The `--batch_size` for these jobs: all of them in one pass when they are identical in
    /// weights, frames and aspect bucket, otherwise one at a time.
    pub fn batch_size(&self, members: &[usize]) -> u32 {
        let first = self.items[members[0]].compat;
        if self.limits.profile.batched_pass()
            && members.len() > 1
            && members.iter().all(|&m| self.items[m].compat == first)
        {
            members.len() as u32
        } else {
            1
        }
    }

    /// Estimated seconds of a batch, as `CostModel::estimate` computes it.
    pub fn cost(&self, members: &[usize]) -> f64 {
        self.summary(members).map_or(0.0, |s| self.price(&s))
    }

    fn summary(&self, members: &[usize]) -> Option<Summary> {
        let (&first, rest) = members.split_first()?;
        Some(
            rest.iter()
                .fold(self.units[first], |s, &m| s.add(&self.units[m])),
        )
    }

    /// The summary of `members` without its `skip`-th member (`None` when nothing is left).
    fn summary_without(&self, members: &[usize], skip: usize) -> Option<Summary> {
        let mut rest = members.iter().enumerate().filter(|(k, _)| *k != skip);
        let (_, &first) = rest.next()?;
        Some(rest.fold(self.units[first], |s, (_, &m)| s.add(&self.units[m])))
    }

    fn price(&self, s: &Summary) -> f64 {
        let t = &self.tables;
        let u = s.loaded as usize;
        let profile = self.limits.profile;
        let efficiency = if s.count > 1 && s.compat.is_some() && profile.batched_pass() {
            t.efficiency
        } else {
            1.0
        };
        let compute = if profile.runs_every_loaded_branch() {
            s.work * (t.step + t.control_step[u])
        } else {
            s.own_compute
        };
        t.startup + t.load[u] + compute * efficiency + s.preprocess
    }

    fn batch(&self, members: Members) -> Batch {
        let sum = self.summary(&members).expect("a batch has members");
        Batch { members, sum }
    }

    /// The batches for `mode`, each sorted by queue order, ordered by their earliest job.
    pub fn solve(&self, mode: PlanMode) -> Vec<Members> {
        let mut all = Vec::new();
        for group in self.groups() {
            let strict = self.strict(&group);
            let batches = match mode {
                PlanMode::Strict => strict,
                PlanMode::Mixed => {
                    let mut best = strict;
                    let mut best_total = self.total(&best);
                    for candidate in self.mixed(&group, &best) {
                        let total = self.total(&candidate);
                        if total < best_total - EPSILON {
                            best = candidate;
                            best_total = total;
                        }
                    }
                    best
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

    /// Mixed-mode candidates for one settings group (see the module docs).
    fn mixed(&self, group: &[usize], strict: &[Members]) -> Vec<Vec<Members>> {
        if group.len() <= EXACT_LIMIT {
            return vec![self.exact(group)];
        }
        let mut starts = vec![strict.to_vec(), self.fill(group, |item| item.compat as u64)];
        if group.len() <= LOCAL_LIMIT && !self.spent() {
            // Greedy merging from scratch ignores batched passes, so it rarely helps a large
            // group, but it gives the local search a third, different start.
            starts.push(group.iter().map(|&m| vec![m]).collect());
        }
        starts
            .into_iter()
            .map(|start| {
                let batches = start.into_iter().map(|b| self.batch(b)).collect();
                let mut batches = self.merge_classes(batches);
                if group.len() <= POLISH_LIMIT {
                    batches = self.kick(self.polish(batches));
                } else if group.len() <= LOCAL_LIMIT {
                    batches = self.improve(batches);
                }
                batches.into_iter().map(|b| b.members).collect()
            })
            .collect()
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

    /// Takes `units` from the budget; false when too few are left, and from then on the budget
    /// is spent: the searches of later groups stop at once instead of trying smaller steps.
    fn spend(&self, units: u64) -> bool {
        let left = self.budget.get();
        if units > left {
            self.budget.set(0);
            return false;
        }
        self.budget.set(left - units);
        true
    }

    fn spent(&self) -> bool {
        self.budget.get() == 0
    }

    /// The optimal grouping of a small group: best[mask] is the cheapest split of the jobs in
    /// `mask` into batches, choosing first the batch that holds the mask's lowest job.
    fn exact(&self, group: &[usize]) -> Vec<Members> {
        let n = group.len();
        let size = 1usize << n;
        let mut sums: Vec<Option<Summary>> = vec![None; size];
        let mut price = vec![f64::INFINITY; size];
        for mask in 1..size {
            let top = (usize::BITS - 1 - mask.leading_zeros()) as usize;
            let unit = self.units[group[top]];
            let s = match sums[mask & !(1 << top)] {
                Some(rest) => rest.add(&unit),
                None => unit,
            };
            if self.fits(&s) {
                price[mask] = self.price(&s);
            }
            sums[mask] = Some(s);
        }
        let mut best = vec![f64::INFINITY; size];
        let mut choice = vec![0usize; size];
        best[0] = 0.0;
        for mask in 1..size {
            let low = mask & mask.wrapping_neg();
            let rest = mask ^ low;
            let mut sub = rest;
            loop {
                let batch = sub | low;
                let total = price[batch] + best[mask ^ batch];
                if total < best[mask] {
                    best[mask] = total;
                    choice[mask] = batch;
                }
                if sub == 0 {
                    break;
                }
                sub = (sub - 1) & rest;
            }
        }
        let mut batches = Vec::new();
        let mut mask = size - 1;
        while mask != 0 {
            let batch = choice[mask];
            batches.push(
                (0..n)
                    .filter(|i| batch & (1 << i) != 0)
                    .map(|i| group[i])
                    .collect(),
            );
            mask ^= batch;
        }
        batches
    }
}
