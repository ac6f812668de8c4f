//! Alarm events as CloudWatch sends them, for tests here and in the crates
//! above (the `test-support` feature). Never compiled into a release binary.

/// The account and region the test fixtures name (moto's defaults).
pub const ACCOUNT: &str = "123456789012";
/// The region the fixtures' events and ARNs name.
pub const REGION: &str = "us-east-1";

/// Unix ms → `2026-01-01T00:00:00.000+0000`, CloudWatch's alarm timestamp format.
pub fn iso(ms: i64) -> String {
    crate::dates::cloudwatch(ms)
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
