//! The typed client of the ImagineAnything API and the shared per-agent
//! session. What it shares with the emulator (wire types, limits, rate
//! classes) is in [`crate::wire`].

pub mod endpoints;
pub mod error;
pub mod list;
pub mod ratelimit;
pub mod session;

pub use crate::wire::limits::LimitError;
pub use endpoints::{when_processed, MediaRef, ReadTarget, Upload};
pub use error::ApiError;
pub use list::List;
pub use ratelimit::{Budgets, Priority};
pub use session::{Credentials, Session, SessionConfig};
