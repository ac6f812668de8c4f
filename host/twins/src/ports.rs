//! In-memory twins of every port, for the orchestrator's unit tests: a Lambda
//! that keeps versions, aliases and revisions; log lines written by a
//! simulated workload; an audit table with conditional writes; a notifier
//! that keeps what it sent; a scripted AI; a clock that only moves when a
//! stage sleeps. Each can be told to fail an operation, to inject the faults
//! the stages must survive.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use autorepair_core::clock::Clock;
use autorepair_core::incident::AlarmState;
use autorepair_core::model::AiRun;
use autorepair_core::model::{
    Evidence, FunctionInfo, LogLine, MetricSeries, Millis, RecordedChange, Window,
};
use autorepair_core::ports::AiDiagnoser;
use autorepair_core::ports::{
    AlarmChange, AlarmReader, AlarmRecord, AliasTarget, AuditError, AuditStore, Claim,
    ExecutionRecord, Executions, FleetError, FunctionStore, Invoked, LogRead, Notifier,
    NotifyError, StoreError, StoredRecord, Telemetry, UpdateState,
};
use autorepair_core::run::Status;
use autorepair_core::stage::Stage;

/// A clock that stands still until a stage sleeps; each sleep moves it on and
/// runs the hooks (a workload writing the traffic of the elapsed time).
pub struct FakeClock {
    now: AtomicI64,
    #[allow(clippy::type_complexity)]
    on_sleep: Mutex<Vec<Box<dyn Fn(Millis, Millis) + Send + Sync>>>,
    slept: Mutex<Vec<Duration>>,
}

impl FakeClock {
    pub fn at(now: Millis) -> FakeClock {
        FakeClock {
            now: AtomicI64::new(now),
            on_sleep: Mutex::new(Vec::new()),
            slept: Mutex::new(Vec::new()),
        }
    }

    /// Runs `hook(from, to)` whenever time moves forward by a sleep.
    pub fn on_sleep(&self, hook: impl Fn(Millis, Millis) + Send + Sync + 'static) {
        self.on_sleep.lock().unwrap().push(Box::new(hook));
    }

    /// Every sleep so far.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }
}

#[async_trait]
impl Clock for FakeClock {
    fn now_ms(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }

    async fn sleep(&self, duration: Duration) {
        let from = self
            .now
            .fetch_add(duration.as_millis() as Millis, Ordering::SeqCst);
        let to = from + duration.as_millis() as Millis;
        self.slept.lock().unwrap().push(duration);
        for hook in self.on_sleep.lock().unwrap().iter() {
            hook(from, to);
        }
    }
}

/// The Lambda operations a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LambdaOp {
    Read,
    UpdateMemory,
    Publish,
    MoveAlias,
    Invoke,
}

#[derive(Debug, Clone)]
struct Function {
    latest: FunctionInfo,
    revision: u32,
    versions: Vec<FunctionInfo>,
    aliases: HashMap<String, (String, u32)>,
}

/// A Lambda in memory: functions, their versions and aliases, revisions that
/// change with every update.
#[derive(Default)]
pub struct MemoryLambda {
    /// What an invocation answers, per function: the function's error, if it
    /// fails; it succeeds by default, logging a REPORT at its memory.
    invocations: Mutex<HashMap<String, Option<String>>>,
    functions: Mutex<BTreeMap<String, Function>>,
    faults: Mutex<HashMap<LambdaOp, Vec<StoreError>>>,
    calls: Mutex<Vec<LambdaOp>>,
    /// Memory updates keep the revision id (as moto's Lambda does).
    revisions_kept: std::sync::atomic::AtomicBool,
}

impl MemoryLambda {
    /// From now on a memory update keeps the function's revision id, as
    /// moto's Lambda does (AWS's changes it).
    pub fn keep_revisions(&self) {
        self.revisions_kept
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Adds a function with `memory_mb`, opted in or not.
    pub fn add(&self, name: &str, memory_mb: u32, opted_in: bool) {
        let mut tags = BTreeMap::new();
        if opted_in {
            tags.insert("autorepair".to_owned(), "enabled".to_owned());
        }
        let latest = FunctionInfo {
            name: name.to_owned(),
            arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
            runtime: "nodejs20.x".into(),
            architecture: "x86_64".into(),
            memory_mb,
            timeout_s: 10,
            code_sha256: "code-1".into(),
            config_sha256: "config-1".into(),
            tags,
            ..FunctionInfo::default()
        };
        self.functions.lock().unwrap().insert(
            name.to_owned(),
            Function {
                latest,
                revision: 1,
                versions: Vec::new(),
                aliases: HashMap::new(),
            },
        );
    }

    /// Removes the opt-in tag, as an owner opting out would.
    pub fn opt_out(&self, name: &str) {
        if let Some(f) = self.functions.lock().unwrap().get_mut(name) {
            f.latest.tags.remove("autorepair");
        }
    }

    /// Publishes `$LATEST` as a version and points `alias` at it.
    pub fn add_alias(&self, name: &str, alias: &str) {
        let mut functions = self.functions.lock().unwrap();
        let f = functions.get_mut(name).expect("function exists");
        f.versions.push(f.latest.clone());
        let version = f.versions.len().to_string();
        f.aliases.insert(alias.to_owned(), (version, 1));
    }

    /// Someone else's change: `$LATEST`'s memory set behind our back.
    pub fn set_memory_behind_our_back(&self, name: &str, memory_mb: u32) {
        let mut functions = self.functions.lock().unwrap();
        let f = functions.get_mut(name).expect("function exists");
        f.latest.memory_mb = memory_mb;
        f.revision += 1;
    }

    /// From now on, invoking `name` fails with `error` (as Lambda's `FunctionError`).
    pub fn fail_invocations(&self, name: &str, error: &str) {
        self.invocations
            .lock()
            .unwrap()
            .insert(name.to_owned(), Some(error.to_owned()));
    }

    /// A setting changed in `$LATEST` (environment, layers…), code unchanged.
    pub fn deploy_config(&self, name: &str, config: &str) {
        let mut functions = self.functions.lock().unwrap();
        let f = functions.get_mut(name).expect("function exists");
        f.latest.config_sha256 = config.to_owned();
        f.revision += 1;
    }

    /// Someone else points `alias` at another version (a release).
    pub fn release(&self, name: &str, alias: &str) {
        let mut functions = self.functions.lock().unwrap();
        let f = functions.get_mut(name).expect("function exists");
        f.versions.push(f.latest.clone());
        let version = f.versions.len().to_string();
        let entry = f.aliases.get_mut(alias).expect("alias exists");
        *entry = (version, entry.1 + 1);
    }

    /// The version `alias` serves.
    pub fn alias_version(&self, name: &str, alias: &str) -> Option<String> {
        let functions = self.functions.lock().unwrap();
        functions.get(name)?.aliases.get(alias).map(|a| a.0.clone())
    }

    /// New code in `$LATEST` that no version has yet.
    pub fn deploy_code(&self, name: &str, code: &str) {
        let mut functions = self.functions.lock().unwrap();
        let f = functions.get_mut(name).expect("function exists");
        f.latest.code_sha256 = code.to_owned();
        f.revision += 1;
    }

    pub fn delete(&self, name: &str) {
        self.functions.lock().unwrap().remove(name);
    }

    /// The next calls of `op` fail with `errors`, in order.
    pub fn fail(&self, op: LambdaOp, errors: Vec<StoreError>) {
        self.faults.lock().unwrap().insert(op, errors);
    }

    /// `$LATEST`'s memory.
    pub fn memory_mb(&self, name: &str) -> Option<u32> {
        self.functions
            .lock()
            .unwrap()
            .get(name)
            .map(|f| f.latest.memory_mb)
    }

    /// The memory of the version `alias` serves.
    pub fn alias_memory_mb(&self, name: &str, alias: &str) -> Option<u32> {
        let functions = self.functions.lock().unwrap();
        let f = functions.get(name)?;
        // A version number serves itself; an alias, the version it names.
        let version = match f.aliases.get(alias) {
            Some((version, _)) => version.as_str(),
            None => alias,
        };
        let index: usize = version.parse().ok()?;
        f.versions
            .get(index.checked_sub(1)?)
            .map(|v| v.memory_mb)
            .filter(|mb| *mb > 0)
    }

    /// Versions published and not deleted.
    pub fn live_versions(&self, name: &str) -> usize {
        let functions = self.functions.lock().unwrap();
        functions
            .get(name)
            .map_or(0, |f| f.versions.iter().filter(|v| v.memory_mb > 0).count())
    }

    /// How many times `op` was called.
    pub fn calls(&self, op: LambdaOp) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == op)
            .count()
    }

    fn enter(&self, op: LambdaOp) -> Result<(), StoreError> {
        self.calls.lock().unwrap().push(op);
        let mut faults = self.faults.lock().unwrap();
        match faults.get_mut(&op) {
            Some(queue) if !queue.is_empty() => Err(queue.remove(0)),
            _ => Ok(()),
        }
    }
}

fn revision(n: u32) -> Option<String> {
    Some(format!("rev-{n}"))
}

#[async_trait]
impl FunctionStore for MemoryLambda {
    async fn read(&self, name: &str, qualifier: Option<&str>) -> Result<FunctionInfo, StoreError> {
        self.enter(LambdaOp::Read)?;
        let functions = self.functions.lock().unwrap();
        let f = functions
            .get(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        let Some(alias) = qualifier else {
            return Ok(FunctionInfo {
                revision_id: revision(f.revision),
                version: "$LATEST".into(),
                ..f.latest.clone()
            });
        };
        let (version, _) = f
            .aliases
            .get(alias)
            .ok_or_else(|| StoreError::NotFound(format!("{name}:{alias}")))?;
        let index: usize = version.parse().unwrap_or(0);
        let served = f
            .versions
            .get(index.wrapping_sub(1))
            .ok_or_else(|| StoreError::NotFound(format!("{name}:{version}")))?;
        Ok(FunctionInfo {
            arn: format!("{}:{alias}", f.latest.arn),
            qualifier: Some(alias.to_owned()),
            tags: f.latest.tags.clone(),
            revision_id: revision(f.revision),
            version: version.clone(),
            ..served.clone()
        })
    }

    async fn update_memory(
        &self,
        name: &str,
        memory_mb: u32,
        guard: Option<&str>,
    ) -> Result<autorepair_core::ports::Updated, StoreError> {
        self.enter(LambdaOp::UpdateMemory)?;
        let mut functions = self.functions.lock().unwrap();
        let f = functions
            .get_mut(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        if guard.is_some_and(|g| Some(g.to_owned()) != revision(f.revision)) {
            return Err(StoreError::Precondition);
        }
        f.latest.memory_mb = memory_mb;
        if !self
            .revisions_kept
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            f.revision += 1;
        }
        Ok(autorepair_core::ports::Updated {
            revision_id: revision(f.revision),
            request_id: Some(format!("twin-request-{}", f.revision)),
        })
    }

    async fn update_state(&self, name: &str) -> Result<UpdateState, StoreError> {
        let functions = self.functions.lock().unwrap();
        let f = functions
            .get(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        Ok(UpdateState::Successful(revision(f.revision)))
    }

    async fn publish_version(
        &self,
        name: &str,
        code_sha256: &str,
        guard: Option<&str>,
    ) -> Result<String, StoreError> {
        self.enter(LambdaOp::Publish)?;
        let mut functions = self.functions.lock().unwrap();
        let f = functions
            .get_mut(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        if f.latest.code_sha256 != code_sha256
            || guard.is_some_and(|g| Some(g.to_owned()) != revision(f.revision))
        {
            return Err(StoreError::Precondition);
        }
        f.versions.push(f.latest.clone());
        Ok(f.versions.len().to_string())
    }

    async fn alias(&self, name: &str, alias: &str) -> Result<AliasTarget, StoreError> {
        let functions = self.functions.lock().unwrap();
        let f = functions
            .get(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        let (version, rev) = f
            .aliases
            .get(alias)
            .ok_or_else(|| StoreError::NotFound(format!("{name}:{alias}")))?;
        Ok(AliasTarget {
            version: version.clone(),
            revision_id: revision(*rev),
        })
    }

    async fn delete_version(&self, name: &str, version: &str) -> Result<(), StoreError> {
        let mut functions = self.functions.lock().unwrap();
        let f = functions
            .get_mut(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        let index: usize = version
            .parse()
            .map_err(|_| StoreError::NotFound(format!("{name}:{version}")))?;
        if f.aliases.values().any(|(v, _)| v == version) {
            return Err(StoreError::Other(format!(
                "version {version} is served by an alias"
            )));
        }
        match f.versions.get_mut(index.wrapping_sub(1)) {
            // Versions keep their numbers: a deleted one leaves a hole.
            Some(v) if v.memory_mb > 0 => {
                v.memory_mb = 0;
                Ok(())
            }
            _ => Err(StoreError::NotFound(format!("{name}:{version}"))),
        }
    }

    async fn aliases(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let functions = self.functions.lock().unwrap();
        let f = functions
            .get(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        let mut names: Vec<String> = f.aliases.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    async fn invoke(
        &self,
        name: &str,
        qualifier: Option<&str>,
        _payload: &[u8],
    ) -> Result<Invoked, StoreError> {
        self.enter(LambdaOp::Invoke)?;
        let memory = match qualifier {
            Some(alias) => self.alias_memory_mb(name, alias),
            None => self.memory_mb(name),
        }
        .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        let error = self
            .invocations
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .flatten();
        let id = "5f0c2d1e-0000-4000-8000-000000000001";
        let status = match &error {
            Some(_) => "Status: error\tError Type: Runtime.ExitError\t",
            None => "",
        };
        Ok(Invoked {
            log_tail: format!(
                "START RequestId: {id} Version: $LATEST\nREPORT RequestId: {id}\tDuration: 12.00 ms\tBilled Duration: 12 ms\tMemory Size: {memory} MB\tMax Memory Used: {} MB\t{status}\n",
                memory / 3
            ),
            function_error: error,
        })
    }

    async fn move_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        guard: Option<&str>,
    ) -> Result<(), StoreError> {
        self.enter(LambdaOp::MoveAlias)?;
        let mut functions = self.functions.lock().unwrap();
        let f = functions
            .get_mut(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        let entry = f
            .aliases
            .get_mut(alias)
            .ok_or_else(|| StoreError::NotFound(format!("{name}:{alias}")))?;
        if guard.is_some_and(|g| Some(g.to_owned()) != revision(entry.1)) {
            return Err(StoreError::Precondition);
        }
        *entry = (version.to_owned(), entry.1 + 1);
        Ok(())
    }
}

/// CloudWatch in memory: log lines per group, metric series per function.
#[derive(Default)]
pub struct MemoryTelemetry {
    lines: Mutex<BTreeMap<String, Vec<LogLine>>>,
    metrics: Mutex<BTreeMap<String, Vec<MetricSeries>>>,
    /// Answers [`Telemetry::report_figures`] (as Logs Insights would) from
    /// every line, uncapped.
    insights: std::sync::atomic::AtomicBool,
}

impl MemoryTelemetry {
    /// From now on, figures come as from Logs Insights: every line counted.
    pub fn serve_insights(&self) {
        self.insights
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn log(&self, group: &str, timestamp_ms: Millis, message: String) {
        self.lines
            .lock()
            .unwrap()
            .entry(group.to_owned())
            .or_default()
            .push(LogLine {
                timestamp_ms,
                message,
                log_stream: None,
            });
    }

    pub fn add_metric(&self, function: &str, series: MetricSeries) {
        self.metrics
            .lock()
            .unwrap()
            .entry(function.to_owned())
            .or_default()
            .push(series);
    }
}

#[async_trait]
impl Telemetry for MemoryTelemetry {
    async fn metrics(&self, function: &str, window: Window) -> (Vec<MetricSeries>, Vec<String>) {
        let metrics = self.metrics.lock().unwrap();
        let series = metrics
            .get(function)
            .into_iter()
            .flatten()
            .map(|s| MetricSeries {
                points: s
                    .points
                    .iter()
                    .filter(|p| {
                        p.timestamp_ms >= window.start_ms && p.timestamp_ms <= window.end_ms
                    })
                    .cloned()
                    .collect(),
                ..s.clone()
            })
            .collect();
        (series, Vec::new())
    }

    async fn log_lines(&self, group: &str, window: Window, cap: usize) -> LogRead {
        let lines = self.lines.lock().unwrap();
        let Some(all) = lines.get(group) else {
            let missing = format!("log group {group} does not exist");
            return LogRead::new(Vec::new(), cap, 0, Some(missing));
        };
        let found: Vec<LogLine> = all
            .iter()
            .filter(|l| l.timestamp_ms >= window.start_ms && l.timestamp_ms <= window.end_ms)
            .filter(|l| autorepair_core::logs::relevant(&l.message))
            .cloned()
            .collect();
        LogRead::new(found, cap, 0, None)
    }

    async fn search_lines(
        &self,
        group: &str,
        pattern: &str,
        window: Window,
        cap: usize,
    ) -> LogRead {
        let lines = self.lines.lock().unwrap();
        let Some(all) = lines.get(group) else {
            let missing = format!("log group {group} does not exist");
            return LogRead::new(Vec::new(), cap, 0, Some(missing));
        };
        // CloudWatch's simplest patterns: terms a line must all contain
        // (quoted or not), case-sensitive as the service's.
        let terms: Vec<&str> = pattern
            .split_whitespace()
            .map(|t| t.trim_matches('"'))
            .filter(|t| !t.is_empty())
            .collect();
        let found: Vec<LogLine> = all
            .iter()
            .filter(|l| l.timestamp_ms >= window.start_ms && l.timestamp_ms <= window.end_ms)
            .filter(|l| terms.iter().all(|t| l.message.contains(t)))
            .cloned()
            .collect();
        LogRead::new(found, cap, 0, None)
    }

    async fn report_figures(
        &self,
        group: &str,
        window: Window,
    ) -> Result<(autorepair_core::figures::Figures, Vec<String>), String> {
        if !self.insights.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(
                "this twin answers no Logs Insights query (serve_insights turns it on)".into(),
            );
        }
        let lines = self.lines.lock().unwrap();
        let Some(all) = lines.get(group) else {
            return Err(format!("log group {group} does not exist"));
        };
        let found: Vec<LogLine> = all
            .iter()
            .filter(|l| l.timestamp_ms >= window.start_ms && l.timestamp_ms <= window.end_ms)
            .cloned()
            .collect();
        let reports = autorepair_core::logs::parse_reports(&found);
        let mut figures = autorepair_core::figures::Figures::of_reports(&reports, true);
        figures.source = autorepair_core::figures::FiguresSource::LogsInsights;
        Ok((
            figures,
            vec![format!(
                "the twin's query counted {} reports",
                reports.len()
            )],
        ))
    }
}

/// The audit store operations a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOp {
    Claim,
    Update,
    Commit,
    Get,
    Lock,
    Unlock,
    RecordChange,
    History,
    Pauses,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEntry {
    pub function: String,
    pub incident_id: String,
    pub from_mb: u32,
    pub to_mb: u32,
    pub at_ms: Millis,
}

/// The audit table in memory, with the same conditional writes.
#[derive(Default)]
pub struct MemoryAudit {
    records: Mutex<BTreeMap<String, StoredRecord>>,
    locks: Mutex<BTreeMap<String, (String, Millis)>>,
    changes: Mutex<Vec<ChangeEntry>>,
    /// Changes another writer records right after our next one (a race).
    racing: Mutex<Vec<ChangeEntry>>,
    /// (operation, calls that succeed before it fails, calls that fail then).
    failing: Mutex<Vec<(AuditOp, usize, usize)>>,
    calls: Mutex<HashMap<AuditOp, usize>>,
    /// Notices counted, by (function, hour).
    notices: Mutex<HashMap<(String, Millis), u32>>,
    /// Past incidents remembered, oldest first.
    past: Mutex<Vec<autorepair_core::model::PastIncident>>,
    /// Pauses in force, by function ("" for every function).
    pauses: Mutex<BTreeMap<String, autorepair_core::model::Pause>>,
}

impl MemoryAudit {
    /// Every later call of `op` fails.
    pub fn fail(&self, op: AuditOp) {
        self.fail_after(op, 0);
    }

    /// `op` succeeds `calls` more times, then fails every time.
    pub fn fail_after(&self, op: AuditOp, calls: usize) {
        let made = self.calls.lock().unwrap().get(&op).copied().unwrap_or(0);
        self.failing
            .lock()
            .unwrap()
            .push((op, made + calls, usize::MAX));
    }

    /// The next call of `op` fails, and only that one: a process that died
    /// at that point, as its retry finds the table.
    pub fn fail_next(&self, op: AuditOp) {
        let made = self.calls.lock().unwrap().get(&op).copied().unwrap_or(0);
        self.failing.lock().unwrap().push((op, made, made + 1));
    }

    /// The stored record of `incident_id`, as the table holds it.
    pub fn stored(&self, incident_id: &str) -> Option<StoredRecord> {
        self.records.lock().unwrap().get(incident_id).cloned()
    }

    pub fn changes(&self) -> Vec<ChangeEntry> {
        self.changes.lock().unwrap().clone()
    }

    /// Right after the next change recorded, another writer records
    /// `change` to `function` (another incident racing ours).
    pub fn race_next_change(&self, function: &str, change: RecordedChange) {
        self.racing.lock().unwrap().push(ChangeEntry {
            function: function.to_owned(),
            incident_id: change.incident_id,
            from_mb: change.from_mb,
            to_mb: change.to_mb,
            at_ms: change.at_ms,
        });
    }

    /// The status on `incident_id`'s record, as its wire name.
    pub fn status(&self, incident_id: &str) -> Option<String> {
        self.records
            .lock()
            .unwrap()
            .get(incident_id)
            .map(|r| r.status.to_string())
    }

    pub fn lock_holder(&self, function: &str) -> Option<String> {
        self.locks
            .lock()
            .unwrap()
            .get(function)
            .map(|l| l.0.clone())
    }

    /// Takes the lock on `function` for another incident, until `until_ms`.
    pub fn hold_lock(&self, function: &str, incident_id: &str, until_ms: Millis) {
        self.locks
            .lock()
            .unwrap()
            .insert(function.to_owned(), (incident_id.to_owned(), until_ms));
    }

    fn enter(&self, op: AuditOp) -> Result<(), AuditError> {
        let made = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(op).or_insert(0);
            *n += 1;
            *n - 1
        };
        if self
            .failing
            .lock()
            .unwrap()
            .iter()
            .any(|(o, from, until)| *o == op && (*from..*until).contains(&made))
        {
            return Err(AuditError {
                table: "memory".into(),
                message: format!("{op:?} failed (injected)"),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl AuditStore for MemoryAudit {
    async fn claim(
        &self,
        incident_id: &str,
        _function: &str,
        record_json: &str,
        _now_ms: Millis,
    ) -> Result<Claim, AuditError> {
        self.enter(AuditOp::Claim)?;
        let mut records = self.records.lock().unwrap();
        if records.contains_key(incident_id) {
            return Ok(Claim::Taken);
        }
        records.insert(
            incident_id.to_owned(),
            StoredRecord {
                status: Status::Started,
                document: record_json.to_owned(),
                version: 0,
                stages: Vec::new(),
            },
        );
        Ok(Claim::Won)
    }

    async fn update(
        &self,
        incident_id: &str,
        status: Status,
        record_json: &str,
        _now_ms: Millis,
    ) -> Result<(), AuditError> {
        self.enter(AuditOp::Update)?;
        let mut records = self.records.lock().unwrap();
        let record = records
            .entry(incident_id.to_owned())
            .or_insert_with(|| StoredRecord {
                status: Status::Started,
                document: String::new(),
                version: 0,
                stages: Vec::new(),
            });
        record.status = status;
        record.document = record_json.to_owned();
        Ok(())
    }

    async fn update_at(
        &self,
        incident_id: &str,
        version: u64,
        status: Status,
        record_json: &str,
        _now_ms: Millis,
    ) -> Result<Claim, AuditError> {
        self.enter(AuditOp::Update)?;
        let mut records = self.records.lock().unwrap();
        match records.get_mut(incident_id) {
            Some(record) if record.version == version => {
                record.status = status;
                record.document = record_json.to_owned();
                Ok(Claim::Won)
            }
            _ => Ok(Claim::Taken),
        }
    }

    async fn commit(
        &self,
        incident_id: &str,
        stage: Stage,
        status: Status,
        record_json: &str,
        expected: u64,
        _now_ms: Millis,
    ) -> Result<Claim, AuditError> {
        self.enter(AuditOp::Commit)?;
        let mut records = self.records.lock().unwrap();
        match records.get_mut(incident_id) {
            Some(record) if record.version == expected => {
                record.status = status;
                record.document = record_json.to_owned();
                record.version += 1;
                record.stages.push(stage);
                Ok(Claim::Won)
            }
            _ => Ok(Claim::Taken),
        }
    }

    async fn get(&self, incident_id: &str) -> Result<Option<StoredRecord>, AuditError> {
        self.enter(AuditOp::Get)?;
        Ok(self.records.lock().unwrap().get(incident_id).cloned())
    }

    async fn lock(
        &self,
        function: &str,
        incident_id: &str,
        now_ms: Millis,
        ttl_ms: i64,
    ) -> Result<Claim, AuditError> {
        self.enter(AuditOp::Lock)?;
        let mut locks = self.locks.lock().unwrap();
        match locks.get(function) {
            Some((holder, expires)) if holder != incident_id && *expires >= now_ms => {
                Ok(Claim::Taken)
            }
            _ => {
                locks.insert(
                    function.to_owned(),
                    (incident_id.to_owned(), now_ms + ttl_ms),
                );
                Ok(Claim::Won)
            }
        }
    }

    async fn unlock(&self, function: &str, incident_id: &str) -> Result<(), AuditError> {
        self.enter(AuditOp::Unlock)?;
        let mut locks = self.locks.lock().unwrap();
        if locks.get(function).is_some_and(|l| l.0 == incident_id) {
            locks.remove(function);
        }
        Ok(())
    }

    async fn record_change(
        &self,
        function: &str,
        change: &RecordedChange,
    ) -> Result<(), AuditError> {
        self.enter(AuditOp::RecordChange)?;
        let mut changes = self.changes.lock().unwrap();
        changes.push(ChangeEntry {
            function: function.to_owned(),
            incident_id: change.incident_id.clone(),
            from_mb: change.from_mb,
            to_mb: change.to_mb,
            at_ms: change.at_ms,
        });
        changes.append(&mut self.racing.lock().unwrap());
        Ok(())
    }

    async fn list_changes(
        &self,
        function: &str,
        since_ms: Option<Millis>,
    ) -> Result<Vec<RecordedChange>, AuditError> {
        self.enter(AuditOp::History)?;
        Ok(self
            .changes
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.function == function && since_ms.is_none_or(|s| c.at_ms > s))
            .map(|c| RecordedChange {
                incident_id: c.incident_id.clone(),
                at_ms: c.at_ms,
                from_mb: c.from_mb,
                to_mb: c.to_mb,
            })
            .collect())
    }

    async fn records(&self) -> Result<Vec<String>, AuditError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .values()
            .map(|r| r.document.clone())
            .collect())
    }

    async fn pauses(&self) -> Result<Vec<autorepair_core::model::Pause>, AuditError> {
        self.enter(AuditOp::Pauses)?;
        Ok(self.pauses.lock().unwrap().values().cloned().collect())
    }

    async fn pause(&self, pause: &autorepair_core::model::Pause) -> Result<(), AuditError> {
        self.pauses
            .lock()
            .unwrap()
            .insert(pause.function.clone().unwrap_or_default(), pause.clone());
        Ok(())
    }

    async fn resume(&self, function: Option<&str>) -> Result<bool, AuditError> {
        Ok(self
            .pauses
            .lock()
            .unwrap()
            .remove(function.unwrap_or_default())
            .is_some())
    }

    async fn remember(
        &self,
        incident: &autorepair_core::model::PastIncident,
    ) -> Result<(), AuditError> {
        let mut past = self.past.lock().unwrap();
        past.retain(|p| p.incident_id != incident.incident_id);
        past.push(incident.clone());
        Ok(())
    }

    async fn past_incidents(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<Vec<autorepair_core::model::PastIncident>, AuditError> {
        let past = self.past.lock().unwrap();
        let mut found: Vec<_> = past
            .iter()
            .filter(|p| p.function == function)
            .cloned()
            .collect();
        found.sort_by_key(|p| std::cmp::Reverse(p.at_ms));
        found.truncate(limit);
        Ok(found)
    }

    async fn similar_incidents(
        &self,
        runtime: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<autorepair_core::model::PastIncident>, AuditError> {
        let past = self.past.lock().unwrap();
        let mut found: Vec<_> = past
            .iter()
            .filter(|p| p.runtime == runtime && p.kinds.iter().any(|k| k == kind))
            .cloned()
            .collect();
        found.sort_by_key(|p| std::cmp::Reverse(p.at_ms));
        found.truncate(limit);
        Ok(found)
    }

    async fn notice_slot(
        &self,
        function: &str,
        hour_ms: Millis,
        max: u32,
    ) -> Result<bool, AuditError> {
        let mut notices = self.notices.lock().unwrap();
        let count = notices.entry((function.to_owned(), hour_ms)).or_default();
        if *count >= max {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }
}

/// CloudTrail's event history, held in memory: the changes recorded per
/// function, answered for a window newest first.
#[derive(Default)]
pub struct MemoryChangeLog {
    changes: Mutex<Vec<(String, autorepair_core::model::FunctionChange)>>,
    lookups: std::sync::atomic::AtomicUsize,
}

impl MemoryChangeLog {
    /// Lookups answered so far.
    pub fn lookups(&self) -> usize {
        self.lookups.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `function` was changed by `action` at `at_ms`, by `by`.
    pub fn record(&self, function: &str, action: &str, at_ms: Millis, by: &str) {
        self.changes.lock().unwrap().push((
            function.to_owned(),
            autorepair_core::model::FunctionChange {
                action: action.to_owned(),
                at_ms,
                by: by.to_owned(),
                request_id: String::new(),
            },
        ));
    }
}

#[async_trait]
impl autorepair_core::ports::ChangeLog for MemoryChangeLog {
    async fn changes(
        &self,
        function: &str,
        window: Window,
    ) -> Result<Vec<autorepair_core::model::FunctionChange>, autorepair_core::ports::GroundingError>
    {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut found: Vec<_> = self
            .changes
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, c)| {
                f == function && c.at_ms >= window.start_ms && c.at_ms <= window.end_ms
            })
            .map(|(_, c)| c.clone())
            .collect();
        found.sort_by_key(|c| std::cmp::Reverse(c.at_ms));
        Ok(found)
    }
}

/// A notifier that keeps every notice: (subject, text, record JSON), and
/// each one's attributes in `attributes`, in the same order.
#[derive(Default)]
pub struct MemoryNotifier {
    pub sent: Mutex<Vec<(String, String, String)>>,
    pub attributes: Mutex<Vec<autorepair_core::model::NoticeAttributes>>,
    pub failing: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn publish(
        &self,
        subject: &str,
        text: &str,
        record_json: &str,
        attributes: &autorepair_core::model::NoticeAttributes,
    ) -> Result<String, NotifyError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(NotifyError("notifier down (injected)".into()));
        }
        self.attributes.lock().unwrap().push(attributes.clone());
        let mut sent = self.sent.lock().unwrap();
        sent.push((subject.to_owned(), text.to_owned(), record_json.to_owned()));
        Ok(format!("message-{}", sent.len()))
    }
}

/// An AI that answers every incident with the same run.
pub struct ScriptedAi(pub AiRun);

#[async_trait]
impl AiDiagnoser for ScriptedAi {
    async fn diagnose(&self, _evidence: &Evidence) -> AiRun {
        self.0.clone()
    }
}

/// Metric documents kept in memory, in the order emitted.
#[derive(Default)]
pub struct MemoryMetrics {
    pub documents: Mutex<Vec<serde_json::Value>>,
}

impl autorepair_core::metrics::MetricSink for MemoryMetrics {
    fn emit(&self, documents: &[String]) {
        let mut kept = self.documents.lock().unwrap();
        for d in documents {
            kept.push(serde_json::from_str(d).expect("a metric document is JSON"));
        }
    }
}

impl MemoryLambda {
    /// Tags `name` with `key` = `value`.
    pub fn tag(&self, name: &str, key: &str, value: &str) {
        if let Some(f) = self.functions.lock().unwrap().get_mut(name) {
            f.latest.tags.insert(key.to_owned(), value.to_owned());
        }
    }
}

#[async_trait]
impl autorepair_core::ports::Inventory for MemoryLambda {
    async fn functions(
        &self,
    ) -> Result<Vec<autorepair_core::model::FleetFunction>, autorepair_core::ports::FleetError>
    {
        Ok(self
            .functions
            .lock()
            .unwrap()
            .values()
            .map(|f| autorepair_core::model::FleetFunction {
                name: f.latest.name.clone(),
                memory_mb: f.latest.memory_mb,
                timeout_s: f.latest.timeout_s,
                tags: f.latest.tags.clone(),
                layers: Vec::new(),
            })
            .collect())
    }
}

/// Standing recommendations in memory, by function.
#[derive(Default)]
pub struct MemoryRecommendations {
    pub stored: Mutex<BTreeMap<String, autorepair_core::model::StandingRecommendation>>,
}

#[async_trait]
impl autorepair_core::ports::RecommendationStore for MemoryRecommendations {
    async fn put_recommendation(
        &self,
        recommendation: &autorepair_core::model::StandingRecommendation,
    ) -> Result<(), autorepair_core::ports::FleetError> {
        self.stored
            .lock()
            .unwrap()
            .insert(recommendation.key(), recommendation.clone());
        Ok(())
    }

    async fn recommendation(
        &self,
        function: &str,
    ) -> Result<
        Option<autorepair_core::model::StandingRecommendation>,
        autorepair_core::ports::FleetError,
    > {
        Ok(self.stored.lock().unwrap().get(function).cloned())
    }

    async fn recommendations(
        &self,
    ) -> Result<
        Vec<autorepair_core::model::StandingRecommendation>,
        autorepair_core::ports::FleetError,
    > {
        Ok(self.stored.lock().unwrap().values().cloned().collect())
    }
}

/// Objects in memory: (bucket, key) → bytes.
#[derive(Default)]
pub struct MemoryItems {
    pub objects: Mutex<BTreeMap<(String, String), Vec<u8>>>,
}

#[async_trait]
impl autorepair_core::ports::ItemStore for MemoryItems {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<(), autorepair_core::ports::FleetError> {
        self.objects
            .lock()
            .unwrap()
            .insert((bucket.to_owned(), key.to_owned()), body);
        Ok(())
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<u8>, autorepair_core::ports::FleetError> {
        self.objects
            .lock()
            .unwrap()
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
            .ok_or_else(|| autorepair_core::ports::FleetError {
                what: format!("GetObject s3://{bucket}/{key}"),
                message: "NoSuchKey".into(),
            })
    }
}

/// Alarms in memory (onboarding's plan applied), by name.
#[derive(Default)]
pub struct MemoryAlarms {
    pub alarms: Mutex<BTreeMap<String, autorepair_core::model::AlarmSpec>>,
    /// Alarms someone made by hand, by name.
    pub hand_made: Mutex<Vec<String>>,
    /// Alarms among `alarms` without autorepair's tag: copies made in the
    /// console, which keep the description but not the tags.
    pub untagged: Mutex<Vec<String>>,
}

#[async_trait]
impl autorepair_core::ports::AlarmStore for MemoryAlarms {
    async fn existing(
        &self,
        prefix: &str,
    ) -> Result<autorepair_core::ports::ExistingAlarms, autorepair_core::ports::FleetError> {
        Ok(autorepair_core::ports::ExistingAlarms {
            managed: self
                .alarms
                .lock()
                .unwrap()
                .values()
                .filter(|a| a.name.starts_with(prefix))
                .cloned()
                .collect(),
            unmanaged: self
                .hand_made
                .lock()
                .unwrap()
                .iter()
                .filter(|n| n.starts_with(prefix))
                .cloned()
                .collect(),
        })
    }

    async fn put(
        &self,
        alarm: &autorepair_core::model::AlarmSpec,
    ) -> Result<(), autorepair_core::ports::FleetError> {
        self.alarms
            .lock()
            .unwrap()
            .insert(alarm.name.clone(), alarm.clone());
        Ok(())
    }

    async fn owned(
        &self,
        names: &[String],
    ) -> Result<Vec<String>, autorepair_core::ports::FleetError> {
        let alarms = self.alarms.lock().unwrap();
        let untagged = self.untagged.lock().unwrap();
        Ok(names
            .iter()
            .filter(|n| alarms.contains_key(*n) && !untagged.contains(n))
            .cloned()
            .collect())
    }

    async fn delete(&self, names: &[String]) -> Result<(), autorepair_core::ports::FleetError> {
        let mut alarms = self.alarms.lock().unwrap();
        for name in names {
            alarms.remove(name);
        }
        Ok(())
    }
}

/// CloudWatch's side of alarm events, in memory: each alarm's state now and
/// its history, as [`raise`](AlarmStates::raise) writes them.
#[derive(Default)]
pub struct AlarmStates {
    alarms: Mutex<BTreeMap<String, (AlarmRecord, Vec<AlarmChange>)>>,
}

impl AlarmStates {
    /// CloudWatch sets the alarm `event` describes to the event's state at
    /// the event's time (creating the alarm on first use): the event is then
    /// a real state change.
    pub fn raise(&self, event: &serde_json::Value) {
        let incident = autorepair_core::incident::parse_value(event).expect("an alarm event");
        let mut alarms = self.alarms.lock().unwrap();
        let (record, history) = alarms
            .entry(incident.alarm_name.clone())
            .or_insert_with(|| {
                (
                    AlarmRecord {
                        name: incident.alarm_name.clone(),
                        arn: incident.alarm_arn.clone(),
                        functions: vec![incident.function_name.clone()],
                        state: AlarmState::Ok,
                        state_changed_ms: 0,
                    },
                    Vec::new(),
                )
            });
        record.state = incident.state;
        record.state_changed_ms = incident.timestamp_ms;
        history.push(AlarmChange {
            at_ms: incident.timestamp_ms,
            to: incident.state,
        });
    }
}

#[async_trait]
impl AlarmReader for AlarmStates {
    async fn describe(&self, name: &str) -> Result<Option<AlarmRecord>, FleetError> {
        Ok(self
            .alarms
            .lock()
            .unwrap()
            .get(name)
            .map(|(a, _)| a.clone()))
    }

    async fn changes(&self, name: &str, window: Window) -> Result<Vec<AlarmChange>, FleetError> {
        Ok(self
            .alarms
            .lock()
            .unwrap()
            .get(name)
            .map(|(_, h)| {
                h.iter()
                    .filter(|c| window.start_ms <= c.at_ms && c.at_ms <= window.end_ms)
                    .copied()
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Step Functions' executions, in memory: those [`start`](MemoryExecutions::start)ed
/// run until [`stop`](MemoryExecutions::stop)ped.
#[derive(Default)]
pub struct MemoryExecutions {
    executions: Mutex<HashMap<String, ExecutionRecord>>,
}

impl MemoryExecutions {
    /// A running execution `arn` of `state_machine`.
    pub fn start(&self, arn: &str, state_machine: &str) {
        self.executions.lock().unwrap().insert(
            arn.to_owned(),
            ExecutionRecord {
                state_machine_arn: state_machine.to_owned(),
                status: "RUNNING".into(),
            },
        );
    }

    /// The execution ends with `status` (`SUCCEEDED`, `ABORTED`, …).
    pub fn stop(&self, arn: &str, status: &str) {
        if let Some(e) = self.executions.lock().unwrap().get_mut(arn) {
            e.status = status.to_owned();
        }
    }
}

#[async_trait]
impl Executions for MemoryExecutions {
    async fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, FleetError> {
        Ok(self.executions.lock().unwrap().get(arn).cloned())
    }
}
