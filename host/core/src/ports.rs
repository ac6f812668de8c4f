//! Ports: what the stages need from outside, as small traits. Each has one
//! production adapter in the host's `aws` module and an in-memory twin the orchestrator's
//! unit tests drive (the `autorepair-twins` crate); the clock port lives in
//! [`crate::clock`]. Stages import these and the domain model, never an SDK.

use async_trait::async_trait;

use serde_json::Value;

use crate::model::{AiRun, Evidence, FunctionInfo, LogLine, MetricSeries, Millis, Window};
use crate::stage::Stage;

pub use crate::decide::History;

pub use crate::clock::Clock;

/// Why a function store call failed, as the stages branch on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("function {0} not found")]
    NotFound(String),
    /// Someone changed the function (or alias) since the revision we sent.
    #[error("the function changed since it was read (revision mismatch)")]
    Precondition,
    /// Another update is in progress (HTTP 409).
    #[error("another update is in progress")]
    Busy,
    #[error("{0}")]
    Other(String),
}

/// Where Lambda says the last configuration update stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateState {
    InProgress,
    Failed(String),
    /// Done; the revision the update produced.
    Successful(Option<String>),
}

/// What a synchronous invocation returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invoked {
    /// Lambda's `FunctionError` (`Unhandled`, …) when the function failed.
    pub function_error: Option<String>,
    /// The last lines the invocation logged (Lambda's `LogType: Tail`).
    pub log_tail: String,
}

/// The version an alias serves, and the alias's own revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    pub version: String,
    pub revision_id: Option<String>,
}

/// Lambda, as the stages use it: read a function, change its memory, publish
/// a version, move an alias.
#[async_trait]
pub trait FunctionStore: Send + Sync {
    /// The configuration and tags of `name` (for `qualifier`, of the version
    /// behind that alias). Tags that cannot be read are empty (not opted in).
    async fn read(&self, name: &str, qualifier: Option<&str>) -> Result<FunctionInfo, StoreError>;
    /// Sets `$LATEST`'s memory, sending `revision` as the guard when given;
    /// returns the revision the service reports.
    async fn update_memory(
        &self,
        name: &str,
        memory_mb: u32,
        revision: Option<&str>,
    ) -> Result<Option<String>, StoreError>;
    /// Where the last update of `name` stands.
    async fn update_state(&self, name: &str) -> Result<UpdateState, StoreError>;
    /// Publishes `$LATEST` as a version, only if it runs `code_sha256` and is
    /// still at `revision` (else [`StoreError::Precondition`]).
    async fn publish_version(
        &self,
        name: &str,
        code_sha256: &str,
        revision: Option<&str>,
    ) -> Result<String, StoreError>;
    async fn alias(&self, name: &str, alias: &str) -> Result<AliasTarget, StoreError>;
    /// Invokes the function (or alias) once, synchronously, with `payload`.
    async fn invoke(
        &self,
        name: &str,
        qualifier: Option<&str>,
        payload: &[u8],
    ) -> Result<Invoked, StoreError>;
    /// Points `alias` at `version`, guarded by the alias's `revision` when given.
    async fn move_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        revision: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// CloudWatch, as the collect stage uses it. A source that fails or is missing
/// is a note, never an error: evidence is collected with what there is.
#[async_trait]
pub trait Telemetry: Send + Sync {
    /// The Lambda (and Lambda Insights, when present) series of `function`
    /// over `window`, with notes on what was missing.
    async fn metrics(&self, function: &str, window: Window) -> (Vec<MetricSeries>, Vec<String>);
    /// The relevant lines of `log_group` in `window`, at most `cap`, with notes.
    async fn log_lines(
        &self,
        log_group: &str,
        window: Window,
        cap: usize,
    ) -> (Vec<LogLine>, Vec<String>);
}

/// A failed audit store call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit table {table}: {message}")]
pub struct AuditError {
    pub table: String,
    pub message: String,
}

/// Whether a conditional write went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Won,
    /// Someone was there first (a redelivered event, a lock held, another
    /// stage's commit).
    Taken,
}

/// One incident's record as the audit table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub status: String,
    /// The run document (JSON).
    pub document: String,
    /// How many stages have committed since the claim (0 right after it);
    /// a commit names the version it read, so two writers never both win.
    pub version: u64,
    /// The stage behind each commit: `stages[v]` made version `v + 1`.
    pub stages: Vec<Stage>,
}

/// Who a sweep's applied downsizing is recorded under (`sweep:<name>`).
pub const SWEEP_CHANGE_PREFIX: &str = "sweep:";

/// The audit table: incident records (idempotency), a lock per function, the
/// history of changes per function.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Claims `incident_id`: the first delivery wins, a redelivery is `Taken`.
    async fn claim(
        &self,
        incident_id: &str,
        function: &str,
        record_json: &str,
        now_ms: Millis,
    ) -> Result<Claim, AuditError>;
    /// Writes the incident's record as it now stands, within a stage (the
    /// version stays: a retried stage finds the marks of its crashed attempt).
    async fn update(
        &self,
        incident_id: &str,
        status: &str,
        record_json: &str,
        now_ms: Millis,
    ) -> Result<(), AuditError>;
    /// Like [`AuditStore::update`], only while the record is still at
    /// `version`; `Taken` when a commit (an answer, another stage) came
    /// since — for a write that must never overwrite one.
    async fn update_at(
        &self,
        incident_id: &str,
        version: u64,
        status: &str,
        record_json: &str,
        now_ms: Millis,
    ) -> Result<Claim, AuditError>;
    /// Saves the run `stage` produced, only when the record is still at
    /// version `expected` (it becomes `expected + 1`); `Taken` when another
    /// commit came first.
    async fn commit(
        &self,
        incident_id: &str,
        stage: Stage,
        status: &str,
        record_json: &str,
        expected: u64,
        now_ms: Millis,
    ) -> Result<Claim, AuditError>;
    /// The stored record of `incident_id`.
    async fn get(&self, incident_id: &str) -> Result<Option<StoredRecord>, AuditError>;
    /// Takes the lock on `function` for `incident_id` until `now + ttl`; an
    /// expired lock can be taken over, and the holder may take it again.
    async fn lock(
        &self,
        function: &str,
        incident_id: &str,
        now_ms: Millis,
        ttl_ms: i64,
    ) -> Result<Claim, AuditError>;
    /// Releases the lock if `incident_id` still holds it.
    async fn unlock(&self, function: &str, incident_id: &str) -> Result<(), AuditError>;
    /// Records a change to `function` (for cooldown and the daily cap).
    async fn record_change(
        &self,
        function: &str,
        incident_id: &str,
        from_mb: u32,
        to_mb: u32,
        at_ms: Millis,
    ) -> Result<(), AuditError>;
    /// Changes to `function` in the 24 hours before `now_ms` made by
    /// incidents: a sweep's downsizing (recorded under [`SWEEP_CHANGE_PREFIX`])
    /// is not one, so an out-of-memory right after it is repaired at once.
    async fn history(&self, function: &str, now_ms: Millis) -> Result<History, AuditError>;
    /// The sizes incidents raised `function` from, over the whole retained
    /// change history (not only 24 hours; a sweep's own changes left out):
    /// each proved too small, so a sweep never sizes the function back to it.
    async fn raised_from(&self, function: &str) -> Result<Vec<u32>, AuditError>;
    /// Every incident's record document (the run JSON), for the A/B report.
    async fn records(&self) -> Result<Vec<String>, AuditError>;
}

/// Where notices go (SNS in production).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes one notice; returns its message id.
    async fn publish(&self, subject: &str, text: &str, record_json: &str)
    -> Result<String, String>;
}

/// An object store rules can be fetched from (S3 in production).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The object's bytes; `None` when there is no such key. Objects over
    /// `max_bytes` are refused without being read.
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, String>;
}

/// One request to the model: a system prompt, one user message and the one
/// tool it must call.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub model_id: String,
    pub system: String,
    pub user: String,
    pub tool_name: &'static str,
    pub tool_description: &'static str,
    pub tool_schema: Value,
    pub max_tokens: u32,
}

/// The tool call a model answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    pub name: String,
    pub input: Value,
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelReply {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub stop_reason: String,
    pub tool_use: Option<ToolUse>,
}

/// A failed model call, and whether trying again may help (throttling, a
/// model not ready, a timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    pub retryable: bool,
    pub message: String,
}

/// The port to a language model.
#[async_trait]
pub trait Model: Send + Sync {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, ModelError>;
}

/// The port the pipeline asks: one incident in, what the AI said out. Never
/// fails: a failure is an [`AiRun`] with status `failed` and the reason.
#[async_trait]
pub trait AiDiagnoser: Send + Sync {
    async fn diagnose(&self, evidence: &Evidence) -> AiRun;
}

/// A failed call to one of the fleet's ports (listing, alarms, recommendations).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct FleetError {
    /// The call that failed (`ListFunctions`, `PutMetricAlarm my-alarm`, …).
    pub what: String,
    pub message: String,
}

/// Every function of the account and region, with the tags of those opted
/// in (a function listed without tags is not opted in).
#[async_trait]
pub trait Inventory: Send + Sync {
    async fn functions(&self) -> Result<Vec<crate::model::FleetFunction>, FleetError>;
}

/// The alarms named with a prefix: autorepair's own, and the names of the
/// others (made by hand), which onboarding never touches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExistingAlarms {
    pub managed: Vec<crate::model::AlarmSpec>,
    pub unmanaged: Vec<String>,
}

/// CloudWatch metric alarms, as onboarding manages them.
#[async_trait]
pub trait AlarmStore: Send + Sync {
    /// The alarms named with `prefix`, autorepair's own told apart.
    async fn existing(&self, prefix: &str) -> Result<ExistingAlarms, FleetError>;
    /// Creates or replaces one alarm, tagged as autorepair's.
    async fn put(&self, alarm: &crate::model::AlarmSpec) -> Result<(), FleetError>;
    async fn delete(&self, names: &[String]) -> Result<(), FleetError>;
}

/// Where sweeps keep their standing recommendations (the audit table).
#[async_trait]
pub trait RecommendationStore: Send + Sync {
    async fn put_recommendation(
        &self,
        recommendation: &crate::model::StandingRecommendation,
    ) -> Result<(), FleetError>;
    async fn recommendation(
        &self,
        function: &str,
    ) -> Result<Option<crate::model::StandingRecommendation>, FleetError>;
    async fn recommendations(
        &self,
    ) -> Result<Vec<crate::model::StandingRecommendation>, FleetError>;
}

/// Where a sweep leaves its item list for the Distributed Map to read (S3).
#[async_trait]
pub trait ItemStore: Send + Sync {
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), FleetError>;
}

/// The workflow engine, as an approval answers it (Step Functions'
/// SendTaskSuccess).
#[async_trait]
pub trait Workflow: Send + Sync {
    /// Resumes the task waiting on `token` with `output` (JSON).
    async fn resume(&self, token: &str, output: &str) -> Result<(), FleetError>;
}
