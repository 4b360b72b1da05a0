//! Group commit: every caller that needs its writes durable asks for a flush,
//! and one thread flushes for all who asked since its last flush.
//!
//! Why: sled 0.34's `flush_async` runs each flush on its small I/O pool, and
//! enough concurrent flushes take every thread of the pool while waiting for
//! a write that needs one of them: 10,000 agents starting stalled for good
//! (spacejam/sled#1308). Here at most one flush of ours runs at a time (sled's
//! own timer flush aside), on a thread of its own, and N agents' intents
//! written meanwhile share one fsync.
//!
//! Guarantees: [`Committer::flush`] returns once everything written before it
//! was called is on disk (a flush started after the caller's ticket covers
//! every write made before the ticket), or with the error of that flush.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Flushes done: the highest ticket covered, and the error of the last flush if it failed.
type Done = (u64, Option<Arc<sled::Error>>);

struct Requests {
    /// Tickets handed out so far.
    asked: u64,
    stop: bool,
    /// The thread waits on `wake` (otherwise it looks at `asked` before it next waits).
    waiting: bool,
}

struct Shared {
    requests: Mutex<Requests>,
    wake: Condvar,
    done: watch::Sender<Done>,
    /// Flushes made (each covering every ticket taken before it began).
    rounds: std::sync::atomic::AtomicU64,
}

/// The flushing thread of one sled database; stops (and lets go of the
/// database) when the last clone is dropped.
pub struct Committer {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Committer {
    pub fn start(db: sled::Db) -> std::io::Result<Committer> {
        let shared = Arc::new(Shared {
            requests: Mutex::new(Requests { asked: 0, stop: false, waiting: false }),
            wake: Condvar::new(),
            done: watch::Sender::new((0, None)),
            rounds: Default::default(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("state-commit".into()).spawn(move || run(&s, db))?;
        Ok(Committer { shared, thread: Some(thread) })
    }

    /// Flushes made so far.
    pub fn rounds(&self) -> u64 {
        self.shared.rounds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until every write made before this call is durable.
    pub async fn flush(&self) -> Result<(), Arc<sled::Error>> {
        let (ticket, waiting) = {
            let mut r = crate::sync::lock(&self.shared.requests);
            r.asked += 1;
            (r.asked, r.waiting)
        };
        // A wake-up is a system call: only when the thread is waiting for one.
        if waiting {
            self.shared.wake.notify_one();
        }
        let mut rx = self.shared.done.subscribe();
        let seen = rx.wait_for(|(covered, _)| *covered >= ticket).await.map(|d| d.1.clone());
        match seen {
            Ok(None) => Ok(()),
            Ok(Some(e)) => Err(e),
            Err(_) => Err(Arc::new(sled::Error::ReportableBug("the state commit thread stopped".into()))),
        }
    }
}

/// How long the commit thread waits for more requests before a flush, while they keep coming.
const LINGER: Duration = Duration::from_micros(200);
/// The longest a request waits for others to join its flush.
const MAX_LINGER: Duration = Duration::from_millis(2);

fn run(s: &Shared, db: sled::Db) {
    loop {
        let mut asked = {
            let mut r = crate::sync::lock(&s.requests);
            while !r.stop && r.asked <= s.done.borrow().0 {
                r.waiting = true;
                r = s.wake.wait(r).unwrap_or_else(std::sync::PoisonError::into_inner);
                r.waiting = false;
            }
            if r.stop {
                break;
            }
            r.asked
        };
        // Requests come in bursts (the replies of a batch decided one after
        // another, agents starting together): wait while more keep coming, so
        // one flush covers the burst.
        let first = Instant::now();
        while first.elapsed() < MAX_LINGER {
            std::thread::sleep(LINGER);
            let now = crate::sync::lock(&s.requests).asked;
            if now == asked {
                break;
            }
            asked = now;
        }
        let target = asked;
        // Every ticket up to `target` was taken after its writes: this flush covers them.
        let result = db.flush().err().map(Arc::new);
        s.rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        s.done.send_replace((target, result));
    }
    let _ = db.flush();
}

impl Drop for Committer {
    fn drop(&mut self) {
        crate::sync::lock(&self.shared.requests).stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_flushes_finish_and_share_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let c = Arc::new(Committer::start(db.clone()).unwrap());
        let mut tasks = vec![];
        for i in 0..2_000u32 {
            let (db, c) = (db.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), &[1]).unwrap();
                c.flush().await.unwrap();
            }));
        }
        for t in tasks {
            tokio::time::timeout(std::time::Duration::from_secs(60), t).await.expect("no flush may hang").unwrap();
        }
        let rounds = c.shared.rounds.load(std::sync::atomic::Ordering::Relaxed);
        assert!(rounds < 2_000, "{rounds} fsyncs for 2,000 writers: none shared");
        drop(c);
        drop(db);
        let again = sled::open(dir.path()).unwrap();
        assert_eq!(again.len(), 2_000);
    }
}
