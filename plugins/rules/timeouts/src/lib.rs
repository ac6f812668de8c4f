//! Timeouts: downstream signatures → downstream-timeout (escalate, never memory);
//! low memory use without them → cpu-starvation (set-memory: Lambda's CPU share
//! grows with memory). See README.md.
use autorepair_rule_sdk::prelude::*;

/// Above this peak share, memory itself is the suspect (the oom and
/// memory-pressure rules speak), not the CPU share it buys.
pub const LOW_MEMORY_RATIO: f64 = 0.9;
/// Lambda allocates CPU in proportion to memory, so doubling memory roughly
/// doubles CPU for CPU-bound work; the host's guard caps the step anyway.
pub const CPU_BUMP_RATIO: f64 = 2.0;

pub struct Timeouts;

impl Rule for Timeouts {
    fn describe() -> RuleInfo {
        info(
            "timeouts",
            "0.1.0",
            "Timeouts: CPU starvation (more memory helps) or a slow downstream (it does not)",
            Wants::REPORTS | Wants::LOGS | Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let s = Stats::of(&evidence);
        if s.timeouts == 0 {
            return Ok(vec![]);
        }
        let figures = format!(
            "{} of {} invocations timed out (limit {} s, max duration {:.0} ms)",
            s.timeouts, s.invocations, evidence.function.timeout_s, s.duration_max_ms
        );
        if s.downstream_lines > 0 {
            let mut f = finding(
                FindingKind::DownstreamTimeout,
                0.85,
                format!("timeouts waiting on a downstream call ({} matching log lines)", s.downstream_lines),
                Recommendation::Escalate(
                    "a dependency is slow or unreachable: check it, its timeout and retries; more memory will not help".into(),
                ),
            );
            f.evidence.push(figures);
            f.evidence.extend(s.downstream_samples.iter().cloned());
            return Ok(vec![f]);
        }
        if s.peak_ratio() >= LOW_MEMORY_RATIO {
            return Ok(vec![]);
        }
        let target = round_up_mb(s.memory_mb as f64 * CPU_BUMP_RATIO);
        // Without the logs we cannot rule out a slow dependency: say so in confidence.
        let confidence = if evidence.logs.is_empty() { 0.5 } else { 0.7 };
        let mut f = finding(
            FindingKind::CpuStarvation,
            confidence,
            format!(
                "timeouts with memory use at {:.0}% and no downstream errors: likely CPU-bound at {} MB",
                s.peak_ratio() * 100.0,
                s.memory_mb
            ),
            Recommendation::SetMemory(target),
        );
        f.evidence.push(figures);
        Ok(vec![f])
    }
}

export_rule!(Timeouts);

#[cfg(test)]
mod tests {
    use super::*;
    use autorepair_rule_sdk::testing::{EvidenceBuilder, report};

    #[test]
    fn cpu_bound_timeouts_double_memory() {
        let e = EvidenceBuilder::new(512)
            .reports(10, report(512, 100, InvocationStatus::Success))
            .reports(4, report(512, 110, InvocationStatus::Timeout))
            .log("Task timed out after 3.00 seconds")
            .build();
        let f = &Timeouts::evaluate(e).unwrap()[0];
        assert_eq!(f.kind, FindingKind::CpuStarvation);
        assert_eq!(f.recommendation, Recommendation::SetMemory(1024));
    }

    #[test]
    fn downstream_timeouts_escalate_and_never_touch_memory() {
        let e = EvidenceBuilder::new(512)
            .reports(4, report(512, 100, InvocationStatus::Timeout))
            .log("Error: connect ETIMEDOUT 10.0.3.7:5432")
            .build();
        let f = &Timeouts::evaluate(e).unwrap()[0];
        assert_eq!(f.kind, FindingKind::DownstreamTimeout);
        assert!(matches!(f.recommendation, Recommendation::Escalate(_)));
    }

    #[test]
    fn no_timeouts_no_finding() {
        let e = EvidenceBuilder::new(512)
            .reports(4, report(512, 100, InvocationStatus::Error))
            .build();
        assert!(Timeouts::evaluate(e).unwrap().is_empty());
    }
}
