//! Stages 5 and 7: change the memory, and put it back.
//!
//! Every update sends the RevisionId read at collect time when the service gave
//! one (someone else's change since then is a 412, never overwritten), waits
//! until Lambda says the update is done, and retries a 409 (an update already in
//! progress) with backoff. With an alias, the version behind it is what serves
//! traffic: we publish a version from $LATEST with the new memory and move the
//! alias — only when $LATEST runs the same code as that version.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::aws::{Aws, describe};
use crate::evidence::FunctionState;
use crate::model::Millis;

/// A change made, with what it takes to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub function_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub previous_memory_mb: u32,
    pub new_memory_mb: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision_id: Option<String>,
    /// The revision our update produced: the guard for a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_revision_id: Option<String>,
    /// With an alias: the version it pointed at before, and the one we published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<String>,
    pub at_ms: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepairError {
    #[error("the function changed since it was read (revision mismatch)")]
    Precondition,
    #[error("another update kept the function busy after {0} attempts")]
    Conflict(u32),
    #[error(
        "alias {alias} serves version {version}, whose code differs from $LATEST: publishing would ship unreleased code"
    )]
    CodeMismatch { alias: String, version: String },
    #[error("the update failed: {0}")]
    UpdateFailed(String),
    #[error("function {0} no longer exists")]
    NotFound(String),
    #[error("{0}")]
    Aws(String),
}

/// 409 retries: attempts and the first backoff (doubled each time).
const CONFLICT_ATTEMPTS: u32 = 5;
const CONFLICT_BACKOFF: Duration = Duration::from_millis(200);
/// Waiting for LastUpdateStatus: polls and their interval.
const WAIT_POLLS: u32 = 60;
const WAIT_INTERVAL: Duration = Duration::from_millis(500);

/// Sets the memory of `state`'s function (or of its alias) to `target_mb`.
pub async fn set_memory(
    aws: &Aws,
    state: &FunctionState,
    target_mb: u32,
    now_ms: Millis,
) -> Result<Change, RepairError> {
    let mut change = Change {
        function_name: state.name.clone(),
        alias: state.alias.clone(),
        previous_memory_mb: state.memory_mb,
        new_memory_mb: target_mb,
        previous_revision_id: state.revision_id.clone(),
        new_revision_id: None,
        previous_version: None,
        published_version: None,
        at_ms: now_ms,
    };
    let Some(alias) = &state.alias else {
        change.new_revision_id =
            update_memory(aws, &state.name, target_mb, state.revision_id.clone()).await?;
        return Ok(change);
    };

    // The alias: same code in $LATEST as in the version it serves, or stop.
    let current = aws
        .lambda
        .get_alias()
        .function_name(&state.name)
        .name(alias)
        .send()
        .await
        .map_err(|e| read_error(&state.name, &e))?;
    let version = current.function_version().unwrap_or("$LATEST").to_owned();
    let latest = aws
        .lambda
        .get_function_configuration()
        .function_name(&state.name)
        .send()
        .await
        .map_err(|e| read_error(&state.name, &e))?;
    if latest.code_sha256().unwrap_or_default() != state.code_sha256 {
        return Err(RepairError::CodeMismatch {
            alias: alias.clone(),
            version,
        });
    }
    update_memory(
        aws,
        &state.name,
        target_mb,
        latest.revision_id().map(str::to_owned),
    )
    .await?;
    let published = aws
        .lambda
        .publish_version()
        .function_name(&state.name)
        // Publish only the code we checked.
        .code_sha256(&state.code_sha256)
        .send()
        .await
        .map_err(|e| RepairError::Aws(format!("publishing a version: {}", describe(&e))))?;
    let new_version = published.version().unwrap_or_default().to_owned();
    move_alias(aws, &state.name, alias, &new_version, current.revision_id()).await?;
    change.previous_version = Some(version);
    change.published_version = Some(new_version);
    Ok(change)
}

/// Undoes `change`: the memory (guarded by the revision our change produced),
/// and with an alias, the alias back to the version it served.
pub async fn restore(aws: &Aws, change: &Change) -> Result<Option<String>, RepairError> {
    if let (Some(alias), Some(previous)) = (&change.alias, &change.previous_version) {
        move_alias(aws, &change.function_name, alias, previous, None).await?;
    }
    update_memory(
        aws,
        &change.function_name,
        change.previous_memory_mb,
        change.new_revision_id.clone(),
    )
    .await
}

async fn move_alias(
    aws: &Aws,
    name: &str,
    alias: &str,
    version: &str,
    revision: Option<&str>,
) -> Result<(), RepairError> {
    aws.lambda
        .update_alias()
        .function_name(name)
        .name(alias)
        .function_version(version)
        .set_revision_id(revision.map(str::to_owned))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_precondition_failed_exception())
            {
                RepairError::Precondition
            } else {
                RepairError::Aws(format!("moving alias {alias}: {}", describe(&e)))
            }
        })
}

/// UpdateFunctionConfiguration(MemorySize) + wait; returns the new RevisionId.
async fn update_memory(
    aws: &Aws,
    name: &str,
    memory_mb: u32,
    revision: Option<String>,
) -> Result<Option<String>, RepairError> {
    let mut backoff = CONFLICT_BACKOFF;
    for attempt in 1..=CONFLICT_ATTEMPTS {
        let result = aws
            .lambda
            .update_function_configuration()
            .function_name(name)
            .memory_size(memory_mb as i32)
            .set_revision_id(revision.clone())
            .send()
            .await;
        match result {
            Ok(out) => {
                let revision = out.revision_id().map(str::to_owned);
                return wait_until_updated(aws, name).await.map(|r| r.or(revision));
            }
            Err(e) => {
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_resource_conflict_exception())
                    && attempt < CONFLICT_ATTEMPTS
                {
                    tracing::info!(attempt, "function busy with another update (409); retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
                return Err(
                    if service.is_some_and(|s| s.is_precondition_failed_exception()) {
                        RepairError::Precondition
                    } else if service.is_some_and(|s| s.is_resource_conflict_exception()) {
                        RepairError::Conflict(attempt)
                    } else if service.is_some_and(|s| s.is_resource_not_found_exception()) {
                        RepairError::NotFound(name.to_owned())
                    } else {
                        RepairError::Aws(format!("updating memory: {}", describe(&e)))
                    },
                );
            }
        }
    }
    Err(RepairError::Conflict(CONFLICT_ATTEMPTS))
}

/// Polls until LastUpdateStatus is Successful (or Failed).
async fn wait_until_updated(aws: &Aws, name: &str) -> Result<Option<String>, RepairError> {
    for _ in 0..WAIT_POLLS {
        let config = aws
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| read_error(name, &e))?;
        match config.last_update_status().map(|s| s.as_str()) {
            Some("Failed") => {
                return Err(RepairError::UpdateFailed(
                    config
                        .last_update_status_reason()
                        .unwrap_or("no reason given")
                        .to_owned(),
                ));
            }
            Some("InProgress") => tokio::time::sleep(WAIT_INTERVAL).await,
            _ => return Ok(config.revision_id().map(str::to_owned)),
        }
    }
    Err(RepairError::UpdateFailed(format!(
        "still in progress after {} s",
        (WAIT_INTERVAL * WAIT_POLLS).as_secs()
    )))
}

/// A failed read of function `name`: gone, or another AWS error.
fn read_error<E, R>(name: &str, error: &aws_sdk_lambda::error::SdkError<E, R>) -> RepairError
where
    E: std::error::Error + aws_sdk_lambda::error::ProvideErrorMetadata,
    R: std::fmt::Debug,
{
    if error.as_service_error().and_then(|s| s.code()) == Some("ResourceNotFoundException") {
        RepairError::NotFound(name.to_owned())
    } else {
        RepairError::Aws(describe(error))
    }
}
