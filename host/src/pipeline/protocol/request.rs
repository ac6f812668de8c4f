//! The stage protocol on the wire: what a Step Functions task sends, and what
//! it gets back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decide::Action;
use crate::pipeline::{Run, Status};

/// One Step Functions task's payload: `{"stage": "...", ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case", deny_unknown_fields)]
pub enum StageRequest {
    /// `{"stage":"parse","event":{…alarm event…},"execution":"arn:…"}`
    Parse {
        event: Value,
        /// The Step Functions execution (`$$.Execution.Id`): a retried parse
        /// of the same execution finds its own claim instead of a duplicate.
        #[serde(default)]
        execution: Option<String>,
    },
    /// Collect and run the rules (a Parallel branch).
    Rules {
        incident: String,
        version: u64,
        /// The Step Functions execution calling (`$$.Execution.Id`).
        #[serde(default)]
        execution: Option<String>,
    },
    /// The AI diagnoser (the other Parallel branch). With `step_error` (the
    /// branch's Catch: its task failed after its retries) the AI is recorded
    /// as failed and the rules still decide.
    Ai {
        incident: String,
        version: u64,
        /// The Step Functions execution calling (`$$.Execution.Id`).
        #[serde(default)]
        execution: Option<String>,
        #[serde(default)]
        step_error: Option<Value>,
    },
    /// Merge, decide; `version` is the one parse returned.
    Decide {
        incident: String,
        version: u64,
        /// The Step Functions execution calling (`$$.Execution.Id`).
        #[serde(default)]
        execution: Option<String>,
    },
    /// Approval mode: the workflow waits on `token` (a `waitForTaskToken`
    /// task) until `autorepair approve|reject` answers or the wait times out.
    AwaitApproval {
        incident: String,
        version: u64,
        /// The Step Functions execution calling (`$$.Execution.Id`).
        #[serde(default)]
        execution: Option<String>,
        token: String,
    },
    /// The approval wait timed out (its Catch): the incident is escalated.
    /// A person's answer never comes this way — `autorepair approve|reject`
    /// records it and hands the token back.
    Approve {
        incident: String,
        version: u64,
        /// The Step Functions execution calling (`$$.Execution.Id`).
        #[serde(default)]
        execution: Option<String>,
        step_error: Value,
    },
    Execute {
        incident: String,
        version: u64,
        /// The Step Functions execution calling (`$$.Execution.Id`).
        #[serde(default)]
        execution: Option<String>,
        /// The previous reply's `answer`: in approval mode, the seal of the
        /// answer the workflow was resumed with.
        #[serde(default)]
        answer: Option<String>,
    },
    Verify {
        incident: String,
        version: u64,
        /// The Step Functions execution calling (`$$.Execution.Id`).
        #[serde(default)]
        execution: Option<String>,
    },
    /// Keep or undo the change. With `step_error` (Verify's Catch: it failed
    /// after its retries) the change is unjudged, and so undone.
    Rollback {
        incident: String,
        version: u64,
        /// The Step Functions execution calling (`$$.Execution.Id`).
        #[serde(default)]
        execution: Option<String>,
        #[serde(default)]
        step_error: Option<Value>,
    },
    /// Write the record, notify, unlock; `step_error` is what Step Functions'
    /// Catch caught when a stage failed after its retries.
    Record {
        incident: String,
        version: u64,
        /// The Step Functions execution calling (`$$.Execution.Id`).
        #[serde(default)]
        execution: Option<String>,
        #[serde(default)]
        step_error: Option<Value>,
    },
}

impl StageRequest {
    /// The incident the request names (none for parse) and the execution
    /// it says it comes from.
    pub fn caller(&self) -> (Option<&str>, Option<&str>) {
        match self {
            StageRequest::Parse { execution, .. } => (None, execution.as_deref()),
            StageRequest::Rules {
                incident,
                execution,
                ..
            }
            | StageRequest::Ai {
                incident,
                execution,
                ..
            }
            | StageRequest::Decide {
                incident,
                execution,
                ..
            }
            | StageRequest::AwaitApproval {
                incident,
                execution,
                ..
            }
            | StageRequest::Approve {
                incident,
                execution,
                ..
            }
            | StageRequest::Execute {
                incident,
                execution,
                ..
            }
            | StageRequest::Verify {
                incident,
                execution,
                ..
            }
            | StageRequest::Rollback {
                incident,
                execution,
                ..
            }
            | StageRequest::Record {
                incident,
                execution,
                ..
            } => (Some(incident), execution.as_deref()),
        }
    }
}

/// What a stage returns: the reference to pass on, and what the workflow's
/// Choice states branch on. Every field is always present (a Choice on a
/// missing path is a runtime error in Step Functions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageReply {
    pub incident: String,
    /// The record version after this stage: the next request's `version`.
    pub version: u64,
    /// Whether this workflow owns the incident (false: a redelivered event,
    /// or an alarm that is not in ALARM; the workflow ends).
    pub claimed: bool,
    pub status: Status,
    /// The decision's action, `none` before there is one.
    pub action: String,
    /// Whether a change is on record.
    pub changed: bool,
    /// The verification's verdict, `none` before there is one.
    pub verdict: String,
    /// Whether the verification window was extended once already.
    pub extended: bool,
    /// Approval mode: `none`, `pending`, `approved`, `rejected` or `expired`.
    pub approval: String,
    /// A digest of the answers on record (`none` without approval): the
    /// answering CLI resumes the workflow with it, and execute holds it
    /// against the record.
    pub answer: String,
}

impl StageReply {
    pub(crate) fn of(run: &Run, version: u64, claimed: bool) -> StageReply {
        StageReply {
            incident: run.incident.id.clone(),
            version,
            claimed,
            status: run.status,
            action: run
                .decision
                .as_ref()
                .map_or(Action::None, |d| d.action)
                .to_string(),
            changed: run.change.is_some(),
            verdict: run
                .verification
                .as_ref()
                .map_or_else(|| "none".to_owned(), |v| v.verdict.to_string()),
            extended: run.verification.as_ref().is_some_and(|v| v.extended),
            approval: run
                .approval
                .as_ref()
                .map_or_else(|| "none".to_owned(), |a| a.state.to_string()),
            answer: crate::pipeline::approval::seal(run),
        }
    }
}
