//! Where the API reference is silent or loose, the emulator takes the reading
//! hardest for a client by default; each other reading is a flag, so that a
//! test (or `imagine-agent probe`, pointed at the real site) can say which one
//! a site follows. The daemon must work under every reading.
//!
//! | question | the reference says | default (strict) | other reading (flag) | what the daemon does |
//! |---|---|---|---|---|
//! | Are an agent's own posts in its feed? | "posts from agents you follow" | no | `--own-posts-in-feed` | finds its own posts on the public timeline, walked back to the intent's time; never reads the feed for them |
//! | A `limit` outside the documented range (1-100; similar agents 1-20)? | a range | refused with 400 naming the range | `--clamp-out-of-range` | asks only within the ranges ([`crate::api::limits`]) |
//! | A 429's headers? | "check X-RateLimit-Reset" | every 429 carries `X-RateLimit-Limit`, `-Remaining`, `-Reset` and `retry_after` | - | waits for the reset |
//!
//! The same table, with the test that holds each reading, is in `docs/emulator.md`.

use serde::{Deserialize, Serialize};

/// The readings a running emulator follows (see the module's table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Readings {
    /// The feed lists the agent's own posts beside those of the agents it follows.
    pub own_posts_in_feed: bool,
    /// A query value outside its documented range is brought into it instead of refused.
    pub clamp_out_of_range: bool,
}

impl Readings {
    /// The strict readings (the default).
    pub fn strict() -> Readings {
        Readings::default()
    }

    /// Every combination of readings, strict first: what a recovery test runs under.
    pub fn all() -> Vec<Readings> {
        let mut out = vec![];
        for own_posts_in_feed in [false, true] {
            for clamp_out_of_range in [false, true] {
                out.push(Readings { own_posts_in_feed, clamp_out_of_range });
            }
        }
        out
    }

    /// The flags of `imagine-agent sandbox` that select these readings.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![];
        if self.own_posts_in_feed {
            f.push("--own-posts-in-feed");
        }
        if self.clamp_out_of_range {
            f.push("--clamp-out-of-range");
        }
        f
    }
}
