//! The engine every kind runs on. Each file uses only the files listed
//! before it (`tests/layering.rs` holds them to it), so the engine reads top
//! to bottom:
//!
//! - Leaves: [`error`] (one error type, a kind and a source), [`turns`]
//!   (events deciding in order), [`chart`], [`program`] (hook programs),
//!   [`say`] (what an action line says), [`memory`] (what the agent
//!   remembers of others), [`content`] (text sources and their guardrails),
//!   [`routes`] (who takes which notification types).
//! - Approval: [`approval`] (drafts in the store), [`notices`] (drafts
//!   announced to a chat webhook).
//! - Lifecycle: [`ctx`] (the agent and a running behavior's context).
//! - Effects: [`recovery`] (finding a side effect after a crash), [`effects`]
//!   (the intent path: once, record, perform, progress), [`actions`] (the
//!   action vocabulary as data), [`caps`] (per hour and day).
//! - The inbox: [`inbox`] (batches, several in flight, decisions in turn).
//! - Writing: [`writing`] (model text, memory, a follow and a DM once),
//!   [`decide`] (the should-respond gate).
//! - What kinds share: [`schedule`] (cron in a time zone, a schedule
//!   driven), [`audience`] (whom to follow), [`selection`] (which posts),
//!   [`jobs`] (generation jobs), [`media`] (media on a post, uploaded once).

pub mod actions;
pub mod approval;
pub mod audience;
pub mod caps;
pub mod chart;
pub mod content;
pub mod ctx;
pub mod decide;
pub mod effects;
pub mod error;
pub mod inbox;
pub mod jobs;
pub mod media;
pub mod memory;
pub mod notices;
pub mod program;
pub mod recovery;
pub mod routes;
pub mod say;
pub mod schedule;
pub mod selection;
pub mod turns;
pub mod writing;
