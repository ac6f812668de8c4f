//! Out-of-memory failures → memory-exhaustion, set-memory; memory that grows
//! with every invocation (a leak) → escalate. See README.md.
use autorepair_rule_sdk::prelude::*;

pub struct Oom;

impl Rule for Oom {
    fn describe() -> RuleInfo {
        info(
            "oom",
            "0.2.1",
            "Out-of-memory failures (Runtime.OutOfMemory, failures and kills at the memory limit, runtime OOM messages backed by them); leaks escalate",
            Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let s = Stats::incident(&evidence);
        if let Some(leak) = leak::of_incident(&evidence, s.memory_mb) {
            let mut f = finding(
                FindingKind::MemoryLeak,
                0.85,
                format!(
                    "memory leak: memory grows with every invocation of an execution environment (about {:.0} MB each, {} → {} MB), until it runs out at {} MB",
                    leak.step_mb, leak.from_mb, leak.to_mb, s.memory_mb
                ),
                Recommendation::Escalate(
                    "a memory leak: more memory only spaces out the crashes; the code must release what it keeps between invocations".into(),
                ),
            );
            f.evidence.push(format!(
                "{} execution environments grew steadily from their cold start; {} of {} invocations failed",
                leak.environments,
                s.errors + s.timeouts,
                s.invocations
            ));
            f.evidence.extend(s.oom_samples.iter().cloned());
            return Ok(vec![f]);
        }
        if s.out_of_memory_events() == 0 {
            return Ok(vec![]);
        }
        if s.memory_mb == 0 {
            return Err("out-of-memory signs, but no memory size in config or reports".into());
        }
        // The platform's error type is conclusive; a failure at the limit, a
        // kill near it, or a runtime's message backed by one of those is
        // strong but circumstantial.
        let explicit = s.oom_reports > 0;
        let confidence = if explicit { 0.95 } else { 0.8 };
        let target = bump_after_oom(s.memory_mb);
        let mut f = finding(
            FindingKind::MemoryExhaustion,
            confidence,
            format!(
                "function ran out of memory at {} MB ({} invocations failed at the limit, {} OOM messages)",
                s.memory_mb,
                (s.failed_at_limit + s.killed_at_limit).max(s.oom_reports),
                s.oom_lines
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
    fn an_oom_message_counts_with_memory_at_the_limit() {
        let e = EvidenceBuilder::new(128)
            .reports(3, report(128, 126, InvocationStatus::Error))
            .log("[ERROR] MemoryError Traceback (most recent call last)")
            .build();
        let findings = Oom::evaluate(e).unwrap();
        assert_eq!(findings[0].recommendation, Recommendation::SetMemory(256));
    }

    #[test]
    fn an_oom_message_at_a_third_of_memory_is_text_not_a_cause() {
        // A caller's comment echoed in an ERROR line: the invocations are fine.
        let e = EvidenceBuilder::new(512)
            .reports(30, report(512, 180, InvocationStatus::Success))
            .log("ERROR bad review: FATAL ERROR: JavaScript heap out of memory Runtime.OutOfMemory")
            .build();
        assert!(Oom::evaluate(e).unwrap().is_empty());
    }

    #[test]
    fn a_platform_out_of_memory_error_type_is_conclusive() {
        let e = EvidenceBuilder::new(256)
            .reports(
                3,
                Report {
                    error_type: Some("Runtime.OutOfMemory"),
                    ..report(256, 250, InvocationStatus::Error)
                },
            )
            .build();
        let findings = Oom::evaluate(e).unwrap();
        assert_eq!(findings[0].confidence, 0.95);
        assert_eq!(findings[0].recommendation, Recommendation::SetMemory(384));
    }

    #[test]
    fn a_kill_with_memory_to_spare_is_not_an_oom_and_one_at_the_limit_is() {
        let killed = |used| Report {
            error_type: Some("Runtime.ExitError"),
            ..report(128, used, InvocationStatus::Error)
        };
        let spare = EvidenceBuilder::new(128)
            .reports(3, killed(35))
            .log("RequestId: x Error: Runtime exited with error: signal: killed")
            .build();
        assert!(Oom::evaluate(spare).unwrap().is_empty());
        let limit = EvidenceBuilder::new(128).reports(3, killed(124)).build();
        assert_eq!(
            Oom::evaluate(limit).unwrap()[0].recommendation,
            Recommendation::SetMemory(256)
        );
    }

    #[test]
    fn a_leak_escalates_instead_of_asking_for_memory() {
        let mut b = EvidenceBuilder::new(1024);
        for env in 0..2u32 {
            for i in 0..30u32 {
                let used = (200 + env * 10 + i * 28).min(1024);
                let status = if used >= 1024 {
                    InvocationStatus::Error
                } else {
                    InvocationStatus::Success
                };
                b = b.reports(
                    1,
                    Report {
                        init_duration_ms: (i == 0).then_some(250.0),
                        ..report(1024, used, status)
                    },
                );
                if used >= 1024 {
                    break;
                }
            }
        }
        let findings = Oom::evaluate(b.build()).unwrap();
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].summary.starts_with("memory leak"),
            "{}",
            findings[0].summary
        );
        assert!(matches!(
            findings[0].recommendation,
            Recommendation::Escalate(_)
        ));
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
