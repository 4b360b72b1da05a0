//! The one backoff of the crate (backon's exponential backoff): delays that
//! double from a first one up to a ceiling, forever. Retries of requests add
//! jitter through the same builder (`api::session`, `llm`).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Delays `first`, `2 first`, `4 first`, ... capped at `max`, without end.
pub fn doubling(first: Duration, max: Duration) -> Doubling {
    Doubling { first, max, inner: build(first, max) }
}

fn build(first: Duration, max: Duration) -> ExponentialBackoff {
    ExponentialBuilder::default().with_min_delay(first).with_max_delay(max).with_factor(2.0).without_max_times().build()
}

/// See [`doubling`].
#[derive(Debug)]
pub struct Doubling {
    first: Duration,
    max: Duration,
    inner: ExponentialBackoff,
}

impl Doubling {
    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        self.inner.next().unwrap_or(self.max)
    }

    /// Starts again from the first delay (after a success).
    pub fn reset(&mut self) {
        self.inner = build(self.first, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_ceiling_and_resets() {
        let mut d = doubling(Duration::from_secs(1), Duration::from_secs(5));
        let got: Vec<u64> = (0..5).map(|_| d.next_delay().as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 5, 5]);
        d.reset();
        assert_eq!(d.next_delay(), Duration::from_secs(1));
    }
}
