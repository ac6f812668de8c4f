//! The whole loop against moto_server on 127.0.0.1 (one per test), with the
//! real AWS SDK clients, real wasmtime and the bundled rules.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use autorepair::aws::Aws;
use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::decide::Action;
use autorepair::pipeline::{self, Context, Options, Run, Status};

use autorepair::rules::{Compiler, RuleSet, Sandbox};
use autorepair::setup;
use autorepair::stage::Stage;
use autorepair::verify::Verdict;
use autorepair_e2e::scenario::{TrafficClock, WINDOW, raise};
use autorepair_e2e::{Behaviour, Moto, Workload, alarm_event};

fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| Compiler::new(Arc::new(Sandbox::new(64).expect("sandbox")), None))
}

struct Env {
    moto: Moto,
    ctx: Arc<Context>,
    sdk: aws_config::SdkConfig,
    role: String,
    traffic: Arc<TrafficClock>,
    /// The state machine whose executions may call the stages.
    machine: String,
}

async fn env() -> Env {
    env_with(|_| {}).await
}

/// The production context on `sdk` (real adapters), with the traffic clock.
fn context(sdk: &aws_config::SdkConfig, config: Config, traffic: &Arc<TrafficClock>) -> Context {
    let (specs, _) = config.rule_specs();
    let mut ctx = setup::context(&Aws::new(sdk), RuleSet::load(compiler(), &specs), config);
    ctx.clock = traffic.clone();
    ctx
}

async fn env_with(tweak: impl FnOnce(&mut Config)) -> Env {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let mut config = Config::default();
    config.run.audit_table = "autorepair-audit".into();
    let machine = moto.waiting_state_machine("autorepair-test");
    config.run.state_machine_arn = Some(machine.clone());
    tweak(&mut config);
    config.run.topic_arn = Some(autorepair_e2e::scenario::provision(&sdk, &config).await);
    let traffic = Arc::new(TrafficClock::default());
    let ctx = context(&sdk, config, &traffic);
    let role = moto.role("autorepair-test");
    Env {
        moto,
        ctx: Arc::new(ctx),
        sdk,
        role,
        traffic,
        machine,
    }
}

fn options(dry_run: bool) -> Options {
    Options {
        dry_run,
        mode: Default::default(),
        verify_after: WINDOW,
    }
}

/// A function of `memory_mb` with `behaviour`, and 10 minutes of its traffic
/// up to now; verification windows bring more of it.
async fn function(
    env: &Env,
    name: &str,
    memory_mb: u32,
    behaviour: Behaviour,
    opted_in: bool,
) -> Arc<Workload> {
    let w = Arc::new(Workload::new(&env.sdk, name, behaviour));
    w.create_function(&env.role, memory_mb, opted_in)
        .await
        .expect("create function");
    let now = now_ms();
    w.invocations(80, now - 600_000, now - 1_000)
        .await
        .expect("traffic");
    env.traffic.add(w.clone());
    w
}

/// The common case: a 256 MB function that needs ~350 MB, opted in.
async fn oom_function(env: &Env, name: &str) -> Arc<Workload> {
    function(
        env,
        name,
        256,
        Behaviour::NeedsMemory { need_mb: 350 },
        true,
    )
    .await
}

/// The whole loop, as the CLI runs it.
async fn run(env: &Env, event: &serde_json::Value, dry_run: bool) -> Run {
    pipeline::run(&env.ctx, event, options(dry_run))
        .await
        .expect("event parses")
}

/// The status on the incident's audit item, as its wire name.
async fn audit_status(env: &Env, run: &Run) -> String {
    env.ctx
        .audit
        .get(&run.incident.id)
        .await
        .expect("audit")
        .expect("an audit item")
        .status
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_is_repaired_and_verified_improved() {
    let env = env().await;
    let w = oom_function(&env, "orders-api").await;
    let event = raise(
        &env.sdk,
        &alarm_event("orders-api-errors", "orders-api", None, "ALARM", now_ms()),
    )
    .await;
    let run = run(&env, &event, false).await;

    assert!(
        run.findings
            .iter()
            .any(|f| f.source.to_string() == "rule:oom"),
        "{:#?}",
        run.findings
    );
    let decision = run.decision.clone().expect("decided");
    assert_eq!(decision.action, Action::SetMemory, "{decision:#?}");
    assert_eq!(decision.target_memory_mb, Some(384));
    assert_eq!(w.memory_mb().await.unwrap(), 384);
    let verification = run.verification.clone().expect("verified");
    assert_eq!(verification.verdict, Verdict::Improved, "{verification:#?}");
    assert_eq!(run.status, Status::Repaired);
    assert_eq!(audit_status(&env, &run).await, "repaired");
    assert!(run.notification_id.is_some(), "an SNS notice was published");
    let history = env.ctx.audit.history("orders-api", now_ms()).await.unwrap();
    assert_eq!(history.changes_last_24h, 1);
    // A later sweep never sizes it back to what failed.
    assert_eq!(
        env.ctx.audit.raised_from("orders-api").await.unwrap(),
        vec![256]
    );
    // A conditional write on a version the record does not have is refused
    // by DynamoDB and changes nothing; on its own version it is made.
    let id = run.incident.id.as_str();
    let stored = env.ctx.audit.get(id).await.unwrap().expect("the record");
    let stale = env
        .ctx
        .audit
        .update_at(id, stored.version + 1, Status::Repaired, "{}", now_ms())
        .await
        .unwrap();
    assert_eq!(stale, autorepair::ports::Claim::Taken);
    let again = env.ctx.audit.get(id).await.unwrap().expect("the record");
    assert_eq!(
        (again.status, again.document.as_str()),
        (stored.status, stored.document.as_str())
    );
    let current = env
        .ctx
        .audit
        .update_at(
            id,
            stored.version,
            stored.status,
            &stored.document,
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(current, autorepair::ports::Claim::Won);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_does_not_help_is_rolled_back() {
    let env = env().await;
    let w = function(&env, "leaky", 512, Behaviour::Leak, true).await;
    let event = raise(
        &env.sdk,
        &alarm_event("leaky-errors", "leaky", None, "ALARM", now_ms()),
    )
    .await;
    let run = run(&env, &event, false).await;
    assert_eq!(
        run.change.as_ref().map(|c| c.new_memory_mb),
        Some(768),
        "{:#?}",
        run.decision
    );
    assert_eq!(
        run.verification.as_ref().map(|v| v.verdict),
        Some(Verdict::Unchanged)
    );
    assert_eq!(run.status, Status::RolledBack);
    assert_eq!(w.memory_mb().await.unwrap(), 512, "memory restored");
    assert_eq!(audit_status(&env, &run).await, "rolled_back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_escalates_and_changes_nothing() {
    let env = env().await;
    let w = function(&env, "thumbnailer", 256, Behaviour::Throttled, true).await;
    let event = raise(
        &env.sdk,
        &alarm_event(
            "thumbnailer-throttles",
            "thumbnailer",
            None,
            "ALARM",
            now_ms(),
        ),
    )
    .await;
    let run = run(&env, &event, false).await;
    assert!(
        run.findings
            .iter()
            .any(|f| f.source.to_string() == "rule:throttles"),
        "{:#?}",
        run.findings
    );
    assert_eq!(run.status, Status::Escalated);
    assert!(run.change.is_none());
    assert_eq!(w.memory_mb().await.unwrap(), 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_timeouts_never_change_memory() {
    let env = env().await;
    let w = function(
        &env,
        "payments-sync",
        1024,
        Behaviour::DownstreamTimeouts,
        true,
    )
    .await;
    let event = raise(
        &env.sdk,
        &alarm_event("payments-errors", "payments-sync", None, "ALARM", now_ms()),
    )
    .await;
    let run = run(&env, &event, false).await;
    assert!(
        run.findings
            .iter()
            .any(|f| f.finding.kind == autorepair::model::FindingKind::DownstreamTimeout),
        "{:#?}",
        run.findings
    );
    assert_eq!(run.status, Status::Escalated);
    assert_eq!(w.memory_mb().await.unwrap(), 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_not_opted_in_is_left_alone() {
    let env = env().await;
    let w = function(
        &env,
        "legacy",
        256,
        Behaviour::NeedsMemory { need_mb: 350 },
        false,
    )
    .await;
    let event = raise(
        &env.sdk,
        &alarm_event("legacy-errors", "legacy", None, "ALARM", now_ms()),
    )
    .await;
    let run = run(&env, &event, false).await;
    assert_eq!(run.status, Status::NoAction);
    assert!(
        run.decision
            .unwrap()
            .reasons
            .iter()
            .any(|r| r.contains("not opted in"))
    );
    assert_eq!(w.memory_mb().await.unwrap(), 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_decides_and_changes_nothing() {
    let env = env().await;
    let w = oom_function(&env, "orders-dry").await;
    let event = raise(
        &env.sdk,
        &alarm_event("orders-dry-errors", "orders-dry", None, "ALARM", now_ms()),
    )
    .await;
    let run = run(&env, &event, true).await;
    assert_eq!(run.status, Status::DryRun);
    assert_eq!(run.decision.unwrap().target_memory_mb, Some(384));
    assert_eq!(w.memory_mb().await.unwrap(), 256);
    assert!(
        run.notification_id.is_some(),
        "a dry-run decision is notified too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ok_alarm_collects_nothing() {
    let env = env().await;
    let event = raise(
        &env.sdk,
        &alarm_event("orders-errors", "nowhere", None, "OK", now_ms()),
    )
    .await;
    let run = pipeline::run(&env.ctx, &event, options(false))
        .await
        .unwrap();
    assert_eq!(run.status, Status::NoAction);
    assert!(run.evidence.is_none());
    assert_eq!(run.decision.unwrap().action, Action::None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_ten_times_at_once_changes_the_function_once() {
    let env = env().await;
    let w = oom_function(&env, "orders-redelivered").await;
    let event = raise(
        &env.sdk,
        &alarm_event(
            "orders-redelivered-errors",
            "orders-redelivered",
            None,
            "ALARM",
            now_ms(),
        ),
    )
    .await;
    let runs: Vec<_> = (0..10)
        .map(|_| {
            let ctx = env.ctx.clone();
            let event = event.clone();
            tokio::spawn(async move { pipeline::run(&ctx, &event, options(false)).await.unwrap() })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in runs {
        statuses.push(r.await.unwrap().status);
    }
    let handled = statuses.iter().filter(|s| **s != Status::Duplicate).count();
    assert_eq!(handled, 1, "{statuses:?}");
    let history = env
        .ctx
        .audit
        .history("orders-redelivered", now_ms())
        .await
        .unwrap();
    assert_eq!(history.changes_last_24h, 1);
    assert_eq!(w.memory_mb().await.unwrap(), 384);
}

/// Two alarm events run at once, each through the whole loop.
async fn race(env: &Env, a: serde_json::Value, b: serde_json::Value) -> (Run, Run) {
    let (ctx_a, ctx_b) = (env.ctx.clone(), env.ctx.clone());
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { pipeline::run(&ctx_a, &a, options(false)).await.unwrap() }),
        tokio::spawn(async move { pipeline::run(&ctx_b, &b, options(false)).await.unwrap() }),
    );
    (ra.unwrap(), rb.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_alarms_on_one_function_at_once_change_it_once() {
    let env = env().await;
    let w = oom_function(&env, "orders-twice").await;
    let now = now_ms();
    let a = raise(
        &env.sdk,
        &alarm_event("orders-twice-errors", "orders-twice", None, "ALARM", now),
    )
    .await;
    let b = raise(
        &env.sdk,
        &alarm_event("orders-twice-duration", "orders-twice", None, "ALARM", now),
    )
    .await;
    let (ra, rb) = race(&env, a, b).await;
    assert_ne!(ra.incident.id, rb.incident.id);
    let changes = [&ra, &rb].iter().filter(|r| r.change.is_some()).count();
    assert_eq!(changes, 1, "{:?} / {:?}", ra.status, rb.status);
    let history = env
        .ctx
        .audit
        .history("orders-twice", now_ms())
        .await
        .unwrap();
    assert_eq!(history.changes_last_24h, 1);
    assert_eq!(w.memory_mb().await.unwrap(), 384);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_is_repaired_through_a_new_version() {
    let env = env().await;
    let w = oom_function(&env, "orders-live").await;
    let first = w.alias("live").await.unwrap();
    let now = now_ms();
    w.invocations(40, now - 300_000, now - 1_000).await.unwrap();
    let event = raise(
        &env.sdk,
        &alarm_event(
            "orders-live-errors",
            "orders-live",
            Some("live"),
            "ALARM",
            now,
        ),
    )
    .await;
    let run = run(&env, &event, false).await;
    let change = run.change.clone().expect("changed");
    assert_eq!(change.previous_version.as_deref(), Some(first.as_str()));
    assert!(change.published_version.is_some());
    assert_eq!(
        w.memory_mb().await.unwrap(),
        384,
        "the alias serves the new memory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_whose_code_differs_from_latest_escalates() {
    let env = env().await;
    let w = oom_function(&env, "orders-canary").await;
    w.alias("live").await.unwrap();
    // $LATEST moves on to unreleased code.
    let lambda = aws_sdk_lambda::Client::new(&env.sdk);
    lambda
        .update_function_code()
        .function_name("orders-canary")
        .zip_file(aws_sdk_lambda::primitives::Blob::new(
            b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let now = now_ms();
    w.invocations(40, now - 300_000, now - 1_000).await.unwrap();
    let event = raise(
        &env.sdk,
        &alarm_event(
            "orders-canary-errors",
            "orders-canary",
            Some("live"),
            "ALARM",
            now,
        ),
    )
    .await;
    let run = run(&env, &event, false).await;
    assert_eq!(run.status, Status::Escalated, "{:#?}", run.decision);
    assert!(
        run.decision
            .unwrap()
            .reasons
            .iter()
            .any(|r| r.contains("unreleased code"))
    );
    assert_eq!(w.memory_mb().await.unwrap(), 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_deleted_mid_run_is_a_recorded_failure() {
    let env = env().await;
    let w = oom_function(&env, "orders-gone").await;
    let event = raise(
        &env.sdk,
        &alarm_event("orders-gone-errors", "orders-gone", None, "ALARM", now_ms()),
    )
    .await;
    // Deleted between decide and execute: the stages one by one.
    let ctx = &env.ctx;
    let mut run = pipeline::parse(ctx, &event, options(false), None)
        .await
        .unwrap();
    pipeline::diagnose(ctx, &mut run, pipeline::Diagnosers::BOTH).await;
    pipeline::decide(ctx, &mut run).await;
    aws_sdk_lambda::Client::new(&env.sdk)
        .delete_function()
        .function_name("orders-gone")
        .send()
        .await
        .unwrap();
    pipeline::execute(ctx, &mut run).await;
    pipeline::record(ctx, &mut run).await;
    drop(w);
    assert_eq!(run.status, Status::Failed);
    assert_eq!(
        run.failure.as_ref().map(|f| f.stage.name()),
        Some("execute")
    );
    assert_eq!(audit_status(&env, &run).await, "failed");
    let _ = &env.moto;
}

/// One invocation of the Lambda handler: a stage request in, a reference out.
async fn stage(env: &Env, payload: serde_json::Value) -> serde_json::Value {
    let request: pipeline::StageRequest = serde_json::from_value(payload).expect("a stage request");
    serde_json::to_value(pipeline::stage(&env.ctx, request).await.expect("stage")).unwrap()
}

/// The next task's request, from the last task's reply, as the state machine
/// builds it.
async fn next_stage(env: &Env, stage_name: &str, reply: &serde_json::Value) -> serde_json::Value {
    let execution = stored(env, reply).await["claimed_by"].clone();
    stage(
        env,
        serde_json::json!({
            "stage": stage_name,
            "incident": reply["incident"],
            "version": reply["version"],
            "execution": execution,
        }),
    )
    .await
}

/// The run the audit table holds for the incident `reply` names.
async fn stored(env: &Env, reply: &serde_json::Value) -> serde_json::Value {
    let id = reply["incident"].as_str().expect("an incident id");
    let record = env.ctx.audit.get(id).await.unwrap().expect("a record");
    serde_json::from_str(&record.document).unwrap()
}

/// As Step Functions runs it: parse, the Parallel state's two branches, decide.
/// Returns the stored run after the rules branch, after the AI branch, and
/// decide's reply.
async fn parse_to_decide(
    env: &Env,
    event: &serde_json::Value,
) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let execution = env.moto.start_execution(&env.machine);
    let parsed = stage(
        env,
        serde_json::json!({"stage": "parse", "event": event, "execution": execution}),
    )
    .await;
    let rules = next_stage(env, "rules", &parsed).await;
    let after_rules = stored(env, &rules).await;
    let ai = next_stage(env, "ai", &parsed).await;
    let after_ai = stored(env, &ai).await;
    let decided = next_stage(env, "decide", &parsed).await;
    (after_rules, after_ai, decided)
}

/// execute → traffic since the change → verify → rollback → record.
/// Returns the stored run after execute, and after record.
async fn execute_to_record(
    env: &Env,
    w: &Workload,
    decided: serde_json::Value,
) -> (serde_json::Value, serde_json::Value) {
    let executed = next_stage(env, "execute", &decided).await;
    let after_execute = stored(env, &executed).await;
    let change_at = after_execute["change"]["at_ms"].as_i64().expect("a change");
    w.invocations(40, change_at + 1, now_ms()).await.unwrap();
    let verified = next_stage(env, "verify", &executed).await;
    let kept = next_stage(env, "rollback", &verified).await;
    let recorded = next_stage(env, "record", &kept).await;
    assert_eq!(recorded["claimed"], true);
    let after_record = stored(env, &recorded).await;
    assert_eq!(after_record["status"], recorded["status"]);
    (after_execute, after_record)
}

/// A context whose verification window is already over when verify comes
/// (the tests bring the traffic themselves, in real time).
async fn env_for_stages(tweak: impl FnOnce(&mut Config)) -> Env {
    env_with(|c| {
        c.run.verify_after_seconds = 0;
        tweak(c);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_stage_protocol_runs_the_whole_loop() {
    let env = env_for_stages(|_| {}).await;
    let w = oom_function(&env, "orders-sfn").await;
    let event = raise(
        &env.sdk,
        &alarm_event("orders-sfn-errors", "orders-sfn", None, "ALARM", now_ms()),
    )
    .await;
    let (_, ai, decided) = parse_to_decide(&env, &event).await;
    assert!(
        ai.get("ai").is_none(),
        "without [ai] enabled the branch says nothing"
    );
    assert_eq!(decided["action"], "set_memory");
    let (executed, recorded) = execute_to_record(&env, &w, decided).await;
    assert_eq!(executed["change"]["new_memory_mb"], 384);
    // The id of our UpdateFunctionConfiguration, as the service gave it:
    // what CloudTrail's record of the call carries.
    assert!(
        executed["change"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{}",
        executed["change"]
    );
    assert_eq!(recorded["verification"]["verdict"], "improved");
    assert_eq!(recorded["status"], "repaired");

    // On DynamoDB itself: every stage committed once, in order; a commit on
    // a version already taken loses and writes nothing.
    let id = recorded["incident"]["id"].as_str().unwrap();
    let record = env.ctx.audit.get(id).await.unwrap().unwrap();
    assert_eq!(
        record.stages.iter().map(|s| s.name()).collect::<Vec<_>>(),
        [
            "parse", "rules", "ai", "decide", "execute", "verify", "rollback", "record"
        ]
    );
    let stale = env
        .ctx
        .audit
        .commit(id, Stage::Execute, Status::Started, "{}", 4, now_ms())
        .await
        .unwrap();
    assert_eq!(stale, autorepair::ports::Claim::Taken);
    assert_eq!(env.ctx.audit.get(id).await.unwrap().unwrap(), record);
    // A replayed execute after the record is refused, even from the
    // execution that claimed it; the function stays.
    let execution = recorded["claimed_by"].as_str().unwrap().to_owned();
    let replay: pipeline::StageRequest = serde_json::from_value(serde_json::json!(
        {"stage": "execute", "incident": id, "version": record.version, "execution": execution}
    ))
    .unwrap();
    assert!(matches!(
        pipeline::stage(&env.ctx, replay.clone()).await,
        Err(pipeline::ProtocolError::OutOfOrder { .. })
    ));
    // Once Step Functions says the execution ended, its id drives nothing:
    // a forged Catch (`step_error`) cannot undo the verified change.
    env.moto.stop_execution(&execution);
    let forged: pipeline::StageRequest = serde_json::from_value(serde_json::json!({
        "stage": "rollback", "incident": id, "version": record.version,
        "execution": execution, "step_error": {"Error": "States.Timeout", "Cause": "forged"}
    }))
    .unwrap();
    match pipeline::stage(&env.ctx, forged).await {
        Err(pipeline::ProtocolError::Unbound { source, .. }) => {
            assert!(source.to_string().contains("ABORTED"), "{source}")
        }
        other => panic!("a forged call from an ended execution was taken: {other:?}"),
    }
    assert_eq!(w.memory_mb().await.unwrap(), 384);
    let bad: Result<pipeline::StageRequest, _> =
        serde_json::from_value(serde_json::json!({"stage": "teleport"}));
    assert!(bad.is_err());
    // A record naming a stage this host does not know is refused, never read
    // with the name dropped (every later stage would shift a version).
    use aws_sdk_dynamodb::types::AttributeValue;
    aws_sdk_dynamodb::Client::new(&env.sdk)
        .update_item()
        .table_name("autorepair-audit")
        .key(
            "pk",
            AttributeValue::S(autorepair::aws::audit::keys::incident(id)),
        )
        .key(
            "sk",
            AttributeValue::S(autorepair::aws::audit::keys::RECORD.into()),
        )
        .update_expression("SET #stages = list_append(#stages, :more)")
        .expression_attribute_names("#stages", "stages")
        .expression_attribute_values(
            ":more",
            AttributeValue::L(vec![AttributeValue::S("teleport".into())]),
        )
        .send()
        .await
        .unwrap();
    let unknown = env.ctx.audit.get(id).await.unwrap_err();
    assert!(unknown.to_string().contains("does not know"), "{unknown}");
}

/// The AI beside the rules, through the Converse stand-in, deciding in `ai`
/// mode: one Step Functions run, both views audited, then the A/B report read
/// back from the audit table by the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_ai_mode_the_ai_decides_and_both_views_are_audited() {
    use autorepair_e2e::converse::{ConverseStandIn, Reply, oom_diagnosis};
    let stand_in = ConverseStandIn::start(vec![Reply::tool_use(oom_diagnosis(512))]);
    let env = env_for_stages(|c| {
        c.mode = autorepair::decide::MergeMode::Ai;
        c.ai.enabled = true;
        c.ai.endpoint_url = Some(stand_in.endpoint.clone());
    })
    .await;
    let w = oom_function(&env, "orders-ai").await;
    let event = raise(
        &env.sdk,
        &alarm_event("orders-ai-errors", "orders-ai", None, "ALARM", now_ms()),
    )
    .await;
    let (rules, ai, decided) = parse_to_decide(&env, &event).await;
    assert!(
        rules.get("ai").is_none(),
        "the rules branch does not ask the AI"
    );
    assert_eq!(ai["ai"]["status"], "answered");
    assert_eq!(
        ai["rules"], rules["rules"],
        "the AI branch runs no rule: the rules branch's runs, merged"
    );
    // The rules would have set 384 MB; in ai mode the AI's 512 MB is applied.
    let decided_run = stored(&env, &decided).await;
    let would = |by: &str| {
        decided_run["would_have"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["by"] == by)
            .map(|w| w["target_memory_mb"].clone())
    };
    assert_eq!(would("mode:rules"), Some(384.into()));
    assert_eq!(would("source:ai"), Some(512.into()));
    let (executed, recorded) = execute_to_record(&env, &w, decided).await;
    assert_eq!(executed["change"]["new_memory_mb"], 512);
    assert_eq!(recorded["status"], "repaired");

    let out = tokio::task::spawn_blocking({
        let envs = env.moto.env();
        move || {
            std::process::Command::new(autorepair_e2e::autorepair_bin())
                .args(["report", "--table", "autorepair-audit", "--format", "json"])
                .envs(envs)
                .env_remove("AUTOREPAIR_CONFIG")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["incidents"], 1);
    assert_eq!(
        report["agreement_rate"], 1.0,
        "both recommended more memory"
    );
    let source = |by: &str| {
        report["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["by"] == by)
            .cloned()
            .unwrap()
    };
    assert_eq!(source("source:ai")["applied"], 1);
    assert_eq!(source("source:ai")["improved"], 1);
    assert_eq!(
        source("mode:rules")["applied"],
        0,
        "384 MB was not what was applied"
    );
    assert_eq!(report["ai"]["answered"], 1);
    assert_eq!(report["rows"][0]["status"], "repaired");
}

mod faults {
    use super::*;
    use autorepair_e2e::faults::{Fault, FaultProxy};

    /// The env's context with `config`, talking to moto through `proxy`.
    fn via(env: &Env, proxy: &FaultProxy, attempts: u32, config: Config) -> Context {
        let sdk = aws_config::SdkConfig::builder()
            .endpoint_url(&proxy.endpoint)
            .region(env.sdk.region().cloned())
            .credentials_provider(env.sdk.credentials_provider().unwrap())
            .behavior_version(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(attempts))
            .build();
        context(&sdk, config, &env.traffic)
    }

    /// The env's context, but talking to moto through a fault-injecting proxy.
    async fn through(env: &Env, faults: Vec<Fault>) -> (FaultProxy, Context) {
        let proxy = FaultProxy::start(env.moto.port, faults);
        let ctx = via(env, &proxy, 2, env.ctx.config.clone());
        (proxy, ctx)
    }

    fn update_config(function: &str, status: u16, error_type: &'static str, times: usize) -> Fault {
        Fault {
            method: "PUT",
            path_prefix: format!("/2015-03-31/functions/{function}/configuration"),
            status,
            error_type,
            times,
        }
    }

    async fn run_through(ctx: &Context, event: &serde_json::Value) -> Run {
        pipeline::run(ctx, event, options(false)).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_409_conflict_is_retried_with_backoff() {
        let env = env().await;
        let w = oom_function(&env, "busy").await;
        let (proxy, ctx) = through(
            &env,
            vec![update_config("busy", 409, "ResourceConflictException", 2)],
        )
        .await;
        let event = raise(
            &env.sdk,
            &alarm_event("busy-errors", "busy", None, "ALARM", now_ms()),
        )
        .await;
        let run = run_through(&ctx, &event).await;
        assert_eq!(proxy.injected().len(), 2, "{:?}", proxy.injected());
        assert_eq!(
            run.change.as_ref().map(|c| c.new_memory_mb),
            Some(384),
            "{:#?}",
            run.failure
        );
        assert_eq!(w.memory_mb().await.unwrap(), 384);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_412_revision_mismatch_rereads_and_decides_again() {
        let env = env().await;
        let w = oom_function(&env, "raced").await;
        let (proxy, ctx) = through(
            &env,
            vec![update_config(
                "raced",
                412,
                "PreconditionFailedException",
                1,
            )],
        )
        .await;
        let event = raise(
            &env.sdk,
            &alarm_event("raced-errors", "raced", None, "ALARM", now_ms()),
        )
        .await;
        let run = run_through(&ctx, &event).await;
        assert_eq!(proxy.remaining(), 0);
        assert!(
            run.change.is_some(),
            "{:#?} {:#?}",
            run.failure,
            run.decision
        );
        assert_eq!(w.memory_mb().await.unwrap(), 384);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_persistent_5xx_ends_in_a_recorded_failure_without_a_change() {
        let env = env().await;
        let w = oom_function(&env, "broken").await;
        let (_proxy, ctx) = through(
            &env,
            vec![update_config("broken", 503, "ServiceException", 100)],
        )
        .await;
        let event = raise(
            &env.sdk,
            &alarm_event("broken-errors", "broken", None, "ALARM", now_ms()),
        )
        .await;
        let run = run_through(&ctx, &event).await;
        assert_eq!(run.status, Status::Failed);
        assert_eq!(
            run.failure.as_ref().map(|f| f.stage.name()),
            Some("execute")
        );
        assert_eq!(w.memory_mb().await.unwrap(), 256, "no half-applied change");
        let record = env.ctx.audit.get(&run.incident.id).await.unwrap().unwrap();
        assert_eq!(record.status, Status::Failed);
        assert!(record.document.contains("\"stage\":\"execute\""));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn throttled_reads_are_retried_by_the_sdk() {
        let env = env().await;
        let w = oom_function(&env, "throttled-read").await;
        let fault = Fault {
            method: "GET",
            path_prefix: "/2015-03-31/functions/throttled-read/configuration".into(),
            status: 429,
            error_type: "TooManyRequestsException",
            times: 1,
        };
        let (proxy, ctx) = through(&env, vec![fault]).await;
        let event = raise(
            &env.sdk,
            &alarm_event(
                "throttled-read-errors",
                "throttled-read",
                None,
                "ALARM",
                now_ms(),
            ),
        )
        .await;
        let run = run_through(&ctx, &event).await;
        assert_eq!(proxy.injected().len(), 1);
        assert!(run.failure.is_none(), "{:#?}", run.failure);
        assert_eq!(w.memory_mb().await.unwrap(), 384);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_source_slower_than_its_bound_is_a_recorded_failure() {
        let env = env().await;
        let w = oom_function(&env, "slow").await;
        // Every request takes 1.5 s; each collect source is bounded at 1 s.
        let proxy =
            FaultProxy::start_with_latency(env.moto.port, vec![], Duration::from_millis(1500));
        let sdk = aws_config::SdkConfig::builder()
            .endpoint_url(&proxy.endpoint)
            .region(env.sdk.region().cloned())
            .credentials_provider(env.sdk.credentials_provider().unwrap())
            .behavior_version(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        let mut config = env.ctx.config.clone();
        config.run.collect_timeout_seconds = 1;
        let ctx = context(&sdk, config, &env.traffic);
        let event = raise(
            &env.sdk,
            &alarm_event("slow-errors", "slow", None, "ALARM", now_ms()),
        )
        .await;
        let run = run_through(&ctx, &event).await;
        assert_eq!(run.status, Status::Failed);
        let failure = run.failure.clone().unwrap();
        assert_eq!(failure.stage.name(), "collect");
        assert!(failure.message.contains("timed out"), "{failure:?}");
        assert_eq!(w.memory_mb().await.unwrap(), 256);
        assert_eq!(
            env.ctx
                .audit
                .get(&run.incident.id)
                .await
                .unwrap()
                .unwrap()
                .status,
            Status::Failed
        );
    }
}

/// Hostile third-party rules in shadow beside the bundled ones, through the
/// whole loop against moto: one returns the most output each field allows,
/// one writes escapes into every text, one sleeps, one logs 32 MiB. The
/// bundled rules still decide, the record and the notice are complete, and
/// no text that reaches a person carries a control character.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_shadow_rules_leave_a_complete_record_a_notice_and_clean_text() {
    let env = env_with(|c| {
        for name in ["max-output", "escapes", "sleep-evaluate", "huge-log"] {
            let path = autorepair::testing::hostile::path(name);
            let bytes = std::fs::read(path).expect("hostile plugin built");
            c.plugins.push(autorepair::config::RuleConfig {
                source: path.to_owned(),
                sha256: Some(autorepair::digest::sha256_hex(&bytes)),
                signature: None,
                grants: autorepair::config::default_rule_grants(),
                cpu_budget_ms: None,
                memory_mib: None,
                shadow: true,
                veto_on_failure: false,
                allow_unsigned: false,
                rule: None,
                min_version: None,
            });
        }
    })
    .await;
    let w = oom_function(&env, "orders-hostile").await;
    let event = raise(
        &env.sdk,
        &alarm_event(
            "orders-hostile-errors",
            "orders-hostile",
            None,
            "ALARM",
            now_ms(),
        ),
    )
    .await;
    let run = run(&env, &event, false).await;
    assert_eq!(run.status, Status::Repaired, "{:#?}", run.plugin_failures);
    assert_eq!(
        w.memory_mb().await.unwrap(),
        384,
        "the bundled rules decided"
    );
    assert!(run.notification_id.is_some(), "the notice was delivered");

    let failed = |rule: &str| {
        run.plugin_failures
            .iter()
            .find(|f| f.rule == rule)
            .map(|f| f.cause.to_string())
            .unwrap_or_default()
    };
    assert!(failed("hostile-max-output").contains("output budget"));
    assert!(failed("hostile-sleep-evaluate").contains("may not block"));
    let escapes = run
        .findings
        .iter()
        .find(|f| f.source.to_string() == "rule:hostile-escapes")
        .expect("the escapes rule's finding is recorded");
    assert!(escapes.shadow);

    let record = env.ctx.audit.get(&run.incident.id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Repaired);
    let stored: Run = serde_json::from_str(&record.document).expect("a complete run document");
    assert_eq!(stored.findings.len(), run.findings.len());
    let (_, text) = autorepair::notify::notice(&stored);
    let mut texts: Vec<String> = vec![text.clone()];
    for f in &stored.findings {
        texts.push(f.finding.summary.clone());
        texts.extend(f.finding.evidence.iter().cloned());
        texts.push(f.finding.recommendation.to_string());
    }
    for r in &stored.rules {
        texts.extend(r.logs.iter().cloned());
    }
    texts.extend(stored.plugin_failures.iter().map(|f| f.cause.to_string()));
    for (i, s) in texts.iter().enumerate() {
        let what = if i == 0 { "notice" } else { "record" };
        let bad: Vec<char> = s
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{202e}').contains(c))
            .collect();
        assert!(bad.is_empty(), "{what} carries {bad:?}");
    }
    assert!(text.contains("all clear"), "the words remain: {text}");
}

/// Against CloudWatch itself: events naming an opted-in function that the
/// alarm's own state does not back change nothing and claim nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_alarm_events_change_nothing() {
    use autorepair::incident::IncidentError;
    use autorepair::origin::Unverified;
    let env = env().await;
    let w = oom_function(&env, "coveted").await;
    let refused = |r: Result<Run, IncidentError>| match r {
        Err(IncidentError::Unverified(why)) => why,
        other => panic!("a forged event was taken: {other:?}"),
    };
    let now = now_ms();
    let forged = alarm_event("coveted-errors", "coveted", None, "ALARM", now);
    // No such alarm.
    assert!(matches!(
        refused(pipeline::run(&env.ctx, &forged, options(false)).await),
        Unverified::NoSuchAlarm(_)
    ));
    // The alarm exists and is in OK: no change to ALARM at the event's time
    // (moto has no alarm history: that question cannot be answered, and an
    // unanswered question refuses too).
    raise(
        &env.sdk,
        &alarm_event("coveted-errors", "coveted", None, "OK", now),
    )
    .await;
    let why = refused(pipeline::run(&env.ctx, &forged, options(false)).await);
    assert!(
        matches!(
            why,
            Unverified::NoSuchChange { .. } | Unverified::Unreadable(_)
        ),
        "{why}"
    );
    // A real ALARM, replayed with an old out-of-memory's window.
    let real = raise(
        &env.sdk,
        &alarm_event("coveted-errors", "coveted", None, "ALARM", now),
    )
    .await;
    let mut old = real.clone();
    old["detail"]["state"]["timestamp"] = autorepair_e2e::iso(now - 3_600_000).into();
    assert!(matches!(
        refused(pipeline::run(&env.ctx, &old, options(false)).await),
        Unverified::TooOld { .. }
    ));
    assert!(env.ctx.audit.records().await.unwrap().is_empty());
    assert_eq!(w.memory_mb().await.unwrap(), 256);
    // The real one is taken.
    let run = pipeline::run(&env.ctx, &real, options(false))
        .await
        .unwrap();
    assert_eq!(run.status, Status::Repaired, "{:#?}", run.decision);
}

/// The real DynamoDB adapter with one fault moto cannot time by itself: the
/// first commit of each Parallel branch waits until the other branch has
/// reached its own, so both commit on the same version at the same moment.
/// Counts the commits that lost.
struct BranchRendezvous {
    inner: Arc<dyn autorepair::ports::AuditStore>,
    barrier: tokio::sync::Barrier,
    waited: std::sync::Mutex<Vec<Stage>>,
    lost: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl autorepair::ports::AuditStore for BranchRendezvous {
    async fn claim(
        &self,
        id: &str,
        function: &str,
        json: &str,
        now: i64,
    ) -> Result<autorepair::ports::Claim, autorepair::ports::AuditError> {
        self.inner.claim(id, function, json, now).await
    }
    async fn update(
        &self,
        id: &str,
        status: Status,
        json: &str,
        now: i64,
    ) -> Result<(), autorepair::ports::AuditError> {
        self.inner.update(id, status, json, now).await
    }
    async fn update_at(
        &self,
        id: &str,
        version: u64,
        status: Status,
        json: &str,
        now: i64,
    ) -> Result<autorepair::ports::Claim, autorepair::ports::AuditError> {
        self.inner.update_at(id, version, status, json, now).await
    }
    async fn commit(
        &self,
        id: &str,
        stage: Stage,
        status: Status,
        json: &str,
        expected: u64,
        now: i64,
    ) -> Result<autorepair::ports::Claim, autorepair::ports::AuditError> {
        let first = matches!(stage, Stage::Rules | Stage::Ai) && {
            let mut waited = self.waited.lock().unwrap();
            let first = !waited.contains(&stage);
            waited.push(stage);
            first
        };
        if first {
            self.barrier.wait().await;
        }
        let claim = self
            .inner
            .commit(id, stage, status, json, expected, now)
            .await?;
        if claim == autorepair::ports::Claim::Taken {
            self.lost.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(claim)
    }
    async fn get(
        &self,
        id: &str,
    ) -> Result<Option<autorepair::ports::StoredRecord>, autorepair::ports::AuditError> {
        self.inner.get(id).await
    }
    async fn lock(
        &self,
        function: &str,
        id: &str,
        now: i64,
        ttl: i64,
    ) -> Result<autorepair::ports::Claim, autorepair::ports::AuditError> {
        self.inner.lock(function, id, now, ttl).await
    }
    async fn unlock(&self, function: &str, id: &str) -> Result<(), autorepair::ports::AuditError> {
        self.inner.unlock(function, id).await
    }
    async fn record_change(
        &self,
        function: &str,
        change: &autorepair::model::RecordedChange,
    ) -> Result<(), autorepair::ports::AuditError> {
        self.inner.record_change(function, change).await
    }
    async fn list_changes(
        &self,
        function: &str,
        since: Option<i64>,
    ) -> Result<Vec<autorepair::model::RecordedChange>, autorepair::ports::AuditError> {
        self.inner.list_changes(function, since).await
    }
    async fn records(&self) -> Result<Vec<String>, autorepair::ports::AuditError> {
        self.inner.records().await
    }
    async fn pauses(&self) -> Result<Vec<autorepair::model::Pause>, autorepair::ports::AuditError> {
        self.inner.pauses().await
    }
    async fn pause(
        &self,
        pause: &autorepair::model::Pause,
    ) -> Result<(), autorepair::ports::AuditError> {
        self.inner.pause(pause).await
    }
    async fn resume(&self, function: Option<&str>) -> Result<bool, autorepair::ports::AuditError> {
        self.inner.resume(function).await
    }
    async fn remember(
        &self,
        incident: &autorepair::model::PastIncident,
    ) -> Result<(), autorepair::ports::AuditError> {
        self.inner.remember(incident).await
    }
    async fn past_incidents(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<Vec<autorepair::model::PastIncident>, autorepair::ports::AuditError> {
        self.inner.past_incidents(function, limit).await
    }
    async fn similar_incidents(
        &self,
        runtime: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<autorepair::model::PastIncident>, autorepair::ports::AuditError> {
        self.inner.similar_incidents(runtime, kind, limit).await
    }
    async fn notice_slot(
        &self,
        function: &str,
        hour: i64,
        max: u32,
    ) -> Result<bool, autorepair::ports::AuditError> {
        self.inner.notice_slot(function, hour, max).await
    }
}

/// The Rules and AI branches commit their findings at the same moment on
/// DynamoDB: one wins the version, the other reloads, merges and commits on
/// the next — both views land, in either order, and decide reads both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_branches_committing_at_once_both_land() {
    use autorepair_e2e::converse::{ConverseStandIn, Reply, oom_diagnosis};
    let stand_in = ConverseStandIn::start(vec![Reply::tool_use(oom_diagnosis(512))]);
    let env = env_for_stages(|c| {
        c.ai.enabled = true;
        c.ai.endpoint_url = Some(stand_in.endpoint.clone());
    })
    .await;
    let _w = oom_function(&env, "orders-parallel").await;
    let rendezvous = Arc::new(BranchRendezvous {
        inner: env.ctx.audit.clone(),
        barrier: tokio::sync::Barrier::new(2),
        waited: Default::default(),
        lost: Default::default(),
    });
    let mut ctx = context(&env.sdk, env.ctx.config.clone(), &env.traffic);
    ctx.audit = rendezvous.clone();
    let ctx = Arc::new(ctx);
    let event = raise(
        &env.sdk,
        &alarm_event(
            "orders-parallel-errors",
            "orders-parallel",
            None,
            "ALARM",
            now_ms(),
        ),
    )
    .await;
    let execution = env.moto.start_execution(&env.machine);
    let request = |payload: serde_json::Value| -> pipeline::StageRequest {
        serde_json::from_value(payload).unwrap()
    };
    let parsed = pipeline::stage(
        &ctx,
        request(serde_json::json!({"stage": "parse", "event": event, "execution": execution})),
    )
    .await
    .unwrap();
    let branch = |name: &str| {
        let (ctx, req) = (
            ctx.clone(),
            request(
                serde_json::json!({"stage": name, "incident": parsed.incident,
                "version": parsed.version, "execution": execution}),
            ),
        );
        tokio::spawn(async move { pipeline::stage(&ctx, req).await })
    };
    let (rules, ai) = tokio::join!(branch("rules"), branch("ai"));
    rules.unwrap().expect("the rules branch lands");
    ai.unwrap().expect("the AI branch lands");
    assert_eq!(
        rendezvous.lost.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one branch lost the version and merged"
    );
    let record = env.ctx.audit.get(&parsed.incident).await.unwrap().unwrap();
    let mut stages: Vec<&str> = record.stages.iter().map(|s| s.name()).collect();
    stages.sort_unstable();
    assert_eq!(stages, ["ai", "parse", "rules"]);
    let run: serde_json::Value = serde_json::from_str(&record.document).unwrap();
    assert_eq!(run["ai"]["status"], "answered", "the AI's view kept");
    assert!(
        !run["rules"].as_array().unwrap().is_empty(),
        "the rules' view kept"
    );
    let decided = pipeline::stage(
        &ctx,
        request(
            serde_json::json!({"stage": "decide", "incident": parsed.incident,
            "version": parsed.version, "execution": execution}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(decided.action, "set_memory");
}

/// A function named by its name in one alarm and by its ARN in another,
/// both firing at once: one lock, one change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_and_arn_of_one_function_race_and_one_step_goes_through() {
    let env = env().await;
    let w = oom_function(&env, "orders-named").await;
    let now = now_ms();
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:orders-named",
        autorepair_e2e::moto::REGION,
        autorepair_e2e::moto::ACCOUNT
    );
    let a = raise(
        &env.sdk,
        &alarm_event("orders-named-errors", "orders-named", None, "ALARM", now),
    )
    .await;
    let b = raise(
        &env.sdk,
        &alarm_event("orders-named-by-arn", &arn, None, "ALARM", now),
    )
    .await;
    let (ra, rb) = race(&env, a, b).await;
    assert_eq!(ra.incident.function_name, rb.incident.function_name);
    let changes = [&ra, &rb].iter().filter(|r| r.change.is_some()).count();
    assert_eq!(changes, 1, "{:?} / {:?}", ra.status, rb.status);
    assert_eq!(w.memory_mb().await.unwrap(), 384);
}
