//! `autorepair tune`: a function measured at several memory sizes.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::ValueEnum;

use autorepair::aws::Aws;
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::setup;
use autorepair::tune::{self, Strategy};

use crate::common::{Format, runtime};
use crate::{Failure, bad_input};

/// What to optimise for.
#[derive(Clone, Copy, ValueEnum)]
enum StrategyArg {
    /// The cheapest size per invocation.
    Cost,
    /// The fastest size (median duration).
    Speed,
    /// The least of cost and time, each relative to its best.
    Balanced,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Strategy {
        match s {
            StrategyArg::Cost => Strategy::Cost,
            StrategyArg::Speed => Strategy::Speed,
            StrategyArg::Balanced => Strategy::Balanced,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The function (a name or an ARN); it must be opted in.
    function: String,
    /// The event to invoke it with (a JSON file): a request it serves
    /// every day, safe to repeat.
    #[arg(long, value_name = "FILE")]
    payload: PathBuf,
    /// The sizes to measure (MB, comma-separated, 128..=10240).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "128,256,512,1024,1536,2048,3008"
    )]
    sizes: Vec<u32>,
    /// Invocations measured at each size, after one to warm it up.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    invocations: u32,
    #[arg(long, value_enum, default_value_t = StrategyArg::Balanced)]
    strategy: StrategyArg,
    /// Write the page with the duration and cost curves here (HTML, readable offline).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Set the chosen size, under the guard, the lock and the history, as
    /// any change autorepair makes.
    #[arg(long)]
    apply: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: Args, config: &Config, no_cache: bool) -> Result<(), Failure> {
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if let Some(bad) = sizes.iter().find(|s| {
        !(autorepair::decide::LAMBDA_MIN_MB..=autorepair::decide::LAMBDA_MAX_MB).contains(*s)
    }) {
        return Err(bad_input(anyhow::anyhow!(
            "--sizes: {bad} MB is not a Lambda size (128..=10240)"
        )));
    }
    let payload = std::fs::read(&args.payload)
        .with_context(|| format!("reading --payload {}", args.payload.display()))
        .map_err(bad_input)?;
    serde_json::from_slice::<serde_json::Value>(&payload)
        .with_context(|| format!("--payload {} is not JSON", args.payload.display()))
        .map_err(bad_input)?;
    let rules = crate::common::load_rules(config, no_cache)?;
    let (tuning, applied) = runtime()?.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        let ports = setup::fleet_ports(&aws, config);
        let ctx = setup::context(&aws, rules, config.clone());
        let name = autorepair::model::function_name(&args.function);
        let function = autorepair::evidence::function(
            ctx.functions.as_ref(),
            name,
            None,
            std::time::Duration::from_secs(config.run.collect_timeout_seconds.max(1)),
        )
        .await?;
        tune::check(&function, &config.policy)?;
        let request = tune::Request {
            sizes: &sizes,
            payload: &payload,
            invocations: args.invocations,
            strategy: args.strategy.into(),
            usd_per_gb_second: config
                .pricing
                .usd_per_gb_second(&function.architecture, function.region()),
        };
        eprintln!(
            "tuning {name}: {} sizes × {} invocations (+1 warm-up each); its memory stays {} MB",
            sizes.len(),
            args.invocations,
            function.memory_mb
        );
        let tuning = tune::measure(&ctx.repairer(), &function, &request, now_ms()).await?;
        tune::keep(ports.recommendations.as_ref(), &function, &tuning).await?;
        let applied = if args.apply {
            Some(tune::apply(&ctx, ports.recommendations.as_ref(), &function, &tuning).await)
        } else {
            None
        };
        Ok::<_, anyhow::Error>((tuning, applied))
    })?;
    if let Some(path) = &args.html {
        std::fs::write(path, tune::page::html(&tuning))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    match args.format {
        Format::Text => {
            print!("{}", tune::page::text(&tuning));
            if let Some(path) = &args.html {
                println!("\nthe curves: {}", path.display());
            }
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&tuning)?),
    }
    match applied {
        None => Ok(()),
        Some(Ok(mb)) => {
            eprintln!("applied: {} is now at {mb} MB", tuning.function);
            Ok(())
        }
        Some(Err(why)) => Err(anyhow::anyhow!("not applied: {why}").into()),
    }
}
