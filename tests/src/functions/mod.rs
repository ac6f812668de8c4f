//! A local Lambda execution environment that runs real handler code.
//!
//! Each execution environment is a Node.js or Python process group running a
//! small runtime loop of ours (`tests/runtimes/`, as Lambda's custom runtimes
//! do) against its own Runtime API, in its own memory cgroup set to the
//! function's memory size, with the CPU share Lambda gives that memory (one
//! vCPU at 1,769 MB) and the function's timeout. It writes to moto's
//! CloudWatch Logs what Lambda writes, in its own log stream — `START`, the
//! function's output, `END`, `REPORT` with the real duration, the cgroup's
//! peak as Max Memory Used, Init Duration on a cold start, the out-of-memory
//! kill and the timeout — and the `AWS/Lambda` metrics to moto.
//!
//! What it is not: no Firecracker, no Lambda service limits beyond memory,
//! CPU share and timeout (no concurrency limits, no payload limits, no
//! /tmp quota), no extensions, no SnapStart. Configuration is read from
//! moto's Lambda for every new environment; a change retires the warm ones.

mod cgroup;
pub mod invoke_api;
mod runtime_api;
mod traffic;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::FunctionCode;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

pub use cgroup::{Cgroups, FULL_VCPU_MB};
use runtime_api::{Answer, Delivery, RuntimeApi};
pub use traffic::{Payload, Traffic};

/// The runtimes an environment can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Node,
    Python,
}

/// A function's code: a directory of handler files.
#[derive(Debug, Clone)]
pub struct Code {
    pub language: Language,
    pub dir: PathBuf,
    /// `module.function`, as Lambda's `Handler`.
    pub handler: String,
}

impl Code {
    pub fn node(dir: impl Into<PathBuf>) -> Code {
        Code {
            language: Language::Node,
            dir: dir.into(),
            handler: "index.handler".into(),
        }
    }

    pub fn python(dir: impl Into<PathBuf>) -> Code {
        Code {
            language: Language::Python,
            dir: dir.into(),
            handler: "handler.handler".into(),
        }
    }

    fn zip(&self) -> Result<Vec<u8>> {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buf);
        for entry in std::fs::read_dir(&self.dir).with_context(|| self.dir.display().to_string())? {
            let path = entry?.path();
            if path.is_file() {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                zip.start_file(name, zip::write::SimpleFileOptions::default())?;
                zip.write_all(&std::fs::read(&path)?)?;
            }
        }
        zip.finish()?;
        Ok(buf.into_inner())
    }
}

/// The runtime loops, one per language.
fn runtimes_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("runtimes")
}

/// Lambda's limit on the init phase.
const INIT_LIMIT: Duration = Duration::from_secs(10);

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Success,
    /// The handler threw or returned an error.
    Error,
    /// The function's timeout passed.
    Timeout,
    /// The OOM killer ended the environment.
    OutOfMemory,
    /// The runtime exited for another reason (or failed to start).
    Exited,
}

/// One invocation, as the caller and the REPORT line see it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub ended: Ended,
    /// The response or error document.
    pub body: String,
    pub duration_ms: f64,
    pub max_memory_used_mb: u32,
    pub memory_size_mb: u32,
    /// The environment's log stream.
    pub log_stream: String,
    /// Whether a new environment started for it.
    pub cold: bool,
    /// When it was handed to the environment (ms since the Unix epoch).
    pub started_ms: i64,
    /// Its log lines, START to REPORT (what `LogType: Tail` returns the end of).
    pub log: Vec<String>,
    /// The version that ran (`$LATEST` or a number).
    pub version: String,
}

/// What the function's configuration in moto says, and what identifies it.
#[derive(Debug, Clone, PartialEq)]
struct Configuration {
    memory_mb: u32,
    timeout_s: u32,
    version: String,
    arn: String,
    /// Changes with any update: warm environments of another are retired.
    revision: String,
}

struct Output {
    lines: Mutex<Vec<(i64, String)>>,
    changed: Notify,
    closed: std::sync::atomic::AtomicBool,
}

/// One execution environment: a runtime process group in its cgroup.
struct Environment {
    stream: String,
    config: Configuration,
    cgroup: cgroup::Cgroup,
    child: Child,
    api: RuntimeApi,
    output: Arc<Output>,
    spawned: Instant,
    initialised: bool,
}

impl Drop for Environment {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The whole process group: a handler's own children go too.
            kill_group(pid);
        }
        let _ = self.child.start_kill();
        // Reap it so its cgroup can be removed.
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[allow(unsafe_code)]
fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals that process group; it
    // touches no memory of ours.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

struct Function {
    code: Code,
    idle: Mutex<Vec<Environment>>,
    in_flight: AtomicUsize,
}

/// Real functions run locally, in front of moto.
pub struct Functions {
    lambda: aws_sdk_lambda::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    cgroups: Cgroups,
    functions: Mutex<HashMap<String, Arc<Function>>>,
    ids: AtomicU64,
}

fn now_ms() -> i64 {
    autorepair::clock::now_ms()
}

/// Lambda's own trailer lines, as its text log format writes them.
fn report_line(i: &Invocation, init_ms: Option<f64>) -> String {
    let mut line = format!(
        "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        i.request_id,
        i.duration_ms,
        i.duration_ms.ceil() as u64,
        i.memory_size_mb,
        i.max_memory_used_mb
    );
    if let Some(init) = init_ms {
        line.push_str(&format!("Init Duration: {init:.2} ms\t"));
    }
    match i.ended {
        Ended::Success | Ended::Error => {}
        Ended::Timeout => line.push_str("Status: timeout"),
        Ended::OutOfMemory => line.push_str("Status: error\tError Type: Runtime.OutOfMemory"),
        Ended::Exited => line.push_str("Status: error\tError Type: Runtime.ExitError"),
    }
    line
}

impl Functions {
    /// The environment service; fails with one line when this machine cannot
    /// give a process a memory limit.
    pub fn new(sdk: &aws_config::SdkConfig) -> Result<Functions> {
        let cgroups =
            Cgroups::new().map_err(|why| anyhow!("real functions cannot run here: {why}"))?;
        Ok(Functions {
            lambda: aws_sdk_lambda::Client::new(sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            cgroups,
            functions: Mutex::new(HashMap::new()),
            ids: AtomicU64::new(0),
        })
    }

    /// Creates `name` in moto with `code` (opted in to autorepair), its log
    /// group, and serves it here. Returns its ARN.
    pub async fn deploy(
        &self,
        name: &str,
        role_arn: &str,
        code: Code,
        memory_mb: u32,
        timeout_s: u32,
    ) -> Result<String> {
        use aws_sdk_lambda::types::Runtime;
        let runtime = match code.language {
            Language::Node => Runtime::Nodejs20x,
            Language::Python => Runtime::Python312,
        };
        let out = self
            .lambda
            .create_function()
            .function_name(name)
            .runtime(runtime)
            .role(role_arn)
            .handler(&code.handler)
            .memory_size(memory_mb as i32)
            .timeout(timeout_s as i32)
            .tags("autorepair", "enabled")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(code.zip()?))
                    .build(),
            )
            .send()
            .await
            .context("CreateFunction")?;
        let _ = self
            .logs
            .create_log_group()
            .log_group_name(format!("/aws/lambda/{name}"))
            .send()
            .await;
        self.functions.lock().expect("functions").insert(
            name.to_owned(),
            Arc::new(Function {
                code,
                idle: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
            }),
        );
        Ok(out.function_arn().unwrap_or_default().to_owned())
    }

    async fn configuration(&self, name: &str, qualifier: Option<&str>) -> Result<Configuration> {
        let c = self
            .lambda
            .get_function_configuration()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_owned))
            .send()
            .await
            .context("GetFunctionConfiguration")?;
        let memory_mb = c.memory_size().unwrap_or(128) as u32;
        let timeout_s = c.timeout().unwrap_or(3) as u32;
        Ok(Configuration {
            memory_mb,
            timeout_s,
            version: c.version().unwrap_or("$LATEST").to_owned(),
            arn: c.function_arn().unwrap_or_default().to_owned(),
            revision: format!(
                "{}|{}|{memory_mb}|{timeout_s}",
                c.revision_id().unwrap_or_default(),
                c.last_modified().unwrap_or_default()
            ),
        })
    }

    fn request_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let t = now_ms() as u64;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (t >> 16) as u32,
            (t & 0xffff) as u16,
            (n >> 12) & 0xfff,
            n & 0xfff,
            (std::process::id() as u64) << 16 | (n & 0xffff)
        )
    }

    /// Starts a new environment for `function` with `config`.
    async fn start(
        &self,
        name: &str,
        function: &Function,
        config: Configuration,
    ) -> Result<Environment> {
        let cgroup = self
            .cgroups
            .create(config.memory_mb)
            .context("a cgroup for the environment")?;
        let api = RuntimeApi::start().context("the Runtime API")?;
        let stream = format!(
            "{}/[$LATEST]{:032x}",
            autorepair::dates::day(now_ms()).replace('-', "/"),
            u128::from(self.ids.fetch_add(1, Ordering::Relaxed)) << 64
                | u128::from(std::process::id()) << 32
                | u128::from(now_ms() as u64 & 0xffff_ffff)
        );
        self.logs
            .create_log_stream()
            .log_group_name(format!("/aws/lambda/{name}"))
            .log_stream_name(&stream)
            .send()
            .await
            .context("CreateLogStream")?;
        let (program, script, address_space_kb) = match function.code.language {
            Language::Node => ("node", runtimes_dir().join("runtime.mjs"), 0),
            // Lambda's microVM has the memory size as its RAM, so Python's
            // allocations fail (MemoryError) as memory runs out instead of
            // being overcommitted by a host with far more: its address space
            // is held to the memory size and 8 MB of the ~14 MB CPython maps
            // without touching (shared libraries), so the error comes just
            // before the cgroup's limit would kill it. Node reserves far more
            // address space than it uses, so it gets the cgroup alone (V8
            // and the kernel end it there).
            Language::Python => (
                "python3",
                runtimes_dir().join("runtime.py"),
                (u64::from(config.memory_mb) + 8) * 1024,
            ),
        };
        // Join the cgroup before the runtime starts: the shell writes its own
        // pid into each group, sets the address-space limit, then becomes
        // the runtime (exec keeps the pid).
        let mut command = Command::new("sh");
        command.arg("-c").arg(
            "as=$1; shift; while [ \"$1\" != -- ]; do echo $$ > \"$1\" || exit 97; shift; done; shift; \
             [ \"$as\" = 0 ] || ulimit -v \"$as\"; exec \"$@\" 2>&1",
        );
        command.arg("sh").arg(address_space_kb.to_string());
        command.args(cgroup.procs());
        command.arg("--").arg(program);
        if function.code.language == Language::Python {
            command.arg("-u");
        }
        command.arg(script);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                config.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", &stream)
            .env("LAMBDA_TASK_ROOT", &function.code.dir)
            .env("_HANDLER", &function.code.handler)
            .env("TZ", ":UTC")
            .current_dir(&function.code.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("start {program}"))?;
        let output = Arc::new(Output {
            lines: Mutex::new(Vec::new()),
            changed: Notify::new(),
            closed: false.into(),
        });
        let stdout = child.stdout.take().context("the runtime's output")?;
        {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lines.lock().expect("lines").push((now_ms(), line));
                    output.changed.notify_waiters();
                }
                output.closed.store(true, Ordering::Relaxed);
                output.changed.notify_waiters();
            });
        }
        Ok(Environment {
            stream,
            config,
            cgroup,
            child,
            api,
            output,
            spawned: Instant::now(),
            initialised: false,
        })
    }

    /// Invokes `name` with `payload`, as Lambda's synchronous Invoke would.
    pub async fn invoke(&self, name: &str, payload: &serde_json::Value) -> Result<Invocation> {
        self.invoke_qualified(name, None, payload).await
    }

    /// Whether `name` runs here.
    pub fn serves(&self, name: &str) -> bool {
        self.functions.lock().expect("functions").contains_key(name)
    }

    /// Invokes version or alias `qualifier` of `name` (its own configuration
    /// in moto, so its own memory) with `payload`.
    pub async fn invoke_qualified(
        &self,
        name: &str,
        qualifier: Option<&str>,
        payload: &serde_json::Value,
    ) -> Result<Invocation> {
        let function = self
            .functions
            .lock()
            .expect("functions")
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow!("{name} is not served here"))?;
        let config = self.configuration(name, qualifier).await?;
        let warm = {
            let mut idle = function.idle.lock().expect("idle");
            // A configuration change retires every warm environment.
            idle.retain(|e| e.config == config);
            idle.pop()
        };
        let cold = warm.is_none();
        let mut env = match warm {
            Some(env) => env,
            None => self.start(name, &function, config).await?,
        };
        function.in_flight.fetch_add(1, Ordering::Relaxed);
        let result = self.run(&mut env, payload).await;
        let concurrent = function.in_flight.fetch_sub(1, Ordering::Relaxed);
        let (mut invocation, reusable, events) = result?;
        invocation.cold = cold;
        // The metrics first, stamped with the invocation's start as
        // Lambda's are: a REPORT line that can be read is always counted by
        // the Invocations metric too (the host doubts reports that outnumber
        // it).
        self.put_metrics(name, &invocation, concurrent).await?;
        self.put_logs(name, &env.stream, events).await?;
        if reusable {
            function.idle.lock().expect("idle").push(env);
        }
        Ok(invocation)
    }

    /// Runs one invocation in `env`: the invocation, whether the environment
    /// lives on, and its log events.
    async fn run(
        &self,
        env: &mut Environment,

        payload: &serde_json::Value,
    ) -> Result<(Invocation, bool, Vec<(i64, String)>)> {
        let request_id = self.request_id();
        let timeout = Duration::from_secs(u64::from(env.config.timeout_s.max(1)));
        let started_ms = now_ms();
        let started = Instant::now();
        let first_line = env.output.lines.lock().expect("lines").len();
        env.api.deliver(Delivery {
            request_id: request_id.clone(),
            payload: serde_json::to_vec(payload)?,
            deadline_ms: started_ms + timeout.as_millis() as i64,
            function_arn: env.config.arn.clone(),
        });
        // The invocation's clock (and its timeout) starts when the runtime
        // takes it: on a cold start, after the init phase, which Lambda
        // limits to 10 s of its own.
        let taken = |env: &Environment| env.api.ready_at().map(|ready| ready.max(started));
        let mut timed_out = false;
        let answer = loop {
            tokio::select! {
                answer = env.api.answers.recv() => match answer {
                    Some(Answer::Response { request_id: id, .. } | Answer::Error { request_id: id, .. })
                        if id != request_id => {}
                    Some(Answer::InitError) | None => break None,
                    Some(a) => break Some(a),
                },
                _ = env.child.wait() => break None,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {
                    let limit = match taken(env) {
                        Some(t) => t + timeout,
                        None => env.spawned + INIT_LIMIT,
                    };
                    if Instant::now() >= limit {
                        timed_out = true;
                        break None;
                    }
                }
            }
        };
        let invoke_start = taken(env).unwrap_or(started);
        let elapsed = invoke_start.elapsed();
        let init_ms = (!env.initialised).then(|| {
            env.api
                .ready_at()
                .unwrap_or_else(Instant::now)
                .duration_since(env.spawned)
                .as_secs_f64()
                * 1000.0
        });
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        env.initialised = true;
        let exited = matches!(env.child.try_wait(), Ok(Some(_)));
        let (ended, body) = match answer {
            Some(Answer::Response { body, .. }) => (Ended::Success, body),
            Some(Answer::Error { body, .. }) => (Ended::Error, body),
            _ if timed_out => (Ended::Timeout, Vec::new()),
            _ => {
                // Give the kernel's counters and the reaper a moment.
                let _ = tokio::time::timeout(Duration::from_secs(1), env.child.wait()).await;
                if env.cgroup.oom_kills() > 0 {
                    (Ended::OutOfMemory, Vec::new())
                } else {
                    (Ended::Exited, Vec::new())
                }
            }
        };
        // All of the invocation's output: up to the runtime's end marker, or
        // to the end of the stream when the runtime is gone.
        let marker = format!("\0autorepair-end {request_id}");
        let wait_for_output = async {
            loop {
                let notified = env.output.changed.notified();
                {
                    let lines = env.output.lines.lock().expect("lines");
                    if lines[first_line..].iter().any(|(_, l)| *l == marker)
                        || env.output.closed.load(Ordering::Relaxed)
                    {
                        break;
                    }
                }
                notified.await;
            }
        };
        if ended != Ended::Timeout {
            let _ = tokio::time::timeout(Duration::from_secs(5), wait_for_output).await;
        }
        let max_memory_used_mb = env.cgroup.peak_bytes().div_ceil(1024 * 1024) as u32;
        let invocation = Invocation {
            request_id: request_id.clone(),
            ended,
            body: String::from_utf8_lossy(&body).into_owned(),
            duration_ms,
            max_memory_used_mb: max_memory_used_mb.min(env.config.memory_mb),
            memory_size_mb: env.config.memory_mb,
            log_stream: env.stream.clone(),
            cold: false,
            started_ms,
            log: Vec::new(),
            version: env.config.version.clone(),
        };
        let mut events = Vec::new();
        let output: Vec<(i64, String)> = {
            let mut lines = env.output.lines.lock().expect("lines");
            let taken = lines.split_off(first_line);
            lines.clear();
            taken
        };
        let start_ms = started_ms.min(output.first().map_or(started_ms, |(t, _)| *t));
        // Lines printed while initialising come before START, as Lambda logs them.
        let (init_lines, own): (Vec<_>, Vec<_>) = output
            .into_iter()
            .filter(|(_, l)| *l != marker)
            .partition(|(t, _)| init_ms.is_some() && *t < started_ms);
        events.extend(
            init_lines
                .into_iter()
                .map(|(t, l)| (t, l.replace('\r', "\n"))),
        );
        events.push((
            start_ms,
            format!(
                "START RequestId: {request_id} Version: {}",
                env.config.version
            ),
        ));
        events.extend(own.into_iter().map(|(t, l)| (t, l.replace('\r', "\n"))));
        let end_ms = now_ms();
        match ended {
            Ended::Timeout => events.push((
                end_ms,
                format!(
                    "{} {request_id} Task timed out after {:.2} seconds",
                    autorepair::testing::iso(end_ms),
                    elapsed.as_secs_f64()
                ),
            )),
            Ended::OutOfMemory => events.push((
                end_ms,
                format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed\nRuntime.ExitError"),
            )),
            Ended::Exited => events.push((
                end_ms,
                format!("RequestId: {request_id} Error: Runtime exited with error: exit status 1\nRuntime.ExitError"),
            )),
            Ended::Success | Ended::Error => {}
        }
        events.push((end_ms, format!("END RequestId: {request_id}")));
        events.push((end_ms, report_line(&invocation, init_ms)));
        // A timed-out or crashed environment is replaced, as Lambda does.
        let reusable = matches!(ended, Ended::Success | Ended::Error) && !exited;
        let mut invocation = invocation;
        invocation.log = events.iter().map(|(_, l)| l.clone()).collect();
        Ok((invocation, reusable, events))
    }

    async fn put_logs(
        &self,
        name: &str,
        stream: &str,
        mut events: Vec<(i64, String)>,
    ) -> Result<()> {
        events.sort_by_key(|(t, _)| *t);
        crate::workload::put_log_events(&self.logs, &format!("/aws/lambda/{name}"), stream, &events)
            .await
    }

    async fn put_metrics(&self, name: &str, i: &Invocation, concurrent: usize) -> Result<()> {
        let dimension = Dimension::builder()
            .name("FunctionName")
            .value(name)
            .build();
        let at = DateTime::from_millis(i.started_ms);
        let datum = |metric: &str, value: f64, unit: StandardUnit| {
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(dimension.clone())
                .timestamp(at)
                .value(value)
                .unit(unit)
                .build()
        };
        let failed = if i.ended == Ended::Success { 0.0 } else { 1.0 };
        self.cloudwatch
            .put_metric_data()
            .namespace("AWS/Lambda")
            .metric_data(datum("Invocations", 1.0, StandardUnit::Count))
            .metric_data(datum("Errors", failed, StandardUnit::Count))
            .metric_data(datum("Throttles", 0.0, StandardUnit::Count))
            .metric_data(datum("Duration", i.duration_ms, StandardUnit::Milliseconds))
            .metric_data(datum(
                "ConcurrentExecutions",
                concurrent as f64,
                StandardUnit::Count,
            ))
            .send()
            .await
            .context("PutMetricData")?;
        Ok(())
    }

    /// Retires every warm environment of every function.
    pub fn retire_all(&self) {
        for f in self.functions.lock().expect("functions").values() {
            f.idle.lock().expect("idle").clear();
        }
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        self.retire_all();
    }
}

/// Where the code of the test functions lives.
pub fn test_function(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("functions")
        .join(name)
}

/// The shipped example function.
pub fn example_function() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infrastructure/examples/oom-function")
}
