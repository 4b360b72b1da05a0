//! The behavior kinds, one file each: a spec (what the YAML declares), its
//! checks, and its run. Each is registered in [`super::REGISTRY`]; what they
//! share is the engine in [`super`].

pub mod auto_reply;
pub mod byte;
pub mod dm_reply;
pub mod engage;
pub mod follow_back;
pub mod generation_pipeline;
pub mod hook;
pub mod marketplace;
pub mod moderation;
pub mod network;
pub mod profile;
pub mod report;
pub mod scheduled_post;
