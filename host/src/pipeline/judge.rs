//! The verify and rollback stages: the change judged on the invocations since
//! it, kept when it helped and undone when it did not (or could not be
//! judged).

use std::time::Instant;

use super::branches::collect_since;
use super::{Context, Rollback, Run, StageFailure, Status, Verification, fail, timed};
use crate::decide::{Action, Decision};
use crate::model::Change;
use crate::model::Window;
use crate::repair::RepairError;
use crate::run::StepTaken;
use crate::stage::Stage;
use crate::verify::{self, Health, Verdict};

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
    let collected = collect_since(ctx, run, change.alias.as_deref(), window).await;
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
    let before = baseline(run);
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

/// What the latest step is judged against: the step before it, or the
/// incident's own health for the first.
pub(super) fn baseline(run: &Run) -> Health {
    run.steps
        .last()
        .map(|s| s.verification.after)
        .or(run.before)
        .unwrap_or_default()
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
        before: baseline(run),
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
    if run.change.is_none() && !run.steps.is_empty() {
        // An attempt of this stage crashed after writing a further step's
        // intent (the record holds it): finish that step, never repeat it.
        return make_step(ctx, run).await;
    }
    let (Some(change), Some(verification)) = (run.change.clone(), run.verification.clone()) else {
        return;
    };
    match verification.verdict {
        // Better, but still out of memory at the new size: another step.
        Verdict::Improved if verification.after.out_of_memory > 0 => {
            step_again(ctx, run, change, verification).await
        }
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
                // An earlier step helped: its memory stands, and what it
                // left is a person's to look at.
                Ok(_) if !run.steps.is_empty() => {
                    let kept = change.previous_memory_mb;
                    keep_and_escalate(
                        run,
                        format!(
                            "step {} ({} MB → {} MB) did not help and was undone; the {kept} MB of the step before, which helped, is kept",
                            run.steps.len() + 1,
                            change.previous_memory_mb,
                            change.new_memory_mb
                        ),
                    );
                }
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

/// A step that helped but left out-of-memory failures: the next step, under
/// the guard (`decide_on` sees the steps and decides with
/// [`crate::decide::step_again`]), made by the execute stage's own code —
/// intent written ahead, a crashed attempt finished, never repeated. When no
/// further step is allowed, the memory that helped is kept and the incident
/// escalated; `change` and `verification` stay the latest step's.
async fn step_again(ctx: &Context, run: &mut Run, change: Change, verification: Verification) {
    if run.approval.is_some() {
        return keep_and_escalate(
            run,
            format!(
                "{} MB helped, yet invocations still run out of memory: another step needs a person's approval",
                change.new_memory_mb
            ),
        );
    }
    let decision = run.decision.clone().unwrap_or(Decision {
        action: Action::SetMemory,
        current_memory_mb: change.previous_memory_mb,
        target_memory_mb: Some(change.new_memory_mb),
        reasons: Vec::new(),
    });
    run.steps.push(StepTaken {
        decision,
        change: change.clone(),
        verification,
    });
    run.change = None;
    run.verification = None;
    run.smoke = None;
    run.decision = Some(Decision {
        action: Action::SetMemory,
        current_memory_mb: change.new_memory_mb,
        target_memory_mb: None,
        reasons: Vec::new(),
    });
    make_step(ctx, run).await;
}

/// The step `run.steps` asks for next, made by execute; or, when none may be
/// made, the last step kept as the incident's change.
async fn make_step(ctx: &Context, run: &mut Run) {
    // Boxed: execute may roll back (a failed smoke test), which may step.
    Box::pin(super::execute(ctx, run)).await;
    if run.change.is_none()
        && let Some(last) = run.steps.pop()
    {
        // No further step: the last one is the incident's change again,
        // and the decision that refused another says why.
        let refused = run.decision.take();
        run.change = Some(last.change);
        run.verification = Some(last.verification);
        let mut decision = last.decision;
        if let Some(refused) = refused {
            decision.reasons.extend(refused.reasons);
        }
        run.decision = Some(decision);
        if !run.status.is_terminal() {
            run.status = Status::Escalated;
        }
    }
}

/// Ends the run as escalated with its change in place (it helped): a person
/// is told why no further step was taken.
fn keep_and_escalate(run: &mut Run, reason: String) {
    tracing::warn!(%reason, "escalated, the change kept");
    run.status = Status::Escalated;
    if let Some(d) = run.decision.as_mut() {
        d.reasons.push(reason);
    }
}
