//! The local execution environment on its own: real Node.js and Python
//! handlers in memory cgroups, writing what Lambda writes to moto.

use std::time::Duration;

use autorepair_e2e::Moto;
use autorepair_e2e::functions::{Code, Ended, Functions, example_function, test_function};
use serde_json::json;

/// Every log event `function` has in moto, in order.
pub async fn log_lines(sdk: &aws_config::SdkConfig, function: &str) -> Vec<(String, String)> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let out = logs
        .filter_log_events()
        .log_group_name(format!("/aws/lambda/{function}"))
        .send()
        .await
        .expect("FilterLogEvents");
    out.events()
        .iter()
        .map(|e| {
            (
                e.log_stream_name().unwrap_or_default().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn set_memory(sdk: &aws_config::SdkConfig, function: &str, memory_mb: i32) {
    aws_sdk_lambda::Client::new(sdk)
        .update_function_configuration()
        .function_name(function)
        .memory_size(memory_mb)
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_function_runs_out_of_memory_and_is_reported_as_lambda_reports_it() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let functions = Functions::new(&sdk).expect("memory cgroups (run the tests as root)");
    let role = moto.role("fn");
    functions
        .deploy("hoarder", &role, Code::node(example_function()), 128, 10)
        .await
        .unwrap();

    let oom = functions
        .invoke("hoarder", &json!({"megabytes": 200}))
        .await
        .unwrap();
    assert_eq!(oom.ended, Ended::OutOfMemory, "{oom:?}");
    assert!(oom.cold);
    assert_eq!(
        oom.max_memory_used_mb, 128,
        "the cgroup's peak is the limit"
    );

    // A small input fits: a new environment (the killed one is gone).
    let small = functions
        .invoke("hoarder", &json!({"megabytes": 10}))
        .await
        .unwrap();
    assert_eq!(small.ended, Ended::Success, "{small:?}");
    assert!(small.cold);
    assert_ne!(small.log_stream, oom.log_stream);
    assert!(small.max_memory_used_mb > 10 && small.max_memory_used_mb < 128);
    let warm = functions
        .invoke("hoarder", &json!({"megabytes": 10}))
        .await
        .unwrap();
    assert!(!warm.cold);
    assert_eq!(warm.log_stream, small.log_stream);
    assert!(
        warm.max_memory_used_mb >= small.max_memory_used_mb,
        "the environment's peak never falls"
    );

    // More memory: the warm environment is retired, and 200 MB fits.
    set_memory(&sdk, "hoarder", 320).await;
    let fixed = functions
        .invoke("hoarder", &json!({"megabytes": 200}))
        .await
        .unwrap();
    assert_eq!(fixed.ended, Ended::Success, "{fixed:?}");
    assert!(
        fixed.cold,
        "a configuration change retires warm environments"
    );
    assert_eq!(fixed.memory_size_mb, 320);
    assert!(fixed.max_memory_used_mb > 200, "{fixed:?}");
    assert_eq!(fixed.body, r#"{"allocatedMb":200}"#);

    let lines = log_lines(&sdk, "hoarder").await;
    let in_stream = |stream: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|(s, _)| s == stream)
            .map(|(_, m)| m.as_str())
            .collect()
    };
    let killed = in_stream(&oom.log_stream);
    assert!(killed[0].starts_with("START RequestId: "), "{killed:?}");
    assert!(
        killed
            .iter()
            .any(|l| l.contains("Error: Runtime exited with error: signal: killed")),
        "{killed:?}"
    );
    let report = killed.last().unwrap();
    assert!(
        report.starts_with(&format!("REPORT RequestId: {}", oom.request_id)),
        "{report}"
    );
    for field in [
        "Memory Size: 128 MB",
        "Max Memory Used: 128 MB",
        "Init Duration: ",
        "Status: error",
        "Error Type: Runtime.OutOfMemory",
    ] {
        assert!(report.contains(field), "{field} missing: {report}");
    }
    // The host's own parser reads them as Lambda's.
    let parsed = autorepair::logs::parse_report(report, 0).expect("a REPORT line");
    assert_eq!(parsed.error_type.as_deref(), Some("Runtime.OutOfMemory"));
    assert_eq!(parsed.max_memory_used_mb, 128);
    assert!(parsed.init_duration_ms.is_some());
    let healthy = in_stream(&warm.log_stream);
    assert_eq!(
        healthy.iter().filter(|l| l.starts_with("REPORT")).count(),
        2
    );
    assert_eq!(
        healthy
            .iter()
            .filter(|l| l.contains("Init Duration"))
            .count(),
        1,
        "{healthy:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_memory_errors_timeouts_and_cpu_share() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let functions = Functions::new(&sdk).expect("memory cgroups (run the tests as root)");
    let role = moto.role("fn");
    functions
        .deploy(
            "reader",
            &role,
            Code::python(test_function("python-memoryerror")),
            128,
            10,
        )
        .await
        .unwrap();
    let failed = functions
        .invoke("reader", &json!({"size_mb": 200}))
        .await
        .unwrap();
    assert_eq!(failed.ended, Ended::Error, "{failed:?}");
    assert!(failed.body.contains("MemoryError"), "{}", failed.body);
    let lines = log_lines(&sdk, "reader").await;
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.starts_with("[ERROR] MemoryError") && l.contains("Traceback")),
        "{lines:?}"
    );
    set_memory(&sdk, "reader", 256).await;
    let ok = functions
        .invoke("reader", &json!({"size_mb": 200}))
        .await
        .unwrap();
    assert_eq!(ok.ended, Ended::Success, "{ok:?}");

    // The timeout, and the CPU share: the same work is faster with more memory.
    functions
        .deploy(
            "hasher",
            &role,
            Code::node(test_function("cpu-bound")),
            128,
            2,
        )
        .await
        .unwrap();
    let slow = functions
        .invoke("hasher", &json!({"rounds": 2_000_000}))
        .await
        .unwrap();
    assert_eq!(slow.ended, Ended::Timeout, "{slow:?}");
    assert!(slow.duration_ms >= 2000.0);
    let lines = log_lines(&sdk, "hasher").await;
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.contains(&format!("{} Task timed out after 2.", slow.request_id))),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.starts_with("REPORT") && l.contains("Status: timeout"))
    );
    let small = functions
        .invoke("hasher", &json!({"rounds": 20_000}))
        .await
        .unwrap();
    set_memory(&sdk, "hasher", 1024).await;
    let fast = functions
        .invoke("hasher", &json!({"rounds": 20_000}))
        .await
        .unwrap();
    let _ = functions
        .invoke("hasher", &json!({"rounds": 20_000}))
        .await
        .unwrap();
    let fast2 = functions
        .invoke("hasher", &json!({"rounds": 20_000}))
        .await
        .unwrap();
    assert_eq!(small.ended, Ended::Success, "{small:?}");
    assert!(
        fast2.duration_ms * 2.0 < small.duration_ms,
        "1024 MB gets 8 times the CPU of 128 MB: {} ms against {} ms (cold {} ms)",
        fast2.duration_ms,
        small.duration_ms,
        fast.duration_ms
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
