//! Stage 8 (notify): how an incident is told to people — one notice per
//! terminal state, sent through the [`Notifier`](crate::ports::Notifier) port
//! (SNS in production) — and the lines the CLI's stories share with it.

use std::fmt::Write;

use crate::decide::{Action, Decision};
use crate::model::RuleFailure;
use crate::run::{Run, Status};

/// SNS subjects: ASCII, no line breaks, at most 100 characters.
pub fn subject(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| match c {
            '→' => '>',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => ' ',
        })
        .collect();
    ascii.chars().take(100).collect()
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
pub fn finding_line(f: &crate::model::SourcedFinding) -> String {
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

pub fn failures(failures: &[RuleFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("  {:<24} {}\n", f.rule, f.cause))
        .collect()
}

/// SNS takes at most 256 KiB per message, and the message carries the text
/// twice (default, email) and the record three times (SQS, Lambda, HTTPS).
const SNS_MESSAGE_BYTES: usize = 256 * 1024;
/// The notice's text at most; a longer story is cut, and says so.
pub const MAX_NOTICE_TEXT_BYTES: usize = 32 * 1024;

/// A run's notice's attributes: its status and severity, the function, the
/// incident as the de-duplication key, the deployment's `environment`.
pub fn attributes(run: &Run, environment: Option<&str>) -> crate::model::NoticeAttributes {
    crate::model::NoticeAttributes {
        kind: "incident",
        status: run.status.to_string(),
        severity: run.status.severity(),
        function: Some(run.incident.function_name.clone()),
        dedup_key: Some(run.incident.id.clone()),
        stack: environment.map(str::to_owned),
    }
}

/// The SNS message for a notice: the readable text for people (default,
/// e-mail), the record for machines (SQS, Lambda). With a text from [`cut`]
/// and a record from [`machine_record`] it always fits SNS's limit.
///
/// HTTPS subscribers get the record, or with [`HttpsNotices::Chatbot`] the
/// card of [`chatbot_card`] (AWS Chatbot — Amazon Q Developer in chat
/// applications — subscribes over HTTPS): `https` is what they get.
pub fn sns_message(readable: &str, record_json: &str, https: &str) -> String {
    serde_json::json!({
        "default": readable,
        "email": readable,
        "sqs": record_json,
        "lambda": record_json,
        "https": https,
    })
    .to_string()
}

/// What HTTPS subscribers of the notice topic get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpsNotices {
    /// The run's JSON record, as SQS and Lambda subscribers get it.
    #[default]
    Record,
    /// An AWS Chatbot custom notification: a card for a Slack, Teams or
    /// Chime channel, with the commands to run next.
    Chatbot,
}

/// The most of a notice's text a chat card shows (chat messages are short;
/// the whole story is in the e-mail and the audit record).
const CARD_TEXT_CHARS: usize = 3000;

/// The commands a person runs next on a notice: answer a pending change,
/// take a repair back, look at the function's incidents or the fleet's
/// recommendations. Each names the deployment's environment.
pub fn next_steps(attributes: &crate::model::NoticeAttributes) -> Vec<String> {
    let stack = attributes.stack.as_deref();
    let cli = match stack.map(str::trim) {
        Some(env) if !env.is_empty() => {
            format!("autorepair --environment {}", crate::text::clean(env))
        }
        _ => "autorepair".to_owned(),
    };
    let id = attributes.dedup_key.as_deref().map(crate::text::clean);
    let mut steps = Vec::new();
    match (attributes.kind, attributes.status.as_str(), &id) {
        ("approval", "pending", Some(id)) => {
            let (approve, reject) = crate::pipeline::approval::answer_commands(id, stack);
            steps.push(approve);
            steps.push(reject);
        }
        ("incident", "repaired", Some(id)) => steps.push(format!("{cli} undo {id}")),
        ("sweep" | "downsizing", _, _) => steps.push(format!("{cli} recommendations")),
        _ => {}
    }
    if let Some(function) = attributes.function.as_deref() {
        steps.push(format!(
            "{cli} incidents --since 24h --function {}",
            crate::text::clean(function)
        ));
    }
    steps
}

/// An AWS Chatbot custom notification (schema version 1.0, `source:
/// custom`): the subject as title, the notice's text (cut for chat) as a
/// code block, the commands to run next, one thread per incident.
pub fn chatbot_card(
    subject_text: &str,
    readable: &str,
    attributes: &crate::model::NoticeAttributes,
) -> String {
    let mut text: String = readable.chars().take(CARD_TEXT_CHARS).collect();
    if text.len() < readable.len() {
        text.push_str("\n… the rest is in the e-mail notice and the audit record");
    }
    // A code block keeps the story's columns; nothing inside may close it.
    let description = format!("```\n{}\n```", text.trim_end().replace("```", "` ` `"));
    let mut keywords = vec![attributes.status.clone(), attributes.severity.to_string()];
    keywords.extend(attributes.function.clone());
    let context: serde_json::Map<String, serde_json::Value> = attributes
        .pairs()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.into()))
        .collect();
    serde_json::json!({
        "version": "1.0",
        "source": "custom",
        "id": attributes.dedup_key,
        "content": {
            "textType": "client-markdown",
            "title": subject(subject_text),
            "description": description,
            "nextSteps": next_steps(attributes),
            "keywords": keywords,
        },
        "metadata": {
            "threadId": attributes.dedup_key,
            "summary": subject(subject_text),
            "eventType": attributes.kind,
            "relatedResources": attributes.function.iter().collect::<Vec<_>>(),
            "additionalContext": context,
        },
    })
    .to_string()
}

/// `text` cut to [`MAX_NOTICE_TEXT_BYTES`] (on a character boundary), saying
/// where the rest is when it was cut.
pub fn cut(mut text: String, incident: &str) -> String {
    if text.len() > MAX_NOTICE_TEXT_BYTES {
        let mut end = MAX_NOTICE_TEXT_BYTES - 200;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(&format!(
            "\n… cut here: the rest of the story is in the audit record of incident {incident}\n"
        ));
    }
    text
}

/// The most of the decision's reasons an elided record carries, each cut to
/// [`MAX_ELIDED_REASON_CHARS`]: a reason per finding of every rule would
/// otherwise push the message past SNS's limit.
const MAX_ELIDED_REASONS: usize = 40;
const MAX_ELIDED_REASON_CHARS: usize = 300;

/// The record machine subscribers get: the whole run when the message still
/// fits SNS's limit with it, else its outcome (incident, status, decision —
/// its reasons bounded —, change, verification, rollback, failure) and where
/// the whole run is.
pub fn machine_record(run: &Run) -> String {
    // The approval's task token answers the workflow: never in a notice.
    let mut run = std::borrow::Cow::Borrowed(run);
    if run.approval.as_ref().is_some_and(|a| a.token.is_some())
        && let Some(a) = run.to_mut().approval.as_mut()
    {
        a.token = None;
    }
    let run = run.as_ref();
    let full = serde_json::to_string(run).unwrap_or_default();
    // Escaping can double the text in JSON; two copies of it, three of the record.
    if 3 * full.len() + 4 * MAX_NOTICE_TEXT_BYTES + 4096 <= SNS_MESSAGE_BYTES {
        return full;
    }
    let decision = run.decision.clone().map(|mut d| {
        let all = d.reasons.len();
        d.reasons.truncate(MAX_ELIDED_REASONS);
        for r in &mut d.reasons {
            if r.chars().count() > MAX_ELIDED_REASON_CHARS {
                *r = r
                    .chars()
                    .take(MAX_ELIDED_REASON_CHARS - 1)
                    .collect::<String>()
                    + "…";
            }
        }
        if all > MAX_ELIDED_REASONS {
            d.reasons.push(format!(
                "… {} more reasons in the audit record",
                all - MAX_ELIDED_REASONS
            ));
        }
        d
    });
    let failure = run.failure.clone().map(|mut f| {
        if f.message.chars().count() > MAX_ELIDED_REASON_CHARS {
            f.message = f.message.chars().take(MAX_ELIDED_REASON_CHARS).collect();
        }
        f
    });
    serde_json::json!({
        "incident": run.incident,
        "status": run.status,
        "dry_run": run.dry_run,
        "mode": run.mode,
        "decision": decision,
        "steps": run.steps.iter().map(|s| &s.change).collect::<Vec<_>>(),
        "change": run.change,
        "verification": run.verification,
        "rollback": run.rollback,
        "failure": failure,
        "started_ms": run.started_ms,
        "finished_ms": run.finished_ms,
        "record_elided": format!(
            "the run document ({} bytes) is too large for a notice: read it from the audit table (incident {})",
            full.len(),
            run.incident.id
        ),
    })
    .to_string()
}

/// The SNS subject and readable text for a finished run.
pub fn notice(run: &Run) -> (String, String) {
    let f = &run.incident.function_name;
    let subject = match (run.status, &run.change) {
        (Status::Repaired, Some(c)) => format!(
            "autorepair: {f} repaired, memory {} -> {} MB",
            run.steps
                .first()
                .map_or(c.previous_memory_mb, |s| s.change.previous_memory_mb),
            c.new_memory_mb
        ),
        (Status::RolledBack, Some(c)) => format!(
            "autorepair: {f} change rolled back to {} MB",
            c.previous_memory_mb
        ),
        (Status::DryRun, _) => format!("autorepair: {f} dry run, would change memory"),
        (status, _) => format!("autorepair: {f} {status}"),
    };
    (subject, cut(run_story(run), &run.incident.id))
}

/// The newest change before the alarm, as on-call asks first: "code
/// deployed 12 min before the alarm by deploy-bot".
pub fn recent_change(changes: &[crate::model::FunctionChange], alarm_ms: i64) -> Option<String> {
    let newest = changes.iter().max_by_key(|c| c.at_ms)?;
    let what = if newest.is_deployment() {
        "Code deployed"
    } else {
        "Configuration changed"
    };
    let by = if newest.by.is_empty() {
        String::new()
    } else {
        format!(
            " by {}",
            crate::text::clean(&newest.by.chars().take(128).collect::<String>())
        )
    };
    Some(format!(
        "{what} {} min before the alarm ({}{by}); {} change(s) in the day before",
        (alarm_ms - newest.at_ms).max(0) / 60_000,
        newest.action,
        changes.len()
    ))
}

/// A run as a story for people: what fired, what each source said, what was
/// decided and done, and how it turned out.
pub fn run_story(run: &Run) -> String {
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
        if let Some(line) = recent_change(&e.recent_changes, i.timestamp_ms) {
            let _ = writeln!(out, "{line}");
        }
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
    for (n, step) in run.steps.iter().enumerate() {
        let (c, v) = (&step.change, &step.verification);
        let _ = writeln!(
            out,
            "Step {}: memory {} MB → {} MB, {}: {} invocations still out of memory at {} MB",
            n + 1,
            c.previous_memory_mb,
            c.new_memory_mb,
            v.verdict,
            v.after.out_of_memory,
            c.new_memory_mb
        );
    }
    if let Some(c) = &run.change {
        let label = if run.steps.is_empty() {
            "Change".to_owned()
        } else {
            format!("Step {}", run.steps.len() + 1)
        };
        let via = match (&c.alias, &c.published_version) {
            (Some(a), Some(v)) => format!(" (published version {v}, alias {a} moved)"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{label}: memory {} MB → {} MB{via}",
            c.previous_memory_mb, c.new_memory_mb
        );
    }
    if let Some(a) = &run.approval {
        let by =
            a.by.as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default();
        let why = a
            .reason
            .as_deref()
            .map(|r| format!(": {}", crate::text::clean(r)))
            .unwrap_or_default();
        let _ = writeln!(out, "Approval: {}{by}{why}", a.state);
    }
    if let Some(source) = &run.source_change
        && matches!(
            run.status,
            Status::Repaired | Status::Inconclusive | Status::Escalated | Status::Started
        )
        && run.rollback.is_none()
    {
        let _ = writeln!(
            out,
            "In source: {source} — the next deploy undoes the change otherwise"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(summary_bytes: usize, findings: usize) -> Run {
        let event = crate::testing::alarm_event("a", "orders", None, "ALARM", 1_767_225_600_000);
        let incident = crate::incident::parse_value(&event).unwrap();
        let mut run = Run::new(incident, Default::default(), false, 0);
        run.findings = (0..findings)
            .map(|i| crate::model::SourcedFinding {
                source: crate::model::Source::Rule(format!("r{i}")),
                shadow: false,
                finding: crate::model::Finding {
                    kind: crate::model::FindingKind::Other,
                    confidence: 0.5,
                    summary: "y".repeat(summary_bytes),
                    evidence: Vec::new(),
                    recommendation: crate::model::Recommendation::Keep,
                },
            })
            .collect();
        run
    }

    #[test]
    fn a_notice_always_fits_an_sns_message() {
        for (bytes, findings) in [(10, 2), (1000, 90), (10, 600)] {
            let run = run(bytes, findings);
            let (_, text) = notice(&run);
            let machine = machine_record(&run);
            let message = sns_message(&text, &machine, &machine);
            assert!(
                message.len() <= SNS_MESSAGE_BYTES,
                "{} bytes",
                message.len()
            );
            assert!(text.len() <= MAX_NOTICE_TEXT_BYTES);
        }
        // Small runs go out whole; large ones as their outcome, saying where the rest is.
        assert!(!machine_record(&run(10, 2)).contains("record_elided"));
        assert!(machine_record(&run(1000, 90)).contains("record_elided"));
        assert!(notice(&run(10, 600)).1.contains("cut here"));
    }

    /// The worst a run can carry: `rules` rules each at their output budget
    /// (16 findings of 300-character summaries and 8 evidence lines), a
    /// reason per finding and one of `reason_chars`, a failure of
    /// `failure_chars`, an alarm name of 255 characters with newlines.
    fn verbose(rules: usize, reason_chars: usize, failure_chars: usize, alarm: &str) -> Run {
        let event = crate::testing::alarm_event(alarm, "orders", None, "ALARM", 1_767_225_600_000);
        let incident = crate::incident::parse_value(&event).unwrap();
        let mut run = Run::new(incident, Default::default(), false, 0);
        for rule in 0..rules {
            for i in 0..16 {
                run.findings.push(crate::model::SourcedFinding {
                    source: crate::model::Source::Rule(format!("third-party-{rule}")),
                    shadow: false,
                    finding: crate::model::Finding {
                        kind: crate::model::FindingKind::MemoryPressure,
                        confidence: 0.5,
                        summary: format!("{i} {}", "s".repeat(296)),
                        evidence: vec!["e".repeat(300); 8],
                        recommendation: crate::model::Recommendation::Escalate {
                            reason: "r".repeat(300),
                        },
                    },
                });
            }
        }
        // As the decision step words them: one per finding, with its
        // recommendation.
        let mut reasons: Vec<String> = run
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{}: {} ({:.2}) {} → {}",
                    f.source,
                    f.finding.kind,
                    f.finding.confidence,
                    f.finding.summary,
                    f.finding.recommendation
                )
            })
            .collect();
        reasons.push("x".repeat(reason_chars));
        run.decision = Some(Decision {
            action: Action::Escalate,
            current_memory_mb: 512,
            target_memory_mb: None,
            reasons,
        });
        run.failure = Some(crate::run::StageFailure {
            stage: crate::stage::Stage::Execute,
            message: "f".repeat(failure_chars),
        });
        run.status = Status::Escalated;
        run
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Every notice fits one SNS message (256 KiB), every record one
        /// DynamoDB item (400 KB), every subject SNS's 100 characters —
        /// whatever the rules, the reasons and the alarm say.
        #[test]
        fn every_notice_and_record_fits_whatever_the_rules_say(
            rules in 0usize..=5,
            reason_chars in 0usize..=10_000,
            failure_chars in 0usize..=10_000,
            alarm in "[a-z\n]{1,255}",
        ) {
            let mut run = verbose(rules, reason_chars, failure_chars, &alarm);
            run.fit(crate::run::MAX_DOCUMENT_BYTES);
            let (subject, text) = notice(&run);
            let record = machine_record(&run);
            let message = sns_message(&text, &record, &record);
            proptest::prop_assert!(message.len() <= SNS_MESSAGE_BYTES, "{} bytes", message.len());
            // With the chat card for HTTPS instead of the record, too.
            let card = chatbot_card(&subject, &text, &attributes(&run, Some("production-eu")));
            let message = sns_message(&text, &record, &card);
            proptest::prop_assert!(message.len() <= SNS_MESSAGE_BYTES, "{} bytes", message.len());
            proptest::prop_assert!(subject.chars().count() <= 100 && !subject.contains('\n'));
            proptest::prop_assert!(serde_json::to_string(&run).unwrap().len() <= 400_000);
            let (_, ask) = crate::pipeline::approval::request_notice(&run, 0, Some("production-eu"));
            proptest::prop_assert!(ask.len() <= MAX_NOTICE_TEXT_BYTES);
            let asked = sns_message(&ask, &record, &record);
            proptest::prop_assert!(asked.len() <= SNS_MESSAGE_BYTES);
            // What a stage hands Step Functions: a reference, whatever the
            // run holds — far inside a state's 256 KiB.
            let reply = crate::pipeline::StageReply::of(&run, u64::MAX, true);
            proptest::prop_assert!(serde_json::to_string(&reply).unwrap().len() <= 1_024);
        }
    }

    /// The chat card is AWS Chatbot's custom notification (version 1.0,
    /// source custom, a title, a description) with the commands to run next,
    /// one thread per incident, and the story in a block nothing closes.
    #[test]
    fn the_chatbot_card_carries_the_story_and_the_next_commands() {
        let mut run = verbose(1, 10, 10, "orders-errors");
        run.incident.function_name = "orders".into();
        run.incident.id = "inc-1".into();
        run.status = Status::Repaired;
        let (subject, text) = notice(&run);
        let text = format!("{text}```\nnot a fence\n{}", "x".repeat(10_000));
        let card: serde_json::Value = serde_json::from_str(&chatbot_card(
            &subject,
            &text,
            &attributes(&run, Some("prod")),
        ))
        .unwrap();
        assert_eq!(card["version"], "1.0");
        assert_eq!(card["source"], "custom");
        assert_eq!(card["content"]["textType"], "client-markdown");
        assert_eq!(card["content"]["title"], subject.as_str());
        assert_eq!(card["metadata"]["threadId"], "inc-1");
        assert_eq!(card["metadata"]["relatedResources"][0], "orders");
        assert_eq!(card["metadata"]["additionalContext"]["status"], "repaired");
        let description = card["content"]["description"].as_str().unwrap();
        assert!(description.starts_with("```\n") && description.ends_with("\n```"));
        assert_eq!(description.matches("```").count(), 2, "{description}");
        assert!(description.contains("the rest is in the e-mail notice"));
        assert!(description.chars().count() < CARD_TEXT_CHARS + 200);
        assert_eq!(
            card["content"]["nextSteps"],
            serde_json::json!([
                "autorepair --environment prod undo inc-1",
                "autorepair --environment prod incidents --since 24h --function orders"
            ])
        );

        // HTTPS subscribers (AWS Chatbot's) get the card, nobody else.
        let card_text = chatbot_card(&subject, &text, &attributes(&run, Some("prod")));
        let message: serde_json::Value =
            serde_json::from_str(&sns_message("text", "{}", &card_text)).unwrap();
        assert_eq!(message["https"], card_text.as_str());
        assert_eq!(
            (message["email"].as_str(), message["sqs"].as_str()),
            (Some("text"), Some("{}"))
        );

        // A pending change: the two answers first.
        let pending = crate::model::NoticeAttributes {
            kind: "approval",
            status: "pending".into(),
            ..attributes(&run, Some("prod"))
        };
        let steps = next_steps(&pending);
        assert_eq!(steps[0], "autorepair --environment prod approve inc-1");
        assert!(steps[1].starts_with("autorepair --environment prod reject inc-1"));
        // No environment known: the bare command.
        assert_eq!(
            next_steps(&attributes(&run, None))[0],
            "autorepair undo inc-1"
        );
    }

    #[test]
    fn subjects_are_ascii_single_line_and_short() {
        let s = subject(&format!(
            "orders-api repaired 512 → 768 MB\n{}",
            "x".repeat(200)
        ));
        assert!(s.starts_with("orders-api repaired 512 > 768 MB "));
        assert!(s.is_ascii() && !s.contains('\n'));
        assert_eq!(s.chars().count(), 100);
    }
}
