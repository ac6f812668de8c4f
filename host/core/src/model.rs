//! The domain model: what every stage reads and writes. No I/O, no AWS, no wasmtime.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Unix time in milliseconds.
pub type Millis = i64;

/// A function's name from what a person or a payload gave: the name itself,
/// or its ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`),
/// whose qualifier is dropped. Anything else is returned as it is (the
/// Lambda API says whether it exists).
pub fn function_name(given: &str) -> &str {
    let given = given.trim();
    match given.split_once(":function:") {
        Some((prefix, rest)) if prefix.starts_with("arn:") => {
            rest.split(':').next().unwrap_or(rest)
        }
        _ => given,
    }
}

/// The function under incident, as configured when evidence was collected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionInfo {
    pub name: String,
    #[serde(default)]
    pub arn: String,
    #[serde(default)]
    pub runtime: String,
    #[serde(default = "default_architecture")]
    pub architecture: String,
    pub memory_mb: u32,
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
}

impl FunctionInfo {
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
    pub name: String,
    #[serde(default)]
    pub metric: String,
    #[serde(default = "default_alarm_state")]
    pub state: String,
    #[serde(default)]
    pub reason: String,
}

fn default_alarm_state() -> String {
    "ALARM".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start_ms: Millis,
    pub end_ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub timestamp_ms: Millis,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    pub namespace: String,
    pub name: String,
    pub statistic: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvocationStatus {
    Success,
    Error,
    Timeout,
}

/// One invocation, from a REPORT or platform.report log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationReport {
    pub request_id: String,
    pub timestamp_ms: Millis,
    pub duration_ms: f64,
    pub billed_duration_ms: f64,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_duration_ms: Option<f64>,
    pub status: InvocationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub timestamp_ms: Millis,
    pub message: String,
}

/// Everything known about one incident. This is also the recorded evidence file
/// format (`autorepair diagnose --evidence FILE`), documented in docs/run-document.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub function: FunctionInfo,
    pub alarm: AlarmInfo,
    pub window: Window,
    #[serde(default)]
    pub metrics: Vec<MetricSeries>,
    /// Parsed invocation reports. When a file leaves this out, the host parses
    /// them from `logs`.
    #[serde(default)]
    pub reports: Vec<InvocationReport>,
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// What could not be collected, or was cut short ("logs capped at 20000 events").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The kinds of evidence a rule can ask for and an operator can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    Metrics,
    Reports,
    Logs,
    Config,
}

impl Grant {
    pub const ALL: [Grant; 4] = [Grant::Metrics, Grant::Reports, Grant::Logs, Grant::Config];

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
        })
    }
}

/// A set of [`Grant`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Grants(u8);

impl Grants {
    pub const NONE: Grants = Grants(0);
    pub const ALL: Grants = Grants(0b1111);

    pub fn contains(self, grant: Grant) -> bool {
        self.0 & grant.bit() != 0
    }

    pub fn with(self, grant: Grant) -> Grants {
        Grants(self.0 | grant.bit())
    }

    pub fn intersect(self, other: Grants) -> Grants {
        Grants(self.0 & other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Grant> {
        Grant::ALL.into_iter().filter(move |g| self.contains(*g))
    }

    /// A small dense index (0..16), for caching one converted evidence per set.
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
    Rule(String),
    Ai,
}

impl Source {
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
    pub source: Source,
    #[serde(default)]
    pub shadow: bool,
    #[serde(flatten)]
    pub finding: Finding,
}

/// Why a rule plugin produced nothing usable. Each is recorded; none stops the
/// other diagnosers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "cause", content = "detail", rename_all = "kebab-case")]
pub enum FailureCause {
    #[error("could not be loaded: {0}")]
    Load(String),
    /// Neither pinned nor validly signed by a trusted key (see `trust`).
    #[error("refused: {0}")]
    Untrusted(String),
    #[error("targets an incompatible interface: {0}")]
    Incompatible(String),
    #[error("ran past its CPU budget of {0} ms")]
    CpuBudget(u64),
    #[error("grew past its memory cap of {0} MiB")]
    MemoryCap(u64),
    #[error("exhausted its stack")]
    StackOverflow,
    #[error("panicked: {0}")]
    Panic(String),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned invalid data: {0}")]
    InvalidOutput(String),
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
    pub model_id: String,
    pub status: AiStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub latency_ms: u64,
    pub attempts: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// From the configured prices per 1k tokens.
    pub cost_usd: f64,
    /// The prompt's own estimate, and how many sample lines and redactions it carried.
    pub prompt_tokens_estimated: usize,
    pub sample_lines: usize,
    pub redactions: usize,
    /// Watch only: recorded, never deciding.
    #[serde(default)]
    pub shadow: bool,
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
        }
    }
}

/// One function as the fleet's listing gives it (onboarding and sweeps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetFunction {
    pub name: String,
    pub memory_mb: u32,
    pub timeout_s: u32,
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
    pub name: String,
    pub function: String,
    /// errors, duration, throttles or memory.
    pub kind: String,
    pub namespace: String,
    pub metric: String,
    /// The dimension naming the function (`FunctionName`; Lambda Insights
    /// says `function_name`).
    pub dimension: String,
    pub statistic: String,
    /// The alarm fires at or above this.
    pub threshold: f64,
    pub period_s: u32,
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
        stack: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        logical_id: String,
        memory_mb: u32,
    },
    /// A Terraform-managed function: its `aws_lambda_function`'s `memory_size`.
    Terraform {
        /// The resource address when a tag names it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        address: String,
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
    pub function: String,
    pub direction: Direction,
    pub current_mb: u32,
    /// The size to set; equals `current_mb` for `keep`.
    pub target_mb: u32,
    /// What the change would add to the monthly bill at the last 14 days'
    /// traffic (negative: a saving), in USD.
    pub monthly_cost_delta_usd: f64,
    pub invocations: u64,
    /// The 99th percentile of Max Memory Used over the window, when reports exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_used_mb: Option<u32>,
    /// No recommendation goes below this: the size the last out-of-memory
    /// invocation needed (more than the size it died at), remembered across sweeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_floor_mb: Option<u32>,
    pub reasons: Vec<String>,
    /// The sweep that wrote it.
    pub sweep: String,
    pub at_ms: Millis,
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
}

#[cfg(test)]
mod tests {
    use super::function_name;

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
    }
}

/// What one rule did on this incident, for people and for the audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRun {
    pub rule: String,
    pub version: String,
    pub shadow: bool,
    /// Loaded without pin or signature (`allow_unsigned`, development only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsigned: bool,
    pub elapsed_us: u64,
    pub findings: usize,
    pub failed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceSummary {
    pub function_name: String,
    pub memory_mb: u32,
    pub invocations: usize,
    pub log_lines: usize,
    pub metric_series: usize,
    /// The window's length and the mean invocation duration in it: with
    /// `invocations`, what the A/B report prices memory changes with.
    #[serde(default)]
    pub window_ms: i64,
    #[serde(default)]
    pub mean_duration_ms: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A change made, with what it takes to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub function_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub previous_memory_mb: u32,
    pub new_memory_mb: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision_id: Option<String>,
    /// The revision our update produced: the guard for a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_revision_id: Option<String>,
    /// With an alias: the version it pointed at before, and the one we published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<String>,
    /// With an alias: `$LATEST`'s memory before our update (the alias's
    /// version may have had another), what a rollback restores `$LATEST` to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_latest_memory_mb: Option<u32>,
    pub at_ms: Millis,
}
