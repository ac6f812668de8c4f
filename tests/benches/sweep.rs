//! The fleet sweep at scale, simulated against moto: N opted-in functions
//! (default 10,000), each with two weeks of REPORT lines, swept the way the
//! Distributed Map sweeps them — the plan writes the item file, then every
//! item runs `fleet::sweep::batch` here, one after another, the way a child
//! execution runs it — with the real AWS SDK clients talking to moto_server
//! on 127.0.0.1 through a loopback front that answers Logs Insights queries
//! from moto's events, dates the functions a month back, and holds Lambda's
//! control plane to a quota (`AUTOREPAIR_SWEEP_QUOTA` calls a second, 429
//! above it, as the service does). The host paces itself under it
//! (`[limits] lambda_per_second`, `AUTOREPAIR_SWEEP_PACE`). Prints the time
//! per function, the throttles met, the size of everything passed between
//! states against Step Functions' limits, the DynamoDB capacity one sweep
//! uses, and what one sweep costs on AWS at list prices. Results:
//! docs/benchmarks.md.
//!
//!     cargo bench --profile dev -p autorepair-e2e --bench sweep
//!     AUTOREPAIR_SWEEP_FUNCTIONS=500 cargo bench --profile dev -p autorepair-e2e --bench sweep

use std::time::{Duration, Instant};

use autorepair::aws::Aws;
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::fleet::sweep::{self, BatchSummary, Item};
use autorepair::ports::RecommendationStore;
use autorepair::setup;
use autorepair::testing::workload::traffic;
use autorepair_e2e::{Behaviour, Moto, Workload};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;

/// Step Functions' limit on a state's input or output.
const STATE_LIMIT: usize = 256 * 1024;
/// Invocations per function over the window (enough for a downsizing).
const INVOCATIONS: usize = 140;

// List prices, us-east-1, as of 2026-11 (https://aws.amazon.com/pricing/).
const USD_PER_STATE_TRANSITION: f64 = 0.025 / 1000.0;
const USD_PER_METRIC_REQUESTED: f64 = 0.01 / 1000.0; // GetMetricData
const USD_PER_WRITE_UNIT: f64 = 0.625 / 1_000_000.0; // on demand
const USD_PER_READ_UNIT: f64 = 0.125 / 1_000_000.0;
const USD_PER_GB_SECOND_ARM: f64 = 0.000_013_333_4;
const USD_PER_LAMBDA_REQUEST: f64 = 0.20 / 1_000_000.0;
/// Series one function's sweep requests (Lambda's six, Lambda Insights' two).
const METRICS_PER_FUNCTION: f64 = 8.0;
/// Transitions: the parent's five states, and per child execution its start,
/// its one task and its end.
const PARENT_TRANSITIONS: f64 = 5.0;
const TRANSITIONS_PER_ITEM: f64 = 3.0;
const HOST_GB: f64 = 0.5;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    autorepair::stats::percentile(sorted, p).unwrap_or(0.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("AUTOREPAIR_SWEEP_FUNCTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let env = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(default)
    };
    let quota = env("AUTOREPAIR_SWEEP_QUOTA", 50.0);
    let pace = env("AUTOREPAIR_SWEEP_PACE", 40.0);
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let front = autorepair_e2e::insights::InsightsStandIn::start(moto.port);
    front.age_functions(now_ms() - 30 * 86_400_000);
    // The host's clients: through the front, with the host's own retries.
    let host_sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&front.endpoint)
        .region(sdk.region().cloned())
        .credentials_provider(sdk.credentials_provider().expect("moto's credentials"))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(autorepair::aws::MAX_ATTEMPTS),
        )
        .load()
        .await;
    let mut config = Config::default();
    config.limits.lambda_per_second = pace;
    config.fleet.sweep_bucket = "autorepair-sweeps".into();
    // moto's tagging API does not serve Lambda: ListTags, per function.
    config.fleet.tags_from = autorepair::config::TagSource::ListTags;
    let aws = Aws::new(&sdk);
    setup::audit_table(&aws, &config).ensure_table().await?;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(&config.fleet.sweep_bucket)
        .send()
        .await?;

    // The account: N functions, a third each needing more, less, and
    // about what they have.
    let role = moto.role("fleet-scale");
    let started = Instant::now();
    let now = now_ms();
    let window = sweep::window(now, config.fleet.sweep_days);
    let mut handles = Vec::new();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    for i in 0..n {
        let (sdk, role, gate) = (sdk.clone(), role.clone(), gate.clone());
        handles.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let (memory, behaviour) = match i % 3 {
                0 => (1024, Behaviour::NeedsMemory { need_mb: 200 }),
                1 => (256, Behaviour::NeedsMemory { need_mb: 350 }),
                _ => (512, Behaviour::DownstreamTimeouts),
            };
            let w = Workload::new(&sdk, &format!("fn-{i:05}"), behaviour);
            w.create_function(&role, memory, true).await?;
            // The logs only: moto's GetMetricData walks every datapoint of
            // the account for every period of every query, which at 10,000
            // functions takes minutes a call (CloudWatch answers in
            // milliseconds); without the Invocations series a
            // recommendation counts the REPORT lines instead.
            let t = traffic(
                behaviour,
                memory,
                INVOCATIONS,
                window.start_ms + 60_000,
                window.end_ms - 60_000,
                0,
            );
            let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
            let stream = "2026/01/01/[$LATEST]0";
            logs.create_log_stream()
                .log_group_name(w.log_group())
                .log_stream_name(stream)
                .send()
                .await?;
            let events: Vec<_> = t
                .lines
                .iter()
                .filter_map(|(at, m)| {
                    InputLogEvent::builder()
                        .timestamp(*at)
                        .message(m)
                        .build()
                        .ok()
                })
                .collect();
            logs.put_log_events()
                .log_group_name(w.log_group())
                .log_stream_name(stream)
                .set_log_events(Some(events))
                .send()
                .await?;
            anyhow::Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let created_s = started.elapsed().as_secs_f64();
    eprintln!("{n} functions created with their traffic in {created_s:.0} s");

    let rules = setup::load_rules(&config, None, None, None).await?;
    front.limit_lambda(quota as u32);
    let host = Aws::new(&host_sdk).with_limits(&config.limits);
    let ports = setup::fleet_ports(&host, &config);
    let ctx = setup::context(&host, rules, config.clone());

    // ListFunctions: the inventory and the item file.
    let started = Instant::now();
    let plan = sweep::plan(&ctx, &ports, "scale-1").await?;
    let plan_s = started.elapsed().as_secs_f64();
    let plan_reply = serde_json::to_vec(&plan)?.len();
    let file = s3
        .get_object()
        .bucket(&plan.bucket)
        .key(&plan.key)
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    let items: Vec<Item> = serde_json::from_slice(&file)?;
    let largest_item = items
        .iter()
        .map(|i| serde_json::to_vec(i).map_or(0, |v| v.len()))
        .max()
        .unwrap_or(0);

    // The map's items, each as its child execution runs it.
    let started = Instant::now();
    let mut batches: Vec<BatchSummary> = Vec::new();
    let mut batch_s: Vec<f64> = Vec::new();
    for item in &items {
        let t = Instant::now();
        batches.push(
            sweep::batch(
                &ctx,
                &ports,
                item,
                Duration::from_secs(ctx.config.fleet.batch_budget_seconds),
            )
            .await,
        );
        batch_s.push(t.elapsed().as_secs_f64());
    }
    let sweep_s = started.elapsed().as_secs_f64();
    batch_s.sort_by(f64::total_cmp);
    let largest_result = batches
        .iter()
        .map(|b| serde_json::to_vec(b).map_or(0, |v| v.len()))
        .max()
        .unwrap_or(0);
    // The Summary task's input: the plan's reply with the map's results.
    let summary_input = plan_reply + serde_json::to_vec(&batches)?.len() + 16;
    let total = sweep::summary(&ctx, "scale-1", &batches).await;

    // DynamoDB: each recommendation is one item, read once (the OOM floor)
    // and written once per sweep.
    let stored = setup::audit_table(&aws, &config).recommendations().await?;
    let mut item_bytes: Vec<f64> = stored
        .iter()
        .map(|r| {
            let document = serde_json::to_vec(r).map_or(0, |v| v.len());
            // Attribute names and values: pk, sk, direction, document.
            let pk = autorepair::aws::audit::keys::RECOMMENDATION_PREFIX.len() + r.function.len();
            (2 + pk + 2 + "current".len() + 9 + r.direction.to_string().len() + 8 + document) as f64
        })
        .collect();
    item_bytes.sort_by(f64::total_cmp);
    let write_units: f64 = item_bytes.iter().map(|b| (b / 1024.0).ceil()).sum();
    // Reads: the last recommendation (its OOM floor) and one Query of the
    // function's change history (a few small items: half a unit), both
    // eventually consistent.
    let read_units: f64 = item_bytes
        .iter()
        .map(|b| (b / 4096.0).ceil() * 0.5 + 0.5)
        .sum();

    let per_function_ms = sweep_s * 1000.0 / n as f64;
    let host_seconds = sweep_s + plan_s;
    let transitions = PARENT_TRANSITIONS + TRANSITIONS_PER_ITEM * items.len() as f64;
    let cost = [
        (
            "Step Functions transitions",
            transitions * USD_PER_STATE_TRANSITION,
        ),
        (
            "CloudWatch GetMetricData",
            n as f64 * METRICS_PER_FUNCTION * USD_PER_METRIC_REQUESTED,
        ),
        (
            "DynamoDB (on demand)",
            write_units * USD_PER_WRITE_UNIT + read_units * USD_PER_READ_UNIT,
        ),
        (
            "Lambda (host, 512 MB arm64)",
            host_seconds * HOST_GB * USD_PER_GB_SECOND_ARM
                + (items.len() + 2) as f64 * USD_PER_LAMBDA_REQUEST,
        ),
    ];

    println!(
        "fleet sweep, simulated against moto: {n} opted-in functions; Lambda's quota {quota}/s, the host's pace {pace}/s"
    );
    println!(
        "  throttled: {} calls refused by the quota, {} throttling answers met by the host (each retried)",
        front.throttled(),
        total.throttled
    );
    println!(
        "  swept {} ({} up, {} down, {} keep), {} failed; {} items of {}",
        total.swept,
        total.up,
        total.down,
        total.keep,
        total.failed.len(),
        items.len(),
        config.fleet.batch_size
    );
    println!(
        "  ListFunctions + item file: {plan_s:.1} s ({:.2} ms a function)",
        plan_s * 1000.0 / n as f64
    );
    println!(
        "  sweep, items one after another: {sweep_s:.0} s = {per_function_ms:.1} ms a function \
(item p50 {:.2} s, p99 {:.2} s; {} at once within an item)",
        percentile(&batch_s, 50.0),
        percentile(&batch_s, 99.0),
        config.fleet.concurrency
    );
    println!(
        "  payloads (Step Functions allows {STATE_LIMIT} bytes a state): plan reply {plan_reply} B, \
largest item {largest_item} B, largest item result {largest_result} B, Summary input {summary_input} B \
({:.1}% of the limit); item file {} B (S3, no limit)",
        summary_input as f64 * 100.0 / STATE_LIMIT as f64,
        file.len()
    );
    println!(
        "  DynamoDB per sweep: {} recommendation items, {:.0} B median, {:.0} B largest; \
{write_units:.0} write units, {read_units:.0} read units",
        stored.len(),
        percentile(&item_bytes, 50.0),
        item_bytes.last().copied().unwrap_or(0.0)
    );
    println!("  one sweep on AWS at list prices (us-east-1):");
    for (what, usd) in &cost {
        println!("    {what:<30} ${usd:.4}");
    }
    println!(
        "    {:<30} ${:.4} (a weekly sweep: ${:.2} a month)",
        "total",
        cost.iter().map(|(_, u)| u).sum::<f64>(),
        cost.iter().map(|(_, u)| u).sum::<f64>() * 52.0 / 12.0
    );
    anyhow::ensure!(
        total.failed_count == 0 && total.failed.is_empty(),
        "failed: {:?}",
        total.failed
    );
    anyhow::ensure!(
        total.swept == n,
        "{} of {n} swept: {:?}",
        total.swept,
        total.failed
    );
    anyhow::ensure!(
        summary_input < STATE_LIMIT,
        "the Summary input is over the limit"
    );
    Ok(())
}
