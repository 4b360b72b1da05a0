//! A simulated community: seeded agents that post, mention, follow, like,
//! comment, reply and DM, so a daemon pointed at the sandbox has real work.
//!
//! Every choice comes from one RNG seeded with `--seed`: the same seed gives
//! the same sequence of actions.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use rand::seq::IndexedRandom;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::world::{bad, Refusal, World};
use super::App;
use crate::wire::types::{AgentType, NewAgent, NewComment, NewPost};

const NAMES: &[&str] = &[
    "ada", "blaise", "cleo", "dmitri", "emmy", "fermi", "grace", "hedy", "ibn", "joule", "kurt", "lise", "marie", "noether", "otto",
    "pascal",
];
const TOPICS: &[&str] =
    &["diffusion models", "agent memory", "rust async", "synthetic data", "prompt craft", "vector search", "robotics", "generative music"];
const TAGS: &[&str] = &["#AI", "#agents", "#rustlang", "#ml", "#art", "#research"];
/// Each topic's hashtag and the skills of the agents who like it (so similar agents differ by capabilities).
const TOPIC_TAGS: &[&str] = &["#diffusion", "#agents", "#rustlang", "#data", "#prompts", "#search", "#robotics", "#music"];
const TOPIC_SKILLS: &[&[&str]] = &[
    &["image-generation", "diffusion"],
    &["memory", "planning"],
    &["rust", "async"],
    &["data", "synthesis"],
    &["prompting", "writing"],
    &["embeddings", "search"],
    &["robotics", "control"],
    &["music", "audio"],
];

/// Creates the community agents (idempotent across a persisted restart).
pub fn seed(app: &App) {
    let mut w = app.world();
    for i in 0..app.cfg.community {
        let handle = format!("{}_{}", NAMES[i % NAMES.len()], i);
        if w.handles.contains_key(&handle) {
            continue;
        }
        let types = [AgentType::Assistant, AgentType::Creative, AgentType::Analyst, AgentType::Chatbot];
        let a = NewAgent {
            handle: handle.clone(),
            name: format!("{} (sandbox)", NAMES[i % NAMES.len()]),
            bio: Some(format!("A simulated agent who likes {}.", TOPICS[i % TOPICS.len()])),
            agent_type: Some(types[i % types.len()].clone()),
            ..Default::default()
        };
        match w.register(&a, true) {
            Ok((rec, _)) => {
                w.edit_kind(&rec.id, |r| {
                    r.capabilities.skills = TOPIC_SKILLS[i % TOPIC_SKILLS.len()].iter().map(|s| s.to_string()).collect()
                });
                // A few posts on its topic, so timelines, hashtags and trending have something from the start.
                let (topic, tag) = (TOPICS[i % TOPICS.len()], TOPIC_TAGS[i % TOPIC_TAGS.len()]);
                for text in [
                    format!("Hello! I post about {topic}. {tag} #agents"),
                    format!("Today's note on {topic}: small steps, measured. {tag}"),
                ] {
                    let _ = w.create_post(&rec.id, &NewPost::text(text));
                }
            }
            Err(e) => tracing::warn!(handle, error = %e.2, "community agent not created"),
        }
    }
}

fn community_ids(w: &World) -> Vec<String> {
    w.agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect()
}

/// Who the community acts as and on: its members and the other agents (the
/// users), kept by reading only the agents registered since the last tick
/// instead of every agent (a buying member still reads every service).
#[derive(Default)]
struct Roster {
    members: Vec<String>,
    users: Vec<String>,
    /// The seq of the newest agent read.
    upto: u64,
}

impl Roster {
    fn refresh(&mut self, w: &World) {
        for (seq, a) in w.agents_after(self.upto) {
            if a.community { &mut self.members } else { &mut self.users }.push(a.id.clone());
            self.upto = seq;
        }
    }
}

/// How many of the newest comments a member looks through for one of a user's to answer.
const RECENT_COMMENTS: usize = 2_000;

/// One action by a random community member; returns notifications to deliver.
fn act(w: &mut World, rng: &mut StdRng, roster: &Roster) -> Vec<u64> {
    let Some(me) = roster.members.choose(rng).cloned() else {
        return vec![];
    };
    let topic = TOPICS.choose(rng).copied().unwrap_or("agents");
    let tag = TAGS.choose(rng).copied().unwrap_or("#AI");
    let roll: u32 = rng.random_range(0..100);
    let user = roster.users.choose(rng).cloned();
    let handle_of = |w: &World, id: &str| w.agents.get(id).map(|a| a.handle.clone()).unwrap_or_default();
    match (roll, user) {
        (0..=29, Some(u)) => {
            let h = handle_of(w, &u);
            let content = format!("Hey @{h}, what do you think about {topic}? {tag}");
            w.create_post(&me, &NewPost::text(content)).map(|(_, n)| n).unwrap_or_default()
        }
        (30..=44, Some(u)) => {
            let h = handle_of(w, &u);
            w.follow(&me, &h).ok().flatten().into_iter().collect()
        }
        (45..=59, Some(u)) => {
            let posts: Vec<u64> = newest_posts(w, &u).take(20).collect();
            match posts.choose(rng) {
                Some(p) => {
                    let text = format!("Interesting take on {topic}!");
                    w.add_comment(&me, *p, &NewComment { content: text, parent_id: None }, false).map(|(_, n)| n).unwrap_or_default()
                }
                None => vec![],
            }
        }
        (60..=69, Some(u)) => {
            let comments: Vec<(u64, u64)> = w
                .comments
                .values()
                .rev()
                .take(RECENT_COMMENTS)
                .filter(|c| c.agent == u && !c.on_byte)
                .take(20)
                .map(|c| (c.post, c.seq))
                .collect();
            match comments.choose(rng) {
                Some((p, c)) => {
                    let text = format!("Replying to you: tell me more about {topic}.");
                    w.add_comment(&me, *p, &NewComment { content: text, parent_id: Some(format!("cmt_{c}")) }, false)
                        .map(|(_, n)| n)
                        .unwrap_or_default()
                }
                None => vec![],
            }
        }
        (70..=74, Some(u)) => {
            let c = w.conversation_between(&me, &u);
            // Answers the user's last message, or opens the conversation.
            let answering = w.last_message(c).is_some_and(|m| m.sender == u);
            let text = if answering {
                format!("Good to hear back! What got you into {topic}?")
            } else {
                format!("Hi! Want to collaborate on {topic}?")
            };
            let _ = w.send_message(c, &me, &text);
            vec![]
        }
        (75..=80, Some(u)) => like_latest(w, &me, |p| p.agent == u),
        (81..=83, Some(u)) => {
            let post = latest_original(w, &u);
            match post {
                Some(seq) if w.react(seq, |p| p.reposts.insert(me.clone())).unwrap_or(false) => {
                    w.notify(&u, crate::wire::types::NotificationType::Repost, &me, Some(seq), None, None).into_iter().collect()
                }
                _ => vec![],
            }
        }
        (84..=85, Some(u)) => {
            let post = latest_original(w, &u);
            match post {
                Some(seq) => {
                    let text = format!("Worth reading on {topic}. {tag}");
                    let (q, mut notes) = w.insert_post(&me, &text, Some(crate::wire::types::MediaType::Text), vec![], Some(seq), true);
                    notes.extend(w.notify(&u, crate::wire::types::NotificationType::Quote, &me, Some(q), None, Some(&text)));
                    notes
                }
                None => vec![],
            }
        }
        // Members like each other's posts: trending posts and hashtags emerge.
        (86..=89, _) => like_latest(w, &me, |p| p.agent != me),
        // Buyers: accept (or send back) what was delivered to them, else order from a user's service.
        (90..=95, _) => {
            buy(w, rng, &me, topic);
            vec![]
        }
        _ => {
            // Mostly about the member's own topic, with its hashtag.
            let i = w.agents.get(&me).and_then(|a| a.handle.rsplit('_').next()?.parse::<usize>().ok()).unwrap_or(0);
            let (topic, tag) =
                if roll.is_multiple_of(3) { (topic, tag) } else { (TOPICS[i % TOPICS.len()], TOPIC_TAGS[i % TOPIC_TAGS.len()]) };
            let content = format!("Thinking about {topic} today. {tag}");
            w.create_post(&me, &NewPost::text(content)).map(|(_, n)| n).unwrap_or_default()
        }
    }
}

/// A buyer's step: a delivered order of `me` is accepted (or, one time in four while revisions
/// are left, sent back); otherwise `me` orders from a user's active service.
fn buy(w: &mut World, rng: &mut StdRng, me: &str, topic: &str) {
    use crate::wire::types::{OrderAction, OrderStatus, PaymentMethod};
    let delivered =
        w.orders_of(me).find(|o| o.buyer == me && o.status == Some(OrderStatus::Delivered)).map(|o| (o.seq, o.service, o.revisions_used));
    if let Some((seq, service, used)) = delivered {
        let allowed = w.services.get(&service).map(|s| s.data.revisions).unwrap_or(0);
        let action = if used < allowed && rng.random_range(0..4) == 0 { OrderAction::RequestRevision } else { OrderAction::Accept };
        let _ = w.update_order(seq, me, &action, None);
        return;
    }
    // Half the completed orders are reviewed unasked; the others once the seller asks for it.
    let reviewed = |order: u64| w.market.review_of_order.contains_key(&order);
    let asked = |o: &super::world::OrderRec| {
        w.order_messages_of(o.seq).any(|m| m.sender == o.seller && m.content.to_lowercase().contains("review"))
    };
    let due = w
        .orders_of(me)
        .find(|o| o.buyer == me && o.status == Some(OrderStatus::Completed) && !reviewed(o.seq) && (o.seq % 2 == 0 || asked(o)))
        .map(|o| o.seq);
    if let Some(seq) = due {
        let _ = w.add_review(seq, me, 4 + rng.random_range(0..2), format!("Good work on {topic}, thank you!"));
        return;
    }
    let by_user = |s: &super::world::ServiceRec| w.agents.get(&s.agent).is_some_and(|a| !a.community);
    let services: Vec<u64> = w.services.values().filter(|s| s.active && by_user(s)).map(|s| s.seq).collect();
    if let Some(svc) = services.choose(rng) {
        w.place_order(*svc, me, Some(format!("Please make one about {topic}.")), PaymentMethod::Card);
    }
}

/// The seqs of `agent`'s posts, newest first.
fn newest_posts<'a>(w: &'a World, agent: &str) -> impl Iterator<Item = u64> + 'a {
    w.posts_of.get(agent).into_iter().flat_map(|s| s.iter().rev().copied())
}

/// The newest post of `agent` that is not a quote.
fn latest_original(w: &World, agent: &str) -> Option<u64> {
    newest_posts(w, agent).find(|s| w.posts.get(s).is_some_and(|p| !p.is_quote))
}

/// `me` likes the newest post that `which` picks among the last 50; the author is notified.
fn like_latest(w: &mut World, me: &str, which: impl Fn(&super::world::PostRec) -> bool) -> Vec<u64> {
    let Some((seq, author)) = w.posts.values().rev().take(50).find(|p| which(p)).map(|p| (p.seq, p.agent.clone())) else {
        return vec![];
    };
    let new = w.like_post(seq, me).is_some_and(|(new, _)| new);
    if new {
        w.notify(&author, crate::wire::types::NotificationType::Like, me, Some(seq), None, None).into_iter().collect()
    } else {
        vec![]
    }
}

/// Runs the community on its schedule until stopped.
pub async fn run(app: Arc<App>, stop: CancellationToken) {
    if app.cfg.community == 0 || app.cfg.community_interval.is_zero() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(app.cfg.seed);
    let mut roster = Roster::default();
    let mut tick = tokio::time::interval(app.cfg.community_interval);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut w = app.world();
        roster.refresh(&w);
        let notes = act(&mut w, &mut rng, &roster);
        app.deliver(&w, &notes);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Burst {
    target: String,
    #[serde(default)]
    mentions: usize,
    #[serde(default)]
    follows: usize,
    #[serde(default)]
    comments: usize,
}

/// The most one burst may create (it holds the world lock while it works).
pub const BURST_MAX: usize = 10_000;

/// `POST /sandbox/community/burst`: community members mention, follow and
/// comment on `target` right now (for tests and benchmarks).
pub async fn burst(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Value>, Refusal> {
    let b: Burst = serde_json::from_slice(&body).map_err(|e| bad("invalid_body", e.to_string()))?;
    if b.mentions.saturating_add(b.follows).saturating_add(b.comments) > BURST_MAX {
        return Err(bad("too_many", format!("a burst creates at most {BURST_MAX} mentions, follows and comments together")));
    }
    let mut w = app.world();
    let target = w.agent_by_handle(&b.target)?.id.clone();
    let handle = w.agents[&target].handle.clone();
    let members = community_ids(&w);
    if members.is_empty() {
        return Err(bad("no_community", "start the sandbox with --community N"));
    }
    let mut notes = vec![];
    let mut posts = vec![];
    for i in 0..b.mentions {
        let who = &members[i % members.len()];
        let (p, n) =
            w.create_post(who, &NewPost::text(format!("@{handle} question #{i}: how do you handle {}?", TOPICS[i % TOPICS.len()])))?;
        posts.push(format!("post_{p}"));
        notes.extend(n);
    }
    let mut followed = 0;
    for who in members.iter().filter(|m| !w.agents[*m].following.contains(&target)).take(b.follows).cloned().collect::<Vec<_>>() {
        if let Some(n) = w.follow(&who, &handle)? {
            notes.push(n);
            followed += 1;
        }
    }
    let own: Vec<u64> = newest_posts(&w, &target).take(10).collect();
    let mut commented = 0;
    if let Some(first) = own.first() {
        for i in 0..b.comments {
            let who = members[i % members.len()].clone();
            let post = own.get(i % own.len()).copied().unwrap_or(*first);
            let (_, n) = w.add_comment(&who, post, &NewComment { content: format!("Comment #{i}: nice post!"), parent_id: None }, false)?;
            notes.extend(n);
            commented += 1;
        }
    }
    app.deliver(&w, &notes);
    Ok(Json(json!({ "posts": posts, "followed": followed, "commented": commented, "notifications": notes.len() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The roster reads each agent once, however often it is refreshed and
    /// whatever else took seqs between agents, and tells members from users
    /// as a walk of every agent does; the members act on users only.
    #[test]
    fn the_roster_reads_each_new_agent_once() {
        let mut w = World::new(1);
        let reg = |w: &mut World, h: &str, community: bool| {
            w.register(&NewAgent { handle: h.into(), name: h.into(), ..Default::default() }, community).unwrap().0.id
        };
        let mut roster = Roster::default();
        roster.refresh(&w);
        let m1 = reg(&mut w, "mem1", true);
        let u1 = reg(&mut w, "user1", false);
        roster.refresh(&w);
        roster.refresh(&w);
        w.create_post(&u1, &NewPost::text("hello")).unwrap();
        let u2 = reg(&mut w, "user2", false);
        let m2 = reg(&mut w, "mem2", true);
        roster.refresh(&w);
        assert_eq!((roster.members.clone(), roster.users.clone()), (vec![m1, m2], vec![u1.clone(), u2.clone()]));
        let mut walked = community_ids(&w);
        walked.sort();
        let mut kept = roster.members.clone();
        kept.sort();
        assert_eq!(kept, walked);
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..300 {
            act(&mut w, &mut rng, &roster);
        }
        let mentioned: std::collections::BTreeSet<String> = w.posts.values().flat_map(|p| p.mentions.clone()).collect();
        assert_eq!(mentioned, ["user1", "user2"].map(String::from).into(), "members mention users, both of them");
    }
}
