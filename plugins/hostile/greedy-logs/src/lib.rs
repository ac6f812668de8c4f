//! Hostile test plugin: asks for logs it was not granted and reports what it saw. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-greedy-logs",
            "0.1.0",
            "asks for logs it was not granted and reports what it saw",
            Wants::METRICS | Wants::REPORTS | Wants::LOGS | Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        Ok(vec![finding(
            FindingKind::Other,
            0.1,
            format!("saw {} log lines", evidence.logs.len()),
            Recommendation::Keep,
        )])
    }
}

export_rule!(Hostile);
