//! The marketplace's rules: placing an order (it waits for its payment, as
//! the reference's states begin at PENDING_PAYMENT), the checkout that pays
//! it, the order state machine, what completing an order pays (90% to the
//! seller, XP), and the payment account's onboarding.

use super::*;

/// The seller's share of a completed order, in percent.
pub const SELLER_SHARE_PERCENT: u64 = 90;
/// XP the seller earns for a completed order.
pub const COMPLETED_ORDER_XP: i64 = 20;

/// Orders, reviews and order messages by what they belong to, so a page or
/// a service's figures cost what they show (derived: rebuilt by
/// [`World::reindex`], kept by the methods that insert them).
#[derive(Debug, Clone, Default)]
pub struct MarketIndex {
    /// Order seqs per buyer and per seller.
    pub orders_of: HashMap<String, BTreeSet<u64>>,
    /// Orders placed per service.
    pub order_count: HashMap<u64, u64>,
    /// Review seqs per service.
    pub reviews_of: HashMap<u64, BTreeSet<u64>>,
    /// Per service: the reviews' count and the sum of their ratings.
    pub ratings: HashMap<u64, (u64, u64)>,
    /// The review of each reviewed order.
    pub review_of_order: HashMap<u64, u64>,
    /// Message seqs per order.
    pub messages_of: HashMap<u64, BTreeSet<u64>>,
    /// Payout seqs per seller.
    pub payouts_of: HashMap<String, BTreeSet<u64>>,
    /// Orders waiting for their payment (PENDING_PAYMENT).
    pub awaiting_payment: BTreeSet<u64>,
}

impl MarketIndex {
    fn order(&mut self, o: &OrderRec) {
        for who in [&o.buyer, &o.seller] {
            self.orders_of.entry(who.clone()).or_default().insert(o.seq);
        }
        *self.order_count.entry(o.service).or_default() += 1;
        if o.status == Some(OrderStatus::PendingPayment) {
            self.awaiting_payment.insert(o.seq);
        }
    }

    fn review(&mut self, r: &ReviewRec) {
        self.reviews_of.entry(r.service).or_default().insert(r.seq);
        self.review_of_order.insert(r.order, r.seq);
        let (n, sum) = self.ratings.entry(r.service).or_default();
        *n += 1;
        *sum += u64::from(r.data.rating);
    }
}

impl World {
    /// Rebuilds [`MarketIndex`].
    pub(super) fn reindex_market(&mut self) {
        let mut m = MarketIndex::default();
        self.orders.values().for_each(|o| m.order(o));
        self.reviews.values().for_each(|r| m.review(r));
        for x in self.order_messages.values() {
            m.messages_of.entry(x.order).or_default().insert(x.seq);
        }
        for (seq, p) in &self.payouts {
            m.payouts_of.entry(p.0.clone()).or_default().insert(*seq);
        }
        self.market = m;
    }

    /// Keeps a review (the caller checked it may be written).
    pub fn insert_review(&mut self, rec: ReviewRec) {
        self.market.review(&rec);
        self.reviews.insert(rec.seq, rec);
    }

    /// Keeps a message of an order.
    pub fn insert_order_message(&mut self, rec: OrderMsgRec) {
        self.market.messages_of.entry(rec.order).or_default().insert(rec.seq);
        self.order_messages.insert(rec.seq, rec);
    }

    /// A service's average rating, if it has reviews.
    pub fn avg_rating(&self, service: u64) -> Option<f64> {
        self.market.ratings.get(&service).filter(|(n, _)| *n > 0).map(|(n, sum)| *sum as f64 / *n as f64)
    }

    /// How many orders a service has had.
    pub fn order_count(&self, service: u64) -> u64 {
        self.market.order_count.get(&service).copied().unwrap_or(0)
    }

    /// The orders `agent` bought or sold, oldest first.
    pub fn orders_of<'a>(&'a self, agent: &str) -> impl DoubleEndedIterator<Item = &'a OrderRec> + 'a {
        self.market.orders_of.get(agent).into_iter().flatten().filter_map(|s| self.orders.get(s))
    }

    /// The payouts of a seller, oldest first.
    pub fn payouts_of<'a>(&'a self, seller: &str) -> impl DoubleEndedIterator<Item = (&'a u64, &'a PayoutRec)> + 'a {
        self.market.payouts_of.get(seller).into_iter().flatten().filter_map(|s| self.payouts.get_key_value(s))
    }

    /// The messages of an order, oldest first.
    pub fn order_messages_of(&self, order: u64) -> impl DoubleEndedIterator<Item = &OrderMsgRec> + '_ {
        self.market.messages_of.get(&order).into_iter().flatten().filter_map(|s| self.order_messages.get(s))
    }

    /// `reviewer`'s review of completed order `order` (one per order); its seq.
    pub fn add_review(&mut self, order: u64, reviewer: &str, rating: u8, content: String) -> Option<u64> {
        let o = self.orders.get(&order)?;
        if o.status != Some(OrderStatus::Completed) || o.buyer != reviewer || self.market.review_of_order.contains_key(&order) {
            return None;
        }
        let (service, seq) = (o.service, self.next_seq());
        let data = NewReview { order_id: format!("ord_{order}"), rating, content: Some(content), ..Default::default() };
        self.insert_review(ReviewRec { seq, order, service, reviewer: reviewer.to_string(), data, created_ms: now_ms() });
        Some(seq)
    }

    /// Places a paid order of service `service` by `buyer` (the service is known active and not the buyer's).
    pub fn place_order(&mut self, service: u64, buyer: &str, requirements: Option<String>, method: PaymentMethod) -> u64 {
        let (seller, amount) = (self.services[&service].agent.clone(), self.services[&service].data.price);
        let seq = self.next_seq();
        let rec = OrderRec {
            seq,
            service,
            buyer: buyer.to_string(),
            seller,
            status: Some(OrderStatus::PendingPayment),
            requirements,
            deliverables: None,
            payment_method: Some(method),
            amount,
            revisions_used: 0,
            created_ms: now_ms(),
        };
        self.market.order(&rec);
        self.orders.insert(seq, rec);
        seq
    }

    /// The buyer completed the checkout of order `seq`: PENDING_PAYMENT -> PAID
    /// (false when it was not waiting for its payment).
    pub fn pay(&mut self, seq: u64) -> bool {
        self.market.awaiting_payment.remove(&seq);
        match self.orders.get_mut(&seq) {
            Some(o) if o.status == Some(OrderStatus::PendingPayment) => {
                o.status = Some(OrderStatus::Paid);
                true
            }
            _ => false,
        }
    }

    /// Completes the checkouts of orders placed at least `after_ms` ago (the
    /// simulated buyers pay); the orders paid.
    pub fn complete_checkouts(&mut self, after_ms: i64) -> Vec<u64> {
        let due = now_ms() - after_ms;
        let ready: Vec<u64> =
            self.market.awaiting_payment.iter().copied().filter(|s| self.orders.get(s).is_none_or(|o| o.created_ms <= due)).collect();
        ready.into_iter().filter(|s| self.pay(*s)).collect()
    }

    /// Completes the payment account onboardings started at least `after_ms` ago.
    pub fn complete_onboardings(&mut self, after_ms: i64) {
        let due = now_ms() - after_ms;
        let done: Vec<String> = self.onboarding.iter().filter(|(_, t)| **t <= due).map(|(a, _)| a.clone()).collect();
        for a in done {
            self.complete_onboarding(&a);
        }
    }

    /// The agent finished the payment provider's onboarding: charges and payouts enabled.
    pub fn complete_onboarding(&mut self, agent: &str) -> bool {
        self.onboarding.remove(agent);
        match self.accounts.get_mut(agent) {
            Some(a) => {
                a.charges_enabled = true;
                a.payouts_enabled = true;
                true
            }
            None => false,
        }
    }

    /// Applies `action` by `me` to order `seq`: the state machine, revisions, deliverables, and the payout and XP of a completion.
    pub fn update_order(&mut self, seq: u64, me: &str, action: &OrderAction, deliverables: Option<String>) -> Res<()> {
        let o = self.orders.get(&seq).cloned().ok_or_else(|| not_found("order"))?;
        let allowed = self.services.get(&o.service).map(|s| s.data.revisions).unwrap_or(0);
        let to = transition(&o, me, action, allowed)?;
        if matches!(action, OrderAction::Deliver) && deliverables.as_deref().is_none_or(|d| d.trim().is_empty()) {
            return Err(bad("missing_deliverables", "deliver needs deliverables"));
        }
        let completed = to == OrderStatus::Completed;
        let om = self.orders.get_mut(&seq).ok_or_else(|| not_found("order"))?;
        if matches!(action, OrderAction::RequestRevision) {
            om.revisions_used += 1;
        }
        if deliverables.is_some() {
            om.deliverables = deliverables;
        }
        om.status = Some(to);
        self.market.awaiting_payment.remove(&seq);
        if completed {
            let p = self.next_seq();
            self.payouts.insert(p, (o.seller.clone(), o.amount * SELLER_SHARE_PERCENT / 100, PayoutStatus::Pending, now_ms()));
            self.market.payouts_of.entry(o.seller.clone()).or_default().insert(p);
            self.award(&o.seller, COMPLETED_ORDER_XP, "order completed");
        }
        Ok(())
    }
}

/// The order state machine: who may do what from which status.
pub fn transition(o: &OrderRec, me: &str, action: &OrderAction, revisions_allowed: u32) -> Result<OrderStatus, Refusal> {
    use OrderStatus as St;
    let buyer = o.buyer == me;
    let seller = o.seller == me;
    let status = o.status.clone().unwrap_or(St::Paid);
    let (allowed_from, who_ok, to): (&[St], bool, St) = match action {
        OrderAction::Start => (&[St::Paid, St::Revision], seller, St::InProgress),
        OrderAction::Deliver => (&[St::InProgress], seller, St::Delivered),
        OrderAction::Accept => (&[St::Delivered], buyer, St::Completed),
        OrderAction::RequestRevision => (&[St::Delivered], buyer, St::Revision),
        OrderAction::Dispute => (&[St::Paid, St::InProgress, St::Delivered, St::Revision], buyer || seller, St::Disputed),
        OrderAction::Cancel => (
            if seller { &[St::PendingPayment, St::Paid, St::InProgress] } else { &[St::PendingPayment, St::Paid] },
            buyer || seller,
            St::Cancelled,
        ),
        OrderAction::Other(a) => return Err(bad("invalid_action", format!("unknown action {a}"))),
    };
    if !who_ok {
        return Err(forbidden(format!("you may not {action} this order")));
    }
    if !allowed_from.contains(&status) {
        return Err(bad("invalid_transition", format!("cannot {action} an order that is {status}")));
    }
    if matches!(action, OrderAction::RequestRevision) && o.revisions_used >= revisions_allowed {
        return Err(bad("no_revisions_left", format!("all {revisions_allowed} revisions were used")));
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: OrderStatus, revisions_used: u32) -> OrderRec {
        OrderRec { buyer: "b".into(), seller: "s".into(), status: Some(status), revisions_used, ..OrderRec::default() }
    }

    #[test]
    fn who_may_do_what_from_which_status() {
        use OrderAction as A;
        use OrderStatus as St;
        let ok = |st: St, who: &str, a: A| transition(&order(st, 0), who, &a, 1).ok();
        assert_eq!(ok(St::Paid, "s", A::Start), Some(St::InProgress));
        assert_eq!(ok(St::Paid, "b", A::Start), None, "only the seller starts");
        assert_eq!(ok(St::InProgress, "s", A::Deliver), Some(St::Delivered));
        assert_eq!(ok(St::Paid, "s", A::Deliver), None, "deliver only what is in progress");
        assert_eq!(ok(St::Delivered, "b", A::Accept), Some(St::Completed));
        assert_eq!(ok(St::Delivered, "s", A::Accept), None, "only the buyer accepts");
        assert_eq!(ok(St::Delivered, "b", A::RequestRevision), Some(St::Revision));
        assert_eq!(ok(St::Revision, "s", A::Start), Some(St::InProgress));
        assert_eq!(ok(St::Paid, "b", A::Cancel), Some(St::Cancelled));
        assert_eq!(ok(St::PendingPayment, "b", A::Cancel), Some(St::Cancelled), "an unpaid order is cancelled by either side");
        assert_eq!(ok(St::PendingPayment, "s", A::Start), None, "never started before its payment");
        assert_eq!(ok(St::InProgress, "b", A::Cancel), None, "the buyer cancels only before work starts");
        assert_eq!(ok(St::InProgress, "s", A::Cancel), Some(St::Cancelled));
        assert_eq!(ok(St::Delivered, "b", A::Dispute), Some(St::Disputed));
        assert_eq!(ok(St::Completed, "b", A::Dispute), None);
        assert_eq!(ok(St::Paid, "x", A::Cancel), None, "strangers may do nothing");
        let used = transition(&order(St::Delivered, 1), "b", &A::RequestRevision, 1).unwrap_err();
        assert_eq!(used.code(), "no_revisions_left");
        assert_eq!(transition(&order(St::Paid, 0), "s", &A::Other("fly".into()), 1).unwrap_err().code(), "invalid_action");
    }

    #[test]
    fn completing_an_order_pays_the_seller_ninety_percent_and_xp() {
        let mut w = World::new(1);
        let seller = w.register(&NewAgent { handle: "seller_a".into(), name: "S".into(), ..Default::default() }, false).unwrap().0.id;
        let buyer = w.register(&NewAgent { handle: "buyer_b".into(), name: "B".into(), ..Default::default() }, false).unwrap().0.id;
        let svc = w.next_seq();
        let data =
            NewService { title: "t".into(), description: "d".into(), price: 1000, delivery_days: 1, revisions: 0, ..Default::default() };
        w.services.insert(svc, ServiceRec { seq: svc, agent: seller.clone(), data, active: true, created_ms: 0 });
        let o = w.place_order(svc, &buyer, None, PaymentMethod::Card);
        let xp = w.agents[&seller].axp;
        assert_eq!(w.update_order(o, &seller, &OrderAction::Start, None).unwrap_err().code(), "invalid_transition", "unpaid");
        assert!(w.pay(o) && !w.pay(o), "paid once");
        w.update_order(o, &seller, &OrderAction::Start, None).unwrap();
        assert_eq!(w.update_order(o, &seller, &OrderAction::Deliver, None).unwrap_err().code(), "missing_deliverables");
        w.update_order(o, &seller, &OrderAction::Deliver, Some("done".into())).unwrap();
        assert!(w.payouts.is_empty());
        w.update_order(o, &buyer, &OrderAction::Accept, None).unwrap();
        let payouts: Vec<_> = w.payouts.values().collect();
        assert_eq!(payouts.len(), 1);
        assert_eq!((payouts[0].0.as_str(), payouts[0].1), (seller.as_str(), 900));
        assert_eq!(w.agents[&seller].axp, xp + COMPLETED_ORDER_XP as u64);
    }
}
