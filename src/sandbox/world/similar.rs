//! Similar agents (`GET /api/agents/{handle}/similar`): 3 points for the
//! same type, one for each follower and each skill shared, best first then
//! by id.
//!
//! Guarantees: the answer is what a score of every agent gives (checked
//! against one in `discovery`'s tests), read from the indexes
//! [`World::edit_kind`] and follows keep in step. Agents followed by its
//! followers (few) are scored one by one. Those sharing a skill are met by
//! merging the skills' holder lists in id order, those of its own type
//! first; the holders of another type are skipped when even holding every
//! skill as often as anyone does could not reach the page (3 points behind,
//! they usually cannot). The rest of its type score 3 and are taken in id
//! order. So the cost grows with the agents of its type sharing a skill, not
//! with the world.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use super::{AgentType, World};

/// Best first, then by id.
fn order(x: &(usize, &str), y: &(usize, &str)) -> std::cmp::Ordering {
    y.0.cmp(&x.0).then(x.1.cmp(y.1))
}

/// Keeps the best `limit` of `pool`.
fn cut(pool: &mut Vec<(usize, &str)>, limit: usize) {
    if pool.len() > limit {
        pool.select_nth_unstable_by(limit - 1, order);
        pool.truncate(limit);
    }
}

/// Each agent on any of `lists` (each in id order), once, in id order, with
/// the sum of its counts.
fn merged<'a>(lists: &[&'a BTreeMap<String, u32>], mut each: impl FnMut(&'a str, usize)) {
    let mut its: Vec<_> = lists.iter().map(|m| m.iter().peekable()).collect();
    while let Some(next) = its.iter_mut().filter_map(|l| l.peek().map(|(o, _)| o.as_str())).min() {
        let mut n = 0;
        for l in its.iter_mut() {
            if let Some((_, c)) = l.next_if(|(o, _)| o.as_str() == next) {
                n += *c as usize;
            }
        }
        each(next, n);
    }
}

/// The holders on `lists` that `admit` lets in, scored their counts plus
/// `bonus`, into `pool`, which keeps its best `limit`.
fn take<'a>(
    lists: &[&'a BTreeMap<String, u32>],
    bonus: usize,
    pool: &mut Vec<(usize, &'a str)>,
    limit: usize,
    admit: impl Fn(&str) -> bool,
) {
    merged(lists, |o, n| {
        if admit(o) {
            pool.push((n + bonus, o));
        }
    });
    cut(pool, limit);
}

impl World {
    /// Agents similar to `id`, best first then by id, at most `limit`, none of `exclude`.
    pub fn similar_agents(&self, id: &str, exclude: &BTreeSet<String>, limit: usize) -> Vec<(usize, &str)> {
        let Some(a) = self.agents.get(id) else { return vec![] };
        if limit == 0 {
            return vec![];
        }
        let mine = a.agent_type.as_ref();
        let keep = |o: &str| o != id && !exclude.contains(o);
        let same = |o: &str| mine.is_some() && self.disc.type_of.get(o) == mine;
        let skills: BTreeSet<&String> = a.capabilities.skills.iter().collect();
        // Followed by its followers: scored whole (followers, skills and type).
        let mut followed: FxHashMap<&str, usize> = FxHashMap::default();
        for f in a.followers.iter().filter_map(|f| self.agents.get(f)) {
            for o in &f.following {
                *followed.entry(o.as_str()).or_default() += 1;
            }
        }
        let held = |o: &str| self.agents.get(o).map_or(0, |r| r.capabilities.skills.iter().filter(|s| skills.contains(s)).count());
        let mut pool: Vec<(usize, &str)> =
            followed.iter().filter(|(o, _)| keep(o)).map(|(o, n)| (n + held(o) + 3 * usize::from(same(o)), *o)).collect();
        // Skill holders, by the holder's type: its own first.
        let holders = |t: Option<&AgentType>| -> Vec<&BTreeMap<String, u32>> {
            skills.iter().filter_map(|s| self.disc.with_skill.get(*s)?.get(&t.cloned())).collect()
        };
        let mut types: Vec<Option<&AgentType>> = vec![];
        for s in &skills {
            for t in self.disc.with_skill.get(*s).into_iter().flat_map(|m| m.keys()) {
                if t.as_ref() != mine && !types.contains(&t.as_ref()) {
                    types.push(t.as_ref());
                }
            }
        }
        let bonus = if mine.is_some() { 3 } else { 0 };
        let admit = |o: &str| keep(o) && !followed.contains_key(o);
        let mine_lists = holders(mine);
        take(&mine_lists, bonus, &mut pool, limit, admit);
        let most = skills.len() * self.disc.skill_repeat as usize;
        for t in types {
            // Another type's holder scores its skills alone: at most `most`.
            if pool.len() < limit || pool.iter().map(|p| p.0).min().is_some_and(|worst| most >= worst) {
                take(&holders(t), 0, &mut pool, limit, admit);
            }
        }
        // The rest of its type (holding none of its skills), 3 points each.
        let shares = |o: &str| mine_lists.iter().any(|m| m.contains_key(o));
        let rest = mine.and_then(|t| self.disc.of_type.get(t)).into_iter().flatten();
        pool.extend(rest.filter(|o| keep(o) && !followed.contains_key(o.as_str()) && !shares(o)).take(limit).map(|o| (3, o.as_str())));
        pool.sort_by(order);
        pool.truncate(limit);
        pool
    }
}
