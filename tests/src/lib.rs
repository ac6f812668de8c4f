//! Test support shared by the end-to-end tests and the demo: the one launcher
//! of the `autorepair` binary, a moto_server per test on its own loopback
//! port, and a workload simulator that writes
//! Lambda-shaped logs and metrics according to the function's *current* memory,
//! so a real repair shows up as healthy data afterwards.

pub mod cli;
pub mod converse;
pub mod faults;
pub mod http;
pub mod moto;
pub mod workload;

pub use cli::{autorepair_bin, autorepair_command, describe};
pub use moto::Moto;
pub use workload::{Behaviour, Workload};

/// Unix ms → `2026-01-01T00:00:00.000+0000`, CloudWatch's alarm timestamp format.
pub fn iso(ms: i64) -> String {
    let c = autorepair::model::Civil::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli
    )
}

/// An EventBridge `CloudWatch Alarm State Change` for an Errors alarm on
/// `function` (through `alias` when given), entering `state` at `at_ms`.
pub fn alarm_event(
    alarm: &str,
    function: &str,
    alias: Option<&str>,
    state: &str,
    at_ms: i64,
) -> serde_json::Value {
    let mut dimensions = serde_json::json!({ "FunctionName": function });
    if let Some(alias) = alias {
        dimensions["Resource"] = format!("{function}:{alias}").into();
    }
    serde_json::json!({
        "version": "0",
        "id": format!("event-{alarm}-{at_ms}"),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": moto::ACCOUNT,
        "time": iso(at_ms),
        "region": moto::REGION,
        "resources": [format!("arn:aws:cloudwatch:{}:{}:alarm:{alarm}", moto::REGION, moto::ACCOUNT)],
        "detail": {
            "alarmName": alarm,
            "state": { "value": state, "reason": "Threshold Crossed", "timestamp": iso(at_ms) },
            "previousState": { "value": "OK", "timestamp": iso(at_ms - 3_600_000) },
            "configuration": { "metrics": [ { "id": "m1", "metricStat": { "metric": {
                "namespace": "AWS/Lambda", "name": "Errors", "dimensions": dimensions },
                "period": 60, "stat": "Sum" }, "returnData": true } ] }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_round_trips_through_the_incident_parser() {
        for ms in [0, 1_767_225_600_000, 1_767_227_405_123, 951_782_400_000] {
            assert_eq!(
                autorepair::incident::parse_timestamp(&super::iso(ms)),
                Some(ms),
                "{}",
                super::iso(ms)
            );
        }
    }
}
