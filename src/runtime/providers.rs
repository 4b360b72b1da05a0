//! Providers at an agent's start: the declared ones (`providers:`) connected,
//! or their keys updated, by diff against the platform's list; the generating
//! behaviors whose provider is neither declared nor connected are refused,
//! with their file:line:column, and not started.
//!
//! Guarantees: a key is read from its source and sent only in the body of
//! `POST /api/settings/services`; it reaches no log line and no store. A key
//! is sent again only when the platform's masked key (first and last four
//! characters) differs from it, or the provider is not connected; an inactive
//! one with the same key is switched on.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};

use crate::api::{ApiError, Session};
use crate::behaviors::LoadedBehavior;
use crate::config::providers::ProviderKey;
use crate::diagnostics::Problem;
use crate::wire::types::{ConnectedService, Provider};

/// Whether the platform's masked key can be `key`'s: the same first and last four characters.
fn same_key(masked: &str, key: &str) -> bool {
    let (m, k): (Vec<char>, Vec<char>) = (masked.chars().collect(), key.chars().collect());
    m.len() >= 8 && k.len() >= 8 && m[..4] == k[..4] && m[m.len() - 4..] == k[k.len() - 4..]
}

/// Makes the platform hold each declared provider's key, active; returns the
/// providers usable now (declared and connected, or connected by hand).
pub async fn reconcile(session: &Session, handle: &str, declared: &BTreeMap<String, ProviderKey>) -> Result<Vec<Provider>, ApiError> {
    let connected: Vec<ConnectedService> = session.connected_services().await?;
    let find = |p: &Provider| connected.iter().find(|c| c.provider.as_ref() == Some(p));
    let mut usable: Vec<Provider> = connected.iter().filter(|c| c.is_active).filter_map(|c| c.provider.clone()).collect();
    for (name, source) in declared {
        let p = Provider::from(name.as_str());
        let key: SecretString = match source.read() {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(agent = handle, provider = %p, error = %e, "the provider's key cannot be read; it is not connected");
                continue;
            }
        };
        match find(&p) {
            Some(c) if same_key(&c.api_key, key.expose_secret()) && c.is_active => {}
            Some(c) if same_key(&c.api_key, key.expose_secret()) => {
                session.toggle_service(&p, true).await?;
                tracing::info!(agent = handle, provider = %p, "switched on provider {p} (its key unchanged)");
            }
            found => {
                session.connect_service(&p, &key).await?;
                let verb = if found.is_some() { "updated the key of" } else { "connected" };
                tracing::info!(agent = handle, provider = %p, "{verb} provider {p}");
            }
        }
        if !usable.contains(&p) {
            usable.push(p);
        }
    }
    Ok(usable)
}

/// The behaviors that generate with a provider not in `usable`, each with a
/// problem at its `provider` key.
pub fn refused(wanted: &[LoadedBehavior], usable: &[Provider]) -> Vec<(String, Problem)> {
    let mut out = vec![];
    for b in wanted {
        for (at, p) in b.behavior.providers() {
            if usable.contains(&p) {
                continue;
            }
            let (line, column) = std::fs::read_to_string(&b.file)
                .map(|text| {
                    let (l, c) = crate::diagnostics::locate(&text, at);
                    if l > 1 || c > 1 {
                        (l, c)
                    } else {
                        (b.line, 1)
                    }
                })
                .unwrap_or((b.line, 1));
            let msg = format!(
                "behavior {}: provider {p} is neither declared under `providers:` in the config nor connected on the platform; \
                 the behavior is not started",
                b.behavior.name()
            );
            out.push((b.behavior.name().to_string(), Problem::at(&b.file, line, column, msg)));
        }
    }
    out
}
