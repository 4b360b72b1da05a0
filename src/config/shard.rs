//! Agents spread over daemons (`shard: {count, index}`): each daemon runs only
//! the agents whose handle rendezvous hashing assigns to its index. Every
//! daemon (and `imagine-agent fleet plan`) computes the same assignment from
//! the handle and the count alone, and when the count changes only the agents
//! whose best shard changed move (about 1/count of them when one is added).
//!
//! The index comes from the config, else `IMAGINE_AGENT_SHARD_INDEX`, else
//! (with `index_from_hostname: true`) the number after the last `-` of the
//! host name: a Kubernetes StatefulSet's pod `imagine-agent-3` is shard 3.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `shard:` in the config.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardSpec {
    /// How many daemons share the agents.
    pub count: u32,
    /// This daemon's place, 0..count.
    #[serde(default)]
    pub index: Option<u32>,
    /// Take the index from the host name's last number (`imagine-agent-3`: 3).
    #[serde(default)]
    pub index_from_hostname: bool,
}

/// The environment variable that gives the index.
pub const INDEX_ENV: &str = "IMAGINE_AGENT_SHARD_INDEX";

fn score(handle: &str, shard: u32) -> u64 {
    let h = Sha256::digest(format!("{}/{shard}", handle.to_lowercase()).as_bytes());
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

/// The shard that runs `handle` among `count` (rendezvous hashing: the highest score wins).
pub fn owner(handle: &str, count: u32) -> u32 {
    (0..count.max(1)).max_by_key(|i| score(handle, *i)).unwrap_or(0)
}

fn hostname() -> Option<String> {
    if let Ok(h) = std::env::var("HOSTNAME") {
        return Some(h);
    }
    std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string())
}

impl ShardSpec {
    /// This daemon's index, or why it cannot be known.
    pub fn index(&self) -> Result<u32, String> {
        let i = if let Some(i) = self.index {
            i
        } else if let Ok(v) = std::env::var(INDEX_ENV) {
            v.trim().parse().map_err(|_| format!("{INDEX_ENV}={v:?} is not a number"))?
        } else if self.index_from_hostname {
            let h = hostname().ok_or("index_from_hostname: the host name cannot be read")?;
            h.rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("index_from_hostname: {h:?} does not end in -NUMBER"))?
        } else {
            return Err(format!("shard.index is not set: set it, or {INDEX_ENV}, or index_from_hostname: true"));
        };
        if i >= self.count {
            return Err(format!("shard index {i} is not below shard.count {}", self.count));
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_gets_a_fair_share_and_a_new_shard_takes_only_its_own() {
        let handles: Vec<String> = (0..10_000).map(|i| format!("agent_{i}")).collect();
        let mut per = [0usize; 4];
        for h in &handles {
            per[owner(h, 4) as usize] += 1;
        }
        assert!(per.iter().all(|n| (2_300..=2_700).contains(n)), "{per:?}");
        // From 4 to 5 shards: an agent moves only to the new shard, about a fifth of them.
        let moved: Vec<&String> = handles.iter().filter(|h| owner(h, 4) != owner(h, 5)).collect();
        assert!(moved.iter().all(|h| owner(h, 5) == 4));
        assert!((1_800..=2_200).contains(&moved.len()), "{}", moved.len());
        assert_eq!(owner("Ada", 7), owner("ada", 7), "handles compare without case");
        assert_eq!(owner("x", 1), 0);
    }

    #[test]
    fn the_index_comes_from_the_config_or_says_why_not() {
        let s = ShardSpec { count: 3, index: Some(2), index_from_hostname: false };
        assert_eq!(s.index(), Ok(2));
        assert!(ShardSpec { index: Some(3), ..s.clone() }.index().unwrap_err().contains("not below"));
    }
}
