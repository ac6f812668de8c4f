//! Builders for evidence in a rule's native unit tests.

use crate::{
    AlarmInfo, Evidence, FunctionInfo, InvocationReports, InvocationStatus, LogLine, MetricSeries,
    Report, Window,
};

/// Start of the synthetic window: 2026-01-01T00:00:00Z.
const T0_MS: i64 = 1_767_225_600_000;

/// Evidence for a function with `memory_mb` of memory, built up step by step.
pub struct EvidenceBuilder {
    evidence: Evidence,
}

impl EvidenceBuilder {
    pub fn new(memory_mb: u32) -> Self {
        EvidenceBuilder {
            evidence: Evidence {
                function: FunctionInfo {
                    name: "orders".into(),
                    arn: "arn:aws:lambda:eu-west-1:123456789012:function:orders".into(),
                    runtime: "nodejs20.x".into(),
                    architecture: "arm64".into(),
                    memory_mb,
                    timeout_s: 3,
                    qualifier: None,
                },
                alarm: AlarmInfo {
                    name: "orders-errors".into(),
                    metric: "Errors".into(),
                    state: "ALARM".into(),
                    reason: "Threshold Crossed".into(),
                },
                window: Window {
                    start_ms: T0_MS,
                    end_ms: ALARM_MS,
                },
                metrics: Vec::new(),
                reports: InvocationReports::empty(),
                logs: Vec::new(),
            },
        }
    }

    pub fn timeout_s(mut self, timeout_s: u32) -> Self {
        self.evidence.function.timeout_s = timeout_s;
        self
    }

    /// Adds `count` copies of `template`, one second apart.
    pub fn reports(mut self, count: usize, template: Report<'_>) -> Self {
        for _ in 0..count {
            let n = self.evidence.reports.len();
            self.evidence.reports.push(Report {
                timestamp_ms: T0_MS + n as i64 * 1_000,
                ..template
            });
        }
        self
    }

    pub fn log(mut self, message: &str) -> Self {
        let timestamp_ms = T0_MS + self.evidence.logs.len() as i64;
        self.evidence.logs.push(LogLine {
            timestamp_ms,
            message: message.into(),
        });
        self
    }

    /// A one-point series `name` (statistic Sum) with `value`.
    pub fn metric(mut self, name: &str, value: f64) -> Self {
        self.evidence.metrics.push(MetricSeries {
            namespace: "AWS/Lambda".into(),
            name: name.into(),
            statistic: "Sum".into(),
            unit: "Count".into(),
            timestamps_ms: vec![T0_MS],
            values: vec![value],
        });
        self
    }

    pub fn build(self) -> Evidence {
        self.evidence
    }
}

/// A report of an invocation with `memory_mb` configured and `used_mb` used.
pub fn report(memory_mb: u32, used_mb: u32, status: InvocationStatus) -> Report<'static> {
    Report {
        request_id: None,
        timestamp_ms: T0_MS,
        duration_ms: 120.0,
        billed_duration_ms: 121.0,
        memory_size_mb: memory_mb,
        max_memory_used_mb: used_mb,
        init_duration_ms: None,
        status,
        error_type: None,
    }
}

/// The end of [`EvidenceBuilder`]'s window: the alarm's time.
pub const ALARM_MS: i64 = T0_MS + 30 * 60_000;

/// An `UpdateFunctionCode` by "ci-deploy" `minutes` before [`ALARM_MS`].
pub fn deployed(minutes: i64) -> crate::changes::FunctionChange {
    crate::changes::FunctionChange {
        action: "UpdateFunctionCode".into(),
        at_ms: ALARM_MS - minutes * 60_000,
        by: "ci-deploy".into(),
        deployment: true,
    }
}

/// Runs `f` as if the host had handed `changes` over (what
/// [`crate::changes::recent`] answers), for a rule's native tests and its
/// tests under a plain WASI runner.
#[cfg(not(all(target_family = "wasm", not(feature = "local-statistics"))))]
pub fn with_changes<T>(changes: Vec<crate::changes::FunctionChange>, f: impl FnOnce() -> T) -> T {
    crate::changes::with_local(changes, f)
}
