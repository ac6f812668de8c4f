//! A workload simulator: writes what Lambda would write — REPORT lines,
//! runtime messages, AWS/Lambda metrics — for invocations of a function in
//! moto, according to the memory the function has *now*. Too little memory
//! gives out-of-memory failures, enough gives healthy invocations, so a real
//! repair shows up as healthy data afterwards.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};

pub use autorepair::testing::workload::Behaviour;
use autorepair::testing::workload::traffic;

pub struct Workload {
    lambda: aws_sdk_lambda::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    pub function: String,
    /// Invocations go to this alias (its version's memory counts).
    alias: std::sync::Mutex<Option<String>>,
    pub behaviour: Behaviour,
    seq: AtomicU64,
}

/// A minimal deployment package (moto stores it, never runs it).
fn package() -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buf);
    zip.start_file("index.mjs", zip::write::SimpleFileOptions::default())
        .expect("zip");
    zip.write_all(b"export const handler = async () => 'ok';\n")
        .expect("zip");
    zip.finish().expect("zip");
    buf.into_inner()
}

impl Workload {
    pub fn new(config: &SdkConfig, function: &str, behaviour: Behaviour) -> Workload {
        Workload {
            lambda: aws_sdk_lambda::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            function: function.to_owned(),
            alias: std::sync::Mutex::new(None),
            behaviour,
            seq: AtomicU64::new(0),
        }
    }

    /// Creates the function (Node.js, `memory_mb`), opted in or not, and its log group.
    pub async fn create_function(
        &self,
        role_arn: &str,
        memory_mb: u32,
        opted_in: bool,
    ) -> Result<String> {
        let mut create = self
            .lambda
            .create_function()
            .function_name(&self.function)
            .runtime(Runtime::Nodejs20x)
            .role(role_arn)
            .handler("index.handler")
            .memory_size(memory_mb as i32)
            .timeout(6)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(package()))
                    .build(),
            );
        create = if opted_in {
            create.tags("autorepair", "enabled")
        } else {
            create.tags("team", "payments")
        };
        let out = create.send().await.context("CreateFunction")?;
        let _ = self
            .logs
            .create_log_group()
            .log_group_name(self.log_group())
            .send()
            .await;
        Ok(out.function_arn().unwrap_or_default().to_owned())
    }

    /// Publishes a version and points alias `name` at it; invocations then go
    /// through the alias.
    pub async fn alias(&self, name: &str) -> Result<String> {
        let version = self
            .lambda
            .publish_version()
            .function_name(&self.function)
            .send()
            .await?;
        let version = version.version().unwrap_or("1").to_owned();
        self.lambda
            .create_alias()
            .function_name(&self.function)
            .name(name)
            .function_version(&version)
            .send()
            .await?;
        *self.alias.lock().expect("alias") = Some(name.to_owned());
        Ok(version)
    }

    pub fn log_group(&self) -> String {
        format!("/aws/lambda/{}", self.function)
    }

    /// The memory invocations run with now.
    pub async fn memory_mb(&self) -> Result<u32> {
        let alias = self.alias.lock().expect("alias").clone();
        let config = self
            .lambda
            .get_function_configuration()
            .function_name(&self.function)
            .set_qualifier(alias)
            .send()
            .await?;
        Ok(config.memory_size().unwrap_or(128) as u32)
    }

    /// Simulates `count` invocations spread over [start_ms, end_ms).
    pub async fn invocations(&self, count: usize, start_ms: i64, end_ms: i64) -> Result<()> {
        let memory = self.memory_mb().await?;
        let first = self.seq.fetch_add(count as u64, Ordering::Relaxed);
        let t = traffic(self.behaviour, memory, count, start_ms, end_ms, first);
        self.write_logs(t.lines).await?;
        let mid = start_ms + (end_ms - start_ms) / 2;
        self.write_metrics(mid, t.invocations, t.errors, t.throttles)
            .await
    }

    async fn write_logs(&self, mut events: Vec<(i64, String)>) -> Result<()> {
        events.sort_by_key(|(t, _)| *t);
        let stream = format!(
            "2026/01/01/[$LATEST]{:016x}",
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        self.logs
            .create_log_stream()
            .log_group_name(self.log_group())
            .log_stream_name(&stream)
            .send()
            .await
            .context("CreateLogStream")?;
        put_log_events(&self.logs, &self.log_group(), &stream, &events).await
    }

    async fn write_metrics(
        &self,
        at_ms: i64,
        invocations: f64,
        errors: f64,
        throttles: f64,
    ) -> Result<()> {
        let dimension = Dimension::builder()
            .name("FunctionName")
            .value(&self.function)
            .build();
        let datum = |name: &str, value: f64| {
            MetricDatum::builder()
                .metric_name(name)
                .dimensions(dimension.clone())
                .timestamp(DateTime::from_millis(at_ms))
                .value(value)
                .unit(StandardUnit::Count)
                .build()
        };
        self.cloudwatch
            .put_metric_data()
            .namespace("AWS/Lambda")
            .metric_data(datum("Invocations", invocations))
            .metric_data(datum("Errors", errors))
            .metric_data(datum("Throttles", throttles))
            .send()
            .await
            .context("PutMetricData")?;
        Ok(())
    }
}

/// Writes `events` (time order) to `stream` of `group`, a thousand at a time.
pub async fn put_log_events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    events: &[(i64, String)],
) -> Result<()> {
    // PutLogEvents takes up to 10,000 events and 1,048,576 bytes a call
    // (each event's message plus 26).
    let mut chunks = Vec::new();
    let (mut from, mut bytes) = (0, 0);
    for (i, (_, m)) in events.iter().enumerate() {
        if i - from == 10_000 || bytes + m.len() + 26 > 1_000_000 {
            chunks.push(&events[from..i]);
            (from, bytes) = (i, 0);
        }
        bytes += m.len() + 26;
    }
    chunks.push(&events[from..]);
    for chunk in chunks.into_iter().filter(|c| !c.is_empty()) {
        let batch: Vec<InputLogEvent> = chunk
            .iter()
            .filter_map(|(t, m)| {
                InputLogEvent::builder()
                    .timestamp(*t)
                    .message(m)
                    .build()
                    .ok()
            })
            .collect();
        logs.put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(batch))
            .send()
            .await
            .context("PutLogEvents")?;
    }
    Ok(())
}
