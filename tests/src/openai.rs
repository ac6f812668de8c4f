//! A stand-in for an OpenAI-compatible Chat Completions server (what vLLM,
//! Ollama, LiteLLM and OpenAI itself speak) on 127.0.0.1: `POST
//! {base}/chat/completions` answered with the next scripted reply — tool
//! calls, prose, or the error shapes such servers send (`{"error": {…}}` with
//! 401, 429, 500, 503). No such server is part of the test machine; this
//! is an in-process fake, named as such.

use serde_json::{Value, json};

use crate::scripted::{Received, Reply, Scripted};

/// The model calls each tool `(name, input)`, in order.
pub fn tool_calls(calls: &[(&str, Value)]) -> Reply {
    let calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, input))| {
            json!({
                "id": format!("call_{i}"),
                "type": "function",
                // The wire carries the arguments as a JSON string.
                "function": { "name": name, "arguments": input.to_string() }
            })
        })
        .collect();
    completion(
        json!({ "role": "assistant", "content": null, "tool_calls": calls }),
        "tool_calls",
    )
}

/// The model calls `submit_diagnosis` with `input`.
pub fn diagnosis(input: Value) -> Reply {
    tool_calls(&[("submit_diagnosis", input)])
}

/// The model writes prose and calls no tool.
pub fn text(text: &str) -> Reply {
    completion(json!({ "role": "assistant", "content": text }), "stop")
}

fn completion(message: Value, finish_reason: &str) -> Reply {
    Reply::ok(json!({
        "id": "chatcmpl-stand-in",
        "object": "chat.completion",
        "created": 1_767_225_600,
        "model": "stand-in",
        "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason }],
        "usage": { "prompt_tokens": 1400, "completion_tokens": 90, "total_tokens": 1490 }
    }))
}

/// An error as OpenAI-compatible servers send it: `status` and
/// `{"error": {"message", "type", "code"}}`.
pub fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply {
        status,
        ..Reply::ok(
            json!({ "error": { "message": message, "type": kind, "param": null, "code": kind } }),
        )
    }
}

pub struct OpenAiStandIn {
    /// The base URL a client is configured with (`…/v1`).
    pub base_url: String,
    server: Scripted,
}

impl OpenAiStandIn {
    /// Serves `script` in order; once it runs out, the last reply repeats.
    pub fn start(script: Vec<Reply>) -> OpenAiStandIn {
        let server = Scripted::start(
            |r| r.method == "POST" && r.path == "/v1/chat/completions",
            script,
            error(404, "not_found", "no such route"),
        );
        OpenAiStandIn {
            base_url: format!("{}/v1", server.endpoint),
            server,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.server.received()
    }
}
