//! `marketplace`: Offer Services on the Marketplace, as the seller. The
//! declared services are kept on the platform (created or updated by diff,
//! matched by a stable key kept in sled and as an `ia-key:` tag); the payment
//! account is checked at start (and said plainly when payouts cannot work);
//! every paid order is started, its deliverable produced (template or model,
//! with the buyer's requirements delimited as data) and delivered with a
//! message; a revision request is delivered again; a completed order gets a
//! thank-you; a cancelled order stops the work in flight.
//!
//! Guarantees: every transition goes through the intent path under a key of
//! its order and round (`start:ORDER:ROUND`, `deliver:ORDER:ROUND`...), and
//! before repeating one after a crash the order's state on the platform is
//! read: no order is started, delivered or thanked twice. The order is read
//! again before delivering, so a cancellation stops the work. An order whose
//! deliverable could not be produced `retries` times is left for a person
//! (listed by `state` as `stuck:`, counted in metrics), never dropped silently.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::Priority;
use crate::behaviors::engine::content::{Content, TextFor};
use crate::behaviors::engine::jobs::Job;
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Found, Outcome};
use crate::wire::types::{NewOrderMessage, NewService, Order, OrderAction, OrderStatus, OrderUpdate, ServiceUpdate};

/// One service as declared.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Stable across edits of the title: how the service is found again.
    pub key: String,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub short_desc: Option<String>,
    /// In cents (500 = $5.00).
    pub price: u64,
    pub delivery_days: u32,
    #[serde(default)]
    pub revisions: u32,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `false` pauses it (deactivated on the platform).
    #[serde(default = "crate::behaviors::yes")]
    pub active: bool,
    /// `true` takes it off the platform, as removing it from the file does:
    /// deleted, or deactivated while it has open orders (and deleted once they are done).
    #[serde(default)]
    pub retire: bool,
}

/// A message asking the buyer for a review.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// How long after completion to wait for a review before asking.
    #[serde(with = "humantime_serde", default = "default_review_after")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub after: Duration,
    /// `{{ buyer }}`, `{{ service }}`.
    pub text: Content,
}

/// A completed order waiting for its review.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Awaited {
    service: String,
    completed_ms: i64,
}

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        #[serde(default)]
        pub services: Vec<ServiceSpec>,
        /// The work delivered: `{{ requirements }}`, `{{ service }}`, `{{ buyer }}`, `{{ round }}`,
        /// and with `generate`, `{{ url }}` (the result; added at the end when the text leaves it out).
        pub deliverable: Content,
        /// Produce each deliverable with a generation job first (image, video, voice, music).
        #[serde(default)]
        pub generate: Option<crate::behaviors::engine::jobs::Generate>,
        /// Sent as an order message with each delivery.
        #[serde(default)]
        pub delivery_message: Option<Content>,
        /// Sent as an order message when the buyer accepts (a good place to ask for a review).
        #[serde(default)]
        pub thank_you: Option<Content>,
        /// Asks for a review when a completed order has none after a while.
        #[serde(default)]
        pub review_request: Option<ReviewRequest>,
        /// Answers the buyer's order messages (one answer for the messages that arrived together).
        #[serde(default)]
        pub order_reply: Option<Content>,
        /// Request the pending payouts once they add up to this many cents (payouts must be enabled).
        #[serde(default)]
        pub payout_threshold: Option<u64>,
        /// Attempts at producing a deliverable before the order is left for a person.
        #[serde(default = "default_retries")]
        pub retries: u32,
        /// How often orders are looked at.
        #[serde(with = "humantime_serde", default = "default_every")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub every: Duration,
        /// How often the services are compared with the platform again.
        #[serde(with = "humantime_serde", default = "default_reconcile")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub reconcile_every: Duration,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("marketplace");

fn default_review_after() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_retries() -> u32 {
    3
}
fn default_every() -> Duration {
    Duration::from_secs(30)
}
fn default_reconcile() -> Duration {
    Duration::from_secs(3600)
}

fn key_tag(key: &str) -> String {
    format!("ia-key:{key}")
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        crate::behaviors::check_content(c, "deliverable", &self.deliverable);
        if let Some(g) = &self.generate {
            g.check(c, "generate");
        }
        let review = self.review_request.as_ref().map(|r| &r.text);
        for (k, m) in [
            ("delivery_message", &self.delivery_message),
            ("thank_you", &self.thank_you),
            ("order_reply", &self.order_reply),
            ("review_request.text", &review.cloned()),
        ] {
            if let Some(m) = m {
                crate::behaviors::check_content(c, k, m);
            }
        }
        let mut keys = std::collections::HashSet::new();
        for s in &self.services {
            if !keys.insert(s.key.as_str()) {
                c.problem("services", format!("service key {:?} is used twice", s.key));
            }
            if s.title.trim().is_empty() || s.price == 0 || s.delivery_days == 0 {
                c.problem("services", format!("service {:?}: a title, a price above 0 and delivery_days above 0 are required", s.key));
            }
        }
        if self.every < Duration::from_secs(1) {
            c.problem("every", "every must be at least 1s");
        }
    }

    /// Says plainly when payouts cannot work yet.
    async fn check_payments(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        match ctx.session().payment_account().await {
            Ok(a) if a.payouts_enabled => {
                ctx.store().put(&ctx.behavior, "payments", &"payouts enabled")?;
            }
            Ok(a) => {
                let how = a
                    .onboarding_url
                    .unwrap_or_else(|| "run `imagine-agent api POST /api/marketplace/connect` for the onboarding link".into());
                tracing::warn!(onboarding = %how, "payouts cannot work yet: the payment account is not onboarded");
                ctx.store().put(&ctx.behavior, "payments", &format!("payouts NOT enabled: {how}"))?;
            }
            Err(e) => tracing::warn!(error = %e, "the payment account could not be checked"),
        }
        Ok(())
    }

    /// Creates or updates each declared service, writing only what differs.
    async fn reconcile(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let s = ctx.session();
        for want in self.services.iter().filter(|w| !w.retire) {
            let skey = format!("service:{}", want.key);
            let known: Option<String> = ctx.store().get(&ctx.behavior, &skey)?;
            let have = match &known {
                Some(id) => match s.service(id).await {
                    Ok(h) => Some(h),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e.into()),
                },
                None => None,
            };
            let Some(have) = have else {
                let mut tags = want.tags.clone();
                tags.push(key_tag(&want.key));
                let new = NewService {
                    title: want.title.clone(),
                    description: want.description.clone(),
                    short_desc: want.short_desc.clone(),
                    price: want.price,
                    delivery_days: want.delivery_days,
                    revisions: want.revisions,
                    category: want.category.clone(),
                    tags,
                    ..Default::default()
                };
                let s2 = s.clone();
                let out = ctx
                    .once(
                        &format!("create_service:{}", want.key),
                        "service",
                        json!({"key": want.key, "title": want.title}),
                        || async move { s2.create_service(&new).await.map(|c| Some(c.id)) },
                        |d| self.find_service(ctx, d),
                    )
                    .await?;
                if let Outcome::Sent(Some(id)) = out {
                    ctx.store().put(&ctx.behavior, &skey, &id)?;
                } else if let Some(id) = ctx.progress(&format!("create_service:{}", want.key))?.result() {
                    ctx.store().put(&ctx.behavior, &skey, &id)?;
                }
                continue;
            };
            let mut tags = want.tags.clone();
            tags.push(key_tag(&want.key));
            let sorted = |t: &[String]| {
                let mut t = t.to_vec();
                t.sort();
                t
            };
            let diff = ServiceUpdate {
                title: (have.title != want.title).then(|| want.title.clone()),
                description: (have.description != want.description).then(|| want.description.clone()),
                price: (have.price != want.price).then_some(want.price),
                is_active: (have.is_active != want.active).then_some(want.active),
                short_desc: want.short_desc.clone().filter(|d| have.short_desc.as_ref() != Some(d)),
                delivery_days: (have.delivery_days != want.delivery_days).then_some(want.delivery_days),
                revisions: (have.revisions != want.revisions).then_some(want.revisions),
                category: want.category.clone().filter(|c| have.category.as_ref() != Some(c)),
                tags: (sorted(&have.tags) != sorted(&tags)).then_some(tags),
            };
            if !diff.is_empty() {
                let (s2, id) = (s.clone(), have.id.clone());
                let k = format!("update_service:{}", want.key);
                ctx.store().forget_action(&ctx.behavior, &k)?;
                ctx.once(
                    &k,
                    "service",
                    json!({"key": want.key, "title": want.title}),
                    || async move { s2.update_service(&id, &diff).await.map(|_| None) },
                    |_| async { Ok(Found::Missing) },
                )
                .await?;
            }
        }
        // Retired, or listed before and no longer in the file.
        for (k, _) in ctx.store().scan::<String>(&ctx.behavior, "service:")? {
            let key = &k["service:".len()..];
            if self.services.iter().all(|s| s.key != key || s.retire) {
                self.retire(ctx, key).await?;
            }
        }
        Ok(())
    }

    /// Takes the service of `key` off the platform: deleted, or, while it
    /// has open orders, deactivated by the platform (asked again at each
    /// reconcile until it is gone). Forgotten once the platform has it no more.
    async fn retire(&self, ctx: &Ctx, key: &str) -> Result<(), BehaviorError> {
        let skey = format!("service:{key}");
        let Some(id) = ctx.store().get::<String>(&ctx.behavior, &skey)? else { return Ok(()) };
        let k = format!("retire_service:{key}");
        ctx.store().forget_action(&ctx.behavior, &k)?;
        let (s2, id2) = (ctx.session().clone(), id.clone());
        ctx.once(
            &k,
            "retire_service",
            json!({"key": key, "service": id}),
            || async move { s2.delete_service(&id2).await.map(|_| None) },
            // Sent again after a crash: deleting twice deletes (or deactivates) all the same.
            |_| async { Ok(Found::Missing) },
        )
        .await?;
        match ctx.session().service(&id).await {
            Err(e) if e.is_not_found() => {
                tracing::info!(service = %id, key, "the service is off the marketplace");
                ctx.store().remove(&ctx.behavior, &skey)?;
            }
            Ok(_) => tracing::info!(service = %id, key, "the service is deactivated (it has open orders); deleted once they are done"),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// After a crash: our service with the key's tag, if it was created.
    async fn find_service(&self, ctx: &Ctx, d: Value) -> Result<Found, crate::api::ApiError> {
        let tag = key_tag(d.get("key").and_then(Value::as_str).unwrap_or_default());
        let title = d.get("title").and_then(Value::as_str).unwrap_or_default().to_string();
        // Every page of the search: others may sell services of the same title.
        let ours = |s: &crate::wire::types::Service| s.tags.contains(&tag) && s.agent.as_ref().is_some_and(|a| a.id == ctx.agent.id);
        let list = ctx.session().services().param("search", title).limit(100);
        Ok(Found::created(crate::behaviors::engine::actions::first(list.stream(), ours).await?.map(|s| s.id)))
    }

    /// The seller's orders in `status`, every page.
    async fn orders_in(&self, ctx: &Ctx, status: &str) -> Result<Vec<Order>, BehaviorError> {
        use futures::TryStreamExt;
        Ok(ctx.session().orders().param("role", "seller").param("status", status).limit(100).stream().try_collect().await?)
    }

    /// Moves `order` by `action` once under `key`; after a crash, done when the order has left `from`.
    async fn transition(
        &self,
        ctx: &Ctx,
        key: &str,
        order: &str,
        update: OrderUpdate,
        from: &[OrderStatus],
    ) -> Result<Outcome, BehaviorError> {
        let (s, id) = (ctx.session().clone(), order.to_string());
        let from = from.to_vec();
        let kind = update.action.to_string();
        ctx.once(
            key,
            &kind,
            json!({"order": order, "content": update.deliverables}),
            || async move { s.update_order(&id, &update).await.map(|o| Some(o.id)) },
            |d| async move {
                let o = ctx.session().order(d.get("order").and_then(Value::as_str).unwrap_or_default()).await?;
                Ok(Found::when(o.status.as_ref().is_some_and(|st| !from.contains(st))))
            },
        )
        .await
    }

    /// Sends an order message from `content` once under `key`.
    async fn message(&self, ctx: &Ctx, key: &str, order: &Order, content: &Content, vars: &Value) -> Result<(), BehaviorError> {
        let Some(text) = ctx.compose(key, content, vars, "message_list", TextFor::dm()).await? else { return Ok(()) };
        let (s, id, t) = (ctx.session().clone(), order.id.clone(), text.clone());
        ctx.once(
            key,
            "order_message",
            json!({"order": order.id, "content": text}),
            || async move { s.send_order_message(&id, &NewOrderMessage { content: t, attachments: vec![] }).await.map(|m| Some(m.id)) },
            // Every message of the order is read (a long exchange holds more than a page).
            |d| crate::behaviors::engine::actions::found(ctx, "order_message", d),
        )
        .await?;
        Ok(())
    }

    /// Starts (when paid or sent back), produces and delivers one order.
    async fn work_on(&self, ctx: &Ctx, order: &Order) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let id = &order.id;
        if store.get::<String>(&ctx.behavior, &format!("stuck:{id}"))?.is_some() {
            return Ok(());
        }
        let round = order.revisions_used;
        if matches!(order.status, Some(OrderStatus::Paid) | Some(OrderStatus::Revision)) {
            let update = OrderUpdate { action: OrderAction::Start, deliverables: None, message: None };
            let out = self.transition(ctx, &format!("start:{id}:{round}"), id, update, &[OrderStatus::Paid, OrderStatus::Revision]).await?;
            if matches!(out, Outcome::Refused(_)) {
                return Ok(()); // cancelled meanwhile (the platform said no)
            }
        }
        let buyer = order.buyer.as_ref().map(|b| b.handle.clone()).unwrap_or_default();
        let mut vars = json!({
            "handle": ctx.agent.handle, "author": buyer, "buyer": buyer, "round": round,
            "requirements": order.requirements.clone().unwrap_or_default(), "text": order.requirements.clone().unwrap_or_default(),
            "service": order.service_id,
        });
        let dkey = format!("deliver:{id}:{round}");
        let fails: u32 = store.get(&ctx.behavior, &format!("fails:{id}"))?.unwrap_or(0);
        let mut url = None;
        let started = !ctx.progress(&dkey)?.is_new();
        if let Some(g) = self.generate.as_ref().filter(|_| !started) {
            // One job per order, round and attempt: a failed attempt starts a new one.
            match g.produce(ctx, &format!("gen:{id}:{round}:{fails}"), &vars).await? {
                Job::Waiting => return Ok(()),
                Job::Ready(u) => {
                    vars["url"] = json!(u);
                    url = Some(u);
                }
                Job::Failed(why) => return self.failed(ctx, id, fails, why),
            }
        }
        let text = match ctx.compose(&dkey, &self.deliverable, &vars, "deliverable_list", TextFor::deliverable()).await {
            Ok(Some(t)) => match url {
                Some(u) if !t.contains(&u) => format!("{t}\n{u}"),
                _ => t,
            },
            Ok(None) if ctx.progress(&dkey)?.is_settled() => return Ok(()), // delivered already
            Ok(None) => return self.failed(ctx, id, fails, "nothing came out".into()),
            Err(e) => return self.failed(ctx, id, fails, e.to_string()),
        };
        // The work took time: is the order still ours to deliver?
        let now = ctx.session().order(id).await?;
        if now.status != Some(OrderStatus::InProgress) && ctx.progress(&dkey)?.is_new() {
            tracing::info!(order = %id, status = ?now.status, "not delivering: the order moved on (cancelled?)");
            ctx.agent.metrics.action(&[ctx.behavior.as_str(), "order"], "abandoned");
            store.remove(&ctx.behavior, &format!("open:{id}"))?;
            return Ok(());
        }
        // Owed before the delivery is sent: a crash after it still gets the follow-ups done.
        store.put(&ctx.behavior, &format!("open:{id}"), &ctx.now().timestamp_millis())?;
        if self.delivery_message.is_some() {
            store.put(&ctx.behavior, &format!("owed_msg:{id}"), &round)?;
        }
        let update = OrderUpdate { action: OrderAction::Deliver, deliverables: Some(text), message: None };
        if let Outcome::Refused(_) = self.transition(ctx, &dkey, id, update, &[OrderStatus::InProgress]).await? {
            store.remove(&ctx.behavior, &format!("owed_msg:{id}"))?;
            return Ok(());
        }
        self.send_owed(ctx, id, order).await
    }

    /// One more failed attempt at producing `id`'s deliverable; after `retries`, the order is left for a person.
    fn failed(&self, ctx: &Ctx, id: &str, before: u32, why: String) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let fails = before + 1;
        store.put(&ctx.behavior, &format!("fails:{id}"), &fails)?;
        tracing::warn!(order = %id, attempt = fails, reason = %why, "the deliverable could not be produced");
        if fails >= self.retries {
            tracing::error!(order = %id, "left for a person after {fails} failed attempts (see `imagine-agent state`)");
            store.put(&ctx.behavior, &format!("stuck:{id}"), &why)?;
            ctx.agent.metrics.action(&[ctx.behavior.as_str(), "order"], "stuck");
        }
        Ok(())
    }

    /// The delivery message owed for `id`, if any.
    async fn send_owed(&self, ctx: &Ctx, id: &str, order: &Order) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let (Some(round), Some(m)) = (store.get::<u32>(&ctx.behavior, &format!("owed_msg:{id}"))?, &self.delivery_message) else {
            return Ok(());
        };
        let buyer = order.buyer.as_ref().map(|b| b.handle.clone()).unwrap_or_default();
        let vars = json!({"handle": ctx.agent.handle, "author": buyer, "buyer": buyer, "round": round, "service": order.service_id});
        self.message(ctx, &format!("delivered_msg:{id}:{round}"), order, m, &vars).await?;
        store.remove(&ctx.behavior, &format!("owed_msg:{id}"))?;
        Ok(())
    }

    /// Answers the buyer's order messages that arrived since the last look (each at most once).
    async fn answer_messages(&self, ctx: &Ctx, order: &Order) -> Result<(), BehaviorError> {
        let Some(reply) = &self.order_reply else { return Ok(()) };
        let store = ctx.store();
        let pos_key = format!("omsg:{}", order.id);
        let seen: Option<String> = store.get(&ctx.behavior, &pos_key)?;
        let mut list = ctx.session().order_messages(&order.id).limit(100);
        let mut newer = vec![];
        'walk: loop {
            let page = list.page().await?;
            for m in page.items {
                if Some(&m.id) == seen.as_ref() {
                    break 'walk;
                }
                newer.push(m);
            }
            match page.next_cursor {
                Some(c) if page.has_more => list = list.cursor(c),
                _ => break,
            }
        }
        let Some(newest) = newer.first().map(|m| m.id.clone()) else { return Ok(()) };
        let theirs: Vec<String> =
            newer.iter().rev().filter(|m| m.sender.as_ref().is_none_or(|s| s.id != ctx.agent.id)).map(|m| m.content.clone()).collect();
        if !theirs.is_empty() {
            let buyer = order.buyer.as_ref().map(|b| b.handle.clone()).unwrap_or_default();
            let text = theirs.join("\n");
            let vars = json!({"handle": ctx.agent.handle, "author": buyer, "buyer": buyer, "text": text, "requirements": order.requirements, "service": order.service_id});
            self.message(ctx, &format!("oreply:{newest}"), order, reply, &vars).await?;
        }
        store.put(&ctx.behavior, &pos_key, &newest)?;
        Ok(())
    }

    /// Requests the pending payouts once they add up to the threshold (each
    /// payout once), and only while the payment account can pay out: before
    /// its onboarding is complete a request would be refused for good, so
    /// the payouts wait (looked at again each round).
    async fn payouts(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        use futures::TryStreamExt;
        let Some(threshold) = self.payout_threshold else { return Ok(()) };
        let pending: Vec<crate::wire::types::Payout> =
            ctx.session().payouts().param("status", "PENDING").limit(100).stream().try_collect().await?;
        if pending.iter().map(|p| p.amount).sum::<u64>() < threshold {
            return Ok(());
        }
        if !ctx.session().payment_account().await?.payouts_enabled {
            if ctx.store().get::<String>(&ctx.behavior, "payments")?.is_none_or(|p| !p.starts_with("payouts NOT enabled")) {
                self.check_payments(ctx).await?;
            }
            return Ok(());
        }
        for p in pending {
            let (s, id) = (ctx.session().clone(), p.id.clone());
            ctx.once(
                &format!("payout:{}", p.id),
                "payout",
                json!({"payout": p.id, "amount": p.amount}),
                || async move { s.request_payout(&id).await.map(|p| Some(p.id)) },
                // After a crash: requested already when the payout is no longer pending.
                |d| async move {
                    let id = d.get("payout").and_then(Value::as_str).unwrap_or_default().to_string();
                    let found =
                        crate::behaviors::engine::actions::first(ctx.session().payouts().limit(100).stream(), |p| p.id == id).await?;
                    Ok(Found::when(found.is_some_and(|p| p.status != Some(crate::wire::types::PayoutStatus::Pending))))
                },
            )
            .await?;
        }
        if ctx.store().get::<String>(&ctx.behavior, "payments")?.is_none_or(|p| p != "payouts enabled") {
            ctx.store().put(&ctx.behavior, "payments", &"payouts enabled")?;
        }
        Ok(())
    }

    /// Delivered orders: the owed delivery message, thanks once completed, forgotten once closed.
    async fn follow_up(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        for (k, _) in store.scan::<i64>(&ctx.behavior, "open:")? {
            let id = k.trim_start_matches("open:");
            let o = match ctx.session().order(id).await {
                Ok(o) => o,
                Err(e) if e.is_not_found() => {
                    store.remove(&ctx.behavior, &k)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if o.status != Some(OrderStatus::InProgress) {
                self.send_owed(ctx, id, &o).await?;
            }
            self.answer_messages(ctx, &o).await?;
            match o.status {
                Some(OrderStatus::Completed) => {
                    if let Some(t) = &self.thank_you {
                        let buyer = o.buyer.as_ref().map(|b| b.handle.clone()).unwrap_or_default();
                        let vars = json!({"handle": ctx.agent.handle, "author": buyer, "buyer": buyer, "service": o.service_id});
                        self.message(ctx, &format!("thanks:{id}"), &o, t, &vars).await?;
                    }
                    let awaited = Awaited { service: o.service_id.clone(), completed_ms: ctx.now().timestamp_millis() };
                    store.put(&ctx.behavior, &format!("review:{id}"), &awaited)?;
                    store.remove(&ctx.behavior, &k)?;
                }
                Some(OrderStatus::Cancelled) | Some(OrderStatus::Refunded) | Some(OrderStatus::Disputed) => {
                    store.remove(&ctx.behavior, &k)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Completed orders: their review, once due, is read and said in the log;
    /// without one, the buyer is asked once (`review_request`).
    async fn reviews(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let wait = self.review_request.as_ref().map_or(Duration::ZERO, |r| r.after);
        let now = ctx.now().timestamp_millis();
        for (k, a) in store.scan::<Awaited>(&ctx.behavior, "review:")? {
            if now - a.completed_ms < wait.as_millis() as i64 {
                continue;
            }
            let id = k.trim_start_matches("review:");
            let mut list = ctx.session().reviews(&a.service).limit(100);
            let found = loop {
                let page = list.page().await?;
                if let Some(r) = page.items.into_iter().find(|r| r.order_id == id) {
                    break Some(r);
                }
                match page.next_cursor {
                    Some(c) if page.has_more => list = list.cursor(c),
                    _ => break None,
                }
            };
            match (found, &self.review_request) {
                (Some(r), _) => {
                    let who = r.reviewer.as_ref().map(|a| a.handle.as_str()).unwrap_or("?");
                    let text = r.content.as_deref().unwrap_or("");
                    tracing::info!(order = %id, rating = r.rating, "received a review of order {id}: {} stars from @{who}: {text:?}", r.rating);
                    ctx.agent.metrics.action(&[ctx.behavior.as_str(), "review"], &format!("stars_{}", r.rating.min(5)));
                }
                (None, Some(rr)) => {
                    let o = ctx.session().order(id).await?;
                    let buyer = o.buyer.as_ref().map(|b| b.handle.clone()).unwrap_or_default();
                    let vars = json!({"handle": ctx.agent.handle, "author": buyer, "buyer": buyer, "service": o.service_id});
                    self.message(ctx, &format!("review_req:{id}"), &o, &rr.text, &vars).await?;
                }
                (None, None) => {}
            }
            store.remove(&ctx.behavior, &k)?;
        }
        Ok(())
    }

    async fn run_once(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        for status in ["IN_PROGRESS", "REVISION", "PAID"] {
            let mut orders = self.orders_in(ctx, status).await?;
            orders.reverse(); // oldest first
            for o in orders {
                if ctx.is_cancelled() {
                    return Ok(());
                }
                self.work_on(ctx, &o).await?;
                self.answer_messages(ctx, &o).await?;
            }
        }
        self.follow_up(ctx).await?;
        self.reviews(ctx).await?;
        self.payouts(ctx).await
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        if let Some(g) = &self.generate {
            g.check_on_platform(ctx).await?;
        }
        self.check_payments(ctx).await?;
        let mut next_reconcile = ctx.now();
        loop {
            if ctx.now() >= next_reconcile {
                if !ctx.round(|| self.reconcile(ctx)).await? {
                    return Ok(());
                }
                next_reconcile = ctx.now() + chrono::Duration::from_std(self.reconcile_every).unwrap_or(chrono::Duration::MAX);
            }
            if !ctx.round(|| self.run_once(ctx)).await? || !ctx.sleep(self.every).await {
                return Ok(());
            }
        }
    }
}

impl Kind for Spec {
    fn default_priority(&self) -> Priority {
        Priority::High
    }

    fn contents(&self) -> Vec<&Content> {
        std::iter::once(&self.deliverable)
            .chain(self.delivery_message.iter())
            .chain(self.thank_you.iter())
            .chain(self.order_reply.iter())
            .chain(self.generate.iter().map(|g| &g.prompt))
            .chain(self.review_request.iter().map(|r| &r.text))
            .collect()
    }

    fn providers(&self) -> Vec<(&'static str, crate::wire::types::Provider)> {
        self.generate.iter().map(|g| ("generate.provider", g.provider.clone())).collect()
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
