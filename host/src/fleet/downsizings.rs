//! A sweep's applied downsizings, judged over the traffic that followed, as
//! an incident's change is verified: once enough time and invocations have
//! passed at the new size, errors, timeouts and duration are compared with
//! the size it left. A regression rolls it back (under the function's lock,
//! recorded in the change history) and the size it left becomes the
//! function's floor, so no later sweep tries again. The hourly reconcile
//! and `autorepair sweep` run it.

use std::time::Duration;

use super::FleetPorts;
use crate::figures::Summary;
use crate::model::{
    DownsizeBaseline, DownsizeCheck, DownsizeVerdict, Millis, RecordedChange,
    StandingRecommendation, Window,
};
use crate::pipeline::Context;
use crate::ports::FleetError;

/// p95 duration this much longer than before is a regression…
const SLOWER_RATIO: f64 = 1.5;
/// …when it is also at least this much longer (ms): noise on a fast function is not.
const SLOWER_MS: f64 = 50.0;
/// A failure rate up by this much (and at least doubled) is a regression.
const MORE_FAILURES: f64 = 0.01;

/// What one check did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Checked {
    /// Downsizings judged and kept.
    pub kept: Vec<String>,
    /// Downsizings rolled back (with why).
    pub rolled_back: Vec<String>,
    /// Downsizings still waiting for time or traffic.
    pub waiting: usize,
    /// Checks that could not be made, with why (tried again next time).
    pub failures: Vec<String>,
}

/// Why the traffic `after` a downsizing is worse than `before`, if it is.
pub fn regression(before: &DownsizeBaseline, after: &Summary) -> Option<String> {
    if after.out_of_memory > 0 {
        return Some(format!(
            "{} invocations ran out of memory at the new size",
            after.out_of_memory
        ));
    }
    let rate = |n: u64| n as f64 / after.invocations.max(1) as f64;
    let timeouts = rate(after.timeouts);
    if timeouts > before.timeout_rate + MORE_FAILURES && timeouts > 2.0 * before.timeout_rate {
        return Some(format!(
            "timeouts rose from {:.1}% to {:.1}% of invocations",
            before.timeout_rate * 100.0,
            timeouts * 100.0
        ));
    }
    let failures = after.failure_rate();
    if failures > before.failure_rate + MORE_FAILURES && failures > 2.0 * before.failure_rate {
        return Some(format!(
            "failures rose from {:.1}% to {:.1}% of invocations",
            before.failure_rate * 100.0,
            failures * 100.0
        ));
    }
    if before.p95_ms > 0.0
        && after.p95_ms > before.p95_ms * SLOWER_RATIO
        && after.p95_ms - before.p95_ms > SLOWER_MS
    {
        return Some(format!(
            "p95 duration rose from {:.0} ms to {:.0} ms",
            before.p95_ms, after.p95_ms
        ));
    }
    None
}

/// Judges every applied downsizing not judged yet; stops starting new ones
/// after `budget`.
pub async fn check(
    ctx: &Context,
    ports: &FleetPorts,
    budget: Duration,
) -> Result<Checked, FleetError> {
    let started = std::time::Instant::now();
    let mut done = Checked::default();
    let pending: Vec<StandingRecommendation> = ports
        .recommendations
        .recommendations()
        .await?
        .into_iter()
        .filter(|r| r.applied && r.check.is_none() && r.baseline.is_some())
        .collect();
    for mut r in pending {
        if started.elapsed() >= budget {
            done.waiting += 1;
            continue;
        }
        match judge(ctx, &mut r).await {
            Ok(None) => done.waiting += 1,
            Ok(Some(check)) => {
                let line = format!("{}: {}", r.function, check.why);
                match check.verdict {
                    DownsizeVerdict::Kept => done.kept.push(line),
                    _ => done.rolled_back.push(line),
                }
                r.check = Some(check);
                if let Err(e) = ports.recommendations.put_recommendation(&r).await {
                    done.failures.push(format!("{}: {e}", r.function));
                }
            }
            Err(why) => done.failures.push(format!("{}: {why}", r.function)),
        }
    }
    Ok(done)
}

/// One downsizing's judgement, or `None` while it waits for time or traffic.
async fn judge(
    ctx: &Context,
    r: &mut StandingRecommendation,
) -> Result<Option<DownsizeCheck>, String> {
    let fleet = &ctx.config.fleet;
    let Some(before) = r.baseline.clone() else {
        return Ok(None);
    };
    let now = ctx.clock.now_ms();
    let after_ms = i64::from(fleet.verify_downsizing_after_minutes) * 60_000;
    if now - before.applied_at_ms < after_ms {
        return Ok(None);
    }
    let function = crate::evidence::function(
        ctx.functions.as_ref(),
        &r.function,
        None,
        Duration::from_secs(ctx.config.run.collect_timeout_seconds.max(1)),
    )
    .await
    .map_err(|e| e.to_string())?;
    let verdict = |verdict, why: String| {
        Ok(Some(DownsizeCheck {
            verdict,
            at_ms: now,
            why,
        }))
    };
    if function.memory_mb != r.target_mb {
        return verdict(
            DownsizeVerdict::Kept,
            format!(
                "not judged: the function is at {} MB now, changed since the downsizing to {} MB; that change stands",
                function.memory_mb, r.target_mb
            ),
        );
    }
    let window = Window {
        start_ms: before.applied_at_ms,
        end_ms: now,
    };
    let (figures, _) = super::sweep::figures(ctx, &function.log_group(), window, None).await;
    let after = figures.summary(|row| row.memory_mb == r.target_mb);
    let regressed = regression(&before, &after);
    if regressed.is_none() && after.invocations < fleet.verify_downsizing_invocations {
        return Ok(None);
    }
    let Some(why) = regressed else {
        return verdict(
            DownsizeVerdict::Kept,
            format!(
                "kept: {} invocations at {} MB, no more failures, timeouts or duration than at {} MB",
                after.invocations, r.target_mb, before.from_mb
            ),
        );
    };
    match roll_back(ctx, r, &function, &before, now).await {
        Ok(()) => {
            r.oom_floor_mb = Some(r.oom_floor_mb.unwrap_or(0).max(before.from_mb));
            let why = format!(
                "rolled back to {} MB: {why}; {} MB is now this function's floor",
                before.from_mb, before.from_mb
            );
            notify(ctx, r, &why).await;
            verdict(DownsizeVerdict::RolledBack, why)
        }
        Err(failed) => {
            let why = format!(
                "{why}, and the roll back to {} MB failed ({failed}): a person should set it",
                before.from_mb
            );
            notify(ctx, r, &why).await;
            verdict(DownsizeVerdict::RollbackFailed, why)
        }
    }
}

/// Sets the size the downsizing left, under the function's lock, recorded
/// in the change history before it is made.
async fn roll_back(
    ctx: &Context,
    r: &StandingRecommendation,
    function: &crate::model::FunctionInfo,
    before: &DownsizeBaseline,
    now: Millis,
) -> Result<(), String> {
    if ctx.config.run.dry_run {
        return Err("run.dry_run is on".into());
    }
    let holder = format!("{}rollback:{}", crate::ports::SWEEP_CHANGE_PREFIX, r.sweep);
    let ttl_ms =
        i64::try_from(ctx.config.run.lock_ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    match ctx.audit.lock(&function.name, &holder, now, ttl_ms).await {
        Ok(crate::ports::Claim::Won) => {}
        Ok(crate::ports::Claim::Taken) => {
            return Err("an incident holds the function right now; tried again next hour".into());
        }
        Err(e) => return Err(e.to_string()),
    }
    let result = async {
        ctx.audit
            .record_change(
                &function.name,
                &RecordedChange {
                    incident_id: holder.clone(),
                    at_ms: now,
                    from_mb: function.memory_mb,
                    to_mb: before.from_mb,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        ctx.repairer()
            .set_memory(function, before.from_mb)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    .await;
    if let Err(e) = ctx.audit.unlock(&function.name, &holder).await {
        tracing::warn!(error = %e, "could not release the lock (it expires by itself)");
    }
    result
}

async fn notify(ctx: &Context, r: &StandingRecommendation, why: &str) {
    let Some(notifier) = &ctx.notifier else {
        return;
    };
    let subject = format!(
        "autorepair: a downsizing of {} made things worse",
        r.function
    );
    let text = format!(
        "The sweep downsized {} from {} MB to {} MB. {why}.\n",
        r.function,
        r.baseline.as_ref().map_or(r.current_mb, |b| b.from_mb),
        r.target_mb
    );
    let json = serde_json::to_string(r).unwrap_or_default();
    let attributes = crate::model::NoticeAttributes {
        kind: "downsizing",
        status: "rolled_back".into(),
        severity: crate::model::Severity::Warning,
        function: Some(r.function.clone()),
        dedup_key: Some(format!("downsizing:{}", r.function)),
        stack: ctx.config.run.environment.clone(),
    };
    if let Err(e) = notifier.publish(&subject, &text, &json, &attributes).await {
        tracing::error!(error = %e, "the downsizing notice could not be sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before() -> DownsizeBaseline {
        DownsizeBaseline {
            from_mb: 1024,
            applied_at_ms: 0,
            invocations: 1000,
            failure_rate: 0.002,
            timeout_rate: 0.0,
            p95_ms: 200.0,
        }
    }

    fn after(invocations: u64, errors: u64, timeouts: u64, p95_ms: f64) -> Summary {
        Summary {
            invocations,
            errors,
            timeouts,
            p95_ms,
            ..Summary::default()
        }
    }

    #[test]
    fn what_counts_as_worse() {
        let b = before();
        assert_eq!(regression(&b, &after(100, 0, 0, 210.0)), None);
        // Noise: one error in 300 against 0.2 % before.
        assert_eq!(regression(&b, &after(300, 1, 0, 200.0)), None);
        assert!(
            regression(&b, &after(100, 5, 0, 200.0))
                .unwrap()
                .contains("failures rose")
        );
        assert!(
            regression(&b, &after(100, 0, 3, 200.0))
                .unwrap()
                .contains("timeouts rose")
        );
        assert!(
            regression(&b, &after(100, 0, 0, 400.0))
                .unwrap()
                .contains("p95 duration")
        );
        // A fast function a few ms slower is not a regression.
        let fast = DownsizeBaseline {
            p95_ms: 10.0,
            ..b.clone()
        };
        assert_eq!(regression(&fast, &after(100, 0, 0, 30.0)), None);
        let oom = Summary {
            out_of_memory: 1,
            ..after(100, 1, 0, 200.0)
        };
        assert!(regression(&b, &oom).unwrap().contains("out of memory"));
    }
}
