//! Real functions through the real workflow: handler code in Node.js and
//! Python runs in local execution environments (memory cgroups, Lambda's CPU
//! share, the function's timeout; tests/src/functions), writing what Lambda
//! writes to moto, while moto's Step Functions interpreter runs the
//! workflow's tasks on the real `bootstrap`. Each scenario ends as a careful
//! operator would want, and the function's memory is what the record says.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use autorepair::model::FindingKind;
use autorepair::run::{Run, Status};
use autorepair_e2e::functions::{
    Code, Ended, Functions, Invocation, Traffic, example_function, test_function,
};
use serde_json::{Value, json};

use crate::workflow::Harness;

/// Invocations before the alarm: the incident's evidence.
const BEFORE: usize = 10;
/// The verification window: real invocations take seconds at 128 MB.
const WINDOW_S: u64 = 6;
const LIMIT: Duration = Duration::from_secs(120);

struct Scenario {
    h: Harness,
    functions: Arc<Functions>,
    name: String,
}

impl Scenario {
    async fn new(name: &str, code: Code, memory_mb: u32, timeout_s: u32) -> Scenario {
        let h = Harness::with_window(WINDOW_S).await;
        let functions = Arc::new(
            Functions::new(&h.sdk)
                .expect("real functions need memory cgroups: run the tests as root"),
        );
        functions
            .deploy(name, &h.role, code, memory_mb, timeout_s)
            .await
            .unwrap();
        Scenario {
            h,
            functions,
            name: name.to_owned(),
        }
    }

    /// Traffic before the alarm, the alarm, the workflow with traffic still
    /// flowing: the execution's status, its output, the run on record and
    /// every invocation made.
    async fn run(
        &self,
        before: usize,
        workers: usize,
        payload: impl Fn(u64) -> Value + Send + Sync + 'static,
    ) -> (String, Value, Run, Vec<Invocation>) {
        let traffic = Traffic::start(&self.functions, &self.name, workers, Arc::new(payload));
        let seen = traffic.wait_for(before, LIMIT).await;
        assert!(seen >= before, "only {seen} invocations in {LIMIT:?}");
        let execution = self.h.start(&self.name).await;
        let (status, output) = tokio::task::block_in_place(|| self.h.finish(&execution));
        let (invocations, failures) = traffic.stop().await;
        assert!(failures.is_empty(), "the environment failed: {failures:?}");
        let (run, _) = self.h.record(&output).await;
        // `AUTOREPAIR_FIGURES=FILE` keeps every run document, for
        // `autorepair report --records FILE` (docs/benchmarks.md).
        if let Some(path) = std::env::var_os("AUTOREPAIR_FIGURES") {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("the figures file");
            writeln!(file, "{}", serde_json::to_string(&run).unwrap()).unwrap();
        }
        (status, output, run, invocations)
    }

    async fn memory_mb(&self) -> u32 {
        aws_sdk_lambda::Client::new(&self.h.sdk)
            .get_function_configuration()
            .function_name(&self.name)
            .send()
            .await
            .unwrap()
            .memory_size()
            .unwrap_or_default() as u32
    }

    /// The memory the record says the function has: the last change's, or
    /// the one before it when that change was undone; the function's own
    /// when nothing changed.
    fn recorded_memory(run: &Run) -> Option<u32> {
        let change = run.change.as_ref()?;
        Some(match &run.rollback {
            Some(r) if r.ok => r.restored_memory_mb,
            _ => change.new_memory_mb,
        })
    }
}

fn kinds(run: &Run) -> Vec<FindingKind> {
    run.findings.iter().map(|f| f.finding.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_shipped_example_is_repaired_from_128_mb() {
    let s = Scenario::new("real-example", Code::node(example_function()), 128, 10).await;
    // Its trigger's payload (infrastructure/examples/trigger.sh).
    let (status, output, run, invocations) = s.run(BEFORE, 3, |_| json!({"megabytes": 200})).await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert_eq!(run.status, Status::Repaired, "{:#?}", run.decision);
    let memory = s.memory_mb().await;
    assert_eq!(Some(memory), Scenario::recorded_memory(&run));
    assert!(memory >= 256, "{memory} MB");
    assert!(
        invocations
            .iter()
            .any(|i| i.ended == Ended::OutOfMemory && i.memory_size_mb == 128)
    );
    let healthy_after = invocations
        .iter()
        .filter(|i| i.memory_size_mb == memory)
        .all(|i| i.ended == Ended::Success);
    assert!(healthy_after, "every invocation at {memory} MB succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_python_memory_error_on_a_large_input_is_repaired() {
    let s = Scenario::new(
        "real-reader",
        Code::python(test_function("python-memoryerror")),
        128,
        10,
    )
    .await;
    let (status, output, run, invocations) = s.run(BEFORE, 3, |_| json!({"size_mb": 160})).await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert!(
        invocations
            .iter()
            .any(|i| i.ended == Ended::Error && i.body.contains("MemoryError")),
        "the handler raised MemoryError at 128 MB"
    );
    assert_eq!(run.status, Status::Repaired, "{:#?}", run.decision);
    let memory = s.memory_mb().await;
    assert_eq!(Some(memory), Scenario::recorded_memory(&run));
    assert!(memory > 128);
    // REPORT says success for a handled MemoryError: the verdict saw them
    // through their environment's log stream.
    let v = run.verification.expect("verified");
    assert!(
        v.before.out_of_memory > 0 && v.after.out_of_memory == 0,
        "{v:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cpu_bound_timeout_gets_more_memory_and_its_duration_falls() {
    let s = Scenario::new(
        "real-hasher",
        Code::node(test_function("cpu-bound")),
        128,
        4,
    )
    .await;
    // Input-dependent work: at 128 MB (7 % of a vCPU) from about 1 s to
    // past the 4 s timeout; at twice the memory, mostly within it. The
    // lightest stay well inside even on a loaded machine: a function whose
    // every invocation times out looks hung, and is escalated.
    let (status, output, run, _) = s
        .run(
            BEFORE,
            3,
            |n| json!({"rounds": 40_000 + (n * 37_000) % 140_000}),
        )
        .await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert_eq!(
        run.status,
        Status::Repaired,
        "{:#?}\n{:#?}",
        run.decision,
        run.verification
    );
    assert!(
        kinds(&run).contains(&FindingKind::CpuStarvation),
        "{:?}",
        kinds(&run)
    );
    let memory = s.memory_mb().await;
    assert_eq!(Some(memory), Scenario::recorded_memory(&run));
    assert!(memory >= 256);
    let v = run.verification.expect("verified");
    // Under a loaded machine an invocation can still run out of time: the
    // quota is a ceiling, not a promise. Fewer, and faster, all the same.
    assert!(v.before.timeouts > 0, "{v:#?}");
    assert!(
        v.after.failure_rate() <= v.before.failure_rate() / 2.0,
        "{v:#?}"
    );
    assert!(v.after.p95_duration_ms < v.before.p95_duration_ms, "{v:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_stuck_on_a_silent_service_is_escalated_and_memory_unchanged() {
    // A service that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for c in silent.incoming().flatten().take(64) {
            open.push(c);
        }
    });
    let s = Scenario::new(
        "real-quotes",
        Code::node(test_function("stuck-socket")),
        128,
        2,
    )
    .await;
    let (status, output, run, invocations) = s.run(BEFORE, 4, move |_| json!({"port": port})).await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert!(invocations.iter().all(|i| i.ended == Ended::Timeout));
    assert_eq!(run.status, Status::Escalated, "{:#?}", run.decision);
    assert!(
        kinds(&run).contains(&FindingKind::DownstreamTimeout),
        "{:?}",
        kinds(&run)
    );
    assert!(run.change.is_none());
    assert_eq!(s.memory_mb().await, 128, "memory unchanged");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leak_in_module_state_is_escalated_as_a_leak() {
    let s = Scenario::new("real-leaky", Code::node(test_function("leak")), 128, 10).await;
    let (status, output, run, invocations) = s.run(24, 2, |_| json!({"kb": 12288})).await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert!(invocations.iter().any(|i| i.ended == Ended::OutOfMemory));
    assert_eq!(run.status, Status::Escalated, "{:#?}", run.decision);
    assert!(
        kinds(&run).contains(&FindingKind::MemoryLeak),
        "{:?}",
        kinds(&run)
    );
    assert!(run.change.is_none());
    assert_eq!(s.memory_mb().await, 128, "memory unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_warm_up_plateau_with_code_errors_is_no_leak() {
    let s = Scenario::new(
        "real-warming",
        Code::node(test_function("warm-up")),
        256,
        10,
    )
    .await;
    // One order in three is invalid: the Errors alarm fires for the code.
    let (status, output, run, invocations) = s
        .run(
            BEFORE,
            2,
            |n| json!({"order": if n % 3 == 0 { -1 } else { n as i64 }}),
        )
        .await;
    assert_eq!(status, "SUCCEEDED", "{output}");
    assert!(invocations.iter().any(|i| i.ended == Ended::Error));
    assert!(
        !kinds(&run).contains(&FindingKind::MemoryLeak),
        "{:#?}",
        run.findings
    );
    assert!(run.change.is_none(), "{:#?}", run.decision);
    assert!(
        matches!(run.status, Status::Escalated | Status::NoAction),
        "{:?}",
        run.status
    );
    assert_eq!(s.memory_mb().await, 256, "memory unchanged");
}

/// The stages of the workflow's happy path, as the tasks name them.
const STAGES: [&str; 8] = [
    "parse", "rules", "ai", "decide", "execute", "verify", "rollback", "record",
];

/// An execution under faults on the shipped example: it ends in a terminal
/// state, and the function's memory is what the record says.
async fn survives(s: &Scenario, label: &str) -> Run {
    let (status, output, run, _) = s.run(6, 3, |_| json!({"megabytes": 200})).await;
    assert!(
        matches!(status.as_str(), "SUCCEEDED" | "FAILED"),
        "{label}: {status} {output}"
    );
    assert!(run.status.is_terminal(), "{label}: {:?}", run.status);
    let recorded = Scenario::recorded_memory(&run).unwrap_or(128);
    assert_eq!(
        s.memory_mb().await,
        recorded,
        "{label}: the memory is what the record says: {:?} {:#?} {:#?} {:#?}",
        run.status,
        run.failure,
        run.change,
        run.decision
    );
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_workflow_survives_a_killed_bootstrap_at_every_stage_and_failing_aws_calls() {
    use autorepair_e2e::local_lambda::Crash;
    let s = Scenario::new("real-crash-before", Code::node(example_function()), 128, 10).await;
    // Killed as each stage arrives: Step Functions retries (Lambda.Unknown).
    for stage in STAGES {
        s.h.lambda.crash_stage(stage, Crash::Before, 1);
    }
    let run = survives(&s, "killed before each stage").await;
    assert_eq!(run.status, Status::Repaired, "{:#?}", run.decision);
    let before = s.h.lambda.injected();
    assert_eq!(before, STAGES.len(), "one kill per stage");

    // Killed after each stage committed, before its answer; and in the
    // middle of execute, after UpdateFunctionConfiguration and before the
    // record: the retried task finishes what the dead one started.
    let functions = s.functions.clone();
    functions
        .deploy(
            "real-crash-after",
            &s.h.role,
            Code::node(example_function()),
            128,
            10,
        )
        .await
        .unwrap();
    let after = Scenario {
        h: s.h,
        functions,
        name: "real-crash-after".into(),
    };
    for stage in STAGES {
        after.h.lambda.crash_stage(stage, Crash::After, 1);
    }
    after.h.lambda.crash_after_update(1);
    let run = survives(&after, "killed after each stage").await;
    assert_eq!(run.status, Status::Repaired, "{:#?}", run.decision);
    let killed = after.h.lambda.injected() - before;
    assert_eq!(killed, STAGES.len() + 1);

    // AWS calls that fail once each: the SDK's own retry absorbs them.
    after
        .functions
        .deploy(
            "real-aws-faults",
            &after.h.role,
            Code::node(example_function()),
            128,
            10,
        )
        .await
        .unwrap();
    let aws = Scenario {
        name: "real-aws-faults".into(),
        ..after
    };
    let once = [
        "DynamoDB_20120810.PutItem",
        "DynamoDB_20120810.GetItem",
        "DynamoDB_20120810.UpdateItem",
        "DynamoDB_20120810.Query",
        "Logs_20140328.FilterLogEvents",
        "AWSStepFunctions.DescribeExecution",
        "GET /configuration",
        "PUT /configuration",
    ];
    for op in once {
        aws.h.lambda.fail_aws(op, 1);
    }
    let run = survives(&aws, "AWS calls failing once").await;
    assert_eq!(run.status, Status::Repaired, "{:#?}", run.decision);
    let failed_calls = aws.h.lambda.injected() - before - killed;
    assert_eq!(failed_calls, once.len(), "each injected failure was met");
    eprintln!(
        "faults injected and survived: {} kills before a stage, {} after a stage or mid-execute, {} failed AWS calls",
        before, killed, failed_calls
    );
}
