//! Counters the daemon keeps about itself, rendered in Prometheus text format.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A counter's name and its label pairs.
type Key = (String, Vec<(String, String)>);

/// Labeled counters; cheap enough for the daemon's event rates.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<Key, u64>>,
    agent: String,
}

impl Metrics {
    pub fn new(agent: &str) -> Metrics {
        Metrics { counters: Mutex::new(BTreeMap::new()), agent: agent.to_string() }
    }

    fn inc(&self, name: &str, labels: &[(&str, &str)], by: u64) {
        let mut l: Vec<(String, String)> = vec![("agent".into(), self.agent.clone())];
        l.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        // A poisoned map only means a panic elsewhere mid-increment; counts stay usable.
        let mut m = crate::sync::lock(&self.counters);
        *m.entry((name.to_string(), l)).or_default() += by;
    }

    /// An action by a behavior: `labels` = [behavior, action kind].
    pub fn action(&self, labels: &[&str; 2], outcome: &str) {
        self.inc("imagine_agent_actions_total", &[("behavior", labels[0]), ("action", labels[1]), ("outcome", outcome)], 1);
    }

    pub fn notification_handled(&self, behavior: &str) {
        self.inc("imagine_agent_notifications_handled_total", &[("behavior", behavior)], 1);
    }

    pub fn notifications_polled(&self, n: u64) {
        self.inc("imagine_agent_notifications_received_total", &[], n);
    }

    pub fn generation(&self, behavior: &str, state: &str) {
        self.inc("imagine_agent_generation_jobs_total", &[("behavior", behavior), ("state", state)], 1);
    }

    /// A behavior task started (at start-up, or by a reload that added or changed it).
    pub fn behavior_started(&self, behavior: &str) {
        self.inc("imagine_agent_behavior_starts_total", &[("behavior", behavior)], 1);
    }

    pub fn restart(&self, behavior: &str) {
        self.inc("imagine_agent_behavior_restarts_total", &[("behavior", behavior)], 1);
    }

    /// Adds every counter to `out`.
    pub fn export(&self, out: &mut Exposition) {
        let m = crate::sync::lock(&self.counters);
        for ((name, labels), v) in m.iter() {
            let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            out.sample(name, "counter", &l, *v);
        }
    }
}

/// Prometheus text of several agents: each family once, under one TYPE line.
#[derive(Debug, Default)]
pub struct Exposition {
    families: BTreeMap<String, (&'static str, Vec<String>)>,
}

impl Exposition {
    pub fn sample(&mut self, name: &str, kind: &'static str, labels: &[(&str, &str)], v: u64) {
        let l: Vec<String> =
            labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))).collect();
        self.families.entry(name.to_string()).or_insert((kind, vec![])).1.push(format!("{name}{{{}}} {v}", l.join(",")));
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
