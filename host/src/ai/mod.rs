//! The AI diagnoser: Amazon Bedrock's Converse API with one forced tool whose
//! input is a finding. It runs beside the rules, never acts, and its answer is
//! validated like a plugin's; the decision step has the last word.

pub mod answer;
pub mod prompt;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, SpecificToolChoice,
    SystemContentBlock, Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::{Document, Number};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::AiConfig;
use crate::model::{Evidence, Finding};

/// How the AI's part of an incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiStatus {
    /// A valid finding.
    Answered,
    /// The model answered, but not with a valid finding (`reason` says why).
    Discarded,
    /// No answer: access denied, timeout, retries exhausted (`reason` says why).
    Failed,
}

/// What the AI did on one incident: kept in the run document and the audit
/// record so AI and rules can be compared later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiRun {
    pub model_id: String,
    pub status: AiStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub latency_ms: u64,
    pub attempts: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// From the configured prices per 1k tokens.
    pub cost_usd: f64,
    /// The prompt's own estimate, and how many sample lines and redactions it carried.
    pub prompt_tokens_estimated: usize,
    pub sample_lines: usize,
    pub redactions: usize,
    /// Watch only: recorded, never deciding.
    #[serde(default)]
    pub shadow: bool,
}

/// The Bedrock runtime client with the diagnoser's settings.
#[derive(Debug, Clone)]
pub struct Bedrock {
    client: aws_sdk_bedrockruntime::Client,
    config: AiConfig,
}

impl Bedrock {
    /// A client from the shared SDK config, with the `[ai]` section's region and
    /// endpoint when set (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME` works too). The SDK's
    /// own retries are off: [`Bedrock::diagnose`] retries, so attempts and their
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
            config: config.clone(),
        }
    }

    /// Asks the model about one incident. Never fails: a failure is an
    /// [`AiRun`] with status `failed` and the reason.
    pub async fn diagnose(&self, evidence: &Evidence) -> AiRun {
        let started = Instant::now();
        let prompt = prompt::build(evidence, &self.config);
        let mut run = AiRun {
            model_id: self.config.model_id.clone(),
            status: AiStatus::Failed,
            finding: None,
            reason: None,
            latency_ms: 0,
            attempts: 0,
            input_tokens: 0,
            output_tokens: 0,
            stop_reason: None,
            cost_usd: 0.0,
            prompt_tokens_estimated: prompt.estimated_tokens,
            sample_lines: prompt.sample_lines,
            redactions: prompt.redactions,
            shadow: self.config.shadow,
        };
        let timeout = Duration::from_secs(self.config.timeout_seconds);
        let answer = tokio::time::timeout(timeout, self.converse(&prompt, &mut run)).await;
        run.latency_ms = started.elapsed().as_millis() as u64;
        match answer {
            Err(_) => {
                run.reason = Some(format!(
                    "no answer within {} s ({} attempts)",
                    self.config.timeout_seconds, run.attempts
                ))
            }
            Ok(Err(reason)) => run.reason = Some(reason),
            Ok(Ok(output)) => self.read_answer(&output, &mut run),
        }
        run.cost_usd = self.config.cost_usd(run.input_tokens, run.output_tokens);
        tracing::info!(
            model = %run.model_id, status = ?run.status, latency_ms = run.latency_ms,
            input_tokens = run.input_tokens, output_tokens = run.output_tokens,
            reason = run.reason.as_deref().unwrap_or(""), "AI diagnosis"
        );
        run
    }

    /// Converse, retrying throttling and transient model errors with jittered
    /// exponential backoff, at most `max_attempts` times.
    async fn converse(
        &self,
        prompt: &prompt::Prompt,
        run: &mut AiRun,
    ) -> Result<ConverseOutput, String> {
        let request = self.request(prompt)?;
        loop {
            run.attempts += 1;
            let result = request.clone().send().await;
            match result {
                Ok(output) => return Ok(output),
                Err(e) => {
                    let (retryable, what) = classify(&e);
                    if !retryable || run.attempts >= self.config.max_attempts {
                        return Err(format!("{what} (after {} attempts)", run.attempts));
                    }
                    let delay = backoff(self.config.backoff_base_ms, run.attempts);
                    tracing::warn!(attempt = run.attempts, error = %what, ?delay, "retrying Bedrock");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn request(
        &self,
        prompt: &prompt::Prompt,
    ) -> Result<aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder, String>
    {
        let tool = ToolSpecification::builder()
            .name(prompt::TOOL_NAME)
            .description("Submit the diagnosis of this incident as one finding.")
            .input_schema(ToolInputSchema::Json(to_document(&answer::tool_schema())))
            .build()
            .map_err(|e| format!("building the tool: {e}"))?;
        let choice = SpecificToolChoice::builder()
            .name(prompt::TOOL_NAME)
            .build()
            .map_err(|e| format!("building the tool choice: {e}"))?;
        let tools = ToolConfiguration::builder()
            .tools(Tool::ToolSpec(tool))
            .tool_choice(ToolChoice::Tool(choice))
            .build()
            .map_err(|e| format!("building the tool config: {e}"))?;
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.user.clone()))
            .build()
            .map_err(|e| format!("building the message: {e}"))?;
        Ok(self
            .client
            .converse()
            .model_id(&self.config.model_id)
            .system(SystemContentBlock::Text(prompt.system.clone()))
            .messages(message)
            .tool_config(tools)
            .inference_config(
                InferenceConfiguration::builder()
                    .temperature(0.0)
                    .max_tokens(self.config.max_output_tokens as i32)
                    .build(),
            ))
    }

    fn read_answer(&self, output: &ConverseOutput, run: &mut AiRun) {
        if let Some(usage) = output.usage() {
            run.input_tokens = usage.input_tokens().max(0) as u64;
            run.output_tokens = usage.output_tokens().max(0) as u64;
        }
        run.stop_reason = Some(output.stop_reason().as_str().to_owned());
        let content = output
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| m.content())
            .unwrap_or_default();
        let tool_use = content.iter().find_map(|c| c.as_tool_use().ok());
        let result = match tool_use {
            None => Err(answer::Rejection::NoToolUse(prompt::TOOL_NAME)),
            Some(t) if t.name() != prompt::TOOL_NAME => Err(answer::Rejection::WrongTool(
                t.name().chars().take(64).collect(),
            )),
            Some(t) => answer::finding(&from_document(t.input())),
        };
        match result {
            Ok(finding) => {
                run.status = AiStatus::Answered;
                run.finding = Some(finding);
            }
            Err(rejection) => {
                run.status = AiStatus::Discarded;
                run.reason = Some(rejection.to_string());
            }
        }
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

/// Full jitter: uniform in [0, base × 2^(attempt-1)], capped at 10 s.
fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let cap = base_ms
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(10_000);
    let random = RandomState::new().hash_one(Instant::now());
    Duration::from_millis(if cap == 0 { 0 } else { random % (cap + 1) })
}

pub(crate) fn to_document(value: &Value) -> Document {
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

pub(crate) fn from_document(doc: &Document) -> Value {
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

    #[test]
    fn backoff_is_bounded_and_jittered() {
        for attempt in 1..20 {
            assert!(backoff(500, attempt) <= Duration::from_secs(10));
        }
        assert_eq!(backoff(0, 3), Duration::ZERO);
        let draws: std::collections::HashSet<_> = (0..20).map(|_| backoff(1000, 3)).collect();
        assert!(draws.len() > 1, "no jitter: {draws:?}");
    }
}
