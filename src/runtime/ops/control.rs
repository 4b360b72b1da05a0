//! The daemon's control socket (`<state_dir>/control.sock`, mode 0600): lets
//! `imagine-agent state`, `drafts`, `block` and `conversations resume` read
//! and change the state while the daemon holds sled's lock. One request line
//! (`state <recent>`), one JSON answer, then the connection closes.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::store::state_view::StateView;
use crate::store::Store;

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("control.sock")
}

/// Serves until `stop`; a socket left by a killed daemon is replaced.
pub fn serve(state_dir: &Path, store: Store, stop: CancellationToken) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(state_dir);
    if path.exists() && std::os::unix::net::UnixStream::connect(&path).is_err() {
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((conn, _)) => { tokio::spawn(answer(conn, store.clone())); }
                    Err(e) => tracing::warn!(error = %e, "control socket: accept failed"),
                },
            }
        }
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

async fn answer(conn: UnixStream, store: Store) {
    let (read, mut write) = conn.into_split();
    let mut line = String::new();
    // Bounded: an edited draft's text (5,000 characters, JSON-encoded) fits.
    let mut reader = BufReader::new(read.take(64 * 1024));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let mut words = line.split_whitespace();
    let reply = match (words.next(), words.next().map(str::parse::<usize>)) {
        (Some("state"), None) => report(&store, 20),
        (Some("state"), Some(Ok(n))) => report(&store, n.min(10_000)),
        (Some("drafts"), _) => drafts_command(&store, line.trim_end_matches('\n').split_once(' ').map_or("", |x| x.1)),
        (Some("resume"), _) => match line.split_whitespace().nth(1) {
            Some(id) => match crate::store::state_view::resume_conversation(&store, id) {
                Ok(n) => serde_json::json!({"resumed": n}).to_string(),
                Err(e) => serde_json::json!({"error": e.to_string()}).to_string(),
            },
            None => serde_json::json!({"error": "expected `resume CONVERSATION`"}).to_string(),
        },
        (Some("block"), _) => {
            // `block AGENT|* VERB [HANDLE [WHY...]]`
            let mut w = line.split_whitespace().skip(1);
            let agent = w.next().filter(|a| *a != "*");
            let verb = w.next().unwrap_or("list");
            let handle = w.next();
            let why = w.collect::<Vec<_>>().join(" ");
            match crate::store::state_view::block_command(&store, agent, verb, handle, &why) {
                Ok(rows) => serde_json::Value::Array(rows).to_string(),
                Err(e) => serde_json::json!({"error": e.to_string()}).to_string(),
            }
        }
        _ => serde_json::json!({"error": "expected `state [recent]`, `drafts ...`, `block ...` or `resume CONVERSATION`"}).to_string(),
    };
    let _ = write.write_all(reply.as_bytes()).await;
    let _ = write.shutdown().await;
}

fn report(store: &Store, recent: usize) -> String {
    match StateView::build(store, recent) {
        Ok(r) => serde_json::to_string(&r).unwrap_or_default(),
        Err(e) => serde_json::json!({"error": e.to_string()}).to_string(),
    }
}

/// `drafts [list]`, `drafts show ID`, `drafts approve|reject ID... | --all`, `drafts edit ID "JSON text"`
/// on every agent of `store`; JSON (an array of rows, or `{"error"}`).
pub fn drafts_command(store: &Store, line: &str) -> String {
    use crate::behaviors::engine::approval;
    let args: Vec<&str> = line.split_whitespace().collect();
    let run = || -> Result<serde_json::Value, crate::store::StoreError> {
        let mut out = vec![];
        for handle in store.agents() {
            let s = store.agent(&handle)?;
            match args.first().copied() {
                None | Some("list") => {
                    for d in approval::all(&s)? {
                        out.push(serde_json::json!({"agent": handle, "draft": d, "line": approval::describe(&d)}));
                    }
                }
                Some("show") => {
                    if let Some(d) = args.get(1).map(|id| approval::get(&s, id)).transpose()?.flatten() {
                        out.push(serde_json::json!({"agent": handle, "draft": d, "line": approval::describe(&d)}));
                    }
                }
                Some("edit") => {
                    let mut parts = line.trim_start().splitn(3, ' ').skip(1);
                    let (Some(id), Some(text)) = (parts.next(), parts.next().and_then(|t| serde_json::from_str::<String>(t).ok())) else {
                        return Ok(serde_json::json!({"error": "expected `drafts edit ID \"JSON text\"`"}));
                    };
                    if approval::get(&s, id)?.is_none() {
                        continue;
                    }
                    return Ok(match approval::edit(&s, id, &text)? {
                        Ok(d) => serde_json::json!([{"agent": handle, "id": id, "done": "edit", "draft": d}]),
                        Err(why) => serde_json::json!({"error": why}),
                    });
                }
                Some(verb @ ("approve" | "reject")) => {
                    let all = args.get(1) == Some(&"--all");
                    let ids: Vec<String> = if all {
                        approval::all(&s)?.into_iter().filter(|d| d.status == approval::Status::Pending).map(|d| d.id).collect()
                    } else {
                        args[1..].iter().map(|x| x.to_string()).collect()
                    };
                    for id in ids {
                        if approval::decide(&s, &id, verb == "approve")? {
                            out.push(serde_json::json!({"agent": handle, "id": id, "done": verb}));
                        }
                    }
                }
                Some(other) => return Ok(serde_json::json!({"error": format!("unknown drafts command {other:?}")})),
            }
        }
        Ok(serde_json::Value::Array(out))
    };
    match run() {
        Ok(v) => v.to_string(),
        Err(e) => serde_json::json!({"error": e.to_string()}).to_string(),
    }
}

/// Sends one request line to a running daemon and decodes its answer as
/// `T`; `None` when no daemon listens here, `Err` with the answer as it came
/// when it does not decode (or the exchange failed).
async fn exchange<T: serde::de::DeserializeOwned>(state_dir: &Path, line: &str) -> Option<Result<T, String>> {
    let mut conn = UnixStream::connect(socket_path(state_dir)).await.ok()?;
    let talk = async {
        conn.write_all(format!("{line}\n").as_bytes()).await?;
        let mut body = String::new();
        conn.read_to_string(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    Some(match talk.await {
        Ok(body) => serde_json::from_str::<T>(&body).map_err(|_| body),
        Err(e) => Err(e.to_string()),
    })
}

/// Asks a running daemon for `drafts ARGS` (JSON); `None` when no daemon listens here.
pub async fn ask_drafts(state_dir: &Path, line: &str) -> Option<Result<serde_json::Value, String>> {
    exchange(state_dir, &format!("drafts {line}")).await
}

/// Asks a running daemon for `block AGENT|* VERB [HANDLE [WHY]]` (JSON rows); `None` when no daemon listens here.
pub async fn ask_block(state_dir: &Path, line: &str) -> Option<Result<Vec<serde_json::Value>, String>> {
    exchange(state_dir, &format!("block {line}")).await
}

/// Asks a running daemon to resume answers in conversation `id`; `None` when no daemon listens here.
pub async fn resume(state_dir: &Path, id: &str) -> Option<Result<usize, String>> {
    let answer = exchange::<serde_json::Value>(state_dir, &format!("resume {id}")).await?;
    Some(answer.and_then(|v| v.get("resumed").and_then(serde_json::Value::as_u64).map(|n| n as usize).ok_or_else(|| v.to_string())))
}

/// Asks a running daemon for its state; `None` when no daemon listens here.
pub async fn ask(state_dir: &Path, recent: usize) -> Option<Result<StateView, String>> {
    exchange(state_dir, &format!("state {recent}")).await
}
