//! `autorepair onboard` as a platform team runs it: real Lambda functions and
//! CloudWatch alarms in moto, the CLI as a child process. The plan itself is
//! unit-tested in host/src/fleet/alarms.rs; this proves the adapters and the
//! promises that need a real API: tags read, alarms made and tagged, a
//! hand-made alarm with the same prefix left alone, idempotence, deletion.

use autorepair_e2e::{Behaviour, Moto, Workload, autorepair_command};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};

fn onboard(moto: &Moto, extra: &[&str]) -> (String, String, bool) {
    let out = autorepair_command(["onboard"])
        .args(extra)
        .envs(moto.env())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

async fn alarm_names(cw: &aws_sdk_cloudwatch::Client) -> Vec<String> {
    let mut names: Vec<String> = cw
        .describe_alarms()
        .alarm_name_prefix("autorepair-")
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_makes_the_alarms_of_tagged_functions_and_only_those() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let role = moto.role("fleet");
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    for (name, opted_in) in [
        ("fl-orders", true),
        ("fl-billing", true),
        ("fl-legacy", false),
    ] {
        Workload::new(&sdk, name, Behaviour::Throttled)
            .create_function(&role, 512, opted_in)
            .await
            .unwrap();
    }
    let arn = |name: &str| {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            autorepair_e2e::moto::REGION,
            autorepair_e2e::moto::ACCOUNT
        )
    };
    lambda
        .tag_resource()
        .resource(arn("fl-billing"))
        .tags("autorepair:errors", "5")
        .tags("autorepair:throttles", "off")
        .send()
        .await
        .unwrap();
    // Someone's own alarm with the same prefix: never autorepair's to touch.
    cw.put_metric_alarm()
        .alarm_name("autorepair-handmade")
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .dimensions(
            Dimension::builder()
                .name("FunctionName")
                .value("fl-legacy")
                .build(),
        )
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();

    // A dry run prints the difference and changes nothing.
    let (plan, err, ok) = onboard(&moto, &["--dry-run"]);
    assert!(ok, "{err}");
    assert!(
        plan.contains("+ autorepair-fl-orders-errors: Errors Sum >= 1 (60 s × 1)"),
        "{plan}"
    );
    assert!(
        plan.contains("+ autorepair-fl-billing-errors: Errors Sum >= 5"),
        "{plan}"
    );
    assert!(
        !plan.contains("fl-billing-throttles") && !plan.contains("fl-legacy"),
        "{plan}"
    );
    assert!(
        plan.contains("plan: 5 to create, 0 to update, 0 to delete"),
        "{plan}"
    );
    assert_eq!(alarm_names(&cw).await, ["autorepair-handmade"]);

    let (done, err, ok) = onboard(&moto, &[]);
    assert!(ok, "{err}");
    assert!(done.contains("done: 5 to create"), "{done}");
    let names = alarm_names(&cw).await;
    assert_eq!(names.len(), 6, "{names:?}");
    let duration = cw
        .describe_alarms()
        .alarm_names("autorepair-fl-orders-duration")
        .send()
        .await
        .unwrap();
    let duration = &duration.metric_alarms()[0];
    // 90% of the function's 6 s timeout.
    assert_eq!(duration.threshold(), Some(5400.0));
    assert_eq!(duration.dimensions()[0].value(), Some("fl-orders"));

    // Idempotent.
    let (again, _, ok) = onboard(&moto, &["--format", "json"]);
    assert!(ok);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        (
            again["create"].as_u64(),
            again["update"].as_u64(),
            again["delete"].as_u64(),
            again["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(5)),
        "{again}"
    );

    // A threshold tag changed: updated. Opted out, and deleted: removed.
    lambda
        .tag_resource()
        .resource(arn("fl-billing"))
        .tags("autorepair:errors", "9")
        .send()
        .await
        .unwrap();
    lambda
        .untag_resource()
        .resource(arn("fl-orders"))
        .tag_keys("autorepair")
        .send()
        .await
        .unwrap();
    let (plan, _, _) = onboard(&moto, &["--dry-run"]);
    assert!(
        plan.contains(
            "~ autorepair-fl-billing-errors: Errors Sum >= 5 (60 s × 1) → Errors Sum >= 9"
        ),
        "{plan}"
    );
    assert!(plan.contains("- autorepair-fl-orders-duration"), "{plan}");
    let (_, err, ok) = onboard(&moto, &[]);
    assert!(ok, "{err}");
    lambda
        .delete_function()
        .function_name("fl-billing")
        .send()
        .await
        .unwrap();
    let (done, err, ok) = onboard(&moto, &[]);
    assert!(ok, "{err}");
    assert!(
        done.contains("0 to create, 0 to update, 2 to delete"),
        "{done}"
    );
    assert_eq!(alarm_names(&cw).await, ["autorepair-handmade"]);
}
