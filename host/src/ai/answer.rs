//! The model's answer: the tool's JSON schema (mirroring a finding) and the
//! checks an answer must pass before it counts as a finding. An answer is as
//! untrusted as a plugin's output and goes through the same validator.

use serde_json::{Value, json};

use autorepair_lambda::memory;

use crate::model::{Finding, FindingKind, Recommendation};
use crate::rules::validate;
use crate::text::clean;

/// The `submit_diagnosis` tool's input schema: a finding.
pub fn tool_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "kind": {
                "type": "string",
                "enum": FindingKind::ALL.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "description": "What is wrong with the function."
            },
            "confidence": {
                "type": "number", "minimum": 0, "maximum": 1,
                "description": "How sure you are, 0 to 1."
            },
            "summary": {
                "type": "string", "maxLength": 300,
                "description": "One sentence for the on-call engineer."
            },
            "evidence": {
                "type": "array", "items": { "type": "string", "maxLength": 300 }, "maxItems": 8,
                "description": "The figures or log lines that support the diagnosis."
            },
            "recommendation": {
                "type": "object",
                "properties": {
                    "action": { "type": "string", "enum": Recommendation::actions() },
                    "memory_mb": {
                        "type": "integer", "minimum": memory::MIN_MB, "maximum": memory::MAX_MB,
                        "description": "With set_memory: the new memory size in MB."
                    },
                    "reason": {
                        "type": "string", "maxLength": 300,
                        "description": "With escalate: what a person should look at."
                    }
                },
                "required": ["action"]
            }
        },
        "required": ["kind", "confidence", "summary", "recommendation"]
    })
}

/// Why an answer was discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the model answered without calling {0}")]
    NoToolUse(&'static str),
    #[error("the model called an unknown tool {0:?}")]
    WrongTool(String),
    #[error("the tool input is malformed: {0}")]
    Malformed(String),
    #[error("the finding is invalid: {0}")]
    Invalid(String),
}

/// Turns the tool's input into a finding, or says why not.
pub fn finding(input: &Value) -> Result<Finding, Rejection> {
    let mut input = input.clone();
    // Models sometimes send a reason with keep or a memory size with escalate;
    // those extra keys are harmless, so they are dropped, not refused.
    if let Some(rec) = input
        .get_mut("recommendation")
        .and_then(Value::as_object_mut)
    {
        match rec.get("action").and_then(Value::as_str) {
            Some("keep") => {
                rec.retain(|k, _| k == "action");
            }
            Some("escalate") => rec.retain(|k, _| k == "action" || k == "reason"),
            Some("set_memory") => rec.retain(|k, _| k == "action" || k == "memory_mb"),
            _ => {}
        }
        if rec.get("action").and_then(Value::as_str) == Some("escalate")
            && !rec.contains_key("reason")
        {
            rec.insert(
                "reason".into(),
                Value::from("the model asks a person to look"),
            );
        }
    }
    let kind = input
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if serde_json::from_value::<FindingKind>(Value::from(kind)).is_err() {
        return Err(Rejection::Invalid(format!(
            "unknown kind {:?}",
            clean(&kind.chars().take(60).collect::<String>())
        )));
    }
    let mut finding: Finding = serde_json::from_value(input).map_err(|e| {
        Rejection::Malformed(clean(&e.to_string().chars().take(300).collect::<String>()))
    })?;
    validate::findings(std::slice::from_ref(&finding)).map_err(Rejection::Invalid)?;
    validate::clean_findings(std::slice::from_mut(&mut finding));
    Ok(finding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(rec: Value) -> Value {
        json!({"kind": "memory-exhaustion", "confidence": 0.8, "summary": "OOM",
               "evidence": ["12 of 40 killed at 512 MB"], "recommendation": rec})
    }

    #[test]
    fn a_good_answer_is_a_finding() {
        let f = finding(&answer(json!({"action": "set_memory", "memory_mb": 1024}))).unwrap();
        assert_eq!(
            f.recommendation,
            Recommendation::SetMemory { memory_mb: 1024 }
        );
        let f = finding(&answer(json!({"action": "escalate"}))).unwrap();
        assert!(matches!(f.recommendation, Recommendation::Escalate { .. }));
        let f = finding(&answer(json!({"action": "keep", "reason": "fine"}))).unwrap();
        assert_eq!(f.recommendation, Recommendation::Keep);
    }

    /// Whatever the schema offers the model, the checks accept: every kind,
    /// every action, Lambda's smallest and largest size.
    #[test]
    fn everything_the_schema_offers_is_accepted() {
        let schema = tool_schema();
        let kinds = schema["properties"]["kind"]["enum"].as_array().unwrap();
        assert_eq!(kinds.len(), FindingKind::ALL.len());
        for kind in kinds {
            let mut a = answer(json!({"action": "keep"}));
            a["kind"] = kind.clone();
            assert!(finding(&a).is_ok(), "{kind}");
        }
        let rec = &schema["properties"]["recommendation"]["properties"];
        let size = |bound: &str| rec["memory_mb"][bound].clone();
        assert_eq!(size("minimum"), json!(memory::MIN_MB));
        assert_eq!(size("maximum"), json!(memory::MAX_MB));
        for action in rec["action"]["enum"].as_array().unwrap() {
            for memory_mb in [size("minimum"), size("maximum")] {
                let a = answer(json!({"action": action, "memory_mb": memory_mb}));
                assert!(finding(&a).is_ok(), "{action} {memory_mb}");
            }
        }
        assert_eq!(
            rec["action"]["enum"],
            json!(["set_memory", "keep", "escalate"])
        );
    }

    #[test]
    fn bad_answers_are_rejected_with_a_reason() {
        let e = finding(&answer(
            json!({"action": "set_memory", "memory_mb": 999999}),
        ))
        .unwrap_err();
        assert!(
            matches!(&e, Rejection::Invalid(m) if m.contains("999999")),
            "{e}"
        );
        let e = finding(&answer(json!({"action": "set_memory"}))).unwrap_err();
        assert!(matches!(e, Rejection::Malformed(_)), "{e}");
        let mut bad_kind = answer(json!({"action": "keep"}));
        bad_kind["kind"] = "gremlins".into();
        assert!(matches!(finding(&bad_kind), Err(Rejection::Invalid(m)) if m.contains("gremlins")));
        let mut bad_conf = answer(json!({"action": "keep"}));
        bad_conf["confidence"] = 7.into();
        assert!(matches!(finding(&bad_conf), Err(Rejection::Invalid(_))));
        assert!(matches!(
            finding(&json!("text")),
            Err(Rejection::Invalid(_))
        ));
    }
}
