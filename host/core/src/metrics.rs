//! autorepair's own metrics, in CloudWatch's embedded metric format (EMF):
//! JSON documents that Lambda's log pipeline turns into metrics, with no API
//! call and no permission. One incident, when its run ends, gives a handful of
//! documents: the outcome (by status), the AI's latency, tokens and cost, each
//! stage's duration, each rule's failure by cause. The template's alarms and
//! dashboard read them (namespace `autorepair`, dimension `Host`).

use serde_json::{Value, json};

use crate::model::Millis;
use crate::run::{Run, Status};

/// The metrics namespace.
pub const NAMESPACE: &str = "autorepair";

/// Where metric documents go: in Lambda, a line each on standard output.
pub trait MetricSink: Send + Sync {
    /// Writes `documents`, each one EMF JSON document; never fails a stage.
    fn emit(&self, documents: &[String]);
}

/// Prints each document on its own line: what Lambda's EMF support reads.
pub struct Stdout;

impl MetricSink for Stdout {
    fn emit(&self, documents: &[String]) {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        for document in documents {
            // A metric that cannot be written is not worth failing a stage.
            let _ = writeln!(out, "{document}");
        }
    }
}

fn document(
    now_ms: Millis,
    dimensions: &[&[&str]],
    metrics: &[(&str, &str)],
    values: Value,
) -> String {
    let mut doc = values;
    doc["_aws"] = json!({
        "Timestamp": now_ms,
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": dimensions,
            "Metrics": metrics
                .iter()
                .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
                .collect::<Vec<_>>(),
        }],
    });
    doc.to_string()
}

/// The documents for one finished run on host `host`.
pub fn documents(run: &Run, host: &str, now_ms: Millis) -> Vec<String> {
    let count = |yes: bool| u8::from(yes);
    let failures = run.plugin_failures.len();
    let mut metrics = vec![
        ("Incidents", "Count"),
        ("Changes", "Count"),
        ("RolledBack", "Count"),
        ("Escalated", "Count"),
        ("PluginFailures", "Count"),
    ];
    let mut values = json!({
        "Host": host,
        "Status": run.status.to_string(),
        "incident": run.incident.id,
        "function": run.incident.function_name,
        "Incidents": 1,
        "Changes": count(run.change.is_some()),
        "RolledBack": count(run.status == Status::RolledBack),
        "Escalated": count(run.status == Status::Escalated),
        "PluginFailures": failures,
    });
    if let Some(ai) = &run.ai {
        metrics.extend([
            ("AiLatency", "Milliseconds"),
            ("AiTokens", "Count"),
            ("AiCost", "None"),
        ]);
        values["AiLatency"] = json!(ai.latency_ms);
        values["AiTokens"] = json!(ai.input_tokens + ai.output_tokens);
        values["AiCost"] = json!(ai.cost_usd);
    }
    let mut out = vec![document(
        now_ms,
        &[&["Host"], &["Host", "Status"]],
        &metrics,
        values,
    )];
    for (stage, ms) in &run.stage_ms {
        out.push(document(
            now_ms,
            &[&["Host", "Stage"]],
            &[("StageDuration", "Milliseconds")],
            json!({"Host": host, "Stage": stage, "StageDuration": ms}),
        ));
    }
    for failure in &run.plugin_failures {
        out.push(document(
            now_ms,
            &[&["Host", "Rule", "Cause"]],
            &[("PluginFailure", "Count")],
            json!({
                "Host": host,
                "Rule": failure.rule,
                "Cause": failure.cause.kind(),
                "PluginFailure": 1,
            }),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::alarm_event;
    use crate::model::{FailureCause, RuleFailure};

    fn run(status: Status) -> Run {
        let incident = crate::incident::parse_value(&alarm_event(
            "orders-errors",
            "orders",
            None,
            "ALARM",
            1_767_225_600_000,
        ))
        .unwrap();
        let mut run = Run::new(incident, Default::default(), false, 0);
        run.status = status;
        run
    }

    fn parse(doc: &str) -> Value {
        serde_json::from_str(doc).expect("a JSON document")
    }

    #[test]
    fn an_incident_is_counted_by_status_with_its_stages_and_rule_failures() {
        let mut r = run(Status::RolledBack);
        r.stage_ms.insert("collect".into(), 120);
        r.stage_ms.insert("rules".into(), 3);
        r.plugin_failures.push(RuleFailure {
            rule: "headroom".into(),
            veto: false,
            cause: FailureCause::CpuBudget(50),
        });
        let docs: Vec<Value> = documents(&r, "autorepair-dev-host", 42)
            .iter()
            .map(|d| parse(d))
            .collect();
        assert_eq!(docs.len(), 1 + 2 + 1);
        let incident = &docs[0];
        assert_eq!(incident["Status"], "rolled_back");
        assert_eq!(incident["RolledBack"], 1);
        assert_eq!(incident["Changes"], 0);
        assert_eq!(incident["PluginFailures"], 1);
        let emf = &incident["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(emf["Namespace"], NAMESPACE);
        assert_eq!(incident["_aws"]["Timestamp"], 42);
        // Every metric named in the directive has its value in the document,
        // and every dimension too: what EMF requires.
        for doc in &docs {
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(doc[name].is_number(), "{name} missing in {doc}");
            }
            for set in directive["Dimensions"].as_array().unwrap() {
                for key in set.as_array().unwrap() {
                    assert!(doc[key.as_str().unwrap()].is_string(), "{key} in {doc}");
                }
            }
        }
        assert_eq!(docs[3]["Rule"], "headroom");
        assert_eq!(docs[3]["Cause"], "cpu-budget");
        assert!(incident.get("AiLatency").is_none(), "no AI, no AI metrics");
    }
}
