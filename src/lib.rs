pub mod api;
pub mod behaviors;
pub mod cli;
pub mod config;
pub mod llm;
pub mod runtime;
pub mod sandbox;
pub mod store;
