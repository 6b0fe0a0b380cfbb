//! Exponential backoff with jitter for reconnects and HTTP retries. Jitter
//! keeps a fleet of agents from reconnecting to a restarted worker in lockstep;
//! a tiny xorshift generator is enough (no security use).
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    cur: Duration,
    rng: u64,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
            ^ ((std::process::id() as u64) << 32);
        Self { min, max: max.max(min), cur: min, rng: seed | 1 }
    }

    /// The next delay: uniform in [d/2, d] where d doubles from `min` to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.cur;
        self.cur = (self.cur * 2).min(self.max);
        let half = d / 2;
        let span = (d - half).as_nanos() as u64;
        let jitter = if span == 0 { 0 } else { self.next_u64() % (span + 1) };
        half + Duration::from_nanos(jitter)
    }

    /// Back to `min` after a success.
    pub fn reset(&mut self) {
        self.cur = self.min;
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_max_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        let bounds = [(50, 100), (100, 200), (200, 400), (400, 800), (500, 1000), (500, 1000)];
        for (lo, hi) in bounds {
            let d = b.next_delay();
            assert!(d >= ms(lo) && d <= ms(hi), "{d:?} not in [{lo}, {hi}] ms");
        }
        b.reset();
        assert!(b.next_delay() <= ms(100));
        // Jitter actually varies.
        let mut b = Backoff::new(ms(1000), ms(1000));
        let ds: std::collections::HashSet<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(ds.len() > 1);
    }
}
