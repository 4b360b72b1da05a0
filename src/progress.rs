//! Progress of long work for people reading the log: at most one line every
//! few seconds, with what is done of how much, the rate, and the time left
//! (`catching up: 1200 of 3000 handed over (400/s, about 5 s left)`).

use std::time::{Duration, Instant};

/// How often a progress line is written at most.
pub const EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Progress {
    what: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    last: Instant,
}

impl Progress {
    pub fn new(what: &'static str, total: Option<u64>) -> Progress {
        let now = Instant::now();
        Progress { what, total, done: 0, started: now, last: now }
    }

    pub fn set_total(&mut self, total: u64) {
        self.total = Some(total);
    }

    pub fn done(&self) -> u64 {
        self.done
    }

    /// `n` more done; logs a line when the last one is [`EVERY`] old.
    pub fn add(&mut self, n: u64) {
        self.done += n;
        if self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            tracing::info!(done = self.done, total = self.total, "{}", self.line());
        }
    }

    /// `what: done of total (rate/s, about T left)`.
    pub fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs;
        match self.total {
            Some(t) if rate > 0.0 => {
                let left = Duration::from_secs_f64(t.saturating_sub(self.done) as f64 / rate);
                format!(
                    "{}: {} of {t} ({rate:.0}/s, about {} left)",
                    self.what,
                    self.done,
                    humantime::format_duration(Duration::from_secs(left.as_secs()))
                )
            }
            Some(t) => format!("{}: {} of {t}", self.what, self.done),
            None => format!("{}: {} so far ({rate:.0}/s)", self.what, self.done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_done_of_total_rate_and_time_left() {
        let mut p = Progress::new("handing over", Some(3000));
        p.started = Instant::now() - Duration::from_secs(3);
        p.done = 1200;
        let l = p.line();
        assert!(l.starts_with("handing over: 1200 of 3000 (4"), "{l}");
        assert!(l.contains("/s, about 4s left)") || l.contains("/s, about 5s left)"), "{l}");
        let open = Progress::new("reading", None);
        assert!(open.line().starts_with("reading: 0 so far"));
    }
}
