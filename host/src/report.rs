//! `autorepair report`: the A/B comparison of AI against rules over recorded
//! incidents, as a text table, JSON, Markdown or one self-contained HTML page
//! with charts. Pure: records in, a [`Report`] out, then rendered.

mod html;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::ai::AiStatus;
use crate::config::Config;
use crate::decide::{Action, WouldHave};
use crate::model::Millis;
use crate::record::Record;
use crate::verify::Verdict;

pub use html::html;

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
    pub status: String,
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

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub incidents: usize,
    /// Incidents where both the rules and the AI had a view.
    pub compared: usize,
    pub agreement_rate: Option<f64>,
    pub sources: Vec<SourceStats>,
    pub ai: AiStats,
    pub plugin_failures: BTreeMap<String, usize>,
    /// Rules that ran unsigned (`allow_unsigned`) in any of the incidents.
    pub unsigned_rules: std::collections::BTreeSet<String>,
    pub rows: Vec<IncidentRow>,
}

/// Thirty days, for monthly costs.
const MONTH_MS: f64 = 30.0 * 86_400_000.0;

pub fn build(records: &[Record], config: &Config) -> Report {
    let mut records: Vec<&Record> = records.iter().collect();
    records.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.id.cmp(&b.id)));
    let rows: Vec<IncidentRow> = records.iter().map(|r| row(r)).collect();
    let compared: Vec<bool> = rows.iter().filter_map(|r| r.agree).collect();
    let agreement_rate = (!compared.is_empty())
        .then(|| compared.iter().filter(|a| **a).count() as f64 / compared.len() as f64);

    let mut keys: Vec<&str> = records
        .iter()
        .flat_map(|r| r.would_have.iter().map(|w| w.by.as_str()))
        .collect();
    keys.sort_by_key(|k| (!k.starts_with("mode:"), *k));
    keys.dedup();
    keys.retain(|k| crate::record::informative(k, &records));
    let sources = keys
        .into_iter()
        .map(|by| source_stats(by, &records, config.pricing.lambda_usd_per_gb_second))
        .collect();

    let mut plugin_failures = BTreeMap::new();
    for r in &records {
        for f in &r.plugin_failures {
            *plugin_failures.entry(f.rule.clone()).or_insert(0) += 1;
        }
    }
    let unsigned_rules = records
        .iter()
        .flat_map(|r| r.unsigned_rules.iter().cloned())
        .collect();
    Report {
        unsigned_rules,
        incidents: rows.len(),
        compared: compared.len(),
        agreement_rate,
        sources,
        ai: ai_stats(&records),
        plugin_failures,
        rows,
    }
}

fn row(r: &Record) -> IncidentRow {
    let rules = r.would(RULES).map(View::from);
    let ai = r.would(AI).map(View::from);
    let ai_note = match (&r.ai, ai) {
        (_, Some(_)) => None,
        (None, None) => Some("not asked".to_owned()),
        (Some(run), None) => Some(format!(
            "{}: {}",
            match run.status {
                AiStatus::Answered => "answered",
                AiStatus::Discarded => "discarded",
                AiStatus::Failed => "failed",
            },
            run.reason.as_deref().unwrap_or("no finding")
        )),
    };
    let correct = |v: Option<View>| {
        r.label
            .as_ref()
            .zip(v)
            .map(|(l, v)| l.accepts(v.action, v.target_memory_mb))
    };
    IncidentRow {
        id: r.id.clone(),
        function: r.function.clone(),
        at_ms: r.at_ms,
        memory_mb: r.memory_mb,
        agree: rules.zip(ai).map(|(a, b)| a.action == b.action),
        rules_correct: correct(rules),
        ai_correct: correct(ai),
        rules,
        ai,
        ai_note,
        applied_memory_mb: r.applied_memory_mb,
        status: r.status.clone(),
        verdict: r.verdict,
    }
}

fn source_stats(by: &str, records: &[&Record], usd_per_gb_s: f64) -> SourceStats {
    let mut s = SourceStats {
        by: by.to_owned(),
        ..SourceStats::default()
    };
    let mut deltas = Vec::new();
    for r in records {
        let Some(w) = r.would(by) else { continue };
        s.incidents += 1;
        s.shadow |= by.strip_prefix("source:").is_some_and(|source| {
            r.findings
                .iter()
                .any(|f| f.shadow && f.source.to_string() == source)
        });
        s.matched_decision += usize::from(
            r.decision
                .as_ref()
                .is_some_and(|d| d.action == w.action && d.target_memory_mb == w.target_memory_mb),
        );
        if let Some(label) = &r.label {
            s.labelled += 1;
            s.correct += usize::from(label.accepts(w.action, w.target_memory_mb));
        }
        match (w.action, w.target_memory_mb) {
            (Action::SetMemory, Some(target)) => {
                s.recommended_change += 1;
                let delta = f64::from(target) - f64::from(r.memory_mb);
                deltas.push(delta);
                if let Some(e) = r.evidence.as_ref().filter(|e| e.window_ms > 0) {
                    let per_month = e.invocations as f64 * MONTH_MS / e.window_ms as f64;
                    s.monthly_cost_delta_usd +=
                        per_month * e.mean_duration_ms / 1000.0 * delta / 1024.0 * usd_per_gb_s;
                }
                if r.applied_memory_mb == Some(target) {
                    s.applied += 1;
                    s.improved += usize::from(r.verdict == Some(Verdict::Improved));
                    s.rolled_back += usize::from(r.rolled_back);
                }
            }
            (Action::Escalate, _) => s.escalated += 1,
            _ => {}
        }
    }
    s.mean_memory_delta_mb =
        (!deltas.is_empty()).then(|| deltas.iter().sum::<f64>() / deltas.len() as f64);
    s
}

fn ai_stats(records: &[&Record]) -> AiStats {
    let mut s = AiStats::default();
    let mut latencies = Vec::new();
    for run in records.iter().filter_map(|r| r.ai.as_ref()) {
        s.asked += 1;
        match run.status {
            AiStatus::Answered => s.answered += 1,
            AiStatus::Discarded => s.discarded += 1,
            AiStatus::Failed => s.failed += 1,
        }
        if let Some(reason) = &run.reason {
            let short: String = reason.chars().take(80).collect();
            *s.reasons.entry(short).or_insert(0) += 1;
        }
        latencies.push(run.latency_ms);
        s.input_tokens += run.input_tokens;
        s.output_tokens += run.output_tokens;
        s.cost_usd += run.cost_usd;
    }
    latencies.sort_unstable();
    let pick = |p: f64| {
        (!latencies.is_empty()).then(|| {
            let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            latencies[rank - 1]
        })
    };
    s.latency_p50_ms = pick(0.5);
    s.latency_p95_ms = pick(0.95);
    s
}

/// `2026-01-01 00:00` (UTC) from Unix ms.
pub fn date_time(ms: Millis) -> String {
    let c = crate::model::Civil::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

fn agree(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "—",
    }
}

/// The tables every format shares, as rows of cells.
struct Tables {
    incidents: (Vec<&'static str>, Vec<Vec<String>>),
    sources: (Vec<&'static str>, Vec<Vec<String>>),
}

fn tables(report: &Report) -> Tables {
    let incidents = report
        .rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                date_time(r.at_ms),
                r.function.clone(),
                format!("{} MB", r.memory_mb),
                opt(r.rules),
                r.ai.map_or_else(|| r.ai_note.clone().unwrap_or_default(), |v| v.to_string()),
                agree(r.agree).to_owned(),
                r.applied_memory_mb
                    .map_or_else(|| "—".to_owned(), |m| format!("{m} MB")),
                r.verdict
                    .map_or_else(|| r.status.clone(), |v| format!("{} ({v})", r.status)),
            ];
            if r.rules_correct.is_some() || r.ai_correct.is_some() {
                cells.push(format!(
                    "rules {} / ai {}",
                    agree(r.rules_correct),
                    agree(r.ai_correct)
                ));
            } else {
                cells.push("—".to_owned());
            }
            cells
        })
        .collect();
    let sources = report
        .sources
        .iter()
        .map(|s| {
            vec![
                if s.shadow {
                    format!("{} (shadow)", s.by)
                } else {
                    s.by.clone()
                },
                s.incidents.to_string(),
                s.matched_decision.to_string(),
                s.recommended_change.to_string(),
                s.applied.to_string(),
                s.improved.to_string(),
                s.rolled_back.to_string(),
                s.escalated.to_string(),
                s.mean_memory_delta_mb
                    .map_or_else(|| "—".to_owned(), |d| format!("{d:+.0} MB")),
                format!("{:+.2}", s.monthly_cost_delta_usd),
                if s.labelled > 0 {
                    format!("{}/{}", s.correct, s.labelled)
                } else {
                    "—".to_owned()
                },
            ]
        })
        .collect();
    Tables {
        incidents: (
            vec![
                "time (UTC)",
                "function",
                "memory",
                "rules",
                "ai",
                "agree",
                "applied",
                "outcome",
                "vs label",
            ],
            incidents,
        ),
        sources: (
            vec![
                "source",
                "incidents",
                "= decided",
                "change",
                "applied",
                "improved",
                "rolled back",
                "escalated",
                "mean Δ",
                "$/month Δ",
                "correct",
            ],
            sources,
        ),
    }
}

fn headline(report: &Report) -> Vec<String> {
    let ai = &report.ai;
    let mut lines = Vec::new();
    if !report.unsigned_rules.is_empty() {
        lines.push(format!(
            "WARNING: unsigned rules ran (allow_unsigned, development only): {}",
            report
                .unsigned_rules
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    lines.extend([
        format!(
            "{} incidents; rules and AI both had a view on {}; agreement {}",
            report.incidents,
            report.compared,
            percent(report.agreement_rate)
        ),
        format!(
            "AI: asked {}, answered {}, discarded {}, failed {}; latency p50 {} ms, p95 {} ms; \
{} input + {} output tokens, ${:.4}",
            ai.asked,
            ai.answered,
            ai.discarded,
            ai.failed,
            opt(ai.latency_p50_ms),
            opt(ai.latency_p95_ms),
            ai.input_tokens,
            ai.output_tokens,
            ai.cost_usd
        ),
    ]);
    for (reason, n) in &ai.reasons {
        lines.push(format!("  AI {n}×: {reason}"));
    }
    if report.plugin_failures.is_empty() {
        lines.push("plugin failures: none".to_owned());
    } else {
        let list: Vec<String> = report
            .plugin_failures
            .iter()
            .map(|(rule, n)| format!("{rule} {n}"))
            .collect();
        lines.push(format!("plugin failures: {}", list.join(", ")));
    }
    lines
}

/// A terminal table.
pub fn text(report: &Report) -> String {
    let t = tables(report);
    let mut out = String::new();
    for line in headline(report) {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    out.push_str(&grid(&t.sources.0, &t.sources.1));
    out.push('\n');
    out.push_str(&grid(&t.incidents.0, &t.incidents.1));
    out
}

fn grid(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count().min(48));
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            let cell: String = cell.chars().take(48).collect();
            let pad = w.saturating_sub(cell.chars().count());
            let _ = write!(s, "{cell}{}  ", " ".repeat(pad));
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// GitHub-flavoured Markdown.
pub fn markdown(report: &Report) -> String {
    let t = tables(report);
    let mut out = String::from("# autorepair: AI against rules\n\n");
    for line in headline(report) {
        let _ = writeln!(out, "- {}", line.trim());
    }
    out.push_str("\n## By source and mode\n\n");
    out.push_str(&md_table(&t.sources.0, &t.sources.1));
    out.push_str("\n## Incidents\n\n");
    out.push_str(&md_table(&t.incidents.0, &t.incidents.1));
    out
}

fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("| {} |\n", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests;
