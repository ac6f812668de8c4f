//! A sweep's figures: a function's invocation reports added up per memory
//! size and UTC day, wherever they came from — CloudWatch Logs Insights'
//! `stats` (the service adds up every line of the window, however many) or
//! the raw lines read one by one (capped). The fleet's sizing reads only
//! these, so both sources give the same recommendation for the same traffic.
//! Pure.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{InvocationReport, InvocationStatus, Millis};
use crate::stats::{percentile, ran_out_of_memory};

/// A UTC day in milliseconds.
pub const DAY_MS: Millis = 86_400_000;

/// Where a sweep's figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FiguresSource {
    /// One CloudWatch Logs Insights query over the whole window.
    LogsInsights,
    /// The window's raw log lines, read with FilterLogEvents (capped).
    LogLines,
}

impl fmt::Display for FiguresSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FiguresSource::LogsInsights => "CloudWatch Logs Insights",
            FiguresSource::LogLines => "the raw log lines",
        })
    }
}

/// One memory size's invocations on one UTC day.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DayFigures {
    /// The memory size the invocations ran at (MB); 0 for out-of-memory
    /// lines outside a REPORT, which name no size.
    pub memory_mb: u32,
    /// The day's start (ms since the Unix epoch, UTC midnight).
    pub day_ms: Millis,
    /// REPORT lines.
    pub invocations: u64,
    /// Invocations that ran out of memory (a platform out-of-memory, or a
    /// runtime's own out-of-memory message).
    pub out_of_memory: u64,
    /// Invocations that failed (out-of-memory ones included).
    pub errors: u64,
    /// Invocations that ran past the timeout.
    pub timeouts: u64,
    /// The largest Max Memory Used (MB).
    pub max_used_mb: u32,
    /// The 99th percentile of Max Memory Used (MB).
    pub p99_used_mb: u32,
    /// The median duration (ms).
    pub p50_ms: f64,
    /// The 95th percentile of duration (ms).
    pub p95_ms: f64,
    /// The 99th percentile of duration (ms).
    pub p99_ms: f64,
    /// The longest duration (ms).
    pub max_ms: f64,
    /// The mean billed duration (ms).
    pub mean_billed_ms: f64,
}

/// What a sweep knows about a function's traffic over its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Where they came from.
    pub source: FiguresSource,
    /// One row per memory size and day that had traffic.
    pub rows: Vec<DayFigures>,
    /// Whether every line of the window is counted (Logs Insights always;
    /// raw lines only when none was capped and no read failed): an
    /// out-of-memory invocation must not hide in what was not read.
    pub complete: bool,
}

/// Rows added up. Percentiles of several rows are their largest (an upper
/// bound: a sizing never rests on less than what a day showed), means are
/// weighted by invocations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// REPORT lines.
    pub invocations: u64,
    /// Invocations that ran out of memory.
    pub out_of_memory: u64,
    /// Invocations that failed.
    pub errors: u64,
    /// Invocations that timed out.
    pub timeouts: u64,
    /// The largest Max Memory Used (MB).
    pub max_used_mb: u32,
    /// The largest of the rows' 99th percentiles of Max Memory Used (MB).
    pub p99_used_mb: u32,
    /// Invocation-weighted mean of the rows' medians (ms).
    pub p50_ms: f64,
    /// The largest of the rows' 95th percentiles of duration (ms).
    pub p95_ms: f64,
    /// The largest of the rows' 99th percentiles of duration (ms).
    pub p99_ms: f64,
    /// The longest duration (ms).
    pub max_ms: f64,
    /// The invocation-weighted mean billed duration (ms).
    pub mean_billed_ms: f64,
    /// Distinct days with invocations.
    pub days: u32,
}

impl Summary {
    /// The share of invocations that failed or timed out.
    pub fn failure_rate(&self) -> f64 {
        if self.invocations == 0 {
            return 0.0;
        }
        (self.errors + self.timeouts) as f64 / self.invocations as f64
    }
}

/// The start of the UTC day `ms` falls in.
pub fn day_of(ms: Millis) -> Millis {
    ms.div_euclid(DAY_MS) * DAY_MS
}

impl Figures {
    /// The figures of raw `reports` (a handled out-of-memory error counted
    /// as the report's own, as [`ran_out_of_memory`] does).
    pub fn of_reports(reports: &[InvocationReport], complete: bool) -> Figures {
        let mut groups: BTreeMap<(u32, Millis), Vec<&InvocationReport>> = BTreeMap::new();
        for r in reports {
            groups
                .entry((r.memory_size_mb, day_of(r.timestamp_ms)))
                .or_default()
                .push(r);
        }
        let rows = groups
            .into_iter()
            .map(|((memory_mb, day_ms), rs)| {
                let mut used: Vec<u32> = rs.iter().map(|r| r.max_memory_used_mb).collect();
                used.sort_unstable();
                let mut durations: Vec<f64> = rs.iter().map(|r| r.duration_ms).collect();
                durations.sort_by(f64::total_cmp);
                let pct = |p| percentile(&durations, p).unwrap_or(0.0);
                let n = rs.len() as u64;
                DayFigures {
                    memory_mb,
                    day_ms,
                    invocations: n,
                    out_of_memory: rs.iter().filter(|r| ran_out_of_memory(r)).count() as u64,
                    errors: rs
                        .iter()
                        .filter(|r| {
                            r.status == InvocationStatus::Error || r.function_error.is_some()
                        })
                        .count() as u64,
                    timeouts: rs
                        .iter()
                        .filter(|r| r.status == InvocationStatus::Timeout)
                        .count() as u64,
                    max_used_mb: used.last().copied().unwrap_or(0),
                    p99_used_mb: percentile(&used, 99.0).unwrap_or(0),
                    p50_ms: pct(50.0),
                    p95_ms: pct(95.0),
                    p99_ms: pct(99.0),
                    max_ms: durations.last().copied().unwrap_or(0.0),
                    mean_billed_ms: rs.iter().map(|r| r.billed_duration_ms).sum::<f64>()
                        / n.max(1) as f64,
                }
            })
            .collect();
        Figures {
            source: FiguresSource::LogLines,
            rows,
            complete,
        }
    }

    /// The rows `keep` selects, added up.
    pub fn summary(&self, keep: impl Fn(&DayFigures) -> bool) -> Summary {
        let mut s = Summary::default();
        let mut days = std::collections::BTreeSet::new();
        let (mut p50_weighted, mut billed_weighted) = (0.0, 0.0);
        for r in self.rows.iter().filter(|r| keep(r)) {
            s.out_of_memory += r.out_of_memory;
            if r.invocations == 0 {
                continue;
            }
            days.insert(r.day_ms);
            s.invocations += r.invocations;
            s.errors += r.errors;
            s.timeouts += r.timeouts;
            s.max_used_mb = s.max_used_mb.max(r.max_used_mb);
            s.p99_used_mb = s.p99_used_mb.max(r.p99_used_mb);
            s.p95_ms = s.p95_ms.max(r.p95_ms);
            s.p99_ms = s.p99_ms.max(r.p99_ms);
            s.max_ms = s.max_ms.max(r.max_ms);
            p50_weighted += r.p50_ms * r.invocations as f64;
            billed_weighted += r.mean_billed_ms * r.invocations as f64;
        }
        if s.invocations > 0 {
            s.p50_ms = p50_weighted / s.invocations as f64;
            s.mean_billed_ms = billed_weighted / s.invocations as f64;
        }
        s.days = days.len() as u32;
        s
    }

    /// Every row added up, per memory size (sizes with invocations only).
    pub fn by_size(&self) -> BTreeMap<u32, Summary> {
        let sizes: std::collections::BTreeSet<u32> = self
            .rows
            .iter()
            .filter(|r| r.memory_mb > 0 && r.invocations > 0)
            .map(|r| r.memory_mb)
            .collect();
        sizes
            .into_iter()
            .map(|size| (size, self.summary(|r| r.memory_mb == size)))
            .collect()
    }

    /// The memory sizes that ran out of memory (a size each).
    pub fn out_of_memory_sizes(&self) -> Vec<u32> {
        self.rows
            .iter()
            .filter(|r| r.out_of_memory > 0 && r.memory_mb > 0)
            .map(|r| r.memory_mb)
            .collect()
    }

    /// Out-of-memory lines that name no size (outside any REPORT).
    pub fn unattributed_out_of_memory(&self) -> u64 {
        self.rows
            .iter()
            .filter(|r| r.memory_mb == 0)
            .map(|r| r.out_of_memory)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(at: Millis, size: u32, used: u32, ms: f64, oom: bool) -> InvocationReport {
        InvocationReport {
            request_id: "r".into(),
            timestamp_ms: at,
            duration_ms: ms,
            billed_duration_ms: ms.ceil(),
            memory_size_mb: size,
            max_memory_used_mb: used,
            init_duration_ms: None,
            status: if oom {
                InvocationStatus::Error
            } else {
                InvocationStatus::Success
            },
            error_type: oom.then(|| crate::logs::OUT_OF_MEMORY_ERROR.to_owned()),
            log_stream: None,
            function_error: None,
        }
    }

    #[test]
    fn reports_are_added_up_per_size_and_day() {
        let mut reports: Vec<_> = (0..100)
            .map(|i| {
                report(
                    i * 1_000,
                    1024,
                    100 + i as u32,
                    10.0 * (i + 1) as f64,
                    false,
                )
            })
            .collect();
        reports.push(report(DAY_MS + 5, 1024, 900, 5.0, false));
        reports.push(report(DAY_MS + 6, 512, 512, 7.0, true));
        let f = Figures::of_reports(&reports, true);
        assert_eq!(f.rows.len(), 3, "{f:?}");
        let day0 = &f.rows.iter().find(|r| r.day_ms == 0).unwrap();
        assert_eq!((day0.invocations, day0.max_used_mb), (100, 199));
        assert_eq!(day0.p99_used_mb, 198);
        assert_eq!(day0.p50_ms, 500.0);
        let at_1024 = f.summary(|r| r.memory_mb == 1024);
        assert_eq!((at_1024.invocations, at_1024.days), (101, 2));
        assert_eq!(at_1024.max_used_mb, 900, "the maximum, not a percentile");
        assert_eq!(f.out_of_memory_sizes(), vec![512]);
        assert_eq!(f.by_size().len(), 2);
        let all = f.summary(|_| true);
        assert_eq!((all.out_of_memory, all.errors), (1, 1));
        assert!((all.failure_rate() - 1.0 / 102.0).abs() < 1e-9);
    }

    #[test]
    fn days_are_utc_days() {
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), DAY_MS);
        assert_eq!(day_of(-1), -DAY_MS);
    }
}
