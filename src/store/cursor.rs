//! The notification cursor of one agent: a durable high-water mark, the
//! catch-up in progress (where the walk through older pages stands, and what
//! it has read so far, staged on disk), and the bounded dedupe window.
//!
//! Guarantees: a notification is handed over (to the inboxes, with its seen-mark)
//! in one transaction that also moves the cursor, so a crash at any point
//! resumes where the last transaction left off; memory never holds more than
//! one page or one hand-over batch, whatever the backlog; seen-marks are kept
//! only for notifications inside the skew window below the high-water mark.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{decode, key, AgentStore, StoreError};

/// How far out of order (by `createdAt`) the platform may list notifications:
/// inside this window below the high-water mark, seen-marks decide.
pub const SKEW_MS: i64 = 2 * 60 * 1000;

const CURSOR_KEY: &[u8] = b"c";
const STAGED_PREFIX: &[u8] = b"s";

/// A notification's place in time: its `createdAt` (ms) when it has one, and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub at_ms: Option<i64>,
    pub id: String,
}

/// A catch-up in progress: more notifications arrived than one page shows, so
/// the poller walks older pages, staging what it reads, until it meets the
/// high-water mark; then hands everything over oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scan {
    /// The newest notification when the catch-up started: the walk covers everything up to it.
    pub top: Mark,
    /// The page to read next; None once the walk has met the high-water mark (or the end).
    pub next: Option<String>,
    /// Notifications staged so far (also their walk positions).
    pub staged: u64,
    /// Pages read so far.
    pub pages: u64,
}

/// The durable cursor of one agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Everything created more than [`SKEW_MS`] before this has been handed over.
    pub hwm: Option<Mark>,
    pub scan: Option<Scan>,
}

impl Cursor {
    /// Raises the high-water mark to `m` if it is newer.
    pub fn raise(&mut self, m: &Mark) {
        let newer = match (&self.hwm, m.at_ms) {
            (None, _) => true,
            (Some(h), Some(at)) => h.at_ms.is_none_or(|h| at >= h),
            (Some(_), None) => false,
        };
        if newer {
            self.hwm = Some(m.clone());
        }
    }

    /// Whether a notification created at `at_ms` is certainly older than
    /// everything not yet handed over (below the mark by more than the skew).
    pub fn below(&self, at_ms: Option<i64>) -> bool {
        match (self.hwm.as_ref().and_then(|h| h.at_ms), at_ms) {
            (Some(h), Some(at)) => at < h - SKEW_MS,
            _ => false,
        }
    }
}

/// Which inbox lane an event goes to: live events are interleaved with a
/// catch-up's backlog, so a long backlog never starves new notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Live,
    Backlog,
}

/// One staged notification: its store key and the raw JSON.
#[derive(Debug, Clone)]
pub struct Staged {
    pub key: Vec<u8>,
    pub event: Value,
}

/// One notification to hand over: id, when it was created, the raw JSON, and the behaviors that want it.
pub struct Handover<'a> {
    pub id: &'a str,
    pub at_ms: Option<i64>,
    pub event: &'a Value,
    pub behaviors: Vec<String>,
}

fn staged_key(position: u64) -> Vec<u8> {
    // Walk positions grow toward older notifications; storing their complement
    // makes the tree's order oldest first.
    let mut k = STAGED_PREFIX.to_vec();
    k.extend_from_slice(&(u64::MAX - position).to_be_bytes());
    k
}

fn abort<T>(what: &str) -> impl FnOnce(TransactionError<()>) -> Result<T, StoreError> + '_ {
    move |e| match e {
        TransactionError::Storage(e) => Err(e.into()),
        TransactionError::Abort(()) => Err(StoreError::Corrupt { key: what.into(), detail: "not serializable".into() }),
    }
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, ConflictableTransactionError<()>> {
    serde_json::to_vec(v).map_err(|_| ConflictableTransactionError::Abort(()))
}

impl AgentStore {
    pub fn cursor(&self) -> Result<Cursor, StoreError> {
        self.cursor.get(CURSOR_KEY)?.map(|v| decode(CURSOR_KEY, &v)).transpose().map(Option::unwrap_or_default)
    }

    /// Stages one page of a catch-up walk and saves the cursor, in one transaction.
    pub fn stage(&self, cursor: &Cursor, events: &[&Value], first_position: u64) -> Result<(), StoreError> {
        let cur = &self.cursor;
        (&cur.tree,)
            .transaction(|(c,)| {
                for (i, e) in events.iter().enumerate() {
                    c.insert(cur.k(staged_key(first_position + i as u64)), json(e)?)?;
                }
                c.insert(cur.k(CURSOR_KEY), json(cursor)?)?;
                Ok(())
            })
            .or_else(abort("cursor"))
    }

    /// The oldest staged notifications, at most `max`.
    pub fn staged(&self, max: usize) -> Result<Vec<Staged>, StoreError> {
        self.cursor
            .scan_prefix(STAGED_PREFIX)
            .take(max)
            .map(|r| {
                let (k, v) = r?;
                Ok(Staged { key: k.to_vec(), event: decode(&k, &v)? })
            })
            .collect()
    }

    pub fn staged_len(&self) -> usize {
        self.cursor.scan_prefix(STAGED_PREFIX).count()
    }

    /// Hands notifications to the inboxes of the behaviors that want them and
    /// marks them seen; removes `unstage` from the staging area and saves
    /// `cursor` when given: all in one transaction.
    pub fn hand_over(&self, batch: &[Handover<'_>], lane: Lane, unstage: &[Vec<u8>], cursor: Option<&Cursor>) -> Result<(), StoreError> {
        let seqs: Vec<u64> = batch.iter().map(|_| self.db.generate_id()).collect::<Result<_, _>>()?;
        let handed_at = super::now_ms();
        let (ip, sp, cp) = (&self.inbox, &self.seen, &self.cursor);
        (&ip.tree, &sp.tree, &cp.tree)
            .transaction(|(inbox, seen, c)| {
                for (h, seq) in batch.iter().zip(&seqs) {
                    let bytes = json(h.event)?;
                    for b in &h.behaviors {
                        inbox.insert(ip.k(key(b, &inbox_suffix(lane, *seq))), bytes.clone())?;
                    }
                    seen.insert(sp.k(h.id), h.at_ms.unwrap_or(handed_at).to_be_bytes().to_vec())?;
                }
                for k in unstage {
                    c.remove(cp.k(k))?;
                }
                if let Some(cur) = cursor {
                    c.insert(cp.k(CURSOR_KEY), json(cur)?)?;
                }
                Ok(())
            })
            .or_else(abort("inbox"))
    }

    /// Saves the cursor alone.
    pub fn save_cursor(&self, cursor: &Cursor) -> Result<(), StoreError> {
        self.stage(cursor, &[], 0)
    }

    /// Forgets seen-marks of notifications created before `before_ms`
    /// (the cursor decides for those); returns how many.
    pub fn prune_seen(&self, before_ms: i64) -> Result<usize, StoreError> {
        let mut n = 0;
        for r in self.seen.iter() {
            let (k, v) = r?;
            let at = v.as_ref().try_into().map(i64::from_be_bytes).unwrap_or(i64::MIN);
            if at < before_ms {
                self.seen.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Inbox keys after the behavior: live events sort by sequence as digits,
/// backlog events after them under `~` (older stores hold only live keys).
pub(super) fn inbox_suffix(lane: Lane, seq: u64) -> String {
    match lane {
        Lane::Live => format!("{seq:020}"),
        Lane::Backlog => format!("~{seq:020}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    #[test]
    fn staged_notifications_come_back_oldest_first_and_leave_with_their_hand_over() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap().agent("me").unwrap();
        let mut cur = Cursor {
            hwm: None,
            scan: Some(Scan { top: Mark { at_ms: Some(9), id: "n9".into() }, next: Some("c_5".into()), staged: 0, pages: 1 }),
        };
        // The walk reads newest first: n9..n5, then n4..n1.
        let page1: Vec<Value> = (5..=9).rev().map(|i| json!({"id": format!("n{i}")})).collect();
        s.stage(&cur, &page1.iter().collect::<Vec<_>>(), 0).unwrap();
        let page2: Vec<Value> = (1..=4).rev().map(|i| json!({"id": format!("n{i}")})).collect();
        cur.scan.as_mut().unwrap().staged = 5;
        s.stage(&cur, &page2.iter().collect::<Vec<_>>(), 5).unwrap();
        let ids = |v: &[Staged]| v.iter().map(|s| s.event["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let first = s.staged(3).unwrap();
        assert_eq!(ids(&first), ["n1", "n2", "n3"]);
        let batch: Vec<Handover> = first
            .iter()
            .map(|st| Handover { id: st.event["id"].as_str().unwrap(), at_ms: None, event: &st.event, behaviors: vec!["b".into()] })
            .collect();
        let keys: Vec<Vec<u8>> = first.iter().map(|s| s.key.clone()).collect();
        s.hand_over(&batch, Lane::Backlog, &keys, Some(&cur)).unwrap();
        assert_eq!(ids(&s.staged(100).unwrap()), ["n4", "n5", "n6", "n7", "n8", "n9"]);
        assert!(s.seen("n1").unwrap() && !s.seen("n4").unwrap());
        assert_eq!(s.cursor().unwrap(), cur);
    }

    #[test]
    fn the_mark_only_rises_and_the_skew_window_is_not_below_it() {
        let mut c = Cursor::default();
        assert!(!c.below(Some(0)), "no mark: nothing is known old");
        c.raise(&Mark { at_ms: Some(1_000_000), id: "a".into() });
        c.raise(&Mark { at_ms: Some(500), id: "b".into() });
        assert_eq!(c.hwm.as_ref().unwrap().id, "a");
        assert!(c.below(Some(1_000_000 - SKEW_MS - 1)));
        assert!(!c.below(Some(1_000_000 - SKEW_MS)));
        assert!(!c.below(None));
    }
}
