//! Building the [`Report`] from records: one row per incident, then per
//! source and mode, the AI's costs and the plugin failures.

use std::collections::BTreeMap;

use crate::ai::AiStatus;
use crate::comparison::Record;
use crate::decide::Action;
use crate::stats::percentile;
use crate::verify::Verdict;

use super::{AI, AiStats, IncidentRow, KeyFigures, RULES, Report, SourceStats, View};

/// Thirty days, for monthly costs.
const MONTH_MS: f64 = 30.0 * 86_400_000.0;

/// The report over `records`, costing Lambda at `usd_per_gb_second`.
pub fn build(records: &[Record], usd_per_gb_second: f64) -> Report {
    let mut records: Vec<&Record> = records.iter().collect();
    records.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.id.cmp(&b.id)));
    let rows: Vec<IncidentRow> = records.iter().map(|r| row(r)).collect();
    let compared: Vec<bool> = rows.iter().filter_map(|r| r.agree).collect();
    let agreement_rate = (!compared.is_empty())
        .then(|| compared.iter().filter(|a| **a).count() as f64 / compared.len() as f64);

    let mut keys: Vec<&str> = records
        .iter()
        .flat_map(|r| r.would_have.iter().map(|w| w.by.as_str()))
        .collect();
    keys.sort_by_key(|k| (!k.starts_with("mode:"), *k));
    keys.dedup();
    keys.retain(|k| crate::comparison::informative(k, &records));
    let sources = keys
        .into_iter()
        .map(|by| source_stats(by, &records, usd_per_gb_second))
        .collect();

    let mut plugin_failures = BTreeMap::new();
    for r in &records {
        for f in &r.plugin_failures {
            *plugin_failures.entry(f.rule.clone()).or_insert(0) += 1;
        }
    }
    let unsigned_rules = records
        .iter()
        .flat_map(|r| r.unsigned_rules.iter().cloned())
        .collect();
    // Newest kept change per function: a later one replaces what to write.
    let mut latest: BTreeMap<&str, &Record> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.source_change.is_some() && r.applied_memory_mb.is_some() && !r.rolled_back)
    {
        let slot = latest.entry(r.function.as_str()).or_insert(r);
        if r.at_ms > slot.at_ms {
            *slot = r;
        }
    }
    let not_in_source = latest
        .into_values()
        .filter_map(|r| {
            Some(super::SourceRow {
                function: r.function.clone(),
                incident: r.id.clone(),
                at_ms: r.at_ms,
                change: r.source_change.clone()?,
            })
        })
        .collect();
    Report {
        figures: figures(&records),
        not_in_source,
        unsigned_rules,
        incidents: rows.len(),
        compared: compared.len(),
        agreement_rate,
        sources,
        ai: ai_stats(&records),
        plugin_failures,
        rows,
    }
}

fn row(r: &Record) -> IncidentRow {
    let rules = r.would(RULES).map(View::from);
    let ai = r.would(AI).map(View::from);
    let ai_note = match (&r.ai, ai) {
        (_, Some(_)) => None,
        (None, None) => Some("not asked".to_owned()),
        (Some(run), None) => Some(format!(
            "{}: {}",
            match run.status {
                AiStatus::Answered => "answered",
                AiStatus::Discarded => "discarded",
                AiStatus::Failed => "failed",
            },
            run.reason.as_deref().unwrap_or("no finding")
        )),
    };
    let correct = |v: Option<View>| {
        r.label
            .as_ref()
            .zip(v)
            .map(|(l, v)| l.accepts(v.action, v.target_memory_mb))
    };
    IncidentRow {
        id: r.id.clone(),
        function: r.function.clone(),
        at_ms: r.at_ms,
        memory_mb: r.memory_mb,
        agree: rules.zip(ai).map(|(a, b)| a.action == b.action),
        rules_correct: correct(rules),
        ai_correct: correct(ai),
        rules,
        ai,
        ai_note,
        applied_memory_mb: r.applied_memory_mb,
        steps: r.timing.map(|t| t.steps),
        status: r.status,
        verdict: r.verdict,
    }
}

fn source_stats(by: &str, records: &[&Record], usd_per_gb_s: f64) -> SourceStats {
    let mut s = SourceStats {
        by: by.to_owned(),
        ..SourceStats::default()
    };
    let mut deltas = Vec::new();
    for r in records {
        let Some(w) = r.would(by) else { continue };
        s.incidents += 1;
        s.shadow |= by.strip_prefix("source:").is_some_and(|source| {
            r.findings
                .iter()
                .any(|f| f.shadow && f.source.to_string() == source)
        });
        s.matched_decision += usize::from(
            r.decision
                .as_ref()
                .is_some_and(|d| d.action == w.action && d.target_memory_mb == w.target_memory_mb),
        );
        if let Some(label) = &r.label {
            s.labelled += 1;
            s.correct += usize::from(label.accepts(w.action, w.target_memory_mb));
        }
        match (w.action, w.target_memory_mb) {
            (Action::SetMemory, Some(target)) => {
                s.recommended_change += 1;
                let delta = f64::from(target) - f64::from(r.memory_mb);
                deltas.push(delta);
                if let Some(e) = r.evidence.as_ref().filter(|e| e.window_ms > 0) {
                    let per_month = e.invocations as f64 * MONTH_MS / e.window_ms as f64;
                    s.monthly_cost_delta_usd +=
                        per_month * e.mean_duration_ms / 1000.0 * delta / 1024.0 * usd_per_gb_s;
                }
                if r.applied_memory_mb == Some(target) {
                    s.applied += 1;
                    s.improved += usize::from(r.verdict == Some(Verdict::Improved));
                    s.rolled_back += usize::from(r.rolled_back);
                }
            }
            (Action::Escalate, _) => s.escalated += 1,
            _ => {}
        }
    }
    s.mean_memory_delta_mb =
        (!deltas.is_empty()).then(|| deltas.iter().sum::<f64>() / deltas.len() as f64);
    s
}

fn ai_stats(records: &[&Record]) -> AiStats {
    let mut s = AiStats::default();
    let mut latencies = Vec::new();
    for run in records.iter().filter_map(|r| r.ai.as_ref()) {
        s.asked += 1;
        match run.status {
            AiStatus::Answered => s.answered += 1,
            AiStatus::Discarded => s.discarded += 1,
            AiStatus::Failed => s.failed += 1,
        }
        if let Some(reason) = &run.reason {
            let short: String = reason.chars().take(80).collect();
            *s.reasons.entry(short).or_insert(0) += 1;
        }
        latencies.push(run.latency_ms);
        s.input_tokens += run.input_tokens;
        s.output_tokens += run.output_tokens;
        s.cost_usd += run.cost_usd;
    }
    latencies.sort_unstable();
    let pick = |p: f64| percentile(&latencies, p);
    s.latency_p50_ms = pick(50.0);
    s.latency_p95_ms = pick(95.0);
    s
}

/// The repairs in figures, over the records of runs that changed a function.
fn figures(records: &[&Record]) -> KeyFigures {
    use crate::run::Status;
    let changed: Vec<&&Record> = records.iter().filter(|r| r.timing.is_some()).collect();
    let n = changed.len();
    let count = |f: &dyn Fn(&Record) -> bool| changed.iter().filter(|r| f(r)).count();
    let repaired = count(&|r| r.status == Status::Repaired);
    let rolled_back = count(&|r| r.rolled_back);
    let did_not_help = count(&|r| matches!(r.verdict, Some(Verdict::Unchanged | Verdict::Worse)));
    let share = |k: usize| (n > 0).then(|| k as f64 / n as f64);
    let timings: Vec<crate::comparison::Timing> = changed.iter().filter_map(|r| r.timing).collect();
    let mut to_change: Vec<i64> = timings.iter().map(|t| t.alarm_to_change_ms).collect();
    let mut to_verdict: Vec<i64> = timings
        .iter()
        .filter_map(|t| t.alarm_to_verdict_ms)
        .collect();
    let mut execute: Vec<u64> = timings.iter().filter_map(|t| t.execute_ms).collect();
    to_change.sort_unstable();
    to_verdict.sort_unstable();
    execute.sort_unstable();
    KeyFigures {
        changed: n,
        steps: timings.iter().map(|t| t.steps).sum(),
        repaired,
        rolled_back,
        did_not_help,
        repair_success: share(repaired),
        rollback_rate: share(rolled_back),
        alarm_to_change_p50_ms: percentile(&to_change, 50.0),
        alarm_to_change_p95_ms: percentile(&to_change, 95.0),
        alarm_to_verdict_p50_ms: percentile(&to_verdict, 50.0),
        alarm_to_verdict_p95_ms: percentile(&to_verdict, 95.0),
        change_p50_ms: percentile(&execute, 50.0),
        change_p95_ms: percentile(&execute, 95.0),
    }
}
