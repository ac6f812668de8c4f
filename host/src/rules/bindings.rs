//! The generated host side of `autorepair:rules@0.1.0`, and conversions between
//! its types and the domain model. Nothing outside `rules` sees these types.

mod generated {
    wasmtime::component::bindgen!({
        world: "rule-plugin",
        path: "../wit",
    });
}

pub(crate) use generated::RulePluginPre;
pub(crate) use generated::autorepair::rules::host::{Host, Level};
pub(crate) use generated::autorepair::rules::types as wit;
pub(crate) use generated::{RulePlugin, autorepair::rules::types::Host as TypesHost};

use crate::model::{
    Evidence, Finding, FindingKind, Grant, Grants, InvocationReport, InvocationStatus,
    Recommendation,
};

/// The package and interface every rule exports, without a version.
pub const RULE_INTERFACE: &str = "autorepair:rules/rule";
/// The interface version this host was built against.
pub const INTERFACE_VERSION: (u64, u64, u64) = (0, 1, 0);

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

/// The evidence a rule sees: lists it was not granted are empty, and without
/// `config` the function is reduced to its name and memory size.
pub(crate) fn evidence(e: &Evidence, grants: Grants) -> wit::Evidence {
    let config = grants.contains(Grant::Config);
    let f = &e.function;
    wit::Evidence {
        function: wit::FunctionInfo {
            name: f.name.clone(),
            arn: if config { f.arn.clone() } else { String::new() },
            runtime: if config {
                f.runtime.clone()
            } else {
                String::new()
            },
            architecture: if config {
                f.architecture.clone()
            } else {
                String::new()
            },
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
            // Ids only tie reports to log lines: without lines they are dead weight.
            reports(
                &e.reports,
                grants.contains(Grant::Logs) && !e.logs.is_empty(),
            )
        } else {
            reports(&[], false)
        },
        logs: if grants.contains(Grant::Logs) {
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

/// Rows to columns; request ids only for rules that also see the log lines.
fn reports(rows: &[InvocationReport], with_ids: bool) -> wit::InvocationReports {
    let column = |f: &dyn Fn(&InvocationReport) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
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

pub(crate) fn finding(f: wit::Finding) -> Finding {
    Finding {
        kind: match f.kind {
            wit::FindingKind::MemoryExhaustion => FindingKind::MemoryExhaustion,
            wit::FindingKind::MemoryPressure => FindingKind::MemoryPressure,
            wit::FindingKind::CpuStarvation => FindingKind::CpuStarvation,
            wit::FindingKind::DownstreamTimeout => FindingKind::DownstreamTimeout,
            wit::FindingKind::Throttling => FindingKind::Throttling,
            wit::FindingKind::CodeError => FindingKind::CodeError,
            wit::FindingKind::Other => FindingKind::Other,
        },
        confidence: f.confidence,
        summary: f.summary,
        evidence: f.evidence,
        recommendation: match f.recommendation {
            wit::Recommendation::SetMemory(memory_mb) => Recommendation::SetMemory { memory_mb },
            wit::Recommendation::Keep => Recommendation::Keep,
            wit::Recommendation::Escalate(reason) => Recommendation::Escalate { reason },
        },
    }
}
