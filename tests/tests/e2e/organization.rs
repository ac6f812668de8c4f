//! A central host repairing functions in member accounts: moto with three
//! accounts besides the host's own, each reached through STS AssumeRole
//! (moto gives an assumed role's session the role's account, as AWS does).
//! The host is `autorepair run` with `[organization]`, no role of its own in
//! the members but the ones it assumes.

use std::process::Output;

use autorepair::clock::now_ms;
use autorepair_e2e::moto::{ACCOUNT, REGION};
use autorepair_e2e::scenario::raise;
use autorepair_e2e::{Behaviour, Moto, Workload, alarm_event, autorepair_command};
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;

const MEMBER: &str = "111111111111";
const OTHER_MEMBER: &str = "222222222222";
const NOT_ENROLLED: &str = "333333333333";
const EXTERNAL_ID: &str = "autorepair-e2e";

/// An SDK config acting in `account` through its acting member role, as the
/// central host reaches it.
async fn in_account(moto: &Moto, account: &str) -> aws_config::SdkConfig {
    let central = moto.sdk_config().await;
    let role =
        AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/autorepair-member-act"))
            .session_name("e2e")
            .external_id(EXTERNAL_ID)
            .configure(&central)
            .build()
            .await;
    central
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(role))
        .build()
}

/// `orders` at 256 MB in `account`, out of memory for ten minutes, and its
/// alarm raised there: (the workload, the event EventBridge forwards).
async fn out_of_memory(moto: &Moto, account: &str) -> (Workload, serde_json::Value) {
    let sdk = in_account(moto, account).await;
    let w = Workload::new(&sdk, "orders", Behaviour::NeedsMemory { need_mb: 350 });
    // The function's own execution role, in its account (Lambda checks).
    let role = aws_sdk_iam::Client::new(&sdk)
        .create_role()
        .role_name("orders")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap().arn().to_owned();
    assert!(role.contains(account), "{role}");
    w.create_function(&role, 256, true).await.unwrap();
    let now = now_ms();
    w.invocations(60, now - 600_000, now - 1_000).await.unwrap();
    let mut event = alarm_event("orders-errors", "orders", None, "ALARM", now);
    event["account"] = account.into();
    let event = raise(&sdk, &event).await;
    (w, event)
}

/// The central host's configuration: two members enrolled, the sweep
/// covering the emulator's region; its path.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[organization]\nhome_account = \"{ACCOUNT}\"\naccounts = [\"{MEMBER}\", \"{OTHER_MEMBER}\"]\nexternal_id = \"{EXTERNAL_ID}\"\nregions = [\"{REGION}\"]\n[fleet]\ntags_from = \"list-tags\"\n"
        ),
    )
    .unwrap();
    config
}

/// `autorepair --config <central> ARGS` against the emulator.
fn cli(moto: &Moto, dir: &std::path::Path, args: &[&str]) -> Output {
    let config = config(dir);
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    autorepair_command(all)
        .envs(moto.env())
        .env("AUTOREPAIR_CACHE_DIR", dir.join("cache"))
        .output()
        .unwrap()
}

/// `cli`, which must succeed, its stdout as JSON.
fn cli_json(moto: &Moto, dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = cli(moto, dir, args);
    assert!(
        out.status.success(),
        "{}",
        autorepair_e2e::cli::describe(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", autorepair_e2e::cli::describe(&out)))
}

/// A JSON array's items.
fn array(value: serde_json::Value) -> Vec<serde_json::Value> {
    value
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("not a list: {value}"))
}

fn run(moto: &Moto, dir: &std::path::Path, event: &serde_json::Value) -> Output {
    let file = dir.join(format!("event-{}.json", event["account"].as_str().unwrap()));
    std::fs::write(&file, event.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "run",
        "--event",
        file,
        "--format",
        "json",
        "--create-table",
        "--verify-after",
        "0s",
    ];
    cli(moto, dir, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_accounts_function_is_repaired_there_and_nowhere_else() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let (member, event) = out_of_memory(&moto, MEMBER).await;
    // The same name in another member account, and in the host's own.
    let (other, _) = out_of_memory(&moto, OTHER_MEMBER).await;
    let central = moto.sdk_config().await;
    let home = Workload::new(&central, "orders", Behaviour::NeedsMemory { need_mb: 350 });
    home.create_function(&moto.role("orders"), 256, true)
        .await
        .unwrap();

    let out = run(&moto, dir.path(), &event);
    assert!(
        out.status.success(),
        "{}",
        autorepair_e2e::cli::describe(&out)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["incident"]["member"]["account"], MEMBER, "{doc}");
    assert_eq!(doc["change"]["new_memory_mb"], 384, "{doc}");
    assert_eq!(
        member.memory_mb().await.unwrap(),
        384,
        "repaired where it ran out"
    );
    assert_eq!(
        other.memory_mb().await.unwrap(),
        256,
        "another account's untouched"
    );
    assert_eq!(
        home.memory_mb().await.unwrap(),
        256,
        "the host's own untouched"
    );

    // The function's history is the member account's: the same name in the
    // other member starts clean (no cooldown from the first's change).
    let event = {
        let sdk = in_account(&moto, OTHER_MEMBER).await;
        let now = now_ms();
        let mut event = alarm_event("orders-errors", "orders", None, "ALARM", now);
        event["account"] = OTHER_MEMBER.into();
        raise(&sdk, &event).await
    };
    let out = run(&moto, dir.path(), &event);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", autorepair_e2e::cli::describe(&out)));
    assert_eq!(doc["change"]["new_memory_mb"], 384, "{doc}");
    assert_eq!(other.memory_mb().await.unwrap(), 384);

    // An account that is not enrolled: refused, nothing claimed or changed.
    let (stranger, event) = out_of_memory(&moto, NOT_ENROLLED).await;
    let out = run(&moto, dir.path(), &event);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        autorepair_e2e::cli::describe(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("account {NOT_ENROLLED}, which is not enrolled")),
        "{stderr}"
    );
    assert_eq!(stranger.memory_mb().await.unwrap(), 256);

    // The sweep covers the host's own account and both members, each
    // function's recommendation with the account it is in.
    let total: serde_json::Value = cli_json(&moto, dir.path(), &["sweep", "--format", "json"]);
    assert_eq!(total["swept"], 3, "{total}");
    let listed = array(cli_json(
        &moto,
        dir.path(),
        &["recommendations", "--format", "json"],
    ));
    let mut accounts: Vec<(String, Option<String>)> = listed
        .iter()
        .map(|r| {
            (
                r["function"].as_str().unwrap().to_owned(),
                r["account"].as_str().map(str::to_owned),
            )
        })
        .collect();
    accounts.sort();
    assert_eq!(
        accounts,
        [
            ("orders".to_owned(), None),
            ("orders".to_owned(), Some(MEMBER.to_owned())),
            ("orders".to_owned(), Some(OTHER_MEMBER.to_owned())),
        ],
        "{listed:#?}"
    );
    // incidents names each member's function with its account and region,
    // and filters by either name.
    let listed = array(cli_json(
        &moto,
        dir.path(),
        &[
            "incidents",
            "--since",
            "1h",
            "--function",
            &format!("{MEMBER}/{REGION}/orders"),
            "--format",
            "json",
        ],
    ));
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["function"], format!("{MEMBER}/{REGION}/orders"));
    // Each listing filters by account: a member's, or the host's own.
    for (account, expected) in [(MEMBER, Some(MEMBER)), (ACCOUNT, None)] {
        let listed = array(cli_json(
            &moto,
            dir.path(),
            &["recommendations", "--account", account, "--format", "json"],
        ));
        assert_eq!(listed.len(), 1, "{account}: {listed:#?}");
        assert_eq!(listed[0]["account"].as_str(), expected);
    }
    let listed = array(cli_json(
        &moto,
        dir.path(),
        &[
            "incidents",
            "--since",
            "1h",
            "--account",
            OTHER_MEMBER,
            "--format",
            "json",
        ],
    ));
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(
        (listed[0]["account"].as_str(), listed[0]["region"].as_str()),
        (Some(OTHER_MEMBER), Some(REGION))
    );

    // Onboarding keeps each member account's alarms in that account.
    let onboarded: serde_json::Value =
        cli_json(&moto, dir.path(), &["onboard", "--format", "json"]);
    assert_eq!(onboarded["functions"], 3, "{onboarded}");
    for account in [MEMBER, OTHER_MEMBER] {
        let alarms = aws_sdk_cloudwatch::Client::new(&in_account(&moto, account).await)
            .describe_alarms()
            .send()
            .await
            .unwrap();
        let names: Vec<&str> = alarms
            .metric_alarms()
            .iter()
            .filter_map(|a| a.alarm_name())
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("autorepair-") && n.contains("orders")),
            "{account}: {names:?}"
        );
    }
    let stranger_alarms = aws_sdk_cloudwatch::Client::new(&in_account(&moto, NOT_ENROLLED).await)
        .describe_alarms()
        .send()
        .await
        .unwrap();
    assert!(
        !stranger_alarms
            .metric_alarms()
            .iter()
            .any(|a| a.alarm_name().is_some_and(|n| n.starts_with("autorepair-"))),
        "nothing made in an account not enrolled"
    );
    let text = cli(&moto, dir.path(), &["recommendations"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("{MEMBER}/{REGION}/orders")),
        "{text}"
    );
}
