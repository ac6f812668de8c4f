//! The `autorepair` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use autorepair::aws::Aws;
use autorepair::config::Config;
use autorepair::decide::{History, MergeMode};
use autorepair::diagnose;
use autorepair::pipeline::{self, Options, Status};
use autorepair::render;
use autorepair::rules::{Compiler, RuleSet, Sandbox};

/// Repairs AWS Lambda functions that run out of memory.
///
/// Sandboxed WebAssembly rules (and, later, an LLM) diagnose an incident; a
/// guarded decision step says what to change.
#[derive(Parser)]
#[command(name = "autorepair", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML); every key is optional. See `autorepair config show`.
    #[arg(long, global = true, env = "AUTOREPAIR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Do not read or write precompiled rules on disk.
    #[arg(long, global = true)]
    no_cache: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every rule on a recorded evidence file and show findings, failures,
    /// timings and the decision. Offline: talks to no AWS service.
    Diagnose {
        /// The evidence file (JSON; see the README for its format).
        #[arg(long, value_name = "FILE")]
        evidence: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Merge mode for this run, instead of the config's.
        #[arg(long, value_parser = parse_mode)]
        mode: Option<MergeMode>,
    },
    /// Handle one alarm event end to end: collect, diagnose, decide, change,
    /// verify, roll back if it did not help, record and notify. AWS endpoint and
    /// credentials come from the SDK's standard chain (AWS_ENDPOINT_URL,
    /// AWS_REGION, AWS_PROFILE, …).
    Run {
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
    },
    /// Rules: what is loaded, from where, with which grants and limits.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Every rule with its describe() info, grants, limits and origin.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (file values over defaults) as TOML.
    Show,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn parse_mode(s: &str) -> Result<MergeMode, String> {
    s.parse()
}

/// `90s`, `10m`, `1h`, `0s`, `250ms`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 10m or 1h"))?;
    let secs = match unit {
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// An error and the exit code it deserves: 2 for bad input, 1 for the rest.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

fn bad_input(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        error: error.into(),
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            code: 1,
            error: error.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AUTOREPAIR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, error }) => {
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let config = Config::load(cli.config.as_deref()).map_err(bad_input)?;
    match cli.command {
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            print!("{}", config.to_toml());
            if let Some(dir) = config.sandbox.effective_cache_dir() {
                println!("# precompiled rules are cached in {}", dir.display());
            }
            Ok(())
        }
        Command::Rules {
            command: RulesCommand::List { format },
        } => {
            let rules = load_rules(&config, cli.no_cache)?;
            match format {
                Format::Text => print!("{}", render::rules_list(&rules)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&rules_json(&rules))?),
            }
            Ok(())
        }
        Command::Run {
            event,
            dry_run,
            format,
            verify_after,
            mode,
            create_table,
        } => {
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
            let rules = load_rules(&config, cli.no_cache)?;
            let mut options = Options::from_config(&config);
            options.dry_run |= dry_run;
            options.mode = mode.unwrap_or(options.mode);
            options.verify_after = verify_after.unwrap_or(options.verify_after);
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let run = runtime.block_on(async {
                let ctx = pipeline::Context::new(Aws::from_env().await, rules, config);
                if create_table {
                    ctx.audit.ensure_table().await?;
                }
                pipeline::run(&ctx, &event, options)
                    .await
                    .map_err(|e| bad_input(anyhow::anyhow!(e)))
            })?;
            match format {
                Format::Text => print!("{}", render::run_story(&run)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&run)?),
            }
            if run.status == Status::Failed {
                return Err(anyhow::anyhow!(
                    "the run stopped at stage {} (recorded in the audit table)",
                    run.failure.as_ref().map_or("?", |f| f.stage.as_str())
                )
                .into());
            }
            Ok(())
        }
        Command::Diagnose {
            evidence,
            format,
            mode,
        } => {
            let evidence = diagnose::load_evidence(&evidence).map_err(bad_input)?;
            let rules = load_rules(&config, cli.no_cache)?;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let diagnosis = diagnose::diagnose(
                &rules,
                &evidence,
                &config,
                mode.unwrap_or(config.mode),
                History::default(),
                now_ms,
            );
            match format {
                Format::Text => print!("{}", render::diagnosis(&diagnosis)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&diagnosis)?),
            }
            Ok(())
        }
    }
}

fn load_rules(config: &Config, no_cache: bool) -> Result<RuleSet, Failure> {
    let sandbox = Sandbox::new(config.max_memory_mib()).context("starting the rule sandbox")?;
    let cache_dir = if no_cache {
        None
    } else {
        config.sandbox.effective_cache_dir()
    };
    let compiler = Compiler::new(Arc::new(sandbox), cache_dir);
    let (specs, refused) = config.rule_specs();
    let mut rules = RuleSet::load(&compiler, &specs);
    rules.add_load_failures(refused);
    Ok(rules)
}

fn rules_json(rules: &RuleSet) -> serde_json::Value {
    let loaded: Vec<_> = rules
        .rules()
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.info.name,
                "version": r.info.version,
                "summary": r.info.summary,
                "origin": r.origin.to_string(),
                "sha256": r.digest,
                "wants": r.info.wants,
                "granted": r.grants,
                "sees": r.effective_grants(),
                "cpu_budget_ms": r.limits.cpu_budget_ms,
                "memory_mib": r.limits.memory_mib,
                "shadow": r.shadow,
                "unpinned": r.unpinned,
            })
        })
        .collect();
    serde_json::json!({ "rules": loaded, "not_loaded": rules.load_failures() })
}
