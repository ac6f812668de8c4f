//! The AI's bounded investigation: before it must submit, the model may call
//! read-only tools scoped to the incident's function — more log lines by
//! filter pattern, one metric series, the function's recent changes, its
//! past incidents. Every call is checked against the scope and the budget
//! (calls, tokens, seconds), recorded, and answered with redacted,
//! bounded text; a call about another function is refused and counted.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::config::AiConfig;
use crate::model::{Evidence, ToolCallRecord, Window};
use crate::ports::{AuditStore, ChangeLog, Telemetry, ToolSpec, ToolUse};
use crate::redact::redact;

pub const LOG_LINES: &str = "log_lines";
pub const METRIC: &str = "metric";
pub const RECENT_CHANGES: &str = "recent_changes";
pub const PAST_INCIDENTS: &str = "past_incidents";

/// How far back from the alarm a tool may read.
const LOOKBACK_MS: i64 = 24 * 3_600_000;
/// Lines one `log_lines` call returns, at most.
const MAX_LINES: usize = 40;
/// Characters one tool result carries, at most.
const MAX_RESULT_CHARS: usize = 6_000;
/// Characters of a call's input kept in the record.
const MAX_INPUT_CHARS: usize = 200;
/// Past incidents one call returns.
const MAX_PAST: usize = 5;

/// What the investigation's tools read through.
#[derive(Clone, Default)]
pub struct Sources {
    pub telemetry: Option<Arc<dyn Telemetry>>,
    pub changes: Option<Arc<dyn ChangeLog>>,
    pub audit: Option<Arc<dyn AuditStore>>,
}

/// The investigation's tools, as the model is offered them: only those a
/// source backs.
pub fn tools(sources: &Sources) -> Vec<ToolSpec> {
    let function = json!({
        "type": "string",
        "description": "The function to read about: only the incident's own function is allowed."
    });
    let mut tools = Vec::new();
    if sources.telemetry.is_some() {
        tools.push(ToolSpec {
            name: LOG_LINES.into(),
            description: format!(
                "Read up to {MAX_LINES} more log lines of the incident's function matching a \
CloudWatch Logs filter pattern (e.g. \"ERROR\", \"?Timeout ?timed\"), over the given minutes \
before the alarm (at most 1440)."
            ),
            schema: json!({
                "type": "object",
                "properties": {
                    "function": function,
                    "filter_pattern": { "type": "string", "maxLength": 200 },
                    "minutes_before_alarm": { "type": "integer", "minimum": 1, "maximum": 1440 }
                },
                "required": ["filter_pattern"]
            }),
        });
        tools.push(ToolSpec {
            name: METRIC.into(),
            description: "Read one CloudWatch metric series of the incident's function over the \
given minutes before the alarm (at most 1440): Invocations, Errors, Duration, Throttles, \
ConcurrentExecutions, or Lambda Insights' memory_utilization."
                .into(),
            schema: json!({
                "type": "object",
                "properties": {
                    "function": function,
                    "name": { "type": "string", "maxLength": 64 },
                    "minutes_before_alarm": { "type": "integer", "minimum": 1, "maximum": 1440 }
                },
                "required": ["name"]
            }),
        });
    }
    if sources.changes.is_some() {
        tools.push(ToolSpec {
            name: RECENT_CHANGES.into(),
            description: "List the changes to the incident's function's code and configuration \
(CloudTrail) in the day before the alarm."
                .into(),
            schema: json!({ "type": "object", "properties": { "function": function } }),
        });
    }
    if sources.audit.is_some() {
        tools.push(ToolSpec {
            name: PAST_INCIDENTS.into(),
            description: "List the incident's function's past incidents: what was found, what \
was changed and whether it helped."
                .into(),
            schema: json!({ "type": "object", "properties": { "function": function } }),
        });
    }
    tools
}

/// What is left of the investigation's budget.
#[derive(Debug, Clone)]
pub struct Budget {
    calls_left: u32,
    tokens_left: u64,
    deadline: Instant,
}

impl Budget {
    pub fn new(config: &AiConfig, started: Instant) -> Budget {
        Budget {
            calls_left: config.max_tool_calls,
            tokens_left: config.max_investigation_tokens,
            deadline: started + std::time::Duration::from_secs(config.max_investigation_seconds),
        }
    }

    /// Counts the tokens of one model reply.
    pub fn spend_tokens(&mut self, tokens: u64) {
        self.tokens_left = self.tokens_left.saturating_sub(tokens);
    }

    /// Why no more tool may be called, if none may.
    pub fn exhausted(&self) -> Option<&'static str> {
        if self.calls_left == 0 {
            Some("tool calls")
        } else if self.tokens_left == 0 {
            Some("tokens")
        } else if Instant::now() >= self.deadline {
            Some("seconds")
        } else {
            None
        }
    }
}

/// Runs one tool call for the incident `evidence` is about; the text for the
/// model, whether it is an error, and the record.
pub async fn call(
    sources: &Sources,
    evidence: &Evidence,
    budget: &mut Budget,
    tool: &ToolUse,
) -> (String, bool, ToolCallRecord) {
    let started = Instant::now();
    let mut record = ToolCallRecord {
        tool: crate::text::clean(&tool.name.chars().take(64).collect::<String>()),
        input: redact(&clip(&tool.input.to_string(), MAX_INPUT_CHARS)).0,
        outcome: "ok".into(),
        result_chars: 0,
        ms: 0,
    };
    // Every call counts against the budget, a refused one too: a model
    // asking again and again for another function still runs out.
    let result = match budget.exhausted() {
        Some(what) => Err((
            "refused",
            format!("the investigation's budget of {what} is spent: submit the diagnosis now"),
        )),
        None => {
            budget.calls_left -= 1;
            match scope(&tool.input, &evidence.function.name) {
                Err(refusal) => Err(("refused", refusal)),
                Ok(()) => run(sources, evidence, tool)
                    .await
                    .map_err(|message| ("failed", message)),
            }
        }
    };
    let (text, is_error) = match result {
        Ok(text) => (text, false),
        Err((outcome, message)) => {
            record.outcome = outcome.into();
            (message, true)
        }
    };
    let text = clip(&text, MAX_RESULT_CHARS);
    record.result_chars = text.chars().count();
    record.ms = started.elapsed().as_millis() as u64;
    (text, is_error, record)
}

/// Whether the call stays on the incident's function.
fn scope(input: &Value, function: &str) -> Result<(), String> {
    match input.get("function").and_then(Value::as_str) {
        None => Ok(()),
        Some(named) if crate::model::function_name(named) == function => Ok(()),
        Some(named) => Err(format!(
            "out of scope: this investigation may read only function {function}, not {}",
            clip(named, 140)
        )),
    }
}

async fn run(sources: &Sources, evidence: &Evidence, tool: &ToolUse) -> Result<String, String> {
    let function = &evidence.function.name;
    let window = |input: &Value| {
        let minutes = input
            .get("minutes_before_alarm")
            .and_then(Value::as_i64)
            .unwrap_or(60)
            .clamp(1, LOOKBACK_MS / 60_000);
        Window {
            start_ms: evidence.window.end_ms - minutes * 60_000,
            end_ms: evidence.window.end_ms,
        }
    };
    let unavailable = || format!("{} is not available here", tool.name);
    match tool.name.as_str() {
        LOG_LINES => {
            let telemetry = sources.telemetry.as_ref().ok_or_else(unavailable)?;
            let pattern = tool
                .input
                .get("filter_pattern")
                .and_then(Value::as_str)
                .unwrap_or("");
            let pattern = clip(pattern, 200);
            let read = telemetry
                .search_lines(
                    &evidence.function.log_group(),
                    &pattern,
                    window(&tool.input),
                    MAX_LINES,
                )
                .await;
            let mut text = format!(
                "{} line(s) matching {pattern:?} (newest {MAX_LINES} at most; redacted, cut to 300 characters):\n",
                read.lines.len()
            );
            for line in &read.lines {
                let (clean, _) = redact(line.message.trim());
                let _ = writeln!(
                    text,
                    "{} {}",
                    crate::dates::date_time(line.timestamp_ms),
                    clip(&clean, 300)
                );
            }
            for note in &read.notes {
                let _ = writeln!(text, "note: {note}");
            }
            Ok(text)
        }
        METRIC => {
            let telemetry = sources.telemetry.as_ref().ok_or_else(unavailable)?;
            let name = tool.input.get("name").and_then(Value::as_str).unwrap_or("");
            let (series, notes) = telemetry.metrics(function, window(&tool.input)).await;
            let Some(found) = series.iter().find(|s| s.name == name) else {
                let known: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
                return Err(format!(
                    "no series {:?}; known: {}{}",
                    clip(name, 64),
                    known.join(", "),
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", notes.join("; "))
                    }
                ));
            };
            let mut text = format!(
                "{} {} ({} points):\n",
                found.name,
                found.statistic,
                found.points.len()
            );
            for p in &found.points {
                let _ = writeln!(
                    text,
                    "{} {}",
                    crate::dates::date_time(p.timestamp_ms),
                    p.value
                );
            }
            Ok(text)
        }
        RECENT_CHANGES => {
            let changes = sources.changes.as_ref().ok_or_else(unavailable)?;
            let found = changes
                .changes(
                    function,
                    Window {
                        start_ms: evidence.window.end_ms - LOOKBACK_MS,
                        end_ms: evidence.window.end_ms,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(super::prompt::changes_text(&found, evidence.window.end_ms))
        }
        PAST_INCIDENTS => {
            let audit = sources.audit.as_ref().ok_or_else(unavailable)?;
            let found = audit
                .past_incidents(function, MAX_PAST)
                .await
                .map_err(|e| e.to_string())?;
            Ok(super::prompt::past_text(&found))
        }
        other => Err(format!("no tool {:?}", clip(other, 64))),
    }
}

/// At most `max` characters of `s`.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
