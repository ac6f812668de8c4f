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
        let shadow = if f.shadow { " (shadow)" } else { "" };
        let _ = writeln!(
            out,
            "  {:<24} {:<18} {:.2}  {}",
            format!("{}{shadow}", f.source),
            f.finding.kind.to_string(),
            f.finding.confidence,
            f.finding.recommendation
        );
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
        let shadow = if r.shadow { " (shadow)" } else { "" };
        let _ = writeln!(
            out,
            "  {:<24} {:>8.3} ms  {what}",
            format!("{} {}{shadow}", r.rule, r.version),
            r.elapsed_us as f64 / 1000.0
        );
    }

    let _ = write!(out, "\nDecision (merge mode {}): ", d.mode);
    out.push_str(&decision(&d.decision));
    out
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
    if r.unpinned {
        flags.push("UNPINNED: development only");
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!("  [{}]", flags.join(", "))
    };
    format!(
        "{} {}{flags}\n  {}\n  from: {}  sha256: {}\n  wants: {}  granted: {}  sees: {}\n  limits: {} ms CPU, {} MiB memory\n\n",
        r.info.name,
        r.info.version,
        r.info.summary,
        r.origin,
        &r.digest[..16],
        r.info.wants,
        r.grants,
        r.effective_grants(),
        r.limits.cpu_budget_ms,
        r.limits.memory_mib,
    )
}
