//! The fleet's side of the Lambda protocol: the scheduled reconcile and the
//! sweep's three steps, as `{"stage": "...", ...}` payloads beside an
//! incident's stages (`crate::pipeline::StageRequest`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::FleetPorts;
use super::sweep::{self, Item};
use crate::pipeline::Context;

/// How long the scheduled reconcile writes alarms (inside the host's
/// timeout); what is left, the next hour's run does.
const ONBOARD_BUDGET: std::time::Duration = std::time::Duration::from_secs(80);

/// The fleet's stage names.
pub const STAGES: &[&str] = &["onboard", "sweep_plan", "sweep_batch", "sweep_summary"];

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case", deny_unknown_fields)]
pub enum FleetRequest {
    /// The scheduled reconcile: `{"stage":"onboard"}` (`"dry_run": true` plans only).
    Onboard {
        #[serde(default)]
        dry_run: bool,
    },
    /// `{"stage":"sweep_plan","sweep":"$$.Execution.Name"}`: lists the opted-in
    /// functions into the map's item file.
    SweepPlan { sweep: String },
    /// One map item.
    SweepBatch {
        sweep: String,
        functions: Vec<String>,
    },
    /// The map's results, added up and told.
    SweepSummary {
        sweep: String,
        /// Each a [`BatchSummary`]; anything else is an item that failed.
        batches: Vec<Value>,
    },
}

/// Whether a payload is one of the fleet's.
pub fn is_fleet(payload: &Value) -> bool {
    payload
        .get("stage")
        .and_then(Value::as_str)
        .is_some_and(|s| STAGES.contains(&s))
}

/// Runs one fleet stage; the reply is what the state machine passes on.
pub async fn handle(
    ctx: &Context,
    ports: &FleetPorts,
    request: FleetRequest,
) -> Result<Value, String> {
    match request {
        FleetRequest::Onboard { dry_run } => {
            let done = super::onboard::reconcile(ports, &ctx.config, dry_run, Some(ONBOARD_BUDGET))
                .await
                .map_err(|e| e.to_string())?;
            let (create, update, delete) = done.plan.count();
            if !done.failures.is_empty() {
                // The next scheduled reconcile retries what failed.
                return Err(format!(
                    "{} of {} alarm changes failed: {}",
                    done.failures.len(),
                    done.plan.changes.len(),
                    done.failures.join("; ")
                ));
            }
            Ok(json!({
                "functions": done.plan.functions,
                "created": create,
                "updated": update,
                "deleted": delete,
                "unchanged": done.plan.unchanged,
                "left_for_next_run": done.left,
                "warnings": done.plan.warnings,
                "dry_run": dry_run,
            }))
        }
        FleetRequest::SweepPlan { sweep } => {
            let plan = sweep::plan(ctx, ports, &sweep)
                .await
                .map_err(|e| e.to_string())?;
            serde_json::to_value(plan).map_err(|e| e.to_string())
        }
        FleetRequest::SweepBatch { sweep, functions } => {
            let summary = sweep::batch(ctx, ports, &Item { sweep, functions }).await;
            serde_json::to_value(summary).map_err(|e| e.to_string())
        }
        FleetRequest::SweepSummary { sweep, batches } => {
            let total = sweep::summary(ctx, &sweep, &sweep::parse_results(&batches)).await;
            serde_json::to_value(total).map_err(|e| e.to_string())
        }
    }
}
