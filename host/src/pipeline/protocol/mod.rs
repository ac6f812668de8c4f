//! The Lambda handler's protocol: one stage per invocation.
//!
//! The run lives in the audit table, never in the payload: a stage request
//! names the incident and the record version its caller saw
//! (`{"stage":"execute","incident":"…","version":3}`); the stage loads the
//! stored run, checks that the stage may follow the ones on record, runs, and
//! commits on the version it read. The reply is a small [`StageReply`] for
//! Step Functions' Choice states. A caller can therefore send nothing but an
//! order of stages, and only the order the workflow itself follows is taken.
//!
//! The request and reply are in [`request`], the order in [`order`], the
//! loading and committing in [`store`]; this module runs each stage.

mod order;
mod request;
pub(in crate::pipeline) mod store;

use serde_json::Value;

use super::{
    Context, Diagnosers, Options, Run, Status, approval, decide, diagnose, execute, finish,
    merge_branches, parse, rollback, verify,
};
use crate::decide::Action;
use crate::incident::{AlarmState, IncidentError};
use crate::origin::Unbound;
use crate::ports::{AuditError, AuditStore, Claim, NotifyError, StoredRecord};
use crate::stage::Stage;
use crate::verify::Verdict;

pub use order::OrderError;
pub(crate) use order::{Next, next};
pub use request::{StageReply, StageRequest};
use store::{commit, keep_token, load, save, stored_run};

/// Why a stage request (or a person's answer) was refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The audit table could not be read or written: worth a retry.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The alarm event is not one (parse).
    #[error(transparent)]
    Event(#[from] IncidentError),
    /// No record of the incident: it was never claimed.
    #[error("incident {0} was never claimed (no record in the audit table): refusing")]
    NeverClaimed(String),
    /// The stored run does not parse (another version's, or edited).
    #[error("incident {incident}: the stored run does not parse ({reason})")]
    Unreadable { incident: String, reason: String },
    /// The stage does not follow the stages on record.
    #[error("incident {incident}: {source}")]
    OutOfOrder {
        incident: String,
        source: OrderError,
    },
    /// Another commit took the version this stage read.
    #[error(
        "incident {incident}: another stage committed version {version} first; this {stage} is not saved"
    )]
    Lost {
        incident: String,
        stage: Stage,
        version: u64,
    },
    /// The approval request could not be sent: nobody would know to answer.
    #[error("the approval request could not be sent: {0}")]
    Notify(#[from] NotifyError),
    /// The call does not come from a running execution of the host's state
    /// machine that claimed the incident.
    #[error("incident {incident}: {source}")]
    Unbound { incident: String, source: Unbound },
    /// In order, but what the incident's record says refuses it (verified
    /// already, too early, answered already, nothing to approve…).
    #[error("incident {incident}: {reason}")]
    Refused { incident: String, reason: String },
}

impl ProtocolError {
    pub(crate) fn refused(incident: &str, reason: impl Into<String>) -> ProtocolError {
        ProtocolError::Refused {
            incident: incident.to_owned(),
            reason: reason.into(),
        }
    }

    fn order(incident: &str) -> impl FnOnce(OrderError) -> ProtocolError {
        move |source| ProtocolError::OutOfOrder {
            incident: incident.to_owned(),
            source,
        }
    }
}

/// Runs one stage for the Lambda handler.
///
/// Every call is first bound to its caller: a running execution of the
/// state machine `[run] state_machine_arn` names, and after parse the one
/// that claimed the incident. Only then is a `step_error` (Step Functions'
/// Catch) believed.
pub async fn stage(ctx: &Context, request: StageRequest) -> Result<StageReply, ProtocolError> {
    // Checked where each path has loaded the record (one read, not two).
    let caller = request.caller().1.map(str::to_owned);
    let caller = caller.as_deref();
    let options = Options::from_config(&ctx.config);
    let mut caught = None;
    let mut answer = None;
    let (name, incident, version) = match request {
        StageRequest::Parse { event, execution } => {
            // Parse: the caller claims the incident now.
            bound(ctx, None, caller, caller).await?;
            return parse_stage(ctx, &event, options, execution).await;
        }
        StageRequest::Record {
            incident,
            version,
            step_error,
            ..
        } => return record_stage(ctx, &incident, version, step_error, caller).await,
        StageRequest::Rules {
            incident, version, ..
        } => (Stage::Rules, incident, version),
        StageRequest::Ai {
            incident,
            version,
            step_error,
            ..
        } => {
            caught = step_error;
            (Stage::Ai, incident, version)
        }
        StageRequest::Decide {
            incident, version, ..
        } => (Stage::Decide, incident, version),
        StageRequest::AwaitApproval {
            incident,
            version,
            token,
            ..
        } => return await_approval_stage(ctx, &incident, version, token, caller).await,
        StageRequest::Approve {
            incident,
            version,
            step_error,
            ..
        } => {
            caught = Some(step_error);
            (Stage::Approve, incident, version)
        }
        StageRequest::Execute {
            incident,
            version,
            answer: resumed_with,
            ..
        } => {
            answer = resumed_with;
            (Stage::Execute, incident, version)
        }
        StageRequest::Verify {
            incident, version, ..
        } => (Stage::Verify, incident, version),
        StageRequest::Rollback {
            incident,
            version,
            step_error,
            ..
        } => {
            caught = step_error;
            (Stage::Rollback, incident, version)
        }
    };
    let (mut run, stored) = load(&*ctx.audit, &incident).await?;
    bound(ctx, Some(&incident), run.claimed_by.as_deref(), caller).await?;
    // A member account's function is reached through its role: the acting
    // one to change it, the reading one otherwise.
    let access = match name {
        Stage::Execute | Stage::Rollback => crate::ports::Access::Act,
        _ => crate::ports::Access::Read,
    };
    let scoped = ctx
        .for_incident(&run.incident, access)
        .await
        .map_err(|e| ProtocolError::refused(&incident, e))?;
    let ctx: &Context = &scoped;
    // Undoing an unjudged change may follow execute directly.
    let unverified = name == Stage::Rollback && caught.is_some();
    if next(name, unverified, version, &stored.stages).map_err(ProtocolError::order(&incident))?
        == Next::Done
    {
        if name == Stage::Approve {
            // The wait timed out, yet an answer is on record: only a
            // resumed workflow carries an answer on, so this escalates.
            return expire_answered(ctx, &incident, run, stored.version).await;
        }
        // A retried task whose attempt committed: its result stands.
        return Ok(StageReply::of(&run, stored.version, true));
    }
    match name {
        Stage::Rules | Stage::Ai => return branch(ctx, name, run, stored, caught, version).await,
        Stage::Decide => decide(ctx, &mut run).await,
        Stage::Approve => {
            let why = caught.as_ref().map(caught_text).unwrap_or_default();
            tracing::warn!(%why, "the approval wait ended without an answer");
            approval::expire(
                &mut run,
                ctx.clock.now_ms(),
                ctx.config.approval.timeout_seconds,
            );
        }
        Stage::Execute => {
            if run.approval.is_some() && answer.as_deref() != Some(&approval::seal(&run)) {
                super::escalate(
                    &mut run,
                    "the workflow went on without the answer on record (it was not resumed by `autorepair approve`): nothing was changed".into(),
                );
            }
            execute(ctx, &mut run).await
        }
        Stage::Verify => {
            window_passed(ctx, &run)?;
            verify(ctx, &mut run).await;
        }
        _ => {
            if let Some(error) = caught
                && run.change.is_some()
                && !run.status.is_terminal()
            {
                let why = format!("the verify task failed ({})", caught_text(&error));
                let window = crate::model::Window {
                    start_ms: run.change.as_ref().map_or(0, |c| c.at_ms),
                    end_ms: ctx.clock.now_ms(),
                };
                super::unverifiable(&mut run, Stage::Verify, &why, window);
            }
            rollback(ctx, &mut run).await
        }
    }
    commit(&*ctx.audit, name, &run, stored.version, ctx.clock.now_ms()).await
}

/// The caller of a stage: a running execution of our state machine (Step
/// Functions asked), and after parse the execution that claimed `incident`
/// (`claimed_by`, as the record says). Without a state machine configured,
/// parse alone is served (its event is checked against CloudWatch) and
/// nothing after it.
async fn bound(
    ctx: &Context,
    incident: Option<&str>,
    claimed_by: Option<&str>,
    execution: Option<&str>,
) -> Result<(), ProtocolError> {
    let unbound = |source| ProtocolError::Unbound {
        incident: incident.unwrap_or("(not yet claimed)").to_owned(),
        source,
    };
    let Some(ours) = ctx.config.run.state_machine_arn.as_deref() else {
        return match incident {
            None => Ok(()),
            Some(_) => Err(unbound(Unbound::NoStateMachine)),
        };
    };
    let execution = execution.ok_or_else(|| unbound(Unbound::NoExecution))?;
    let record = ctx
        .executions
        .execution(execution)
        .await
        .map_err(|e| unbound(Unbound::Unreadable(e.to_string())))?;
    crate::origin::check_execution(execution, claimed_by, record.as_ref(), ours).map_err(|source| {
        tracing::warn!(%source, "stage call refused");
        unbound(source)
    })
}

/// Parse claims the incident and commits version 1; a retried parse of the
/// same execution returns its own claim.
async fn parse_stage(
    ctx: &Context,
    event: &Value,
    options: Options,
    execution: Option<String>,
) -> Result<StageReply, ProtocolError> {
    // `autorepair doctor`'s synthetic alarm: answered here, nothing claimed,
    // changed or notified; the workflow ends.
    if event.get("source").and_then(Value::as_str) == Some(crate::checkup::PROBE_SOURCE) {
        return Ok(StageReply {
            incident: crate::checkup::PROBE_INCIDENT.to_owned(),
            version: 0,
            claimed: false,
            status: Status::NoAction,
            action: Action::None.to_string(),
            changed: false,
            verdict: "none".to_owned(),
            extended: false,
            approval: "none".to_owned(),
            answer: "none".to_owned(),
        });
    }
    let mut run = parse(ctx, event, options, execution).await?;
    if run.status == Status::Duplicate {
        return Ok(StageReply::of(&run, 0, false));
    }
    if run.incident.state != AlarmState::Alarm {
        // Nothing claimed: the notice is all there is to write.
        finish(ctx, &mut run).await;
        return Ok(StageReply::of(&run, 0, false));
    }
    let Some(stored) = ctx.audit.get(&run.incident.id).await? else {
        let why = run.failure.as_ref().map_or("", |f| f.message.as_str());
        return Err(ProtocolError::refused(
            &run.incident.id,
            format!("could not be claimed: {why}"),
        ));
    };
    if stored.version > 0 {
        let run = stored_run(&run.incident.id, &stored)?;
        return Ok(StageReply::of(&run, stored.version, true));
    }
    // Both diagnosing branches need the function's recent changes: asked
    // here once, they read them from the record (a member account's, there).
    let scoped = ctx
        .for_incident(&run.incident, crate::ports::Access::Read)
        .await
        .map_err(|e| ProtocolError::refused(&run.incident.id, e))?;
    if let Some(log) = scoped.changes.as_deref() {
        let bound = std::time::Duration::from_secs(ctx.config.run.collect_timeout_seconds);
        run.recent_changes = Some(
            crate::evidence::recent_changes(
                log,
                &run.incident.function_name,
                run.incident.timestamp_ms,
                bound,
            )
            .await,
        );
    }
    commit(
        &*ctx.audit,
        Stage::Parse,
        &run,
        stored.version,
        ctx.clock.now_ms(),
    )
    .await
}

/// A Parallel branch: its findings join whatever the other branch committed
/// meanwhile.
async fn branch(
    ctx: &Context,
    name: Stage,
    run: Run,
    mut stored: StoredRecord,
    caught: Option<Value>,
    requested: u64,
) -> Result<StageReply, ProtocolError> {
    let which = Diagnosers {
        rules: name == Stage::Rules,
        ai: name == Stage::Ai,
    };
    // The loaded run may hold the other branch's work already: this branch
    // adds only its own, to the record as it stands when committing.
    let mut mine = run;
    mine.findings.clear();
    mine.plugin_failures.clear();
    mine.rules.clear();
    mine.ai = None;
    match caught {
        // The branch's task failed: the AI is recorded as failed, and the
        // rules decide as they would without it.
        Some(error) if which.ai => {
            mine.ai = Some(crate::ai::AiRun {
                reason: Some(format!("the AI task failed: {}", caught_text(&error))),
                ..crate::ai::AiRun::failed(&ctx.config.ai.model_id, false)
            })
        }
        // Without `[ai] enabled` the AI branch contributes no finding.
        _ if which.rules || ctx.ai.is_some() => diagnose(ctx, &mut mine, which).await,
        _ => {}
    }
    let id = mine.incident.id.clone();
    for _ in 0..3 {
        let merged = if stored.stages.last().is_some_and(|s| *s != Stage::Parse) {
            let theirs = stored_run(&id, &stored)?;
            merge_branches(vec![theirs, mine.clone()]).unwrap_or_else(|| mine.clone())
        } else {
            mine.clone()
        };
        let now = ctx.clock.now_ms();
        match save(&*ctx.audit, name, &merged, stored.version, now).await? {
            Claim::Won => return Ok(StageReply::of(&merged, stored.version + 1, true)),
            Claim::Taken => {
                // The other branch committed first: merge with it. The
                // order is checked as the request came (parse's version),
                // with the other branch now on record.
                stored = load(&*ctx.audit, &id).await?.1;
                let next = next(name, false, requested, &stored.stages)
                    .map_err(ProtocolError::order(&id))?;
                if next == Next::Done {
                    return Err(ProtocolError::refused(
                        &id,
                        format!("{name} was committed twice"),
                    ));
                }
            }
        }
    }
    Err(ProtocolError::refused(
        &id,
        format!("the {name} branch could not commit its findings"),
    ))
}

/// The approval wait's timeout after an answer was recorded: escalated in
/// place (no stage follows an answer but execute or record), unless the
/// run has ended already (a retried timeout task).
async fn expire_answered(
    ctx: &Context,
    incident: &str,
    mut run: Run,
    version: u64,
) -> Result<StageReply, ProtocolError> {
    if !run.status.is_terminal() {
        let now = ctx.clock.now_ms();
        approval::expire(&mut run, now, ctx.config.approval.timeout_seconds);
        let document = approval::document(&run);
        if ctx
            .audit
            .update_at(incident, version, run.status, &document, now)
            .await?
            == Claim::Taken
        {
            return Err(ProtocolError::refused(
                incident,
                "the record moved while the timed-out approval was escalated",
            ));
        }
    }
    Ok(StageReply::of(&run, version, true))
}

/// Record writes its own incident on the newest version: it ends every path,
/// the failure paths included.
async fn record_stage(
    ctx: &Context,
    incident: &str,
    version: u64,
    step_error: Option<Value>,
    caller: Option<&str>,
) -> Result<StageReply, ProtocolError> {
    let (mut run, stored) = load(&*ctx.audit, incident).await?;
    bound(ctx, Some(incident), run.claimed_by.as_deref(), caller).await?;
    next(Stage::Record, false, version, &stored.stages).map_err(ProtocolError::order(incident))?;
    // Recorded already (a retried task): the record stands, and nobody is
    // told twice.
    if run.status.is_terminal() && run.finished_ms.is_some() {
        return Ok(StageReply::of(&run, stored.version, true));
    }
    run.step_error = step_error;
    finish(ctx, &mut run).await;
    let now = ctx.clock.now_ms();
    let reply = commit(&*ctx.audit, Stage::Record, &run, stored.version, now).await;
    if reply.is_ok() {
        super::release(ctx, &run).await;
    }
    reply
}

/// The workflow waits: the token goes on the record, the team is asked.
async fn await_approval_stage(
    ctx: &Context,
    incident: &str,
    version: u64,
    token: String,
    caller: Option<&str>,
) -> Result<StageReply, ProtocolError> {
    let (mut run, stored) = load(&*ctx.audit, incident).await?;
    bound(ctx, Some(incident), run.claimed_by.as_deref(), caller).await?;
    let now = ctx.clock.now_ms();
    if next(Stage::AwaitApproval, false, version, &stored.stages)
        .map_err(ProtocolError::order(incident))?
        == Next::Done
    {
        // A retried task: the token Step Functions waits on now is this one.
        let (run, version) = keep_token(&*ctx.audit, incident, token, now).await?;
        return Ok(StageReply::of(&run, version, true));
    }
    if run.status != Status::Started {
        return Err(ProtocolError::refused(
            incident,
            format!("it is {}: nothing to approve", run.status),
        ));
    }
    approval::request(ctx, &mut run, token).await?;
    let now = ctx.clock.now_ms();
    commit(&*ctx.audit, Stage::AwaitApproval, &run, stored.version, now).await
}

/// A person's answer to a waiting change (`autorepair approve|reject`):
/// recorded as the `approve` stage on the version that waits, so it races
/// the timeout fairly (one commit wins). Returns the reply to hand to the
/// workflow and the task token to hand it with.
///
/// The token is `None` when the answer is an approval that others must
/// join (`[approval] min_approvals`): it is recorded, and the workflow
/// waits on.
pub async fn answer_approval(
    audit: &dyn AuditStore,
    incident: &str,
    answer: &approval::Answer,
    now_ms: crate::model::Millis,
    policy: &crate::config::ApprovalConfig,
) -> Result<(StageReply, Option<String>), ProtocolError> {
    let (mut run, stored) = load(audit, incident).await?;
    // The same answer again (the workflow could not be resumed the first
    // time): hand the token back to resume it; nothing more is recorded.
    if stored.stages.last() == Some(&Stage::Approve)
        && let Some(a) = &run.approval
        && let Some(token) = &a.token
        && a.by.is_some()
        && a.state
            == (if answer.approve {
                crate::run::ApprovalState::Approved
            } else {
                crate::run::ApprovalState::Rejected
            })
    {
        return Ok((
            StageReply::of(&run, stored.version, true),
            Some(token.clone()),
        ));
    }
    if next(Stage::Approve, false, stored.version, &stored.stages).is_err() {
        let state = run
            .approval
            .as_ref()
            .map_or("not asked for".to_owned(), |a| a.state.to_string());
        return Err(ProtocolError::refused(
            incident,
            format!(
                "not waiting for approval (it is {}, approval {state})",
                run.status
            ),
        ));
    }
    let token = run
        .approval
        .as_ref()
        .and_then(|a| a.token.clone())
        .ok_or_else(|| {
            ProtocolError::refused(incident, "the workflow's wait has no task token on record")
        })?;
    let answered = approval::answer(&mut run, answer, now_ms, policy)?;
    let document = approval::document(&run);
    if answered == approval::Answered::Partial {
        // Recorded without a stage: the wait goes on for the others.
        return match audit
            .update_at(incident, stored.version, run.status, &document, now_ms)
            .await?
        {
            Claim::Won => Ok((StageReply::of(&run, stored.version, true), None)),
            Claim::Taken => Err(ProtocolError::refused(
                incident,
                "another answer came at the same moment; answer again",
            )),
        };
    }
    match audit
        .commit(
            incident,
            Stage::Approve,
            run.status,
            &document,
            stored.version,
            now_ms,
        )
        .await?
    {
        Claim::Won => Ok((StageReply::of(&run, stored.version + 1, true), Some(token))),
        Claim::Taken => Err(ProtocolError::refused(
            incident,
            "answered already (or the wait timed out) — nothing recorded",
        )),
    }
}

/// What Step Functions' Catch caught, in one clean line.
fn caught_text(error: &Value) -> String {
    crate::text::clean(&super::caught(error, 300))
}

/// A verification before its window has passed judges too little: refused.
fn window_passed(ctx: &Context, run: &Run) -> Result<(), ProtocolError> {
    let id = &run.incident.id;
    if let Some(v) = &run.verification
        && (v.verdict != Verdict::InsufficientData || v.extended)
    {
        return Err(ProtocolError::refused(id, "verified already"));
    }
    let Some(change) = &run.change else {
        return Ok(());
    };
    let window_ms = ctx.config.run.verify_after_seconds.saturating_mul(1000) as i64;
    let since = run
        .verification
        .as_ref()
        .map_or(change.at_ms, |v| v.window.end_ms);
    let now = ctx.clock.now_ms();
    if now < since.saturating_add(window_ms) {
        return Err(ProtocolError::refused(
            id,
            format!(
                "the verification window ends in {} s; refusing to verify early",
                (since + window_ms - now) / 1000
            ),
        ));
    }
    Ok(())
}
