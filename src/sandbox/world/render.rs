//! How the emulator renders its records in the platform's wire shapes, all in
//! one place (the shapes are the client's own types, so both sides agree).

use super::*;

impl World {
    pub fn render_message(&self, m: &MsgRec, viewer: &str) -> Message {
        let read = self.conversations.get(&m.conv).map(|c| c.read_upto.get(viewer).copied().unwrap_or(0) >= m.seq).unwrap_or(false);
        Message {
            id: format!("msg_{}", m.seq),
            conversation_id: Some(format!("conv_{}", m.conv)),
            content: m.content.clone(),
            sender: Some(self.summary(&m.sender)),
            created_at: Some(iso(m.created_ms)),
            read,
        }
    }

    pub fn render_conversation(&self, c: &ConvRec, viewer: &str) -> Conversation {
        let last = self.last_message(c.seq).map(|m| self.render_message(m, viewer));
        Conversation {
            id: format!("conv_{}", c.seq),
            participants: c.participants.iter().map(|p| self.summary(p)).collect(),
            participant: c.participants.iter().find(|p| *p != viewer).map(|p| self.summary(p)),
            last_message: last,
            unread_count: self.unread_in(c, viewer),
            created_at: Some(iso(c.created_ms)),
        }
    }

    pub fn render_job(&self, j: &JobRec) -> GenerationJob {
        GenerationJob {
            id: format!("job_{}", j.seq),
            post_id: j.post.map(|p| format!("post_{p}")),
            provider: j.provider.clone(),
            generation_type: j.kind.clone(),
            prompt: j.prompt.clone(),
            model: j.model.clone(),
            status: j.status.clone(),
            error_message: j.error.clone(),
            retry_count: j.retry_count,
            result_url: j.result_url.clone(),
            created_at: Some(iso(j.created_ms)),
            completed_at: j.completed_ms.map(iso),
            post_content: j.content.clone(),
        }
    }

    pub fn render_post(&self, p: &PostRec, viewer: Option<&str>) -> Post {
        Post {
            id: format!("post_{}", p.seq),
            content: p.content.clone(),
            media_type: p.media_type.clone(),
            media_urls: p.media_urls.clone(),
            like_count: p.likes.len() as u64,
            comment_count: p.comment_count,
            repost_count: p.reposts.len() as u64 + p.quotes,
            view_count: p.views,
            amplify_count: p.amplifies.len() as u64,
            created_at: Some(iso(p.created_ms)),
            agent: Some(self.summary(&p.agent)),
            is_liked: viewer.is_some_and(|v| p.likes.contains_key(v)),
            is_reposted: viewer.is_some_and(|v| p.reposts.contains(v)),
            is_quote: p.is_quote,
            hashtags: p.hashtags.clone(),
            mentions: p.mentions.clone(),
            repost_of: p.repost_of.and_then(|s| self.posts.get(&s)).map(|q| Box::new(self.render_post(q, viewer))),
        }
    }

    pub fn render_comment(&self, c: &CommentRec) -> Comment {
        Comment {
            id: format!("cmt_{}", c.seq),
            content: c.content.clone(),
            created_at: Some(iso(c.created_ms)),
            agent: Some(self.summary(&c.agent)),
            parent_id: c.parent.map(|p| format!("cmt_{p}")),
            post_id: Some(if c.on_byte { format!("byte_{}", c.post) } else { format!("post_{}", c.post) }),
        }
    }

    /// The notification shape this sandbox serves (see `sandbox/mod.rs`).
    pub fn render_notification(&self, n: &NotifRec) -> Value {
        json!({
            "id": format!("ntf_{}", n.seq),
            "type": n.notification_type,
            "createdAt": iso(n.created_ms),
            "read": n.read,
            "actor": self.summary(&n.actor),
            "postId": n.post.map(|p| format!("post_{p}")),
            "commentId": n.comment.map(|c| format!("cmt_{c}")),
            "parentCommentId": n.parent_comment.map(|c| format!("cmt_{c}")),
            "content": n.content,
        })
    }

    pub fn summary(&self, id: &str) -> AgentSummary {
        match self.agents.get(id) {
            Some(a) => AgentSummary {
                id: a.id.clone(),
                handle: a.handle.clone(),
                name: a.name.clone(),
                avatar_url: a.avatar_url.clone(),
                verified: a.verified,
                agent_type: a.agent_type.clone(),
            },
            None => AgentSummary { id: id.into(), ..Default::default() },
        }
    }

    pub fn profile(&self, id: &str) -> Res<Profile> {
        let a = self.agent(id)?;
        let posts = self.posts_of.get(id).map_or(0, |s| s.len()) as u64;
        let level = level_of(a.axp);
        Ok(Profile {
            id: a.id.clone(),
            handle: a.handle.clone(),
            name: a.name.clone(),
            bio: a.bio.clone(),
            avatar_url: a.avatar_url.clone(),
            website_url: a.website_url.clone(),
            agent_type: a.agent_type.clone(),
            verified: a.verified,
            follower_count: a.followers.len() as u64,
            following_count: a.following.len() as u64,
            post_count: posts,
            created_at: Some(iso(a.created_ms)),
            stats: json!({"followers": a.followers.len(), "following": a.following.len(), "posts": posts}),
            capabilities: serde_json::to_value(&a.capabilities).unwrap_or_default(),
            gamification: json!({"axp": a.axp, "level": level}),
        })
    }
}

pub fn render_byte(w: &World, b: &crate::sandbox::world::ByteRec) -> Byte {
    Byte {
        id: format!("byte_{}", b.seq),
        caption: b.caption.clone(),
        video_url: Some(b.video_url.clone()),
        like_count: b.likes.len() as u64,
        comment_count: b.comment_count,
        agent: Some(w.summary(&b.agent)),
        created_at: Some(iso(b.created_ms)),
    }
}

pub fn render_service(w: &World, s: &ServiceRec, with_reviews: bool) -> Service {
    let reviews = || w.market.reviews_of.get(&s.seq).into_iter().flatten().filter_map(|r| w.reviews.get(r));
    Service {
        id: format!("svc_{}", s.seq),
        title: s.data.title.clone(),
        description: s.data.description.clone(),
        short_desc: s.data.short_desc.clone(),
        price: s.data.price,
        delivery_days: s.data.delivery_days,
        revisions: s.data.revisions,
        category: s.data.category.clone(),
        tags: s.data.tags.clone(),
        thumbnail_url: s.data.thumbnail_url.clone(),
        images: s.data.images.clone(),
        agent: Some(w.summary(&s.agent)),
        is_active: s.active,
        avg_rating: w.avg_rating(s.seq),
        order_count: w.order_count(s.seq),
        featured: false,
        created_at: Some(iso(s.created_ms)),
        reviews: if with_reviews { reviews().map(|r| render_review(w, r)).collect() } else { vec![] },
    }
}

pub fn render_review(w: &World, r: &ReviewRec) -> Review {
    Review {
        id: format!("rev_{}", r.seq),
        order_id: format!("ord_{}", r.order),
        service_id: format!("svc_{}", r.service),
        rating: r.data.rating,
        content: r.data.content.clone(),
        quality_rating: r.data.quality_rating,
        communication_rating: r.data.communication_rating,
        delivery_rating: r.data.delivery_rating,
        reviewer: Some(w.summary(&r.reviewer)),
        created_at: Some(iso(r.created_ms)),
    }
}

pub fn render_order(w: &World, o: &OrderRec) -> Order {
    Order {
        id: format!("ord_{}", o.seq),
        service_id: format!("svc_{}", o.service),
        buyer: Some(w.summary(&o.buyer)),
        seller: Some(w.summary(&o.seller)),
        status: o.status.clone(),
        requirements: o.requirements.clone(),
        deliverables: o.deliverables.clone(),
        payment_method: o.payment_method.clone(),
        amount: o.amount,
        revisions_used: o.revisions_used,
        client_secret: None,
        coinbase_checkout_url: None,
        created_at: Some(iso(o.created_ms)),
    }
}

pub fn render_media(m: &MediaRec) -> Media {
    Media {
        id: format!("media_{}", m.seq),
        media_id: None,
        url: m.url.clone(),
        pathname: m.url.rsplit_once(".invalid").map(|(_, p)| p.to_string()),
        content_type: Some(m.content_type.clone()),
        size: m.size,
        media_type: m.kind.clone(),
        purpose: m.purpose.clone(),
        created_at: Some(iso(m.created_ms)),
    }
}

pub fn render_connected(me: &str, provider: &str, rec: &(String, bool, i64)) -> ConnectedService {
    ConnectedService {
        id: format!("csvc_{me}_{provider}"),
        provider: Some(Provider::from(provider)),
        api_key: mask(&rec.0),
        is_active: rec.1,
        created_at: Some(iso(rec.2)),
        updated_at: Some(iso(rec.2)),
    }
}

fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}
