//! Out-of-memory failures → memory-exhaustion, set-memory. See README.md.
use autorepair_rule_sdk::prelude::*;

pub struct Oom;

impl Rule for Oom {
    fn describe() -> RuleInfo {
        info(
            "oom",
            "0.1.0",
            "Out-of-memory failures: runtime OOM messages, Runtime.OutOfMemory, killed runtimes, failures at the memory limit",
            Wants::REPORTS | Wants::LOGS | Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let s = Stats::of(&evidence);
        if s.out_of_memory_events() == 0 {
            return Ok(vec![]);
        }
        if s.memory_mb == 0 {
            return Err("out-of-memory signs, but no memory size in config or reports".into());
        }
        // An explicit OOM message or error type is conclusive; a failure that merely
        // touched the limit, or a killed runtime, is strong but circumstantial.
        let explicit = s.oom_reports + s.oom_lines > 0;
        let confidence = if explicit { 0.95 } else { 0.8 };
        let target = bump_after_oom(s.memory_mb);
        let mut f = finding(
            FindingKind::MemoryExhaustion,
            confidence,
            format!(
                "function ran out of memory at {} MB ({} invocations failed at the limit, {} OOM messages)",
                s.memory_mb,
                s.failed_at_limit.max(s.oom_reports),
                s.oom_lines + s.killed_lines
            ),
            Recommendation::SetMemory(target),
        );
        f.evidence.push(format!(
            "peak memory used {} MB of {} MB; {} of {} invocations failed",
            s.peak_used_mb,
            s.memory_mb,
            s.errors + s.timeouts,
            s.invocations
        ));
        f.evidence.extend(s.oom_samples.iter().cloned());
        log::info(&format!(
            "recommending {target} MB after OOM at {} MB",
            s.memory_mb
        ));
        Ok(vec![f])
    }
}

export_rule!(Oom);

#[cfg(test)]
mod tests {
    use super::*;
    use autorepair_rule_sdk::testing::{EvidenceBuilder, report};

    #[test]
    fn failures_at_the_limit_bump_memory_by_half() {
        let e = EvidenceBuilder::new(1024)
            .reports(20, report(1024, 700, InvocationStatus::Success))
            .reports(5, report(1024, 1024, InvocationStatus::Error))
            .build();
        let findings = Oom::evaluate(e).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].kind, FindingKind::MemoryExhaustion);
        assert_eq!(findings[0].recommendation, Recommendation::SetMemory(1536));
        assert_eq!(findings[0].confidence, 0.8);
    }

    #[test]
    fn an_oom_message_is_conclusive() {
        let e = EvidenceBuilder::new(128)
            .reports(3, report(128, 90, InvocationStatus::Success))
            .log("[ERROR] MemoryError Traceback (most recent call last)")
            .build();
        let findings = Oom::evaluate(e).unwrap();
        assert_eq!(findings[0].confidence, 0.95);
        assert_eq!(findings[0].recommendation, Recommendation::SetMemory(256));
    }

    #[test]
    fn healthy_functions_yield_nothing() {
        let e = EvidenceBuilder::new(512)
            .reports(50, report(512, 200, InvocationStatus::Success))
            .reports(2, report(512, 210, InvocationStatus::Error))
            .build();
        assert!(Oom::evaluate(e).unwrap().is_empty());
    }
}
