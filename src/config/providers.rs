//! `providers:`: the AI providers whose keys the agent's generations use, as
//! desired state. Each key comes from an environment variable or a file; it is
//! read when the daemon starts (and by `doctor`), sent only in the body of the
//! platform's connect call, never logged, never kept in the state store.
//!
//! ```yaml
//! providers:
//!   OPENAI: {api_key_env: OPENAI_API_KEY}
//!   ELEVENLABS: {api_key_file: /run/secrets/elevenlabs}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;

use crate::diagnostics::{locate, Problem};
use crate::wire::types::Provider;

/// Where one provider's API key is read from: exactly one of the two.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderKey {
    /// An environment variable holding the key.
    pub api_key_env: Option<String>,
    /// A file holding the key (its content, trimmed), relative to the config file.
    pub api_key_file: Option<PathBuf>,
}

/// A key that could not be read (the message never holds the key).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("environment variable {0} is not set")]
    Env(String),
    #[error("key file {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} holds no key")]
    Empty(String),
    #[error("give exactly one of api_key_env and api_key_file")]
    Source,
}

impl ProviderKey {
    /// Reads the key now.
    pub fn read(&self) -> Result<SecretString, KeyError> {
        let (text, from) = match (&self.api_key_env, &self.api_key_file) {
            (Some(var), None) => (std::env::var(var).map_err(|_| KeyError::Env(var.clone()))?, var.clone()),
            (None, Some(path)) => {
                (std::fs::read_to_string(path).map_err(|source| KeyError::File { path: path.clone(), source })?, path.display().to_string())
            }
            _ => return Err(KeyError::Source),
        };
        let key = text.trim();
        if key.is_empty() {
            return Err(KeyError::Empty(from));
        }
        Ok(SecretString::from(key.to_string()))
    }
}

/// The declared providers, by the platform's name (OPENAI...), paths made
/// relative to `base` (the config file's directory).
pub fn resolve(providers: &mut BTreeMap<String, ProviderKey>, base: &Path) {
    for k in providers.values_mut() {
        if let Some(f) = k.api_key_file.as_mut().filter(|f| f.is_relative()) {
            *f = base.join(&*f);
        }
    }
}

/// Problems with `providers:` (a name the reference does not list, a key source missing or doubled).
pub fn validate(path: &Path, text: &str, providers: &BTreeMap<String, ProviderKey>, problems: &mut Vec<Problem>) {
    for (name, k) in providers {
        let (l, col) = locate(text, &format!("providers.{name}"));
        if let Provider::Other(p) = Provider::from(name.as_str()) {
            problems.push(Problem::at(
                path,
                l,
                col,
                format!("unknown provider {p}; expected one of OPENAI, RUNWARE, FAL_AI, GOOGLE_GEMINI, ELEVENLABS"),
            ));
        }
        if k.api_key_env.is_some() == k.api_key_file.is_some() {
            problems.push(Problem::at(path, l, col, format!("provider {name}: give exactly one of api_key_env and api_key_file")));
        }
    }
}
