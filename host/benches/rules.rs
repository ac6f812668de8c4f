//! Rule performance, measured in one run so the ratios compare like with like.
//!
//!     cargo bench -p autorepair --bench rules
//!
//! Incident: 1,000 invocation reports + 4 metric series × 60 points. Prints
//! Markdown tables (copied into docs/benchmarks.md).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autorepair::config::Config;
use autorepair::digest::sha256_hex;
use autorepair::model::{
    Evidence, Grants, InvocationReport, InvocationStatus, MetricSeries, Point,
};
use autorepair::rules::{
    ArtifactCache, Compiler, NativeCode, Origin, RuleSet, Sandbox, artifacts, compute_statistics,
};
use autorepair::testing::EvidenceBuilder;
use autorepair_rule_sdk as sdk;
use autorepair_rule_sdk::Rule;
use wasmtime::component::Component;

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
            log_stream: None,
            function_error: None,
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

/// Rounds of the per-rule table: the VM's figures drift by tens of percent
/// from minute to minute, so each ratio is reported as its spread.
const ROUNDS: usize = 3;

fn main() {
    let evidence = incident();
    let native_evidence = native_incident(&evidence);
    let config = Config::default();
    let sandbox = Arc::new(Sandbox::new(64).expect("sandbox"));
    let compiler = Compiler::new(sandbox.clone(), None);
    let (specs, _) = config.rule_specs();
    let rules = RuleSet::load(&compiler, &specs);
    println!("pooling allocator: {}\n", sandbox.pooling);

    // Per rule, in ROUNDS interleaved rounds: native; in the sandbox with a
    // kept instance (how bundled rules run) and with a fresh store and
    // instance per call (how every other rule runs); and the statistics the
    // host computes for the rules that import them (included in both wasm
    // figures: a set of one rule computes them for itself).
    let names: Vec<String> = rules.rules().iter().map(|r| r.info.name.clone()).collect();
    let mut rows: Vec<Vec<[Duration; 4]>> = vec![Vec::new(); names.len()];
    for _ in 0..ROUNDS {
        for (i, name) in names.iter().enumerate() {
            let warm = RuleSet::load(&compiler, &specs[i..=i]);
            let mut external = specs[i].clone();
            external.origin = Origin::External(format!("{name}.wasm"));
            let fresh = RuleSet::load(&compiler, &[external]);
            assert!(!fresh.rules()[0].keeps_instance());
            let evaluate = native(name);
            let nat = measure(|| {
                black_box(evaluate(black_box(native_evidence.clone())).unwrap());
            });
            let kept = measure(|| {
                black_box(warm.evaluate_serial(black_box(&evidence)));
            });
            let new = measure(|| {
                black_box(fresh.evaluate_serial(black_box(&evidence)));
            });
            let stats = measure(|| compute_statistics(black_box(&evidence), Grants::ALL));
            rows[i].push([nat, kept, new, stats]);
        }
    }
    println!(
        "| rule | native: clone + evaluate | wasm, kept instance (bundled) | wasm / native | wasm, fresh instance (third-party) | wasm / native | of which host statistics |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut worst: f64 = 0.0;
    for (name, rounds) in names.iter().zip(&rows) {
        let med = |k: usize| {
            let mut v: Vec<Duration> = rounds.iter().map(|r| r[k]).collect();
            v.sort();
            v[v.len() / 2]
        };
        let spread = |k: usize| {
            let ratios: Vec<f64> = rounds
                .iter()
                .map(|r| r[k].as_secs_f64() / r[0].as_secs_f64())
                .collect();
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(0.0, f64::max);
            (lo, hi)
        };
        let (klo, khi) = spread(1);
        let (flo, fhi) = spread(2);
        worst = worst.max(khi);
        let uses = rules
            .rules()
            .iter()
            .find(|r| &r.info.name == name)
            .is_some_and(|r| r.uses_statistics());
        println!(
            "| {name} | {} | {} | {klo:.2}–{khi:.2} | {} | {flo:.2}–{fhi:.2} | {} |",
            us(med(0)),
            us(med(1)),
            us(med(2)),
            if uses { us(med(3)) } else { "none".into() }
        );
    }
    println!(
        "\nworst wasm/native ratio of a bundled rule over {ROUNDS} rounds: {worst:.2} (target ≤ 1.5, stretch 1.2)"
    );

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
        "| all five rules on one incident, one thread (statistics once) | {} |",
        us(serial)
    );
    println!(
        "| all five rules on one incident, a thread each | {} |",
        us(concurrent)
    );

    let (_, oom_bytes) = artifacts::BUNDLED[0];
    let digest = sha256_hex(oom_bytes);
    let engine = sandbox.engine();
    let compile = measure(|| {
        let artifact = engine.precompile_component(oom_bytes).unwrap();
        // SAFETY: produced just above by this engine.
        black_box(unsafe { Component::deserialize(engine, &artifact) }.unwrap());
    });
    let embedded = measure(|| {
        let fresh = Compiler::new(sandbox.clone(), None);
        let (component, code) = fresh.component(oom_bytes, &digest).unwrap();
        assert_eq!(code, NativeCode::Embedded);
        black_box(component);
    });
    let cache = tempfile::tempdir().unwrap();
    let artifacts = ArtifactCache::new(cache.path().to_owned(), engine).expect("cache");
    artifacts.store(&digest, &engine.precompile_component(oom_bytes).unwrap());
    let cached = measure(|| {
        black_box(artifacts.load(engine, &digest).expect("cached"));
    });
    println!("| compile the oom rule (cold) | {} |", us(compile));
    println!(
        "| load the oom rule from the code embedded in the binary | {} |",
        us(embedded)
    );
    println!(
        "| load the oom rule from the on-disk cache (read + HMAC check + deserialize) | {} |",
        us(cached)
    );
    println!(
        "| compile / embedded load | {:.0}× |",
        compile.as_secs_f64() / embedded.as_secs_f64()
    );
}
