//! The stack deploys: `infrastructure/template.yaml` transformed by
//! aws-sam-translator and created in moto's CloudFormation
//! (tests/moto/sam_transform.py), then `autorepair --stack <env> doctor`
//! against what was created, the probe going through the created workflow
//! to the real bootstrap.

use std::collections::BTreeSet;
use std::path::PathBuf;

use autorepair_e2e::moto::{ACCOUNT, REGION};
use serde_json::Value;

use crate::workflow::Harness;

/// The resource types docs/deploy.md says moto's CloudFormation cannot
/// create (its table under "Created in moto's CloudFormation").
fn documented_not_created() -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let section = doc
        .split("<!-- moto-cannot-create -->")
        .nth(1)
        .expect("docs/deploy.md marks the table of what moto cannot create");
    section
        .split("<!-- /moto-cannot-create -->")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_creates_in_cloudformation_and_doctor_passes_against_it() {
    let (h, stack) = Harness::from_stack("e2e", &[]).await;

    // What was created has the names the CLI and doctor derive from the
    // environment alone.
    for (logical, physical) in [
        ("HostFunction", "autorepair-e2e-host".to_owned()),
        ("ActingFunction", "autorepair-e2e-act".to_owned()),
        ("AuditTable", "autorepair-e2e-audit".to_owned()),
        ("AlarmRule", "autorepair-e2e-alarms".to_owned()),
        (
            "Workflow",
            format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:autorepair-e2e"),
        ),
        (
            "NoticeTopic",
            format!("arn:aws:sns:{REGION}:{ACCOUNT}:autorepair-e2e-notices"),
        ),
    ] {
        assert_eq!(
            stack.physical(logical),
            Some(physical.as_str()),
            "{logical}"
        );
    }

    // Every resource moto could not create is a type docs/deploy.md lists,
    // and the list names nothing moto can create (NoticeEmail's condition is
    // false without an e-mail address, the bus policies' without members).
    let missing = stack.not_created(&["HasEmail", "HasOrganization", "HasMembers"]);
    let types: BTreeSet<String> = missing.values().cloned().collect();
    assert_eq!(
        types,
        documented_not_created(),
        "moto did not create {missing:#?}"
    );
    assert!(
        !missing.contains_key("HostFunction") && !missing.contains_key("Workflow"),
        "{missing:#?}"
    );

    // The rule that was created carries the template's pattern (the pattern
    // tests in infrastructure.rs judge that one against real alarm events).
    let rule = aws_sdk_eventbridge::Client::new(&h.sdk)
        .describe_rule()
        .name("autorepair-e2e-alarms")
        .send()
        .await
        .unwrap();
    let deployed: Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
    let mut templated =
        stack.template["Resources"]["AlarmRule"]["Properties"]["EventPattern"].clone();
    let prefix = &mut templated["detail"]["alarmName"][0]["prefix"];
    assert_eq!(prefix["Fn::Sub"], "${AlarmNamePrefix}${Environment}-");
    *prefix = "autorepair-e2e-".into();
    assert_eq!(deployed, templated);

    // doctor, pointed at the stack by name: every check passes (no model
    // access to check with the AI off), the probe through the workflow.
    let (code, lines) = tokio::task::block_in_place(|| {
        h.doctor_with(&["--stack", "e2e", "doctor", "--format", "json"])
    });
    crate::workflow::assert_healthy(code, &lines);

    // What docs/runbook.md shows doctor printing is what it prints for the
    // stack with the template's defaults (the environment's name aside; the
    // topic's ARN is elided there).
    let runbook = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/runbook.md"),
    )
    .unwrap();
    let shown: Vec<&str> = runbook
        .lines()
        .skip_while(|l| !l.starts_with("ok    stack "))
        .take_while(|l| !l.starts_with("```"))
        .collect();
    let mut text = autorepair_e2e::cli::autorepair_command(["--stack", "e2e", "doctor"]);
    text.envs(h.moto.env());
    let printed = tokio::task::block_in_place(|| autorepair_e2e::cli::output(&mut text));
    let printed = String::from_utf8_lossy(&printed.stdout).replace("-e2e", "-dev");
    let printed: Vec<&str> = printed.lines().collect();
    assert_eq!(shown.len(), printed.len(), "{shown:#?}\n{printed:#?}");
    for (shown, printed) in shown.iter().zip(&printed) {
        if !shown.contains('…') {
            assert_eq!(shown, printed, "docs/runbook.md");
        }
    }
    assert!(
        h.lambda.invoked().iter().any(|s| s == "parse"),
        "the probe reached the bootstrap: {:?}",
        h.lambda.invoked()
    );
}
