//! The workflow's order of stages, the only one a stage request may follow.

use crate::stage::Stage;

/// Whether a stage request is one to run, or one that ran already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Run,
    /// The stage committed after `version` already (a retried task).
    Done,
}

/// Why a stage may not run where it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The request names a version the record never had.
    #[error("the request names version {version}, the record is at {at}: refusing")]
    Ahead { version: u64, at: u64 },
    /// The stage does not follow the stages on record.
    #[error("{} cannot follow {after}; refusing", asked(*stage, *unverified))]
    CannotFollow {
        stage: Stage,
        /// A rollback of a change whose verification failed.
        unverified: bool,
        /// The stages on record, `parse → rules → …`.
        after: String,
    },
    /// Other stages committed since the version the request names.
    #[error("a stale {} request: the record has moved on to {since}; refusing", asked(*stage, *unverified))]
    Stale {
        stage: Stage,
        unverified: bool,
        since: String,
    },
}

fn asked(stage: Stage, unverified: bool) -> String {
    if unverified {
        format!("{stage} (unverified)")
    } else {
        stage.to_string()
    }
}

fn names(stages: &[Stage]) -> String {
    Stage::join(stages, " → ")
}

/// Whether `stage`, asked at `version`, may run after the `stages` on record
/// (`stages[v]` made version `v + 1`). The workflow's order is the only one
/// taken: parse, both branches, decide, execute, verify (once more when the
/// data was too thin), rollback; record after anything. `unverified`: a
/// rollback of a change whose verification failed, which may follow execute.
pub(crate) fn next(
    stage: Stage,
    unverified: bool,
    version: u64,
    stages: &[Stage],
) -> Result<Next, OrderError> {
    use Stage::{
        Ai, Approve, AwaitApproval, Decide, Execute, Parse, Record, Rollback, Rules, Verify,
    };
    let at = stages.len() as u64;
    if version > at {
        return Err(OrderError::Ahead { version, at });
    }
    let mut version = version;
    if stage == Decide {
        // Decide is asked with parse's version: the branches committed since.
        while stages
            .get(version as usize)
            .is_some_and(|s| matches!(s, Rules | Ai))
        {
            version += 1;
        }
    }
    if stage == Approve && stages.get(version as usize) == Some(&AwaitApproval) {
        // The wait's timeout is caught with decide's reference: the wait
        // committed since.
        version += 1;
    }
    let (before, since) = stages.split_at(version as usize);
    let last = before.last().copied();
    let cannot_follow = |after: String| OrderError::CannotFollow {
        stage,
        unverified,
        after,
    };
    match stage {
        Record => Ok(Next::Run),
        Rules | Ai => {
            if since.contains(&stage) {
                return Ok(Next::Done);
            }
            let other = if stage == Rules { Ai } else { Rules };
            if last == Some(Parse) && since.iter().all(|s| *s == other) {
                Ok(Next::Run)
            } else {
                Err(cannot_follow(format!(
                    "{} (at version {version})",
                    names(stages)
                )))
            }
        }
        _ => {
            if let Some(first) = since.first() {
                return if *first == stage {
                    Ok(Next::Done)
                } else {
                    Err(OrderError::Stale {
                        stage,
                        unverified,
                        since: names(since),
                    })
                };
            }
            let tail = |a: Stage, b: Stage| before.ends_with(&[a, b]);
            // Verifications of the latest step: a step is made by execute,
            // or by rollback when one step was not enough.
            let verifies = before
                .iter()
                .rev()
                .take_while(|s| !matches!(s, Execute | Rollback))
                .filter(|s| **s == Verify)
                .count();
            let allowed = match stage {
                Decide => tail(Rules, Ai) || tail(Ai, Rules),
                AwaitApproval => last == Some(Decide),
                Approve => last == Some(AwaitApproval),
                Execute => matches!(last, Some(Decide | Approve)),
                Verify => {
                    matches!(last, Some(Execute | Rollback))
                        || (last == Some(Verify) && verifies == 1)
                }
                Rollback if unverified => matches!(last, Some(Execute | Verify | Rollback)),
                Rollback => last == Some(Verify),
                _ => false,
            };
            if allowed {
                Ok(Next::Run)
            } else if before.is_empty() {
                Err(cannot_follow("the claim".to_owned()))
            } else {
                Err(cannot_follow(names(before)))
            }
        }
    }
}
