//! The AI diagnoser: a model (Amazon Bedrock's Converse API in production,
//! [`crate::aws::bedrock`]) asked with one forced tool whose input is a finding. It runs beside the rules, never acts, and its answer is
//! validated like a plugin's; the decision step has the last word.

pub mod answer;
pub mod prompt;

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
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

/// One request to the model: a system prompt, one user message and the one
/// tool it must call.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub model_id: String,
    pub system: String,
    pub user: String,
    pub tool_name: &'static str,
    pub tool_description: &'static str,
    pub tool_schema: Value,
    pub max_tokens: u32,
}

/// The tool call a model answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    pub name: String,
    pub input: Value,
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelReply {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub stop_reason: String,
    pub tool_use: Option<ToolUse>,
}

/// A failed model call, and whether trying again may help (throttling, a
/// model not ready, a timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    pub retryable: bool,
    pub message: String,
}

/// The port to a language model.
#[async_trait]
pub trait Model: Send + Sync {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, ModelError>;
}

/// The port the pipeline asks: one incident in, what the AI said out. Never
/// fails: a failure is an [`AiRun`] with status `failed` and the reason.
#[async_trait]
pub trait AiDiagnoser: Send + Sync {
    async fn diagnose(&self, evidence: &Evidence) -> AiRun;
}

/// The diagnoser: prompt, bounded retries, validation of the answer.
#[derive(Clone)]
pub struct Diagnoser {
    model: Arc<dyn Model>,
    config: AiConfig,
}

impl Diagnoser {
    pub fn new(model: Arc<dyn Model>, config: &AiConfig) -> Diagnoser {
        Diagnoser {
            model,
            config: config.clone(),
        }
    }
}

#[async_trait]
impl AiDiagnoser for Diagnoser {
    async fn diagnose(&self, evidence: &Evidence) -> AiRun {
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
            Ok(Ok(reply)) => read_answer(&reply, &mut run),
        }
        run.cost_usd = self.config.cost_usd(run.input_tokens, run.output_tokens);
        tracing::info!(
            model = %run.model_id, status = ?run.status, latency_ms = run.latency_ms,
            input_tokens = run.input_tokens, output_tokens = run.output_tokens,
            reason = run.reason.as_deref().unwrap_or(""), "AI diagnosis"
        );
        run
    }
}

impl Diagnoser {
    /// Converse, retrying throttling and transient model errors with jittered
    /// exponential backoff, at most `max_attempts` times.
    async fn converse(
        &self,
        prompt: &prompt::Prompt,
        run: &mut AiRun,
    ) -> Result<ModelReply, String> {
        let request = ModelRequest {
            model_id: self.config.model_id.clone(),
            system: prompt.system.clone(),
            user: prompt.user.clone(),
            tool_name: prompt::TOOL_NAME,
            tool_description: "Submit the diagnosis of this incident as one finding.",
            tool_schema: answer::tool_schema(),
            max_tokens: self.config.max_output_tokens,
        };
        loop {
            run.attempts += 1;
            match self.model.converse(&request).await {
                Ok(reply) => return Ok(reply),
                Err(ModelError { retryable, message }) => {
                    if !retryable || run.attempts >= self.config.max_attempts {
                        return Err(format!("{message} (after {} attempts)", run.attempts));
                    }
                    let delay = backoff(self.config.backoff_base_ms, run.attempts);
                    tracing::warn!(attempt = run.attempts, error = %message, ?delay, "retrying the model");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

fn read_answer(reply: &ModelReply, run: &mut AiRun) {
    run.input_tokens = reply.input_tokens;
    run.output_tokens = reply.output_tokens;
    run.stop_reason = Some(reply.stop_reason.clone());
    let result = match &reply.tool_use {
        None => Err(answer::Rejection::NoToolUse(prompt::TOOL_NAME)),
        Some(t) if t.name != prompt::TOOL_NAME => Err(answer::Rejection::WrongTool(
            t.name.chars().take(64).collect(),
        )),
        Some(t) => answer::finding(&t.input),
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

/// Full jitter: uniform in [0, base × 2^(attempt-1)], capped at 10 s.
fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let cap = base_ms
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(10_000);
    let random = RandomState::new().hash_one(Instant::now());
    Duration::from_millis(if cap == 0 { 0 } else { random % (cap + 1) })
}

#[cfg(test)]
mod tests {
    use super::*;

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
