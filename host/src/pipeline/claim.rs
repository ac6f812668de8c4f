//! The parse stage: the alarm event read, the incident claimed (one
//! workflow per alarm transition) and the function locked.

use std::time::Instant;

use serde_json::Value;

use super::{Context, Options, Run, Status, fail, json, no_change, timed};
use crate::incident::{self, AlarmState, Incident, IncidentError};
use crate::origin::{self, Unverified};
use crate::ports::Claim;
use crate::stage::Stage;

/// Stage 1: parse the event, claim the incident (idempotency) and lock the
/// function. `execution` names who claims it (a Step Functions execution):
/// the same execution claiming again (a retried task) gets its own claim back.
pub async fn parse(
    ctx: &Context,
    event: &Value,
    options: Options,
    execution: Option<String>,
) -> Result<Run, IncidentError> {
    let started = Instant::now();
    let incident = incident::parse_value(event)?;
    let span =
        tracing::info_span!("incident", id = %incident.id, function = %incident.function_name);
    let _guard = span.enter();
    if incident.state == AlarmState::Alarm
        && let Err(why) = verified(ctx, &incident).await
    {
        // Nothing claimed, nobody told: a line in the host's log is all a
        // forged or replayed event gets.
        tracing::warn!(alarm = %incident.alarm_name, reason = %why, "alarm event refused");
        return Err(why.into());
    }
    let mut run = Run::new(incident, options.mode, options.dry_run, ctx.clock.now_ms());
    run.claimed_by = execution;
    if run.incident.state != AlarmState::Alarm {
        run.status = Status::NoAction;
        run.decision = Some(no_change(format!(
            "alarm is {}, not ALARM: nothing to do",
            run.incident.alarm_info().state
        )));
        timed(&mut run, Stage::Parse, started);
        return Ok(run);
    }
    let id = run.incident.id.clone();
    let function = run.incident.function_name.clone();
    match ctx
        .audit
        .claim(&id, &function, &json(&run), run.started_ms)
        .await
    {
        Ok(Claim::Won) => {}
        Ok(Claim::Taken) => match own_claim(ctx, &run).await {
            Some(stored) => {
                tracing::info!("a retried parse of the execution that claimed the incident");
                run = stored;
            }
            None => {
                tracing::info!("incident already handled: redelivered event ignored");
                run.status = Status::Duplicate;
                timed(&mut run, Stage::Parse, started);
                return Ok(run);
            }
        },
        Err(e) => fail(&mut run, Stage::Parse, e.to_string()),
    }
    if !run.status.is_terminal() {
        let ttl_ms = ctx
            .config
            .run
            .lock_ttl_ms(ctx.config.policy.max_steps_per_incident);
        match ctx
            .audit
            .lock(&function, &id, ctx.clock.now_ms(), ttl_ms)
            .await
        {
            Ok(Claim::Won) => {}
            Ok(Claim::Taken) => {
                run.status = Status::Skipped;
                run.decision = Some(no_change(format!(
                    "another incident is repairing {function} right now: this one changes nothing"
                )));
            }
            Err(e) => fail(&mut run, Stage::Parse, e.to_string()),
        }
    }
    timed(&mut run, Stage::Parse, started);
    Ok(run)
}

/// The event against CloudWatch: young enough, its alarm real, watching its
/// function, and entering ALARM at its time (now, or in its history). The
/// evidence window then hangs on a state change CloudWatch recorded, never
/// on a time the payload chose.
async fn verified(ctx: &Context, incident: &Incident) -> Result<(), Unverified> {
    let max_age_ms = i64::try_from(ctx.config.run.max_event_age_seconds.saturating_mul(1000))
        .unwrap_or(i64::MAX);
    origin::check_age(incident, ctx.clock.now_ms(), max_age_ms)?;
    let prefix = &ctx.config.fleet.alarm_prefix;
    if ctx.config.run.own_alarms_only && !incident.alarm_name.starts_with(prefix.as_str()) {
        return Err(Unverified::NotOurs {
            alarm: incident.alarm_name.clone(),
            prefix: prefix.clone(),
        });
    }
    let unreadable = |e: crate::ports::FleetError| Unverified::Unreadable(e.to_string());
    let alarm = ctx
        .alarms
        .describe(&incident.alarm_name)
        .await
        .map_err(unreadable)?;
    let history = match &alarm {
        Some(a) if origin::needs_history(incident, a) => Some(
            ctx.alarms
                .changes(&incident.alarm_name, origin::history_window(incident))
                .await
                .map_err(unreadable)?,
        ),
        _ => None,
    };
    origin::check_alarm(incident, alarm.as_ref(), history.as_deref())
}

/// The stored run when the claim on `run`'s incident is `run`'s own (the same
/// execution claimed it, and it has not gone past parse).
async fn own_claim(ctx: &Context, run: &Run) -> Option<Run> {
    let me = run.claimed_by.as_ref()?;
    let stored = ctx.audit.get(&run.incident.id).await.ok()??;
    let stored: Run = serde_json::from_str(&stored.document).ok()?;
    (stored.claimed_by.as_ref() == Some(me) && stored.status == Status::Started).then_some(stored)
}
