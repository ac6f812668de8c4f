//! The Lambda handler: one pipeline stage per invocation, driven by Step
//! Functions with `{"stage": "...", ...}` payloads (see `pipeline::StageRequest`).

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

use autorepair::aws::Aws;
use autorepair::config::Config;
use autorepair::fleet::stage::{self, FleetRequest};
use autorepair::pipeline::{self, StageRequest};
use autorepair::setup;
use autorepair::stage::Stage;

/// mimalloc: per-thread heaps for the many small allocations of rules'
/// evidence and records (docs/benchmarks.md, "Replay on 2 cores").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AUTOREPAIR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();

    let config = Config::from_env()?;
    // Lambda's only writable place is /tmp; warm starts reuse what it holds.
    let cache = config
        .sandbox
        .effective_cache_dir()
        .map(|_| std::env::temp_dir().join("autorepair-rules"));
    let aws = Aws::from_env().await.with_limits(&config.limits);
    let floors = Arc::new(setup::audit_table(&aws, &config));
    let rules = setup::load_rules(
        &config,
        Some(setup::rule_store(&aws.sdk)),
        Some(floors),
        cache,
    )
    .await?;
    let fleet = Arc::new(setup::fleet_ports(&aws, &config));
    let ctx = Arc::new(setup::context(&aws, rules, config));

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (ctx, fleet) = (ctx.clone(), fleet.clone());
        async move {
            if stage::is_fleet(&event.payload) {
                let request: FleetRequest = serde_json::from_value(event.payload)
                    .map_err(|e| format!("not a fleet stage request ({e})"))?;
                // The invocation's deadline (Unix ms): the fleet's budgets
                // fit inside whatever timeout the host was deployed with.
                let deadline = event.context.deadline;
                let remaining = u64::try_from(autorepair::clock::now_ms())
                    .ok()
                    .filter(|_| deadline > 0)
                    .map(|now| Duration::from_millis(deadline.saturating_sub(now)));
                return Ok(stage::handle(&ctx, &fleet, request, remaining).await?);
            }
            let request: StageRequest = serde_json::from_value(event.payload).map_err(|e| {
                format!(
                    "not a stage request ({e}); stages: {}, {}",
                    Stage::join(&Stage::WORKFLOW, ", "),
                    Stage::join(&Stage::FLEET, ", ")
                )
            })?;
            let run = pipeline::stage(&ctx, request).await?;
            Ok::<Value, Error>(serde_json::to_value(run)?)
        }
    }))
    .await
}
