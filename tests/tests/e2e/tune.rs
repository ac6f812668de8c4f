//! `autorepair tune` end to end on real functions: a CPU-bound Node.js
//! handler in the local execution environment (its own memory cgroup and
//! CPU share per size), invoked through Lambda's Invoke API on a loopback
//! front in front of moto, by the real CLI as a child process.

use std::sync::Arc;

use autorepair_e2e::functions::invoke_api::InvokeFront;
use autorepair_e2e::functions::{Code, Functions, test_function};
use autorepair_e2e::{Moto, autorepair_command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_bound_function_is_tuned_and_everything_is_put_back() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let role = moto.role("tune");
    let functions = Arc::new(Functions::new(&sdk).expect("memory cgroups"));
    functions
        .deploy(
            "hasher",
            &role,
            Code::node(test_function("cpu-bound")),
            512,
            30,
        )
        .await
        .unwrap();
    let config = autorepair::config::Config::default();
    autorepair_e2e::scenario::provision(&sdk, &config).await;
    let front = InvokeFront::start(
        functions.clone(),
        moto.port,
        tokio::runtime::Handle::current(),
    );
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("event.json");
    std::fs::write(&payload, r#"{"rounds": 40000}"#).unwrap();
    let page = dir.path().join("tune.html");
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, "").unwrap();
    let out = tokio::task::spawn_blocking({
        let (payload, page, config_path, env, endpoint) = (
            payload.clone(),
            page.clone(),
            config_path.clone(),
            moto.env(),
            front.endpoint.clone(),
        );
        move || {
            autorepair_command([
                "tune",
                "hasher",
                "--sizes",
                "128,256,1024",
                "--invocations",
                "3",
            ])
            .args(["--strategy", "speed", "--format", "json", "--payload"])
            .arg(&payload)
            .arg("--html")
            .arg(&page)
            .arg("--config")
            .arg(&config_path)
            .envs(env)
            .env("AWS_ENDPOINT_URL", endpoint)
            .output()
            .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", autorepair_e2e::describe(&out));
    let tuning: autorepair::tuning::Tuning = serde_json::from_slice(&out.stdout).unwrap();
    let at = |mb: u32| {
        tuning
            .sizes
            .iter()
            .find(|s| s.memory_mb == mb)
            .unwrap_or_else(|| panic!("{mb}: {tuning:?}"))
    };
    // Each size ran at its own memory and CPU share: an eighth of the CPU at
    // 128 MB is several times slower than at 1024 MB.
    assert!(
        tuning
            .sizes
            .iter()
            .all(|s| s.errors == 0 && s.invocations == 3),
        "{tuning:?}"
    );
    assert!(at(128).p50_ms > 3.0 * at(1024).p50_ms, "{tuning:?}");
    assert_eq!(tuning.best_mb, Some(1024), "speed: {tuning:?}");
    assert!(tuning.duration_falls_with_memory().is_some());
    assert!(at(1024).max_used_mb > 0 && at(1024).max_used_mb < 1024);

    // Everything put back: $LATEST's memory, no version left behind.
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let config = lambda
        .get_function_configuration()
        .function_name("hasher")
        .send()
        .await
        .unwrap();
    assert_eq!(config.memory_size(), Some(512));
    let versions = lambda
        .list_versions_by_function()
        .function_name("hasher")
        .send()
        .await
        .unwrap();
    let left: Vec<_> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version())
        .collect();
    assert_eq!(left, ["$LATEST"], "every version deleted");

    // Kept for the sweeps.
    let stored = autorepair::setup::audit_table(
        &autorepair::aws::Aws::new(&sdk),
        &autorepair::config::Config::default(),
    );
    let kept = autorepair::ports::RecommendationStore::recommendation(&stored, "hasher")
        .await
        .unwrap()
        .expect("a recommendation carrying the tune");
    assert_eq!(kept.tuning.as_ref(), Some(&tuning));

    // The page: both curves, one point per size, duration falling.
    let html = std::fs::read_to_string(&page).unwrap();
    // AUTOREPAIR_TUNE_PAGE=FILE keeps the page (to look at it in a browser).
    if let Ok(keep) = std::env::var("AUTOREPAIR_TUNE_PAGE") {
        std::fs::write(keep, &html).unwrap();
    }
    for id in ["duration", "cost"] {
        let start = html.find(&format!("<svg id=\"{id}\"")).expect(id);
        let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
        let values: Vec<f64> = svg
            .split("data-value=\"")
            .skip(1)
            .map(|v| v.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(values.len(), 3, "{id}: {svg}");
        if id == "duration" {
            assert!(
                values[0] > values[2],
                "duration falls with memory: {values:?}"
            );
        }
    }
}
