//! Hostile test plugin: calls the host's log function without end. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-log-flood",
            "0.1.0",
            "calls the host's log function without end",
            Wants::METRICS | Wants::REPORTS | Wants::LOGS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        let line = "spam ".repeat(2_000);
        for _ in 0..5_000 {
            log::warn(&line);
        }
        Ok(vec![])
    }
}

export_rule!(Hostile);
