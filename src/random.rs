//! The random numbers the library draws (strategies' picks, the blacklist's expiry jitter):
//! the thread's `rand::rng()`, unless this thread was seeded with [`seed_thread_rng`], so that
//! a simulation (`cli/examples/simulate.rs`) or a test can replay a run exactly.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

thread_local! {
    static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Makes every random draw of the library on this thread come from a generator seeded with
/// `seed` (`None`: back to the thread's own random source). For simulators and tests that
/// must be reproducible, on a single-threaded runtime; a service has no reason to call it.
pub fn seed_thread_rng(seed: Option<u64>) {
    SEEDED.with(|s| *s.borrow_mut() = seed.map(StdRng::seed_from_u64));
}

/// Runs `f` on the seeded generator if there is one, else on the thread's.
fn with<T>(f: impl FnOnce(&mut dyn rand::Rng) -> T) -> T {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some(r) => f(r),
        None => f(&mut rand::rng()),
    })
}

/// A uniformly random index below `n` (n > 0).
pub(crate) fn below(n: usize) -> usize {
    with(|r| r.random_range(0..n))
}

/// A uniformly random number in `[lo, hi]`.
pub(crate) fn between(lo: f64, hi: f64) -> f64 {
    with(|r| r.random_range(lo..=hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_thread_replays() {
        seed_thread_rng(Some(7));
        let a: Vec<usize> = (0..20).map(|_| below(1000)).collect();
        seed_thread_rng(Some(7));
        let b: Vec<usize> = (0..20).map(|_| below(1000)).collect();
        seed_thread_rng(None);
        assert_eq!(a, b);
        assert!((0..100).all(|_| (0.5..=1.0).contains(&between(0.5, 1.0))));
    }
}
