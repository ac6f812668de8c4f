//! `autorepair onboard` and the stack's scheduled reconcile: the plan from
//! [`super::alarms`], applied.

use super::FleetPorts;
use super::alarms::{self, AlarmChange, Plan};
use crate::config::Config;
use crate::ports::FleetError;

/// What a reconcile did: the plan, and the changes that failed (the others
/// were made; the next reconcile retries the rest).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reconciled {
    pub plan: Plan,
    pub failures: Vec<String>,
}

/// Lists the functions and autorepair's alarms, plans, and (unless
/// `dry_run`) applies the plan.
pub async fn reconcile(
    ports: &FleetPorts,
    config: &Config,
    dry_run: bool,
) -> Result<Reconciled, FleetError> {
    let functions = ports.inventory.functions().await?;
    let existing = ports.alarms.managed(&config.fleet.alarm_prefix).await?;
    let plan = alarms::plan(
        &functions,
        &existing,
        &config.fleet,
        (
            &config.policy.opt_in_tag_key,
            &config.policy.opt_in_tag_value,
        ),
    );
    let mut failures = Vec::new();
    if !dry_run {
        let mut deletes = Vec::new();
        for change in &plan.changes {
            match change {
                AlarmChange::Create(a) | AlarmChange::Update { new: a, .. } => {
                    if let Err(e) = ports.alarms.put(a).await {
                        failures.push(e.to_string());
                    }
                }
                AlarmChange::Delete(a) => deletes.push(a.name.clone()),
            }
        }
        // DeleteAlarms takes at most 100 names.
        for chunk in deletes.chunks(100) {
            if let Err(e) = ports.alarms.delete(chunk).await {
                failures.push(e.to_string());
            }
        }
    }
    Ok(Reconciled { plan, failures })
}
