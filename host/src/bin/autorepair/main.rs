//! The `autorepair` command line: parses arguments and calls the library.
//! One module per command; this one holds the parser, the dispatch and the
//! exit codes.

mod common;
mod config;
mod diagnose;
mod doctor;
mod evidence;
mod fleet;
mod incidents;
mod pause;
mod progress;
mod reference;
mod replay;
mod report;
mod rule;
mod run;
mod tune;
mod undo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use autorepair::config::Config;

/// mimalloc: per-thread heaps for the many small allocations of rules'
/// evidence and records (docs/benchmarks.md, "Replay on 2 cores").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Repairs AWS Lambda functions that run out of memory.
///
/// Sandboxed WebAssembly rules and, when `[ai] enabled`, an LLM on Amazon
/// Bedrock diagnose an incident side by side; a guarded decision step says what
/// to change. `replay` and `report` compare the AI against the rules.
#[derive(Parser)]
#[command(name = "autorepair", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML); every key is optional. Default:
    /// $XDG_CONFIG_HOME/autorepair/config.toml (~/.config/autorepair/…)
    /// when it exists, else the defaults. See `autorepair config show`.
    #[arg(long, global = true, env = "AUTOREPAIR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// `config` came from $AUTOREPAIR_CONFIG, not the command line: an
    /// `--environment` given on the command line then wins over it.
    #[arg(skip)]
    config_from_env: bool,

    /// A deployed stack, by the environment it was deployed as (the
    /// template's Environment parameter): its host's configuration
    /// (autorepair-<ENV>-host) is read and used — its audit table, topic,
    /// rules, approvers and AI — as `doctor` reads it.
    #[arg(
        long,
        visible_alias = "stack",
        global = true,
        env = "AUTOREPAIR_ENVIRONMENT",
        value_name = "ENV"
    )]
    environment: Option<String>,

    /// The AWS profile for every AWS call (~/.aws/config); default: the
    /// SDK's chain (AWS_PROFILE, then `default`).
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,

    /// The AWS region for every AWS call; default: the SDK's chain
    /// (AWS_REGION, then the profile's).
    #[arg(long, global = true, value_name = "REGION")]
    region: Option<String>,

    /// More on stderr: -v information, -vv debugging, -vvv everything
    /// (default: warnings and errors; AUTOREPAIR_LOG, a tracing filter,
    /// overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,

    /// Errors only on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,

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
    Diagnose(diagnose::Args),
    /// Replay a directory of recorded evidence files (`*.json`, optionally
    /// labelled with the expected action): run the rules (and the AI when
    /// enabled) on each, print a confusion matrix per merge mode and per source,
    /// and write records for `report`. Ctrl-C stops cleanly, keeping what is done.
    Replay(replay::Args),
    /// The AI against the rules on a labelled corpus, as the table a team
    /// would publish: accuracy against the labels per mode and source,
    /// agreement with the rules, confusion matrices, the AI's latency p50/p95,
    /// tokens, cost and tool calls per incident; written as eval.md and
    /// eval.html. Needs `[ai] enabled` and a model (Bedrock or OpenAI-compatible).
    Eval(replay::EvalArgs),
    /// The A/B report of AI against rules: per incident, what each said, whether
    /// they agreed, what was applied and how it ended; then agreement rate,
    /// outcomes and cost per source, AI latency, tokens and cost, plugin failures,
    /// and the repairs in figures (success and rollback rates, alarm → change and
    /// alarm → verdict p50/p95, the change's own duration).
    Report(report::Args),
    /// Handle one alarm event end to end: collect, diagnose, decide, change,
    /// verify, roll back if it did not help, record and notify. AWS endpoint and
    /// credentials come from the SDK's standard chain (AWS_ENDPOINT_URL,
    /// AWS_REGION, AWS_PROFILE, …).
    Run(run::Args),
    /// Rules: what is loaded and why it may be; the author's toolkit (new,
    /// build, test, keygen, sign, verify, inspect).
    #[command(visible_alias = "rules")]
    Rule {
        #[command(subcommand)]
        command: rule::RuleCommand,
    },
    /// Check a deployment as it stands, one line per check: the pieces exist
    /// and are wired (alarm rule → state machine → host function), the host's
    /// configuration parses, its table and topic are reachable, its role can
    /// do what it needs and nothing more, its rules load, the model answers
    /// (AI on), and a synthetic alarm goes through the workflow without
    /// touching anything. Exit code 1 when a check fails. The deployment is
    /// `--environment`'s (default `dev`).
    Doctor(doctor::Args),
    /// Create, update and delete the alarms of every function tagged
    /// `autorepair=enabled` (errors, duration near the timeout, throttles,
    /// Lambda Insights memory when installed); thresholds per function by
    /// tag. Idempotent; `--dry-run` prints the difference.
    Onboard(fleet::OnboardArgs),
    /// Sweep the opted-in functions now, in this process: 14 days of reports
    /// and metrics each, the same rules, a standing recommendation (up, down,
    /// keep, with its monthly cost) written to the audit table. The stack runs
    /// the same sweep weekly on a Step Functions Distributed Map.
    Sweep(fleet::SweepArgs),
    /// Measure a function at several memory sizes by invoking it with a
    /// payload (in the spirit of AWS Lambda Power Tuning): duration, billed
    /// cost per million invocations and memory at each size, each on a
    /// version of its own, all deleted after; prints the table, `--html`
    /// draws the curves, `--apply` sets the chosen size under the guard. The
    /// result is kept for the sweeps (a function whose duration falls with
    /// memory is never sized down).
    Tune(tune::Args),
    /// The standing recommendations the sweeps wrote: up first, then the
    /// biggest savings (text, JSON, CSV or HTML).
    Recommendations(fleet::RecommendationsArgs),
    /// Running and recent incidents from the audit table: function, alarm
    /// time, where each stands (collecting, diagnosing, waiting for
    /// approval, changed and waiting to verify) or how it ended, and the
    /// memory change made. `--watch` refreshes until Ctrl-C.
    Incidents(incidents::Args),
    /// The changes waiting for a person's answer (approval mode), soonest
    /// deadline first, each with the commands to approve or reject it.
    Approvals(fleet::ApprovalsArgs),
    /// Approve a change waiting for a person (approval mode): recorded with
    /// your AWS identity, then the workflow makes it.
    Approve(fleet::AnswerArgs),
    /// Reject a change waiting for a person: recorded, nothing changes.
    Reject(fleet::AnswerArgs),
    /// Stop every change at once — incidents' and sweeps' — for every
    /// function or one (`--function`), recorded with your AWS identity:
    /// incidents are still diagnosed and recorded (a change decided becomes
    /// an escalation), every notice says autorepair is paused, `doctor`
    /// shows it. Undoing a change is never paused. `--list` shows what is.
    Pause(pause::PauseArgs),
    /// Lift a pause (`--function` for one function's).
    Resume(pause::ResumeArgs),
    /// Take back what an ended incident changed: the function as it was
    /// before the incident (before its first step), under the workflow's own
    /// guards — the function's lock, nothing changed since, an alias only if
    /// it still serves the incident's version — recorded as rolled back by
    /// your AWS identity, and notified. Never paused.
    Undo(undo::Args),
    /// An incident's evidence as a file (`evidence save INCIDENT`), for
    /// `diagnose`, `replay` and `rule test --bless`.
    Evidence {
        #[command(subcommand)]
        command: evidence::EvidenceCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Print a shell completion script: `autorepair completions bash >
    /// ~/.local/share/bash-completion/completions/autorepair`, `… zsh >
    /// ~/.zfunc/_autorepair`, `… fish > ~/.config/fish/completions/autorepair.fish`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
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
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.config_from_env =
        matches.value_source("config") == Some(clap::parser::ValueSource::EnvVariable);
    // The SDK's chain reads these for every client this process makes: the
    // command line's choice is set before any client, and any thread, exists.
    for (var, value) in [("AWS_PROFILE", &cli.profile), ("AWS_REGION", &cli.region)] {
        if let Some(value) = value {
            // SAFETY: single-threaded here — before the async runtime, the
            // logger or any other thread starts — so nothing reads the
            // environment concurrently.
            unsafe { std::env::set_var(var, value) };
        }
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AUTOREPAIR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_level(&cli))),
        )
        .init();
    if cli.quiet {
        progress::hide();
    }
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, error }) => {
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}

/// The default log filter for `-q`, nothing, and each `-v`.
fn log_level(cli: &Cli) -> &'static str {
    match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    }
}

impl Command {
    /// Whether the command reads the configuration. Those that do not (the
    /// rule author's toolkit, completions) never load it: a broken or
    /// unreachable one must not block them.
    fn needs_config(&self) -> bool {
        match self {
            Command::Completions { .. } | Command::Doctor(_) => false,
            Command::Rule { command } => command.needs_config(),
            Command::Config { command } => command.needs_config(),
            _ => true,
        }
    }
}

/// The configuration: `--config FILE`; else the deployed host's of
/// `--environment`; else $AUTOREPAIR_CONFIG's file; else the default file
/// when it exists; else the defaults.
fn load_config(cli: &Cli) -> Result<Config, Failure> {
    let file = match (&cli.config, &cli.environment) {
        (Some(_), Some(_)) if !cli.config_from_env => {
            return Err(bad_input(anyhow::anyhow!(
                "--config and --environment name two configurations: give one"
            )));
        }
        // $AUTOREPAIR_CONFIG is the shell's default; --environment was asked for.
        (Some(_), Some(_)) => None,
        (file, None) => file.as_ref(),
        (None, Some(_)) => None,
    };
    if let Some(path) = file {
        return Config::load(Some(path)).map_err(bad_input);
    }
    if let Some(environment) = &cli.environment {
        let mut config = common::deployed_config(environment)?;
        // A host deployed before it named its environment: what it prints
        // for people to run must name the one they pointed at.
        config
            .run
            .environment
            .get_or_insert_with(|| environment.clone());
        return Ok(config);
    }
    match config::default_path().filter(|p| p.is_file()) {
        Some(path) => Config::load(Some(&path)).map_err(bad_input),
        None => Ok(Config::default()),
    }
}

fn dispatch(cli: Cli) -> Result<(), Failure> {
    let config = if cli.command.needs_config() {
        load_config(&cli)?
    } else {
        Config::default()
    };
    let no_cache = cli.no_cache;
    match cli.command {
        Command::Config { command } => config::run(command, &config),
        Command::Rule { command } => rule::run(command, &config, no_cache),
        Command::Run(args) => run::run(args, config, no_cache),
        Command::Diagnose(args) => diagnose::run(args, &config, no_cache),
        Command::Replay(args) => replay::run(args, &config, no_cache),
        Command::Eval(args) => replay::eval(args, &config, no_cache),
        Command::Report(args) => report::run(args, &config),
        Command::Doctor(args) => doctor::run(args, cli.environment.as_deref(), no_cache),
        Command::Onboard(args) => fleet::onboard(args, &config),
        Command::Sweep(args) => fleet::sweep(args, &config, no_cache),
        Command::Recommendations(args) => fleet::recommendations(args, &config),
        Command::Tune(args) => tune::run(args, &config, no_cache),
        Command::Incidents(args) => incidents::run(args, &config),
        Command::Approvals(args) => fleet::approvals(args, &config),
        Command::Approve(args) => fleet::answer(args, true, &config),
        Command::Reject(args) => fleet::answer(args, false, &config),
        Command::Pause(args) => pause::pause(args, &config),
        Command::Resume(args) => pause::resume(args, &config),
        Command::Undo(args) => undo::run(args, config, no_cache),
        Command::Evidence { command } => evidence::run(command, config, no_cache),
        Command::Completions { shell } => {
            reference::completions(shell, &mut std::io::stdout());
            Ok(())
        }
    }
}
