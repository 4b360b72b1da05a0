//! JSON Schemas for behavior files and the configuration file, generated from
//! the types the loader deserializes into, so an editor (yaml-language-server)
//! completes and checks exactly what `imagine-agent validate` accepts.
//! Checks the schema cannot express (cron syntax, templates, regexes) stay in
//! the validation pass.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use crate::behaviors::REGISTRY;

/// A duration as humantime reads it (`30s`, `5m`, `1h 30m`, `250ms`).
pub struct HumanDuration;

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 1h 30m.",
            "pattern": "^\\s*([0-9]+\\s*[a-zA-Zµ]+\\s*)+$",
            "examples": ["30s", "5m", "1h 30m"]
        })
    }
}

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
