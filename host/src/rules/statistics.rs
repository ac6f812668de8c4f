//! The incident's statistics as the host hands them to rules
//! (`autorepair:rules/statistics`, since 0.2.1): computed once per incident
//! and grant set with the Rust SDK's own code, so a rule receives exactly
//! what `Stats::of` and `leak::detect` would compute inside it — without
//! every rule sorting the same figures and scanning the same lines again.

use std::sync::OnceLock;

use autorepair_rule_sdk as sdk;

use super::bindings::conv_sdk;
use super::bindings::v0_2::autorepair::rules::statistics as wit;
use crate::model::{Evidence, Grants};

pub(crate) use wit::{IncidentStatistics, Leak};

/// One incident's statistics for one set of grants, shared by the rules
/// (and threads) that ask for them.
pub(crate) struct Statistics {
    /// The evidence as far as the grants reach, in the SDK's types.
    seen: sdk::Evidence,
    pub(crate) incident: IncidentStatistics,
    /// Found on the first `find-leak` call.
    leak: OnceLock<Option<Leak>>,
}

impl Statistics {
    /// The statistics of `evidence` as far as `grants` let a rule see it.
    pub(crate) fn of(evidence: &Evidence, grants: Grants) -> Statistics {
        let seen = conv_sdk::evidence(evidence, grants);
        let incident = figures(sdk::stats::Stats::of(&seen));
        Statistics {
            seen,
            incident,
            leak: OnceLock::new(),
        }
    }

    pub(crate) fn leak(&self) -> Option<Leak> {
        *self.leak.get_or_init(|| {
            sdk::leak::detect(self.seen.reports.iter(), self.incident.memory_mb).map(|l| Leak {
                environments: count(l.environments),
                step_mb: l.step_mb,
                from_mb: l.from_mb,
                to_mb: l.to_mb,
            })
        })
    }
}

/// What a rule gets when the host has nothing to count.
pub(crate) fn empty() -> IncidentStatistics {
    figures(sdk::stats::Stats::default())
}

fn count(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn figures(s: sdk::stats::Stats) -> IncidentStatistics {
    IncidentStatistics {
        invocations: count(s.invocations),
        errors: count(s.errors),
        timeouts: count(s.timeouts),
        oom_reports: count(s.oom_reports),
        failed_at_limit: count(s.failed_at_limit),
        killed_at_limit: count(s.killed_at_limit),
        init_failures: count(s.init_failures),
        init_timeouts: count(s.init_timeouts),
        memory_mb: s.memory_mb,
        peak_used_mb: s.peak_used_mb,
        used_p95_mb: s.used_p95_mb,
        duration_p50_ms: s.duration_p50_ms,
        duration_p95_ms: s.duration_p95_ms,
        duration_max_ms: s.duration_max_ms,
        successes: count(s.successes),
        success_p50_ms: s.success_p50_ms,
        success_p90_ms: s.success_p90_ms,
        error_types: s.error_types,
        log_lines: count(s.log_lines),
        oom_lines: count(s.oom_lines),
        oom_hints: count(s.oom_hints),
        killed_lines: count(s.killed_lines),
        downstream_lines: count(s.downstream_lines),
        error_lines: count(s.error_lines),
        memory_uninformative: s.memory_uninformative,
        oom_samples: s.oom_samples,
        downstream_samples: s.downstream_samples,
    }
}
