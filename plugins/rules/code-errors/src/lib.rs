//! Errors with no memory or timeout signature → code-error, escalate. See README.md.
use autorepair_rule_sdk::prelude::*;

pub struct CodeErrors;

impl Rule for CodeErrors {
    fn describe() -> RuleInfo {
        info(
            "code-errors",
            "0.3.0",
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
        // New code shortly before the errors is the first suspect of every
        // on-call engineer: say so, and say it with more confidence (the
        // host answers only with the operator's `changes` grant).
        let recent = changes::recent();
        let deployed = changes::last_deployment(&recent, evidence.window.end_ms);
        let mut confidence = if s.errors > 0 { 0.75 } else { 0.5 };
        let why = match deployed {
            Some(d) => {
                confidence += 0.1;
                format!(
                    "the function fails on its own code or input, and {}: roll it back or fix it; memory does not help",
                    changes::describe(d, evidence.window.end_ms)
                )
            }
            None => "the function fails on its own code or input; memory does not help".into(),
        };
        let mut f = finding(
            FindingKind::CodeError,
            confidence,
            format!(
                "{errors:.0} errors with memory peak at {:.0}% and no timeouts",
                s.peak_ratio() * 100.0
            ),
            Recommendation::Escalate(why),
        );
        if !s.error_types.is_empty() {
            f.evidence
                .push(format!("error types: {}", s.error_types.join(", ")));
        }
        if let Some(d) = deployed {
            f.evidence
                .push(changes::describe(d, evidence.window.end_ms));
        }
        Ok(vec![f])
    }
}

export_rule!(CodeErrors);

#[cfg(test)]
mod tests {
    use super::*;
    use autorepair_rule_sdk::testing::{EvidenceBuilder, deployed, report, with_changes};

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
    fn a_deployment_before_the_errors_is_named_and_raises_confidence() {
        let evidence = || {
            EvidenceBuilder::new(512)
                .reports(10, report(512, 100, InvocationStatus::Success))
                .reports(3, report(512, 100, InvocationStatus::Error))
                .build()
        };
        let without = &CodeErrors::evaluate(evidence()).unwrap()[0];
        let with =
            &with_changes(vec![deployed(12)], || CodeErrors::evaluate(evidence())).unwrap()[0];
        assert!(with.confidence > without.confidence);
        assert_eq!(
            with.evidence,
            vec!["code deployed 12 min before the alarm (UpdateFunctionCode by ci-deploy)"]
        );
        let Recommendation::Escalate(why) = &with.recommendation else {
            panic!("{:?}", with.recommendation)
        };
        assert!(why.contains("roll it back"), "{why}");
        // A setting changed is not new code.
        let mut setting = deployed(5);
        setting.action = "UpdateFunctionConfiguration".into();
        setting.deployment = false;
        let after = &with_changes(vec![setting], || CodeErrors::evaluate(evidence())).unwrap()[0];
        assert_eq!(after.confidence, without.confidence);
        assert!(after.evidence.is_empty());
    }

    #[test]
    fn memory_failures_are_not_code_errors() {
        let e = EvidenceBuilder::new(512)
            .reports(3, report(512, 512, InvocationStatus::Error))
            .build();
        assert!(CodeErrors::evaluate(e).unwrap().is_empty());
    }
}
