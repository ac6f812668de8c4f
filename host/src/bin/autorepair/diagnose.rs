//! `autorepair diagnose`: the rules (and the AI when enabled) on one recorded
//! evidence file.

use std::path::PathBuf;

use autorepair::ai::AiDiagnoser;
use autorepair::aws::Aws;
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::decide::{History, MergeMode};
use autorepair::diagnosis::{self, Threads};
use autorepair::render;
use autorepair::setup;

use crate::common::{Format, load_rules, parse_mode, runtime};
use crate::{Failure, bad_input};

#[derive(clap::Args)]
pub struct Args {
    /// The evidence file (JSON; its format: docs/run-document.md).
    #[arg(long, value_name = "FILE")]
    evidence: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Merge mode for this run, instead of the config's.
    #[arg(long, value_parser = parse_mode)]
    mode: Option<MergeMode>,
    /// Do not ask the AI even if the config enables it.
    #[arg(long)]
    no_ai: bool,
}

pub fn run(args: Args, config: &Config, no_cache: bool) -> Result<(), Failure> {
    let Args {
        evidence,
        format,
        mode,
        no_ai,
    } = args;
    let evidence = diagnosis::load_evidence(&evidence).map_err(bad_input)?;
    let rules = load_rules(config, no_cache)?;
    let report = diagnosis::run_rules(&rules, &evidence, Threads::PerRule);
    let ai = if config.ai.enabled && !no_ai {
        let runtime = runtime()?;
        let ai = setup::offline_diagnoser(&runtime.block_on(Aws::from_env()), config)
            .map_err(|e| bad_input(anyhow::anyhow!("the AI diagnoser: {e}")))?;
        Some(runtime.block_on(ai.diagnose(&evidence)))
    } else {
        None
    };
    let diagnosis = diagnosis::conclude(
        report,
        &evidence,
        &config.policy,
        mode.unwrap_or(config.mode),
        History::default(),
        now_ms(),
        ai,
    );
    match format {
        Format::Text => print!("{}", render::diagnosis(&diagnosis)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&diagnosis)?),
    }
    Ok(())
}
