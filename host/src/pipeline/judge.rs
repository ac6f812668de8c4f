//! The verify and rollback stages: the change judged on the invocations since
//! it, kept when it helped and undone when it did not (or could not be
//! judged).

use std::time::Instant;

use super::branches::collect;
use super::{Context, Rollback, Run, StageFailure, Status, Verification, fail, timed};
use crate::model::Window;
use crate::repair::RepairError;
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
