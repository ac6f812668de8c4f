//! `autorepair report`: the A/B report of AI against rules from recorded runs
//! (JSON-lines files or the audit table).

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;

use autorepair::aws::Aws;
use autorepair::aws::audit::DynamoAudit;
use autorepair::comparison;
use autorepair::config::Config;
use autorepair::ports::AuditStore;
use autorepair::report;

use crate::common::runtime;
use crate::{Failure, bad_input};

#[derive(clap::Args)]
pub struct Args {
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

pub fn run(args: Args, config: &Config) -> Result<(), Failure> {
    let Args {
        records,
        table,
        format,
        output,
    } = args;
    let mut all = Vec::new();
    for path in &records {
        all.extend(comparison::read_jsonl(path).map_err(bad_input)?);
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
            DynamoAudit::new(aws.dynamodb.clone(), table, config.run.audit_ttl_days)
                .records()
                .await
        })?;
        let (records, skipped) = comparison::from_documents(&documents);
        if skipped > 0 {
            eprintln!("warning: {skipped} audit records are not run documents and were left out");
        }
        all.extend(records);
    } else if records.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "say where the records are: --records FILE (from run/replay --record) or --table [NAME] (the audit table)"
        )));
    }
    let report = report::build(&all, config.pricing.lambda_usd_per_gb_second);
    let text = match format {
        ReportFormat::Text => report::text(&report),
        ReportFormat::Json => report::json(&report)?,
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
