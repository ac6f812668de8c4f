//! `autorepair doctor`: a deployment checked as it stands, one line per check.

use autorepair::aws::Aws;
use autorepair::aws::deployment::AwsDeployment;
use autorepair::checkup::{self, Check, Names, Outcome};
use autorepair::config::Config;
use autorepair::ports::{ModelRequest, ToolChoice, ToolSpec, Turn};

use crate::Failure;
use crate::common::{Format, load_rules, runtime};

#[derive(clap::Args)]
pub struct Args {
    /// The host function that reads, instead of autorepair-<env>-host.
    #[arg(long)]
    function: Option<String>,
    /// The host function that acts (execute, rollback), instead of
    /// autorepair-<env>-act.
    #[arg(long)]
    acting_function: Option<String>,
    /// The state machine, instead of autorepair-<env>.
    #[arg(long)]
    state_machine: Option<String>,
    /// The EventBridge rule, instead of autorepair-<env>-alarms.
    #[arg(long)]
    rule: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Checks the deployment of `environment` (the global `--environment`;
/// `dev` when none is given): its pieces are named as the template names
/// them (autorepair-<env>-host, autorepair-<env>-act, autorepair-<env>,
/// autorepair-<env>-alarms), unless named here.
pub fn run(args: Args, environment: Option<&str>, no_cache: bool) -> Result<(), Failure> {
    let mut names = Names::for_environment(environment.unwrap_or("dev"));
    if let Some(f) = args.function {
        names.function = f;
    }
    if let Some(a) = args.acting_function {
        names.acting = a;
    }
    if let Some(m) = args.state_machine {
        names.state_machine = m;
    }
    if let Some(r) = args.rule {
        names.rule = r;
    }
    let runtime = runtime()?;
    let aws = runtime.block_on(Aws::from_env());
    let deployment = AwsDeployment::new(&aws.sdk);
    let shown = crate::progress::Shown::new();
    let (mut checks, config) = runtime.block_on(checkup::inspect_with(&deployment, &names, &shown));
    drop(shown);
    if let Some(config) = &config {
        checks.push(runtime.block_on(paused(&aws, config)));
    }
    drop(runtime);
    match &config {
        Some(config) => {
            checks.push(rules(config, no_cache));
            checks.push(model(&aws, config));
        }
        None => {
            checks.push(Check::skip("rules", "no configuration to name them"));
            checks.push(Check::skip("model", "no configuration"));
        }
    }
    match args.format {
        Format::Text => print!("{}", checkup::render(&checks)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&checks)?),
    }
    let failed = checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
    if failed > 0 {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!("{failed} of {} checks failed", checks.len()),
        });
    }
    Ok(())
}

/// Whether a person paused autorepair (`autorepair pause`): shown, never a
/// failure — a pause is a decision, not a fault.
async fn paused(aws: &Aws, config: &Config) -> Check {
    use autorepair::ports::AuditStore;
    match autorepair::setup::audit_table(aws, config).pauses().await {
        Ok(pauses) if pauses.is_empty() => Check::ok("pause", "not paused"),
        Ok(pauses) => Check::ok(
            "pause",
            format!(
                "PAUSED: {}",
                pauses
                    .iter()
                    .map(|p| autorepair::text::clean(&p.describe()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
        Err(e) => Check::fail("pause", format!("the pauses cannot be read: {e}")),
    }
}

/// The host's rules load as it would load them: bundled, pinned, signed.
fn rules(config: &Config, no_cache: bool) -> Check {
    match load_rules(config, no_cache) {
        Err(e) => Check::fail("rules", format!("{:#}", e.error)),
        Ok(set) if set.load_failures().is_empty() => Check::ok(
            "rules",
            format!(
                "{} load: {}",
                set.rules().len(),
                set.rules()
                    .iter()
                    .map(|r| r.info.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Ok(set) => Check::fail(
            "rules",
            set.load_failures()
                .iter()
                .map(|f| format!("{} {}", f.rule, f.cause))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// With the AI on, one tiny Converse call to the model: access granted, the
/// model id right.
fn model(aws: &Aws, config: &Config) -> Check {
    if !config.ai.enabled {
        return Check::skip("model", "the AI diagnoser is off");
    }
    let model = match autorepair::setup::model(aws, config) {
        Ok(model) => model,
        Err(e) => return Check::fail("model", e),
    };
    let request = ModelRequest {
        model_id: config.ai.model_id.clone(),
        system: "Answer with the tool.".into(),
        turns: vec![Turn::User("ping".into())],
        tools: vec![ToolSpec {
            name: "pong".into(),
            description: "Say that you are reachable.".into(),
            schema: serde_json::json!({"type": "object", "properties": {}}),
        }],
        choice: ToolChoice::Tool("pong".into()),
        max_tokens: 16,
    };
    let answer = match runtime() {
        Ok(rt) => rt.block_on(model.converse(&request)),
        Err(e) => return Check::fail("model", format!("{:#}", e.error)),
    };
    match answer {
        Ok(_) => Check::ok("model", format!("{} answers", config.ai.model_id)),
        Err(e) => Check::fail("model", format!("{}: {}", config.ai.model_id, e.message)),
    }
}
