//! `autorepair run` as a user runs it: a child process pointed at moto through
//! the SDK's standard environment, and its `--format json` contract.

use std::process::Output;

use autorepair::clock::now_ms;
use autorepair_e2e::scenario::raise;
use autorepair_e2e::{Behaviour, Moto, Workload, alarm_event, autorepair_command};

/// `autorepair run --format json --create-table EXTRA` on `event`, against
/// moto, ready to run.
fn run_command(
    moto: &Moto,
    dir: &std::path::Path,
    event: &serde_json::Value,
    extra: &[&str],
) -> std::process::Command {
    let file = dir.join("event.json");
    std::fs::write(&file, event.to_string()).unwrap();
    let mut command = autorepair_command([
        "run",
        "--event",
        file.to_str().unwrap(),
        "--format",
        "json",
        "--create-table",
    ]);
    command
        .args(extra)
        .envs(moto.env())
        .env("AUTOREPAIR_CACHE_DIR", dir.join("cache"));
    command
}

fn run(moto: &Moto, dir: &std::path::Path, event: &serde_json::Value, extra: &[&str]) -> Output {
    run_command(moto, dir, event, extra).output().unwrap()
}

/// A function at 256 MB that needs 350 on moto, ten minutes of its
/// out-of-memory invocations, and its alarm raised: (its workload, the event).
async fn out_of_memory(
    moto: &Moto,
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> (Workload, serde_json::Value) {
    let w = Workload::new(sdk, name, Behaviour::NeedsMemory { need_mb: 350 });
    w.create_function(&moto.role("cli"), 256, true)
        .await
        .unwrap();
    let now = now_ms();
    w.invocations(60, now - 600_000, now - 1_000).await.unwrap();
    let event = raise(
        sdk,
        &alarm_event(&format!("{name}-errors"), name, None, "ALARM", now),
    )
    .await;
    (w, event)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_json_is_the_documented_contract() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let (_w, event) = out_of_memory(&moto, &sdk, "orders-cli").await;
    let dir = tempfile::tempdir().unwrap();

    let out = run(&moto, dir.path(), &event, &["--verify-after", "0s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("exactly one JSON document on stdout");
    assert_eq!(doc["incident"]["function_name"], "orders-cli");
    assert_eq!(doc["incident"]["id"].as_str().unwrap().len(), 32);
    let finding = &doc["findings"][0];
    assert_eq!(finding["source"], "rule:oom");
    assert_eq!(finding["kind"], "memory-exhaustion");
    assert_eq!(finding["recommendation"]["action"], "set_memory");
    assert!(finding["confidence"].as_f64().unwrap() > 0.5);
    assert!(doc["plugin_failures"].as_array().unwrap().is_empty());
    assert_eq!(doc["decision"]["action"], "set_memory");
    assert_eq!(doc["decision"]["current_memory_mb"], 256);
    assert_eq!(doc["decision"]["target_memory_mb"], 384);
    assert!(!doc["decision"]["reasons"].as_array().unwrap().is_empty());
    let would_have = doc["would_have"].as_array().unwrap();
    let by = |key: &str| {
        would_have
            .iter()
            .find(|w| w["by"] == key)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        by("mode:consensus")["action"],
        "escalate",
        "no AI finding: no consensus"
    );
    assert_eq!(by("source:rule:oom")["target_memory_mb"], 384);
    assert_eq!(doc["change"]["new_memory_mb"], 384);
    // No traffic since the change: not enough data, twice, so inconclusive.
    assert_eq!(doc["verification"]["verdict"], "insufficient-data");
    assert_eq!(doc["status"], "inconclusive");

    // The same event again is recognised and does nothing.
    let again = run(&moto, dir.path(), &event, &["--verify-after", "0s"]);
    let doc: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(doc["status"], "duplicate");
    assert!(doc.get("change").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_the_decision_and_changes_nothing() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let (w, event) = out_of_memory(&moto, &sdk, "orders-dry-cli").await;
    let dir = tempfile::tempdir().unwrap();
    let out = run(&moto, dir.path(), &event, &["--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "dry_run");
    assert_eq!(doc["decision"]["target_memory_mb"], 384);
    assert_eq!(w.memory_mb().await.unwrap(), 256);

    // A real incident becomes a rule's test in two commands: its evidence
    // saved, then what the rule says on it blessed as what it must say.
    let id = doc["incident"]["id"].as_str().unwrap();
    let saved = dir.path().join("incident.json");
    let cli = |args: &[&str]| {
        autorepair_command(args)
            .envs(moto.env())
            .env("AUTOREPAIR_CACHE_DIR", dir.path().join("cache"))
            .output()
            .unwrap()
    };
    let out = cli(&["evidence", "save", id, "--output", saved.to_str().unwrap()]);
    assert!(out.status.success(), "{}", autorepair_e2e::describe(&out));
    let evidence: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(evidence["function"]["name"], "orders-dry-cli");
    assert!(
        !evidence["reports"].as_array().unwrap().is_empty(),
        "{evidence}"
    );
    let expect = dir.path().join("expect.json");
    let test = |extra: &[&str]| {
        let mut args = vec![
            "rule",
            "test",
            "oom",
            "--evidence",
            saved.to_str().unwrap(),
            "--expect",
            expect.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        cli(&args)
    };
    let blessed = test(&["--bless"]);
    assert!(
        blessed.status.success(),
        "{}",
        autorepair_e2e::describe(&blessed)
    );
    let expectations: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&expect).unwrap()).unwrap();
    assert_eq!(
        expectations["incident.json"]["kind"], "memory-exhaustion",
        "{expectations}"
    );
    assert_eq!(expectations["incident.json"]["memory_mb"], 384);
    let checked = test(&[]);
    assert!(
        checked.status.success(),
        "{}",
        autorepair_e2e::describe(&checked)
    );
    // An incident the table does not hold is bad input.
    let missing = cli(&["evidence", "save", "no-such-incident"]);
    assert_eq!(
        missing.status.code(),
        Some(2),
        "{}",
        autorepair_e2e::describe(&missing)
    );
}

#[test]
fn bad_events_exit_2_with_one_line() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let not_lambda = alarm_event("ec2-cpu", "x", None, "ALARM", 0)
        .to_string()
        .replace("FunctionName", "InstanceId");
    for event in ["{not json", "{}", not_lambda.as_str()] {
        let file = dir.path().join("event.json");
        std::fs::write(&file, event).unwrap();
        let out = autorepair_command(["run", "--event", file.to_str().unwrap()])
            .envs(moto.env())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{event}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// Functions deployed from source: the run's document and text say what to
/// write there, and `report --table` lists the changes the source must take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_a_function_deployed_from_source_says_what_to_write_there() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let role = moto.role("cli");
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let cases = [
        (
            "orders-stack",
            vec![
                ("aws:cloudformation:stack-name", "orders-prod"),
                ("aws:cloudformation:logical-id", "OrdersFunction"),
            ],
            "in stack orders-prod's template set Resources.OrdersFunction.Properties.MemorySize: 384",
        ),
        (
            "orders-tf",
            vec![
                ("managed-by", "terraform"),
                ("terraform:address", "aws_lambda_function.orders"),
            ],
            "in Terraform, set memory_size = 384 on aws_lambda_function.orders",
        ),
    ];
    for (name, tags, expected) in &cases {
        let w = Workload::new(&sdk, name, Behaviour::NeedsMemory { need_mb: 350 });
        let arn = w.create_function(&role, 256, true).await.unwrap();
        let mut tag = lambda.tag_resource().resource(arn);
        for (k, v) in tags {
            tag = tag.tags(*k, *v);
        }
        tag.send().await.unwrap();
        w.invocations(60, now - 600_000, now - 1_000).await.unwrap();
        let event = raise(
            &sdk,
            &alarm_event(&format!("{name}-errors"), name, None, "ALARM", now),
        )
        .await;
        let out = run(&moto, dir.path(), &event, &["--verify-after", "0s"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["change"]["new_memory_mb"], 384, "{doc}");
        assert_eq!(doc["source_change"]["memory_mb"], 384, "{doc}");
        let change: autorepair::model::SourceChange =
            serde_json::from_value(doc["source_change"].clone()).unwrap();
        assert_eq!(change.to_string(), *expected);
    }
    // Kept (inconclusive: no traffic since), so both are still to write in source.
    let out = autorepair_command(["report", "--table"])
        .envs(moto.env())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("Changes not yet in source"), "{report}");
    for (_, _, expected) in &cases {
        assert!(report.contains(expected), "{report}");
    }
    // A function nobody deploys from source has no such line.
    let w = Workload::new(&sdk, "orders-hand", Behaviour::NeedsMemory { need_mb: 350 });
    w.create_function(&role, 256, true).await.unwrap();
    w.invocations(60, now - 600_000, now - 1_000).await.unwrap();
    let event = raise(
        &sdk,
        &alarm_event("orders-hand-errors", "orders-hand", None, "ALARM", now),
    )
    .await;
    let out = run(&moto, dir.path(), &event, &["--verify-after", "0s"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["change"].is_object() && doc.get("source_change").is_none(),
        "{doc}"
    );
}

/// Ctrl-C during the verification wait never leaves a change unrecorded:
/// with no terminal to ask on, the change stays and the run is recorded —
/// in the audit table and on stdout — as unverified (inconclusive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_the_wait_records_the_change_as_unverified() {
    use std::io::{BufRead as _, Read as _};
    use std::process::Stdio;
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let (w, event) = out_of_memory(&moto, &sdk, "orders-sigint").await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = run_command(&moto, dir.path(), &event, &["--verify-after", "10m"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the wait has begun (it says so on stderr).
    let stderr = child.stderr.take().unwrap();
    let (said, heard) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            if line.contains("verifying in") {
                let _ = said.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    heard
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the wait began");
    assert_eq!(w.memory_mb().await.unwrap(), 384, "the change was made");
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(status.success(), "{status}\n{stderr}");
    assert!(stderr.contains("recorded as unverified"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(doc["status"], "inconclusive", "{doc}");
    assert_eq!(doc["change"]["new_memory_mb"], 384);
    assert!(
        doc["decision"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("stopped the wait")),
        "{doc}"
    );
    assert_eq!(w.memory_mb().await.unwrap(), 384, "left in place");
    // The audit table has it as the document says.
    let mut config = autorepair::config::Config::default();
    config.run.audit_table = "autorepair-audit".into();
    let audit = autorepair::setup::audit_table(&autorepair::aws::Aws::new(&sdk), &config);
    let id = doc["incident"]["id"].as_str().unwrap();
    let stored = autorepair::ports::AuditStore::get(&audit, id)
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(stored.status.to_string(), "inconclusive");
}
