//! The protocol's persistence: the run is loaded from the audit record and
//! committed on the version it was read at, so two writers never both win.

use super::{ProtocolError, StageReply};
use crate::model::Millis;
use crate::pipeline::{Run, json};
use crate::ports::{AuditStore, Claim, StoredRecord};
use crate::run::ApprovalState;
use crate::stage::Stage;

/// The incident's stored run; an incident never claimed is refused.
pub(in crate::pipeline) async fn load(
    audit: &dyn AuditStore,
    incident: &str,
) -> Result<(Run, StoredRecord), ProtocolError> {
    let stored = audit
        .get(incident)
        .await?
        .ok_or_else(|| ProtocolError::NeverClaimed(incident.to_owned()))?;
    Ok((stored_run(incident, &stored)?, stored))
}

/// The run a stored record holds.
pub(in crate::pipeline) fn stored_run(
    incident: &str,
    stored: &StoredRecord,
) -> Result<Run, ProtocolError> {
    serde_json::from_str(&stored.document).map_err(|e| ProtocolError::Unreadable {
        incident: incident.to_owned(),
        reason: e.to_string(),
    })
}

/// Saves the run `stage` produced on version `expected`.
pub(super) async fn save(
    audit: &dyn AuditStore,
    stage: Stage,
    run: &Run,
    expected: u64,
    now_ms: Millis,
) -> Result<Claim, ProtocolError> {
    Ok(audit
        .commit(
            &run.incident.id,
            stage,
            run.status,
            &json(run),
            expected,
            now_ms,
        )
        .await?)
}

/// Saves, and refuses when another stage committed that version first.
pub(super) async fn commit(
    audit: &dyn AuditStore,
    stage: Stage,
    run: &Run,
    expected: u64,
    now_ms: Millis,
) -> Result<StageReply, ProtocolError> {
    match save(audit, stage, run, expected, now_ms).await? {
        Claim::Won => Ok(StageReply::of(run, expected + 1, true)),
        Claim::Taken => Err(ProtocolError::Lost {
            incident: run.incident.id.clone(),
            stage,
            version: expected + 1,
        }),
    }
}

/// Keeps a retried wait's task token on the record: while the change waits,
/// and beside an answer that came first (its resume went to the old token),
/// so a repeated `autorepair approve` resumes the live wait. Written only on
/// the version read — an answer committed in between is never overwritten;
/// the write is tried again on the new version. The run as it stands, and
/// its version.
pub(super) async fn keep_token(
    audit: &dyn AuditStore,
    incident: &str,
    token: String,
    now_ms: Millis,
) -> Result<(Run, u64), ProtocolError> {
    for _ in 0..3 {
        let (mut run, stored) = load(audit, incident).await?;
        let waits_or_answered = matches!(
            stored.stages.last(),
            Some(Stage::AwaitApproval | Stage::Approve)
        );
        let Some(a) = run.approval.as_mut().filter(|a| {
            waits_or_answered
                && a.state != ApprovalState::Expired
                && a.token.as_deref() != Some(token.as_str())
        }) else {
            return Ok((run, stored.version));
        };
        a.token = Some(token.clone());
        let written = audit
            .update_at(incident, stored.version, run.status, &json(&run), now_ms)
            .await?;
        if written == Claim::Won {
            return Ok((run, stored.version));
        }
    }
    Err(ProtocolError::refused(
        incident,
        "the record kept moving while the wait's new token was stored",
    ))
}
