//! Hostile test plugin: sleeps 30 s in `describe`, which the host calls at
//! load. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        std::thread::sleep(std::time::Duration::from_secs(30));
        info(
            "hostile-sleep-describe",
            "0.1.0",
            "sleeps 30 s in describe",
            Wants::METRICS | Wants::REPORTS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        Ok(vec![])
    }
}

export_rule!(Hostile);
