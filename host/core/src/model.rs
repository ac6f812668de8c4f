//! The domain model: what every stage reads and writes. No I/O, no AWS, no wasmtime.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Unix time in milliseconds.
pub type Millis = i64;

/// One memory change on a function's record (the audit table's history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedChange {
    /// The incident that made it, or `sweep:<name>` for a sweep's downsizing.
    pub incident_id: String,
    /// When it was made (ms since the Unix epoch).
    pub at_ms: Millis,
    /// The memory before (MB).
    pub from_mb: u32,
    /// The memory after (MB).
    pub to_mb: u32,
}

impl RecordedChange {
    /// Whether a sweep made it (recorded under
    /// [`SWEEP_CHANGE_PREFIX`](crate::ports::SWEEP_CHANGE_PREFIX)), not an
    /// incident.
    pub fn by_sweep(&self) -> bool {
        self.incident_id
            .starts_with(crate::ports::SWEEP_CHANGE_PREFIX)
    }
}

/// A function's name from what a person or a payload gave: the name itself,
/// its partial ARN (`ACCOUNT:function:NAME`) or its ARN
/// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`), whose
/// qualifier is dropped. Anything else is returned as it is (the Lambda API
/// says whether it exists).
pub fn function_name(given: &str) -> &str {
    FunctionRef::of(given).name
}

/// A function as Lambda's API lets it be named — plain name, partial ARN or
/// full ARN — taken apart. Every per-function key (the lock, the change
/// history, the cooldown, the daily cap) is the plain [`name`](Self::name):
/// one function's name and ARNs share one lock (the audit table is per account
/// and region; an ARN naming another is refused where it is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionRef<'a> {
    /// The plain name.
    pub name: &'a str,
    /// The account an ARN named.
    pub account: Option<&'a str>,
    /// The region a full ARN named.
    pub region: Option<&'a str>,
    /// The version or alias a full ARN ended with.
    pub qualifier: Option<&'a str>,
}

impl<'a> FunctionRef<'a> {
    /// `given` taken apart (trimmed); a string that is no ARN is a name.
    pub fn of(given: &'a str) -> FunctionRef<'a> {
        let given = given.trim();
        let plain = FunctionRef {
            name: given,
            account: None,
            region: None,
            qualifier: None,
        };
        let Some((prefix, rest)) = given.split_once(":function:") else {
            return plain;
        };
        let mut tail = rest.splitn(2, ':');
        let name = tail.next().unwrap_or(rest);
        let qualifier = tail.next().filter(|q| !q.is_empty());
        let parts: Vec<&str> = prefix.split(':').collect();
        match parts.as_slice() {
            // arn:PARTITION:lambda:REGION:ACCOUNT
            ["arn", _, "lambda", region, account] => FunctionRef {
                name,
                account: Some(account),
                region: Some(region),
                qualifier,
            },
            // ACCOUNT:function:NAME
            [account] if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) => {
                FunctionRef {
                    name,
                    account: Some(account),
                    region: None,
                    qualifier,
                }
            }
            _ => plain,
        }
    }
}

/// The function under incident, as configured when evidence was collected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionInfo {
    /// The function's name (never an ARN).
    pub name: String,
    #[serde(default)]
    /// Its ARN; it ends in `:<qualifier>` when a qualifier was read.
    pub arn: String,
    #[serde(default)]
    /// Lambda's runtime id (`python3.12`, `nodejs20.x`…); empty when unknown.
    pub runtime: String,
    /// `x86_64` (Lambda's default) or `arm64`.
    #[serde(default = "default_architecture")]
    pub architecture: String,
    /// The configured memory size (MB): what a repair changes.
    pub memory_mb: u32,
    /// The configured timeout (seconds); Lambda's default is 3.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u32,
    /// Alias or version the alarm names, if any (`alias` in runs recorded
    /// before 0.2).
    #[serde(default, alias = "alias", skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// The function's tags (the opt-in tag lives here).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Guards an update against a change made since this was read, when the
    /// service gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
    /// The code this configuration runs (an alias is only moved to a version
    /// published from the same code).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code_sha256: String,
    /// Where the function logs; empty means Lambda's default.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_group: String,
    /// A digest of everything a published version snapshots besides memory
    /// (code, environment, layers, role, handler, runtime, VPC, architectures,
    /// timeout, storage, file systems, image, tracing, keys…): two
    /// configurations with the same digest differ at most in memory.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_sha256: String,
    /// The version this configuration is: `$LATEST`, or the one an alias
    /// serves; empty when not read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// When its code or configuration last changed (Lambda's LastModified,
    /// ms since the Unix epoch), when read: a sweep's figures start there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_ms: Option<Millis>,
    /// SnapStart is on: what runs are snapshots of published versions, which
    /// a change to `$LATEST` alone does not reach.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub snap_start: bool,
}

impl FunctionInfo {
    /// The region in the function's ARN, when it has one.
    pub fn region(&self) -> Option<&str> {
        self.arn.split(':').nth(3).filter(|r| !r.is_empty())
    }

    /// The function's log group: its LoggingConfig's, else Lambda's default.
    pub fn log_group(&self) -> String {
        if self.log_group.is_empty() {
            format!("/aws/lambda/{}", self.name)
        } else {
            self.log_group.clone()
        }
    }

    /// The ARN without the qualifier (tags live on the unqualified function).
    pub fn unqualified_arn(&self) -> &str {
        match &self.qualifier {
            Some(q) => self
                .arn
                .strip_suffix(q.as_str())
                .and_then(|a| a.strip_suffix(':'))
                .unwrap_or(&self.arn),
            None => &self.arn,
        }
    }
}

fn default_architecture() -> String {
    "x86_64".into()
}

/// Lambda's default timeout.
fn default_timeout_s() -> u32 {
    3
}

/// The alarm that opened the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmInfo {
    /// The CloudWatch alarm's name.
    pub name: String,
    #[serde(default)]
    /// The first metric it watches (e.g. `Errors`); empty when unknown.
    pub metric: String,
    /// Its state on the event: `ALARM`, `OK` or `INSUFFICIENT_DATA`.
    #[serde(default = "default_alarm_state")]
    pub state: String,
    /// CloudWatch's text for why the state changed.
    #[serde(default)]
    pub reason: String,
}

fn default_alarm_state() -> String {
    "ALARM".into()
}

/// A span of time: what evidence covers, or what a verification reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Where it starts (ms since the Unix epoch).
    pub start_ms: Millis,
    /// Where it ends (ms since the Unix epoch).
    pub end_ms: Millis,
}

/// One sample of a metric series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The sample's time (ms since the Unix epoch).
    pub timestamp_ms: Millis,
    /// The statistic's value, in the series' unit.
    pub value: f64,
}

/// One CloudWatch metric over the incident's window (e.g. `AWS/Lambda` `Errors`, `Sum`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    /// CloudWatch namespace (`AWS/Lambda`, `LambdaInsights`).
    pub namespace: String,
    /// Metric name (`Errors`, `Duration`, `memory_utilization`…).
    pub name: String,
    /// The statistic each point holds (`Sum`, `Maximum`…).
    pub statistic: String,
    /// CloudWatch's unit (`Count`, `Milliseconds`, `Percent`…); empty when not given.
    #[serde(default)]
    pub unit: String,
    /// The samples, as CloudWatch returned them.
    #[serde(default)]
    pub points: Vec<Point>,
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvocationStatus {
    /// It returned normally.
    Success,
    /// It failed: the function's error, a crash, an out-of-memory.
    Error,
    /// It ran past the function's timeout.
    Timeout,
}

/// One invocation, from a REPORT or platform.report log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationReport {
    /// Lambda's request id (a UUID), or [`INIT_PHASE`](crate::logs::INIT_PHASE) for a failed
    /// init phase.
    pub request_id: String,
    /// When the line was logged (ms since the Unix epoch).
    pub timestamp_ms: Millis,
    /// How long the invocation ran (ms).
    pub duration_ms: f64,
    /// The duration Lambda billed (ms).
    pub billed_duration_ms: f64,
    /// The memory it ran with (MB); 0 when the report gives no memory figures.
    pub memory_size_mb: u32,
    /// The most memory it used (MB), the report's Max Memory Used; 0 when not given.
    pub max_memory_used_mb: u32,
    /// The init phase's duration (ms), for a cold start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_duration_ms: Option<f64>,
    /// How it ended.
    pub status: InvocationStatus,
    /// Lambda's error type when it failed, e.g.
    /// [`OUT_OF_MEMORY_ERROR`](crate::logs::OUT_OF_MEMORY_ERROR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// The log stream of its REPORT line: its execution environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream: Option<String>,
    /// The error the function's own runtime logged for this invocation (a
    /// handled exception: `Invoke Error`, Python's `[ERROR] Type: …`), by its
    /// type. Lambda's REPORT line says nothing of these; its Errors metric
    /// counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

/// One CloudWatch Logs event of the function's log group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was logged (ms since the Unix epoch).
    pub timestamp_ms: Millis,
    /// The line's text, as logged.
    pub message: String,
    /// The log stream it was written to: Lambda writes each execution
    /// environment to a stream of its own. Absent in pasted logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream: Option<String>,
}

fn complete() -> bool {
    true
}

fn is_complete(complete: &bool) -> bool {
    *complete
}

/// Everything known about one incident. This is also the recorded evidence file
/// format (`autorepair diagnose --evidence FILE`), documented in docs/run-document.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The function, as configured when the evidence was collected.
    pub function: FunctionInfo,
    /// The alarm that opened the incident.
    pub alarm: AlarmInfo,
    /// The span the metrics, reports and logs cover.
    pub window: Window,
    /// CloudWatch series over the window (Lambda's, and Lambda Insights' when installed).
    #[serde(default)]
    pub metrics: Vec<MetricSeries>,
    /// Parsed invocation reports. When a file leaves this out, the host parses
    /// them from `logs`.
    #[serde(default)]
    pub reports: Vec<InvocationReport>,
    /// The function's relevant log lines in the window (see
    /// [`LOG_FILTER`](crate::logs::LOG_FILTER)).
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// Whether `logs` holds every relevant line of the window (no error, no
    /// cap). A file without it is taken as complete: it holds what it holds.
    #[serde(default = "complete", skip_serializing_if = "is_complete")]
    pub logs_complete: bool,
    /// What could not be collected, or was cut short ("logs capped at 20000 events").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Changes to the function's code or configuration in the day before
    /// the alarm (CloudTrail), newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FunctionChange>,
}

/// The kinds of evidence a rule can ask for and an operator can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// CloudWatch metric series.
    Metrics,
    /// Invocation reports parsed from the platform's log lines.
    Reports,
    /// Raw log lines, which may carry what the function itself printed.
    Logs,
    /// The function's configuration beyond its name and memory (ARN, runtime, tags…).
    Config,
    /// The function's recent changes from CloudTrail: what was deployed or
    /// set, when and by whom (`autorepair:rules/changes`, since 0.2.3).
    /// There is no `wants` flag for it: a rule asks by calling the import.
    Changes,
}

impl Grant {
    /// Every grant.
    pub const ALL: [Grant; 5] = [
        Grant::Metrics,
        Grant::Reports,
        Grant::Logs,
        Grant::Config,
        Grant::Changes,
    ];

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grant::Metrics => "metrics",
            Grant::Reports => "reports",
            Grant::Logs => "logs",
            Grant::Config => "config",
            Grant::Changes => "changes",
        })
    }
}

/// A set of [`Grant`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Grants(u8);

impl Grants {
    /// Nothing granted.
    pub const NONE: Grants = Grants(0);
    /// Every grant.
    pub const ALL: Grants = Grants((1 << Grant::ALL.len()) - 1);
    /// How many distinct sets there are: the bound of [`Grants::index`].
    pub const SETS: usize = 1 << Grant::ALL.len();

    /// Whether the set holds `grant`.
    pub fn contains(self, grant: Grant) -> bool {
        self.0 & grant.bit() != 0
    }

    /// The set with `grant` added.
    pub fn with(self, grant: Grant) -> Grants {
        Grants(self.0 | grant.bit())
    }

    /// What both sets hold: what a rule wants and its operator granted.
    pub fn intersect(self, other: Grants) -> Grants {
        Grants(self.0 & other.0)
    }

    /// The grants in the set, in [`Grant::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Grant> {
        Grant::ALL.into_iter().filter(move |g| self.contains(*g))
    }

    /// A small dense index (below [`Grants::SETS`]), for caching one
    /// converted evidence per set.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl FromIterator<Grant> for Grants {
    fn from_iter<I: IntoIterator<Item = Grant>>(iter: I) -> Self {
        iter.into_iter().fold(Grants::NONE, Grants::with)
    }
}

impl fmt::Display for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.iter().map(|g| g.to_string()).collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

impl Serialize for Grants {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Grants {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Grant>::deserialize(d)?.into_iter().collect())
    }
}

/// What a diagnoser thinks is wrong; the same list as the WIT's
/// `finding-kind` enum (kebab-case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Invocations ran out of memory (`Runtime.OutOfMemory`, `MemoryError`…).
    MemoryExhaustion,
    /// Memory used runs close to the limit without failing yet.
    MemoryPressure,
    /// Too little CPU: Lambda's CPU share grows with memory, so more memory helps.
    CpuStarvation,
    /// Time spent waiting on something else; more memory does not help.
    DownstreamTimeout,
    /// Invocations refused by a concurrency limit; not a memory problem.
    Throttling,
    /// The function's own code fails; not a memory problem.
    CodeError,
    /// Anything else a diagnoser wants to say.
    Other,
    /// Memory grows with every invocation of an execution environment: more
    /// memory only spaces out the failures (rule interface 0.2 on).
    MemoryLeak,
}

impl FindingKind {
    /// Every kind, in the WIT enum's order: the AI's answer schema lists
    /// these (never a copy of its own).
    pub const ALL: [FindingKind; 8] = {
        // A new kind fails to compile here until it is listed below.
        const fn listed(kind: FindingKind) {
            match kind {
                FindingKind::MemoryExhaustion
                | FindingKind::MemoryPressure
                | FindingKind::CpuStarvation
                | FindingKind::DownstreamTimeout
                | FindingKind::Throttling
                | FindingKind::CodeError
                | FindingKind::Other
                | FindingKind::MemoryLeak => {}
            }
        }
        listed(FindingKind::Other);
        [
            FindingKind::MemoryExhaustion,
            FindingKind::MemoryPressure,
            FindingKind::CpuStarvation,
            FindingKind::DownstreamTimeout,
            FindingKind::Throttling,
            FindingKind::CodeError,
            FindingKind::Other,
            FindingKind::MemoryLeak,
        ]
    };

    /// Kinds that more memory can fix. Every other kind never turns into a
    /// memory change, whatever its recommendation says.
    pub fn memory_can_help(self) -> bool {
        matches!(
            self,
            FindingKind::MemoryExhaustion
                | FindingKind::MemoryPressure
                | FindingKind::CpuStarvation
        )
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok();
        f.write_str(s.as_ref().and_then(|v| v.as_str()).unwrap_or("other"))
    }
}

/// What a diagnoser proposes; the decision step merges proposals and the
/// safety guard clamps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Recommendation {
    /// Set the memory to this size (MB).
    SetMemory {
        /// The proposed memory size in MB.
        memory_mb: u32,
    },
    /// Leave the function as it is.
    Keep,
    /// Hand the incident to a person.
    Escalate {
        /// Why, for the notice and the record.
        reason: String,
    },
}

impl Recommendation {
    /// The `action` names on the wire, one per variant (derived from serde's
    /// own names, so the AI's answer schema cannot drift from them).
    pub fn actions() -> Vec<String> {
        let every = [
            Recommendation::SetMemory { memory_mb: 0 },
            Recommendation::Keep,
            Recommendation::Escalate {
                reason: String::new(),
            },
        ];
        // A new variant fails to compile here until it is added above.
        for r in &every {
            match r {
                Recommendation::SetMemory { .. }
                | Recommendation::Keep
                | Recommendation::Escalate { .. } => {}
            }
        }
        every
            .iter()
            .filter_map(|r| {
                let v = serde_json::to_value(r).ok()?;
                Some(v.get("action")?.as_str()?.to_owned())
            })
            .collect()
    }
}

impl fmt::Display for Recommendation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recommendation::SetMemory { memory_mb } => write!(f, "set memory to {memory_mb} MB"),
            Recommendation::Keep => f.write_str("keep"),
            Recommendation::Escalate { reason } => write!(f, "escalate: {reason}"),
        }
    }
}

/// One diagnosis by one source (a rule plugin or the AI), validated by the
/// host before it counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What is wrong.
    pub kind: FindingKind,
    /// How sure the source is, from 0 to 1.
    pub confidence: f64,
    /// One line for people.
    pub summary: String,
    /// The lines or figures that support it (clipped and cleaned by the host).
    #[serde(default)]
    pub evidence: Vec<String>,
    /// What the source proposes.
    pub recommendation: Recommendation,
}

/// Who said something: a rule plugin by name, or the AI diagnoser.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A rule plugin, by the name it gives (`rule:<name>` on the wire).
    Rule(String),
    /// The AI diagnoser (`ai` on the wire).
    Ai,
}

impl Source {
    /// Whether this is the AI diagnoser, not a rule.
    pub fn is_ai(&self) -> bool {
        matches!(self, Source::Ai)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Rule(name) => write!(f, "rule:{name}"),
            Source::Ai => f.write_str("ai"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.strip_prefix("rule:") {
            Some(name) if !name.is_empty() => Ok(Source::Rule(name.to_owned())),
            _ if s == "ai" => Ok(Source::Ai),
            _ => Err(serde::de::Error::custom(format!(
                "unknown source {s:?}: expected \"ai\" or \"rule:<name>\""
            ))),
        }
    }
}

/// A finding with who said it, and whether that source only watches (shadow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcedFinding {
    /// Who said it.
    pub source: Source,
    /// Recorded only: the source watches and never decides.
    #[serde(default)]
    pub shadow: bool,
    /// What it said (its fields sit beside `source` in JSON).
    #[serde(flatten)]
    pub finding: Finding,
}

/// Why a rule plugin produced nothing usable. Each is recorded; none stops the
/// other diagnosers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "cause", content = "detail", rename_all = "kebab-case")]
pub enum FailureCause {
    /// Its module could not be fetched, read, compiled or instantiated.
    #[error("could not be loaded: {0}")]
    Load(String),
    /// Neither pinned nor validly signed by a trusted key (see `trust`).
    #[error("refused: {0}")]
    Untrusted(String),
    /// Built for a rule interface this host does not speak.
    #[error("targets an incompatible interface: {0}")]
    Incompatible(String),
    /// Interrupted at its CPU budget (the budget, in ms).
    #[error("ran past its CPU budget of {0} ms")]
    CpuBudget(u64),
    /// Tried to grow its memory past the cap (the cap, in MiB).
    #[error("grew past its memory cap of {0} MiB")]
    MemoryCap(u64),
    /// Ran out of stack.
    #[error("exhausted its stack")]
    StackOverflow,
    /// The rule's own code panicked (its message).
    #[error("panicked: {0}")]
    Panic(String),
    /// Stopped by any other WebAssembly trap or host error.
    #[error("trapped: {0}")]
    Trap(String),
    /// Returned data the host refused (a malformed finding or description).
    #[error("returned invalid data: {0}")]
    InvalidOutput(String),
    /// The rule ran and returned an error of its own.
    #[error("reported an error: {0}")]
    RuleError(String),
}

impl FailureCause {
    /// The cause's name, as its JSON `cause` says it.
    pub fn kind(&self) -> &'static str {
        match self {
            FailureCause::Load(_) => "load",
            FailureCause::Untrusted(_) => "untrusted",
            FailureCause::Incompatible(_) => "incompatible",
            FailureCause::CpuBudget(_) => "cpu-budget",
            FailureCause::MemoryCap(_) => "memory-cap",
            FailureCause::StackOverflow => "stack-overflow",
            FailureCause::Panic(_) => "panic",
            FailureCause::Trap(_) => "trap",
            FailureCause::InvalidOutput(_) => "invalid-output",
            FailureCause::RuleError(_) => "rule-error",
        }
    }

    /// Cuts the detail text to at most `max` characters, marking the cut.
    pub fn shorten(&mut self, max: usize) {
        match self {
            FailureCause::Load(t)
            | FailureCause::Untrusted(t)
            | FailureCause::Incompatible(t)
            | FailureCause::Panic(t)
            | FailureCause::Trap(t)
            | FailureCause::InvalidOutput(t)
            | FailureCause::RuleError(t) => {
                if t.chars().count() > max {
                    *t = t.chars().take(max).collect::<String>() + "…";
                }
            }
            FailureCause::CpuBudget(_)
            | FailureCause::MemoryCap(_)
            | FailureCause::StackOverflow => {}
        }
    }
}

/// A rule plugin that produced nothing usable on an incident, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("rule {rule}: {cause}")]
pub struct RuleFailure {
    /// The rule's name (from `describe`), or its file name when it never got that far.
    pub rule: String,
    /// A deciding rule that could veto a memory change (throttling, code
    /// errors, downstream timeouts): its failure escalates instead of letting
    /// a memory rule win unopposed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub veto: bool,
    /// Why (`cause` and `detail` in JSON).
    #[serde(flatten)]
    pub cause: FailureCause,
}

/// How the AI's part of an incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiStatus {
    /// A valid finding.
    Answered,
    /// The model answered, but not with a valid finding (`reason` says why).
    Discarded,
    /// No answer: access denied, timeout, retries exhausted (`reason` says why).
    Failed,
}

/// What the AI did on one incident: kept in the run document and the audit
/// record so AI and rules can be compared later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiRun {
    /// The model asked, by its Bedrock id.
    pub model_id: String,
    /// How it ended.
    pub status: AiStatus,
    /// The finding, when the model gave a valid one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
    /// Why the answer was discarded or never came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Wall time of the whole diagnosis, retries included (ms).
    pub latency_ms: u64,
    /// Model calls made, retries included.
    pub attempts: u32,
    /// Tokens the model read, as it reported them.
    pub input_tokens: u64,
    /// Tokens the model wrote, as it reported them.
    pub output_tokens: u64,
    /// Why the model stopped (`tool_use`, `max_tokens`…), as it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// From the configured prices per 1k tokens.
    pub cost_usd: f64,
    /// The prompt's own estimate, and how many sample lines and redactions it carried.
    pub prompt_tokens_estimated: usize,
    /// Distinct error lines from the logs quoted in the prompt.
    pub sample_lines: usize,
    /// Secret-looking strings masked in those lines.
    pub redactions: usize,
    /// Watch only: recorded, never deciding.
    #[serde(default)]
    pub shadow: bool,
    /// The provider asked (`bedrock`, `openai`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider: String,
    /// What grounded the prompt beyond the evidence: knowledge-base passages
    /// (cited by source), past incidents, recent changes.
    #[serde(default, skip_serializing_if = "Grounding::is_empty")]
    pub grounding: Grounding,
    /// The read-only tools the model called before answering, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallRecord>,
}

/// What grounded an AI prompt beyond the incident's own evidence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Grounding {
    /// The knowledge-base passages placed in the prompt, by source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passages: Vec<String>,
    /// Why there are none when a knowledge base is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_note: Option<String>,
    /// The past incidents shown, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past_incidents: Vec<String>,
    /// Recent changes to the function shown.
    #[serde(default)]
    pub recent_changes: usize,
}

impl Grounding {
    /// Nothing grounded the prompt beyond the evidence.
    pub fn is_empty(&self) -> bool {
        *self == Grounding::default()
    }
}

/// One read-only tool call the model made during its investigation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    /// The tool (`log_lines`, `metric`, `recent_changes`, `past_incidents`).
    pub tool: String,
    /// Its input, redacted and cut short.
    pub input: String,
    /// `ok`, `refused` (out of scope or over budget) or `failed`.
    pub outcome: String,
    /// Characters returned to the model.
    pub result_chars: usize,
    /// Wall time (ms).
    pub ms: u64,
}

/// A change to a function's code or configuration, as CloudTrail recorded
/// it: what a person asks first ("was anything deployed?").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionChange {
    /// The API action, without CloudTrail's version suffix
    /// (`UpdateFunctionCode`, `UpdateFunctionConfiguration`, `PublishVersion`,
    /// `UpdateAlias`).
    pub action: String,
    /// When (ms since the Unix epoch).
    pub at_ms: Millis,
    /// Who: the caller's user name or role session, as CloudTrail gives it.
    #[serde(default)]
    pub by: String,
    /// The request's id (autorepair's own changes carry theirs in the record).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
}

impl FunctionChange {
    /// A code deployment (new code, a new version, an alias moved), not a
    /// setting.
    pub fn is_deployment(&self) -> bool {
        matches!(
            self.action.as_str(),
            "UpdateFunctionCode" | "PublishVersion" | "UpdateAlias"
        )
    }
}

/// A stop on changes, put in force by a person (`autorepair pause`): no
/// incident changes a paused function, and no sweep sizes it; incidents are
/// still diagnosed, decided and recorded. Undoing a change is never paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// The function paused; `None`: every function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Who paused it: their AWS identity, and the name they gave.
    pub by: String,
    /// Why, as they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When (ms since the Unix epoch).
    pub at_ms: Millis,
}

impl Pause {
    /// The pause that holds `function` among `pauses`: the one on every
    /// function first, else its own.
    pub fn on<'a>(pauses: &'a [Pause], function: &str) -> Option<&'a Pause> {
        pauses.iter().find(|p| p.function.is_none()).or_else(|| {
            pauses
                .iter()
                .find(|p| p.function.as_deref() == Some(function))
        })
    }

    /// "autorepair is paused for every function by alice since 2026-12-06
    /// 09:00 UTC (deploy freeze)".
    pub fn describe(&self) -> String {
        let scope = match &self.function {
            Some(f) => format!("for {f}"),
            None => "for every function".to_owned(),
        };
        let why = self
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        format!(
            "autorepair is paused {scope} by {} since {} UTC{why}",
            self.by,
            crate::dates::date_time(self.at_ms)
        )
    }
}

/// How urgently a notice wants a person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record: repaired, nothing to do, a sweep's summary.
    #[default]
    Info,
    /// A person may want to look: waiting for an answer, rejected, too
    /// little traffic to judge, a downsizing undone.
    Warning,
    /// A person must act: escalated, failed, or a change that did not help.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        })
    }
}

/// What an on-call setup routes a notice by: SNS message attributes, which
/// subscription filter policies match (docs/runbook.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeAttributes {
    /// What the notice is about: `incident`, `approval`, `undo`, `sweep` or
    /// `downsizing`.
    pub kind: &'static str,
    /// The run's status (`repaired`, `escalated`, …), `pending` for an
    /// approval, `swept` for a sweep, `rolled_back` for a downsizing undone.
    pub status: String,
    /// How urgently it wants a person.
    pub severity: Severity,
    /// The function, when the notice is about one.
    pub function: Option<String>,
    /// A stable key for paging integrations' de-duplication: the incident
    /// id (one incident's notices share it), or the sweep's name.
    pub dedup_key: Option<String>,
    /// The deployment's environment (`[run] environment`), when known.
    pub stack: Option<String>,
}

impl NoticeAttributes {
    /// The attributes as SNS carries them: name and value, the absent ones
    /// left out (SNS refuses empty values).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("kind", self.kind.to_owned()),
            ("status", self.status.clone()),
            ("severity", self.severity.to_string()),
        ];
        for (name, value) in [
            ("function", &self.function),
            ("dedup_key", &self.dedup_key),
            ("stack", &self.stack),
        ] {
            if let Some(value) = value.as_ref().filter(|v| !v.trim().is_empty()) {
                pairs.push((name, value.clone()));
            }
        }
        pairs.retain(|(_, v)| !v.is_empty());
        pairs
    }
}

/// The function's recent changes as looked up once for an incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeLookup {
    /// What CloudTrail returned, newest first (at most
    /// [`ChangeLookup::KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FunctionChange>,
    /// Why the lookup failed (a timeout, a refusal), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ChangeLookup {
    /// The changes a run document keeps between stages: a day of a busy
    /// function's deployments is rarely more, and the newest matter.
    pub const KEPT: usize = 20;
}

/// A past incident of a function, as its history keeps it for the AI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastIncident {
    /// The incident's id.
    pub incident_id: String,
    /// The function it was about.
    pub function: String,
    /// When it opened (ms since the Unix epoch).
    pub at_ms: Millis,
    /// The alarm's metric (`Errors`, `Duration`…).
    #[serde(default)]
    pub metric: String,
    /// The function's runtime then.
    #[serde(default)]
    pub runtime: String,
    /// The finding kinds the decision rested on.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The run's final status (`repaired`, `rolled_back`, `escalated`…).
    pub status: String,
    /// The memory change made, if one was (MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_mb: Option<u32>,
    /// The memory it was changed to (MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_mb: Option<u32>,
    /// The verification's verdict, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

impl AiRun {
    /// A run of `model_id` that got no answer yet: failed, nothing counted.
    pub fn failed(model_id: &str, shadow: bool) -> AiRun {
        AiRun {
            model_id: model_id.to_owned(),
            status: AiStatus::Failed,
            finding: None,
            reason: None,
            latency_ms: 0,
            attempts: 0,
            input_tokens: 0,
            output_tokens: 0,
            stop_reason: None,
            cost_usd: 0.0,
            prompt_tokens_estimated: 0,
            sample_lines: 0,
            redactions: 0,
            shadow,
            provider: String::new(),
            grounding: Grounding::default(),
            tool_calls: Vec::new(),
        }
    }
}

/// One function as the fleet's listing gives it (onboarding and sweeps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetFunction {
    /// The function's name.
    pub name: String,
    /// Its configured memory (MB).
    pub memory_mb: u32,
    /// Its configured timeout (seconds).
    pub timeout_s: u32,
    /// Its tags; empty for a function not opted in (see
    /// [`Inventory`](crate::ports::Inventory)).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Layer ARNs (the Lambda Insights extension is one).
    #[serde(default)]
    pub layers: Vec<String>,
}

impl FleetFunction {
    /// Whether the Lambda Insights extension is installed (its memory
    /// metrics exist).
    pub fn has_insights(&self) -> bool {
        self.layers
            .iter()
            .any(|arn| arn.contains(":layer:LambdaInsightsExtension"))
    }
}

/// A CloudWatch metric alarm autorepair manages for one function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmSpec {
    /// The alarm's name: `<prefix><function>-<kind>`.
    pub name: String,
    /// The function it watches.
    pub function: String,
    /// errors, duration, throttles or memory.
    pub kind: String,
    /// CloudWatch namespace: `AWS/Lambda`, or `LambdaInsights` for memory.
    pub namespace: String,
    /// Metric name (`Errors`, `Duration`, `Throttles`, `memory_utilization`).
    pub metric: String,
    /// The dimension naming the function (`FunctionName`; Lambda Insights
    /// says `function_name`).
    pub dimension: String,
    /// The statistic compared with the threshold (`Sum`, `Maximum`).
    pub statistic: String,
    /// The alarm fires at or above this.
    pub threshold: f64,
    /// Length of one evaluated period (seconds).
    pub period_s: u32,
    /// Periods evaluated before it fires (CloudWatch's `EvaluationPeriods`).
    pub evaluation_periods: u32,
    /// Read back from CloudWatch, it differs from what autorepair writes in
    /// something not modelled above (the function the dimension names, the
    /// comparison, missing-data handling): the reconcile puts it back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
}

/// Which way a standing recommendation points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More memory: pressure or out-of-memory risk.
    Up,
    /// Less memory: the largest use seen is far below the size.
    Down,
    /// Right as it is, or too little data to say.
    Keep,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Keep => "keep",
        })
    }
}

/// Where a function's memory is written in source, and what to write there
/// so the next deploy keeps a change made outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "lowercase")]
pub enum SourceChange {
    /// A CloudFormation (or SAM) stack: `Resources.<logical_id>.Properties.MemorySize`.
    Cloudformation {
        /// The stack's name.
        stack: String,
        /// The function's logical id in the template; empty when unknown.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        logical_id: String,
        /// The size to write (MB).
        memory_mb: u32,
    },
    /// A Terraform-managed function: its `aws_lambda_function`'s `memory_size`.
    Terraform {
        /// The resource address when a tag names it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        address: String,
        /// The size to write (MB).
        memory_mb: u32,
    },
}

impl fmt::Display for SourceChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceChange::Cloudformation {
                stack,
                logical_id,
                memory_mb,
            } => {
                let id = if logical_id.is_empty() {
                    "<the function's logical id>"
                } else {
                    logical_id
                };
                write!(
                    f,
                    "in stack {stack}'s template set Resources.{id}.Properties.MemorySize: {memory_mb}"
                )
            }
            SourceChange::Terraform { address, memory_mb } => {
                let at = if address.is_empty() {
                    "the function's aws_lambda_function resource".to_owned()
                } else {
                    address.clone()
                };
                write!(f, "in Terraform, set memory_size = {memory_mb} on {at}")
            }
        }
    }
}

/// A sweep's standing recommendation for one function (the newest sweep's
/// replaces the one before).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandingRecommendation {
    /// The function's name.
    pub function: String,
    /// The member account the function lives in, when it is not the host's
    /// own (`[organization]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// That account's region the function was swept in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Which way it points.
    pub direction: Direction,
    /// The function's memory when the sweep read it (MB).
    pub current_mb: u32,
    /// The size to set; equals `current_mb` for `keep`.
    pub target_mb: u32,
    /// What the change would add to the monthly bill at the last 14 days'
    /// traffic (negative: a saving), in USD.
    pub monthly_cost_delta_usd: f64,
    /// Invocations in the window the sweep read.
    pub invocations: u64,
    /// The 99th percentile of Max Memory Used over the window, when reports exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_used_mb: Option<u32>,
    /// No recommendation goes below this: the size the last out-of-memory
    /// invocation needed (more than the size it died at), remembered across sweeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_floor_mb: Option<u32>,
    /// Why, for people.
    pub reasons: Vec<String>,
    /// The sweep that wrote it.
    pub sweep: String,
    /// When the sweep wrote it (ms since the Unix epoch).
    pub at_ms: Millis,
    /// How many days of traffic the sweep read.
    pub window_days: u32,
    /// The operator opted this function in to automatic downsizing.
    #[serde(default)]
    pub downsize_opted_in: bool,
    /// Applied by the sweep (a downsizing the function opted in to).
    #[serde(default)]
    pub applied: bool,
    /// Where to write the size in source, for an IaC-managed function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_change: Option<SourceChange>,
    /// The largest Max Memory Used at the current size since the function
    /// last changed (what a downsizing covers), when there were reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_used_mb: Option<u32>,
    /// Where the figures came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<crate::figures::FiguresSource>,
    /// For an applied downsizing: what it is judged against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<DownsizeBaseline>,
    /// For an applied downsizing: how it turned out, once judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<DownsizeCheck>,
    /// The function's last `autorepair tune`, kept across sweeps: evidence
    /// for sizing (duration known to fall with memory: never smaller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<crate::tuning::Tuning>,
}

impl StandingRecommendation {
    /// The key it is stored under: the function's name, with account and
    /// region for a member account's (as an incident's function key).
    pub fn key(&self) -> String {
        match (&self.account, &self.region) {
            (Some(account), Some(region)) => format!("{account}/{region}/{}", self.function),
            _ => self.function.clone(),
        }
    }
}

/// The function before a downsizing, as the sweep that made it saw it: the
/// next traffic is judged against this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownsizeBaseline {
    /// The size it ran at (MB).
    pub from_mb: u32,
    /// When the downsizing was made (ms since the Unix epoch).
    pub applied_at_ms: Millis,
    /// Invocations the baseline rests on.
    pub invocations: u64,
    /// The share that failed or timed out.
    pub failure_rate: f64,
    /// The share that timed out.
    pub timeout_rate: f64,
    /// The 95th percentile of duration (ms).
    pub p95_ms: f64,
}

/// How an applied downsizing was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownsizeVerdict {
    /// Errors, timeouts and duration held: kept.
    Kept,
    /// Something regressed: the size it left is back, and a floor.
    RolledBack,
    /// The roll back was needed but could not be made (a person is told).
    RollbackFailed,
}

/// The judgement of an applied downsizing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownsizeCheck {
    /// What was decided.
    pub verdict: DownsizeVerdict,
    /// When (ms since the Unix epoch).
    pub at_ms: Millis,
    /// Why, for people.
    pub why: String,
}

#[cfg(test)]
mod tests {
    use super::{FunctionRef, function_name};

    #[test]
    fn a_function_is_named_by_its_name_or_its_arn() {
        assert_eq!(function_name("orders"), "orders");
        assert_eq!(function_name(" orders "), "orders");
        assert_eq!(
            function_name("arn:aws:lambda:eu-west-1:123456789012:function:orders"),
            "orders"
        );
        assert_eq!(
            function_name("arn:aws:lambda:eu-west-1:123456789012:function:orders:live"),
            "orders"
        );
        assert_eq!(
            function_name("arn:aws-cn:lambda:cn-north-1:123456789012:function:orders:7"),
            "orders"
        );
        // Not an ARN: left for the API to judge.
        assert_eq!(function_name("my:function:x"), "my:function:x");
        // A partial ARN names the same function.
        assert_eq!(function_name("123456789012:function:orders"), "orders");
    }

    #[test]
    fn an_arn_is_taken_apart() {
        let r = FunctionRef::of("arn:aws:lambda:eu-west-1:123456789012:function:orders:live");
        assert_eq!(
            r,
            FunctionRef {
                name: "orders",
                account: Some("123456789012"),
                region: Some("eu-west-1"),
                qualifier: Some("live"),
            }
        );
        let partial = FunctionRef::of("123456789012:function:orders");
        assert_eq!(
            (partial.name, partial.account, partial.region),
            ("orders", Some("123456789012"), None)
        );
        assert_eq!(FunctionRef::of("orders").account, None);
    }
}

/// What one rule did on this incident, for people and for the audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRun {
    /// The rule's name (from `describe`).
    pub rule: String,
    /// The version the rule gives itself.
    pub version: String,
    /// Watch only: its findings were recorded, never deciding.
    pub shadow: bool,
    /// Loaded without pin or signature (`allow_unsigned`, development only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsigned: bool,
    /// How long it ran (microseconds).
    pub elapsed_us: u64,
    /// How many findings it returned.
    pub findings: usize,
    /// Whether it failed (the cause is among the run's plugin failures).
    pub failed: bool,
    /// Lines the rule logged while it ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
}

/// What an incident's evidence held, in figures: the run document keeps this, not the
/// evidence itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceSummary {
    /// The function the evidence is about.
    pub function_name: String,
    /// Its memory when the evidence was collected (MB).
    pub memory_mb: u32,
    /// Invocation reports in the window.
    pub invocations: usize,
    /// Log lines read.
    pub log_lines: usize,
    /// Metric series read.
    pub metric_series: usize,
    /// The window's length and the mean invocation duration in it: with
    /// `invocations`, what the A/B report prices memory changes with.
    #[serde(default)]
    pub window_ms: i64,
    /// Mean invocation duration in the window (ms).
    #[serde(default)]
    pub mean_duration_ms: f64,
    /// What could not be collected, or was cut short (the evidence's notes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why the invocation reports cannot be trusted, if they cannot
    /// ([`report_doubt`](crate::logs::report_doubt)): no memory change rests
    /// on their figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_doubt: Option<String>,
    /// Changes to the function's code or configuration in the day before
    /// the alarm (CloudTrail), newest first, at most a few.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_changes: Vec<FunctionChange>,
}

/// A change made, with what it takes to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The function changed.
    pub function_name: String,
    /// The alias the incident named, moved to the published version; `None` for `$LATEST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Memory before the change (MB).
    pub previous_memory_mb: u32,
    /// Memory after the change (MB).
    pub new_memory_mb: u32,
    /// The function's revision before our update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision_id: Option<String>,
    /// The revision our update produced: the guard for a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_revision_id: Option<String>,
    /// The id of our UpdateFunctionConfiguration request: CloudTrail's
    /// record of it carries the same (docs/runbook.md shows the query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// With an alias: the version it pointed at before, and the one we published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    /// The version we published with the new memory, the alias's target now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<String>,
    /// With an alias: `$LATEST`'s memory before our update (the alias's
    /// version may have had another), what a rollback restores `$LATEST` to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_latest_memory_mb: Option<u32>,
    /// When the change was made (ms since the Unix epoch).
    pub at_ms: Millis,
}
