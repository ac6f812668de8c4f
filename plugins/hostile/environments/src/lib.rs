//! Test plugin (not hostile): asks the host for the log stream of each
//! report and line (`autorepair:rules/environments`, since 0.2.2) and says
//! how many reports it received, how many streams, and how many distinct
//! environments. Never bundled.
use std::collections::BTreeSet;

use autorepair_rule_sdk::environments;
use autorepair_rule_sdk::prelude::*;

pub struct Environments;

impl Rule for Environments {
    fn describe() -> RuleInfo {
        info(
            "hostile-environments",
            "0.1.0",
            "counts the execution environments behind the reports",
            Wants::REPORTS | Wants::LOGS,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let streams = environments::report_streams();
        let lines = environments::line_streams();
        let distinct: BTreeSet<&str> = streams
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        Ok(vec![finding(
            FindingKind::Other,
            0.5,
            format!(
                "{} reports, {} report streams, {} environments, {} lines, {} line streams",
                evidence.reports.durations_ms.len(),
                streams.len(),
                distinct.len(),
                evidence.logs.len(),
                lines.len()
            ),
            Recommendation::Keep,
        )])
    }
}

export_rule!(Environments);
