use super::*;
use crate::ai::{AiRun, AiStatus};
use crate::comparison::Label;
use crate::comparison::Record;
use crate::config::Config;
use crate::decide::{MergeMode, WouldHave};
use crate::diagnosis::EvidenceSummary;
use crate::model::{FailureCause, RuleFailure};

fn would(by: &str, action: Action, target: Option<u32>) -> WouldHave {
    WouldHave {
        by: by.into(),
        action,
        target_memory_mb: target,
    }
}

fn ai_run(status: AiStatus, latency_ms: u64) -> AiRun {
    AiRun {
        model_id: "m".into(),
        status,
        finding: None,
        reason: (status != AiStatus::Answered).then(|| "no tool use".into()),
        latency_ms,
        attempts: 1,
        input_tokens: 1000,
        output_tokens: 100,
        stop_reason: None,
        cost_usd: 0.0015,
        prompt_tokens_estimated: 900,
        sample_lines: 3,
        redactions: 0,
        shadow: false,
        ..AiRun::failed("m", false)
    }
}

fn record(id: &str, at_ms: i64, rules: WouldHave, ai: Option<WouldHave>) -> Record {
    let mut would_have = vec![WouldHave {
        by: RULES.into(),
        ..rules
    }];
    let ai_run = match &ai {
        Some(_) => ai_run(AiStatus::Answered, 1000 + at_ms as u64 % 7 * 100),
        None => ai_run(AiStatus::Discarded, 900),
    };
    would_have.extend(ai.map(|w| WouldHave { by: AI.into(), ..w }));
    Record {
        id: id.into(),
        function: "orders".into(),
        at_ms,
        origin: "run".into(),
        mode: MergeMode::Rules,
        memory_mb: 512,
        status: crate::run::Status::Repaired,
        decision: None,
        would_have,
        findings: Vec::new(),
        ai: Some(ai_run),
        plugin_failures: Vec::new(),
        applied_memory_mb: None,
        verdict: None,
        rolled_back: false,
        evidence: Some(EvidenceSummary {
            function_name: "orders".into(),
            memory_mb: 512,
            invocations: 1000,
            log_lines: 0,
            metric_series: 0,
            window_ms: 1_800_000,
            mean_duration_ms: 200.0,
            notes: Vec::new(),
            report_doubt: None,
            recent_changes: Vec::new(),
        }),
        label: None,
        unsigned_rules: Vec::new(),
        source_change: None,
        timing: None,
    }
}

fn sample() -> Vec<Record> {
    let set = |mb| would("", Action::SetMemory, Some(mb));
    let mut applied = record("a", 3_000_000, set(1024), Some(set(1024)));
    applied.applied_memory_mb = Some(1024);
    applied.verdict = Some(Verdict::Improved);
    let mut rolled = record(
        "b",
        1_000_000,
        set(1024),
        Some(would("", Action::Escalate, None)),
    );
    rolled.applied_memory_mb = Some(1024);
    rolled.verdict = Some(Verdict::Unchanged);
    rolled.rolled_back = true;
    rolled.status = crate::run::Status::RolledBack;
    rolled.plugin_failures.push(RuleFailure {
        rule: "timeouts".into(),
        veto: false,
        cause: FailureCause::CpuBudget(50),
    });
    let mut unanswered = record("c", 2_000_000, would("", Action::None, None), None);
    unanswered.label = Some(Label {
        action: Action::None,
        min_mb: None,
        max_mb: None,
        why: String::new(),
    });
    vec![applied, rolled, unanswered]
}

#[test]
fn key_figures_count_repairs_and_time_them_from_the_alarm() {
    use crate::comparison::Timing;
    let mut records = sample();
    // a: repaired in two steps, 40 s to the change, 160 s to the verdict;
    // b: rolled back, 20 s and 80 s.
    records[0].timing = Some(Timing {
        alarm_to_change_ms: 40_000,
        alarm_to_verdict_ms: Some(160_000),
        execute_ms: Some(900),
        steps: 2,
    });
    records[1].timing = Some(Timing {
        alarm_to_change_ms: 20_000,
        alarm_to_verdict_ms: Some(80_000),
        execute_ms: Some(300),
        steps: 1,
    });
    let report = build(&records, Config::default().pricing.lambda_usd_per_gb_second);
    let f = &report.figures;
    assert_eq!(
        (
            f.changed,
            f.steps,
            f.repaired,
            f.rolled_back,
            f.did_not_help
        ),
        (2, 3, 1, 1, 1)
    );
    assert_eq!((f.repair_success, f.rollback_rate), (Some(0.5), Some(0.5)));
    assert_eq!(
        (f.alarm_to_change_p50_ms, f.alarm_to_change_p95_ms),
        (Some(20_000), Some(40_000))
    );
    assert_eq!(f.alarm_to_verdict_p95_ms, Some(160_000));
    assert_eq!((f.change_p50_ms, f.change_p95_ms), (Some(300), Some(900)));
    let shown = text(&report);
    assert!(
        shown.contains("repairs: 2 incidents changed memory in 3 steps; repaired 1 (50%)"),
        "{shown}"
    );
    assert!(
        shown.contains("1024 MB (2 steps)"),
        "the incident's row shows its steps: {shown}"
    );
    assert!(
        shown.contains("alarm → change p50 20.0 s, p95 40.0 s"),
        "{shown}"
    );
    // No change, no figures line.
    let none = build(&sample(), 0.0);
    assert_eq!(none.figures.changed, 0);
    assert!(!text(&none).contains("repairs:"));
}

#[test]
fn aggregates_agreement_outcomes_cost_and_ai_figures() {
    let report = build(
        &sample(),
        Config::default().pricing.lambda_usd_per_gb_second,
    );
    assert_eq!(report.incidents, 3);
    assert_eq!(report.compared, 2);
    assert_eq!(report.agreement_rate, Some(0.5));
    // Sorted by time.
    let ids: Vec<&str> = report.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["b", "c", "a"]);
    assert_eq!(
        report.rows[1].ai_note.as_deref(),
        Some("discarded: no tool use")
    );
    assert_eq!(report.rows[1].rules_correct, Some(true));

    let rules = report.sources.iter().find(|s| s.by == RULES).unwrap();
    assert_eq!(
        (
            rules.incidents,
            rules.recommended_change,
            rules.applied,
            rules.improved,
            rules.rolled_back
        ),
        (3, 2, 2, 1, 1)
    );
    assert_eq!(rules.mean_memory_delta_mb, Some(512.0));
    // 1000 invocations per 30 min → 1.44M a month × 0.2 s × 0.5 GB × price, twice.
    let expected =
        2.0 * 1_440_000.0 * 0.2 * 0.5 * Config::default().pricing.lambda_usd_per_gb_second;
    assert!(
        (rules.monthly_cost_delta_usd - expected).abs() < 1e-6,
        "{}",
        rules.monthly_cost_delta_usd
    );
    let ai = report.sources.iter().find(|s| s.by == AI).unwrap();
    assert_eq!(
        (
            ai.incidents,
            ai.recommended_change,
            ai.applied,
            ai.escalated
        ),
        (2, 1, 1, 1)
    );

    assert_eq!(
        (report.ai.asked, report.ai.answered, report.ai.discarded),
        (3, 2, 1)
    );
    assert_eq!(report.ai.input_tokens, 3000);
    assert!(
        report.ai.latency_p50_ms.is_some() && report.ai.latency_p95_ms >= report.ai.latency_p50_ms
    );
    assert_eq!(report.plugin_failures.get("timeouts"), Some(&1));
}

#[test]
fn every_format_carries_the_incidents() {
    let report = build(
        &sample(),
        Config::default().pricing.lambda_usd_per_gb_second,
    );
    let text = text(&report);
    assert!(text.contains("agreement 50%"), "{text}");
    assert!(
        text.contains("set 1024 MB") && text.contains("NO"),
        "{text}"
    );
    let md = markdown(&report);
    assert!(md.contains("| time (UTC) | function |"), "{md}");
    assert_eq!(md.matches("| 1970-01-01").count(), 3, "{md}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 3);
    assert_eq!(json["agreement_rate"], 0.5);
}

#[test]
fn the_html_page_is_self_contained_with_two_drawn_charts() {
    let html = html(&build(
        &sample(),
        Config::default().pricing.lambda_usd_per_gb_second,
    ));
    if let Ok(path) = std::env::var("AUTOREPAIR_REPORT_HTML") {
        std::fs::write(path, &html).unwrap();
    }
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<svg").count(), 2, "two charts");
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    let agreement = &html[html.find("id=\"agreement-over-time\"").unwrap()..];
    let agreement = &agreement[..agreement.find("</figure>").unwrap()];
    // The agreement line (a polyline) and one marker per compared incident.
    assert!(agreement.contains("<polyline"), "no line drawn");
    assert_eq!(agreement.matches("<circle").count(), 2);
    let outcomes = &html[html.find("id=\"outcome-by-source\"").unwrap()..];
    let outcomes = &outcomes[..outcomes.find("</figure>").unwrap()];
    let texts: Vec<&str> = outcomes
        .split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
        .collect();
    for label in ["rules", "ai"] {
        assert!(texts.contains(&label), "no {label} in the chart: {texts:?}");
    }
    // The legend is beside the chart, never drawn over its bars.
    let legend = &outcomes[outcomes.find("<ul class=\"legend\">").expect("a legend")..];
    for label in ["recommended a change", "rolled back"] {
        assert!(legend.contains(label), "no {label} in the legend");
        assert!(!texts.contains(&label), "{label} drawn inside the chart");
    }
    // Bars: non-empty rectangles beyond the background.
    assert!(outcomes.matches("<rect").count() > 5);
    // Each chart has its data as a table beside it, and real dates.
    assert!(agreement.contains("<table>") && outcomes.contains("<table>"));
}

/// With the AI off, the page says so in words: no chart without data, no
/// time axis starting in 1970.
#[test]
fn an_empty_comparison_is_said_not_drawn() {
    let mut records = sample();
    for r in &mut records {
        r.ai = None;
        r.would_have.retain(|w| w.by != super::AI);
    }
    let page = html(&build(
        &records,
        Config::default().pricing.lambda_usd_per_gb_second,
    ));
    let agreement = &page[page.find("id=\"agreement-over-time\"").unwrap()..];
    let agreement = &agreement[..agreement.find("</figure>").unwrap()];
    assert!(!agreement.contains("<svg"), "an empty chart was drawn");
    assert!(
        agreement.contains("the AI diagnoser was off"),
        "{agreement}"
    );
    // No axis drawn, so no axis of its own: the incidents' real dates only.
    let at = crate::dates::date_time(records[0].at_ms);
    assert!(
        !agreement.contains(&at[..4]),
        "a date in the empty figure: {agreement}"
    );
}

#[test]
fn no_records_make_an_empty_report_not_a_crash() {
    let report = build(&[], Config::default().pricing.lambda_usd_per_gb_second);
    assert_eq!(report.agreement_rate, None);
    assert!(text(&report).contains("0 incidents"));
    let page = html(&report);
    assert!(!page.contains("<svg"), "no data, no chart");
    assert!(page.contains("the AI diagnoser was off"));
    assert!(page.contains("No source recommended"));
}

#[test]
fn shadow_rules_are_set_against_the_decision_and_unsigned_rules_flagged() {
    use crate::decide::Decision;
    use crate::model::{Finding, FindingKind, Recommendation, Source, SourcedFinding};
    let decided = |action, target| Decision {
        action,
        current_memory_mb: 512,
        target_memory_mb: target,
        reasons: Vec::new(),
    };
    let shadow_finding = SourcedFinding {
        source: Source::Rule("third-party".into()),
        shadow: true,
        finding: Finding {
            kind: FindingKind::MemoryExhaustion,
            confidence: 0.9,
            summary: "s".into(),
            evidence: Vec::new(),
            recommendation: Recommendation::SetMemory { memory_mb: 1024 },
        },
    };
    let mut records = Vec::new();
    // Once the shadow rule says exactly what was decided; once the same
    // action with other memory; once another action.
    for (i, (action, target)) in [
        (Action::SetMemory, Some(1024)),
        (Action::SetMemory, Some(2048)),
        (Action::None, None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = record(&format!("i{i}"), i as i64, would(RULES, action, None), None);
        r.decision = Some(decided(action, target));
        r.findings.push(shadow_finding.clone());
        r.would_have.push(would(
            "source:rule:third-party",
            Action::SetMemory,
            Some(1024),
        ));
        records.push(r);
    }
    records[1].unsigned_rules = vec!["dev-rule".into()];
    let report = build(&records, Config::default().pricing.lambda_usd_per_gb_second);
    let shadow = report
        .sources
        .iter()
        .find(|s| s.by == "source:rule:third-party")
        .expect("the shadow rule has a row");
    assert!(shadow.shadow);
    assert_eq!((shadow.incidents, shadow.matched_decision), (3, 1));
    let rules = report.sources.iter().find(|s| s.by == RULES).unwrap();
    assert!(!rules.shadow);
    assert_eq!(rules.matched_decision, 1, "the rules' view names no memory");

    let text = text(&report);
    assert!(text.contains("source:rule:third-party (shadow)"), "{text}");
    assert!(
        text.lines().next().unwrap().starts_with(
            "WARNING: unsigned rules ran (allow_unsigned, development only): dev-rule"
        ),
        "{text}"
    );
    assert!(!text_of(&records[..1]).contains("WARNING"));
}

fn text_of(records: &[Record]) -> String {
    text(&build(
        records,
        Config::default().pricing.lambda_usd_per_gb_second,
    ))
}

#[test]
fn kept_changes_to_stack_functions_are_listed_for_the_source_newest_first() {
    use crate::model::SourceChange;
    let set = |mb| would("", Action::SetMemory, Some(mb));
    let stack = |mb| {
        Some(SourceChange::Cloudformation {
            stack: "orders-prod".into(),
            logical_id: "Orders".into(),
            memory_mb: mb,
        })
    };
    let mut older = record("old", 1_000_000, set(768), None);
    older.applied_memory_mb = Some(768);
    older.source_change = stack(768);
    let mut newer = record("new", 2_000_000, set(1024), None);
    newer.applied_memory_mb = Some(1024);
    newer.source_change = stack(1024);
    let mut undone = record("undone", 3_000_000, set(2048), None);
    undone.applied_memory_mb = Some(2048);
    undone.rolled_back = true;
    undone.source_change = stack(2048);
    let report = build(&[older, newer.clone(), undone], 0.0000166667);
    assert_eq!(report.not_in_source.len(), 1, "{:?}", report.not_in_source);
    assert_eq!(report.not_in_source[0].incident, "new");
    let out = text(&report);
    assert!(out.contains("Changes not yet in source"), "{out}");
    assert!(
        out.contains("Resources.Orders.Properties.MemorySize: 1024"),
        "{out}"
    );
    assert!(markdown(&report).contains("## Changes not yet in source"));
    assert!(html(&report).contains("<h2>Changes not yet in source</h2>"));
    let plain = build(&[record("x", 1, set(1024), None)], 0.0000166667);
    assert!(!text(&plain).contains("not yet in source"));
}
