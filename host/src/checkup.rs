//! `autorepair doctor`: a deployment checked as it stands, one line per check.
//!
//! The stack's pieces exist and are wired (the alarm rule → the state machine →
//! the host function), the host's configuration parses, the audit table and
//! the notice topic are reachable and encrypted, the host's role can do what
//! it needs and nothing more, and a synthetic probe goes through the real
//! workflow and back without touching anything. The rules (pins, signatures)
//! and the model access are checked by the caller, which owns their wiring.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::progress::{Progress, Silent};

/// What the probe execution sends: the parse stage answers it and the
/// workflow ends, nothing claimed, nothing changed, nobody notified.
pub const PROBE_SOURCE: &str = "autorepair.doctor";
/// The incident id the parse stage answers a probe with.
pub const PROBE_INCIDENT: &str = "doctor-probe";

/// The deployment's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The function that runs the reading stages.
    pub function: String,
    /// The function that runs execute, rollback and the sweep's batches.
    pub acting: String,
    pub state_machine: String,
    pub rule: String,
}

impl Names {
    /// The names the template gives environment `env`.
    pub fn for_environment(env: &str) -> Names {
        Names {
            function: format!("autorepair-{env}-host"),
            acting: format!("autorepair-{env}-act"),
            state_machine: format!("autorepair-{env}"),
            rule: format!("autorepair-{env}-alarms"),
        }
    }
}

/// Which of the two roles a policy set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The reading host's: everything but changing a function.
    Reading,
    /// The acting host's: changes opted-in functions.
    Acting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    /// Not checked, and why (the detail says).
    Skip,
}

/// One check's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
}

impl Check {
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Ok,
            detail: detail.into(),
        }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Fail,
            detail: detail.into(),
        }
    }

    pub fn skip(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Skip,
            detail: detail.into(),
        }
    }
}

/// The host function as deployed.
#[derive(Debug, Clone)]
pub struct HostFunction {
    pub arn: String,
    pub role_arn: String,
    /// `AUTOREPAIR_CONFIG_TOML`, when set.
    pub config_toml: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StateMachine {
    pub arn: String,
    pub definition: String,
}

#[derive(Debug, Clone)]
pub struct AlarmRule {
    pub enabled: bool,
    pub pattern: String,
    pub targets: Vec<String>,
}

/// What doctor reads of a deployment (AWS in production: `aws::deployment`).
/// `Ok(None)` is "does not exist"; `Err` a call that failed.
#[async_trait]
pub trait Deployment: Send + Sync {
    async fn function(&self, name: &str) -> Result<Option<HostFunction>, String>;
    async fn state_machine(&self, name: &str) -> Result<Option<StateMachine>, String>;
    async fn rule(&self, name: &str) -> Result<Option<AlarmRule>, String>;
    /// Every policy document on the role (inline, and attached managed ones
    /// by name: `managed:<name>`).
    async fn role_policies(&self, role_arn: &str) -> Result<Vec<Policy>, String>;
    /// (status, encrypted with a KMS key).
    async fn table(&self, name: &str) -> Result<Option<(String, bool)>, String>;
    /// Whether the topic is encrypted with a KMS key.
    async fn topic(&self, arn: &str) -> Result<Option<bool>, String>;
    /// Runs `input` through the state machine: (status, output).
    async fn execute(
        &self,
        state_machine_arn: &str,
        input: &str,
    ) -> Result<(String, String), String>;
}

/// A policy on the host's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// An inline policy's document.
    Inline(String),
    /// An attached managed policy, by ARN.
    Managed(String),
}

/// What the host calls, whatever its configuration.
pub const NEEDED: &[&str] = &[
    "lambda:GetFunctionConfiguration",
    "lambda:GetAlias",
    "lambda:ListTags",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:UpdateAlias",
    "cloudwatch:GetMetricData",
    "logs:FilterLogEvents",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:DescribeTable",
    "sns:Publish",
    // Parse checks the alarm; every stage call its execution.
    "cloudwatch:DescribeAlarmHistory",
    "states:DescribeExecution",
    // The fleet: onboarding's alarms, the sweep's listing and item file.
    "lambda:ListFunctions",
    "tag:GetResources",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListTagsForResource",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
    "cloudwatch:TagResource",
    "s3:PutObject",
    "kms:Decrypt",
    "kms:GenerateDataKey",
];

/// What it may also be granted: the smoke test, the model, rules in S3, and
/// Lambda's own logging and tracing.
pub const OPTIONAL: &[&str] = &[
    "lambda:InvokeFunction",
    "bedrock:InvokeModel",
    // The knowledge base that grounds the AI ([ai] knowledge_base_id).
    "bedrock:Retrieve",
    // The function's recent changes ([run] recent_changes).
    "cloudtrail:LookupEvents",
    // The member accounts' roles ([organization]).
    "sts:AssumeRole",
    "s3:GetObject",
    "s3:ListBucket",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
];

/// The managed policies SAM attaches to every function: AWS's own (an
/// ARN in account `aws`), never a customer policy of the same name.
pub const MANAGED_ALLOWED: &[&str] = &["AWSLambdaBasicExecutionRole", "AWSXRayDaemonWriteAccess"];

/// Whether `arn` is one of the AWS-managed policies SAM attaches.
fn managed_allowed(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("iam"), Some(""), Some("aws"), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    resource
        .strip_prefix("policy/")
        .map(|path| path.rsplit('/').next().unwrap_or(path))
        .is_some_and(|name| MANAGED_ALLOWED.contains(&name))
}

/// What the acting role must hold: changing a function, and what execute
/// and rollback read around it.
const ACTING_NEEDED: &[&str] = &[
    "lambda:GetFunctionConfiguration",
    "lambda:GetAlias",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:UpdateAlias",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "states:DescribeExecution",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    // The sweep's batches: the aliases a downsizing goes through, the
    // figures from one Logs Insights query a function, the applied
    // downsizings among the recommendations.
    "lambda:ListAliases",
    "logs:StartQuery",
    "logs:GetQueryResults",
    "dynamodb:Scan",
];

/// Actions that change a function: granted only on opted-in (tagged) ones.
const MUTATING: &[&str] = &[
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:UpdateAlias",
    "lambda:InvokeFunction",
];

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The role holds what its host needs and nothing more: every needed action
/// allowed, no action beyond the needed and the optional ones, no wildcard,
/// no `NotAction` or `NotResource` (they grant everything else), and the
/// actions that change a function only under a `StringEquals` on an
/// `aws:ResourceTag` key — and, for the reading role, not at all. Read from
/// the policies themselves (IAM's simulator is not available everywhere;
/// the policies are the truth it would read).
pub fn permissions(policies: &[Policy], role: Role) -> Check {
    let name = match role {
        Role::Reading => "permissions",
        Role::Acting => "acting",
    };
    let mut granted: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for policy in policies {
        let document = match policy {
            Policy::Managed(arn) => {
                if !managed_allowed(arn) {
                    problems.push(format!("managed policy {arn} attached"));
                }
                continue;
            }
            Policy::Inline(document) => document,
        };
        let Ok(doc) = serde_json::from_str::<Value>(document) else {
            problems.push("an inline policy that is not JSON".into());
            continue;
        };
        let statements = match &doc["Statement"] {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        for st in statements {
            if st["Effect"] != "Allow" {
                continue;
            }
            for not in ["NotAction", "NotResource"] {
                if st.get(not).is_some() {
                    problems.push(format!(
                        "an Allow with {not} (it grants everything it does not name)"
                    ));
                }
            }
            let actions = strings(&st["Action"]);
            // Only an exact match on the tag restricts: StringLike "*",
            // StringNotEquals, ForAnyValue… or Null do not.
            let tagged = st["Condition"]["StringEquals"]
                .as_object()
                .is_some_and(|c| c.keys().any(|k| k.starts_with("aws:ResourceTag/")));
            for action in actions {
                if action.contains('*') {
                    problems.push(format!("wildcard action {action}"));
                    continue;
                }
                let known = |list: &[&str]| list.contains(&action.as_str());
                if !known(NEEDED) && !known(OPTIONAL) && !known(ACTING_NEEDED) {
                    problems.push(format!("{action} is beyond what the host needs"));
                }
                let on_every_function = strings(&st["Resource"])
                    .iter()
                    .any(|r| r == "*" || r.ends_with("function:*"));
                if MUTATING.contains(&action.as_str()) {
                    if role == Role::Reading {
                        problems.push(format!(
                            "{action}: the reading role may change functions (only the acting one may)"
                        ));
                    } else if on_every_function && !tagged {
                        problems.push(format!("{action} without the opt-in tag condition"));
                    }
                }
                granted.push(action);
            }
        }
    }
    let needed: Vec<&str> = match role {
        Role::Reading => NEEDED
            .iter()
            .copied()
            .filter(|a| !MUTATING.contains(a))
            .collect(),
        Role::Acting => ACTING_NEEDED.to_vec(),
    };
    let missing: Vec<&str> = needed
        .into_iter()
        .filter(|a| !granted.iter().any(|g| g == a))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("missing {}", missing.join(", ")));
    }
    if problems.is_empty() {
        granted.sort();
        granted.dedup();
        Check::ok(
            name,
            match role {
                Role::Reading => format!(
                    "the reading role grants the {} actions it needs and nothing more; it cannot change a function",
                    granted.len()
                ),
                Role::Acting => format!(
                    "the acting role grants the {} actions it needs and nothing more; changes only on tagged functions",
                    granted.len()
                ),
            },
        )
    } else {
        Check::fail(name, problems.join("; "))
    }
}

/// Runs every check that needs only the deployment; returns the checks and the
/// host's configuration when it parses (for the caller's rule and model
/// checks).
pub async fn inspect(d: &dyn Deployment, names: &Names) -> (Vec<Check>, Option<Config>) {
    inspect_with(d, names, &Silent).await
}

/// [`inspect`], reporting its steps to `progress` (the probe is the long
/// one: an execution of the real workflow).
pub async fn inspect_with(
    d: &dyn Deployment,
    names: &Names,
    progress: &dyn Progress,
) -> (Vec<Check>, Option<Config>) {
    let mut checks = Vec::new();
    progress.step("reading the deployment", None);
    let function = d.function(&names.function).await;
    let acting = d.function(&names.acting).await;
    let machine = d.state_machine(&names.state_machine).await;
    let rule = d.rule(&names.rule).await;
    checks.push(wiring(names, &function, &acting, &machine, &rule));

    let function = function.ok().flatten();
    let config = match function.as_ref().map(|f| f.config_toml.clone()) {
        None => {
            checks.push(Check::skip("config", "no host function to read it from"));
            None
        }
        Some(None) => {
            checks.push(Check::fail(
                "config",
                format!("{} has no AUTOREPAIR_CONFIG_TOML", names.function),
            ));
            None
        }
        Some(Some(text)) => match Config::from_toml(&text, "AUTOREPAIR_CONFIG_TOML".as_ref()) {
            Ok(config) => {
                checks.push(Check::ok(
                    "config",
                    format!(
                        "parses: mode {}, dry run {}, AI {}",
                        config.mode,
                        config.run.dry_run,
                        if config.ai.enabled { "on" } else { "off" }
                    ),
                ));
                Some(config)
            }
            Err(e) => {
                checks.push(Check::fail("config", e.to_string()));
                None
            }
        },
    };

    match &config {
        None => {
            checks.push(Check::skip("table", "no configuration to name it"));
            checks.push(Check::skip("topic", "no configuration to name it"));
        }
        Some(config) => {
            let table = &config.run.audit_table;
            checks.push(match d.table(table).await {
                Ok(Some((status, encrypted))) if status == "ACTIVE" => {
                    if encrypted {
                        Check::ok(
                            "table",
                            format!("{table} is active, encrypted with a KMS key"),
                        )
                    } else {
                        Check::fail("table", format!("{table} is not encrypted with a KMS key"))
                    }
                }
                Ok(Some((status, _))) => Check::fail("table", format!("{table} is {status}")),
                Ok(None) => Check::fail("table", format!("{table} does not exist")),
                Err(e) => Check::fail("table", format!("{table}: {e}")),
            });
            checks.push(match &config.run.topic_arn {
                None => Check::skip("topic", "no topic_arn: notices are off"),
                Some(arn) => match d.topic(arn).await {
                    Ok(Some(true)) => Check::ok("topic", format!("{arn} is reachable, encrypted")),
                    Ok(Some(false)) => {
                        Check::fail("topic", format!("{arn} is not encrypted with a KMS key"))
                    }
                    Ok(None) => Check::fail("topic", format!("{arn} does not exist")),
                    Err(e) => Check::fail("topic", format!("{arn}: {e}")),
                },
            });
        }
    }

    checks.push(match &function {
        None => Check::skip("permissions", "no host function"),
        Some(f) => match d.role_policies(&f.role_arn).await {
            Ok(policies) => permissions(&policies, Role::Reading),
            Err(e) => Check::fail(
                "permissions",
                format!("the role's policies cannot be read: {e}"),
            ),
        },
    });
    checks.push(match &acting {
        Ok(Some(a)) if function.as_ref().is_some_and(|f| f.role_arn == a.role_arn) => Check::fail(
            "acting",
            "the acting function runs with the reading function's role: one role does everything",
        ),
        Ok(Some(a)) => match d.role_policies(&a.role_arn).await {
            Ok(policies) => permissions(&policies, Role::Acting),
            Err(e) => Check::fail("acting", format!("the role's policies cannot be read: {e}")),
        },
        Ok(None) => Check::fail("acting", format!("no function {}", names.acting)),
        Err(e) => Check::fail("acting", format!("function {}: {e}", names.acting)),
    });

    checks.push(match machine.ok().flatten() {
        None => Check::skip("probe", "no state machine to run"),
        Some(m) => {
            progress.step(
                &format!("probe: a synthetic alarm through {}", names.state_machine),
                None,
            );
            probe(d, &m.arn).await
        }
    });
    (checks, config)
}

fn wiring(
    names: &Names,
    function: &Result<Option<HostFunction>, String>,
    acting: &Result<Option<HostFunction>, String>,
    machine: &Result<Option<StateMachine>, String>,
    rule: &Result<Option<AlarmRule>, String>,
) -> Check {
    let mut problems = Vec::new();
    let function_arn = match function {
        Ok(Some(f)) => Some(f.arn.clone()),
        Ok(None) => {
            problems.push(format!("no function {}", names.function));
            None
        }
        Err(e) => {
            problems.push(format!("function {}: {e}", names.function));
            None
        }
    };
    let machine_arn = match machine {
        Ok(Some(m)) => {
            if let Some(arn) = &function_arn
                && !m.definition.contains(arn.as_str())
            {
                problems.push(format!(
                    "state machine {} does not invoke {}",
                    names.state_machine, names.function
                ));
            }
            if let Ok(Some(a)) = acting
                && !m.definition.contains(a.arn.as_str())
            {
                problems.push(format!(
                    "state machine {} does not send execute and rollback to {}",
                    names.state_machine, names.acting
                ));
            }
            Some(m.arn.clone())
        }
        Ok(None) => {
            problems.push(format!("no state machine {}", names.state_machine));
            None
        }
        Err(e) => {
            problems.push(format!("state machine {}: {e}", names.state_machine));
            None
        }
    };
    match rule {
        Ok(Some(r)) => {
            if !r.enabled {
                problems.push(format!("rule {} is disabled (paused?)", names.rule));
            }
            if let Some(arn) = &machine_arn
                && !r.targets.contains(arn)
            {
                problems.push(format!(
                    "rule {} does not start state machine {}",
                    names.rule, names.state_machine
                ));
            }
            if !r.pattern.contains("AWS/Lambda") || !r.pattern.contains("ALARM") {
                problems.push(format!(
                    "rule {} does not filter on ALARM transitions of AWS/Lambda metrics",
                    names.rule
                ));
            }
        }
        Ok(None) => problems.push(format!("no rule {}", names.rule)),
        Err(e) => problems.push(format!("rule {}: {e}", names.rule)),
    }
    if problems.is_empty() {
        Check::ok(
            "stack",
            format!(
                "rule {} → state machine {} → function {}",
                names.rule, names.state_machine, names.function
            ),
        )
    } else {
        Check::fail("stack", problems.join("; "))
    }
}

/// A synthetic alarm through the workflow: the host answers it at parse, the
/// workflow ends; nothing is claimed, changed or notified.
async fn probe(d: &dyn Deployment, machine_arn: &str) -> Check {
    let input = serde_json::json!({
        "source": PROBE_SOURCE,
        "detail-type": "autorepair doctor probe",
        "detail": {},
    });
    match d.execute(machine_arn, &input.to_string()).await {
        Ok((status, output)) if status == "SUCCEEDED" && output.contains(PROBE_INCIDENT) => {
            Check::ok(
                "probe",
                "a synthetic alarm went through the workflow and the host answered it",
            )
        }
        Ok((status, output)) => Check::fail(
            "probe",
            format!(
                "the probe execution ended {status}: {}",
                output.chars().take(300).collect::<String>()
            ),
        ),
        Err(e) => Check::fail("probe", e),
    }
}

/// One line per check.
pub fn render(checks: &[Check]) -> String {
    checks
        .iter()
        .map(|c| {
            let mark = match c.outcome {
                Outcome::Ok => "ok  ",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "skip",
            };
            format!("{mark}  {:<12} {}\n", c.name, crate::text::clean(&c.detail))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(statements: Value) -> Policy {
        Policy::Inline(
            serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string(),
        )
    }

    const BASIC: &str = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";

    /// The reading role as the template grants it.
    fn reading() -> Value {
        let reading: Vec<&str> = NEEDED
            .iter()
            .copied()
            .filter(|a| !MUTATING.contains(a))
            .collect();
        serde_json::json!([{"Effect": "Allow", "Action": reading, "Resource": "*"}])
    }

    /// The acting role, its change statement under `condition`.
    fn acting(condition: Value) -> Value {
        let (mutating, reads): (Vec<&str>, Vec<&str>) =
            ACTING_NEEDED.iter().partition(|a| MUTATING.contains(a));
        serde_json::json!([
            {"Effect": "Allow", "Action": reads, "Resource": "*"},
            {"Effect": "Allow", "Action": mutating,
             "Resource": "arn:aws:lambda:us-east-1:1:function:*", "Condition": condition},
        ])
    }

    fn tagged() -> Value {
        serde_json::json!({"StringEquals": {"aws:ResourceTag/autorepair": "enabled"}})
    }

    #[test]
    fn the_templates_grants_pass_and_each_excess_is_named() {
        let good = permissions(
            &[inline(reading()), Policy::Managed(BASIC.into())],
            Role::Reading,
        );
        assert_eq!(good.outcome, Outcome::Ok, "{good:?}");
        let good = permissions(
            &[inline(acting(tagged())), Policy::Managed(BASIC.into())],
            Role::Acting,
        );
        assert_eq!(good.outcome, Outcome::Ok, "{good:?}");

        // The reading role may not change a function, tagged or not.
        let mut both = reading();
        both.as_array_mut()
            .unwrap()
            .extend(acting(tagged()).as_array().unwrap().clone());
        let changes = permissions(&[inline(both)], Role::Reading);
        assert_eq!(changes.outcome, Outcome::Fail);
        assert!(
            changes
                .detail
                .contains("the reading role may change functions"),
            "{}",
            changes.detail
        );

        for condition in [
            serde_json::json!({}),
            serde_json::json!({"StringLike": {"aws:ResourceTag/autorepair": "*"}}),
            serde_json::json!({"StringNotEquals": {"aws:ResourceTag/autorepair": "off"}}),
            serde_json::json!({"Null": {"aws:ResourceTag/autorepair": "false"}}),
        ] {
            let loose = permissions(&[inline(acting(condition.clone()))], Role::Acting);
            assert!(
                loose.detail.contains("without the opt-in tag condition"),
                "{condition}: {}",
                loose.detail
            );
        }

        let mut wide = reading();
        wide.as_array_mut()
            .unwrap()
            .push(serde_json::json!({"Effect": "Allow", "Action": ["lambda:*", "iam:PassRole"], "Resource": "*"}));
        let wide = permissions(&[inline(wide)], Role::Reading);
        assert!(
            wide.detail.contains("wildcard action lambda:*"),
            "{}",
            wide.detail
        );
        assert!(
            wide.detail.contains("iam:PassRole is beyond"),
            "{}",
            wide.detail
        );

        let mut not = reading();
        not.as_array_mut()
            .unwrap()
            .push(serde_json::json!({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}));
        let not = permissions(&[inline(not)], Role::Reading);
        assert!(not.detail.contains("NotAction"), "{}", not.detail);

        // Managed policies by ARN: AWS's own pass, anything else (a
        // customer policy that borrows the name included) is named.
        for arn in [
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:iam::123456789012:policy/service-role/AWSLambdaBasicExecutionRole",
        ] {
            let managed = permissions(
                &[inline(reading()), Policy::Managed(arn.into())],
                Role::Reading,
            );
            assert!(managed.detail.contains(arn), "{}", managed.detail);
        }

        let short = permissions(
            &[inline(
                serde_json::json!([{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]),
            )],
            Role::Reading,
        );
        assert!(
            short
                .detail
                .contains("missing lambda:GetFunctionConfiguration"),
            "{}",
            short.detail
        );
        let short = permissions(&[inline(reading())], Role::Acting);
        assert!(
            short
                .detail
                .contains("missing lambda:UpdateFunctionConfiguration"),
            "{}",
            short.detail
        );
    }
}
