//! The local demo: the whole loop against moto on 127.0.0.1, no AWS account.
//!
//! Starts moto, creates the shipped example function with too little memory
//! and runs it for real (Node.js in a memory cgroup, the local execution
//! environment of tests/src/functions; a simulated workload where this
//! machine cannot make one), fires the alarm and runs `autorepair run` on it
//! while the function keeps being invoked with whatever memory it has; then a
//! second, simulated function whose problem memory cannot fix, which is
//! rolled back.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use autorepair::aws::Aws;
use autorepair::clock::now_ms;
use autorepair_e2e::functions::{Code, Ended, Functions, Traffic, example_function};
use autorepair_e2e::{Behaviour, Moto, Workload, alarm_event};

fn autorepair_bin() -> Result<PathBuf> {
    autorepair_e2e::cli::locate_bin().or_else(|bin| {
        bail!(
            "{} not found: build it with `cargo build --release -p autorepair`",
            bin.display()
        )
    })
}

fn banner(text: &str) {
    println!("\n════ {text}\n");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let bin = autorepair_bin()?;
    banner("Starting moto_server on 127.0.0.1 (the local AWS emulator)");
    let moto = Moto::start();
    println!("moto at {}", moto.endpoint);
    let sdk = moto.sdk_config().await;
    let aws = Aws::new(&sdk);
    let role = moto.role("demo-function-role");
    let topic = aws
        .sns
        .create_topic()
        .name("autorepair-notices")
        .send()
        .await?;
    let topic_arn = topic.topic_arn().unwrap_or_default().to_owned();
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("autorepair.toml");
    std::fs::write(
        &config,
        format!(
            "[run]\naudit_table = \"autorepair-audit\"\ntopic_arn = \"{topic_arn}\"\nmin_verify_invocations = 5\n"
        ),
    )?;

    // The first story on a real function where this machine can give a
    // process a memory limit (root, or a delegated cgroup v2 subtree).
    match Functions::new(&sdk) {
        Ok(functions) => {
            real_scenario(&bin, &moto, &sdk, &role, &config, Arc::new(functions)).await?
        }
        Err(why) => {
            println!("{why:#}: the first story runs on the simulated workload instead");
            scenario(
                &bin,
                &moto,
                &sdk,
                &role,
                &config,
                "orders-api",
                Behaviour::NeedsMemory { need_mb: 350 },
                "1. orders-api (256 MB) runs out of memory; it needs ~350 MB",
            )
            .await?;
        }
    }
    scenario(
        &bin,
        &moto,
        &sdk,
        &role,
        &config,
        "report-builder",
        Behaviour::Leak,
        "2. report-builder (512 MB) leaks: more memory will not help, so the change is rolled back",
    )
    .await?;

    banner("The audit table");
    let items = aws
        .dynamodb
        .scan()
        .table_name("autorepair-audit")
        .send()
        .await?;
    for item in items.items() {
        let get = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let pk = get("pk");
        if let Some(id) = pk.strip_prefix(autorepair::aws::audit::keys::INCIDENT_PREFIX) {
            println!(
                "incident {id}  function {}  status {}",
                get("function"),
                get("status")
            );
        } else if let Some(f) = pk.strip_prefix(autorepair::aws::audit::keys::FUNCTION_PREFIX) {
            let n = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_n().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            println!(
                "change   {f}: {} MB → {} MB ({})",
                n("from_mb"),
                n("to_mb"),
                get("sk")
            );
        }
    }
    Ok(())
}

/// The shipped example (infrastructure/examples/oom-function), real Node.js
/// in a 128 MB memory cgroup, invoked with its trigger's payload while
/// autorepair works.
async fn real_scenario(
    bin: &std::path::Path,
    moto: &Moto,
    sdk: &aws_config::SdkConfig,
    role: &str,
    config: &std::path::Path,
    functions: Arc<Functions>,
) -> Result<()> {
    let name = "oom-example";
    banner(
        "1. oom-example (128 MB): the shipped example, real Node.js, holding 200 MB per invocation",
    );
    functions
        .deploy(name, role, Code::node(example_function()), 128, 10)
        .await?;
    println!(
        "created {name} with 128 MB from infrastructure/examples/oom-function, tagged autorepair=enabled;\n\
         each invocation runs in a local execution environment: a Node.js process in a 128 MB memory cgroup"
    );
    let traffic = Traffic::start(
        &functions,
        name,
        3,
        Arc::new(|_| serde_json::json!({"megabytes": 200})),
    );
    let seen = traffic.wait_for(8, Duration::from_secs(120)).await;
    println!(
        "{seen} invocations so far, {} of them killed at the limit (REPORT … Error Type: Runtime.OutOfMemory)",
        traffic.count_where(|i| i.ended == Ended::OutOfMemory)
    );
    let outcome = fire_and_run(bin, moto, sdk, config, name, "6s").await;
    let (invocations, failures) = traffic.stop().await;
    outcome?;
    if let Some(why) = failures.first() {
        bail!("the local execution environment failed: {why}");
    }
    let memory = functions_memory(sdk, name).await?;
    let after: Vec<_> = invocations
        .iter()
        .filter(|i| i.memory_size_mb == memory)
        .collect();
    println!(
        "
{name} now has {memory} MB: {} of its {} invocations since succeeded (the real REPORT lines are in moto's /aws/lambda/{name})",
        after.iter().filter(|i| i.ended == Ended::Success).count(),
        after.len()
    );
    Ok(())
}

async fn functions_memory(sdk: &aws_config::SdkConfig, name: &str) -> Result<u32> {
    let config = aws_sdk_lambda::Client::new(sdk)
        .get_function_configuration()
        .function_name(name)
        .send()
        .await?;
    Ok(config.memory_size().unwrap_or_default() as u32)
}

/// The alarm as CloudWatch raises it (the host checks the event against the
/// alarm before it acts), then `autorepair run` on it.
async fn fire_and_run(
    bin: &std::path::Path,
    moto: &Moto,
    sdk: &aws_config::SdkConfig,
    config: &std::path::Path,
    name: &str,
    verify_after: &str,
) -> Result<()> {
    let event = autorepair_e2e::scenario::raise(
        sdk,
        &alarm_event(&format!("{name}-errors"), name, None, "ALARM", now_ms()),
    )
    .await;
    let event_file = config.with_file_name(format!("{name}-alarm.json"));
    std::fs::write(&event_file, serde_json::to_string_pretty(&event)?)?;
    println!(
        "the Errors alarm fires; running:\n  autorepair run --event {} --verify-after {verify_after} --create-table\n",
        event_file.display()
    );
    let output = tokio::task::spawn_blocking({
        let (bin, config, event_file) = (bin.to_owned(), config.to_owned(), event_file.clone());
        let env = moto.env();
        let verify_after = verify_after.to_owned();
        move || {
            Command::new(bin)
                .arg("--config")
                .arg(&config)
                .arg("run")
                .arg("--event")
                .arg(&event_file)
                .args(["--verify-after", &verify_after, "--create-table"])
                .envs(env)
                .output()
        }
    })
    .await?
    .context("running autorepair")?;
    print!("{}", String::from_utf8_lossy(&output.stdout));
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        bail!("autorepair run failed");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn scenario(
    bin: &std::path::Path,
    moto: &Moto,
    sdk: &aws_config::SdkConfig,
    role: &str,
    config: &std::path::Path,
    name: &str,
    behaviour: Behaviour,
    title: &str,
) -> Result<()> {
    banner(title);
    let memory = if behaviour == Behaviour::Leak {
        512
    } else {
        256
    };
    let workload = Arc::new(Workload::new(sdk, name, behaviour));
    workload.create_function(role, memory, true).await?;
    let now = now_ms();
    workload
        .invocations(120, now - 600_000, now - 1_000)
        .await?;
    println!(
        "created {name} with {memory} MB, tagged autorepair=enabled; simulated 120 invocations over 10 minutes"
    );

    // Traffic keeps flowing while autorepair works, with whatever memory the
    // function has at that moment.
    let running = Arc::new(AtomicBool::new(true));
    let traffic = {
        let (workload, running) = (workload.clone(), running.clone());
        tokio::spawn(async move {
            let mut last = now_ms();
            while running.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(400)).await;
                let now = now_ms();
                let _ = workload.invocations(4, last, now).await;
                last = now;
            }
        })
    };

    let outcome = fire_and_run(bin, moto, sdk, config, name, "3s").await;
    running.store(false, Ordering::Relaxed);
    let _ = traffic.await;
    outcome?;
    println!("\n{name} now has {} MB", workload.memory_mb().await?);
    Ok(())
}
