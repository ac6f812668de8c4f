//! The stages wired together. Each stage is a plain async function over a
//! [`Run`] — the document the audit log keeps, which the Lambda stages load
//! and commit by reference — and a [`Context`] of ports, so the Lambda (one stage per
//! task), the CLI (all stages in one process) and the tests (in-memory ports,
//! a fake clock) run the same code.

//!
//! One module per stage, each a sitting's read: [`claim`](self) (parse),
//! `branches` (collect, rules, AI), `decision`, `execute` and `smoke`,
//! `judge` (verify, rollback), `close` (record); `protocol` runs them one per
//! Lambda invocation, [`run`] all in one process.

pub mod approval;
mod branches;
mod claim;
mod close;
mod decision;
mod execute;
pub mod incidents;
mod judge;
mod protocol;
mod smoke;
#[cfg(test)]
mod tests;
mod undo;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::run::{
    MAX_DOCUMENT_BYTES, Rollback, Run, SmokeTest, StageFailure, Status, Verification,
};
pub use branches::{Diagnosers, collect, diagnose, merge_branches};
pub use claim::parse;
pub use close::record;
use close::{caught, finish, release};
pub use decision::decide;
pub use execute::execute;
pub use judge::{rollback, unverifiable, verify};
pub use protocol::{OrderError, ProtocolError, StageReply, StageRequest, answer_approval, stage};
pub use undo::{Undo, undo};

use crate::config::Config;
use crate::decide::{Action, Decision, MergeMode};
use crate::evidence::Sources;
use crate::incident::IncidentError;
use crate::ports::{
    AiDiagnoser, AlarmReader, AuditStore, Clock, Executions, FunctionStore, Notifier, Telemetry,
};
use crate::repair::Repairer;
use crate::rules::RuleSet;
use crate::stage::Stage;
use crate::verify::Verdict;

/// What every stage needs: the ports, the rules and the settings.
#[derive(Clone)]
pub struct Context {
    pub functions: Arc<dyn FunctionStore>,
    pub telemetry: Arc<dyn Telemetry>,
    pub audit: Arc<dyn AuditStore>,
    /// Where notices go; none, no notices.
    pub notifier: Option<Arc<dyn Notifier>>,
    /// The AI diagnoser, when `[ai] enabled`.
    pub ai: Option<Arc<dyn AiDiagnoser>>,
    pub clock: Arc<dyn Clock>,
    /// CloudWatch's word on an alarm: an event is checked against it at parse.
    pub alarms: Arc<dyn AlarmReader>,
    /// Step Functions' word on an execution: a stage call is checked
    /// against it.
    pub executions: Arc<dyn Executions>,
    /// Where autorepair's own metrics go (EMF on stdout in Lambda); none,
    /// no metrics.
    pub metrics: Option<(Arc<dyn crate::metrics::MetricSink>, String)>,
    /// CloudTrail's event history, when `[run] recent_changes` is on.
    pub changes: Option<Arc<dyn crate::ports::ChangeLog>>,
    /// The organisation's member accounts, when `[organization] accounts`
    /// enrols any.
    pub members: Option<Arc<dyn crate::ports::Members>>,
    pub rules: Arc<RuleSet>,
    pub config: Config,
}

impl Context {
    pub(crate) fn sources(&self) -> Sources<'_> {
        Sources {
            functions: self.functions.as_ref(),
            telemetry: self.telemetry.as_ref(),
            changes: self.changes.as_deref(),
        }
    }

    pub fn repairer(&self) -> Repairer<'_> {
        Repairer {
            functions: self.functions.as_ref(),
            clock: self.clock.as_ref(),
        }
    }

    /// This context for `incident`: itself for the host's own account, else
    /// one whose function, telemetry, alarm and change ports reach the
    /// incident's member account through `access`'s role (the audit table,
    /// notices and the rules stay the central ones).
    pub async fn for_incident(
        &self,
        incident: &crate::incident::Incident,
        access: crate::ports::Access,
    ) -> Result<std::borrow::Cow<'_, Context>, String> {
        match &incident.member {
            None => Ok(std::borrow::Cow::Borrowed(self)),
            Some(member) => self
                .for_member(member, access)
                .await
                .map(std::borrow::Cow::Owned),
        }
    }

    /// This context with its function, telemetry, alarm and change ports
    /// reaching `member`'s account through `access`'s role.
    pub async fn for_member(
        &self,
        member: &crate::incident::MemberAccount,
        access: crate::ports::Access,
    ) -> Result<Context, String> {
        let members = self.members.as_ref().ok_or_else(|| {
            format!(
                "member account {}: this host reaches no member account ([organization])",
                member.account
            )
        })?;
        let ports = members.reach(member, access).await?;
        let mut ctx = self.clone();
        ctx.functions = ports.functions;
        ctx.telemetry = ports.telemetry;
        ctx.alarms = ports.alarms;
        if ctx.changes.is_some() {
            ctx.changes = ports.changes;
        }
        Ok(ctx)
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

/// How a run in one process waits out a verification window, and what a
/// person asked for if they stopped waiting.
#[async_trait::async_trait]
pub trait Waiter: Send + Sync {
    /// Waits `window` after `run`'s change.
    async fn wait(&self, window: Duration, run: &Run) -> Waited;
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The window passed: verify.
    Elapsed,
    /// A person stopped waiting and asked for the change to be undone.
    RollBack,
    /// A person stopped waiting and left the change in place, unverified:
    /// recorded so, for a person to judge.
    LeaveUnverified,
}

/// Waits on the context's clock, never stopped early.
struct ClockWaiter<'a>(&'a dyn Clock);

#[async_trait::async_trait]
impl Waiter for ClockWaiter<'_> {
    async fn wait(&self, window: Duration, _run: &Run) -> Waited {
        self.0.sleep(window).await;
        Waited::Elapsed
    }
}

/// Every stage in one process (the CLI): parse → collect + diagnose → decide
/// → execute → wait → verify → roll back → record + notify.
pub async fn run(ctx: &Context, event: &Value, options: Options) -> Result<Run, IncidentError> {
    run_waiting(ctx, event, options, &ClockWaiter(ctx.clock.as_ref())).await
}

/// [`run`], its verification windows waited out by `waiter` — which may end
/// one early at a person's word: the change is then rolled back, or left
/// and recorded as unverified, and the run recorded and notified either way.
pub async fn run_waiting(
    ctx: &Context,
    event: &Value,
    options: Options,
    waiter: &dyn Waiter,
) -> Result<Run, IncidentError> {
    let mut run = parse(ctx, event, options, None).await?;
    if run.status == Status::Duplicate {
        return Ok(run);
    }
    // A member account's function: read through its reading role, changed
    // through its acting one.
    let roles = async {
        let read = ctx
            .for_incident(&run.incident, crate::ports::Access::Read)
            .await?;
        let act = ctx
            .for_incident(&run.incident, crate::ports::Access::Act)
            .await?;
        Ok::<_, String>((read, act))
    };
    let (read, act) = match roles.await {
        Ok(both) => both,
        Err(e) => {
            fail(&mut run, Stage::Collect, e);
            record(ctx, &mut run).await;
            return Ok(run);
        }
    };
    let (ctx, act): (&Context, &Context) = (&read, &act);
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
        execute(act, &mut run).await;
        // Each step is verified; one that helped but left out-of-memory
        // failures is followed by another (rollback makes it), up to the
        // policy's steps per incident.
        'steps: while run.change.is_some() && !run.status.is_terminal() {
            let mut windows = 0;
            // One more window when the first had too little data, then
            // judge with what there is.
            while windows == 0
                || run
                    .verification
                    .as_ref()
                    .is_some_and(|v| v.verdict == Verdict::InsufficientData && windows < 2)
            {
                windows += 1;
                match waiter.wait(options.verify_after, &run).await {
                    Waited::Elapsed => verify(ctx, &mut run).await,
                    stopped => {
                        stop_waiting(act, &mut run, stopped).await;
                        break 'steps;
                    }
                }
            }
            rollback(act, &mut run).await;
        }
    }
    record(ctx, &mut run).await;
    Ok(run)
}

/// A person stopped the wait before the change was judged.
async fn stop_waiting(ctx: &Context, run: &mut Run, how: Waited) {
    let Some(change) = run.change.clone() else {
        return;
    };
    let window = crate::model::Window {
        start_ms: change.at_ms,
        end_ms: ctx.clock.now_ms(),
    };
    match how {
        Waited::RollBack => {
            unverifiable(
                run,
                Stage::Verify,
                "the operator stopped the wait and asked for the change to be undone",
                window,
            );
            rollback(ctx, run).await;
        }
        Waited::LeaveUnverified | Waited::Elapsed => {
            run.status = Status::Inconclusive;
            let reason = format!(
                "the operator stopped the wait before verification: {} MB → {} MB stays, unverified — judge it, and undo it if it did not help",
                change.previous_memory_mb, change.new_memory_mb
            );
            tracing::warn!(%reason, "left unverified");
            if let Some(d) = run.decision.as_mut() {
                d.reasons.push(reason);
            }
        }
    }
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
