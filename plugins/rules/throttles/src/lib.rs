//! Throttled invocations → throttling, escalate: more memory never helps. See README.md.
use autorepair_rule_sdk::prelude::*;

pub struct Throttles;

impl Rule for Throttles {
    fn describe() -> RuleInfo {
        info(
            "throttles",
            "0.1.0",
            "Throttled invocations: a concurrency limit, never a memory problem",
            Wants::METRICS | Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let throttles = metric_sum(&evidence, "Throttles");
        let alarm_on_throttles = evidence.alarm.metric == "Throttles";
        if throttles <= 0.0 && !alarm_on_throttles {
            return Ok(vec![]);
        }
        let invocations = metric_sum(&evidence, "Invocations");
        let mut f = finding(
            FindingKind::Throttling,
            if throttles > 0.0 { 0.9 } else { 0.6 },
            format!("{throttles:.0} throttled invocations next to {invocations:.0} served"),
            Recommendation::Escalate(
                "raise reserved or provisioned concurrency, or the account's concurrency limit; memory does not help".into(),
            ),
        );
        f.evidence.push(format!(
            "peak concurrent executions {:.0}",
            metric_max(&evidence, "ConcurrentExecutions")
        ));
        Ok(vec![f])
    }
}

export_rule!(Throttles);

#[cfg(test)]
mod tests {
    use super::*;
    use autorepair_rule_sdk::testing::EvidenceBuilder;

    #[test]
    fn throttles_escalate() {
        let e = EvidenceBuilder::new(256)
            .metric("Throttles", 42.0)
            .metric("Invocations", 1000.0)
            .build();
        let f = &Throttles::evaluate(e).unwrap()[0];
        assert_eq!(f.kind, FindingKind::Throttling);
        assert!(matches!(f.recommendation, Recommendation::Escalate(_)));
        assert!(f.summary.starts_with("42 throttled"));
    }

    #[test]
    fn no_throttles_no_finding() {
        let e = EvidenceBuilder::new(256).metric("Throttles", 0.0).build();
        assert!(Throttles::evaluate(e).unwrap().is_empty());
    }
}
