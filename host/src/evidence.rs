//! Stage 2: collect. The function's configuration and tags, its CloudWatch
//! metrics and its log lines, each bounded in time and size; the metrics are
//! read while the function (which names the log group) and then its logs are.
//! A missing piece (no log group, no Lambda Insights) is a note in the
//! evidence, never fatal; only a function that cannot be read stops the run.

use std::time::Duration;

use crate::config::RunConfig;
use crate::logs;
use crate::model::{AlarmInfo, ChangeLookup, Evidence, FunctionInfo, Millis, Window};
use crate::ports::{FunctionStore, LogRead, StoreError, Telemetry};

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("function {0} not found")]
    NotFound(String),
    #[error("reading function {name}: {message}")]
    Config { name: String, message: String },
}

/// Where evidence comes from.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub functions: &'a dyn FunctionStore,
    pub telemetry: &'a dyn Telemetry,
    /// CloudTrail's event history, when configured: the day's changes.
    pub changes: Option<&'a dyn crate::ports::ChangeLog>,
}

/// How far before the alarm recent changes are looked for.
pub const CHANGES_LOOKBACK_MS: i64 = 24 * 3_600_000;

/// Reads the function (for `qualifier`, the version behind the alias),
/// within `bound`.
pub async fn function(
    functions: &dyn FunctionStore,
    name: &str,
    qualifier: Option<&str>,
    bound: Duration,
) -> Result<FunctionInfo, CollectError> {
    match tokio::time::timeout(bound, functions.read(name, qualifier)).await {
        Err(_) => Err(CollectError::Config {
            name: name.to_owned(),
            message: format!("timed out after {} s", bound.as_secs()),
        }),
        Ok(Err(StoreError::NotFound(name))) => Err(CollectError::NotFound(name)),
        Ok(Err(e)) => Err(CollectError::Config {
            name: name.to_owned(),
            message: e.to_string(),
        }),
        Ok(Ok(info)) => Ok(info),
    }
}

/// Collects everything for `window`: the metrics while the function and then
/// its log lines are read.
pub async fn collect(
    sources: Sources<'_>,
    function_name: &str,
    qualifier: Option<&str>,
    alarm: AlarmInfo,
    window: Window,
    settings: &RunConfig,
) -> Result<Evidence, CollectError> {
    let bound = Duration::from_secs(settings.collect_timeout_seconds);
    let timed_out = |what: &str| format!("{what}: timed out after {} s", bound.as_secs());
    let function_then_logs = async {
        let info = function(sources.functions, function_name, qualifier, bound).await?;
        let lines = tokio::time::timeout(
            bound,
            sources
                .telemetry
                .log_lines(&info.log_group(), window, settings.max_log_events),
        )
        .await
        .unwrap_or_else(|_| LogRead {
            notes: vec![timed_out("logs")],
            ..LogRead::default()
        });
        Ok::<_, CollectError>((info, lines))
    };
    let changes = async {
        match sources.changes {
            Some(log) => recent_changes(log, function_name, window.end_ms, bound).await,
            None => ChangeLookup::default(),
        }
    };
    let (read, metrics, changes) = tokio::join!(
        function_then_logs,
        tokio::time::timeout(bound, sources.telemetry.metrics(function_name, window)),
        changes,
    );
    let (info, read) = read?;
    let (metrics, mut notes) = metrics.unwrap_or_else(|_| (Vec::new(), vec![timed_out("metrics")]));
    notes.extend(read.notes);
    notes.extend(changes.note);
    let changes = changes.changes;
    let lines = read.lines;
    let reports = logs::parse_reports(&lines);
    Ok(Evidence {
        function: info,
        alarm,
        window,
        metrics,
        reports,
        logs: lines,
        logs_complete: read.complete,
        notes,
        changes,
    })
}

/// The changes to `function` in the day before `alarm_ms`, newest first and
/// at most [`ChangeLookup::KEPT`], within `bound`; a failure is a note.
pub async fn recent_changes(
    log: &dyn crate::ports::ChangeLog,
    function: &str,
    alarm_ms: Millis,
    bound: Duration,
) -> ChangeLookup {
    let day = Window {
        start_ms: alarm_ms - CHANGES_LOOKBACK_MS,
        end_ms: alarm_ms,
    };
    match tokio::time::timeout(bound, log.changes(function, day)).await {
        Ok(Ok(mut changes)) => {
            changes.sort_by_key(|c| std::cmp::Reverse(c.at_ms));
            changes.truncate(ChangeLookup::KEPT);
            ChangeLookup {
                changes,
                note: None,
            }
        }
        Ok(Err(e)) => ChangeLookup {
            changes: Vec::new(),
            note: Some(format!("recent changes: {e}")),
        },
        Err(_) => ChangeLookup {
            changes: Vec::new(),
            note: Some(format!(
                "recent changes: timed out after {} s",
                bound.as_secs()
            )),
        },
    }
}

/// The window of evidence before an alarm at `alarm_ms`.
pub fn window_before(alarm_ms: Millis, minutes: u32) -> Window {
    Window {
        start_ms: alarm_ms - i64::from(minutes) * 60_000,
        end_ms: alarm_ms,
    }
}
