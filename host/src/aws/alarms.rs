//! [`AlarmStore`] on CloudWatch: the metric alarms onboarding manages, told
//! apart from hand-made ones with the same prefix by their tag; and
//! [`AlarmReader`], what a parse checks an alarm event against.

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, HistoryItemType, StateValue, Statistic, Tag,
};

use super::describe;
use crate::incident::AlarmState;
use crate::model::{AlarmSpec, Window};
use crate::ports::{AlarmChange, AlarmReader, AlarmRecord, AlarmStore, ExistingAlarms, FleetError};

const OWNER: &str = "Managed by autorepair onboard for Lambda function ";

/// What onboarding writes in an alarm's description: whose it is, for
/// people, and for the next reconcile to know it as its own.
fn description(alarm: &AlarmSpec) -> String {
    format!(
        "{OWNER}{} ({}); changes are overwritten — set thresholds with the function's tags",
        alarm.function, alarm.kind
    )
}

/// (function, kind) from a description onboarding wrote.
fn owner(description: &str) -> Option<(String, String)> {
    let rest = description.strip_prefix(OWNER)?;
    let (function, rest) = rest.split_once(" (")?;
    let (kind, _) = rest.split_once(')')?;
    (!function.is_empty() && !kind.is_empty()).then(|| (function.to_owned(), kind.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_names_the_owner_and_reads_back() {
        let alarm = AlarmSpec {
            name: "autorepair-orders-errors".into(),
            function: "orders".into(),
            kind: "errors".into(),
            namespace: "AWS/Lambda".into(),
            metric: "Errors".into(),
            dimension: "FunctionName".into(),
            statistic: "Sum".into(),
            threshold: 1.0,
            period_s: 60,
            evaluation_periods: 1,
            edited: false,
        };
        assert_eq!(
            owner(&description(&alarm)),
            Some(("orders".into(), "errors".into()))
        );
        assert_eq!(owner("Errors of orders, paged to the team"), None);
        assert_eq!(owner(OWNER), None);
    }
}

/// The tag that marks an alarm as autorepair's own (value: the function),
/// for people and IAM conditions; the reconcile reads the description.
pub const MANAGED_TAG: &str = "autorepair:managed-for";
/// Which kind of alarm it is (errors, duration, throttles, memory).
pub const KIND_TAG: &str = "autorepair:alarm";

#[derive(Debug, Clone)]
pub struct Alarms {
    client: aws_sdk_cloudwatch::Client,
}

impl Alarms {
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Alarms {
        Alarms { client }
    }
}

fn error(what: String, message: String) -> FleetError {
    FleetError { what, message }
}

#[async_trait]
impl AlarmStore for Alarms {
    /// DescribeAlarms, page by page: autorepair's own are told by the
    /// description onboarding writes (no call per alarm). That is a hint for
    /// planning; before deleting, [`AlarmStore::owned`] asks for the tag.
    async fn existing(&self, prefix: &str) -> Result<ExistingAlarms, FleetError> {
        let mut found = ExistingAlarms::default();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_alarms()
                .alarm_name_prefix(prefix)
                .alarm_types(AlarmType::MetricAlarm)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| error("DescribeAlarms".into(), describe(&e)))?;
            for a in out.metric_alarms() {
                let Some(name) = a.alarm_name() else {
                    continue;
                };
                let Some((function, kind)) = a.alarm_description().and_then(owner) else {
                    found.unmanaged.push(name.to_owned());
                    continue;
                };
                let dimension = a
                    .dimensions()
                    .first()
                    .and_then(|d| d.name())
                    .unwrap_or_default()
                    .to_owned();
                // What `put` always writes, beside what the spec models.
                let edited = a.dimensions().len() != 1
                    || a.dimensions().first().and_then(|d| d.value()) != Some(function.as_str())
                    || a.comparison_operator()
                        != Some(&ComparisonOperator::GreaterThanOrEqualToThreshold)
                    || a.treat_missing_data() != Some("notBreaching");
                found.managed.push(AlarmSpec {
                    name: name.to_owned(),
                    function,
                    kind,
                    namespace: a.namespace().unwrap_or_default().to_owned(),
                    metric: a.metric_name().unwrap_or_default().to_owned(),
                    dimension,
                    statistic: a
                        .statistic()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    threshold: a.threshold().unwrap_or_default(),
                    period_s: a.period().unwrap_or_default().max(0) as u32,
                    evaluation_periods: a.evaluation_periods().unwrap_or_default().max(0) as u32,
                    edited,
                });
            }
            match out.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => break,
            }
        }
        Ok(found)
    }

    async fn put(&self, alarm: &AlarmSpec) -> Result<(), FleetError> {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        self.client
            .put_metric_alarm()
            .alarm_name(&alarm.name)
            .alarm_description(description(alarm))
            .namespace(&alarm.namespace)
            .metric_name(&alarm.metric)
            .dimensions(
                Dimension::builder()
                    .name(&alarm.dimension)
                    .value(&alarm.function)
                    .build(),
            )
            .statistic(Statistic::from(alarm.statistic.as_str()))
            .period(i32::try_from(alarm.period_s).unwrap_or(60))
            .evaluation_periods(i32::try_from(alarm.evaluation_periods).unwrap_or(1))
            .threshold(alarm.threshold)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .treat_missing_data("notBreaching")
            .tags(tag(MANAGED_TAG, &alarm.function))
            .tags(tag(KIND_TAG, &alarm.kind))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error(format!("PutMetricAlarm {}", alarm.name), describe(&e)))
    }

    /// DescribeAlarms for their ARNs (100 names a call), then
    /// ListTagsForResource for each: only the alarms a reconcile would delete.
    async fn owned(&self, names: &[String]) -> Result<Vec<String>, FleetError> {
        let mut owned = Vec::new();
        for chunk in names.chunks(100) {
            let out = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .send()
                .await
                .map_err(|e| error("DescribeAlarms".into(), describe(&e)))?;
            for alarm in out.metric_alarms() {
                let (Some(name), Some(arn)) = (alarm.alarm_name(), alarm.alarm_arn()) else {
                    continue;
                };
                let tags = self
                    .client
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .map_err(|e| error(format!("ListTagsForResource {name}"), describe(&e)))?;
                if tags.tags().iter().any(|t| t.key() == Some(MANAGED_TAG)) {
                    owned.push(name.to_owned());
                }
            }
        }
        Ok(owned)
    }

    async fn delete(&self, names: &[String]) -> Result<(), FleetError> {
        if names.is_empty() {
            return Ok(());
        }
        self.client
            .delete_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error(format!("DeleteAlarms {}", names.join(", ")), describe(&e)))
    }
}

/// The functions an alarm's metrics name: its own dimensions, and those of
/// each metric of a metric-math alarm.
fn watched_functions(alarm: &aws_sdk_cloudwatch::types::MetricAlarm) -> Vec<String> {
    let function = |d: &Dimension| {
        matches!(d.name(), Some("FunctionName" | "function_name"))
            .then(|| d.value().map(str::to_owned))
            .flatten()
    };
    let own = alarm.dimensions().iter().filter_map(function);
    let math = alarm.metrics().iter().flat_map(|q| {
        q.metric_stat()
            .and_then(|s| s.metric())
            .map(|m| m.dimensions())
            .unwrap_or_default()
            .iter()
            .filter_map(function)
    });
    own.chain(math).collect()
}

fn alarm_state(value: Option<&StateValue>) -> AlarmState {
    match value {
        Some(StateValue::Alarm) => AlarmState::Alarm,
        Some(StateValue::Ok) => AlarmState::Ok,
        _ => AlarmState::InsufficientData,
    }
}

#[async_trait]
impl AlarmReader for Alarms {
    async fn describe(&self, name: &str) -> Result<Option<AlarmRecord>, FleetError> {
        let out = self
            .client
            .describe_alarms()
            .alarm_names(name)
            .alarm_types(AlarmType::MetricAlarm)
            .send()
            .await
            .map_err(|e| error(format!("DescribeAlarms {name}"), describe(&e)))?;
        Ok(out
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(name))
            .map(|a| AlarmRecord {
                name: name.to_owned(),
                arn: a.alarm_arn().unwrap_or_default().to_owned(),
                functions: watched_functions(a),
                state: alarm_state(a.state_value()),
                state_changed_ms: a
                    .state_transitioned_timestamp()
                    .or(a.state_updated_timestamp())
                    .and_then(|t| t.to_millis().ok())
                    .unwrap_or_default(),
            }))
    }

    async fn changes(&self, name: &str, window: Window) -> Result<Vec<AlarmChange>, FleetError> {
        let out = self
            .client
            .describe_alarm_history()
            .alarm_name(name)
            .alarm_types(AlarmType::MetricAlarm)
            .history_item_type(HistoryItemType::StateUpdate)
            .start_date(DateTime::from_millis(window.start_ms))
            .end_date(DateTime::from_millis(window.end_ms))
            .send()
            .await
            .map_err(|e| error(format!("DescribeAlarmHistory {name}"), describe(&e)))?;
        Ok(out
            .alarm_history_items()
            .iter()
            .filter_map(|item| {
                // The summary is "Alarm updated from OK to ALARM"; the data
                // (JSON) says the same with `newState.stateValue`.
                let data: serde_json::Value =
                    serde_json::from_str(item.history_data().unwrap_or_default()).ok()?;
                let to = match data.pointer("/newState/stateValue")?.as_str()? {
                    "ALARM" => AlarmState::Alarm,
                    "OK" => AlarmState::Ok,
                    _ => AlarmState::InsufficientData,
                };
                Some(AlarmChange {
                    at_ms: item.timestamp()?.to_millis().ok()?,
                    to,
                })
            })
            .collect())
    }
}
