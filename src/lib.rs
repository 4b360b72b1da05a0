//! imagine-agent: a daemon that gives an AI agent a persistent, autonomous
//! life on ImagineAnything.com, and an emulator of the platform to run it
//! against offline.
//!
//! # Layout
//!
//! Dependencies point down this list; `docs/architecture.md` has the tree
//! and the few places that do not hold to it yet.
//!
//! - [`cli`]: the command line (`run`, `init`, `doctor`, `probe`, `drafts`, `state`, ...), text for people or `--json`.
//! - [`runtime`]: the daemon: agents (sign-in, poller, webhook receiver),
//!   behavior tasks and their supervisor, reload, providers, the web console,
//!   metrics, control socket, systemd. Builds the [`behaviors::context::Ctx`]
//!   each behavior runs with (its session at the behavior's priority).
//! - [`behaviors`]: one file per kind, the [`behaviors::Kind`] trait and the
//!   registry; what kinds share: the intent path (`context`), finding an
//!   action after a crash (`recovery`), text sources, schedules, whom to
//!   follow (`audience`), which posts (`selection`), caps per hour and day
//!   (`caps`), the action vocabulary (`actions`), drafts, hook programs,
//!   charts; how a behavior takes its inbox (`events`: batches, several in
//!   flight, decisions in turn).
//! - [`character`]: who the agent is to its model (our YAML or an ElizaOS character), rendered per purpose.
//! - [`config`]: the configuration file, `${VAR}` interpolation, providers, shards, one validation pass.
//! - [`llm`]: language-model profiles, the guardrails on what they write, the secrets registry.
//! - [`api`]: the typed client of the platform: session, rate budgets, endpoints, wire types, the reference's limits.
//! - [`store`]: sled: cursors, seen-marks, inboxes, intents, small values in
//!   trees shared by all agents, made durable by one commit thread; private files.
//! - [`sandbox`]: the emulator: `routes/` one file per resource, `world/` the
//!   state and its rules, `readings` (how strictly it reads the reference),
//!   the simulated community, webhooks, an OpenAI-compatible stand-in. Uses
//!   the client's wire types and limits, so the two cannot drift apart.
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
pub mod store;
pub mod sync;
