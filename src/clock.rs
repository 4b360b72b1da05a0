//! The wall clock schedules read and wait on: the system's, or a manual one
//! that tests move forward (so "fires Monday 09:00 Paris" is checked without waiting).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<watch::Sender<DateTime<Utc>>>),
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clock::System => f.write_str("Clock::System"),
            Clock::Manual(t) => write!(f, "Clock::Manual({})", *t.borrow()),
        }
    }
}

impl Clock {
    /// A manual clock starting at `start`; move it with [`Clock::set`].
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock::Manual(Arc::new(watch::Sender::new(start)))
    }

    /// Moves a manual clock (no effect on the system clock).
    pub fn set(&self, t: DateTime<Utc>) {
        if let Clock::Manual(tx) = self {
            tx.send_replace(t);
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(tx) => *tx.borrow(),
        }
    }

    /// Waits until the clock reads `t` or later; false when cancelled first.
    pub async fn sleep_until(&self, t: DateTime<Utc>, cancel: &CancellationToken) -> bool {
        match self {
            Clock::System => {
                let d = (t - Utc::now()).to_std().unwrap_or_default();
                tokio::select! {
                    _ = cancel.cancelled() => false,
                    _ = tokio::time::sleep(d) => true,
                }
            }
            Clock::Manual(tx) => {
                let mut rx = tx.subscribe();
                loop {
                    if *rx.borrow_and_update() >= t {
                        return true;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return false,
                        changed = rx.changed() => if changed.is_err() { return false },
                    }
                }
            }
        }
    }
}
