//! What every behavior kind is: the [`Kind`] trait (the notification types it takes, its text
//! sources, schedule, validation and run, with defaults), the common header
//! every spec starts with (declared once, by [`spec!`]), and the
//! [`Registration`] a kind's file exports for the registry in `behaviors/mod.rs`.

use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

use super::engine::content::Content;
use super::Check;
use crate::api::Priority;
use crate::behaviors::{BehaviorError, Ctx};
use crate::wire::types::NotificationType;

/// The common header of every behavior: `kind:`, `name:`, `enabled:`, `priority:`.
pub trait Header {
    fn name(&self) -> &str;
    fn enabled(&self) -> bool;
    /// `priority:` when the file sets it.
    fn priority(&self) -> Option<Priority>;
    /// `approval:` when the file sets it.
    fn approval(&self) -> Option<&crate::behaviors::engine::approval::ApprovalSpec>;
}

/// One behavior kind. Only `validate` and `run` have no default.
pub trait Kind: Header + std::fmt::Debug + Send + Sync + 'static {
    /// The notification types it reacts to (none for scheduled kinds).
    fn notification_types(&self) -> Vec<NotificationType> {
        vec![]
    }

    /// Whether it screens the events of its types before every other
    /// behavior sees them (see [`crate::behaviors::engine::routes::Route`]).
    fn screens(&self) -> bool {
        false
    }

    /// Its turn when the agent's request budget is short, unless `priority:` says otherwise.
    fn default_priority(&self) -> Priority {
        Priority::Normal
    }

    /// Every text source it has (to check LLM profiles).
    fn contents(&self) -> Vec<&Content> {
        vec![]
    }

    /// The LLM profiles it uses (checked against `llm:` in the config).
    fn models(&self) -> Vec<&str> {
        self.contents().into_iter().filter_map(|c| c.llm.as_ref().map(|l| l.profile.as_str())).collect()
    }

    /// (cron expression, time zone) for a kind that fires on a schedule (`imagine-agent schedule`).
    fn schedule(&self) -> Option<(&str, &str)> {
        None
    }

    /// The providers it starts generation jobs with, each with the key that
    /// names it in the behavior file (a provider must be connected for them).
    fn providers(&self) -> Vec<(&'static str, crate::wire::types::Provider)> {
        vec![]
    }

    /// Makes paths in the spec relative to the directory of its behavior file.
    fn resolve_paths(&mut self, _base: &std::path::Path) {}

    /// For a kind that declares desired state (`profile`): what applying it
    /// would change on the platform now, one line per change (`imagine-agent profile diff`).
    fn plan<'a>(&'a self, _session: &'a crate::api::Session) -> Option<BoxFuture<'a, Result<Vec<String>, crate::api::ApiError>>> {
        None
    }

    /// Semantic checks the types cannot express, each reported at its key.
    fn validate(&self, c: &mut Check<'_>);

    /// Runs until cancelled (or an error the supervisor restarts it after).
    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<(), BehaviorError>>;
}

/// A kind as the registry knows it: its `kind:` name, its parser, its JSON Schema.
pub struct Registration {
    pub kind: &'static str,
    pub parse: fn(&str) -> Result<Arc<dyn Kind>, serde_yaml::Error>,
    pub schema: fn(&mut SchemaGenerator) -> Schema,
}

/// The registration of the spec type `S` under `kind`.
pub const fn register<S: Kind + DeserializeOwned + JsonSchema>(kind: &'static str) -> Registration {
    Registration { kind, parse: parse_as::<S>, schema: schema_of::<S> }
}

fn parse_as<S: Kind + DeserializeOwned>(doc: &str) -> Result<Arc<dyn Kind>, serde_yaml::Error> {
    serde_yaml::from_str::<S>(doc).map(|s| Arc::new(s) as Arc<dyn Kind>)
}

fn schema_of<S: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<S>()
}

/// Declares a kind's spec with the common header (`kind`, `name`, `enabled`)
/// first, and implements [`Header`] for it.
macro_rules! spec {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        pub struct $name {
            /// The behavior's kind, as written in `kind:`.
            pub kind: String,
            /// Unique among an agent's behaviors: the key of its state, logs and metrics.
            pub name: String,
            /// `false` switches the behavior off.
            #[serde(default = "crate::behaviors::yes")]
            pub enabled: bool,
            /// Its turn when the agent's request budget is short: urgent, high,
            /// normal or low (by default replies and DMs urgent, follow-backs
            /// high, posts and generations normal, engagement and networking low).
            #[serde(default)]
            pub priority: Option<$crate::api::Priority>,
            /// `required` (or `{required, timeout, on_timeout}`): what it would say becomes a draft for a person to approve.
            #[serde(default)]
            pub approval: Option<$crate::behaviors::engine::approval::ApprovalSpec>,
            $($body)*
        }

        impl $crate::behaviors::kind::Header for $name {
            fn name(&self) -> &str {
                &self.name
            }
            fn enabled(&self) -> bool {
                self.enabled
            }
            fn priority(&self) -> Option<$crate::api::Priority> {
                self.priority
            }
            fn approval(&self) -> Option<&$crate::behaviors::engine::approval::ApprovalSpec> {
                self.approval.as_ref()
            }
        }
    };
}
pub(crate) use spec;
