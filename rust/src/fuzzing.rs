//! What the crate's bounded-time mutation fuzzers share (test builds only): a seeded
//! xorshift, so a failure names the iteration that reproduces it, and the time budget.

use std::time::Duration;

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The fuzzing budget: `CPT_FUZZ_SECS` seconds (default 2).
pub fn budget() -> Duration {
    let secs: f64 = std::env::var("CPT_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}
