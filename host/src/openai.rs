//! The AI diagnoser's [`Model`] on any server speaking OpenAI's Chat
//! Completions (`POST {base_url}/chat/completions`): vLLM, Ollama, LiteLLM
//! gateways, OpenAI itself. The conversation becomes `messages` (the
//! model's calls as `tool_calls`, their results as `tool` messages), the
//! tools `function` tools, and the forced one `tool_choice`. Errors keep
//! the server's own words and say whether trying again may help (429 and
//! 5xx do; 400, 401, 403 and 404 do not).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::config::AiConfig;
use crate::ports::{Model, ModelError, ModelReply, ModelRequest, ToolChoice, ToolUse, Turn};

/// The largest reply read (a Chat Completions answer is a few KB).
const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// Where the API key comes from: given (the environment), or read once from
/// a secret store when first needed.
#[async_trait]
pub trait ApiKey: Send + Sync {
    /// The key; empty for none.
    async fn key(&self) -> Result<String, String>;
}

#[async_trait]
impl ApiKey for String {
    async fn key(&self) -> Result<String, String> {
        Ok(self.clone())
    }
}

/// A Chat Completions client for one server and key.
#[derive(Clone)]
pub struct OpenAi {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: String,
    api_key: std::sync::Arc<dyn ApiKey>,
    timeout: Duration,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("OpenAi").field("url", &self.url).finish()
    }
}

impl OpenAi {
    /// A client for `[ai] base_url` with `api_key` (from the environment or
    /// Secrets Manager; an empty key sends no Authorization header, as a
    /// local Ollama wants).
    pub fn new(config: &AiConfig, api_key: std::sync::Arc<dyn ApiKey>) -> Result<OpenAi, String> {
        let base = config
            .base_url
            .as_deref()
            .ok_or("ai.base_url is not set")?
            .trim_end_matches('/');
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("loading the system's root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(OpenAi {
            client: Client::builder(TokioExecutor::new()).build(https),
            url: format!("{base}/chat/completions"),
            api_key,
            timeout: Duration::from_secs(config.timeout_seconds),
        })
    }

    async fn post(&self, body: Vec<u8>) -> Result<(u16, Vec<u8>), ModelError> {
        let key = self.api_key.key().await.map_err(|message| ModelError {
            retryable: false,
            message,
        })?;
        let mut request = hyper::Request::post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if !key.is_empty() {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ModelError {
                retryable: false,
                message: format!("building the request: {e}"),
            })?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| ModelError {
                retryable: true,
                message: "timed out".into(),
            })?
            .map_err(|e| ModelError {
                retryable: e.is_connect(),
                message: format!("could not reach {}: {e}", self.url),
            })?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| ModelError {
                retryable: true,
                message: format!("reading the reply: {e}"),
            })?
            .to_bytes();
        Ok((status, body.to_vec()))
    }
}

#[async_trait]
impl Model for OpenAi {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        let body = serde_json::to_vec(&body(request)).map_err(|e| ModelError {
            retryable: false,
            message: format!("writing the request: {e}"),
        })?;
        let (status, reply) = self.post(body).await?;
        let value: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(error(status, &value));
        }
        read(&value).ok_or_else(|| ModelError {
            retryable: false,
            message: "the reply is not a chat completion (no choices[0].message)".into(),
        })
    }
}

/// The request body: messages, tools, the tool choice.
pub fn body(request: &ModelRequest) -> Value {
    let mut messages = vec![json!({ "role": "system", "content": request.system })];
    for turn in &request.turns {
        match turn {
            Turn::User(text) => messages.push(json!({ "role": "user", "content": text })),
            Turn::Assistant { text, tool_uses } => {
                let calls: Vec<Value> = tool_uses
                    .iter()
                    .map(|t| {
                        json!({
                            "id": t.id,
                            "type": "function",
                            "function": { "name": t.name, "arguments": t.input.to_string() }
                        })
                    })
                    .collect();
                let content = if text.is_empty() {
                    Value::Null
                } else {
                    json!(text)
                };
                messages
                    .push(json!({ "role": "assistant", "content": content, "tool_calls": calls }));
            }
            Turn::ToolResults(results) => {
                for r in results {
                    // The wire has no error flag: a refusal says so in words.
                    let content = if r.is_error {
                        format!("error: {}", r.content)
                    } else {
                        r.content.clone()
                    };
                    messages
                        .push(json!({ "role": "tool", "tool_call_id": r.id, "content": content }));
                }
            }
        }
    }
    let tools: Vec<Value> = request
        .tools
        .iter()
        .map(|t| {
            json!({
                "type": "function",
                "function": { "name": t.name, "description": t.description, "parameters": t.schema }
            })
        })
        .collect();
    let choice = match &request.choice {
        ToolChoice::Any => json!("required"),
        ToolChoice::Tool(name) => json!({ "type": "function", "function": { "name": name } }),
    };
    json!({
        "model": request.model_id,
        "messages": messages,
        "tools": tools,
        "tool_choice": choice,
        "max_tokens": request.max_tokens,
        "temperature": 0,
    })
}

/// The reply: usage, finish reason, text and tool calls (arguments parsed;
/// arguments that are not JSON are kept as a string for the validator to
/// refuse).
pub fn read(value: &Value) -> Option<ModelReply> {
    let choice = value.get("choices")?.get(0)?;
    let message = choice.get("message")?;
    let tool_uses = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let arguments = c["function"]["arguments"].as_str().unwrap_or("{}");
            ToolUse {
                id: c["id"].as_str().unwrap_or_default().to_owned(),
                name: c["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                input: serde_json::from_str(arguments)
                    .unwrap_or_else(|_| Value::String(arguments.to_owned())),
            }
        })
        .collect();
    let usage = |key: &str| value["usage"][key].as_u64().unwrap_or(0);
    Some(ModelReply {
        input_tokens: usage("prompt_tokens"),
        output_tokens: usage("completion_tokens"),
        stop_reason: choice["finish_reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        text: message["content"].as_str().unwrap_or_default().to_owned(),
        tool_uses,
    })
}

/// An error reply, in the server's words; 408, 409, 429 and 5xx may pass.
fn error(status: u16, value: &Value) -> ModelError {
    let detail = value["error"]["message"]
        .as_str()
        .or_else(|| value["error"].as_str())
        .or_else(|| value["message"].as_str())
        .unwrap_or("no message");
    let kind = value["error"]["type"].as_str().unwrap_or("error");
    let detail: String = detail.chars().take(300).collect();
    ModelError {
        retryable: matches!(status, 408 | 409 | 429) || status >= 500,
        message: format!("HTTP {status} {kind}: {}", crate::text::clean(&detail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{ToolResult, ToolSpec};

    fn request() -> ModelRequest {
        ModelRequest {
            model_id: "llama3.1".into(),
            system: "sys".into(),
            turns: vec![
                Turn::User("incident".into()),
                Turn::Assistant {
                    text: String::new(),
                    tool_uses: vec![ToolUse {
                        id: "call_0".into(),
                        name: "log_lines".into(),
                        input: json!({"filter_pattern": "ERROR"}),
                    }],
                },
                Turn::ToolResults(vec![ToolResult {
                    id: "call_0".into(),
                    content: "out of scope".into(),
                    is_error: true,
                }]),
            ],
            tools: vec![ToolSpec {
                name: "submit_diagnosis".into(),
                description: "d".into(),
                schema: json!({"type": "object"}),
            }],
            choice: ToolChoice::Tool("submit_diagnosis".into()),
            max_tokens: 100,
        }
    }

    #[test]
    fn the_conversation_becomes_chat_messages() {
        let b = body(&request());
        let m = b["messages"].as_array().unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0]["role"], "system");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            r#"{"filter_pattern":"ERROR"}"#
        );
        assert_eq!(m[3]["role"], "tool");
        assert_eq!(m[3]["tool_call_id"], "call_0");
        assert_eq!(m[3]["content"], "error: out of scope");
        assert_eq!(b["tool_choice"]["function"]["name"], "submit_diagnosis");
        assert_eq!(b["tools"][0]["function"]["parameters"]["type"], "object");
    }

    #[test]
    fn replies_and_errors_are_read() {
        let reply = read(&json!({
            "choices": [{"message": {"content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "submit_diagnosis", "arguments": "{\"kind\":\"other\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "x", "arguments": "not json"}}
            ]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3}
        }))
        .unwrap();
        assert_eq!(reply.tool_uses.len(), 2);
        assert_eq!(reply.tool_uses[0].input["kind"], "other");
        assert_eq!(reply.tool_uses[1].input, json!("not json"));
        assert_eq!((reply.input_tokens, reply.output_tokens), (10, 3));
        assert!(read(&json!({"object": "list"})).is_none());

        let e = error(
            429,
            &json!({"error": {"message": "slow down", "type": "rate_limit_exceeded"}}),
        );
        assert!(e.retryable && e.message.contains("slow down"), "{e:?}");
        let e = error(
            401,
            &json!({"error": {"message": "bad key", "type": "invalid_request_error"}}),
        );
        assert!(!e.retryable && e.message.contains("401"), "{e:?}");
        assert!(error(503, &Value::Null).retryable);
    }
}
