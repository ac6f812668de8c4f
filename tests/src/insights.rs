//! A loopback stand-in for CloudWatch Logs Insights in front of moto (whose
//! Logs has no `stats`): StartQuery and GetQueryResults are answered here,
//! every other call is forwarded to moto. It can also age functions: moto
//! stamps `LastModified` at creation, so a function made by a test always
//! looks deployed a moment ago; [`InsightsStandIn::age_functions`] rewrites
//! it in Lambda's answers to a date in the past (what no emulator can make).
//! And it can hold Lambda's control plane to a quota, as the service does
//! (about 15 calls a second an account; moto has none): calls above it are
//! answered `429 TooManyRequestsException` and counted. A query is answered from the
//! log events moto holds for the group (DescribeLogStreams, GetLogEvents),
//! added up per memory size and UTC day as the sweep's `stats … by size_mb,
//! bin(1d)` asks — parsed here independently of the host's own parser, so
//! the host is checked against a second reading of the same lines.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::http::{forward, read_request, response};
use crate::moto::aws_json_at;

const DAY_MS: i64 = 86_400_000;

/// The stand-in: point a client's Logs endpoint at `endpoint`.
pub struct InsightsStandIn {
    pub endpoint: String,
    answers: Arc<Mutex<BTreeMap<String, Value>>>,
    /// `LastModified` written into Lambda's answers, when set.
    last_modified: Arc<Mutex<Option<String>>>,
    /// Lambda control-plane calls a second allowed, and those refused.
    quota: Arc<Quota>,
    /// Every query string received, for assertions.
    pub queries: Arc<Mutex<Vec<String>>>,
}

impl InsightsStandIn {
    pub fn start(moto_port: u16) -> InsightsStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let answers: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
        let queries: Arc<Mutex<Vec<String>>> = Arc::default();
        let last_modified: Arc<Mutex<Option<String>>> = Arc::default();
        let quota: Arc<Quota> = Arc::default();
        let (a, q, l, r) = (
            answers.clone(),
            queries.clone(),
            last_modified.clone(),
            quota.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (a, q, l, r) = (a.clone(), q.clone(), l.clone(), r.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, moto_port, &a, &q, &l, &r);
                });
            }
        });
        InsightsStandIn {
            endpoint,
            answers,
            last_modified,
            quota,
            queries,
        }
    }

    /// From now on, Lambda control-plane calls above `per_second` (in any
    /// one-second window) are refused with 429, as the service refuses them.
    pub fn limit_lambda(&self, per_second: u32) {
        *self.quota.per_second.lock().unwrap() = Some(per_second);
    }

    /// Lambda calls refused for the quota so far.
    pub fn throttled(&self) -> u64 {
        self.quota
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// From now on Lambda's answers say every function last changed at
    /// `at_ms` (a deployment long ago).
    pub fn age_functions(&self, at_ms: i64) {
        *self.last_modified.lock().unwrap() = Some(autorepair::testing::iso(at_ms));
    }

    /// Queries answered so far.
    pub fn answered(&self) -> usize {
        self.answers.lock().unwrap().len()
    }
}

fn serve(
    mut client: TcpStream,
    moto_port: u16,
    answers: &Mutex<BTreeMap<String, Value>>,
    queries: &Mutex<Vec<String>>,
    last_modified: &Mutex<Option<String>>,
    quota: &Quota,
) -> std::io::Result<()> {
    use std::io::Write;
    let Some(request) = read_request(&client)? else {
        return Ok(());
    };
    let control_plane = [
        "/2015-03-31/functions",
        "/2017-03-31/tags",
        "/2018-10-31/layers",
    ]
    .iter()
    .any(|p| request.path.starts_with(p))
        && !request.path.contains("/invocations");
    if control_plane && !quota.admit() {
        let refused = response(
            429,
            Some("TooManyRequestsException"),
            r#"{"Type":"User","Reason":"CallerRateLimitExceeded","message":"Rate exceeded"}"#,
        );
        return client.write_all(refused.as_bytes());
    }
    let target = request
        .header("x-amz-target")
        .unwrap_or_default()
        .to_owned();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let reply = match target.as_str() {
        "Logs_20140328.StartQuery" => {
            let query = body["queryString"].as_str().unwrap_or_default().to_owned();
            queries.lock().unwrap().push(query.clone());
            if !query.contains("stats") || !query.contains("by size_mb, bin(1d)") {
                response(
                    400,
                    Some("MalformedQueryException"),
                    r#"{"message":"the stand-in answers the sweep's stats query only"}"#,
                )
            } else {
                let group = body["logGroupName"].as_str().unwrap_or_default();
                let start_ms = body["startTime"].as_i64().unwrap_or(0) * 1000;
                let end_ms = body["endTime"].as_i64().unwrap_or(0) * 1000 + 999;
                match events(moto_port, group, start_ms, end_ms) {
                    Err(e) => response(
                        400,
                        Some("ResourceNotFoundException"),
                        &json!({"message": e}).to_string(),
                    ),
                    Ok(events) => {
                        let answer = aggregate(&events);
                        let mut answers = answers.lock().unwrap();
                        let id = format!("stand-in-{}", answers.len() + 1);
                        answers.insert(id.clone(), answer);
                        response(200, None, &json!({"queryId": id}).to_string())
                    }
                }
            }
        }
        "Logs_20140328.GetQueryResults" => {
            let id = body["queryId"].as_str().unwrap_or_default();
            match answers.lock().unwrap().get(id) {
                Some(answer) => response(200, None, &answer.to_string()),
                None => response(
                    400,
                    Some("ResourceNotFoundException"),
                    r#"{"message":"no such query"}"#,
                ),
            }
        }
        _ => {
            let mut answer = forward(&request, moto_port)?;
            let aged = last_modified.lock().unwrap().clone();
            if let Some(at) = aged
                && request.path.starts_with("/2015-03-31/functions")
            {
                answer = with_last_modified(&answer, &at);
            }
            return client.write_all(&answer);
        }
    };
    client.write_all(reply.as_bytes())
}

/// A per-second quota: at most `per_second` calls in any wall-clock second.
#[derive(Default)]
struct Quota {
    per_second: Mutex<Option<u32>>,
    window: Mutex<(u64, u32)>,
    refused: std::sync::atomic::AtomicU64,
}

impl Quota {
    fn admit(&self) -> bool {
        let Some(limit) = *self.per_second.lock().unwrap() else {
            return true;
        };
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut window = self.window.lock().unwrap();
        if window.0 != second {
            *window = (second, 0);
        }
        if window.1 >= limit {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        window.1 += 1;
        true
    }
}

/// `answer` (a whole HTTP response) with every `"LastModified": "…"` in its
/// JSON body set to `at`, its length fixed.
fn with_last_modified(answer: &[u8], at: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return answer.to_vec();
    };
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return answer.to_vec();
    }
    let Ok(mut json) = serde_json::from_str::<Value>(body) else {
        return answer.to_vec();
    };
    fn visit(v: &mut Value, at: &str) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k == "LastModified" && v.is_string() {
                        *v = Value::String(at.to_owned());
                    } else {
                        visit(v, at);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| visit(v, at)),
            _ => {}
        }
    }
    visit(&mut json, at);
    let body = json.to_string();
    let head: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                line.to_owned()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

/// The group's events in [start_ms, end_ms] from moto, every stream.
fn events(port: u16, group: &str, start_ms: i64, end_ms: i64) -> Result<Vec<String>, String> {
    let call = |target: &str, body: Value| -> Result<Value, String> {
        let (status, text) =
            aws_json_at(port, "logs", target, &body.to_string()).map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{target}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| e.to_string())
    };
    let mut streams = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"logGroupName": group});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page = call("Logs_20140328.DescribeLogStreams", body)?;
        for s in page["logStreams"].as_array().into_iter().flatten() {
            streams.push(s["logStreamName"].as_str().unwrap_or_default().to_owned());
        }
        match page["nextToken"].as_str() {
            Some(t) if Some(t) != token.as_deref() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    let mut messages = Vec::new();
    for stream in streams {
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "logGroupName": group, "logStreamName": stream,
                "startTime": start_ms, "endTime": end_ms, "startFromHead": true,
            });
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let page = call("Logs_20140328.GetLogEvents", body)?;
            let batch = page["events"].as_array().cloned().unwrap_or_default();
            for e in &batch {
                let at = e["timestamp"].as_i64().unwrap_or(0);
                let message = e["message"].as_str().unwrap_or_default();
                messages.push(format!("{at}\t{message}"));
            }
            match page["nextForwardToken"].as_str() {
                Some(t) if !batch.is_empty() && Some(t) != token.as_deref() => {
                    token = Some(t.to_owned())
                }
                _ => break,
            }
        }
    }
    Ok(messages)
}

/// A number after `label` in a REPORT line (`Duration: 12.5 ms`).
fn after(line: &str, label: &str) -> Option<f64> {
    let rest = &line[line.find(label)? + label.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[derive(Default)]
struct Group {
    used: Vec<f64>,
    durations: Vec<f64>,
    billed: f64,
    oom: u64,
    errors: u64,
    timeouts: u64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// GetQueryResults' answer for `events` ("<ms>\t<message>").
fn aggregate(events: &[String]) -> Value {
    let mut groups: BTreeMap<(Option<u32>, i64), Group> = BTreeMap::new();
    let mut bytes = 0usize;
    for event in events {
        bytes += event.len();
        let (at, message) = event.split_once('\t').unwrap_or(("0", event));
        let day = at.parse::<i64>().unwrap_or(0).div_euclid(DAY_MS) * DAY_MS;
        let oom = ["Runtime.OutOfMemory", "MemoryError", "heap out of memory"]
            .iter()
            .filter(|m| message.contains(*m))
            .count() as u64;
        if message.starts_with("REPORT RequestId:") {
            let size = after(message, "Memory Size:").map(|s| s as u32);
            let g = groups.entry((size, day)).or_default();
            g.used
                .push(after(message, "Max Memory Used:").unwrap_or(0.0));
            g.durations
                .push(after(message, "\tDuration:").unwrap_or(0.0));
            g.billed += after(message, "Billed Duration:").unwrap_or(0.0);
            g.oom += oom;
            g.errors += u64::from(message.contains("Status: error"));
            g.timeouts += u64::from(message.contains("Status: timeout"));
        } else if oom > 0 {
            groups.entry((None, day)).or_default().oom += oom;
        }
    }
    let mut results = Vec::new();
    let mut matched = 0usize;
    for ((size, day), mut g) in groups {
        g.used.sort_by(f64::total_cmp);
        g.durations.sort_by(f64::total_cmp);
        let n = g.used.len();
        matched += n;
        let day_label = {
            let days = day / DAY_MS;
            // Civil from days (Howard Hinnant's algorithm).
            let z = days + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z - era * 146_097;
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let d = doy - (153 * mp + 2) / 5 + 1;
            let m = if mp < 10 { mp + 3 } else { mp - 9 };
            let y = yoe + era * 400 + i64::from(m <= 2);
            format!("{y:04}-{m:02}-{d:02} 00:00:00.000")
        };
        let field = |f: &str, v: String| json!({"field": f, "value": v});
        let mut row = vec![field("bin(1d)", day_label)];
        if let Some(size) = size {
            row.push(field("size_mb", size.to_string()));
        }
        row.extend([
            field("invocations", n.to_string()),
            field("out_of_memory", g.oom.to_string()),
            field("errors", g.errors.to_string()),
            field("timeouts", g.timeouts.to_string()),
        ]);
        if n > 0 {
            row.extend([
                field("max_used_mb", g.used[n - 1].to_string()),
                field("p99_used_mb", pct(&g.used, 99.0).to_string()),
                field("p50_ms", pct(&g.durations, 50.0).to_string()),
                field("p95_ms", pct(&g.durations, 95.0).to_string()),
                field("p99_ms", pct(&g.durations, 99.0).to_string()),
                field("max_ms", g.durations[n - 1].to_string()),
                field("mean_billed_ms", (g.billed / n as f64).to_string()),
            ]);
        }
        results.push(Value::Array(row));
    }
    json!({
        "status": "Complete",
        "results": results,
        "statistics": {
            "recordsMatched": matched as f64,
            "recordsScanned": events.len() as f64,
            "bytesScanned": bytes as f64,
        },
    })
}
