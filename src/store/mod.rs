//! Durable daemon state in sled: notification cursors and dedupe marks, the
//! per-behavior inbox, side-effect intents and their outcomes, and small
//! per-behavior values (schedule positions, counters, cooldowns). Settled
//! records that answered a notification are pruned after [`ACTION_RETENTION`];
//! a record's tally (a value it counts toward) gets one added before it goes.
//!
//! Secrets never enter the store. A directory that sled did not write, or a
//! sled database that imagine-agent did not write, is refused untouched.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

pub mod blocks;
mod commit;
pub mod cursor;
pub mod layout;
mod seen;
pub mod state_view;
pub mod transfer;

pub use cursor::{Cursor, Handover, Lane, Mark, Scan};
use layout::Part;

const FORMAT_KEY: &[u8] = b"imagine-agent/format";
const FORMAT: &[u8] = b"imagine-agent-state/2";
/// The first layout (a sled tree per agent and purpose), migrated on open.
const FORMAT_1: &[u8] = b"imagine-agent-state/1";
/// Settled side effects answering a notification are forgotten after this long
/// (the runtime prunes them; behaviors that count their records look no further back).
pub const ACTION_RETENTION: chrono::Duration = chrono::Duration::days(7);
/// sled's page cache (its default is 1 GiB): the daemon's working set is small
/// and bounded memory matters more than cache hits (benches/agents.sh).
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: not an imagine-agent state directory (it holds other files); refusing to touch it. Point state_dir at an empty or imagine-agent directory")]
    Foreign { path: PathBuf },
    #[error("{path}: this sled database was not written by imagine-agent (or by an incompatible version: {found}); refusing to use it")]
    WrongFormat { path: PathBuf, found: String },
    #[error("{path}: cannot open the state database: {source}. If another imagine-agent is running on this directory, stop it first; if the files are damaged, move the directory away and start again")]
    Open { path: PathBuf, source: sled::Error },
    #[error("state store: {0}")]
    Sled(#[from] sled::Error),
    #[error("state store: cannot make writes durable: {0}")]
    Flush(#[source] std::sync::Arc<sled::Error>),
    #[error("state store: corrupt record {key}: {detail}")]
    Corrupt { key: String, detail: String },
}

/// Where a side effect stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// About to be sent: after a crash, check the platform before repeating.
    Intent,
    /// Known to have happened.
    Done,
    /// Decided against (filters, guardrails, dry run).
    Skipped,
}

/// One side effect, keyed by behavior and a key unique to the cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub state: ActionState,
    /// The action kind (`reply`, `dm`...); stored as `kind`.
    #[serde(rename = "kind")]
    pub action: String,
    /// What will be or was sent (content, target), for recovery checks.
    pub detail: Value,
    /// What the platform answered (created id), when done.
    pub result: Option<String>,
    pub at_ms: i64,
    /// The notification that caused it, for a side effect answering one: such
    /// records can be pruned once settled and old (the cursor keeps the
    /// notification from coming back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// A value of the same behavior this record counts toward once it is
    /// pruned: pruning adds one to that value first (a count that must outlive
    /// the records, e.g. replies per thread, is the value plus the records that
    /// name it, with no write of its own per action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<String>,
    /// When the intent was written by this machine's wall clock (not the
    /// agent's clock, which a test may move): a look on the platform for what
    /// it created goes back to this time (less the clocks' slack), no further.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_ms: Option<i64>,
}

/// The state database of one daemon.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    commit: Arc<commit::Committer>,
    /// Each agent's seen-marks in memory (see [`seen`]), shared by its stores.
    marks: Arc<Mutex<HashMap<String, seen::Shared>>>,
    /// Each agent's prunings that folded a record into its tally (see
    /// [`AgentStore::tally_rounds`]), shared by its stores.
    tallied: Arc<Mutex<HashMap<String, Arc<AtomicU64>>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn looks_like_sled(dir: &Path) -> bool {
    dir.join("db").exists() || dir.join("conf").exists()
}

/// Opens sled, waiting up to two seconds for the lock: a database closed a
/// moment ago in this process is released by sled's background flusher a
/// little later (a daemon restarted in-process, tests). Another live process
/// holding it still fails, with sled's message.
fn open_sled(dir: &Path) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sled::Config::new().path(dir).cache_capacity(CACHE_BYTES).open() {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

impl Store {
    /// Opens (or creates) the state directory, refusing foreign content.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.to_path_buf();
        if dir.exists() {
            let nonempty = std::fs::read_dir(dir)
                .map(|mut d| d.next().is_some())
                .map_err(|e| StoreError::Open { path: path.clone(), source: e.into() })?;
            if !dir.is_dir() || (nonempty && !looks_like_sled(dir)) {
                return Err(StoreError::Foreign { path });
            }
        }
        let db = open_sled(dir).map_err(|source| StoreError::Open { path: path.clone(), source })?;
        match db.get(FORMAT_KEY)? {
            Some(v) if v.as_ref() == FORMAT => {}
            Some(v) if v.as_ref() == FORMAT_1 => {
                let n = layout::migrate(&db)?;
                db.insert(FORMAT_KEY, FORMAT)?;
                db.flush()?;
                tracing::info!(agents = n, path = %path.display(), "state moved to the shared-tree layout");
            }
            Some(v) => return Err(StoreError::WrongFormat { path, found: String::from_utf8_lossy(&v).into_owned() }),
            None => {
                let empty = db.is_empty() && db.tree_names().len() <= 1;
                if !empty {
                    return Err(StoreError::WrongFormat { path, found: "no imagine-agent marker".into() });
                }
                db.insert(FORMAT_KEY, FORMAT)?;
                db.flush()?;
            }
        }
        let commit = commit::Committer::start(db.clone()).map_err(|e| StoreError::Open { path: path.clone(), source: e.into() })?;
        Ok(Store { db, path, commit: commit.into(), marks: Default::default(), tallied: Default::default() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state of one agent.
    pub fn agent(&self, agent: &str) -> Result<AgentStore, StoreError> {
        let known = self.db.open_tree(layout::AGENTS)?;
        if !known.contains_key(agent)? {
            known.insert(agent, &[])?;
        }
        let t = |name: &str| self.db.open_tree(name).map(|t| Part::new(t, agent));
        Ok(AgentStore {
            db: self.db.clone(),
            commit: self.commit.clone(),
            marks: crate::sync::lock(&self.marks).entry(agent.to_string()).or_default().clone(),
            tallied: crate::sync::lock(&self.tallied).entry(agent.to_string()).or_default().clone(),
            kv: t("kv")?,
            actions: t("actions")?,
            inbox: t("inbox")?,
            seen: t("seen")?,
            cursor: t("cursor")?,
        })
    }

    /// Forgets what memory holds of `agent`'s seen-marks (its records were
    /// written or dropped by other means): read again when next needed.
    fn reread_marks(&self, agent: &str) {
        if let Some(m) = crate::sync::lock(&self.marks).get(agent) {
            *crate::sync::lock(m) = None;
        }
    }

    /// Agents that have state here.
    pub fn agents(&self) -> Vec<String> {
        let Ok(known) = self.db.open_tree(layout::AGENTS) else { return vec![] };
        known.iter().keys().filter_map(|k| String::from_utf8(k.ok()?.to_vec()).ok()).collect()
    }

    /// Makes everything written so far durable (one flush shared by all who ask meanwhile).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.commit.flush().await.map_err(StoreError::Flush)
    }

    /// Language-model tokens counted for `profile` on `day` (daemon-wide).
    pub fn daily_tokens(&self, profile: &str, day: &str) -> Result<u64, StoreError> {
        let t = self.db.open_tree("llm:tokens")?;
        Ok(t.get(format!("{profile}\u{0}{day}"))?.and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)).unwrap_or(0))
    }

    /// Adds to the day's count (atomically); other days' counts are dropped.
    pub fn add_daily_tokens(&self, profile: &str, day: &str, n: u64) -> Result<(), StoreError> {
        let t = self.db.open_tree("llm:tokens")?;
        let key = format!("{profile}\u{0}{day}");
        t.update_and_fetch(&key, |old| {
            let was = old.and_then(|v| v.try_into().ok().map(u64::from_be_bytes)).unwrap_or(0);
            Some(was.saturating_add(n).to_be_bytes().to_vec())
        })?;
        for k in t.scan_prefix(format!("{profile}\u{0}")).keys() {
            let k = k?;
            if k.as_ref() != key.as_bytes() {
                t.remove(k)?;
            }
        }
        Ok(())
    }
}

/// The state of one agent: its share of the shared trees (see [`layout`]).
#[derive(Clone)]
pub struct AgentStore {
    db: sled::Db,
    commit: Arc<commit::Committer>,
    kv: Part,
    actions: Part,
    inbox: Part,
    seen: Part,
    marks: seen::Shared,
    tallied: Arc<AtomicU64>,
    /// The notification cursor and the catch-up under way (see [`cursor`]).
    cursor: Part,
}

fn key(behavior: &str, k: &str) -> Vec<u8> {
    [behavior.as_bytes(), b"\0", k.as_bytes()].concat()
}

fn decode<T: DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v)
        .map_err(|e| StoreError::Corrupt { key: String::from_utf8_lossy(k).replace('\u{0}', "/"), detail: e.to_string() })
}

/// Every record of a tree: (behavior, key, value).
fn all<T: DeserializeOwned>(tree: &Part) -> Result<Vec<(String, String, T)>, StoreError> {
    tree.iter()
        .map(|r| {
            let (k, v) = r?;
            let s = String::from_utf8_lossy(&k).into_owned();
            let (b, rest) = s.split_once('\u{0}').unwrap_or(("", &s));
            Ok((b.to_string(), rest.to_string(), decode(&k, &v)?))
        })
        .collect()
}

/// Values of one behavior written with an intent ([`AgentStore::intend_with`]),
/// and the value its record counts toward once pruned ([`ActionRecord::tally`]).
#[derive(Debug, Default, Clone)]
pub struct Puts {
    values: Vec<(String, Vec<u8>)>,
    tally: Option<String>,
}

impl Puts {
    pub fn put<T: Serialize>(&mut self, k: &str, v: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(v).map_err(|e| StoreError::Corrupt { key: k.into(), detail: e.to_string() })?;
        self.values.retain(|(name, _)| name != k);
        self.values.push((k.to_string(), bytes));
        Ok(())
    }

    /// The record counts toward value `k` once pruned (see [`ActionRecord::tally`]).
    pub fn tally(&mut self, k: String) {
        self.tally = Some(k);
    }

    pub fn tally_of(&self) -> Option<&str> {
        self.tally.as_deref()
    }
}

/// One notification waiting for a behavior: its JSON as handed over.
#[derive(Debug, Clone)]
pub struct InboxItem {
    pub key: Vec<u8>,
    pub event: Box<RawValue>,
}

/// The `id` of a stored notification (tests).
#[cfg(test)]
pub(crate) fn id_of(raw: &RawValue) -> String {
    serde_json::from_str::<Value>(raw.get()).unwrap()["id"].as_str().unwrap().to_string()
}

impl AgentStore {
    /// Makes everything written so far durable (see [`commit`]).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.commit.flush().await.map_err(StoreError::Flush)
    }

    /// Flushes of the state database so far (shared by every agent of the daemon).
    pub fn flushes(&self) -> u64 {
        self.commit.rounds()
    }

    // ---- small values ----

    pub fn get<T: DeserializeOwned>(&self, behavior: &str, k: &str) -> Result<Option<T>, StoreError> {
        let kk = key(behavior, k);
        self.kv.get(&kk)?.map(|v| decode(&kk, &v)).transpose()
    }

    pub fn put<T: Serialize>(&self, behavior: &str, k: &str, v: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(v).map_err(|e| StoreError::Corrupt { key: k.into(), detail: e.to_string() })?;
        self.kv.insert(key(behavior, k), bytes)?;
        Ok(())
    }

    pub fn remove(&self, behavior: &str, k: &str) -> Result<(), StoreError> {
        self.kv.remove(key(behavior, k))?;
        Ok(())
    }

    /// Every value of a behavior whose key starts with `prefix`.
    pub fn scan<T: DeserializeOwned>(&self, behavior: &str, prefix: &str) -> Result<Vec<(String, T)>, StoreError> {
        let skip = behavior.len() + 1;
        self.kv
            .scan_prefix(key(behavior, prefix))
            .map(|r| {
                let (k, v) = r?;
                Ok((String::from_utf8_lossy(&k[skip..]).into_owned(), decode(&k, &v)?))
            })
            .collect()
    }

    /// The keys of a behavior's values that start with `prefix` (values not read).
    pub fn keys(&self, behavior: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let skip = behavior.len() + 1;
        self.kv.scan_prefix(key(behavior, prefix)).map(|r| Ok(String::from_utf8_lossy(&r?.0[skip..]).into_owned())).collect()
    }

    // ---- side effects ----

    pub fn action(&self, behavior: &str, k: &str) -> Result<Option<ActionRecord>, StoreError> {
        let kk = key(behavior, k);
        self.actions.get(&kk)?.map(|v| decode(&kk, &v)).transpose()
    }

    /// Records an intent durably, before the side effect is sent.
    pub async fn intend(&self, behavior: &str, k: &str, rec: ActionRecord) -> Result<(), StoreError> {
        self.intend_with(behavior, k, rec, &Puts::default())?;
        self.flush().await
    }

    /// Records an intent, then `puts` (values of the same behavior that count
    /// it, e.g. against caps). Not flushed: the caller waits for
    /// [`AgentStore::flush`] before sending, so the intents of a batch share one
    /// flush, and what is sent is durable with its counts.
    ///
    /// Not one transaction: a sled transaction (or batch) writes the log out
    /// twice (pwrite + sync_file_range each), which cost more than the rest of
    /// handling a mention. sled recovers a prefix of the writes (its recovery
    /// reads the log in order and cuts it at the first tear, sled 0.34
    /// `pagecache/iterator.rs`), so a crash
    /// in the instant between the two writes (before the flush, so before
    /// anything was sent) can keep the intent without its counts, never the
    /// counts without the intent: that reply, sent after the restart, is not
    /// counted (a cap is exceeded by at most one), while the other order could
    /// make the event's own counts refuse its reply after the restart.
    pub fn intend_with(&self, behavior: &str, k: &str, rec: ActionRecord, puts: &Puts) -> Result<(), StoreError> {
        let tally = puts.tally.clone().or(rec.tally);
        self.write_action(behavior, k, ActionRecord { state: ActionState::Intent, tally, ..rec })?;
        for (name, v) in &puts.values {
            self.kv.insert(key(behavior, name), v.as_slice())?;
        }
        Ok(())
    }

    /// Records the outcome once the platform has answered (`at_ms` by the agent's clock).
    ///
    /// Not flushed here: only intents must be durable before a side effect.
    /// A lost outcome leaves the intent, which is settled by checking the
    /// platform; sled flushes on its own within half a second, and every
    /// following intent flushes everything before it.
    pub fn settle(&self, behavior: &str, k: &str, outcome: ActionRecord) -> Result<(), StoreError> {
        let rec = match self.action(behavior, k)? {
            Some(prev) => ActionRecord {
                action: prev.action,
                detail: prev.detail,
                event: prev.event.or(outcome.event.clone()),
                tally: prev.tally.or(outcome.tally.clone()),
                written_ms: prev.written_ms.or(outcome.written_ms),
                ..outcome
            },
            None => outcome,
        };
        self.write_action(behavior, k, rec)
    }

    /// Records the outcome of an intent whose record the caller has whole
    /// (kind, detail, event and tally as in the intent): [`AgentStore::settle`]
    /// without reading the intent back.
    pub fn settle_whole(&self, behavior: &str, k: &str, rec: ActionRecord) -> Result<(), StoreError> {
        self.write_action(behavior, k, rec)
    }

    fn write_action(&self, behavior: &str, k: &str, rec: ActionRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(&rec).map_err(|e| StoreError::Corrupt { key: k.into(), detail: e.to_string() })?;
        self.actions.insert(key(behavior, k), bytes)?;
        Ok(())
    }

    /// Forgets a settled side effect so the same key can be used again (a
    /// desired state applied anew after drift). An unfinished intent is kept:
    /// `once` must check it on the platform first.
    pub fn forget_action(&self, behavior: &str, k: &str) -> Result<(), StoreError> {
        if self.action(behavior, k)?.is_some_and(|r| r.state != ActionState::Intent) {
            self.actions.remove(key(behavior, k))?;
        }
        Ok(())
    }

    /// The action records of one behavior whose key starts with `prefix`:
    /// (key, record). A record that does not decode is left out, with a
    /// warning: one damaged record must not stop what counts the others.
    pub fn actions_of(&self, behavior: &str, prefix: &str) -> Result<Vec<(String, ActionRecord)>, StoreError> {
        let skip = behavior.len() + 1;
        let mut out = vec![];
        for r in self.actions.scan_prefix(key(behavior, prefix)) {
            let (k, v) = r?;
            match decode(&k, &v) {
                Ok(rec) => out.push((String::from_utf8_lossy(&k[skip..]).into_owned(), rec)),
                Err(e) => tracing::warn!(error = %e, "an action record that does not decode is left out"),
            }
        }
        Ok(out)
    }

    /// All action records: (behavior, key, record).
    pub fn actions(&self) -> Result<Vec<(String, String, ActionRecord)>, StoreError> {
        all(&self.actions)
    }

    // ---- notifications ----

    pub fn seen(&self, notification_id: &str) -> Result<bool, StoreError> {
        seen::with(&self.marks, &self.seen, |m| m.contains_key(notification_id))
    }

    /// Waiting events of a behavior, at most `max`: live and catch-up events
    /// taken in turn, each lane oldest first.
    pub fn inbox(&self, behavior: &str, max: usize) -> Result<Vec<InboxItem>, StoreError> {
        let read = |r: sled::Result<(sled::IVec, sled::IVec)>| -> Result<InboxItem, StoreError> {
            let (k, v) = r?;
            Ok(InboxItem { key: k.to_vec(), event: decode(&k, &v)? })
        };
        let live_start = key(behavior, "");
        let backlog_start = key(behavior, "~");
        let backlog_end = key(behavior, "\u{7f}");
        let live: Vec<InboxItem> = self.inbox.range(&live_start, &backlog_start).take(max).map(read).collect::<Result<_, _>>()?;
        // A catch-up still walking keeps its lane to itself (it is read newest first).
        let (hidden_start, hidden_end) = match self.hidden_lane()? {
            Some(lane) => {
                let start = key(behavior, &cursor::lane_prefix(lane));
                let mut end = start.clone();
                if let Some(last) = end.last_mut() {
                    *last += 1; // a digit: the next prefix of the same length
                }
                (start, end)
            }
            None => (backlog_end.clone(), backlog_end.clone()),
        };
        let backlog: Vec<InboxItem> = self
            .inbox
            .range(&backlog_start, &hidden_start)
            .chain(self.inbox.range(&hidden_end, &backlog_end))
            .take(max)
            .map(read)
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(max.min(live.len() + backlog.len()));
        let (mut l, mut b) = (live.into_iter(), backlog.into_iter());
        while out.len() < max {
            match (l.next(), b.next()) {
                (None, None) => break,
                (x, y) => out.extend(x.into_iter().chain(y)),
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// Whether a behavior has events waiting.
    pub fn inbox_is_empty(&self, behavior: &str) -> bool {
        self.inbox.scan_prefix(key(behavior, "")).next().is_none()
    }

    pub fn inbox_len(&self) -> usize {
        self.inbox.len()
    }

    /// Waiting events per behavior.
    pub fn inbox_by_behavior(&self) -> Result<std::collections::BTreeMap<String, usize>, StoreError> {
        let mut out = std::collections::BTreeMap::new();
        for r in self.inbox.iter() {
            let (k, _) = r?;
            let b = k.split(|c| *c == 0).next().unwrap_or_default();
            *out.entry(String::from_utf8_lossy(b).into_owned()).or_default() += 1;
        }
        Ok(out)
    }

    /// Every small value: (behavior, key, value).
    pub fn values(&self) -> Result<Vec<(String, String, Value)>, StoreError> {
        all(&self.kv)
    }

    /// The event is handled (its outcome is recorded): drop it from the inbox.
    /// Not flushed (see [`AgentStore::settle`]): a lost ack re-runs the event,
    /// whose recorded or platform-checked outcome stops it from repeating.
    pub async fn ack(&self, item: &InboxItem) -> Result<(), StoreError> {
        self.inbox.remove(&item.key)?;
        Ok(())
    }

    /// Hands an event from a screening behavior's inbox on to `to`'s inboxes,
    /// at the same place in their order (same lane, same sequence), and takes
    /// it out of the screener's: one atomic batch, so a crash leaves it in one
    /// place or the other, never lost, never in both.
    pub fn pass_on(&self, item: &InboxItem, to: &[String]) -> Result<(), StoreError> {
        let suffix = item.key.iter().position(|c| *c == 0).map_or(&item.key[..], |i| &item.key[i + 1..]);
        let mut batch = sled::Batch::default();
        for b in to {
            batch.insert(self.inbox.k([b.as_bytes(), b"\0", suffix].concat()), item.event.get().as_bytes());
        }
        batch.remove(self.inbox.k(&item.key));
        self.inbox.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Forgets settled side effects that answered a notification and are
    /// older than `before_ms`, for behaviors with no events waiting (a waiting
    /// event might be one whose hand-back was lost, and needs its record).
    /// Intents are never pruned. A record with a tally adds one to its value
    /// first (a crash between the two counts it twice: held tighter, never
    /// looser). Returns how many were removed.
    pub fn prune_actions(&self, before_ms: i64) -> Result<usize, StoreError> {
        let (mut n, mut folded) = (0, false);
        let mut idle: HashMap<Vec<u8>, bool> = Default::default();
        for r in self.actions.iter() {
            let (k, v) = r?;
            let behavior = k.split(|c| *c == 0).next().unwrap_or_default().to_vec();
            let rec: ActionRecord = decode(&k, &v)?;
            if rec.event.is_none() || rec.state == ActionState::Intent || rec.at_ms >= before_ms {
                continue;
            }
            let quiet = *idle.entry(behavior.clone()).or_insert_with(|| self.inbox_is_empty(&String::from_utf8_lossy(&behavior)));
            if quiet {
                if let Some(t) = &rec.tally {
                    let b = String::from_utf8_lossy(&behavior);
                    // A value that does not decode is taken as full (held tighter, never looser).
                    let count: u64 = match self.get(&b, t) {
                        Err(StoreError::Corrupt { .. }) => u32::MAX.into(),
                        other => other?.unwrap_or(0),
                    };
                    self.put(&b, t, &(count + 1))?;
                    folded = true;
                }
                self.actions.remove(&k)?;
                n += 1;
            }
        }
        if folded {
            self.tallied.fetch_add(1, Ordering::SeqCst);
        }
        Ok(n)
    }

    /// How many prunings of this agent's records (in this process) have
    /// folded a record into its tally: what counts records in memory reads
    /// them again when this moved. Bumped after the folds, so a count read
    /// after seeing the new figure never misses a pruned record (one read
    /// while a pruning runs may take one in twice: held tighter).
    pub fn tally_rounds(&self) -> u64 {
        self.tallied.load(Ordering::SeqCst)
    }

    pub fn actions_len(&self) -> usize {
        self.actions.len()
    }

    /// Notifications marked seen (see [`seen`]).
    pub fn seen_len(&self) -> Result<usize, StoreError> {
        seen::with(&self.marks, &self.seen, |m| m.len())
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests;
