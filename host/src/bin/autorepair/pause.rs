//! `autorepair pause|resume`: a person stops every change — incidents' and
//! sweeps' — at once, for every function or one, and lifts the stop.

use autorepair::aws::Aws;
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::model::Pause;
use autorepair::ports::AuditStore;
use autorepair::setup;

use crate::common::{caller_identity, runtime};
use crate::{Failure, bad_input};

#[derive(clap::Args)]
pub struct PauseArgs {
    /// Pause this function only; default: every function.
    #[arg(long, value_name = "NAME")]
    function: Option<String>,
    /// Why (shown in every decision and notice while paused).
    #[arg(long)]
    reason: Option<String>,
    /// Your name, recorded beside your AWS identity.
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// List the pauses in force instead of adding one.
    #[arg(long, conflicts_with_all = ["function", "reason", "by"])]
    list: bool,
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    /// Lift this function's pause; default: the pause on every function.
    #[arg(long, value_name = "NAME")]
    function: Option<String>,
}

pub fn pause(args: PauseArgs, config: &Config) -> Result<(), Failure> {
    if args
        .function
        .as_deref()
        .is_some_and(|f| f.trim().is_empty())
    {
        return Err(bad_input(anyhow::anyhow!("--function names no function")));
    }
    runtime()?.block_on(async {
        let aws = Aws::from_env().await;
        let audit = setup::audit_table(&aws, config);
        if args.list {
            let pauses = audit.pauses().await?;
            print!("{}", render(&pauses));
            return Ok(());
        }
        let identity = caller_identity(&aws, "a pause").await?;
        let by = match &args.by {
            Some(name) => format!("{name} ({identity})"),
            None => identity,
        };
        let pause = Pause {
            function: args.function.clone(),
            by,
            reason: args.reason.clone(),
            at_ms: now_ms(),
        };
        audit.pause(&pause).await?;
        println!("{}", pause.describe());
        println!(
            "No incident changes {} and no sweep sizes {} until `autorepair resume{}`; incidents are still diagnosed and recorded, and undoing a change is never paused.",
            args.function.as_deref().unwrap_or("any function"),
            if args.function.is_some() { "it" } else { "any" },
            args.function
                .as_deref()
                .map(|f| format!(" --function {f}"))
                .unwrap_or_default()
        );
        Ok(())
    })
}

pub fn resume(args: ResumeArgs, config: &Config) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let aws = Aws::from_env().await;
        let audit = setup::audit_table(&aws, config);
        let lifted = audit.resume(args.function.as_deref()).await?;
        let scope = args.function.as_deref().unwrap_or("every function");
        if lifted {
            println!("resumed: autorepair changes {scope} again");
        } else {
            println!("{scope} was not paused");
        }
        let left = audit.pauses().await?;
        if !left.is_empty() {
            print!("still in force:\n{}", render(&left));
        }
        Ok(())
    })
}

/// The pauses in force, one a line.
pub fn render(pauses: &[Pause]) -> String {
    if pauses.is_empty() {
        return "not paused\n".to_owned();
    }
    pauses
        .iter()
        .map(|p| format!("{}\n", autorepair::text::clean(&p.describe())))
        .collect()
}
