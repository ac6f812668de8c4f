//! `autorepair tune`: a function's speed and cost measured at several memory
//! sizes by invoking it, in the spirit of AWS Lambda Power Tuning. Each size
//! runs on a version of its own — `$LATEST` is set to the size only for the
//! moment it takes to publish that version, then put back — and every
//! version published is deleted at the end, whatever happened. Billed
//! duration and memory come from each invocation's REPORT line (Lambda's
//! `LogType: Tail`). The choice ([`choose`]) and the prices are pure; the
//! result is kept with the function's standing recommendation, where a
//! sweep reads it as evidence (duration known to fall with memory: no
//! downsizing). docs/fleet.md, "Tune a function".

pub mod page;

pub use crate::tuning::{SizeResult, Strategy, Tuning, choose, usd_per_million};

use crate::model::{FunctionInfo, InvocationStatus, Millis};
use crate::ports::{FunctionStore, StoreError};
use crate::repair::Repairer;
use crate::stats::percentile;

/// Why a tune could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("{0}")]
    Refused(String),
    #[error("{what}: {source}")]
    Aws {
        what: String,
        #[source]
        source: StoreError,
    },
}

/// What a tune is asked to do.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub sizes: &'a [u32],
    pub payload: &'a [u8],
    pub invocations: u32,
    pub strategy: Strategy,
    pub usd_per_gb_second: f64,
}

/// Measures `function` at each size; every version it publishes is deleted
/// and `$LATEST`'s memory is back as it was when this returns, failed or not.
pub async fn measure(
    repairer: &Repairer<'_>,
    function: &FunctionInfo,
    request: &Request<'_>,
    now_ms: Millis,
) -> Result<Tuning, TuneError> {
    let functions = repairer.functions;
    let mut published: Vec<String> = Vec::new();
    let measured = run_sizes(repairer, function, request, &mut published).await;
    // Put everything back, whatever happened above.
    let mut cleanup = Vec::new();
    match functions.read(&function.name, None).await {
        Ok(latest) if latest.memory_mb != function.memory_mb => {
            if let Err(e) = repairer.set_memory(&latest, function.memory_mb).await {
                cleanup.push(format!(
                    "$LATEST is at {} MB and could not be put back to {} MB: {e}",
                    latest.memory_mb, function.memory_mb
                ));
            }
        }
        Ok(_) => {}
        Err(e) => cleanup.push(format!("could not re-read the function: {e}")),
    }
    for version in &published {
        if let Err(e) = functions.delete_version(&function.name, version).await {
            cleanup.push(format!("version {version} could not be deleted: {e}"));
        }
    }
    let sizes = measured?;
    if !cleanup.is_empty() {
        return Err(TuneError::Refused(format!(
            "measured, but not all was restored: {}",
            cleanup.join("; ")
        )));
    }
    let (best_mb, why) = choose(&sizes, request.strategy);
    Ok(Tuning {
        function: function.name.clone(),
        architecture: function.architecture.clone(),
        strategy: request.strategy,
        sizes,
        best_mb,
        current_mb: function.memory_mb,
        reasons: vec![why],
        at_ms: now_ms,
    })
}

/// Refuses a function a tune must not touch: not opted in.
pub fn check(function: &FunctionInfo, policy: &crate::decide::Policy) -> Result<(), TuneError> {
    if !policy.opts_in(&function.tags) {
        return Err(TuneError::Refused(format!(
            "{} is not opted in (tag {}={}): autorepair tunes only functions that opted in",
            function.name, policy.opt_in_tag_key, policy.opt_in_tag_value
        )));
    }
    Ok(())
}

/// Keeps `tuning` with the function's standing recommendation (a sweep
/// reads it as evidence and carries it to the next).
pub async fn keep(
    recommendations: &dyn crate::ports::RecommendationStore,
    function: &FunctionInfo,
    tuning: &Tuning,
) -> Result<(), crate::ports::FleetError> {
    let mut r = match recommendations.recommendation(&function.name).await? {
        Some(r) => r,
        None => crate::model::StandingRecommendation {
            function: function.name.clone(),
            account: None,
            region: None,
            direction: crate::model::Direction::Keep,
            current_mb: function.memory_mb,
            target_mb: function.memory_mb,
            monthly_cost_delta_usd: 0.0,
            invocations: 0,
            p99_used_mb: None,
            oom_floor_mb: None,
            reasons: vec!["no sweep yet: the next one sizes it, with this tune as evidence".into()],
            sweep: "tune".into(),
            at_ms: tuning.at_ms,
            window_days: 0,
            downsize_opted_in: false,
            applied: false,
            source_change: None,
            max_used_mb: None,
            figures: None,
            baseline: None,
            check: None,
            tuning: None,
        },
    };
    r.tuning = Some(tuning.clone());
    recommendations.put_recommendation(&r).await
}

/// Sets the size the tune chose as any change autorepair makes outside an
/// incident is set: within the function's policy (its tags), never below
/// a size that ran out of memory, in `auto` mode and out of approval mode
/// only, under the function's lock, the rate limits and the history.
pub async fn apply(
    ctx: &crate::pipeline::Context,
    recommendations: &dyn crate::ports::RecommendationStore,
    function: &FunctionInfo,
    tuning: &Tuning,
) -> Result<u32, String> {
    let Some(best) = tuning.best_mb else {
        return Err("every size failed: nothing to apply".into());
    };
    if best == function.memory_mb {
        return Err(format!(
            "{best} MB is what it has already: nothing to change"
        ));
    }
    let config = &ctx.config;
    let tailored = config.policy.for_function(&function.tags);
    if tailored.mode != crate::decide::FunctionMode::Auto {
        return Err(format!(
            "{}={:?}: a person makes this change",
            crate::decide::MODE_TAG,
            tailored.mode
        ));
    }
    if crate::pipeline::approval::required(&config.approval, function) {
        return Err("the function is in approval mode: a person makes this change".into());
    }
    let (floor, ceiling) = (tailored.policy.min_memory_mb, tailored.policy.ceiling_mb);
    if best < floor || best > ceiling {
        return Err(format!(
            "{best} MB is outside what the policy allows this function ({floor}..={ceiling} MB)"
        ));
    }
    let remembered = recommendations
        .recommendation(&function.name)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|r| r.oom_floor_mb);
    let raised = ctx
        .audit
        .raised_from(&function.name)
        .await
        .map_err(|e| e.to_string())?;
    let oom_floor = raised
        .into_iter()
        .map(autorepair_lambda::memory::needed_after_out_of_memory)
        .chain(remembered)
        .max();
    if let Some(oom) = oom_floor.filter(|f| best < *f) {
        return Err(format!(
            "{best} MB is below {oom} MB, what an out-of-memory at this function needed before"
        ));
    }
    let holder = format!("tune:{}", tuning.at_ms);
    crate::fleet::sweep::apply_change(ctx, function, best, &holder, ctx.clock.now_ms()).await?;
    Ok(best)
}

async fn run_sizes(
    repairer: &Repairer<'_>,
    function: &FunctionInfo,
    request: &Request<'_>,
    published: &mut Vec<String>,
) -> Result<Vec<SizeResult>, TuneError> {
    let functions = repairer.functions;
    let aws = |what: String| move |source| TuneError::Aws { what, source };
    let mut results = Vec::new();
    for &size in request.sizes {
        // $LATEST at this size just long enough to publish it, then back.
        let latest = functions
            .read(&function.name, None)
            .await
            .map_err(aws(format!("reading {}", function.name)))?;
        let change = repairer
            .set_memory(&latest, size)
            .await
            .map_err(|e| TuneError::Refused(format!("setting {size} MB: {e}")))?;
        let version = functions
            .publish_version(
                &function.name,
                &latest.code_sha256,
                change.new_revision_id.as_deref(),
            )
            .await;
        let back = match functions.read(&function.name, None).await {
            Ok(now) => repairer
                .set_memory(&now, latest.memory_mb)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let version = version.map_err(aws(format!("publishing a version at {size} MB")))?;
        published.push(version.clone());
        back.map_err(|e| TuneError::Refused(format!("putting $LATEST back: {e}")))?;
        results.push(invoke_size(functions, function, &version, size, request).await?);
    }
    Ok(results)
}

/// Invokes `version` once to warm it, then `request.invocations` times.
async fn invoke_size(
    functions: &dyn FunctionStore,
    function: &FunctionInfo,
    version: &str,
    size: u32,
    request: &Request<'_>,
) -> Result<SizeResult, TuneError> {
    let mut durations = Vec::new();
    let mut billed = Vec::new();
    let (mut errors, mut max_used) = (0u32, 0u32);
    for i in 0..=request.invocations {
        let invoked = functions
            .invoke(&function.name, Some(version), request.payload)
            .await
            .map_err(|source| TuneError::Aws {
                what: format!("invoking version {version} ({size} MB)"),
                source,
            })?;
        let lines: Vec<crate::model::LogLine> = invoked
            .log_tail
            .lines()
            .map(|l| crate::model::LogLine {
                timestamp_ms: 0,
                message: l.to_owned(),
                log_stream: None,
            })
            .collect();
        let report = crate::logs::parse_reports(&lines).pop();
        if i == 0 {
            // The warm-up: a cold start says nothing of the steady state.
            continue;
        }
        let failed = invoked.function_error.is_some()
            || report
                .as_ref()
                .is_none_or(|r| r.status != InvocationStatus::Success);
        errors += u32::from(failed);
        if let Some(r) = report {
            durations.push(r.duration_ms);
            billed.push(r.billed_duration_ms);
            max_used = max_used.max(r.max_memory_used_mb);
        }
    }
    durations.sort_by(f64::total_cmp);
    let mean_billed_ms = billed.iter().sum::<f64>() / billed.len().max(1) as f64;
    Ok(SizeResult {
        memory_mb: size,
        invocations: request.invocations,
        errors,
        p50_ms: percentile(&durations, 50.0).unwrap_or(0.0),
        p95_ms: percentile(&durations, 95.0).unwrap_or(0.0),
        mean_billed_ms,
        max_used_mb: max_used,
        usd_per_million: usd_per_million(size, mean_billed_ms, request.usd_per_gb_second),
    })
}
