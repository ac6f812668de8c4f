//! A stand-in for the Bedrock runtime on 127.0.0.1: it speaks the Converse
//! REST-JSON wire format (`POST /model/{modelId}/converse`) and answers each
//! request with the next scripted reply, so the real SDK client can be tested
//! against good answers, bad answers, throttling, slowness and denial. No
//! emulator serves Bedrock; this is the one in-process fake, named as such.

use serde_json::{Value, json};

use crate::scripted::Scripted;
pub use crate::scripted::{Received, Reply};

impl Reply {
    /// The model calls `submit_diagnosis` with `input`.
    pub fn tool_use(input: Value) -> Reply {
        Reply::tools(&[("submit_diagnosis", input)])
    }

    /// The model calls each tool `(name, input)`, in order.
    pub fn tools(calls: &[(&str, Value)]) -> Reply {
        let content: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (name, input))| {
                json!({ "toolUse": { "toolUseId": format!("tooluse_{i}"), "name": name, "input": input } })
            })
            .collect();
        Reply::answer(Value::Array(content), "tool_use")
    }

    /// The model writes prose and calls no tool.
    pub fn text(text: &str) -> Reply {
        Reply::answer(json!([{ "text": text }]), "end_turn")
    }

    fn answer(content: Value, stop_reason: &str) -> Reply {
        Reply::ok(json!({
            "output": { "message": { "role": "assistant", "content": content } },
            "stopReason": stop_reason,
            "usage": { "inputTokens": 1500, "outputTokens": 120, "totalTokens": 1620 },
            "metrics": { "latencyMs": 850 }
        }))
    }

    /// An AWS error, e.g. 429 ThrottlingException or 403 AccessDeniedException.
    pub fn error(status: u16, error_type: &'static str, message: &str) -> Reply {
        Reply {
            status,
            error_type: Some(error_type),
            ..Reply::ok(json!({ "message": message }))
        }
    }
}

/// A finding the model might send: memory exhaustion, set memory to `mb`.
pub fn oom_diagnosis(mb: u64) -> Value {
    json!({
        "kind": "memory-exhaustion",
        "confidence": 0.9,
        "summary": "Invocations are killed at the memory limit.",
        "evidence": ["max memory used equals memory size on failing invocations"],
        "recommendation": { "action": "set_memory", "memory_mb": mb }
    })
}

/// Bedrock's Converse on 127.0.0.1.
pub struct ConverseStandIn {
    pub endpoint: String,
    server: Scripted,
}

impl ConverseStandIn {
    /// Serves `script` in order; once it runs out, the last reply repeats.
    pub fn start(script: Vec<Reply>) -> ConverseStandIn {
        let server = Scripted::start(
            |r| r.method == "POST" && r.path.ends_with("/converse"),
            script,
            Reply::error(404, "UnknownOperationException", "not a Converse request"),
        );
        ConverseStandIn {
            endpoint: server.endpoint.clone(),
            server,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.server.received()
    }
}
