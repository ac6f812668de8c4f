//! `replay` over the labelled corpus in tests/fixtures/corpus, and `report` on
//! what it records: the library with the real bundled rules, and the CLI as a
//! user runs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use autorepair::ai::{AiDiagnoser, Diagnoser};
use autorepair::aws::bedrock::Bedrock;
use autorepair::comparison::{self, Record, RecordWriter};
use autorepair::config::Config;
use autorepair::decide::{Action, MergeMode};
use autorepair::replay::{self, Case, Options};
use autorepair::rules::{Compiler, RuleSet, Sandbox};
use autorepair_e2e::autorepair_command;
use autorepair_e2e::converse::{ConverseStandIn, Reply, oom_diagnosis};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus")
}

fn corpus() -> Vec<Case> {
    replay::load_dir(&corpus_dir()).expect("the corpus loads")
}

fn rules(config: &Config) -> RuleSet {
    let compiler = Compiler::new(Arc::new(Sandbox::new(64).expect("sandbox")), None);
    RuleSet::load(&compiler, &config.rule_specs().0)
}

fn replay_all(config: &Config, cases: &[Case], ai: Option<&dyn AiDiagnoser>) -> Vec<Record> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stop = AtomicBool::new(false);
    let options = Options {
        mode: MergeMode::Rules,
        jobs: 2,
        ai: ai.map(|b| (b, runtime.handle().clone())),
        stop: &stop,
    };
    let mut records = Vec::new();
    let done = replay::replay(&rules(config), config, cases, &options, |r| {
        records.push(r);
        Ok::<_, std::convert::Infallible>(())
    })
    .unwrap();
    assert_eq!(done, cases.len());
    records
}

#[test]
fn the_corpus_covers_what_it_promises() {
    let cases = corpus();
    assert!(cases.len() >= 30, "{} incidents", cases.len());
    assert!(
        cases.iter().all(|c| c.label.is_some()),
        "every incident is labelled"
    );
    let runtimes: BTreeSet<&str> = cases
        .iter()
        .map(|c| c.evidence.function.runtime.as_str())
        .collect();
    for r in [
        "nodejs20.x",
        "python3.12",
        "java21",
        "dotnet8",
        "ruby3.3",
        "provided.al2023",
    ] {
        assert!(runtimes.contains(r), "no {r} incident");
    }
    let json_logs = cases
        .iter()
        .filter(|c| {
            c.evidence
                .logs
                .iter()
                .any(|l| l.message.contains("\"platform.report\""))
        })
        .count();
    assert!(
        json_logs >= 5 && json_logs < cases.len(),
        "{json_logs} with JSON logs"
    );
    let injected = cases
        .iter()
        .filter(|c| {
            c.evidence
                .logs
                .iter()
                .any(|l| l.message.contains("IGNORE PREVIOUS INSTRUCTIONS"))
        })
        .count();
    assert!(injected >= 2, "{injected} with prompt injection");
    for action in [Action::SetMemory, Action::None, Action::Escalate] {
        assert!(
            cases
                .iter()
                .any(|c| c.label.as_ref().unwrap().action == action)
        );
    }
}

/// The scenario of a corpus file: `11-leak-node20-….json` → `leak`,
/// `53-real-timeout-vpc-….json` → `real-timeout`.
fn scenario(id: &str) -> String {
    let mut words = id.split('-').skip(1);
    match words.next() {
        Some("real") => format!("real-{}", words.next().unwrap_or_default()),
        Some(word) => word.to_owned(),
        None => String::new(),
    }
}

/// The bundled rules against the labels: at least 95 % right overall, every
/// scenario's score shown, and never a memory change where the cause is not
/// memory.
#[test]
fn the_bundled_rules_score_on_the_labelled_corpus() {
    let config = Config::default();
    let records = replay_all(&config, &corpus(), None);
    let matrices = replay::confusion(&records);
    let rules = matrices
        .iter()
        .find(|m| m.by == "mode:rules")
        .expect("a rules matrix");
    assert_eq!(rules.labelled, records.len());
    // Per scenario: (right, of).
    let mut scores: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut wrong_changes = Vec::new();
    for r in &records {
        let label = r.label.as_ref().expect("labelled");
        let decision = r.decision.as_ref().expect("decided");
        let right = label.accepts(decision.action, decision.target_memory_mb);
        let score = scores.entry(scenario(&r.id)).or_default();
        score.0 += usize::from(right);
        score.1 += 1;
        if label.action != Action::SetMemory && decision.action == Action::SetMemory {
            wrong_changes.push(format!("{}: {}", r.id, label.why));
        }
    }
    let table: String = scores
        .iter()
        .map(|(kind, (right, of))| format!("{kind}: {right}/{of}\n"))
        .collect();
    eprintln!("{table}");
    assert!(
        rules.accuracy() >= 0.95,
        "{table}{}",
        replay::confusion_text(&matrices)
    );
    // No memory change for a cause that is not memory: not one.
    assert!(wrong_changes.is_empty(), "{wrong_changes:#?}");
    // Every scenario right, but for the one real leak whose five reports
    // show a jump and a plateau rather than a climb (corpus README).
    for (kind, (right, of)) in &scores {
        let allowed_misses = usize::from(kind == "real-leak");
        assert!(
            right + allowed_misses >= *of,
            "{kind}: {right}/{of}\n{table}"
        );
    }
    // The cases that used to go wrong: leaks, user text that looks like an
    // OOM, a runtime killed after its timeout (`60`, real).
    for r in &records {
        let decided = r.decision.as_ref().unwrap().action;
        match scenario(&r.id).as_str() {
            "leak" => assert_eq!(decided, Action::Escalate, "{}", r.id),
            _ if r.id.starts_with("49-") => assert_eq!(decided, Action::None, "{}", r.id),
            _ if r.id.starts_with("60-") => assert_eq!(decided, Action::Escalate, "{}", r.id),
            _ => {}
        }
    }
    // One matrix per source; without the AI, the other modes would only
    // restate the rules and are left out.
    for by in ["source:rule:oom", "source:rule:timeouts"] {
        assert!(matrices.iter().any(|m| m.by == by), "no {by} matrix");
    }
    assert!(!matrices.iter().any(|m| m.by == "mode:consensus"));
}

/// The AI answers "set 1024 MB" to everything: its matrix shows it, the
/// report shows where it and the rules disagree.
#[test]
fn the_ai_is_replayed_and_compared_when_enabled() {
    let stand_in = ConverseStandIn::start(vec![Reply::tool_use(oom_diagnosis(1024))]);
    let mut config = Config::default();
    config.ai.enabled = true;
    config.ai.endpoint_url = Some(stand_in.endpoint.clone());
    let sdk = tokio::runtime::Runtime::new().unwrap().block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load(),
    );
    let bedrock = Diagnoser::new(Arc::new(Bedrock::new(&sdk, &config.ai)), &config.ai);
    let cases: Vec<Case> = corpus().into_iter().take(12).collect();
    let records = replay_all(&config, &cases, Some(&bedrock));
    assert_eq!(stand_in.received().len(), 12);
    assert!(records.iter().all(|r| r.ai.is_some()));
    let matrices = replay::confusion(&records);
    let ai = matrices
        .iter()
        .find(|m| m.by == "source:ai")
        .expect("an AI matrix");
    assert_eq!(ai.labelled, 12);
    for mode in MergeMode::ALL {
        assert!(
            matrices.iter().any(|m| m.by == format!("mode:{mode}")),
            "no {mode} matrix"
        );
    }
    let report = autorepair::report::build(&records, config.pricing.lambda_usd_per_gb_second);
    assert_eq!(report.compared, 12);
    let rate = report.agreement_rate.unwrap();
    assert!(
        rate > 0.0 && rate < 1.0,
        "the rules escalate some of these: {rate}"
    );
    assert_eq!(report.ai.answered, 12);
}

#[test]
fn a_stopped_replay_keeps_every_record_it_finished() {
    let config = Config::default();
    let cases = corpus();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.jsonl");
    let mut writer = RecordWriter::append(&path).unwrap();
    let stop = AtomicBool::new(false);
    let options = Options {
        mode: MergeMode::Rules,
        jobs: 2,
        ai: None,
        stop: &stop,
    };
    let mut seen = 0;
    let done = replay::replay(&rules(&config), &config, &cases, &options, |r| {
        writer.write(&r)?;
        seen += 1;
        if seen == 5 {
            // What the Ctrl-C handler does.
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok::<_, comparison::RecordError>(())
    })
    .unwrap();
    assert!((5..cases.len()).contains(&done), "{done} replayed");
    let back = comparison::read_jsonl(&path).unwrap();
    assert_eq!(back.len(), done, "every finished record is on disk, whole");
}

fn cli(args: &[&str]) -> std::process::Output {
    autorepair_command(["--no-cache"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn replay_then_report_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records.jsonl");
    let corpus_path = corpus_dir();
    let out = cli(&[
        "replay",
        corpus_path.to_str().unwrap(),
        "--record",
        records.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mode:rules:") && text.contains("expected \\ decided"),
        "{text}"
    );
    let n = corpus().len();
    assert_eq!(comparison::read_jsonl(&records).unwrap().len(), n);

    let report = |format: &str| {
        let out = cli(&[
            "report",
            "--records",
            records.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&report("json")).unwrap();
    assert_eq!(json["incidents"], n);
    let text = report("text");
    assert!(text.contains(&format!("{n} incidents")), "{text}");
    let md = report("markdown");
    assert!(md.starts_with("# autorepair: AI against rules"), "{md}");
    // A row starts with its incident's date: `| 2026-01-08 …`.
    let rows = md
        .lines()
        .filter(|l| {
            let b = l.as_bytes();
            b.len() > 7
                && l.starts_with("| ")
                && b[2..6].iter().all(u8::is_ascii_digit)
                && b[6] == b'-'
        })
        .count();
    assert!(rows >= n, "one row per incident: {rows} of {n}");
    let html_path = dir.path().join("report.html");
    let out = cli(&[
        "report",
        "--records",
        records.to_str().unwrap(),
        "--format",
        "html",
        "--output",
        html_path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let html = std::fs::read_to_string(&html_path).unwrap();
    // Replayed without the AI (as the demo's runs are): the outcomes are
    // drawn; the agreement, with nothing to compare, is said in words — no
    // empty chart, no time axis from 1970.
    assert_eq!(html.matches("<svg").count(), 1);
    let agreement = &html[html.find("id=\"agreement-over-time\"").unwrap()..];
    let agreement = &agreement[..agreement.find("</figure>").unwrap()];
    assert!(
        agreement.contains("the AI diagnoser was off"),
        "{agreement}"
    );
    assert!(!html.contains("1970"), "a 1970 date in the page");
    let outcomes = &html[html.find("id=\"outcome-by-source\"").unwrap()..];
    assert!(outcomes.contains("<ul class=\"legend\">") && outcomes.contains("<table>"));

    let out = cli(&["report"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--records FILE"));
    let out = cli(&["replay", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}
