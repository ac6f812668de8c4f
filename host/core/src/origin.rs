//! Where a change comes from, checked: an alarm event against what
//! CloudWatch says of the alarm, a stage call against the execution that
//! claims to make it. Whoever can invoke the host or start the workflow can
//! write any payload; only these checks make the payload a real alarm and a
//! real workflow. Pure: the stages fetch the facts through the ports
//! ([`AlarmReader`](crate::ports::AlarmReader),
//! [`Executions`](crate::ports::Executions)) and ask here.

use crate::incident::{AlarmState, Incident};
use crate::model::{FunctionRef, Millis, Window};
use crate::ports::{AlarmChange, AlarmRecord, ExecutionRecord};

/// How far an event's state timestamp may sit from the change CloudWatch
/// recorded (the two are written by one service from one clock; a second
/// covers rounding).
pub const SAME_CHANGE_MS: Millis = 1_000;
/// How far ahead of the host's clock an event may claim to be (clock skew).
pub const MAX_FUTURE_MS: Millis = 300_000;

/// Why an alarm event is not taken as a real state change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    /// Older than the configured age: a replay, or a queue long stuck.
    #[error(
        "the event is {age_s} s old, older than the {max_s} s allowed ([run] max_event_age_seconds)"
    )]
    TooOld {
        /// The event's age.
        age_s: i64,
        /// The configured limit.
        max_s: i64,
    },
    /// Dated ahead of the host's clock by more than clock skew explains.
    #[error("the event is dated {ahead_s} s in the future")]
    InTheFuture {
        /// How far ahead.
        ahead_s: i64,
    },
    /// CloudWatch has no metric alarm of that name.
    #[error("CloudWatch has no metric alarm named {0:?}")]
    NoSuchAlarm(String),
    /// The alarm of that name has another ARN (another account or region).
    #[error("the alarm's ARN is {actual}, not the event's {claimed}")]
    OtherArn {
        /// The event's.
        claimed: String,
        /// CloudWatch's.
        actual: String,
    },
    /// The alarm does not watch the function the event names.
    #[error("alarm {alarm:?} watches {watches}, not {function}")]
    OtherFunction {
        /// The alarm's name.
        alarm: String,
        /// What its metrics name.
        watches: String,
        /// What the event names.
        function: String,
    },
    /// Neither its state now nor its history shows a change to ALARM at the
    /// event's time.
    #[error(
        "alarm {alarm:?} did not enter ALARM at the event's time ({at}); it is {state} since {since}"
    )]
    NoSuchChange {
        /// The alarm's name.
        alarm: String,
        /// The event's state timestamp.
        at: String,
        /// The alarm's state now.
        state: String,
        /// When it entered it.
        since: String,
    },
    /// The alarm is not named with this deployment's prefix: another
    /// deployment's, or a hand-made one outside the naming.
    #[error(
        "alarm {alarm:?} is not named with this deployment's prefix {prefix:?}: not ours to act on"
    )]
    NotOurs {
        /// The alarm's name.
        alarm: String,
        /// The deployment's prefix.
        prefix: String,
    },
    /// CloudWatch could not be asked: nothing is taken on the payload's word.
    #[error("the alarm could not be checked with CloudWatch ({0})")]
    Unreadable(String),
}

/// The age and date checks, before any call.
pub fn check_age(
    incident: &Incident,
    now_ms: Millis,
    max_age_ms: Millis,
) -> Result<(), Unverified> {
    let age = now_ms - incident.timestamp_ms;
    if age > max_age_ms {
        return Err(Unverified::TooOld {
            age_s: age / 1000,
            max_s: max_age_ms / 1000,
        });
    }
    if -age > MAX_FUTURE_MS {
        return Err(Unverified::InTheFuture {
            ahead_s: -age / 1000,
        });
    }
    Ok(())
}

/// What to ask of the alarm's history when its state now does not show the
/// change: the event's time, give or take [`SAME_CHANGE_MS`].
pub fn history_window(incident: &Incident) -> Window {
    Window {
        start_ms: incident.timestamp_ms - SAME_CHANGE_MS,
        end_ms: incident.timestamp_ms + SAME_CHANGE_MS,
    }
}

/// The alarm as CloudWatch has it against the event: it must exist with the
/// event's ARN, watch the event's function (one function, however named) and
/// be in ALARM since the event's time — else `history` (the changes around
/// that time) must show it entering ALARM then. `history` is `None` when it
/// was not read; the caller reads it only when [`needs_history`] says so.
pub fn check_alarm(
    incident: &Incident,
    alarm: Option<&AlarmRecord>,
    history: Option<&[AlarmChange]>,
) -> Result<(), Unverified> {
    let alarm = alarm.ok_or_else(|| Unverified::NoSuchAlarm(incident.alarm_name.clone()))?;
    if alarm.arn != incident.alarm_arn {
        return Err(Unverified::OtherArn {
            claimed: incident.alarm_arn.clone(),
            actual: alarm.arn.clone(),
        });
    }
    if !alarm
        .functions
        .iter()
        .any(|f| FunctionRef::of(f).name == incident.function_name)
    {
        return Err(Unverified::OtherFunction {
            alarm: alarm.name.clone(),
            watches: if alarm.functions.is_empty() {
                "no Lambda function".into()
            } else {
                alarm.functions.join(", ")
            },
            function: incident.function_name.clone(),
        });
    }
    if !needs_history(incident, alarm) {
        return Ok(());
    }
    let at = |ms: Millis| crate::dates::cloudwatch(ms);
    let entered = history.unwrap_or_default().iter().any(|c| {
        c.to == AlarmState::Alarm && (c.at_ms - incident.timestamp_ms).abs() <= SAME_CHANGE_MS
    });
    if entered {
        return Ok(());
    }
    Err(Unverified::NoSuchChange {
        alarm: alarm.name.clone(),
        at: at(incident.timestamp_ms),
        state: crate::incident::state_name(alarm.state).to_owned(),
        since: at(alarm.state_changed_ms),
    })
}

/// Whether the alarm's state now leaves the event unproven, so that its
/// history must be read: it is not in ALARM, or entered it at another time.
pub fn needs_history(incident: &Incident, alarm: &AlarmRecord) -> bool {
    !(alarm.state == AlarmState::Alarm
        && (alarm.state_changed_ms - incident.timestamp_ms).abs() <= SAME_CHANGE_MS)
}

/// Why a stage call is not taken as our workflow's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unbound {
    /// The host was given no state machine to serve.
    #[error(
        "this host serves no state machine ([run] state_machine_arn is unset): stage calls after parse are refused"
    )]
    NoStateMachine,
    /// The request names no execution.
    #[error("the stage request names no Step Functions execution (`execution`)")]
    NoExecution,
    /// Another execution than the one that claimed the incident.
    #[error("execution {claimed} is not the one that claimed this incident")]
    NotTheClaimant {
        /// The request's.
        claimed: String,
    },
    /// Step Functions knows no such execution.
    #[error("Step Functions has no execution {0}")]
    NoSuchExecution(String),
    /// An execution of another state machine.
    #[error("execution {execution} belongs to {state_machine}, not to {ours}")]
    OtherStateMachine {
        /// The request's execution.
        execution: String,
        /// Its state machine.
        state_machine: String,
        /// The one the host serves.
        ours: String,
    },
    /// The execution has ended.
    #[error("execution {execution} is {status}, not RUNNING")]
    NotRunning {
        /// The request's execution.
        execution: String,
        /// Its status.
        status: String,
    },
    /// Step Functions could not be asked.
    #[error("the execution could not be checked with Step Functions ({0})")]
    Unreadable(String),
}

/// A stage call bound to the execution `claimed_by` (the one that claimed
/// the incident at parse), which Step Functions says (`record`) is a running
/// execution of `state_machine`.
pub fn check_execution(
    execution: &str,
    claimed_by: Option<&str>,
    record: Option<&ExecutionRecord>,
    state_machine: &str,
) -> Result<(), Unbound> {
    if claimed_by != Some(execution) {
        return Err(Unbound::NotTheClaimant {
            claimed: execution.to_owned(),
        });
    }
    let record = record.ok_or_else(|| Unbound::NoSuchExecution(execution.to_owned()))?;
    if record.state_machine_arn != state_machine {
        return Err(Unbound::OtherStateMachine {
            execution: execution.to_owned(),
            state_machine: record.state_machine_arn.clone(),
            ours: state_machine.to_owned(),
        });
    }
    if record.status != "RUNNING" {
        return Err(Unbound::NotRunning {
            execution: execution.to_owned(),
            status: record.status.clone(),
        });
    }
    Ok(())
}

/// The state machine an execution ARN names:
/// `arn:aws:states:R:A:execution:M:N` → `arn:aws:states:R:A:stateMachine:M`.
/// `None` when it is not an execution ARN.
pub fn state_machine_of(execution: &str) -> Option<String> {
    let parts: Vec<&str> = execution.split(':').collect();
    match parts.as_slice() {
        [
            "arn",
            partition,
            "states",
            region,
            account,
            "execution",
            machine,
            _name,
            ..,
        ] => Some(format!(
            "arn:{partition}:states:{region}:{account}:stateMachine:{machine}"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ACCOUNT, REGION, alarm_event};
    use crate::incident::parse_value;

    const T: Millis = 1_780_000_000_000;

    fn incident(state: &str, at: Millis) -> Incident {
        parse_value(&alarm_event("orders-errors", "orders", None, state, at)).unwrap()
    }

    fn alarm(state: AlarmState, since: Millis) -> AlarmRecord {
        AlarmRecord {
            name: "orders-errors".into(),
            arn: format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:orders-errors"),
            functions: vec!["orders".into()],
            state,
            state_changed_ms: since,
        }
    }

    #[test]
    fn an_alarm_in_alarm_since_the_events_time_is_the_events() {
        let i = incident("ALARM", T);
        let a = alarm(AlarmState::Alarm, T);
        assert!(!needs_history(&i, &a));
        assert_eq!(check_alarm(&i, Some(&a), None), Ok(()));
        // One function, named by ARN in the alarm.
        let by_arn = AlarmRecord {
            functions: vec![format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders")],
            ..a
        };
        assert_eq!(check_alarm(&i, Some(&by_arn), None), Ok(()));
    }

    #[test]
    fn a_forged_event_is_refused_for_what_cloudwatch_says() {
        let i = incident("ALARM", T);
        assert_eq!(
            check_alarm(&i, None, None),
            Err(Unverified::NoSuchAlarm("orders-errors".into()))
        );
        let other = AlarmRecord {
            functions: vec!["billing".into()],
            ..alarm(AlarmState::Alarm, T)
        };
        assert!(matches!(
            check_alarm(&i, Some(&other), None),
            Err(Unverified::OtherFunction { .. })
        ));
        let elsewhere = AlarmRecord {
            arn: "arn:aws:cloudwatch:eu-west-1:999999999999:alarm:orders-errors".into(),
            ..alarm(AlarmState::Alarm, T)
        };
        assert!(matches!(
            check_alarm(&i, Some(&elsewhere), None),
            Err(Unverified::OtherArn { .. })
        ));
        // A replayed window: the alarm is in ALARM, but since another time,
        // and its history has no change at the event's.
        let since_earlier = alarm(AlarmState::Alarm, T - 3_600_000);
        assert!(needs_history(&i, &since_earlier));
        let history = [AlarmChange {
            at_ms: T - 3_600_000,
            to: AlarmState::Alarm,
        }];
        assert!(matches!(
            check_alarm(&i, Some(&since_earlier), Some(&history)),
            Err(Unverified::NoSuchChange { .. })
        ));
        // In OK now, never in ALARM then.
        let ok = alarm(AlarmState::Ok, T - 60_000);
        assert!(matches!(
            check_alarm(&i, Some(&ok), Some(&[])),
            Err(Unverified::NoSuchChange { .. })
        ));
        // History not read at all: refused, never assumed.
        assert!(check_alarm(&i, Some(&ok), None).is_err());
    }

    #[test]
    fn a_short_alarm_already_over_is_proven_by_its_history() {
        let i = incident("ALARM", T);
        let ok_again = alarm(AlarmState::Ok, T + 90_000);
        let history = [
            AlarmChange {
                at_ms: T + 90_000,
                to: AlarmState::Ok,
            },
            AlarmChange {
                at_ms: T + 400,
                to: AlarmState::Alarm,
            },
        ];
        assert_eq!(check_alarm(&i, Some(&ok_again), Some(&history)), Ok(()));
        let w = history_window(&i);
        assert!(w.start_ms < T && T < w.end_ms);
    }

    #[test]
    fn old_and_future_events_are_refused_before_any_call() {
        let max = 15 * 60_000;
        assert_eq!(check_age(&incident("ALARM", T), T + max, max), Ok(()));
        assert!(matches!(
            check_age(&incident("ALARM", T), T + max + 1_000, max),
            Err(Unverified::TooOld {
                age_s: 901,
                max_s: 900
            })
        ));
        assert!(matches!(
            check_age(&incident("ALARM", T + MAX_FUTURE_MS + 1_000), T, max),
            Err(Unverified::InTheFuture { .. })
        ));
    }

    #[test]
    fn only_a_running_execution_of_ours_that_claimed_the_incident_may_call() {
        let ours = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:autorepair-prod");
        let exec = format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:autorepair-prod:e1");
        let running = ExecutionRecord {
            state_machine_arn: ours.clone(),
            status: "RUNNING".into(),
        };
        assert_eq!(
            check_execution(&exec, Some(&exec), Some(&running), &ours),
            Ok(())
        );
        assert!(matches!(
            check_execution(&exec, Some("arn:…:other"), Some(&running), &ours),
            Err(Unbound::NotTheClaimant { .. })
        ));
        assert!(matches!(
            check_execution(&exec, None, Some(&running), &ours),
            Err(Unbound::NotTheClaimant { .. })
        ));
        assert!(matches!(
            check_execution(&exec, Some(&exec), None, &ours),
            Err(Unbound::NoSuchExecution(_))
        ));
        let done = ExecutionRecord {
            status: "SUCCEEDED".into(),
            ..running.clone()
        };
        assert!(matches!(
            check_execution(&exec, Some(&exec), Some(&done), &ours),
            Err(Unbound::NotRunning { .. })
        ));
        let theirs = ExecutionRecord {
            state_machine_arn: format!("{ours}-copy"),
            ..running
        };
        assert!(matches!(
            check_execution(&exec, Some(&exec), Some(&theirs), &ours),
            Err(Unbound::OtherStateMachine { .. })
        ));
        assert_eq!(state_machine_of(&exec).as_deref(), Some(ours.as_str()));
        assert_eq!(state_machine_of("not-an-arn"), None);
    }
}
