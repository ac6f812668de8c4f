//! Test plugin (not hostile): a rule built against autorepair:rules@0.2.0,
//! the first release of the current line, before the `statistics` interface
//! (0.2.1). Hosts on later 0.2.x releases must load it unchanged, hand it
//! evidence, log through it and read its findings — including `memory-leak`,
//! which 0.2.0 introduced.
wit_bindgen::generate!({ world: "rule-plugin", path: "../../../wit/versions/0.2.0" });

use autorepair::rules::host::{Level, log};
use autorepair::rules::types::{Evidence, Finding, FindingKind, Recommendation, RuleInfo, Wants};

struct EarlierMinor;

impl exports::autorepair::rules::rule::Guest for EarlierMinor {
    fn describe() -> RuleInfo {
        RuleInfo {
            name: "earlier-minor".into(),
            version: "0.2.0".into(),
            summary: "a rule built against autorepair:rules@0.2.0".into(),
            wants: Wants::REPORTS | Wants::CONFIG,
        }
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let reports = evidence.reports.durations_ms.len();
        log(Level::Info, &format!("saw {reports} reports"));
        Ok(vec![Finding {
            kind: FindingKind::MemoryLeak,
            confidence: 0.5,
            summary: format!(
                "{} at {} MB, {reports} reports",
                evidence.function.name, evidence.function.memory_mb
            ),
            evidence: Vec::new(),
            recommendation: Recommendation::Escalate("a person should look".into()),
        }])
    }
}

export!(EarlierMinor);
