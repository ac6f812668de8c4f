//! Lambda log lines → invocation reports.
//!
//! Only the platform's own lines make a report or say how an invocation ended,
//! and only in the platform's shapes: `REPORT RequestId: …` and `INIT_REPORT …`
//! at the start of a line (text format), `{"type":"platform.report"}` and
//! `{"type":"platform.initReport"}` records (JSON format), `<time> <id> Task
//! timed out after …`, and `RequestId: <id> Error: Runtime exited with error:
//! …`. The function's own lines — which may echo a caller's input — never make
//! an out-of-memory on their own: a runtime's out-of-memory message counts
//! for its request only when that invocation used at least
//! [`AT_LIMIT_SHARE`] of its memory. A runtime killed after its request timed
//! out is a timeout, not an out-of-memory.
//!
//! Real logs vary (tabs turned to spaces, stray spaces, fields added over the
//! years, records without memory figures), so fields are read by name; lines
//! that are not understood are skipped, never fatal.

use std::collections::HashMap;

use autorepair_lambda::request_id::is_uuid;
use autorepair_lambda::signatures as sig;
use serde_json::Value;

use crate::model::{InvocationReport, InvocationStatus, LogLine, MetricSeries};

/// The error type Lambda gives an invocation that ran out of memory.
pub const OUT_OF_MEMORY_ERROR: &str = "Runtime.OutOfMemory";
/// The error type Lambda gives an invocation whose runtime process died.
pub const EXIT_ERROR: &str = "Runtime.ExitError";
/// The share of its memory an invocation must have used for a runtime's
/// out-of-memory message (a line the function prints) to count.
pub const AT_LIMIT_SHARE: f64 = 0.95;
/// The request id of a report made from an `INIT_REPORT` line: the init phase
/// belongs to no request.
pub const INIT_PHASE: &str = "init";

/// How a non-report line says a request ended.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    /// `Task timed out after N seconds`: N in milliseconds.
    timed_out: Option<f64>,
    /// The platform's runtime-exit line (`signal: killed`, exit status …,
    /// `Process exited before completing request`).
    exited: bool,
    /// A runtime's out-of-memory message, printed by the function.
    oom_message: bool,
}

impl Marks {
    fn merge(&mut self, other: Marks) {
        self.timed_out = self.timed_out.or(other.timed_out);
        self.exited |= other.exited;
        self.oom_message |= other.oom_message;
    }
}

/// How far from a report an exit line without a request id may be to be
/// taken for that invocation's.
const NEAREST_MS: i64 = 2_000;

/// Parses every report in `lines`, in order, with status and error type refined
/// by the timeout, exit and out-of-memory lines that name the same request.
/// A timeout line with no report (the report lost, cut from a paste, or never
/// written) is a timed-out invocation of its own; an exit line without a
/// request id belongs to the report nearest in time.
pub fn parse_reports(lines: &[LogLine]) -> Vec<InvocationReport> {
    let mut reports = Vec::new();
    // Per request id: when it was first named, and what its lines say.
    let mut marks: HashMap<&str, (i64, Marks)> = HashMap::new();
    let mut anonymous: Vec<(i64, Marks)> = Vec::new();
    // (request id, error type) of the function's own errors that name one;
    // per log stream, the error awaiting that environment's next REPORT
    // (its lines come one invocation after another, in order).
    let mut handled: Vec<(&str, &str)> = Vec::new();
    let mut awaiting: HashMap<&str, &str> = HashMap::new();
    for line in lines {
        let message = line.message.as_str();
        let stream = line.log_stream.as_deref();
        if let Some(mut report) = parse_report(message, line.timestamp_ms) {
            if let Some(kind) = stream.and_then(|s| awaiting.remove(s)) {
                report.function_error = Some(kind.chars().take(128).collect());
            }
            report.log_stream.clone_from(&line.log_stream);
            reports.push(report);
            continue;
        }
        match (function_error(message), stream) {
            (Some((Some(id), kind)), _) => handled.push((id, kind)),
            (Some((None, kind)), Some(stream)) => {
                awaiting.entry(stream).or_insert(kind);
            }
            // Neither an id nor a stream: not guessed onto a report.
            _ => {}
        }
        if let Some((request_id, mark)) = failure_mark(message) {
            match request_id {
                Some(id) => marks
                    .entry(id)
                    .or_insert((line.timestamp_ms, Marks::default()))
                    .1
                    .merge(mark),
                None => anonymous.push((line.timestamp_ms, mark)),
            }
        }
    }
    for report in &mut reports {
        if let Some((_, mark)) = marks.remove(report.request_id.as_str()) {
            apply(report, mark);
        }
    }
    for (id, kind) in handled {
        if let Some(report) = reports.iter_mut().find(|r| r.request_id == id) {
            // A type name; whatever a line claims, at most 128 characters.
            report
                .function_error
                .get_or_insert_with(|| kind.chars().take(128).collect());
        }
    }
    let mut orphans: Vec<(i64, Option<&str>, Marks)> = marks
        .into_iter()
        .map(|(id, (at, mark))| (at, Some(id), mark))
        .collect();
    for (at, mark) in anonymous {
        // A kill or exit without an id: the invocation that ended next to it.
        let nearest = reports
            .iter_mut()
            .filter(|r| r.request_id != INIT_PHASE && (r.timestamp_ms - at).abs() <= NEAREST_MS)
            .min_by_key(|r| (r.timestamp_ms - at).abs());
        match nearest {
            Some(report) if mark.timed_out.is_none() => apply(report, mark),
            _ => orphans.push((at, None, mark)),
        }
    }
    orphans.sort_by_key(|(at, _, _)| *at);
    // A timeout (or an exit) with no report of its own still happened.
    for (at, id, mark) in orphans {
        let (status, duration_ms, error_type) = match mark {
            Marks {
                timed_out: Some(ms),
                ..
            } => (InvocationStatus::Timeout, ms, None),
            Marks { exited: true, .. } => {
                (InvocationStatus::Error, 0.0, Some(EXIT_ERROR.to_owned()))
            }
            _ => continue,
        };
        reports.push(InvocationReport {
            request_id: id.unwrap_or_default().to_owned(),
            timestamp_ms: at,
            duration_ms,
            billed_duration_ms: duration_ms.ceil(),
            memory_size_mb: 0,
            max_memory_used_mb: 0,
            init_duration_ms: None,
            status,
            error_type,
            log_stream: None,
            function_error: None,
        });
    }
    reports.sort_by_key(|r| r.timestamp_ms);
    reports
}

fn apply(report: &mut InvocationReport, mark: Marks) {
    if mark.timed_out.is_some() {
        // Whatever happened to the runtime after the timeout (Lambda
        // kills it), the invocation timed out.
        report.status = InvocationStatus::Timeout;
        if report.error_type.as_deref() == Some(EXIT_ERROR) {
            report.error_type = None;
        }
        return;
    }
    let at_limit = report.memory_size_mb > 0
        && f64::from(report.max_memory_used_mb)
            >= AT_LIMIT_SHARE * f64::from(report.memory_size_mb);
    if mark.oom_message && at_limit {
        report.status = InvocationStatus::Error;
        if report.error_type.as_deref().is_none_or(|t| t == EXIT_ERROR) {
            report.error_type = Some(OUT_OF_MEMORY_ERROR.to_owned());
        }
    } else if mark.exited {
        report.status = InvocationStatus::Error;
        if report.error_type.is_none() {
            report.error_type = Some(EXIT_ERROR.to_owned());
        }
    }
}

/// Reports beyond the `Invocations` metric that are tolerated before the
/// reports are in doubt: one, and one in a hundred (a report whose invocation
/// the metric counts in the next period).
pub const EXTRA_REPORTS_PER_HUNDRED: usize = 1;

/// Why an evidence's invocation reports cannot be trusted, if they cannot.
///
/// A function that prints its input raw (Python's `print`, Go's `fmt`, a
/// custom runtime) can print a line in REPORT's shape. Such a line cannot
/// hide, though: its request id is one Lambda's own REPORT uses too, or the
/// reports outnumber the invocations CloudWatch counted. Either way the
/// figures may be forged: a memory change or a downsizing must not rest on
/// them. Without the `Invocations` metric the count cannot be checked, and
/// reports after its last point (CloudWatch publishes with a delay) are not
/// counted against it.
pub fn report_doubt(reports: &[InvocationReport], metrics: &[MetricSeries]) -> Option<String> {
    // Reports from REPORT lines (not init phases, not timeouts without one).
    let platform = || {
        reports.iter().filter(|r| {
            r.request_id != INIT_PHASE && !r.request_id.is_empty() && r.memory_size_mb > 0
        })
    };
    // Sorted, the first id that repeats is the smallest such: no map to
    // build (and hash into) per incident.
    let mut ids: Vec<&str> = platform().map(|r| r.request_id.as_str()).collect();
    ids.sort_unstable();
    if let Some(at) = ids.windows(2).position(|w| w[0] == w[1]) {
        let id = ids[at];
        let n = ids[at..].iter().take_while(|x| **x == id).count();
        return Some(format!(
            "request {id} has {n} REPORT lines (Lambda writes one): a function printed one"
        ));
    }
    let invocations = metrics
        .iter()
        .find(|s| s.namespace == "AWS/Lambda" && s.name == "Invocations" && s.statistic == "Sum")
        .filter(|s| !s.points.is_empty())?;
    let last = invocations.points.iter().map(|p| p.timestamp_ms).max()?;
    let counted: f64 = invocations.points.iter().map(|p| p.value.max(0.0)).sum();
    let counted = counted.round() as usize;
    // A point covers the minute after its timestamp.
    let reported = platform()
        .filter(|r| r.timestamp_ms < last + 60_000)
        .count();
    let tolerated = counted + 1 + counted * EXTRA_REPORTS_PER_HUNDRED / 100;
    (reported > tolerated).then(|| {
        format!(
            "{reported} REPORT lines but {counted} invocations counted by CloudWatch: lines in REPORT's shape were printed by the function"
        )
    })
}

/// One report from one line, in either log format: an invocation's, or the
/// init phase's when it failed.
pub fn parse_report(message: &str, timestamp_ms: i64) -> Option<InvocationReport> {
    let trimmed = message.trim_start();
    if trimmed.starts_with('{') {
        return parse_json_report(trimmed, timestamp_ms);
    }
    if let Some(fields) = trimmed.strip_prefix("REPORT ") {
        return parse_text_report(fields, timestamp_ms);
    }
    if let Some(fields) = trimmed.strip_prefix("INIT_REPORT ") {
        return parse_text_init_report(fields, timestamp_ms);
    }
    None
}

/// `Key: value unit` pairs: words up to one ending in `:` make a key, the next
/// word is its value, and a unit may follow.
fn fields(text: &str) -> HashMap<String, &str> {
    let mut values: HashMap<String, &str> = HashMap::new();
    let mut key: Vec<&str> = Vec::new();
    let mut words = text.split_whitespace().peekable();
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
    values
}

fn number_in(values: &HashMap<String, &str>, key: &str) -> Option<f64> {
    values
        .get(key)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
}

fn status_of(word: Option<&str>) -> InvocationStatus {
    match word {
        Some("error" | "failure") => InvocationStatus::Error,
        Some("timeout") => InvocationStatus::Timeout,
        _ => InvocationStatus::Success,
    }
}

/// `RequestId: id\tDuration: 1.2 ms\tBilled Duration: 2 ms\t…`
fn parse_text_report(text: &str, timestamp_ms: i64) -> Option<InvocationReport> {
    let values = fields(text);
    let number = |k: &str| number_in(&values, k);
    let duration_ms = number("Duration")?;
    let request_id = (*values.get("RequestId")?).to_owned();
    if request_id.is_empty() {
        return None;
    }
    Some(InvocationReport {
        request_id,
        timestamp_ms,
        duration_ms,
        billed_duration_ms: number("Billed Duration").unwrap_or(duration_ms.ceil()),
        // Without memory figures (a record that has none) 0 means unknown.
        memory_size_mb: number("Memory Size").map_or(0, to_mb),
        max_memory_used_mb: number("Max Memory Used").map_or(0, to_mb),
        init_duration_ms: number("Init Duration"),
        status: status_of(values.get("Status").copied()),
        error_type: values.get("Error Type").map(|s| (*s).to_owned()),
        log_stream: None,
        function_error: None,
    })
}

/// `INIT_REPORT Init Duration: 9999.95 ms Phase: init Status: timeout` (and
/// `Status: error Error Type: Runtime.OutOfMemory`): a failed init phase is a
/// report of its own, with the init duration and no memory figures. A
/// successful one (SnapStart, provisioned concurrency) is not an invocation.
fn parse_text_init_report(text: &str, timestamp_ms: i64) -> Option<InvocationReport> {
    let values = fields(text);
    let duration_ms = number_in(&values, "Init Duration")?;
    init_report(
        status_of(values.get("Status").copied()),
        duration_ms,
        values.get("Error Type").map(|s| (*s).to_owned()),
        timestamp_ms,
    )
}

fn init_report(
    status: InvocationStatus,
    duration_ms: f64,
    error_type: Option<String>,
    timestamp_ms: i64,
) -> Option<InvocationReport> {
    (status != InvocationStatus::Success).then(|| InvocationReport {
        request_id: INIT_PHASE.to_owned(),
        timestamp_ms,
        duration_ms,
        billed_duration_ms: duration_ms.ceil(),
        memory_size_mb: 0,
        max_memory_used_mb: 0,
        init_duration_ms: Some(duration_ms),
        status,
        error_type,
        log_stream: None,
        function_error: None,
    })
}

/// `{"time":…,"type":"platform.report","record":{"requestId":…,"status":…,"metrics":{…}}}`,
/// and `platform.initReport`. Memory figures may be absent (Lambda Managed
/// Instances report only durations), and so may the status (success).
fn parse_json_report(message: &str, timestamp_ms: i64) -> Option<InvocationReport> {
    let value: Value = serde_json::from_str(message).ok()?;
    let kind = value.get("type")?.as_str()?;
    let record = value.get("record")?;
    let empty = Value::Null;
    let metrics = record.get("metrics").unwrap_or(&empty);
    let number = |k: &str| {
        metrics
            .get(k)
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let status = status_of(record.get("status").and_then(Value::as_str));
    let error_type = record
        .get("errorType")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match kind {
        "platform.report" => {
            let duration_ms = number("durationMs")?;
            let request_id = record.get("requestId")?.as_str()?;
            if request_id.is_empty() {
                return None;
            }
            Some(InvocationReport {
                request_id: request_id.to_owned(),
                timestamp_ms,
                duration_ms,
                billed_duration_ms: number("billedDurationMs").unwrap_or(duration_ms.ceil()),
                memory_size_mb: number("memorySizeMB").map_or(0, to_mb),
                max_memory_used_mb: number("maxMemoryUsedMB").map_or(0, to_mb),
                init_duration_ms: number("initDurationMs"),
                status,
                error_type,
                log_stream: None,
                function_error: None,
            })
        }
        "platform.initReport" => {
            init_report(status, number("durationMs")?, error_type, timestamp_ms)
        }
        _ => None,
    }
}

fn to_mb(value: f64) -> u32 {
    value.round().min(u32::MAX as f64) as u32
}

/// A non-report line that says how a request ended: the request id it
/// names (if any) and what it says. The platform's lines count only in the
/// platform's shapes — what precedes them is a time, a request id, a
/// `RequestId:` label or a tool's `[prefix]`, never a log level or the
/// function's words; a runtime's out-of-memory message may be anywhere in the
/// function's line, but it needs its request id.
fn failure_mark(message: &str) -> Option<(Option<&str>, Marks)> {
    // One pass finds whether any mark is there at all (most lines have none).
    let found = sig::scan(message);
    if !(found.timed_out
        || found.runtime_exited
        || found.process_exited
        || found.out_of_memory.is_some())
    {
        return None;
    }
    let text = message.trim_start();
    if let Some((prefix, rest)) = text.split_once(sig::TASK_TIMED_OUT)
        && let Some(id) = platform_prefix(prefix)
    {
        let seconds = rest
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
            .unwrap_or(0.0);
        let mark = Marks {
            timed_out: Some(seconds * 1000.0),
            ..Marks::default()
        };
        return Some((id, mark));
    }
    for exit in [sig::RUNTIME_EXITED, sig::PROCESS_EXITED] {
        if let Some((prefix, _)) = text.split_once(exit) {
            let prefix = prefix.trim_end();
            let prefix = prefix
                .strip_suffix("Error:")
                .or_else(|| prefix.strip_suffix("Error"))
                .unwrap_or(prefix);
            if let Some(id) = platform_prefix(prefix) {
                let mark = Marks {
                    exited: true,
                    ..Marks::default()
                };
                return Some((id, mark));
            }
        }
    }
    if found.out_of_memory.is_some() {
        let mark = Marks {
            oom_message: true,
            ..Marks::default()
        };
        return Some((Some(request_id_in(message)?), mark));
    }
    None
}

/// A runtime's line for an error the handler raised (which Lambda's REPORT
/// line does not show): Node.js's `<time>\t<request id>\tERROR\tInvoke
/// Error \t{"errorType":…}` and Python's `[ERROR] Type: message` (no request
/// id). `(request id, error type)`.
fn function_error(message: &str) -> Option<(Option<&str>, &str)> {
    if let Some((prefix, rest)) = message.split_once("\tERROR\tInvoke Error") {
        let id = prefix.split('\t').find(|w| is_uuid(w));
        let kind = rest
            .split_once("\"errorType\":\"")
            .and_then(|(_, t)| t.split('"').next())
            .filter(|t| !t.is_empty())
            .unwrap_or("Error");
        return Some((id, kind));
    }
    // Python's logging module writes `[ERROR]\t<time>\t…`: a tab, not this.
    let rest = message.strip_prefix("[ERROR] ")?;
    let name = rest.split([':', '\n', '\r', ' ']).next()?;
    let exception = name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    exception.then_some((None, name))
}

/// Whether `prefix` is what the platform puts before its own lines: times,
/// request ids, a `RequestId:` label (its id may be blank), a tool's
/// `[bracketed]` prefix. `Some(id)` with the request id it names, if any.
fn platform_prefix(prefix: &str) -> Option<Option<&str>> {
    let mut id = None;
    for word in prefix.split_whitespace() {
        if is_uuid(word) {
            id = Some(word);
        } else if word == "RequestId:"
            || (word.starts_with('[') && word.ends_with(']') && word.len() > 2 && !is_level(word))
            || is_timestamp(word)
        {
            continue;
        } else {
            return None;
        }
    }
    Some(id)
}

fn is_level(word: &str) -> bool {
    let inner = word.trim_matches(|c| c == '[' || c == ']');
    matches!(
        inner.to_ascii_uppercase().as_str(),
        "ERROR" | "WARN" | "WARNING" | "INFO" | "DEBUG" | "TRACE" | "FATAL"
    )
}

/// `2024-06-25T19:22:58.186Z` and the like.
fn is_timestamp(word: &str) -> bool {
    word.len() >= 10
        && word.as_bytes()[0].is_ascii_digit()
        && word.contains('-')
        && word
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | ':' | '.' | 'T' | 'Z' | '+'))
}

/// The first UUID-shaped word in `message`: Lambda request ids are UUIDs, and
/// text-format lines carry them in varying places.
pub fn request_id_in(message: &str) -> Option<&str> {
    message
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == ':')
        .find(|w| is_uuid(w))
}

/// Lines worth keeping: the server filter where the service honours it
/// (moto does not), and the same test applied to every line client-side.
/// Each platform line is named, `INIT_REPORT` and `platform.initReport`
/// included: a term matches whole words.
pub const LOG_FILTER: &str = "?REPORT ?INIT_REPORT ?\"platform.report\" ?\"platform.initReport\" ?\"Task timed out\" ?\"Runtime exited\" ?\"Process exited\" ?LAMBDA_WARNING ?Traceback ?ERROR ?Error ?MemoryError ?\"out of memory\" ?OutOfMemory";

/// Sorts `lines` by time and keeps the newest `cap` (those nearest the
/// alarm); returns how many went.
pub fn keep_newest(lines: &mut Vec<LogLine>, cap: usize) -> usize {
    lines.sort_by_key(|l| l.timestamp_ms);
    let over = lines.len().saturating_sub(cap);
    lines.drain(..over);
    over
}

/// The client-side twin of [`LOG_FILTER`].
pub fn relevant(message: &str) -> bool {
    use autorepair_lambda::signatures as sig;
    if message.contains("REPORT")
        || message.contains("platform.report")
        || message.contains("platform.initReport")
        || message.contains("ERROR")
        || message.contains("Error")
    {
        return true;
    }
    let found = sig::scan(message);
    found.timed_out
        || found.runtime_exited
        || found.process_exited
        || found.unhandled_error.is_some()
        || found.out_of_memory.is_some()
        || found.downstream.is_some()
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
            log_stream: None,
        }
    }

    /// `n` REPORT lines a minute apart from `at`, of requests `first..`.
    fn reports(n: usize, first: usize, at: i64, used_mb: u32) -> Vec<LogLine> {
        (0..n)
            .map(|i| LogLine {
                timestamp_ms: at + i as i64 * 1_000,
                message: format!(
                    "REPORT RequestId: 00000000-0000-4000-8000-{:012}\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 256 MB\tMax Memory Used: {used_mb} MB\t",
                    first + i
                ),
                log_stream: None,
            })
            .collect()
    }

    fn invocations(points: &[(i64, f64)]) -> Vec<MetricSeries> {
        vec![MetricSeries {
            namespace: "AWS/Lambda".into(),
            name: "Invocations".into(),
            statistic: "Sum".into(),
            unit: "Count".into(),
            points: points
                .iter()
                .map(|&(timestamp_ms, value)| crate::model::Point {
                    timestamp_ms,
                    value,
                })
                .collect(),
        }]
    }

    #[test]
    fn reports_agreeing_with_the_invocations_metric_are_trusted() {
        let lines = reports(40, 0, 0, 100);
        let metrics = invocations(&[(0, 40.0)]);
        assert_eq!(report_doubt(&parse_reports(&lines), &metrics), None);
        // Without the metric, nothing to check against.
        assert_eq!(report_doubt(&parse_reports(&lines), &[]), None);
    }

    /// A function printing lines in REPORT's shape (fresh request ids) makes
    /// more reports than invocations; one reusing a real request id makes two
    /// reports of one request. Either way the reports are in doubt.
    #[test]
    fn printed_reports_put_every_report_in_doubt() {
        let mut lines = reports(40, 0, 0, 100);
        lines.extend(reports(5, 1_000, 10_000, 256));
        let why = report_doubt(&parse_reports(&lines), &invocations(&[(0, 40.0)]))
            .expect("45 reports for 40 invocations");
        assert!(why.contains("45 REPORT lines but 40 invocations"), "{why}");

        let mut lines = reports(40, 0, 0, 100);
        lines.extend(reports(1, 7, 50_000, 30));
        let why = report_doubt(&parse_reports(&lines), &invocations(&[(0, 40.0)]))
            .expect("a request reported twice");
        assert!(why.contains("has 2 REPORT lines"), "{why}");
    }

    /// CloudWatch publishes with a delay: reports after the metric's last
    /// point (plus its minute) are not counted against it.
    #[test]
    fn reports_past_the_last_metric_point_are_not_counted() {
        let mut lines = reports(40, 0, 0, 100);
        lines.extend(reports(10, 100, 200_000, 100));
        assert_eq!(
            report_doubt(&parse_reports(&lines), &invocations(&[(0, 40.0)])),
            None
        );
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
    fn the_functions_own_lines_never_make_a_report_nor_an_out_of_memory() {
        let lines = vec![
            // A caller's input echoed by the function, with a real request id.
            line(&format!(
                "2026-01-01T00:00:00.000Z\t{ID}\tERROR\tbad comment: JavaScript heap out of memory Runtime.OutOfMemory"
            )),
            line(&format!(
                "2026-01-01T00:00:00.000Z\t{ID}\tINFO\tREPORT RequestId: {ID}\tDuration: 1 ms\tBilled Duration: 1 ms\tMemory Size: 512 MB\tMax Memory Used: 512 MB\tStatus: error\tError Type: Runtime.OutOfMemory"
            )),
            line(&format!(
                "2026-01-01T00:00:00.000Z\t{ID}\tERROR\tTask timed out after 3.00 seconds"
            )),
            line(&format!(
                "REPORT RequestId: {ID}\tDuration: 40.00 ms\tBilled Duration: 40 ms\tMemory Size: 512 MB\tMax Memory Used: 180 MB\t"
            )),
        ];
        let reports = parse_reports(&lines);
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].status, InvocationStatus::Success);
        assert_eq!(reports[0].error_type, None);
        assert_eq!(reports[0].max_memory_used_mb, 180);
    }

    #[test]
    fn a_runtime_out_of_memory_message_counts_with_memory_at_the_limit() {
        let report = |used: u32| {
            line(&format!(
                "REPORT RequestId: {ID}\tDuration: 10 ms\tBilled Duration: 10 ms\tMemory Size: 1024 MB\tMax Memory Used: {used} MB"
            ))
        };
        let message = line(&format!(
            "2026-01-01T00:00:00.000Z\t{ID}\tERROR\tjava.lang.OutOfMemoryError: Java heap space"
        ));
        let near = parse_reports(&[message.clone(), report(990)]);
        assert_eq!(near[0].error_type.as_deref(), Some(OUT_OF_MEMORY_ERROR));
        let far = parse_reports(&[message, report(600)]);
        assert_eq!(far[0].error_type, None);
        assert_eq!(far[0].status, InvocationStatus::Success);
    }

    #[test]
    fn a_kill_after_a_timeout_is_a_timeout() {
        let lines = vec![
            line(&format!(
                "2026-01-01T00:00:03.000Z {ID} Task timed out after 3.00 seconds"
            )),
            line(&format!(
                "RequestId: {ID} Error: Runtime exited with error: signal: killed\nRuntime.ExitError"
            )),
            line(&format!(
                "REPORT RequestId: {ID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 35 MB\tStatus: error\tError Type: Runtime.ExitError"
            )),
        ];
        let r = &parse_reports(&lines)[0];
        assert_eq!(r.status, InvocationStatus::Timeout);
        assert_eq!(r.error_type, None);
    }

    #[test]
    fn failed_init_phases_are_reports_of_their_own() {
        let lines = vec![
            line("INIT_REPORT Init Duration: 9999.95 ms\tPhase: init\tStatus: timeout"),
            line(
                "INIT_REPORT Init Duration: 1234.50 ms Phase: invoke Status: error Error Type: Runtime.OutOfMemory",
            ),
            line("INIT_REPORT Init Duration: 180.02 ms\tPhase: init\tStatus: success"),
            line(
                r#"{"time":"2026-01-01T00:00:00.000Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":812.3}}}"#,
            ),
            line(
                r#"{"time":"2026-01-01T00:00:00.000Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","metrics":{"durationMs":150.0}}}"#,
            ),
        ];
        let reports = parse_reports(&lines);
        assert_eq!(reports.len(), 3, "{reports:?}");
        assert!(reports.iter().all(|r| r.request_id == INIT_PHASE));
        assert_eq!(reports[0].status, InvocationStatus::Timeout);
        assert_eq!(reports[0].init_duration_ms, Some(9999.95));
        assert_eq!(reports[1].error_type.as_deref(), Some(OUT_OF_MEMORY_ERROR));
        assert_eq!(reports[2].error_type.as_deref(), Some(EXIT_ERROR));
        assert!(reports.iter().all(|r| r.memory_size_mb == 0));
    }

    #[test]
    fn platform_reports_without_memory_figures_are_reports() {
        let lines = vec![
            line(&format!(
                r#"{{"time":"2026-01-01T00:00:00.000Z","type":"platform.report","record":{{"requestId":"{ID}","status":"failure","errorType":"Runtime.Unknown","metrics":{{"durationMs":3001.2,"billedDurationMs":3002}}}}}}"#
            )),
            line(
                r#"{"time":"2026-01-01T00:00:00.000Z","type":"platform.report","record":{"requestId":"0f5e9a3c-1b2d-4c5e-9f70-123456789abc","metrics":{"durationMs":12.5}}}"#,
            ),
        ];
        let reports = parse_reports(&lines);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].status, InvocationStatus::Error);
        assert_eq!(reports[0].error_type.as_deref(), Some("Runtime.Unknown"));
        assert_eq!(
            (reports[0].memory_size_mb, reports[0].max_memory_used_mb),
            (0, 0)
        );
        assert_eq!(reports[1].status, InvocationStatus::Success);
        assert_eq!(reports[1].billed_duration_ms, 13.0);
    }

    #[test]
    fn past_the_cap_the_newest_lines_are_kept() {
        let mut lines: Vec<LogLine> = [5, 1, 4, 2, 3]
            .iter()
            .map(|t| LogLine {
                timestamp_ms: *t,
                message: String::new(),
                log_stream: None,
            })
            .collect();
        assert_eq!(keep_newest(&mut lines, 3), 2);
        let kept: Vec<i64> = lines.iter().map(|l| l.timestamp_ms).collect();
        assert_eq!(kept, [3, 4, 5]);
    }

    #[test]
    fn a_timeout_without_a_report_is_a_timed_out_invocation() {
        let lines = vec![
            line(
                "[/aws/lambda/chariot-MyFunction-] 2024-06-25T19:22:58.186Z  Task timed out after 30.27 seconds",
            ),
            line(
                "[/aws/lambda/chariot-MyFunction-] RequestId:  Error: Runtime exited with error: signal: killed\nRuntime.ExitError",
            ),
            line(&format!(
                "2023-07-15T01:18:36.345Z {ID} Task timed out after 60.06 seconds"
            )),
        ];
        let reports = parse_reports(&lines);
        let timeouts: Vec<f64> = reports
            .iter()
            .filter(|r| r.status == InvocationStatus::Timeout)
            .map(|r| r.duration_ms)
            .collect();
        assert_eq!(timeouts.len(), 2, "{reports:?}");
        assert!(timeouts.contains(&30_270.0) && timeouts.contains(&60_060.0));
        assert!(reports.iter().all(|r| r.memory_size_mb == 0));
    }

    #[test]
    fn handled_errors_are_tied_to_their_invocation_by_id_or_by_log_stream() {
        let at = |t: i64, stream: Option<&str>, m: &str| LogLine {
            timestamp_ms: t,
            message: m.to_owned(),
            log_stream: stream.map(str::to_owned),
        };
        let report = |id: &str| {
            format!(
                "REPORT RequestId: {id}\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 122 MB\t"
            )
        };
        let (a, b, c) = (
            "8f5e9a3c-1b2d-4c5e-9f70-00000000000a",
            "8f5e9a3c-1b2d-4c5e-9f70-00000000000b",
            "8f5e9a3c-1b2d-4c5e-9f70-00000000000c",
        );
        let lines = vec![
            // Node.js names the request.
            at(
                1_000,
                None,
                &format!(
                    "2026-01-01T00:00:01.000Z\t{a}\tERROR\tInvoke Error \t{{\"errorType\":\"TypeError\",\"errorMessage\":\"x\"}}"
                ),
            ),
            at(1_010, None, &report(a)),
            // Python does not: its environment's stream does. Another
            // environment's report comes first in time.
            at(
                2_000,
                Some("env-1"),
                "[ERROR] MemoryError\nTraceback (most recent call last):\n  File \"/var/task/handler.py\"",
            ),
            at(2_005, Some("env-2"), &report(c)),
            at(2_010, Some("env-1"), &report(b)),
            // The logging module's own lines are not exceptions; a line with
            // no stream and no id is not guessed onto a report.
            at(
                3_000,
                Some("env-2"),
                "[ERROR]\t2026-01-01T00:00:03.000Z\tabc\tpayment declined",
            ),
            at(3_001, None, "[ERROR] KeyError: 'id'"),
            at(3_010, Some("env-2"), &report(c).replace("0c", "0d")),
        ];
        let reports = parse_reports(&lines);
        let error = |id: &str| {
            reports
                .iter()
                .find(|r| r.request_id == id)
                .unwrap()
                .function_error
                .clone()
        };
        assert_eq!(error(a).as_deref(), Some("TypeError"));
        assert_eq!(error(b).as_deref(), Some("MemoryError"));
        assert_eq!(error(c), None);
        assert_eq!(error(&c.replace("0c", "0d")), None);
        // REPORT said success each time; the errors count all the same, and
        // a MemoryError is an out of memory.
        assert!(
            reports
                .iter()
                .all(|r| r.status == InvocationStatus::Success)
        );
        let s = crate::stats::ReportStats::of(&reports);
        assert_eq!((s.errors, s.out_of_memory), (2, 1));
    }

    #[test]
    fn an_exit_line_without_an_id_belongs_to_the_report_beside_it() {
        let at = |t: i64, m: &str| LogLine {
            timestamp_ms: t,
            message: m.to_owned(),
            log_stream: None,
        };
        let lines = vec![
            at(
                10_000,
                &format!(
                    "REPORT RequestId: {ID}\tDuration: 19266.38 ms\tBilled Duration: 19267 ms\tMemory Size: 2688 MB\tMax Memory Used: 2581 MB\t"
                ),
            ),
            at(
                10_050,
                "Error Runtime exited with error: signal: killed\nRuntime.ExitError",
            ),
            at(
                20_000,
                "REPORT RequestId: 0f5e9a3c-1b2d-4c5e-9f70-123456789abc\tDuration: 54.30 ms\tBilled Duration: 100 ms\tMemory Size: 128 MB\tMax Memory Used: 29 MB",
            ),
            at(
                20_010,
                "RequestId: 0f5e9a3c-1b2d-4c5e-9f70-123456789abc Process exited before completing request",
            ),
        ];
        let reports = parse_reports(&lines);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].status, InvocationStatus::Error);
        assert_eq!(reports[0].error_type.as_deref(), Some(EXIT_ERROR));
        assert_eq!(reports[1].status, InvocationStatus::Error);
        // A function's own words before the platform's phrase are not its line.
        let own = parse_reports(&[
            at(
                20_000,
                "REPORT RequestId: 0f5e9a3c-1b2d-4c5e-9f70-123456789abc\tDuration: 54.30 ms\tBilled Duration: 100 ms\tMemory Size: 128 MB\tMax Memory Used: 29 MB",
            ),
            at(
                20_010,
                "[ERROR] user said: Runtime exited with error: signal: killed",
            ),
        ]);
        assert_eq!(own[0].status, InvocationStatus::Success);
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
