//! The Lambda handler's protocol: one stage per invocation, `{"stage": ...}`.

use serde::Deserialize;
use serde_json::Value;

use super::{
    Context, Diagnosers, Options, Run, decide, diagnose, execute, merge_branches, parse, record,
    rollback, verify,
};

/// The stage names the Lambda handler knows, in workflow order.
pub const STAGES: &[&str] = &[
    "parse", "rules", "ai", "decide", "execute", "verify", "rollback", "record",
];

/// One Step Functions task's payload: `{"stage": "...", ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case", deny_unknown_fields)]
pub enum StageRequest {
    /// `{"stage":"parse","event":{…alarm event…}}`
    Parse {
        event: Value,
        /// The Step Functions execution (`$$.Execution.Id`): a retried parse
        /// of the same execution finds its own claim instead of a duplicate.
        #[serde(default)]
        execution: Option<String>,
    },
    /// `{"stage":"rules","run":{…}}`: collect and run the rules (a Parallel branch).
    Rules {
        run: Box<Run>,
    },
    /// `{"stage":"ai","run":{…}}`: the AI diagnoser (a Parallel branch).
    Ai {
        run: Box<Run>,
    },
    /// `{"stage":"decide","runs":[…one per branch…]}`
    Decide {
        runs: Vec<Run>,
    },
    Execute {
        run: Box<Run>,
    },
    Verify {
        run: Box<Run>,
    },
    Rollback {
        run: Box<Run>,
    },
    Record {
        run: Box<Run>,
    },
}

/// Runs one stage for the Lambda handler; the returned run is the next task's input.
pub async fn stage(ctx: &Context, request: StageRequest) -> Result<Run, String> {
    let options = Options::from_config(&ctx.config);
    Ok(match request {
        StageRequest::Parse { event, execution } => parse(ctx, &event, options, execution)
            .await
            .map_err(|e| e.to_string())?,
        StageRequest::Rules { mut run } => {
            let rules_only = Diagnosers {
                rules: true,
                ai: false,
            };
            diagnose(ctx, &mut run, rules_only).await;
            *run
        }
        // Without `[ai] enabled` the branch contributes no finding.
        StageRequest::Ai { mut run } => {
            if ctx.ai.is_some() {
                let ai_only = Diagnosers {
                    rules: false,
                    ai: true,
                };
                diagnose(ctx, &mut run, ai_only).await;
            }
            *run
        }
        StageRequest::Decide { runs } => {
            let mut run = merge_branches(runs).ok_or("decide needs at least one run")?;
            decide(ctx, &mut run).await;
            run
        }
        StageRequest::Execute { mut run } => {
            claimed(ctx, &run).await?;
            execute(ctx, &mut run).await;
            *run
        }
        StageRequest::Verify { mut run } => {
            verify(ctx, &mut run).await;
            *run
        }
        StageRequest::Rollback { mut run } => {
            let stored = claimed(ctx, &run).await?;
            // Only the change this incident recorded is ever undone.
            if run.change.is_some() && run.change != stored.change {
                return Err(format!(
                    "incident {}: the change to roll back is not the one on record; refusing",
                    run.incident.id
                ));
            }
            rollback(ctx, &mut run).await;
            *run
        }
        StageRequest::Record { mut run } => {
            let stored = claimed(ctx, &run).await?;
            // Recorded already (a retried task): the record stands, and
            // nobody is told twice.
            if stored.status.is_terminal() && stored.finished_ms.is_some() {
                return Ok(stored);
            }
            if stored.change.is_some() && run.change != stored.change {
                return Err(format!(
                    "incident {}: the change in the request is not the one on record; refusing",
                    run.incident.id
                ));
            }
            record(ctx, &mut run).await;
            *run
        }
    })
}

/// The incident's stored run, when the request's run is one this host
/// claimed: the same incident (function, alias, alarm) under the same id.
/// Anything else — an id never claimed, an incident rewritten to name another
/// function — is refused: the stages act only on what `parse` admitted.
async fn claimed(ctx: &Context, run: &Run) -> Result<Run, String> {
    let id = &run.incident.id;
    if run.incident.state != crate::incident::AlarmState::Alarm {
        // Never claimed (nothing to act on); the record stage writes nothing.
        return Ok(run.clone());
    }
    let (_, document) = ctx
        .audit
        .get(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("incident {id} was never claimed: refusing the stage request"))?;
    let stored: Run = serde_json::from_str(&document)
        .map_err(|e| format!("incident {id}: the stored run does not parse ({e})"))?;
    if stored.incident != run.incident {
        return Err(format!(
            "incident {id}: the request names another incident than the one on record (function {} vs {}); refusing",
            run.incident.function_name, stored.incident.function_name
        ));
    }
    Ok(stored)
}
