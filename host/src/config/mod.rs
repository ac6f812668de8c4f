//! The configuration file (TOML): its schema here, its checks in [`checks`],
//! loading it (and the rules it names) in [`load`]. Every key is optional;
//! `autorepair config show` prints the effective configuration with every
//! default filled in. The format is a public contract, documented in docs/configuration.md.

mod checks;
mod load;
#[cfg(test)]
mod tests;

pub use load::{default_path, read_local};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decide::{MergeMode, Policy};
use crate::model::{Grant, Grants};
use crate::rules::source::Location;
use crate::rules::{self, Limits};
use crate::trust::TrustedKey;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How rule and AI findings are merged (rules, ai, consensus, rules-first, ai-first).
    pub mode: MergeMode,
    pub policy: Policy,
    pub sandbox: SandboxConfig,
    pub bundled: BundledConfig,
    /// Rule plugins from outside the binary.
    pub plugins: Vec<RuleConfig>,
    /// Keys whose minisign signatures let a third-party rule load without a pin.
    pub trust: TrustConfig,
    /// The closed loop: where records go, windows, bounds.
    pub run: RunConfig,
    /// The AI diagnoser (Amazon Bedrock), off unless enabled.
    pub ai: AiConfig,
    /// Prices the A/B report turns memory changes into money with.
    pub pricing: PricingConfig,
    /// A functional check right after a change, off unless enabled.
    pub smoke: SmokeConfig,
    /// Many functions: onboarding by tag and scheduled sweeps.
    pub fleet: FleetConfig,
    /// A person approves each change before it is made (off unless required).
    pub approval: ApprovalConfig,
    /// Functions deployed from source (CloudFormation, SAM, Terraform).
    pub iac: IacConfig,
    /// Client-side call rates, per AWS API family.
    pub limits: LimitsConfig,
    /// A central deployment acting in member accounts (off: every alarm is
    /// the host's own account's).
    pub organization: OrganizationConfig,
}

/// A central deployment for an organisation: alarms of enrolled member
/// accounts are repaired there, through a role each member account gives
/// the central host (infrastructure/member.yaml). Empty `accounts`: one
/// account, as without this section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrganizationConfig {
    /// The account the host runs in (its alarms need no role). Default:
    /// the account of `[run] state_machine_arn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_account: Option<String>,
    /// The enrolled member accounts (12 digits each); an alarm of any other
    /// account is refused.
    pub accounts: Vec<String>,
    /// The role in each member account that reads (collect, verify), by
    /// name; default `autorepair-member-read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading_role: Option<String>,
    /// The role in each member account that changes a function (execute,
    /// rollback), by name; default `autorepair-member-act`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acting_role: Option<String>,
    /// The external id both member roles ask for (sts:ExternalId).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The regions the sweep and onboarding cover in each member account;
    /// default: the host's own (`[run] state_machine_arn`'s).
    pub regions: Vec<String>,
}

impl OrganizationConfig {
    /// Whether the host acts beyond its own account.
    pub fn enabled(&self) -> bool {
        !self.accounts.is_empty()
    }

    /// The reading role's name.
    pub fn reading_role(&self) -> &str {
        self.reading_role
            .as_deref()
            .unwrap_or("autorepair-member-read")
    }

    /// The acting role's name.
    pub fn acting_role(&self) -> &str {
        self.acting_role
            .as_deref()
            .unwrap_or("autorepair-member-act")
    }

    /// Every enrolled account in every sweep region: what the sweep and
    /// onboarding cover beyond the host's own account.
    pub fn enrolled(&self, state_machine: Option<&str>) -> Vec<crate::incident::MemberAccount> {
        let regions = self.sweep_regions(state_machine);
        self.accounts
            .iter()
            .flat_map(|account| {
                regions
                    .iter()
                    .map(move |region| crate::incident::MemberAccount {
                        account: account.clone(),
                        region: region.clone(),
                    })
            })
            .collect()
    }

    /// The regions a sweep covers in the members: configured, else
    /// `state_machine`'s.
    pub fn sweep_regions(&self, state_machine: Option<&str>) -> Vec<String> {
        if !self.regions.is_empty() {
            return self.regions.clone();
        }
        state_machine
            .and_then(|arn| arn.split(':').nth(3))
            .filter(|r| !r.is_empty())
            .map(|r| vec![r.to_owned()])
            .unwrap_or_default()
    }

    /// The host's own account: configured, else `state_machine`'s.
    pub fn home(&self, state_machine: Option<&str>) -> Option<String> {
        self.home_account
            .clone()
            .or_else(|| {
                state_machine
                    .and_then(|arn| arn.split(':').nth(4))
                    .map(str::to_owned)
            })
            .filter(|a| !a.is_empty())
    }
}

/// Whether `s` is an AWS account id (12 digits).
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// How fast autorepair calls AWS, per API family: the account's quotas are
/// shared with deployments and every other tool, so autorepair keeps to its
/// own budget instead of leaning on throttling (which the SDK's retries
/// still back off from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Calls a second to Lambda's control plane (GetFunctionConfiguration,
    /// ListTags, ListFunctions, UpdateFunctionConfiguration…; the account's
    /// quota is about 15).
    pub lambda_per_second: f64,
    /// Calls a second to CloudWatch (GetMetricData, DescribeAlarms, PutMetricAlarm…).
    pub cloudwatch_per_second: f64,
    /// Calls a second to CloudWatch Logs (FilterLogEvents, StartQuery, GetQueryResults).
    pub logs_per_second: f64,
    /// Host processes spending these budgets at once (the stack sets its
    /// sweep's concurrency): each paces itself to the budget / processes.
    pub processes: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            lambda_per_second: 10.0,
            cloudwatch_per_second: 20.0,
            logs_per_second: 10.0,
            processes: 1,
        }
    }
}

impl LimitsConfig {
    /// One process's share of `budget`.
    pub fn share(&self, budget: f64) -> f64 {
        budget / f64::from(self.processes.max(1))
    }
}

/// Onboarding (`autorepair onboard`) and the scheduled sweeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// Managed alarms are named `<prefix><function>-<kind>`; the stack's
    /// EventBridge rule sends alarms with this prefix to the workflow.
    pub alarm_prefix: String,
    /// Per-function thresholds are tags `<prefix>errors`, `<prefix>duration-percent`,
    /// `<prefix>throttles`, `<prefix>memory-percent` (a number, or `off`).
    pub threshold_tag_prefix: String,
    /// Days of reports and metrics a sweep reads per function.
    pub sweep_days: u32,
    /// A downsizing keeps this much headroom above the window's largest Max
    /// Memory Used (percent).
    pub down_margin_percent: u32,
    /// Where a sweep's figures come from: `logs-insights` (one query adds up
    /// every REPORT line of the window) or `log-lines` (the lines read one by
    /// one, at most `run.max_log_events`: a busy function is kept).
    pub figures: FiguresFrom,
    /// With Logs Insights figures, the rules read this many hours of the
    /// newest log lines (the figures cover the whole window).
    pub rule_lines_hours: u32,
    /// A downsizing needs at least this many invocations at the current size
    /// since the function last changed…
    pub min_invocations: u64,
    /// …on at least this many distinct days.
    pub min_days: u32,
    /// No downsizing when the longest invocation took this share of the
    /// timeout or more (percent): less memory is less CPU.
    pub near_timeout_percent: u32,
    /// An applied downsizing is judged once this many minutes have passed…
    pub verify_downsizing_after_minutes: u32,
    /// …and this many invocations ran at the new size; if errors, timeouts or
    /// duration regressed, it is rolled back and the size it left becomes a floor.
    pub verify_downsizing_invocations: u64,
    /// A downsizing smaller than this (MB) is not worth recommending.
    pub min_saving_mb: u32,
    /// Tag (with value `apply`) that lets a sweep apply a downsizing itself;
    /// without it a downsizing is only recommended.
    pub downsize_tag: String,
    /// The S3 bucket a sweep writes its item list to (the Distributed Map reads it).
    pub sweep_bucket: String,
    /// Functions per Distributed Map item (one host invocation each).
    pub batch_size: usize,
    /// Functions a batch sweeps at once.
    pub concurrency: usize,
    /// A batch starts no function after this many seconds; the rest are
    /// noted and left for the next sweep. A function started just before
    /// takes up to 2 × run.collect_timeout_seconds more (evidence) and one
    /// more for an applied downsizing: keep the sum below the host's timeout.
    pub batch_budget_seconds: u64,
    /// Where the opted-in functions' tags come from: `tagging-api` (one
    /// GetResources page per 100 tagged functions) or `list-tags` (one
    /// ListTags call per function: fine for a few hundred, and what local
    /// emulators answer).
    pub tags_from: TagSource,
}

/// Where a sweep's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FiguresFrom {
    /// One CloudWatch Logs Insights query per function (falls back to the
    /// lines, saying so, when the query fails).
    #[default]
    LogsInsights,
    /// The raw log lines (FilterLogEvents), capped at `run.max_log_events`.
    LogLines,
}

/// Where the fleet reads tags from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagSource {
    /// The Resource Groups Tagging API: the tagged functions, 100 a call.
    #[default]
    TaggingApi,
    /// Lambda's ListTags, per function (Lambda's control-plane quota: about
    /// 15 calls a second).
    ListTags,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            alarm_prefix: "autorepair-".into(),
            threshold_tag_prefix: "autorepair:".into(),
            sweep_days: 14,
            down_margin_percent: 20,
            figures: FiguresFrom::LogsInsights,
            rule_lines_hours: 24,
            min_invocations: 100,
            min_days: 7,
            near_timeout_percent: 50,
            verify_downsizing_after_minutes: 60,
            verify_downsizing_invocations: 50,
            min_saving_mb: 64,
            downsize_tag: "autorepair:downsize".into(),
            sweep_bucket: String::new(),
            batch_size: 25,
            concurrency: 4,
            batch_budget_seconds: 45,
            tags_from: TagSource::TaggingApi,
        }
    }
}

/// Approval mode: the workflow waits for `autorepair approve|reject` before
/// changing anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalConfig {
    /// Every change waits for a person.
    pub required: bool,
    /// A function tag (value `required`) that asks for approval on that
    /// function alone. It fails closed: any value but `off`, `none`, `no`,
    /// `false` or empty asks too.
    pub tag: String,
    /// Nobody answered within this (seconds): the incident is escalated,
    /// nothing changed. The stack's workflow waits as long (its parameter
    /// ApprovalTimeoutSeconds writes both).
    pub timeout_seconds: u32,
    /// Who may answer: IAM principal ARN patterns (`*` and `?` as in IAM's
    /// StringLike), matched against the caller's identity as STS names it
    /// (`arn:aws:sts::123456789012:assumed-role/PlatformOnCall/*`). Empty:
    /// any identity that can reach the table and the workflow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Distinct approvers needed before a change is made (one rejection
    /// rejects it).
    pub min_approvals: u32,
}

impl ApprovalConfig {
    /// Whether `identity` may answer.
    pub fn may_answer(&self, identity: &str) -> bool {
        let mut named = false;
        for p in self
            .approvers
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
        {
            if like(p, identity) {
                return true;
            }
            named = true;
        }
        !named
    }

    /// Whether any approver is named (an empty pattern, as the stack writes
    /// for an empty parameter, names nobody).
    pub fn names_approvers(&self) -> bool {
        self.approvers.iter().any(|p| !p.trim().is_empty())
    }
}

/// IAM's `StringLike`: `*` any run of characters, `?` any one; the rest
/// literal, case-sensitive.
fn like(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // The classic two-pointer match, backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            required: false,
            tag: "autorepair:approval".into(),
            timeout_seconds: 3600,
            approvers: Vec::new(),
            min_approvals: 1,
        }
    }
}

/// How autorepair recognises a function deployed from source, to say where a
/// change must be written so the next deploy keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IacConfig {
    /// `key=value` of the tag Terraform-managed functions carry.
    pub terraform_tag: String,
    /// A tag whose value is the Terraform resource address (optional).
    pub terraform_address_tag: String,
}

impl Default for IacConfig {
    fn default() -> Self {
        IacConfig {
            terraform_tag: "managed-by=terraform".into(),
            terraform_address_tag: "terraform:address".into(),
        }
    }
}

/// Functional verification: one invocation right after a memory change, with
/// a payload the operator chose for that function. A failing one rolls the
/// change back at once, without waiting for the verification window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmokeConfig {
    pub enabled: bool,
    /// A function tag whose value is its smoke payload (JSON).
    pub tag: String,
    /// Payloads by function name; a function's tag wins over this.
    pub payloads: std::collections::BTreeMap<String, String>,
}

impl Default for SmokeConfig {
    fn default() -> Self {
        SmokeConfig {
            enabled: false,
            tag: "autorepair:smoke-payload".into(),
            payloads: Default::default(),
        }
    }
}

impl SmokeConfig {
    /// The payload to smoke-test `function` with, when enabled and there is one.
    pub fn payload_for(&self, function: &crate::model::FunctionInfo) -> Option<String> {
        if !self.enabled {
            return None;
        }
        function
            .tags
            .get(&self.tag)
            .or_else(|| self.payloads.get(&function.name))
            .cloned()
    }
}

/// The Bedrock diagnoser. Prices default to Claude Haiku 4.5's on-demand rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiConfig {
    /// Ask the model beside the rules. Off by default: it needs Bedrock access.
    pub enabled: bool,
    /// Who serves the model: Amazon Bedrock's Converse, or any server
    /// speaking OpenAI's Chat Completions (vLLM, Ollama, LiteLLM, OpenAI).
    pub provider: Provider,
    /// A Bedrock model id or inference-profile id; with `provider =
    /// "openai"`, the server's model name.
    pub model_id: String,
    /// With `provider = "openai"`: the server's base URL (`…/v1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// With `provider = "openai"`: the environment variable holding the API
    /// key (never the key itself: a config file is no place for a secret).
    pub api_key_env: String,
    /// With `provider = "openai"`: a Secrets Manager secret (name or ARN)
    /// holding the API key, read once at start; wins over `api_key_env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<String>,
    /// An Amazon Bedrock knowledge base (the team's runbooks) whose passages
    /// ground the prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knowledge_base_id: Option<String>,
    /// Passages taken from the knowledge base, at most.
    pub knowledge_passages: usize,
    /// Past incidents of the function shown to the model, at most.
    pub history_incidents: usize,
    /// Read-only tool calls the model may make before it must submit (0:
    /// it submits at once).
    pub max_tool_calls: u32,
    /// Tokens (read and written) the investigation may spend before the
    /// model must submit.
    pub max_investigation_tokens: u64,
    /// Seconds the investigation may take before the model must submit.
    pub max_investigation_seconds: u64,
    /// Region for Bedrock; default: the SDK's (AWS_REGION).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Endpoint override (a local stand-in); `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` works too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Record the AI's finding but never let it decide, whatever the mode.
    pub shadow: bool,
    /// Bound on the whole diagnosis, retries included.
    pub timeout_seconds: u64,
    /// Attempts on throttling and transient model errors.
    pub max_attempts: u32,
    /// First backoff bound (ms); doubled per attempt, full jitter.
    pub backoff_base_ms: u64,
    /// The prompt's budget, in estimated input tokens.
    pub input_token_budget: usize,
    pub max_output_tokens: u32,
    /// Distinct error lines shown to the model, at most.
    pub max_sample_lines: usize,
    /// Each sample line is cut to this many characters.
    pub max_line_chars: usize,
    pub usd_per_1k_input_tokens: f64,
    pub usd_per_1k_output_tokens: f64,
}

impl Default for AiConfig {
    fn default() -> Self {
        AiConfig {
            enabled: false,
            provider: Provider::Bedrock,
            model_id: "us.anthropic.claude-haiku-4-5-20251001-v1:0".into(),
            base_url: None,
            api_key_env: "OPENAI_API_KEY".into(),
            api_key_secret: None,
            knowledge_base_id: None,
            knowledge_passages: 3,
            history_incidents: 3,
            max_tool_calls: 4,
            max_investigation_tokens: 30_000,
            max_investigation_seconds: 15,
            region: None,
            endpoint_url: None,
            shadow: false,
            timeout_seconds: 20,
            max_attempts: 3,
            backoff_base_ms: 500,
            input_token_budget: 6000,
            max_output_tokens: 1024,
            max_sample_lines: 20,
            max_line_chars: 300,
            usd_per_1k_input_tokens: 0.001,
            usd_per_1k_output_tokens: 0.005,
        }
    }
}

/// Who serves the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Amazon Bedrock's Converse API.
    Bedrock,
    /// An OpenAI-compatible Chat Completions server.
    #[serde(rename = "openai")]
    OpenAi,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Provider::Bedrock => "bedrock",
            Provider::OpenAi => "openai",
        })
    }
}

impl AiConfig {
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        input_tokens as f64 / 1000.0 * self.usd_per_1k_input_tokens
            + output_tokens as f64 / 1000.0 * self.usd_per_1k_output_tokens
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricingConfig {
    /// Lambda's price per GB-second on x86_64 (us-east-1's, the same in most
    /// regions; first pricing tier).
    pub lambda_usd_per_gb_second: f64,
    /// Lambda's price per GB-second on arm64 (Graviton: 20 % less).
    pub arm64_usd_per_gb_second: f64,
    /// Regions priced otherwise: `[pricing.regions.<region>]` with
    /// `x86_64` and `arm64` (USD per GB-second).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub regions: std::collections::BTreeMap<String, RegionPrices>,
}

/// One region's Lambda prices (USD per GB-second).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    pub x86_64: f64,
    pub arm64: f64,
}

impl PricingConfig {
    /// The price per GB-second of `architecture` in `region` (the defaults
    /// when the region is not listed), and where it came from.
    pub fn usd_per_gb_second(&self, architecture: &str, region: Option<&str>) -> f64 {
        let arm = architecture == "arm64";
        match region.and_then(|r| self.regions.get(r)) {
            Some(p) if arm => p.arm64,
            Some(p) => p.x86_64,
            None if arm => self.arm64_usd_per_gb_second,
            None => self.lambda_usd_per_gb_second,
        }
    }
}

impl Default for PricingConfig {
    fn default() -> Self {
        PricingConfig {
            lambda_usd_per_gb_second: 0.000_016_666_7,
            arm64_usd_per_gb_second: 0.000_013_333_4,
            regions: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// The DynamoDB table for audit records, locks and change history.
    pub audit_table: String,
    /// The SNS topic for notices; none: no notices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    /// Evidence covers this many minutes before the alarm.
    pub evidence_window_minutes: u32,
    /// Read the function's changes in the day before the alarm from
    /// CloudTrail (LookupEvents): for the rules, the AI and the notice.
    pub recent_changes: bool,
    /// Wait this long after a change before verifying it (the CLI sleeps; Step
    /// Functions uses a Wait state).
    pub verify_after_seconds: u64,
    /// Fewer invocations than this after a change is not enough data to judge.
    pub min_verify_invocations: usize,
    /// Stop reading log events at this many (the evidence says it was capped).
    pub max_log_events: usize,
    /// Bound on each evidence source.
    pub collect_timeout_seconds: u64,
    /// A function lock expires after this long, should its holder die.
    pub lock_ttl_seconds: u64,
    /// Audit records expire (DynamoDB TTL) after this many days.
    pub audit_ttl_days: u32,
    /// Decide and record, never change anything.
    pub dry_run: bool,
    /// An alarm event older than this is refused, whatever CloudWatch says
    /// of the alarm (a replay, or a queue stuck for that long).
    pub max_event_age_seconds: u64,
    /// At most this many notices about one function in an hour; the rest
    /// are recorded, not sent.
    pub max_notices_per_function_hour: u32,
    /// Act only on alarms named with `[fleet] alarm_prefix` (the stack sets
    /// it, with a prefix of its own environment's): two deployments in one
    /// account never act on each other's alarms.
    pub own_alarms_only: bool,
    /// The state machine whose running executions may call the Lambda
    /// stages (`arn:aws:states:…:stateMachine:autorepair-<env>`). Unset, the
    /// Lambda handler refuses every stage after parse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_machine_arn: Option<String>,
    /// The deployed stack's environment (the template sets it): notices
    /// name it in the commands they print (`autorepair --environment prod
    /// approve …`) and in their message attributes, so both work as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// What the notice topic's HTTPS subscribers get: the run's JSON
    /// `record` (default), or a `chatbot` card (AWS Chatbot — Amazon Q
    /// Developer in chat applications — subscribes over HTTPS).
    pub https_notices: crate::notify::HttpsNotices,
}

/// What the lock must outlast besides the two verification windows: every
/// stage's work, Step Functions' retries and the record (generous: a lock
/// that expires early lets a second repair in; one that lingers only delays).
const LOCK_MARGIN_SECONDS: u64 = 600;

impl RunConfig {
    /// How long an incident holds its function's lock: the configured time,
    /// but never less than the longest path through the workflow — two
    /// verification windows (the second when the first had too little data)
    /// for each of up to `steps` memory steps, and [`LOCK_MARGIN_SECONDS`].
    pub fn lock_ttl_ms(&self, steps: u32) -> i64 {
        let longest = self
            .verify_after_seconds
            .saturating_mul(2)
            .saturating_mul(u64::from(steps.max(1)))
            .saturating_add(LOCK_MARGIN_SECONDS);
        i64::try_from(self.lock_ttl_seconds.max(longest).saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            audit_table: "autorepair-audit".into(),
            topic_arn: None,
            evidence_window_minutes: 30,
            verify_after_seconds: 600,
            min_verify_invocations: 5,
            max_log_events: 20_000,
            collect_timeout_seconds: 20,
            recent_changes: false,
            lock_ttl_seconds: 900,
            audit_ttl_days: 90,
            dry_run: false,
            max_event_age_seconds: 900,
            max_notices_per_function_hour: 20,
            own_alarms_only: false,
            state_machine_arn: None,
            environment: None,
            https_notices: crate::notify::HttpsNotices::Record,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Keep precompiled rules on disk so later starts skip compiling.
    pub cache: bool,
    /// Where; default `$AUTOREPAIR_CACHE_DIR`, `$XDG_CACHE_HOME/autorepair` or `~/.cache/autorepair`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// Default per-call budget and memory cap for every rule.
    pub cpu_budget_ms: u64,
    pub memory_mib: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let limits = Limits::default();
        SandboxConfig {
            cache: true,
            cache_dir: None,
            cpu_budget_ms: limits.cpu_budget_ms,
            memory_mib: limits.memory_mib,
        }
    }
}

impl SandboxConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            cpu_budget_ms: self.cpu_budget_ms,
            memory_mib: self.memory_mib,
        }
    }

    /// Where precompiled rules are kept: `cache_dir`, else the user's cache
    /// directory; none when caching is off or there is no such directory.
    pub fn effective_cache_dir(&self) -> Option<PathBuf> {
        if !self.cache {
            return None;
        }
        self.cache_dir.clone().or_else(rules::default_cache_dir)
    }
}

/// The rules built into the binary: all on, each granted what it asks for,
/// unless said otherwise here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BundledConfig {
    /// Bundled rules not to load, by name.
    pub disabled: Vec<String>,
    /// Bundled rules that only watch (recorded, never deciding).
    pub shadow: Vec<String>,
    /// Per-rule grants replacing "everything it asks for", e.g. `oom = ["reports"]`.
    pub grants: std::collections::BTreeMap<String, Grants>,
    /// Bundled rules whose failure vetoes a memory change: those that find
    /// causes memory does not fix. A deciding veto rule that fails escalates.
    pub veto_on_failure: Vec<String>,
}

/// The bundled rules that find causes more memory does not fix.
pub const BUNDLED_VETOES: &[&str] = &["timeouts", "throttles", "code-errors"];

impl Default for BundledConfig {
    fn default() -> Self {
        BundledConfig {
            disabled: Vec::new(),
            shadow: Vec::new(),
            grants: Default::default(),
            veto_on_failure: BUNDLED_VETOES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// Who may sign third-party rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustConfig {
    pub keys: Vec<TrustedKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The component: a file (relative to the config file) or `s3://bucket/key`.
    #[serde(alias = "path")]
    pub source: String,
    /// The sha256 the bytes must have. With a pin, no signature is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Where the minisign signature is; default `<source>.minisig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// What the rule may see; default metrics, reports and config — never logs
    /// unless granted here.
    #[serde(default = "default_rule_grants")]
    pub grants: Grants,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_budget_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Evaluated and recorded, never deciding: watch a rule before trusting it.
    #[serde(default)]
    pub shadow: bool,
    /// Its failure vetoes a memory change (for rules that find causes memory
    /// does not fix); off unless set.
    #[serde(default)]
    pub veto_on_failure: bool,
    /// Load without a pin or signature. For local development only; flagged in
    /// every output.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// The rule this slot holds, as its signature names it; default: the
    /// source's file name without `.wasm` (`s3://b/headroom.wasm` →
    /// `headroom`). A signed artifact of another rule is refused here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// No signed version older than this loads (a pin may); the host also
    /// never goes below the last version it accepted in this slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
}

impl RuleConfig {
    /// The rule this slot holds: `rule`, else the source's file name
    /// without `.wasm`.
    pub fn slot_rule(&self) -> String {
        if let Some(rule) = &self.rule {
            return rule.clone();
        }
        let file = self
            .source
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&self.source);
        file.strip_suffix(".wasm").unwrap_or(file).to_owned()
    }

    /// Where the rule is. Sources were checked when the config was loaded.
    pub fn location(&self) -> Result<Location, String> {
        Location::parse(&self.source, Path::new("."))
    }

    /// Where its signature is looked for.
    pub fn signature_location(&self) -> Result<Location, String> {
        match &self.signature {
            Some(s) => Location::parse(s, Path::new(".")),
            None => Ok(self.location()?.default_signature()),
        }
    }
}

/// What a `[[plugins]]` entry grants unless it says otherwise: never logs.
pub fn default_rule_grants() -> Grants {
    [Grant::Metrics, Grant::Reports, Grant::Config]
        .into_iter()
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {problems}")]
    Invalid { path: PathBuf, problems: String },
}

impl Config {
    /// A plugin's limits: its own, else the sandbox defaults.
    pub fn rule_limits(&self, p: &RuleConfig) -> Limits {
        let default = self.sandbox.limits();
        Limits {
            cpu_budget_ms: p.cpu_budget_ms.unwrap_or(default.cpu_budget_ms),
            memory_mib: p.memory_mib.unwrap_or(default.memory_mib),
        }
    }

    /// The largest memory cap any rule may get (sizes the sandbox's pool).
    pub fn max_memory_mib(&self) -> u64 {
        self.plugins
            .iter()
            .map(|p| self.rule_limits(p).memory_mib)
            .chain([self.sandbox.memory_mib])
            .max()
            .unwrap_or(Limits::default().memory_mib)
    }

    /// Whether any rule must be fetched from S3.
    pub fn has_remote_rules(&self) -> bool {
        self.plugins
            .iter()
            .any(|p| matches!(p.location(), Ok(Location::S3 { .. })))
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not render: {e}\n"))
    }
}
