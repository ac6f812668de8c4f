//! The `autorepair` command line: parses arguments and calls the library.

mod rule;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use std::sync::atomic::{AtomicBool, Ordering};

use autorepair::ai::AiDiagnoser;
use autorepair::aws::{self, Aws};
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::decide::{History, MergeMode};
use autorepair::diagnose;
use autorepair::diagnose::Threads;
use autorepair::pipeline::{self, Options, Status};
use autorepair::ports::AuditStore;
use autorepair::record::{self, Record, RecordWriter};
use autorepair::render;
use autorepair::rules::RuleSet;
use autorepair::setup;
use autorepair::{replay, report};

/// Repairs AWS Lambda functions that run out of memory.
///
/// Sandboxed WebAssembly rules and, when `[ai] enabled`, an LLM on Amazon
/// Bedrock diagnose an incident side by side; a guarded decision step says what
/// to change. `replay` and `report` compare the AI against the rules.
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
    /// timings and the decision. Offline unless `[ai] enabled`, when the AI on
    /// Bedrock is asked too.
    Diagnose {
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
    },
    /// Replay a directory of recorded evidence files (`*.json`, optionally
    /// labelled with the expected action): run the rules (and the AI when
    /// enabled) on each, print a confusion matrix per merge mode and per source,
    /// and write records for `report`. Ctrl-C stops cleanly, keeping what is done.
    Replay {
        /// The corpus directory (e.g. tests/fixtures/corpus).
        dir: PathBuf,
        /// Merge mode whose decision is recorded as the decision.
        #[arg(long, value_parser = parse_mode)]
        mode: Option<MergeMode>,
        /// Threads to spread incidents over; default: the machine's cores.
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// Append one record per incident to this JSON-lines file.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Do not ask the AI even if the config enables it.
        #[arg(long)]
        no_ai: bool,
    },
    /// The A/B report of AI against rules: per incident, what each said, whether
    /// they agreed, what was applied and how it ended; then agreement rate,
    /// outcomes and cost per source, AI latency, tokens and cost, plugin failures.
    Report {
        /// Records written by `run --record` or `replay --record` (JSON lines); repeatable.
        #[arg(long, value_name = "FILE")]
        records: Vec<PathBuf>,
        /// Read the audit records from the DynamoDB table instead (default
        /// table: the config's run.audit_table).
        #[arg(long, value_name = "TABLE", num_args = 0..=1, default_missing_value = "")]
        table: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Write the report here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
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
        /// Also append the incident's A/B record to this JSON-lines file (for `report`).
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// Do not ask the AI even if the config enables it.
        #[arg(long)]
        no_ai: bool,
    },
    /// Rules: what is loaded and why it may be; the author's toolkit (new,
    /// build, test, keygen, sign, verify, inspect).
    #[command(visible_alias = "rules")]
    Rule {
        #[command(subcommand)]
        command: rule::RuleCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
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

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    /// A table for the terminal.
    Text,
    Json,
    Markdown,
    /// One self-contained page with charts.
    Html,
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
    let mut config = Config::load(cli.config.as_deref()).map_err(bad_input)?;
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
        Command::Rule { command } => {
            rule::run(command, &config, || load_rules(&config, cli.no_cache))
        }
        Command::Run {
            event,
            dry_run,
            format,
            verify_after,
            mode,
            create_table,
            record,
            no_ai,
        } => {
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
            let rules = load_rules(&config, cli.no_cache)?;
            let mut options = Options::from_config(&config);
            options.dry_run |= dry_run;
            options.mode = mode.unwrap_or(options.mode);
            options.verify_after = verify_after.unwrap_or(options.verify_after);
            let runtime = runtime()?;
            let run = runtime.block_on(async {
                let aws = Aws::from_env().await;
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
            no_ai,
        } => {
            let evidence = diagnose::load_evidence(&evidence).map_err(bad_input)?;
            let rules = load_rules(&config, cli.no_cache)?;
            let report = diagnose::run_rules(&rules, &evidence, Threads::PerRule);
            let ai = if config.ai.enabled && !no_ai {
                let runtime = runtime()?;
                let aws = runtime.block_on(Aws::from_env());
                let ai = setup::bedrock_diagnoser(&aws, &config);
                Some(runtime.block_on(ai.diagnose(&evidence)))
            } else {
                None
            };
            let diagnosis = diagnose::diagnose(
                report,
                &evidence,
                &config,
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
        Command::Replay {
            dir,
            mode,
            jobs,
            record,
            format,
            no_ai,
        } => replay_command(
            &config,
            cli.no_cache,
            &dir,
            mode,
            jobs,
            record,
            format,
            no_ai,
        ),
        Command::Report {
            records,
            table,
            format,
            output,
        } => {
            let mut all = Vec::new();
            for path in &records {
                all.extend(record::read_jsonl(path).map_err(bad_input)?);
            }
            if let Some(table) = table {
                let table = if table.is_empty() {
                    config.run.audit_table.clone()
                } else {
                    table
                };
                let runtime = runtime()?;
                let documents = runtime.block_on(async {
                    let aws = Aws::from_env().await;
                    let audit = autorepair::aws::audit::DynamoAudit::new(
                        aws.dynamodb.clone(),
                        table,
                        config.run.audit_ttl_days,
                    );
                    audit.records().await
                })?;
                let (records, skipped) = record::from_documents(&documents);
                if skipped > 0 {
                    eprintln!(
                        "warning: {skipped} audit records are not run documents and were left out"
                    );
                }
                all.extend(records);
            } else if records.is_empty() {
                return Err(bad_input(anyhow::anyhow!(
                    "say where the records are: --records FILE (from run/replay --record) or --table [NAME] (the audit table)"
                )));
            }
            let report = report::build(&all, &config);
            let text = match format {
                ReportFormat::Text => report::text(&report),
                ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
                ReportFormat::Markdown => report::markdown(&report),
                ReportFormat::Html => report::html(&report),
            };
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing the report to {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Runtime::new().context("starting the async runtime")?)
}

#[allow(clippy::too_many_arguments)]
fn replay_command(
    config: &Config,
    no_cache: bool,
    dir: &std::path::Path,
    mode: Option<MergeMode>,
    jobs: Option<usize>,
    record: Option<PathBuf>,
    format: Format,
    no_ai: bool,
) -> Result<(), Failure> {
    let cases = replay::load_dir(dir).map_err(bad_input)?;
    if cases.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "{} holds no *.json evidence files",
            dir.display()
        )));
    }
    let mut writer = record
        .as_deref()
        .map(RecordWriter::append)
        .transpose()
        .map_err(bad_input)?;
    let rules = load_rules(config, no_cache)?;
    let runtime = runtime()?;
    let ai = (config.ai.enabled && !no_ai)
        .then(|| setup::bedrock_diagnoser(&runtime.block_on(Aws::from_env()), config));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C ends the process the usual way.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: finishing the incidents under way, then stopping");
        });
    }
    let options = replay::Options {
        mode: mode.unwrap_or(config.mode),
        jobs: jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1),
        ai: ai
            .as_ref()
            .map(|a| (a as &dyn AiDiagnoser, runtime.handle().clone())),
        stop: &stop,
    };
    let bar = indicatif::ProgressBar::new(cases.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} incidents, {per_sec} ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let mut records = Vec::with_capacity(cases.len());
    let done = replay::replay(&rules, config, &cases, &options, |r| {
        bar.inc(1);
        if let Some(w) = writer.as_mut() {
            w.write(&r)?;
        }
        records.push(r);
        Ok::<_, record::RecordError>(())
    })?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let interrupted = stop.load(Ordering::SeqCst) && done < cases.len();
    let matrices = replay::confusion(&records);
    match format {
        Format::Text => {
            println!(
                "replayed {done} of {} incidents in {:.2} s ({:.0}/s){}",
                cases.len(),
                elapsed.as_secs_f64(),
                done as f64 / elapsed.as_secs_f64().max(1e-9),
                if interrupted { "; interrupted" } else { "" }
            );
            print!("{}", replay::confusion_text(&matrices));
        }
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "incidents": cases.len(),
                "replayed": done,
                "interrupted": interrupted,
                "seconds": elapsed.as_secs_f64(),
                "confusion": matrices,
                "records": records,
            }))?
        ),
    }
    if interrupted {
        return Err(Failure {
            code: 130,
            error: anyhow::anyhow!("interrupted after {done} of {} incidents", cases.len()),
        });
    }
    Ok(())
}

fn load_rules(config: &Config, no_cache: bool) -> Result<RuleSet, Failure> {
    let cache_dir = if no_cache {
        None
    } else {
        config.sandbox.effective_cache_dir()
    };
    let rules = runtime()?.block_on(async {
        let objects = if config.has_remote_rules() {
            Some(setup::rule_store(&aws::sdk_from_env().await))
        } else {
            None
        };
        setup::load_rules(config, objects, cache_dir).await
    });
    Ok(rules.context("starting the rule sandbox")?)
}
