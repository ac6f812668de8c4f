//! The run document: the incident's audit record (which each Lambda stage
//! loads and commits; Step Functions passes only a reference to it), and the
//! `autorepair run --format json` output (docs/run-document.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decide::{Decision, MergeMode};
use crate::incident::Incident;
use crate::model::{
    AiRun, Change, EvidenceSummary, FunctionInfo, Millis, RuleFailure, RuleRun, SourceChange,
    SourcedFinding, Window,
};
use crate::stage::Stage;
use crate::verify::{Health, Verdict};

/// Where a run ended, or stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Under way: claimed, not yet ended.
    Started,
    /// Nothing to do (alarm not in ALARM, nothing recommended, not opted in).
    NoAction,
    /// Decided, and deliberately not applied.
    DryRun,
    /// Changed and verified improved.
    Repaired,
    /// Changed, did not help, put back.
    RolledBack,
    /// A person should look.
    Escalated,
    /// Changed, but too little traffic since to judge.
    Inconclusive,
    /// An AWS call failed after retries; `failure` says where.
    Failed,
    /// This alarm transition was already handled.
    Duplicate,
    /// Another incident is repairing the function right now.
    Skipped,
    /// A person rejected the change (approval mode); nothing changed.
    Rejected,
    /// On the audit record only, never a run's own: the execute stage wrote
    /// its intent and is changing the function now (a retry after a crash
    /// reads it to tell what was done).
    Executing,
    /// On the audit record only: the change is made, its verdict not yet in.
    Changed,
    /// In the A/B report only: an evidence file replayed, nothing changed.
    Replayed,
}

impl Status {
    /// Whether the run has ended (every status but the three that say work
    /// is under way).
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Started | Status::Executing | Status::Changed)
    }

    /// How urgently a notice of a run ending here wants a person: the
    /// function still fails (escalated, failed, a change undone) → critical;
    /// a person may want to look → warning; else info.
    pub fn severity(self) -> crate::model::Severity {
        use crate::model::Severity;
        match self {
            Status::Escalated | Status::Failed | Status::RolledBack => Severity::Critical,
            Status::Inconclusive | Status::Rejected | Status::Skipped | Status::DryRun => {
                Severity::Warning
            }
            Status::Started
            | Status::NoAction
            | Status::Repaired
            | Status::Duplicate
            | Status::Executing
            | Status::Changed
            | Status::Replayed => Severity::Info,
        }
    }
}

/// A status name this host does not know (a record written by another
/// version, or edited by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

impl std::str::FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(name: &str) -> Result<Status, UnknownStatus> {
        serde_json::from_value(Value::from(name)).map_err(|_| UnknownStatus(name.to_owned()))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).ok();
        f.write_str(v.as_ref().and_then(Value::as_str).unwrap_or("?"))
    }
}

/// Whether a change helped: health before and after it, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Improved, unchanged, worse, or too little data to say.
    pub verdict: Verdict,
    /// The figures compared and why the verdict, for people.
    pub reasons: Vec<String>,
    /// Health in the incident's window, before the change.
    pub before: Health,
    /// Health in the window after the change.
    pub after: Health,
    /// The window after the change that was read.
    pub window: Window,
    /// Whether the window was extended once for lack of data.
    pub extended: bool,
}

/// An earlier step of an incident that took more than one: its change and
/// its verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTaken {
    /// The decision that made the step.
    pub decision: Decision,
    /// The change the step made.
    pub change: Change,
    /// How it was judged (improved, with out-of-memory failures left).
    pub verification: Verification,
}

/// The undo of a change that did not help.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// The memory put back (MB).
    pub restored_memory_mb: u32,
    /// Whether the rollback went through.
    pub ok: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A stage that failed after its retries, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageFailure {
    /// The stage that failed.
    pub stage: Stage,
    /// What went wrong.
    pub message: String,
}

/// One incident's run: the audit record the stages load and commit.
/// Its JSON form is the `autorepair run --format json` document (docs/run-document.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The alarm firing this run handles.
    pub incident: Incident,
    /// Where the run ended, or stands.
    pub status: Status,
    /// How the rules' and the AI's findings were merged.
    pub mode: MergeMode,
    /// Decide only: never change the function.
    pub dry_run: bool,
    /// The evidence in figures, once collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceSummary>,
    /// The function as read when the evidence was collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionInfo>,
    /// Health in the incident's window: what verification compares against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Health>,
    /// Every source's findings, shadow ones included.
    #[serde(default)]
    pub findings: Vec<SourcedFinding>,
    /// Rules that failed or never loaded, and why.
    #[serde(default)]
    pub plugin_failures: Vec<RuleFailure>,
    /// What each rule did.
    #[serde(default)]
    pub rules: Vec<RuleRun>,
    /// What the AI diagnoser did (absent when it is not enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiRun>,
    /// What the decision step resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// What every merge mode, and every source alone, would have decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_have: Vec<crate::decide::WouldHave>,
    /// The change made, with what it takes to undo it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// Whether the change helped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// The steps before `change`, each verified improved, when one step was
    /// not enough (out-of-memory failures remained) and another was taken;
    /// `change` and `verification` are always the latest step's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepTaken>,
    /// The undo, when the change did not help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Where and how the run failed (status `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<StageFailure>,
    /// The notice's message id (SNS), once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
    /// Set by Step Functions' Catch (`ResultPath: $.step_error`) when a task
    /// failed after its retries; the record stage turns it into `failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_error: Option<Value>,
    /// Milliseconds spent per stage.
    #[serde(default)]
    pub stage_ms: BTreeMap<String, u64>,
    /// When the run started (ms since the Unix epoch).
    pub started_ms: Millis,
    /// When it ended (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<Millis>,
    /// Who claimed the incident (the Step Functions execution), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// The functional check right after the change, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<SmokeTest>,
    /// What was cut to keep the document within [`MAX_DOCUMENT_BYTES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trimmed: Vec<String>,
    /// Approval mode: who was asked, who answered and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// For a function deployed from source: what to write there so the next
    /// deploy keeps the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_change: Option<SourceChange>,
    /// The function's changes in the day before the alarm, looked up once
    /// for the incident before the diagnosers run (the workflow's parse
    /// stage): both Parallel branches read them from here, so CloudTrail —
    /// 2 lookups a second per account — is asked once an incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_changes: Option<crate::model::ChangeLookup>,
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// The workflow waits for `autorepair approve|reject`.
    Pending,
    /// A person approved: the change goes ahead.
    Approved,
    /// A person rejected: nothing changed.
    Rejected,
    /// Nobody answered in time: escalated, nothing changed.
    Expired,
}

impl std::fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).ok();
        f.write_str(v.as_ref().and_then(Value::as_str).unwrap_or("?"))
    }
}

/// A change waiting for, or given, a person's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Where it stands.
    pub state: ApprovalState,
    /// When approval was asked for (ms since the Unix epoch).
    pub requested_ms: Millis,
    /// When the workflow stops waiting.
    pub deadline_ms: Millis,
    /// The Step Functions task token the workflow waits on; never in a notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Who answered (the caller's AWS identity, and the name they gave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The reason they gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When they answered (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_ms: Option<Millis>,
    /// Every approval given so far, one per identity: `[approval]
    /// min_approvals` distinct ones approve the change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalGiven>,
}

/// One person's approval of a waiting change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalGiven {
    /// The caller's AWS identity (its ARN), as STS named it.
    pub identity: String,
    /// The identity and the name they gave, for people.
    pub by: String,
    /// When (ms since the Unix epoch).
    pub at_ms: Millis,
}

/// One invocation right after a change, with the operator's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmokeTest {
    /// Whether the invocation succeeded.
    pub ok: bool,
    /// Why not: the function's error, the invocation's failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it ran (ms), from the REPORT line in its log tail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The most memory it used (MB), from the same line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_used_mb: Option<u32>,
    /// The memory it ran with (MB), from the same line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size_mb: Option<u32>,
}

/// The most a run document may weigh. It is the audit item (DynamoDB: 400 KB)
/// and the machine part of the notice (SNS: 256 KB for the whole message).
/// Honest runs weigh a few KB.
pub const MAX_DOCUMENT_BYTES: usize = 96 * 1024;

impl Run {
    /// The runs among the audit table's record documents, and how many did
    /// not parse as one (another version's, or edited): counted, never fatal.
    pub fn from_documents(documents: &[String]) -> (Vec<Run>, usize) {
        let mut skipped = 0;
        let runs = documents
            .iter()
            .filter_map(|d| match serde_json::from_str::<Run>(d) {
                Ok(run) => Some(run),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an audit record that is not a run document");
                    skipped += 1;
                    None
                }
            })
            .collect();
        (runs, skipped)
    }

    /// What this run came to, as its function's history keeps it for the AI
    /// (`None` for a run that never claimed an incident or never ended).
    pub fn past_incident(&self) -> Option<crate::model::PastIncident> {
        if matches!(
            self.status,
            Status::Started | Status::Duplicate | Status::Skipped
        ) {
            return None;
        }
        let mut kinds: Vec<String> = self
            .findings
            .iter()
            .filter(|f| !f.shadow)
            .map(|f| f.finding.kind.to_string())
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        Some(crate::model::PastIncident {
            incident_id: self.incident.id.clone(),
            function: self.incident.function_name.clone(),
            at_ms: self.incident.timestamp_ms,
            metric: self.incident.metric.clone(),
            runtime: self
                .function
                .as_ref()
                .map(|f| f.runtime.clone())
                .unwrap_or_default(),
            kinds,
            status: self.status.to_string(),
            from_mb: self.change.as_ref().map(|c| c.previous_memory_mb),
            to_mb: self.change.as_ref().map(|c| c.new_memory_mb),
            verdict: self.verification.as_ref().and_then(|v| {
                serde_json::to_value(v.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            }),
        })
    }

    /// A run that has just started on `incident`.
    pub fn new(incident: Incident, mode: MergeMode, dry_run: bool, started_ms: Millis) -> Run {
        Run {
            incident,
            status: Status::Started,
            mode,
            dry_run,
            evidence: None,
            function: None,
            before: None,
            findings: Vec::new(),
            plugin_failures: Vec::new(),
            rules: Vec::new(),
            ai: None,
            decision: None,
            would_have: Vec::new(),
            change: None,
            verification: None,
            steps: Vec::new(),
            rollback: None,
            failure: None,
            notification_id: None,
            step_error: None,
            stage_ms: BTreeMap::new(),
            started_ms,
            finished_ms: None,
            claimed_by: None,
            smoke: None,
            trimmed: Vec::new(),
            approval: None,
            source_change: None,
            recent_changes: None,
        }
    }

    /// The document's size as JSON.
    pub fn size(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len())
    }

    /// Trims what weighs most and decides nothing until the document is within
    /// `max` bytes, saying in `trimmed` what went: rules' log lines, then
    /// findings' evidence lines, then long summaries and failure details, then
    /// shadow findings. A deciding finding's kind and recommendation are never
    /// touched: the decision stays what it would have been.
    pub fn fit(&mut self, max: usize) {
        if self.size() <= max {
            return;
        }
        let steps: [(&str, Trim); 5] = [
            // The evidence summary keeps the newest few; a branch that finds
            // none here looks them up itself.
            ("the recent changes kept for the diagnosers", |run| {
                run.recent_changes = None
            }),
            ("the rules' log lines", |run| {
                run.rules.iter_mut().for_each(|r| r.logs.clear())
            }),
            ("the findings' evidence lines", |run| {
                run.findings
                    .iter_mut()
                    .for_each(|f| f.finding.evidence.clear())
            }),
            (
                "summaries and failure details beyond 200 characters",
                |run| {
                    for f in &mut run.findings {
                        shorten(&mut f.finding.summary, 200);
                        if let crate::model::Recommendation::Escalate { reason } =
                            &mut f.finding.recommendation
                        {
                            shorten(reason, 200);
                        }
                    }
                    for failure in &mut run.plugin_failures {
                        failure.cause.shorten(200);
                    }
                },
            ),
            ("shadow findings", |run| run.findings.retain(|f| !f.shadow)),
        ];
        for (what, step) in steps {
            step(self);
            self.trimmed.push(what.to_owned());
            if self.size() <= max {
                break;
            }
        }
        tracing::warn!(trimmed = ?self.trimmed, bytes = self.size(), "run document trimmed to fit");
    }
}

/// One way of making a run document lighter.
type Trim = fn(&mut Run);

/// Cuts `text` to at most `max` characters, marking the cut.
fn shorten(text: &mut String, max: usize) {
    if text.chars().count() > max {
        *text = text.chars().take(max).collect::<String>() + "…";
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, FindingKind, Recommendation, Source};

    #[test]
    fn a_function_still_failing_is_critical_and_a_repair_is_for_the_record() {
        use crate::model::Severity::{Critical, Info, Warning};
        for (status, severity) in [
            (Status::Escalated, Critical),
            (Status::Failed, Critical),
            (Status::RolledBack, Critical),
            (Status::Inconclusive, Warning),
            (Status::Rejected, Warning),
            (Status::Repaired, Info),
            (Status::NoAction, Info),
        ] {
            assert_eq!(status.severity(), severity, "{status}");
        }
        let quiet = crate::model::NoticeAttributes {
            kind: "sweep",
            status: "swept".into(),
            stack: Some("  ".into()),
            ..Default::default()
        };
        assert_eq!(
            quiet.pairs(),
            [
                ("kind", "sweep".to_owned()),
                ("status", "swept".to_owned()),
                ("severity", "info".to_owned())
            ],
            "absent and blank values are left out: SNS refuses empty ones"
        );
    }

    fn run_with(findings: usize, text_bytes: usize, shadow_every: usize) -> Run {
        let event = crate::fixtures::alarm_event("a", "orders", None, "ALARM", 1_767_225_600_000);
        let incident = crate::incident::parse_value(&event).unwrap();
        let mut run = Run::new(incident, MergeMode::Rules, false, 0);
        let text = "x".repeat(text_bytes);
        run.findings = (0..findings)
            .map(|i| SourcedFinding {
                source: Source::Rule(format!("rule-{i}")),
                shadow: shadow_every > 0 && i % shadow_every == 0,
                finding: Finding {
                    kind: FindingKind::MemoryExhaustion,
                    confidence: 0.9,
                    summary: text.clone(),
                    evidence: vec![text.clone(); 8],
                    recommendation: Recommendation::SetMemory {
                        memory_mb: 512 + i as u32,
                    },
                },
            })
            .collect();
        run
    }

    #[test]
    fn a_small_document_is_left_alone() {
        let mut run = run_with(3, 100, 0);
        let before = run.clone();
        run.fit(MAX_DOCUMENT_BYTES);
        assert_eq!(run, before);
    }

    #[test]
    fn a_heavy_document_is_trimmed_to_fit_and_decides_the_same() {
        let mut run = run_with(64, 1000, 4);
        assert!(run.size() > MAX_DOCUMENT_BYTES);
        let deciding = |run: &Run| -> Vec<_> {
            run.findings
                .iter()
                .filter(|f| !f.shadow)
                .map(|f| {
                    (
                        f.source.clone(),
                        f.finding.kind,
                        f.finding.recommendation.clone(),
                    )
                })
                .collect()
        };
        let before = deciding(&run);
        run.fit(MAX_DOCUMENT_BYTES);
        assert!(run.size() <= MAX_DOCUMENT_BYTES, "{} bytes", run.size());
        assert!(!run.trimmed.is_empty(), "the document says what was cut");
        assert_eq!(
            deciding(&run),
            before,
            "every deciding finding is kept as it decides"
        );
    }
}
