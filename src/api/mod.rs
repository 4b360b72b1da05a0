//! The typed client of the ImagineAnything API and the shared per-agent session.

pub mod endpoints;
pub mod error;
pub mod limits;
pub mod list;
pub mod ratelimit;
pub mod session;
pub mod types;

pub use endpoints::{MediaRef, ReadTarget, Upload};
pub use error::{ApiError, LimitError};
pub use list::List;
pub use ratelimit::{Budgets, Priority};
pub use session::{Credentials, Session, SessionConfig};
