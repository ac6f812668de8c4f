//! Figures rules compute again and again, computed once.

use crate::{Evidence, InvocationStatus, Report};
use autorepair_lambda::request_id::{is_uuid, uuids_in};
use autorepair_lambda::signatures as sig;

/// How many sample log lines a [`Stats`] keeps per signature family.
pub const SAMPLE_LINES: usize = 3;
/// The share of its memory an invocation must have used for a runtime's
/// out-of-memory message, or a killed runtime, to count as running out of
/// memory (max memory used is sampled, so a real OOM can show a little less
/// than the limit).
pub const AT_LIMIT_SHARE: f64 = 0.95;

/// Aggregates over an incident's evidence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Invocation reports seen.
    pub invocations: usize,
    pub errors: usize,
    pub timeouts: usize,
    /// Reports whose error type says the runtime ran out of memory.
    pub oom_reports: usize,
    /// Failed or timed-out invocations whose peak memory reached the limit.
    pub failed_at_limit: usize,
    /// Invocations whose runtime exited (killed) with memory at
    /// [`AT_LIMIT_SHARE`] or more: the kernel's OOM killer, most likely.
    pub killed_at_limit: usize,
    /// Failed init phases (`INIT_REPORT`, `platform.initReport`), and of
    /// those the ones that timed out.
    pub init_failures: usize,
    pub init_timeouts: usize,
    /// The function's configured memory (from config, else from the reports).
    pub memory_mb: u32,
    /// Highest `max-memory-used` over all reports.
    pub peak_used_mb: u32,
    pub used_p95_mb: f64,
    pub duration_p50_ms: f64,
    pub duration_p95_ms: f64,
    pub duration_max_ms: f64,
    /// Successful invocations (init phases aside), and the median and 90th
    /// percentile of their durations: how long the work takes when it ends.
    pub successes: usize,
    pub success_p50_ms: f64,
    pub success_p90_ms: f64,
    /// The distinct error types of the reports, sorted.
    pub error_types: Vec<String>,
    /// Raw log lines seen (0 without `logs`).
    pub log_lines: usize,
    /// Raw log lines with a runtime's out-of-memory message, corroborated: the
    /// invocation they name (or, without request ids, some invocation) used
    /// at least [`AT_LIMIT_SHARE`] of its memory, or the platform said
    /// out of memory. The function prints these lines, and may echo a
    /// caller's text in them: alone they prove nothing. Only with `logs`.
    pub oom_lines: usize,
    /// Out-of-memory messages seen but not corroborated (a hint, never a
    /// cause).
    pub oom_hints: usize,
    /// Raw log lines where the runtime was killed by a signal.
    pub killed_lines: usize,
    /// Raw log lines with a downstream timeout or connection failure signature.
    pub downstream_lines: usize,
    /// Raw log lines a runtime writes when the function's code failed (an
    /// unhandled exception, a module that cannot load): a code error.
    pub error_lines: usize,
    /// Whether Max Memory Used says nothing here: most successful invocations
    /// report the whole memory size (a runtime that reserves it all up front).
    /// Being at the limit is then no evidence of running out of it.
    pub memory_uninformative: bool,
    /// A few of the matching lines, for a finding's evidence.
    pub oom_samples: Vec<String>,
    pub downstream_samples: Vec<String>,
}

impl Stats {
    pub fn of(evidence: &Evidence) -> Stats {
        Stats::of_lines(evidence, evidence.logs.iter().map(|l| l.message.as_str()))
    }

    /// [`Stats::of`] with the log lines given apart from `evidence` (whose
    /// own are not read): the host counts lines it holds without copying
    /// them into the SDK's types first.
    #[doc(hidden)]
    pub fn of_lines<'a>(evidence: &Evidence, lines: impl IntoIterator<Item = &'a str>) -> Stats {
        let reports = &evidence.reports;
        let mut stats = Stats {
            invocations: reports.len(),
            memory_mb: evidence.function.memory_mb,
            ..Stats::default()
        };
        let mut used = Vec::with_capacity(reports.len());
        let mut durations = Vec::with_capacity(reports.len());
        let mut succeeded = Vec::with_capacity(reports.len());
        let at_limit = |r: &Report<'_>| {
            r.memory_size_mb > 0
                && f64::from(r.max_memory_used_mb) >= AT_LIMIT_SHARE * f64::from(r.memory_size_mb)
        };
        let (successes, full) = reports
            .iter()
            .filter(|r| r.status == InvocationStatus::Success && r.memory_size_mb > 0)
            .fold((0usize, 0usize), |(n, full), r| {
                (
                    n + 1,
                    full + usize::from(r.max_memory_used_mb >= r.memory_size_mb),
                )
            });
        stats.memory_uninformative = successes > 0 && full * 2 >= successes;
        for r in reports.iter() {
            if r.is_init_phase() {
                stats.init_failures += 1;
                if r.status == InvocationStatus::Timeout {
                    stats.init_timeouts += 1;
                }
            }
            match r.status {
                InvocationStatus::Success => {}
                InvocationStatus::Error => stats.errors += 1,
                InvocationStatus::Timeout => stats.timeouts += 1,
            }
            if r.error_type == Some("Runtime.OutOfMemory") {
                stats.oom_reports += 1;
            }
            if r.status != InvocationStatus::Success
                && r.memory_size_mb > 0
                && r.max_memory_used_mb >= r.memory_size_mb
            {
                stats.failed_at_limit += 1;
            }
            if r.status == InvocationStatus::Error
                && r.error_type == Some("Runtime.ExitError")
                && at_limit(&r)
                && r.max_memory_used_mb < r.memory_size_mb
            {
                stats.killed_at_limit += 1;
            }
            if stats.memory_mb == 0 {
                stats.memory_mb = r.memory_size_mb;
            }
            stats.peak_used_mb = stats.peak_used_mb.max(r.max_memory_used_mb);
            if r.memory_size_mb > 0 {
                used.push(r.max_memory_used_mb as f64);
            }
            durations.push(r.duration_ms);
            if r.status == InvocationStatus::Success && !r.is_init_phase() {
                succeeded.push(r.duration_ms);
            }
            if let Some(error_type) = r.error_type
                && !stats.error_types.iter().any(|t| t == error_type)
            {
                stats.error_types.push(error_type.to_owned());
            }
        }
        stats.error_types.sort_unstable();
        stats.successes = succeeded.len();
        stats.success_p90_ms = nearest_rank(&mut succeeded, 90.0);
        stats.success_p50_ms = nearest_rank(&mut succeeded, 50.0);
        stats.used_p95_mb = nearest_rank(&mut used, 95.0);
        stats.duration_p50_ms = nearest_rank(&mut durations, 50.0);
        stats.duration_p95_ms = nearest_rank(&mut durations, 95.0);
        stats.duration_max_ms = durations.iter().copied().fold(0.0, f64::max);

        // What backs a runtime's own out-of-memory line: its invocation at the
        // limit or named out of memory by the platform; without request ids,
        // any invocation at the limit.
        // Request ids are UUIDs (Lambda's): a line's are found by their
        // shape in one pass and looked up, not searched for one by one.
        let backing = |r: &Report<'_>| at_limit(r) || r.error_type == Some("Runtime.OutOfMemory");
        // Only an out-of-memory or killed line asks what backs it: the ids are
        // read and sorted on the first such line, not for every incident.
        let lookup = std::cell::OnceCell::new();
        let lookup = || {
            lookup.get_or_init(|| {
                let all_uuids = reports
                    .iter()
                    .all(|r| r.request_id.is_none_or(|id| id.is_empty() || is_uuid(id)));
                // Sorted, not hashed: a few hundred ids are looked up faster
                // by binary search than hashed (SipHash) into a map built per
                // incident.
                let mut by_id: Vec<(&str, bool)> = Vec::new();
                if all_uuids {
                    by_id = reports
                        .iter()
                        .filter_map(|r| {
                            r.request_id
                                .filter(|id| !id.is_empty())
                                .map(|id| (id, backing(&r)))
                        })
                        .collect();
                    by_id.sort_unstable();
                    // One entry per id, backed when any of its reports is.
                    by_id.dedup_by(|later, kept| {
                        let same = later.0 == kept.0;
                        kept.1 |= same && later.1;
                        same
                    });
                }
                let any_backing = reports.iter().any(|r| backing(&r));
                (all_uuids, by_id, any_backing)
            })
        };
        let backed = |message: &str| -> bool {
            let (all_uuids, by_id, any_backing) = lookup();
            if *all_uuids {
                let mut named = None::<bool>;
                for id in uuids_in(message) {
                    if let Ok(at) = by_id.binary_search_by(|(known, _)| (*known).cmp(id)) {
                        named = Some(named.unwrap_or(false) | by_id[at].1);
                    }
                }
                return named.unwrap_or(*any_backing);
            }
            let mut named = reports
                .iter()
                .filter(|r| {
                    r.request_id
                        .is_some_and(|id| !id.is_empty() && message.contains(id))
                })
                .peekable();
            if named.peek().is_some() {
                named.any(|r| backing(&r))
            } else {
                *any_backing
            }
        };
        for message in lines {
            stats.log_lines += 1;
            // Report lines carry the error type, already counted from the reports.
            if is_report(message) {
                continue;
            }
            // One pass over the line finds every signature.
            let found = sig::scan(message);
            if found.out_of_memory.is_some() {
                if backed(message) {
                    stats.oom_lines += 1;
                    keep_sample(&mut stats.oom_samples, message);
                } else {
                    stats.oom_hints += 1;
                }
            } else if found.runtime_killed() {
                stats.killed_lines += 1;
                if backed(message) {
                    keep_sample(&mut stats.oom_samples, message);
                }
            }
            if found.downstream.is_some() {
                stats.downstream_lines += 1;
                keep_sample(&mut stats.downstream_samples, message);
            }
            if found.unhandled_error.is_some() {
                stats.error_lines += 1;
            }
        }
        if stats.memory_uninformative {
            stats.failed_at_limit = 0;
            stats.killed_at_limit = 0;
        }
        stats
    }

    /// The incident's statistics as the host computed them, once for every
    /// rule (`autorepair:rules/statistics`, since 0.2.1): they cover what the
    /// operator granted the rule, so a rule granted `logs` can leave raw lines
    /// out of its `wants` and still count them. Natively (unit tests), and
    /// with the `local-statistics` feature, computed here from `evidence`.
    pub fn incident(evidence: &Evidence) -> Stats {
        #[cfg(all(target_family = "wasm", not(feature = "local-statistics")))]
        {
            let _ = evidence;
            from_host()
        }
        #[cfg(not(all(target_family = "wasm", not(feature = "local-statistics"))))]
        {
            Stats::of(evidence)
        }
    }

    /// Share of invocations that failed or timed out, 0 when there were none.
    pub fn failure_rate(&self) -> f64 {
        if self.invocations == 0 {
            0.0
        } else {
            (self.errors + self.timeouts) as f64 / self.invocations as f64
        }
    }

    /// Peak memory use as a share of the configured memory (0 when the
    /// figure says nothing, see [`Stats::memory_uninformative`]).
    pub fn peak_ratio(&self) -> f64 {
        if self.memory_mb == 0 || self.memory_uninformative {
            0.0
        } else {
            self.peak_used_mb as f64 / self.memory_mb as f64
        }
    }

    /// Out-of-memory evidence: the platform's error type, failures at the
    /// memory limit, runtimes killed near it, and runtime messages backed by
    /// one of those. A kill with memory to spare (after a timeout, say) is not
    /// one, nor is a message the function printed at 40% memory.
    pub fn out_of_memory_events(&self) -> usize {
        self.oom_reports + self.oom_lines + self.killed_at_limit + self.failed_at_limit
    }
}

fn is_report(message: &str) -> bool {
    let line = message.trim_start();
    line.starts_with("REPORT RequestId:")
        || line.starts_with("INIT_REPORT ")
        || (line.starts_with('{')
            && (line.contains("\"platform.report\"") || line.contains("\"platform.initReport\"")))
}

fn keep_sample(samples: &mut Vec<String>, line: &str) {
    /// Long lines are cut: a sample is a pointer for a person, not the record.
    const MAX_CHARS: usize = 200;
    if samples.len() < SAMPLE_LINES {
        let flat = line.split_whitespace().collect::<Vec<_>>().join(" ");
        samples.push(flat.chars().take(MAX_CHARS).collect());
    }
}

/// The `p`-th percentile (nearest rank) of `values`, which it sorts in place;
/// 0 for an empty slice.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    autorepair_lambda::percentile(values, p).unwrap_or(0.0)
}

/// The same value as [`percentile`], found by selection instead of a full
/// sort (linear time): `values` ends up partly reordered.
fn nearest_rank(values: &mut [f64], p: f64) -> f64 {
    let Some(index) = autorepair_lambda::percentile_index(values.len(), p) else {
        return 0.0;
    };
    let (_, value, _) = values.select_nth_unstable_by(index, f64::total_cmp);
    *value
}

/// Sum of every point of the metric series named `name`.
pub fn metric_sum(evidence: &Evidence, name: &str) -> f64 {
    // From +0.0: `Sum for f64` starts at -0.0, which `{:.0}` prints as "-0".
    series_points(evidence, name).fold(0.0, |a, b| a + b)
}

/// Largest point of the metric series named `name`, 0 when absent.
pub fn metric_max(evidence: &Evidence, name: &str) -> f64 {
    series_points(evidence, name).fold(0.0, f64::max)
}

fn series_points<'a>(evidence: &'a Evidence, name: &'a str) -> impl Iterator<Item = f64> + 'a {
    evidence
        .metrics
        .iter()
        .filter(move |s| s.name == name)
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
}

/// The host's statistics of the incident being evaluated.
#[cfg(all(target_family = "wasm", not(feature = "local-statistics")))]
fn from_host() -> Stats {
    let s = crate::bindings::autorepair::rules::statistics::incident();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{EvidenceBuilder, report};

    #[test]
    fn selection_finds_what_sorting_finds() {
        let values: Vec<f64> = (0..1000)
            .map(|i| f64::from((i * 7919) % 1013) / 3.0)
            .collect();
        for p in [0.0, 1.0, 50.0, 95.0, 99.9, 100.0] {
            assert_eq!(
                nearest_rank(&mut values.clone(), p),
                percentile(&mut values.clone(), p),
                "p{p}"
            );
        }
        assert_eq!(nearest_rank(&mut [], 50.0), 0.0);
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 95.0), 95.0);
        assert_eq!(percentile(&mut v, 50.0), 50.0);
        assert_eq!(percentile(&mut [], 50.0), 0.0);
    }

    #[test]
    fn memory_reported_full_by_successes_says_nothing() {
        let evidence = EvidenceBuilder::new(512)
            .reports(2, report(512, 512, InvocationStatus::Success))
            .reports(1, report(512, 512, InvocationStatus::Timeout))
            .build();
        let stats = Stats::of(&evidence);
        assert!(stats.memory_uninformative);
        assert_eq!(stats.out_of_memory_events(), 0);
        assert_eq!(stats.peak_ratio(), 0.0);
        // A function near its limit only when it fails is another story.
        let failing = EvidenceBuilder::new(512)
            .reports(5, report(512, 300, InvocationStatus::Success))
            .reports(1, report(512, 512, InvocationStatus::Timeout))
            .build();
        assert_eq!(Stats::of(&failing).failed_at_limit, 1);
    }

    #[test]
    fn counts_failures_at_the_memory_limit_and_signatures() {
        let evidence = EvidenceBuilder::new(128)
            .reports(8, report(128, 60, InvocationStatus::Success))
            .reports(2, report(128, 128, InvocationStatus::Error))
            .log("FATAL ERROR: JavaScript heap out of memory")
            .log("Error: connect ETIMEDOUT 10.1.2.3:443")
            .build();
        let stats = Stats::of(&evidence);
        assert_eq!(stats.invocations, 10);
        assert_eq!(stats.errors, 2);
        assert_eq!(stats.failed_at_limit, 2);
        assert_eq!(stats.oom_lines, 1);
        assert_eq!(stats.downstream_lines, 1);
        assert_eq!(stats.peak_used_mb, 128);
        assert!((stats.failure_rate() - 0.2).abs() < 1e-9);
    }
}
