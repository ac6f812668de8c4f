//! The grounded AI with its real clients: Bedrock's Converse multi-turn
//! investigation reading log lines from moto through the real CloudWatch
//! Logs client; the OpenAI-compatible provider against a Chat Completions
//! stand-in (answers, tool calls, error shapes); knowledge-base passages
//! through the real aws-sdk-bedrockagentruntime client against a Retrieve
//! stand-in; recent changes through the real aws-sdk-cloudtrail client
//! against a LookupEvents stand-in, named in the notice.

use std::sync::Arc;

use autorepair::ai::investigate::{self, Sources};
use autorepair::ai::{AiDiagnoser, AiStatus, Diagnoser};
use autorepair::aws::bedrock::Bedrock;
use autorepair::aws::cloudtrail::CloudTrail;
use autorepair::aws::knowledge::KnowledgeBase;
use autorepair::aws::telemetry::CloudWatch;
use autorepair::config::{AiConfig, Provider};
use autorepair::model::Evidence;
use autorepair::ports::{ChangeLog, Telemetry};
use autorepair_e2e::Moto;
use autorepair_e2e::cloudtrail::CloudTrailStandIn;
use autorepair_e2e::converse::{ConverseStandIn, Reply, oom_diagnosis};
use autorepair_e2e::knowledge::{self, KnowledgeBaseStandIn};
use autorepair_e2e::openai::{self, OpenAiStandIn};
use autorepair_e2e::workload::put_log_events;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::json;

fn evidence() -> Evidence {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/corpus/01-oom-node20-orders-api.json");
    autorepair::replay::load_case(&path)
        .expect("corpus file loads")
        .evidence
}

async fn sdk(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"));
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

fn config(endpoint: &str) -> AiConfig {
    AiConfig {
        enabled: true,
        endpoint_url: Some(endpoint.to_owned()),
        backoff_base_ms: 20,
        ..AiConfig::default()
    }
}

#[tokio::test]
async fn a_bedrock_investigation_reads_the_functions_logs_from_moto_then_submits() {
    let mut e = evidence();
    // Logs keeps no event older than 14 days: the incident is now.
    e.window = autorepair::evidence::window_before(autorepair::clock::now_ms(), 30);
    let moto = Moto::start();
    let aws_sdk = moto.sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&aws_sdk);
    let group = e.function.log_group();
    logs.create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(&group)
        .log_stream_name("s")
        .send()
        .await
        .unwrap();
    let at = e.window.end_ms - 120_000;
    put_log_events(
        &logs,
        &group,
        "s",
        &[
            (at, "INFO cache warmed with 180 MB of catalogue".into()),
            (
                at + 1,
                "FATAL heap limit reached while loading catalogue".into(),
            ),
        ],
    )
    .await
    .unwrap();
    let telemetry: Arc<dyn Telemetry> = Arc::new(CloudWatch::new(
        aws_sdk_cloudwatch::Client::new(&aws_sdk),
        logs,
    ));

    let stand_in = ConverseStandIn::start(vec![
        Reply::tools(&[(
            investigate::LOG_LINES,
            json!({"filter_pattern": "catalogue", "minutes_before_alarm": 10}),
        )]),
        Reply::tool_use(oom_diagnosis(1024)),
    ]);
    let config = config(&stand_in.endpoint);
    let model = Arc::new(Bedrock::new(&sdk(None).await, &config));
    let run = Diagnoser::new(model, &config)
        .with_sources(Sources {
            telemetry: Some(telemetry),
            ..Sources::default()
        })
        .diagnose(&e)
        .await;
    assert_eq!(run.status, AiStatus::Answered, "{:?}", run.reason);
    assert_eq!(run.tool_calls.len(), 1);
    assert_eq!(run.tool_calls[0].outcome, "ok");

    let received = stand_in.received();
    assert_eq!(received.len(), 2);
    let first = &received[0].body;
    assert!(
        first["toolConfig"]["toolChoice"]["any"].is_object(),
        "{first}"
    );
    let names: Vec<&str> = first["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["toolSpec"]["name"].as_str())
        .collect();
    assert!(
        names.contains(&"submit_diagnosis") && names.contains(&"log_lines"),
        "{names:?}"
    );
    // The second request: the model's call, then its result from moto.
    let messages = received[1].body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"][0]["toolUse"]["name"], "log_lines");
    let result = &messages[2]["content"][0]["toolResult"];
    assert_eq!(
        result["toolUseId"],
        messages[1]["content"][0]["toolUse"]["toolUseId"]
    );
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("heap limit reached") && text.contains("cache warmed"),
        "{text}"
    );
}

#[tokio::test]
async fn the_openai_provider_speaks_chat_completions_with_its_key() {
    // SAFETY: the variable is this test's own; no other test reads it.
    unsafe { std::env::set_var("AUTOREPAIR_TEST_OPENAI_KEY", "sk-test-123") };
    let stand_in = OpenAiStandIn::start(vec![
        openai::error(429, "rate_limit_exceeded", "slow down"),
        openai::diagnosis(oom_diagnosis(1024)),
    ]);
    let config = AiConfig {
        enabled: true,
        provider: Provider::OpenAi,
        model_id: "llama3.1:8b".into(),
        base_url: Some(stand_in.base_url.clone()),
        api_key_env: "AUTOREPAIR_TEST_OPENAI_KEY".into(),
        backoff_base_ms: 20,
        ..AiConfig::default()
    };
    let mut whole = autorepair::config::Config {
        ai: config.clone(),
        ..Default::default()
    };
    let aws = autorepair::aws::Aws::new(&sdk(None).await);
    let model = autorepair::setup::model(&aws, &whole).expect("the provider is set up");
    let run = Diagnoser::new(model, &config).diagnose(&evidence()).await;
    assert_eq!(run.status, AiStatus::Answered, "{:?}", run.reason);
    assert_eq!(run.attempts, 2, "the 429 was retried");
    assert_eq!((run.input_tokens, run.output_tokens), (1400, 90));
    assert_eq!(run.provider, "openai");

    let sent = stand_in.received();
    assert_eq!(sent[1].path, "/v1/chat/completions");
    assert_eq!(sent[1].header("authorization"), Some("Bearer sk-test-123"));
    let body = &sent[1].body;
    assert_eq!(body["model"], "llama3.1:8b");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["tool_choice"]["function"]["name"], "submit_diagnosis");
    assert_eq!(body["tools"][0]["function"]["name"], "submit_diagnosis");

    // A key refused is not retried, and says so.
    let refusing = OpenAiStandIn::start(vec![openai::error(
        401,
        "invalid_api_key",
        "Incorrect API key provided",
    )]);
    let config = AiConfig {
        base_url: Some(refusing.base_url.clone()),
        ..config
    };
    whole.ai = config.clone();
    let model = autorepair::setup::model(&aws, &whole).unwrap();
    let run = Diagnoser::new(model, &config).diagnose(&evidence()).await;
    assert_eq!(run.status, AiStatus::Failed);
    assert_eq!(run.attempts, 1);
    let reason = run.reason.unwrap();
    assert!(
        reason.contains("401") && reason.contains("Incorrect API key"),
        "{reason}"
    );
    assert!(!reason.contains("sk-test-123"));
}

/// Asks Converse (a stand-in answering "out of memory") about the corpus
/// incident, grounded in the knowledge base `KB12345678` at `kb_endpoint`.
async fn ask_with_knowledge(kb_endpoint: &str) -> (autorepair::ai::AiRun, ConverseStandIn) {
    let converse = ConverseStandIn::start(vec![Reply::tool_use(oom_diagnosis(1024))]);
    let mut config = config(&converse.endpoint);
    config.knowledge_base_id = Some("KB12345678".into());
    config.knowledge_passages = 2;
    let model = Arc::new(Bedrock::new(&sdk(None).await, &config));
    let knowledge = Arc::new(KnowledgeBase::new(
        &sdk(Some(kb_endpoint)).await,
        &config,
        "KB12345678",
    ));
    let run = Diagnoser::new(model, &config)
        .with_knowledge(knowledge)
        .diagnose(&evidence())
        .await;
    (run, converse)
}

#[tokio::test]
async fn knowledge_base_passages_reach_the_prompt_and_are_cited() {
    let kb = KnowledgeBaseStandIn::start(vec![knowledge::results(vec![
        knowledge::passage(
            "Node.js out of memory: raise memory one step and set --max-old-space-size.",
            "s3://team-runbooks/lambda/oom.md",
            0.83,
        ),
        knowledge::passage(
            "Timeouts: check the downstream first.",
            "s3://team-runbooks/lambda/timeouts.md",
            0.41,
        ),
    ])]);
    let (run, converse) = ask_with_knowledge(&kb.endpoint).await;
    assert_eq!(run.status, AiStatus::Answered, "{:?}", run.reason);
    assert_eq!(
        run.grounding.passages,
        [
            "s3://team-runbooks/lambda/oom.md",
            "s3://team-runbooks/lambda/timeouts.md"
        ]
    );

    let retrieve = &kb.received()[0];
    assert_eq!(retrieve.path, "/knowledgebases/KB12345678/retrieve");
    let query = retrieve.body["retrievalQuery"]["text"].as_str().unwrap();
    assert!(
        query.contains("nodejs20.x") && query.contains("memory-exhaustion"),
        "{query}"
    );
    assert_eq!(
        retrieve.body["retrievalConfiguration"]["vectorSearchConfiguration"]["numberOfResults"],
        2
    );
    let user = converse.received()[0].body["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let open = user.find("<untrusted-logs-").unwrap();
    let at = user
        .find("--max-old-space-size")
        .expect("the passage is in the prompt");
    assert!(open < at, "the passage is outside the untrusted block");
    assert!(user.contains("[s3://team-runbooks/lambda/oom.md]"));

    // A knowledge base that refuses leaves a note, not a failed diagnosis.
    let denied = KnowledgeBaseStandIn::start(vec![knowledge::error(
        403,
        "AccessDeniedException",
        "not authorized to perform bedrock:Retrieve",
    )]);
    let (run, _) = ask_with_knowledge(&denied.endpoint).await;
    assert_eq!(run.status, AiStatus::Answered);
    let note = run.grounding.knowledge_note.unwrap();
    assert!(note.contains("AccessDenied"), "{note}");
}

#[tokio::test]
async fn recent_deployments_come_from_cloudtrail_and_reach_the_notice() {
    let trail = CloudTrailStandIn::start();
    let alarm_ms = 1_767_225_600_000;
    trail.record(
        "UpdateFunctionCode20150331v2",
        "orders-api",
        alarm_ms - 12 * 60_000,
        "deploy-bot",
    );
    trail.record(
        "GetFunction20150331v2",
        "orders-api",
        alarm_ms - 5 * 60_000,
        "console",
    );
    trail.record(
        "UpdateFunctionConfiguration20150331v2",
        "orders-api",
        alarm_ms - 3 * 3_600_000,
        "alice",
    );
    trail.record(
        "UpdateFunctionCode20150331v2",
        "payments",
        alarm_ms - 60_000,
        "deploy-bot",
    );
    trail.record(
        "UpdateFunctionCode20150331v2",
        "orders-api",
        alarm_ms - 2 * 86_400_000,
        "deploy-bot",
    );
    let log = CloudTrail::new(aws_sdk_cloudtrail::Client::new(
        &sdk(Some(&trail.endpoint)).await,
    ));
    let changes = log
        .changes(
            "orders-api",
            autorepair::model::Window {
                start_ms: alarm_ms - 86_400_000,
                end_ms: alarm_ms,
            },
        )
        .await
        .expect("LookupEvents answers");
    let actions: Vec<&str> = changes.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        ["UpdateFunctionCode", "UpdateFunctionConfiguration"]
    );
    assert_eq!(changes[0].by, "deploy-bot");
    assert!(changes[0].request_id.starts_with("stand-in-request-"));
    let lookup = &trail.lookups.lock().unwrap()[0];
    assert_eq!(
        lookup["LookupAttributes"][0]["AttributeKey"],
        "ResourceName"
    );
    assert_eq!(
        lookup["LookupAttributes"][0]["AttributeValue"],
        "orders-api"
    );

    let line = autorepair::notify::recent_change(&changes, alarm_ms).unwrap();
    assert_eq!(
        line,
        "Code deployed 12 min before the alarm (UpdateFunctionCode by deploy-bot); 2 change(s) in the day before"
    );
}

/// `autorepair eval` on the labelled corpus with an OpenAI-compatible
/// stand-in as the model: the published table, in Markdown and HTML, with
/// the stand-in's numbers under its own name.
#[test]
fn eval_writes_the_table_a_team_would_publish() {
    let stand_in = OpenAiStandIn::start(vec![openai::diagnosis(oom_diagnosis(1024))]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("autorepair.toml");
    std::fs::write(
        &config,
        format!(
            "[ai]\nenabled = true\nprovider = \"openai\"\nmodel_id = \"stand-in\"\nbase_url = \"{}\"\n",
            stand_in.base_url
        ),
    )
    .unwrap();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus");
    let out_dir = dir.path().join("eval");
    let out = autorepair_e2e::autorepair_command([
        "--no-cache",
        "--config",
        config.to_str().unwrap(),
        "eval",
    ])
    .arg(&corpus)
    .args(["--out", out_dir.to_str().unwrap(), "--jobs", "2"])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let incidents = autorepair::replay::load_dir(&corpus).unwrap().len();
    let md = std::fs::read_to_string(out_dir.join("eval.md")).unwrap();
    assert!(
        md.contains(&format!("Model: openai stand-in at {}.", stand_in.base_url)),
        "{md}"
    );
    for row in ["| mode:rules |", "| source:ai |", "## Confusion: source:ai"] {
        assert!(md.contains(row), "no {row:?}:\n{md}");
    }
    assert!(
        md.contains(&format!(
            "| answered / discarded / failed | {incidents} / 0 / 0 |"
        )),
        "{md}"
    );
    assert!(
        md.contains("| tokens per incident (in / out) | 1400 / 90 |"),
        "{md}"
    );
    assert!(
        md.contains("| agreement with the rules (labelled incidents) |"),
        "{md}"
    );
    // The AI said "1024 MB" every time: it cannot be right on every label.
    let ai_row = md.lines().find(|l| l.starts_with("| source:ai |")).unwrap();
    assert!(!ai_row.contains("100%"), "{ai_row}");
    let html = std::fs::read_to_string(out_dir.join("eval.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && !html.contains("<script"));
    assert!(html.matches("<table>").count() >= 3, "{html}");
    assert!(html.contains("<caption>Accuracy against the labels</caption>"));
    assert_eq!(
        stand_in.received().len(),
        incidents,
        "one question per incident"
    );
}

/// The key kept in Secrets Manager (moto's), read once, sent as the bearer;
/// a secret that cannot be read fails the AI side with why, never the run.
#[tokio::test]
async fn the_openai_key_can_come_from_secrets_manager() {
    let moto = Moto::start();
    let aws_sdk = moto.sdk_config().await;
    aws_sdk_secretsmanager::Client::new(&aws_sdk)
        .create_secret()
        .name("autorepair/openai")
        .secret_string(r#"{"api_key": "sk-from-the-secret"}"#)
        .send()
        .await
        .unwrap();
    let stand_in = OpenAiStandIn::start(vec![openai::diagnosis(oom_diagnosis(1024))]);
    let config = AiConfig {
        enabled: true,
        provider: Provider::OpenAi,
        model_id: "gpt-4o-mini".into(),
        base_url: Some(stand_in.base_url.clone()),
        api_key_secret: Some("autorepair/openai".into()),
        ..AiConfig::default()
    };
    let whole = autorepair::config::Config {
        ai: config.clone(),
        ..Default::default()
    };
    let aws = autorepair::aws::Aws::new(&aws_sdk);
    let model = autorepair::setup::model(&aws, &whole).unwrap();
    let diagnoser = Diagnoser::new(model, &config);
    for _ in 0..2 {
        let run = diagnoser.diagnose(&evidence()).await;
        assert_eq!(run.status, AiStatus::Answered, "{:?}", run.reason);
    }
    for sent in stand_in.received() {
        assert_eq!(
            sent.header("authorization"),
            Some("Bearer sk-from-the-secret")
        );
    }

    let missing = autorepair::config::Config {
        ai: AiConfig {
            api_key_secret: Some("autorepair/nothing-here".into()),
            ..config.clone()
        },
        ..Default::default()
    };
    let model = autorepair::setup::model(&aws, &missing).unwrap();
    let run = Diagnoser::new(model, &missing.ai)
        .diagnose(&evidence())
        .await;
    assert_eq!(run.status, AiStatus::Failed);
    let reason = run.reason.unwrap();
    assert!(reason.contains("autorepair/nothing-here"), "{reason}");
    assert_eq!(run.attempts, 1, "a missing key is not retried");
}
