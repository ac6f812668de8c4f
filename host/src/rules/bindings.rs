//! The generated host side of every line of the rule interface this host
//! speaks — `autorepair:rules@0.2.x` (wit/rules.wit, which also serves rules
//! built against earlier 0.2 releases: wasmtime matches semver-compatible
//! names) and the frozen `autorepair:rules@0.1.x` (wit/versions/0.1.0) — and
//! the conversions between their types and the domain model. Nothing outside
//! `rules` sees these types.

use crate::model::{
    Evidence, Finding, FindingKind, Grant, Grants, InvocationReport, InvocationStatus,
    Recommendation,
};

pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        world: "rule-plugin",
        path: "../wit",
    });
}

pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        world: "rule-plugin",
        path: "../wit/versions/0.1.0",
    });
}

/// The package and interface every rule exports, without a version.
pub const RULE_INTERFACE: &str = "autorepair:rules/rule";
/// The current line: what the SDK builds and the docs describe.
pub const INTERFACE_VERSION: (u64, u64, u64) = (0, 2, 3);
/// Every line this host loads, newest first: (major, minor).
pub const LINES: &[(u64, u64)] = &[(0, 2), (0, 1)];

/// A line of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    V0_2,
    V0_1,
}

impl Line {
    pub(crate) fn of(major: u64, minor: u64) -> Option<Line> {
        match (major, minor) {
            (0, 2) => Some(Line::V0_2),
            (0, 1) => Some(Line::V0_1),
            _ => None,
        }
    }
}

/// The evidence a rule sees, for every set of types generated from a line of
/// the interface: the host's bindings of each line, and the Rust SDK's (the
/// host computes the statistics with the SDK's own code). Each is its own Rust
/// type, so the code is stamped out per set.
macro_rules! evidence_conversion {
    ($($types:tt)+) => {
            use $($types)+ as wit;

            /// The evidence a rule sees: lists it was not granted are empty,
            /// and without `config` the function is reduced to its name and
            /// memory size. The statistics leave the log lines out (`lines` false): they
            /// read them where they are; the reports keep their ids as granted.
            pub(crate) fn evidence(e: &Evidence, grants: Grants, lines: bool) -> wit::Evidence {
                let config = grants.contains(Grant::Config);
                let f = &e.function;
                let when = |s: &String| if config { s.clone() } else { String::new() };
                wit::Evidence {
                    function: wit::FunctionInfo {
                        name: f.name.clone(),
                        arn: when(&f.arn),
                        runtime: when(&f.runtime),
                        architecture: when(&f.architecture),
                        memory_mb: f.memory_mb,
                        timeout_s: if config { f.timeout_s } else { 0 },
                        qualifier: if config { f.qualifier.clone() } else { None },
                    },
                    alarm: wit::AlarmInfo {
                        name: e.alarm.name.clone(),
                        metric: e.alarm.metric.clone(),
                        state: e.alarm.state.clone(),
                        reason: e.alarm.reason.clone(),
                    },
                    window: wit::Window {
                        start_ms: e.window.start_ms,
                        end_ms: e.window.end_ms,
                    },
                    metrics: if grants.contains(Grant::Metrics) {
                        e.metrics
                            .iter()
                            .map(|s| wit::MetricSeries {
                                namespace: s.namespace.clone(),
                                name: s.name.clone(),
                                statistic: s.statistic.clone(),
                                unit: s.unit.clone(),
                                timestamps_ms: s.points.iter().map(|p| p.timestamp_ms).collect(),
                                values: s.points.iter().map(|p| p.value).collect(),
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    reports: if grants.contains(Grant::Reports) {
                        // Ids only tie reports to log lines: without lines they
                        // are dead weight.
                        reports(
                            &e.reports,
                            grants.contains(Grant::Logs) && !e.logs.is_empty(),
                        )
                    } else {
                        reports(&[], false)
                    },
                    logs: if lines && grants.contains(Grant::Logs) {
                        e.logs
                            .iter()
                            .map(|l| wit::LogLine {
                                timestamp_ms: l.timestamp_ms,
                                message: l.message.clone(),
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                }
            }

            /// Rows to columns; request ids only for rules that also see the
            /// log lines.
            fn reports(rows: &[InvocationReport], with_ids: bool) -> wit::InvocationReports {
                let column =
                    |f: &dyn Fn(&InvocationReport) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
                wit::InvocationReports {
                    timestamps_ms: rows.iter().map(|r| r.timestamp_ms).collect(),
                    durations_ms: column(&|r| r.duration_ms),
                    billed_durations_ms: column(&|r| r.billed_duration_ms),
                    memory_sizes_mb: rows.iter().map(|r| r.memory_size_mb).collect(),
                    max_memory_used_mb: rows.iter().map(|r| r.max_memory_used_mb).collect(),
                    init_durations_ms: column(&|r| r.init_duration_ms.unwrap_or(0.0)),
                    statuses: rows
                        .iter()
                        .map(|r| match r.status {
                            InvocationStatus::Success => wit::InvocationStatus::Success,
                            InvocationStatus::Error => wit::InvocationStatus::Error,
                            InvocationStatus::Timeout => wit::InvocationStatus::Timeout,
                        })
                        .collect(),
                    error_types: rows.iter().map(|r| r.error_type.clone()).collect(),
                    request_ids: if with_ids {
                        rows.iter().map(|r| r.request_id.clone()).collect()
                    } else {
                        Vec::new()
                    },
                }
            }
    };
}

/// The evidence in the Rust SDK's types, for the statistics the host computes
/// with the SDK's code.
pub(crate) mod conv_sdk {
    use super::*;
    evidence_conversion!(autorepair_rule_sdk::bindings::autorepair::rules::types);
}

/// The same conversions for every line: the evidence a rule sees, what it
/// says about itself, the findings it returns.
macro_rules! conversions {
    ($conversions:ident, $line:ident) => {
        pub(crate) mod $conversions {
            use super::*;
            evidence_conversion!(super::$line::autorepair::rules::types);

            pub(crate) fn wants_to_grants(wants: wit::Wants) -> Grants {
                let mut grants = Grants::NONE;
                for (flag, grant) in [
                    (wit::Wants::METRICS, Grant::Metrics),
                    (wit::Wants::REPORTS, Grant::Reports),
                    (wit::Wants::LOGS, Grant::Logs),
                    (wit::Wants::CONFIG, Grant::Config),
                ] {
                    if wants.contains(flag) {
                        grants = grants.with(grant);
                    }
                }
                grants
            }

            pub(crate) fn info(info: wit::RuleInfo) -> RawInfo {
                RawInfo {
                    wants: wants_to_grants(info.wants),
                    name: info.name,
                    version: info.version,
                    summary: info.summary,
                }
            }

            pub(crate) fn finding(f: wit::Finding) -> Finding {
                Finding {
                    kind: super::kinds::$line(f.kind),
                    confidence: f.confidence,
                    summary: f.summary,
                    evidence: f.evidence,
                    recommendation: match f.recommendation {
                        wit::Recommendation::SetMemory(memory_mb) => {
                            Recommendation::SetMemory { memory_mb }
                        }
                        wit::Recommendation::Keep => Recommendation::Keep,
                        wit::Recommendation::Escalate(reason) => {
                            Recommendation::Escalate { reason }
                        }
                    },
                }
            }
        }
    };
}

conversions!(conv_v0_2, v0_2);
conversions!(conv_v0_1, v0_1);

pub(crate) mod kinds {
    use super::*;

    pub(super) fn v0_2(kind: super::v0_2::autorepair::rules::types::FindingKind) -> FindingKind {
        use super::v0_2::autorepair::rules::types::FindingKind as K;
        match kind {
            K::MemoryExhaustion => FindingKind::MemoryExhaustion,
            K::MemoryPressure => FindingKind::MemoryPressure,
            K::CpuStarvation => FindingKind::CpuStarvation,
            K::DownstreamTimeout => FindingKind::DownstreamTimeout,
            K::Throttling => FindingKind::Throttling,
            K::CodeError => FindingKind::CodeError,
            K::Other => FindingKind::Other,
            K::MemoryLeak => FindingKind::MemoryLeak,
        }
    }

    pub(super) fn v0_1(kind: super::v0_1::autorepair::rules::types::FindingKind) -> FindingKind {
        use super::v0_1::autorepair::rules::types::FindingKind as K;
        match kind {
            K::MemoryExhaustion => FindingKind::MemoryExhaustion,
            K::MemoryPressure => FindingKind::MemoryPressure,
            K::CpuStarvation => FindingKind::CpuStarvation,
            K::DownstreamTimeout => FindingKind::DownstreamTimeout,
            K::Throttling => FindingKind::Throttling,
            K::CodeError => FindingKind::CodeError,
            K::Other => FindingKind::Other,
        }
    }
}

/// What a rule says about itself, before validation.
pub(crate) struct RawInfo {
    pub name: String,
    pub version: String,
    pub summary: String,
    pub wants: Grants,
}

/// The evidence converted for one line.
#[derive(Clone)]
pub(crate) enum View {
    V0_2(v0_2::autorepair::rules::types::Evidence),
    V0_1(v0_1::autorepair::rules::types::Evidence),
}

impl View {
    pub(crate) fn of(line: Line, evidence: &Evidence, grants: Grants) -> View {
        match line {
            Line::V0_2 => View::V0_2(conv_v0_2::evidence(evidence, grants, true)),
            Line::V0_1 => View::V0_1(conv_v0_1::evidence(evidence, grants, true)),
        }
    }
}
