//! The record stage, which ends every run: the final status, the notice, the
//! audit record, the lock released.

use std::time::Instant;

use serde_json::Value;

use super::{Context, MAX_DOCUMENT_BYTES, Run, StageFailure, Status, escalate, fail, json, timed};
use crate::incident::AlarmState;
use crate::notify;
use crate::stage::Stage;

/// Stage 8: write the audit record, notify, release the lock.
pub async fn record(ctx: &Context, run: &mut Run) {
    if run.status == Status::Duplicate {
        return;
    }
    finish(ctx, run).await;
    if run.incident.state != AlarmState::Alarm {
        // Never claimed: there is no record to write.
        return;
    }
    if let Err(e) = ctx
        .audit
        .update(&run.incident.id, run.status, &json(run), ctx.clock.now_ms())
        .await
    {
        tracing::error!(error = %e, "could not write the audit record");
        if run.failure.is_none() {
            run.failure = Some(StageFailure {
                stage: Stage::Record,
                message: e.to_string(),
            });
        }
    }
    release(ctx, run).await;
}

/// What Step Functions' Catch caught (`{"Error":…,"Cause":…}`), in one line
/// with the cause cut at `max` characters.
pub(super) fn caught(error: &Value, max: usize) -> String {
    let what = error
        .get("Error")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let cause = error
        .get("Cause")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!("{what}: {}", cause.chars().take(max).collect::<String>())
}

/// Whether one more notice about the run's function fits the hour's bound
/// (`[run] max_notices_per_function_hour`). A count that cannot be kept
/// does not silence a notice: better told twice than not at all.
async fn within_notice_bound(ctx: &Context, run: &mut Run) -> bool {
    let hour = ctx.clock.now_ms() / 3_600_000 * 3_600_000;
    let max = ctx.config.run.max_notices_per_function_hour;
    match ctx
        .audit
        .notice_slot(&run.incident.function_key(), hour, max)
        .await
    {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(function = %run.incident.function_name, max, "notice not sent: the function's hourly bound is reached");
            run.notification_id = Some(format!(
                "not sent: {max} notices about this function this hour already"
            ));
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "the notice bound could not be counted; notifying anyway");
            true
        }
    }
}

/// Releases the function's lock, unless this incident never held it
/// (skipped); a lock left behind expires by itself.
pub(super) async fn release(ctx: &Context, run: &Run) {
    if run.status != Status::Skipped
        && let Err(e) = ctx
            .audit
            .unlock(&run.incident.function_key(), &run.incident.id)
            .await
    {
        tracing::error!(error = %e, "could not release the lock (it expires by itself)");
    }
}

/// The end of every run, before its record is written: the failure the
/// workflow caught, the final status, the notice.
pub(super) async fn finish(ctx: &Context, run: &mut Run) {
    let started = Instant::now();
    if let Some(error) = run.step_error.take()
        && run.failure.is_none()
    {
        fail(run, Stage::Workflow, caught(&error, 500));
    }
    if run.change.is_none()
        && let Some(last) = run.steps.pop()
    {
        // A further step's stage failed before its change was on record:
        // the last completed step is the change the record names.
        let mut decision = last.decision;
        decision.reasons.push(format!(
            "a further step from {} MB did not complete: the record keeps that step",
            last.change.new_memory_mb
        ));
        run.change = Some(last.change);
        run.verification = Some(last.verification);
        run.decision = Some(decision);
    }
    if run.status == Status::Started {
        match &run.change {
            // Recorded before its change was judged: never a quiet ending.
            Some(change) => escalate(
                run,
                format!(
                    "the change to {} MB was recorded before it was verified: a person must judge it",
                    change.new_memory_mb
                ),
            ),
            // Nothing decided a terminal state: a change that needs no verification.
            None => run.status = Status::NoAction,
        }
    }
    run.finished_ms = Some(ctx.clock.now_ms());
    run.fit(MAX_DOCUMENT_BYTES);
    if let Some(notifier) = &ctx.notifier
        && within_notice_bound(ctx, run).await
    {
        let (subject, mut text) = notify::notice(run);
        // While a person has paused autorepair, every notice says so.
        if let Ok(pauses) = ctx.audit.pauses().await
            && let Some(pause) = crate::model::Pause::on(&pauses, &run.incident.function_name)
        {
            text = format!(
                "{}: no change is made until `autorepair resume`.\n\n{text}",
                crate::text::clean(&pause.describe())
            );
        }
        match notifier
            .publish(
                &subject,
                &text,
                &notify::machine_record(run),
                &notify::attributes(run, ctx.config.run.environment.as_deref()),
            )
            .await
        {
            Ok(id) => run.notification_id = Some(id),
            Err(e) => tracing::error!(error = %e, "could not notify"),
        }
    }
    // The function's history, for the AI's next look at it: lost, it only
    // leaves the next prompt without this incident.
    if run.incident.state == AlarmState::Alarm
        && let Some(past) = run.past_incident()
        && let Err(e) = ctx.audit.remember(&past).await
    {
        tracing::warn!(error = %e, "could not keep the incident in the function's history");
    }
    timed(run, Stage::Record, started);
    if let Some((sink, host)) = &ctx.metrics {
        sink.emit(&crate::metrics::documents(run, host, ctx.clock.now_ms()));
    }
}
