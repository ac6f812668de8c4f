//! `autorepair undo INCIDENT`: a person takes back an incident's change.

use autorepair::aws::Aws;
use autorepair::config::Config;
use autorepair::pipeline::{self, ProtocolError, Undo};
use autorepair::{render, setup};

use crate::common::{Format, caller_identity, load_rules, runtime};
use crate::{Failure, bad_input};

#[derive(clap::Args)]
pub struct Args {
    /// The incident id (notices, `autorepair incidents`).
    incident: String,
    /// Why (recorded on the incident, shown in the notice).
    #[arg(long)]
    reason: Option<String>,
    /// Your name, recorded beside your AWS identity.
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: Args, config: Config, no_cache: bool) -> Result<(), Failure> {
    let incident = args.incident.trim().to_owned();
    if incident.is_empty() {
        return Err(bad_input(anyhow::anyhow!("name the incident to undo")));
    }
    // An undo runs no rule: the bundled ones make the context, and no
    // third-party rule is fetched (an on-call role need not read its bucket).
    let mut bundled_only = config.clone();
    bundled_only.plugins.clear();
    let rules = load_rules(&bundled_only, no_cache)?;
    let run = runtime()?.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        let identity = caller_identity(&aws, "an undo").await?;
        let by = match &args.by {
            Some(name) => format!("{name} ({identity})"),
            None => identity,
        };
        let ctx = setup::context(&aws, rules, config);
        pipeline::undo(
            &ctx,
            &incident,
            &Undo {
                by,
                reason: args.reason.clone(),
            },
        )
        .await
        .map_err(|e| match e {
            // The table could not be read or written: try again later.
            ProtocolError::Audit(_) => Failure::from(anyhow::Error::from(e)),
            // The incident refuses: nothing to retry.
            _ => bad_input(e),
        })
    })?;
    match args.format {
        Format::Text => print!("{}", render::run_story(&run)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&run)?),
    }
    Ok(())
}
