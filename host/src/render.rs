//! Text renderings for people. JSON renderings are the serde forms of the same types.

use std::fmt::Write;

use crate::diagnosis::Diagnosis;
use crate::notify::{ai_line, decision, failures, finding_line};
use crate::rules::{LoadedRule, NativeCode, RuleSet};

/// A finished run's story (the notice's text) is told by [`crate::notify`].
pub use crate::notify::run_story;

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
        "{} {}{flags}\n  {}\n  from: {}  code: {}  trust: {}  sha256: {}\n  wants: {}  granted: {}  sees: {}{}\n  limits: {} ms CPU, {} MiB memory, {}\n\n",
        r.info.name,
        r.info.version,
        r.info.summary,
        r.origin,
        match r.native_code {
            NativeCode::Embedded => "precompiled into this binary",
            NativeCode::Cache => "from the artifact cache",
            NativeCode::Compiled => "compiled at load",
        },
        r.trust,
        &r.digest[..16],
        r.info.wants,
        r.grants,
        r.effective_grants(),
        if r.uses_statistics() {
            format!(", and the host's statistics over {}", r.grants)
        } else {
            String::new()
        },
        r.limits.cpu_budget_ms,
        r.limits.memory_mib,
        if r.keeps_instance() {
            "instance kept between calls (built in)"
        } else {
            "a fresh instance per call"
        },
    )
}

/// `autorepair rule test` for people: one block per evidence file.
pub fn rule_test(
    outcome: &crate::toolkit::rule_test::Outcome,
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
