//! Hostile test plugin: sleeps 30 s in `evaluate`. Rust's std lowers the
//! sleep to a WASI monotonic-clock pollable and a blocking wait on it. Never
//! bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-sleep-evaluate",
            "0.1.0",
            "sleeps 30 s in evaluate",
            Wants::METRICS | Wants::REPORTS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        std::thread::sleep(std::time::Duration::from_secs(30));
        Ok(vec![finding(
            FindingKind::MemoryExhaustion,
            0.99,
            "woke up",
            Recommendation::SetMemory(10240),
        )])
    }
}

export_rule!(Hostile);
