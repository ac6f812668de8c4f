//! `autorepair incidents`: running and recent incidents from the audit
//! table, once or refreshed until Ctrl-C.

use std::io::IsTerminal as _;
use std::time::Duration;

use autorepair::aws::Aws;
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::pipeline::incidents;
use autorepair::ports::AuditStore;
use autorepair::setup;

use crate::Failure;
use crate::common::{Format, parse_duration, runtime};

#[derive(clap::Args)]
pub struct Args {
    /// How far back ended incidents are listed (running ones always are):
    /// 90m, 24h, 168h.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    since: Duration,
    /// Only this function's incidents (its name, or ACCOUNT/REGION/NAME in
    /// a member account).
    #[arg(long, value_name = "NAME")]
    function: Option<String>,
    /// Only this account's incidents: an enrolled member's, or the host's
    /// own ([organization]).
    #[arg(long, value_name = "ACCOUNT_ID")]
    account: Option<String>,
    /// Refresh every this many seconds until Ctrl-C (10 when given without
    /// a value).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "10")]
    watch: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: Args, config: &Config) -> Result<(), Failure> {
    let since = humanize(args.since);
    let runtime = runtime()?;
    let audit = runtime.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        setup::audit_table(&aws, config)
    });
    let clear = args.watch.is_some() && std::io::stdout().is_terminal();
    let home = crate::fleet::home_account(config);
    loop {
        let documents = runtime.block_on(audit.records())?;
        let cutoff = now_ms() - i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX);
        let account = args.account.as_deref().map(|a| (a, home.as_deref()));
        let (lines, skipped) =
            incidents::list_in(&documents, cutoff, args.function.as_deref(), account);
        if clear {
            // Home and clear: the list redrawn in place, like `watch`.
            print!("\x1b[H\x1b[2J");
        }
        match args.format {
            Format::Text => print!("{}", incidents::render(&lines, &since)),
            Format::Json => println!("{}", serde_json::to_string_pretty(&lines)?),
        }
        if skipped > 0 {
            eprintln!("warning: {skipped} audit records are not run documents and were left out");
        }
        let Some(every) = args.watch else {
            return Ok(());
        };
        if args.format == Format::Text {
            println!(
                "\n{} UTC; again in {every} s (Ctrl-C to stop)",
                autorepair::dates::date_time(now_ms())
            );
        }
        std::thread::sleep(Duration::from_secs(every.max(1)));
    }
}

/// `24h`, `90m`, `45s`: the duration as `--since` took it.
fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
