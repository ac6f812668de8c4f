//! Test plugin (not hostile): a rule built against the frozen 0.1 line of the
//! interface, before `memory-leak` existed. A host on a newer line must still
//! load it, hand it evidence, log through it and read its finding.
wit_bindgen::generate!({ world: "rule-plugin", path: "../../../wit/versions/0.1.0" });

use autorepair::rules::host::{Level, log};
use autorepair::rules::types::{Evidence, Finding, FindingKind, Recommendation, RuleInfo, Wants};

struct OldLine;

impl exports::autorepair::rules::rule::Guest for OldLine {
    fn describe() -> RuleInfo {
        RuleInfo {
            name: "old-line".into(),
            version: "0.1.0".into(),
            summary: "a rule built against autorepair:rules@0.1.0".into(),
            wants: Wants::REPORTS | Wants::CONFIG,
        }
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let reports = evidence.reports.durations_ms.len();
        log(Level::Info, &format!("saw {reports} reports"));
        Ok(vec![Finding {
            kind: FindingKind::MemoryPressure,
            confidence: 0.5,
            summary: format!(
                "{} at {} MB, {reports} reports",
                evidence.function.name, evidence.function.memory_mb
            ),
            evidence: Vec::new(),
            recommendation: Recommendation::Keep,
        }])
    }
}

export!(OldLine);
