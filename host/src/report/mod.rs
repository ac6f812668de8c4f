//! `autorepair report`: the A/B comparison of AI against rules over recorded
//! incidents, as a text table, JSON, Markdown or one self-contained HTML page
//! with charts. Pure: records in, a [`Report`] out ([`build`]), then rendered
//! ([`text`], [`markdown`], [`json`], [`html`]).

mod build;
mod html;
mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decide::{Action, WouldHave};
use crate::model::Millis;
use crate::run::Status;
use crate::verify::Verdict;

pub use build::build;
pub use html::{escape as escape_html, html, page_head};
pub use text::{json, markdown, text};

/// The rules' view: what the rules alone decide (shadow rules left out).
pub const RULES: &str = "mode:rules";
/// The AI's view: what the AI alone decides (even when it only watches).
pub const AI: &str = "source:ai";

/// One source's or mode's view of an incident, short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct View {
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_memory_mb: Option<u32>,
}

impl From<&WouldHave> for View {
    fn from(w: &WouldHave) -> View {
        View {
            action: w.action,
            target_memory_mb: w.target_memory_mb,
        }
    }
}

impl std::fmt::Display for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.action, self.target_memory_mb) {
            (Action::SetMemory, Some(t)) => write!(f, "set {t} MB"),
            (action, _) => write!(f, "{action}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentRow {
    pub id: String,
    pub function: String,
    pub at_ms: Millis,
    pub memory_mb: u32,
    pub rules: Option<View>,
    pub ai: Option<View>,
    /// Why the AI has no view (failed, discarded, not asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_note: Option<String>,
    /// Whether both views agree on the action; none when one is missing.
    pub agree: Option<bool>,
    pub applied_memory_mb: Option<u32>,
    /// Memory steps the incident took to get there (1 for a single change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    pub status: Status,
    pub verdict: Option<Verdict>,
    /// With a labelled corpus: whether the rules' and the AI's views match the label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules_correct: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_correct: Option<bool>,
}

/// How one source or mode fared across incidents.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStats {
    /// `mode:<mode>` or `source:<source>`.
    pub by: String,
    /// A source that only watched (shadow): its views are what it would have
    /// decided, set against what was decided and what happened.
    pub shadow: bool,
    /// Incidents where this source had a view.
    pub incidents: usize,
    /// Incidents where it would have decided exactly what was decided (the
    /// action and, for a change, the memory).
    pub matched_decision: usize,
    pub recommended_change: usize,
    /// Its change was the one made, and then verified improved or rolled back.
    pub applied: usize,
    pub improved: usize,
    pub rolled_back: usize,
    pub escalated: usize,
    /// Mean of (recommended − current) MB over its recommended changes.
    pub mean_memory_delta_mb: Option<f64>,
    /// What its recommended changes cost a month, all together, at the
    /// observed invocation rate and mean duration.
    pub monthly_cost_delta_usd: f64,
    /// Labelled incidents it got right, of `labelled`.
    pub correct: usize,
    pub labelled: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AiStats {
    pub asked: usize,
    pub answered: usize,
    pub discarded: usize,
    pub failed: usize,
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Why answers were discarded or calls failed, with counts.
    pub reasons: BTreeMap<String, usize>,
}

/// The repairs in figures: how often a change fixed the function, and how
/// fast, against the alarm's transition.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeyFigures {
    /// Incidents that changed the function (once or in steps).
    pub changed: usize,
    /// Memory steps they took in all.
    pub steps: usize,
    /// Changed and verified improved.
    pub repaired: usize,
    /// Changed, did not help, put back.
    pub rolled_back: usize,
    /// Changed, then judged unchanged or worse (rolled back, or a later step
    /// undone): changes memory did not justify.
    pub did_not_help: usize,
    /// `repaired / changed`.
    pub repair_success: Option<f64>,
    /// `rolled_back / changed`.
    pub rollback_rate: Option<f64>,
    /// From the alarm to the first change (ms), p50 and p95.
    pub alarm_to_change_p50_ms: Option<i64>,
    pub alarm_to_change_p95_ms: Option<i64>,
    /// From the alarm to the verdict (ms), p50 and p95.
    pub alarm_to_verdict_p50_ms: Option<i64>,
    pub alarm_to_verdict_p95_ms: Option<i64>,
    /// The execute stage (ms), p50 and p95.
    pub change_p50_ms: Option<u64>,
    pub change_p95_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub incidents: usize,
    /// The repairs in figures (runs that changed a function).
    pub figures: KeyFigures,
    /// Incidents where both the rules and the AI had a view.
    pub compared: usize,
    pub agreement_rate: Option<f64>,
    pub sources: Vec<SourceStats>,
    pub ai: AiStats,
    pub plugin_failures: BTreeMap<String, usize>,
    /// Rules that ran unsigned (`allow_unsigned`) in any of the incidents.
    pub unsigned_rules: std::collections::BTreeSet<String>,
    pub rows: Vec<IncidentRow>,
    /// Kept changes to functions deployed from source, newest per function:
    /// until the source says the same, the next deploy undoes them.
    #[serde(default)]
    pub not_in_source: Vec<SourceRow>,
}

/// A change the source does not carry yet.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceRow {
    pub function: String,
    pub incident: String,
    pub at_ms: crate::model::Millis,
    pub change: crate::model::SourceChange,
}

#[cfg(test)]
mod tests;
