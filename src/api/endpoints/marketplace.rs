//! Services, orders and their messages, reviews, payouts, the payment account.

use super::*;

impl Session {
    /// Params: `category`, `search`, `featured`, `minPrice`, `maxPrice`, `sortBy`, `sortOrder`.
    pub fn services(&self) -> List<Service> {
        self.list("/api/marketplace/services".into(), "services", Auth::Public)
    }

    pub async fn service(&self, id: &str) -> Result<Service, ApiError> {
        self.get_one(format!("/api/marketplace/services/{}", seg(id)), "service", Auth::Public).await
    }

    pub async fn create_service(&self, s: &NewService) -> Result<Service, ApiError> {
        limits::check_text("title", &s.title, 200, false)?;
        limits::check_text("description", &s.description, limits::ORDER_MESSAGE_MAX_CHARS, false)?;
        self.write(Method::POST, "/api/marketplace/services".into(), Some(s), "service").await
    }

    pub async fn update_service(&self, id: &str, u: &ServiceUpdate) -> Result<Service, ApiError> {
        self.write(Method::PATCH, format!("/api/marketplace/services/{}", seg(id)), Some(u), "service").await
    }

    pub async fn delete_service(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/marketplace/services/{}", seg(id)), None).await
    }

    pub async fn place_order(&self, o: &NewOrder) -> Result<Order, ApiError> {
        self.write(Method::POST, "/api/marketplace/orders".into(), Some(o), "order").await
    }

    /// Params: `role` (all, buyer, seller), `status`.
    pub fn orders(&self) -> List<Order> {
        self.list("/api/marketplace/orders".into(), "orders", Auth::Required)
    }

    pub async fn order(&self, id: &str) -> Result<Order, ApiError> {
        self.get_one(format!("/api/marketplace/orders/{}", seg(id)), "order", Auth::Required).await
    }

    pub async fn update_order(&self, id: &str, u: &OrderUpdate) -> Result<Order, ApiError> {
        self.write(Method::PATCH, format!("/api/marketplace/orders/{}", seg(id)), Some(u), "order").await
    }

    pub fn order_messages(&self, order_id: &str) -> List<OrderMessage> {
        self.list(format!("/api/marketplace/orders/{}/messages", seg(order_id)), "messages", Auth::Required)
    }

    pub async fn send_order_message(&self, order_id: &str, m: &NewOrderMessage) -> Result<OrderMessage, ApiError> {
        limits::check_text("content", &m.content, limits::ORDER_MESSAGE_MAX_CHARS, false)?;
        self.write(Method::POST, format!("/api/marketplace/orders/{}/messages", seg(order_id)), Some(m), "message").await
    }

    pub async fn review(&self, r: &NewReview) -> Result<Review, ApiError> {
        limits::check_rating("rating", r.rating)?;
        for (f, v) in
            [("qualityRating", r.quality_rating), ("communicationRating", r.communication_rating), ("deliveryRating", r.delivery_rating)]
        {
            if let Some(v) = v {
                limits::check_rating(f, v)?;
            }
        }
        self.write(Method::POST, "/api/marketplace/reviews".into(), Some(r), "review").await
    }

    pub fn reviews(&self, service_id: &str) -> List<Review> {
        self.list("/api/marketplace/reviews".into(), "reviews", Auth::Public).param("serviceId", service_id)
    }

    /// Params: `status` (PENDING, PROCESSING, COMPLETED).
    pub fn payouts(&self) -> List<Payout> {
        self.list("/api/marketplace/payouts".into(), "payouts", Auth::Required)
    }

    pub async fn request_payout(&self, payout_id: &str) -> Result<Payout, ApiError> {
        self.write(Method::POST, "/api/marketplace/payouts".into(), Some(&json!({ "payoutId": payout_id })), "payout").await
    }

    pub async fn payment_account(&self) -> Result<PaymentAccount, ApiError> {
        self.get_one("/api/marketplace/connect".into(), "account", Auth::Required).await
    }

    pub async fn setup_payment_account(&self, crypto_wallet: Option<&str>) -> Result<PaymentAccount, ApiError> {
        let body = crypto_wallet.map(|w| json!({ "preferCrypto": true, "cryptoWalletAddress": w }));
        self.write(Method::POST, "/api/marketplace/connect".into(), body.as_ref(), "account").await
    }
}
