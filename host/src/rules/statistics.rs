//! The incident's statistics as the host hands them to rules
//! (`autorepair:rules/statistics`, since 0.2.1): computed once per incident
//! and grant set with the Rust SDK's own code, so a rule receives exactly
//! what `Stats::of` and `leak::detect` would compute inside it — without
//! every rule sorting the same figures and scanning the same lines again.

use std::sync::OnceLock;

use autorepair_rule_sdk as sdk;

use super::bindings::conv_sdk;
use super::bindings::v0_2::autorepair::rules::changes;
use super::bindings::v0_2::autorepair::rules::statistics as wit;
use crate::model::{Evidence, Grants};

pub(crate) use wit::{IncidentStatistics, Leak};

/// One incident's statistics for one set of grants, shared by the rules
/// (and threads) that ask for them.
pub(crate) struct Statistics {
    /// The evidence as far as the grants reach, in the SDK's types.
    seen: sdk::Evidence,
    /// The log stream (execution environment) of each of `seen`'s reports.
    streams: Streams,
    /// The log stream of each line the rules see.
    line_streams: Streams,
    /// The function's recent changes, with the `changes` grant.
    changes: Vec<changes::FunctionChange>,
    pub(crate) incident: IncidentStatistics,
    /// Found on the first `find-leak` call.
    leak: OnceLock<Option<Leak>>,
}

impl Statistics {
    /// The statistics of `evidence` as far as `grants` let a rule see it.
    pub(crate) fn of(evidence: &Evidence, grants: Grants) -> Statistics {
        use crate::model::Grant;
        // The lines are counted where they are, not copied first: after
        // the count only the reports are read again (for `find-leak`).
        let seen = conv_sdk::evidence(evidence, grants, false);
        let lines = if grants.contains(Grant::Logs) {
            evidence.logs.as_slice()
        } else {
            &[]
        };
        let incident = figures(sdk::stats::Stats::of_lines(
            &seen,
            lines.iter().map(|l| l.message.as_str()),
        ));
        let streams = if grants.contains(Grant::Reports) {
            Streams::of(evidence.reports.iter().map(|r| r.log_stream.as_deref()))
        } else {
            Streams::default()
        };
        let line_streams = Streams::of(lines.iter().map(|l| l.log_stream.as_deref()));
        let changes = if grants.contains(Grant::Changes) {
            evidence
                .changes
                .iter()
                .map(|c| changes::FunctionChange {
                    action: c.action.clone(),
                    at_ms: c.at_ms,
                    by: c.by.clone(),
                    deployment: c.is_deployment(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Statistics {
            seen,
            streams,
            line_streams,
            changes,
            incident,
            leak: OnceLock::new(),
        }
    }

    /// `environments.report-streams`: one per report the rule received.
    pub(crate) fn report_streams(&self) -> Vec<String> {
        self.streams.each()
    }

    /// `environments.line-streams`: one per line the rule received.
    pub(crate) fn line_streams(&self) -> Vec<String> {
        self.line_streams.each()
    }

    /// `changes.recent`: the function's recent changes, newest first.
    pub(crate) fn changes(&self) -> Vec<changes::FunctionChange> {
        self.changes.clone()
    }

    pub(crate) fn leak(&self) -> Option<Leak> {
        *self.leak.get_or_init(|| {
            let memory_mb = self.incident.memory_mb;
            let rows: Vec<sdk::Report<'_>> = self.seen.reports.iter().collect();
            // Each execution environment writes its own log stream: where
            // every report names one, the environments are Lambda's own.
            let found = match environments(&rows, &self.streams) {
                Some(groups) => sdk::leak::detect_by_environment(groups, memory_mb),
                None => sdk::leak::detect(rows, memory_mb),
            };
            found.map(|l| Leak {
                environments: count(l.environments),
                step_mb: l.step_mb,
                from_mb: l.from_mb,
                to_mb: l.to_mb,
            })
        })
    }
}

/// Each report's or line's log stream, each distinct name kept once: an
/// incident has a few execution environments and a hundred lines or more.
#[derive(Debug, Default)]
struct Streams {
    names: Vec<String>,
    /// Per report or line, its stream's place in `names`.
    at: Vec<Option<u32>>,
}

impl Streams {
    fn of<'a>(streams: impl Iterator<Item = Option<&'a str>>) -> Streams {
        let mut names: Vec<String> = Vec::new();
        let at = streams
            .map(|stream| {
                let stream = stream?;
                // Few names: a look along them beats hashing every line's.
                let i = match names.iter().rposition(|n| n == stream) {
                    Some(i) => i,
                    None => {
                        names.push(stream.to_owned());
                        names.len() - 1
                    }
                };
                u32::try_from(i).ok()
            })
            .collect();
        Streams { names, at }
    }

    fn len(&self) -> usize {
        self.at.len()
    }

    fn get(&self, i: usize) -> Option<&str> {
        let at = (*self.at.get(i)?)?;
        self.names.get(at as usize).map(String::as_str)
    }

    /// One name per report or line, "" where it has none.
    fn each(&self) -> Vec<String> {
        (0..self.len())
            .map(|i| self.get(i).unwrap_or_default().to_owned())
            .collect()
    }
}

/// `rows` grouped by log stream, when every REPORT line's has one (a
/// timeout with no report of its own, or a failed init, counts nowhere).
fn environments<'a>(
    rows: &[sdk::Report<'a>],
    streams: &Streams,
) -> Option<Vec<Vec<sdk::Report<'a>>>> {
    if streams.len() != rows.len() {
        return None;
    }
    let mut groups: std::collections::BTreeMap<&str, Vec<sdk::Report<'a>>> = Default::default();
    for (i, row) in rows.iter().enumerate() {
        if row.is_init_phase() || row.memory_size_mb == 0 {
            continue;
        }
        groups.entry(streams.get(i)?).or_default().push(*row);
    }
    (!groups.is_empty()).then(|| groups.into_values().collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Grants, InvocationReport, InvocationStatus};
    use crate::testing::evidence::EvidenceBuilder;

    /// Environment `stream`'s invocations: Max Memory Used is its peak so
    /// far, as Lambda reports it.
    fn environment(stream: &str, start: i64, usage: &[u32], limit: u32) -> Vec<InvocationReport> {
        let mut peak = 0;
        usage
            .iter()
            .enumerate()
            .map(|(i, &used)| {
                peak = peak.max(used.min(limit));
                InvocationReport {
                    request_id: format!("{stream}-{i}"),
                    timestamp_ms: start + i as i64 * 2_000,
                    duration_ms: 100.0,
                    billed_duration_ms: 100.0,
                    memory_size_mb: limit,
                    max_memory_used_mb: peak,
                    init_duration_ms: (i == 0).then_some(150.0),
                    status: if used >= limit {
                        InvocationStatus::Error
                    } else {
                        InvocationStatus::Success
                    },
                    error_type: None,
                    log_stream: Some(stream.to_owned()),
                    function_error: None,
                }
            })
            .collect()
    }

    fn leak_in(reports: Vec<InvocationReport>, memory_mb: u32) -> Option<Leak> {
        let evidence = EvidenceBuilder::new("f")
            .memory(memory_mb)
            .reports(reports)
            .build();
        Statistics::of(&evidence, Grants::ALL).leak()
    }

    #[test]
    fn leaks_are_found_per_log_stream() {
        // Three environments side by side, their invocations interleaved:
        // each grows 12 MB an invocation (a real Node.js leak, measured).
        let growth = [45, 57, 69, 81, 93, 105, 117, 129];
        let mut reports: Vec<InvocationReport> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .flat_map(|(i, s)| environment(s, i as i64 * 700, &growth, 128))
            .collect();
        reports.sort_by_key(|r| r.timestamp_ms);
        let leak = leak_in(reports.clone(), 128).expect("a leak per environment");
        assert_eq!(leak.environments, 3);
        // Without streams, the same figures are rebuilt into environments
        // by their order, which interleaving defeats.
        for r in &mut reports {
            r.log_stream = None;
        }
        assert!(leak_in(reports, 128).is_none());
    }

    #[test]
    fn a_plateau_beside_noise_is_no_leak_per_log_stream() {
        let mut reports = environment("warm", 0, &[52, 60, 68, 76, 84, 84, 84, 84, 84], 256);
        reports.extend(environment(
            "noisy",
            500,
            &[80, 140, 95, 150, 60, 170, 120, 256],
            256,
        ));
        assert!(leak_in(reports, 256).is_none());
    }
}
