//! Stage 1: a CloudWatch alarm state change → an [`Incident`].
//!
//! Two shapes arrive: the EventBridge `CloudWatch Alarm State Change` event
//! (`detail.*`) and the payload Lambda receives when it is the alarm's own action
//! (`alarmArn`, `alarmData.*`). The function comes from the `FunctionName`
//! dimension (and `Resource` = `name:alias`) of any metric in the alarm.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dates;
use crate::digest::sha256_hex;
use crate::model::{AlarmInfo, FunctionRef, Millis};
use crate::text::clean;

/// A CloudWatch alarm's state, as the event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// Past its threshold (`ALARM`): the only state autorepair acts on.
    Alarm,
    /// Back within its threshold (`OK`).
    Ok,
    /// Too little data to judge (`INSUFFICIENT_DATA`).
    InsufficientData,
}

/// One alarm firing on one function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Derived from the alarm ARN and the state timestamp, so a redelivered
    /// event has the same id.
    pub id: String,
    /// The function the alarm's metric names (its `FunctionName` dimension).
    pub function_name: String,
    /// The alias or version the alarm names (`Resource` = `name:alias`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// The alarm's name.
    pub alarm_name: String,
    /// The alarm's ARN; built from the account and region when the event lacks it.
    pub alarm_arn: String,
    /// The state the alarm entered.
    pub state: AlarmState,
    /// CloudWatch's text for why the state changed.
    pub reason: String,
    /// The first metric the alarm watches (e.g. "Errors").
    pub metric: String,
    /// When the alarm entered this state.
    pub timestamp_ms: Millis,
    /// The AWS region the event came from, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The member account the function lives in, when it is not the host's
    /// own (a central deployment for an organisation): every call about the
    /// function goes through that account's member role, and the function's
    /// lock, history and floors are keyed by account and region too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberAccount>,
}

/// An enrolled member account, and the region of the alarm there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberAccount {
    /// The account id (12 digits).
    pub account: String,
    /// The region the alarm, and the function, are in.
    pub region: String,
}

impl Incident {
    /// The account the alarm (and so the function) belongs to: its ARN's.
    pub fn account(&self) -> Option<&str> {
        self.alarm_arn
            .split(':')
            .nth(4)
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The alarm's region: its ARN's, else the event's.
    pub fn alarm_region(&self) -> Option<&str> {
        self.alarm_arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .or(self.region.as_deref())
    }

    /// Whether the incident is `account`'s: its member account's, or, for
    /// the host's own account (no member), whether `account` is `home`.
    pub fn in_account(&self, account: &str, home: Option<&str>) -> bool {
        is_account(
            self.member.as_ref().map(|m| m.account.as_str()),
            account,
            home,
        )
    }

    /// The key the audit table keeps the function's lock, history and floors
    /// under: its name in the host's own account, account, region and name
    /// in a member account (the same name may live in many).
    pub fn function_key(&self) -> String {
        match &self.member {
            None => self.function_name.clone(),
            Some(m) => format!("{}/{}/{}", m.account, m.region, self.function_name),
        }
    }

    /// The alarm as the evidence records it.
    pub fn alarm_info(&self) -> AlarmInfo {
        AlarmInfo {
            name: self.alarm_name.clone(),
            metric: self.metric.clone(),
            state: state_name(self.state).into(),
            reason: self.reason.clone(),
        }
    }
}

/// A state as CloudWatch writes it (`ALARM`, `OK`, `INSUFFICIENT_DATA`).
pub fn state_name(state: AlarmState) -> &'static str {
    match state {
        AlarmState::Alarm => "ALARM",
        AlarmState::Ok => "OK",
        AlarmState::InsufficientData => "INSUFFICIENT_DATA",
    }
}

/// Why an event is no incident autorepair can handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    /// Not JSON (the parser's message).
    #[error("the event is not valid JSON: {0}")]
    Json(String),
    /// JSON, but not an alarm state change (what is missing or wrong).
    #[error("the event is not a CloudWatch alarm state change: {0}")]
    NotAnAlarm(String),
    /// The alarm watches no Lambda function (the alarm's name).
    #[error("alarm {0:?} watches no Lambda function (no FunctionName dimension in any metric)")]
    NotLambda(String),
    /// The alarm watches another account's metric: autorepair changes only its own
    /// account's functions.
    #[error(
        "alarm {alarm:?} watches a metric of account {metric_account}, not of this account ({alarm_account}): autorepair changes functions in its own account only; alarm there instead"
    )]
    CrossAccount {
        /// The alarm's name.
        alarm: String,
        /// The account the metric belongs to.
        metric_account: String,
        /// This account: the alarm's.
        alarm_account: String,
    },
    /// The alarm names its function by an ARN of another region: the audit
    /// table and the lock are this region's.
    #[error(
        "alarm {alarm:?} names a function in region {function_region}, not this alarm's ({alarm_region}): autorepair changes functions in its own region only"
    )]
    CrossRegion {
        /// The alarm's name.
        alarm: String,
        /// The region the function's ARN names.
        function_region: String,
        /// The alarm's region.
        alarm_region: String,
    },
    /// The alarm is another account's, and that account is not enrolled
    /// (`[organization] accounts`): nothing there is touched.
    #[error(
        "alarm {alarm:?} is in account {account}, which is not enrolled: autorepair acts in its own account and in the member accounts of [organization] accounts only (docs/organizations.md)"
    )]
    NotEnrolled {
        /// The alarm's name.
        alarm: String,
        /// The account it came from.
        account: String,
    },
    /// The alarm combines metrics of several functions: which to repair is unclear.
    #[error(
        "alarm {alarm:?} combines metrics of several functions ({functions}): which one to repair is ambiguous; alarm on one function"
    )]
    Ambiguous {
        /// The alarm's name.
        alarm: String,
        /// Two of the functions it names, comma-separated.
        functions: String,
    },
    /// The event is no state change CloudWatch recorded (forged, replayed,
    /// or too old to act on): refused before anything is claimed.
    #[error("the alarm event is refused: {0}")]
    Unverified(#[from] crate::origin::Unverified),
}

/// Parses an alarm event in either shape.
pub fn parse(text: &str) -> Result<Incident, IncidentError> {
    let event: Value =
        serde_json::from_str(text).map_err(|e| IncidentError::Json(e.to_string()))?;
    parse_value(&event)
}

/// Like [`parse`], for an event already read as JSON.
pub fn parse_value(event: &Value) -> Result<Incident, IncidentError> {
    let not_alarm = |what: &str| IncidentError::NotAnAlarm(what.to_owned());
    let (data, alarm_arn) = if let Some(detail) = event.get("detail") {
        if let Some(kind) = event.get("detail-type").and_then(Value::as_str)
            && kind != "CloudWatch Alarm State Change"
        {
            return Err(not_alarm(&format!("detail-type is {kind:?}")));
        }
        let arn = event
            .get("resources")
            .and_then(|r| r.get(0))
            .and_then(Value::as_str)
            .map(str::to_owned);
        (detail, arn)
    } else if let Some(data) = event.get("alarmData") {
        (
            data,
            event
                .get("alarmArn")
                .and_then(Value::as_str)
                .map(str::to_owned),
        )
    } else {
        return Err(not_alarm("neither `detail` nor `alarmData` is present"));
    };

    let alarm_name = str_at(data, &["alarmName"]).ok_or_else(|| not_alarm("no alarmName"))?;
    let state = match str_at(data, &["state", "value"]) {
        Some("ALARM") => AlarmState::Alarm,
        Some("OK") => AlarmState::Ok,
        Some("INSUFFICIENT_DATA") => AlarmState::InsufficientData,
        Some(other) => return Err(not_alarm(&format!("unknown state {other:?}"))),
        None => return Err(not_alarm("no state.value")),
    };
    let timestamp =
        str_at(data, &["state", "timestamp"]).ok_or_else(|| not_alarm("no state.timestamp"))?;
    let timestamp_ms = dates::parse_timestamp(timestamp)
        .map_err(|e| not_alarm(&format!("unreadable state.timestamp: {e}")))?;
    let region = event
        .get("region")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let alarm_arn = alarm_arn.unwrap_or_else(|| {
        let account = event
            .get("account")
            .or_else(|| event.get("accountId"))
            .and_then(Value::as_str);
        format!(
            "arn:aws:cloudwatch:{}:{}:alarm:{alarm_name}",
            region.as_deref().unwrap_or("unknown"),
            account.unwrap_or("unknown")
        )
    });

    let metrics = data
        .get("configuration")
        .and_then(|c| c.get("metrics"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    // This account: the event's, else the alarm ARN's.
    let alarm_account = event
        .get("account")
        .or_else(|| event.get("accountId"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| alarm_arn.split(':').nth(4).map(str::to_owned))
        .filter(|a| !a.is_empty() && a != "unknown");
    let mut function: Option<(String, Option<String>)> = None;
    let mut metric = String::new();
    for m in metrics {
        // Metric-math entries (`expression`) carry no dimensions; skip them.
        let Some(stat_metric) = m.get("metricStat").and_then(|s| s.get("metric")) else {
            continue;
        };
        if metric.is_empty() {
            metric = str_at(stat_metric, &["name"])
                .unwrap_or_default()
                .to_owned();
        }
        let dims = stat_metric.get("dimensions");
        // Lambda Insights names the function `function_name` (onboarding's
        // memory alarm watches its memory_utilization).
        // An empty name names nothing (no lock, no history may be keyed by
        // it): as if the dimension were absent.
        let Some(name) = dims
            .and_then(|d| {
                str_at(d, &["FunctionName"]).or_else(|| {
                    (str_at(stat_metric, &["namespace"]) == Some("LambdaInsights"))
                        .then(|| str_at(d, &["function_name"]))
                        .flatten()
                })
            })
            .filter(|n| !FunctionRef::of(n).name.trim().is_empty())
        else {
            continue;
        };
        if let (Some(theirs), Some(ours)) = (str_at(m, &["accountId"]), alarm_account.as_deref())
            && theirs != ours
        {
            return Err(IncidentError::CrossAccount {
                alarm: alarm_name.to_owned(),
                metric_account: theirs.to_owned(),
                alarm_account: ours.to_owned(),
            });
        }
        // One function, however it is named (name, partial or full ARN):
        // every per-function key is its plain name, so an ARN must name this
        // account and region.
        let named = FunctionRef::of(name);
        if let (Some(theirs), Some(ours)) = (named.account, alarm_account.as_deref())
            && theirs != ours
        {
            return Err(IncidentError::CrossAccount {
                alarm: alarm_name.to_owned(),
                metric_account: theirs.to_owned(),
                alarm_account: ours.to_owned(),
            });
        }
        if let (Some(theirs), Some(ours)) = (named.region, region.as_deref())
            && theirs != ours
        {
            return Err(IncidentError::CrossRegion {
                alarm: alarm_name.to_owned(),
                function_region: theirs.to_owned(),
                alarm_region: ours.to_owned(),
            });
        }
        let resource = dims.and_then(|d| str_at(d, &["Resource"]));
        let qualifier = resource
            .and_then(|r| r.strip_prefix(name))
            .and_then(|r| r.strip_prefix(':'))
            .filter(|q| !q.is_empty())
            .or(named.qualifier)
            .map(str::to_owned);
        let this = (named.name.to_owned(), qualifier);
        match &function {
            None => {
                metric = str_at(stat_metric, &["name"])
                    .unwrap_or_default()
                    .to_owned();
                function = Some(this);
            }
            Some(first) if *first == this => {}
            Some(first) => {
                let show = |(n, q): &(String, Option<String>)| match q {
                    Some(q) => format!("{n}:{q}"),
                    None => n.clone(),
                };
                return Err(IncidentError::Ambiguous {
                    alarm: alarm_name.to_owned(),
                    functions: format!("{}, {}", show(first), show(&this)),
                });
            }
        }
    }
    let (function_name, qualifier) =
        function.ok_or_else(|| IncidentError::NotLambda(alarm_name.to_owned()))?;

    // Event text reaches notices and the prompt: one line each (a newline
    // could fake a line of a notice, an "Approve: …" among them), and no
    // longer than CloudWatch lets it be.
    let line = |text: &str, max: usize| -> String { clean(text).chars().take(max).collect() };
    Ok(Incident {
        id: incident_id(&alarm_arn, timestamp),
        function_name: line(&function_name, MAX_NAME_CHARS),
        qualifier: qualifier.map(|q| line(&q, MAX_NAME_CHARS)),
        alarm_name: line(alarm_name, MAX_NAME_CHARS),
        alarm_arn: line(&alarm_arn, MAX_REASON_CHARS),
        state,
        reason: line(
            str_at(data, &["state", "reason"]).unwrap_or_default(),
            MAX_REASON_CHARS,
        ),
        metric: line(&metric, MAX_NAME_CHARS),
        timestamp_ms,
        region,
        member: None,
    })
}

/// The longest alarm name (and metric or function name) CloudWatch allows.
const MAX_NAME_CHARS: usize = 255;
/// The longest state reason CloudWatch writes.
const MAX_REASON_CHARS: usize = 1_023;

/// The idempotency key: the same alarm transition always gives the same id.
pub fn incident_id(alarm_arn: &str, state_timestamp: &str) -> String {
    sha256_hex(format!("{alarm_arn}|{state_timestamp}").as_bytes())[..32].to_owned()
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

/// Whether something of `account` (`None`: the host's own) is in account
/// `wanted`, the host's own being `home` — the listings' `--account`
/// filter and [`Incident::in_account`].
pub fn is_account(account: Option<&str>, wanted: &str, home: Option<&str>) -> bool {
    match account {
        Some(a) => a == wanted,
        None => home == Some(wanted),
    }
}

#[cfg(test)]
mod tests;
