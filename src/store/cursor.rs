//! The notification cursor of one agent: a durable high-water mark, the
//! catch-up in progress (where the walk through older pages stands; what it
//! has read so far waits in a lane of the inboxes that behaviors do not see
//! until the walk is done), and the bounded dedupe window.
//!
//! Guarantees: a notification is handed over to the inboxes before its
//! seen-mark is written, and a batch's cursor after all of them; sled recovers
//! a prefix of the writes, so a crash at any point resumes with the cursor of
//! the last whole batch, and a notification is never marked seen without
//! being in the inboxes (one in an inbox without its mark is handed over
//! again: a second inbox entry, whose recorded outcome stops it from
//! repeating, as after a lost ack); a batch handed over again never writes
//! over the entry of another notification (live sequences are never given
//! out twice; a walk lane's keys carry the notification's id); a catch-up's lane becomes
//! visible in one write, the cursor's, once the walk has met the mark, and
//! sorts oldest first; memory never holds more than one page or one hand-over
//! batch, whatever the backlog; seen-marks are kept only for notifications
//! inside the skew window below the high-water mark (a hand-over batch's
//! until all of its have left it, see [`super::seen`]).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{decode, key, AgentStore, StoreError};

/// How far out of order (by `createdAt`) the platform may list notifications:
/// one is listed at most this long after its `createdAt` (by the platform's
/// clock). Inside this window below the high-water mark, seen-marks decide.
pub const SKEW_MS: i64 = 2 * 60 * 1000;

pub(super) const CURSOR_KEY: &[u8] = b"c";
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
    /// Walk positions given out so far: every notification a page lists
    /// takes the next one, handed over or not, so a page read again after a
    /// crash gives each notification the position it had (the name older
    /// versions wrote, who gave positions to handed-over ones only).
    #[serde(rename = "staged")]
    pub positions: u64,
    /// Notifications the walk has handed over (a walk begun by an older
    /// version counts from where this version took it).
    #[serde(default)]
    pub handed: u64,
    /// Pages read so far.
    pub pages: u64,
    /// The inbox lane its notifications are written to ([`Lane::Walk`]),
    /// hidden from the behaviors while this walk lasts. None: a walk begun by
    /// a version that staged its pages in the cursor's tree ([`AgentStore::staged`]);
    /// the poller moves them into a lane of their own before walking on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<u64>,
    /// The platform's clock when the walk's first page was listed (less a
    /// margin): the mark rises to it when the walk is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_ms: Option<i64>,
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
    /// The backlog of the catch-up [`Scan::lane`] `scan`, ordered by each
    /// notification's walk position, oldest first; hidden while that walk lasts.
    Walk {
        scan: u64,
    },
}

/// One staged notification: its store key, walk position and the raw JSON.
#[derive(Debug, Clone)]
pub struct Staged {
    pub key: Vec<u8>,
    pub position: u64,
    pub event: Box<RawValue>,
}

/// One notification to hand over: id, when it was created, the raw JSON, the
/// behaviors that want it, and (for [`Lane::Walk`]) its walk position.
pub struct Handover<'a> {
    pub id: &'a str,
    pub at_ms: Option<i64>,
    /// The notification's JSON, stored as it is.
    pub event: &'a RawValue,
    pub behaviors: Vec<String>,
    pub position: u64,
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

fn to_json<T: Serialize + ?Sized>(what: &str, v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt { key: what.into(), detail: e.to_string() })
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, ConflictableTransactionError<()>> {
    serde_json::to_vec(v).map_err(|_| ConflictableTransactionError::Abort(()))
}

impl AgentStore {
    pub fn cursor(&self) -> Result<Cursor, StoreError> {
        self.cursor.get(CURSOR_KEY)?.map(|v| decode(CURSOR_KEY, &v)).transpose().map(Option::unwrap_or_default)
    }

    /// Stages one page of a catch-up walk and saves the cursor, in one
    /// transaction: how versions before [`Scan::lane`] kept a walk's pages
    /// (tests write such state to see it adopted).
    #[doc(hidden)]
    pub fn stage<T: Serialize + ?Sized>(&self, cursor: &Cursor, events: &[&T], first_position: u64) -> Result<(), StoreError> {
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

    /// The oldest notifications staged by an older version's walk, at most `max`,
    /// with their walk positions.
    pub fn staged(&self, max: usize) -> Result<Vec<Staged>, StoreError> {
        self.cursor
            .scan_prefix(STAGED_PREFIX)
            .take(max)
            .map(|r| {
                let (k, v) = r?;
                let position = k.get(STAGED_PREFIX.len()..).and_then(|b| b.try_into().ok()).map(|b| u64::MAX - u64::from_be_bytes(b));
                let position = position
                    .ok_or_else(|| StoreError::Corrupt { key: String::from_utf8_lossy(&k).into(), detail: "not a staged key".into() })?;
                Ok(Staged { key: k.to_vec(), position, event: decode(&k, &v)? })
            })
            .collect()
    }

    /// A new catch-up lane: after every live sequence and every earlier lane.
    pub fn new_lane(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// The lane of the catch-up walking now: its events are not handed to behaviors yet.
    pub(super) fn hidden_lane(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.cursor()?.scan.and_then(|s| s.lane))
    }

    /// Hands notifications to the inboxes of the behaviors that want them and
    /// marks them seen; removes `unstage` from the staging area and saves
    /// `cursor` when given, in that order (see the module's guarantees).
    ///
    /// Not one transaction: a sled transaction seals the log buffer (one more
    /// write and sync_file_range by sled's I/O threads, and a wake-up of all
    /// of them) and holds every reader back while it applies; plain writes in
    /// order give the same recovery, as sled recovers a prefix of its log
    /// (see [`AgentStore::intend_with`]), because the part of a batch written
    /// before a crash is never written over when the batch comes again (see
    /// `inbox_suffix`). Measured: about 7% less CPU per notification
    /// (benches/burst.sh).
    pub fn hand_over(&self, batch: &[Handover<'_>], lane: Lane, unstage: &[Vec<u8>], cursor: Option<&Cursor>) -> Result<(), StoreError> {
        let seqs: Vec<u64> = match lane {
            Lane::Live => batch.iter().map(|_| self.db.generate_id()).collect::<Result<_, _>>()?,
            Lane::Walk { .. } => batch.iter().map(|h| h.position).collect(),
        };
        let handed_at = super::now_ms();
        for (h, seq) in batch.iter().zip(&seqs) {
            let bytes = sled::IVec::from(h.event.get().as_bytes());
            for b in &h.behaviors {
                self.inbox.insert(key(b, &inbox_suffix(lane, *seq, h.id)), bytes.clone())?;
            }
        }
        if !batch.is_empty() {
            let marks = || batch.iter().map(|h| (h.id, h.at_ms.unwrap_or(handed_at)));
            self.seen.insert(super::seen::batch_key(self.db.generate_id()?), super::seen::encode(marks()))?;
            super::seen::with(&self.marks, &self.seen, |m| {
                for (id, at) in marks() {
                    let e = m.entry(id.into()).or_insert(at);
                    *e = (*e).max(at);
                }
            })?;
        }
        for k in unstage {
            self.cursor.remove(k)?;
        }
        if let Some(cur) = cursor {
            self.save_cursor(cur)?;
        }
        Ok(())
    }

    /// Saves the cursor alone.
    pub fn save_cursor(&self, cursor: &Cursor) -> Result<(), StoreError> {
        self.cursor.insert(CURSOR_KEY, to_json("cursor", cursor)?)?;
        Ok(())
    }

    /// Forgets seen-marks of notifications created before `before_ms` (the
    /// cursor decides for those), a hand-over batch's once all of its are;
    /// returns how many.
    pub fn prune_seen(&self, before_ms: i64) -> Result<usize, StoreError> {
        super::seen::prune(&self.marks, &self.seen, before_ms)
    }
}

/// Inbox keys after the behavior: live events sort by sequence as digits,
/// backlog events after them under `~`: a catch-up's lane, then (oldest
/// first) the complement of the walk position, then the notification's id.
/// Live sequences are never given out twice, even across a crash; walk
/// positions are, when a page is read again after one, so the id keeps two
/// notifications from ever sharing an entry. Older versions wrote `~` and a
/// sequence alone (those sort before every lane written since), and walk
/// keys without the id.
pub(super) fn inbox_suffix(lane: Lane, seq: u64, id: &str) -> String {
    match lane {
        Lane::Live => digits(seq).into(),
        Lane::Walk { scan } => [lane_prefix(scan).as_str(), digits(u64::MAX - seq).as_str(), id].concat(),
    }
}

/// Where the events of catch-up lane `scan` start, after the behavior.
pub(super) fn lane_prefix(scan: u64) -> String {
    ["~", digits(scan).as_str()].concat()
}

/// `n` in 20 decimal digits, zero-padded (every u64 fits), so keys sort as
/// numbers; `format!("{n:020}")` without the formatting machinery, which
/// cost more than the rest of building a key.
fn digits(mut n: u64) -> DigitString {
    let mut d = [b'0'; 20];
    for b in d.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    DigitString(d)
}

struct DigitString([u8; 20]);

impl DigitString {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl From<DigitString> for String {
    fn from(d: DigitString) -> String {
        d.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    #[test]
    fn a_notification_is_stored_and_handed_on_as_the_platform_sent_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap().agent("me").unwrap();
        let text = r#"{"type":"MENTION", "id":"n1","content":"caf\u00e9 \"quoted\"","extra":{"z":1,"a":[2]}}"#;
        let raw = serde_json::value::RawValue::from_string(text.into()).unwrap();
        s.hand_over(&[Handover { id: "n1", at_ms: None, event: &raw, behaviors: vec!["b".into()], position: 0 }], Lane::Live, &[], None)
            .unwrap();
        let items = s.inbox("b", 10).unwrap();
        assert_eq!(items.iter().map(|i| i.event.get()).collect::<Vec<_>>(), [text]);
    }

    #[test]
    fn keys_carry_their_numbers_as_twenty_digits() {
        for n in [0, 1, 9, 10, 12_345, u64::MAX / 3, u64::MAX - 1, u64::MAX] {
            assert_eq!(String::from(digits(n)), format!("{n:020}"));
            assert_eq!(inbox_suffix(Lane::Live, n, "x"), format!("{n:020}"));
            assert_eq!(inbox_suffix(Lane::Walk { scan: 7 }, n, "ntf_1"), format!("~{:020}{:020}ntf_1", 7, u64::MAX - n));
        }
    }

    #[test]
    fn a_walk_lane_stays_hidden_until_the_walk_is_done_then_comes_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap().agent("me").unwrap();
        let ev = |i: u64| serde_json::value::to_raw_value(&json!({"id": format!("n{i}")})).unwrap();
        let ids = |items: Vec<crate::store::InboxItem>| items.iter().map(|i| crate::store::id_of(&i.event)).collect::<Vec<_>>();
        // A live event handed over before the catch-up.
        let live = ev(0);
        s.hand_over(&[Handover { id: "n0", at_ms: None, event: &live, behaviors: vec!["b".into()], position: 0 }], Lane::Live, &[], None)
            .unwrap();
        let lane = s.new_lane().unwrap();
        let mut cur = Cursor {
            hwm: None,
            scan: Some(Scan {
                top: Mark { at_ms: Some(9), id: "n9".into() },
                next: Some("c_5".into()),
                positions: 0,
                handed: 0,
                pages: 1,
                lane: Some(lane),
                listed_ms: None,
            }),
        };
        // The walk reads newest first: n9..n5, then n4..n1, each page with the cursor.
        let mut position = 0;
        for page in [(5..=9).rev().collect::<Vec<u64>>(), (1..=4).rev().collect()] {
            let events: Vec<Box<RawValue>> = page.iter().map(|i| ev(*i)).collect();
            let names: Vec<String> = page.iter().map(|i| format!("n{i}")).collect();
            let batch: Vec<Handover> = events
                .iter()
                .zip(&names)
                .enumerate()
                .map(|(k, (e, id))| Handover { id, at_ms: None, event: e, behaviors: vec!["b".into()], position: position + k as u64 })
                .collect();
            position += page.len() as u64;
            cur.scan.as_mut().unwrap().positions = position;
            s.hand_over(&batch, Lane::Walk { scan: lane }, &[], Some(&cur)).unwrap();
            assert_eq!(ids(s.inbox("b", 100).unwrap()), ["n0"], "the walk's lane is hidden while it walks");
        }
        assert!(s.seen("n1").unwrap() && s.seen("n9").unwrap(), "seen as soon as written");
        assert_eq!(s.cursor().unwrap(), cur);
        cur.scan = None;
        s.save_cursor(&cur).unwrap();
        assert_eq!(ids(s.inbox("b", 100).unwrap()), ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"]);
        // A later catch-up's lane sorts after this one, and hides only itself.
        let later = s.new_lane().unwrap();
        cur.scan = Some(Scan {
            top: Mark { at_ms: Some(20), id: "n20".into() },
            next: None,
            positions: 1,
            handed: 0,
            pages: 1,
            lane: Some(later),
            listed_ms: None,
        });
        let e = ev(20);
        s.hand_over(
            &[Handover { id: "n20", at_ms: None, event: &e, behaviors: vec!["b".into()], position: 0 }],
            Lane::Walk { scan: later },
            &[],
            Some(&cur),
        )
        .unwrap();
        assert_eq!(ids(s.inbox("b", 100).unwrap()).len(), 10);
        cur.scan = None;
        s.save_cursor(&cur).unwrap();
        assert_eq!(ids(s.inbox("b", 100).unwrap()).last().unwrap(), "n20");
    }

    #[test]
    fn two_notifications_given_one_walk_position_keep_an_entry_each() {
        // A page read again after a crash, listed differently by the platform the second time.
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap().agent("me").unwrap();
        let lane = s.new_lane().unwrap();
        let (a, b) = (
            serde_json::value::to_raw_value(&json!({"id": "na"})).unwrap(),
            serde_json::value::to_raw_value(&json!({"id": "nb"})).unwrap(),
        );
        for (id, e) in [("na", &a), ("nb", &b)] {
            let h = Handover { id, at_ms: None, event: e, behaviors: vec!["b".into()], position: 7 };
            s.hand_over(&[h], Lane::Walk { scan: lane }, &[], None).unwrap();
        }
        let ids: Vec<String> = s.inbox("b", 10).unwrap().iter().map(|i| crate::store::id_of(&i.event)).collect();
        assert_eq!(ids, ["na", "nb"]);
    }

    #[test]
    fn pages_staged_by_an_older_version_come_back_oldest_first_with_their_positions() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap().agent("me").unwrap();
        let cur = Cursor {
            hwm: None,
            scan: Some(Scan {
                top: Mark { at_ms: Some(9), id: "n9".into() },
                next: Some("c_5".into()),
                positions: 9,
                handed: 0,
                pages: 2,
                lane: None,
                listed_ms: None,
            }),
        };
        let page1: Vec<serde_json::Value> = (5..=9).rev().map(|i| json!({"id": format!("n{i}")})).collect();
        s.stage(&cur, &page1.iter().collect::<Vec<_>>(), 0).unwrap();
        let page2: Vec<serde_json::Value> = (1..=4).rev().map(|i| json!({"id": format!("n{i}")})).collect();
        s.stage(&cur, &page2.iter().collect::<Vec<_>>(), 5).unwrap();
        let first = s.staged(3).unwrap();
        let got: Vec<(String, u64)> = first.iter().map(|st| (crate::store::id_of(&st.event), st.position)).collect();
        assert_eq!(got, [("n1".to_string(), 8), ("n2".into(), 7), ("n3".into(), 6)]);
        // Moved into a lane: gone from the staging area in the same transaction.
        let lane = s.new_lane().unwrap();
        let ids: Vec<String> = first.iter().map(|st| crate::store::id_of(&st.event)).collect();
        let batch: Vec<Handover> = first
            .iter()
            .zip(&ids)
            .map(|(st, id)| Handover { id, at_ms: None, event: &st.event, behaviors: vec!["b".into()], position: st.position })
            .collect();
        let keys: Vec<Vec<u8>> = first.iter().map(|s| s.key.clone()).collect();
        s.hand_over(&batch, Lane::Walk { scan: lane }, &keys, Some(&cur)).unwrap();
        assert_eq!(s.staged(100).unwrap().len(), 6);
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
