//! `autorepair evidence save INCIDENT`: an incident's evidence as a file —
//! the format `diagnose --evidence`, `replay` and `rule test` read — so a
//! real incident becomes a rule's test in two commands.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use autorepair::aws::Aws;
use autorepair::config::Config;
use autorepair::evidence::window_before;
use autorepair::ports::AuditStore;
use autorepair::setup;

use crate::common::{load_rules, runtime};
use crate::{Failure, bad_input};

#[derive(Subcommand)]
pub enum EvidenceCommand {
    /// Save an incident's evidence: the function's configuration, metrics
    /// and log lines in the incident's window, read again from AWS (lines
    /// are there as long as the log group keeps them), every line's secrets
    /// redacted. Then `autorepair rule test RULE --evidence FILE --expect
    /// expect.json --bless` makes it a test.
    Save {
        /// The incident id (notices, `autorepair incidents`).
        incident: String,
        /// Where to write it; default: <incident>.json here.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub fn run(command: EvidenceCommand, config: Config, no_cache: bool) -> Result<(), Failure> {
    let EvidenceCommand::Save { incident, output } = command;
    let incident = incident.trim().to_owned();
    if incident.is_empty() {
        return Err(bad_input(anyhow::anyhow!("name the incident")));
    }
    let output = output.unwrap_or_else(|| PathBuf::from(format!("{incident}.json")));
    // Collecting runs no rule: the bundled ones make the context.
    let mut bundled_only = config.clone();
    bundled_only.plugins.clear();
    let rules = load_rules(&bundled_only, no_cache)?;
    let minutes = config.run.evidence_window_minutes;
    let mut evidence = runtime()?.block_on(async {
        let aws = Aws::from_env().await.with_limits(&config.limits);
        let audit = setup::audit_table(&aws, &config);
        let stored = audit.get(&incident).await?.ok_or_else(|| {
            bad_input(anyhow::anyhow!(
                "no incident {incident} in {}",
                config.run.audit_table
            ))
        })?;
        let run: autorepair::run::Run = serde_json::from_str(&stored.document)
            .with_context(|| format!("incident {incident}'s record does not parse"))?;
        let ctx = setup::context(&aws, rules, config);
        let window = window_before(run.incident.timestamp_ms, minutes);
        autorepair::pipeline::collect(&ctx, &run, run.incident.qualifier.as_deref(), window)
            .await
            .map_err(|e| {
                Failure::from(anyhow::anyhow!(
                    "collecting incident {incident}'s evidence: {e}"
                ))
            })
    })?;
    let mut redactions = 0;
    for line in &mut evidence.logs {
        let (clean, n) = autorepair::redact::redact(&line.message);
        line.message = clean;
        redactions += n;
    }
    let text = serde_json::to_string_pretty(&evidence)? + "\n";
    std::fs::write(&output, text).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "saved incident {incident}'s evidence to {}: {} log lines, {} invocation reports, {} metric series, {redactions} secrets redacted",
        output.display(),
        evidence.logs.len(),
        evidence.reports.len(),
        evidence.metrics.len(),
    );
    Ok(())
}
