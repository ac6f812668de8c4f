//! The AI diagnoser: a model (Amazon Bedrock's Converse API in production,
//! [`crate::aws::bedrock`]) asked with one forced tool whose input is a finding. It runs beside the rules, never acts, and its answer is
//! validated like a plugin's; the decision step has the last word.

pub mod answer;
pub mod prompt;

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::config::AiConfig;
use crate::model::Evidence;
pub use crate::model::{AiRun, AiStatus};
pub use crate::ports::{AiDiagnoser, Model, ModelError, ModelReply, ModelRequest, ToolUse};

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
            prompt_tokens_estimated: prompt.estimated_tokens,
            sample_lines: prompt.sample_lines,
            redactions: prompt.redactions,
            ..AiRun::failed(&self.config.model_id, self.config.shadow)
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
            crate::text::clean(&t.name.chars().take(64).collect::<String>()),
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
            // A rejection quotes what the model sent, which may echo the
            // logs it was shown.
            run.reason = Some(crate::redact::redact(&rejection.to_string()).0);
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
