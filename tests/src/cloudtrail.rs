//! A stand-in for CloudTrail's LookupEvents on 127.0.0.1 (moto's CloudTrail
//! manages trails but has no event history): the test records management
//! events as CloudTrail would have (`record`), and LookupEvents answers them
//! in the service's JSON 1.1 shape — filtered by one lookup attribute and the
//! time range, newest first, paged by `NextToken`. An in-process fake, named
//! as such.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::http::{read_request, response};

/// One management event, as the stand-in holds it.
#[derive(Debug, Clone)]
pub struct TrailEvent {
    pub name: String,
    pub function: String,
    pub at_ms: i64,
    pub user: String,
    pub request_id: String,
}

pub struct CloudTrailStandIn {
    pub endpoint: String,
    events: Arc<Mutex<Vec<TrailEvent>>>,
    /// Every LookupEvents body received.
    pub lookups: Arc<Mutex<Vec<Value>>>,
}

/// Events a page holds (CloudTrail's own maximum is 50).
const PAGE: usize = 50;

impl CloudTrailStandIn {
    pub fn start() -> CloudTrailStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the CloudTrail stand-in");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let events: Arc<Mutex<Vec<TrailEvent>>> = Arc::default();
        let lookups: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (e, l) = (events.clone(), lookups.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (e, l) = (e.clone(), l.clone());
                std::thread::spawn(move || {
                    let Ok(Some(request)) = read_request(&client) else {
                        return;
                    };
                    let target = request.header("x-amz-target").unwrap_or("").to_owned();
                    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                    let (status, error, answer) = if target.ends_with(".LookupEvents") {
                        l.lock().unwrap().push(body.clone());
                        lookup(&e.lock().unwrap(), &body)
                    } else {
                        (
                            400,
                            Some("UnknownOperationException"),
                            json!({ "message": format!("not served here: {target}") }),
                        )
                    };
                    let mut client = client;
                    let _ =
                        client.write_all(response(status, error, &answer.to_string()).as_bytes());
                });
            }
        });
        CloudTrailStandIn {
            endpoint,
            events,
            lookups,
        }
    }

    /// CloudTrail saw `name` (e.g. `UpdateFunctionCode20150331v2`) on
    /// `function` at `at_ms`, made by `user`.
    pub fn record(&self, name: &str, function: &str, at_ms: i64, user: &str) {
        let mut events = self.events.lock().unwrap();
        let n = events.len();
        events.push(TrailEvent {
            name: name.to_owned(),
            function: function.to_owned(),
            at_ms,
            user: user.to_owned(),
            request_id: format!("stand-in-request-{n}"),
        });
    }
}

fn lookup(events: &[TrailEvent], body: &Value) -> (u16, Option<&'static str>, Value) {
    let attribute = body["LookupAttributes"].get(0);
    let key = attribute.and_then(|a| a["AttributeKey"].as_str());
    let value = attribute.and_then(|a| a["AttributeValue"].as_str());
    if body["LookupAttributes"]
        .as_array()
        .is_some_and(|a| a.len() > 1)
    {
        return (
            400,
            Some("InvalidLookupAttributesException"),
            json!({ "message": "only one lookup attribute is allowed" }),
        );
    }
    let start = body["StartTime"].as_f64().map(|s| (s * 1000.0) as i64);
    let end = body["EndTime"].as_f64().map(|s| (s * 1000.0) as i64);
    let mut found: Vec<&TrailEvent> = events
        .iter()
        .filter(|e| match (key, value) {
            (Some("ResourceName"), Some(v)) => e.function == v,
            (Some("EventName"), Some(v)) => e.name == v,
            (None, _) => true,
            _ => false,
        })
        .filter(|e| start.is_none_or(|s| e.at_ms >= s) && end.is_none_or(|t| e.at_ms <= t))
        .collect();
    found.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
    let max = body["MaxResults"]
        .as_u64()
        .map_or(PAGE, |m| (m as usize).min(PAGE));
    let from: usize = body["NextToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = found
        .iter()
        .skip(from)
        .take(max)
        .map(|e| event(e))
        .collect();
    let mut answer = json!({ "Events": page });
    if from + max < found.len() {
        answer["NextToken"] = json!((from + max).to_string());
    }
    (200, None, answer)
}

fn event(e: &TrailEvent) -> Value {
    let detail = json!({
        "eventVersion": "1.08",
        "userIdentity": { "type": "AssumedRole", "arn": format!("arn:aws:sts::123456789012:assumed-role/{}", e.user) },
        "eventTime": e.at_ms / 1000,
        "eventSource": "lambda.amazonaws.com",
        "eventName": e.name,
        "requestParameters": { "functionName": e.function },
        "requestID": e.request_id,
    });
    json!({
        "EventId": format!("event-{}", e.request_id),
        "EventName": e.name,
        "ReadOnly": "false",
        "EventTime": e.at_ms as f64 / 1000.0,
        "EventSource": "lambda.amazonaws.com",
        "Username": e.user,
        "Resources": [{ "ResourceType": "AWS::Lambda::Function", "ResourceName": e.function }],
        "CloudTrailEvent": detail.to_string(),
    })
}
