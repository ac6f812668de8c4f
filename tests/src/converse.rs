//! A stand-in for the Bedrock runtime on 127.0.0.1: it speaks the Converse
//! REST-JSON wire format (`POST /model/{modelId}/converse`) and answers each
//! request with the next scripted reply, so the real SDK client can be tested
//! against good answers, bad answers, throttling, slowness and denial. No
//! emulator serves Bedrock; this is the one in-process fake, named as such.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{read_request, response};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub error_type: Option<&'static str>,
    pub body: Value,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// The model calls `submit_diagnosis` with `input`.
    pub fn tool_use(input: Value) -> Reply {
        Reply::answer(
            json!([{ "toolUse": { "toolUseId": "tooluse_1", "name": "submit_diagnosis", "input": input } }]),
            "tool_use",
        )
    }

    /// The model writes prose and calls no tool.
    pub fn text(text: &str) -> Reply {
        Reply::answer(json!([{ "text": text }]), "end_turn")
    }

    fn answer(content: Value, stop_reason: &str) -> Reply {
        Reply {
            status: 200,
            error_type: None,
            body: json!({
                "output": { "message": { "role": "assistant", "content": content } },
                "stopReason": stop_reason,
                "usage": { "inputTokens": 1500, "outputTokens": 120, "totalTokens": 1620 },
                "metrics": { "latencyMs": 850 }
            }),
            delay: Duration::ZERO,
        }
    }

    /// An AWS error, e.g. 429 ThrottlingException or 403 AccessDeniedException.
    pub fn error(status: u16, error_type: &'static str, message: &str) -> Reply {
        Reply {
            status,
            error_type: Some(error_type),
            body: json!({ "message": message }),
            delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
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

/// What the stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: Value,
}

pub struct ConverseStandIn {
    pub endpoint: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl ConverseStandIn {
    /// Serves `script` in order; once it runs out, the last reply repeats.
    pub fn start(script: Vec<Reply>) -> ConverseStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Converse stand-in");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new((script, 0usize)));
        let log = received.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (script, log) = (script.clone(), log.clone());
                std::thread::spawn(move || {
                    let Ok(Some(request)) = read_request(&client) else {
                        return;
                    };
                    let reply =
                        if request.method == "POST" && request.path.ends_with("/converse") {
                            let mut s = script.lock().unwrap();
                            let i = s.1.min(s.0.len().saturating_sub(1));
                            s.1 += 1;
                            s.0.get(i).cloned()
                        } else {
                            None
                        }
                        .unwrap_or_else(|| {
                            Reply::error(404, "UnknownOperationException", "not a Converse request")
                        });
                    log.lock().unwrap().push(Received {
                        path: request.path.clone(),
                        body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
                    });
                    std::thread::sleep(reply.delay);
                    let text = response(reply.status, reply.error_type, &reply.body.to_string());
                    let mut client = client;
                    let _ = client.write_all(text.as_bytes());
                });
            }
        });
        ConverseStandIn { endpoint, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
