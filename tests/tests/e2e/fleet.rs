//! `autorepair onboard` as a platform team runs it: real Lambda functions and
//! CloudWatch alarms in moto, the CLI as a child process. The plan itself is
//! unit-tested in host/src/fleet/alarms.rs; this proves the adapters and the
//! promises that need a real API: tags read, alarms made and tagged, a
//! hand-made alarm with the same prefix left alone, idempotence, deletion.

use autorepair_e2e::{Behaviour, Moto, Workload, autorepair_command};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};

fn onboard(moto: &Moto, extra: &[&str]) -> (String, String, bool) {
    // moto's Resource Groups Tagging API does not serve Lambda: the tags come
    // from ListTags here (the tagging API's path is the stand-in test below).
    let config = std::env::temp_dir().join(format!("autorepair-fleet-{}.toml", moto.port));
    std::fs::write(&config, "[fleet]\ntags_from = \"list-tags\"\n").unwrap();
    let out = autorepair_command(["onboard", "--config"])
        .arg(&config)
        .args(extra)
        .envs(moto.env())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

async fn alarm_names(cw: &aws_sdk_cloudwatch::Client) -> Vec<String> {
    let mut names: Vec<String> = cw
        .describe_alarms()
        .alarm_name_prefix("autorepair-")
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_makes_the_alarms_of_tagged_functions_and_only_those() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let role = moto.role("fleet");
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    for (name, opted_in) in [
        ("fl-orders", true),
        ("fl-billing", true),
        ("fl-legacy", false),
    ] {
        Workload::new(&sdk, name, Behaviour::Throttled)
            .create_function(&role, 512, opted_in)
            .await
            .unwrap();
    }
    let arn = |name: &str| {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            autorepair_e2e::moto::REGION,
            autorepair_e2e::moto::ACCOUNT
        )
    };
    lambda
        .tag_resource()
        .resource(arn("fl-billing"))
        .tags("autorepair:errors", "5")
        .tags("autorepair:throttles", "off")
        .send()
        .await
        .unwrap();
    // Someone's own alarms with the prefix, one even with the name onboarding
    // would give: never autorepair's to touch.
    cw.put_metric_alarm()
        .alarm_name("autorepair-fl-orders-errors")
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .dimensions(
            Dimension::builder()
                .name("FunctionName")
                .value("fl-orders")
                .build(),
        )
        .statistic(Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .threshold(7.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();
    cw.put_metric_alarm()
        .alarm_name("autorepair-handmade")
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .dimensions(
            Dimension::builder()
                .name("FunctionName")
                .value("fl-legacy")
                .build(),
        )
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();

    // A dry run prints the difference and changes nothing.
    let (plan, err, ok) = onboard(&moto, &["--dry-run"]);
    assert!(ok, "{err}");
    assert!(
        plan.contains("+ autorepair-fl-orders-duration: Duration Maximum >= 5400 (60 s × 1)"),
        "{plan}"
    );
    assert!(
        plan.contains("warning: autorepair-fl-orders-errors exists and is not autorepair's"),
        "{plan}"
    );
    assert!(
        plan.contains("+ autorepair-fl-billing-errors: Errors Sum >= 5"),
        "{plan}"
    );
    assert!(
        !plan.contains("fl-billing-throttles") && !plan.contains("fl-legacy"),
        "{plan}"
    );
    assert!(
        plan.contains("plan: 4 to create, 0 to update, 0 to delete"),
        "{plan}"
    );
    assert_eq!(
        alarm_names(&cw).await,
        ["autorepair-fl-orders-errors", "autorepair-handmade"]
    );

    let (done, err, ok) = onboard(&moto, &[]);
    assert!(ok, "{err}");
    assert!(done.contains("done: 4 to create"), "{done}");
    let names = alarm_names(&cw).await;
    assert_eq!(names.len(), 6, "{names:?}");
    let duration = cw
        .describe_alarms()
        .alarm_names("autorepair-fl-orders-duration")
        .send()
        .await
        .unwrap();
    let duration = &duration.metric_alarms()[0];
    // 90% of the function's 6 s timeout.
    assert_eq!(duration.threshold(), Some(5400.0));
    assert_eq!(duration.dimensions()[0].value(), Some("fl-orders"));

    // Idempotent.
    let (again, _, ok) = onboard(&moto, &["--format", "json"]);
    assert!(ok);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        (
            again["create"].as_u64(),
            again["update"].as_u64(),
            again["delete"].as_u64(),
            again["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(4)),
        "{again}"
    );

    // Edited by hand where the threshold does not show (the comparison):
    // the reconcile puts it back.
    cw.put_metric_alarm()
        .alarm_name(duration.alarm_name().unwrap())
        .set_alarm_description(duration.alarm_description().map(str::to_owned))
        .namespace("AWS/Lambda")
        .metric_name("Duration")
        .set_dimensions(Some(duration.dimensions().to_vec()))
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5400.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .treat_missing_data("notBreaching")
        .send()
        .await
        .unwrap();
    let (plan, _, _) = onboard(&moto, &["--dry-run"]);
    assert!(
        plan.contains("~ autorepair-fl-orders-duration:") && plan.contains("edited by hand"),
        "{plan}"
    );
    let (_, err, ok) = onboard(&moto, &[]);
    assert!(ok, "{err}");
    let put_back = cw
        .describe_alarms()
        .alarm_names("autorepair-fl-orders-duration")
        .send()
        .await
        .unwrap();
    assert_eq!(
        put_back.metric_alarms()[0].comparison_operator(),
        Some(&ComparisonOperator::GreaterThanOrEqualToThreshold)
    );

    // A threshold tag changed: updated. Opted out, and deleted: removed.
    lambda
        .tag_resource()
        .resource(arn("fl-billing"))
        .tags("autorepair:errors", "9")
        .send()
        .await
        .unwrap();
    lambda
        .untag_resource()
        .resource(arn("fl-orders"))
        .tag_keys("autorepair")
        .send()
        .await
        .unwrap();
    let (plan, _, _) = onboard(&moto, &["--dry-run"]);
    assert!(
        plan.contains(
            "~ autorepair-fl-billing-errors: Errors Sum >= 5 (60 s × 1) → Errors Sum >= 9"
        ),
        "{plan}"
    );
    assert!(plan.contains("- autorepair-fl-orders-duration"), "{plan}");
    let (_, err, ok) = onboard(&moto, &[]);
    assert!(ok, "{err}");
    lambda
        .delete_function()
        .function_name("fl-billing")
        .send()
        .await
        .unwrap();
    let (done, err, ok) = onboard(&moto, &[]);
    assert!(ok, "{err}");
    assert!(
        done.contains("0 to create, 0 to update, 2 to delete"),
        "{done}"
    );
    assert_eq!(
        alarm_names(&cw).await,
        ["autorepair-fl-orders-errors", "autorepair-handmade"]
    );
    let theirs = cw
        .describe_alarms()
        .alarm_names("autorepair-fl-orders-errors")
        .send()
        .await
        .unwrap();
    assert_eq!(
        theirs.metric_alarms()[0].threshold(),
        Some(7.0),
        "the hand-made alarm is untouched"
    );
}

/// The tagging API's path: Lambda is moto, GetResources a loopback stand-in
/// (moto's tagging API does not serve Lambda) answering in two pages, as the
/// service pages a large account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opted_in_functions_come_from_one_tag_query_not_one_call_each() {
    use autorepair::ports::Inventory;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let role = moto.role("fleet");
    let mut arns = Vec::new();
    for (name, opted_in) in [("tg-a", true), ("tg-b", true), ("tg-c", false)] {
        arns.push(
            Workload::new(&sdk, name, Behaviour::Throttled)
                .create_function(&role, 512, opted_in)
                .await
                .unwrap(),
        );
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    {
        let (requests, arns) = (requests.clone(), arns.clone());
        std::thread::spawn(move || {
            for mut client in listener.incoming().flatten() {
                let Ok(Some(request)) = autorepair_e2e::http::read_request(&client) else {
                    continue;
                };
                let body: serde_json::Value =
                    serde_json::from_slice(&request.body).unwrap_or_default();
                let first = body
                    .get("PaginationToken")
                    .and_then(|t| t.as_str())
                    .is_none_or(str::is_empty);
                requests.lock().unwrap().push(body);
                let (arn, token) = if first {
                    (&arns[0], "page-2")
                } else {
                    (&arns[1], "")
                };
                let page = serde_json::json!({
                    "PaginationToken": token,
                    "ResourceTagMappingList": [{"ResourceARN": arn, "Tags": [
                        {"Key": "autorepair", "Value": "enabled"},
                        {"Key": "autorepair:errors", "Value": "4"}]}]
                });
                let _ = client.write_all(
                    autorepair_e2e::http::response(200, None, &page.to_string()).as_bytes(),
                );
            }
        });
    }
    let tagging = aws_sdk_resourcegroupstagging::Client::from_conf(
        aws_sdk_resourcegroupstagging::config::Builder::from(&sdk)
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .build(),
    );
    let inventory = autorepair::aws::inventory::LambdaInventory::new(
        aws_sdk_lambda::Client::new(&sdk),
        autorepair::aws::inventory::Tags::TaggingApi {
            client: tagging,
            key: "autorepair".into(),
            value: "enabled".into(),
        },
    );
    let mut functions = inventory.functions().await.unwrap();
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    let tagged: Vec<(&str, Option<&str>)> = functions
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.tags.get("autorepair:errors").map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        tagged,
        [("tg-a", Some("4")), ("tg-b", Some("4")), ("tg-c", None)]
    );
    // Sizes and timeouts come from ListFunctions (moto).
    assert!(
        functions
            .iter()
            .all(|f| f.memory_mb == 512 && f.timeout_s == 6)
    );
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 2, "two pages: {requests:?}");
    assert_eq!(
        requests[0]["ResourceTypeFilters"],
        serde_json::json!(["lambda:function"])
    );
    assert_eq!(
        requests[0]["TagFilters"],
        serde_json::json!([{"Key": "autorepair", "Values": ["enabled"]}])
    );
    assert_eq!(requests[1]["PaginationToken"], "page-2");
}

/// A busy function — 200,000 invocations in the window, ten times what the
/// lines read one by one may hold (`run.max_log_events`) — is sized from one
/// Logs Insights query: a loopback stand-in in front of moto (which has no
/// `stats`) answering from the events moto holds, and ageing the function
/// (moto dates it to the test's start; a real one was deployed long ago).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_function_is_sized_down_from_logs_insights_figures() {
    use autorepair::clock::now_ms;
    const DAY: i64 = 86_400_000;
    const INVOCATIONS: usize = 200_000;
    const STREAMS: usize = 20;
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let role = moto.role("fleet");
    let busy = Workload::new(&sdk, "busy", Behaviour::NeedsMemory { need_mb: 200 });
    busy.create_function(&role, 1024, true).await.unwrap();
    let config = autorepair::config::Config::default();
    autorepair_e2e::scenario::provision(&sdk, &config).await;
    // Spread over 14 days and 20 execution environments; the largest use
    // is 301 MB, once.
    let now = now_ms();
    let span = 14 * DAY - 120_000;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    for stream in 0..STREAMS {
        let name = format!("2026/12/01/[$LATEST]{stream:032x}");
        logs.create_log_stream()
            .log_group_name(busy.log_group())
            .log_stream_name(&name)
            .send()
            .await
            .unwrap();
        let events: Vec<(i64, String)> = (0..INVOCATIONS / STREAMS)
            .map(|i| {
                let n = i * STREAMS + stream;
                let at = now - span + (n as i64) * span / INVOCATIONS as i64;
                let used = if n == 123_457 { 301 } else { 120 + (n % 150) as u32 };
                let line = format!(
                    "REPORT RequestId: {n:08x}-0000-4000-8000-{n:012x}\tDuration: {}.25 ms\tBilled Duration: {} ms\tMemory Size: 1024 MB\tMax Memory Used: {used} MB\t",
                    150 + n % 60,
                    151 + n % 60
                );
                (at, line)
            })
            .collect();
        autorepair_e2e::workload::put_log_events(&logs, &busy.log_group(), &name, &events)
            .await
            .unwrap();
    }
    let front = autorepair_e2e::insights::InsightsStandIn::start(moto.port);
    front.age_functions(now - 30 * DAY);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, "[fleet]\ntags_from = \"list-tags\"\n").unwrap();
    let out = autorepair_command(["sweep", "--function", "busy", "--config"])
        .arg(&config_path)
        .envs(moto.env())
        .env("AWS_ENDPOINT_URL", &front.endpoint)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", autorepair_e2e::describe(&out));
    let queries = front.queries.lock().unwrap().clone();
    assert_eq!(
        queries.len(),
        1,
        "one query for the whole window: {queries:?}"
    );
    assert!(queries[0].contains("stats") && queries[0].contains("@maxMemoryUsed"));
    // 301 MB × 1.2 = 361.2 → 384 MB; every invocation counted, by the service.
    let row: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("busy "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["busy", "down", "1024", "384"], "{stdout}");
    // The window's 14 × 24 h touch 15 UTC days.
    assert!(
        stdout.contains(&format!(
            "largest Max Memory Used 301 MB over {INVOCATIONS} invocations on 15 days (CloudWatch Logs Insights)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("figures: Logs Insights counted 200000 records"),
        "{stdout}"
    );
}

/// Lambda's control plane held to a quota, as the service holds it (the
/// loopback front answers 429 above it; moto has no quota): a host paced
/// under it (`[limits] lambda_per_second`) meets no throttle; one paced
/// above it meets some, counts them, backs off, and still sweeps every
/// function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_paced_under_lambdas_quota_meets_no_throttle_and_above_it_still_finishes() {
    use autorepair::fleet::sweep::{self, Item};
    const QUOTA: u32 = 4;
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let role = moto.role("fleet");
    let mut names = Vec::new();
    for i in 0..8 {
        let name = format!("paced-{i}");
        Workload::new(&sdk, &name, Behaviour::Throttled)
            .create_function(&role, 512, true)
            .await
            .unwrap();
        names.push(name);
    }
    let mut config = autorepair::config::Config::default();
    config.fleet.tags_from = autorepair::config::TagSource::ListTags;
    autorepair_e2e::scenario::provision(&sdk, &config).await;
    let front = autorepair_e2e::insights::InsightsStandIn::start(moto.port);
    front.limit_lambda(QUOTA);
    let host_sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&front.endpoint)
        .region(sdk.region().cloned())
        .credentials_provider(sdk.credentials_provider().unwrap())
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(autorepair::aws::MAX_ATTEMPTS),
        )
        .load()
        .await;
    for (pace, over) in [
        (f64::from(QUOTA) * 0.75, false),
        (f64::from(QUOTA) * 1.5, true),
    ] {
        config.limits.lambda_per_second = pace;
        let host = autorepair::aws::Aws::new(&host_sdk).with_limits(&config.limits);
        let ports = autorepair::setup::fleet_ports(&host, &config);
        let rules = autorepair::setup::load_rules(&config, None, None, None)
            .await
            .unwrap();
        let ctx = autorepair::setup::context(&host, rules, config.clone());
        let refused_before = front.throttled();
        let summary = sweep::batch(
            &ctx,
            &ports,
            &Item {
                sweep: format!("paced-{pace}"),
                functions: names.clone(),
                member: None,
            },
            std::time::Duration::from_secs(120),
        )
        .await;
        let refused = front.throttled() - refused_before;
        assert_eq!(
            (summary.swept, summary.failed_count),
            (8, 0),
            "at {pace}/s: {summary:?}"
        );
        if over {
            assert!(
                refused > 0,
                "at {pace}/s over a quota of {QUOTA}/s: {summary:?}"
            );
            assert_eq!(summary.throttled, refused, "every refusal is counted");
        } else {
            assert_eq!(
                (refused, summary.throttled),
                (0, 0),
                "paced under the quota: {summary:?}"
            );
        }
    }
}
