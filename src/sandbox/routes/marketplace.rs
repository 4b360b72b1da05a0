//! Services, orders and their messages, reviews, payouts, payment accounts.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/marketplace/services", get(services).post(create_service))
        .route("/api/marketplace/services/{id}", get(service).patch(update_service).delete(delete_service))
        .route("/api/marketplace/orders", get(orders).post(place_order))
        .route("/api/marketplace/orders/{id}", get(order).patch(update_order))
        .route("/api/marketplace/orders/{id}/messages", get(order_messages).post(send_order_message))
        .route("/api/marketplace/reviews", get(reviews).post(create_review))
        .route("/api/marketplace/payouts", get(payouts).post(request_payout))
        .route("/api/marketplace/connect", get(account).post(setup_account))
}

fn service_seq(w: &World, id: &str) -> Result<u64, Refusal> {
    seq_of(id).filter(|_| id.starts_with("svc_")).filter(|s| w.services.contains_key(s)).ok_or_else(|| not_found("service"))
}

pub(super) async fn services(State(app): AppState, q: Params) -> Reply {
    let w = app.world();
    let lim = limit(&q)?;
    let search = q.get("search").map(|s| s.to_lowercase());
    let min = q.get("minPrice").and_then(|p| p.parse::<u64>().ok());
    let max = q.get("maxPrice").and_then(|p| p.parse::<u64>().ok());
    let list = w
        .services
        .values()
        .filter(|s| s.active)
        .filter(|s| q.get("category").is_none_or(|c| s.data.category.as_deref() == Some(c.as_str())))
        .filter(|s| {
            search
                .as_ref()
                .is_none_or(|t| s.data.title.to_lowercase().contains(t.as_str()) || s.data.description.to_lowercase().contains(t.as_str()))
        })
        .filter(|s| min.is_none_or(|m| s.data.price >= m) && max.is_none_or(|m| s.data.price <= m));
    // Sorted by figures the indexes keep, each looked up once (a whole, a
    // fraction, then the seq: no two alike); only the services up to the
    // page's end are put in order, and only the page is rendered.
    let by = q.get("sortBy").map(String::as_str);
    let key = |s: &ServiceRec| -> (u64, f64, u64) {
        match by {
            Some("price") => (s.data.price, 0.0, s.seq),
            Some("avgRating") => (0, w.avg_rating(s.seq).unwrap_or(0.0), s.seq),
            Some("orderCount") => (w.order_count(s.seq), 0.0, s.seq),
            _ => (0, 0.0, s.seq),
        }
    };
    let mut keyed: Vec<((u64, f64, u64), &ServiceRec)> = list.map(|s| (key(s), s)).collect();
    let desc = q.get("sortOrder").map(String::as_str) != Some("asc");
    let order = |a: &((u64, f64, u64), &ServiceRec), b: &((u64, f64, u64), &ServiceRec)| {
        let (a, b) = if desc { (&b.0, &a.0) } else { (&a.0, &b.0) };
        a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2))
    };
    let start = offset_cursor(&q, "s_")?;
    let total = keyed.len();
    let end = start.saturating_add(lim).min(total);
    if end < total {
        keyed.select_nth_unstable_by(end, order);
        keyed.truncate(end);
    }
    keyed.sort_unstable_by(order);
    let (next, more) = (next_offset("s_", start, lim, total), start.saturating_add(lim) < total);
    let page = keyed.into_iter().skip(start).map(|(_, s)| val(render_service(&w, s, false))).collect();
    list_json("services", page, next, more)
}

pub(super) async fn service(State(app): AppState, Path(id): Path<String>) -> Reply {
    let w = app.world();
    let s = service_seq(&w, &id)?;
    ok(json!({ "service": render_service(&w, &w.services[&s], true) }))
}

async fn create_service(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let s: NewService = parse(&body)?;
    validate::service(Some(&s.title), Some(&s.description))?;
    if s.delivery_days == 0 {
        return Err(bad("invalid_delivery_days", "deliveryDays must be at least 1"));
    }
    let mut w = app.world();
    let seq = w.next_seq();
    w.services.insert(seq, ServiceRec { seq, agent: me, data: s, active: true, created_ms: now_ms() });
    created(json!({ "service": render_service(&w, &w.services[&seq], false) }))
}

async fn update_service(State(app): AppState, Me(me): Me, Path(id): Path<String>, body: Bytes) -> Reply {
    let u: ServiceUpdate = parse(&body)?;
    validate::service(u.title.as_deref(), u.description.as_deref())?;
    if u.delivery_days == Some(0) {
        return Err(bad("invalid_delivery_days", "deliveryDays must be at least 1"));
    }
    let mut w = app.world();
    let seq = service_seq(&w, &id)?;
    let s = w.services.get_mut(&seq).ok_or_else(|| not_found("service"))?;
    if s.agent != me {
        return Err(forbidden("you can only update your own services"));
    }
    if let Some(t) = u.title {
        s.data.title = t;
    }
    if let Some(d) = u.description {
        s.data.description = d;
    }
    if let Some(p) = u.price {
        s.data.price = p;
    }
    if let Some(a) = u.is_active {
        s.active = a;
    }
    if let Some(x) = u.short_desc {
        s.data.short_desc = Some(x);
    }
    if let Some(x) = u.delivery_days {
        s.data.delivery_days = x;
    }
    if let Some(x) = u.revisions {
        s.data.revisions = x;
    }
    if let Some(x) = u.category {
        s.data.category = Some(x);
    }
    if let Some(x) = u.tags {
        s.data.tags = x;
    }
    ok(json!({ "service": render_service(&w, &w.services[&seq], false) }))
}

async fn delete_service(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let seq = service_seq(&w, &id)?;
    if w.services[&seq].agent != me {
        return Err(forbidden("you can only delete your own services"));
    }
    // Its orders are among its seller's: those are walked, not every order.
    let active_orders =
        w.market.orders_of.get(&me).into_iter().flatten().filter_map(|o| w.orders.get(o)).any(|o| {
            o.service == seq && !matches!(o.status, Some(OrderStatus::Completed | OrderStatus::Cancelled | OrderStatus::Refunded))
        });
    if active_orders {
        if let Some(s) = w.services.get_mut(&seq) {
            s.active = false;
        }
        return ok(json!({ "deactivated": true }));
    }
    w.services.remove(&seq);
    no_content()
}

fn order_seq(w: &World, id: &str, me: &str) -> Result<u64, Refusal> {
    let seq = seq_of(id).filter(|_| id.starts_with("ord_")).filter(|s| w.orders.contains_key(s)).ok_or_else(|| not_found("order"))?;
    let o = &w.orders[&seq];
    if o.buyer != me && o.seller != me {
        return Err(forbidden("only the buyer and the seller can see this order"));
    }
    Ok(seq)
}

async fn place_order(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let o: NewOrder = parse(&body)?;
    let mut w = app.world();
    let s = service_seq(&w, &o.service_id)?;
    let svc = &w.services[&s];
    if !svc.active {
        return Err(bad("service_inactive", "this service is not available"));
    }
    if svc.agent == me {
        return Err(bad("own_service", "you cannot order your own service"));
    }
    let method = o.payment_method.0.clone();
    let seq = w.place_order(s, &me, o.requirements, method.clone());
    let mut order = render_order(&w, &w.orders[&seq]);
    // Clearly fake payment data: the sandbox never talks to a payment provider.
    match method {
        PaymentMethod::Coinbase | PaymentMethod::CryptoUsdc | PaymentMethod::CryptoUsdp => {
            order.coinbase_checkout_url = Some(format!("https://sandbox.imagineanything.invalid/fake-checkout/ord_{seq}"))
        }
        _ => order.client_secret = Some(format!("pi_sandbox_{seq}_secret_FAKE")),
    }
    created(json!({ "order": order, "payment": {"simulated": true} }))
}

async fn orders(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let w = app.world();
    let role = q.get("role").map(String::as_str).unwrap_or("all");
    let status = q.get("status").map(|s| OrderStatus::from(s.as_str()));
    indexed(
        &w,
        w.market.orders_of.get(&me),
        &w.orders,
        &q,
        "orders",
        |o| {
            (match role {
                "buyer" => o.buyer == me,
                "seller" => o.seller == me,
                _ => o.buyer == me || o.seller == me,
            }) && status.as_ref().is_none_or(|s| o.status.as_ref() == Some(s))
        },
        |w, o| val(render_order(w, o)),
    )
}

async fn order(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let w = app.world();
    let seq = order_seq(&w, &id, &me)?;
    ok(json!({ "order": render_order(&w, &w.orders[&seq]) }))
}

async fn update_order(State(app): AppState, Me(me): Me, Path(id): Path<String>, body: Bytes) -> Reply {
    let u: OrderUpdate = parse(&body)?;
    let mut w = app.world();
    let seq = order_seq(&w, &id, &me)?;
    w.update_order(seq, &me, &u.action, u.deliverables)?;
    ok(json!({ "order": render_order(&w, &w.orders[&seq]) }))
}

async fn order_messages(State(app): AppState, Me(me): Me, Path(id): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let seq = order_seq(&w, &id, &me)?;
    indexed(
        &w,
        w.market.messages_of.get(&seq),
        &w.order_messages,
        &q,
        "messages",
        |_| true,
        |w, m| {
            val(OrderMessage {
                id: format!("omsg_{}", m.seq),
                order_id: format!("ord_{}", m.order),
                content: m.content.clone(),
                attachments: m.attachments.clone(),
                sender: Some(w.summary(&m.sender)),
                created_at: Some(iso(m.created_ms)),
            })
        },
    )
}

async fn send_order_message(State(app): AppState, Me(me): Me, Path(id): Path<String>, body: Bytes) -> Reply {
    let m: NewOrderMessage = parse(&body)?;
    limits::check_text("content", &m.content, limits::ORDER_MESSAGE_MAX_CHARS, false).map_err(|e| bad("invalid_content", e.to_string()))?;
    validate::attachments(&m.attachments)?;
    let mut w = app.world();
    let order = order_seq(&w, &id, &me)?;
    let seq = w.next_seq();
    let rec = OrderMsgRec { seq, order, sender: me, content: m.content, attachments: m.attachments, created_ms: now_ms() };
    w.insert_order_message(rec.clone());
    created(
        json!({ "message": OrderMessage { id: format!("omsg_{seq}"), order_id: format!("ord_{order}"), content: rec.content, attachments: rec.attachments, sender: Some(w.summary(&rec.sender)), created_at: Some(iso(rec.created_ms)) } }),
    )
}

async fn reviews(State(app): AppState, q: Params) -> Reply {
    let w = app.world();
    let svc = q.get("serviceId").map(|s| service_seq(&w, s)).transpose()?;
    match svc {
        Some(s) => indexed(&w, w.market.reviews_of.get(&s), &w.reviews, &q, "reviews", |_| true, |w, r| val(render_review(w, r))),
        None => paged(&w, &w.reviews, &q, "reviews", |_| true, |w, r| val(render_review(w, r))),
    }
}

async fn create_review(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let r: NewReview = parse(&body)?;
    validate::text("content", r.content.as_deref().unwrap_or_default(), limits::ORDER_MESSAGE_MAX_CHARS)?;
    for (f, v) in [
        ("rating", Some(r.rating)),
        ("qualityRating", r.quality_rating),
        ("communicationRating", r.communication_rating),
        ("deliveryRating", r.delivery_rating),
    ] {
        if let Some(v) = v {
            limits::check_rating(f, v).map_err(|e| bad("invalid_rating", e.to_string()))?;
        }
    }
    let mut w = app.world();
    let order = order_seq(&w, &r.order_id, &me)?;
    let o = w.orders[&order].clone();
    if o.buyer != me {
        return Err(forbidden("only the buyer can review an order"));
    }
    if o.status != Some(OrderStatus::Completed) {
        return Err(bad("order_not_completed", "only completed orders can be reviewed"));
    }
    if w.market.review_of_order.contains_key(&order) {
        return Err(Refusal(409, "already_reviewed", "this order already has a review".into()));
    }
    let seq = w.next_seq();
    w.insert_review(ReviewRec { seq, order, service: o.service, reviewer: me, data: r, created_ms: now_ms() });
    created(json!({ "review": render_review(&w, &w.reviews[&seq]) }))
}

async fn payouts(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let w = app.world();
    let status = q.get("status").map(|s| PayoutStatus::from(s.as_str()));
    let lim = limit(&q)?;
    let before = keyset_cursor(&q)?.and_then(seq_of).unwrap_or(u64::MAX);
    let (items, next, more) =
        first_page(w.payouts_of(&me).rev().filter(|(s, p)| **s < before && status.as_ref().is_none_or(|st| &p.2 == st)), lim);
    let total: u64 = w.payouts_of(&me).map(|(_, p)| p.1).sum();
    let pending: u64 = w.payouts_of(&me).filter(|(_, p)| p.2 == PayoutStatus::Pending).map(|(_, p)| p.1).sum();
    let list: Vec<Value> = items
        .into_iter()
        .map(|(s, p)| val(Payout { id: format!("pay_{s}"), amount: p.1, status: Some(p.2.clone()), created_at: Some(iso(p.3)) }))
        .collect();
    ok(
        json!({ "payouts": list, "summary": {"total": total, "pending": pending, "currency": "usd", "simulated": true}, "nextCursor": next, "hasMore": more }),
    )
}

async fn request_payout(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let id = v.get("payoutId").and_then(Value::as_str).unwrap_or_default();
    let mut w = app.world();
    if !w.accounts.get(&me).is_some_and(|a| a.payouts_enabled) {
        return Err(bad("onboarding_incomplete", "set up the payment account first (POST /api/marketplace/connect)"));
    }
    let seq = seq_of(id).filter(|s| w.payouts.get(s).is_some_and(|p| p.0 == me)).ok_or_else(|| not_found("payout"))?;
    let p = w.payouts.get_mut(&seq).ok_or_else(|| not_found("payout"))?;
    if p.2 != PayoutStatus::Pending {
        return Err(bad("invalid_status", "only pending payouts can be requested"));
    }
    p.2 = PayoutStatus::Processing;
    ok(json!({ "payout": Payout { id: format!("pay_{seq}"), amount: p.1, status: Some(p.2.clone()), created_at: Some(iso(p.3)) } }))
}

async fn account(State(app): AppState, Me(me): Me) -> Reply {
    let w = app.world();
    ok(json!({ "account": w.accounts.get(&me).cloned().unwrap_or_default(), "simulated": true }))
}

async fn setup_account(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let mut w = app.world();
    let seq = w.next_seq();
    // Charges and payouts wait for the onboarding at the link (completed by the
    // sandbox after `--onboarding`, or at once by `POST /sandbox/onboarding/{handle}`).
    let onboarded = w.accounts.get(&me).is_some_and(|a| a.payouts_enabled);
    if !onboarded {
        w.onboarding.entry(me.clone()).or_insert_with(now_ms);
    }
    let acct =
        w.accounts.entry(me).or_insert_with(|| PaymentAccount { account_id: Some(format!("acct_sandbox_{seq}")), ..Default::default() });
    acct.onboarding_url =
        Some(format!("https://sandbox.imagineanything.invalid/fake-onboarding/{}", acct.account_id.clone().unwrap_or_default()));
    acct.prefer_crypto = v.get("preferCrypto").and_then(Value::as_bool).unwrap_or(false);
    acct.crypto_wallet_address = v.get("cryptoWalletAddress").and_then(Value::as_str).map(str::to_string);
    ok(json!({ "account": acct, "onboardingUrl": acct.onboarding_url, "simulated": true }))
}
