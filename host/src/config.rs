//! The configuration file (TOML). Every key is optional; `autorepair config show`
//! prints the effective configuration with every default filled in. The format
//! is a public contract, documented in the README.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::decide::{MergeMode, Policy};
use crate::digest::sha256_hex;
use crate::model::Millis;
use crate::model::{FailureCause, Grant, Grants, PluginFailure};
use crate::ports::ObjectStore;
use crate::rules::source::{self, Fetched, Location};
use crate::rules::{self, Limits, Origin, RuleSpec};
use crate::trust::{self, Trust, TrustedKey};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How rule and AI findings are merged (rules, ai, consensus, rules-first, ai-first).
    pub mode: MergeMode,
    pub policy: Policy,
    pub sandbox: SandboxConfig,
    pub bundled: BundledConfig,
    /// Rule plugins from outside the binary.
    pub plugins: Vec<PluginConfig>,
    /// Keys whose minisign signatures let a third-party rule load without a pin.
    pub trust: TrustConfig,
    /// The closed loop: where records go, windows, bounds.
    pub run: RunConfig,
    /// The AI diagnoser (Amazon Bedrock), off unless enabled.
    pub ai: AiConfig,
    /// Prices the A/B report turns memory changes into money with.
    pub pricing: PricingConfig,
}

/// The Bedrock diagnoser. Prices default to Claude Haiku 4.5's on-demand rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiConfig {
    /// Ask the model beside the rules. Off by default: it needs Bedrock access.
    pub enabled: bool,
    /// A Bedrock model id or inference-profile id.
    pub model_id: String,
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
            model_id: "us.anthropic.claude-haiku-4-5-20251001-v1:0".into(),
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

impl AiConfig {
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        input_tokens as f64 / 1000.0 * self.usd_per_1k_input_tokens
            + output_tokens as f64 / 1000.0 * self.usd_per_1k_output_tokens
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.model_id.trim().is_empty() {
            problems.push("ai.model_id must not be empty".into());
        }
        if !(1..=900).contains(&self.timeout_seconds) {
            problems.push("ai.timeout_seconds must be within 1..=900".into());
        }
        if !(1..=10).contains(&self.max_attempts) {
            problems.push("ai.max_attempts must be within 1..=10".into());
        }
        if self.input_token_budget < 500 {
            problems.push("ai.input_token_budget must be at least 500".into());
        }
        if self.max_output_tokens == 0 {
            problems.push("ai.max_output_tokens must be above 0".into());
        }
        if self.max_line_chars == 0 {
            problems.push("ai.max_line_chars must be above 0".into());
        }
        for (name, price) in [
            ("usd_per_1k_input_tokens", self.usd_per_1k_input_tokens),
            ("usd_per_1k_output_tokens", self.usd_per_1k_output_tokens),
        ] {
            if !(price.is_finite() && price >= 0.0) {
                problems.push(format!("ai.{name} must be a number ≥ 0"));
            }
        }
        problems
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricingConfig {
    /// Lambda's price per GB-second (x86, us-east-1 by default).
    pub lambda_usd_per_gb_second: f64,
}

impl Default for PricingConfig {
    fn default() -> Self {
        PricingConfig {
            lambda_usd_per_gb_second: 0.000_016_666_7,
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
            lock_ttl_seconds: 900,
            audit_ttl_days: 90,
            dry_run: false,
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

    pub fn effective_cache_dir(&self) -> Option<PathBuf> {
        self.cache.then(|| {
            self.cache_dir
                .clone()
                .unwrap_or_else(rules::default_cache_dir)
        })
    }
}

/// The rules built into the binary: all on, each granted what it asks for,
/// unless said otherwise here.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BundledConfig {
    /// Bundled rules not to load, by name.
    pub disabled: Vec<String>,
    /// Bundled rules that only watch (recorded, never deciding).
    pub shadow: Vec<String>,
    /// Per-rule grants replacing "everything it asks for", e.g. `oom = ["reports"]`.
    pub grants: std::collections::BTreeMap<String, Grants>,
}

/// Who may sign third-party rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustConfig {
    pub keys: Vec<TrustedKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
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
    #[serde(default = "default_plugin_grants")]
    pub grants: Grants,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_budget_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Evaluated and recorded, never deciding: watch a rule before trusting it.
    #[serde(default)]
    pub shadow: bool,
    /// Load without a pin or signature. For local development only; flagged in
    /// every output.
    #[serde(default)]
    pub allow_unsigned: bool,
}

impl PluginConfig {
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
pub fn default_plugin_grants() -> Grants {
    [Grant::Metrics, Grant::Reports, Grant::Config]
        .into_iter()
        .collect()
}

/// Bounds on limits an operator may configure.
const MAX_CPU_BUDGET_MS: u64 = 10_000;
const MAX_MEMORY_MIB: u64 = 4096;

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
    /// Reads and checks a config file; `None` gives the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for plugin in &mut config.plugins {
            // Relative files are relative to the config file; made absolute
            // here so the rest never needs to know where the config was.
            for place in std::iter::once(&mut plugin.source).chain(plugin.signature.as_mut()) {
                if let Ok(Location::File(file)) = Location::parse(place, base) {
                    *place = file.to_string_lossy().into_owned();
                }
            }
        }
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems: problems.join("; "),
            });
        }
        Ok(config)
    }

    /// The Lambda host's configuration: the text of `AUTOREPAIR_CONFIG_TOML`
    /// (what the deployment template writes) when set, else the file named by
    /// `AUTOREPAIR_CONFIG`, else the defaults.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_sources(
            std::env::var("AUTOREPAIR_CONFIG_TOML").ok(),
            std::env::var_os("AUTOREPAIR_CONFIG").map(PathBuf::from),
        )
    }

    fn from_sources(text: Option<String>, file: Option<PathBuf>) -> Result<Config, ConfigError> {
        match text.filter(|t| !t.trim().is_empty()) {
            Some(text) => Config::from_toml(&text, Path::new("$AUTOREPAIR_CONFIG_TOML")),
            None => Config::load(file.as_deref()),
        }
    }

    /// Parses and checks configuration text (e.g. from `AUTOREPAIR_CONFIG_TOML`,
    /// which the deployment template fills from its parameters); `origin` names
    /// it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: origin.to_owned(),
                problems: problems.join("; "),
            });
        }
        Ok(config)
    }

    /// Everything wrong with this configuration, each phrased as what to fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.policy.problems();
        problems.extend(self.ai.problems());
        let price = self.pricing.lambda_usd_per_gb_second;
        if !(price.is_finite() && price >= 0.0) {
            problems.push("pricing.lambda_usd_per_gb_second must be a number ≥ 0".into());
        }
        if self.run.audit_table.is_empty() {
            problems.push("run.audit_table must not be empty".into());
        }
        if self.run.evidence_window_minutes == 0 {
            problems.push("run.evidence_window_minutes must be above 0".into());
        }
        if self.run.max_log_events == 0 {
            problems.push("run.max_log_events must be above 0".into());
        }
        let mut limits = vec![("sandbox".to_owned(), self.sandbox.limits())];
        problems.extend(trust::key_problems(&self.trust.keys));
        for (i, p) in self.plugins.iter().enumerate() {
            let name = format!("plugins[{i}] ({})", p.source);
            limits.push((name.clone(), self.plugin_limits(p)));
            let location = p.location();
            if let Err(e) = &location {
                problems.push(format!("{name}: source: {e}"));
            }
            if let Err(e) = p.signature_location() {
                problems.push(format!("{name}: signature: {e}"));
            }
            match &p.sha256 {
                Some(pin) if !is_sha256(pin) => {
                    problems.push(format!("{name}: sha256 must be 64 hex digits"));
                }
                None if !p.allow_unsigned && self.trust.keys.is_empty() => {
                    let digest = match location {
                        Ok(Location::File(path)) => {
                            std::fs::read(path).ok().map(|b| sha256_hex(&b))
                        }
                        _ => None,
                    };
                    let hint = digest.map_or_else(String::new, |d| format!(" (the file's is {d})"));
                    problems.push(format!(
                        "{name}: no sha256 pin and no trusted signing keys; add sha256 = \"<digest>\"{hint}, or a [[trust.keys]] entry and a signature, or allow_unsigned = true for local development"
                    ));
                }
                _ => {}
            }
        }
        for (name, l) in limits {
            if !(1..=MAX_CPU_BUDGET_MS).contains(&l.cpu_budget_ms) {
                problems.push(format!(
                    "{name}: cpu_budget_ms must be within 1..={MAX_CPU_BUDGET_MS}"
                ));
            }
            if !(1..=MAX_MEMORY_MIB).contains(&l.memory_mib) {
                problems.push(format!(
                    "{name}: memory_mib must be within 1..={MAX_MEMORY_MIB}"
                ));
            }
        }
        let known: Vec<&str> = rules::artifacts::BUNDLED.iter().map(|(n, _)| *n).collect();
        let named = self
            .bundled
            .disabled
            .iter()
            .chain(&self.bundled.shadow)
            .chain(self.bundled.grants.keys());
        for name in named {
            if !known.contains(&name.as_str()) {
                problems.push(format!(
                    "bundled: no bundled rule is named {name:?} (there are {})",
                    known.join(", ")
                ));
            }
        }
        problems
    }

    /// A plugin's limits: its own, else the sandbox defaults.
    pub fn plugin_limits(&self, p: &PluginConfig) -> Limits {
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
            .map(|p| self.plugin_limits(p).memory_mib)
            .chain([self.sandbox.memory_mib])
            .max()
            .unwrap_or(Limits::default().memory_mib)
    }

    /// The rules to load, reading third-party rules from local files (an S3
    /// source is refused here: fetch it with [`Config::rule_specs_from`]).
    pub fn rule_specs(&self) -> (Vec<RuleSpec>, Vec<PluginFailure>) {
        let fetched = self.plugins.iter().map(read_local).collect();
        self.rule_specs_from(fetched, now_ms())
    }

    /// The rules to load: enabled bundled rules, then every configured plugin
    /// whose bytes (`fetched[i]` for `plugins[i]`) pass [`trust::verify`] at
    /// `now_ms`. A plugin refused here is returned as a failure, with the reason;
    /// the rest still load. Nothing refused is even compiled: compiling hostile
    /// input can be made arbitrarily slow.
    pub fn rule_specs_from(
        &self,
        fetched: Vec<Result<Fetched, String>>,
        now_ms: Millis,
    ) -> (Vec<RuleSpec>, Vec<PluginFailure>) {
        let mut specs = Vec::new();
        let mut failures = Vec::new();
        for (name, bytes) in rules::artifacts::BUNDLED {
            if self.bundled.disabled.iter().any(|d| d == name) {
                continue;
            }
            specs.push(RuleSpec {
                origin: Origin::Bundled,
                bytes: Arc::from(*bytes),
                grants: self
                    .bundled
                    .grants
                    .get(*name)
                    .copied()
                    .unwrap_or(Grants::ALL),
                limits: self.sandbox.limits(),
                shadow: self.bundled.shadow.iter().any(|s| s == name),
                trust: Trust::Bundled,
            });
        }
        for (p, fetched) in self.plugins.iter().zip(fetched) {
            let verified = fetched.map_err(FailureCause::Load).and_then(|f| {
                trust::verify(
                    &f.bytes,
                    p.sha256.as_deref(),
                    f.signature.as_deref(),
                    &f.signature_at.to_string(),
                    &self.trust.keys,
                    p.allow_unsigned,
                    now_ms,
                )
                .map(|trust| (f.bytes, trust))
                .map_err(|refusal| FailureCause::Untrusted(refusal.to_string()))
            });
            match verified {
                Ok((bytes, trust)) => {
                    if trust.is_unsigned() {
                        tracing::warn!(source = %p.source, "loading an UNSIGNED rule (allow_unsigned): development only");
                    }
                    specs.push(RuleSpec {
                        origin: Origin::External(p.source.clone()),
                        bytes,
                        grants: p.grants,
                        limits: self.plugin_limits(p),
                        shadow: p.shadow,
                        trust,
                    });
                }
                Err(cause) => failures.push(PluginFailure {
                    rule: p.source.clone(),
                    cause,
                }),
            }
        }
        (specs, failures)
    }

    /// [`Config::rule_specs`], fetching S3 sources from `objects`; pinned
    /// S3 rules are kept in `cache` by digest.
    pub async fn fetch_rule_specs(
        &self,
        objects: Arc<dyn ObjectStore>,
        cache: Option<PathBuf>,
    ) -> (Vec<RuleSpec>, Vec<PluginFailure>) {
        let s3 = source::RemoteSource::new(objects, cache);
        let mut fetched = Vec::with_capacity(self.plugins.len());
        for p in &self.plugins {
            fetched.push(match (p.location(), p.signature_location()) {
                (Ok(Location::S3 { bucket, key }), Ok(signature)) => {
                    s3.fetch(&bucket, &key, &signature, p.sha256.as_deref())
                        .await
                }
                _ => read_local(p),
            });
        }
        self.rule_specs_from(fetched, now_ms())
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

/// A plugin's bytes and signature from local files.
fn read_local(p: &PluginConfig) -> Result<Fetched, String> {
    match (p.location()?, p.signature_location()?) {
        (Location::File(path), signature) => source::read_local(&path, &signature),
        (remote, _) => Err(format!(
            "{remote} must be fetched first (this caller reads local files only)"
        )),
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("autorepair.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path))
    }

    #[test]
    fn the_deployment_text_wins_over_the_file_and_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("autorepair.toml");
        std::fs::write(&file, "mode = \"ai\"\n").unwrap();
        let from_text =
            Config::from_sources(Some("mode = \"consensus\"\n".into()), Some(file.clone()))
                .unwrap();
        assert_eq!(from_text.mode, MergeMode::Consensus);
        let from_file = Config::from_sources(Some("  ".into()), Some(file)).unwrap();
        assert_eq!(from_file.mode, MergeMode::Ai);
        assert_eq!(Config::from_sources(None, None).unwrap(), Config::default());
        let err = Config::from_sources(Some("mode = 1".into()), None).unwrap_err();
        assert!(err.to_string().contains("$AUTOREPAIR_CONFIG_TOML"), "{err}");
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn effective_config_round_trips_through_toml() {
        let config = Config::default();
        let back: Config = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_a_reason() {
        let err = parse("[policy]\nceling_mb = 4096\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("celing_mb"), "{err}");
        let err = parse("mode = \"majority\"\n").unwrap_err().to_string();
        assert!(err.contains("majority"), "{err}");
        let err = parse("[policy]\nceiling_mb = 64\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ceiling_mb = 64"), "{err}");
        let err = parse("[bundled]\ndisabled = [\"nope\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no bundled rule is named \"nope\""), "{err}");
    }

    #[test]
    fn an_unpinned_plugin_is_refused_unless_allowed() {
        let err = parse("[[plugins]]\npath = \"x.wasm\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no sha256 pin and no trusted signing keys"),
            "{err}"
        );
        let ok = parse("[[plugins]]\npath = \"x.wasm\"\nallow_unsigned = true\n").unwrap();
        assert_eq!(ok.plugins[0].grants, default_plugin_grants());
        assert!(!ok.plugins[0].grants.contains(Grant::Logs));
    }

    #[test]
    fn a_pin_mismatch_refuses_the_plugin_but_not_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("rule.wasm");
        std::fs::write(&wasm, b"not really wasm").unwrap();
        let path = dir.path().join("autorepair.toml");
        std::fs::write(
            &path,
            format!(
                "[[plugins]]\npath = \"rule.wasm\"\nsha256 = \"{}\"\n",
                "0".repeat(64)
            ),
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        let (specs, failures) = config.rule_specs();
        assert_eq!(specs.len(), rules::artifacts::BUNDLED.len());
        assert!(
            matches!(&failures[0].cause, FailureCause::Untrusted(m) if m.contains("sha256 mismatch"))
        );
    }
}
