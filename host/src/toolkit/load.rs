//! The configured rules as the command line loads them (`run`, `diagnose`,
//! `replay`, `rule list`), the sandbox `rule test` and `rule inspect` use, and
//! the loaded set described as JSON.

use std::sync::Arc;

use anyhow::Context as _;

use crate::config::Config;
use crate::rules::{Compiler, RuleSet, Sandbox};

/// Every rule the config names — bundled, local and remote (fetched from S3,
/// on a runtime of its own) — compiled in the production sandbox, with the
/// ones refused kept as load failures. `no_cache` leaves the precompiled-rule
/// cache on disk alone.
pub fn load_rules(config: &Config, no_cache: bool) -> anyhow::Result<RuleSet> {
    let sandbox = Sandbox::new(config.max_memory_mib()).context("starting the rule sandbox")?;
    let cache_dir = if no_cache {
        None
    } else {
        config.sandbox.effective_cache_dir()
    };
    let (specs, refused) = if config.has_remote_rules() {
        let sources = cache_dir.as_ref().map(|d| d.join("sources"));
        tokio::runtime::Runtime::new()
            .context("starting the async runtime")?
            .block_on(async {
                config
                    .fetch_rule_specs(&crate::aws::sdk_from_env().await, sources)
                    .await
            })
    } else {
        config.rule_specs()
    };
    let compiler = Compiler::new(Arc::new(sandbox), cache_dir);
    let mut rules = RuleSet::load(&compiler, &specs);
    rules.add_load_failures(refused);
    Ok(rules)
}

/// A metered sandbox for `rule test` and `rule inspect`: room for the config's
/// largest rule, or for `memory_mib` when that is more.
pub fn metered_sandbox(config: &Config, memory_mib: Option<u64>) -> anyhow::Result<Sandbox> {
    let mib = memory_mib.map_or(config.max_memory_mib(), |m| m.max(config.max_memory_mib()));
    Sandbox::metered(mib).context("starting the rule sandbox")
}

/// `rule list --format json`: every loaded rule, then the ones refused.
pub fn rules_json(rules: &RuleSet) -> serde_json::Value {
    let loaded: Vec<_> = rules
        .rules()
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.info.name,
                "version": r.info.version,
                "summary": r.info.summary,
                "origin": r.origin.to_string(),
                "sha256": r.digest,
                "wants": r.info.wants,
                "granted": r.grants,
                "sees": r.effective_grants(),
                "cpu_budget_ms": r.limits.cpu_budget_ms,
                "memory_mib": r.limits.memory_mib,
                "shadow": r.shadow,
                "trust": r.trust,
                "unsigned": r.trust.is_unsigned(),
            })
        })
        .collect();
    serde_json::json!({ "rules": loaded, "not_loaded": rules.load_failures() })
}
