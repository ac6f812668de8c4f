//! Production wiring: the AWS adapters plugged into the ports, and the rules
//! loaded — the one place both binaries (and the end-to-end tests) build a
//! [`Context`] and a [`RuleSet`].

use std::path::PathBuf;
use std::sync::Arc;

use crate::ai::Diagnoser;
use crate::aws::Aws;
use crate::aws::audit::DynamoAudit;
use crate::aws::bedrock::Bedrock;
use crate::aws::lambda::Lambda;
use crate::aws::notify::Sns;
use crate::aws::s3::S3;
use crate::aws::telemetry::CloudWatch;
use crate::clock::{SystemClock, now_ms};
use crate::config::{self, Config};
use crate::pipeline::Context;
use crate::ports::{AiDiagnoser, ObjectStore};
use crate::rules::source::{Location, RemoteSource};
use crate::rules::{Compiler, RuleSet, Sandbox, SandboxError};

/// The audit table the config names, on DynamoDB.
pub fn audit_table(aws: &Aws, config: &Config) -> DynamoAudit {
    DynamoAudit::new(
        aws.dynamodb.clone(),
        config.run.audit_table.clone(),
        config.run.audit_ttl_days,
    )
}

/// The AI diagnoser on Bedrock, as the `[ai]` section configures it.
pub fn bedrock_diagnoser(aws: &Aws, config: &Config) -> Diagnoser {
    Diagnoser::new(Arc::new(Bedrock::new(&aws.sdk, &config.ai)), &config.ai)
}

/// Every stage's ports on AWS, with `rules` and `config`.
pub fn context(aws: &Aws, rules: RuleSet, config: Config) -> Context {
    let ai = config
        .ai
        .enabled
        .then(|| Arc::new(bedrock_diagnoser(aws, &config)) as Arc<dyn AiDiagnoser>);
    Context {
        functions: Arc::new(Lambda::new(aws.lambda.clone())),
        telemetry: Arc::new(CloudWatch::new(aws.cloudwatch.clone(), aws.logs.clone())),
        audit: Arc::new(audit_table(aws, &config)),
        notifier: config
            .run
            .topic_arn
            .as_ref()
            .map(|topic| Arc::new(Sns::new(aws.sns.clone(), topic)) as _),
        ai,
        clock: Arc::new(SystemClock),
        alarms: Arc::new(crate::aws::alarms::Alarms::new(aws.cloudwatch.clone())),
        executions: Arc::new(crate::aws::workflow::StepFunctions::new(&aws.sdk)),
        // In Lambda, EMF lines on stdout become metrics; elsewhere nothing
        // reads them.
        metrics: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().map(|host| {
            (
                Arc::new(crate::metrics::Stdout) as Arc<dyn crate::metrics::MetricSink>,
                host,
            )
        }),
        rules,
        config,
    }
}

/// The fleet's ports on AWS: Lambda's listing, CloudWatch alarms, the audit
/// table's recommendations, S3 for the sweep's items.
pub fn fleet_ports(aws: &Aws, config: &Config) -> crate::fleet::FleetPorts {
    crate::fleet::FleetPorts {
        inventory: Arc::new(crate::aws::inventory::LambdaInventory::new(
            aws.lambda.clone(),
            match config.fleet.tags_from {
                crate::config::TagSource::TaggingApi => crate::aws::inventory::Tags::TaggingApi {
                    client: aws_sdk_resourcegroupstagging::Client::new(&aws.sdk),
                    key: config.policy.opt_in_tag_key.clone(),
                    value: config.policy.opt_in_tag_value.clone(),
                },
                crate::config::TagSource::ListTags => crate::aws::inventory::Tags::ListTags,
            },
        )),
        alarms: Arc::new(crate::aws::alarms::Alarms::new(aws.cloudwatch.clone())),
        recommendations: Arc::new(audit_table(aws, config)),
        items: Arc::new(S3::new(&aws.sdk)),
    }
}

/// The object store remote rules are fetched from.
pub fn rule_store(sdk: &aws_config::SdkConfig) -> Arc<dyn ObjectStore> {
    Arc::new(S3::new(sdk))
}

/// Loads the rules `config` names: the bundled ones, and third-party ones that
/// pass the trust check (fetched from `objects` when remote). Compiled
/// artifacts are kept in `cache_dir` when given; pinned remote rules in its
/// `sources/`. A rule refused or failing to load is a recorded load failure.
pub async fn load_rules(
    config: &Config,
    objects: Option<Arc<dyn ObjectStore>>,
    cache_dir: Option<PathBuf>,
) -> Result<RuleSet, SandboxError> {
    let sandbox = Arc::new(Sandbox::new(config.max_memory_mib())?);
    let (specs, refused) = match objects {
        Some(objects) if config.has_remote_rules() => {
            let remote = RemoteSource::new(objects, cache_dir.as_ref().map(|d| d.join("sources")));
            let mut fetched = Vec::with_capacity(config.plugins.len());
            for p in &config.plugins {
                fetched.push(match (p.location(), p.signature_location()) {
                    (Ok(Location::S3 { bucket, key }), Ok(signature)) => {
                        remote
                            .fetch(&bucket, &key, &signature, p.sha256.as_deref())
                            .await
                    }
                    _ => config::read_local(p),
                });
            }
            config.rule_specs_from(fetched, now_ms())
        }
        _ => config.rule_specs(),
    };
    let compiler = Compiler::new(sandbox, cache_dir);
    let mut rules = RuleSet::load(&compiler, &specs);
    rules.add_load_failures(refused);
    Ok(rules)
}
