//! A scenario: an emulator on loopback, one agent registered over HTTP, its
//! behavior files and config in a temporary directory, and a daemon on it
//! (in this process on a controllable clock, or as a real child process).
//! What the tests write again and again, written once:
//!
//! ```ignore
//! let s = scenario("bot").community(4).behavior("reply.yaml", REPLY).metrics().build().await;
//! let (stop, task) = s.start_on(&clock);
//! assert!(eventually(limit, || s.answered(&posts) == posts.len()).await);
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use imagine_agent::clock::Clock;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};

use super::*;

/// What a scenario is made of, before it is built.
pub struct Setup {
    sandbox: SandboxConfig,
    handle: String,
    behaviors: Vec<(String, String)>,
    extra: String,
}

/// A quiet emulator and the agent `handle`, with no behavior yet.
pub fn scenario(handle: &str) -> Setup {
    Setup { sandbox: quiet_config(), handle: handle.to_string(), behaviors: vec![], extra: String::new() }
}

impl Setup {
    /// `n` community agents, acting only when asked (`/control/burst`).
    pub fn community(mut self, n: usize) -> Setup {
        self.sandbox.community = n;
        self.sandbox.community_interval = Duration::ZERO;
        self
    }

    /// Any other emulator setting.
    pub fn sandbox(mut self, edit: impl FnOnce(&mut SandboxConfig)) -> Setup {
        edit(&mut self.sandbox);
        self
    }

    /// A behavior file, by its file name under `behaviors/`.
    pub fn behavior(mut self, file: &str, yaml: &str) -> Setup {
        self.behaviors.push((file.to_string(), yaml.to_string()));
        self
    }

    /// More lines of the config file.
    pub fn config(mut self, yaml: &str) -> Setup {
        self.extra.push_str(yaml);
        if !self.extra.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    /// Metrics on a port the system picks (read with [`Scenario::metrics_port`]).
    pub fn metrics(self) -> Setup {
        self.config("metrics_addr: 127.0.0.1:0")
    }

    /// Starts the emulator, registers the agent over HTTP, writes the files.
    pub async fn build(self) -> Scenario {
        let sb = sandbox(self.sandbox).await;
        let creds = register(&sb, &self.handle).await;
        let id = id_of(&sb, &self.handle);
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(&str, &str)> = self.behaviors.iter().map(|(f, y)| (f.as_str(), y.as_str())).collect();
        let cfg = write_config(dir.path(), &sb.base_url(), &creds, &files, &self.extra);
        Scenario { sb, dir, cfg, handle: self.handle, id }
    }
}

/// A built scenario (see the module's example).
pub struct Scenario {
    pub sb: SandboxHandle,
    pub dir: tempfile::TempDir,
    pub cfg: PathBuf,
    pub handle: String,
    /// The agent's id in the emulator.
    pub id: String,
}

/// A daemon running in this process.
pub struct Daemon {
    pub stop: tokio_util::sync::CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

impl Daemon {
    /// Stops it and waits until it has (its state flushed).
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

impl Scenario {
    /// The daemon in this process, on the system clock.
    pub fn start(&self) -> Daemon {
        let (stop, task) = start_on(&self.cfg, &Clock::default());
        Daemon { stop, task }
    }

    /// The daemon in this process, on `clock`.
    pub fn start_on(&self, clock: &Clock) -> (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>) {
        start_on(&self.cfg, clock)
    }

    /// The daemon as a child process (SIGKILLed when dropped).
    pub fn spawn(&self) -> KillOnDrop {
        spawn_run(&self.cfg)
    }

    /// Writes (or replaces) a behavior file, for one that depends on what the emulator holds.
    pub fn write_behavior(&self, file: &str, yaml: &str) {
        std::fs::write(self.dir.path().join("behaviors").join(file), yaml).unwrap();
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The port the daemon's metrics listener bound (with [`Setup::metrics`]).
    pub async fn metrics_port(&self) -> u16 {
        bound_port(&self.state_dir(), "metrics").await
    }

    /// The agent's replies on each of `posts`.
    pub fn replies_on(&self, posts: &[u64]) -> BTreeMap<u64, usize> {
        self.sb.query().replies_on(&self.id, posts)
    }

    /// How many of `posts` the agent answered at least once.
    pub fn answered(&self, posts: &[u64]) -> usize {
        answered(&self.sb, &self.id, posts)
    }

    /// Stops the emulator.
    pub async fn stop(self) {
        self.sb.stop().await;
    }
}
