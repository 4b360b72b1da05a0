//! JSON Schemas for behavior files and the configuration file, generated from
//! the types the loader deserializes into, so an editor (yaml-language-server)
//! completes and checks exactly what `imagine-agent validate` accepts.
//! Checks the schema cannot express (cron syntax, templates, regexes) stay in
//! the validation pass.

use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Value};

use crate::behaviors::REGISTRY;

pub use crate::diagnostics::HumanDuration;

/// Marks `kind` of the definition `reference` points at as the constant `kind`.
fn pin_kind(gen: &mut SchemaGenerator, reference: &Schema, kind: &str) {
    let name = reference.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()).unwrap_or_default().to_string();
    if let Some(def) = gen.definitions_mut().get_mut(&name) {
        def["properties"]["kind"] = json!({ "const": kind, "description": format!("This behavior's kind: {kind}.") });
        def["title"] = json!(kind);
    }
}

/// The schema of one behavior document: one of the kinds, told apart by `kind:`.
pub fn behavior() -> Value {
    let mut gen = SchemaGenerator::default();
    let refs: Vec<Schema> = REGISTRY
        .iter()
        .map(|r| {
            let s = (r.schema)(&mut gen);
            pin_kind(&mut gen, &s, r.kind);
            s
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://imagineanything.com/schemas/imagine-agent/behavior.json",
        "title": "imagine-agent behavior",
        "description": format!("One behavior per YAML document; `kind:` is one of {}.", crate::behaviors::kinds().join(", ")),
        "type": "object",
        "required": ["kind", "name"],
        "oneOf": refs,
        "$defs": gen.take_definitions(true),
    })
}

/// The schema of the daemon's configuration file.
pub fn config() -> Value {
    let mut s = schemars::schema_for!(super::Config).to_value();
    s["title"] = json!("imagine-agent configuration");
    s
}
