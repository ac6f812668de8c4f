//! `autorepair diagnose`: the rules (and the AI when enabled) on one recorded
//! evidence file.

use std::path::PathBuf;

use autorepair::ai::Bedrock;
use autorepair::aws;
use autorepair::config::Config;
use autorepair::decide::{History, MergeMode};
use autorepair::diagnose::{self, Threads};
use autorepair::pipeline;
use autorepair::render;

use crate::common::{Format, load_rules, parse_mode, runtime};
use crate::{Failure, bad_input};

#[derive(clap::Args)]
pub struct Args {
    /// The evidence file (JSON; see the README for its format).
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
    let evidence = diagnose::load_evidence(&evidence).map_err(bad_input)?;
    let rules = load_rules(config, no_cache)?;
    let report = diagnose::run_rules(&rules, &evidence, Threads::PerRule);
    let ai = if config.ai.enabled && !no_ai {
        let runtime = runtime()?;
        let bedrock = Bedrock::new(&runtime.block_on(aws::sdk_from_env()), &config.ai);
        Some(runtime.block_on(bedrock.diagnose(&evidence)))
    } else {
        None
    };
    let diagnosis = diagnose::diagnose(
        report,
        &evidence,
        config,
        mode.unwrap_or(config.mode),
        History::default(),
        pipeline::now_ms(),
        ai,
    );
    match format {
        Format::Text => print!("{}", render::diagnosis(&diagnosis)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&diagnosis)?),
    }
    Ok(())
}
