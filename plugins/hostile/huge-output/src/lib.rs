//! Hostile test plugin: returns megabytes of findings. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-huge-output",
            "0.1.0",
            "returns megabytes of findings",
            Wants::METRICS | Wants::REPORTS | Wants::LOGS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        let big = "x".repeat(4 << 20);
        Ok((0..4)
            .map(|_| finding(FindingKind::Other, 0.5, big.clone(), Recommendation::Keep))
            .collect())
    }
}

export_rule!(Hostile);
