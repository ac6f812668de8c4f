//! The sandbox promise, tested with real hostile components built from
//! plugins/hostile by the build script, run by real wasmtime.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use autorepair::diagnosis::load_evidence;
use autorepair::model::{Evidence, FailureCause, FindingKind, Grant, Grants};
use autorepair::rules::{
    Compiler, Limits, Origin, RuleOutcome, RuleSet, RuleSpec, Sandbox, artifacts,
};
use autorepair::trust::Trust;

/// One compiler for the whole test process, so each component compiles once.
fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| Compiler::new(Arc::new(Sandbox::new(64).expect("sandbox")), None))
}

fn evidence() -> Evidence {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/evidence/oom-node.json");
    load_evidence(&path).expect("fixture")
}

/// A CPU budget far above what any plugin here needs when it behaves, so each
/// fails for its own reason even on a loaded 2-core machine; only the infinite
/// loop runs into it.
const TEST_LIMITS: Limits = Limits {
    cpu_budget_ms: 1_000,
    memory_mib: 32,
};

fn hostile(name: &str) -> RuleSpec {
    let path = autorepair::testing::hostile::path(name);
    RuleSpec {
        origin: Origin::External(path.into()),
        bytes: Arc::from(std::fs::read(path).expect("hostile plugin built")),
        grants: [Grant::Metrics, Grant::Reports, Grant::Config]
            .into_iter()
            .collect(),
        limits: TEST_LIMITS,
        shadow: false,
        trust: Trust::Pinned,
    }
}

fn bundled(name: &str) -> RuleSpec {
    let (_, bytes) = artifacts::BUNDLED
        .iter()
        .find(|(n, _)| *n == name)
        .expect("bundled rule");
    RuleSpec {
        origin: Origin::Bundled,
        bytes: Arc::from(*bytes),
        grants: Grants::ALL,
        limits: Limits::default(),
        shadow: false,
        trust: Trust::Pinned,
    }
}

/// Loads one rule and runs it on the fixture incident.
fn run_one(spec: RuleSpec) -> RuleOutcome {
    let set = RuleSet::load(compiler(), &[spec]);
    assert!(set.load_failures().is_empty(), "{:?}", set.load_failures());
    set.evaluate(&evidence()).pop().expect("one outcome")
}

fn cause(spec: RuleSpec) -> FailureCause {
    run_one(spec)
        .result
        .expect_err("the hostile rule must fail")
}

#[test]
fn an_infinite_loop_is_stopped_by_the_cpu_budget() {
    let mut spec = hostile("infinite-loop");
    spec.limits.cpu_budget_ms = 30;
    assert_eq!(cause(spec), FailureCause::CpuBudget(30));
}

#[test]
fn a_memory_bomb_is_stopped_by_the_memory_cap() {
    assert_eq!(cause(hostile("memory-bomb")), FailureCause::MemoryCap(32));
}

#[test]
fn the_same_rule_within_a_larger_cap_gets_further() {
    // The obeyed side of the pair: the bomb still fails, but only at the higher cap.
    let mut spec = hostile("memory-bomb");
    spec.limits.memory_mib = 64;
    assert_eq!(cause(spec), FailureCause::MemoryCap(64));
}

#[test]
fn unbounded_recursion_exhausts_the_stack_not_the_host() {
    assert_eq!(
        cause(hostile("stack-overflow")),
        FailureCause::StackOverflow
    );
}

#[test]
fn a_trap_is_reported_as_a_trap() {
    match cause(hostile("trap")) {
        FailureCause::Trap(message) => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_panic_is_reported_with_its_message() {
    match cause(hostile("panic")) {
        FailureCause::Panic(message) => assert!(
            message.contains("hostile rule gave up on orders-api"),
            "{message}"
        ),
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn huge_output_is_refused() {
    match cause(hostile("huge-output")) {
        FailureCause::InvalidOutput(message) => {
            assert!(message.contains("summary of 4194304 bytes"), "{message}")
        }
        other => panic!("expected invalid output, got {other:?}"),
    }
}

#[test]
fn out_of_range_values_are_refused() {
    match cause(hostile("invalid-values")) {
        FailureCause::InvalidOutput(message) => {
            assert!(message.contains("confidence 1.7"), "{message}")
        }
        other => panic!("expected invalid output, got {other:?}"),
    }
}

#[test]
fn a_rule_built_for_another_major_version_is_refused_at_load() {
    let set = RuleSet::load(compiler(), &[hostile("wrong-version")]);
    assert!(set.rules().is_empty());
    match &set.load_failures()[0].cause {
        FailureCause::Incompatible(message) => {
            assert!(message.contains("autorepair:rules/rule@1.0.0"), "{message}");
            assert!(message.contains("0.1.x"), "{message}");
        }
        other => panic!("expected incompatible, got {other:?}"),
    }
}

#[test]
fn logs_are_withheld_unless_granted() {
    let outcome = run_one(hostile("greedy-logs"));
    let findings = outcome.result.expect("greedy-logs succeeds");
    assert_eq!(findings[0].summary, "saw 0 log lines");

    let mut granted = hostile("greedy-logs");
    granted.grants = Grants::ALL;
    let lines = evidence().logs.len();
    let findings = run_one(granted).result.expect("greedy-logs succeeds");
    assert_eq!(findings[0].summary, format!("saw {lines} log lines"));
}

#[test]
fn a_log_flood_is_bounded() {
    let outcome = run_one(hostile("log-flood"));
    let report = &outcome.report;
    assert_eq!(report.logs.len(), autorepair::rules::MAX_LOG_CALLS);
    assert!(report.logs_dropped > 0);
    assert!(
        report
            .logs
            .iter()
            .all(|l| l.message.len() <= autorepair::rules::MAX_LOG_BYTES + '…'.len_utf8())
    );
}

#[test]
fn bytes_that_are_not_a_component_are_a_load_failure() {
    let mut spec = hostile("trap");
    spec.bytes = Arc::from(&b"\0asm but not really"[..]);
    let set = RuleSet::load(compiler(), &[spec]);
    assert!(matches!(
        set.load_failures()[0].cause,
        FailureCause::Load(_)
    ));
}

#[test]
fn every_hostile_rule_at_once_leaves_the_good_rules_findings_standing() {
    let mut specs: Vec<RuleSpec> = autorepair::testing::hostile::HOSTILE
        .iter()
        .map(|(name, _)| hostile(name))
        .collect();
    specs.push(bundled("oom"));
    let set = RuleSet::load(compiler(), &specs);
    // wrong-version never loads; the other nine run beside the good rule.
    assert_eq!(set.load_failures().len(), 1);
    let outcomes = set.evaluate(&evidence());
    assert_eq!(outcomes.len(), autorepair::testing::hostile::HOSTILE.len());

    let good = outcomes.iter().find(|o| o.rule == "oom").expect("oom ran");
    let findings = good.result.as_ref().expect("oom succeeded");
    assert_eq!(findings[0].kind, FindingKind::MemoryExhaustion);

    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.rule.as_str())
        .collect();
    for expected in [
        "hostile-infinite-loop",
        "hostile-memory-bomb",
        "hostile-stack-overflow",
        "hostile-trap",
        "hostile-panic",
        "hostile-huge-output",
        "hostile-invalid-values",
    ] {
        assert!(
            failed.contains(&expected),
            "{expected} should have failed: {failed:?}"
        );
    }
    // The flood and the greedy rule are contained rather than failed.
    let flood = outcomes
        .iter()
        .find(|o| o.rule == "hostile-log-flood")
        .unwrap();
    assert_eq!(flood.report.logs.len(), autorepair::rules::MAX_LOG_CALLS);
    let greedy = outcomes
        .iter()
        .find(|o| o.rule == "hostile-greedy-logs")
        .unwrap();
    assert_eq!(
        greedy.result.as_ref().unwrap()[0].summary,
        "saw 0 log lines"
    );
}

#[test]
fn precompiled_rules_are_cached_on_disk_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Arc::new(Sandbox::new(64).unwrap());
    let first = Compiler::new(sandbox.clone(), Some(dir.path().to_owned()));
    assert!(first.load(&bundled("throttles")).is_ok());
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().is_some_and(|e| e == "cwasm"));

    // A fresh process (a fresh compiler) loads from the cache...
    let second = Compiler::new(sandbox.clone(), Some(dir.path().to_owned()));
    assert_eq!(
        second.load(&bundled("throttles")).unwrap().info.name,
        "throttles"
    );

    // ...and a corrupted artifact is detected, dropped and rebuilt.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&files[0], &bytes).unwrap();
    let third = Compiler::new(sandbox, Some(dir.path().to_owned()));
    assert_eq!(
        third.load(&bundled("throttles")).unwrap().info.name,
        "throttles"
    );
    assert_ne!(std::fs::read(&files[0]).unwrap(), bytes);
}

#[test]
fn bundled_rules_describe_themselves() {
    let specs: Vec<RuleSpec> = artifacts::BUNDLED
        .iter()
        .map(|(name, _)| bundled(name))
        .collect();
    let set = RuleSet::load(compiler(), &specs);
    let names: Vec<&str> = set.rules().iter().map(|r| r.info.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "oom",
            "memory-pressure",
            "timeouts",
            "throttles",
            "code-errors"
        ]
    );
    let throttles = &set.rules()[3];
    assert!(!throttles.effective_grants().contains(Grant::Logs));
}
