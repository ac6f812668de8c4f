//! Peak memory ≥ 90% without an OOM → memory-pressure, a proactive bump. See README.md.
use autorepair_rule_sdk::prelude::*;

/// Peak use at or above this share of memory is pressure: GC and allocator
/// churn grow steeply past it, and the next traffic spike ends in an OOM.
pub const PRESSURE_RATIO: f64 = 0.90;
/// Headroom above the peak, as VPA's 15% safety margin plus room for the peak we
/// did not see in a 30-minute window.
pub const MARGIN: f64 = 0.25;

pub struct MemoryPressure;

impl Rule for MemoryPressure {
    fn describe() -> RuleInfo {
        info(
            "memory-pressure",
            "0.1.1",
            "Peak memory use at or above 90% of the configured memory, before it fails",
            Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let s = Stats::incident(&evidence);
        // Failures at the limit are the oom rule's to report.
        if s.invocations == 0 || s.failed_at_limit + s.oom_reports > 0 {
            return Ok(vec![]);
        }
        let ratio = s.peak_ratio();
        if ratio < PRESSURE_RATIO {
            return Ok(vec![]);
        }
        // Memory that climbs with every invocation is a leak, the oom rule's
        // to report: more memory would only postpone it.
        if leak::of_incident(&evidence, s.memory_mb).is_some() {
            return Ok(vec![]);
        }
        let target = with_margin(s.memory_mb, s.peak_used_mb as f64, MARGIN);
        let confidence = (0.6 + (ratio - PRESSURE_RATIO) * 3.0).min(0.9);
        let mut f = finding(
            FindingKind::MemoryPressure,
            confidence,
            format!(
                "peak memory {} MB is {:.0}% of {} MB",
                s.peak_used_mb,
                ratio * 100.0,
                s.memory_mb
            ),
            Recommendation::SetMemory(target),
        );
        f.evidence.push(format!(
            "p95 of max memory used {:.0} MB over {} invocations",
            s.used_p95_mb, s.invocations
        ));
        Ok(vec![f])
    }
}

export_rule!(MemoryPressure);

#[cfg(test)]
mod tests {
    use super::*;
    use autorepair_rule_sdk::testing::{EvidenceBuilder, report};

    #[test]
    fn high_peak_recommends_peak_plus_margin() {
        let e = EvidenceBuilder::new(1024)
            .reports(30, report(1024, 980, InvocationStatus::Success))
            .build();
        let f = &MemoryPressure::evaluate(e).unwrap()[0];
        assert_eq!(f.kind, FindingKind::MemoryPressure);
        // 980 × 1.25 = 1225 → 1280
        assert_eq!(f.recommendation, Recommendation::SetMemory(1280));
        assert!(f.confidence > 0.6 && f.confidence <= 0.9);
    }

    #[test]
    fn comfortable_use_or_real_oom_yield_nothing() {
        let calm = EvidenceBuilder::new(1024)
            .reports(30, report(1024, 800, InvocationStatus::Success))
            .build();
        assert!(MemoryPressure::evaluate(calm).unwrap().is_empty());
        let oom = EvidenceBuilder::new(1024)
            .reports(3, report(1024, 1024, InvocationStatus::Error))
            .build();
        assert!(MemoryPressure::evaluate(oom).unwrap().is_empty());
    }
}
