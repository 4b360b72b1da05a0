//! The operator's own programs (`hook`, and `hook:` text sources): an argv
//! list run without a shell, the event as JSON on stdin, JSON read from
//! stdout.
//!
//! Bounded: a timeout (the whole process group is killed when it passes, so a
//! child the program started cannot hold the pipe open), an output size limit
//! (the program is killed as soon as it prints more), the environment cleared
//! except `PATH`, `HOME`, `LANG` and an allow-list, a fixed working directory.
//! Every failure says why, with the first lines of the program's stderr.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::diagnostics::Check;

/// How to run a program.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// The program and its arguments (no shell: write `["sh", "-c", "..."]` to want one).
    pub command: Vec<String>,
    /// Killed (with everything it started) after this long.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub timeout: Duration,
    /// At most this many bytes on stdout.
    #[serde(default = "default_max_output")]
    pub max_output: usize,
    /// Environment variables passed through (besides PATH, HOME and LANG); all others are cleared.
    #[serde(default)]
    pub env: Vec<String>,
    /// The working directory; default: the directory of the behavior file.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_output() -> usize {
    1024 * 1024
}

/// Why a program's answer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("could not start {program:?}: {source}")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {0:?} (killed)")]
    Timeout(Duration),
    #[error("printed more than {0} bytes (killed)")]
    TooMuch(usize),
    #[error("exited with {status}{stderr}")]
    Failed { status: String, stderr: String },
    #[error("printed something that is not the expected JSON ({detail}): {start:?}")]
    BadOutput { detail: String, start: String },
    #[error("reading its output: {0}")]
    Io(#[source] std::io::Error),
}

impl Program {
    pub fn check(&self, c: &mut Check<'_>, at: &str) {
        if self.command.first().is_none_or(|p| p.trim().is_empty()) {
            c.problem(at, "command needs at least the program to run");
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(600) {
            c.problem(at, "timeout must be between 1ms and 10m");
        }
        if self.max_output == 0 || self.max_output > 16 * 1024 * 1024 {
            c.problem(at, "max_output must be between 1 and 16777216 bytes");
        }
    }

    /// Resolves a relative `workdir` (and the default) against the behavior file's directory.
    pub fn resolve(&mut self, base: &std::path::Path) {
        self.workdir = Some(match self.workdir.take() {
            Some(w) if w.is_relative() => base.join(w),
            Some(w) => w,
            None => base.to_path_buf(),
        });
    }

    /// Runs the program with `input` on stdin; its stdout, parsed as JSON.
    pub async fn run(&self, input: &Value) -> Result<Value, ProgramError> {
        let out = self.run_raw(input).await?;
        serde_json::from_slice(&out).map_err(|e| ProgramError::BadOutput {
            detail: e.to_string(),
            start: String::from_utf8_lossy(&out[..out.len().min(80)]).into_owned(),
        })
    }

    async fn run_raw(&self, input: &Value) -> Result<Vec<u8>, ProgramError> {
        let program = self.command.first().cloned().unwrap_or_default();
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&self.command[1..]).env_clear().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        for k in ["PATH", "HOME", "LANG"].iter().map(|s| s.to_string()).chain(self.env.iter().cloned()) {
            if let Ok(v) = std::env::var(&k) {
                cmd.env(k, v);
            }
        }
        if let Some(w) = &self.workdir {
            cmd.current_dir(w);
        }
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|source| ProgramError::Start { program: program.clone(), source })?;
        let pid = child.id();
        let (mut stdin, mut stdout, mut stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let body = serde_json::to_vec(input).unwrap_or_default();
        let max = self.max_output;
        let work = async {
            // The program may not read its input: a closed pipe is not an error.
            if let Some(mut i) = stdin.take() {
                let _ = i.write_all(&body).await;
                drop(i);
            }
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                let mut buf = [0u8; 8192];
                if let Some(o) = stdout.as_mut() {
                    loop {
                        let n = o.read(&mut buf).await.map_err(ProgramError::Io)?;
                        if n == 0 {
                            break;
                        }
                        if out.len() + n > max {
                            return Err(ProgramError::TooMuch(max));
                        }
                        out.extend_from_slice(&buf[..n]);
                    }
                }
                Ok(())
            };
            let read_err = async {
                if let Some(e) = stderr.as_mut() {
                    let _ = e.take(4096).read_to_end(&mut err).await;
                }
                Ok(())
            };
            // Too much output ends it at once (the program may still be writing).
            tokio::try_join!(read_out, read_err)?;
            let status = child.wait().await.map_err(ProgramError::Io)?;
            Ok::<_, ProgramError>((status, out, err))
        };
        let result = tokio::time::timeout(self.timeout, work).await;
        let kill_group = || {
            #[cfg(unix)]
            if let Some(pid) = pid {
                // SAFETY: kill(2) with a negative pid signals the process group we created; no memory is touched.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
        };
        match result {
            Err(_) => {
                kill_group();
                Err(ProgramError::Timeout(self.timeout))
            }
            Ok(Err(e)) => {
                kill_group();
                Err(e)
            }
            Ok(Ok((status, out, err))) => {
                if status.success() {
                    Ok(out)
                } else {
                    let text = String::from_utf8_lossy(&err);
                    let first: Vec<&str> = text.lines().take(3).collect();
                    let stderr = if first.is_empty() { String::new() } else { format!(": {}", first.join(" / ")) };
                    Err(ProgramError::Failed { status: status.to_string(), stderr })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Program {
        Program {
            command: vec!["sh".into(), "-c".into(), script.into()],
            timeout: Duration::from_secs(2),
            max_output: 1024,
            env: vec![],
            workdir: None,
        }
    }

    #[tokio::test]
    async fn answers_and_failures_each_say_what_happened() {
        let v = sh("cat").run(&serde_json::json!({"a": 1})).await.unwrap();
        assert_eq!(v, serde_json::json!({"a": 1}), "the event on stdin");
        let t = std::time::Instant::now();
        let e = sh("sleep 30 & sleep 30; echo '{}'").run(&Value::Null).await.unwrap_err();
        assert!(matches!(e, ProgramError::Timeout(_)), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10), "the group was killed, not waited for");
        let e = sh("echo not json").run(&Value::Null).await.unwrap_err();
        assert!(e.to_string().contains("not the expected JSON") && e.to_string().contains("not json"), "{e}");
        let e = sh("head -c 5000 /dev/zero").run(&Value::Null).await.unwrap_err();
        assert!(matches!(e, ProgramError::TooMuch(1024)), "{e}");
        let e = sh("echo oops >&2; exit 3").run(&Value::Null).await.unwrap_err();
        assert_eq!(e.to_string(), "exited with exit status: 3: oops");
        // A variable of the test's own environment that is not passed by default (no set_var:
        // tests run in parallel).
        let plain = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "_./:-".contains(c));
        let (name, value) = std::env::vars()
            .find(|(k, v)| !["PATH", "HOME", "LANG"].contains(&k.as_str()) && plain(k) && !k.contains(['.', '/', ':', '-']) && plain(v))
            .expect("the test process has some environment");
        let show = format!("printf '\"%s\"' \"${name}\"");
        let v = sh(&show).run(&Value::Null).await.unwrap();
        assert_eq!(v, serde_json::json!(""), "the environment is cleared ({name})");
        let mut p = sh(&show);
        p.env = vec![name.clone()];
        assert_eq!(p.run(&Value::Null).await.unwrap(), serde_json::json!(value), "unless allowed ({name})");
    }
}
