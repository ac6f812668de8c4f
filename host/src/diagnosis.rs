//! Stage 3's results: every rule run on an incident's evidence (`run_rules`,
//! which the pipeline's diagnose stage calls too), the AI's answer as a
//! finding, and — offline, for `autorepair diagnose` and `replay` — the whole
//! [`Diagnosis`] with its decision (`conclude`). Also reads recorded evidence.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::ai::AiRun;
use crate::decide::{
    self, Decision, History, LAMBDA_MAX_MB, LAMBDA_MIN_MB, MergeMode, Policy, Situation,
};
use crate::logs;
use crate::model::{Evidence, Millis, RuleFailure, Source, SourcedFinding};
pub use crate::model::{EvidenceSummary, RuleRun};
use crate::rules::{RuleOutcome, RuleSet};

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("cannot read evidence file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("evidence file {path} is not valid evidence JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("evidence file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Reads a recorded evidence file (format: docs/run-document.md) and fills in the
/// invocation reports from its log lines when it has none.
pub fn load_evidence(path: &Path) -> Result<Evidence, EvidenceError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvidenceError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EvidenceError::Json {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    evidence_from_value(path, value)
}

/// Checks evidence parsed from `path` (named in errors) and fills in reports.
pub fn evidence_from_value(
    path: &Path,
    value: serde_json::Value,
) -> Result<Evidence, EvidenceError> {
    let mut evidence: Evidence =
        serde_json::from_value(value).map_err(|e| EvidenceError::Json {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let invalid = |message: String| EvidenceError::Invalid {
        path: path.to_owned(),
        message,
    };
    let memory = evidence.function.memory_mb;
    if !(LAMBDA_MIN_MB..=LAMBDA_MAX_MB).contains(&memory) {
        return Err(invalid(format!(
            "function.memory_mb = {memory} is outside Lambda's {LAMBDA_MIN_MB}..={LAMBDA_MAX_MB}"
        )));
    }
    if evidence.window.start_ms > evidence.window.end_ms {
        return Err(invalid("window.start_ms is after window.end_ms".into()));
    }
    if evidence.function.name.is_empty() {
        return Err(invalid("function.name is empty".into()));
    }
    fill_reports(&mut evidence);
    Ok(evidence)
}

/// Parses reports from the log lines when the evidence carries none.
pub fn fill_reports(evidence: &mut Evidence) {
    if evidence.reports.is_empty() && !evidence.logs.is_empty() {
        evidence.reports = logs::parse_reports(&evidence.logs);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    pub rules_us: u64,
    pub decide_us: u64,
}

/// The result of diagnosing one incident.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub evidence: EvidenceSummary,
    pub findings: Vec<SourcedFinding>,
    pub plugin_failures: Vec<RuleFailure>,
    pub rules: Vec<RuleRun>,
    /// What the AI diagnoser did, when it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiRun>,
    pub mode: MergeMode,
    pub decision: Decision,
    /// What every mode, and every source alone, would have decided.
    pub would_have: Vec<decide::WouldHave>,
    pub timings: Timings,
}

/// What the rules said about one incident.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RulesReport {
    pub findings: Vec<SourcedFinding>,
    pub plugin_failures: Vec<RuleFailure>,
    pub rules: Vec<RuleRun>,
    pub rules_us: u64,
}

/// Where a diagnosis runs its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// One thread per rule: one incident at a time, as fast as possible.
    PerRule,
    /// All on the caller's thread: for callers that spread incidents over threads.
    Caller,
}

/// Runs every rule on `evidence` and gathers their findings, failures and timings.
pub fn run_rules(rules: &RuleSet, evidence: &Evidence, threads: Threads) -> RulesReport {
    let started = Instant::now();
    let outcomes = match threads {
        Threads::PerRule => rules.evaluate(evidence),
        Threads::Caller => rules.evaluate_serial(evidence),
    };
    let rules_us = started.elapsed().as_micros() as u64;
    let mut report = RulesReport {
        plugin_failures: rules.load_failures().to_vec(),
        rules_us,
        ..RulesReport::default()
    };
    for outcome in outcomes {
        report.rules.push(rule_run(&outcome));
        match outcome.result {
            Ok(found) => report
                .findings
                .extend(found.into_iter().map(|finding| SourcedFinding {
                    source: Source::Rule(outcome.rule.clone()),
                    shadow: outcome.shadow,
                    finding,
                })),
            Err(cause) => report.plugin_failures.push(RuleFailure {
                rule: outcome.rule.clone(),
                veto: outcome.veto_on_failure,
                cause,
            }),
        }
    }
    report
}

/// Summarises what was collected, for records and people.
pub fn summarize(evidence: &Evidence) -> EvidenceSummary {
    summarize_with(
        evidence,
        crate::logs::report_doubt(&evidence.reports, &evidence.metrics),
    )
}

/// [`summarize`] with the reports' doubt already known.
fn summarize_with(evidence: &Evidence, report_doubt: Option<String>) -> EvidenceSummary {
    EvidenceSummary {
        function_name: evidence.function.name.clone(),
        memory_mb: evidence.function.memory_mb,
        invocations: evidence.reports.len(),
        log_lines: evidence.logs.len(),
        metric_series: evidence.metrics.len(),
        window_ms: evidence
            .window
            .end_ms
            .saturating_sub(evidence.window.start_ms)
            .max(0),
        mean_duration_ms: if evidence.reports.is_empty() {
            0.0
        } else {
            evidence.reports.iter().map(|r| r.duration_ms).sum::<f64>()
                / evidence.reports.len() as f64
        },
        notes: evidence.notes.clone(),
        report_doubt,
        recent_changes: evidence
            .changes
            .iter()
            .take(MAX_CHANGES_KEPT)
            .cloned()
            .collect(),
    }
}

/// Recent changes a run document keeps.
const MAX_CHANGES_KEPT: usize = 5;

/// The AI's finding as one of the incident's findings, if it gave a valid one.
pub fn ai_finding(ai: &AiRun) -> Option<SourcedFinding> {
    ai.finding.clone().map(|finding| SourcedFinding {
        source: Source::Ai,
        shadow: ai.shadow,
        finding,
    })
}

/// Adds the AI's answer (when there is one) to what the rules said about
/// `evidence`, and decides under the configured policy.
pub fn conclude(
    mut report: RulesReport,
    evidence: &Evidence,
    policy: &Policy,
    mode: MergeMode,
    history: History,
    now_ms: Millis,
    ai: Option<AiRun>,
) -> Diagnosis {
    report.findings.extend(ai.as_ref().and_then(ai_finding));
    let started = Instant::now();
    let doubt = crate::logs::report_doubt(&evidence.reports, &evidence.metrics);
    let situation = Situation {
        function: &evidence.function,
        findings: &report.findings,
        failures: &report.plugin_failures,
        history,
        now_ms,
        report_doubt: doubt.as_deref(),
    };
    let decision = decide::decide(&situation, policy, mode);
    let decide_us = started.elapsed().as_micros() as u64;
    let would_have = decide::would_have(&situation, policy);
    Diagnosis {
        evidence: summarize_with(evidence, doubt),
        findings: report.findings,
        plugin_failures: report.plugin_failures,
        rules: report.rules,
        ai,
        mode,
        decision,
        would_have,
        timings: Timings {
            rules_us: report.rules_us,
            decide_us,
        },
    }
}

fn rule_run(outcome: &RuleOutcome) -> RuleRun {
    RuleRun {
        rule: outcome.rule.clone(),
        version: outcome.version.clone(),
        shadow: outcome.shadow,
        unsigned: outcome.unsigned,
        elapsed_us: outcome.elapsed_us,
        findings: outcome.result.as_ref().map_or(0, Vec::len),
        failed: outcome.result.is_err(),
        logs: outcome
            .report
            .logs
            .iter()
            .map(|l| format!("[{}] {}", l.level, l.message))
            .collect(),
    }
}
