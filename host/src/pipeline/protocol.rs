//! The Lambda handler's protocol: one stage per invocation, `{"stage": ...}`.

use serde::Deserialize;
use serde_json::Value;

use super::{
    Context, Options, Run, decide_stage, diagnose, execute, merge_branches, record, rollback,
    start, verify,
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
        StageRequest::Parse { event } => start(ctx, &event, options)
            .await
            .map_err(|e| e.to_string())?,
        StageRequest::Rules { mut run } => {
            diagnose(ctx, &mut run).await;
            *run
        }
        // The Bedrock diagnoser arrives with the AI issue; until then the branch
        // contributes no finding.
        StageRequest::Ai { run } => *run,
        StageRequest::Decide { runs } => {
            let mut run = merge_branches(runs).ok_or("decide needs at least one run")?;
            decide_stage(ctx, &mut run).await;
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
