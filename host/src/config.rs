//! The configuration file (TOML). Every key is optional; `autorepair config show`
//! prints the effective configuration with every default filled in. The format
//! is a public contract, documented in the README.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::decide::{MergeMode, Policy};
use crate::model::{FailureCause, Grant, Grants, PluginFailure};
use crate::rules::{self, Limits, Origin, RuleSpec, sha256_hex};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The component file; relative paths are relative to the config file.
    pub path: PathBuf,
    /// The sha256 the file must have. Required unless `allow_unsigned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// What the rule may see; default metrics, reports and config — never logs
    /// unless granted here.
    #[serde(default = "third_party_grants")]
    pub grants: Grants,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_budget_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Evaluated and recorded, never deciding: watch a rule before trusting it.
    #[serde(default)]
    pub shadow: bool,
    /// Load without a pin. For local development only; flagged in every output.
    #[serde(default)]
    pub allow_unsigned: bool,
}

fn third_party_grants() -> Grants {
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
            if plugin.path.is_relative() {
                plugin.path = base.join(&plugin.path);
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
        for (i, p) in self.plugins.iter().enumerate() {
            let name = format!("plugins[{i}] ({})", p.path.display());
            limits.push((name.clone(), self.plugin_limits(p)));
            match &p.sha256 {
                Some(pin) if !is_sha256(pin) => {
                    problems.push(format!("{name}: sha256 must be 64 hex digits"));
                }
                None if !p.allow_unsigned => {
                    let digest = std::fs::read(&p.path).map(|b| sha256_hex(&b));
                    let hint =
                        digest.map_or_else(|_| String::new(), |d| format!(" (the file's is {d})"));
                    problems.push(format!(
                        "{name}: no sha256 pin; add sha256 = \"<digest>\"{hint}, or allow_unsigned = true for local development"
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

    fn plugin_limits(&self, p: &PluginConfig) -> Limits {
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

    /// The rules to load: enabled bundled rules, then every configured plugin
    /// whose file reads and matches its pin. A plugin refused here is returned as
    /// a failure; the rest still load.
    pub fn rule_specs(&self) -> (Vec<RuleSpec>, Vec<PluginFailure>) {
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
                unpinned: false,
            });
        }
        for p in &self.plugins {
            match read_pinned(p) {
                Ok(bytes) => specs.push(RuleSpec {
                    origin: Origin::File(p.path.clone()),
                    bytes,
                    grants: p.grants,
                    limits: self.plugin_limits(p),
                    shadow: p.shadow,
                    unpinned: p.sha256.is_none(),
                }),
                Err(cause) => failures.push(PluginFailure {
                    rule: p.path.display().to_string(),
                    cause,
                }),
            }
        }
        (specs, failures)
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not render: {e}\n"))
    }
}

/// The plugin's bytes, only if they match its pin: nothing unpinned is even
/// compiled (compiling hostile input can be made arbitrarily slow).
fn read_pinned(p: &PluginConfig) -> Result<Arc<[u8]>, FailureCause> {
    let bytes = std::fs::read(&p.path)
        .map_err(|e| FailureCause::Load(format!("cannot read {}: {e}", p.path.display())))?;
    let digest = sha256_hex(&bytes);
    match &p.sha256 {
        Some(pin) if !pin.eq_ignore_ascii_case(&digest) => Err(FailureCause::Load(format!(
            "sha256 mismatch: the config pins {pin}, the file has {digest}; refusing to load"
        ))),
        _ => Ok(Arc::from(bytes)),
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
        assert!(err.contains("no sha256 pin"), "{err}");
        let ok = parse("[[plugins]]\npath = \"x.wasm\"\nallow_unsigned = true\n").unwrap();
        assert_eq!(ok.plugins[0].grants, third_party_grants());
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
            matches!(&failures[0].cause, FailureCause::Load(m) if m.contains("sha256 mismatch"))
        );
    }
}
