//! Hostile test plugin: logs one 32 MiB message, hoping the host copies all
//! of it. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-huge-log",
            "0.1.0",
            "logs one 32 MiB message",
            Wants::METRICS | Wants::REPORTS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        let message = "\u{1b}[31mhuge\u{1b}[0m\n".repeat((32 << 20) / 16);
        log::warn(&message);
        Ok(vec![])
    }
}

export_rule!(Hostile);
