//! Rule performance, measured in one run so the ratios compare like with like.
//!
//!     cargo bench -p autorepair --bench rules
//!
//! Incident: 1,000 invocation reports + 4 metric series × 60 points. Prints
//! Markdown tables (copied into docs/benchmarks.md).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autorepair::config::Config;
use autorepair::digest::sha256_hex;
use autorepair::model::{Evidence, InvocationReport, InvocationStatus, MetricSeries, Point};
use autorepair::rules::{Compiler, RuleSet, Sandbox, artifacts};
use autorepair::testing::EvidenceBuilder;
use autorepair_rule_sdk as sdk;
use autorepair_rule_sdk::Rule;

const T0: i64 = 1_767_225_600_000;

fn incident() -> Evidence {
    let reports: Vec<InvocationReport> = (0..1000)
        .map(|i| InvocationReport {
            request_id: format!("8f5e9a3c-1b2d-4c5e-9f70-{i:012}"),
            timestamp_ms: T0 + i as i64 * 1_800,
            duration_ms: 200.0 + (i % 97) as f64 * 3.5,
            billed_duration_ms: 201.0 + (i % 97) as f64 * 3.5,
            memory_size_mb: 512,
            max_memory_used_mb: if i % 10 == 9 {
                512
            } else {
                300 + (i % 150) as u32
            },
            init_duration_ms: (i % 50 == 0).then_some(180.0),
            status: if i % 10 == 9 {
                InvocationStatus::Error
            } else {
                InvocationStatus::Success
            },
            error_type: (i % 10 == 9).then(|| "Runtime.OutOfMemory".to_owned()),
        })
        .collect();
    let series = |name: &str, statistic: &str| MetricSeries {
        namespace: "AWS/Lambda".into(),
        name: name.into(),
        statistic: statistic.into(),
        unit: "Count".into(),
        points: (0..60)
            .map(|i| Point {
                timestamp_ms: T0 + i * 30_000,
                value: (i % 7) as f64,
            })
            .collect(),
    };
    EvidenceBuilder::new("orders-api")
        .arn("arn:aws:lambda:eu-west-1:123456789012:function:orders-api")
        .runtime("nodejs20.x")
        .memory(512)
        .timeout(10)
        .tag("autorepair", "enabled")
        .alarm("orders-api-errors", "Errors", "Threshold Crossed")
        .window(T0, T0 + 1_800_000)
        .metric(series("Invocations", "Sum"))
        .metric(series("Errors", "Sum"))
        .metric(series("Throttles", "Sum"))
        .metric(series("Duration", "Average"))
        .reports(reports)
        .build()
}

/// The same incident in the SDK's types, as the host hands it over: the native
/// baseline starts from a clone of this (the wasm side pays for a copy in).
fn native_incident(e: &Evidence) -> sdk::Evidence {
    let f = &e.function;
    let mut reports = sdk::InvocationReports::empty();
    for r in &e.reports {
        reports.push(sdk::Report {
            timestamp_ms: r.timestamp_ms,
            duration_ms: r.duration_ms,
            billed_duration_ms: r.billed_duration_ms,
            memory_size_mb: r.memory_size_mb,
            max_memory_used_mb: r.max_memory_used_mb,
            init_duration_ms: r.init_duration_ms,
            status: match r.status {
                InvocationStatus::Success => sdk::InvocationStatus::Success,
                InvocationStatus::Error => sdk::InvocationStatus::Error,
                InvocationStatus::Timeout => sdk::InvocationStatus::Timeout,
            },
            error_type: r.error_type.as_deref(),
            // As the host does: no log lines, no request ids.
            request_id: None,
        });
    }
    sdk::Evidence {
        function: sdk::FunctionInfo {
            name: f.name.clone(),
            arn: f.arn.clone(),
            runtime: f.runtime.clone(),
            architecture: f.architecture.clone(),
            memory_mb: f.memory_mb,
            timeout_s: f.timeout_s,
            qualifier: f.qualifier.clone(),
        },
        alarm: sdk::AlarmInfo {
            name: e.alarm.name.clone(),
            metric: e.alarm.metric.clone(),
            state: e.alarm.state.clone(),
            reason: e.alarm.reason.clone(),
        },
        window: sdk::Window {
            start_ms: e.window.start_ms,
            end_ms: e.window.end_ms,
        },
        metrics: e
            .metrics
            .iter()
            .map(|s| sdk::MetricSeries {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
                statistic: s.statistic.clone(),
                unit: s.unit.clone(),
                timestamps_ms: s.points.iter().map(|p| p.timestamp_ms).collect(),
                values: s.points.iter().map(|p| p.value).collect(),
            })
            .collect(),
        reports,
        logs: Vec::new(),
    }
}

/// Median time per call over 15 batches, after a warm-up.
fn measure(mut f: impl FnMut()) -> Duration {
    let warm = Instant::now();
    let mut calls = 0u32;
    while warm.elapsed() < Duration::from_millis(200) {
        f();
        calls += 1;
    }
    let per_batch = (calls / 10).max(1);
    let mut samples: Vec<Duration> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            start.elapsed() / per_batch
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

type NativeRule = fn(sdk::Evidence) -> Result<Vec<sdk::Finding>, String>;

fn native(name: &str) -> NativeRule {
    match name {
        "oom" => oom::Oom::evaluate,
        "memory-pressure" => memory_pressure::MemoryPressure::evaluate,
        "timeouts" => timeouts::Timeouts::evaluate,
        "throttles" => throttles::Throttles::evaluate,
        "code-errors" => code_errors::CodeErrors::evaluate,
        other => panic!("no native twin for {other}"),
    }
}

fn main() {
    let evidence = incident();
    let native_evidence = native_incident(&evidence);
    let config = Config::default();
    let sandbox = Arc::new(Sandbox::new(64).expect("sandbox"));
    let compiler = Compiler::new(sandbox.clone(), None);
    let (specs, _) = config.rule_specs();
    let rules = RuleSet::load(&compiler, &specs);
    println!("pooling allocator: {}\n", sandbox.pooling);

    println!(
        "| rule | wasm: instantiate + copy in + evaluate | native: clone + evaluate | wasm / native |"
    );
    println!("|---|---|---|---|");
    let mut worst: f64 = 0.0;
    for (i, rule) in rules.rules().iter().enumerate() {
        let one = RuleSet::load(&compiler, &specs[i..=i]);
        let wasm = measure(|| {
            black_box(one.evaluate_serial(black_box(&evidence)));
        });
        let evaluate = native(&rule.info.name);
        let nat = measure(|| {
            black_box(evaluate(black_box(native_evidence.clone())).unwrap());
        });
        let ratio = wasm.as_secs_f64() / nat.as_secs_f64();
        worst = worst.max(ratio);
        println!(
            "| {} | {} | {} | {ratio:.2} |",
            rule.info.name,
            us(wasm),
            us(nat)
        );
    }
    println!("\nworst wasm/native ratio: {worst:.2} (target ≤ 2, stretch 1.5)");

    let instantiate = measure(|| rules.instantiate(0).unwrap());
    let serial = measure(|| {
        black_box(rules.evaluate_serial(black_box(&evidence)));
    });
    let concurrent = measure(|| {
        black_box(rules.evaluate(black_box(&evidence)));
    });
    println!("\n| measure | time |");
    println!("|---|---|");
    println!(
        "| instantiate one rule (pooling, fresh store) | {} |",
        us(instantiate)
    );
    println!(
        "| all five rules on one incident, one thread | {} |",
        us(serial)
    );
    println!(
        "| all five rules on one incident, a thread each | {} |",
        us(concurrent)
    );

    let (_, oom_bytes) = artifacts::BUNDLED[0];
    let digest = sha256_hex(oom_bytes);
    let compile = measure(|| {
        let cold = Compiler::new(sandbox.clone(), None);
        black_box(cold.component(oom_bytes, &digest).unwrap());
    });
    let cache = tempfile::tempdir().unwrap();
    Compiler::new(sandbox.clone(), Some(cache.path().to_owned()))
        .component(oom_bytes, &digest)
        .unwrap();
    let deserialize = measure(|| {
        let warm = Compiler::new(sandbox.clone(), Some(cache.path().to_owned()));
        black_box(warm.component(oom_bytes, &digest).unwrap());
    });
    println!("| compile the oom rule (cold) | {} |", us(compile));
    println!(
        "| load the oom rule from the precompiled cache | {} |",
        us(deserialize)
    );
    println!(
        "| compile / cached load | {:.0}× |",
        compile.as_secs_f64() / deserialize.as_secs_f64()
    );

    startup(cache.path());
}

/// Host start with every bundled rule ready (precompiled, from the cache) against
/// the same binary doing nothing (`--version`).
fn startup(cache: &Path) {
    let bin = env!("CARGO_BIN_EXE_autorepair");
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .env("AUTOREPAIR_CACHE_DIR", cache)
            .env_remove("AUTOREPAIR_CONFIG")
            .output()
            .expect("run autorepair");
        assert!(out.status.success());
    };
    run(&["rules", "list"]); // fills the cache
    let bare = measure(|| run(&["--version"]));
    let ready = measure(|| run(&["rules", "list"]));
    println!("| process: `autorepair --version` | {} |", us(bare));
    println!(
        "| process: `autorepair rules list` (5 rules loaded and described) | {} |",
        us(ready)
    );
    println!(
        "| start with every rule ready, above a bare start | {:.1} ms |",
        (ready.as_secs_f64() - bare.as_secs_f64()) * 1e3
    );
}
