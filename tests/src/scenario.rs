//! The scenario helper of the end-to-end tests: a [`Clock`] whose verification
//! waits are traffic, so `pipeline::run` — the very sequence the CLI runs —
//! goes through a whole incident against moto in seconds. A wait as long as
//! the verification window (at least [`WINDOW`]) writes 40 invocations of every
//! registered workload, at the memory each has at that moment, then lets
//! 60 ms pass so they fall inside the window being judged; shorter waits (a
//! retry's backoff, polling an update) really sleep.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use autorepair::clock::{Clock, now_ms};
use autorepair::model::Millis;

use crate::Workload;

/// What autorepair needs in moto before it runs: the notice topic
/// (`autorepair`) and the audit table `config` names. Returns the topic's ARN.
pub async fn provision(sdk: &aws_config::SdkConfig, config: &autorepair::config::Config) -> String {
    let aws = autorepair::aws::Aws::new(sdk);
    let topic = aws
        .sns
        .create_topic()
        .name("autorepair")
        // Encrypted, as the template's topic is.
        .attributes("KmsMasterKeyId", "alias/aws/sns")
        .send()
        .await
        .expect("topic");
    autorepair::setup::audit_table(&aws, config)
        .ensure_table()
        .await
        .expect("audit table");
    topic.topic_arn().expect("a topic ARN").to_owned()
}

/// CloudWatch raises the alarm `event` describes: the alarm is made in the
/// emulator on first use (as onboarding or a person would have), set to the
/// event's state, and the event comes back as CloudWatch would send it —
/// with the alarm's ARN and the time the emulator recorded for the change.
/// Only such an event passes parse's check against CloudWatch.
pub async fn raise(sdk: &aws_config::SdkConfig, event: &serde_json::Value) -> serde_json::Value {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic};
    let detail = &event["detail"];
    let name = detail["alarmName"].as_str().expect("an alarm name");
    let state = detail["state"]["value"].as_str().expect("a state");
    let metric = &detail["configuration"]["metrics"][0]["metricStat"]["metric"];
    let cw = aws_sdk_cloudwatch::Client::new(sdk);
    let exists = cw
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .expect("DescribeAlarms")
        .metric_alarms()
        .iter()
        .any(|a| a.alarm_name() == Some(name));
    if !exists {
        let mut put = cw
            .put_metric_alarm()
            .alarm_name(name)
            .namespace(metric["namespace"].as_str().unwrap_or("AWS/Lambda"))
            .metric_name(metric["name"].as_str().unwrap_or("Errors"))
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold);
        for (k, v) in metric["dimensions"].as_object().into_iter().flatten() {
            put = put.dimensions(
                Dimension::builder()
                    .name(k)
                    .value(v.as_str().unwrap_or_default())
                    .build(),
            );
        }
        put.send().await.expect("PutMetricAlarm");
    }
    cw.set_alarm_state()
        .alarm_name(name)
        .state_value(StateValue::from(state))
        .state_reason(
            detail["state"]["reason"]
                .as_str()
                .unwrap_or("Threshold Crossed"),
        )
        .send()
        .await
        .expect("SetAlarmState");
    let described = cw
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .expect("DescribeAlarms");
    let alarm = described.metric_alarms().first().expect("the alarm");
    let at = alarm
        .state_updated_timestamp()
        .and_then(|t| t.to_millis().ok())
        .expect("a state time");
    let mut raised = event.clone();
    raised["detail"]["state"]["timestamp"] = autorepair::testing::iso(at).into();
    raised["time"] = autorepair::testing::iso(at).into();
    raised["resources"] = serde_json::json!([alarm.alarm_arn().expect("an ARN")]);
    raised
}

/// The verification window tests pass in `Options::verify_after`.
pub const WINDOW: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct TrafficClock {
    workloads: Mutex<Vec<Arc<Workload>>>,
}

impl TrafficClock {
    pub fn add(&self, workload: Arc<Workload>) {
        self.workloads.lock().expect("workloads").push(workload);
    }
}

#[async_trait::async_trait]
impl Clock for TrafficClock {
    fn now_ms(&self) -> Millis {
        now_ms()
    }

    async fn sleep(&self, duration: Duration) {
        if duration < WINDOW {
            return tokio::time::sleep(duration).await;
        }
        let from = now_ms();
        let workloads = self.workloads.lock().expect("workloads").clone();
        for w in workloads {
            w.invocations(40, from + 1, from + 40)
                .await
                .expect("traffic written to moto");
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}
