//! Approval mode: a decided change waits for a person. The workflow pauses on
//! a task token ([`request`] keeps it on the record and tells the team how to
//! answer); `autorepair approve|reject` records the answer ([`answer`]) and
//! hands the token back; a timeout escalates ([`expire`]). Execute makes only
//! an approved change, and only the one approved.

use super::{Context, Run, Status, escalate, json};
use crate::config::ApprovalConfig;
use crate::model::{FunctionInfo, Millis};
use crate::run::ApprovalState;

/// The value of the approval tag that asks for approval on one function.
pub const TAG_VALUE: &str = "required";

/// Whether a change to `function` waits for a person.
pub fn required(config: &ApprovalConfig, function: &FunctionInfo) -> bool {
    config.required
        || (!config.tag.is_empty()
            && function
                .tags
                .get(&config.tag)
                .is_some_and(|v| v.eq_ignore_ascii_case(TAG_VALUE)))
}

/// How a person answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub approve: bool,
    /// Who: the caller's AWS identity, and a name if they gave one.
    pub by: String,
    pub reason: Option<String>,
}

/// Keeps the workflow's task token on the record, holds the function's lock
/// until the approval's deadline, and asks the team.
pub async fn request(ctx: &Context, run: &mut Run, token: String) -> Result<(), String> {
    let id = run.incident.id.clone();
    let Some(approval) = run.approval.as_mut() else {
        return Err(format!("incident {id}: no change waits for approval"));
    };
    if approval.state != ApprovalState::Pending {
        return Err(format!(
            "incident {id}: the approval is {} already",
            approval.state
        ));
    }
    approval.token = Some(token);
    let deadline = approval.deadline_ms;
    // The lock must outlast the wait, then the rest of the workflow.
    let now = ctx.clock.now_ms();
    let ttl = (deadline - now)
        .max(0)
        .saturating_add(ctx.config.run.lock_ttl_ms());
    match ctx
        .audit
        .lock(&run.incident.function_name, &id, now, ttl)
        .await
    {
        Ok(crate::ports::Claim::Won) => {}
        // Another incident took the function since (our lock expired):
        // this one must not change it later.
        Ok(crate::ports::Claim::Taken) => {
            return Err(format!(
                "incident {id}: another incident holds {} now; nothing will be changed",
                run.incident.function_name
            ));
        }
        Err(e) => return Err(format!("the lock could not be extended for the wait: {e}")),
    }
    if let Some(notifier) = &ctx.notifier {
        let (subject, text) = request_notice(run, deadline);
        if let Err(e) = notifier
            .publish(&subject, &text, &crate::notify::machine_record(run))
            .await
        {
            // Without the notice nobody knows to answer: the task fails
            // and the workflow records the failure (nothing changes).
            return Err(format!("the approval request could not be sent: {e}"));
        }
    }
    Ok(())
}

/// The notice asking for an answer: what would change, and the two commands.
pub fn request_notice(run: &Run, deadline_ms: Millis) -> (String, String) {
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
    let mut text = format!(
        "autorepair wants to change {f}: {what}. Nothing changes until a person answers.\n\n\
Approve:  autorepair approve {id}\n\
Reject:   autorepair reject {id} --reason \"...\"\n\n\
Unanswered by {} UTC, the incident is escalated and nothing changes.\n\n",
        crate::model::date_time(deadline_ms)
    );
    text.push_str(&crate::notify::run_story(run));
    (subject, text)
}

/// Records `answer` on a run waiting for one.
pub fn answer(run: &mut Run, answer: &Answer, now_ms: Millis) -> Result<(), String> {
    let id = run.incident.id.clone();
    let Some(approval) = run.approval.as_mut() else {
        return Err(format!("incident {id} has no change waiting for approval"));
    };
    if approval.state != ApprovalState::Pending {
        return Err(format!(
            "incident {id}: the approval is {} already{}",
            approval.state,
            approval
                .by
                .as_deref()
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default()
        ));
    }
    if now_ms >= approval.deadline_ms {
        return Err(format!(
            "incident {id}: the approval's deadline ({} UTC) has passed; the workflow escalates it",
            crate::model::date_time(approval.deadline_ms)
        ));
    }
    if run.status != Status::Started {
        return Err(format!("incident {id} is {} already", run.status));
    }
    approval.by = Some(answer.by.clone());
    approval.reason = answer.reason.clone();
    approval.answered_ms = Some(now_ms);
    if answer.approve {
        approval.state = ApprovalState::Approved;
    } else {
        approval.state = ApprovalState::Rejected;
        run.status = Status::Rejected;
        if let Some(d) = run.decision.as_mut() {
            d.reasons.push(format!(
                "rejected by {}{}",
                answer.by,
                answer
                    .reason
                    .as_deref()
                    .map(|r| format!(": {}", crate::text::clean(r)))
                    .unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Nobody answered in time: escalated, nothing changes.
pub fn expire(run: &mut Run, now_ms: Millis, timeout_seconds: u32) {
    if let Some(a) = run.approval.as_mut()
        && a.state == ApprovalState::Pending
    {
        a.state = ApprovalState::Expired;
        a.answered_ms = Some(now_ms);
        escalate(
            run,
            format!(
                "nobody approved or rejected the change within {timeout_seconds} s: nothing was changed"
            ),
        );
    }
}

/// The run document as committed (for the CLI's answer).
pub(super) fn document(run: &Run) -> String {
    json(run)
}
