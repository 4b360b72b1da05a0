//! Seen-marks: which notifications an agent has handed over, kept for those
//! inside the skew window below the high-water mark (the cursor decides for
//! older ones, see [`super::cursor`]).
//!
//! One record per hand-over batch (`NUL b` and a sequence, holding the
//! batch's ids with their times), not one per notification: a mark costs a
//! share of one sled write instead of a write and a read of its own (those
//! were about 5% of handling a mention, benches/burst.sh). Marks are looked
//! up in memory: an agent's are read from sled the first time they are
//! needed and kept beside the records by every [`super::AgentStore`] of the
//! agent in this process. Records of earlier versions (one per notification,
//! the id as key and its time as value) are read as they are.
//!
//! Guarantees: a batch's record is written after its inbox entries, and its
//! marks count in memory only once that write succeeded; whatever memory
//! holds, a restart (or an import) reads exactly what the records say; a
//! record is pruned once every mark in it is older than the cut.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::layout::Part;
use super::StoreError;

/// Where batch records start (after the agent's prefix): ids from the
/// platform never start with a NUL in practice, and a record is also told
/// from an old per-notification one by its value (never 8 bytes long).
const BATCH: &[u8] = b"\0b";
const VERSION: u8 = 1;

/// An agent's marks in memory (None until read from sled), shared by its stores.
pub(super) type Shared = Arc<Mutex<Option<HashMap<Box<str>, i64>>>>;

/// The record of one batch: version, then (time, id length, id) each.
pub(super) fn encode<'a>(marks: impl Iterator<Item = (&'a str, i64)>) -> Vec<u8> {
    let mut v = vec![VERSION];
    for (id, at) in marks {
        v.extend_from_slice(&at.to_be_bytes());
        v.extend_from_slice(&(id.len() as u32).to_be_bytes());
        v.extend_from_slice(id.as_bytes());
    }
    v
}

/// The key of a batch's record (after the agent's prefix).
pub(super) fn batch_key(seq: u64) -> Vec<u8> {
    [BATCH, &seq.to_be_bytes()].concat()
}

/// Whether `key` (after the agent's prefix) is a batch's.
pub(super) fn is_batch_key(key: &[u8]) -> bool {
    key.len() == BATCH.len() + 8 && key.starts_with(BATCH)
}

/// The marks of one record: a batch's, or an earlier version's single mark.
fn decode(key: &[u8], value: &[u8]) -> Result<Vec<(String, i64)>, StoreError> {
    let at = |b: &[u8]| b.try_into().map(i64::from_be_bytes).ok();
    if value.len() == 8 {
        return Ok(vec![(String::from_utf8_lossy(key).into_owned(), at(value).unwrap_or(i64::MIN))]);
    }
    let name = match key.get(BATCH.len()..).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        Some(seq) if is_batch_key(key) => format!("seen/batch {}", u64::from_be_bytes(seq)),
        _ => format!("seen/{}", String::from_utf8_lossy(key).replace('\0', "/")),
    };
    let corrupt = || StoreError::Corrupt { key: name.clone(), detail: "not a batch of seen-marks".into() };
    if !is_batch_key(key) || value.first() != Some(&VERSION) {
        return Err(corrupt());
    }
    let mut out = vec![];
    let mut rest = &value[1..];
    while !rest.is_empty() {
        let (time, len) = (rest.get(..8).and_then(at).ok_or_else(corrupt)?, rest.get(8..12).ok_or_else(corrupt)?);
        let len = u32::from_be_bytes(len.try_into().map_err(|_| corrupt())?) as usize;
        let id = rest.get(12..12 + len).ok_or_else(corrupt)?;
        out.push((String::from_utf8_lossy(id).into_owned(), time));
        rest = &rest[12 + len..];
    }
    Ok(out)
}

/// Every mark the records hold (the latest time of an id given twice). A
/// record that does not decode (written by hand, or imported from a damaged
/// file) is skipped with a warning, and dropped by the next prune: a mark only
/// spares a second hand-over, whose recorded outcome stops a repeat anyway.
fn load(part: &Part) -> Result<HashMap<Box<str>, i64>, StoreError> {
    let mut ids: HashMap<Box<str>, i64> = HashMap::new();
    for r in part.iter() {
        let (k, v) = r?;
        let marks = decode(&k, &v).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "skipping a seen-mark record that does not decode");
            vec![]
        });
        for (id, at) in marks {
            let e = ids.entry(id.into()).or_insert(at);
            *e = (*e).max(at);
        }
    }
    Ok(ids)
}

/// Runs `f` on the agent's marks, read from sled first if they are not in memory.
pub(super) fn with<R>(shared: &Shared, part: &Part, f: impl FnOnce(&mut HashMap<Box<str>, i64>) -> R) -> Result<R, StoreError> {
    let mut m = crate::sync::lock(shared);
    if m.is_none() {
        *m = Some(load(part)?);
    }
    Ok(f(m.as_mut().expect("just read")))
}

/// Drops the records whose marks are all older than `before_ms`; how many
/// marks went. Memory is read again from what is left, when next needed.
pub(super) fn prune(shared: &Shared, part: &Part, before_ms: i64) -> Result<usize, StoreError> {
    let mut n = 0;
    for r in part.iter() {
        let (k, v) = r?;
        let marks = decode(&k, &v).unwrap_or_default();
        if marks.iter().all(|(_, at)| *at < before_ms) {
            part.remove(&k)?;
            n += marks.len();
        }
    }
    if n > 0 {
        *crate::sync::lock(shared) = None;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_record_reads_back_and_an_old_mark_reads_as_one() {
        let v = encode([("ntf_1", 5), ("", -3), ("n\u{0}ü", i64::MAX)].into_iter());
        assert_ne!(v.len(), 8);
        let k = batch_key(7);
        assert_eq!(decode(&k, &v).unwrap(), vec![("ntf_1".into(), 5), ("".into(), -3), ("n\u{0}ü".into(), i64::MAX)]);
        assert_eq!(decode(b"ntf_9", &42i64.to_be_bytes()).unwrap(), vec![("ntf_9".into(), 42)]);
        for bad in [&v[..v.len() - 1], &[VERSION, 0, 0][..], &[2u8][..]] {
            assert!(matches!(decode(&k, bad), Err(StoreError::Corrupt { key, .. }) if key == "seen/batch 7"), "{bad:?}");
        }
        assert!(decode(b"ntf_9", &v).is_err(), "a batch under a key that is not a batch's");
    }

    fn hand(s: &super::super::AgentStore, ids: &[(&str, i64)]) {
        let raw = serde_json::value::to_raw_value(&serde_json::json!({})).unwrap();
        let batch: Vec<_> = ids
            .iter()
            .map(|(id, at)| super::super::Handover { id, at_ms: Some(*at), event: &raw, behaviors: vec!["b".into()], position: 0 })
            .collect();
        s.hand_over(&batch, super::super::Lane::Live, &[], None).unwrap();
    }

    #[test]
    fn a_batch_is_one_record_shared_by_the_agents_stores_and_read_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = super::super::Store::open(dir.path()).unwrap();
            let (a, b) = (store.agent("me").unwrap(), store.agent("me").unwrap());
            assert!(!b.seen("n1").unwrap(), "read before anything is written");
            hand(&a, &[("n1", 10), ("n2", 20), ("n3", 30)]);
            assert_eq!(a.seen.len(), 1, "one record for the batch");
            assert!(b.seen("n1").unwrap() && b.seen("n3").unwrap(), "another store of the agent sees them at once");
            assert!(!store.agent("other").unwrap().seen("n1").unwrap());
            hand(&b, &[("n4", 40)]);
            assert_eq!(a.seen_len().unwrap(), 4);
        }
        let s = super::super::Store::open(dir.path()).unwrap().agent("me").unwrap();
        assert_eq!(s.seen_len().unwrap(), 4);
        assert!(["n1", "n2", "n3", "n4"].iter().all(|id| s.seen(id).unwrap()));
    }

    #[test]
    fn a_batch_goes_once_all_its_marks_are_older_than_the_cut() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(dir.path()).unwrap();
        let s = store.agent("me").unwrap();
        s.seen.insert(b"old_one", 5i64.to_be_bytes().to_vec()).unwrap(); // an earlier version's mark
        hand(&s, &[("n1", 10), ("n2", 20)]);
        hand(&s, &[("n3", 10), ("n4", 100)]);
        assert_eq!(s.seen_len().unwrap(), 5);
        assert_eq!(s.prune_seen(50).unwrap(), 3, "the old mark and the first batch");
        assert!(!s.seen("old_one").unwrap() && !s.seen("n1").unwrap() && !s.seen("n2").unwrap());
        assert!(s.seen("n3").unwrap() && s.seen("n4").unwrap(), "a batch with a newer mark stays whole");
        assert_eq!(s.prune_seen(101).unwrap(), 2);
        assert_eq!((s.seen_len().unwrap(), s.seen.len()), (0, 0));
    }

    #[test]
    fn a_record_that_does_not_decode_is_skipped_then_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(dir.path()).unwrap();
        let s = store.agent("me").unwrap();
        s.seen.insert(batch_key(u64::MAX), vec![VERSION, 0, 0]).unwrap();
        hand(&s, &[("n1", 10)]);
        assert!(s.seen("n1").unwrap(), "the other records still count");
        assert_eq!(s.seen_len().unwrap(), 1);
        assert_eq!(s.prune_seen(5).unwrap(), 0);
        assert_eq!(s.seen.len(), 1, "the damaged record is dropped, n1's kept");
        assert!(s.seen("n1").unwrap());
    }

    #[test]
    fn an_imported_agents_batches_are_not_written_over_by_the_targets_next() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let src = super::super::Store::open(a.path()).unwrap();
        let dst = super::super::Store::open(b.path()).unwrap();
        // The source's counter is ahead: the target's next sequences meet its batches'.
        for _ in 0..3 {
            hand(&src.agent("warm").unwrap(), &[("w", 1)]);
        }
        let s = src.agent("mover").unwrap();
        hand(&s, &[("n1", 1)]);
        hand(&s, &[("n2", 2)]);
        // A store of the agent made (and its marks read) before the import, the agent then forgotten.
        let before = dst.agent("mover").unwrap();
        dst.forget_agent("mover").unwrap();
        assert!(!before.seen("n1").unwrap());
        dst.import_agent(&src.export_agent("mover").unwrap().unwrap(), false).unwrap();
        assert!(before.seen("n1").unwrap(), "a store made before the import reads the imported marks");
        for i in 0..8 {
            hand(&before, &[(&format!("new{i}"), 3)]);
        }
        drop((before, dst));
        let again = super::super::Store::open(b.path()).unwrap().agent("mover").unwrap();
        assert!(again.seen("n1").unwrap() && again.seen("n2").unwrap() && again.seen("new7").unwrap());
        assert_eq!(again.seen_len().unwrap(), 10);
    }
}
