//! The diagnosing branches: the evidence collected, then the rules and the AI
//! side by side (one process), or one per Parallel branch (Step Functions),
//! whose findings are merged.

use std::sync::Arc;
use std::time::Instant;

use super::{Context, MAX_DOCUMENT_BYTES, Run, fail, timed};
use crate::diagnosis;
use crate::evidence::{self, CollectError, Sources};
use crate::model::{Evidence, Window};
use crate::stage::Stage;
use crate::verify::Health;

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

/// Stage 2: the evidence in `window` for the run's function (or alias),
/// with the function's recent changes as the run holds them when they were
/// looked up before (the workflow's parse stage), else looked up now.
pub async fn collect(
    ctx: &Context,
    run: &Run,
    qualifier: Option<&str>,
    window: Window,
) -> Result<Evidence, CollectError> {
    let mut sources = ctx.sources();
    if run.recent_changes.is_some() {
        sources.changes = None;
    }
    let mut evidence = collect_from(ctx, sources, run, qualifier, window).await?;
    if let Some(known) = &run.recent_changes {
        evidence.changes = known.changes.clone();
        evidence.notes.extend(known.note.clone());
    }
    Ok(evidence)
}

/// The evidence since a change, for its verification: the function's
/// health only (the incident's changes were read before it).
pub async fn collect_since(
    ctx: &Context,
    run: &Run,
    qualifier: Option<&str>,
    window: Window,
) -> Result<Evidence, CollectError> {
    let sources = Sources {
        changes: None,
        ..ctx.sources()
    };
    collect_from(ctx, sources, run, qualifier, window).await
}

async fn collect_from(
    ctx: &Context,
    sources: Sources<'_>,
    run: &Run,
    qualifier: Option<&str>,
    window: Window,
) -> Result<Evidence, CollectError> {
    evidence::collect(
        sources,
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
