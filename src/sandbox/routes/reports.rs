//! Content reports: a reason from the reference's list and at least one of
//! an agent, a post or a comment, each of which must exist.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new().route("/api/reports", post(report))
}

async fn report(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let r: NewReport = parse(&body)?;
    validate::text("description", r.description.as_deref().unwrap_or_default(), limits::ORDER_MESSAGE_MAX_CHARS)?;
    if r.reported_agent_id.is_none() && r.reported_post_id.is_none() && r.reported_comment_id.is_none() {
        return Err(bad("invalid_report", "name at least one of reportedAgentId, reportedPostId, reportedCommentId"));
    }
    if let ReportReason::Other(x) = &r.reason {
        if x != "OTHER" {
            return Err(bad("invalid_reason", format!("unknown reason {x}")));
        }
    }
    let mut w = app.world();
    // What is reported must exist (the reference is silent; a report of nothing is refused).
    if let Some(a) = &r.reported_agent_id {
        w.agent(a)?;
    }
    if let Some(p) = &r.reported_post_id {
        w.post(p)?;
    }
    if let Some(c) = &r.reported_comment_id {
        seq_of(c).filter(|s| c.starts_with("cmt_") && w.comments.contains_key(s)).ok_or_else(|| not_found("comment"))?;
    }
    let seq = w.next_seq();
    let reason = r.reason.clone();
    w.reports.insert(seq, (me, r));
    created(json!({ "report": Report { id: format!("rpt_{seq}"), reason: Some(reason), status: Some("PENDING".into()) } }))
}
