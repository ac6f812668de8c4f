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
        pipeline::run(&ctx, &event, options)
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
