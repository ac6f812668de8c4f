//! The fleet's side of the Lambda protocol: the scheduled reconcile and the
//! sweep's three steps, as `{"stage": "...", ...}` payloads beside an
//! incident's stages (`crate::pipeline::StageRequest`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::FleetPorts;
use super::sweep::{self, Item};
use crate::pipeline::Context;
use crate::ports::FleetError;
use crate::stage::Stage;

/// How long the scheduled reconcile writes alarms at most; what is left, the
/// next hour's run does.
const ONBOARD_BUDGET: Duration = Duration::from_secs(80);
/// How long the hourly run judges applied downsizings at most.
const DOWNSIZINGS_BUDGET: Duration = Duration::from_secs(60);
/// Kept free at the end of an invocation: the reply, and one write or
/// function still finishing.
const MARGIN: Duration = Duration::from_secs(10);

/// A stage's budget: `wanted`, cut to what the invocation has left
/// (`remaining`, from the Lambda deadline; `None` when there is no deadline)
/// less `MARGIN` and `tail` — the longest a unit of work started at the last
/// moment may still take.
fn within(wanted: Duration, remaining: Option<Duration>, tail: Duration) -> Duration {
    remaining.map_or(wanted, |left| {
        wanted.min(left.saturating_sub(MARGIN).saturating_sub(tail))
    })
}

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
        /// The member account the functions are in (null or absent: the
        /// host's own).
        #[serde(default)]
        member: Option<crate::incident::MemberAccount>,
    },
    /// `{"stage":"downsizings"}`, hourly on the acting function: the
    /// sweep's applied downsizings judged over the traffic since, a worse
    /// one rolled back.
    Downsizings {},
    /// The map's results, added up and told.
    SweepSummary {
        sweep: String,
        /// Where the map's results are: its ResultWriter's
        /// `{"ResultWriterDetails":{"Bucket","Key"}}`, or the results
        /// themselves (an array, each a [`BatchSummary`]; anything else is
        /// an item that failed).
        batches: Value,
    },
}

/// Whether a payload is one of the fleet's.
pub fn is_fleet(payload: &Value) -> bool {
    payload
        .get("stage")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Stage>().ok())
        .is_some_and(|s| Stage::FLEET.contains(&s))
}

/// Why a fleet stage failed (the state machine's Catch records it).
#[derive(Debug, thiserror::Error)]
pub enum FleetStageError {
    /// Listing the functions, the alarms or the recommendations, or writing
    /// the sweep's item file, failed.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// Some alarm changes failed; the next scheduled reconcile retries them.
    #[error("{failed} of {total} alarm changes failed: {details}")]
    AlarmChanges {
        failed: usize,
        total: usize,
        details: String,
    },
    /// The reply could not be written as JSON.
    #[error("the stage's reply could not be written: {0}")]
    Reply(#[from] serde_json::Error),
}

/// Runs one fleet stage within `remaining` (the invocation's time left; the
/// budgets shrink to fit a short host timeout rather than be killed by it);
/// the reply is what the state machine passes on.
pub async fn handle(
    ctx: &Context,
    ports: &FleetPorts,
    request: FleetRequest,
    remaining: Option<Duration>,
) -> Result<Value, FleetStageError> {
    match request {
        FleetRequest::Onboard { dry_run } => {
            let budget = within(ONBOARD_BUDGET, remaining, Duration::ZERO);
            let done = super::onboard::everywhere(
                ports,
                &ctx.config,
                ctx.members.as_deref(),
                dry_run,
                Some(budget),
                &crate::progress::Silent,
            )
            .await?;
            let (create, update, delete) = done.plan.count();
            if !done.failures.is_empty() {
                // The next scheduled reconcile retries what failed.
                return Err(FleetStageError::AlarmChanges {
                    failed: done.failures.len(),
                    total: done.plan.changes.len(),
                    details: done.failures.join("; "),
                });
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
            let plan = sweep::plan(ctx, ports, &sweep).await?;
            Ok(serde_json::to_value(plan)?)
        }
        FleetRequest::SweepBatch {
            sweep,
            functions,
            member,
        } => {
            let fleet = &ctx.config.fleet;
            // A function started at the budget's end may still read its
            // configuration, then its logs (each up to the collect timeout),
            // then run the rules and write.
            let budget = within(
                Duration::from_secs(fleet.batch_budget_seconds),
                remaining,
                Duration::from_secs(ctx.config.run.collect_timeout_seconds.saturating_mul(3)),
            );
            let item = Item {
                sweep,
                functions,
                member,
            };
            let summary = sweep::batch(ctx, ports, &item, budget).await;
            Ok(serde_json::to_value(summary)?)
        }
        FleetRequest::Downsizings {} => {
            // One downsizing judged at the budget's end may still read its
            // function, its figures and roll back.
            let budget = within(
                DOWNSIZINGS_BUDGET,
                remaining,
                Duration::from_secs(ctx.config.run.collect_timeout_seconds.saturating_mul(3)),
            );
            let checked = super::downsizings::check(ctx, ports, budget).await?;
            Ok(serde_json::to_value(checked)?)
        }
        FleetRequest::SweepSummary { sweep, batches } => {
            let results = sweep::results(ports, &batches).await?;
            let batches = if results.is_empty() && !batches.is_array() {
                // A manifest that lists no result file at all: an engine
                // that wrote none (moto's). The recommendations this sweep
                // wrote are the record; count those.
                tracing::warn!(%sweep, "the map's manifest lists no results; counting this sweep's recommendations");
                vec![sweep::tally(ports, &sweep).await?]
            } else {
                sweep::parse_results(&results)
            };
            let total = sweep::summary(ctx, &sweep, &batches).await;
            Ok(serde_json::to_value(total)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_fits_inside_what_the_invocation_has_left() {
        let s = Duration::from_secs;
        // No deadline (the CLI): as configured.
        assert_eq!(within(s(45), None, s(20)), s(45));
        // Plenty of time left: as configured.
        assert_eq!(within(s(45), Some(s(300)), s(20)), s(45));
        // A 60 s host: 60 - 10 margin - 20 for the last function.
        assert_eq!(within(s(45), Some(s(60)), s(20)), s(30));
        assert_eq!(within(ONBOARD_BUDGET, Some(s(60)), Duration::ZERO), s(50));
        // Too short for anything: nothing is started (all left for next time).
        assert_eq!(within(s(45), Some(s(15)), s(20)), Duration::ZERO);
    }
}
