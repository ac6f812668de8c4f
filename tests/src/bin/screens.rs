//! What a person at a terminal sees of `autorepair run`'s verification wait
//! and `autorepair sweep`'s progress: each runs in a tmux pane (110 × 12)
//! against moto on 127.0.0.1, the pane is captured while the work is under
//! way, and the captures are written to docs/screens/. Needs tmux.
//!
//! Usage: cargo run -p autorepair-e2e --bin screens (after building
//! `autorepair`: `cargo build -p autorepair --bins`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use autorepair_e2e::scenario::raise;
use autorepair_e2e::{Behaviour, Moto, Workload, alarm_event};

/// Runs `command` (with moto's environment) in a detached tmux session,
/// waits until its pane is `ready`, and returns the pane's text.
fn capture(
    moto: &Moto,
    dir: &Path,
    name: &str,
    command: &[String],
    ready: impl Fn(&str) -> bool,
) -> Result<String> {
    let script = dir.join(format!("{name}.sh"));
    let mut text = String::from("#!/bin/sh\n");
    for (k, v) in moto.env() {
        text.push_str(&format!("export {k}='{v}'\n"));
    }
    text.push_str(&format!(
        "export AUTOREPAIR_CACHE_DIR='{}'\n",
        dir.join("cache").display()
    ));
    let quoted: Vec<String> = command.iter().map(|a| format!("'{a}'")).collect();
    text.push_str(&format!("{}\nsleep 600\n", quoted.join(" ")));
    std::fs::write(&script, text)?;
    let status = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "110",
            "-y",
            "12",
            "sh",
        ])
        .arg(&script)
        .status()
        .context("tmux (apt-get install tmux)")?;
    if !status.success() {
        bail!("tmux new-session failed");
    }
    let began = Instant::now();
    let pane = loop {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", name])
            .output()?;
        let pane = String::from_utf8_lossy(&out.stdout).into_owned();
        if ready(&pane) {
            break pane;
        }
        if began.elapsed() > Duration::from_secs(120) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", name])
                .status();
            bail!("{name}: the pane never got there:\n{pane}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", name])
        .status();
    Ok(pane.trim_end().to_owned() + "\n")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let bin = autorepair_e2e::cli::locate_bin().map_err(|b| {
        anyhow::anyhow!(
            "{} not built: cargo build -p autorepair --bins",
            b.display()
        )
    })?;
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screens");
    std::fs::create_dir_all(&out)?;
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let role = moto.role("screens");
    let dir = tempfile::tempdir()?;
    let now = autorepair::clock::now_ms();

    // run: a function out of memory, repaired, its change waiting to be verified.
    let w = Workload::new(&sdk, "orders-api", Behaviour::NeedsMemory { need_mb: 350 });
    w.create_function(&role, 256, true).await?;
    w.invocations(60, now - 600_000, now - 1_000).await?;
    let event = raise(
        &sdk,
        &alarm_event("orders-api-errors", "orders-api", None, "ALARM", now),
    )
    .await;
    let file = dir.path().join("event.json");
    std::fs::write(&file, event.to_string())?;
    let run = [
        bin.display().to_string(),
        "run".into(),
        "--event".into(),
        file.display().to_string(),
        "--create-table".into(),
        "--verify-after".into(),
        "5m".into(),
    ];
    let pane = capture(&moto, dir.path(), "run", &run, |p| {
        p.contains("verifying in 4:5")
    })?;
    std::fs::write(out.join("run.txt"), pane)?;

    // sweep: a hundred and twenty opted-in functions with a day of traffic each.
    for n in 0..120 {
        let w = Workload::new(
            &sdk,
            &format!("batch-{n:03}"),
            Behaviour::NeedsMemory { need_mb: 300 },
        );
        w.create_function(&role, 1024, true).await?;
        w.invocations(30, now - 86_400_000, now - 1_000).await?;
    }
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[fleet]\nbatch_size = 2\ntags_from = \"list-tags\"\n",
    )?;
    let sweep = [
        bin.display().to_string(),
        "--config".into(),
        config.display().to_string(),
        "sweep".into(),
    ];
    let pane = capture(&moto, dir.path(), "sweep", &sweep, |p| {
        // A quarter of the way through the bar.
        p.lines()
            .filter(|l| l.contains(" functions swept ("))
            .filter_map(|l| l.split('/').next()?.rsplit(' ').next()?.parse::<u32>().ok())
            .any(|done| done >= 30)
    })?;
    std::fs::write(out.join("sweep.txt"), pane)?;
    println!("written: {}", out.display());
    Ok(())
}
