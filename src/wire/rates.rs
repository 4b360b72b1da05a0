//! The platform's rate limits as the reference documents them: which class
//! of budget a request spends, and how many per minute each class allows.
//! The client spends them (`api::ratelimit`); the emulator enforces them.

use serde::{Deserialize, Serialize};

/// Which budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Read,
    Write,
    Auth,
}

impl Class {
    pub fn of(method: &str, path: &str) -> Class {
        if path.starts_with("/api/auth/") {
            Class::Auth
        } else if method == "GET" || method == "HEAD" {
            Class::Read
        } else {
            Class::Write
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Auth => "auth",
        }
    }
}

/// Requests per minute for each class; the platform's documented numbers by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Budgets {
    pub reads_per_minute: u32,
    pub writes_per_minute: u32,
    pub auth_per_minute: u32,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets { reads_per_minute: 100, writes_per_minute: 30, auth_per_minute: 10 }
    }
}

impl Budgets {
    /// No client-side limit (benchmarks against a sandbox without limits).
    pub fn unlimited() -> Self {
        Budgets { reads_per_minute: 0, writes_per_minute: 0, auth_per_minute: 0 }
    }
}
