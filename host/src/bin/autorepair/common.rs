//! What several commands share: output formats, argument parsers, the async
//! runtime and the configured rules.

use anyhow::Context;
use clap::ValueEnum;

use autorepair::aws;
use autorepair::config::Config;
use autorepair::decide::MergeMode;
use autorepair::rules::RuleSet;
use autorepair::setup;

use crate::Failure;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn parse_mode(s: &str) -> Result<MergeMode, String> {
    s.parse()
}

/// `90s`, `10m`, `1h`, `0s`, `250ms`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
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

/// The configuration of environment `environment`'s deployed host: the
/// text of its `AUTOREPAIR_CONFIG_TOML`, as the host itself and `doctor`
/// read it.
pub fn deployed_config(environment: &str) -> Result<Config, Failure> {
    use autorepair::checkup::{Deployment, Names};
    let name = Names::for_environment(environment).function;
    let found = runtime()?.block_on(async {
        let aws = aws::Aws::from_env().await;
        aws::deployment::AwsDeployment::new(&aws.sdk)
            .function(&name)
            .await
    });
    let function = match found {
        Ok(Some(function)) => function,
        Ok(None) => {
            return Err(crate::bad_input(anyhow::anyhow!(
                "no function {name}: is environment {environment:?} deployed in this account and region? (--profile, --region)"
            )));
        }
        Err(e) => return Err(anyhow::anyhow!("reading {name}'s configuration: {e}").into()),
    };
    let Some(text) = function.config_toml else {
        return Err(crate::bad_input(anyhow::anyhow!(
            "{name} has no AUTOREPAIR_CONFIG_TOML: not a host this version of autorepair deployed"
        )));
    };
    let origin = format!("{name}'s AUTOREPAIR_CONFIG_TOML");
    Config::from_toml(&text, origin.as_ref()).map_err(crate::bad_input)
}

/// Who is calling (sts:GetCallerIdentity): `what` a person does must be
/// attributable, so without it nothing is done.
pub async fn caller_identity(aws: &aws::Aws, what: &str) -> Result<String, Failure> {
    match aws_sdk_sts::Client::new(&aws.sdk)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(out) => Ok(out.arn().unwrap_or("unknown identity").to_owned()),
        Err(e) => Err(crate::bad_input(anyhow::anyhow!(
            "who you are could not be read (sts:GetCallerIdentity: {e}); {what} must be attributable"
        ))),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Runtime::new().context("starting the async runtime")?)
}

/// Every rule the config names — bundled, local and remote (fetched from S3)
/// — compiled in the production sandbox, with the ones refused kept as load
/// failures. `no_cache` leaves the precompiled-rule cache on disk alone.
pub fn load_rules(config: &Config, no_cache: bool) -> Result<RuleSet, Failure> {
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
        // Only the deployed host keeps floors; here `min_version` holds.
        setup::load_rules(config, objects, None, cache_dir).await
    });
    Ok(rules.context("starting the rule sandbox")?)
}
