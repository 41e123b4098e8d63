//! What EventBridge does with a rule's target that moto does not: render its input.

use std::collections::HashMap;

use serde_json::Value;

/// Renders an input transformer as EventBridge does for a JSON template: each `<name>`
/// becomes the JSON value at its `$.path` in the event (strings stay quoted).
pub fn render_input(
    template: &str,
    paths: &HashMap<String, String>,
    event: &Value,
) -> Result<Value, String> {
    let mut out = template.to_owned();
    for (name, path) in paths {
        let pointer = format!("/{}", path.trim_start_matches("$.").replace('.', "/"));
        let value = event
            .pointer(&pointer)
            .ok_or_else(|| format!("{path} is not in the event"))?;
        out = out.replace(&format!("<{name}>"), &value.to_string());
    }
    serde_json::from_str(&out).map_err(|e| format!("the rendered input is not JSON: {e}"))
}

/// A `Scheduled Event` as EventBridge sends it for `rule_arn` at `time` (RFC 3339, seconds).
pub fn scheduled_event(rule_arn: &str, time: &str, id: &str) -> Value {
    serde_json::json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time, "region": "us-east-1",
        "resources": [rule_arn], "detail": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_json_values() {
        let paths = HashMap::from([
            ("t".to_owned(), "$.time".to_owned()),
            ("r".to_owned(), "$.resources".to_owned()),
        ]);
        let event = scheduled_event("arn:x", "2026-01-01T00:00:00Z", "e-1");
        let out = render_input(r#"{"at": <t>, "rules": <r>, "k": "v"}"#, &paths, &event).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"at": "2026-01-01T00:00:00Z", "rules": ["arn:x"], "k": "v"})
        );
    }
}
