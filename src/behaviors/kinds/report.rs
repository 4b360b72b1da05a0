//! `report`: Build Your Reputation. On a schedule, reads the platform's
//! analytics (overview, post performance, AXP history, the profile) and makes
//! a digest: a log line, Prometheus gauges (followers, AXP, level, engagement
//! rate overall and per top post), and optionally a post (with a chart image
//! of followers and AXP over the last days and the top posts) and a DM to an
//! operator.
//!
//! Guarantees: each fire time is reported once across restarts (the schedule
//! driver); the chart upload, the post and the DM each go through the intent
//! path under the fire time's key, so a crash repeats none of them. Followers
//! have no history on the platform: the daily figure is kept in sled at each
//! report (`day:YYYY-MM-DD`, the last `chart.days` days), so the chart's
//! followers line starts with the first report. AXP per day is computed from
//! the whole AXP history (every page, oldest transactions included).

use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::behaviors::engine::chart::{self, ChartData};
use crate::behaviors::engine::content::{Content, ListPosition, TextFor};
use crate::behaviors::engine::schedule::{CatchUp, Schedule};
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx};
use crate::metrics;
use crate::wire::types::{MediaType, NewPost, Post};

/// The chart posted with the digest.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    /// Days of followers and AXP shown.
    #[serde(default = "default_days")]
    pub days: u32,
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    /// Also keep the latest chart in this file (replaced atomically), e.g. for a web page.
    #[serde(default)]
    pub file: Option<std::path::PathBuf>,
}

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        /// 5 fields (crontab), or 6-7 with seconds.
        pub schedule: String,
        #[serde(default = "crate::behaviors::utc")]
        pub timezone: String,
        /// The analytics period compared with the one before: 7d, 30d or 90d.
        #[serde(default = "default_range")]
        pub range: String,
        /// How many top posts (by engagement) are reported.
        #[serde(default = "default_top")]
        pub top_posts: u32,
        /// Publish the digest as a post: `{{ digest }}`, `{{ followers }}`, `{{ followers_change }}`,
        /// `{{ xp }}`, `{{ xp_change }}`, `{{ level }}`, `{{ posts }}`, `{{ likes }}`, `{{ comments }}`,
        /// `{{ views }}`, `{{ engagement_rate }}`, `{{ range }}`, `{{ top_post }}`, `{{ top_post_text }}`,
        /// `{{ fired_at }}` (the fire time in UTC, e.g. `2026-12-07T09:00:00Z`).
        #[serde(default)]
        pub post: Option<Content>,
        /// Send the digest as a DM to this handle (an operator).
        #[serde(default)]
        pub dm_to: Option<String>,
        /// The DM's text (default: the digest); the same variables as `post`.
        #[serde(default)]
        pub dm: Option<Content>,
        /// Attach a chart to the post.
        #[serde(default)]
        pub chart: Option<ChartSpec>,
        #[serde(default)]
        pub catch_up: CatchUp,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("report");

fn default_days() -> u32 {
    30
}
fn default_width() -> u32 {
    800
}
fn default_height() -> u32 {
    480
}
fn default_range() -> String {
    "7d".into()
}
fn default_top() -> u32 {
    5
}

/// The figures kept per day (followers have no history on the platform).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Day {
    followers: u64,
    xp: u64,
}

/// One report's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Digest {
    pub range: String,
    pub followers: u64,
    /// Against the figure kept `range` ago, when there is one.
    pub followers_change: Option<i64>,
    pub xp: u64,
    pub xp_change: i64,
    pub level: u32,
    pub posts: u64,
    pub likes: u64,
    pub comments: u64,
    pub views: u64,
    /// (likes + comments) / views, in percent, over the period.
    pub engagement_rate: f64,
    pub top: Vec<Top>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Top {
    pub id: String,
    pub text: String,
    pub engagement: u64,
    /// Per view, in percent.
    pub rate: f64,
}

fn engagement(p: &Post) -> u64 {
    p.like_count + p.comment_count + p.repost_count
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

impl Digest {
    /// The digest as one line for people.
    pub fn text(&self) -> String {
        let change = |c: i64| if c >= 0 { format!("+{c}") } else { c.to_string() };
        let followers = match self.followers_change {
            Some(c) => format!("{} followers ({})", self.followers, change(c)),
            None => format!("{} followers", self.followers),
        };
        let mut s = format!(
            "Last {}: {followers}, {} AXP ({}, level {}), {} posts, {} likes, {} comments, {} views, engagement {}%.",
            self.range,
            self.xp,
            change(self.xp_change),
            self.level,
            self.posts,
            self.likes,
            self.comments,
            self.views,
            self.engagement_rate
        );
        if let Some(t) = self.top.first() {
            s.push_str(&format!(
                " Best post: {} \"{}\" ({} reactions).",
                t.id,
                crate::behaviors::engine::say::excerpt(&t.text, 60),
                t.engagement
            ));
        }
        s
    }

    /// The template's variables for the fire at `at` (`fired_at`, in UTC, names the fire).
    fn vars(&self, handle: &str, at: DateTime<Utc>) -> Value {
        let top = self.top.first();
        json!({
            "handle": handle, "digest": self.text(), "range": self.range,
            "fired_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "followers": self.followers, "followers_change": self.followers_change.unwrap_or(0),
            "xp": self.xp, "xp_change": self.xp_change, "level": self.level,
            "posts": self.posts, "likes": self.likes, "comments": self.comments, "views": self.views,
            "engagement_rate": self.engagement_rate,
            "top_post": top.map(|t| t.id.clone()).unwrap_or_default(),
            "top_post_text": top.map(|t| t.text.clone()).unwrap_or_default(),
        })
    }
}

/// AXP at the end of each of the `days` days up to `today`, from the total now and every transaction.
fn xp_per_day(total: u64, history: &[(DateTime<Utc>, i64)], today: NaiveDate, days: u32) -> Vec<(NaiveDate, u64)> {
    (0..days as i64)
        .rev()
        .map(|back| {
            let day = today - Days::days(back);
            let later: i64 = history.iter().filter(|(at, _)| at.date_naive() > day).map(|(_, a)| a).sum();
            (day, (total as i64 - later).max(0) as u64)
        })
        .collect()
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        crate::behaviors::check_schedule(c, &self.schedule, &self.timezone);
        if !["7d", "30d", "90d"].contains(&self.range.as_str()) {
            c.problem("range", format!("range must be 7d, 30d or 90d, got {:?}", self.range));
        }
        if !(1..=100).contains(&self.top_posts) {
            c.problem("top_posts", "top_posts must be between 1 and 100");
        }
        for (k, m) in [("post", &self.post), ("dm", &self.dm)] {
            if let Some(m) = m {
                crate::behaviors::check_content(c, k, m);
            }
        }
        if self.dm.is_some() && self.dm_to.is_none() {
            c.problem("dm", "dm needs dm_to: the handle to send it to");
        }
        if let Some(ch) = &self.chart {
            if self.post.is_none() {
                c.problem("chart", "the chart is posted with the digest: set post as well");
            }
            if !(1..=365).contains(&ch.days) {
                c.problem("chart.days", "days must be between 1 and 365");
            }
            if !(200..=4000).contains(&ch.width) || !(150..=4000).contains(&ch.height) {
                c.problem("chart", "width must be 200-4000 and height 150-4000 pixels");
            }
        }
    }

    fn range_days(&self) -> i64 {
        self.range.trim_end_matches('d').parse().unwrap_or(7)
    }

    /// Reads the platform and keeps today's figures; the digest and the AXP transactions.
    async fn measure(&self, ctx: &Ctx) -> Result<(Digest, Vec<(DateTime<Utc>, i64)>), BehaviorError> {
        let s = ctx.session();
        let me = s.me().await?;
        let overview = s.analytics_overview(&self.range).await?;
        let top = s.post_performance("engagement", self.top_posts).await?;
        // The whole AXP history: every page.
        let mut history = vec![];
        let mut cursor: Option<String> = None;
        let xp = loop {
            let page = s.xp_page(&ctx.agent.handle, cursor.as_deref()).await?;
            history.extend(page.history.iter().filter_map(|t| {
                let at = DateTime::parse_from_rfc3339(t.created_at.as_deref()?).ok()?.with_timezone(&Utc);
                Some((at, t.amount))
            }));
            match page.next_cursor {
                Some(c) if page.has_more && Some(&c) != cursor.as_ref() => cursor = Some(c),
                _ => break page.axp,
            }
        };
        let now = ctx.now();
        let since = now - Days::days(self.range_days());
        let n = |k: &str| overview.current.get(k).and_then(Value::as_u64).unwrap_or(0);
        let store = ctx.store();
        let today = now.date_naive();
        store.put(&ctx.behavior, &format!("day:{today}"), &Day { followers: me.follower_count, xp: xp.total })?;
        let then: Option<Day> = store.get(&ctx.behavior, &format!("day:{}", (since).date_naive()))?;
        let (likes, comments, views) = (n("likes"), n("comments"), n("views"));
        let digest = Digest {
            range: self.range.clone(),
            followers: me.follower_count,
            followers_change: then.map(|d| me.follower_count as i64 - d.followers as i64),
            xp: xp.total,
            xp_change: history.iter().filter(|(at, _)| *at > since).map(|(_, a)| a).sum(),
            level: xp.level,
            posts: n("posts"),
            likes,
            comments,
            views,
            engagement_rate: percent(likes + comments, views),
            top: top
                .iter()
                .map(|p| Top {
                    id: p.id.clone(),
                    text: p.content.clone(),
                    engagement: engagement(p),
                    rate: percent(engagement(p), p.view_count),
                })
                .collect(),
        };
        // Days beyond what any chart shows are forgotten.
        let keep = self.chart.as_ref().map_or(self.range_days(), |c| c.days as i64).max(self.range_days());
        let oldest = (today - Days::days(keep)).to_string();
        for (k, _) in store.scan::<Day>(&ctx.behavior, "day:")? {
            if k["day:".len()..] < *oldest.as_str() {
                store.remove(&ctx.behavior, &k)?;
            }
        }
        Ok((digest, history))
    }

    fn gauges(&self, ctx: &Ctx, d: &Digest) {
        let m = &ctx.agent.metrics;
        m.gauge(metrics::FOLLOWERS, &[], d.followers as f64);
        m.gauge(metrics::XP, &[], d.xp as f64);
        m.gauge(metrics::LEVEL, &[], d.level as f64);
        m.gauge(metrics::ENGAGEMENT_RATE, &[("range", &d.range)], d.engagement_rate);
        m.clear_gauges(metrics::POST_ENGAGEMENT_RATE);
        for (i, t) in d.top.iter().enumerate() {
            m.gauge(metrics::POST_ENGAGEMENT_RATE, &[("post", &t.id), ("rank", &(i + 1).to_string())], t.rate);
        }
    }

    fn chart_data(&self, ctx: &Ctx, d: &Digest, history: &[(DateTime<Utc>, i64)], days: u32) -> Result<ChartData, BehaviorError> {
        let today = ctx.now().date_naive();
        let label = |day: NaiveDate| day.format("%m-%d").to_string();
        let kept: std::collections::BTreeMap<String, Day> = ctx.store().scan::<Day>(&ctx.behavior, "day:")?.into_iter().collect();
        let followers = (0..days as i64)
            .rev()
            .map(|b| today - Days::days(b))
            .filter_map(|day| kept.get(&format!("day:{day}")).map(|k| (label(day), k.followers)))
            .collect();
        Ok(ChartData {
            followers,
            xp: xp_per_day(d.xp, history, today, days).into_iter().map(|(day, v)| (label(day), v)).collect(),
            top: d.top.iter().map(|t| (t.id.clone(), t.engagement)).collect(),
            title: format!("@{}: the last {days} days", ctx.agent.handle),
        })
    }

    async fn fire(&self, ctx: &Ctx, at: DateTime<Utc>) -> Result<(), BehaviorError> {
        let ts = at.timestamp_millis();
        let (d, history) = self.measure(ctx).await?;
        tracing::info!(followers = d.followers, xp = d.xp, level = d.level, engagement_rate = d.engagement_rate, "report: {}", d.text());
        self.gauges(ctx, &d);
        let vars = d.vars(&ctx.agent.handle, at);
        if let Some(post) = &self.post {
            self.publish(ctx, ts, post, &vars, &d, &history).await?;
        }
        if let Some(to) = &self.dm_to {
            let who = ctx.session().agent(to.trim_start_matches('@')).await?;
            let who = crate::wire::types::AgentSummary { id: who.id, handle: who.handle, name: who.name, ..Default::default() };
            let digest = Content { template: Some("{{ digest }}".into()), ..Content::default() };
            let content = self.dm.as_ref().unwrap_or(&digest);
            // send_dm_once renders with its own variables: it is given the text, rendered with the digest's.
            let key = format!("report_dm:{ts}");
            // Once recorded, the DM is sent (or finished from its intent) by send_dm_once.
            let text = match ctx.progress(&key)?.is_new() {
                true => ctx.write(content, &vars, &mut ListPosition::default(), ts as u64, TextFor::dm()).await?,
                false => None,
            };
            let fixed = Content { text: Some(text.unwrap_or_default()), ..Content::default() };
            ctx.send_dm_once(&key, &fixed, &who).await?;
        }
        Ok(())
    }

    /// The digest as a post, with its chart when asked (uploaded once, posted once).
    async fn publish(
        &self,
        ctx: &Ctx,
        ts: i64,
        post: &Content,
        vars: &Value,
        d: &Digest,
        history: &[(DateTime<Utc>, i64)],
    ) -> Result<(), BehaviorError> {
        let key = format!("report:{ts}");
        let Some(text) = ctx.compose(&key, post, vars, "post_list", TextFor::post(3)).await? else { return Ok(()) };
        let mut media = vec![];
        if let Some(ch) = &self.chart {
            let ckey = format!("chart:{ts}");
            let png = chart::draw(self.chart_data(ctx, d, history, ch.days)?, ch.width, ch.height).await?;
            if let Some(f) = &ch.file {
                let tmp = f.with_extension("png.tmp");
                if let Err(e) = std::fs::write(&tmp, &png).and_then(|_| std::fs::rename(&tmp, f)) {
                    tracing::warn!(file = %f.display(), error = %e, "the chart could not be written to its file");
                }
            }
            let file = crate::api::Upload { bytes: png, filename: format!("report-{ts}.png"), content_type: "image/png".into() };
            // After a crash the chart drawn first is found in the media library, not uploaded again.
            media.extend(ctx.upload_bytes_once(&ckey, file, "post", json!({"chart": ts})).await?);
        }
        let s = ctx.session().clone();
        let np = NewPost {
            content: text.clone(),
            media_type: Some(if media.is_empty() { MediaType::Text } else { MediaType::Image }),
            media_ids: media.clone(),
            media_urls: vec![],
        };
        // After a crash: an unchanged digest repeats its text, but an earlier
        // digest's post is recorded as that fire's, so it is never taken for this one.
        let out = ctx
            .once(
                &key,
                "post",
                json!({"content": text}),
                || async move { s.create_post(&np).await.map(|p| Some(p.id)) },
                |d| ctx.find_own_post(d),
            )
            .await?;
        if matches!(out, crate::behaviors::Outcome::Refused(_)) {
            ctx.release_media(&media).await;
        }
        Ok(())
    }
}

impl Kind for Spec {
    fn contents(&self) -> Vec<&Content> {
        self.post.iter().chain(self.dm.iter()).collect()
    }

    fn schedule(&self) -> Option<(&str, &str)> {
        Some((&self.schedule, &self.timezone))
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        if let Some(f) = self.chart.as_mut().and_then(|c| c.file.as_mut()).filter(|f| f.is_relative()) {
            *f = base.join(&*f);
        }
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(async move {
            let schedule = Schedule::parse(&self.schedule, &self.timezone)?;
            crate::behaviors::engine::schedule::drive(ctx, &schedule, self.catch_up, None, |at| Box::pin(self.fire(ctx, at))).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn axp_per_day_is_the_total_less_what_came_later() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let at = |d: u32| Utc.with_ymd_and_hms(2026, 11, d, 12, 0, 0).unwrap();
        let history = vec![(at(27), 10), (at(28), 5), (at(29), 20), (at(20), 100)];
        let got = xp_per_day(135, &history, today, 3);
        assert_eq!(got.iter().map(|d| d.1).collect::<Vec<_>>(), vec![110, 115, 135]);
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(5, 0), 0.0);
    }
}
