//! [`AlarmStore`] on CloudWatch: the metric alarms onboarding manages, told
//! apart from hand-made ones with the same prefix by their tag.

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, Statistic, Tag};

use super::describe;
use crate::model::AlarmSpec;
use crate::ports::{AlarmStore, FleetError};

/// The tag that marks an alarm as autorepair's own (value: the function).
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
    async fn managed(&self, prefix: &str) -> Result<Vec<AlarmSpec>, FleetError> {
        let mut found = Vec::new();
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
                let (Some(name), Some(arn)) = (a.alarm_name(), a.alarm_arn()) else {
                    continue;
                };
                let tags = self
                    .client
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .map_err(|e| error(format!("ListTagsForResource {name}"), describe(&e)))?;
                let tag = |key: &str| {
                    tags.tags()
                        .iter()
                        .find(|t| t.key() == Some(key))
                        .and_then(|t| t.value())
                        .map(str::to_owned)
                };
                // Hand-made alarms with the same prefix are not ours to change.
                let Some(function) = tag(MANAGED_TAG) else {
                    continue;
                };
                let dimension = a
                    .dimensions()
                    .first()
                    .and_then(|d| d.name())
                    .unwrap_or_default()
                    .to_owned();
                found.push(AlarmSpec {
                    name: name.to_owned(),
                    function,
                    kind: tag(KIND_TAG).unwrap_or_default(),
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
            .alarm_description(format!(
                "Managed by autorepair onboard for Lambda function {} ({}); changes are overwritten — set thresholds with the function's tags",
                alarm.function, alarm.kind
            ))
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
