//! Lambda log lines → invocation reports.
//!
//! Handles the text format (`REPORT RequestId: …\tDuration: …`), the JSON log
//! format (`"type":"platform.report"`), and the lines that refine a report's
//! status: `Task timed out after …`, `Runtime exited with error: signal: killed`,
//! and language runtimes' out-of-memory messages. Real logs vary (tabs turned to
//! spaces, stray spaces, fields added over the years), so fields are read by name;
//! lines that are not understood are skipped, never fatal.

use std::collections::HashMap;

use autorepair_signatures as sig;
use serde_json::Value;

use crate::model::{InvocationReport, InvocationStatus, LogLine};

/// The error type Lambda gives an invocation that ran out of memory.
pub const OUT_OF_MEMORY_ERROR: &str = "Runtime.OutOfMemory";
/// The error type Lambda gives an invocation whose runtime process died.
pub const EXIT_ERROR: &str = "Runtime.ExitError";

/// Parses every report in `lines`, in order, with status and error type refined
/// by the timeout, exit and out-of-memory lines that name the same request.
pub fn parse_reports(lines: &[LogLine]) -> Vec<InvocationReport> {
    let mut reports = Vec::new();
    let mut marks: HashMap<&str, (InvocationStatus, &'static str)> = HashMap::new();
    for line in lines {
        let message = line.message.as_str();
        if let Some(report) = parse_report(message, line.timestamp_ms) {
            reports.push(report);
        } else if let Some((request_id, mark)) = failure_mark(message) {
            // A later, more specific mark (OOM) wins over a generic one (exit).
            let entry = marks.entry(request_id).or_insert(mark);
            if mark.1 == OUT_OF_MEMORY_ERROR {
                *entry = mark;
            }
        }
    }
    for report in &mut reports {
        if let Some(&(status, error_type)) = marks.get(report.request_id.as_str()) {
            if report.status == InvocationStatus::Success {
                report.status = status;
            }
            if report.error_type.is_none() && status == InvocationStatus::Error {
                report.error_type = Some(error_type.to_owned());
            }
        }
    }
    reports
}

/// One report from one line, in either log format.
pub fn parse_report(message: &str, timestamp_ms: i64) -> Option<InvocationReport> {
    let trimmed = message.trim_start();
    if trimmed.starts_with('{') {
        return parse_json_report(trimmed, timestamp_ms);
    }
    let start = message.find("REPORT RequestId:")?;
    parse_text_report(&message[start + "REPORT ".len()..], timestamp_ms)
}

/// `RequestId: id\tDuration: 1.2 ms\tBilled Duration: 2 ms\t…`: words up to one
/// ending in `:` make a key, the next word is its value, and a unit may follow.
fn parse_text_report(fields: &str, timestamp_ms: i64) -> Option<InvocationReport> {
    let mut values: HashMap<String, &str> = HashMap::new();
    let mut key: Vec<&str> = Vec::new();
    let mut words = fields.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if let Some(last) = word.strip_suffix(':') {
            key.push(last);
            if let Some(value) = words.next() {
                values.insert(key.join(" "), value);
            }
            key.clear();
            if matches!(words.peek(), Some(&("ms" | "MB"))) {
                words.next();
            }
        } else {
            key.push(word);
        }
    }
    let number = |k: &str| {
        values
            .get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let duration_ms = number("Duration")?;
    let status = match values.get("Status").copied() {
        Some("error") => InvocationStatus::Error,
        Some("timeout") => InvocationStatus::Timeout,
        _ => InvocationStatus::Success,
    };
    Some(InvocationReport {
        request_id: (*values.get("RequestId")?).to_owned(),
        timestamp_ms,
        duration_ms,
        billed_duration_ms: number("Billed Duration").unwrap_or(duration_ms.ceil()),
        memory_size_mb: to_mb(number("Memory Size")?),
        max_memory_used_mb: to_mb(number("Max Memory Used")?),
        init_duration_ms: number("Init Duration"),
        status,
        error_type: values.get("Error Type").map(|s| (*s).to_owned()),
    })
}

/// `{"time":…,"type":"platform.report","record":{"requestId":…,"metrics":{…}}}`
fn parse_json_report(message: &str, timestamp_ms: i64) -> Option<InvocationReport> {
    let value: Value = serde_json::from_str(message).ok()?;
    if value.get("type")?.as_str()? != "platform.report" {
        return None;
    }
    let record = value.get("record")?;
    let metrics = record.get("metrics")?;
    let number = |k: &str| {
        metrics
            .get(k)
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let duration_ms = number("durationMs")?;
    let status = match record.get("status").and_then(Value::as_str) {
        Some("error" | "failure") => InvocationStatus::Error,
        Some("timeout") => InvocationStatus::Timeout,
        _ => InvocationStatus::Success,
    };
    Some(InvocationReport {
        request_id: record.get("requestId")?.as_str()?.to_owned(),
        timestamp_ms,
        duration_ms,
        billed_duration_ms: number("billedDurationMs").unwrap_or(duration_ms.ceil()),
        memory_size_mb: to_mb(number("memorySizeMB")?),
        max_memory_used_mb: to_mb(number("maxMemoryUsedMB")?),
        init_duration_ms: number("initDurationMs"),
        status,
        error_type: record
            .get("errorType")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn to_mb(value: f64) -> u32 {
    value.round().min(u32::MAX as f64) as u32
}

/// A non-report line that says how a request ended: its request id, and the
/// status and error type it implies.
fn failure_mark(message: &str) -> Option<(&str, (InvocationStatus, &'static str))> {
    let mark = if message.contains(sig::TASK_TIMED_OUT) {
        (InvocationStatus::Timeout, "")
    } else if sig::out_of_memory(message).is_some() {
        (InvocationStatus::Error, OUT_OF_MEMORY_ERROR)
    } else if message.contains(sig::RUNTIME_EXITED) {
        (InvocationStatus::Error, EXIT_ERROR)
    } else {
        return None;
    };
    Some((request_id_in(message)?, mark))
}

/// The first UUID-shaped word in `message`: Lambda request ids are UUIDs, and
/// text-format lines carry them in varying places.
pub fn request_id_in(message: &str) -> Option<&str> {
    message
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == ':')
        .find(|w| is_uuid(w))
}

fn is_uuid(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Lines worth keeping: the server filter where the service honours it
/// (moto does not), and the same test applied to every line client-side.
pub const LOG_FILTER: &str = "?REPORT ?\"platform.report\" ?\"Task timed out\" ?\"Runtime exited\" ?ERROR ?Error ?MemoryError ?\"out of memory\" ?OutOfMemory";

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "8f5e9a3c-1b2d-4c5e-9f70-123456789abc";

    fn line(message: &str) -> LogLine {
        LogLine {
            timestamp_ms: 1_000,
            message: message.to_owned(),
        }
    }

    #[test]
    fn parses_the_classic_text_report() {
        let msg = format!(
            "REPORT RequestId: {ID}\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t"
        );
        let r = parse_report(&msg, 5).unwrap();
        assert_eq!(r.request_id, ID);
        assert_eq!(r.duration_ms, 102.25);
        assert_eq!(r.billed_duration_ms, 103.0);
        assert_eq!((r.memory_size_mb, r.max_memory_used_mb), (128, 128));
        assert_eq!(r.status, InvocationStatus::Success);
        assert_eq!(r.timestamp_ms, 5);
    }

    #[test]
    fn parses_optional_fields_stray_spaces_and_xray() {
        let msg = format!(
            "REPORT RequestId: {ID} \tDuration: 3000.00 ms \tBilled Duration: 3000 ms\tMemory Size: 1024 MB\tMax Memory Used: 1024 MB\tInit Duration: 245.10 ms\tRestore Duration: 12.1 ms\tBilled Restore Duration: 13 ms\tStatus: error\tError Type: Runtime.OutOfMemory\t\nXRAY TraceId: 1-5e1b4151-5ac6c58f5b5daa6a2d5f2a4b\tSegmentId: 0a5b3c\tSampled: true\t"
        );
        let r = parse_report(&msg, 0).unwrap();
        assert_eq!(r.init_duration_ms, Some(245.1));
        assert_eq!(r.status, InvocationStatus::Error);
        assert_eq!(r.error_type.as_deref(), Some("Runtime.OutOfMemory"));
        assert_eq!(r.max_memory_used_mb, 1024);
    }

    #[test]
    fn parses_reports_whose_tabs_became_spaces() {
        let msg = format!(
            "REPORT RequestId: {ID} Duration: 5.5 ms Billed Duration: 6 ms Memory Size: 256 MB Max Memory Used: 80 MB Status: timeout"
        );
        let r = parse_report(&msg, 0).unwrap();
        assert_eq!(r.duration_ms, 5.5);
        assert_eq!(r.max_memory_used_mb, 80);
        assert_eq!(r.status, InvocationStatus::Timeout);
    }

    #[test]
    fn parses_the_json_platform_report() {
        let msg = format!(
            r#"{{"time":"2026-01-01T00:00:00.000Z","type":"platform.report","record":{{"requestId":"{ID}","status":"timeout","metrics":{{"durationMs":3000.0,"billedDurationMs":3000,"memorySizeMB":512,"maxMemoryUsedMB":90,"initDurationMs":180.5}}}}}}"#
        );
        let r = parse_report(&msg, 7).unwrap();
        assert_eq!(r.status, InvocationStatus::Timeout);
        assert_eq!(r.memory_size_mb, 512);
        assert_eq!(r.init_duration_ms, Some(180.5));
        let other = r#"{"type":"platform.start","record":{"requestId":"x"}}"#;
        assert!(parse_report(other, 0).is_none());
    }

    #[test]
    fn timeout_and_killed_lines_refine_the_report_of_their_request() {
        let other = "0f5e9a3c-1b2d-4c5e-9f70-123456789abc";
        let lines = vec![
            line(&format!(
                "2026-01-01T00:00:03.000Z {ID} Task timed out after 3.00 seconds"
            )),
            line(&format!(
                "REPORT RequestId: {ID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t"
            )),
            line(&format!(
                "RequestId: {other} Error: Runtime exited with error: signal: killed\nRuntime.ExitError"
            )),
            line(&format!(
                "REPORT RequestId: {other}\tDuration: 800.00 ms\tBilled Duration: 800 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t"
            )),
        ];
        let reports = parse_reports(&lines);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].status, InvocationStatus::Timeout);
        assert_eq!(reports[1].status, InvocationStatus::Error);
        assert_eq!(reports[1].error_type.as_deref(), Some(EXIT_ERROR));
    }

    #[test]
    fn an_out_of_memory_message_names_the_error_type() {
        let lines = vec![
            line(&format!(
                "2026-01-01T00:00:00.000Z\t{ID}\tERROR\tMemoryError"
            )),
            line(&format!(
                "REPORT RequestId: {ID}\tDuration: 10 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB"
            )),
        ];
        let reports = parse_reports(&lines);
        assert_eq!(reports[0].error_type.as_deref(), Some(OUT_OF_MEMORY_ERROR));
        assert_eq!(reports[0].status, InvocationStatus::Error);
    }

    #[test]
    fn garbage_is_skipped() {
        let lines = vec![
            line("START RequestId: x Version: $LATEST"),
            line("REPORT RequestId: \tDuration: ms"),
            line("REPORT RequestId: abc Duration: NaN ms Memory Size: 1 MB Max Memory Used: 1 MB"),
            line("{not json"),
            line(""),
        ];
        assert!(parse_reports(&lines).is_empty());
    }

    proptest! {
        #[test]
        fn never_panics_on_any_input(messages in proptest::collection::vec(".*", 0..20)) {
            let lines: Vec<LogLine> = messages.iter().map(|m| line(m)).collect();
            let _ = parse_reports(&lines);
        }

        #[test]
        fn never_panics_on_report_shaped_noise(tail in "[ -~\t]{0,120}") {
            let _ = parse_report(&format!("REPORT RequestId: {tail}"), 0);
            let _ = parse_report(&format!("{{\"type\":\"platform.report\",{tail}"), 0);
        }
    }
}
