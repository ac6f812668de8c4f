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
use crate::config::{self, Config, Provider};
use crate::pipeline::Context;
use crate::ports::{AiDiagnoser, AuditStore, ChangeLog, Model, ObjectStore, RuleFloors, Telemetry};
use crate::rules::source::{Location, RemoteSource};
use crate::rules::{Compiler, RuleSet, Sandbox, SandboxError};
use crate::trust::Floors;

/// The audit table the config names, on DynamoDB.
pub fn audit_table(aws: &Aws, config: &Config) -> DynamoAudit {
    DynamoAudit::new(
        aws.dynamodb.clone(),
        config.run.audit_table.clone(),
        config.run.audit_ttl_days,
    )
}

/// The model the `[ai]` section names: Bedrock's Converse, or an
/// OpenAI-compatible server with its key from the environment.
pub fn model(aws: &Aws, config: &Config) -> Result<Arc<dyn Model>, String> {
    match config.ai.provider {
        Provider::Bedrock => Ok(Arc::new(Bedrock::new(&aws.sdk, &config.ai))),
        Provider::OpenAi => {
            let key: Arc<dyn crate::openai::ApiKey> = match &config.ai.api_key_secret {
                Some(id) => Arc::new(crate::aws::secrets::SecretKey::new(
                    aws_sdk_secretsmanager::Client::new(&aws.sdk),
                    id,
                )),
                None => Arc::new(api_key(&config.ai)?),
            };
            Ok(Arc::new(crate::openai::OpenAi::new(&config.ai, key)?))
        }
    }
}

/// The OpenAI-compatible server's API key, from the variable `api_key_env`
/// names (a local server may need none: an unset variable is an empty key).
fn api_key(ai: &crate::config::AiConfig) -> Result<String, String> {
    match std::env::var(&ai.api_key_env) {
        Ok(key) => Ok(key.trim().to_owned()),
        Err(std::env::VarError::NotPresent) => {
            tracing::warn!(variable = %ai.api_key_env, "no API key in the environment; calling the model without one");
            Ok(String::new())
        }
        Err(e) => Err(format!("reading {}: {e}", ai.api_key_env)),
    }
}

/// The AI diagnoser for recorded evidence (`diagnose`, `replay`): its model
/// alone, no history and no tools (they would read today's AWS, not the
/// incident's).
pub fn offline_diagnoser(aws: &Aws, config: &Config) -> Result<Diagnoser, String> {
    Ok(Diagnoser::new(model(aws, config)?, &config.ai))
}

/// The AI diagnoser as the `[ai]` section configures it: its model, and its
/// history and investigation reading through `telemetry` and `audit`.
pub fn diagnoser(
    aws: &Aws,
    config: &Config,
    telemetry: Arc<dyn Telemetry>,
    audit: Arc<dyn AuditStore>,
    changes: Option<Arc<dyn ChangeLog>>,
) -> Result<Diagnoser, String> {
    let diagnoser = Diagnoser::new(model(aws, config)?, &config.ai).with_sources(
        crate::ai::investigate::Sources {
            telemetry: Some(telemetry),
            changes,
            audit: Some(audit),
        },
    );
    Ok(
        match config
            .ai
            .knowledge_base_id
            .as_deref()
            .filter(|id| !id.is_empty())
        {
            Some(id) => diagnoser.with_knowledge(Arc::new(
                crate::aws::knowledge::KnowledgeBase::new(&aws.sdk, &config.ai, id),
            )),
            None => diagnoser,
        },
    )
}

/// Every stage's ports on AWS, with `rules` and `config`. A model that
/// cannot be set up (no base URL, an unreadable key) leaves the AI off,
/// said once, rather than stopping the repairs.
pub fn context(aws: &Aws, rules: RuleSet, config: Config) -> Context {
    let telemetry: Arc<dyn Telemetry> =
        Arc::new(CloudWatch::new(aws.cloudwatch.clone(), aws.logs.clone()));
    let audit: Arc<dyn AuditStore> = Arc::new(audit_table(aws, &config));
    let changes = config.run.recent_changes.then(|| {
        Arc::new(crate::aws::cloudtrail::CloudTrail::new(
            aws_sdk_cloudtrail::Client::new(&aws.sdk),
        )) as Arc<dyn ChangeLog>
    });
    let ai = if config.ai.enabled {
        match diagnoser(
            aws,
            &config,
            telemetry.clone(),
            audit.clone(),
            changes.clone(),
        ) {
            Ok(d) => Some(Arc::new(d) as Arc<dyn AiDiagnoser>),
            Err(e) => {
                tracing::error!(error = %e, "the AI diagnoser cannot be set up; diagnosing with the rules alone");
                None
            }
        }
    } else {
        None
    };
    Context {
        functions: Arc::new(Lambda::new(aws.lambda.clone())),
        telemetry,
        audit,
        notifier: config.run.topic_arn.as_ref().map(|topic| {
            Arc::new(Sns::new(aws.sns.clone(), topic).with_https(config.run.https_notices)) as _
        }),
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
        changes,
        members: config
            .organization
            .enabled()
            .then(|| Arc::new(crate::aws::members::AssumedRoles::new(&aws.sdk, &config)) as _),
        rules: Arc::new(rules),
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
        throttled: || crate::aws::limits::THROTTLES.count(),
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
///
/// With `floors` (the Lambda host: the audit table), a signed rule never
/// loads below the newest version accepted in its slot before, and the
/// version it loads at becomes the floor; floors that cannot be read refuse
/// the signed rules (fail closed). Without, only `min_version` holds.
pub async fn load_rules(
    config: &Config,
    objects: Option<Arc<dyn ObjectStore>>,
    floors: Option<Arc<dyn RuleFloors>>,
    cache_dir: Option<PathBuf>,
) -> Result<RuleSet, SandboxError> {
    let mut known = Floors::new();
    let mut unreadable = None;
    if let Some(store) = &floors {
        for p in &config.plugins {
            let rule = p.slot_rule();
            match store.floor(&rule).await {
                Ok(Some(version)) => {
                    known.insert(rule, version);
                }
                Ok(None) => {}
                Err(e) => unreadable = Some(e.to_string()),
            }
        }
    }
    let mut rules = load_rules_at(config, objects, &known, cache_dir).await?;
    if let Some(why) = unreadable {
        rules.refuse_signed(&format!(
            "the rule's floor could not be read, so a downgrade could not be ruled out: {why}"
        ));
    }
    if let Some(store) = &floors {
        for (rule, version) in rules.signed_versions() {
            if known
                .get(&rule)
                .is_none_or(|floor| crate::trust::older_than(floor, &version))
                && let Err(e) = store.set_floor(&rule, &version).await
            {
                tracing::warn!(%rule, %version, error = %e, "the rule's new floor could not be recorded");
            }
        }
    }
    Ok(rules)
}

async fn load_rules_at(
    config: &Config,
    objects: Option<Arc<dyn ObjectStore>>,
    floors: &Floors,
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
            config.rule_specs_from(fetched, floors, now_ms())
        }
        _ => {
            let fetched = config.plugins.iter().map(config::read_local).collect();
            config.rule_specs_from(fetched, floors, now_ms())
        }
    };
    let compiler = Compiler::new(sandbox, cache_dir);
    let mut rules = RuleSet::load(&compiler, &specs);
    rules.add_load_failures(refused);
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::config::RuleConfig;
    use crate::model::FailureCause;
    use crate::ports::FleetError;
    use crate::trust::{Claims, TrustedKey, sign};

    /// The audit table's floors, in memory; `broken` fails every read.
    #[derive(Default)]
    struct TableFloors {
        versions: Mutex<BTreeMap<String, String>>,
        broken: bool,
    }

    #[async_trait::async_trait]
    impl RuleFloors for TableFloors {
        async fn floor(&self, rule: &str) -> Result<Option<String>, FleetError> {
            if self.broken {
                return Err(FleetError {
                    what: "GetItem".into(),
                    message: "throttled".into(),
                });
            }
            Ok(self.versions.lock().unwrap().get(rule).cloned())
        }
        async fn set_floor(&self, rule: &str, version: &str) -> Result<(), FleetError> {
            self.versions
                .lock()
                .unwrap()
                .insert(rule.into(), version.into());
            Ok(())
        }
    }

    /// The bundled `oom` rule as a third-party one: written to `dir`, signed
    /// as what it is (or as `version`), in a config trusting the key.
    fn signed_oom(dir: &std::path::Path, version: Option<&str>) -> (Config, String) {
        let bytes = crate::rules::artifacts::BUNDLED
            .iter()
            .find(|(name, _)| *name == "oom")
            .unwrap()
            .1;
        let compiler = crate::rules::Compiler::new(Arc::new(Sandbox::new(64).unwrap()), None);
        let inspection = crate::toolkit::inspect::inspect(&compiler, bytes, "oom");
        let info = inspection.describe.expect("oom describes itself");
        let claims = Claims {
            rule: info.name.clone(),
            version: version.unwrap_or(&info.version).to_owned(),
            interface: inspection.exports_rule.expect("a rule interface"),
        };
        let (public, secret) = sign::keypair(None).unwrap();
        let path = dir.join("oom.wasm");
        std::fs::write(&path, bytes).unwrap();
        let comment = format!("timestamp:1\t{}", claims.comment_fields());
        std::fs::write(
            dir.join("oom.wasm.minisig"),
            sign::sign(bytes, &secret, None, &comment).unwrap(),
        )
        .unwrap();
        let mut config = Config::default();
        config.bundled.disabled = vec!["oom".into()];
        config.trust.keys = vec![TrustedKey {
            name: "team".into(),
            public_key: sign::public_key_line(&public).unwrap().into(),
            expires: None,
        }];
        config.plugins = vec![RuleConfig {
            source: path.display().to_string(),
            ..toml::from_str("source = \"x\"").unwrap()
        }];
        (config, info.version)
    }

    fn refused(rules: &RuleSet) -> Option<String> {
        rules.load_failures().iter().find_map(|f| match &f.cause {
            FailureCause::Untrusted(why) => Some(why.clone()),
            _ => None,
        })
    }

    #[tokio::test]
    async fn a_signed_rule_never_loads_below_the_version_the_host_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let (config, version) = signed_oom(dir.path(), None);
        let floors = Arc::new(TableFloors::default());
        let load = |floors: Arc<TableFloors>, config: Config| async move {
            load_rules(&config, None, Some(floors as Arc<dyn RuleFloors>), None)
                .await
                .unwrap()
        };
        // First load: accepted, and its version becomes the slot's floor.
        let rules = load(floors.clone(), config.clone()).await;
        assert_eq!(refused(&rules), None);
        assert_eq!(
            rules.signed_versions(),
            [("oom".to_owned(), version.clone())]
        );
        assert_eq!(floors.versions.lock().unwrap()["oom"], version);
        // The slot has since held a newer version: this one is a downgrade.
        floors
            .versions
            .lock()
            .unwrap()
            .insert("oom".into(), "99.0.0".into());
        let rules = load(floors.clone(), config.clone()).await;
        assert!(refused(&rules).is_some_and(|why| why.contains("downgrade")));
        assert!(rules.signed_versions().is_empty());
        // Floors that cannot be read: no signed rule loads (fail closed).
        let broken = Arc::new(TableFloors {
            broken: true,
            ..TableFloors::default()
        });
        let rules = load(broken, config.clone()).await;
        assert!(refused(&rules).is_some_and(|why| why.contains("floor could not be read")));
        // Signed as another version than the component says it is.
        let dir = tempfile::tempdir().unwrap();
        let (lying, _) = signed_oom(dir.path(), Some("100.0.0"));
        let rules = load(Arc::new(TableFloors::default()), lying).await;
        assert!(
            refused(&rules).is_some_and(|why| why.contains("but the component is")),
            "{:?}",
            rules.load_failures()
        );
    }
}
