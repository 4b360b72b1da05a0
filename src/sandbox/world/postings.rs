//! Posting lists: the seqs filed under one key of an index (the posts that
//! hold a word, the agents whose handle or name holds a trigram), and where
//! several lists meet (a search for every word of a query).
//!
//! Guarantees: a list holds exactly the seqs added and not taken out; a meet
//! yields exactly the seqs on every one of its lists, newest first, below the
//! cursor, and costs what its shortest list costs, not what the world holds:
//! a short list (most words are on a few posts) is kept as sorted seqs and
//! probed seq by seq into the others; long lists are compressed bitmaps
//! (`roaring`), which meet a machine word (64 seqs) at a time where both are
//! dense and a value at a time where one is sparse, so two common words that
//! never meet cost microseconds, not a probe per post.

use std::collections::HashMap;

use roaring::RoaringTreemap;

/// From this many seqs on, a list is a bitmap: below, sorted seqs take less
/// memory than a bitmap's containers (and its map of them), and probing each
/// of them costs less than a bitmap intersection.
const SHORT: usize = 64;

/// Ascending seqs under one key.
#[derive(Debug, Clone)]
pub(super) enum Postings {
    /// Most words are on one post: that one is kept inline, without an allocation of its own.
    One(u64),
    Few(Vec<u64>),
    Many(RoaringTreemap),
}

/// What a missing key meets: nothing.
static NONE: Postings = Postings::Few(Vec::new());

impl Postings {
    fn len(&self) -> u64 {
        match self {
            Postings::One(_) => 1,
            Postings::Few(v) => v.len() as u64,
            Postings::Many(m) => m.len(),
        }
    }

    fn contains(&self, seq: u64) -> bool {
        match self {
            Postings::One(s) => *s == seq,
            Postings::Few(v) => v.binary_search(&seq).is_ok(),
            Postings::Many(m) => m.contains(seq),
        }
    }

    pub(super) fn add(&mut self, seq: u64) {
        match self {
            Postings::One(s) if *s == seq => {}
            Postings::One(s) => *self = Postings::Few(if *s < seq { vec![*s, seq] } else { vec![seq, *s] }),
            Postings::Few(v) => {
                if let Err(i) = v.binary_search(&seq) {
                    v.insert(i, seq);
                }
                if v.len() >= SHORT {
                    *self = Postings::Many(v.iter().copied().collect());
                }
            }
            Postings::Many(m) => {
                m.insert(seq);
            }
        }
    }

    /// Takes `seq` out; whether none is left.
    pub(super) fn take(&mut self, seq: u64) -> bool {
        match self {
            Postings::One(s) => *s == seq,
            Postings::Few(v) => {
                if let Ok(i) = v.binary_search(&seq) {
                    v.remove(i);
                }
                v.is_empty()
            }
            Postings::Many(m) => {
                m.remove(seq);
                m.is_empty()
            }
        }
    }
}

/// The lists under `keys`: a missing key is an empty list, so nothing meets.
pub(super) fn lists<'a, K: std::hash::Hash + Eq>(index: &'a HashMap<K, Postings>, keys: &[K]) -> Vec<&'a Postings> {
    keys.iter().map(|k| index.get(k).unwrap_or(&NONE)).collect()
}

/// The seqs on every one of several lists (none meet nothing).
pub(super) struct Meet<'a> {
    lists: Vec<&'a Postings>,
}

impl<'a> Meet<'a> {
    pub(super) fn of(mut lists: Vec<&'a Postings>) -> Meet<'a> {
        lists.sort_by_key(|l| l.len());
        Meet { lists }
    }

    /// Newest first, below `before`.
    pub(super) fn below(self, before: u64) -> Box<dyn Iterator<Item = u64> + 'a> {
        let Some((&first, rest)) = self.lists.split_first() else { return Box::new(std::iter::empty()) };
        let rest: Vec<&'a Postings> = rest.to_vec();
        match first {
            Postings::One(s) if *s < before && rest.iter().all(|l| l.contains(*s)) => Box::new(std::iter::once(*s)),
            Postings::One(_) => Box::new(std::iter::empty()),
            Postings::Few(v) => {
                let end = v.partition_point(|s| *s < before);
                Box::new(v[..end].iter().rev().copied().filter(move |s| rest.iter().all(|l| l.contains(*s))))
            }
            Postings::Many(m) if rest.is_empty() => {
                let Some(last) = before.checked_sub(1) else { return Box::new(std::iter::empty()) };
                let mut it = m.iter();
                it.advance_back_to(last);
                Box::new(it.rev())
            }
            // The bitmaps meet a word at a time; a bitmap that lost most of
            // its seqs can be shorter than sorted seqs, which are probed.
            Postings::Many(m) => {
                let mut met = m.clone();
                let mut probed = vec![];
                for l in rest {
                    match l {
                        Postings::Many(o) => met &= o,
                        short => probed.push(short),
                    }
                }
                met.remove_range(before..);
                Box::new(met.into_iter().rev().filter(move |s| probed.iter().all(|l| l.contains(*s))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(seqs: &[u64]) -> Option<Postings> {
        let (&first, rest) = seqs.split_first()?;
        let mut p = Postings::One(first);
        for s in rest {
            p.add(*s);
        }
        Some(p)
    }

    /// Lists of every size (one seq, sorted seqs, bitmaps, and each shape
    /// against the others) meet exactly where a scan says, from any cursor,
    /// as seqs are added and taken out.
    #[test]
    fn lists_meet_where_a_scan_says_they_meet() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut shapes = [0usize; 3];
        for round in 0..300 {
            let mut seqs: Vec<Vec<u64>> = (0..rng.random_range(1..4))
                .map(|_| {
                    let keep = [1, 10, 50, 300, 990][rng.random_range(0..5)];
                    (0..3000u64).filter(|_| rng.random_range(0..1000) < keep).collect()
                })
                .collect();
            let mut built: Vec<Option<Postings>> = seqs.iter().map(|s| list(s)).collect();
            // Take some out again, keeping the sorted seqs the scan reads in step.
            for (s, p) in seqs.iter_mut().zip(&mut built) {
                // Now and then most of a list goes: a bitmap left shorter than sorted seqs.
                let out_of_100 = if rng.random_range(0..3) == 0 { 98 } else { 25 };
                let gone: std::collections::BTreeSet<u64> = s.iter().copied().filter(|_| rng.random_range(0..100) < out_of_100).collect();
                for g in &gone {
                    if p.as_mut().is_some_and(|p| p.take(*g)) {
                        *p = None;
                    }
                }
                s.retain(|x| !gone.contains(x));
            }
            for p in built.iter().flatten() {
                shapes[match p {
                    Postings::One(_) => 0,
                    Postings::Few(_) => 1,
                    Postings::Many(_) => 2,
                }] += 1;
            }
            let before = if round % 2 == 0 { u64::MAX } else { rng.random_range(0..3100) };
            let lists: Vec<&Postings> = built.iter().map(|p| p.as_ref().unwrap_or(&NONE)).collect();
            let met: Vec<u64> = Meet::of(lists).below(before).collect();
            let want: Vec<u64> = (0..3000u64).rev().filter(|s| *s < before && seqs.iter().all(|l| l.binary_search(s).is_ok())).collect();
            assert_eq!(met, want, "round {round}");
        }
        assert!(shapes.iter().all(|n| *n > 5), "every shape met others: {shapes:?}");
        assert_eq!(Meet::of(vec![]).below(u64::MAX).count(), 0, "no lists meet nothing");
    }
}
