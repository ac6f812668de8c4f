//! Stage 2: collect. The function's configuration and tags, its CloudWatch
//! metrics and its log lines, all three at once, each bounded in time and size.
//! A missing piece (no log group, no Lambda Insights) is a note in the evidence,
//! never fatal; only a function that cannot be read at all stops the run.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use serde::{Deserialize, Serialize};

use crate::aws::{Aws, describe};
use crate::config::RunConfig;
use crate::logs;
use crate::model::{
    AlarmInfo, Evidence, FunctionInfo, LogLine, MetricSeries, Millis, Point, Window,
};

/// What the execute stage needs besides the evidence: how to change the
/// function safely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionState {
    pub name: String,
    pub arn: String,
    /// The alias the alarm names, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub memory_mb: u32,
    /// Guards the update against a change made since we looked, when the service gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
    pub code_sha256: String,
    pub log_group: String,
    /// The function's tags (the opt-in check).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("function {0} not found")]
    NotFound(String),
    #[error("reading function {name}: {message}")]
    Config { name: String, message: String },
}

/// The statistics collected for every function: (metric, statistic).
const LAMBDA_METRICS: &[(&str, &str)] = &[
    ("Invocations", "Sum"),
    ("Errors", "Sum"),
    ("Throttles", "Sum"),
    ("Duration", "Average"),
    ("Duration", "Maximum"),
    ("ConcurrentExecutions", "Maximum"),
];
/// Lambda Insights (present only when the extension is installed).
const INSIGHTS_METRICS: &[(&str, &str)] = &[
    ("used_memory_max", "Maximum"),
    ("memory_utilization", "Maximum"),
];
/// One-minute points: the alarm's own resolution.
const PERIOD_S: i32 = 60;

/// Lines worth keeping: the server filter where the service honours it
/// (moto does not), and the same test applied to every line client-side.
pub const LOG_FILTER: &str = "?REPORT ?\"platform.report\" ?\"Task timed out\" ?\"Runtime exited\" ?ERROR ?Error ?MemoryError ?\"out of memory\" ?OutOfMemory";

/// Reads the function's configuration and tags (for `qualifier`, the version
/// behind the alias).
pub async fn function(
    aws: &Aws,
    name: &str,
    qualifier: Option<&str>,
) -> Result<(FunctionInfo, FunctionState), CollectError> {
    let config = aws
        .lambda
        .get_function_configuration()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_owned))
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
            {
                CollectError::NotFound(name.to_owned())
            } else {
                CollectError::Config {
                    name: name.to_owned(),
                    message: describe(&e),
                }
            }
        })?;
    let arn = config.function_arn().unwrap_or_default().to_owned();
    // Tags live on the unqualified function.
    let unqualified = match qualifier {
        Some(q) => arn
            .strip_suffix(&format!(":{q}"))
            .unwrap_or(&arn)
            .to_owned(),
        None => arn.clone(),
    };
    let tags: BTreeMap<String, String> = match aws
        .lambda
        .list_tags()
        .resource(&unqualified)
        .send()
        .await
    {
        Ok(out) => out
            .tags()
            .map(|t| t.clone().into_iter().collect())
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %describe(&e), "could not read tags; treating the function as not opted in");
            BTreeMap::new()
        }
    };
    let memory_mb = config.memory_size().unwrap_or(128).max(0) as u32;
    let log_group = log_group_of(config.logging_config(), name);
    let info = FunctionInfo {
        name: name.to_owned(),
        arn: arn.clone(),
        runtime: config
            .runtime()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
        architecture: config
            .architectures()
            .first()
            .map_or("x86_64".to_owned(), |a| a.as_str().to_owned()),
        memory_mb,
        timeout_s: config.timeout().unwrap_or(3).max(0) as u32,
        qualifier: qualifier.map(str::to_owned),
        tags: tags.clone(),
    };
    let state = FunctionState {
        name: name.to_owned(),
        arn: unqualified,
        alias: qualifier.map(str::to_owned),
        memory_mb,
        revision_id: config.revision_id().map(str::to_owned),
        code_sha256: config.code_sha256().unwrap_or_default().to_owned(),
        log_group,
        tags,
    };
    Ok((info, state))
}

/// Collects everything for `window`; the three sources run concurrently.
pub async fn collect(
    aws: &Aws,
    function_name: &str,
    qualifier: Option<&str>,
    alarm: AlarmInfo,
    window: Window,
    settings: &RunConfig,
) -> Result<(Evidence, FunctionState), CollectError> {
    let bound = Duration::from_secs(settings.collect_timeout_seconds);
    let (config, metrics, lines) = tokio::join!(
        tokio::time::timeout(bound, function(aws, function_name, qualifier)),
        tokio::time::timeout(bound, metrics(aws, function_name, window)),
        tokio::time::timeout(
            bound,
            log_lines(
                aws,
                function_name,
                qualifier,
                window,
                settings.max_log_events
            )
        ),
    );
    let (info, state) = config.map_err(|_| CollectError::Config {
        name: function_name.to_owned(),
        message: format!("timed out after {} s", bound.as_secs()),
    })??;
    let mut notes = Vec::new();
    let metrics = metrics.unwrap_or_else(|_| {
        notes.push(format!("metrics: timed out after {} s", bound.as_secs()));
        (Vec::new(), Vec::new())
    });
    let (metrics, metric_notes) = metrics;
    notes.extend(metric_notes);
    let (lines, log_notes) = lines.unwrap_or_else(|_| {
        (
            Vec::new(),
            vec![format!("logs: timed out after {} s", bound.as_secs())],
        )
    });
    notes.extend(log_notes);
    let reports = logs::parse_reports(&lines);
    Ok((
        Evidence {
            function: info,
            alarm,
            window,
            metrics,
            reports,
            logs: lines,
            notes,
        },
        state,
    ))
}

/// GetMetricData for the Lambda and Lambda Insights series over `window`.
pub async fn metrics(
    aws: &Aws,
    function_name: &str,
    window: Window,
) -> (Vec<MetricSeries>, Vec<String>) {
    let mut queries = Vec::new();
    let mut wanted = Vec::new();
    let all = LAMBDA_METRICS
        .iter()
        .map(|m| ("AWS/Lambda", "FunctionName", m))
        .chain(
            INSIGHTS_METRICS
                .iter()
                .map(|m| ("LambdaInsights", "function_name", m)),
        );
    for (i, (namespace, dimension, (name, stat))) in all.enumerate() {
        let query = Dimension::builder()
            .name(dimension)
            .value(function_name)
            .build();
        let metric = Metric::builder()
            .namespace(namespace)
            .metric_name(*name)
            .dimensions(query)
            .build();
        let stat = MetricStat::builder()
            .metric(metric)
            .period(PERIOD_S)
            .stat(*stat)
            .build();
        queries.push(
            MetricDataQuery::builder()
                .id(format!("m{i}"))
                .metric_stat(stat)
                .return_data(true)
                .build(),
        );
        wanted.push((namespace, *name, stat_name(i)));
    }
    let mut series: Vec<MetricSeries> = wanted
        .iter()
        .map(|(namespace, name, stat)| MetricSeries {
            namespace: (*namespace).to_owned(),
            name: (*name).to_owned(),
            statistic: (*stat).to_owned(),
            unit: String::new(),
            points: Vec::new(),
        })
        .collect();
    let mut notes = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let result = aws
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(DateTime::from_millis(window.start_ms))
            .end_time(DateTime::from_millis(window.end_ms))
            .set_next_token(next.take())
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                notes.push(format!("metrics: {}", describe(&e)));
                break;
            }
        };
        for r in out.metric_data_results() {
            let Some(i) = r
                .id()
                .and_then(|id| id.strip_prefix('m'))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if let Some(s) = series.get_mut(i) {
                s.points
                    .extend(r.timestamps().iter().zip(r.values()).map(|(t, v)| Point {
                        timestamp_ms: t.to_millis().unwrap_or_default(),
                        value: *v,
                    }));
            }
        }
        match out.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
    }
    for s in &mut series {
        s.points.sort_by_key(|p| p.timestamp_ms);
    }
    let insights = series
        .iter()
        .any(|s| s.namespace == "LambdaInsights" && !s.points.is_empty());
    if !insights {
        notes.push("Lambda Insights metrics: none (extension not installed?)".into());
    }
    series.retain(|s| !s.points.is_empty() || s.namespace == "AWS/Lambda");
    (series, notes)
}

fn stat_name(i: usize) -> &'static str {
    LAMBDA_METRICS
        .iter()
        .chain(INSIGHTS_METRICS)
        .nth(i)
        .map_or("Sum", |(_, s)| s)
}

/// FilterLogEvents on the function's log group, paginated, kept to the lines
/// that matter, capped at `cap`.
pub async fn log_lines(
    aws: &Aws,
    function_name: &str,
    qualifier: Option<&str>,
    window: Window,
    cap: usize,
) -> (Vec<LogLine>, Vec<String>) {
    // The log group comes from the function's LoggingConfig; read it again here
    // rather than wait for the config branch, so the three sources overlap.
    let group = match aws
        .lambda
        .get_function_configuration()
        .function_name(function_name)
        .set_qualifier(qualifier.map(str::to_owned))
        .send()
        .await
    {
        Ok(c) => log_group_of(c.logging_config(), function_name),
        Err(_) => format!("/aws/lambda/{function_name}"),
    };
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let result = aws
            .logs
            .filter_log_events()
            .log_group_name(&group)
            .start_time(window.start_ms)
            .end_time(window.end_ms)
            .filter_pattern(LOG_FILTER)
            .set_next_token(next.take())
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let missing = e
                    .as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception());
                notes.push(if missing {
                    format!("logs: log group {group} does not exist")
                } else {
                    format!("logs: {}", describe(&e))
                });
                break;
            }
        };
        for event in out.events() {
            let message = event.message().unwrap_or_default();
            if relevant(message) {
                lines.push(LogLine {
                    timestamp_ms: event.timestamp().unwrap_or_default(),
                    message: message.to_owned(),
                });
            }
        }
        if lines.len() >= cap {
            lines.truncate(cap);
            notes.push(format!("logs: capped at {cap} events"));
            break;
        }
        match out.next_token() {
            Some(token) if !out.events().is_empty() => next = Some(token.to_owned()),
            _ => break,
        }
    }
    (lines, notes)
}

/// The function's log group: its LoggingConfig's, else Lambda's default.
fn log_group_of(logging: Option<&aws_sdk_lambda::types::LoggingConfig>, name: &str) -> String {
    logging
        .and_then(|l| l.log_group())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("/aws/lambda/{name}"))
}

/// The client-side twin of [`LOG_FILTER`].
pub fn relevant(message: &str) -> bool {
    use autorepair_signatures as sig;
    message.contains("REPORT RequestId:")
        || message.contains("platform.report")
        || message.contains(sig::TASK_TIMED_OUT)
        || message.contains(sig::RUNTIME_EXITED)
        || message.contains("ERROR")
        || message.contains("Error")
        || sig::out_of_memory(message).is_some()
        || sig::downstream(message).is_some()
}

/// The window of evidence before an alarm at `alarm_ms`.
pub fn window_before(alarm_ms: Millis, minutes: u32) -> Window {
    Window {
        start_ms: alarm_ms - i64::from(minutes) * 60_000,
        end_ms: alarm_ms,
    }
}
