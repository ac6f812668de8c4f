//! The report as a terminal table, GitHub-flavoured Markdown or JSON, and the
//! tables and headline every format (HTML too) shares.

use std::fmt::Write as _;

use super::Report;

use crate::dates::date_time;

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

fn agree(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "—",
    }
}

/// The tables every format shares, as rows of cells.
pub(super) struct Tables {
    pub(super) incidents: (Vec<&'static str>, Vec<Vec<String>>),
    pub(super) sources: (Vec<&'static str>, Vec<Vec<String>>),
}

pub(super) fn tables(report: &Report) -> Tables {
    let incidents = report
        .rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                date_time(r.at_ms),
                r.function.clone(),
                format!("{} MB", r.memory_mb),
                opt(r.rules),
                r.ai.map_or_else(|| r.ai_note.clone().unwrap_or_default(), |v| v.to_string()),
                agree(r.agree).to_owned(),
                match (r.applied_memory_mb, r.steps) {
                    (None, _) => "—".to_owned(),
                    (Some(m), Some(steps)) if steps > 1 => format!("{m} MB ({steps} steps)"),
                    (Some(m), _) => format!("{m} MB"),
                },
                r.verdict
                    .map_or_else(|| r.status.to_string(), |v| format!("{} ({v})", r.status)),
            ];
            if r.rules_correct.is_some() || r.ai_correct.is_some() {
                cells.push(format!(
                    "rules {} / ai {}",
                    agree(r.rules_correct),
                    agree(r.ai_correct)
                ));
            } else {
                cells.push("—".to_owned());
            }
            cells
        })
        .collect();
    let sources = report
        .sources
        .iter()
        .map(|s| {
            vec![
                if s.shadow {
                    format!("{} (shadow)", s.by)
                } else {
                    s.by.clone()
                },
                s.incidents.to_string(),
                s.matched_decision.to_string(),
                s.recommended_change.to_string(),
                s.applied.to_string(),
                s.improved.to_string(),
                s.rolled_back.to_string(),
                s.escalated.to_string(),
                s.mean_memory_delta_mb
                    .map_or_else(|| "—".to_owned(), |d| format!("{d:+.0} MB")),
                format!("{:+.2}", s.monthly_cost_delta_usd),
                if s.labelled > 0 {
                    format!("{}/{}", s.correct, s.labelled)
                } else {
                    "—".to_owned()
                },
            ]
        })
        .collect();
    Tables {
        incidents: (
            vec![
                "time (UTC)",
                "function",
                "memory",
                "rules",
                "ai",
                "agree",
                "applied",
                "outcome",
                "vs label",
            ],
            incidents,
        ),
        sources: (
            vec![
                "source",
                "incidents",
                "= decided",
                "change",
                "applied",
                "improved",
                "rolled back",
                "escalated",
                "mean Δ",
                "$/month Δ",
                "correct",
            ],
            sources,
        ),
    }
}

pub(super) fn headline(report: &Report) -> Vec<String> {
    let ai = &report.ai;
    let mut lines = Vec::new();
    if !report.unsigned_rules.is_empty() {
        lines.push(format!(
            "WARNING: unsigned rules ran (allow_unsigned, development only): {}",
            report
                .unsigned_rules
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    lines.extend([
        format!(
            "{} incidents; rules and AI both had a view on {}; agreement {}",
            report.incidents,
            report.compared,
            percent(report.agreement_rate)
        ),
        format!(
            "AI: asked {}, answered {}, discarded {}, failed {}; latency p50 {} ms, p95 {} ms; \
{} input + {} output tokens, ${:.4}",
            ai.asked,
            ai.answered,
            ai.discarded,
            ai.failed,
            opt(ai.latency_p50_ms),
            opt(ai.latency_p95_ms),
            ai.input_tokens,
            ai.output_tokens,
            ai.cost_usd
        ),
    ]);
    for (reason, n) in &ai.reasons {
        lines.push(format!("  AI {n}×: {reason}"));
    }
    let f = &report.figures;
    if f.changed > 0 {
        let seconds = |ms: Option<i64>| {
            ms.map_or("-".to_owned(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
        };
        lines.push(format!(
            "repairs: {} incidents changed memory in {} steps; repaired {} ({}), rolled back {} ({}), {} changes did not help",
            f.changed,
            f.steps,
            f.repaired,
            percent(f.repair_success),
            f.rolled_back,
            percent(f.rollback_rate),
            f.did_not_help
        ));
        lines.push(format!(
            "  alarm → change p50 {}, p95 {}; alarm → verdict p50 {}, p95 {}; the change itself p50 {} ms, p95 {} ms",
            seconds(f.alarm_to_change_p50_ms),
            seconds(f.alarm_to_change_p95_ms),
            seconds(f.alarm_to_verdict_p50_ms),
            seconds(f.alarm_to_verdict_p95_ms),
            opt(f.change_p50_ms),
            opt(f.change_p95_ms)
        ));
    }
    if report.plugin_failures.is_empty() {
        lines.push("plugin failures: none".to_owned());
    } else {
        let list: Vec<String> = report
            .plugin_failures
            .iter()
            .map(|(rule, n)| format!("{rule} {n}"))
            .collect();
        lines.push(format!("plugin failures: {}", list.join(", ")));
    }
    lines
}

/// A terminal table.
pub fn text(report: &Report) -> String {
    let t = tables(report);
    let mut out = String::new();
    for line in headline(report) {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    out.push_str(&grid(&t.sources.0, &t.sources.1));
    out.push('\n');
    out.push_str(&grid(&t.incidents.0, &t.incidents.1));
    if !report.not_in_source.is_empty() {
        // One line each: the change to make is the point, never cut short.
        out.push_str("\nChanges not yet in source (the next deploy undoes them)\n");
        for row in source_table(report).1 {
            let _ = writeln!(
                out,
                "  {}  {} (incident {}): {}",
                row[0], row[1], row[2], row[3]
            );
        }
    }
    out
}

/// The kept changes the source must take, one row a function.
pub(super) fn source_table(report: &Report) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let rows = report
        .not_in_source
        .iter()
        .map(|s| {
            vec![
                date_time(s.at_ms),
                s.function.clone(),
                s.incident.clone(),
                crate::text::clean(&s.change.to_string()),
            ]
        })
        .collect();
    (
        vec![
            "time (UTC)",
            "function",
            "incident",
            "change to make in source",
        ],
        rows,
    )
}

fn grid(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count().min(48));
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            let cell: String = cell.chars().take(48).collect();
            let pad = w.saturating_sub(cell.chars().count());
            let _ = write!(s, "{cell}{}  ", " ".repeat(pad));
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// GitHub-flavoured Markdown.
pub fn markdown(report: &Report) -> String {
    let t = tables(report);
    let mut out = String::from("# autorepair: AI against rules\n\n");
    for line in headline(report) {
        let _ = writeln!(out, "- {}", line.trim());
    }
    out.push_str("\n## By source and mode\n\n");
    out.push_str(&md_table(&t.sources.0, &t.sources.1));
    out.push_str("\n## Incidents\n\n");
    out.push_str(&md_table(&t.incidents.0, &t.incidents.1));
    if !report.not_in_source.is_empty() {
        out.push_str("\n## Changes not yet in source\n\n");
        let (header, rows) = source_table(report);
        out.push_str(&md_table(&header, &rows));
    }
    out
}

fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("| {} |\n", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// Pretty JSON, one document, ending in a newline.
pub fn json(report: &Report) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(report)? + "\n")
}
