//! Ports: what the stages need from outside, as small traits. Each has one
//! production adapter in the host's `aws` module and an in-memory twin the orchestrator's
//! unit tests drive (the `autorepair-twins` crate); the clock port lives in
//! [`crate::clock`]. Stages import these and the domain model, never an SDK.

use std::sync::Arc;

use async_trait::async_trait;

use serde_json::Value;

use crate::model::{
    AiRun, Evidence, FunctionInfo, LogLine, MetricSeries, Millis, RecordedChange, Window,
};
use crate::run::Status;
use crate::stage::Stage;

/// What the guard knows of a function's past changes ([`AuditStore::history`]).
pub use crate::decide::History;

/// The clock port, re-exported with the others.
pub use crate::clock::Clock;

/// Why a function store call failed, as the stages branch on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such function (or alias); the name given.
    #[error("function {0} not found")]
    NotFound(String),
    /// Someone changed the function (or alias) since the revision we sent.
    #[error("the function changed since it was read (revision mismatch)")]
    Precondition,
    /// Another update is in progress (HTTP 409).
    #[error("another update is in progress")]
    Busy,
    /// Anything else the service said.
    #[error("{0}")]
    Other(String),
}

/// Where Lambda says the last configuration update stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateState {
    /// Still being applied.
    InProgress,
    /// It failed; Lambda's reason.
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
    /// The version the alias points at.
    pub version: String,
    /// The alias's own revision: the guard for moving it.
    pub revision_id: Option<String>,
}

/// What an update of a function's configuration came back with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Updated {
    /// The revision the service reports after it.
    pub revision_id: Option<String>,
    /// The request's id: what CloudTrail's record of the call carries.
    pub request_id: Option<String>,
}

/// Lambda, as the stages use it: read a function, change its memory, publish
/// a version, move an alias.
#[async_trait]
pub trait FunctionStore: Send + Sync {
    /// The configuration and tags of `name` (for `qualifier`, of the version
    /// behind that alias). Tags that cannot be read are empty (not opted in).
    async fn read(&self, name: &str, qualifier: Option<&str>) -> Result<FunctionInfo, StoreError>;
    /// Sets `$LATEST`'s memory, sending `revision` as the guard when given;
    /// returns the revision the service reports and the request's id.
    async fn update_memory(
        &self,
        name: &str,
        memory_mb: u32,
        revision: Option<&str>,
    ) -> Result<Updated, StoreError>;
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
    /// The version `alias` of `name` serves, and the alias's revision.
    async fn alias(&self, name: &str, alias: &str) -> Result<AliasTarget, StoreError>;
    /// Deletes version `version` of `name` (one a tune published).
    async fn delete_version(&self, name: &str, version: &str) -> Result<(), StoreError>;
    /// The names of `name`'s aliases (a function served through one is not
    /// served by `$LATEST`).
    async fn aliases(&self, name: &str) -> Result<Vec<String>, StoreError>;
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

/// What a read of a function's log lines found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRead {
    /// The relevant lines, the newest kept when there were more than the cap.
    pub lines: Vec<LogLine>,
    /// What went wrong or was cut short, for the evidence's notes.
    pub notes: Vec<String>,
    /// Whether every relevant line of the window is in `lines`: no error, no
    /// cap. A sweep never sizes down on a partial read.
    pub complete: bool,
}

impl LogRead {
    /// The read of `lines` (with `dropped` older ones already left out on the
    /// way), cut to the newest `cap`; `failure` when the read stopped on an
    /// error.
    pub fn new(
        mut lines: Vec<LogLine>,
        cap: usize,
        mut dropped: usize,
        failure: Option<String>,
    ) -> LogRead {
        dropped += crate::logs::keep_newest(&mut lines, cap);
        let mut notes = Vec::new();
        if let Some(failure) = &failure {
            notes.push(format!("logs: {failure}"));
        }
        if dropped > 0 {
            notes.push(format!(
                "logs: capped at {cap} events, the newest kept ({dropped} older ones left out)"
            ));
        }
        LogRead {
            lines,
            notes,
            complete: failure.is_none() && dropped == 0,
        }
    }
}

/// CloudWatch, as the collect stage uses it. A source that fails or is missing
/// is a note, never an error: evidence is collected with what there is.
#[async_trait]
pub trait Telemetry: Send + Sync {
    /// The Lambda (and Lambda Insights, when present) series of `function`
    /// over `window`, with notes on what was missing.
    async fn metrics(&self, function: &str, window: Window) -> (Vec<MetricSeries>, Vec<String>);
    /// The relevant lines of `log_group` in `window`, at most `cap`.
    async fn log_lines(&self, log_group: &str, window: Window, cap: usize) -> LogRead;
    /// Every invocation report of `log_group` in `window`, added up by the
    /// service per memory size and day (CloudWatch Logs Insights), with what
    /// the query cost; `Err` says why there are none (the caller falls back
    /// to [`Telemetry::log_lines`], capped).
    async fn report_figures(
        &self,
        log_group: &str,
        window: Window,
    ) -> Result<(crate::figures::Figures, Vec<String>), String>;
    /// The lines of `log_group` in `window` matching CloudWatch Logs'
    /// filter `pattern` (any line for an empty one), at most `cap`: what
    /// the AI's investigation asks for beyond the collected lines.
    async fn search_lines(
        &self,
        log_group: &str,
        pattern: &str,
        window: Window,
        cap: usize,
    ) -> LogRead;
}

/// A knowledge base, a change log or a history that could not be read: the
/// AI is asked without it, and the run says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GroundingError(pub String);

/// One passage a knowledge base returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The passage's text.
    pub text: String,
    /// Where it came from (an S3 URI, a web page): what the AI cites.
    pub source: String,
    /// The knowledge base's relevance score.
    pub score: f64,
}

/// The team's runbooks and post-mortems, searchable (Amazon Bedrock
/// Knowledge Bases' Retrieve).
#[async_trait]
pub trait Knowledge: Send + Sync {
    /// The passages most relevant to `query`, best first, at most `max`.
    async fn retrieve(&self, query: &str, max: usize) -> Result<Vec<Passage>, GroundingError>;
}

/// Who changed a function's code or configuration, and when (CloudTrail's
/// event history).
#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// The changes to `function` in `window`, newest first.
    async fn changes(
        &self,
        function: &str,
        window: Window,
    ) -> Result<Vec<crate::model::FunctionChange>, GroundingError>;
}

/// A failed audit store call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit table {table}: {message}")]
pub struct AuditError {
    /// The table's name.
    pub table: String,
    /// What went wrong.
    pub message: String,
}

/// Whether a conditional write went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The write went through.
    Won,
    /// Someone was there first (a redelivered event, a lock held, another
    /// stage's commit).
    Taken,
}

/// One incident's record as the audit table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The run's status, as the record holds it.
    pub status: Status,
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
        status: Status,
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
        status: Status,
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
        status: Status,
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
    /// Records a change to `function` (for cooldown and the daily cap): who
    /// made it, when, from and to what size, by name (two sizes side by side
    /// are too easy to swap).
    async fn record_change(
        &self,
        function: &str,
        change: &RecordedChange,
    ) -> Result<(), AuditError>;
    /// The changes to `function` on record after `since_ms` (every one the
    /// table keeps for `None`), in any order. Adapters only list: what counts
    /// is decided by [`AuditStore::history`] and [`AuditStore::raised_from`].
    async fn list_changes(
        &self,
        function: &str,
        since_ms: Option<Millis>,
    ) -> Result<Vec<RecordedChange>, AuditError>;
    /// What the guard judges `function`'s past by at `now_ms`
    /// ([`History::at`]).
    async fn history(&self, function: &str, now_ms: Millis) -> Result<History, AuditError> {
        let since = History::since(now_ms);
        let changes = self.list_changes(function, Some(since)).await?;
        Ok(History::at(&changes, now_ms))
    }
    /// The sizes incidents raised `function` from, over the whole retained
    /// change history (not only 24 hours; a sweep's own changes left out):
    /// each proved too small, so a sweep never sizes the function back to it.
    async fn raised_from(&self, function: &str) -> Result<Vec<u32>, AuditError> {
        let changes = self.list_changes(function, None).await?;
        Ok(changes
            .iter()
            .filter(|c| c.to_mb > c.from_mb && !c.by_sweep())
            .map(|c| c.from_mb)
            .collect())
    }
    /// Every incident's record document (the run JSON), for the A/B report.
    async fn records(&self) -> Result<Vec<String>, AuditError>;
    /// The pauses in force: the one on every function, and each paused
    /// function's.
    async fn pauses(&self) -> Result<Vec<crate::model::Pause>, AuditError>;
    /// Puts `pause` in force, replacing any on the same function (or on
    /// every function).
    async fn pause(&self, pause: &crate::model::Pause) -> Result<(), AuditError>;
    /// Lifts the pause on `function` (`None`: the one on every function);
    /// whether there was one.
    async fn resume(&self, function: Option<&str>) -> Result<bool, AuditError>;
    /// Keeps what `incident` came to in its function's history (and its
    /// runtime's, for functions with none of their own), for the AI.
    async fn remember(&self, incident: &crate::model::PastIncident) -> Result<(), AuditError>;
    /// The function's past incidents, newest first, at most `limit`.
    async fn past_incidents(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<Vec<crate::model::PastIncident>, AuditError>;
    /// Past incidents of any function on `runtime` whose findings included
    /// `kind`, newest first, at most `limit`.
    async fn similar_incidents(
        &self,
        runtime: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<crate::model::PastIncident>, AuditError>;
    /// Counts one notice about `function` in the hour starting at
    /// `hour_ms`: `false` when `max` were counted already (the notice is not
    /// sent). Bounds what alarms flapping, or events sent in a loop, can put
    /// in front of people.
    async fn notice_slot(
        &self,
        function: &str,
        hour_ms: Millis,
        max: u32,
    ) -> Result<bool, AuditError>;
}

/// A notice that could not be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publishing the notice: {0}")]
pub struct NotifyError(pub String);

/// Where notices go (SNS in production).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes one notice — a subject and text for people, the JSON record
    /// for machines, `attributes` for routing; returns its message id.
    async fn publish(
        &self,
        subject: &str,
        text: &str,
        record_json: &str,
        attributes: &crate::model::NoticeAttributes,
    ) -> Result<String, NotifyError>;
}

/// Why an object could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// Over the caller's limit: refused without being read.
    #[error("s3://{bucket}/{key} is {bytes} bytes, over the {limit}-byte limit for a rule")]
    TooLarge {
        /// The bucket.
        bucket: String,
        /// The object's key.
        key: String,
        /// The object's size (bytes).
        bytes: u64,
        /// The caller's limit (bytes).
        limit: usize,
    },
    /// The store failed (or the body could not be read).
    #[error("fetching s3://{bucket}/{key}: {message}")]
    Failed {
        /// The bucket.
        bucket: String,
        /// The object's key.
        key: String,
        /// What the store said.
        message: String,
    },
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
    ) -> Result<Option<Vec<u8>>, ObjectError>;
}

/// A tool the model may call: its name, what it is for (as the model reads
/// it) and its input's JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: String,
    /// What it is for, as the model reads it.
    pub description: String,
    /// Its input's JSON Schema.
    pub schema: Value,
}

/// Which tools the model must call in its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// At least one of the tools offered (it may investigate first).
    Any,
    /// This one (the answer, when the investigation is over).
    Tool(String),
}

/// The result of one tool call, sent back to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The [`ToolUse::id`] it answers.
    pub id: String,
    /// What the tool returned (or why it refused), as text.
    pub content: String,
    /// A refusal or a failure, not a result.
    pub is_error: bool,
}

/// One turn of the conversation with the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// What the host says: the incident.
    User(String),
    /// What the model said before: its text and its tool calls.
    Assistant {
        /// What it wrote.
        text: String,
        /// The tools it called.
        tool_uses: Vec<ToolUse>,
    },
    /// The results of the model's last tool calls, in their order.
    ToolResults(Vec<ToolResult>),
}

/// One request to the model: a system prompt, the conversation so far and
/// the tools it may (and must) call.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    /// The model to call (a Bedrock model id, or the provider's model name).
    pub model_id: String,
    /// The system prompt: the instructions.
    pub system: String,
    /// The conversation: the incident first, then tool calls and results.
    pub turns: Vec<Turn>,
    /// The tools offered.
    pub tools: Vec<ToolSpec>,
    /// Which it must call.
    pub choice: ToolChoice,
    /// The most tokens the model may write.
    pub max_tokens: u32,
}

/// One tool call a model answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    /// The provider's id for the call, which its result must name.
    pub id: String,
    /// The tool the model called.
    pub name: String,
    /// The input it gave (JSON), not yet validated.
    pub input: Value,
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelReply {
    /// Tokens the model read.
    pub input_tokens: u64,
    /// Tokens the model wrote.
    pub output_tokens: u64,
    /// Why it stopped (`tool_use`, `end_turn`, `max_tokens`…).
    pub stop_reason: String,
    /// What it wrote beside its tool calls.
    pub text: String,
    /// The tool calls it made, in order.
    pub tool_uses: Vec<ToolUse>,
}

/// A failed model call, and whether trying again may help (throttling, a
/// model not ready, a timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    /// Whether trying again may help.
    pub retryable: bool,
    /// What failed.
    pub message: String,
}

/// The port to a language model: Amazon Bedrock's Converse, or an
/// OpenAI-compatible Chat Completions server.
#[async_trait]
pub trait Model: Send + Sync {
    /// Sends one request and waits for the reply.
    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, ModelError>;
}

/// The port the pipeline asks: one incident in, what the AI said out. Never
/// fails: a failure is an [`AiRun`] with status `failed` and the reason.
#[async_trait]
pub trait AiDiagnoser: Send + Sync {
    /// What the AI makes of `evidence`; a failure is a run with status `failed`.
    async fn diagnose(&self, evidence: &Evidence) -> AiRun;
}

/// A failed call to one of the fleet's ports (listing, alarms, recommendations).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct FleetError {
    /// The call that failed (`ListFunctions`, `PutMetricAlarm my-alarm`, …).
    pub what: String,
    /// What went wrong.
    pub message: String,
}

/// Every function of the account and region, with the tags of those opted
/// in (a function listed without tags is not opted in).
#[async_trait]
pub trait Inventory: Send + Sync {
    /// Every function, with tags for those opted in.
    async fn functions(&self) -> Result<Vec<crate::model::FleetFunction>, FleetError>;
}

/// The alarms named with a prefix: autorepair's own, and the names of the
/// others (made by hand), which onboarding never touches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExistingAlarms {
    /// autorepair's own alarms, as CloudWatch holds them.
    pub managed: Vec<crate::model::AlarmSpec>,
    /// The names of the others, made by hand: never touched.
    pub unmanaged: Vec<String>,
}

/// CloudWatch metric alarms, as onboarding manages them.
#[async_trait]
pub trait AlarmStore: Send + Sync {
    /// The alarms named with `prefix`, autorepair's own told apart.
    async fn existing(&self, prefix: &str) -> Result<ExistingAlarms, FleetError>;
    /// Creates or replaces one alarm, tagged as autorepair's.
    async fn put(&self, alarm: &crate::model::AlarmSpec) -> Result<(), FleetError>;
    /// Deletes the alarms named.
    async fn delete(&self, names: &[String]) -> Result<(), FleetError>;
    /// Those of `names` that carry autorepair's own tag: what the
    /// description says is a hint (a console copy keeps it), the tag is
    /// the proof a deletion needs.
    async fn owned(&self, names: &[String]) -> Result<Vec<String>, FleetError>;
}

/// Where sweeps keep their standing recommendations (the audit table).
#[async_trait]
pub trait RecommendationStore: Send + Sync {
    /// Saves `recommendation`, replacing the function's previous one.
    async fn put_recommendation(
        &self,
        recommendation: &crate::model::StandingRecommendation,
    ) -> Result<(), FleetError>;
    /// The standing recommendation for `function`, if a sweep left one.
    async fn recommendation(
        &self,
        function: &str,
    ) -> Result<Option<crate::model::StandingRecommendation>, FleetError>;
    /// Every function's standing recommendation.
    async fn recommendations(
        &self,
    ) -> Result<Vec<crate::model::StandingRecommendation>, FleetError>;
}

/// Where a sweep leaves its item list for the Distributed Map to read (S3).
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Writes `body` as the object `key` in `bucket`.
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), FleetError>;
    /// Reads the object `key` in `bucket` (the Distributed Map's results).
    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, FleetError>;
}

/// The workflow engine, as an approval answers it (Step Functions'
/// SendTaskSuccess).
#[async_trait]
pub trait Workflow: Send + Sync {
    /// Resumes the task waiting on `token` with `output` (JSON).
    async fn resume(&self, token: &str, output: &str) -> Result<(), FleetError>;
}

/// An alarm as CloudWatch describes it now: what a parse holds an event
/// against ([`AlarmReader`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRecord {
    /// The alarm's name.
    pub name: String,
    /// The alarm's ARN.
    pub arn: String,
    /// The functions its metrics name (`FunctionName`, or Lambda Insights'
    /// `function_name`), as written: a name, a partial or a full ARN.
    pub functions: Vec<String>,
    /// Its state now.
    pub state: crate::incident::AlarmState,
    /// When its state value last changed (`StateTransitionedTimestamp`, else
    /// `StateUpdatedTimestamp`).
    pub state_changed_ms: Millis,
}

/// One entry of an alarm's history: it entered `to` at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmChange {
    /// When the state changed.
    pub at_ms: Millis,
    /// The state it entered.
    pub to: crate::incident::AlarmState,
}

/// CloudWatch's word on an alarm: an event's claims are checked against it
/// before anything is claimed (DescribeAlarms, DescribeAlarmHistory).
#[async_trait]
pub trait AlarmReader: Send + Sync {
    /// The metric alarm named `name`; `None` when there is none.
    async fn describe(&self, name: &str) -> Result<Option<AlarmRecord>, FleetError>;
    /// The alarm's state changes within `window`.
    async fn changes(&self, name: &str, window: Window) -> Result<Vec<AlarmChange>, FleetError>;
}

/// Where a Step Functions execution stands (DescribeExecution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRecord {
    /// The state machine it is an execution of.
    pub state_machine_arn: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`, …
    pub status: String,
}

/// The workflow engine, as a stage call is checked against it: the
/// execution that claims to call must be a running one of ours.
#[async_trait]
pub trait Executions: Send + Sync {
    /// The execution `arn`; `None` when there is none.
    async fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, FleetError>;
}

/// The newest version of each third-party rule the host has accepted (kept
/// in the audit table): a signed artifact older than its slot's floor is a
/// downgrade, refused.
#[async_trait]
pub trait RuleFloors: Send + Sync {
    /// The floor of `rule`, if one was ever recorded.
    async fn floor(&self, rule: &str) -> Result<Option<String>, FleetError>;
    /// Records `version` as `rule`'s floor. The caller raises only: a lower
    /// version is never written over a higher one.
    async fn set_floor(&self, rule: &str, version: &str) -> Result<(), FleetError>;
}

/// Which of a member account's two roles a stage needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Collect, diagnose, verify: the reading role.
    Read,
    /// Execute and roll back: the acting role, the one that may change a
    /// function (an opted-in one).
    Act,
}

/// The ports that reach one member account, through one of its roles.
#[derive(Clone)]
pub struct MemberPorts {
    /// The account's Lambda.
    pub functions: Arc<dyn FunctionStore>,
    /// Its metrics and logs.
    pub telemetry: Arc<dyn Telemetry>,
    /// Its alarms (an event is checked against them at parse).
    pub alarms: Arc<dyn AlarmReader>,
    /// Its alarms again, as onboarding keeps them.
    pub alarm_store: Arc<dyn AlarmStore>,
    /// Its CloudTrail, when `[run] recent_changes` is on.
    pub changes: Option<Arc<dyn ChangeLog>>,
    /// Its functions, listed (the sweep's plan).
    pub inventory: Arc<dyn Inventory>,
}

/// The organisation's member accounts, reached through the roles they give
/// the central host (STS AssumeRole in production).
#[async_trait]
pub trait Members: Send + Sync {
    /// The ports of `member`'s account and region, as `access`'s role.
    async fn reach(
        &self,
        member: &crate::incident::MemberAccount,
        access: Access,
    ) -> Result<MemberPorts, String>;
}
