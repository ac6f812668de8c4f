//! Evidence made in code, for tests and benchmarks: one builder instead of
//! hand-written [`Evidence`] values. Defaults describe a small, healthy
//! Node.js function (`orders`, 512 MB, 30 s) with an Errors alarm and a
//! 30-minute window from 0; every method changes one thing.
//!
//! ```
//! use autorepair_twins::EvidenceBuilder;
//! let e = EvidenceBuilder::new("orders-api")
//!     .memory(1024)
//!     .log_line(5, "REPORT RequestId: …")
//!     .build();
//! assert_eq!(e.function.memory_mb, 1024);
//! ```

use autorepair_core::model::{
    AlarmInfo, Evidence, FunctionInfo, InvocationReport, LogLine, MetricSeries, Millis, Window,
};

/// Builds an [`Evidence`]; see the module docs for the defaults.
#[derive(Debug, Clone)]
pub struct EvidenceBuilder(Evidence);

impl Default for EvidenceBuilder {
    fn default() -> Self {
        EvidenceBuilder::new("orders")
    }
}

impl EvidenceBuilder {
    /// Evidence about the function `name`.
    pub fn new(name: &str) -> EvidenceBuilder {
        EvidenceBuilder(Evidence {
            function: FunctionInfo {
                name: name.to_owned(),
                arn: String::new(),
                runtime: "nodejs22.x".into(),
                architecture: "arm64".into(),
                memory_mb: 512,
                timeout_s: 30,
                qualifier: None,
                tags: Default::default(),
                ..FunctionInfo::default()
            },
            alarm: AlarmInfo {
                name: format!("{name}-errors"),
                metric: "Errors".into(),
                state: "ALARM".into(),
                reason: "threshold crossed".into(),
            },
            window: Window {
                start_ms: 0,
                end_ms: 1_800_000,
            },
            metrics: Vec::new(),
            reports: Vec::new(),
            logs: Vec::new(),
            logs_complete: true,
            notes: Vec::new(),
            changes: Vec::new(),
        })
    }

    /// The function's configured memory.
    pub fn memory(mut self, mb: u32) -> Self {
        self.0.function.memory_mb = mb;
        self
    }

    pub fn arn(mut self, arn: &str) -> Self {
        self.0.function.arn = arn.to_owned();
        self
    }

    pub fn runtime(mut self, runtime: &str) -> Self {
        self.0.function.runtime = runtime.to_owned();
        self
    }

    pub fn timeout(mut self, seconds: u32) -> Self {
        self.0.function.timeout_s = seconds;
        self
    }

    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.0
            .function
            .tags
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// The alarm's name, metric and reason (its state stays ALARM).
    pub fn alarm(mut self, name: &str, metric: &str, reason: &str) -> Self {
        self.0.alarm.name = name.to_owned();
        self.0.alarm.metric = metric.to_owned();
        self.0.alarm.reason = reason.to_owned();
        self
    }

    /// The window the evidence covers, in Unix ms.
    pub fn window(mut self, start_ms: Millis, end_ms: Millis) -> Self {
        self.0.window = Window { start_ms, end_ms };
        self
    }

    pub fn metric(mut self, series: MetricSeries) -> Self {
        self.0.metrics.push(series);
        self
    }

    /// Parsed invocation reports, added to any already there.
    pub fn reports(mut self, reports: impl IntoIterator<Item = InvocationReport>) -> Self {
        self.0.reports.extend(reports);
        self
    }

    /// One log line at `timestamp_ms`.
    pub fn log_line(mut self, timestamp_ms: Millis, message: &str) -> Self {
        self.0.logs.push(LogLine {
            timestamp_ms,
            message: message.to_owned(),
            log_stream: None,
        });
        self
    }

    /// Log lines one millisecond apart from 0, in order.
    pub fn log_lines<'a>(self, messages: impl IntoIterator<Item = &'a str>) -> Self {
        messages
            .into_iter()
            .enumerate()
            .fold(self, |b, (i, m)| b.log_line(i as Millis, m))
    }

    pub fn note(mut self, note: &str) -> Self {
        self.0.notes.push(note.to_owned());
        self
    }

    pub fn build(self) -> Evidence {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autorepair_core::model::InvocationStatus;

    #[test]
    fn built_evidence_is_a_valid_evidence_file() {
        let report = InvocationReport {
            request_id: "r1".into(),
            timestamp_ms: 10,
            duration_ms: 120.0,
            billed_duration_ms: 121.0,
            memory_size_mb: 256,
            max_memory_used_mb: 256,
            init_duration_ms: None,
            status: InvocationStatus::Error,
            error_type: Some("Runtime.OutOfMemory".into()),
            log_stream: None,
            function_error: None,
        };
        let e = EvidenceBuilder::new("orders")
            .memory(256)
            .tag("autorepair", "enabled")
            .reports([report])
            .log_lines(["START", "END"])
            .build();
        assert_eq!(e.function.memory_mb, 256);
        assert_eq!(e.logs[1].timestamp_ms, 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.json");
        std::fs::write(&path, serde_json::to_string(&e).unwrap()).unwrap();
        let back: autorepair_core::model::Evidence =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
