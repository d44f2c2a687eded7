//! xorshift64*: small, seeded, identical on every platform, so a fixed seed gives the same
//! queue on every run. Shared by the optimality test and the benches.

#![allow(dead_code)]

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// Uniform in `[lo, hi)`.
    pub fn float(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.float(0.0, 1.0) < p
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

/// The controls users mostly combine.
pub const COMMON: [cosmosq_shared::Control; 4] = {
    use cosmosq_shared::Control::*;
    [Vis, Edge, Depth, Seg]
};

/// A job's weights as users pick them: 1–3 of the common controls, each weighted 0.5, 0.75 or
/// 1 (so identical jobs occur).
pub fn common_weights(rng: &mut Rng) -> Vec<(cosmosq_shared::Control, f64)> {
    let count = 1 + rng.below(3);
    let mut controls = COMMON.to_vec();
    (0..count)
        .map(|_| {
            let c = controls.remove(rng.below(controls.len()));
            (c, rng.pick(&[0.5, 0.75, 1.0]))
        })
        .collect()
}
