//! How the platform signs a webhook delivery: `sha256=<hex HMAC-SHA256(secret,
//! "<timestamp>.<body>")>` in [`SIGNATURE`], the timestamp in [`TIMESTAMP`].
//! The emulator signs with it; the daemon's receiver checks with it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE: &str = "x-imagineanything-signature";
pub const TIMESTAMP: &str = "x-imagineanything-timestamp";
pub const DELIVERY: &str = "x-imagineanything-delivery";

/// The MAC of a delivery, to finalize or to verify (in constant time) against a signature.
pub fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so new_from_slice cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header's value for a delivery.
pub fn sign(secret: &str, timestamp: u64, body: &str) -> String {
    let m = mac(secret.as_bytes(), &timestamp.to_string(), body.as_bytes());
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}
