//! Text renderings for people. JSON renderings are the serde forms of the same types.

use std::fmt::Write;

use crate::decide::{Action, Decision};
use crate::diagnose::Diagnosis;
use crate::model::PluginFailure;
use crate::rules::{LoadedRule, RuleSet};

pub fn diagnosis(d: &Diagnosis) -> String {
    let mut out = String::new();
    let e = &d.evidence;
    let _ = writeln!(
        out,
        "Incident: function {} ({} MB): {} invocations, {} log lines, {} metric series",
        e.function_name, e.memory_mb, e.invocations, e.log_lines, e.metric_series
    );
    for note in &e.notes {
        let _ = writeln!(out, "  note: {note}");
    }

    out.push_str("\nFindings\n");
    if d.findings.is_empty() {
        out.push_str("  (none)\n");
    }
    for f in &d.findings {
        out.push_str(&finding_line(f));
        let _ = writeln!(out, "      {}", f.finding.summary);
        for line in &f.finding.evidence {
            let _ = writeln!(out, "      · {line}");
        }
    }

    if !d.plugin_failures.is_empty() {
        out.push_str("\nPlugin failures\n");
        out.push_str(&failures(&d.plugin_failures));
    }

    let _ = writeln!(
        out,
        "\nRules ({} evaluated concurrently in {:.2} ms)",
        d.rules.len(),
        d.timings.rules_us as f64 / 1000.0
    );
    for r in &d.rules {
        let what = if r.failed {
            "failed".to_owned()
        } else {
            format!(
                "{} finding{}",
                r.findings,
                if r.findings == 1 { "" } else { "s" }
            )
        };
        let shadow = match (r.shadow, r.unsigned) {
            (true, true) => " (shadow, UNSIGNED)",
            (true, false) => " (shadow)",
            (false, true) => " (UNSIGNED)",
            (false, false) => "",
        };
        let _ = writeln!(
            out,
            "  {:<24} {:>8.3} ms  {what}",
            format!("{} {}{shadow}", r.rule, r.version),
            r.elapsed_us as f64 / 1000.0
        );
    }

    if let Some(ai) = &d.ai {
        out.push('\n');
        out.push_str(&ai_line(ai));
    }

    let _ = write!(out, "\nDecision (merge mode {}): ", d.mode);
    out.push_str(&decision(&d.decision));
    out
}

/// What the AI did, on one line: its status, model, time, tokens and cost.
pub fn ai_line(ai: &crate::ai::AiRun) -> String {
    let what = match (&ai.status, &ai.reason) {
        (crate::ai::AiStatus::Answered, _) => "answered".to_owned(),
        (crate::ai::AiStatus::Discarded, Some(r)) => format!("answer discarded: {r}"),
        (crate::ai::AiStatus::Failed, Some(r)) => format!("failed: {r}"),
        (status, None) => format!("{status:?}").to_lowercase(),
    };
    format!(
        "AI {} ({}): {what}; {} ms, {} attempt(s), {} in + {} out tokens, ${:.4}{}\n",
        ai.model_id,
        if ai.shadow { "shadow" } else { "deciding" },
        ai.latency_ms,
        ai.attempts,
        ai.input_tokens,
        ai.output_tokens,
        ai.cost_usd,
        if ai.redactions > 0 {
            format!("; {} secrets redacted from the prompt", ai.redactions)
        } else {
            String::new()
        }
    )
}

/// One finding on one line: source, kind, confidence, recommendation.
fn finding_line(f: &crate::model::SourcedFinding) -> String {
    let shadow = if f.shadow { " (shadow)" } else { "" };
    format!(
        "  {:<24} {:<18} {:.2}  {}\n",
        format!("{}{shadow}", f.source),
        f.finding.kind.to_string(),
        f.finding.confidence,
        f.finding.recommendation
    )
}

pub fn decision(d: &Decision) -> String {
    let mut out = match (d.action, d.target_memory_mb) {
        (Action::SetMemory, Some(target)) => {
            format!("SET MEMORY {} MB → {target} MB\n", d.current_memory_mb)
        }
        (Action::Escalate, _) => "ESCALATE to a person, no change\n".to_owned(),
        _ => "NONE, no change\n".to_owned(),
    };
    for reason in &d.reasons {
        let _ = writeln!(out, "  · {reason}");
    }
    out
}

pub fn failures(failures: &[PluginFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("  {:<24} {}\n", f.rule, f.cause))
        .collect()
}

pub fn rules_list(set: &RuleSet) -> String {
    let mut out = String::new();
    for rule in set.rules() {
        out.push_str(&rule_entry(rule));
    }
    if !set.load_failures().is_empty() {
        out.push_str("\nNot loaded\n");
        out.push_str(&failures(set.load_failures()));
    }
    out
}

fn rule_entry(r: &LoadedRule) -> String {
    let mut flags = Vec::new();
    if r.shadow {
        flags.push("shadow");
    }
    if r.trust.is_unsigned() {
        flags.push("UNSIGNED: development only");
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!("  [{}]", flags.join(", "))
    };
    format!(
        "{} {}{flags}\n  {}\n  from: {}  trust: {}  sha256: {}\n  wants: {}  granted: {}  sees: {}\n  limits: {} ms CPU, {} MiB memory\n\n",
        r.info.name,
        r.info.version,
        r.info.summary,
        r.origin,
        r.trust,
        &r.digest[..16],
        r.info.wants,
        r.grants,
        r.effective_grants(),
        r.limits.cpu_budget_ms,
        r.limits.memory_mib,
    )
}

/// The SNS subject and readable text for a finished run.
pub fn notice(run: &crate::pipeline::Run) -> (String, String) {
    use crate::pipeline::Status;
    let f = &run.incident.function_name;
    let subject = match (run.status, &run.change) {
        (Status::Repaired, Some(c)) => format!(
            "autorepair: {f} repaired, memory {} -> {} MB",
            c.previous_memory_mb, c.new_memory_mb
        ),
        (Status::RolledBack, Some(c)) => format!(
            "autorepair: {f} change rolled back to {} MB",
            c.previous_memory_mb
        ),
        (Status::DryRun, _) => format!("autorepair: {f} dry run, would change memory"),
        (status, _) => format!("autorepair: {f} {status}"),
    };
    (subject, run_story(run))
}

/// A run as a story for people: what fired, what each source said, what was
/// decided and done, and how it turned out.
pub fn run_story(run: &crate::pipeline::Run) -> String {
    let mut out = String::new();
    let i = &run.incident;
    let alias = i
        .qualifier
        .as_deref()
        .map(|q| format!(" (alias {q})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Incident {} on {}{alias}: alarm {} ({})",
        i.id, i.function_name, i.alarm_name, i.metric
    );
    if let Some(e) = &run.evidence {
        let _ = writeln!(
            out,
            "Evidence: {} MB configured, {} invocations, {} log lines, {} metric series",
            e.memory_mb, e.invocations, e.log_lines, e.metric_series
        );
        for note in &e.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    if !run.findings.is_empty() {
        out.push_str("Findings\n");
        for f in &run.findings {
            out.push_str(&finding_line(f));
        }
    }
    if !run.plugin_failures.is_empty() {
        out.push_str("Plugin failures\n");
        out.push_str(&failures(&run.plugin_failures));
    }
    if let Some(ai) = &run.ai {
        out.push_str(&ai_line(ai));
    }
    if let Some(d) = &run.decision {
        let _ = write!(out, "Decision (merge mode {}): ", run.mode);
        out.push_str(&decision(d));
    }
    if let Some(c) = &run.change {
        let via = match (&c.alias, &c.published_version) {
            (Some(a), Some(v)) => format!(" (published version {v}, alias {a} moved)"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "Change: memory {} MB → {} MB{via}",
            c.previous_memory_mb, c.new_memory_mb
        );
    }
    if let Some(v) = &run.verification {
        let _ = writeln!(out, "Verification: {}", v.verdict);
        for r in &v.reasons {
            let _ = writeln!(out, "  · {r}");
        }
    }
    if let Some(r) = &run.rollback {
        let how = if r.ok { "done" } else { "FAILED" };
        let _ = writeln!(out, "Rollback to {} MB: {how}", r.restored_memory_mb);
    }
    if let Some(f) = &run.failure {
        let _ = writeln!(out, "Failed at stage {}: {}", f.stage, f.message);
    }
    let _ = writeln!(
        out,
        "Outcome: {}{}",
        run.status,
        if run.dry_run { " (dry run)" } else { "" }
    );
    out
}

/// `autorepair rule test` for people: one block per evidence file.
pub fn rule_test(
    outcome: &crate::toolkit::check::Outcome,
    sees: crate::model::Grants,
    limits: crate::rules::Limits,
    expecting: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}  sees: {sees}  limits: {} ms CPU, {} MiB memory",
        outcome.rule, outcome.version, limits.cpu_budget_ms, limits.memory_mib
    );
    for case in &outcome.cases {
        let status = match &case.unmet {
            None => "",
            Some(u) if u.is_empty() => "  PASS",
            Some(_) => "  FAIL",
        };
        let what = match &case.failure {
            Some(_) => "failed".to_owned(),
            None => format!(
                "{} finding{}",
                case.findings.len(),
                if case.findings.len() == 1 { "" } else { "s" }
            ),
        };
        let fuel = case
            .report
            .fuel_used
            .map_or_else(String::new, |f| format!("  fuel {f}"));
        let _ = writeln!(
            out,
            "\n{}: {what}  {:.3} ms{fuel}  peak memory {:.1} MiB{status}",
            case.evidence,
            case.elapsed_us as f64 / 1000.0,
            case.report.peak_memory_bytes as f64 / f64::from(1u32 << 20),
        );
        if let Some(failure) = &case.failure {
            let _ = writeln!(out, "  {failure}");
        }
        for f in &case.findings {
            let _ = writeln!(
                out,
                "  {} ({:.2}) {} → {}",
                f.kind, f.confidence, f.summary, f.recommendation
            );
            for line in &f.evidence {
                let _ = writeln!(out, "    · {line}");
            }
        }
        for log in &case.report.logs {
            let _ = writeln!(out, "  log {}: {}", log.level, log.message);
        }
        for miss in case.unmet.iter().flatten() {
            let _ = writeln!(out, "  expected: {miss}");
        }
    }
    for name in &outcome.unused_expectations {
        let _ = writeln!(
            out,
            "\nFAIL: expectations name {name}, which is not among the evidence files"
        );
    }
    if expecting {
        let failed = outcome.cases.iter().filter(|c| !c.passed()).count()
            + outcome.unused_expectations.len();
        let _ = writeln!(
            out,
            "\n{} passed, {failed} failed",
            outcome.cases.len() - outcome.cases.iter().filter(|c| !c.passed()).count()
        );
    }
    out
}
