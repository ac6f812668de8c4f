//! The sweep's plan for a 100,000-function account, measured in one run:
//! the inventory listed (in-memory: the service's paging is counted, not
//! waited for) and the Distributed Map's item file written — the time, the
//! peak memory, the sizes that pass between states — and how long the
//! listing takes at Lambda's control-plane quota and at autorepair's own pace.
//!
//!     cargo bench -p autorepair --bench plan
//!     AUTOREPAIR_PLAN_FUNCTIONS=10000 cargo bench -p autorepair --bench plan

use std::sync::Arc;
use std::time::Instant;

use autorepair::config::Config;
use autorepair::fleet::FleetPorts;
use autorepair::fleet::sweep;
use autorepair::pipeline::Context;
use autorepair::rules::{Compiler, RuleSet, Sandbox};
use autorepair::testing::ports::{
    AlarmStates, FakeClock, MemoryAlarms, MemoryAudit, MemoryExecutions, MemoryItems, MemoryLambda,
    MemoryRecommendations, MemoryTelemetry,
};

/// Step Functions' limit on a state's input or output.
const STATE_LIMIT: usize = 256 * 1024;
/// Lambda's control-plane quota (calls a second an account).
const LAMBDA_QUOTA: f64 = 15.0;
/// ListFunctions pages hold 50 functions; GetResources pages 100.
const LIST_PAGE: usize = 50;
const TAG_PAGE: usize = 100;

/// The process's peak resident memory (MB), from /proc.
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let n: usize = std::env::var("AUTOREPAIR_PLAN_FUNCTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let lambda = Arc::new(MemoryLambda::default());
    for i in 0..n {
        lambda.add(&format!("fn-{i:06}"), 1024, true);
    }
    let mut config = Config::default();
    config.fleet.sweep_bucket = "sweeps".into();
    let compiler = Compiler::new(Arc::new(Sandbox::new(64).expect("sandbox")), None);
    let ctx = Context {
        functions: lambda.clone(),
        telemetry: Arc::new(MemoryTelemetry::default()),
        audit: Arc::new(MemoryAudit::default()),
        notifier: None,
        ai: None,
        clock: Arc::new(FakeClock::at(0)),
        alarms: Arc::new(AlarmStates::default()),
        executions: Arc::new(MemoryExecutions::default()),
        metrics: None,
        changes: None,
        members: None,
        rules: Arc::new(RuleSet::load(&compiler, &[])),
        config: config.clone(),
    };
    let items = Arc::new(MemoryItems::default());
    let ports = FleetPorts {
        inventory: lambda,
        alarms: Arc::new(MemoryAlarms::default()),
        recommendations: Arc::new(MemoryRecommendations::default()),
        items: items.clone(),
        throttled: || 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let before = peak_mb();
    let started = Instant::now();
    let plan = runtime
        .block_on(sweep::plan(&ctx, &ports, "scale-100k"))
        .expect("the plan");
    let took = started.elapsed().as_secs_f64();
    let file = items.objects.lock().unwrap()[&(plan.bucket.clone(), plan.key.clone())].len();
    let reply = serde_json::to_vec(&plan).map_or(0, |v| v.len());
    let list_calls = n.div_ceil(LIST_PAGE);
    let tag_calls = n.div_ceil(TAG_PAGE);
    let pace = config.limits.share(config.limits.lambda_per_second);
    println!("| the plan for {n} opted-in functions | measured |");
    println!("|---|---|");
    println!("| listing + item file, in memory | {took:.2} s |");
    println!(
        "| peak memory of the process | {:.0} MB ({:.0} MB before the plan, the {n} functions held in the twin included) |",
        peak_mb(),
        before
    );
    println!(
        "| item file (S3) | {file} bytes, {} items of {} |",
        plan.batches, config.fleet.batch_size
    );
    println!(
        "| the plan's reply (the largest state it passes) | {reply} bytes ({:.3}% of {STATE_LIMIT}) |",
        reply as f64 * 100.0 / STATE_LIMIT as f64
    );
    println!(
        "| calls: ListFunctions {list_calls} + GetResources {tag_calls} | at Lambda's quota ({LAMBDA_QUOTA}/s): {:.0} s; at autorepair's pace ({pace}/s): {:.0} s |",
        list_calls as f64 / LAMBDA_QUOTA,
        list_calls as f64 / pace,
    );
    assert_eq!(plan.functions, n);
    assert!(reply < STATE_LIMIT);
}
