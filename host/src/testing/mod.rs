//! Test support shared by the host's unit tests and the end-to-end crate:
//! in-memory twins of the ports and the simulated workload whose log lines
//! both write. Compiled for tests and with the `test-support` feature only,
//! never into a release binary.

pub mod evidence;
pub mod ports;
pub mod workload;

pub use evidence::EvidenceBuilder;

/// The hostile plugins host/build.rs built from `plugins/hostile`: (name, path).
pub mod hostile {
    include!(concat!(env!("OUT_DIR"), "/hostile.rs"));

    /// The path of the hostile test plugin `name` (e.g. "infinite-loop").
    pub fn path(name: &str) -> &'static str {
        HOSTILE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, path)| *path)
            .unwrap_or_else(|| panic!("no hostile test plugin {name:?} under plugins/hostile"))
    }
}

/// The account and region the test fixtures name (moto's defaults).
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// Unix ms → `2026-01-01T00:00:00.000+0000`, CloudWatch's alarm timestamp format.
pub fn iso(ms: i64) -> String {
    let c = crate::model::Civil::from_ms(ms);
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
        "account": ACCOUNT,
        "time": iso(at_ms),
        "region": REGION,
        "resources": [format!("arn:aws:cloudwatch:{}:{}:alarm:{alarm}", REGION, ACCOUNT)],
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
                crate::incident::parse_timestamp(&super::iso(ms)),
                Some(ms),
                "{}",
                super::iso(ms)
            );
        }
    }
}
