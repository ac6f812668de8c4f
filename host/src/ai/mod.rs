//! The AI diagnoser: a model (Amazon Bedrock's Converse API,
//! [`crate::aws::bedrock`], or an OpenAI-compatible server,
//! [`crate::openai`]) asked about one incident, grounded in the team's
//! knowledge base, the function's past incidents and its recent changes; it
//! may investigate with read-only tools within a budget
//! ([`investigate`]), then must call one tool whose input is a finding. It
//! runs beside the rules, never acts, and its answer is validated like a
//! plugin's; the decision step has the last word.

pub mod answer;
pub mod investigate;
#[cfg(test)]
mod investigation_tests;
pub mod prompt;

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::config::AiConfig;
use crate::model::Evidence;
pub use crate::model::{AiRun, AiStatus};
pub use crate::ports::{AiDiagnoser, Model, ModelError, ModelReply, ModelRequest, ToolUse};
use crate::ports::{Knowledge, ToolChoice, ToolResult, ToolSpec, Turn};

/// The diagnoser: grounding, prompt, bounded investigation and retries,
/// validation of the answer.
#[derive(Clone)]
pub struct Diagnoser {
    model: Arc<dyn Model>,
    config: AiConfig,
    knowledge: Option<Arc<dyn Knowledge>>,
    sources: investigate::Sources,
}

impl Diagnoser {
    pub fn new(model: Arc<dyn Model>, config: &AiConfig) -> Diagnoser {
        Diagnoser {
            model,
            config: config.clone(),
            knowledge: None,
            sources: investigate::Sources::default(),
        }
    }

    /// Grounds prompts in a knowledge base's passages.
    pub fn with_knowledge(mut self, knowledge: Arc<dyn Knowledge>) -> Diagnoser {
        self.knowledge = Some(knowledge);
        self
    }

    /// What the history and the investigation's tools read through.
    pub fn with_sources(mut self, sources: investigate::Sources) -> Diagnoser {
        self.sources = sources;
        self
    }

    /// The passages and past incidents for `evidence`, with what went
    /// missing (a failing source is a note, never a failed diagnosis).
    async fn ground(&self, evidence: &Evidence, run: &mut AiRun) -> prompt::Background {
        let mut grounding = prompt::Background::default();
        if let Some(knowledge) = &self.knowledge
            && self.config.knowledge_passages > 0
        {
            let query = knowledge_query(evidence);
            match knowledge
                .retrieve(&query, self.config.knowledge_passages)
                .await
            {
                Ok(passages) if passages.is_empty() => {
                    run.grounding.knowledge_note =
                        Some("the knowledge base had no passage for the incident".into())
                }
                Ok(passages) => grounding.passages = passages,
                Err(e) => {
                    run.grounding.knowledge_note =
                        Some(crate::redact::redact(&format!("knowledge base: {e}")).0)
                }
            }
        }
        if let Some(audit) = &self.sources.audit
            && self.config.history_incidents > 0
        {
            let n = self.config.history_incidents;
            let mut past = audit
                .past_incidents(&evidence.function.name, n)
                .await
                .unwrap_or_default();
            // A function with no history of its own: others on its runtime
            // with the kind of trouble the evidence shows.
            if past.is_empty()
                && !evidence.function.runtime.is_empty()
                && let Some(kind) = likely_kind(&crate::stats::ReportStats::of(&evidence.reports))
            {
                past = audit
                    .similar_incidents(&evidence.function.runtime, kind, n)
                    .await
                    .unwrap_or_default();
            }
            grounding.past = past;
        }
        grounding
    }
}

/// The knowledge-base query for an incident: runtime, error types, what the
/// alarm watched and what the figures show.
pub fn knowledge_query(evidence: &Evidence) -> String {
    let stats = crate::stats::ReportStats::of(&evidence.reports);
    let mut errors: Vec<&str> = evidence
        .reports
        .iter()
        .filter_map(|r| r.error_type.as_deref())
        .collect();
    errors.sort_unstable();
    errors.dedup();
    errors.truncate(5);
    let mut query = format!(
        "AWS Lambda {} function alarm on {}",
        if evidence.function.runtime.is_empty() {
            "unknown runtime"
        } else {
            &evidence.function.runtime
        },
        evidence.alarm.metric
    );
    if let Some(kind) = likely_kind(&stats) {
        query.push_str(&format!(", {kind}"));
    }
    if !errors.is_empty() {
        query.push_str(&format!(", errors {}", errors.join(" ")));
    }
    if stats.timeouts > 0 {
        query.push_str(", timeouts");
    }
    crate::text::clean(&query.chars().take(1000).collect::<String>())
}

/// The kind of trouble the evidence most plainly shows, before any rule or
/// model has judged it: for finding similar past incidents.
fn likely_kind(stats: &crate::stats::ReportStats) -> Option<&'static str> {
    if stats.out_of_memory > 0 {
        Some("memory-exhaustion")
    } else if stats.timeouts > 0 {
        Some("downstream-timeout")
    } else if stats.errors > 0 {
        Some("code-error")
    } else {
        None
    }
}

#[async_trait]
impl AiDiagnoser for Diagnoser {
    async fn diagnose(&self, evidence: &Evidence) -> AiRun {
        let started = Instant::now();
        let mut run = AiRun {
            provider: self.config.provider.to_string(),
            ..AiRun::failed(&self.config.model_id, self.config.shadow)
        };
        let timeout = Duration::from_secs(self.config.timeout_seconds);
        let answer =
            tokio::time::timeout(timeout, self.investigate(evidence, started, &mut run)).await;
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
            model = %run.model_id, provider = %run.provider, status = ?run.status,
            latency_ms = run.latency_ms, input_tokens = run.input_tokens,
            output_tokens = run.output_tokens, tool_calls = run.tool_calls.len(),
            reason = run.reason.as_deref().unwrap_or(""), "AI diagnosis"
        );
        run
    }
}

impl Diagnoser {
    /// Grounds the prompt, then converses until the model submits: each
    /// reply's tool calls are answered (within the budget) and the next
    /// request carries them; once the budget is spent, one last request
    /// forces the answer.
    async fn investigate(
        &self,
        evidence: &Evidence,
        started: Instant,
        run: &mut AiRun,
    ) -> Result<ModelReply, String> {
        let grounding = self.ground(evidence, run).await;
        let prompt = prompt::build_grounded(evidence, &self.config, &grounding);
        run.prompt_tokens_estimated = prompt.estimated_tokens;
        run.sample_lines = prompt.sample_lines;
        run.redactions = prompt.redactions;
        run.grounding.passages = grounding
            .passages
            .iter()
            .take(prompt.passages)
            .map(|p| crate::text::clean(&p.source.chars().take(200).collect::<String>()))
            .collect();
        run.grounding.past_incidents = grounding
            .past
            .iter()
            .map(|p| p.incident_id.clone())
            .collect();
        run.grounding.recent_changes = evidence.changes.len();

        let submit = ToolSpec {
            name: prompt::TOOL_NAME.into(),
            description: "Submit the diagnosis of this incident as one finding.".into(),
            schema: answer::tool_schema(),
        };
        let mut tools = vec![submit];
        if self.config.max_tool_calls > 0 {
            tools.extend(investigate::tools(&self.sources));
        }
        let investigating = tools.len() > 1;
        let mut request = ModelRequest {
            model_id: self.config.model_id.clone(),
            system: prompt.system.clone(),
            turns: vec![Turn::User(prompt.user.clone())],
            tools,
            choice: if investigating {
                ToolChoice::Any
            } else {
                ToolChoice::Tool(prompt::TOOL_NAME.into())
            },
            max_tokens: self.config.max_output_tokens,
        };
        let mut budget = investigate::Budget::new(&self.config, started);
        let mut spent = None;
        loop {
            let reply = self.converse(&request, run).await?;
            run.input_tokens += reply.input_tokens;
            run.output_tokens += reply.output_tokens;
            budget.spend_tokens(reply.input_tokens + reply.output_tokens);
            let submitted = reply.tool_uses.iter().any(|t| t.name == prompt::TOOL_NAME);
            if let Some(spent) = spent
                && !submitted
            {
                return Err(format!(
                    "the investigation's budget of {spent} ran out and the model did not submit a diagnosis"
                ));
            }
            if submitted || reply.tool_uses.is_empty() || request.choice != ToolChoice::Any {
                return Ok(reply);
            }
            let mut results = Vec::new();
            for tool in &reply.tool_uses {
                let (content, is_error, record) =
                    investigate::call(&self.sources, evidence, &mut budget, tool).await;
                run.tool_calls.push(record);
                results.push(ToolResult {
                    id: tool.id.clone(),
                    content,
                    is_error,
                });
            }
            request.turns.push(Turn::Assistant {
                text: reply.text.clone(),
                tool_uses: reply.tool_uses.clone(),
            });
            request.turns.push(Turn::ToolResults(results));
            if let Some(what) = budget.exhausted() {
                tracing::info!(
                    spent = what,
                    "the AI's investigation budget is spent; asking for the answer"
                );
                request.choice = ToolChoice::Tool(prompt::TOOL_NAME.into());
                spent = Some(what);
            }
        }
    }

    /// One model call, retrying throttling and transient model errors with
    /// jittered exponential backoff, at most `max_attempts` times.
    async fn converse(
        &self,
        request: &ModelRequest,
        run: &mut AiRun,
    ) -> Result<ModelReply, String> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            run.attempts += 1;
            match self.model.converse(request).await {
                Ok(reply) => return Ok(reply),
                Err(ModelError { retryable, message }) => {
                    if !retryable || attempts >= self.config.max_attempts {
                        return Err(format!("{message} (after {} attempts)", run.attempts));
                    }
                    let delay = backoff(self.config.backoff_base_ms, attempts);
                    tracing::warn!(attempt = attempts, error = %message, ?delay, "retrying the model");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

fn read_answer(reply: &ModelReply, run: &mut AiRun) {
    run.stop_reason = Some(reply.stop_reason.clone());
    let submitted = reply.tool_uses.iter().find(|t| t.name == prompt::TOOL_NAME);
    let result = match (submitted, reply.tool_uses.first()) {
        (Some(t), _) => answer::finding(&t.input),
        (None, None) => Err(answer::Rejection::NoToolUse(prompt::TOOL_NAME)),
        (None, Some(t)) => Err(answer::Rejection::WrongTool(crate::text::clean(
            &t.name.chars().take(64).collect::<String>(),
        ))),
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
