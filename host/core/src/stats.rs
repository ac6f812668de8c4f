//! Statistics over an incident's invocation reports: one home for the counts
//! (errors, timeouts, out-of-memory) over which the verdict, the AI prompt and
//! the report read percentiles, all with the one nearest-rank [`percentile`]
//! (0–100 scale) the rules use too.

use crate::logs::OUT_OF_MEMORY_ERROR;
use crate::model::{InvocationReport, InvocationStatus};

/// The nearest-rank percentile (0–100) of sorted values, shared with the rules.
pub use autorepair_lambda::percentile;

/// Whether an invocation ran out of memory: the platform said so, or it failed
/// at the limit (a report without memory figures never did).
pub fn ran_out_of_memory(r: &InvocationReport) -> bool {
    r.error_type.as_deref() == Some(OUT_OF_MEMORY_ERROR)
        || r.function_error
            .as_deref()
            .is_some_and(|e| autorepair_lambda::signatures::out_of_memory(e).is_some())
        || (r.status != InvocationStatus::Success
            && r.memory_size_mb > 0
            && r.max_memory_used_mb >= r.memory_size_mb)
}

/// Counts and sorted distributions over a set of invocation reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportStats {
    /// Reports counted.
    pub invocations: usize,
    /// Invocations that failed, timeouts not counted; a handled exception
    /// the function's runtime logged counts (REPORT says success).
    pub errors: usize,
    /// Invocations that timed out.
    pub timeouts: usize,
    /// Invocations that ran out of memory (see [`ran_out_of_memory`]).
    pub out_of_memory: usize,
    /// Highest max-memory-used over memory size.
    pub peak_memory_ratio: f64,
    /// Max Memory Used of every invocation, ascending.
    pub memory_mb: Vec<u32>,
    /// Duration of every invocation, ascending.
    pub durations_ms: Vec<f64>,
    /// The longest init duration (ms), when any report had one (a cold start).
    pub init_max_ms: Option<f64>,
}

impl ReportStats {
    /// The statistics of `reports`, in any order.
    pub fn of<'a>(reports: impl IntoIterator<Item = &'a InvocationReport>) -> ReportStats {
        let mut s = ReportStats::default();
        for r in reports {
            s.invocations += 1;
            match r.status {
                // A handled exception: Lambda's REPORT says success.
                InvocationStatus::Success if r.function_error.is_some() => s.errors += 1,
                InvocationStatus::Success => {}
                InvocationStatus::Error => s.errors += 1,
                InvocationStatus::Timeout => s.timeouts += 1,
            }
            if ran_out_of_memory(r) {
                s.out_of_memory += 1;
            }
            if r.memory_size_mb > 0 {
                s.peak_memory_ratio = s
                    .peak_memory_ratio
                    .max(f64::from(r.max_memory_used_mb) / f64::from(r.memory_size_mb));
            }
            s.memory_mb.push(r.max_memory_used_mb);
            s.durations_ms.push(r.duration_ms);
            if let Some(init) = r.init_duration_ms {
                s.init_max_ms = Some(s.init_max_ms.map_or(init, |m: f64| m.max(init)));
            }
        }
        s.memory_mb.sort_unstable();
        s.durations_ms.sort_by(f64::total_cmp);
        s
    }

    /// The `p`-th percentile (0–100) of the durations; 0 with no reports.
    pub fn duration_percentile(&self, p: f64) -> f64 {
        percentile(&self.durations_ms, p).unwrap_or(0.0)
    }

    /// The `p`-th percentile (0–100) of max memory used; 0 with no reports.
    pub fn memory_percentile(&self, p: f64) -> u32 {
        percentile(&self.memory_mb, p).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: InvocationStatus, used: u32, size: u32, ms: f64) -> InvocationReport {
        InvocationReport {
            request_id: String::new(),
            timestamp_ms: 0,
            duration_ms: ms,
            billed_duration_ms: ms,
            memory_size_mb: size,
            max_memory_used_mb: used,
            init_duration_ms: None,
            status,
            error_type: None,
            log_stream: None,
            function_error: None,
        }
    }

    #[test]
    fn counts_failures_out_of_memory_and_sorts_distributions() {
        let reports = [
            report(InvocationStatus::Success, 100, 256, 30.0),
            report(InvocationStatus::Error, 256, 256, 10.0),
            report(InvocationStatus::Timeout, 120, 256, 3000.0),
        ];
        let s = ReportStats::of(&reports);
        assert_eq!((s.invocations, s.errors, s.timeouts), (3, 1, 1));
        assert_eq!(s.out_of_memory, 1, "the error at the limit");
        assert_eq!(s.peak_memory_ratio, 1.0);
        assert_eq!(s.durations_ms, vec![10.0, 30.0, 3000.0]);
        assert_eq!(s.memory_percentile(50.0), 120);
        assert_eq!(s.duration_percentile(95.0), 3000.0);
    }
}
