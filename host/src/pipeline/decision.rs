//! The decide stage: the findings merged under the safety policy, with the
//! function's change history; approval asked for when the function needs it.

use std::time::Instant;

use super::{Context, Run, Status, approval, escalate, fail, timed};
use crate::decide::{self, Action, Converging, Decision, History, Situation, Step};
use crate::model::{FunctionInfo, RecordedChange};
use crate::run::{Approval, ApprovalState};
use crate::stage::Stage;

/// Stage 4: decide under the policy, with the function's change history.
pub async fn decide(ctx: &Context, run: &mut Run) {
    if run.status.is_terminal() {
        return;
    }
    let started = Instant::now();
    let Some(function) = run.function.clone() else {
        return fail(
            run,
            Stage::Decide,
            "no function state: the collect stage did not run",
        );
    };
    // Without the history the cooldown and the daily cap cannot be checked:
    // fail closed — no change, a person looks.
    let decision = match decide_on(ctx, run, &function).await {
        Ok(d) => d,
        Err(why) => return escalate(run, format!("{why}: nothing will be changed")),
    };
    run.status = match (decision.action, run.dry_run) {
        (Action::None, _) => Status::NoAction,
        (Action::Escalate, _) => Status::Escalated,
        (Action::SetMemory, true) => Status::DryRun,
        (Action::SetMemory, false) => Status::Started,
    };
    run.decision = Some(decision);
    if run.status == Status::Started && approval::required(&ctx.config.approval, &function) {
        let now = ctx.clock.now_ms();
        run.approval = Some(Approval {
            state: ApprovalState::Pending,
            requested_ms: now,
            deadline_ms: now + i64::from(ctx.config.approval.timeout_seconds) * 1000,
            token: None,
            by: None,
            reason: None,
            answered_ms: None,
            approvals: Vec::new(),
        });
    }
    timed(run, Stage::Decide, started);
}

/// The guard on `function` as just read (decide, then execute again, and
/// once more after a 412), with its change history. This incident's own
/// entries — its intent, written ahead of the change, perhaps by an attempt
/// that crashed — are not another change; every other entry is, whoever
/// wrote it (after a 412, another incident may well have). `Err` says why no
/// decision could be made: without the history the cooldown and the daily
/// cap cannot be checked, so nothing changes.
pub(super) async fn decide_on(
    ctx: &Context,
    run: &mut Run,
    function: &FunctionInfo,
) -> Result<Decision, String> {
    let now = ctx.clock.now_ms();
    let changes = ctx
        .audit
        .list_changes(&run.incident.function_key(), Some(History::since(now)))
        .await
        .map_err(|e| format!("the change history could not be read ({e})"))?;
    let others: Vec<RecordedChange> = changes
        .into_iter()
        .filter(|c| c.incident_id != run.incident.id)
        .collect();
    let history = History::at(&others, now);
    let decision = decide_history(ctx, run, function, history, now);
    if decision.action != Action::SetMemory {
        return Ok(decision);
    }
    // A person's pause holds whatever was decided; read here, so one put in
    // force between decide and execute still stops the change.
    let pauses = ctx
        .audit
        .pauses()
        .await
        .map_err(|e| format!("whether autorepair is paused could not be read ({e})"))?;
    Ok(decide::unless_paused(
        decision,
        crate::model::Pause::on(&pauses, &function.name),
    ))
}

fn decide_history(
    ctx: &Context,
    run: &mut Run,
    function: &FunctionInfo,
    history: History,
    now: crate::model::Millis,
) -> Decision {
    if let Some(last) = run.steps.last() {
        // A further step of this incident: its own steps, not the findings
        // (which asked for the first step), decide the next.
        let steps: Vec<Step> = run
            .steps
            .iter()
            .map(|s| Step {
                from_mb: s.change.previous_memory_mb,
                to_mb: s.change.new_memory_mb,
            })
            .collect();
        let converging = Converging {
            function,
            steps: &steps,
            out_of_memory: last.verification.after.out_of_memory,
            history,
            now_ms: now,
        };
        return decide::step_again(&converging, &ctx.config.policy);
    }
    decide_with(ctx, run, function, history)
}

fn decide_with(
    ctx: &Context,
    run: &mut Run,
    function: &FunctionInfo,
    history: History,
) -> Decision {
    let situation = Situation {
        function,
        findings: &run.findings,
        failures: &run.plugin_failures,
        history,
        now_ms: ctx.clock.now_ms(),
        report_doubt: run
            .evidence
            .as_ref()
            .and_then(|e| e.report_doubt.as_deref()),
    };
    let decision = decide::decide(&situation, &ctx.config.policy, run.mode);
    run.would_have = decide::would_have(&situation, &ctx.config.policy);
    decision
}
