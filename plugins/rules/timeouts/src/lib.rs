//! Timeouts, from evidence rather than by elimination: a downstream signature
//! or the shape of a hang (fast successes, invocations pinned at the limit) →
//! escalate; a starvation profile (durations spread up toward the limit) below
//! one full vCPU → more memory (Lambda's CPU share grows with memory). See
//! README.md for the thresholds and their sources.
use autorepair_rule_sdk::prelude::*;

/// Above this peak share, memory itself is the suspect (the oom and
/// memory-pressure rules speak), not the CPU share it buys.
pub const LOW_MEMORY_RATIO: f64 = 0.9;
/// Lambda allocates CPU in proportion to memory, so doubling memory roughly
/// doubles CPU for CPU-bound work; the host's guard caps the step anyway.
pub const CPU_BUMP_RATIO: f64 = 2.0;
/// At 1,769 MB a function has the equivalent of one full vCPU: past it, more
/// memory adds vCPUs, which only multi-threaded code can use.
pub const FULL_VCPU_MB: u32 = 1_769;
/// A starvation profile needs this many successful invocations to show its
/// spread...
pub const MIN_SUCCESSES: usize = 3;
/// ...with their 90th percentile at least this share of the timeout...
pub const SPREAD_P90_SHARE: f64 = 0.5;
/// ...and their median at least this share: the work takes long every time,
/// and the unlucky ones cross the limit.
pub const SPREAD_P50_SHARE: f64 = 0.25;

pub struct Timeouts;

/// What the durations say.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Profile {
    /// Successes spread up toward the limit: CPU-bound work.
    Starved { p50_share: f64, p90_share: f64 },
    /// Fast successes (or none) and invocations pinned at the limit: a wait.
    Hang { successes: usize, p90_share: f64 },
}

fn profile(s: &Stats, limit_ms: f64) -> Profile {
    let p90 = s.success_p90_ms / limit_ms;
    let p50 = s.success_p50_ms / limit_ms;
    if s.successes >= MIN_SUCCESSES && p90 >= SPREAD_P90_SHARE && p50 >= SPREAD_P50_SHARE {
        Profile::Starved {
            p50_share: p50,
            p90_share: p90,
        }
    } else {
        Profile::Hang {
            successes: s.successes,
            p90_share: p90,
        }
    }
}

impl Rule for Timeouts {
    fn describe() -> RuleInfo {
        info(
            "timeouts",
            "0.2.1",
            "Timeouts: CPU starvation below one vCPU (more memory helps), or a wait on something (it does not)",
            Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let s = Stats::incident(&evidence);
        if s.timeouts == 0 {
            return Ok(vec![]);
        }
        let invoke_timeouts = s.timeouts - s.init_timeouts;
        let figures = format!(
            "{} of {} invocations timed out (limit {} s, max duration {:.0} ms, peak memory {}% of {} MB){}",
            invoke_timeouts,
            s.invocations - s.init_failures,
            evidence.function.timeout_s,
            s.duration_max_ms,
            (s.peak_ratio() * 100.0).round(),
            s.memory_mb,
            if s.init_timeouts > 0 {
                format!("; {} init phases timed out", s.init_timeouts)
            } else {
                String::new()
            }
        );
        let escalate = |kind, confidence, summary: String, why: &str| {
            let mut f = finding(
                kind,
                confidence,
                summary,
                Recommendation::Escalate(why.to_owned()),
            );
            f.evidence.push(figures.clone());
            f
        };
        if s.downstream_lines > 0 {
            let mut f = escalate(
                FindingKind::DownstreamTimeout,
                0.85,
                format!(
                    "timeouts waiting on a downstream call ({} matching log lines)",
                    s.downstream_lines
                ),
                "a dependency is slow or unreachable: check it, its timeout and retries; more memory will not help",
            );
            f.evidence.extend(s.downstream_samples.iter().cloned());
            return Ok(vec![f]);
        }
        if invoke_timeouts == 0 {
            return Ok(vec![escalate(
                FindingKind::Other,
                0.6,
                format!(
                    "the init phase timed out {} times: initialisation code waits on something or does too much before the handler runs",
                    s.init_timeouts
                ),
                "init timed out (Lambda allows 10 s): look at what the function does at start-up (connections, downloads, SDK clients, VPC access)",
            )]);
        }
        if s.peak_ratio() >= LOW_MEMORY_RATIO {
            return Ok(vec![]);
        }
        let limit_ms = match evidence.function.timeout_s {
            0 => s.duration_max_ms,
            t => f64::from(t) * 1000.0,
        };
        if limit_ms <= 0.0 {
            return Ok(vec![]);
        }
        match profile(&s, limit_ms) {
            Profile::Hang {
                successes,
                p90_share,
            } => Ok(vec![escalate(
                FindingKind::DownstreamTimeout,
                if s.log_lines == 0 { 0.6 } else { 0.7 },
                format!(
                    "timeouts that wait on something: invocations pinned at the {:.0} s limit, while {} successes finished within {:.0}% of it (p90), memory at {:.0}%",
                    limit_ms / 1000.0,
                    successes,
                    p90_share * 100.0,
                    s.peak_ratio() * 100.0
                ),
                "the function waits on something (a network call with no timeout of its own, a VPC route or permission, a lock, an event loop kept open); memory will not help",
            )]),
            Profile::Starved {
                p50_share,
                p90_share,
            } if s.memory_mb >= FULL_VCPU_MB => Ok(vec![escalate(
                FindingKind::CpuStarvation,
                0.6,
                format!(
                    "CPU-bound timeouts at {} MB, already a full vCPU: durations spread up to the limit (median {:.0}%, p90 {:.0}%)",
                    s.memory_mb,
                    p50_share * 100.0,
                    p90_share * 100.0
                ),
                "past 1,769 MB more memory adds vCPUs, which only multi-threaded code uses: profile the code or raise the timeout",
            )]),
            Profile::Starved {
                p50_share,
                p90_share,
            } => {
                let target = round_up_mb(s.memory_mb as f64 * CPU_BUMP_RATIO);
                // Without the logs a slow dependency is less ruled out.
                let confidence = if s.log_lines == 0 { 0.55 } else { 0.7 };
                let mut f = finding(
                    FindingKind::CpuStarvation,
                    confidence,
                    format!(
                        "CPU-starved at {} MB: durations spread up toward the limit (median {:.0}%, p90 {:.0}% of it) with memory at {:.0}%",
                        s.memory_mb,
                        p50_share * 100.0,
                        p90_share * 100.0,
                        s.peak_ratio() * 100.0
                    ),
                    Recommendation::SetMemory(target),
                );
                f.evidence.push(figures);
                Ok(vec![f])
            }
        }
    }
}

export_rule!(Timeouts);

#[cfg(test)]
mod tests {
    use super::*;
    use autorepair_rule_sdk::Report;
    use autorepair_rule_sdk::testing::{EvidenceBuilder, report};

    fn at(duration_ms: f64, used: u32, status: InvocationStatus) -> Report<'static> {
        Report {
            duration_ms,
            ..report(512, used, status)
        }
    }

    #[test]
    fn durations_spread_toward_the_limit_double_memory() {
        let e = EvidenceBuilder::new(512)
            .timeout_s(3)
            .reports(4, at(1_900.0, 100, InvocationStatus::Success))
            .reports(4, at(2_600.0, 100, InvocationStatus::Success))
            .reports(4, at(3_000.0, 110, InvocationStatus::Timeout))
            .log("Task timed out after 3.00 seconds")
            .build();
        let f = &Timeouts::evaluate(e).unwrap()[0];
        assert_eq!(f.kind, FindingKind::CpuStarvation);
        assert_eq!(f.recommendation, Recommendation::SetMemory(1024));
    }

    #[test]
    fn fast_successes_and_timeouts_pinned_at_the_limit_are_a_wait() {
        let e = EvidenceBuilder::new(512)
            .timeout_s(3)
            .reports(20, at(85.0, 100, InvocationStatus::Success))
            .reports(4, at(3_000.0, 110, InvocationStatus::Timeout))
            .build();
        let f = &Timeouts::evaluate(e).unwrap()[0];
        assert!(
            matches!(f.recommendation, Recommendation::Escalate(_)),
            "{f:?}"
        );
        assert_eq!(f.kind, FindingKind::DownstreamTimeout);
    }

    #[test]
    fn every_invocation_timing_out_is_a_wait_not_starvation() {
        // A VPC function without a route out: nothing ever finishes.
        let e = EvidenceBuilder::new(128)
            .timeout_s(6)
            .reports(5, at(6_000.0, 45, InvocationStatus::Timeout))
            .build();
        let f = &Timeouts::evaluate(e).unwrap()[0];
        assert!(matches!(f.recommendation, Recommendation::Escalate(_)));
    }

    #[test]
    fn starvation_at_a_full_vcpu_escalates() {
        let big = |d, s| Report {
            duration_ms: d,
            ..report(2048, 600, s)
        };
        let e = EvidenceBuilder::new(2048)
            .timeout_s(10)
            .reports(6, big(7_000.0, InvocationStatus::Success))
            .reports(2, big(10_000.0, InvocationStatus::Timeout))
            .build();
        let f = &Timeouts::evaluate(e).unwrap()[0];
        assert_eq!(f.kind, FindingKind::CpuStarvation);
        assert!(matches!(f.recommendation, Recommendation::Escalate(_)));
    }

    #[test]
    fn an_init_phase_timeout_escalates() {
        let init = Report {
            duration_ms: 10_000.0,
            init_duration_ms: Some(10_000.0),
            memory_size_mb: 0,
            max_memory_used_mb: 0,
            ..report(512, 0, InvocationStatus::Timeout)
        };
        let e = EvidenceBuilder::new(512).reports(2, init).build();
        let f = &Timeouts::evaluate(e).unwrap()[0];
        assert!(matches!(f.recommendation, Recommendation::Escalate(_)));
        assert!(f.summary.contains("init phase"));
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
