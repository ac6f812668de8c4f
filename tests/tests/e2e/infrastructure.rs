//! The deployment, checked without an AWS account: the workflow definition
//! against the stages the handler knows, and the template's IAM statements
//! against least privilege.

use std::path::PathBuf;

use autorepair::stage::Stage;
use serde_json::{Value, json};

fn infrastructure() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infrastructure")
}

/// The two functions of one binary: the one that reads, the one that acts.
const READING_HOST: &str = "arn:aws:lambda:us-east-1:123456789012:function:autorepair-dev-host";
const ACTING_HOST: &str = "arn:aws:lambda:us-east-1:123456789012:function:autorepair-dev-act";

/// `statemachine/FILE` as Step Functions sees it after SAM's
/// DefinitionSubstitutions: the host's ARN and `substitutions`.
fn substituted(file: &str, substitutions: &[(&str, &str)]) -> Value {
    let mut text = std::fs::read_to_string(infrastructure().join("statemachine").join(file))
        .unwrap()
        .replace("${HostFunctionArn}", READING_HOST)
        .replace("${ActingFunctionArn}", ACTING_HOST);
    for (name, value) in substitutions {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    serde_json::from_str(&text).expect("the ASL is JSON once substituted")
}

/// The incident workflow.
fn workflow() -> Value {
    substituted(
        "autorepair.asl.json",
        &[
            ("VerificationWindowSeconds", "600"),
            ("ApprovalTimeoutSeconds", "3600"),
            ("TaskTimeoutSeconds", "120"),
        ],
    )
}

/// The sweep.
fn sweep_workflow() -> Value {
    substituted(
        "sweep.asl.json",
        &[
            ("SweepConcurrency", "10"),
            ("TaskTimeoutSeconds", "120"),
            ("SweepBucketName", "sweeps"),
        ],
    )
}

#[test]
fn the_sweep_fans_out_on_a_distributed_map_over_an_s3_item_file() {
    let machine = sweep_workflow();
    let map = &machine["States"]["Sweep"];
    assert_eq!(map["Type"], "Map");
    assert_eq!(
        map["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "DISTRIBUTED"
    );
    assert_eq!(
        map["ItemReader"]["Resource"],
        "arn:aws:states:::s3:getObject"
    );
    assert_eq!(map["MaxConcurrency"], 10);
    // The results go to S3, not into the state (256 KiB, whatever the
    // number of functions); the summary is told where.
    assert_eq!(
        map["ResultWriter"]["Resource"],
        "arn:aws:states:::s3:putObject"
    );
    assert_eq!(map["ResultWriter"]["Parameters"]["Bucket"], "sweeps");
    // Every task sends a payload the host's fleet handler takes.
    let mut tasks = vec![
        machine["States"]["ListFunctions"].clone(),
        machine["States"]["Summary"].clone(),
    ];
    tasks.extend(
        map["ItemProcessor"]["States"]
            .as_object()
            .unwrap()
            .values()
            .cloned(),
    );
    let mut seen = Vec::new();
    for task in tasks {
        assert!(task["Retry"].as_array().is_some_and(|r| !r.is_empty()));
        assert!(task["TimeoutSeconds"].is_number());
        let mut payload = serde_json::Map::new();
        for (key, value) in task["Parameters"]["Payload"].as_object().unwrap() {
            match key.strip_suffix(".$") {
                None => payload.insert(key.clone(), value.clone()),
                Some(k) => payload.insert(
                    k.to_owned(),
                    match k {
                        "functions" => serde_json::json!(["a", "b"]),
                        // What the plan writes: an account and region, or null.
                        "member" => serde_json::json!({"account": "111111111111", "region": "eu-west-1"}),
                        "batches" => serde_json::json!({"MapRunArn": "arn:…", "ResultWriterDetails": {"Bucket": "sweeps", "Key": "sweeps/results/run/manifest.json"}}),
                        _ => Value::from("weekly-1"),
                    },
                ),
            };
        }
        let payload = Value::Object(payload);
        assert!(autorepair::fleet::stage::is_fleet(&payload), "{payload}");
        let parsed: Result<autorepair::fleet::stage::FleetRequest, _> =
            serde_json::from_value(payload.clone());
        assert!(parsed.is_ok(), "{payload}: {parsed:?}");
        seen.push(payload["stage"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["sweep_plan", "sweep_summary", "sweep_batch"]);
    // The template schedules it, and lets it start its own children.
    let template = template();
    let sweep = &template["Resources"]["SweepWorkflow"]["Properties"];
    assert_eq!(sweep["DefinitionUri"], "statemachine/sweep.asl.json");
    assert_eq!(sweep["Events"]["Weekly"]["Type"], "Schedule");
    let policy = serde_json::to_string(&sweep["Policies"]).unwrap();
    assert!(
        policy.contains("states:StartExecution")
            && policy.contains("stateMachine:autorepair-${Environment}-sweep"),
        "{policy}"
    );
    let host = &template["Resources"]["HostFunction"]["Properties"];
    assert_eq!(
        host["Events"]["Reconcile"]["Properties"]["Input"],
        r#"{"stage": "onboard"}"#
    );
}

/// Every state, nested Parallel branches included: (name, state).
fn states(machine: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, state) in machine["States"].as_object().unwrap() {
        out.push((name.clone(), state.clone()));
        for branch in state["Branches"].as_array().into_iter().flatten() {
            out.extend(states(branch));
        }
    }
    out
}

#[test]
fn every_task_names_a_stage_the_handler_knows_and_has_retry_and_catch() {
    let machine = workflow();
    let all = states(&machine);
    let tasks: Vec<&(String, Value)> = all.iter().filter(|(_, s)| s["Type"] == "Task").collect();
    assert!(tasks.len() >= 8, "{} tasks", tasks.len());
    for (name, task) in tasks {
        let stage = task["Parameters"]["Payload"]["stage"]
            .as_str()
            .unwrap_or_default();
        assert!(
            Stage::WORKFLOW.iter().any(|s| s.name() == stage),
            "task {name} names stage {stage:?}, not one of {:?}",
            Stage::WORKFLOW
        );
        assert!(
            task["Retry"].as_array().is_some_and(|r| !r.is_empty()),
            "task {name} has no Retry"
        );
        let inside_parallel = task.get("End").is_some() && stage != "record";
        assert!(
            inside_parallel || task["Catch"].as_array().is_some_and(|c| !c.is_empty()),
            "task {name} has no Catch"
        );
    }
    // Every stage the handler knows is used somewhere.
    for stage in Stage::WORKFLOW.map(Stage::name) {
        assert!(
            all.iter()
                .any(|(_, s)| s["Parameters"]["Payload"]["stage"] == stage),
            "no task runs stage {stage}"
        );
    }
}

/// What a task's `Parameters.Payload` becomes at run time: each `key.$`
/// path replaced by a value of the kind it selects.
fn payload_at_run_time(payload: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (key, value) in payload.as_object().unwrap() {
        match key.strip_suffix(".$") {
            None => {
                out.insert(key.clone(), value.clone());
            }
            Some(key) => {
                let sample = match (key, value.as_str().unwrap()) {
                    (_, "$$.Execution.Id") => Value::from("arn:aws:states:execution:x"),
                    ("token", "$$.Task.Token") => Value::from("AAAAKgAAAAIAAAAA"),
                    ("event", "$") => serde_json::json!({"detail-type": "x"}),
                    ("incident", "$.incident") => Value::from("abc"),
                    ("version", "$.version") => Value::from(3),
                    ("answer", "$.answer") => Value::from("none"),
                    ("step_error", "$.step_error") => {
                        serde_json::json!({"Error": "States.Timeout", "Cause": "x"})
                    }
                    (key, path) => panic!("{key} reads {path}: not a field of a stage reply"),
                };
                out.insert(key.to_owned(), sample);
            }
        }
    }
    Value::Object(out)
}

#[test]
fn every_task_sends_a_reference_the_handler_accepts_and_no_run() {
    let machine = workflow();
    for (name, task) in states(&machine)
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task")
    {
        let payload = payload_at_run_time(&task["Parameters"]["Payload"]);
        let parsed: Result<autorepair::pipeline::StageRequest, _> =
            serde_json::from_value(payload.clone());
        assert!(
            parsed.is_ok(),
            "task {name}: {payload} is refused: {parsed:?}"
        );
        assert!(payload.get("run").is_none() && payload.get("runs").is_none());
    }
}

#[test]
fn every_choice_reads_a_field_every_stage_reply_has() {
    let machine = workflow();
    let reply: autorepair::pipeline::StageReply = serde_json::from_value(serde_json::json!({
        "incident": "abc", "version": 1, "claimed": true, "status": "started",
        "action": "none", "changed": false, "verdict": "none", "extended": false,
        "approval": "none", "answer": "none"
    }))
    .unwrap();
    let fields = serde_json::to_value(reply).unwrap();
    let mut read = 0;
    for (name, state) in states(&machine) {
        let mut rules: Vec<Value> = state["Choices"].as_array().cloned().unwrap_or_default();
        while let Some(rule) = rules.pop() {
            rules.extend(rule["And"].as_array().cloned().unwrap_or_default());
            if let Some(path) = rule["Variable"].as_str() {
                let field = path.strip_prefix("$.").unwrap();
                assert!(
                    fields.get(field).is_some_and(|v| !v.is_null()),
                    "choice {name} reads {path}, which a stage reply does not always carry"
                );
                read += 1;
            }
        }
    }
    assert!(read >= 7, "{read} choice rules");
}

#[test]
fn the_rules_and_the_ai_are_two_branches_of_one_parallel_state() {
    let machine = workflow();
    let parallel: Vec<(String, Value)> = states(&machine)
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Parallel")
        .collect();
    assert_eq!(parallel.len(), 1);
    let (_, state) = &parallel[0];
    assert!(
        state["Catch"].as_array().is_some_and(|c| !c.is_empty()),
        "the Parallel state has no Catch"
    );
    let branch_stages: Vec<String> = state["Branches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| {
            states(b).into_iter().map(|(_, s)| {
                s["Parameters"]["Payload"]["stage"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
        })
        .collect();
    // The AI branch catches its own failure with a second AI task that
    // records it.
    assert_eq!(branch_stages, ["rules", "ai", "ai"]);
    let ai_branch = &state["Branches"][1]["States"];
    assert_eq!(ai_branch["AI"]["Catch"][0]["Next"], "AIFailed");
    assert_eq!(
        ai_branch["AIFailed"]["Parameters"]["Payload"]["step_error.$"],
        "$.step_error"
    );
}

#[test]
fn every_task_has_a_timeout_and_a_failed_verify_undoes_the_change() {
    let machine = workflow();
    for (name, task) in states(&machine)
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task")
    {
        assert!(
            task["TimeoutSeconds"].as_u64().is_some_and(|t| t > 0),
            "task {name} has no TimeoutSeconds"
        );
    }
    let verify = &machine["States"]["Verify"];
    let after = verify["Catch"][0]["Next"].as_str().unwrap();
    let undo = &machine["States"][after];
    assert_eq!(undo["Parameters"]["Payload"]["stage"], "rollback");
    assert_eq!(
        undo["Parameters"]["Payload"]["step_error.$"],
        "$.step_error"
    );
}

#[test]
fn only_lambda_alarms_start_the_workflow_and_undelivered_ones_are_kept() {
    let template = template();
    let rule = &template["Resources"]["AlarmRule"]["Properties"];
    assert_eq!(
        rule["EventPattern"]["detail"]["configuration"]["metrics"]["metricStat"]["metric"]["namespace"],
        serde_json::json!(["AWS/Lambda", "LambdaInsights"])
    );
    let target = &rule["Targets"][0];
    assert!(target["RetryPolicy"]["MaximumRetryAttempts"].as_u64() > Some(0));
    assert_eq!(
        target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0],
        "DeadLetters"
    );
    // The host is invoked synchronously by Step Functions: a DLQ there would
    // never receive anything.
    assert!(
        template["Resources"]["HostFunction"]["Properties"]
            .get("DeadLetterQueue")
            .is_none()
    );
    // The key outlives the stack as long as the table it encrypts does.
    let key = &template["Resources"]["Key"];
    assert_eq!(key["DeletionPolicy"], "Retain");
    assert_eq!(
        template["Resources"]["AuditTable"]["DeletionPolicy"],
        "Retain"
    );
}

#[test]
fn the_watchers_alarms_reach_the_topic_and_never_the_workflow() {
    let template = template();
    let prefix = template["Parameters"]["AlarmNamePrefix"]["Default"]
        .as_str()
        .unwrap();
    assert_eq!(
        template["Resources"]["AlarmRule"]["Properties"]["EventPattern"]["detail"]["alarmName"][0]
            ["prefix"]["Fn::Sub"],
        "${AlarmNamePrefix}${Environment}-",
        "the rule forwards this environment's alarms only"
    );
    let alarms: Vec<(&String, &Value)> = template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert!(alarms.len() >= 7, "{} alarms", alarms.len());
    for (name, alarm) in alarms {
        let props = &alarm["Properties"];
        let alarm_name = props["AlarmName"]["Fn::Sub"].as_str().unwrap();
        assert!(
            !alarm_name.starts_with(prefix),
            "{name}: {alarm_name} would start the workflow"
        );
        assert_eq!(props["AlarmActions"][0]["Ref"], "NoticeTopic", "{name}");
    }
    let body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap();
    // The dashboard is JSON once its substitutions are made.
    let resolved = body
        .replace("${AWS::Region}", "us-east-1")
        .replace("${HostFunction}", "host")
        .replace(
            "${Workflow}",
            "arn:aws:states:us-east-1:123456789012:stateMachine:x",
        );
    let dashboard: Value = serde_json::from_str(&resolved).expect("dashboard JSON");
    assert!(dashboard["widgets"].as_array().unwrap().len() >= 6);
}

#[test]
fn every_transition_goes_to_a_state_that_exists() {
    let machine = workflow();
    let all = states(&machine);
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    let mut targets = vec![machine["StartAt"].as_str().unwrap().to_owned()];
    for (_, s) in &all {
        targets.extend(s["Next"].as_str().map(str::to_owned));
        targets.extend(s["Default"].as_str().map(str::to_owned));
        for c in s["Choices"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(s["Catch"].as_array().into_iter().flatten())
        {
            targets.extend(c["Next"].as_str().map(str::to_owned));
        }
    }
    for t in targets {
        assert!(
            names.contains(&t.as_str()),
            "transition to missing state {t}"
        );
    }
}

/// infrastructure/`file`, a template in plain YAML, as JSON.
fn yaml(file: &str) -> Value {
    let text = std::fs::read_to_string(infrastructure().join(file)).unwrap();
    let yaml: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{file} is not plain YAML: {e}"));
    serde_json::to_value(yaml).unwrap()
}

fn template() -> Value {
    yaml("template.yaml")
}

/// The host's configuration as the template writes it, with every parameter
/// at its default (resources named by their logical id), parses and asks for
/// what the parameters say.
#[test]
fn the_config_the_template_writes_is_valid() {
    let template = template();
    // Both functions run with the one configuration of the Globals.
    let host = &template["Globals"]["Function"];
    let sub = &host["Environment"]["Variables"]["AUTOREPAIR_CONFIG_TOML"]["Fn::Sub"];
    let raw = sub[0]
        .as_str()
        .expect("the config is an Fn::Sub string with variables")
        .to_owned();
    // No member account by default: the list's Fn::If gives "".
    let list = &sub[1]["MemberAccountList"]["Fn::If"];
    assert_eq!(
        (list[0].as_str(), list[2].as_str()),
        (Some("HasMembers"), Some(""))
    );
    let raw_with_members =
        raw.replace("${MemberAccountList}", "\"111111111111\", \"222222222222\"");
    let raw = raw.replace("${MemberAccountList}", "");
    let resolve = |mut text: String| {
        for (name, p) in template["Parameters"].as_object().unwrap() {
            let default = match &p["Default"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            text = text.replace(&format!("${{{name}}}"), &default);
        }
        for name in template["Resources"].as_object().unwrap().keys() {
            text = text.replace(&format!("${{{name}}}"), name);
        }
        text.replace("${AWS::Partition}", "aws")
            .replace("${AWS::Region}", "us-east-1")
            .replace("${AWS::AccountId}", "123456789012")
    };
    // With members enrolled (MemberAccounts, MemberExternalId): the host
    // reaches them through this environment's member roles.
    let enrolled = resolve(raw_with_members).replace("external_id = \"\"", "external_id = \"x-1\"");
    let org = autorepair::config::Config::from_toml(&enrolled, "template.yaml".as_ref())
        .unwrap_or_else(|e| panic!("{e}\n{enrolled}"))
        .organization;
    assert_eq!(org.accounts, ["111111111111", "222222222222"]);
    let env = template["Parameters"]["Environment"]["Default"]
        .as_str()
        .unwrap();
    assert_eq!(org.reading_role(), format!("autorepair-{env}-member-read"));
    assert_eq!(org.acting_role(), format!("autorepair-{env}-member-act"));
    let text = resolve(raw.clone());
    assert!(!text.contains("${"), "an unresolved substitution: {text}");
    let config = autorepair::config::Config::from_toml(&text, "template.yaml".as_ref())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let default = |name: &str| {
        template["Parameters"][name]["Default"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(config.ai.enabled.to_string(), default("AiEnabled"));
    assert_eq!(config.ai.model_id, default("ModelId"));
    assert!(default("ModelId").ends_with(&default("FoundationModelId")));
    assert_eq!(config.run.dry_run.to_string(), default("DryRun"));
    // The environment's own prefix: two stacks never act on each other's alarms.
    assert_eq!(
        config.fleet.alarm_prefix,
        format!("{}{}-", default("AlarmNamePrefix"), default("Environment"))
    );
    assert!(config.run.own_alarms_only);
    assert_eq!(config.fleet.sweep_bucket, "SweepBucket");
    assert_eq!(
        config.approval.required.to_string(),
        default("ApprovalRequired")
    );
    assert_eq!(
        config.approval.timeout_seconds.to_string(),
        template["Parameters"]["ApprovalTimeoutSeconds"]["Default"].to_string()
    );
    assert!(config.plugins.is_empty() && config.trust.keys.is_empty());
    // The host serves the stack's own incident workflow, and only it.
    let machine = template["Resources"]["Workflow"]["Properties"]["Name"]["Fn::Sub"]
        .as_str()
        .expect("the incident workflow is named")
        .replace("${Environment}", &default("Environment"));
    assert_eq!(
        config.run.state_machine_arn.as_deref(),
        Some(format!("arn:aws:states:us-east-1:123456789012:stateMachine:{machine}").as_str())
    );

    // Third-party rules come in through RuleConfig, appended after [ai].
    let (public, _) = autorepair::trust::sign::keypair(None).unwrap();
    let key = autorepair::trust::sign::public_key_line(&public).unwrap();
    let rules = format!(
        "[[trust.keys]]\nname = \"platform\"\npublic_key = \"{key}\"\n[[plugins]]\nsource = \"s3://team-rules/headroom.wasm\"\nshadow = true"
    );
    let with_rules = raw.replace("${RuleConfig}", &rules);
    let with_rules = resolve(with_rules);
    let config = autorepair::config::Config::from_toml(&with_rules, "template.yaml".as_ref())
        .unwrap_or_else(|e| panic!("{e}\n{with_rules}"));
    assert_eq!(config.plugins[0].source, "s3://team-rules/headroom.wasm");
    assert!(config.plugins[0].shadow);
    assert!(config.has_remote_rules());
    assert_eq!(config.trust.keys[0].name, "platform");
}

/// (resource name, statement) for every IAM statement in the template.
fn statements() -> Vec<(String, Value)> {
    let template = template();
    let mut out = Vec::new();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        let props = &resource["Properties"];
        // Managed policies.
        for st in props["PolicyDocument"]["Statement"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.push((name.clone(), st.clone()));
        }
        // SAM inline policies, and AWS::IAM::Role policies.
        for policy in props["Policies"].as_array().into_iter().flatten() {
            let doc = if policy.get("PolicyDocument").is_some() {
                &policy["PolicyDocument"]
            } else {
                policy
            };
            for st in doc["Statement"].as_array().into_iter().flatten() {
                // A conditional statement: check the one it grants.
                let st = st["Fn::If"].get(1).unwrap_or(st);
                out.push((name.clone(), st.clone()));
            }
        }
    }
    out
}

/// doctor judges the roles the template grants as it would judge them
/// deployed: each passes (its grants and doctor's lists kept in step).
#[test]
fn doctor_passes_the_roles_the_template_grants() {
    use autorepair::checkup::{Outcome, Policy, Role, permissions};
    for (function, role) in [
        ("HostFunction", Role::Reading),
        ("ActingFunction", Role::Acting),
    ] {
        let granted: Vec<Value> = statements()
            .into_iter()
            .filter(|(name, _)| name == function)
            .map(|(_, st)| st)
            .collect();
        let document = json!({"Version": "2012-10-17", "Statement": granted});
        let check = permissions(&[Policy::Inline(document.to_string())], role);
        assert_eq!(check.outcome, Outcome::Ok, "{function}: {}", check.detail);
    }
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// Actions that have no resource-level permissions, where `Resource: "*"` is
/// the only choice: reading metrics and a Logs Insights query's answer
/// (the hosts), delivering the workflow's logs and traces (the state machine).
const STAR_RESOURCE_ALLOWED: &[&str] = &[
    "cloudwatch:GetMetricData",
    "logs:GetQueryResults",
    "lambda:ListFunctions",
    "tag:GetResources",
    "cloudtrail:LookupEvents",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
];
const MUTATING_LAMBDA: &[&str] = &[
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:UpdateAlias",
];
/// Invoking is allowed on named functions (the workflow invokes the host);
/// on every function (the smoke test) only with the opt-in condition.
const INVOKE: &str = "lambda:InvokeFunction";

#[test]
fn iam_is_least_privilege() {
    let statements = statements();
    assert!(statements.len() >= 10, "{} statements", statements.len());
    for (resource, st) in &statements {
        let actions: Vec<String> = list(&st["Action"])
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        for a in &actions {
            assert!(
                a != "*" && !a.ends_with(":*"),
                "{resource}: wildcard action {a}"
            );
        }
        let star = list(&st["Resource"]).iter().any(|r| r == "*");
        if star {
            assert!(
                actions
                    .iter()
                    .all(|a| STAR_RESOURCE_ALLOWED.contains(&a.as_str())),
                "{resource}: Resource \"*\" for {actions:?}"
            );
        }
        let on_every_function = serde_json::to_string(&st["Resource"])
            .unwrap()
            .contains("function:*");
        if actions
            .iter()
            .any(|a| MUTATING_LAMBDA.contains(&a.as_str()) || (a == INVOKE && on_every_function))
        {
            let condition = &st["Condition"]["StringEquals"];
            assert!(
                condition
                    .as_object()
                    .is_some_and(|c| c.keys().any(|k| k.starts_with("aws:ResourceTag/"))),
                "{resource}: {actions:?} without an aws:ResourceTag condition"
            );
        }
    }
    // Third-party rules in S3: read-only, and only in the named bucket.
    let rules = statements
        .iter()
        .find(|(_, st)| st["Sid"] == "ReadRules")
        .expect("a ReadRules statement");
    assert_eq!(list(&rules.1["Action"]), vec![Value::from("s3:GetObject")]);
    assert!(
        rules.1["Resource"][0]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with(":s3:::${RuleBucket}/*")
    );
    let list_rules = statements
        .iter()
        .find(|(_, st)| st["Sid"] == "ListRules")
        .expect("a ListRules statement");
    assert_eq!(
        list(&list_rules.1["Action"]),
        vec![Value::from("s3:ListBucket")]
    );
    // The mutating actions are granted somewhere, and only with the condition (checked above).
    assert!(statements.iter().any(|(_, st)| {
        list(&st["Action"])
            .iter()
            .any(|a| a == "lambda:UpdateFunctionConfiguration")
    }));
}

#[test]
fn per_environment_parameters_name_only_template_parameters() {
    let template = template();
    let known: Vec<&String> = template["Parameters"].as_object().unwrap().keys().collect();
    for entry in std::fs::read_dir(infrastructure().join("parameters")).unwrap() {
        let path = entry.unwrap().path();
        let pairs: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for pair in pairs {
            let key = pair.split('=').next().unwrap().to_owned();
            assert!(
                known.contains(&&key),
                "{}: {key} is not a template parameter",
                path.display()
            );
        }
    }
}

/// The template's memory parameters allow exactly Lambda's sizes: YAML cannot
/// read the host's constants, so this test holds it to them.
#[test]
fn memory_parameters_are_bounded_by_lambdas_own_limits() {
    use autorepair::decide::{LAMBDA_MAX_MB, LAMBDA_MIN_MB};
    let template = template();
    for name in ["HostMemorySize", "CeilingMb"] {
        let p = &template["Parameters"][name];
        assert_eq!(p["MinValue"], LAMBDA_MIN_MB, "{name}");
        assert_eq!(p["MaxValue"], LAMBDA_MAX_MB, "{name}");
    }
}

/// The key's service principals use it only for this account (aws:SourceAccount):
/// a service acting for another account is no deputy of ours.
#[test]
fn the_keys_service_principals_are_bound_to_this_account() {
    let template = template();
    let statements = template["Resources"]["Key"]["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .expect("the key policy's statements")
        .clone();
    let services: Vec<&Value> = statements
        .iter()
        .filter(|s| !s["Principal"]["Service"].is_null())
        .collect();
    assert!(!services.is_empty());
    for s in services {
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:SourceAccount"]["Ref"], "AWS::AccountId",
            "{s}"
        );
    }
}

/// The approver's managed policy gives exactly what `approvals`, `approve`,
/// `reject`, `incidents`, `pause` and `resume` call with `--environment`
/// (the host's configuration, the table — writes only to the pause items —,
/// its key, resuming this stack's workflow) and cannot change a function.
#[test]
fn the_approver_policy_is_what_the_cli_needs() {
    let mut actions: Vec<String> = statements()
        .into_iter()
        .filter(|(resource, _)| resource == "ApproverPolicy")
        .flat_map(|(_, st)| list(&st["Action"]))
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "lambda:GetFunctionConfiguration",
            "states:SendTaskSuccess",
        ]
    );
    let pausing = statements()
        .into_iter()
        .find(|(resource, st)| resource == "ApproverPolicy" && st["Sid"] == "PauseAndResume")
        .expect("the pause statement")
        .1;
    assert_eq!(
        pausing["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"],
        serde_json::json!(["pause"]),
        "writes reach the pause items only"
    );
    let template = template();
    let config = template["Globals"]["Function"]["Environment"]["Variables"]
        ["AUTOREPAIR_CONFIG_TOML"]["Fn::Sub"][0]
        .as_str()
        .unwrap();
    assert!(
        config.contains("approvers = [\"${Approvers}\"]"),
        "{config}"
    );
}

/// Two roles: the function that runs the reading stages can change no
/// function (no lambda:Update*, PublishVersion, UpdateAlias or
/// InvokeFunction); only the acting one can, only on opted-in functions, and
/// only execute, rollback and the sweep's batches are sent to it.
#[test]
fn the_reading_role_cannot_change_a_function() {
    let changing = [
        "lambda:UpdateFunctionConfiguration",
        "lambda:UpdateFunctionCode",
        "lambda:PublishVersion",
        "lambda:UpdateAlias",
        "lambda:InvokeFunction",
    ];
    let statements = statements();
    let actions_of = |resource: &str| -> Vec<(String, Value)> {
        statements
            .iter()
            .filter(|(r, _)| r == resource)
            .flat_map(|(_, st)| {
                list(&st["Action"])
                    .into_iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .map(move |a| (a, st.clone()))
            })
            .collect()
    };
    let reading = actions_of("HostFunction");
    assert!(reading.len() > 10, "{reading:?}");
    for (action, _) in &reading {
        assert!(
            !changing.contains(&action.as_str()) && !action.starts_with("lambda:Update"),
            "the reading role may {action}"
        );
    }
    let acting = actions_of("ActingFunction");
    for action in [
        "lambda:UpdateFunctionConfiguration",
        "lambda:PublishVersion",
        "lambda:UpdateAlias",
    ] {
        let (_, st) = acting
            .iter()
            .find(|(a, _)| a == action)
            .unwrap_or_else(|| panic!("the acting role cannot {action}"));
        assert!(
            st["Condition"]["StringEquals"]
                .as_object()
                .is_some_and(|c| c.keys().any(|k| k.starts_with("aws:ResourceTag/"))),
            "{action} without the opt-in tag condition"
        );
    }
    // Which task goes to which function.
    for (machine, acting_stages) in [
        (workflow(), &["execute", "rollback"][..]),
        (sweep_workflow(), &["sweep_batch"][..]),
    ] {
        for (name, task) in states(&machine)
            .into_iter()
            .filter(|(_, s)| s["Type"] == "Task")
        {
            let stage = task["Parameters"]["Payload"]["stage"]
                .as_str()
                .unwrap_or_default();
            let function = task["Parameters"]["FunctionName"]
                .as_str()
                .unwrap_or_default();
            let expected = if acting_stages.contains(&stage) {
                ACTING_HOST
            } else {
                READING_HOST
            };
            assert_eq!(function, expected, "task {name} ({stage})");
        }
    }
}

/// Each host function has concurrency of its own (a flood cannot starve the
/// account, nor the account autorepair), and the sweep's fan-out always
/// leaves the acting function room for incidents.
#[test]
fn the_hosts_have_reserved_concurrency_the_sweep_cannot_exhaust() {
    let template = template();
    assert_eq!(
        template["Globals"]["Function"]["ReservedConcurrentExecutions"]["Ref"],
        "HostConcurrency"
    );
    let parameters = &template["Parameters"];
    let sweep_max = parameters["SweepConcurrency"]["MaxValue"].as_u64().unwrap();
    let host_min = parameters["HostConcurrency"]["MinValue"].as_u64().unwrap();
    assert!(
        sweep_max + 10 <= host_min,
        "a full sweep ({sweep_max}) must leave the acting host ({host_min}) room for incidents"
    );
}

/// The alarm rule's pattern, as the template writes it for a `dev` stack,
/// against alarm state-change events in the shapes CloudWatch's
/// documentation gives (tests/fixtures/events): an ALARM on a Lambda metric
/// — alone, in metric math, in an anomaly band — under this stack's prefix
/// starts the workflow; another namespace, a return to OK, another stack's
/// prefix or a composite alarm (no metric of its own) does not.
///
/// EventBridge (moto) judges the pattern — a rule with it, each event put on
/// the bus, delivered or not to a log group — but for one clause: moto 5.2
/// neither implements TestEventPattern nor matches into arrays of objects
/// (its flattening stops at lists), and an alarm's metrics are one. That
/// clause — any of the alarm's metrics on an allowed namespace,
/// EventBridge's documented rule for arrays — is judged here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alarm_rules_pattern_takes_lambda_alarms_and_refuses_the_rest() {
    let mut pattern = template()["Resources"]["AlarmRule"]["Properties"]["EventPattern"].clone();
    let prefix = &mut pattern["detail"]["alarmName"][0]["prefix"];
    assert_eq!(prefix["Fn::Sub"], "${AlarmNamePrefix}${Environment}-");
    *prefix = Value::String("autorepair-dev-".into());
    let namespaces =
        pattern["detail"]["configuration"]["metrics"]["metricStat"]["metric"]["namespace"]
            .as_array()
            .expect("the namespaces the rule takes")
            .clone();
    assert_eq!(
        pattern["detail"]["configuration"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
    let mut rest = pattern.clone();
    rest["detail"]
        .as_object_mut()
        .unwrap()
        .remove("configuration");
    let moto = autorepair_e2e::Moto::start();
    let sdk = moto.sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let group = "/autorepair/delivered";
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    events
        .put_rule()
        .name("autorepair-dev-alarms")
        .event_pattern(rest.to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("autorepair-dev-alarms")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("delivered")
                .arn(format!(
                    "arn:aws:logs:us-east-1:123456789012:log-group:{group}"
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Read raw: moto's FilterLogEvents writes timestamps the SDK refuses
    // (fractional milliseconds).
    let delivered = || async {
        let body = serde_json::json!({"logGroupName": group}).to_string();
        let (status, text) = tokio::task::block_in_place(|| {
            moto.aws_json("logs", "Logs_20140328.FilterLogEvents", &body)
        });
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()["events"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/events");
    // (file, the rest of the pattern matches, a metric on a Lambda namespace)
    for (file, matches, on_lambda) in [
        ("lambda-errors.json", true, true),
        ("lambda-insights-memory.json", true, true),
        ("lambda-metric-math.json", true, true),
        ("lambda-anomaly-detection.json", true, true),
        ("ec2-cpu.json", true, false),
        ("lambda-errors-ok.json", false, true),
        ("lambda-errors-other-stack.json", false, true),
        ("composite.json", true, false),
    ] {
        let text = std::fs::read_to_string(fixtures.join(file)).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        let before = delivered().await;
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(event["source"].as_str().unwrap())
            .detail_type(event["detail-type"].as_str().unwrap())
            .detail(event["detail"].to_string())
            .resources(event["resources"][0].as_str().unwrap())
            .build();
        let put = events.put_events().entries(entry).send().await.unwrap();
        assert_eq!(put.failed_entry_count(), 0, "{file}");
        let judged = delivered().await > before;
        assert_eq!(judged, matches, "{file}: EventBridge (moto)");
        let lambda = event["detail"]["configuration"]["metrics"]
            .as_array()
            .is_some_and(|metrics| {
                metrics
                    .iter()
                    .any(|m| namespaces.contains(&m["metricStat"]["metric"]["namespace"]))
            });
        assert_eq!(lambda, on_lambda, "{file}: the namespace clause");
    }
}

/// `sam deploy --config-env dev|prod` runs unattended on a fresh clone: each
/// environment names its stack, grants the capabilities the template's IAM
/// needs (named ones: the approver policy has a name), lets SAM make the
/// artifacts' bucket, confirms nothing, and deploys parameters/<env>.json's
/// parameters — every one a parameter the template declares.
#[test]
fn each_samconfig_environment_deploys_unattended_with_its_parameters() {
    let text = std::fs::read_to_string(infrastructure().join("samconfig.toml")).unwrap();
    let config: toml::Value = toml::from_str(&text).expect("samconfig.toml is TOML");
    let template = template();
    let named_iam = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .any(|r| {
            ["ManagedPolicyName", "RoleName", "UserName", "GroupName"]
                .iter()
                .any(|k| !r["Properties"][*k].is_null())
        });
    assert!(named_iam, "the approver policy is a named IAM resource");
    for env in ["dev", "prod"] {
        let deploy = &config[env]["deploy"]["parameters"];
        assert_eq!(
            deploy["stack_name"].as_str(),
            Some(format!("autorepair-{env}").as_str())
        );
        let capabilities = deploy["capabilities"].as_str().unwrap();
        for needed in ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"] {
            assert!(
                capabilities.split(' ').any(|c| c == needed),
                "{env}: {capabilities}"
            );
        }
        assert_eq!(deploy["resolve_s3"].as_bool(), Some(true), "{env}");
        assert_eq!(deploy["confirm_changeset"].as_bool(), Some(false), "{env}");
        assert_eq!(
            config[env]["build"]["parameters"]["beta_features"].as_bool(),
            Some(true),
            "{env}: sam build --config-env {env} must not stop at the beta prompt"
        );
        let overrides: Vec<&str> = deploy["parameter_overrides"]
            .as_str()
            .unwrap()
            .split(' ')
            .collect();
        let file: Vec<String> = serde_json::from_str(
            &std::fs::read_to_string(infrastructure().join(format!("parameters/{env}.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            overrides, file,
            "{env}: samconfig.toml and parameters/{env}.json"
        );
        assert!(overrides.contains(&format!("Environment={env}").as_str()));
        for pair in &overrides {
            let name = pair.split('=').next().unwrap();
            assert!(
                !template["Parameters"][name].is_null(),
                "{env}: {name} is not a parameter of the template"
            );
        }
    }
}

fn member_template() -> Value {
    yaml("member.yaml")
}

/// Each member role: assumable only from the central account, only by the
/// matching central host's role, only with the external id; the reading one
/// changes nothing, the acting one changes only opted-in functions; every
/// action one doctor allows the hosts.
#[test]
fn the_member_roles_are_least_privilege_behind_the_external_id() {
    let member = member_template();
    for (role, central, mutating) in [
        ("ReadingRole", "HostFunctionRole", false),
        ("ActingRole", "ActingFunctionRole", true),
    ] {
        let props = &member["Resources"][role]["Properties"];
        let trust = &props["AssumeRolePolicyDocument"]["Statement"];
        assert_eq!(trust.as_array().unwrap().len(), 1, "{role}: one way in");
        let trust = &trust[0];
        assert_eq!(
            trust["Principal"]["AWS"]["Fn::Sub"],
            "arn:${AWS::Partition}:iam::${CentralAccountId}:root"
        );
        assert_eq!(
            trust["Condition"]["StringEquals"]["sts:ExternalId"]["Ref"], "ExternalId",
            "{role}"
        );
        let principal = trust["Condition"]["ArnLike"]["aws:PrincipalArn"]["Fn::Sub"]
            .as_str()
            .unwrap();
        assert!(
            principal.ends_with(&format!("role/autorepair-${{Environment}}-{central}-*")),
            "{role}: {principal}"
        );
        // The role's name is the one the central host's config assumes.
        let name = props["RoleName"]["Fn::Sub"].as_str().unwrap();
        let suffix = if mutating { "act" } else { "read" };
        assert_eq!(name, format!("autorepair-${{Environment}}-member-{suffix}"));

        let statements = props["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        let document = json!({"Version": "2012-10-17", "Statement": statements});
        let check = autorepair::checkup::permissions(
            &[autorepair::checkup::Policy::Inline(document.to_string())],
            if mutating {
                autorepair::checkup::Role::Acting
            } else {
                autorepair::checkup::Role::Reading
            },
        );
        // doctor's word on each role, bar what the member roles leave to
        // the central account (its table, topic, key, workflow).
        let beyond: Vec<&str> = check
            .detail
            .split("; ")
            .filter(|p| p.contains("beyond") || p.contains("wildcard") || p.contains("change"))
            .collect();
        assert!(beyond.is_empty(), "{role}: {}", check.detail);
        for st in statements {
            for action in list(&st["Action"]) {
                let action = action.as_str().unwrap();
                let changes = MUTATING_LAMBDA.contains(&action) || action == INVOKE;
                if changes {
                    assert!(mutating, "{role} may {action}");
                    assert_eq!(
                        st["Condition"]["StringEquals"]["aws:ResourceTag/autorepair"]["Ref"],
                        "OptInTagValue",
                        "{role}: {action} without the opt-in tag"
                    );
                }
                if st["Resource"] == "*" {
                    assert!(
                        STAR_RESOURCE_ALLOWED.contains(&action),
                        "{role}: {action} on every resource"
                    );
                }
            }
        }
    }
}

/// The member forwards exactly the alarms the central rule acts on, to the
/// central account's default bus; that bus admits the organisation's
/// accounts only (or the listed ones), and each central host may assume
/// only its own member role.
#[test]
fn members_forward_to_a_bus_that_admits_the_organisation_only() {
    let member = member_template();
    let central = template();
    let forward = &member["Resources"]["ForwardAlarms"]["Properties"];
    let mut pattern = central["Resources"]["AlarmRule"]["Properties"]["EventPattern"].clone();
    // The same pattern; the comment-free YAML of both says the same thing.
    assert_eq!(forward["EventPattern"], pattern);
    pattern["detail"]["state"]["value"] = json!(["OK"]);
    assert_ne!(forward["EventPattern"], pattern);
    assert_eq!(
        forward["Targets"][0]["Arn"]["Fn::Sub"],
        "arn:${AWS::Partition}:events:${CentralRegion}:${CentralAccountId}:event-bus/default"
    );

    let org = &central["Resources"]["OrganizationAlarms"];
    assert_eq!(org["Condition"], "HasOrganization");
    let st = &org["Properties"]["Statement"];
    assert_eq!(st["Action"], "events:PutEvents");
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:PrincipalOrgID"]["Ref"], "OrganizationId",
        "a bus open to everyone"
    );
    let listed = &central["Resources"]["MemberAlarms"]["Properties"]["Statement"];
    assert_eq!(listed["Principal"]["AWS"]["Ref"], "MemberAccounts");
    assert!(listed["Condition"].is_null() && listed["Principal"] != "*");

    for (function, role) in [("HostFunction", "read"), ("ActingFunction", "act")] {
        let assumed: Vec<String> = statements()
            .into_iter()
            .filter(|(name, st)| {
                name == function && list(&st["Action"]).contains(&json!("sts:AssumeRole"))
            })
            .flat_map(|(_, st)| list(&st["Resource"]))
            .map(|r| r["Fn::Sub"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            assumed,
            [format!(
                "arn:${{AWS::Partition}}:iam::*:role/autorepair-${{Environment}}-member-{role}"
            )],
            "{function}"
        );
    }
}
