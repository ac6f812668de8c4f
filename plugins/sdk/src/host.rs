//! The statistics the host computes once per incident (the `statistics`
//! interface, since autorepair:rules@0.2.1), in the SDK's own types.

use crate::bindings::autorepair::rules::statistics;
use crate::leak::Leak;
use crate::stats::Stats;

/// The host's statistics of the incident being evaluated.
pub(crate) fn incident() -> Stats {
    let s = statistics::incident();
    let n = |v: u32| v as usize;
    Stats {
        invocations: n(s.invocations),
        errors: n(s.errors),
        timeouts: n(s.timeouts),
        oom_reports: n(s.oom_reports),
        failed_at_limit: n(s.failed_at_limit),
        killed_at_limit: n(s.killed_at_limit),
        init_failures: n(s.init_failures),
        init_timeouts: n(s.init_timeouts),
        memory_mb: s.memory_mb,
        peak_used_mb: s.peak_used_mb,
        used_p95_mb: s.used_p95_mb,
        duration_p50_ms: s.duration_p50_ms,
        duration_p95_ms: s.duration_p95_ms,
        duration_max_ms: s.duration_max_ms,
        successes: n(s.successes),
        success_p50_ms: s.success_p50_ms,
        success_p90_ms: s.success_p90_ms,
        error_types: s.error_types,
        log_lines: n(s.log_lines),
        oom_lines: n(s.oom_lines),
        oom_hints: n(s.oom_hints),
        killed_lines: n(s.killed_lines),
        downstream_lines: n(s.downstream_lines),
        error_lines: n(s.error_lines),
        memory_uninformative: s.memory_uninformative,
        oom_samples: s.oom_samples,
        downstream_samples: s.downstream_samples,
    }
}

/// The leak the host found in the incident's reports, if any.
pub(crate) fn leak() -> Option<Leak> {
    statistics::find_leak().map(|l| Leak {
        environments: l.environments as usize,
        step_mb: l.step_mb,
        from_mb: l.from_mb,
        to_mb: l.to_mb,
    })
}
