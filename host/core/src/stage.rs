//! The stages, by name: the one home of the names the Step Functions
//! definitions send (`{"stage":"execute",…}`), the audit record keeps (the
//! stage behind each commit) and the run document times (`stage_ms`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One step of the alarm workflow or of the fleet's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// An alarm event to an incident, claimed.
    Parse,
    /// The evidence read (inside the rules and AI branches; a timing only).
    Collect,
    /// The rule plugins' branch.
    Rules,
    /// The AI diagnoser's branch.
    Ai,
    /// Merge and the safety guard.
    Decide,
    /// Approval mode: the workflow waits on a task token.
    AwaitApproval,
    /// An approval's answer, or the wait's timeout.
    Approve,
    /// The memory change.
    Execute,
    /// The functional check right after a change (a timing only, within
    /// execute).
    Smoke,
    /// The verdict after the window.
    Verify,
    /// Keep or undo the change.
    Rollback,
    /// The record written and the notice sent, at every end.
    Record,
    /// The hourly alarm reconcile.
    Onboard,
    /// A sweep's list of functions, in batches.
    SweepPlan,
    /// One batch of a sweep.
    SweepBatch,
    /// A sweep's totals and notice.
    SweepSummary,
    /// The hourly judgement of the sweep's applied downsizings.
    Downsizings,
    /// The Step Functions workflow itself: a failure it caught after a
    /// task's retries (never a task of its own).
    Workflow,
}

impl Stage {
    /// The alarm workflow's stages the Lambda handler answers, in workflow order.
    pub const WORKFLOW: [Stage; 10] = [
        Stage::Parse,
        Stage::Rules,
        Stage::Ai,
        Stage::Decide,
        Stage::AwaitApproval,
        Stage::Approve,
        Stage::Execute,
        Stage::Verify,
        Stage::Rollback,
        Stage::Record,
    ];

    /// The fleet's stages the Lambda handler answers.
    pub const FLEET: [Stage; 5] = [
        Stage::Onboard,
        Stage::SweepPlan,
        Stage::SweepBatch,
        Stage::SweepSummary,
        Stage::Downsizings,
    ];

    /// The name on the wire and on the record.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Parse => "parse",
            Stage::Collect => "collect",
            Stage::Rules => "rules",
            Stage::Ai => "ai",
            Stage::Decide => "decide",
            Stage::AwaitApproval => "await_approval",
            Stage::Approve => "approve",
            Stage::Execute => "execute",
            Stage::Smoke => "smoke",
            Stage::Verify => "verify",
            Stage::Rollback => "rollback",
            Stage::Record => "record",
            Stage::Onboard => "onboard",
            Stage::SweepPlan => "sweep_plan",
            Stage::SweepBatch => "sweep_batch",
            Stage::SweepSummary => "sweep_summary",
            Stage::Downsizings => "downsizings",
            Stage::Workflow => "workflow",
        }
    }

    /// The names of `stages` joined by `separator` (`parse → rules`, `parse, rules`).
    pub fn join(stages: &[Stage], separator: &str) -> String {
        stages
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(separator)
    }

    /// Every stage, for lookups by name.
    const ALL: [Stage; 18] = [
        Stage::Parse,
        Stage::Collect,
        Stage::Rules,
        Stage::Ai,
        Stage::Decide,
        Stage::AwaitApproval,
        Stage::Approve,
        Stage::Execute,
        Stage::Smoke,
        Stage::Verify,
        Stage::Rollback,
        Stage::Record,
        Stage::Onboard,
        Stage::SweepPlan,
        Stage::SweepBatch,
        Stage::SweepSummary,
        Stage::Downsizings,
        Stage::Workflow,
    ];
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no stage of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a stage")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(s: &str) -> Result<Stage, UnknownStage> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.name() == s)
            .ok_or_else(|| UnknownStage(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for stage in Stage::ALL {
            assert_eq!(stage.name().parse::<Stage>(), Ok(stage));
            assert_eq!(
                serde_json::to_value(stage).unwrap(),
                serde_json::Value::String(stage.name().to_owned())
            );
        }
        assert_eq!(
            "rollback-unverified".parse::<Stage>(),
            Err(UnknownStage("rollback-unverified".into()))
        );
    }

    #[test]
    fn the_handlers_lists_hold_each_stage_once() {
        let mut answered: Vec<Stage> = Stage::WORKFLOW.into_iter().chain(Stage::FLEET).collect();
        answered.sort();
        answered.dedup();
        assert_eq!(answered.len(), Stage::WORKFLOW.len() + Stage::FLEET.len());
        for timing_only in [Stage::Collect, Stage::Smoke, Stage::Workflow] {
            assert!(
                !answered.contains(&timing_only),
                "{timing_only} is no task of its own"
            );
        }
    }
}
