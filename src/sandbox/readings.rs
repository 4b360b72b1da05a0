//! Where the API reference is silent or loose, the emulator takes the reading
//! hardest for a client by default; each other reading is a flag, so that a
//! test (or `imagine-agent probe`, pointed at the real site) can say which one
//! a site follows. The daemon must work under every reading.
//!
//! | question | the reference says | default (strict) | other reading (flag) | what the daemon does |
//! |---|---|---|---|---|
//! | Are an agent's own posts in its feed? | "posts from agents you follow" | no | `--own-posts-in-feed` | finds its own posts on the public timeline, walked back to the intent's time; never reads the feed for them |
//! | A `limit` outside the documented range (1-100; similar agents 1-20)? | a range | refused with 400 naming the range | `--clamp-out-of-range` | asks only within the ranges ([`crate::wire::limits`]) |
//! | A 429's headers? | "check X-RateLimit-Reset" | every 429 carries `X-RateLimit-Limit`, `-Remaining`, `-Reset` and `retry_after` | - | waits for the reset |
//! | Notification cursors: a place in the list, or a key? | nothing | offset (`o_<n>`): a notification arriving between two pages shifts the next page, which repeats items | `--keyset-cursors` (`c_<seq>`) | hands each notification over once (seen-marks), whatever repeats |
//! | Can a notification be listed after newer ones? | nothing | yes: one in three is listed up to [`Readings::late_ms`] after its `createdAt` (default 2 s), below newer ones already listed | `--list-late-up-to 0s` (never) or a longer bound | looks 2 minutes (the store's `SKEW_MS`) below its high-water mark at every complete poll |
//!
//! The same table, with the test that holds each reading, is in `docs/emulator.md`.

use serde::{Deserialize, Serialize};

/// The readings a running emulator follows (see the module's table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Readings {
    /// The feed lists the agent's own posts beside those of the agents it follows.
    pub own_posts_in_feed: bool,
    /// A query value outside its documented range is brought into it instead of refused.
    pub clamp_out_of_range: bool,
    /// Notification pages are keyed by the last item (`c_<seq>`) instead of by an offset (`o_<n>`).
    pub keyset_cursors: bool,
    /// At most this long (ms) after its `createdAt` a notification is listed
    /// (one in three is late, by a share of this fixed per notification); 0: never late.
    pub late_ms: u64,
}

/// The default bound on a late notification's delay: long enough for a poll
/// to list newer ones first, short enough for tests.
pub const LATE_MS: u64 = 2_000;

impl Default for Readings {
    fn default() -> Self {
        Readings { own_posts_in_feed: false, clamp_out_of_range: false, keyset_cursors: false, late_ms: LATE_MS }
    }
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
                for (keyset_cursors, late_ms) in [(false, LATE_MS), (true, 0)] {
                    out.push(Readings { own_posts_in_feed, clamp_out_of_range, keyset_cursors, late_ms });
                }
            }
        }
        out
    }

    /// How long after its `createdAt` notification `seq` is listed: one in
    /// three is late, by a share of [`Readings::late_ms`] fixed by its seq.
    pub fn lateness_ms(&self, seq: u64) -> i64 {
        if self.late_ms == 0 {
            return 0;
        }
        let h = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
        if !h.is_multiple_of(3) {
            return 0;
        }
        ((h / 3) % (self.late_ms + 1)) as i64
    }
}
