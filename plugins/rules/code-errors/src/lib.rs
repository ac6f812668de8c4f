//! Errors with no memory or timeout signature → code-error, escalate. See README.md.
use autorepair_rule_sdk::prelude::*;

pub struct CodeErrors;

impl Rule for CodeErrors {
    fn describe() -> RuleInfo {
        info(
            "code-errors",
            "0.2.1",
            "Errors with no memory or timeout signature: a bug or bad input, for a person to fix",
            Wants::METRICS | Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let s = Stats::incident(&evidence);
        // Reports can be missing (log group gone, capped, an old runtime that
        // put no status in them); the Errors metric and the runtime's own
        // unhandled-error lines are not.
        let errors = (s.errors as f64)
            .max(metric_sum(&evidence, "Errors"))
            .max(s.error_lines as f64);
        if errors <= 0.0 || s.out_of_memory_events() > 0 || s.timeouts > 0 || s.downstream_lines > 0
        {
            return Ok(vec![]);
        }
        let mut f = finding(
            FindingKind::CodeError,
            if s.errors > 0 { 0.75 } else { 0.5 },
            format!(
                "{errors:.0} errors with memory peak at {:.0}% and no timeouts",
                s.peak_ratio() * 100.0
            ),
            Recommendation::Escalate(
                "the function fails on its own code or input; memory does not help".into(),
            ),
        );
        if !s.error_types.is_empty() {
            f.evidence
                .push(format!("error types: {}", s.error_types.join(", ")));
        }
        Ok(vec![f])
    }
}

export_rule!(CodeErrors);

#[cfg(test)]
mod tests {
    use super::*;
    use autorepair_rule_sdk::testing::{EvidenceBuilder, report};

    #[test]
    fn a_runtimes_unhandled_exception_lines_are_errors_without_metrics() {
        let e = EvidenceBuilder::new(128)
            .reports(1, report(128, 81, InvocationStatus::Success))
            .log("LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code.")
            .log("[ERROR] Error: Only base64 data is allowed\nTraceback (most recent call last):")
            .build();
        let f = &CodeErrors::evaluate(e).unwrap()[0];
        assert_eq!(f.kind, FindingKind::CodeError);
        assert!(matches!(f.recommendation, Recommendation::Escalate(_)));
    }

    #[test]
    fn plain_errors_escalate() {
        let mut failing = report(512, 100, InvocationStatus::Error);
        failing.error_type = Some("Runtime.UnhandledPromiseRejection");
        let e = EvidenceBuilder::new(512)
            .reports(10, report(512, 100, InvocationStatus::Success))
            .reports(3, failing)
            .build();
        let f = &CodeErrors::evaluate(e).unwrap()[0];
        assert_eq!(f.kind, FindingKind::CodeError);
        assert_eq!(
            f.evidence,
            vec!["error types: Runtime.UnhandledPromiseRejection"]
        );
    }

    #[test]
    fn memory_failures_are_not_code_errors() {
        let e = EvidenceBuilder::new(512)
            .reports(3, report(512, 512, InvocationStatus::Error))
            .build();
        assert!(CodeErrors::evaluate(e).unwrap().is_empty());
    }
}
