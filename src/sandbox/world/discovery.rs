//! Indexes for the endpoints that look across the whole world (search,
//! explore, trending hashtags, popular, recommended and similar agents
//! (answered in `similar`), an agent's likes and XP, a post's quotes), so a
//! page costs what a page costs, not what the world holds.
//!
//! Guarantees: every index is derived (rebuilt by [`World::reindex`], never
//! saved) and kept in step by the `World` methods that change what it
//! derives from: [`World::react`] for anything that changes a post's
//! trending score, `like_post`/`unlike_post` for likes, [`World::edit_kind`]
//! for an agent's type and skills, follows, awards, post creation and
//! deletion. Trending covers the posts of the last 24
//! hours: the window slides by post sequence, which follows the clock (a
//! post's `created_ms` is stamped with its sequence), so it is exact unless
//! the wall clock steps back.
//!
//! Search matches posts holding every word of the query (letters and
//! digits, case-insensitive), newest first: a word index, not a substring
//! scan. Agents are found by a substring of handle or name, newest first,
//! through trigrams (one or two characters: a walk that stops at the
//! page's end).

use std::cmp::Reverse;
use std::hash::Hash;

use super::postings::{lists, Meet, Postings};
use super::*;

/// Files `id` under `key` (or takes it out, dropping a set left empty).
fn file_under<K: Eq + Hash>(sets: &mut HashMap<K, BTreeSet<String>>, key: K, id: &str, on: bool) {
    if on {
        sets.entry(key).or_default().insert(id.to_string());
    } else if let Some(set) = sets.get_mut(&key) {
        set.remove(id);
        if set.is_empty() {
            sets.remove(&key);
        }
    }
}

/// Counts one more (or one less) `key` for `id`, dropping what falls to zero.
fn count_under<K: Eq + Hash>(counts: &mut HashMap<K, BTreeMap<String, u32>>, key: K, id: &str, on: bool) {
    if on {
        *counts.entry(key).or_default().entry(id.to_string()).or_default() += 1;
    } else if let Some(ids) = counts.get_mut(&key) {
        if let Some(n) = ids.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                ids.remove(id);
            }
        }
        if ids.is_empty() {
            counts.remove(&key);
        }
    }
}

/// A day, the trending window.
const DAY_MS: i64 = 86_400_000;

/// How much a post trends: reactions, comments weighing double, reposts triple.
fn trending_score(p: &PostRec) -> usize {
    p.likes.len() + 2 * p.comment_count as usize + 3 * p.reposts.len() + 2 * p.amplifies.len()
}

/// The lowercased words of a text (runs of letters, digits and `_`), each once.
fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> =
        text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The byte trigrams of a lowercased text, each once (substrings of UTF-8 are substrings of its bytes).
fn trigrams(text: &str) -> Vec<u32> {
    let mut out: Vec<u32> = text.as_bytes().windows(3).map(|t| u32::from_be_bytes([0, t[0], t[1], t[2]])).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// What an agent is found by: its handle and its name, lowercased.
fn agent_text(a: &AgentRec) -> String {
    format!("{}\n{}", a.handle, a.name.to_lowercase())
}

/// Adds `seq` under each key.
fn post_under<K: std::hash::Hash + Eq>(index: &mut HashMap<K, Postings>, keys: impl IntoIterator<Item = K>, seq: u64) {
    for k in keys {
        index.entry(k).and_modify(|p| p.add(seq)).or_insert(Postings::One(seq));
    }
}

/// Takes `seq` out from under each key, dropping keys left empty.
fn unpost<K: std::hash::Hash + Eq>(index: &mut HashMap<K, Postings>, keys: impl IntoIterator<Item = K>, seq: u64) {
    for k in keys {
        if index.get_mut(&k).is_some_and(|p| p.take(seq)) {
            index.remove(&k);
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Post seqs per word.
    words: HashMap<Box<str>, Postings>,
    /// Agent ids by creation order.
    pub agent_seqs: BTreeMap<u64, String>,
    /// Agent seqs per trigram of handle and name, ascending.
    agent_grams: HashMap<u32, Postings>,
    /// Agents by follower count, most first, then handle.
    popular: BTreeSet<(Reverse<usize>, String)>,
    /// Post seqs each agent liked.
    pub liked_by: HashMap<String, BTreeSet<u64>>,
    /// AXP record seqs per agent, ascending.
    pub xp_of: HashMap<String, Vec<u64>>,
    /// Quote post seqs per quoted post.
    pub quotes_of: HashMap<u64, BTreeSet<u64>>,
    /// Similar agents (see [`super::similar`]): agent ids per agent type, in
    /// id order; each agent's type (a faster lookup than the world's ordered
    /// map of agents); per skill and holder's type, the agents holding it, in
    /// id order, and how many times.
    pub(super) of_type: HashMap<AgentType, BTreeSet<String>>,
    pub(super) type_of: rustc_hash::FxHashMap<String, AgentType>,
    pub(super) with_skill: HashMap<String, HashMap<Option<AgentType>, BTreeMap<String, u32>>>,
    /// The most times any agent has held one skill (never lowered: a bound).
    pub(super) skill_repeat: u32,
    /// Posts below this seq have left the trending window.
    day_from: u64,
    /// Posts in the window by score, highest first, then newest.
    ranked: BTreeSet<(Reverse<usize>, Reverse<u64>)>,
    /// Posts per hashtag in the window, and the same ranked.
    tag_counts: HashMap<String, u64>,
    tags_ranked: BTreeSet<(Reverse<u64>, String)>,
}

impl Discovery {
    fn tag(&mut self, tag: &str, up: bool) {
        let t = tag.to_lowercase();
        let n = self.tag_counts.entry(t.clone()).or_default();
        self.tags_ranked.remove(&(Reverse(*n), t.clone()));
        *n = if up { *n + 1 } else { n.saturating_sub(1) };
        if *n == 0 {
            self.tag_counts.remove(&t);
        } else {
            self.tags_ranked.insert((Reverse(*n), t));
        }
    }

    fn enter_window(&mut self, p: &PostRec) {
        self.ranked.insert((Reverse(trending_score(p)), Reverse(p.seq)));
        for t in &p.hashtags {
            self.tag(t, true);
        }
    }

    fn leave_window(&mut self, p: &PostRec) {
        self.ranked.remove(&(Reverse(trending_score(p)), Reverse(p.seq)));
        for t in &p.hashtags {
            self.tag(t, false);
        }
    }

    fn rank_agent(&mut self, handle: &str, before: Option<usize>, after: usize) {
        if let Some(b) = before {
            self.popular.remove(&(Reverse(b), handle.to_string()));
        }
        self.popular.insert((Reverse(after), handle.to_string()));
    }
}

impl World {
    /// Indexes a post just inserted.
    pub(super) fn discover_post(&mut self, seq: u64) {
        let Some(p) = self.posts.get(&seq) else { return };
        post_under(&mut self.disc.words, words(&p.content).into_iter().map(String::into_boxed_str), seq);
        if let (true, Some(of)) = (p.is_quote, p.repost_of) {
            self.disc.quotes_of.entry(of).or_default().insert(seq);
        }
        if seq >= self.disc.day_from {
            self.disc.enter_window(p);
        }
        self.slide(now_ms());
    }

    /// Forgets a post about to be removed.
    pub(super) fn forget_post(&mut self, p: &PostRec) {
        unpost(&mut self.disc.words, words(&p.content).into_iter().map(String::into_boxed_str), p.seq);
        if let (true, Some(of)) = (p.is_quote, p.repost_of) {
            if let Some(s) = self.disc.quotes_of.get_mut(&of) {
                s.remove(&p.seq);
            }
        }
        for liker in p.likes.keys() {
            if let Some(s) = self.disc.liked_by.get_mut(liker) {
                s.remove(&p.seq);
            }
        }
        if p.seq >= self.disc.day_from {
            self.disc.leave_window(p);
        }
    }

    pub(super) fn discover_agent(&mut self, id: &str) {
        if let (Some(a), Some(seq)) = (self.agents.get(id), seq_of(id)) {
            self.disc.agent_seqs.insert(seq, id.to_string());
            post_under(&mut self.disc.agent_grams, trigrams(&agent_text(a)), seq);
            self.disc.rank_agent(&a.handle, None, a.followers.len());
            self.index_kind(id, true);
        }
    }

    /// Enters (or removes) `id` under its type and skills.
    fn index_kind(&mut self, id: &str, on: bool) {
        let Some(a) = self.agents.get(id) else { return };
        if let Some(t) = &a.agent_type {
            file_under(&mut self.disc.of_type, t.clone(), id, on);
            if on {
                self.disc.type_of.insert(id.to_string(), t.clone());
            } else {
                self.disc.type_of.remove(id);
            }
        }
        for s in &a.capabilities.skills {
            let of_type = self.disc.with_skill.entry(s.clone()).or_default();
            count_under(of_type, a.agent_type.clone(), id, on);
            if of_type.is_empty() {
                self.disc.with_skill.remove(s);
            } else if on {
                let held = a.capabilities.skills.iter().filter(|x| *x == s).count() as u32;
                self.disc.skill_repeat = self.disc.skill_repeat.max(held);
            }
        }
    }

    /// Changes an agent's type or capabilities through `f`, keeping similar agents' indexes in step.
    pub fn edit_kind<R>(&mut self, id: &str, f: impl FnOnce(&mut AgentRec) -> R) -> Option<R> {
        self.index_kind(id, false);
        let r = self.agents.get_mut(id).map(f);
        self.index_kind(id, true);
        r
    }

    /// Gives an agent a new name, keeping it findable by the new one only.
    pub fn rename(&mut self, id: &str, name: String) {
        let (Some(a), Some(seq)) = (self.agents.get_mut(id), seq_of(id)) else { return };
        unpost(&mut self.disc.agent_grams, trigrams(&agent_text(a)), seq);
        a.name = name;
        post_under(&mut self.disc.agent_grams, trigrams(&agent_text(a)), seq);
    }

    /// Agents whose handle or name holds `term` (lowercase), newest first, below seq `before`.
    pub fn search_agents<'a>(&'a self, term: &'a str, before: u64) -> Box<dyn Iterator<Item = (&'a u64, &'a AgentRec)> + 'a> {
        let holds = move |a: &AgentRec| a.handle.contains(term) || a.name.to_lowercase().contains(term);
        let agent = move |s: u64| self.disc.agent_seqs.get_key_value(&s).and_then(|(k, id)| Some((k, self.agents.get(id)?)));
        if term.len() < 3 {
            // Too short for a trigram: a walk that stops at the page's end.
            return Box::new(self.disc.agent_seqs.range(..before).rev().filter_map(move |(s, _)| agent(*s)).filter(move |(_, a)| holds(a)));
        }
        let meet = Meet::of(lists(&self.disc.agent_grams, &trigrams(term)));
        Box::new(meet.below(before).filter_map(agent).filter(move |(_, a)| holds(a)))
    }

    /// Keeps the popular-agents rank after `id`'s followers changed from `before`.
    pub(super) fn followers_changed(&mut self, id: &str, before: usize) {
        if let Some(a) = self.agents.get(id) {
            self.disc.rank_agent(&a.handle, Some(before), a.followers.len());
        }
    }

    /// Changes a post through `f`, keeping its trending rank in step; `None` if there is no such post.
    pub fn react<R>(&mut self, seq: u64, f: impl FnOnce(&mut PostRec) -> R) -> Option<R> {
        let p = self.posts.get_mut(&seq)?;
        let before = trending_score(p);
        let r = f(p);
        let after = trending_score(p);
        if before != after && seq >= self.disc.day_from && self.disc.ranked.remove(&(Reverse(before), Reverse(seq))) {
            self.disc.ranked.insert((Reverse(after), Reverse(seq)));
        }
        Some(r)
    }

    /// `who` likes a post: whether the like is new and the post's like count.
    pub fn like_post(&mut self, seq: u64, who: &str) -> Option<(bool, usize)> {
        let r = self.react(seq, |p| (p.likes.insert(who.to_string(), now_ms()).is_none(), p.likes.len()))?;
        self.disc.liked_by.entry(who.to_string()).or_default().insert(seq);
        Some(r)
    }

    /// `who` takes a like back: the post's like count.
    pub fn unlike_post(&mut self, seq: u64, who: &str) -> Option<usize> {
        let r = self.react(seq, |p| {
            p.likes.remove(who);
            p.likes.len()
        })?;
        if let Some(s) = self.disc.liked_by.get_mut(who) {
            s.remove(&seq);
        }
        Some(r)
    }

    /// Moves the trending window to the last day before `now`.
    pub fn slide(&mut self, now: i64) {
        let edge = now - DAY_MS;
        while let Some((&seq, p)) = self.posts.range(self.disc.day_from..).next() {
            if p.created_ms > edge {
                break;
            }
            self.disc.leave_window(p);
            self.disc.day_from = seq + 1;
        }
    }

    /// The posts of the last day that trend most.
    pub fn trending_posts(&mut self, limit: usize) -> Vec<&PostRec> {
        self.slide(now_ms());
        self.disc.ranked.iter().take(limit).filter_map(|(_, Reverse(s))| self.posts.get(s)).collect()
    }

    /// The hashtags of the last day's posts, most used first.
    pub fn trending_tags(&mut self, limit: usize) -> Vec<Hashtag> {
        self.slide(now_ms());
        self.disc.tags_ranked.iter().take(limit).map(|(Reverse(count), tag)| Hashtag { tag: tag.clone(), count: *count }).collect()
    }

    /// Agent ids by follower count, most first.
    pub fn popular_agents(&self) -> impl Iterator<Item = &str> + '_ {
        self.disc.popular.iter().filter_map(|(_, h)| self.handles.get(h).map(String::as_str))
    }

    /// Posts holding every word of `query`, newest first, below seq `before`.
    pub fn search_posts(&self, query: &str, before: u64) -> impl Iterator<Item = (&u64, &PostRec)> + '_ {
        let keys: Vec<Box<str>> = words(query).into_iter().map(String::into_boxed_str).collect();
        Meet::of(lists(&self.disc.words, &keys)).below(before).filter_map(|s| self.posts.get_key_value(&s))
    }

    /// Rebuilds every index of this file.
    pub(super) fn rediscover(&mut self) {
        self.disc = Discovery::default();
        let ids: Vec<String> = self.agents.keys().cloned().collect();
        for id in ids {
            self.discover_agent(&id);
        }
        let seqs: Vec<u64> = self.posts.keys().copied().collect();
        for s in seqs {
            self.discover_post(s);
            let likers: Vec<String> = self.posts[&s].likes.keys().cloned().collect();
            for l in likers {
                self.disc.liked_by.entry(l).or_default().insert(s);
            }
        }
        for x in self.xp.values() {
            self.disc.xp_of.entry(x.agent.clone()).or_default().push(x.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every index answers, each computed the slow way beside it.
    /// Gives `who` a random type (or none) and skills, each kept with
    /// probability `p` ("rust" can come twice).
    fn random_kind(w: &mut World, rng: &mut rand::rngs::StdRng, who: &str, p: f64) {
        use rand::Rng;
        let types = [None, Some(AgentType::Creative), Some(AgentType::Analyst)];
        let t = types[rng.random_range(0..types.len())].clone();
        let skills: Vec<String> = ["rust", "art", "data", "rust"].iter().filter(|_| rng.random_bool(p)).map(|s| s.to_string()).collect();
        w.edit_kind(who, |a| {
            a.agent_type = t;
            a.capabilities.skills = skills;
        });
    }

    /// Similar agents of every agent (with nobody and with one agent
    /// excluded) against a score of every agent.
    fn similar_as_scanned(w: &World) {
        let ids: Vec<String> = w.agents.keys().cloned().collect();
        let not_first: BTreeSet<String> = ids.iter().take(1).cloned().collect();
        for exclude in [BTreeSet::new(), not_first] {
            for id in &ids {
                let a = &w.agents[id];
                let mut scan: Vec<(usize, &str)> = w
                    .agents
                    .values()
                    .filter(|o| o.id != a.id && !exclude.contains(&o.id))
                    .map(|o| {
                        let same_type = usize::from(o.agent_type.is_some() && o.agent_type == a.agent_type) * 3;
                        let shared = o.followers.intersection(&a.followers).count();
                        let skills = o.capabilities.skills.iter().filter(|s| a.capabilities.skills.contains(s)).count();
                        (same_type + shared + skills, o.id.as_str())
                    })
                    .filter(|(s, _)| *s > 0)
                    .collect();
                scan.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(y.1)));
                for limit in [1, 2, 4, 50] {
                    let want: Vec<(usize, &str)> = scan.iter().take(limit).copied().collect();
                    assert_eq!(w.similar_agents(id, &exclude, limit), want, "agents similar to {id}, at most {limit}");
                }
            }
        }
    }

    fn answers(w: &mut World) -> (String, String) {
        let now = now_ms();
        const TERMS: [&str; 5] = ["agent1", "a 1", "gent", "x", "renamed 3"];
        let found = TERMS.map(|t| w.search_agents(t, u64::MAX).map(|(s, _)| *s).collect::<Vec<_>>());
        let scanned = TERMS.map(|t| {
            let mut v: Vec<u64> = w
                .agents
                .values()
                .filter(|a| a.handle.contains(t) || a.name.to_lowercase().contains(t))
                .filter_map(|a| seq_of(&a.id))
                .collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            v
        });
        assert_eq!(found, scanned, "agents found by handle or name");
        similar_as_scanned(w);
        let fast = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            w.trending_posts(15).iter().map(|p| p.seq).collect::<Vec<_>>(),
            w.trending_tags(50).iter().map(|t| (t.tag.clone(), t.count)).collect::<Vec<_>>(),
            ["rust", "hello world", "nothing", "7"].map(|q| w.search_posts(q, u64::MAX).map(|(s, _)| *s).collect::<Vec<_>>()),
            w.popular_agents().map(str::to_string).collect::<Vec<_>>(),
            w.agents
                .keys()
                .map(|a| (
                    w.disc.liked_by.get(a).map(|s| s.iter().copied().collect::<Vec<_>>()).unwrap_or_default(),
                    w.disc.xp_of.get(a).cloned().unwrap_or_default()
                ))
                .collect::<Vec<_>>(),
            w.posts
                .keys()
                .map(|s| w.disc.quotes_of.get(s).map(|q| q.iter().copied().collect::<Vec<_>>()).unwrap_or_default())
                .collect::<Vec<_>>(),
        );
        let mut recent: Vec<&PostRec> = w.posts.values().filter(|p| p.created_ms > now - DAY_MS).collect();
        recent.sort_by(|a, b| trending_score(b).cmp(&trending_score(a)).then(b.seq.cmp(&a.seq)));
        let mut tags: HashMap<String, u64> = HashMap::new();
        for p in w.posts.values().filter(|p| p.created_ms > now - DAY_MS) {
            for t in &p.hashtags {
                *tags.entry(t.to_lowercase()).or_default() += 1;
            }
        }
        let mut tags: Vec<(String, u64)> = tags.into_iter().collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        tags.truncate(50);
        let search = ["rust", "hello world", "nothing", "7"].map(|q| {
            let want = words(q);
            w.posts
                .values()
                .rev()
                .filter(|p| !want.is_empty() && want.iter().all(|x| words(&p.content).contains(x)))
                .map(|p| p.seq)
                .collect::<Vec<_>>()
        });
        let mut popular: Vec<&AgentRec> = w.agents.values().collect();
        popular.sort_by(|a, b| b.followers.len().cmp(&a.followers.len()).then(a.handle.cmp(&b.handle)));
        let slow = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            recent.iter().take(15).map(|p| p.seq).collect::<Vec<_>>(),
            tags,
            search,
            popular.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
            w.agents
                .keys()
                .map(|a| (
                    w.posts.values().filter(|p| p.likes.contains_key(a)).map(|p| p.seq).collect::<Vec<_>>(),
                    w.xp.values().filter(|x| &x.agent == a).map(|x| x.seq).collect::<Vec<_>>()
                ))
                .collect::<Vec<_>>(),
            w.posts
                .keys()
                .map(|s| w.posts.values().filter(|q| q.is_quote && q.repost_of == Some(*s)).map(|q| q.seq).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        );
        (fast, slow)
    }

    /// Random posts, likes, reposts, amplifies, comments, quotes, follows and
    /// deletions: every index answers what a scan of the world answers, kept
    /// up to date change by change, after the trending window slides, and
    /// rebuilt from scratch.
    #[test]
    fn indexes_answer_what_a_scan_of_the_world_answers() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut w = World::new(1);
        let ids: Vec<String> = (0..12)
            .map(|i| {
                w.register(&NewAgent { handle: format!("agent{i}"), name: format!("A {i}"), ..Default::default() }, false).unwrap().0.id
            })
            .collect();
        let texts = ["hello world #Rust", "rust is fun #rust #fun", "post 7 #seven", "Hello, World! #fun", "nothing to see", "#Other"];
        for step in 0..3000 {
            let who = &ids[rng.random_range(0..ids.len())];
            let seqs: Vec<u64> = w.posts.keys().copied().collect();
            let some_post = seqs.get(rng.random_range(0..seqs.len().max(1))).copied();
            match (rng.random_range(0..10), some_post) {
                (0 | 1, _) | (_, None) => drop(w.insert_post(who, texts[step % texts.len()], None, vec![], None, false)),
                (2, Some(p)) => drop(w.like_post(p, who)),
                (3, Some(p)) => drop(w.unlike_post(p, who)),
                (4, Some(p)) => drop(w.react(p, |x| x.reposts.insert(who.clone()))),
                (5, Some(p)) => drop(w.react(p, |x| x.amplifies.insert(who.clone()))),
                (6, Some(p)) => drop(w.add_comment(who, p, &NewComment { content: "c".into(), parent_id: None }, false)),
                (7, Some(p)) => drop(w.insert_post(who, "quoting #rust", None, vec![], Some(p), true)),
                (8, Some(p)) => {
                    let author = w.posts[&p].agent.clone();
                    let _ = w.delete_post(&author, &format!("post_{p}"));
                }
                (9, _) if step % 7 == 0 => w.rename(who, format!("Renamed {step}")),
                (9, _) if step % 7 == 3 => random_kind(&mut w, &mut rng, who, 0.4),
                (_, _) => {
                    let h = format!("agent{}", rng.random_range(0..ids.len()));
                    let _ = if rng.random_bool(0.7) { w.follow(who, &h).map(drop) } else { w.unfollow(who, &h) };
                }
            }
            if step % 500 == 499 {
                let (fast, slow) = answers(&mut w);
                assert_eq!(fast, slow, "after step {step}");
            }
        }
        // The oldest third leaves the trending window.
        let old: Vec<u64> = w.posts.keys().copied().take(w.posts.len() / 3).collect();
        for s in &old {
            w.posts.get_mut(s).unwrap().created_ms -= 2 * DAY_MS;
        }
        let (fast, slow) = answers(&mut w);
        assert_eq!(fast, slow, "after the window slid");
        assert!(w.disc.day_from > old[0]);
        w.reindex();
        let (fast, slow) = answers(&mut w);
        assert_eq!(fast, slow, "rebuilt");
        assert!(fast.contains("fun"), "{fast}");
    }

    #[test]
    fn similar_agents_are_what_a_score_of_every_agent_finds() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut w = World::new(1);
        let ids: Vec<String> = (0..40)
            .map(|i| w.register(&NewAgent { handle: format!("kin{i}"), name: format!("K {i}"), ..Default::default() }, false).unwrap().0.id)
            .collect();
        for step in 0..400 {
            let who = &ids[rng.random_range(0..ids.len())];
            if rng.random_bool(0.5) {
                random_kind(&mut w, &mut rng, who, 0.3);
            } else {
                let h = format!("kin{}", rng.random_range(0..ids.len()));
                let _ = if rng.random_bool(0.6) { w.follow(who, &h).map(drop) } else { w.unfollow(who, &h) };
            }
            if step % 100 == 99 {
                similar_as_scanned(&w);
            }
        }
        w.reindex();
        similar_as_scanned(&w);
    }
}
