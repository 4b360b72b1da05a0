//! Posts, comments, likes, reposts, rendering.

use super::*;

impl World {
    /// A video is used "after processing completes" (the reference): refused until then.
    pub fn processed(&self, m: &MediaRec) -> Res<()> {
        if m.kind == Some(UploadType::Video) && now_ms() < m.created_ms + self.video_processing_ms {
            return Err(bad("media_processing", format!("media_{} is a video still processing; use it once processing completes", m.seq)));
        }
        Ok(())
    }

    pub fn create_post(&mut self, agent: &str, p: &NewPost) -> Res<(u64, Created)> {
        let has_media = !p.media_ids.is_empty() || !p.media_urls.is_empty();
        crate::wire::limits::check_text("content", &p.content, crate::wire::limits::POST_MAX_CHARS, has_media)
            .map_err(|e| bad("invalid_content", e.to_string()))?;
        crate::wire::limits::check_post_media(&p.media_ids, &p.media_urls).map_err(|e| bad("too_many_media", e.to_string()))?;
        let mut urls = vec![];
        let mut kinds = BTreeSet::new();
        for mid in &p.media_ids {
            let m = seq_of(mid)
                .and_then(|s| self.media.get(&s))
                .filter(|m| m.agent == agent)
                .ok_or_else(|| bad("invalid_media", format!("media {mid} not found")))?;
            self.processed(m)?;
            urls.push(m.url.clone());
            kinds.insert(m.kind.clone().map(|k| k.to_string()).unwrap_or_default());
        }
        // Images on the web (the SDK's `mediaUrls`) come after the uploaded ones.
        if !p.media_urls.is_empty() {
            kinds.insert("IMAGE".to_string());
            urls.extend(p.media_urls.iter().cloned());
        }
        if kinds.len() > 1 {
            return Err(bad("mixed_media", "cannot mix images and videos"));
        }
        if kinds.contains("VIDEO") && urls.len() > 1 {
            return Err(bad("too_many_media", "at most 1 video per post"));
        }
        let media_type = if has_media {
            Some(if kinds.contains("VIDEO") { MediaType::Video } else { MediaType::Image })
        } else {
            p.media_type.clone().or(Some(MediaType::Text))
        };
        Ok(self.insert_post(agent, &p.content, media_type, urls, None, false))
    }

    pub fn insert_post(
        &mut self,
        agent: &str,
        content: &str,
        media_type: Option<MediaType>,
        media_urls: Vec<String>,
        repost_of: Option<u64>,
        is_quote: bool,
    ) -> (u64, Created) {
        let seq = self.next_seq();
        let mentions = extract(content, '@');
        let rec = PostRec {
            seq,
            agent: agent.into(),
            content: content.into(),
            media_type,
            media_urls,
            created_ms: now_ms(),
            hashtags: extract(content, '#'),
            mentions: mentions.clone(),
            repost_of,
            is_quote,
            ..Default::default()
        };
        for t in &rec.hashtags {
            self.posts_by_tag.entry(t.to_lowercase()).or_default().insert(seq);
        }
        self.posts.insert(seq, rec);
        self.posts_of.entry(agent.to_string()).or_default().insert(seq);
        if let (true, Some(orig)) = (is_quote, repost_of.and_then(|o| self.posts.get_mut(&o))) {
            orig.quotes += 1;
        }
        self.discover_post(seq);
        self.award(agent, 10, "post");
        let mut created = vec![];
        for h in mentions {
            if let Some(target) = self.handles.get(&h).cloned() {
                created.extend(self.notify(&target, NotificationType::Mention, agent, Some(seq), None, Some(content)));
            }
        }
        (seq, created)
    }

    pub fn post(&self, id: &str) -> Res<&PostRec> {
        seq_of(id).filter(|_| id.starts_with("post_")).and_then(|s| self.posts.get(&s)).ok_or_else(|| not_found("post"))
    }

    pub fn delete_post(&mut self, agent: &str, id: &str) -> Res<()> {
        let p = self.post(id)?;
        if p.agent != agent {
            return Err(forbidden("you can only delete your own posts"));
        }
        let (seq, quoted) = (p.seq, p.repost_of.filter(|_| p.is_quote));
        for t in p.hashtags.clone() {
            if let Some(s) = self.posts_by_tag.get_mut(&t.to_lowercase()) {
                s.remove(&seq);
            }
        }
        if let Some(gone) = self.posts.remove(&seq) {
            self.forget_post(&gone);
        }
        if let Some(s) = self.posts_of.get_mut(agent) {
            s.remove(&seq);
        }
        if let Some(orig) = quoted.and_then(|o| self.posts.get_mut(&o)) {
            orig.quotes = orig.quotes.saturating_sub(1);
        }
        self.remove_comments_on(false, seq);
        Ok(())
    }

    pub fn add_comment(&mut self, agent: &str, post: u64, c: &NewComment, on_byte: bool) -> Res<(u64, Created)> {
        let max = if on_byte { crate::wire::limits::BYTE_COMMENT_MAX_CHARS } else { crate::wire::limits::COMMENT_MAX_CHARS };
        crate::wire::limits::check_text("content", &c.content, max, false).map_err(|e| bad("invalid_content", e.to_string()))?;
        let parent = match &c.parent_id {
            Some(pid) => {
                let ps = seq_of(pid).filter(|s| self.comments.get(s).is_some_and(|pc| pc.post == post && pc.on_byte == on_byte));
                Some(ps.ok_or_else(|| bad("invalid_parent", format!("parent comment {pid} is not on this post")))?)
            }
            None => None,
        };
        let seq = self.next_seq();
        self.comments
            .insert(seq, CommentRec { seq, post, agent: agent.into(), content: c.content.clone(), parent, created_ms: now_ms(), on_byte });
        self.comments_of.entry((on_byte, post)).or_default().insert(seq);
        self.award(agent, 2, "comment");
        let mut created = vec![];
        if on_byte {
            if let Some(b) = self.bytes.get_mut(&post) {
                b.comment_count += 1;
                let owner = b.agent.clone();
                created.extend(self.notify(&owner, NotificationType::Comment, agent, None, Some(seq), Some(&c.content)));
            }
            return Ok((seq, created));
        }
        let Some(post_author) = self.react(post, |p| {
            p.comment_count += 1;
            p.agent.clone()
        }) else {
            return Err(not_found("post"));
        };
        let parent_author = parent.and_then(|ps| self.comments.get(&ps)).map(|pc| pc.agent.clone());
        let mut told: BTreeSet<String> = BTreeSet::new();
        if let Some(pa) = &parent_author {
            if let Some(n) = self.notify(pa, NotificationType::Reply, agent, Some(post), Some(seq), Some(&c.content)) {
                created.push(n);
                told.insert(pa.clone());
            }
        }
        if !told.contains(&post_author) {
            if let Some(n) = self.notify(&post_author, NotificationType::Comment, agent, Some(post), Some(seq), Some(&c.content)) {
                created.push(n);
                told.insert(post_author.clone());
            }
        }
        for h in extract(&c.content, '@') {
            if let Some(target) = self.handles.get(&h).cloned() {
                if !told.contains(&target) {
                    created.extend(self.notify(&target, NotificationType::Mention, agent, Some(post), Some(seq), Some(&c.content)));
                    told.insert(target);
                }
            }
        }
        Ok((seq, created))
    }

    /// Deletes a comment and every reply below it; returns how many went.
    pub fn delete_comment(&mut self, agent: &str, post: u64, comment: &str) -> Res<u64> {
        let cs = seq_of(comment)
            .filter(|s| self.comments.get(s).is_some_and(|c| c.post == post && !c.on_byte))
            .ok_or_else(|| not_found("comment"))?;
        if self.comments.get(&cs).is_some_and(|c| c.agent != agent) {
            return Err(forbidden("you can only delete your own comments"));
        }
        let mut doomed = BTreeSet::from([cs]);
        let on_post: Vec<u64> = self.comments_of.get(&(false, post)).map(|s| s.iter().copied().collect()).unwrap_or_default();
        loop {
            let more: Vec<u64> = on_post
                .iter()
                .filter_map(|s| self.comments.get(s))
                .filter(|c| c.parent.is_some_and(|p| doomed.contains(&p)) && !doomed.contains(&c.seq))
                .map(|c| c.seq)
                .collect();
            if more.is_empty() {
                break;
            }
            doomed.extend(more);
        }
        for d in &doomed {
            self.comments.remove(d);
            if let Some(s) = self.comments_of.get_mut(&(false, post)) {
                s.remove(d);
            }
        }
        self.react(post, |p| p.comment_count = p.comment_count.saturating_sub(doomed.len() as u64));
        Ok(doomed.len() as u64)
    }

    /// Removes every comment on a post (`on_byte` false) or a byte.
    pub fn remove_comments_on(&mut self, on_byte: bool, seq: u64) {
        for c in self.comments_of.remove(&(on_byte, seq)).unwrap_or_default() {
            self.comments.remove(&c);
        }
    }
}
