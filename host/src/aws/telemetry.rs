//! [`Telemetry`] on CloudWatch: GetMetricData for the series, FilterLogEvents
//! for the log lines.

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use super::describe;
use crate::logs::{LOG_FILTER, relevant};
use crate::model::{LogLine, MetricSeries, Point, Window};
use crate::ports::{LogRead, Telemetry};

#[derive(Debug, Clone)]
pub struct CloudWatch {
    cloudwatch: aws_sdk_cloudwatch::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

impl CloudWatch {
    pub fn new(
        cloudwatch: aws_sdk_cloudwatch::Client,
        logs: aws_sdk_cloudwatchlogs::Client,
    ) -> CloudWatch {
        CloudWatch { cloudwatch, logs }
    }
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
/// One-minute points (the alarm's own resolution) for an incident's window;
/// a longer window (a sweep's 14 days) gets coarser points, at most
/// [`MAX_POINTS`] a series, in whole minutes as CloudWatch requires.
fn period_s(window: Window) -> i32 {
    let span_s = (window.end_ms - window.start_ms).max(0) / 1000;
    let minutes = (span_s / (MAX_POINTS * 60)).max(0) + 1;
    i32::try_from(minutes * 60).unwrap_or(i32::MAX)
}
const MAX_POINTS: i64 = 1_440;

#[async_trait]
impl Telemetry for CloudWatch {
    /// GetMetricData for the Lambda and Lambda Insights series over `window`.
    async fn metrics(
        &self,
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
                .period(period_s(window))
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
            let result = self
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

    /// FilterLogEvents on the function's log group, every page, kept to the
    /// lines that matter; past `cap`, the newest `cap` (those nearest the
    /// alarm) are kept.
    async fn log_lines(&self, group: &str, window: Window, cap: usize) -> LogRead {
        self.filter(group, LOG_FILTER, window, cap, relevant).await
    }

    async fn report_figures(
        &self,
        group: &str,
        window: Window,
    ) -> Result<(crate::figures::Figures, Vec<String>), String> {
        super::insights::figures(&self.logs, group, window).await
    }

    async fn search_lines(
        &self,
        group: &str,
        pattern: &str,
        window: Window,
        cap: usize,
    ) -> LogRead {
        self.filter(group, pattern, window, cap, |_| true).await
    }
}

impl CloudWatch {
    /// FilterLogEvents over `window` with `pattern`, page by page, the lines
    /// `keep` takes, the newest `cap` of them.
    async fn filter(
        &self,
        group: &str,
        pattern: &str,
        window: Window,
        cap: usize,
        keep: fn(&str) -> bool,
    ) -> LogRead {
        let mut lines = Vec::new();
        let mut failure = None;
        let mut next: Option<String> = None;
        let mut dropped = 0usize;
        loop {
            let result = self
                .logs
                .filter_log_events()
                .log_group_name(group)
                .start_time(window.start_ms)
                .end_time(window.end_ms)
                .filter_pattern(pattern)
                .set_next_token(next.clone())
                .send()
                .await;
            let out = match result {
                Ok(out) => out,
                Err(e) => {
                    let missing = e
                        .as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception());
                    failure = Some(if missing {
                        format!("log group {group} does not exist")
                    } else {
                        describe(&e)
                    });
                    break;
                }
            };
            for event in out.events() {
                let message = event.message().unwrap_or_default();
                if keep(message) {
                    lines.push(LogLine {
                        timestamp_ms: event.timestamp().unwrap_or_default(),
                        message: message.to_owned(),
                        log_stream: event.log_stream_name().map(str::to_owned),
                    });
                }
            }
            // Bounded memory however long the window: past twice the cap,
            // drop the oldest.
            if lines.len() >= cap.saturating_mul(2).max(1) {
                dropped += crate::logs::keep_newest(&mut lines, cap);
            }
            match next_page(next.as_deref(), out.next_token()) {
                Some(token) => next = Some(token),
                None => break,
            }
        }
        LogRead::new(lines, cap, dropped, failure)
    }
}

/// The token for the next FilterLogEvents page, if there is one. An empty
/// page with a token is not the end (the service searched part of the streams
/// and has more to search); a token repeated is.
fn next_page(current: Option<&str>, returned: Option<&str>) -> Option<String> {
    returned.filter(|t| current != Some(*t)).map(str::to_owned)
}

fn stat_name(i: usize) -> &'static str {
    LAMBDA_METRICS
        .iter()
        .chain(INSIGHTS_METRICS)
        .nth(i)
        .map_or("Sum", |(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn paging_goes_on_past_empty_pages_and_stops_on_a_repeated_token() {
        assert_eq!(next_page(None, Some("a")).as_deref(), Some("a"));
        assert_eq!(next_page(Some("a"), Some("b")).as_deref(), Some("b"));
        assert_eq!(next_page(Some("b"), Some("b")), None);
        assert_eq!(next_page(Some("b"), None), None);
    }
}
