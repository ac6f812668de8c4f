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
        StageRequest::Parse { event } => parse(ctx, &event, options)
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
            execute(ctx, &mut run).await;
            *run
        }
        StageRequest::Verify { mut run } => {
            verify(ctx, &mut run).await;
            *run
        }
        StageRequest::Rollback { mut run } => {
            rollback(ctx, &mut run).await;
            *run
        }
        StageRequest::Record { mut run } => {
            record(ctx, &mut run).await;
            *run
        }
    })
}
