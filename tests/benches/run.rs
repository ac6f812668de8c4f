//! `run --dry-run` against moto with a 1,000-invocation incident: time per
//! stage, end to end, and whether collect's sources overlap (the metrics are
//! read while the function and then its logs are).
//!
//!     cargo bench -p autorepair-e2e --bench run
//!
//! Needs moto_server (tests/setup.sh installs it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use autorepair::aws::Aws;
use autorepair::aws::lambda::Lambda;
use autorepair::aws::telemetry::CloudWatch;
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::evidence;
use autorepair::pipeline::{self, Options};
use autorepair::ports::Telemetry;
use autorepair::rules::{Compiler, RuleSet, Sandbox};
use autorepair::setup;
use autorepair_e2e::{Behaviour, Moto, Workload, alarm_event};

const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let aws = Aws::new(&sdk);
    let w = Workload::new(
        &sdk,
        "orders-bench",
        Behaviour::NeedsMemory { need_mb: 350 },
    );
    w.create_function(&moto.role("bench"), 256, true)
        .await
        .unwrap();
    let now = now_ms();
    w.invocations(1000, now - 1_500_000, now - 1_000)
        .await
        .unwrap();

    let config = Config::default();
    let (specs, _) = config.rule_specs();
    let compiler = Compiler::new(Arc::new(Sandbox::new(64).unwrap()), None);
    setup::audit_table(&aws, &config)
        .ensure_table()
        .await
        .unwrap();
    let ctx = setup::context(&aws, RuleSet::load(&compiler, &specs), config.clone());
    let options = Options {
        dry_run: true,
        mode: Default::default(),
        verify_after: Duration::ZERO,
    };

    let mut totals = Vec::new();
    let mut stages: std::collections::BTreeMap<String, Vec<Duration>> = Default::default();
    let mut invocations = 0;
    for i in 0..RUNS + 2 {
        // A new alarm transition each time (a redelivery would be a no-op).
        let event = autorepair_e2e::scenario::raise(
            &sdk,
            &alarm_event(
                &format!("bench-{i}"),
                "orders-bench",
                None,
                "ALARM",
                now_ms(),
            ),
        )
        .await;
        let started = Instant::now();
        let run = pipeline::run(&ctx, &event, options).await.unwrap();
        let total = started.elapsed();
        assert_eq!(run.status, pipeline::Status::DryRun, "{:?}", run.failure);
        invocations = run.evidence.as_ref().map_or(0, |e| e.invocations);
        if i >= 2 {
            totals.push(total);
            for (stage, t) in &run.stage_ms {
                stages
                    .entry(stage.clone())
                    .or_default()
                    .push(Duration::from_millis(*t));
            }
        }
    }

    // Collect's sources one after the other, against all three at once, through
    // a proxy that adds 20 ms per request: loopback moto answers in about a
    // millisecond and serially, which would hide what overlapping buys on a
    // real network.
    let proxy = autorepair_e2e::faults::FaultProxy::start_with_latency(
        moto.port,
        vec![],
        Duration::from_millis(20),
    );
    let slow = aws_config::SdkConfig::builder()
        .endpoint_url(&proxy.endpoint)
        .region(sdk.region().cloned())
        .credentials_provider(sdk.credentials_provider().unwrap())
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let aws = Aws::new(&slow);
    let lambda = Lambda::new(aws.lambda.clone());
    let cloudwatch = CloudWatch::new(aws.cloudwatch.clone(), aws.logs.clone());
    let sources = evidence::Sources {
        functions: &lambda,
        telemetry: &cloudwatch,
        changes: None,
    };
    let bound = Duration::from_secs(20);
    let window = evidence::window_before(now_ms(), 30);
    let mut alone = Vec::new();
    let mut together = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let function = evidence::function(&lambda, "orders-bench", None, bound)
            .await
            .unwrap();
        cloudwatch.metrics("orders-bench", window).await;
        cloudwatch
            .log_lines(&function.log_group(), window, 20_000)
            .await;
        alone.push(t.elapsed());
        let t = Instant::now();
        let alarm = autorepair::model::AlarmInfo {
            name: "bench".into(),
            metric: "Errors".into(),
            state: "ALARM".into(),
            reason: String::new(),
        };
        evidence::collect(sources, "orders-bench", None, alarm, window, &config.run)
            .await
            .unwrap();
        together.push(t.elapsed());
    }

    println!(
        "incident: {invocations} invocation reports parsed from moto's logs; median of {RUNS} runs\n"
    );
    println!("| stage (run --dry-run) | time |");
    println!("|---|---|");
    for (stage, times) in stages {
        println!("| {stage} | {} |", ms(median(times)));
    }
    println!("| **end to end** | **{}** |", ms(median(totals)));
    let (alone, together) = (median(alone), median(together));
    println!("\n| collect | time |");
    println!("|---|---|");
    println!(
        "| config, metrics, logs one after the other (+{} per request) | {} |",
        ms(proxy.latency()),
        ms(alone)
    );
    println!(
        "| metrics beside function → logs (what collect does) | {} |",
        ms(together)
    );
    println!(
        "| overlap saving | {:.0}% |",
        (1.0 - together.as_secs_f64() / alone.as_secs_f64()) * 100.0
    );
}
