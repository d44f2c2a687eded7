//! Refitting the cost model to measured batch durations.
//!
//! Every parameter but the batched-pass efficiency enters a batch's estimate linearly: for a
//! given efficiency the other 22 parameters are a ridge least-squares solve, and the efficiency
//! is the one whose solve leaves the smallest residual. The ridge term
//! pulls each parameter towards its prior, weakly where the samples inform it and fully where
//! they say nothing (a control never loaded keeps its prior costs).

use crate::control::{Control, ControlSet};
use crate::cost::{CostModel, JobLoad};

/// One finished batch: what it loaded and ran, and how long it took in cost-model seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub loaded: ControlSet,
    pub jobs: Vec<JobLoad>,
    pub batch_size: u32,
    pub seconds: f64,
}

const PARAMS: usize = 1 + 7 + 1 + 7 + 7;
/// Golden-section steps refining the efficiency after the grid.
const ROUNDS: usize = 40;
/// Grid points for the efficiency search.
const GRID: usize = 95;
/// Strength of the pull towards the prior, relative to the information the samples carry.
const RIDGE: f64 = 1e-6;

fn index(c: Control) -> usize {
    Control::ALL
        .iter()
        .position(|x| *x == c)
        .expect("every control is in ALL")
}

/// Features of a sample: [1, load per control, work, work per control, preprocessing count
/// per control], with work already multiplied by the efficiency when the pass is batched, as
/// `CostModel::estimate` prices it (each job's work counts for the branches that compute for
/// it, and each job preprocesses the controls it asked for without supplying them).
fn features(s: &Sample, efficiency: f64) -> [f64; PARAMS] {
    let mut x = [0.0; PARAMS];
    let e = if s.batch_size > 1 { efficiency } else { 1.0 };
    x[0] = 1.0;
    for c in s.loaded.iter() {
        x[1 + index(c)] = 1.0;
    }
    for j in &s.jobs {
        let work = j.chunks as f64 * j.num_steps as f64 * e;
        x[8] += work;
        for c in j.branches(s.loaded).iter() {
            x[9 + index(c)] += work;
        }
        for c in j.preprocessed().iter() {
            x[16 + index(c)] += 1.0;
        }
    }
    x
}

fn params(m: &CostModel) -> [f64; PARAMS] {
    let mut p = [0.0; PARAMS];
    p[0] = m.startup_seconds;
    p[8] = m.step_seconds;
    for c in Control::ALL {
        let i = index(c);
        p[1 + i] = m.control_load(c);
        p[9 + i] = m.control_step(c);
        p[16 + i] = m.preprocess(c);
    }
    p
}

fn model(p: &[f64; PARAMS], efficiency: f64) -> CostModel {
    let per = |offset: usize| {
        Control::ALL
            .iter()
            .map(|c| (*c, p[offset + index(*c)].max(0.0)))
            .collect()
    };
    CostModel {
        startup_seconds: p[0].max(0.0),
        control_load_seconds: per(1),
        step_seconds: p[8].max(0.0),
        control_step_seconds: per(9),
        batched_pass_efficiency: efficiency,
        preprocess_seconds: per(16),
    }
}

/// Solve `a x = b` by Gaussian elimination with partial pivoting (a is symmetric positive
/// definite here, thanks to the ridge term).
fn solve(mut a: [[f64; PARAMS]; PARAMS], mut b: [f64; PARAMS]) -> [f64; PARAMS] {
    for col in 0..PARAMS {
        let pivot = (col..PARAMS)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("non-empty range");
        a.swap(col, pivot);
        b.swap(col, pivot);
        let d = a[col][col];
        if d.abs() < 1e-300 {
            continue;
        }
        let (top, rest) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (offset, row) in rest.iter_mut().enumerate() {
            let f = row[col] / d;
            if f != 0.0 {
                for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
                b[col + 1 + offset] -= f * b[col];
            }
        }
    }
    let mut x = [0.0; PARAMS];
    for row in (0..PARAMS).rev() {
        let s: f64 = (row + 1..PARAMS).map(|k| a[row][k] * x[k]).sum();
        x[row] = if a[row][row].abs() < 1e-300 {
            0.0
        } else {
            (b[row] - s) / a[row][row]
        };
    }
    x
}

/// Ridge least squares of the linear parameters with the efficiency held: the parameters and
/// the sum of squared residuals.
fn fit_linear(samples: &[Sample], prior: &[f64; PARAMS], efficiency: f64) -> ([f64; PARAMS], f64) {
    let mut a = [[0.0; PARAMS]; PARAMS];
    let mut b = [0.0; PARAMS];
    let mut info = [0.0; PARAMS];
    let rows: Vec<[f64; PARAMS]> = samples.iter().map(|s| features(s, efficiency)).collect();
    for (x, s) in rows.iter().zip(samples) {
        for i in 0..PARAMS {
            info[i] += x[i] * x[i];
            b[i] += x[i] * s.seconds;
            for j in 0..PARAMS {
                a[i][j] += x[i] * x[j];
            }
        }
    }
    for i in 0..PARAMS {
        let rho = RIDGE * info[i].max(1.0);
        a[i][i] += rho;
        b[i] += rho * prior[i];
    }
    let p = solve(a, b);
    let residual = rows
        .iter()
        .zip(samples)
        .map(|(x, s)| {
            let predicted: f64 = x.iter().zip(&p).map(|(xi, pi)| xi * pi).sum();
            (predicted - s.seconds).powi(2)
        })
        .sum();
    (p, residual)
}

/// The cost model that best explains `samples`, starting from (and regularised towards)
/// `prior`. With no samples it is `prior`. The efficiency is searched on [0.05, 1] (a grid,
/// then golden-section refinement); every other parameter is linear given it.
pub fn refit(prior: &CostModel, samples: &[Sample]) -> CostModel {
    if samples.is_empty() {
        return prior.clone();
    }
    let p0 = params(prior);
    if !samples.iter().any(|s| s.batch_size > 1) {
        return model(
            &fit_linear(samples, &p0, prior.batched_pass_efficiency).0,
            prior.batched_pass_efficiency,
        );
    }
    let residual = |e: f64| fit_linear(samples, &p0, e).1;
    let grid: Vec<f64> = (0..=GRID)
        .map(|k| 0.05 + 0.95 * k as f64 / GRID as f64)
        .collect();
    let best = grid
        .iter()
        .copied()
        .min_by(|a, b| residual(*a).total_cmp(&residual(*b)))
        .expect("the grid is not empty");
    let step = 0.95 / GRID as f64;
    let (mut lo, mut hi) = ((best - step).max(0.05), (best + step).min(1.0));
    let golden = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..ROUNDS {
        let m1 = hi - golden * (hi - lo);
        let m2 = lo + golden * (hi - lo);
        if residual(m1) <= residual(m2) {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    let efficiency = (lo + hi) / 2.0;
    model(&fit_linear(samples, &p0, efficiency).0, efficiency)
}

/// Mean absolute relative error of `model` over `samples` (0.05 = 5 %).
pub fn mean_error(model: &CostModel, samples: &[Sample]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples
        .iter()
        .map(|s| {
            let e = model
                .estimate(&s.jobs, s.loaded, s.batch_size)
                .total_seconds;
            ((e - s.seconds) / s.seconds.max(1e-9)).abs()
        })
        .sum::<f64>()
        / samples.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use Control::*;

    fn truth() -> CostModel {
        CostModel {
            startup_seconds: 120.0,
            control_load_seconds: [(Edge, 40.0), (Depth, 70.0), (Seg, 55.0)]
                .into_iter()
                .collect(),
            step_seconds: 3.0,
            control_step_seconds: [(Edge, 0.5), (Depth, 0.8), (Seg, 1.1)]
                .into_iter()
                .collect(),
            batched_pass_efficiency: 0.7,
            preprocess_seconds: [(Edge, 2.0), (Depth, 12.0), (Seg, 30.0)]
                .into_iter()
                .collect(),
        }
    }

    fn sample(
        m: &CostModel,
        controls: &[Control],
        n: usize,
        steps: u32,
        batched: bool,
        supplied: &[Control],
    ) -> Sample {
        let loaded: ControlSet = controls.iter().copied().collect();
        let jobs = vec![
            JobLoad {
                signature: loaded,
                supplied: supplied.iter().copied().collect(),
                chunks: 1,
                num_steps: steps,
                alone: loaded,
                all_branches: true,
            };
            n
        ];
        let batch_size = if batched { n as u32 } else { 1 };
        let seconds = m.estimate(&jobs, loaded, batch_size).total_seconds;
        Sample {
            loaded,
            jobs,
            batch_size,
            seconds,
        }
    }

    #[test]
    fn recovers_the_true_parameters_from_varied_batches() {
        let t = truth();
        let samples = vec![
            sample(&t, &[Edge], 1, 35, false, &[]),
            sample(&t, &[Edge], 4, 20, true, &[]),
            sample(&t, &[Edge], 2, 10, false, &[Edge]),
            sample(&t, &[Depth], 2, 35, false, &[Depth]),
            sample(&t, &[Depth], 3, 10, true, &[]),
            sample(&t, &[Depth], 1, 25, false, &[]),
            sample(&t, &[Edge, Depth], 2, 35, false, &[]),
            sample(&t, &[Edge, Depth], 4, 15, true, &[Depth]),
            sample(&t, &[Seg], 1, 15, false, &[]),
            sample(&t, &[Seg], 2, 30, true, &[]),
            sample(&t, &[Seg], 3, 20, false, &[Seg]),
            sample(&t, &[Seg, Edge], 3, 25, false, &[Edge]),
            sample(&t, &[Seg, Depth], 2, 12, true, &[]),
            sample(&t, &[Seg, Edge, Depth], 2, 18, false, &[]),
        ];
        let fit = refit(&CostModel::default(), &samples);
        let close = |a: f64, b: f64| (a - b).abs() <= 0.05 * b.abs().max(1e-9);
        assert!(close(fit.startup_seconds, 120.0), "{fit:?}");
        assert!(close(fit.step_seconds, 3.0), "{fit:?}");
        assert!(close(fit.batched_pass_efficiency, 0.7), "{fit:?}");
        for c in [Edge, Depth, Seg] {
            assert!(
                close(fit.control_load(c), t.control_load(c)),
                "{c} load {fit:?}"
            );
            assert!(
                close(fit.control_step(c), t.control_step(c)),
                "{c} step {fit:?}"
            );
            assert!(close(fit.preprocess(c), t.preprocess(c)), "{c} pre {fit:?}");
        }
        // Controls never seen keep their prior costs.
        assert_eq!(
            fit.control_load(Vis),
            CostModel::default().control_load(Vis)
        );
        assert!(mean_error(&fit, &samples) < 0.01);
        assert!(fit.validate().is_ok());
    }

    #[test]
    fn no_samples_keeps_the_prior() {
        assert_eq!(refit(&truth(), &[]), truth());
    }
}
