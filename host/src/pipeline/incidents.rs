//! `autorepair incidents`: the running and recent incidents in the audit
//! table, each with where it stands — what an on-call engineer looks at
//! first.

use serde::Serialize;

use super::{Run, Status};
use crate::model::Millis;
use crate::run::ApprovalState;

/// One incident as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub incident: String,
    pub function: String,
    /// The member account and region, when the function is not the host's
    /// own account's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub alarm: String,
    /// When the alarm fired.
    pub alarm_ms: Millis,
    /// The run's status (`started` while under way).
    pub status: Status,
    /// Where it stands, in words: the stage under way, or how it ended.
    pub stage: String,
    /// The memory change made, `from -> to` MB, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// Still under way.
    pub running: bool,
}

/// The incidents among the audit table's run documents whose alarm fired at
/// or after `since_ms` (every running one whatever its age), of `function`
/// when given: running ones first, then newest first. Also the count of
/// documents that are not runs (another version's).
pub fn list(documents: &[String], since_ms: Millis, function: Option<&str>) -> (Vec<Line>, usize) {
    list_in(documents, since_ms, function, None)
}

/// [`list`], of one account's when `account` is given: `(account, the
/// host's own)` — a member's, or the host's own incidents when it is `home`.
pub fn list_in(
    documents: &[String],
    since_ms: Millis,
    function: Option<&str>,
    account: Option<(&str, Option<&str>)>,
) -> (Vec<Line>, usize) {
    let (runs, skipped) = Run::from_documents(documents);
    let mut lines: Vec<Line> = runs
        .into_iter()
        .filter(|run| account.is_none_or(|(a, home)| run.incident.in_account(a, home)))
        // A member account's function answers to its name and to its
        // account/region/name.
        .filter(|run| {
            function
                .is_none_or(|f| run.incident.function_name == f || run.incident.function_key() == f)
        })
        .filter(|run| !run.status.is_terminal() || run.incident.timestamp_ms >= since_ms)
        .map(|run| line(&run))
        .collect();
    lines.sort_by(|a, b| {
        (b.running, b.alarm_ms, &a.incident).cmp(&(a.running, a.alarm_ms, &b.incident))
    });
    (lines, skipped)
}

fn line(run: &Run) -> Line {
    let change = run
        .change
        .as_ref()
        .map(|c| format!("{} -> {} MB", c.previous_memory_mb, c.new_memory_mb));
    Line {
        incident: run.incident.id.clone(),
        // With its account and region when a member account's.
        function: run.incident.function_key(),
        account: run.incident.member.as_ref().map(|m| m.account.clone()),
        region: run.incident.member.as_ref().map(|m| m.region.clone()),
        alarm: run.incident.alarm_name.clone(),
        alarm_ms: run.incident.timestamp_ms,
        status: run.status,
        stage: stage(run),
        change,
        running: !run.status.is_terminal(),
    }
}

/// Where a run stands, read from what it holds.
fn stage(run: &Run) -> String {
    if run.status.is_terminal() {
        return match run.failure.as_ref() {
            Some(f) => format!("{} at {}", run.status, f.stage),
            None => run.status.to_string(),
        };
    }
    if run
        .approval
        .as_ref()
        .is_some_and(|a| a.state == ApprovalState::Pending)
    {
        return format!(
            "waiting for approval until {} UTC",
            crate::dates::date_time(run.approval.as_ref().map_or(0, |a| a.deadline_ms))
        );
    }
    match (&run.change, &run.verification, &run.decision) {
        (Some(_), Some(v), _) => format!("judged {}: keeping or rolling back", v.verdict),
        (Some(c), None, _) => format!(
            "changed at {} UTC, waiting to verify",
            crate::dates::date_time(c.at_ms)
        ),
        (None, _, Some(d)) => format!("decided {}: changing", d.action),
        (None, _, None) if run.evidence.is_some() || !run.findings.is_empty() => {
            "diagnosing: rules and AI".to_owned()
        }
        _ => "collecting evidence".to_owned(),
    }
}

/// The list for people: one line per incident.
pub fn render(lines: &[Line], since: &str) -> String {
    if lines.is_empty() {
        return format!("No incident running, and none in the last {since}.\n");
    }
    let running = lines.iter().filter(|l| l.running).count();
    let mut out = format!(
        "{running} running, {} ended in the last {since}:\n\n",
        lines.len() - running
    );
    let width = |f: fn(&Line) -> usize| lines.iter().map(f).max().unwrap_or(0);
    let (fw, iw) = (
        width(|l| l.function.chars().count()).max(8),
        width(|l| l.incident.chars().count()).max(8),
    );
    out.push_str(&format!(
        "{:<16}  {:<fw$}  {:<iw$}  STAGE\n",
        "ALARM (UTC)", "FUNCTION", "INCIDENT"
    ));
    for l in lines {
        let mut stage = l.stage.clone();
        if let Some(change) = &l.change {
            stage.push_str(&format!(" (memory {change})"));
        }
        out.push_str(&format!(
            "{:<16}  {:<fw$}  {:<iw$}  {}\n",
            crate::dates::date_time(l.alarm_ms),
            crate::text::clean(&l.function),
            l.incident,
            crate::text::clean(&stage),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::MergeMode;
    use crate::model::Change;

    const HOUR: Millis = 3_600_000;
    const T0: Millis = 1_767_225_600_000;

    fn run(id: &str, function: &str, at: Millis, status: Status) -> Run {
        let event =
            crate::testing::alarm_event(&format!("{id}-errors"), function, None, "ALARM", at);
        let mut incident = crate::incident::parse_value(&event).unwrap();
        incident.id = id.to_owned();
        let mut run = Run::new(incident, MergeMode::Rules, false, at);
        run.status = status;
        run
    }

    fn docs(runs: &[Run]) -> Vec<String> {
        runs.iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect()
    }

    #[test]
    fn running_incidents_come_first_whatever_their_age_then_the_newest() {
        let mut changed = run("b-changed", "orders", T0 - 30 * HOUR, Status::Started);
        changed.change = Some(Change {
            function_name: "orders".into(),
            alias: None,
            previous_memory_mb: 256,
            new_memory_mb: 384,
            previous_revision_id: None,
            new_revision_id: None,
            request_id: None,
            previous_version: None,
            published_version: None,
            previous_latest_memory_mb: None,
            at_ms: T0 - 30 * HOUR,
        });
        let documents = docs(&[
            run("a-old", "orders", T0 - 48 * HOUR, Status::Repaired),
            run("c-recent", "payments", T0 - HOUR, Status::Escalated),
            run("d-newest", "orders", T0 - 60_000, Status::RolledBack),
            changed,
        ]);
        let mut all = documents.clone();
        all.push("{\"not\": \"a run\"}".into());
        let (lines, skipped) = list(&all, T0 - 24 * HOUR, None);
        assert_eq!(skipped, 1);
        let ids: Vec<&str> = lines.iter().map(|l| l.incident.as_str()).collect();
        assert_eq!(ids, ["b-changed", "d-newest", "c-recent"]);
        assert!(lines[0].running);
        assert!(
            lines[0].stage.starts_with("changed at"),
            "{}",
            lines[0].stage
        );
        assert_eq!(lines[0].change.as_deref(), Some("256 -> 384 MB"));
        let (orders, _) = list(&documents, T0 - 24 * HOUR, Some("orders"));
        assert_eq!(orders.len(), 2);
        let text = render(&lines, "24h");
        assert!(
            text.starts_with("1 running, 2 ended in the last 24h"),
            "{text}"
        );
        assert!(text.contains("payments"), "{text}");
        assert!(text.contains("(memory 256 -> 384 MB)"), "{text}");
        assert_eq!(
            render(&[], "1h"),
            "No incident running, and none in the last 1h.\n"
        );
    }
}
