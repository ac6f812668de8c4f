//! `autorepair eval`: the AI against the rules on a labelled corpus, as the
//! table a team would publish — accuracy against the labels per merge mode
//! and per source, how often the AI agreed with the rules, the confusion
//! matrices, and what the AI cost (latency, tokens, dollars, tool calls) —
//! in Markdown and in one self-contained HTML page. Built from replay's
//! records, so it says exactly what `replay` would.

use std::fmt::Write as _;

use serde::Serialize;

use crate::comparison::Record;
use crate::decide::Action;
use crate::model::AiStatus;
use crate::replay::{ACTIONS, Confusion};

/// What the evaluation measured.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Who answered for the AI: provider, model, and the endpoint when one is
    /// configured (a stand-in or a gateway, named as such).
    pub model: String,
    pub incidents: usize,
    pub labelled: usize,
    /// Per merge mode and per source, against the labels.
    pub confusion: Vec<Confusion>,
    /// Labelled incidents where the AI's own action matched the rules' (of
    /// those where the AI gave one).
    pub agreement: Option<(usize, usize)>,
    pub ai: AiFigures,
}

/// What the AI side cost and how it ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AiFigures {
    pub answered: usize,
    pub discarded: usize,
    pub failed: usize,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    pub input_tokens_per_incident: f64,
    pub output_tokens_per_incident: f64,
    pub usd_per_incident: f64,
    pub tool_calls: usize,
    pub tool_calls_refused: usize,
}

const RULES: &str = "mode:rules";
const AI: &str = "source:ai";

/// The evaluation of `records` (replayed with the AI), answered by `model`.
pub fn evaluate(records: &[Record], model: &str) -> Evaluation {
    let confusion = crate::replay::confusion(records);
    let labelled = records.iter().filter(|r| r.label.is_some()).count();
    let action = |r: &Record, by: &str| -> Option<Action> {
        r.would_have.iter().find(|w| w.by == by).map(|w| w.action)
    };
    let compared: Vec<(Action, Action)> = records
        .iter()
        .filter(|r| r.label.is_some())
        .filter_map(|r| Some((action(r, RULES)?, action(r, AI)?)))
        .collect();
    let agreement = (!compared.is_empty()).then(|| {
        (
            compared.iter().filter(|(a, b)| a == b).count(),
            compared.len(),
        )
    });
    let runs: Vec<&crate::model::AiRun> = records.iter().filter_map(|r| r.ai.as_ref()).collect();
    let mut latencies: Vec<f64> = runs.iter().map(|a| a.latency_ms as f64).collect();
    latencies.sort_by(f64::total_cmp);
    let per = |total: f64| {
        if runs.is_empty() {
            0.0
        } else {
            total / runs.len() as f64
        }
    };
    let count = |s: AiStatus| runs.iter().filter(|a| a.status == s).count();
    let ai = AiFigures {
        answered: count(AiStatus::Answered),
        discarded: count(AiStatus::Discarded),
        failed: count(AiStatus::Failed),
        latency_p50_ms: crate::stats::percentile(&latencies, 50.0).unwrap_or(0.0) as u64,
        latency_p95_ms: crate::stats::percentile(&latencies, 95.0).unwrap_or(0.0) as u64,
        input_tokens_per_incident: per(runs.iter().map(|a| a.input_tokens as f64).sum()),
        output_tokens_per_incident: per(runs.iter().map(|a| a.output_tokens as f64).sum()),
        usd_per_incident: per(runs.iter().map(|a| a.cost_usd).sum()),
        tool_calls: runs.iter().map(|a| a.tool_calls.len()).sum(),
        tool_calls_refused: runs
            .iter()
            .flat_map(|a| &a.tool_calls)
            .filter(|c| c.outcome == "refused")
            .count(),
    };
    Evaluation {
        model: model.to_owned(),
        incidents: records.len(),
        labelled,
        confusion,
        agreement,
        ai,
    }
}

fn pct(n: usize, of: usize) -> String {
    if of == 0 {
        "–".into()
    } else {
        format!("{:.0}%", n as f64 * 100.0 / of as f64)
    }
}

/// The headline table: one row per mode and source.
fn accuracy_rows(e: &Evaluation) -> Vec<[String; 4]> {
    e.confusion
        .iter()
        .map(|c| {
            [
                c.by.clone(),
                format!("{}/{}", c.correct, c.labelled),
                pct(c.correct, c.labelled),
                c.out_of_range.to_string(),
            ]
        })
        .collect()
}

const ACCURACY_HEADER: [&str; 4] = [
    "mode or source",
    "right",
    "accuracy",
    "memory target outside the label's range",
];

fn ai_rows(e: &Evaluation) -> Vec<[String; 2]> {
    let a = &e.ai;
    vec![
        [
            "answered / discarded / failed".into(),
            format!("{} / {} / {}", a.answered, a.discarded, a.failed),
        ],
        [
            "agreement with the rules (labelled incidents)".into(),
            match e.agreement {
                Some((n, of)) => format!("{n}/{of} ({})", pct(n, of)),
                None => "– (the AI gave no action)".into(),
            },
        ],
        [
            "latency p50 / p95".into(),
            format!("{} ms / {} ms", a.latency_p50_ms, a.latency_p95_ms),
        ],
        [
            "tokens per incident (in / out)".into(),
            format!(
                "{:.0} / {:.0}",
                a.input_tokens_per_incident, a.output_tokens_per_incident
            ),
        ],
        [
            "cost per incident".into(),
            format!("${:.5}", a.usd_per_incident),
        ],
        [
            "tool calls (refused)".into(),
            format!("{} ({})", a.tool_calls, a.tool_calls_refused),
        ],
    ]
}

fn matrix_rows(c: &Confusion) -> Vec<[String; 4]> {
    ACTIONS
        .iter()
        .enumerate()
        .map(|(i, expected)| {
            [
                expected.to_string(),
                c.counts[i][0].to_string(),
                c.counts[i][1].to_string(),
                c.counts[i][2].to_string(),
            ]
        })
        .collect()
}

const MATRIX_HEADER: [&str; 4] = ["expected \\ decided", "set_memory", "none", "escalate"];

/// The evaluation in Markdown.
pub fn markdown(e: &Evaluation) -> String {
    let mut out = format!(
        "# AI against rules\n\nModel: {}. {} incidents, {} labelled.\n\n",
        e.model, e.incidents, e.labelled
    );
    md_table(&mut out, &ACCURACY_HEADER, &accuracy_rows(e));
    out.push_str("\n## The AI\n\n");
    md_table(&mut out, &["measure", "value"], &ai_rows(e));
    for c in &e.confusion {
        let _ = write!(out, "\n## Confusion: {}\n\n", c.by);
        md_table(&mut out, &MATRIX_HEADER, &matrix_rows(c));
    }
    out
}

fn md_table<const N: usize>(out: &mut String, header: &[&str; N], rows: &[[String; N]]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(N));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

/// The evaluation as one self-contained HTML page (tables only: every
/// figure readable without a chart, by people and by screen readers).
pub fn html(e: &Evaluation) -> String {
    use crate::report::escape_html as escape;
    let mut out = crate::report::page_head(
        "autorepair: AI against rules",
        "caption{font-weight:600;text-align:left;padding:.25rem 0}",
    );
    let _ = writeln!(
        out,
        "<p>Model: {}. {} incidents, {} labelled.</p>",
        escape(&e.model),
        e.incidents,
        e.labelled
    );
    html_table(
        &mut out,
        "Accuracy against the labels",
        &ACCURACY_HEADER,
        &accuracy_rows(e),
    );
    html_table(&mut out, "The AI", &["measure", "value"], &ai_rows(e));
    for c in &e.confusion {
        html_table(
            &mut out,
            &format!("Confusion: {}", c.by),
            &MATRIX_HEADER,
            &matrix_rows(c),
        );
    }
    out.push_str("</body></html>\n");
    out
}

fn html_table<const N: usize>(
    out: &mut String,
    caption: &str,
    header: &[&str; N],
    rows: &[[String; N]],
) {
    use crate::report::escape_html as escape;
    let _ = write!(
        out,
        "<table><caption>{}</caption><thead><tr>",
        escape(caption)
    );
    for h in header {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "<th scope=\"row\">{}</th>", escape(cell));
            } else {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}
