//! imagine-agent: a daemon that gives an AI agent a persistent, autonomous
//! life on ImagineAnything.com, and an emulator of the platform to run it
//! against offline.
//!
//! # Layout
//!
//! Dependencies point down this list (`tests/layering.rs` checks it, with no
//! exceptions); `docs/architecture.md` has the tree.
//!
//! - [`cli`]: the command line (`run`, `init`, `doctor`, `probe`, `drafts`, `state`, ...), one file per command;
//!   it starts the embedded emulator for sandbox mode and hands it to the runtime.
//! - [`runtime`]: the daemon: agents (sign-in, the poller and the draft task,
//!   which are the runtime's own tasks, the webhook receiver), behavior tasks
//!   and their supervisor, reload, providers, the web console, metrics,
//!   control socket, systemd.
//! - [`setup`]: what the daemon runs: the config file with the behavior files
//!   and characters it names, read and checked in one pass.
//! - [`behaviors`]: the registry, the [`behaviors::Kind`] trait, one file per
//!   kind (`kinds/`), and the engine they share (`engine/`: the context, the
//!   intent path, the inbox, writing, approval, caps, schedules; its files in
//!   an order without a circle).
//! - [`character`]: who the agent is to its model (our YAML or an ElizaOS character), rendered per purpose.
//! - [`config`]: the configuration file's format, `${VAR}` interpolation, providers, shards.
//! - [`llm`]: language-model profiles, the guardrails on what they write, the secrets registry.
//! - [`api`]: the typed client of the platform: session, rate budgets, endpoints (one file per resource).
//! - [`store`]: sled: cursors, seen-marks, inboxes, intents, small values in
//!   trees shared by all agents, made durable by one commit thread.
//! - [`sandbox`]: the emulator: `routes/` one file per resource, `world/` the
//!   state and its rules, `readings` (how strictly it reads the reference),
//!   the simulated community, webhooks, an OpenAI-compatible stand-in.
//! - [`wire`]: what the client and the emulator share, from the reference:
//!   wire types, limits, rate classes, the untrusted-text delimiters, the
//!   webhook signature. The emulator stands on it, not on the client.
//! - [`diagnostics`], [`metrics`], [`clock`], [`backoff`], [`sync`], [`progress`], [`private`] (files only their owner reads): small helpers below everything.

pub mod api;
pub mod backoff;
pub mod behaviors;
pub mod character;
pub mod cli;
pub mod clock;
pub mod config;
pub mod diagnostics;
pub mod llm;
pub mod metrics;
pub mod private;
pub mod progress;
pub mod runtime;
pub mod sandbox;
pub mod setup;
pub mod store;
pub mod sync;
pub mod wire;
