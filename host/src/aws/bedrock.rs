//! The AI diagnoser's [`Model`] on Amazon Bedrock's Converse API: the
//! conversation with its tool calls and results, the tools offered and the
//! one the model must call.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ConversationRole, InferenceConfiguration, Message,
    SpecificToolChoice, SystemContentBlock, Tool, ToolChoice, ToolConfiguration, ToolInputSchema,
    ToolResultBlock, ToolResultContentBlock, ToolResultStatus, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use crate::config::AiConfig;
use crate::ports::{Model, ModelError, ModelReply, ModelRequest, ToolUse, Turn};

/// The Bedrock runtime client.
#[derive(Debug, Clone)]
pub struct Bedrock {
    client: aws_sdk_bedrockruntime::Client,
}

impl Bedrock {
    /// A client from the shared SDK config, with the `[ai]` section's region and
    /// endpoint when set (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME` works too). The SDK's
    /// own retries are off: the diagnoser retries, so attempts and their
    /// backoff are bounded by the AI's timeout and recorded.
    pub fn new(sdk: &SdkConfig, config: &AiConfig) -> Bedrock {
        let mut builder = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(config.timeout_seconds))
                    .connect_timeout(Duration::from_secs(3))
                    .build(),
            );
        if let Some(region) = &config.region {
            builder = builder.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &config.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        Bedrock {
            client: aws_sdk_bedrockruntime::Client::from_conf(builder.build()),
        }
    }

    fn request(
        &self,
        request: &ModelRequest,
    ) -> Result<aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder, String>
    {
        let mut tools = ToolConfiguration::builder();
        for spec in &request.tools {
            let tool = ToolSpecification::builder()
                .name(&spec.name)
                .description(&spec.description)
                .input_schema(ToolInputSchema::Json(to_document(&spec.schema)))
                .build()
                .map_err(|e| format!("building the tool: {e}"))?;
            tools = tools.tools(Tool::ToolSpec(tool));
        }
        let choice = match &request.choice {
            crate::ports::ToolChoice::Any => ToolChoice::Any(AnyToolChoice::builder().build()),
            crate::ports::ToolChoice::Tool(name) => ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(name)
                    .build()
                    .map_err(|e| format!("building the tool choice: {e}"))?,
            ),
        };
        let tools = tools
            .tool_choice(choice)
            .build()
            .map_err(|e| format!("building the tool config: {e}"))?;
        let mut call = self
            .client
            .converse()
            .model_id(&request.model_id)
            .system(SystemContentBlock::Text(request.system.clone()))
            .tool_config(tools)
            .inference_config(
                InferenceConfiguration::builder()
                    .temperature(0.0)
                    .max_tokens(request.max_tokens as i32)
                    .build(),
            );
        for turn in &request.turns {
            call = call.messages(message(turn).map_err(|e| format!("building a message: {e}"))?);
        }
        Ok(call)
    }
}

/// One turn as a Converse message: the host's words and tool results are the
/// user's, the model's calls the assistant's.
fn message(turn: &Turn) -> Result<Message, aws_sdk_bedrockruntime::error::BuildError> {
    let (role, content) = match turn {
        Turn::User(text) => (
            ConversationRole::User,
            vec![ContentBlock::Text(text.clone())],
        ),
        Turn::Assistant { text, tool_uses } => {
            let mut content = Vec::new();
            if !text.is_empty() {
                content.push(ContentBlock::Text(text.clone()));
            }
            for t in tool_uses {
                content.push(ContentBlock::ToolUse(
                    ToolUseBlock::builder()
                        .tool_use_id(&t.id)
                        .name(&t.name)
                        .input(to_document(&t.input))
                        .build()?,
                ));
            }
            (ConversationRole::Assistant, content)
        }
        Turn::ToolResults(results) => {
            let mut content = Vec::new();
            for r in results {
                content.push(ContentBlock::ToolResult(
                    ToolResultBlock::builder()
                        .tool_use_id(&r.id)
                        .content(ToolResultContentBlock::Text(r.content.clone()))
                        .set_status(r.is_error.then_some(ToolResultStatus::Error))
                        .build()?,
                ));
            }
            (ConversationRole::User, content)
        }
    };
    Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
}

#[async_trait]
impl Model for Bedrock {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        let call = self.request(request).map_err(|message| ModelError {
            retryable: false,
            message,
        })?;
        match call.send().await {
            Ok(output) => Ok(reply(&output)),
            Err(e) => {
                let (retryable, message) = classify(&e);
                Err(ModelError { retryable, message })
            }
        }
    }
}

fn reply(output: &ConverseOutput) -> ModelReply {
    let (input_tokens, output_tokens) = output.usage().map_or((0, 0), |u| {
        (
            u.input_tokens().max(0) as u64,
            u.output_tokens().max(0) as u64,
        )
    });
    let content = output
        .output()
        .and_then(|o| o.as_message().ok())
        .map(|m| m.content())
        .unwrap_or_default();
    let tool_uses = content
        .iter()
        .filter_map(|c| c.as_tool_use().ok())
        .map(|t| ToolUse {
            id: t.tool_use_id().to_owned(),
            name: t.name().to_owned(),
            input: from_document(t.input()),
        })
        .collect();
    let text = content
        .iter()
        .filter_map(|c| c.as_text().ok())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    ModelReply {
        input_tokens,
        output_tokens,
        stop_reason: output.stop_reason().as_str().to_owned(),
        text,
        tool_uses,
    }
}

/// Whether a Converse error is worth retrying, and a one-line description.
fn classify(e: &SdkError<ConverseError>) -> (bool, String) {
    match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let retryable = matches!(
                err,
                ConverseError::ThrottlingException(_)
                    | ConverseError::ModelTimeoutException(_)
                    | ConverseError::ServiceUnavailableException(_)
                    | ConverseError::ModelNotReadyException(_)
            ) || service.raw().status().as_u16() == 429;
            let what = match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => format!("HTTP {}", service.raw().status().as_u16()),
            };
            (retryable, what)
        }
        SdkError::TimeoutError(_) => (true, "timed out".to_owned()),
        SdkError::DispatchFailure(d) => (
            d.is_io() || d.is_timeout(),
            format!("could not reach Bedrock: {d:?}"),
        ),
        other => (false, other.to_string()),
    }
}

fn to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn from_document(doc: &Document) -> Value {
    match doc {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(from_document).collect()),
        Document::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), from_document(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip() {
        let v = serde_json::json!({"a": [1, -2, 0.5, "x", null, true], "b": {"c": 10240}});
        assert_eq!(from_document(&to_document(&v)), v);
    }
}
