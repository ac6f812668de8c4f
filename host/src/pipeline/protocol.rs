//! The Lambda handler's protocol: one stage per invocation.
//!
//! The run lives in the audit table, never in the payload: a stage request
//! names the incident and the record version its caller saw
//! (`{"stage":"execute","incident":"…","version":3}`); the stage loads the
//! stored run, checks that the stage may follow the ones on record, runs, and
//! commits on the version it read. The reply is a small [`StageReply`] for
//! Step Functions' Choice states. A caller can therefore send nothing but an
//! order of stages, and only the order the workflow itself follows is taken.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Context, Diagnosers, Options, Run, Status, approval, decide, diagnose, execute, finish, json,
    merge_branches, parse, rollback, verify,
};
use crate::decide::Action;
use crate::incident::AlarmState;
use crate::ports::AuditStore;
use crate::ports::{Claim, StoredRecord};
use crate::stage::Stage;
use crate::verify::Verdict;

/// One Step Functions task's payload: `{"stage": "...", ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case", deny_unknown_fields)]
pub enum StageRequest {
    /// `{"stage":"parse","event":{…alarm event…},"execution":"arn:…"}`
    Parse {
        event: Value,
        /// The Step Functions execution (`$$.Execution.Id`): a retried parse
        /// of the same execution finds its own claim instead of a duplicate.
        #[serde(default)]
        execution: Option<String>,
    },
    /// Collect and run the rules (a Parallel branch).
    Rules {
        incident: String,
        version: u64,
    },
    /// The AI diagnoser (the other Parallel branch). With `step_error` (the
    /// branch's Catch: its task failed after its retries) the AI is recorded
    /// as failed and the rules still decide.
    Ai {
        incident: String,
        version: u64,
        #[serde(default)]
        step_error: Option<Value>,
    },
    /// Merge, decide; `version` is the one parse returned.
    Decide {
        incident: String,
        version: u64,
    },
    /// Approval mode: the workflow waits on `token` (a `waitForTaskToken`
    /// task) until `autorepair approve|reject` answers or the wait times out.
    AwaitApproval {
        incident: String,
        version: u64,
        token: String,
    },
    /// The approval wait timed out (its Catch): the incident is escalated.
    /// A person's answer never comes this way — `autorepair approve|reject`
    /// records it and hands the token back.
    Approve {
        incident: String,
        version: u64,
        step_error: Value,
    },
    Execute {
        incident: String,
        version: u64,
    },
    Verify {
        incident: String,
        version: u64,
    },
    /// Keep or undo the change. With `step_error` (Verify's Catch: it failed
    /// after its retries) the change is unjudged, and so undone.
    Rollback {
        incident: String,
        version: u64,
        #[serde(default)]
        step_error: Option<Value>,
    },
    /// Write the record, notify, unlock; `step_error` is what Step Functions'
    /// Catch caught when a stage failed after its retries.
    Record {
        incident: String,
        version: u64,
        #[serde(default)]
        step_error: Option<Value>,
    },
}

/// What a stage returns: the reference to pass on, and what the workflow's
/// Choice states branch on. Every field is always present (a Choice on a
/// missing path is a runtime error in Step Functions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageReply {
    pub incident: String,
    /// The record version after this stage: the next request's `version`.
    pub version: u64,
    /// Whether this workflow owns the incident (false: a redelivered event,
    /// or an alarm that is not in ALARM; the workflow ends).
    pub claimed: bool,
    pub status: Status,
    /// The decision's action, `none` before there is one.
    pub action: String,
    /// Whether a change is on record.
    pub changed: bool,
    /// The verification's verdict, `none` before there is one.
    pub verdict: String,
    /// Whether the verification window was extended once already.
    pub extended: bool,
    /// Approval mode: `none`, `pending`, `approved`, `rejected` or `expired`.
    pub approval: String,
}

impl StageReply {
    fn of(run: &Run, version: u64, claimed: bool) -> StageReply {
        StageReply {
            incident: run.incident.id.clone(),
            version,
            claimed,
            status: run.status,
            action: run
                .decision
                .as_ref()
                .map_or(Action::None, |d| d.action)
                .to_string(),
            changed: run.change.is_some(),
            verdict: run
                .verification
                .as_ref()
                .map_or_else(|| "none".to_owned(), |v| v.verdict.to_string()),
            extended: run.verification.as_ref().is_some_and(|v| v.extended),
            approval: run
                .approval
                .as_ref()
                .map_or_else(|| "none".to_owned(), |a| a.state.to_string()),
        }
    }
}

/// Runs one stage for the Lambda handler.
pub async fn stage(ctx: &Context, request: StageRequest) -> Result<StageReply, String> {
    let options = Options::from_config(&ctx.config);
    let mut caught = None;
    let (name, incident, version) = match request {
        StageRequest::Parse { event, execution } => {
            return parse_stage(ctx, &event, options, execution).await;
        }
        StageRequest::Record {
            incident,
            version,
            step_error,
        } => return record_stage(ctx, &incident, version, step_error).await,
        StageRequest::Rules { incident, version } => (Stage::Rules, incident, version),
        StageRequest::Ai {
            incident,
            version,
            step_error,
        } => {
            caught = step_error;
            (Stage::Ai, incident, version)
        }
        StageRequest::Decide { incident, version } => (Stage::Decide, incident, version),
        StageRequest::AwaitApproval {
            incident,
            version,
            token,
        } => return await_approval_stage(ctx, &incident, version, token).await,
        StageRequest::Approve {
            incident,
            version,
            step_error,
        } => {
            caught = Some(step_error);
            (Stage::Approve, incident, version)
        }
        StageRequest::Execute { incident, version } => (Stage::Execute, incident, version),
        StageRequest::Verify { incident, version } => (Stage::Verify, incident, version),
        StageRequest::Rollback {
            incident,
            version,
            step_error,
        } => {
            caught = step_error;
            (Stage::Rollback, incident, version)
        }
    };
    let (mut run, stored) = load(ctx, &incident).await?;
    // Undoing an unjudged change may follow execute directly.
    let unverified = name == Stage::Rollback && caught.is_some();
    if next(name, unverified, version, &stored.stages)
        .map_err(|e| format!("incident {incident}: {e}"))?
        == Next::Done
    {
        // A retried task whose attempt committed: its result stands.
        return Ok(StageReply::of(&run, stored.version, true));
    }
    match name {
        Stage::Rules | Stage::Ai => return branch(ctx, name, run, stored, caught).await,
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
        Stage::Execute => execute(ctx, &mut run).await,
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
    commit(ctx, name, &run, stored.version).await
}

/// Parse claims the incident and commits version 1; a retried parse of the
/// same execution returns its own claim.
async fn parse_stage(
    ctx: &Context,
    event: &Value,
    options: Options,
    execution: Option<String>,
) -> Result<StageReply, String> {
    // `autorepair doctor`'s synthetic alarm: answered here, nothing claimed,
    // changed or notified; the workflow ends.
    if event.get("source").and_then(Value::as_str) == Some(crate::doctor::PROBE_SOURCE) {
        return Ok(StageReply {
            incident: crate::doctor::PROBE_INCIDENT.to_owned(),
            version: 0,
            claimed: false,
            status: Status::NoAction,
            action: Action::None.to_string(),
            changed: false,
            verdict: "none".to_owned(),
            extended: false,
            approval: "none".to_owned(),
        });
    }
    let mut run = parse(ctx, event, options, execution)
        .await
        .map_err(|e| e.to_string())?;
    if run.status == Status::Duplicate {
        return Ok(StageReply::of(&run, 0, false));
    }
    if run.incident.state != AlarmState::Alarm {
        // Nothing claimed: the notice is all there is to write.
        finish(ctx, &mut run).await;
        return Ok(StageReply::of(&run, 0, false));
    }
    let Some(stored) = ctx
        .audit
        .get(&run.incident.id)
        .await
        .map_err(|e| e.to_string())?
    else {
        let why = run.failure.as_ref().map_or("", |f| f.message.as_str());
        return Err(format!(
            "incident {} could not be claimed: {why}",
            run.incident.id
        ));
    };
    if stored.version > 0 {
        let run = stored_run(&run.incident.id, &stored)?;
        return Ok(StageReply::of(&run, stored.version, true));
    }
    commit(ctx, Stage::Parse, &run, stored.version).await
}

/// A Parallel branch: its findings join whatever the other branch committed
/// meanwhile.
async fn branch(
    ctx: &Context,
    name: Stage,
    run: Run,
    mut stored: StoredRecord,
    caught: Option<Value>,
) -> Result<StageReply, String> {
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
        match save(ctx, name, &merged, stored.version).await? {
            Claim::Won => return Ok(StageReply::of(&merged, stored.version + 1, true)),
            Claim::Taken => {
                // The other branch committed first: merge with it.
                stored = load(ctx, &id).await?.1;
                if next(name, false, stored.version, &stored.stages)? == Next::Done {
                    return Err(format!("incident {id}: {name} was committed twice"));
                }
            }
        }
    }
    Err(format!(
        "incident {id}: the {name} branch could not commit its findings"
    ))
}

/// Record writes its own incident on the newest version: it ends every path,
/// the failure paths included.
async fn record_stage(
    ctx: &Context,
    incident: &str,
    version: u64,
    step_error: Option<Value>,
) -> Result<StageReply, String> {
    let (mut run, stored) = load(ctx, incident).await?;
    next(Stage::Record, false, version, &stored.stages)
        .map_err(|e| format!("incident {incident}: {e}"))?;
    // Recorded already (a retried task): the record stands, and nobody is
    // told twice.
    if run.status.is_terminal() && run.finished_ms.is_some() {
        return Ok(StageReply::of(&run, stored.version, true));
    }
    run.step_error = step_error;
    finish(ctx, &mut run).await;
    let reply = commit(ctx, Stage::Record, &run, stored.version).await;
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
) -> Result<StageReply, String> {
    let (mut run, stored) = load(ctx, incident).await?;
    if next(Stage::AwaitApproval, false, version, &stored.stages)
        .map_err(|e| format!("incident {incident}: {e}"))?
        == Next::Done
    {
        // A retried task: the token Step Functions waits on now is this one.
        let (run, version) = keep_token(ctx, incident, token).await?;
        return Ok(StageReply::of(&run, version, true));
    }
    if run.status != Status::Started {
        return Err(format!(
            "incident {incident} is {}: nothing to approve",
            run.status
        ));
    }
    approval::request(ctx, &mut run, token).await?;
    commit(ctx, Stage::AwaitApproval, &run, stored.version).await
}

/// Keeps a retried wait's task token on the record: while the change waits,
/// and beside an answer that came first (its resume went to the old token),
/// so a repeated `autorepair approve` resumes the live wait. Written only on
/// the version read — an answer committed in between is never overwritten;
/// the write is tried again on the new version. The run as it stands, and
/// its version.
async fn keep_token(ctx: &Context, incident: &str, token: String) -> Result<(Run, u64), String> {
    for _ in 0..3 {
        let (mut run, stored) = load(ctx, incident).await?;
        let waits_or_answered = matches!(
            stored.stages.last(),
            Some(Stage::AwaitApproval | Stage::Approve)
        );
        let Some(a) = run.approval.as_mut().filter(|a| {
            waits_or_answered
                && a.state != crate::run::ApprovalState::Expired
                && a.token.as_deref() != Some(token.as_str())
        }) else {
            return Ok((run, stored.version));
        };
        a.token = Some(token.clone());
        let written = ctx
            .audit
            .update_at(
                incident,
                stored.version,
                &run.status.to_string(),
                &json(&run),
                ctx.clock.now_ms(),
            )
            .await
            .map_err(|e| e.to_string())?;
        if written == Claim::Won {
            return Ok((run, stored.version));
        }
    }
    Err(format!(
        "incident {incident}: the record kept moving while the wait's new token was stored"
    ))
}

/// A person's answer to a waiting change (`autorepair approve|reject`):
/// recorded as the `approve` stage on the version that waits, so it races
/// the timeout fairly (one commit wins). Returns the reply to hand to the
/// workflow and the task token to hand it with.
pub async fn answer_approval(
    audit: &dyn AuditStore,
    incident: &str,
    answer: &approval::Answer,
    now_ms: crate::model::Millis,
) -> Result<(StageReply, String), String> {
    let stored = audit
        .get(incident)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no incident {incident} in the audit table"))?;
    let mut run = stored_run(incident, &stored)?;
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
        return Ok((StageReply::of(&run, stored.version, true), token.clone()));
    }
    if next(Stage::Approve, false, stored.version, &stored.stages).is_err() {
        let state = run
            .approval
            .as_ref()
            .map_or("not asked for".to_owned(), |a| a.state.to_string());
        return Err(format!(
            "incident {incident} is not waiting for approval (it is {}, approval {state})",
            run.status
        ));
    }
    let token = run
        .approval
        .as_ref()
        .and_then(|a| a.token.clone())
        .ok_or_else(|| {
            format!("incident {incident}: the workflow's wait has no task token on record")
        })?;
    approval::answer(&mut run, answer, now_ms)?;
    let document = approval::document(&run);
    match audit
        .commit(
            incident,
            Stage::Approve,
            &run.status.to_string(),
            &document,
            stored.version,
            now_ms,
        )
        .await
        .map_err(|e| e.to_string())?
    {
        Claim::Won => Ok((StageReply::of(&run, stored.version + 1, true), token)),
        Claim::Taken => Err(format!(
            "incident {incident}: answered already (or the wait timed out) — nothing recorded"
        )),
    }
}

/// The incident's stored run; an incident never claimed is refused.
async fn load(ctx: &Context, incident: &str) -> Result<(Run, StoredRecord), String> {
    let stored = ctx
        .audit
        .get(incident)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("incident {incident} was never claimed: refusing the stage request")
        })?;
    Ok((stored_run(incident, &stored)?, stored))
}

fn stored_run(incident: &str, stored: &StoredRecord) -> Result<Run, String> {
    serde_json::from_str(&stored.document)
        .map_err(|e| format!("incident {incident}: the stored run does not parse ({e})"))
}

/// Saves the run `stage` produced on version `expected`.
async fn save(ctx: &Context, stage: Stage, run: &Run, expected: u64) -> Result<Claim, String> {
    ctx.audit
        .commit(
            &run.incident.id,
            stage,
            &run.status.to_string(),
            &json(run),
            expected,
            ctx.clock.now_ms(),
        )
        .await
        .map_err(|e| e.to_string())
}

/// Saves, and refuses when another stage committed that version first.
async fn commit(
    ctx: &Context,
    stage: Stage,
    run: &Run,
    expected: u64,
) -> Result<StageReply, String> {
    match save(ctx, stage, run, expected).await? {
        Claim::Won => Ok(StageReply::of(run, expected + 1, true)),
        Claim::Taken => Err(format!(
            "incident {}: another stage committed version {} first; this {stage} is not saved",
            run.incident.id,
            expected + 1
        )),
    }
}

/// What Step Functions' Catch caught, in one clean line.
fn caught_text(error: &Value) -> String {
    crate::text::clean(&super::caught(error, 300))
}

/// A verification before its window has passed judges too little: refused.
fn window_passed(ctx: &Context, run: &Run) -> Result<(), String> {
    let id = &run.incident.id;
    if let Some(v) = &run.verification
        && (v.verdict != Verdict::InsufficientData || v.extended)
    {
        return Err(format!("incident {id}: verified already"));
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
        return Err(format!(
            "incident {id}: the verification window ends in {} s; refusing to verify early",
            (since + window_ms - now) / 1000
        ));
    }
    Ok(())
}

/// Whether a stage request is one to run, or one that ran already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Run,
    /// The stage committed after `version` already (a retried task).
    Done,
}

/// Whether `stage`, asked at `version`, may run after the `stages` on record
/// (`stages[v]` made version `v + 1`). The workflow's order is the only one
/// taken: parse, both branches, decide, execute, verify (once more when the
/// data was too thin), rollback; record after anything. `unverified`: a
/// rollback of a change whose verification failed, which may follow execute.
pub(crate) fn next(
    stage: Stage,
    unverified: bool,
    version: u64,
    stages: &[Stage],
) -> Result<Next, String> {
    use Stage::{
        Ai, Approve, AwaitApproval, Decide, Execute, Parse, Record, Rollback, Rules, Verify,
    };
    let at = stages.len() as u64;
    if version > at {
        return Err(format!(
            "the request names version {version}, the record is at {at}: refusing"
        ));
    }
    let mut version = version;
    if stage == Decide {
        // Decide is asked with parse's version: the branches committed since.
        while stages
            .get(version as usize)
            .is_some_and(|s| matches!(s, Rules | Ai))
        {
            version += 1;
        }
    }
    if stage == Approve && stages.get(version as usize) == Some(&AwaitApproval) {
        // The wait's timeout is caught with decide's reference: the wait
        // committed since.
        version += 1;
    }
    let (before, since) = stages.split_at(version as usize);
    let last = before.last().copied();
    let names = |s: &[Stage]| s.iter().map(|s| s.name()).collect::<Vec<_>>().join(" → ");
    let asked = if unverified {
        format!("{stage} (unverified)")
    } else {
        stage.to_string()
    };
    match stage {
        Record => Ok(Next::Run),
        Rules | Ai => {
            if since.contains(&stage) {
                return Ok(Next::Done);
            }
            let other = if stage == Rules { Ai } else { Rules };
            if last == Some(Parse) && since.iter().all(|s| *s == other) {
                Ok(Next::Run)
            } else {
                Err(format!(
                    "{asked} cannot follow {} (at version {version}); refusing",
                    names(stages)
                ))
            }
        }
        _ => {
            if let Some(first) = since.first() {
                return if *first == stage {
                    Ok(Next::Done)
                } else {
                    Err(format!(
                        "a stale {asked} request: the record has moved on to {}; refusing",
                        names(since)
                    ))
                };
            }
            let tail = |a: Stage, b: Stage| before.ends_with(&[a, b]);
            let verifies = before.iter().filter(|s| **s == Verify).count();
            let allowed = match stage {
                Decide => tail(Rules, Ai) || tail(Ai, Rules),
                AwaitApproval => last == Some(Decide),
                Approve => last == Some(AwaitApproval),
                Execute => matches!(last, Some(Decide | Approve)),
                Verify => last == Some(Execute) || (last == Some(Verify) && verifies == 1),
                Rollback if unverified => matches!(last, Some(Execute | Verify)),
                Rollback => last == Some(Verify),
                _ => false,
            };
            if allowed {
                Ok(Next::Run)
            } else {
                Err(format!(
                    "{asked} cannot follow {}; refusing",
                    if before.is_empty() {
                        "the claim".to_owned()
                    } else {
                        names(before)
                    }
                ))
            }
        }
    }
}
