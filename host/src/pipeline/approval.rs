//! Approval mode: a decided change waits for a person. The workflow pauses on
//! a task token ([`request`] keeps it on the record and tells the team how to
//! answer); `autorepair approve|reject` records the answer ([`answer`]) and
//! hands the token back; a timeout escalates ([`expire`]). Execute makes only
//! an approved change, and only the one approved. [`waiting`] lists what waits
//! (`autorepair approvals`).

use serde::Serialize;

use super::{Context, ProtocolError, Run, Status, escalate, json};
use crate::config::ApprovalConfig;
use crate::model::{FunctionInfo, Millis};
use crate::run::ApprovalState;

/// The value of the approval tag that asks for approval on one function.
pub const TAG_VALUE: &str = "required";

/// The approval tag's values that say "no approval" (any letter case).
const TAG_OFF: [&str; 4] = ["off", "none", "no", "false"];

/// Whether a change to `function` waits for a person. The tag fails closed:
/// besides `required`, any value that is not plainly "no" (`off`, `none`,
/// `no`, `false`, or empty) asks too — a misspelt `requierd` or a `yes` must
/// not let a production change through unasked.
pub fn required(config: &ApprovalConfig, function: &FunctionInfo) -> bool {
    config.required
        || (!config.tag.is_empty()
            && function.tags.get(&config.tag).is_some_and(|v| {
                let v = v.trim();
                !v.is_empty() && !TAG_OFF.iter().any(|off| v.eq_ignore_ascii_case(off))
            }))
}

/// The longest answer reason kept (`--reason`); the rest is dropped.
pub const MAX_REASON_CHARS: usize = 1_000;

/// How a person answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub approve: bool,
    /// The caller's AWS identity (its ARN), as STS named it: what
    /// `[approval] approvers` is matched against.
    pub identity: String,
    /// The name they gave, if any.
    pub name: Option<String>,
    pub reason: Option<String>,
}

impl Answer {
    /// Who answered, for people: the name they gave beside their identity.
    pub fn by(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({})", crate::text::clean(name), self.identity),
            None => self.identity.clone(),
        }
    }
}

/// What recording an answer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// The change is approved or rejected: the workflow may go on.
    Decided,
    /// An approval is recorded; more distinct approvers must approve
    /// before anything changes.
    Partial,
}

/// Keeps the workflow's task token on the record, holds the function's lock
/// until the approval's deadline, and asks the team.
pub async fn request(ctx: &Context, run: &mut Run, token: String) -> Result<(), ProtocolError> {
    let id = run.incident.id.clone();
    let Some(approval) = run.approval.as_mut() else {
        return Err(ProtocolError::refused(&id, "no change waits for approval"));
    };
    if approval.state != ApprovalState::Pending {
        return Err(ProtocolError::refused(
            &id,
            format!("the approval is {} already", approval.state),
        ));
    }
    approval.token = Some(token);
    let deadline = approval.deadline_ms;
    // The lock must outlast the wait, then the rest of the workflow.
    let now = ctx.clock.now_ms();
    let ttl = (deadline - now).max(0).saturating_add(
        ctx.config
            .run
            .lock_ttl_ms(ctx.config.policy.max_steps_per_incident),
    );
    match ctx
        .audit
        .lock(&run.incident.function_key(), &id, now, ttl)
        .await
    {
        Ok(crate::ports::Claim::Won) => {}
        // Another incident took the function since (our lock expired):
        // this one must not change it later.
        Ok(crate::ports::Claim::Taken) => {
            return Err(ProtocolError::refused(
                &id,
                format!(
                    "another incident holds {} now; nothing will be changed",
                    run.incident.function_name
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(notifier) = &ctx.notifier {
        let (subject, text) = request_notice(run, deadline, ctx.config.run.environment.as_deref());
        if let Err(e) = notifier
            .publish(
                &subject,
                &text,
                &crate::notify::machine_record(run),
                &crate::model::NoticeAttributes {
                    kind: "approval",
                    status: "pending".into(),
                    severity: crate::model::Severity::Warning,
                    ..crate::notify::attributes(run, ctx.config.run.environment.as_deref())
                },
            )
            .await
        {
            // Without the notice nobody knows to answer: the task fails
            // and the workflow records the failure (nothing changes).
            return Err(e.into());
        }
    }
    Ok(())
}

/// The two commands that answer incident `id`, with the deployment's
/// environment named so they run as written from any shell.
pub fn answer_commands(id: &str, environment: Option<&str>) -> (String, String) {
    let cli = match environment {
        Some(env) if !env.trim().is_empty() => {
            format!(
                "autorepair --environment {}",
                crate::text::clean(env.trim())
            )
        }
        _ => "autorepair".to_owned(),
    };
    (
        format!("{cli} approve {id}"),
        format!("{cli} reject {id} --reason \"...\""),
    )
}

/// The notice asking for an answer: what would change, and the two
/// commands (naming `environment`, the stack's, when known).
pub fn request_notice(
    run: &Run,
    deadline_ms: Millis,
    environment: Option<&str>,
) -> (String, String) {
    let f = &run.incident.function_name;
    let id = &run.incident.id;
    let change = run
        .decision
        .as_ref()
        .and_then(|d| d.target_memory_mb.map(|t| (d.current_memory_mb, t)));
    let what = change.map_or_else(
        || "a memory change".to_owned(),
        |(from, to)| format!("memory {from} MB -> {to} MB"),
    );
    let subject = crate::notify::subject(&format!("autorepair: approve {what} on {f}?"));
    let (approve, reject) = answer_commands(id, environment);
    let mut text = format!(
        "autorepair wants to change {f}: {what}. Nothing changes until a person answers.\n\n\
Approve:  {approve}\n\
Reject:   {reject}\n\n\
Unanswered by {} UTC, the incident is escalated and nothing changes.\n\n",
        crate::dates::date_time(deadline_ms)
    );
    text.push_str(&crate::notify::run_story(run));
    (subject, crate::notify::cut(text, id))
}

/// Records `answer` on a run waiting for one, as `policy` allows: only an
/// identity among its approvers answers, and a change is approved once
/// `min_approvals` distinct identities have approved it.
pub fn answer(
    run: &mut Run,
    answer: &Answer,
    now_ms: Millis,
    policy: &ApprovalConfig,
) -> Result<Answered, ProtocolError> {
    let id = run.incident.id.clone();
    if !policy.may_answer(&answer.identity) {
        return Err(ProtocolError::refused(
            &id,
            format!(
                "{} is not among [approval] approvers: the answer is refused",
                answer.identity
            ),
        ));
    }
    let Some(approval) = run.approval.as_mut() else {
        return Err(ProtocolError::refused(
            &id,
            "no change waiting for approval",
        ));
    };
    if approval.state != ApprovalState::Pending {
        return Err(ProtocolError::refused(
            &id,
            format!(
                "the approval is {} already{}",
                approval.state,
                approval
                    .by
                    .as_deref()
                    .map(|b| format!(" (by {b})"))
                    .unwrap_or_default()
            ),
        ));
    }
    if now_ms >= approval.deadline_ms {
        return Err(ProtocolError::refused(
            &id,
            format!(
                "the approval's deadline ({} UTC) has passed; the workflow escalates it",
                crate::dates::date_time(approval.deadline_ms)
            ),
        ));
    }
    if run.status != Status::Started {
        return Err(ProtocolError::refused(
            &id,
            format!("it is {} already", run.status),
        ));
    }
    let by = answer.by();
    if answer.approve {
        if approval
            .approvals
            .iter()
            .any(|a| a.identity == answer.identity)
        {
            return Err(ProtocolError::refused(
                &id,
                format!(
                    "{} approved it already: another approver must ({} of {} so far)",
                    answer.identity,
                    approval.approvals.len(),
                    policy.min_approvals
                ),
            ));
        }
        approval.approvals.push(crate::run::ApprovalGiven {
            identity: answer.identity.clone(),
            by: by.clone(),
            at_ms: now_ms,
        });
    }
    approval.by = Some(by.clone());
    // One clean line of bounded length: it goes into the record and notices.
    approval.reason = answer.reason.as_deref().map(|r| {
        crate::text::clean(r)
            .chars()
            .take(MAX_REASON_CHARS)
            .collect()
    });
    approval.answered_ms = Some(now_ms);
    if answer.approve {
        let given = u32::try_from(approval.approvals.len()).unwrap_or(u32::MAX);
        if given < policy.min_approvals {
            return Ok(Answered::Partial);
        }
        approval.state = ApprovalState::Approved;
    } else {
        approval.state = ApprovalState::Rejected;
        run.status = Status::Rejected;
        if let Some(d) = run.decision.as_mut() {
            d.reasons.push(format!(
                "rejected by {}{}",
                by,
                answer
                    .reason
                    .as_deref()
                    .map(|r| format!(": {}", crate::text::clean(r)))
                    .unwrap_or_default()
            ));
        }
    }
    Ok(Answered::Decided)
}

/// Whether the approval on record gives the change authority, as the host's
/// own `policy` reads it when the workflow resumes (the CLI that recorded
/// it may have run with another configuration): approved, by at least
/// `min_approvals` distinct identities among the approvers.
pub fn authorised(run: &Run, policy: &ApprovalConfig) -> Result<(), String> {
    let Some(a) = &run.approval else {
        return Ok(());
    };
    if a.state != ApprovalState::Approved {
        return Err(format!("the approval is {}", a.state));
    }
    let mut approvers: Vec<&str> = a
        .approvals
        .iter()
        .map(|g| g.identity.as_str())
        .filter(|i| policy.may_answer(i))
        .collect();
    approvers.sort_unstable();
    approvers.dedup();
    let given = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
    if given < policy.min_approvals.max(1) {
        return Err(format!(
            "{given} of the {} approvals needed come from [approval] approvers",
            policy.min_approvals.max(1)
        ));
    }
    Ok(())
}

/// A digest of the answers on record: the answering CLI hands it to the
/// workflow (the waiting task's output) and execute compares it with the
/// record, so an answer edited into the table without resuming the
/// workflow, or a workflow resumed with another answer, changes nothing.
/// `none` without an approval.
pub fn seal(run: &Run) -> String {
    let Some(a) = &run.approval else {
        return "none".to_owned();
    };
    let answers: Vec<(&str, Millis)> = a
        .approvals
        .iter()
        .map(|g| (g.identity.as_str(), g.at_ms))
        .collect();
    let text = serde_json::json!([run.incident.id, a.state.to_string(), a.answered_ms, answers]);
    crate::digest::sha256_hex(text.to_string().as_bytes())[..32].to_owned()
}

/// The wait ended without the workflow being resumed: escalated, nothing
/// changes — whatever the record says (an answer written into the table
/// without resuming the workflow is no answer).
pub fn expire(run: &mut Run, now_ms: Millis, timeout_seconds: u32) {
    if run.status.is_terminal() {
        return;
    }
    if let Some(a) = run.approval.as_mut() {
        a.state = ApprovalState::Expired;
        a.answered_ms = Some(now_ms);
    }
    escalate(
        run,
        format!(
            "the workflow's wait for an answer ended after {timeout_seconds} s without being resumed: nothing was changed"
        ),
    );
}

/// A change waiting for a person's answer, as `autorepair approvals` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub incident: String,
    pub function: String,
    /// The member account and region, when not the host's own account's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub current_memory_mb: Option<u32>,
    pub target_memory_mb: Option<u32>,
    pub requested_ms: Millis,
    pub deadline_ms: Millis,
    /// The deadline has passed: an answer is refused, and the workflow's
    /// timeout escalates the incident.
    pub overdue: bool,
}

/// The changes waiting for an answer among the audit table's run documents,
/// soonest deadline first, and the count of documents that do not parse as
/// runs (another version's).
/// Only a run whose workflow waits on its task token is listed: before the
/// token is on record there is nothing an answer could resume.
pub fn waiting(documents: &[String], now_ms: Millis) -> (Vec<Waiting>, usize) {
    let (runs, skipped) = Run::from_documents(documents);
    let mut list: Vec<Waiting> = runs
        .into_iter()
        .filter_map(|run| {
            let a = run.approval.as_ref()?;
            let asks = a.state == ApprovalState::Pending
                && a.token.is_some()
                && run.status == Status::Started;
            asks.then(|| Waiting {
                incident: run.incident.id.clone(),
                // With its account and region when a member account's.
                function: run.incident.function_key(),
                account: run.incident.member.as_ref().map(|m| m.account.clone()),
                region: run.incident.member.as_ref().map(|m| m.region.clone()),
                current_memory_mb: run.decision.as_ref().map(|d| d.current_memory_mb),
                target_memory_mb: run.decision.as_ref().and_then(|d| d.target_memory_mb),
                requested_ms: a.requested_ms,
                deadline_ms: a.deadline_ms,
                overdue: now_ms >= a.deadline_ms,
            })
        })
        .collect();
    list.sort_by(|a, b| (a.deadline_ms, &a.incident).cmp(&(b.deadline_ms, &b.incident)));
    (list, skipped)
}

/// `waiting`'s list for people: one block per change, with both commands.
pub fn render_waiting(list: &[Waiting], environment: Option<&str>) -> String {
    if list.is_empty() {
        return "No change waits for approval.\n".to_owned();
    }
    let mut out = format!(
        "{} change{} wait{} for approval (soonest deadline first):\n",
        list.len(),
        if list.len() == 1 { "" } else { "s" },
        if list.len() == 1 { "s" } else { "" }
    );
    for w in list {
        let change = match (w.current_memory_mb, w.target_memory_mb) {
            (Some(from), Some(to)) => format!("memory {from} MB -> {to} MB"),
            _ => "a memory change".to_owned(),
        };
        let when = if w.overdue {
            format!(
                "deadline passed {} UTC: the workflow escalates it",
                crate::dates::date_time(w.deadline_ms)
            )
        } else {
            format!("answer by {} UTC", crate::dates::date_time(w.deadline_ms))
        };
        out.push_str(&format!(
            "\n{}  {}: {change}\n  asked {} UTC, {when}\n",
            w.incident,
            crate::text::clean(&w.function),
            crate::dates::date_time(w.requested_ms),
        ));
        if !w.overdue {
            let (approve, reject) = answer_commands(&w.incident, environment);
            out.push_str(&format!("  {approve}   |   {reject}\n"));
        }
    }
    out
}

/// The run document as committed (for the CLI's answer).
pub(super) fn document(run: &Run) -> String {
    json(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Action, Decision, MergeMode};
    use crate::incident::{AlarmState, Incident};
    use crate::run::Approval;

    const HOUR: Millis = 3_600_000;

    fn run(id: &str, state: ApprovalState, token: bool, deadline_ms: Millis) -> Run {
        let incident = Incident {
            id: id.into(),
            function_name: format!("fn-{id}"),
            qualifier: None,
            alarm_name: "autorepair-x".into(),
            alarm_arn: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:autorepair-x".into(),
            state: AlarmState::Alarm,
            reason: "Threshold Crossed".into(),
            metric: "Errors".into(),
            timestamp_ms: 0,
            region: None,
            member: None,
        };
        let mut run = Run::new(incident, MergeMode::Rules, false, 0);
        run.decision = Some(Decision {
            action: Action::SetMemory,
            current_memory_mb: 256,
            target_memory_mb: Some(384),
            reasons: Vec::new(),
        });
        run.approval = Some(Approval {
            state,
            requested_ms: deadline_ms - HOUR,
            deadline_ms,
            token: token.then(|| "token".to_owned()),
            by: None,
            reason: None,
            answered_ms: None,
            approvals: Vec::new(),
        });
        run
    }

    fn documents(runs: &[Run]) -> Vec<String> {
        runs.iter().map(json).collect()
    }

    #[test]
    fn only_runs_waiting_on_their_token_are_listed_soonest_first() {
        let now = 10 * HOUR;
        let mut rejected = run("rejected", ApprovalState::Rejected, true, now + HOUR);
        rejected.status = Status::Rejected;
        let mut docs = documents(&[
            run("later", ApprovalState::Pending, true, now + 3 * HOUR),
            run("sooner", ApprovalState::Pending, true, now + HOUR),
            run("no-token-yet", ApprovalState::Pending, false, now + HOUR),
            run("approved", ApprovalState::Approved, true, now + HOUR),
            run("expired", ApprovalState::Expired, true, now - HOUR),
            rejected,
        ]);
        docs.push(r#"{"pk":"lock#fn-a"}"#.to_owned());
        let (list, skipped) = waiting(&docs, now);
        let ids: Vec<&str> = list.iter().map(|w| w.incident.as_str()).collect();
        assert_eq!(ids, ["sooner", "later"]);
        assert_eq!(skipped, 1);
        assert_eq!(list[0].function, "fn-sooner");
        assert_eq!(
            (list[0].current_memory_mb, list[0].target_memory_mb),
            (Some(256), Some(384))
        );
        assert!(!list[0].overdue);
    }

    #[test]
    fn a_pending_run_past_its_deadline_is_listed_as_overdue_without_commands() {
        let now = 10 * HOUR;
        let docs = documents(&[run("late", ApprovalState::Pending, true, now - 1)]);
        let (list, _) = waiting(&docs, now);
        assert!(list[0].overdue);
        let text = render_waiting(&list, None);
        assert!(text.contains("deadline passed"), "{text}");
        assert!(!text.contains("autorepair approve"), "{text}");
    }

    #[test]
    fn the_approval_tag_fails_closed() {
        let config = ApprovalConfig::default();
        let asks = |value: &str| {
            let mut f = FunctionInfo::default();
            f.tags.insert(config.tag.clone(), value.to_owned());
            required(&config, &f)
        };
        for value in [
            "required",
            "REQUIRED",
            " required ",
            "yes",
            "true",
            "requierd",
        ] {
            assert!(asks(value), "{value:?} must ask for approval");
        }
        for value in ["off", "OFF", "none", "no", "false", "", "  "] {
            assert!(!asks(value), "{value:?} must not");
        }
        assert!(!required(&config, &FunctionInfo::default()));
        let everyone = ApprovalConfig {
            required: true,
            ..ApprovalConfig::default()
        };
        assert!(required(&everyone, &FunctionInfo::default()));
    }

    #[test]
    fn the_list_names_the_change_and_both_answers() {
        let now = 10 * HOUR;
        let docs = documents(&[run("inc-1", ApprovalState::Pending, true, now + HOUR)]);
        let text = render_waiting(&waiting(&docs, now).0, None);
        assert!(text.starts_with("1 change waits for approval"), "{text}");
        assert!(text.contains("fn-inc-1: memory 256 MB -> 384 MB"), "{text}");
        assert!(text.contains("autorepair approve inc-1"), "{text}");
        assert!(text.contains("autorepair reject inc-1 --reason"), "{text}");
        assert_eq!(render_waiting(&[], None), "No change waits for approval.\n");
        // Pointed at a deployment, the commands name it.
        let text = render_waiting(&waiting(&docs, now).0, Some("prod"));
        assert!(
            text.contains("autorepair --environment prod approve inc-1")
                && text.contains("autorepair --environment prod reject inc-1"),
            "{text}"
        );
        let pending = run("inc-1", ApprovalState::Pending, true, now + HOUR);
        let (_, asked) = request_notice(&pending, now + HOUR, Some("prod"));
        assert!(
            asked.contains("Approve:  autorepair --environment prod approve inc-1"),
            "{asked}"
        );
    }
}
