//! The fleet commands: `onboard` (alarms by tag), `sweep` (standing
//! recommendations, here in one process), `recommendations` (the list), and
//! approval mode's `approvals` (what waits), `approve` / `reject` (answers).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::ValueEnum;

use autorepair::aws::Aws;
use autorepair::aws::workflow::StepFunctions;
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::fleet::sweep::{self, BatchSummary, Item};
use autorepair::fleet::{alarms, onboard, render};
use autorepair::incident::is_account;
use autorepair::pipeline::approval::{self, Answer};
use autorepair::pipeline::{self, ProtocolError, answer_approval};
use autorepair::ports::{AuditStore, RecommendationStore, Workflow};
use autorepair::progress::Progress as _;
use autorepair::setup;

use crate::common::{Format, load_rules, runtime};
use crate::{Failure, bad_input};

#[derive(clap::Args)]
pub struct OnboardArgs {
    /// Print the difference (+ create, ~ update, - delete) and change nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn onboard(args: OnboardArgs, config: &Config) -> Result<(), Failure> {
    let done = runtime()?.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        // With an [organization], every enrolled member account's too.
        let members = config
            .organization
            .enabled()
            .then(|| autorepair::aws::members::AssumedRoles::new(&aws.sdk, config));
        onboard::everywhere(
            &setup::fleet_ports(&aws, config),
            config,
            members
                .as_ref()
                .map(|m| m as &dyn autorepair::ports::Members),
            args.dry_run,
            None,
            &crate::progress::Shown::new(),
        )
        .await
    })?;
    match args.format {
        Format::Text => print!("{}", alarms::render(&done.plan, args.dry_run)),
        Format::Json => {
            let (create, update, delete) = done.plan.count();
            let changes: Vec<String> = done.plan.changes.iter().map(ToString::to_string).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "dry_run": args.dry_run,
                    "functions": done.plan.functions,
                    "create": create,
                    "update": update,
                    "delete": delete,
                    "unchanged": done.plan.unchanged,
                    "changes": changes,
                    "warnings": done.plan.warnings,
                    "failures": done.failures,
                }))?
            )
        }
    }
    if !done.failures.is_empty() {
        for f in &done.failures {
            eprintln!("failed: {f}");
        }
        return Err(anyhow::anyhow!(
            "{} of {} alarm changes failed (the others were made; run again to retry)",
            done.failures.len(),
            done.plan.changes.len()
        )
        .into());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct SweepArgs {
    /// Sweep these functions only (repeatable; a name or an ARN), opted in
    /// or not (a downsizing is applied only to opted-in ones); default:
    /// every function tagged for autorepair.
    #[arg(long = "function", value_name = "NAME")]
    functions: Vec<String>,
    /// A name for this sweep (recorded with each recommendation).
    #[arg(long, default_value = "cli")]
    name: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The scheduled sweep's work in one process: every batch the Distributed Map
/// would run, one after the other.
pub fn sweep(args: SweepArgs, config: &Config, no_cache: bool) -> Result<(), Failure> {
    let rules = load_rules(config, no_cache)?;
    let total = runtime()?.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        let ports = setup::fleet_ports(&aws, config);
        let ctx = setup::context(&aws, rules, config.clone());
        // Every enrolled member account's functions too, with an
        // [organization]; named ones are the host's own account's.
        let targets = if args.functions.is_empty() {
            sweep::targets(&ctx, &ports).await?
        } else {
            vec![(None, args.functions.clone())]
        };
        let count: usize = targets.iter().map(|(_, names)| names.len()).sum();
        let shown = crate::progress::Shown::new();
        let began = autorepair::clock::Clock::now_ms(ctx.clock.as_ref());
        // Earlier sweeps' applied downsizings are judged first: one that
        // made things worse is rolled back before anything else is sized.
        shown.step("judging earlier downsizings", None);
        let checked = autorepair::fleet::downsizings::check(
            &ctx,
            &ports,
            std::time::Duration::from_secs(config.fleet.batch_budget_seconds),
        )
        .await?;
        for line in checked.rolled_back.iter() {
            shown.note(&format!("rolled back: {line}"));
        }
        for line in checked.failures.iter() {
            shown.note(&format!(
                "warning: a downsizing could not be judged: {line}"
            ));
        }
        let mut batches: Vec<BatchSummary> = Vec::new();
        shown.step("functions swept", Some(count as u64));
        let chunks = targets.iter().flat_map(|(member, names)| {
            names
                .chunks(config.fleet.batch_size.max(1))
                .map(move |chunk| (member, chunk))
        });
        for (member, chunk) in chunks {
            let item = Item {
                sweep: args.name.clone(),
                functions: chunk.to_vec(),
                member: member.clone(),
            };
            batches.push(
                sweep::batch(
                    &ctx,
                    &ports,
                    &item,
                    std::time::Duration::from_secs(config.fleet.batch_budget_seconds),
                )
                .await,
            );
            shown.advance(chunk.len() as u64);
        }
        drop(shown);
        let total = sweep::summary(&ctx, &args.name, &batches).await;
        // Named functions: their recommendations, with why.
        let mut swept = Vec::new();
        if !args.functions.is_empty() {
            for name in &args.functions {
                let name = autorepair::model::function_name(name);
                // This sweep's only: a function it failed on keeps an
                // older one, which is not this sweep's word.
                if let Some(r) = ports.recommendations.recommendation(name).await?
                    && r.at_ms >= began
                {
                    swept.push(r);
                }
            }
        }
        Ok::<_, anyhow::Error>((total, swept))
    })?;
    let (total, swept) = total;
    match args.format {
        Format::Text => {
            print!("{}", sweep::notice(&args.name, &total));
            if !swept.is_empty() {
                print!("\n{}", render::text(&swept));
            }
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&total)?),
    }
    if total.swept == 0 && !total.failed.is_empty() {
        return Err(anyhow::anyhow!("no function could be swept").into());
    }
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Text,
    Json,
    Csv,
    /// One self-contained page.
    Html,
}

#[derive(clap::Args)]
pub struct RecommendationsArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    format: ListFormat,
    /// Only these directions (repeatable): up, down, keep.
    #[arg(long, value_name = "DIRECTION", value_parser = ["up", "down", "keep"])]
    only: Vec<String>,
    /// Only this account's functions: an enrolled member's, or the host's
    /// own ([organization]).
    #[arg(long, value_name = "ACCOUNT_ID")]
    account: Option<String>,
    /// Write the list here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn recommendations(args: RecommendationsArgs, config: &Config) -> Result<(), Failure> {
    let mut all = runtime()?.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        setup::audit_table(&aws, config).recommendations().await
    })?;
    if !args.only.is_empty() {
        all.retain(|r| args.only.contains(&r.direction.to_string()));
    }
    if let Some(wanted) = &args.account {
        let home = home_account(config);
        all.retain(|r| is_account(r.account.as_deref(), wanted, home.as_deref()));
    }
    render::sort(&mut all);
    let text = match args.format {
        ListFormat::Text => render::text(&all),
        ListFormat::Json => render::json(&all),
        ListFormat::Csv => render::csv(&all),
        ListFormat::Html => render::html(&all),
    };
    match args.output {
        Some(path) => std::fs::write(&path, text)
            .with_context(|| format!("writing the recommendations to {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct ApprovalsArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Only this account's: an enrolled member's, or the host's own
    /// ([organization]).
    #[arg(long, value_name = "ACCOUNT_ID")]
    account: Option<String>,
}

/// `autorepair approvals`: the audit table's runs whose workflow waits for
/// an answer.
pub fn approvals(args: ApprovalsArgs, config: &Config) -> Result<(), Failure> {
    let documents = runtime()?.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        setup::audit_table(&aws, config).records().await
    })?;
    let (mut list, skipped) = approval::waiting(&documents, now_ms());
    if let Some(wanted) = &args.account {
        let home = home_account(config);
        list.retain(|w| is_account(w.account.as_deref(), wanted, home.as_deref()));
    }
    if skipped > 0 {
        eprintln!("warning: {skipped} audit records are not run documents and were left out");
    }
    match args.format {
        Format::Text => print!(
            "{}",
            approval::render_waiting(&list, config.run.environment.as_deref())
        ),
        Format::Json => println!("{}", serde_json::to_string_pretty(&list)?),
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct AnswerArgs {
    /// The incident id the approval notice names.
    incident: String,
    /// Why (recorded with the answer, shown in the notice).
    #[arg(long)]
    reason: Option<String>,
    /// Your name, recorded beside your AWS identity.
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
}

/// `autorepair approve|reject INCIDENT`: records the answer in the audit
/// table (who, when, why), then resumes the waiting workflow.
pub fn answer(args: AnswerArgs, approve: bool, config: &Config) -> Result<(), Failure> {
    let incident = args.incident.trim();
    if incident.is_empty() {
        return Err(bad_input(anyhow::anyhow!("name the incident to answer")));
    }
    let reply = runtime()?.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        let identity = crate::common::caller_identity(&aws, "an answer").await?;
        let answer = Answer {
            approve,
            identity,
            name: args.by.clone(),
            reason: args.reason.clone(),
        };
        let audit = setup::audit_table(&aws, config);
        let (reply, token) = answer_approval(&audit, incident, &answer, now_ms(), &config.approval)
            .await
            .map_err(|e| match e {
                // The table could not be read or written: try again later.
                ProtocolError::Audit(_) => Failure::from(anyhow::Error::from(e)),
                // The incident refuses this answer: nothing to retry.
                _ => bad_input(e),
            })?;
        let Some(token) = token else {
            return Ok::<_, Failure>((reply, false));
        };
        let output = serde_json::to_string(&reply).map_err(anyhow::Error::from)?;
        if let Err(e) = StepFunctions::new(&aws.sdk).resume(&token, &output).await {
            return Err(anyhow::anyhow!(
                "the answer is recorded, but the workflow could not be resumed ({e}); \
answer again to resume it before its wait times out (a timed-out wait escalates, whatever is recorded)"
            )
            .into());
        }
        Ok::<_, Failure>((reply, true))
    })?;
    let (reply, resumed) = reply;
    if !resumed {
        println!(
            "incident {incident}: your approval is recorded; the change waits for another approver ([approval] min_approvals) and nothing changes until then"
        );
        return Ok(());
    }
    println!(
        "incident {}: {} — the workflow goes on ({})",
        incident,
        if approve { "approved" } else { "rejected" },
        if reply.status == pipeline::Status::Started {
            "the change is made next"
        } else {
            "nothing changes"
        }
    );
    Ok(())
}

/// The host's own account, for `--account`: configured, else the state
/// machine's.
pub fn home_account(config: &Config) -> Option<String> {
    config
        .organization
        .home(config.run.state_machine_arn.as_deref())
}
