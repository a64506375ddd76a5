//! Capped exponential backoff with full jitter, bounded by attempts and a time budget.

use std::time::Duration;

use tokio::time::Instant;
use zerodown_core::plan::RetryPolicy;

/// Delays between retries of one step.
pub struct Backoff {
    policy: RetryPolicy,
    started: Instant,
    attempt: u32,
    rng: fastrand::Rng,
    /// How long one attempt can take (its lock timeout): the next attempt must also fit.
    attempt_cost: Duration,
}

impl Backoff {
    pub fn new(policy: &RetryPolicy, seed: u64) -> Self {
        Backoff {
            policy: policy.clone(),
            started: Instant::now(),
            attempt: 0,
            rng: fastrand::Rng::with_seed(seed),
            attempt_cost: Duration::ZERO,
        }
    }

    /// Counts the next attempt's own duration against the budget.
    pub fn with_attempt_cost(mut self, cost: Duration) -> Self {
        self.attempt_cost = cost;
        self
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Time since the first attempt.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records a failed attempt; the delay before the next one, or None when the
    /// attempts or the time budget are spent (the next attempt could not finish in time).
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.attempt += 1;
        if self.attempt >= self.policy.max_attempts {
            return None;
        }
        let exp = self
            .policy
            .initial_backoff_ms
            .saturating_mul(1u64 << self.attempt.min(20).saturating_sub(1));
        let cap = exp.min(self.policy.max_backoff_ms).max(1);
        // Full jitter: uniform in [cap/2, cap], so retries never line up and never spin.
        let ms = if self.policy.jitter {
            self.rng.u64(cap / 2..=cap)
        } else {
            cap
        };
        let delay = Duration::from_millis(ms);
        let budget = Duration::from_millis(self.policy.budget_ms);
        (self.elapsed() + delay + self.attempt_cost <= budget).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: bool) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            budget_ms: 60_000,
            jitter,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn grows_then_caps() {
        let mut b = Backoff::new(&policy(false), 1);
        let delays: Vec<u64> = (0..6)
            .map(|_| b.next_delay().expect("in budget").as_millis() as u64)
            .collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_stays_in_range_and_differs_by_seed() {
        let mut a = Backoff::new(&policy(true), 1);
        let mut b = Backoff::new(&policy(true), 2);
        let da: Vec<Duration> = (0..5).filter_map(|_| a.next_delay()).collect();
        let db: Vec<Duration> = (0..5).filter_map(|_| b.next_delay()).collect();
        assert_ne!(da, db);
        for (i, d) in da.iter().enumerate() {
            let cap = (100u64 << i).min(1000);
            assert!(
                d.as_millis() as u64 >= cap / 2 && d.as_millis() as u64 <= cap,
                "{i}: {d:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_attempts_and_budget() {
        let mut b = Backoff::new(&policy(false), 1);
        assert_eq!((0..20).filter_map(|_| b.next_delay()).count(), 9);
        let mut p = policy(false);
        p.budget_ms = 1_000;
        let mut b = Backoff::new(&p, 1);
        let mut waited = Duration::ZERO;
        while let Some(d) = b.next_delay() {
            tokio::time::sleep(d).await;
            waited += d;
        }
        assert!(waited < Duration::from_millis(1_000), "{waited:?}");
        assert_eq!(b.attempts(), 4, "100 + 200 + 400 fit, 800 would not");
    }
}
