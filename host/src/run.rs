//! The run document: the state Step Functions passes from task to task, the
//! audit record, and the `autorepair run --format json` output (README).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ai::AiRun;
use crate::decide::{Decision, MergeMode};
use crate::diagnosis::{EvidenceSummary, RuleRun};
use crate::incident::Incident;
use crate::model::{FunctionInfo, Millis, RuleFailure, SourcedFinding, Window};
use crate::repair::Change;
use crate::verify::{Health, Verdict};

/// Where a run ended, or stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
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
}

impl Status {
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Started)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).ok();
        f.write_str(v.as_ref().and_then(Value::as_str).unwrap_or("?"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub before: Health,
    pub after: Health,
    pub window: Window,
    /// Whether the window was extended once for lack of data.
    pub extended: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    pub restored_memory_mb: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageFailure {
    pub stage: String,
    pub message: String,
}

/// One incident's run: the state passed between stages and the audit record.
/// Its JSON form is the `autorepair run --format json` document (README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub incident: Incident,
    pub status: Status,
    pub mode: MergeMode,
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Health>,
    #[serde(default)]
    pub findings: Vec<SourcedFinding>,
    #[serde(default)]
    pub plugin_failures: Vec<RuleFailure>,
    #[serde(default)]
    pub rules: Vec<RuleRun>,
    /// What the AI diagnoser did (absent when it is not enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// What every merge mode, and every source alone, would have decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_have: Vec<crate::decide::WouldHave>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<StageFailure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
    /// Set by Step Functions' Catch (`ResultPath: $.step_error`) when a task
    /// failed after its retries; the record stage turns it into `failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_error: Option<Value>,
    /// Milliseconds spent per stage.
    #[serde(default)]
    pub stage_ms: BTreeMap<String, u64>,
    pub started_ms: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<Millis>,
}
