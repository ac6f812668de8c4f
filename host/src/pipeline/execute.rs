//! The execute stage: the guard run again on the function as it is now, the
//! intent written ahead, the memory changed (once more after a 412), and a
//! crashed attempt's work finished instead of repeated.

use std::time::{Duration, Instant};

use super::decision::decide_on;
use super::smoke::smoke;
use super::{Context, Run, Status, escalate, fail, json, timed};
use crate::decide::{Action, Decision};
use crate::evidence;
use crate::model::{FunctionInfo, RecordedChange};
use crate::ports::AuditError;
use crate::repair::{Change, RepairError};
use crate::run::ApprovalState;
use crate::stage::Stage;

/// Stage 5: apply the decision. A 412 (changed since we looked) re-reads the
/// function and re-decides once.
pub async fn execute(ctx: &Context, run: &mut Run) {
    if run.status.is_terminal() {
        return;
    }
    let Some(decision) = run.decision.clone() else {
        return;
    };
    if decision.action != Action::SetMemory {
        return;
    }
    // Approval mode: only an approved change is made, and only the one approved.
    let approved = match &run.approval {
        None => None,
        Some(a) if a.state == ApprovalState::Approved => {
            // The host's own policy, not the answering CLI's, says whether
            // the answers on record carry authority.
            if let Err(why) = super::approval::authorised(run, &ctx.config.approval) {
                return escalate(
                    run,
                    format!("the approval does not carry authority ({why}): nothing was changed"),
                );
            }
            decision
                .target_memory_mb
                .map(|t| (decision.current_memory_mb, t))
        }
        Some(a) => {
            let state = a.state;
            return escalate(
                run,
                format!("the change needs a person's approval and is {state}: nothing was changed"),
            );
        }
    };
    let started = Instant::now();
    let bound = Duration::from_secs(ctx.config.run.collect_timeout_seconds);
    // The decision (and the function) in the run document came from the
    // caller: re-read the incident's own function and re-run the whole guard
    // on it before anything changes.
    let (name, qualifier) = (
        &run.incident.function_name,
        run.incident.qualifier.as_deref(),
    );
    let mut function =
        match evidence::function(ctx.functions.as_ref(), name, qualifier, bound).await {
            Ok(f) => f,
            Err(e) => return fail(run, Stage::Execute, e.to_string()),
        };
    // A retried execute (the last attempt crashed): finish what it started.
    let ours = match resume(ctx, run, &function).await {
        Resume::Fresh => false,
        Resume::Intended => true,
        Resume::Changed(change) => {
            tracing::info!("a retried execute: the change was made before the crash; verifying it");
            run.change = Some(change);
            timed(run, Stage::Execute, started);
            return;
        }
        Resume::Escalate(reason) => return escalate(run, reason),
    };
    let decision = match decide_on(ctx, run, &function).await {
        Ok(d) => d,
        Err(why) => return escalate(run, format!("{why}: nothing was changed")),
    };
    run.function = Some(function.clone());
    run.decision = Some(decision.clone());
    if approved.is_some()
        && Some((function.memory_mb, decision.target_memory_mb.unwrap_or(0))) != approved
    {
        timed(run, Stage::Execute, started);
        // Decided otherwise now (a pause, the guard): the reasons above say why.
        let why = if decision.action == Action::SetMemory {
            format!(
                "the function changed since the change was approved (now {} MB, the decision {}): nothing was changed",
                function.memory_mb,
                decision
                    .target_memory_mb
                    .map_or("none".to_owned(), |t| format!("{t} MB"))
            )
        } else {
            "the approved change is no longer decided (the reasons above say why): nothing was changed"
                .to_owned()
        };
        return escalate(run, why);
    }
    let Some(mut target) = target_or_settle(run, &decision) else {
        timed(run, Stage::Execute, started);
        return;
    };
    if let Err(e) = write_intent(ctx, run, &function, target, ours).await {
        return escalate(
            run,
            format!("the intent to change could not be recorded ({e}): nothing was changed"),
        );
    }
    let repairer = ctx.repairer();
    let mut reread = false;
    let result = loop {
        match repairer.set_memory(&function, target).await {
            Err(RepairError::Precondition) if !reread => {
                reread = true;
                tracing::info!(
                    "function changed since it was read (412): re-reading and deciding again"
                );
                let qualifier = function.qualifier.as_deref();
                let fresh =
                    evidence::function(ctx.functions.as_ref(), &function.name, qualifier, bound);
                let fresh = match fresh.await {
                    Ok(fresh) => fresh,
                    Err(e) => break Some(Err(RepairError::Aws(e.to_string()))),
                };
                // Someone changed the function since our read: whatever
                // they recorded counts (our own intent does not).
                let again = match decide_on(ctx, run, &fresh).await {
                    Ok(d) => d,
                    Err(why) => {
                        timed(run, Stage::Execute, started);
                        return escalate(run, format!("after a 412 {why}: nothing was changed"));
                    }
                };
                function = fresh;
                run.function = Some(function.clone());
                // An approved change goes through only as approved.
                let as_approved = |t: &u32| approved.is_none_or(|a| a == (function.memory_mb, *t));
                let allowed = Decision {
                    target_memory_mb: again.target_memory_mb.filter(as_approved),
                    ..again.clone()
                };
                let next = target_or_settle(run, &allowed);
                run.decision = Some(again);
                match next {
                    Some(t) => target = t,
                    None => break None,
                }
            }
            other => break Some(other),
        }
    };
    timed(run, Stage::Execute, started);
    match result {
        None => {}
        Some(Ok(change)) => {
            run.source_change =
                crate::iac::change(&function.tags, change.new_memory_mb, &ctx.config.iac);
            run.change = Some(change);
            if let Err(e) = ctx
                .audit
                .update(
                    &run.incident.id,
                    Status::Changed,
                    &json(run),
                    ctx.clock.now_ms(),
                )
                .await
            {
                // The intent is on record; the record stage writes the rest.
                tracing::error!(error = %e, "change applied; its record waits for the record stage");
            }
            smoke(ctx, run).await;
        }
        Some(Err(RepairError::NotFound(name))) => fail(
            run,
            Stage::Execute,
            format!("function {name} no longer exists"),
        ),
        Some(Err(RepairError::Aws(message))) => fail(run, Stage::Execute, message),
        Some(Err(e)) => {
            run.status = Status::Escalated;
            if let Some(d) = run.decision.as_mut() {
                d.reasons.push(format!("not applied: {e}"));
            }
        }
    }
}

/// The target of a decision to change memory; any other decision ends the
/// run here, escalated or with nothing to do.
fn target_or_settle(run: &mut Run, decision: &Decision) -> Option<u32> {
    match (decision.action, decision.target_memory_mb) {
        (Action::SetMemory, Some(target)) => Some(target),
        (action, _) => {
            run.status = if action == Action::Escalate {
                Status::Escalated
            } else {
                Status::NoAction
            };
            None
        }
    }
}

/// Write-ahead: the change goes into the function's history (so the next
/// incident's cooldown sees it whatever happens next; a crashed attempt's
/// own intent, `ours`, is there already) and the run into the audit table
/// as `executing`, before anything is changed. Either failing means no change.
async fn write_intent(
    ctx: &Context,
    run: &Run,
    function: &FunctionInfo,
    target: u32,
    ours: bool,
) -> Result<(), AuditError> {
    let now = ctx.clock.now_ms();
    if !ours {
        let change = RecordedChange {
            incident_id: run.incident.id.clone(),
            at_ms: now,
            from_mb: function.memory_mb,
            to_mb: target,
        };
        ctx.audit
            .record_change(&run.incident.function_key(), &change)
            .await?;
    }
    ctx.audit
        .update(&run.incident.id, Status::Executing, &json(run), now)
        .await
}

/// Where an earlier attempt of this execute stopped, from the audit record.
enum Resume {
    /// No earlier attempt.
    Fresh,
    /// It recorded its intent and changed nothing (or nothing we can see).
    Intended,
    /// It made this change; verify it.
    Changed(Change),
    /// It stopped where only a person can tell what happened.
    Escalate(String),
}

/// What an earlier, crashed attempt of this incident's execute left: its
/// change on record (`changed`), or an intent (`executing`) whose change the
/// function itself shows was made (memory at the target since our read) or
/// was not.
async fn resume(ctx: &Context, run: &Run, fresh: &FunctionInfo) -> Resume {
    let record = match ctx.audit.get(&run.incident.id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Resume::Fresh,
        Err(e) => {
            return Resume::Escalate(format!(
                "the incident's record could not be read ({e}): whether an earlier attempt changed anything is unknown"
            ));
        }
    };
    let Ok(stored) = serde_json::from_str::<Run>(&record.document) else {
        return Resume::Fresh;
    };
    if stored.steps.len() != run.steps.len() {
        // What is on record is an earlier step's, judged since: this step
        // is a new one.
        return Resume::Fresh;
    }
    match record.status {
        Status::Changed => match stored.change {
            Some(change) => Resume::Changed(change),
            None => Resume::Fresh,
        },
        Status::Executing => {
            let (Some(before), Some(target)) = (
                stored.function.as_ref(),
                stored.decision.as_ref().and_then(|d| d.target_memory_mb),
            ) else {
                return Resume::Intended;
            };
            // A revision that moved, or memory that did (an emulator, or a
            // revision id that was not read, may keep the id): either way
            // the function is not as the attempt found it.
            let moved =
                fresh.revision_id != before.revision_id || fresh.memory_mb != before.memory_mb;
            if !moved {
                return Resume::Intended;
            }
            if fresh.qualifier.is_some() {
                return Resume::Escalate(format!(
                    "an earlier attempt crashed while changing alias {}: what it published or moved is unknown; a person must look",
                    fresh.qualifier.as_deref().unwrap_or_default()
                ));
            }
            if fresh.memory_mb != target {
                return Resume::Escalate(format!(
                    "an earlier attempt crashed, and the function has changed since ({} MB, not the {target} MB intended): a person must look",
                    fresh.memory_mb
                ));
            }
            Resume::Changed(Change {
                function_name: fresh.name.clone(),
                alias: None,
                previous_memory_mb: before.memory_mb,
                new_memory_mb: target,
                previous_revision_id: before.revision_id.clone(),
                new_revision_id: fresh.revision_id.clone(),
                // The crashed attempt's request id is lost with it.
                request_id: None,
                previous_version: None,
                published_version: None,
                previous_latest_memory_mb: None,
                // When exactly is lost with the crash: from now on, only
                // invocations at the new size count anyway.
                at_ms: ctx.clock.now_ms(),
            })
        }
        _ => Resume::Fresh,
    }
}
