//! A sweep's figures from CloudWatch Logs Insights: one query adds up every
//! REPORT line of the window per memory size and UTC day, however many there
//! are, in the seconds the service takes — where reading the lines one by one
//! stops at a cap and leaves a busy function unsized.

use std::time::Duration;

use crate::figures::{DayFigures, Figures, FiguresSource};
use crate::model::Window;

/// The query. Lambda's REPORT fields are discovered by the service
/// (`@memorySize` and `@maxMemoryUsed` in bytes, durations in ms); a
/// runtime's own out-of-memory line (Python's `MemoryError`, Node.js's heap)
/// has no size and lands in a row of its own. Documented in docs/fleet.md.
pub const QUERY: &str = r#"filter @type = "REPORT" or @message like /Runtime\.OutOfMemory|MemoryError|JavaScript heap out of memory/
| fields @memorySize / 1000000 as size_mb, @maxMemoryUsed / 1000000 as used_mb,
    strcontains(@message, "Runtime.OutOfMemory") + strcontains(@message, "MemoryError") + strcontains(@message, "heap out of memory") as oom_mark,
    strcontains(@message, "Status: error") as error_mark,
    strcontains(@message, "Status: timeout") as timeout_mark
| stats count(@maxMemoryUsed) as invocations, sum(oom_mark) as out_of_memory,
    sum(error_mark) as errors, sum(timeout_mark) as timeouts,
    max(used_mb) as max_used_mb, pct(used_mb, 99) as p99_used_mb,
    pct(@duration, 50) as p50_ms, pct(@duration, 95) as p95_ms, pct(@duration, 99) as p99_ms,
    max(@duration) as max_ms, avg(@billedDuration) as mean_billed_ms
  by size_mb, bin(1d)"#;

/// Logs Insights' price per GB scanned (us-east-1), for the cost note.
pub const USD_PER_GB_SCANNED: f64 = 0.005;

/// The rows of a `stats … by size_mb, bin(1d)` answer, each a list of
/// (field, value) as GetQueryResults gives them.
pub fn parse_rows(rows: &[Vec<(String, String)>]) -> Result<Vec<DayFigures>, String> {
    rows.iter().map(|row| parse_row(row)).collect()
}

fn parse_row(row: &[(String, String)]) -> Result<DayFigures, String> {
    let field = |name: &str| {
        row.iter()
            .find(|(f, _)| f == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let number = |name: &str| -> Result<f64, String> {
        match field(name) {
            None => Ok(0.0),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("field {name} is {v:?}, not a number")),
        }
    };
    if field("invocations").is_none() && field("out_of_memory").is_none() {
        let names: Vec<&str> = row.iter().map(|(f, _)| f.as_str()).collect();
        return Err(format!(
            "the answer is not the sweep's stats (fields {names:?}): the service did not run the aggregation"
        ));
    }
    let day = field("bin(1d)").ok_or("a row without its day (bin(1d))")?;
    let day_ms = crate::dates::parse_timestamp(&format!("{day}Z"))
        .map_err(|e| format!("the day {day:?}: {e}"))?;
    let mb = |x: f64| x.round().min(f64::from(u32::MAX)) as u32;
    Ok(DayFigures {
        memory_mb: mb(number("size_mb")?),
        day_ms: crate::figures::day_of(day_ms),
        invocations: number("invocations")? as u64,
        out_of_memory: number("out_of_memory")? as u64,
        errors: number("errors")? as u64,
        timeouts: number("timeouts")? as u64,
        // Max Memory Used is whole MB in the REPORT line: ceil keeps a
        // percentile the service interpolated from falling below it.
        max_used_mb: mb(number("max_used_mb")?.ceil()),
        p99_used_mb: mb(number("p99_used_mb")?.ceil()),
        p50_ms: number("p50_ms")?,
        p95_ms: number("p95_ms")?,
        p99_ms: number("p99_ms")?,
        max_ms: number("max_ms")?,
        mean_billed_ms: number("mean_billed_ms")?,
    })
}

/// Runs [`QUERY`] over `group` in `window` and waits for its answer (the
/// caller bounds the wait). A busy account's concurrent-query quota is
/// waited out, briefly.
pub async fn figures(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    window: Window,
) -> Result<(Figures, Vec<String>), String> {
    use aws_sdk_cloudwatchlogs::types::QueryStatus;
    let describe = |e: &dyn std::fmt::Display| e.to_string();
    let mut pause = Duration::from_millis(200);
    let mut attempts = 0;
    let id = loop {
        let started = logs
            .start_query()
            .log_group_name(group)
            // Whole seconds, widened to cover the window's first and last ms.
            .start_time(window.start_ms.div_euclid(1000))
            .end_time((window.end_ms + 999).div_euclid(1000))
            .query_string(QUERY)
            .limit(10_000)
            .send()
            .await;
        match started {
            Ok(out) => break out.query_id().unwrap_or_default().to_owned(),
            Err(e)
                if attempts < 5
                    && e.as_service_error()
                        .is_some_and(|s| s.is_limit_exceeded_exception()) =>
            {
                attempts += 1;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                let missing = e
                    .as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception());
                return Err(if missing {
                    format!("log group {group} does not exist")
                } else {
                    format!("StartQuery: {}", super::describe(&e))
                });
            }
        }
    };
    let mut pause = Duration::from_millis(100);
    loop {
        let out = logs
            .get_query_results()
            .query_id(&id)
            .send()
            .await
            .map_err(|e| format!("GetQueryResults: {}", super::describe(&e)))?;
        match out.status() {
            Some(QueryStatus::Complete) => {
                let rows: Vec<Vec<(String, String)>> = out
                    .results()
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|f| {
                                (
                                    f.field().unwrap_or_default().to_owned(),
                                    f.value().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect()
                    })
                    .collect();
                let rows = parse_rows(&rows)?;
                let mut notes = Vec::new();
                if let Some(stats) = out.statistics() {
                    let gb = stats.bytes_scanned() / 1e9;
                    notes.push(format!(
                        "figures: Logs Insights counted {:.0} records, scanned {:.1} MB (about ${:.4})",
                        stats.records_matched(),
                        stats.bytes_scanned() / 1e6,
                        gb * USD_PER_GB_SCANNED
                    ));
                }
                return Ok((
                    Figures {
                        source: FiguresSource::LogsInsights,
                        rows,
                        complete: true,
                    },
                    notes,
                ));
            }
            Some(QueryStatus::Scheduled | QueryStatus::Running) | None => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Some(other) => {
                return Err(format!("the query ended {}", describe(&other.as_str())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_answer_becomes_rows_per_size_and_day() {
        let rows = parse_rows(&[
            row(&[
                ("size_mb", "1024"),
                ("bin(1d)", "2026-12-01 00:00:00.000"),
                ("invocations", "200000"),
                ("out_of_memory", "0"),
                ("errors", "3"),
                ("timeouts", "0"),
                ("max_used_mb", "181"),
                ("p99_used_mb", "170.4"),
                ("p50_ms", "120.5"),
                ("p95_ms", "300"),
                ("p99_ms", "410"),
                ("max_ms", "900.25"),
                ("mean_billed_ms", "131"),
            ]),
            row(&[
                ("bin(1d)", "2026-12-02 00:00:00.000"),
                ("out_of_memory", "1"),
            ]),
        ])
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].memory_mb, 1024);
        assert_eq!(rows[0].invocations, 200_000);
        assert_eq!(rows[0].p99_used_mb, 171, "rounded up, never down");
        assert_eq!(
            crate::dates::day(rows[0].day_ms),
            "2026-12-01",
            "{:?}",
            rows[0]
        );
        assert_eq!((rows[1].memory_mb, rows[1].out_of_memory), (0, 1));
        assert_eq!(crate::dates::day(rows[1].day_ms), "2026-12-02");
    }

    #[test]
    fn an_answer_that_is_not_the_aggregation_is_refused_with_why() {
        let e = parse_rows(&[row(&[("@message", "REPORT …"), ("@timestamp", "x")])]).unwrap_err();
        assert!(e.contains("not the sweep's stats"), "{e}");
        let e = parse_rows(&[row(&[
            ("bin(1d)", "2026-12-01 00:00:00.000"),
            ("invocations", "many"),
        ])])
        .unwrap_err();
        assert!(e.contains("not a number"), "{e}");
    }
}
