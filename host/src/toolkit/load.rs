//! The sandbox `rule test` and `rule inspect` use, and the loaded set
//! described as JSON (`rule list`).

use anyhow::Context as _;

use crate::config::Config;
use crate::rules::{RuleSet, Sandbox};

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
                "statistics": r.uses_statistics(),
                "native_code": r.native_code,
                "keeps_instance": r.keeps_instance(),
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
