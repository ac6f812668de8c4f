//! `autorepair run`: one alarm event end to end, against AWS (or an emulator).

use std::path::PathBuf;

use anyhow::Context;

use autorepair::aws::Aws;
use autorepair::comparison::{Record, RecordWriter};
use autorepair::config::Config;
use autorepair::decide::MergeMode;
use autorepair::pipeline::{self, Options, Status};
use autorepair::render;
use autorepair::setup;

use crate::common::{Format, load_rules, parse_duration, parse_mode, runtime};
use crate::{Failure, bad_input};
use autorepair::pipeline::{Run, Waited, Waiter};
use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The CloudWatch alarm event (EventBridge or Lambda-action shape); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    event: PathBuf,
    /// Decide and record, but change nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Wait this long after a change before verifying it (e.g. 10m, 90s, 0s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    verify_after: Option<std::time::Duration>,
    /// Merge mode for this run, instead of the config's.
    #[arg(long, value_parser = parse_mode)]
    mode: Option<MergeMode>,
    /// Create the audit table first if it does not exist (local emulators, first runs).
    #[arg(long)]
    create_table: bool,
    /// Also append the incident's A/B record to this JSON-lines file (for `report`).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Do not ask the AI even if the config enables it.
    #[arg(long)]
    no_ai: bool,
}

pub fn run(args: Args, mut config: Config, no_cache: bool) -> Result<(), Failure> {
    let Args {
        event,
        dry_run,
        format,
        verify_after,
        mode,
        create_table,
        record,
        no_ai,
    } = args;
    config.ai.enabled &= !no_ai;
    let mut writer = record
        .as_deref()
        .map(RecordWriter::append)
        .transpose()
        .map_err(bad_input)?;
    let text = if event.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the event from stdin")?
    } else {
        std::fs::read_to_string(&event).map_err(|e| {
            bad_input(anyhow::anyhow!(
                "cannot read event file {}: {e}",
                event.display()
            ))
        })?
    };
    let event: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad_input(anyhow::anyhow!("the event is not valid JSON: {e}")))?;
    let rules = load_rules(&config, no_cache)?;
    let mut options = Options::from_config(&config);
    options.dry_run |= dry_run;
    options.mode = mode.unwrap_or(options.mode);
    options.verify_after = verify_after.unwrap_or(options.verify_after);
    let runtime = runtime()?;
    let run = runtime.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        if create_table {
            setup::audit_table(&aws, &config).ensure_table().await?;
        }
        let ctx = setup::context(&aws, rules, config);
        pipeline::run_waiting(&ctx, &event, options, &Countdown)
            .await
            .map_err(|e| bad_input(anyhow::anyhow!(e)))
    })?;
    match format {
        Format::Text => print!("{}", render::run_story(&run)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&run)?),
    }
    if let Some(writer) = writer.as_mut()
        && run.status != Status::Duplicate
    {
        writer.write(&Record::from_run(&run))?;
    }
    if run.status == Status::Failed {
        return Err(anyhow::anyhow!(
            "the run stopped at stage {} (recorded in the audit table)",
            run.failure.as_ref().map_or("?", |f| f.stage.name())
        )
        .into());
    }
    Ok(())
}

/// The verification wait, counted down on stderr; Ctrl-C ends it and asks
/// what to do with the change (on a terminal), or leaves it recorded as
/// unverified (anywhere else) — never silently.
struct Countdown;

#[async_trait::async_trait]
impl Waiter for Countdown {
    async fn wait(&self, window: Duration, run: &Run) -> Waited {
        if window.is_zero() {
            return Waited::Elapsed;
        }
        let what = run.change.as_ref().map_or_else(String::new, |c| {
            format!(
                "{} MB -> {} MB on {}",
                c.previous_memory_mb, c.new_memory_mb, c.function_name
            )
        });
        let terminal = std::io::stderr().is_terminal();
        let end = tokio::time::Instant::now() + window;
        let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
        // Polled once now, so Ctrl-C is ours before the wait is announced
        // (until then it would end the process).
        let early =
            std::future::poll_fn(|cx| std::task::Poll::Ready(interrupted.as_mut().poll(cx))).await;
        let listening = match early {
            std::task::Poll::Pending => true,
            std::task::Poll::Ready(Ok(())) => return ask(&what).await,
            // No way to hear Ctrl-C here: the wait still counts down.
            std::task::Poll::Ready(Err(_)) => false,
        };
        if !terminal {
            eprintln!(
                "changed {what}; verifying in {} (Ctrl-C to stop waiting)",
                clock(window)
            );
        }
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                if terminal {
                    eprintln!();
                }
                return Waited::Elapsed;
            }
            if terminal {
                eprint!(
                    "\rchanged {what}; verifying in {} (Ctrl-C to stop waiting) ",
                    clock(left)
                );
                let _ = std::io::stderr().flush();
            }
            tokio::select! {
                _ = tokio::time::sleep(left.min(Duration::from_secs(1))) => {}
                _ = &mut interrupted, if listening => {
                    eprintln!();
                    return ask(&what).await;
                }
            }
        }
    }
}

/// What a person wants done with a change whose wait they stopped: asked
/// on a terminal; elsewhere the change stays, recorded as unverified.
async fn ask(what: &str) -> Waited {
    if !std::io::stdin().is_terminal() {
        eprintln!("stopped waiting: {what} stays, recorded as unverified (a person must judge it)");
        return Waited::LeaveUnverified;
    }
    let answer = tokio::task::spawn_blocking(|| {
        eprint!(
            "stopped waiting. [r] roll the change back now, or [l] leave it, recorded as unverified? [r/l] "
        );
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    match answer {
        Ok(Ok(line)) if line.trim().eq_ignore_ascii_case("r") => {
            eprintln!("rolling {what} back");
            Waited::RollBack
        }
        _ => {
            eprintln!("{what} stays, recorded as unverified");
            Waited::LeaveUnverified
        }
    }
}

/// `9:41` (minutes and seconds) or `1:02:03`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}
