//! Stages 5 and 7: change the memory, and put it back.
//!
//! Every update sends the RevisionId read at collect time when the service gave
//! one (someone else's change since then is a 412, never overwritten), waits
//! until Lambda says the update is done, and retries a 409 (an update already in
//! progress) with backoff. With an alias, the version behind it is what serves
//! traffic: we publish a version from $LATEST with the new memory and move the
//! alias — only when $LATEST runs the same code as that version.

use std::time::Duration;

use crate::clock::Clock;
pub use crate::model::Change;
use crate::model::FunctionInfo;
use crate::ports::{FunctionStore, StoreError, UpdateState};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepairError {
    #[error("the function changed since it was read (revision mismatch)")]
    Precondition,
    #[error("another update kept the function busy after {0} attempts")]
    Conflict(u32),
    #[error(
        "alias {alias} serves version {version}, whose configuration differs from $LATEST (code, environment, layers, role, handler, VPC or another setting): publishing would ship unreleased code or settings"
    )]
    CodeMismatch { alias: String, version: String },
    /// Someone else moved what we changed since: nothing is overwritten.
    #[error("{0}")]
    Moved(String),
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

impl From<StoreError> for RepairError {
    fn from(e: StoreError) -> RepairError {
        match e {
            StoreError::NotFound(name) => RepairError::NotFound(name),
            StoreError::Precondition => RepairError::Precondition,
            StoreError::Busy => RepairError::Conflict(1),
            StoreError::Other(message) => RepairError::Aws(message),
        }
    }
}

/// What the execute and rollback stages change functions through.
#[derive(Clone, Copy)]
pub struct Repairer<'a> {
    pub functions: &'a dyn FunctionStore,
    pub clock: &'a dyn Clock,
}

impl Repairer<'_> {
    /// Sets the memory of `function` (or of its alias) to `target_mb`.
    pub async fn set_memory(
        &self,
        function: &FunctionInfo,
        target_mb: u32,
    ) -> Result<Change, RepairError> {
        let mut change = Change {
            function_name: function.name.clone(),
            alias: function.qualifier.clone(),
            previous_memory_mb: function.memory_mb,
            new_memory_mb: target_mb,
            previous_revision_id: function.revision_id.clone(),
            new_revision_id: None,
            request_id: None,
            previous_version: None,
            published_version: None,
            previous_latest_memory_mb: None,
            at_ms: self.clock.now_ms(),
        };
        let Some(alias) = &function.qualifier else {
            let updated = self
                .update_memory(&function.name, target_mb, function.revision_id.as_deref())
                .await?;
            change.new_revision_id = updated.revision_id;
            change.request_id = updated.request_id;
            return Ok(change);
        };

        // The alias: $LATEST must be what the alias serves but for memory —
        // same code, same everything a version snapshots — or stop.
        let current = self.functions.alias(&function.name, alias).await?;
        // The alias must still serve the version the guard judged: a release
        // since then stands, and nothing is changed.
        if !function.version.is_empty() && current.version != function.version {
            return Err(RepairError::Moved(format!(
                "alias {alias} serves version {} now, not version {} that was judged: someone released since, so nothing was changed",
                current.version, function.version
            )));
        }
        let latest = self.functions.read(&function.name, None).await?;
        if latest.code_sha256 != function.code_sha256
            || latest.config_sha256 != function.config_sha256
        {
            return Err(RepairError::CodeMismatch {
                alias: alias.clone(),
                version: current.version,
            });
        }
        let updated = self
            .update_memory(&function.name, target_mb, latest.revision_id.as_deref())
            .await?;
        let ours = updated.revision_id;
        change.new_revision_id = ours.clone();
        change.request_id = updated.request_id;
        change.previous_latest_memory_mb = Some(latest.memory_mb);
        // From here a failure leaves $LATEST changed: undo it before saying so.
        // Publish only what we checked, at the revision our update produced.
        let published = self
            .functions
            .publish_version(&function.name, &function.code_sha256, ours.as_deref())
            .await;
        let moved = match &published {
            Ok(version) => {
                self.functions
                    .move_alias(
                        &function.name,
                        alias,
                        version,
                        current.revision_id.as_deref(),
                    )
                    .await
            }
            Err(e) => Err(e.clone()),
        };
        if let Err(e) = moved {
            let undo = self
                .update_memory(&function.name, latest.memory_mb, ours.as_deref())
                .await;
            let what = match (&published, &e) {
                (Ok(v), _) => format!("moving alias {alias} to version {v}"),
                _ => "publishing a version".to_owned(),
            };
            return Err(RepairError::Aws(match undo {
                Ok(_) => format!(
                    "{what} failed ({e}); $LATEST's memory was put back to {} MB",
                    latest.memory_mb
                ),
                Err(u) => format!(
                    "{what} failed ({e}), and putting $LATEST's memory back to {} MB failed too ({u}): $LATEST is at {target_mb} MB",
                    latest.memory_mb
                ),
            }));
        }
        change.previous_version = Some(current.version);
        change.published_version = published.ok();
        Ok(change)
    }

    /// Undoes `change`: the memory (guarded by the revision our change
    /// produced), and with an alias, the alias back to the version it served.
    ///
    /// Only what this change did is undone, and only if nothing moved since:
    /// an alias someone pointed elsewhere (a release during the verification
    /// window) or a `$LATEST` changed since is left as it is
    /// ([`RepairError::Moved`] / [`RepairError::Precondition`]).
    pub async fn restore(&self, change: &Change) -> Result<Option<String>, RepairError> {
        let name = &change.function_name;
        if let (Some(alias), Some(previous), Some(published)) = (
            &change.alias,
            &change.previous_version,
            &change.published_version,
        ) {
            let now = self.functions.alias(name, alias).await?;
            if &now.version != published {
                return Err(RepairError::Moved(format!(
                    "alias {alias} now serves version {}, not version {published} that this incident published: someone released since, so nothing was rolled back",
                    now.version
                )));
            }
            self.functions
                .move_alias(name, alias, previous, now.revision_id.as_deref())
                .await
                .map_err(|e| match e {
                    StoreError::Precondition => RepairError::Moved(format!(
                        "alias {alias} moved while it was being rolled back: left as it is"
                    )),
                    other => other.into(),
                })?;
        }
        let restore_to = change
            .previous_latest_memory_mb
            .unwrap_or(change.previous_memory_mb);
        self.update_memory(name, restore_to, change.new_revision_id.as_deref())
            .await
            .map(|u| u.revision_id)
    }

    /// UpdateFunctionConfiguration(MemorySize) + wait; returns the new
    /// RevisionId and the request's id. A 409 (another update in progress)
    /// is retried with backoff.
    async fn update_memory(
        &self,
        name: &str,
        memory_mb: u32,
        revision: Option<&str>,
    ) -> Result<crate::ports::Updated, RepairError> {
        let mut backoff = CONFLICT_BACKOFF;
        for attempt in 1..=CONFLICT_ATTEMPTS {
            match self
                .functions
                .update_memory(name, memory_mb, revision)
                .await
            {
                Ok(updated) => {
                    let waited = self.wait_until_updated(name).await?;
                    return Ok(crate::ports::Updated {
                        revision_id: waited.or(updated.revision_id),
                        request_id: updated.request_id,
                    });
                }
                Err(StoreError::Busy) if attempt < CONFLICT_ATTEMPTS => {
                    tracing::info!(attempt, "function busy with another update (409); retrying");
                    self.clock.sleep(backoff).await;
                    backoff *= 2;
                }
                Err(StoreError::Busy) => return Err(RepairError::Conflict(attempt)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepairError::Conflict(CONFLICT_ATTEMPTS))
    }

    /// Polls until LastUpdateStatus is Successful (or Failed).
    async fn wait_until_updated(&self, name: &str) -> Result<Option<String>, RepairError> {
        for _ in 0..WAIT_POLLS {
            match self.functions.update_state(name).await? {
                UpdateState::Failed(reason) => return Err(RepairError::UpdateFailed(reason)),
                UpdateState::InProgress => self.clock.sleep(WAIT_INTERVAL).await,
                UpdateState::Successful(revision) => return Ok(revision),
            }
        }
        Err(RepairError::UpdateFailed(format!(
            "still in progress after {} s",
            (WAIT_INTERVAL * WAIT_POLLS).as_secs()
        )))
    }
}
