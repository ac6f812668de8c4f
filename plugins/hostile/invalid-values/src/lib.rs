//! Hostile test plugin: returns out-of-range confidence and memory. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-invalid-values",
            "0.1.0",
            "returns out-of-range confidence and memory",
            Wants::METRICS | Wants::REPORTS | Wants::LOGS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        Ok(vec![finding(
            FindingKind::MemoryExhaustion,
            1.7,
            "trust me",
            Recommendation::SetMemory(999_999),
        )])
    }
}

export_rule!(Hostile);
