//! `autorepair onboard` and the stack's scheduled reconcile: the plan from
//! [`super::alarms`], applied.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::FleetPorts;
use super::alarms::{self, AlarmChange, Plan};
use crate::config::Config;
use crate::ports::FleetError;
use crate::progress::{Progress, Silent};

/// Alarm writes in flight at once (PutMetricAlarm's quota is low; the SDK's
/// retries absorb a throttle).
const WRITES: usize = 4;

/// What a reconcile did: the plan, the changes that failed, and those left
/// for the next run when the time ran out (the others were made).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reconciled {
    pub plan: Plan,
    pub failures: Vec<String>,
    pub left: usize,
}

/// Lists the functions and the alarms with the prefix, plans, and (unless
/// `dry_run`) applies the plan — within `budget` when one is given (the
/// scheduled reconcile, inside the host's timeout: a first onboarding of
/// thousands of functions takes a few runs).
pub async fn reconcile(
    ports: &FleetPorts,
    config: &Config,
    dry_run: bool,
    budget: Option<Duration>,
) -> Result<Reconciled, FleetError> {
    reconcile_with(ports, config, dry_run, budget, &Silent).await
}

/// [`reconcile`], reporting its steps to `progress`: the listing, then each
/// alarm written or batch of alarms deleted.
pub async fn reconcile_with(
    ports: &FleetPorts,
    config: &Config,
    dry_run: bool,
    budget: Option<Duration>,
    progress: &dyn Progress,
) -> Result<Reconciled, FleetError> {
    let started = Instant::now();
    progress.step("listing functions and their alarms", None);
    let functions = ports.inventory.functions().await?;
    let existing = ports.alarms.existing(&config.fleet.alarm_prefix).await?;
    let plan = alarms::plan(
        &functions,
        &existing.managed,
        &existing.unmanaged,
        &config.fleet,
        (
            &config.policy.opt_in_tag_key,
            &config.policy.opt_in_tag_value,
        ),
    );
    let mut done = Reconciled {
        plan,
        ..Reconciled::default()
    };
    // A deletion needs the proof: autorepair's tag on the alarm, not only
    // its description (a console copy of a managed alarm keeps that).
    let candidates = deletions(&done.plan);
    if !candidates.is_empty() {
        let owned = ports.alarms.owned(&candidates).await?;
        done.plan.changes.retain(|c| match c {
            AlarmChange::Delete(a) => owned.contains(&a.name),
            _ => true,
        });
        for name in candidates.iter().filter(|n| !owned.contains(n)) {
            done.plan.warnings.push(format!(
                "alarm {name} carries autorepair's description but not its tag (a copy?): left alone"
            ));
        }
    }
    if dry_run {
        return Ok(done);
    }
    let in_time = || budget.is_none_or(|b| started.elapsed() < b);
    progress.step(
        "writing alarm changes",
        Some(done.plan.changes.len() as u64),
    );
    let puts: Vec<_> = done
        .plan
        .changes
        .iter()
        .filter_map(|c| match c {
            AlarmChange::Create(a) | AlarmChange::Update { new: a, .. } => Some(a),
            AlarmChange::Delete(_) => None,
        })
        .collect();
    let results: Vec<Option<Result<(), FleetError>>> = futures_util::stream::iter(puts)
        .map(|a| async move {
            if !in_time() {
                return None;
            }
            let put = ports.alarms.put(a).await;
            progress.advance(1);
            Some(put)
        })
        .buffered(WRITES)
        .collect()
        .await;
    let deletes = deletions(&done.plan);
    for result in results {
        match result {
            None => done.left += 1,
            Some(Err(e)) => done.failures.push(e.to_string()),
            Some(Ok(())) => {}
        }
    }
    // DeleteAlarms takes at most 100 names.
    for chunk in deletes.chunks(100) {
        if !in_time() {
            done.left += chunk.len();
            continue;
        }
        if let Err(e) = ports.alarms.delete(chunk).await {
            done.failures.push(e.to_string());
        }
        progress.advance(chunk.len() as u64);
    }
    Ok(done)
}

/// [`reconcile_with`] in the host's own account, then in each enrolled
/// member account and sweep region (`[organization]`), through its reading
/// role, within what is left of `budget`: each account's alarms are its own,
/// named with the stack's prefix, so the account's forward rule sends them
/// on. One plan for all; a line per member account says what it got.
pub async fn everywhere(
    ports: &FleetPorts,
    config: &Config,
    members: Option<&dyn crate::ports::Members>,
    dry_run: bool,
    budget: Option<Duration>,
    progress: &dyn Progress,
) -> Result<Reconciled, FleetError> {
    let started = Instant::now();
    let mut done = reconcile_with(ports, config, dry_run, budget, progress).await?;
    let org = &config.organization;
    let (Some(members), true) = (members, org.enabled()) else {
        return Ok(done);
    };
    for member in org.enrolled(config.run.state_machine_arn.as_deref()) {
        let (account, region) = (&member.account, &member.region);
        let left = budget.map(|b| b.saturating_sub(started.elapsed()));
        if left.is_some_and(|l| l.is_zero()) {
            done.plan.warnings.push(format!(
                "account {account} ({region}): left for the next run (out of time)"
            ));
            continue;
        }
        let reached = match members.reach(&member, crate::ports::Access::Read).await {
            Ok(reached) => reached,
            Err(why) => {
                done.failures
                    .push(format!("account {account} ({region}): {why}"));
                continue;
            }
        };
        let theirs = FleetPorts {
            inventory: reached.inventory,
            alarms: reached.alarm_store,
            ..ports.clone()
        };
        match reconcile_with(&theirs, config, dry_run, left, progress).await {
            Ok(r) => {
                let (create, update, delete) = r.plan.count();
                done.plan.warnings.push(format!(
                    "account {account} ({region}): {} functions, {create} to create, {update} to update, {delete} to delete",
                    r.plan.functions
                ));
                done.plan.functions += r.plan.functions;
                done.plan.unchanged += r.plan.unchanged;
                done.plan.changes.extend(r.plan.changes);
                done.plan.warnings.extend(
                    r.plan
                        .warnings
                        .into_iter()
                        .map(|w| format!("account {account}: {w}")),
                );
                done.failures.extend(
                    r.failures
                        .into_iter()
                        .map(|f| format!("account {account}: {f}")),
                );
                done.left += r.left;
            }
            Err(e) => done
                .failures
                .push(format!("account {account} ({region}): {e}")),
        }
    }
    Ok(done)
}

/// The names of the alarms `plan` deletes.
fn deletions(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .filter_map(|c| match c {
            AlarmChange::Delete(a) => Some(a.name.clone()),
            _ => None,
        })
        .collect()
}
