//! The stages wired together. Each stage is a plain async function over a
//! [`Run`] — the document the audit log keeps, which the Lambda stages load
//! and commit by reference — and a [`Context`] of ports, so the Lambda (one stage per
//! task), the CLI (all stages in one process) and the tests (in-memory ports,
//! a fake clock) run the same code.

pub mod approval;
mod protocol;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::run::{
    MAX_DOCUMENT_BYTES, Rollback, Run, SmokeTest, StageFailure, Status, Verification,
};
pub use protocol::{StageReply, StageRequest, answer_approval, stage};

use crate::config::Config;
use crate::decide::{self, Action, Decision, History, MergeMode, Situation};
use crate::diagnosis;
use crate::evidence::{self, CollectError, Sources};
use crate::incident::{self, AlarmState, IncidentError};
use crate::model::{Evidence, FunctionInfo, LogLine, Window};
use crate::notify;
use crate::ports::{AiDiagnoser, AuditStore, Claim, Clock, FunctionStore, Notifier, Telemetry};
use crate::repair::{RepairError, Repairer};
use crate::rules::RuleSet;
use crate::run::{Approval, ApprovalState};
use crate::stage::Stage;
use crate::verify::{self, Health, Verdict};

/// What every stage needs: the ports, the rules and the settings.
pub struct Context {
    pub functions: Arc<dyn FunctionStore>,
    pub telemetry: Arc<dyn Telemetry>,
    pub audit: Arc<dyn AuditStore>,
    /// Where notices go; none, no notices.
    pub notifier: Option<Arc<dyn Notifier>>,
    /// The AI diagnoser, when `[ai] enabled`.
    pub ai: Option<Arc<dyn AiDiagnoser>>,
    pub clock: Arc<dyn Clock>,
    /// Where autorepair's own metrics go (EMF on stdout in Lambda); none,
    /// no metrics.
    pub metrics: Option<(Arc<dyn crate::metrics::MetricSink>, String)>,
    pub rules: RuleSet,
    pub config: Config,
}

impl Context {
    pub(crate) fn sources(&self) -> Sources<'_> {
        Sources {
            functions: self.functions.as_ref(),
            telemetry: self.telemetry.as_ref(),
        }
    }

    pub(crate) fn repairer(&self) -> Repairer<'_> {
        Repairer {
            functions: self.functions.as_ref(),
            clock: self.clock.as_ref(),
        }
    }
}

/// Per-run choices that override the config.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub dry_run: bool,
    pub mode: MergeMode,
    pub verify_after: Duration,
}

impl Options {
    pub fn from_config(config: &Config) -> Options {
        Options {
            dry_run: config.run.dry_run,
            mode: config.mode,
            verify_after: Duration::from_secs(config.run.verify_after_seconds),
        }
    }
}

/// Every stage in one process (the CLI): parse → collect + diagnose → decide
/// → execute → wait → verify → roll back → record + notify.
pub async fn run(ctx: &Context, event: &Value, options: Options) -> Result<Run, IncidentError> {
    let mut run = parse(ctx, event, options, None).await?;
    if run.status == Status::Duplicate {
        return Ok(run);
    }
    if !run.status.is_terminal() {
        diagnose(ctx, &mut run, Diagnosers::BOTH).await;
        decide(ctx, &mut run).await;
        if run.approval.is_some() {
            // One process cannot wait days for a person: the deployed
            // workflow pauses for `autorepair approve`; here nothing changes.
            escalate(
                &mut run,
                "the change needs a person's approval (approval mode): the deployed workflow waits for `autorepair approve`; run alone, nothing was changed".into(),
            );
        }
        execute(ctx, &mut run).await;
        if run.change.is_some() && !run.status.is_terminal() {
            ctx.clock.sleep(options.verify_after).await;
            verify(ctx, &mut run).await;
            if run
                .verification
                .as_ref()
                .is_some_and(|v| v.verdict == Verdict::InsufficientData)
            {
                // One more window, then judge with what there is.
                ctx.clock.sleep(options.verify_after).await;
                verify(ctx, &mut run).await;
            }
            rollback(ctx, &mut run).await;
        }
    }
    record(ctx, &mut run).await;
    Ok(run)
}

fn fail(run: &mut Run, stage: Stage, message: impl Into<String>) {
    let message = message.into();
    tracing::error!(%stage, %message, "stage failed");
    run.status = Status::Failed;
    run.failure = Some(StageFailure { stage, message });
}

/// Ends the run as escalated: nothing changes, a person is told why.
fn escalate(run: &mut Run, reason: String) {
    tracing::warn!(%reason, "escalated");
    run.status = Status::Escalated;
    match run.decision.as_mut() {
        Some(d) => {
            d.action = Action::Escalate;
            d.target_memory_mb = None;
            d.reasons.push(reason);
        }
        None => {
            run.decision = Some(Decision {
                action: Action::Escalate,
                current_memory_mb: run.function.as_ref().map_or(0, |f| f.memory_mb),
                target_memory_mb: None,
                reasons: vec![reason],
            })
        }
    }
}

fn timed(run: &mut Run, stage: Stage, started: Instant) {
    run.stage_ms.insert(
        stage.name().to_owned(),
        started.elapsed().as_millis() as u64,
    );
}

fn json(run: &Run) -> String {
    serde_json::to_string(run)
        .unwrap_or_else(|e| format!("{{\"error\":\"could not serialize the run: {e}\"}}"))
}

/// A decision to change nothing, with its reason.
fn no_change(reason: String) -> Decision {
    Decision {
        action: Action::None,
        current_memory_mb: 0,
        target_memory_mb: None,
        reasons: vec![reason],
    }
}

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
        let ttl_ms = ctx.config.run.lock_ttl_ms();
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

/// The stored run when the claim on `run`'s incident is `run`'s own (the same
/// execution claimed it, and it has not gone past parse).
async fn own_claim(ctx: &Context, run: &Run) -> Option<Run> {
    let me = run.claimed_by.as_ref()?;
    let stored = ctx.audit.get(&run.incident.id).await.ok()??;
    let stored: Run = serde_json::from_str(&stored.document).ok()?;
    (stored.claimed_by.as_ref() == Some(me) && stored.status == Status::Started).then_some(stored)
}

/// Which diagnosers a diagnose stage runs: both in one process (the CLI), one
/// per Parallel branch in Step Functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnosers {
    pub rules: bool,
    pub ai: bool,
}

impl Diagnosers {
    pub const BOTH: Diagnosers = Diagnosers {
        rules: true,
        ai: true,
    };
}

/// Stage 2: the evidence in `window` for the run's function (or alias).
pub async fn collect(
    ctx: &Context,
    run: &Run,
    qualifier: Option<&str>,
    window: Window,
) -> Result<Evidence, CollectError> {
    evidence::collect(
        ctx.sources(),
        &run.incident.function_name,
        qualifier,
        run.incident.alarm_info(),
        window,
        &ctx.config.run,
    )
    .await
}

/// Stages 2 and 3: collect the evidence before the alarm, then run the rules
/// and the AI side by side.
pub async fn diagnose(ctx: &Context, run: &mut Run, which: Diagnosers) {
    if run.status.is_terminal() {
        return;
    }
    let started = Instant::now();
    let window = evidence::window_before(
        run.incident.timestamp_ms,
        ctx.config.run.evidence_window_minutes,
    );
    let qualifier = run.incident.qualifier.clone();
    let collected = collect(ctx, run, qualifier.as_deref(), window).await;
    timed(run, Stage::Collect, started);
    let evidence = match collected {
        Ok(e) => Arc::new(e),
        Err(e) => return fail(run, Stage::Collect, e.to_string()),
    };
    // The model answers in seconds, the rules in a millisecond: start the
    // model first, run the rules meanwhile.
    let ai = match (&ctx.ai, which.ai) {
        (Some(ai), true) => {
            let (ai, evidence) = (ai.clone(), evidence.clone());
            Some(tokio::spawn(async move { ai.diagnose(&evidence).await }))
        }
        _ => None,
    };
    if which.rules {
        let started = Instant::now();
        let report = tokio::task::block_in_place(|| {
            diagnosis::run_rules(&ctx.rules, &evidence, diagnosis::Threads::PerRule)
        });
        run.findings.extend(report.findings);
        run.plugin_failures.extend(report.plugin_failures);
        run.rules = report.rules;
        timed(run, Stage::Rules, started);
    }
    if let Some(task) = ai {
        let started = Instant::now();
        match task.await {
            Ok(answer) => {
                run.findings.extend(diagnosis::ai_finding(&answer));
                run.ai = Some(answer);
            }
            Err(e) => tracing::error!(error = %e, "the AI diagnoser's task died"),
        }
        timed(run, Stage::Ai, started);
    }
    run.evidence = Some(diagnosis::summarize(&evidence));
    run.before = Some(Health::of(&evidence));
    run.function = Some(evidence.function.clone());
    run.fit(MAX_DOCUMENT_BYTES);
}

/// Merges the findings of parallel branches (Step Functions' Parallel state
/// returns one run per branch) into one run.
pub fn merge_branches(mut runs: Vec<Run>) -> Option<Run> {
    let mut merged = runs.pop()?;
    for other in runs {
        merged.findings.extend(other.findings);
        merged.plugin_failures.extend(other.plugin_failures);
        merged.rules.extend(other.rules);
        merged.ai = merged.ai.or(other.ai);
        merged.stage_ms.extend(other.stage_ms);
        merged.evidence = merged.evidence.or(other.evidence);
        merged.function = merged.function.or(other.function);
        merged.before = merged.before.or(other.before);
        if merged.failure.is_none() && other.failure.is_some() {
            merged.failure = other.failure;
            merged.status = other.status;
        }
    }
    merged.fit(MAX_DOCUMENT_BYTES);
    Some(merged)
}

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
    let history = match ctx.audit.history(&function.name, ctx.clock.now_ms()).await {
        Ok(h) => h,
        Err(e) => {
            return escalate(
                run,
                format!("the change history could not be read ({e}): nothing will be changed"),
            );
        }
    };
    let decision = decide_with(ctx, run, &function, history);
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
        });
    }
    timed(run, Stage::Decide, started);
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
    };
    let decision = decide::decide(&situation, &ctx.config.policy, run.mode);
    run.would_have = decide::would_have(&situation, &ctx.config.policy);
    decision
}

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
    let approved_target = match &run.approval {
        None => None,
        Some(a) if a.state == ApprovalState::Approved => decision
            .target_memory_mb
            .map(|t| (decision.current_memory_mb, t)),
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
    let fresh = evidence::function(
        ctx.functions.as_ref(),
        &run.incident.function_name,
        run.incident.qualifier.as_deref(),
        bound,
    )
    .await;
    let mut function = match fresh {
        Ok(f) => f,
        Err(e) => return fail(run, Stage::Execute, e.to_string()),
    };
    // A retried execute (the last attempt crashed): finish what it started.
    let ours_in_history = match resume(ctx, run, &function).await {
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
    let history = match ctx.audit.history(&function.name, ctx.clock.now_ms()).await {
        // Our own intent, written by the crashed attempt, is not another change.
        Ok(h) if ours_in_history => History {
            last_change_ms: None,
            changes_last_24h: h.changes_last_24h.saturating_sub(1),
        },
        Ok(h) => h,
        Err(e) => {
            return escalate(
                run,
                format!("the change history could not be read ({e}): nothing was changed"),
            );
        }
    };
    let decision = decide_with(ctx, run, &function, history);
    run.function = Some(function.clone());
    run.decision = Some(decision.clone());
    if approved_target.is_some()
        && Some((function.memory_mb, decision.target_memory_mb.unwrap_or(0))) != approved_target
    {
        timed(run, Stage::Execute, started);
        return escalate(
            run,
            format!(
                "the function changed since the change was approved (now {} MB, the decision {}): nothing was changed",
                function.memory_mb,
                decision
                    .target_memory_mb
                    .map_or("none".to_owned(), |t| format!("{t} MB"))
            ),
        );
    }
    let (Action::SetMemory, Some(mut target)) = (decision.action, decision.target_memory_mb) else {
        run.status = if decision.action == Action::Escalate {
            Status::Escalated
        } else {
            Status::NoAction
        };
        timed(run, Stage::Execute, started);
        return;
    };
    // Write-ahead: the change goes into the function's history (so the next
    // incident's cooldown sees it whatever happens next) and the run into the
    // audit table as `executing`, before anything is changed. Either failing
    // means no change.
    let intent = if ours_in_history {
        Ok(())
    } else {
        ctx.audit
            .record_change(
                &function.name,
                &run.incident.id,
                function.memory_mb,
                target,
                ctx.clock.now_ms(),
            )
            .await
    };
    let intent = match intent {
        Ok(()) => {
            ctx.audit
                .update(
                    &run.incident.id,
                    "executing",
                    &json(run),
                    ctx.clock.now_ms(),
                )
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = intent {
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
                let fresh = evidence::function(
                    ctx.functions.as_ref(),
                    &function.name,
                    function.qualifier.as_deref(),
                    bound,
                )
                .await;
                match fresh {
                    Ok(fresh) => {
                        // Our own intent is in the history now: it is not
                        // another change, so it does not count against us.
                        let history = match ctx.audit.history(&fresh.name, ctx.clock.now_ms()).await
                        {
                            Ok(h) => History {
                                last_change_ms: None,
                                changes_last_24h: h.changes_last_24h.saturating_sub(1),
                            },
                            Err(e) => {
                                timed(run, Stage::Execute, started);
                                return escalate(
                                    run,
                                    format!(
                                        "after a 412 the change history could not be read ({e}): nothing was changed"
                                    ),
                                );
                            }
                        };
                        let again = decide_with(ctx, run, &fresh, history);
                        function = fresh;
                        run.function = Some(function.clone());
                        match (again.action, again.target_memory_mb) {
                            (Action::SetMemory, Some(t))
                                if approved_target.is_none()
                                    || approved_target == Some((function.memory_mb, t)) =>
                            {
                                target = t;
                                run.decision = Some(again);
                            }
                            _ => {
                                run.status = if again.action == Action::Escalate {
                                    Status::Escalated
                                } else {
                                    Status::NoAction
                                };
                                run.decision = Some(again);
                                break None;
                            }
                        }
                    }
                    Err(e) => break Some(Err(RepairError::Aws(e.to_string()))),
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
                .update(&run.incident.id, "changed", &json(run), ctx.clock.now_ms())
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

/// Where an earlier attempt of this execute stopped, from the audit record.
enum Resume {
    /// No earlier attempt.
    Fresh,
    /// It recorded its intent and changed nothing (or nothing we can see).
    Intended,
    /// It made this change; verify it.
    Changed(crate::repair::Change),
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
    match record.status.as_str() {
        "changed" => match stored.change {
            Some(change) => Resume::Changed(change),
            None => Resume::Fresh,
        },
        "executing" => {
            let (Some(before), Some(target)) = (
                stored.function.as_ref(),
                stored.decision.as_ref().and_then(|d| d.target_memory_mb),
            ) else {
                return Resume::Intended;
            };
            let moved = fresh.revision_id != before.revision_id;
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
            Resume::Changed(crate::repair::Change {
                function_name: fresh.name.clone(),
                alias: None,
                previous_memory_mb: before.memory_mb,
                new_memory_mb: target,
                previous_revision_id: before.revision_id.clone(),
                new_revision_id: fresh.revision_id.clone(),
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

/// Right after a change: one invocation with the function's smoke payload,
/// when configured. A failure rolls the change back at once, without waiting
/// for the verification window.
async fn smoke(ctx: &Context, run: &mut Run) {
    let (Some(function), Some(change)) = (run.function.clone(), run.change.clone()) else {
        return;
    };
    let Some(payload) = ctx.config.smoke.payload_for(&function) else {
        return;
    };
    let started = Instant::now();
    let invoked = ctx
        .functions
        .invoke(&function.name, change.alias.as_deref(), payload.as_bytes())
        .await;
    timed(run, Stage::Smoke, started);
    let test = match invoked {
        Err(e) => SmokeTest {
            ok: false,
            error: Some(format!("the invocation failed: {e}")),
            duration_ms: None,
            max_memory_used_mb: None,
            memory_size_mb: None,
        },
        Ok(invoked) => {
            let lines: Vec<LogLine> = invoked
                .log_tail
                .lines()
                .map(|l| LogLine {
                    timestamp_ms: 0,
                    message: l.to_owned(),
                })
                .collect();
            let report = crate::logs::parse_reports(&lines).pop();
            let failed_report = report
                .as_ref()
                .is_some_and(|r| r.status != crate::model::InvocationStatus::Success);
            let error = invoked
                .function_error
                .map(|e| format!("the function failed: {}", crate::text::clean(&e)))
                .or_else(|| {
                    failed_report.then(|| {
                        format!(
                            "the invocation ended {:?} ({})",
                            report.as_ref().map(|r| r.status),
                            report
                                .as_ref()
                                .and_then(|r| r.error_type.clone())
                                .unwrap_or_default()
                        )
                    })
                });
            SmokeTest {
                ok: error.is_none(),
                error,
                duration_ms: report.as_ref().map(|r| r.duration_ms),
                max_memory_used_mb: report.as_ref().map(|r| r.max_memory_used_mb),
                memory_size_mb: report.as_ref().map(|r| r.memory_size_mb),
            }
        }
    };
    let failed = !test.ok;
    let reason = test.error.clone().unwrap_or_default();
    run.smoke = Some(test);
    if failed {
        tracing::warn!(%reason, "smoke test failed: rolling back at once");
        let now = ctx.clock.now_ms();
        run.verification = Some(Verification {
            verdict: Verdict::Worse,
            reasons: vec![format!("smoke test failed: {reason}")],
            before: run.before.unwrap_or_default(),
            after: Health::default(),
            window: Window {
                start_ms: change.at_ms,
                end_ms: now,
            },
            extended: false,
        });
        rollback(ctx, run).await;
    }
}

/// Stage 6: collect evidence since the change and compare with before.
pub async fn verify(ctx: &Context, run: &mut Run) {
    if run.status.is_terminal() {
        return;
    }
    let Some(change) = run.change.clone() else {
        return;
    };
    let started = Instant::now();
    let window = Window {
        start_ms: change.at_ms,
        end_ms: ctx.clock.now_ms(),
    };
    let collected = collect(ctx, run, change.alias.as_deref(), window).await;
    timed(run, Stage::Verify, started);
    let mut after_evidence = match collected {
        Ok(e) => e,
        Err(e) => return unverifiable(run, Stage::Verify, &e.to_string(), window),
    };
    // Reports of invocations that still ran with the old memory do not count.
    after_evidence
        .reports
        .retain(|r| r.memory_size_mb == change.new_memory_mb);
    let after = Health::of(&after_evidence);
    let before = run.before.unwrap_or_default();
    let (verdict, reasons) =
        verify::verdict(&before, &after, ctx.config.run.min_verify_invocations);
    let extended = run.verification.is_some();
    run.verification = Some(Verification {
        verdict,
        reasons,
        before,
        after,
        window,
        extended,
    });
}

/// A change that could not be judged is undone: the verdict says so, and
/// the rollback stage restores (never an unjudged change left in place).
pub fn unverifiable(run: &mut Run, stage: Stage, why: &str, window: Window) {
    tracing::warn!(%stage, why, "the change could not be verified: undoing it");
    run.failure = Some(StageFailure {
        stage,
        message: why.to_owned(),
    });
    run.verification = Some(Verification {
        verdict: Verdict::Unchanged,
        reasons: vec![format!(
            "the change could not be verified ({why}): an unverified change is undone"
        )],
        before: run.before.unwrap_or_default(),
        after: Health::default(),
        window,
        extended: run.verification.is_some(),
    });
}

/// Stage 7: keep an improvement, restore the previous memory otherwise.
pub async fn rollback(ctx: &Context, run: &mut Run) {
    if run.status.is_terminal() {
        return;
    }
    let (Some(change), Some(verification)) = (run.change.clone(), run.verification.clone()) else {
        return;
    };
    match verification.verdict {
        Verdict::Improved => run.status = Status::Repaired,
        Verdict::InsufficientData => run.status = Status::Inconclusive,
        Verdict::Unchanged | Verdict::Worse => {
            let started = Instant::now();
            let result = ctx.repairer().restore(&change).await;
            timed(run, Stage::Rollback, started);
            run.rollback = Some(Rollback {
                restored_memory_mb: change.previous_memory_mb,
                ok: result.is_ok(),
                error: result.as_ref().err().map(ToString::to_string),
            });
            match result {
                Ok(_) => run.status = Status::RolledBack,
                // Someone changed the function or moved the alias since our
                // change: theirs stands, a person decides.
                Err(e @ (RepairError::Moved(_) | RepairError::Precondition)) => {
                    run.status = Status::Escalated;
                    if let Some(d) = run.decision.as_mut() {
                        d.reasons.push(format!("not rolled back: {e}"));
                    }
                }
                Err(e) => fail(run, Stage::Rollback, e.to_string()),
            }
        }
    }
}

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
        .update(
            &run.incident.id,
            &run.status.to_string(),
            &json(run),
            ctx.clock.now_ms(),
        )
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
fn caught(error: &Value, max: usize) -> String {
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

/// Releases the function's lock, unless this incident never held it
/// (skipped); a lock left behind expires by itself.
async fn release(ctx: &Context, run: &Run) {
    if run.status != Status::Skipped
        && let Err(e) = ctx
            .audit
            .unlock(&run.incident.function_name, &run.incident.id)
            .await
    {
        tracing::error!(error = %e, "could not release the lock (it expires by itself)");
    }
}

/// The end of every run, before its record is written: the failure the
/// workflow caught, the final status, the notice.
async fn finish(ctx: &Context, run: &mut Run) {
    let started = Instant::now();
    if let Some(error) = run.step_error.take()
        && run.failure.is_none()
    {
        fail(run, Stage::Workflow, caught(&error, 500));
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
    if let Some(notifier) = &ctx.notifier {
        let (subject, text) = notify::notice(run);
        match notifier
            .publish(&subject, &text, &notify::machine_record(run))
            .await
        {
            Ok(id) => run.notification_id = Some(id),
            Err(e) => tracing::error!(error = %e, "could not notify"),
        }
    }
    timed(run, Stage::Record, started);
    if let Some((sink, host)) = &ctx.metrics {
        sink.emit(&crate::metrics::documents(run, host, ctx.clock.now_ms()));
    }
}
