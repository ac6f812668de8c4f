//! `autorepair undo INCIDENT`: a person takes back what an incident changed,
//! under the same guards as the workflow's own rollback — the function's
//! lock, the revision the change left (nothing made since is overwritten),
//! an alias only if it still serves the version the incident published —
//! and the record says who did it and why.

use super::protocol::store::{load, stored_run};
use super::{Context, ProtocolError, Rollback, Run, Status};
use crate::model::Change;
use crate::ports::Claim;

/// Who undoes, and why.
#[derive(Debug, Clone)]
pub struct Undo {
    /// Their AWS identity (and the name they gave).
    pub by: String,
    pub reason: Option<String>,
}

/// Puts the function back as it was before `incident` changed it (before
/// its first step, when it took several), records it as rolled back by
/// `undo.by`, and notifies. Never paused (`autorepair pause` stops changes,
/// not their undoing). Refused — nothing touched — while the incident's
/// workflow is still under way, when it changed nothing or was rolled back
/// already, and when the function changed since.
pub async fn undo(ctx: &Context, incident: &str, undo: &Undo) -> Result<Run, ProtocolError> {
    let refused = |reason: String| ProtocolError::Refused {
        incident: incident.to_owned(),
        reason,
    };
    let (mut run, stored) = load(&*ctx.audit, incident).await?;
    if !run.status.is_terminal() {
        return Err(refused(format!(
            "the incident is still under way ({}): its workflow verifies and rolls back itself; wait for it, or stop the execution first",
            run.status
        )));
    }
    let Some(latest) = run.change.clone() else {
        return Err(refused("the incident changed nothing".into()));
    };
    if run.rollback.as_ref().is_some_and(|r| r.ok) {
        return Err(refused("the change was rolled back already".into()));
    }
    let change = whole(&run, latest);
    let function = run.incident.function_key();
    // A member account's function is put back through its acting role.
    let scoped = ctx
        .for_incident(&run.incident, crate::ports::Access::Act)
        .await
        .map_err(refused)?;
    let ctx: &Context = &scoped;
    let holder = format!("undo:{incident}");
    let now = ctx.clock.now_ms();
    let ttl =
        i64::try_from(ctx.config.run.lock_ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    match ctx.audit.lock(&function, &holder, now, ttl).await? {
        Claim::Won => {}
        Claim::Taken => {
            return Err(refused(format!(
                "another incident is working on {function} right now: try again when it is done"
            )));
        }
    }
    let restored = ctx.repairer().restore(&change).await;
    if let Err(e) = ctx.audit.unlock(&function, &holder).await {
        tracing::warn!(error = %e, "could not release the lock (it expires by itself)");
    }
    // Moved, a precondition, or a failed call: nothing was put back.
    if let Err(e) = restored {
        return Err(refused(format!("not undone: {e}")));
    }
    run.rollback = Some(Rollback {
        restored_memory_mb: change.previous_memory_mb,
        ok: true,
        error: None,
    });
    run.status = Status::RolledBack;
    let why = undo
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let line = crate::text::clean(&format!(
        "undone by {} ({} MB → {} MB put back){why}",
        undo.by, change.new_memory_mb, change.previous_memory_mb
    ));
    if let Some(d) = run.decision.as_mut() {
        d.reasons.push(line);
    }
    run.finished_ms = Some(ctx.clock.now_ms());
    run.fit(super::MAX_DOCUMENT_BYTES);
    let write = |run: &Run, version: u64| {
        let document = super::approval::document(run);
        let status = run.status;
        async move {
            ctx.audit
                .update_at(incident, version, status, &document, ctx.clock.now_ms())
                .await
        }
    };
    if write(&run, stored.version).await? == Claim::Taken {
        // Written meanwhile (a retried record stage): the function is back
        // as it was, and the record must say so — on the record as it is now.
        let (_, now_stored) = load(&*ctx.audit, incident).await?;
        let mut theirs = stored_run(incident, &now_stored)?;
        theirs.rollback = run.rollback.clone();
        theirs.status = Status::RolledBack;
        theirs.decision = run.decision.clone();
        write(&theirs, now_stored.version).await?;
        run = theirs;
    }
    if let Some(notifier) = &ctx.notifier {
        let (subject, text) = crate::notify::notice(&run);
        let attributes = crate::model::NoticeAttributes {
            kind: "undo",
            ..crate::notify::attributes(&run, ctx.config.run.environment.as_deref())
        };
        if let Err(e) = notifier
            .publish(
                &subject,
                &text,
                &crate::notify::machine_record(&run),
                &attributes,
            )
            .await
        {
            tracing::error!(error = %e, "the undo's notice could not be sent");
        }
    }
    Ok(run)
}

/// The change that takes the function back to before the incident's first
/// step: the latest step's guard (its revision, its published version), the
/// first step's "before".
fn whole(run: &Run, latest: Change) -> Change {
    match run.steps.first() {
        None => latest,
        Some(first) => Change {
            previous_memory_mb: first.change.previous_memory_mb,
            previous_latest_memory_mb: first.change.previous_latest_memory_mb,
            previous_version: first.change.previous_version.clone(),
            ..latest
        },
    }
}
