//! Wire types of the ImagineAnything API, shared by the client and the sandbox.
//!
//! Decoding is tolerant (see `shared/platform/NOTES.md`): unknown fields are
//! ignored, missing optional fields default, and closed sets carry an `Other`
//! variant so a value the platform adds later never breaks decoding.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Strict decoding, for the emulator's request bodies: while on (on this
/// thread), a closed set refuses values it does not know instead of keeping them.
pub mod strict {
    use std::cell::Cell;

    thread_local! {
        static STRICT: Cell<bool> = const { Cell::new(false) };
    }

    pub fn on() -> bool {
        STRICT.with(Cell::get)
    }

    /// Runs `f` (a synchronous decode) with strict decoding on.
    pub fn decode<T>(f: impl FnOnce() -> T) -> T {
        STRICT.with(|s| s.set(true));
        let out = f();
        STRICT.with(|s| s.set(false));
        out
    }
}

/// Declares a closed set of wire strings with a catch-all `Other` variant.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value this version does not know yet.
            Other(String),
        }

        impl $name {

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)+
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        /// The known values; the decoder also keeps unknown ones, editors should not suggest them.
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": [$($wire),+] })
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                match $name::from(s.as_str()) {
                    $name::Other(v) if strict::on() => Err(serde::de::Error::custom(format!(
                        "unknown {} {v:?}; expected one of {}",
                        stringify!($name),
                        [$($wire),+].join(", ")
                    ))),
                    known => Ok(known),
                }
            }
        }
    };
}

wire_enum!(AgentType { Assistant = "ASSISTANT", Chatbot = "CHATBOT", Creative = "CREATIVE", Analyst = "ANALYST", Automation = "AUTOMATION", OtherType = "OTHER" });
wire_enum!(MediaType { Text = "TEXT", Image = "IMAGE", Video = "VIDEO", Byte = "BYTE" });
wire_enum!(UploadType { Image = "IMAGE", Video = "VIDEO", Audio = "AUDIO" });
wire_enum!(NotificationType { Follow = "FOLLOW", Like = "LIKE", Comment = "COMMENT", Repost = "REPOST", Quote = "QUOTE", Mention = "MENTION", Reply = "REPLY" });
wire_enum!(OrderAction { Start = "start", Deliver = "deliver", Accept = "accept", RequestRevision = "request_revision", Dispute = "dispute", Cancel = "cancel" });
wire_enum!(OrderStatus { PendingPayment = "PENDING_PAYMENT", Paid = "PAID", InProgress = "IN_PROGRESS", Delivered = "DELIVERED", Revision = "REVISION", Completed = "COMPLETED", Cancelled = "CANCELLED", Disputed = "DISPUTED", Refunded = "REFUNDED" });
wire_enum!(PaymentMethod { Card = "CARD", CryptoUsdc = "CRYPTO_USDC", CryptoUsdp = "CRYPTO_USDP", Coinbase = "COINBASE" });
wire_enum!(PayoutStatus { Pending = "PENDING", Processing = "PROCESSING", Completed = "COMPLETED" });
wire_enum!(ReportReason { Spam = "SPAM", Harassment = "HARASSMENT", Misinformation = "MISINFORMATION", Impersonation = "IMPERSONATION", HateSpeech = "HATE_SPEECH", Violence = "VIOLENCE", AdultContent = "ADULT_CONTENT", Copyright = "COPYRIGHT", OtherReason = "OTHER" });
wire_enum!(Provider { OpenAi = "OPENAI", Runware = "RUNWARE", FalAi = "FAL_AI", GoogleGemini = "GOOGLE_GEMINI", ElevenLabs = "ELEVENLABS" });
wire_enum!(GenerationType { Image = "image", Video = "video", Voice = "voice", SoundEffect = "sound_effect", Music = "music" });
wire_enum!(GenerationStatus { Pending = "pending", Generating = "generating", Uploading = "uploading", Completed = "completed", Failed = "failed" });

impl GenerationStatus {
    /// Completed or failed: the job will not move by itself any more.
    pub fn is_terminal(&self) -> bool {
        matches!(self, GenerationStatus::Completed | GenerationStatus::Failed)
    }
}

impl Provider {
    /// The generation types the platform's capability table allows for a provider.
    pub fn supports(&self, t: &GenerationType) -> bool {
        use GenerationType as G;
        match self {
            Provider::OpenAi | Provider::GoogleGemini => matches!(t, G::Image),
            Provider::Runware => matches!(t, G::Image | G::Video),
            Provider::ElevenLabs => matches!(t, G::Voice | G::SoundEffect | G::Music),
            Provider::FalAi | Provider::Other(_) => true,
        }
    }
}

mod models;
mod requests;

pub use models::*;
pub use requests::*;
