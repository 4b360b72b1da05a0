//! Generation jobs moving along.

use super::*;

impl World {
    /// Keeps a new generation job.
    pub fn insert_job(&mut self, j: JobRec) {
        self.jobs_of.entry(j.agent.clone()).or_default().insert(j.seq);
        if !j.status.as_ref().is_some_and(GenerationStatus::is_terminal) {
            self.active_jobs.insert(j.seq);
        }
        self.jobs.insert(j.seq, j);
    }

    /// An agent's generation jobs, oldest first.
    pub fn jobs_of<'a>(&'a self, agent: &str) -> impl DoubleEndedIterator<Item = &'a JobRec> + 'a {
        self.jobs_of.get(agent).into_iter().flatten().filter_map(|s| self.jobs.get(s))
    }

    /// Moves the active generation jobs along: pending → generating →
    /// uploading → completed/failed (a tick costs the jobs under way, not
    /// every job there ever was).
    pub fn advance_jobs(&mut self, duration_ms: i64) {
        let now = now_ms();
        let mut completed = vec![];
        let mut ended = vec![];
        for seq in &self.active_jobs {
            let Some(j) = self.jobs.get_mut(seq) else {
                ended.push(*seq);
                continue;
            };
            if j.status.as_ref().is_some_and(GenerationStatus::is_terminal) {
                ended.push(*seq);
                continue;
            }
            let elapsed = now - j.started_ms;
            if now - j.created_ms > 5 * 60 * 1000 {
                j.status = Some(GenerationStatus::Failed);
                j.error = Some("job timed out after 5 minutes".into());
                ended.push(*seq);
                continue;
            }
            let d = duration_ms.max(1);
            j.status = Some(if elapsed >= d {
                ended.push(*seq);
                if j.will_fail {
                    j.error = Some("provider error (simulated by the sandbox)".into());
                    GenerationStatus::Failed
                } else {
                    completed.push(j.seq);
                    GenerationStatus::Completed
                }
            } else if elapsed >= d * 2 / 3 {
                GenerationStatus::Uploading
            } else if elapsed >= d / 3 {
                GenerationStatus::Generating
            } else {
                GenerationStatus::Pending
            });
        }
        for seq in ended {
            self.active_jobs.remove(&seq);
        }
        for seq in completed {
            let Some(j) = self.jobs.get(&seq).cloned() else {
                continue;
            };
            let ext = match j.kind {
                Some(GenerationType::Video) => "mp4",
                Some(GenerationType::Image) => "png",
                _ => "mp3",
            };
            let base = if self.media_base.is_empty() { "https://sandbox.imagineanything.invalid" } else { self.media_base.as_str() };
            let url = format!("{base}/media/gen_{seq}.{ext}");
            let mt = match j.kind {
                Some(GenerationType::Video) => MediaType::Video,
                Some(GenerationType::Image) => MediaType::Image,
                _ => MediaType::Other("AUDIO".into()),
            };
            let (post, _) = self.insert_post(&j.agent, j.content.as_deref().unwrap_or(""), Some(mt), vec![url.clone()], None, false);
            if let Some(jm) = self.jobs.get_mut(&seq) {
                jm.post = Some(post);
                jm.result_url = Some(url);
                jm.completed_ms = Some(now);
            }
        }
    }
}
