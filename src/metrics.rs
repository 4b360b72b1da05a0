//! Counters the daemon keeps about itself, rendered in Prometheus text format.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use rustc_hash::{FxHashMap, FxHasher};

/// Gauges set by the approval queue.
pub const DRAFTS_PENDING: &str = "imagine_agent_drafts_pending";
pub const DRAFTS_OLDEST_SECONDS: &str = "imagine_agent_drafts_oldest_pending_seconds";
/// Gauges set by `report` (Build Your Reputation) from the platform's analytics.
pub const FOLLOWERS: &str = "imagine_agent_followers";
pub const XP: &str = "imagine_agent_xp";
pub const LEVEL: &str = "imagine_agent_level";
pub const ENGAGEMENT_RATE: &str = "imagine_agent_engagement_rate";
pub const POST_ENGAGEMENT_RATE: &str = "imagine_agent_post_engagement_rate";

/// A counter's name and its label pairs.
type Key = (String, Vec<(String, String)>);

/// Labeled counters: an increment of a counter that exists allocates nothing
/// (looked up by a hash of its name and label values, then compared; Fx:
/// the keys are ours, so no flooding to guard against, and SipHash was most of
/// an increment's cost).
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<FxHashMap<u64, Vec<(Key, u64)>>>,
    gauges: Mutex<BTreeMap<Key, f64>>,
    agent: String,
}

impl Metrics {
    pub fn new(agent: &str) -> Metrics {
        Metrics { counters: Mutex::new(FxHashMap::default()), gauges: Mutex::new(BTreeMap::new()), agent: agent.to_string() }
    }

    fn key(&self, name: &str, labels: &[(&str, &str)]) -> Key {
        let mut l: Vec<(String, String)> = vec![("agent".into(), self.agent.clone())];
        l.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        (name.to_string(), l)
    }

    fn inc(&self, name: &str, labels: &[(&str, &str)], by: u64) {
        let mut h = FxHasher::default();
        (name, labels).hash(&mut h);
        let same =
            |k: &Key| k.0 == name && k.1.len() == labels.len() + 1 && k.1[1..].iter().zip(labels).all(|((a, b), (c, d))| a == c && b == d);
        // A poisoned map only means a panic elsewhere mid-increment; counts stay usable.
        let mut m = crate::sync::lock(&self.counters);
        let bucket = m.entry(h.finish()).or_default();
        match bucket.iter_mut().find(|(k, _)| same(k)) {
            Some((_, v)) => *v += by,
            None => bucket.push((self.key(name, labels), by)),
        }
    }

    /// Removes the gauges of family `name` (before setting a new set, e.g. the top posts).
    pub fn clear_gauges(&self, name: &str) {
        crate::sync::lock(&self.gauges).retain(|(n, _), _| n != name);
    }

    /// Sets a gauge (a value that goes up and down: drafts pending, followers...).
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)], v: f64) {
        crate::sync::lock(&self.gauges).insert(self.key(name, labels), v);
    }

    /// An action by a behavior: `labels` = [behavior, action kind].
    pub fn action(&self, labels: &[&str; 2], outcome: &str) {
        self.inc("imagine_agent_actions_total", &[("behavior", labels[0]), ("action", labels[1]), ("outcome", outcome)], 1);
    }

    pub fn notification_handled(&self, behavior: &str) {
        self.inc("imagine_agent_notifications_handled_total", &[("behavior", behavior)], 1);
    }

    /// The poller started (its counters exported at 0 from here on).
    pub fn poller_started(&self) {
        self.inc("imagine_agent_notification_polls_total", &[], 0);
    }

    /// One poll of the notifications done (however many pages it read).
    pub fn polled(&self) {
        self.inc("imagine_agent_notification_polls_total", &[], 1);
    }

    pub fn notifications_polled(&self, n: u64) {
        self.inc("imagine_agent_notifications_received_total", &[], n);
    }

    /// Settled action records pruned (older than the retention).
    pub fn records_pruned(&self, n: u64) {
        self.inc("imagine_agent_action_records_pruned_total", &[], n);
    }

    pub fn generation(&self, behavior: &str, state: &str) {
        self.inc("imagine_agent_generation_jobs_total", &[("behavior", behavior), ("state", state)], 1);
    }

    /// A behavior task started (at start-up, or by a reload that added or changed it).
    /// The behavior's own counters are exported from here on, at 0 until they
    /// count (a reader can tell "none yet" from "not running").
    pub fn behavior_started(&self, behavior: &str) {
        self.inc("imagine_agent_behavior_starts_total", &[("behavior", behavior)], 1);
        self.inc("imagine_agent_behavior_restarts_total", &[("behavior", behavior)], 0);
        self.inc("imagine_agent_notifications_handled_total", &[("behavior", behavior)], 0);
        self.inc("imagine_agent_behavior_runs_total", &[("behavior", behavior)], 0);
    }

    /// A run of a periodic behavior done: one round (a schedule's fire, a
    /// reconcile, a look at the conversations or the orders). Quiet periods in
    /// tests are counted in these.
    pub fn behavior_run(&self, behavior: &str) {
        self.inc("imagine_agent_behavior_runs_total", &[("behavior", behavior)], 1);
    }

    pub fn restart(&self, behavior: &str) {
        self.inc("imagine_agent_behavior_restarts_total", &[("behavior", behavior)], 1);
    }

    /// Adds every counter to `out`.
    pub fn export(&self, out: &mut Exposition) {
        let mut counters: Vec<(Key, u64)> = crate::sync::lock(&self.counters).values().flatten().cloned().collect();
        counters.sort();
        for ((name, labels), v) in &counters {
            let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            out.sample(name, "counter", &l, *v);
        }
        for ((name, labels), v) in crate::sync::lock(&self.gauges).iter() {
            let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            out.sample(name, "gauge", &l, *v);
        }
    }
}

/// Prometheus text of several agents: each family once, under one TYPE line.
#[derive(Debug, Default)]
pub struct Exposition {
    families: BTreeMap<String, (&'static str, Vec<String>)>,
}

impl Exposition {
    pub fn sample(&mut self, name: &str, kind: &'static str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        let l: Vec<String> =
            labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))).collect();
        let line = if l.is_empty() { format!("{name} {v}") } else { format!("{name}{{{}}} {v}", l.join(",")) };
        self.families.entry(name.to_string()).or_insert((kind, vec![])).1.push(line);
    }

    pub fn finish(self) -> String {
        let mut out = String::new();
        for (name, (kind, lines)) in self.families {
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
        }
        out
    }
}
