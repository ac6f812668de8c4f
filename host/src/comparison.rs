//! The A/B record: one incident as the comparison of AI against rules needs
//! it — what each source said, what each mode and source alone would have
//! decided, what was applied and how it ended. `run --record FILE` and
//! `replay --record FILE` append them as JSON lines; `report` reads them, or
//! turns the audit table's run documents into them.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ai::AiRun;
use crate::decide::{Action, Decision, MergeMode, WouldHave};
use crate::diagnosis::{Diagnosis, EvidenceSummary};
use crate::model::{Millis, RuleFailure, SourcedFinding};
use crate::pipeline::{Run, Status};
use crate::verify::Verdict;

/// What a labelled corpus says a careful operator would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub action: Action,
    /// For `set_memory`: the acceptable target range, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_mb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mb: Option<u32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
}

impl Label {
    /// Whether a decision matches: the same action and, for a memory change,
    /// a target inside the range.
    pub fn accepts(&self, action: Action, target_mb: Option<u32>) -> bool {
        if action != self.action {
            return false;
        }
        match (action, target_mb) {
            (Action::SetMemory, Some(t)) => {
                self.min_mb.is_none_or(|min| t >= min) && self.max_mb.is_none_or(|max| t <= max)
            }
            (Action::SetMemory, None) => false,
            _ => true,
        }
    }
}

/// One incident for the A/B report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The incident id (`run`), or the evidence file's name (`replay`).
    pub id: String,
    pub function: String,
    pub at_ms: Millis,
    /// `run` or `replay`.
    pub origin: String,
    pub mode: MergeMode,
    pub memory_mb: u32,
    /// The run's status (`replayed` for replays).
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default)]
    pub would_have: Vec<WouldHave>,
    #[serde(default)]
    pub findings: Vec<SourcedFinding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiRun>,
    #[serde(default)]
    pub plugin_failures: Vec<RuleFailure>,
    /// The memory actually set, if a change was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_memory_mb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default)]
    pub rolled_back: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// Rules that ran without pin or signature (`allow_unsigned`): a report
    /// over this record says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsigned_rules: Vec<String>,
    /// A kept change to a function deployed from source: what the source
    /// must say so the next deploy keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_change: Option<crate::model::SourceChange>,
    /// How long the repair took, for a run that changed the function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
}

/// When a run's change came and was judged, from the alarm's transition.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timing {
    /// From the alarm's transition to the first change (ms).
    pub alarm_to_change_ms: Millis,
    /// From the alarm's transition to the last verdict (ms), when judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_to_verdict_ms: Option<Millis>,
    /// The execute stage's own duration, of the last step (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_ms: Option<u64>,
    /// Memory steps the incident took.
    pub steps: usize,
}

impl Timing {
    /// The timing of `run`, when it changed the function.
    pub fn of(run: &Run) -> Option<Timing> {
        let last = run.change.as_ref()?;
        let first = run.steps.first().map_or(last, |s| &s.change);
        let alarm = run.incident.timestamp_ms;
        Some(Timing {
            alarm_to_change_ms: (first.at_ms - alarm).max(0),
            alarm_to_verdict_ms: run
                .verification
                .as_ref()
                .filter(|v| v.verdict != Verdict::InsufficientData || v.extended)
                .map(|v| (v.window.end_ms - alarm).max(0)),
            execute_ms: run
                .stage_ms
                .get(crate::stage::Stage::Execute.name())
                .copied(),
            steps: run.steps.len() + 1,
        })
    }
}

impl Record {
    /// What `by` (`mode:<mode>` or `source:<source>`) would have decided.
    pub fn would(&self, by: &str) -> Option<&WouldHave> {
        self.would_have.iter().find(|w| w.by == by)
    }

    pub fn from_run(run: &Run) -> Record {
        Record {
            id: run.incident.id.clone(),
            // A member account's function with its account and region.
            function: run.incident.function_key(),
            at_ms: run.incident.timestamp_ms,
            origin: "run".into(),
            mode: run.mode,
            memory_mb: run
                .change
                .as_ref()
                .map(|c| c.previous_memory_mb)
                .or(run.function.as_ref().map(|f| f.memory_mb))
                .or(run.evidence.as_ref().map(|e| e.memory_mb))
                .unwrap_or(0),
            status: run.status,
            decision: run.decision.clone(),
            would_have: run.would_have.clone(),
            findings: run.findings.clone(),
            ai: run.ai.clone(),
            plugin_failures: run.plugin_failures.clone(),
            applied_memory_mb: run.change.as_ref().map(|c| c.new_memory_mb),
            verdict: run.verification.as_ref().map(|v| v.verdict),
            rolled_back: run.status == Status::RolledBack,
            evidence: run.evidence.clone(),
            label: None,
            unsigned_rules: unsigned(&run.rules),
            source_change: run
                .source_change
                .clone()
                .filter(|_| run.change.is_some() && run.rollback.is_none()),
            timing: Timing::of(run),
        }
    }

    pub fn from_diagnosis(
        id: String,
        at_ms: Millis,
        diagnosis: &Diagnosis,
        label: Option<Label>,
    ) -> Record {
        Record {
            id,
            function: diagnosis.evidence.function_name.clone(),
            at_ms,
            origin: "replay".into(),
            mode: diagnosis.mode,
            memory_mb: diagnosis.evidence.memory_mb,
            status: Status::Replayed,
            decision: Some(diagnosis.decision.clone()),
            would_have: diagnosis.would_have.clone(),
            findings: diagnosis.findings.clone(),
            ai: diagnosis.ai.clone(),
            plugin_failures: diagnosis.plugin_failures.clone(),
            applied_memory_mb: None,
            verdict: None,
            rolled_back: false,
            evidence: Some(diagnosis.evidence.clone()),
            label,
            unsigned_rules: unsigned(&diagnosis.rules),
            source_change: None,
            timing: None,
        }
    }
}

fn unsigned(rules: &[crate::diagnosis::RuleRun]) -> Vec<String> {
    rules
        .iter()
        .filter(|r| r.unsigned)
        .map(|r| r.rule.clone())
        .collect()
}

/// Whether a would-have view says anything over these records: without any
/// AI answer, every mode but `rules` only restates the rules (or says
/// nothing), so those are left out of matrices and reports.
pub fn informative(by: &str, records: &[&Record]) -> bool {
    by == "mode:rules" || by.starts_with("source:") || records.iter().any(|r| r.ai.is_some())
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot open records file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write to records file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("records file {path}, line {line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Appends records to a JSON-lines file, one flushed line each, so an
/// interrupted replay keeps every record it finished.
pub struct RecordWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl RecordWriter {
    pub fn append(path: &Path) -> Result<RecordWriter, RecordError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| RecordError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(RecordWriter {
            path: path.to_owned(),
            file,
        })
    }

    pub fn write(&mut self, record: &Record) -> Result<(), RecordError> {
        let mut line = serde_json::to_vec(record).unwrap_or_default();
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|source| RecordError::Write {
                path: self.path.clone(),
                source,
            })
    }
}

/// Reads a JSON-lines file of records; a line may also be a whole run document
/// (as `run --format json` prints, compacted), which is converted.
pub fn read_jsonl(path: &Path) -> Result<Vec<Record>, RecordError> {
    let file = std::fs::File::open(path).map_err(|source| RecordError::Open {
        path: path.to_owned(),
        source,
    })?;
    let mut records = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| RecordError::Open {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let parse_error = |e: serde_json::Error| RecordError::Parse {
            path: path.to_owned(),
            line: i + 1,
            message: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_str(&line).map_err(parse_error)?;
        let record = if value.get("incident").is_some() {
            Record::from_run(&serde_json::from_value(value).map_err(parse_error)?)
        } else {
            serde_json::from_value(value).map_err(parse_error)?
        };
        records.push(record);
    }
    Ok(records)
}

/// Records from the audit table's run documents; a document that does not
/// parse is counted, not fatal (it may come from another version).
pub fn from_documents(documents: &[String]) -> (Vec<Record>, usize) {
    let (runs, skipped) = Run::from_documents(documents);
    (runs.iter().map(Record::from_run).collect(), skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_accept_the_action_and_range() {
        let label = Label {
            action: Action::SetMemory,
            min_mb: Some(640),
            max_mb: Some(1024),
            why: String::new(),
        };
        assert!(label.accepts(Action::SetMemory, Some(1024)));
        assert!(!label.accepts(Action::SetMemory, Some(2048)));
        assert!(!label.accepts(Action::Escalate, None));
        let escalate = Label {
            action: Action::Escalate,
            min_mb: None,
            max_mb: None,
            why: String::new(),
        };
        assert!(escalate.accepts(Action::Escalate, None));
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        std::fs::write(&path, "\n{\"nope\": 1}\n").unwrap();
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
