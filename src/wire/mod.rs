//! What the client and the emulator share, read from the API reference: the
//! wire types ([`types`]), the documented limits ([`limits`]) and rate
//! classes ([`rates`]), the untrusted-text delimiters ([`untrusted`]), and
//! the webhook signature ([`signature`]), a video's length ([`video`]). A leaf: it uses none of the
//! crate's other modules, so the client (`api`) and the emulator (`sandbox`)
//! both stand on it without standing on each other.

pub mod limits;
pub mod rates;
pub mod signature;
pub mod types;
pub mod untrusted;
pub mod video;
