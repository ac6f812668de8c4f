//! The smoke test right after a change: one invocation with the function's
//! payload, a failure rolled back at once.

use std::time::Instant;

use super::judge::rollback;
use super::{Context, Run, SmokeTest, Verification, timed};
use crate::model::{LogLine, Window};
use crate::stage::Stage;
use crate::verify::{Health, Verdict};

/// Right after a change: one invocation with the function's smoke payload,
/// when configured. A failure rolls the change back at once, without waiting
/// for the verification window.
pub(super) async fn smoke(ctx: &Context, run: &mut Run) {
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
                    log_stream: None,
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
    // The function's own error text (its log tail, its FunctionError) goes
    // into the record and the notice: secrets out first.
    let mut test = test;
    test.error = test.error.map(|e| crate::redact::redact(&e).0);
    let failed = !test.ok;
    let reason = test.error.clone().unwrap_or_default();
    run.smoke = Some(test);
    if failed {
        tracing::warn!(%reason, "smoke test failed: rolling back at once");
        let now = ctx.clock.now_ms();
        run.verification = Some(Verification {
            verdict: Verdict::Worse,
            reasons: vec![format!("smoke test failed: {reason}")],
            before: super::judge::baseline(run),
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
