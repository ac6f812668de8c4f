//! The real workflow, executed: `infrastructure/statemachine/autorepair.asl.json`
//! (its substitutions applied) runs in moto's Step Functions interpreter, and
//! every Task runs the real `bootstrap` binary through a local Lambda Runtime
//! API (tests/src/local_lambda.rs), against moto. Each scenario is one
//! execution started by an alarm event, as EventBridge would start it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autorepair::aws::Aws;
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::ports::AuditStore;
use autorepair::run::{Run, Status};
use autorepair::setup;
use autorepair_e2e::local_lambda::LocalLambda;
use autorepair_e2e::moto::{ACCOUNT, REGION};
use autorepair_e2e::{Behaviour, Moto, Workload, alarm_event, autorepair_bin};
use serde_json::{Value, json};

/// The verification window, short: the Wait states really wait.
const WINDOW_S: u64 = 2;
/// The approval wait, short: the timeout path really times out.
const APPROVAL_TIMEOUT_S: u64 = 8;
const HOST: &str = "autorepair-host";
/// The acting function: the same bootstrap behind the local router.
const ACTING: &str = "autorepair-act";
const SWEEP_BUCKET: &str = "autorepair-sweeps";
const TABLE: &str = "autorepair-audit";

fn host_arn() -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{HOST}")
}

fn acting_arn() -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ACTING}")
}

fn topic_arn() -> String {
    format!("arn:aws:sns:{REGION}:{ACCOUNT}:autorepair")
}

/// The definition as Step Functions gets it after SAM's substitutions.
fn definition(window_s: u64) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../infrastructure/statemachine/autorepair.asl.json");
    std::fs::read_to_string(path)
        .unwrap()
        .replace("${HostFunctionArn}", &host_arn())
        // The local router serves both functions with one bootstrap; the
        // template test holds which stage goes to which.
        .replace("${ActingFunctionArn}", &acting_arn())
        .replace("${VerificationWindowSeconds}", &window_s.to_string())
        .replace("${ApprovalTimeoutSeconds}", &APPROVAL_TIMEOUT_S.to_string())
        .replace("${TaskTimeoutSeconds}", "120")
}

/// The host's configuration, as the template writes it (short window).
fn host_config(window_s: u64) -> String {
    format!(
        "[run]\naudit_table = \"{TABLE}\"\ntopic_arn = \"{}\"\nverify_after_seconds = {window_s}\ndry_run = false\n\
state_machine_arn = \"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:autorepair\"\n\
[fleet]\nsweep_bucket = \"{SWEEP_BUCKET}\"\nbatch_size = 2\ntags_from = \"list-tags\"\n\
[approval]\ntimeout_seconds = {APPROVAL_TIMEOUT_S}\n",
        topic_arn()
    )
}

/// doctor's checks: name → (outcome, detail).
pub(crate) type Checks = std::collections::BTreeMap<String, (String, String)>;

pub(crate) struct Harness {
    // Dropped in this order: the bootstrap and router first, then moto.
    pub(crate) lambda: LocalLambda,
    pub(crate) moto: Moto,
    pub(crate) sdk: aws_config::SdkConfig,
    machine: String,
    pub(crate) role: String,
    /// The audit table the host writes.
    table: String,
    /// What the alarms this harness raises are named with (a stack's host
    /// acts only on its own: `autorepair-<env>-`).
    alarm_prefix: String,
}

/// The local Lambda and moto in front of it, wired as Lambda and Step
/// Functions are: moto's Invoke calls reach the bootstrap (served as
/// `host_arn`, with `env`), the bootstrap's AWS calls reach moto.
fn emulators(host_arn: &str, env: &dyn Fn(u16) -> Vec<(String, String)>) -> (LocalLambda, Moto) {
    let moto_port = Arc::new(Mutex::new(0u16));
    let bootstrap = autorepair_bin().with_file_name("bootstrap");
    assert!(
        bootstrap.exists(),
        "{} not built: run `cargo build -p autorepair --bins` (tests/test.sh does)",
        bootstrap.display()
    );
    let lambda = LocalLambda::start(&bootstrap, host_arn, env, moto_port.clone());
    let router = lambda.router_port.to_string();
    let moto = Moto::start_with(
        &[("MOTO_PORT", router.as_str())],
        r#"{"lambda":{"use_docker":false},"stepfunctions":{"execute_state_machine":true}}"#,
    );
    *moto_port.lock().unwrap() = moto.port;
    (lambda, moto)
}

/// What every bootstrap gets beside its function's own configuration: the
/// AWS endpoint (the router, on to moto) and a compile cache shared by
/// every harness.
fn lambda_env(router: u16) -> Vec<(String, String)> {
    let cache = autorepair_bin().with_file_name("workflow-tmp");
    std::fs::create_dir_all(&cache).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    vec![
        (
            "AWS_ENDPOINT_URL".into(),
            format!("http://127.0.0.1:{router}"),
        ),
        ("AWS_REGION".into(), REGION.into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("AWS_MAX_ATTEMPTS".into(), "2".into()),
        ("AUTOREPAIR_CACHE_DIR".into(), cache.display().to_string()),
        ("TMPDIR".into(), cache.display().to_string()),
        ("AUTOREPAIR_LOG".into(), "warn".into()),
    ]
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        Harness::with_window(WINDOW_S).await
    }

    /// A harness whose verification window is `window_s` seconds.
    pub(crate) async fn with_window(window_s: u64) -> Harness {
        let env = |router: u16| {
            let mut env = lambda_env(router);
            env.push(("AUTOREPAIR_CONFIG_TOML".into(), host_config(window_s)));
            env
        };
        let (lambda, moto) = emulators(&host_arn(), &env);
        let sdk = moto.sdk_config().await;
        let mut config = Config::default();
        config.run.audit_table = TABLE.into();
        let topic = autorepair_e2e::scenario::provision(&sdk, &config).await;
        assert_eq!(topic, topic_arn(), "the topic the host's config names");
        let role = moto.role("autorepair-workflow");
        let create = json!({
            "name": "autorepair",
            "definition": definition(window_s),
            "roleArn": role,
        });
        let (status, body) = moto.aws_json(
            "states",
            "AWSStepFunctions.CreateStateMachine",
            &create.to_string(),
        );
        assert_eq!(status, 200, "CreateStateMachine: {body}");
        let machine = serde_json::from_str::<Value>(&body).unwrap()["stateMachineArn"]
            .as_str()
            .unwrap()
            .to_owned();
        Harness {
            lambda,
            moto,
            sdk,
            machine,
            role,
            table: TABLE.into(),
            alarm_prefix: String::new(),
        }
    }

    /// The deployment `infrastructure/template.yaml` creates, as environment
    /// `env` with `parameters`: transformed by aws-sam-translator and created
    /// in moto's CloudFormation. The bootstrap runs with the environment the
    /// stack gave the host function.
    pub(crate) async fn from_stack(
        env: &str,
        parameters: &[(&str, &str)],
    ) -> (Harness, autorepair_e2e::stack::Stack) {
        let host = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:autorepair-{env}-host");
        let (lambda, moto) = emulators(&host, &lambda_env);
        let mut all = vec![("Environment", env)];
        all.extend_from_slice(parameters);
        let stack = tokio::task::block_in_place(|| {
            autorepair_e2e::stack::create(&moto, &format!("autorepair-{env}"), &all)
        });
        assert_eq!(stack.status, "CREATE_COMPLETE", "{:?}", stack.reason);
        let sdk = moto.sdk_config().await;
        let deployed = aws_sdk_lambda::Client::new(&sdk)
            .get_function_configuration()
            .function_name(&host)
            .send()
            .await
            .expect("the stack's host function");
        let variables = deployed
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        lambda.redeploy(variables);
        let role = moto.role("autorepair-functions");
        let harness = Harness {
            lambda,
            moto,
            sdk,
            machine: stack.outputs["WorkflowArn"].clone(),
            role,
            table: stack.outputs["AuditTableName"].clone(),
            alarm_prefix: format!("autorepair-{env}-"),
        };
        (harness, stack)
    }

    /// An opted-in function with `behaviour` and 10 minutes of its traffic.
    async fn function(&self, name: &str, memory_mb: u32, behaviour: Behaviour) -> Arc<Workload> {
        let w = Arc::new(Workload::new(&self.sdk, name, behaviour));
        w.create_function(&self.role, memory_mb, true)
            .await
            .unwrap();
        let now = now_ms();
        w.invocations(120, now - 600_000, now - 1_000)
            .await
            .unwrap();
        w
    }

    /// CloudWatch raises `function`'s Errors alarm, and its event starts an
    /// execution.
    pub(crate) async fn start(&self, function: &str) -> String {
        let event = alarm_event(
            &format!("{}{function}-errors", self.alarm_prefix),
            function,
            None,
            "ALARM",
            now_ms(),
        );
        let event = autorepair_e2e::scenario::raise(&self.sdk, &event).await;
        self.start_with(&event)
    }

    /// Starts an execution on `event`, as EventBridge would.
    fn start_with(&self, event: &Value) -> String {
        // Every execution has its own name, as EventBridge gives it one.
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "alarm-{}-{}",
            now_ms(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let start = json!({
            "stateMachineArn": self.machine,
            "name": name,
            "input": event.to_string(),
        });
        let (status, body) = self.moto.aws_json(
            "states",
            "AWSStepFunctions.StartExecution",
            &start.to_string(),
        );
        assert_eq!(status, 200, "StartExecution: {body}");
        serde_json::from_str::<Value>(&body).unwrap()["executionArn"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits for `execution` to end: (status, output).
    pub(crate) fn finish(&self, execution: &str) -> (String, Value) {
        let started = Instant::now();
        loop {
            let (code, body) = self.moto.aws_json(
                "states",
                "AWSStepFunctions.DescribeExecution",
                &json!({"executionArn": execution}).to_string(),
            );
            assert_eq!(code, 200, "DescribeExecution: {body}");
            let described: Value = serde_json::from_str(&body).unwrap();
            let status = described["status"].as_str().unwrap_or_default().to_owned();
            if status != "RUNNING" {
                let output = described["output"]
                    .as_str()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(Value::Null);
                return (status, output);
            }
            assert!(
                started.elapsed() < Duration::from_secs(240),
                "{execution} still running; stages invoked: {:?}",
                self.lambda.invoked()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Every event of `execution` (the interpreter's own history).
    pub(crate) fn history(&self, execution: &str) -> Vec<Value> {
        let (code, body) = self.moto.aws_json(
            "states",
            "AWSStepFunctions.GetExecutionHistory",
            &json!({"executionArn": execution, "maxResults": 1000}).to_string(),
        );
        assert_eq!(code, 200, "GetExecutionHistory: {body}");
        serde_json::from_str::<Value>(&body).unwrap()["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The incident's audit record: its run and the stages on record.
    pub(crate) async fn record(&self, output: &Value) -> (Run, Vec<String>) {
        let id = output["incident"]
            .as_str()
            .expect("the record stage's reply names the incident");
        let mut config = Config::default();
        config.run.audit_table = self.table.clone();
        let stored = setup::audit_table(&Aws::new(&self.sdk), &config)
            .get(id)
            .await
            .unwrap()
            .expect("an audit record");
        (
            serde_json::from_str(&stored.document).unwrap(),
            stored.stages.iter().map(|s| s.name().to_owned()).collect(),
        )
    }
}

/// Traffic while the workflow runs, at whatever memory the function has.
struct Traffic {
    running: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Traffic {
    fn start(w: &Arc<Workload>) -> Traffic {
        let running = Arc::new(AtomicBool::new(true));
        let (w, flag) = (w.clone(), running.clone());
        let task = tokio::spawn(async move {
            let mut last = now_ms();
            while flag.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let now = now_ms();
                let _ = w.invocations(6, last, now).await;
                last = now;
            }
        });
        Traffic { running, task }
    }

    async fn stop(self) {
        self.running.store(false, Ordering::Relaxed);
        let _ = self.task.await;
    }
}

/// Runs one execution on `function` with traffic flowing; (status, output).
async fn execute(h: &Harness, w: &Arc<Workload>) -> (String, Value, String) {
    let traffic = Traffic::start(w);
    let execution = h.start(&w.function).await;
    let (status, output) = tokio::task::block_in_place(|| h.finish(&execution));
    traffic.stop().await;
    (status, output, execution)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_memory_is_repaired_through_the_real_workflow() {
    let h = Harness::new().await;
    let w = h
        .function("wf-orders", 256, Behaviour::NeedsMemory { need_mb: 350 })
        .await;
    let (status, output, execution) = execute(&h, &w).await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert_eq!(output["status"], "repaired", "{output}");
    assert_eq!(w.memory_mb().await.unwrap(), 384);
    let (run, mut stages) = h.record(&output).await;
    assert_eq!(run.status, Status::Repaired);
    // The two branches commit in whichever order they finish.
    stages[1..3].sort();
    assert_eq!(
        stages,
        [
            "parse", "ai", "rules", "decide", "execute", "verify", "rollback", "record"
        ]
    );
    // What passed between states is a reference, whatever the run weighs.
    let weight = serde_json::to_vec(&run).unwrap().len();
    let mut largest = 0;
    let mut outputs = 0;
    for event in h.history(&execution) {
        for details in ["taskSucceededEventDetails", "stateExitedEventDetails"] {
            if let Some(out) = event[details]["output"].as_str() {
                largest = largest.max(out.len());
                outputs += 1;
            }
        }
    }
    assert!(outputs >= 8, "{outputs} outputs in the history");
    assert!(largest < 1_024, "{largest} bytes passed on between states");
    assert!(
        weight > 3 * largest,
        "the run weighs {weight} bytes, the largest payload {largest}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_does_not_help_is_rolled_back_through_the_real_workflow() {
    let h = Harness::new().await;
    let w = h.function("wf-leaky", 512, Behaviour::Leak).await;
    let (status, output, _) = execute(&h, &w).await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert_eq!(output["status"], "rolled_back", "{output}");
    assert_eq!(w.memory_mb().await.unwrap(), 512, "put back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_ai_branch_leaves_the_rules_to_decide() {
    let h = Harness::new().await;
    // Once: the AI task fails (not retried: not a Lambda service error); the
    // branch's Catch then records it through the same stage.
    h.lambda.fail_stage("ai", 1);
    let w = h
        .function("wf-ai-down", 256, Behaviour::NeedsMemory { need_mb: 350 })
        .await;
    let (status, output, execution) = execute(&h, &w).await;
    assert_eq!(
        status,
        "SUCCEEDED",
        "{output}\n{:#?}",
        h.history(&execution)
            .iter()
            .filter(|e| e["type"].as_str().is_some_and(|t| t.contains("Failed")))
            .collect::<Vec<_>>()
    );
    assert_eq!(output["status"], "repaired", "{output}");
    let (run, _) = h.record(&output).await;
    let ai = run.ai.expect("the AI's failure is on record");
    assert!(
        ai.reason.unwrap().contains("injected"),
        "the task's failure, as caught"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_verify_puts_the_memory_back() {
    let h = Harness::new().await;
    h.lambda.fail_stage("verify", 10);
    let w = h
        .function(
            "wf-verify-down",
            256,
            Behaviour::NeedsMemory { need_mb: 350 },
        )
        .await;
    let (status, output, _) = execute(&h, &w).await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert_eq!(output["status"], "rolled_back", "{output}");
    assert_eq!(w.memory_mb().await.unwrap(), 256, "never left raised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_traffic_extends_the_wait_once() {
    let h = Harness::new().await;
    let w = h
        .function("wf-quiet", 256, Behaviour::NeedsMemory { need_mb: 350 })
        .await;
    // No traffic after the alarm: nothing to judge the change on.
    let execution = h.start(&w.function).await;
    let (status, output) = tokio::task::block_in_place(|| h.finish(&execution));
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert_eq!(output["status"], "inconclusive", "{output}");
    let (run, stages) = h.record(&output).await;
    assert_eq!(
        stages.iter().filter(|s| *s == "verify").count(),
        2,
        "{stages:?}"
    );
    assert!(run.verification.unwrap().extended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_alarm_changes_the_function_once() {
    let h = Harness::new().await;
    let w = h
        .function("wf-twice", 256, Behaviour::NeedsMemory { need_mb: 350 })
        .await;
    let traffic = Traffic::start(&w);
    let event = alarm_event("wf-twice-errors", "wf-twice", None, "ALARM", now_ms());
    let event = autorepair_e2e::scenario::raise(&h.sdk, &event).await;
    let first = h.start_with(&event);
    let second = h.start_with(&event);
    let (a, b) = tokio::task::block_in_place(|| (h.finish(&first), h.finish(&second)));
    traffic.stop().await;
    assert_eq!((a.0.as_str(), b.0.as_str()), ("SUCCEEDED", "SUCCEEDED"));
    let outcomes = [a.1["status"].clone(), b.1["status"].clone()];
    assert!(
        outcomes.contains(&json!("duplicate")),
        "{outcomes:?} {first} {second} {:?}",
        h.history(&first).first()
    );
    assert!(outcomes.contains(&json!("repaired")), "{outcomes:?}");
    assert_eq!(w.memory_mb().await.unwrap(), 384, "changed once");
}

const MUTATING: [&str; 4] = [
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:UpdateAlias",
    "lambda:InvokeFunction",
];

/// The reading host's role policy as the template grants it: reading
/// everywhere, changing nothing.
fn host_policy() -> Value {
    let reading: Vec<&str> = autorepair::checkup::NEEDED
        .iter()
        .copied()
        .filter(|a| !MUTATING.contains(a))
        .collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": reading, "Resource": "*"}]
    })
}

/// The acting host's: what execute and rollback read, and changing only
/// tagged functions.
fn acting_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": [
                "lambda:GetFunctionConfiguration", "lambda:GetAlias", "lambda:ListTags",
                "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
                "states:DescribeExecution", "kms:Decrypt", "kms:GenerateDataKey",
                "cloudwatch:GetMetricData", "logs:FilterLogEvents", "lambda:ListAliases",
                "dynamodb:Scan", "logs:StartQuery", "logs:GetQueryResults"], "Resource": "*"},
            {"Effect": "Allow", "Action": MUTATING,
             "Resource": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:*"),
             "Condition": {"StringEquals": {"aws:ResourceTag/autorepair": "enabled"}}},
        ]
    })
}

impl Harness {
    /// The rest of a deployment around the workflow: the host function (its
    /// configuration in the environment, its role and policy) and the alarm
    /// rule that starts the state machine.
    async fn deploy(&self) {
        let host = Workload::new(&self.sdk, HOST, Behaviour::Throttled);
        host.create_function(&self.role, 512, false).await.unwrap();
        self.configure_host(&host_config(WINDOW_S)).await;
        self.put_policy(&host_policy()).await;
        // The acting function, with a role of its own.
        let acting_role = self.moto.role("autorepair-acting");
        let acting = Workload::new(&self.sdk, ACTING, Behaviour::Throttled);
        acting
            .create_function(&acting_role, 512, false)
            .await
            .unwrap();
        aws_sdk_iam::Client::new(&self.sdk)
            .put_role_policy()
            .role_name("autorepair-acting")
            .policy_name("acting")
            .policy_document(acting_policy().to_string())
            .send()
            .await
            .unwrap();
        let events = aws_sdk_eventbridge::Client::new(&self.sdk);
        events
            .put_rule()
            .name("autorepair-dev-alarms")
            .event_pattern(
                json!({
                    "source": ["aws.cloudwatch"],
                    "detail-type": ["CloudWatch Alarm State Change"],
                    "detail": {"state": {"value": ["ALARM"]},
                               "configuration": {"metrics": {"metricStat": {"metric": {"namespace": ["AWS/Lambda"]}}}}}
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule("autorepair-dev-alarms")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("workflow")
                    .arn(&self.machine)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    async fn configure_host(&self, config: &str) {
        aws_sdk_lambda::Client::new(&self.sdk)
            .update_function_configuration()
            .function_name(HOST)
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .variables("AUTOREPAIR_CONFIG_TOML", config)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    async fn put_policy(&self, policy: &Value) {
        aws_sdk_iam::Client::new(&self.sdk)
            .put_role_policy()
            .role_name("autorepair-workflow")
            .policy_name("host")
            .policy_document(policy.to_string())
            .send()
            .await
            .unwrap();
    }

    /// `autorepair doctor` against this deployment: (exit code, check → line).
    fn doctor(&self) -> (Option<i32>, Checks) {
        self.doctor_with(&[
            "doctor",
            "--function",
            HOST,
            "--acting-function",
            ACTING,
            "--state-machine",
            "autorepair",
            "--rule",
            "autorepair-dev-alarms",
            "--format",
            "json",
        ])
    }

    /// `autorepair ARGS` (a doctor with `--format json`) against this
    /// emulator: (exit code, check → (outcome, detail)).
    pub(crate) fn doctor_with(&self, args: &[&str]) -> (Option<i32>, Checks) {
        let cache = autorepair_bin().with_file_name("workflow-tmp");
        let out = autorepair_e2e::autorepair_command(args)
            .envs(self.moto.env())
            .env("AUTOREPAIR_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let checks: Vec<Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let lines = checks
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_owned(),
                    (
                        c["outcome"].as_str().unwrap().to_owned(),
                        c["detail"].as_str().unwrap().to_owned(),
                    ),
                )
            })
            .collect();
        (out.status.code(), lines)
    }
}

/// Every check of doctor's passed (the model's skipped: the AI is off),
/// every one there, and it exited 0.
pub(crate) fn assert_healthy(code: Option<i32>, checks: &Checks) {
    for (name, (outcome, detail)) in checks {
        let expected = if name == "model" { "skip" } else { "ok" };
        assert_eq!(outcome, expected, "{name}: {detail}");
    }
    for name in [
        "stack",
        "config",
        "table",
        "topic",
        "permissions",
        "acting",
        "probe",
        "pause",
        "rules",
    ] {
        assert!(checks.contains_key(name), "no {name} check: {checks:#?}");
    }
    assert_eq!(code, Some(0), "{checks:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_deployment_and_names_each_broken_piece() {
    let h = Harness::new().await;
    h.deploy().await;
    let (code, checks) = tokio::task::block_in_place(|| h.doctor());
    assert_healthy(code, &checks);

    // The reading role grows the right to change functions: refused, even
    // under the opt-in tag.
    let mut changing = host_policy();
    changing["Statement"].as_array_mut().unwrap().push(json!({
        "Effect": "Allow", "Action": ["lambda:UpdateFunctionConfiguration"],
        "Resource": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:*"),
        "Condition": {"StringEquals": {"aws:ResourceTag/autorepair": "enabled"}}}));
    h.put_policy(&changing).await;
    let (code, checks) = tokio::task::block_in_place(|| h.doctor());
    assert_eq!(code, Some(1));
    assert!(
        checks["permissions"]
            .1
            .contains("the reading role may change functions"),
        "{checks:#?}"
    );
    assert_eq!(checks["acting"].0, "ok", "{checks:#?}");
    h.put_policy(&host_policy()).await;

    // The role grows a wildcard: that line, and only it, fails.
    let mut wide = host_policy();
    wide["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}));
    h.put_policy(&wide).await;
    let (code, checks) = tokio::task::block_in_place(|| h.doctor());
    assert_eq!(code, Some(1));
    assert_eq!(checks["permissions"].0, "fail");
    assert!(checks["permissions"].1.contains("lambda:*"), "{checks:#?}");
    assert_eq!(checks["stack"].0, "ok");
    h.put_policy(&host_policy()).await;

    // The rule no longer starts the workflow.
    aws_sdk_eventbridge::Client::new(&h.sdk)
        .remove_targets()
        .rule("autorepair-dev-alarms")
        .ids("workflow")
        .send()
        .await
        .unwrap();
    let (_, checks) = tokio::task::block_in_place(|| h.doctor());
    assert_eq!(checks["stack"].0, "fail");
    assert!(
        checks["stack"].1.contains("does not start state machine"),
        "{checks:#?}"
    );
    assert_eq!(checks["permissions"].0, "ok");

    // A configuration that does not parse; the table and topic it would name
    // are then not checked.
    h.configure_host("mode = 42").await;
    let (_, checks) = tokio::task::block_in_place(|| h.doctor());
    assert_eq!(checks["config"].0, "fail", "{checks:#?}");
    assert_eq!(checks["table"].0, "skip");

    // A configuration naming a table that is not there.
    h.configure_host(&host_config(WINDOW_S).replace(TABLE, "autorepair-missing"))
        .await;
    let (_, checks) = tokio::task::block_in_place(|| h.doctor());
    assert_eq!(checks["table"].0, "fail");
    assert!(checks["table"].1.contains("does not exist"), "{checks:#?}");
}

impl Harness {
    /// Tags `function` (beside what create_function gave it).
    async fn tag(&self, function: &str, key: &str, value: &str) {
        let lambda = aws_sdk_lambda::Client::new(&self.sdk);
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}");
        lambda
            .tag_resource()
            .resource(arn)
            .tags(key, value)
            .send()
            .await
            .unwrap();
    }

    /// Waits until `function`'s incident waits for approval; its id.
    async fn waiting_for_approval(&self, function: &str) -> String {
        let mut config = Config::default();
        config.run.audit_table = self.table.clone();
        let audit = setup::audit_table(&Aws::new(&self.sdk), &config);
        let started = Instant::now();
        loop {
            for document in audit.records().await.unwrap() {
                let run: Run = serde_json::from_str(&document).unwrap();
                if run.incident.function_name == function
                    && run.approval.as_ref().is_some_and(|a| a.token.is_some())
                {
                    return run.incident.id;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{function} never waited for approval; stages: {:?}",
                self.lambda.invoked()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// `autorepair --environment ENV ARGS` against this emulator: no
    /// configuration file, the deployed host's.
    pub(crate) fn cli_at(&self, env: &str, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--environment", env];
        all.extend_from_slice(args);
        let mut command = autorepair_e2e::cli::autorepair_command(&all);
        command.envs(self.moto.env());
        autorepair_e2e::cli::output(&mut command)
    }

    /// `autorepair ARGS` against this emulator, with the host's
    /// configuration in a file (`--config`).
    fn cli(&self, args: &[&str]) -> std::process::Output {
        let dir = std::env::temp_dir().join(format!("autorepair-wf-{}", self.moto.port));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.toml");
        std::fs::write(&config, host_config(WINDOW_S)).unwrap();
        let mut command = autorepair_e2e::cli::autorepair_command(args);
        command.arg("--config").arg(&config).envs(self.moto.env());
        autorepair_e2e::cli::output(&mut command)
    }

    /// `autorepair --environment e2e approvals --format json`: what waits
    /// for an answer, read through the deployed host's configuration.
    fn approvals(&self) -> Vec<Value> {
        let out = self.cli_at("e2e", &["approvals", "--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            autorepair_e2e::cli::describe(&out)
        );
        serde_json::from_slice(&out.stdout).expect("approvals --format json")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_waits_for_approval_and_a_rejection_or_silence_changes_nothing() {
    // The stack the template creates, and the CLI pointed at it by name
    // alone. Short waits: moto's CloudFormation does not hold parameters to
    // their MinValue, CloudFormation would (60 s each).
    let (h, _) = Harness::from_stack(
        "e2e",
        &[
            ("DryRun", "false"),
            ("VerificationWindowSeconds", &WINDOW_S.to_string()),
            ("ApprovalTimeoutSeconds", &APPROVAL_TIMEOUT_S.to_string()),
        ],
    )
    .await;
    // Approved: the change is made once a person answers, and who is recorded.
    let w = h
        .function("wf-approved", 256, Behaviour::NeedsMemory { need_mb: 350 })
        .await;
    h.tag(&w.function, "autorepair:approval", "required").await;
    let traffic = Traffic::start(&w);
    let execution = h.start(&w.function).await;
    let incident = h.waiting_for_approval(&w.function).await;
    assert_eq!(
        w.memory_mb().await.unwrap(),
        256,
        "nothing changes before the answer"
    );
    // `autorepair approvals` lists it, with the change asked for.
    let waiting = tokio::task::block_in_place(|| h.approvals());
    assert!(
        waiting.iter().any(|x| x["incident"] == incident.as_str()
            && x["function"] == "wf-approved"
            && x["target_memory_mb"] == 384),
        "{waiting:?}"
    );
    // For people: the commands name the deployment they were read from.
    let text = tokio::task::block_in_place(|| h.cli_at("e2e", &["approvals"]));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains(&format!("autorepair --environment e2e approve {incident}")),
        "{text}"
    );
    // `incidents` shows where it stands.
    let listed = tokio::task::block_in_place(|| {
        h.cli_at("e2e", &["incidents", "--since", "1h", "--format", "json"])
    });
    let listed: Vec<Value> = serde_json::from_slice(&listed.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", autorepair_e2e::cli::describe(&listed)));
    let mine = listed
        .iter()
        .find(|l| l["incident"] == incident.as_str())
        .unwrap_or_else(|| panic!("{listed:?}"));
    assert_eq!(mine["running"], true, "{mine}");
    assert!(
        mine["stage"]
            .as_str()
            .unwrap()
            .starts_with("waiting for approval"),
        "{mine}"
    );
    let out = tokio::task::block_in_place(|| {
        h.cli_at(
            "e2e",
            &[
                "approve",
                &incident,
                "--by",
                "alice",
                "--reason",
                "seen the OOMs",
            ],
        )
    });
    assert!(
        out.status.success(),
        "{}",
        autorepair_e2e::cli::describe(&out)
    );
    let (status, output) = tokio::task::block_in_place(|| h.finish(&execution));
    traffic.stop().await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert_eq!(output["status"], "repaired", "{output}");
    assert_eq!(w.memory_mb().await.unwrap(), 384);
    let (run, stages) = h.record(&output).await;
    let approval = run.approval.expect("the approval is on record");
    assert_eq!(approval.state, autorepair::run::ApprovalState::Approved);
    let by = approval.by.unwrap_or_default();
    assert!(by.starts_with("alice (arn:aws:"), "{by}");
    assert_eq!(approval.reason.as_deref(), Some("seen the OOMs"));
    assert!(
        stages
            .windows(3)
            .any(|s| s == ["await_approval", "approve", "execute"]),
        "{stages:?}"
    );
    assert!(
        !tokio::task::block_in_place(|| h.approvals())
            .iter()
            .any(|x| x["incident"] == incident.as_str()),
        "an answered change no longer waits"
    );
    // Answering again is refused: the answer stands.
    let again = tokio::task::block_in_place(|| h.cli_at("e2e", &["reject", &incident]));
    assert_eq!(
        again.status.code(),
        Some(2),
        "{}",
        autorepair_e2e::cli::describe(&again)
    );
    // `undo` takes the ended incident's change back, as a person's action.
    let out = tokio::task::block_in_place(|| {
        h.cli_at(
            "e2e",
            &[
                "undo",
                &incident,
                "--by",
                "alice",
                "--reason",
                "load test over",
                "--format",
                "json",
            ],
        )
    });
    assert!(
        out.status.success(),
        "{}",
        autorepair_e2e::cli::describe(&out)
    );
    assert_eq!(w.memory_mb().await.unwrap(), 256, "put back");
    let (run, _) = h.record(&output).await;
    assert_eq!(run.status, autorepair::run::Status::RolledBack);
    let reasons = run.decision.unwrap().reasons.join("\n");
    assert!(reasons.contains("undone by alice (arn:aws:"), "{reasons}");

    // `pause` stops every change: the next incident is diagnosed and
    // escalated, nothing changed; `resume` lifts it.
    let paused =
        tokio::task::block_in_place(|| h.cli_at("e2e", &["pause", "--reason", "freeze week"]));
    assert!(
        paused.status.success(),
        "{}",
        autorepair_e2e::cli::describe(&paused)
    );
    let w = h
        .function("wf-paused", 256, Behaviour::NeedsMemory { need_mb: 350 })
        .await;
    let traffic = Traffic::start(&w);
    let execution = h.start(&w.function).await;
    let (status, output) = tokio::task::block_in_place(|| h.finish(&execution));
    traffic.stop().await;
    assert_eq!(
        (status.as_str(), output["status"].as_str()),
        ("SUCCEEDED", Some("escalated")),
        "{output}"
    );
    assert_eq!(
        w.memory_mb().await.unwrap(),
        256,
        "nothing changed while paused"
    );
    let (run, _) = h.record(&output).await;
    let reasons = run.decision.unwrap().reasons.join("\n");
    assert!(
        reasons.contains("autorepair is paused for every function"),
        "{reasons}"
    );
    let listed = tokio::task::block_in_place(|| h.cli_at("e2e", &["pause", "--list"]));
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("(freeze week)"),
        "{}",
        autorepair_e2e::cli::describe(&listed)
    );
    let resumed = tokio::task::block_in_place(|| h.cli_at("e2e", &["resume"]));
    assert!(
        String::from_utf8_lossy(&resumed.stdout).starts_with("resumed"),
        "{}",
        autorepair_e2e::cli::describe(&resumed)
    );

    // Rejected: the workflow ends, nothing changed, the rejection recorded.
    let w = h
        .function("wf-rejected", 256, Behaviour::NeedsMemory { need_mb: 350 })
        .await;
    h.tag(&w.function, "autorepair:approval", "required").await;
    let execution = h.start(&w.function).await;
    let incident = h.waiting_for_approval(&w.function).await;
    let out = tokio::task::block_in_place(|| {
        h.cli_at("e2e", &["reject", &incident, "--reason", "freeze week"])
    });
    assert!(
        out.status.success(),
        "{}",
        autorepair_e2e::cli::describe(&out)
    );
    let (status, output) = tokio::task::block_in_place(|| h.finish(&execution));
    assert_eq!(
        (status.as_str(), output["status"].as_str()),
        ("SUCCEEDED", Some("rejected")),
        "{output}"
    );
    assert_eq!(w.memory_mb().await.unwrap(), 256);

    // Nobody answers: the wait times out, the incident is escalated.
    let w = h
        .function(
            "wf-unanswered",
            256,
            Behaviour::NeedsMemory { need_mb: 350 },
        )
        .await;
    h.tag(&w.function, "autorepair:approval", "required").await;
    let execution = h.start(&w.function).await;
    let (status, output) = tokio::task::block_in_place(|| h.finish(&execution));
    assert_eq!(
        (status.as_str(), output["status"].as_str()),
        ("SUCCEEDED", Some("escalated")),
        "{output}\n{:#?}",
        h.history(&execution)
            .iter()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
    );
    assert_eq!(w.memory_mb().await.unwrap(), 256);
    let (run, _) = h.record(&output).await;
    assert_eq!(
        run.approval.unwrap().state,
        autorepair::run::ApprovalState::Expired
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_runs_its_distributed_map_and_writes_standing_recommendations() {
    let h = Harness::new().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&h.sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(SWEEP_BUCKET)
        .send()
        .await
        .unwrap();
    let oversized = h
        .function(
            "sw-oversized",
            1024,
            Behaviour::NeedsMemory { need_mb: 200 },
        )
        .await;
    let tight = h
        .function("sw-tight", 256, Behaviour::NeedsMemory { need_mb: 350 })
        .await;
    let idle = Workload::new(&h.sdk, "sw-not-opted-in", Behaviour::Throttled);
    idle.create_function(&h.role, 512, false).await.unwrap();
    let third = h
        .function("sw-third", 512, Behaviour::DownstreamTimeouts)
        .await;
    // The sweep's own state machine, as SAM substitutes it.
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../infrastructure/statemachine/sweep.asl.json"),
    )
    .unwrap()
    .replace("${HostFunctionArn}", &host_arn())
    .replace("${ActingFunctionArn}", &acting_arn())
    .replace("${SweepConcurrency}", "2")
    .replace("${SweepBucketName}", SWEEP_BUCKET)
    .replace("${TaskTimeoutSeconds}", "120");
    let (code, body) = h.moto.aws_json(
        "states",
        "AWSStepFunctions.CreateStateMachine",
        &json!({"name": "autorepair-sweep", "definition": text, "roleArn": h.role}).to_string(),
    );
    assert_eq!(code, 200, "CreateStateMachine: {body}");
    let machine = serde_json::from_str::<Value>(&body).unwrap()["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, body) = h.moto.aws_json(
        "states",
        "AWSStepFunctions.StartExecution",
        &json!({"stateMachineArn": machine, "name": "weekly-1", "input": "{}"}).to_string(),
    );
    assert_eq!(code, 200, "StartExecution: {body}");
    let execution = serde_json::from_str::<Value>(&body).unwrap()["executionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, output) = tokio::task::block_in_place(|| h.finish(&execution));
    assert_eq!(status, "SUCCEEDED", "{output}");
    // Three opted-in functions in batches of two: two map items.
    assert_eq!(output["swept"], 3, "{output}");
    let batches = h
        .lambda
        .invoked()
        .iter()
        .filter(|s| *s == "sweep_batch")
        .count();
    assert_eq!(batches, 2, "{:?}", h.lambda.invoked());
    let item_file = s3
        .get_object()
        .bucket(SWEEP_BUCKET)
        .key("sweeps/weekly-1/items.json")
        .send()
        .await
        .unwrap();
    let items: Value =
        serde_json::from_slice(&item_file.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 2, "{items}");

    let out = tokio::task::block_in_place(|| h.cli(&["recommendations", "--format", "json"]));
    assert!(
        out.status.success(),
        "{}",
        autorepair_e2e::cli::describe(&out)
    );
    let list: Vec<autorepair::model::StandingRecommendation> =
        serde_json::from_slice(&out.stdout).unwrap();
    let by = |name: &str| {
        list.iter()
            .find(|r| r.function == name)
            .unwrap_or_else(|| panic!("{name}: {list:?}"))
    };
    assert_eq!(list.len(), 3, "{list:?}");
    assert!(list.iter().all(|r| r.function != idle.function));
    // Oversized, but deployed a moment ago (moto's LastModified): the
    // window starts there, and a day of traffic sizes nothing down. moto's
    // Logs Insights runs no `stats`: the sweep said so and read the lines.
    // (The sizing itself: fleet::a_busy_function_is_sized_down_from_logs_insights_figures.)
    let kept = by(&oversized.function);
    assert_eq!(
        kept.direction,
        autorepair::model::Direction::Keep,
        "{kept:?}"
    );
    assert!(
        kept.reasons[0].contains("traffic on 1 day at 1024 MB since"),
        "{kept:?}"
    );
    assert!(
        kept.reasons
            .iter()
            .any(|r| r.starts_with("figures: Logs Insights failed")),
        "{kept:?}"
    );
    assert_eq!(oversized.memory_mb().await.unwrap(), 1024);
    let up = by(&tight.function);
    assert_eq!(up.direction, autorepair::model::Direction::Up, "{up:?}");
    assert!(up.oom_floor_mb.is_some_and(|f| f > 256));
    let _ = third;
    let csv = tokio::task::block_in_place(|| h.cli(&["recommendations", "--format", "csv"]));
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(
        csv.lines().nth(1).unwrap().starts_with("sw-tight,up,256,"),
        "{csv}"
    );
}
