//! The parse stage: the alarm event read, the incident claimed (one
//! workflow per alarm transition) and the function locked.

use std::time::Instant;

use serde_json::Value;

use super::{Context, Options, Run, Status, fail, json, no_change, timed};
use crate::incident::{self, AlarmState, Incident, IncidentError};
use crate::origin::{self, Unverified};
use crate::ports::Claim;
use crate::stage::Stage;

/// Stage 1: parse the event, claim the incident (idempotency) and lock the
/// function. `execution` names who claims it (a Step Functions execution):
/// the same execution claiming again (a retried task) gets its own claim back.
pub async fn parse(
    ctx: &Context,
    event: &Value,
    options: Options,
    execution: Option<String>,
) -> Result<Run, IncidentError> {
    let started = Instant::now();
    let mut incident = incident::parse_value(event)?;
    enrol(&ctx.config, &mut incident)?;
    let span =
        tracing::info_span!("incident", id = %incident.id, function = %incident.function_name);
    let _guard = span.enter();
    // A member account's alarm is checked in that account.
    let reach = ctx
        .for_incident(&incident, crate::ports::Access::Read)
        .await
        .map_err(|e| IncidentError::Unverified(Unverified::Unreadable(e)))?;
    if incident.state == AlarmState::Alarm
        && let Err(why) = verified(&reach, &incident).await
    {
        // Nothing claimed, nobody told: a line in the host's log is all a
        // forged or replayed event gets.
        tracing::warn!(alarm = %incident.alarm_name, reason = %why, "alarm event refused");
        return Err(why.into());
    }
    let mut run = Run::new(incident, options.mode, options.dry_run, ctx.clock.now_ms());
    run.claimed_by = execution;
    if run.incident.state != AlarmState::Alarm {
        run.status = Status::NoAction;
        run.decision = Some(no_change(format!(
            "alarm is {}, not ALARM: nothing to do",
            run.incident.alarm_info().state
        )));
        timed(&mut run, Stage::Parse, started);
        return Ok(run);
    }
    let id = run.incident.id.clone();
    // The audit table's key for the function: its name, with account and
    // region for a member account's.
    let function = run.incident.function_key();
    match ctx
        .audit
        .claim(&id, &function, &json(&run), run.started_ms)
        .await
    {
        Ok(Claim::Won) => {}
        Ok(Claim::Taken) => match own_claim(ctx, &run).await {
            Some(stored) => {
                tracing::info!("a retried parse of the execution that claimed the incident");
                run = stored;
            }
            None => {
                tracing::info!("incident already handled: redelivered event ignored");
                run.status = Status::Duplicate;
                timed(&mut run, Stage::Parse, started);
                return Ok(run);
            }
        },
        Err(e) => fail(&mut run, Stage::Parse, e.to_string()),
    }
    if !run.status.is_terminal() {
        let ttl_ms = ctx
            .config
            .run
            .lock_ttl_ms(ctx.config.policy.max_steps_per_incident);
        match ctx
            .audit
            .lock(&function, &id, ctx.clock.now_ms(), ttl_ms)
            .await
        {
            Ok(Claim::Won) => {}
            Ok(Claim::Taken) => {
                run.status = Status::Skipped;
                run.decision = Some(no_change(format!(
                    "another incident is repairing {function} right now: this one changes nothing"
                )));
            }
            Err(e) => fail(&mut run, Stage::Parse, e.to_string()),
        }
    }
    timed(&mut run, Stage::Parse, started);
    Ok(run)
}

/// Whose the incident is: the host's own account's (no `[organization]`, or
/// the home account), an enrolled member account's (marked, so every later
/// call goes through its role and the audit keys name it), or nobody's
/// autorepair may touch (refused before anything is claimed).
fn enrol(config: &crate::config::Config, incident: &mut Incident) -> Result<(), IncidentError> {
    let org = &config.organization;
    let Some(account) = incident.account().map(str::to_owned) else {
        return Ok(());
    };
    let home = org.home(config.run.state_machine_arn.as_deref());
    if home.as_deref() == Some(account.as_str()) || (home.is_none() && !org.enabled()) {
        return Ok(());
    }
    if !org.accounts.contains(&account) {
        return Err(IncidentError::NotEnrolled {
            alarm: incident.alarm_name.clone(),
            account,
        });
    }
    let region = incident.alarm_region().unwrap_or_default().to_owned();
    incident.member = Some(crate::incident::MemberAccount { account, region });
    Ok(())
}

/// The event against CloudWatch: young enough, its alarm real, watching its
/// function, and entering ALARM at its time (now, or in its history). The
/// evidence window then hangs on a state change CloudWatch recorded, never
/// on a time the payload chose.
async fn verified(ctx: &Context, incident: &Incident) -> Result<(), Unverified> {
    let max_age_ms = i64::try_from(ctx.config.run.max_event_age_seconds.saturating_mul(1000))
        .unwrap_or(i64::MAX);
    origin::check_age(incident, ctx.clock.now_ms(), max_age_ms)?;
    let prefix = &ctx.config.fleet.alarm_prefix;
    if ctx.config.run.own_alarms_only && !incident.alarm_name.starts_with(prefix.as_str()) {
        return Err(Unverified::NotOurs {
            alarm: incident.alarm_name.clone(),
            prefix: prefix.clone(),
        });
    }
    let unreadable = |e: crate::ports::FleetError| Unverified::Unreadable(e.to_string());
    let alarm = ctx
        .alarms
        .describe(&incident.alarm_name)
        .await
        .map_err(unreadable)?;
    let history = match &alarm {
        Some(a) if origin::needs_history(incident, a) => Some(
            ctx.alarms
                .changes(&incident.alarm_name, origin::history_window(incident))
                .await
                .map_err(unreadable)?,
        ),
        _ => None,
    };
    origin::check_alarm(incident, alarm.as_ref(), history.as_deref())
}

/// The stored run when the claim on `run`'s incident is `run`'s own (the same
/// execution claimed it, and it has not gone past parse).
async fn own_claim(ctx: &Context, run: &Run) -> Option<Run> {
    let me = run.claimed_by.as_ref()?;
    let stored = ctx.audit.get(&run.incident.id).await.ok()??;
    let stored: Run = serde_json::from_str(&stored.document).ok()?;
    (stored.claimed_by.as_ref() == Some(me) && stored.status == Status::Started).then_some(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident_in(account: &str) -> Incident {
        let mut event = crate::testing::alarm_event(
            "orders-errors",
            "orders",
            None,
            "ALARM",
            1_767_225_600_000,
        );
        event["account"] = account.into();
        event["resources"] = serde_json::json!([format!(
            "arn:aws:cloudwatch:eu-west-1:{account}:alarm:orders-errors"
        )]);
        incident::parse_value(&event).unwrap()
    }

    fn organization(accounts: &[&str]) -> crate::config::Config {
        let mut config = crate::config::Config::default();
        config.run.state_machine_arn =
            Some("arn:aws:states:eu-west-1:123456789012:stateMachine:autorepair-prod".into());
        config.organization.accounts = accounts.iter().map(|a| a.to_string()).collect();
        config.organization.external_id = Some("x-1".into());
        config
    }

    #[test]
    fn an_alarm_is_the_home_accounts_an_enrolled_members_or_refused() {
        // No [organization] and no home known (the CLI): the alarm's account
        // is the host's, as before (CloudWatch's word on the alarm decides).
        let mut i = incident_in("999999999999");
        enrol(&crate::config::Config::default(), &mut i).unwrap();
        assert_eq!(
            (i.member.as_ref(), i.function_key().as_str()),
            (None, "orders")
        );
        // A deployed host knows its account: another's alarm is refused by
        // name, enrolled or not.
        let deployed = organization(&[]);
        assert!(matches!(
            enrol(&deployed, &mut incident_in("999999999999")),
            Err(IncidentError::NotEnrolled { .. })
        ));

        let config = organization(&["111111111111"]);
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        // The state machine's account is home: no role, the name as key.
        let mut i = incident_in("123456789012");
        enrol(&config, &mut i).unwrap();
        assert!(i.member.is_none());
        // An enrolled member: marked, keyed by account and region.
        let mut i = incident_in("111111111111");
        enrol(&config, &mut i).unwrap();
        assert_eq!(i.function_key(), "111111111111/eu-west-1/orders");
        // Anyone else: refused, with the account named.
        let mut i = incident_in("222222222222");
        let e = enrol(&config, &mut i).unwrap_err();
        assert!(
            e.to_string()
                .contains("account 222222222222, which is not enrolled"),
            "{e}"
        );
    }

    #[test]
    fn an_organization_needs_a_home_an_external_id_and_account_ids() {
        let mut config = organization(&["111111111111", "12345"]);
        config.run.state_machine_arn = None;
        config.organization.external_id = None;
        let problems = config.problems().join("\n");
        for wanted in [
            "\"12345\" is not an account id",
            "organization.home_account must be set",
            "organization.regions must be set",
            "organization.external_id must be set",
        ] {
            assert!(problems.contains(wanted), "{wanted}: {problems}");
        }
        let mut config = organization(&["123456789012"]);
        config.organization.home_account = None;
        assert!(
            config
                .problems()
                .join("\n")
                .contains("lists the host's own account"),
            "{:?}",
            config.problems()
        );
    }
}
