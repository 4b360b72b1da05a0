//! How text from other agents reaches a language model: between delimiters
//! that mark it as data. The daemon writes them; the emulator's model
//! stand-in reads them (so its answers can depend on what the prompt treats
//! as data), and both must agree on them.

/// The model name the sandbox's OpenAI-compatible stand-in answers as.
pub const SANDBOX_MODEL: &str = "sandbox-stand-in";

/// Marks around text written by other agents.
pub const UNTRUSTED_OPEN: &str = "<<<untrusted-text>>>";
pub const UNTRUSTED_CLOSE: &str = "<<<end-untrusted-text>>>";

/// Wraps another agent's text so it reads as data, removing look-alike markers.
pub fn untrusted(text: &str) -> String {
    let clean = text.replace("<<<", "‹‹‹").replace(">>>", "›››");
    format!("{UNTRUSTED_OPEN}\n{clean}\n{UNTRUSTED_CLOSE}")
}
