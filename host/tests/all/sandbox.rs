//! The sandbox promise, tested with real hostile components built from
//! plugins/hostile by the build script, run by real wasmtime.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use autorepair::diagnosis::load_evidence;
use autorepair::model::{Evidence, FailureCause, FindingKind, Grant, Grants};
use autorepair::rules::validate::MAX_OUTPUT_BYTES;
use autorepair::rules::{
    Compiler, Limits, NativeCode, Origin, RuleOutcome, RuleSet, RuleSpec, Sandbox, artifacts,
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
        veto_on_failure: false,
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
        veto_on_failure: false,
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
            assert!(
                message.contains("0.2.x") && message.contains("0.1.x"),
                "{message}"
            );
        }
        other => panic!("expected incompatible, got {other:?}"),
    }
}

#[test]
fn a_rule_built_against_the_previous_line_still_loads_runs_and_logs() {
    let set = RuleSet::load(compiler(), &[hostile("old-line")]);
    assert!(set.load_failures().is_empty(), "{:?}", set.load_failures());
    assert_eq!(set.rules()[0].info.name, "old-line");
    let e = evidence();
    let outcome = &set.evaluate(&e)[0];
    let findings = outcome.result.as_ref().expect("it runs");
    assert_eq!(findings[0].kind, FindingKind::MemoryPressure);
    assert!(
        findings[0]
            .summary
            .contains(&format!("{} reports", e.reports.len())),
        "{}: the evidence crossed",
        findings[0].summary
    );
    assert_eq!(
        outcome.report.logs.len(),
        1,
        "its log went through the 0.1 host"
    );
}

#[test]
fn a_rule_reads_the_execution_environment_of_each_report_it_was_granted() {
    let mut spec = hostile("environments");
    spec.grants = [Grant::Reports, Grant::Logs, Grant::Config]
        .into_iter()
        .collect();
    let set = RuleSet::load(compiler(), &[spec.clone()]);
    assert!(set.load_failures().is_empty(), "{:?}", set.load_failures());
    let mut e = evidence();
    let (reports, lines) = (e.reports.len(), e.logs.len());
    assert!(reports >= 2 && lines >= 2);
    for (i, r) in e.reports.iter_mut().enumerate() {
        r.log_stream = Some(format!("2026/01/01/[$LATEST]{:032x}", i % 2));
    }
    for l in &mut e.logs {
        l.log_stream = Some("2026/01/01/[$LATEST]0".into());
    }
    let said = |set: &RuleSet, e: &Evidence| {
        set.evaluate(e)[0].result.as_ref().expect("it runs")[0]
            .summary
            .clone()
    };
    assert_eq!(
        said(&set, &e),
        format!(
            "{reports} reports, {reports} report streams, 2 environments, {lines} lines, {lines} line streams"
        )
    );
    // What is not granted has no streams either.
    spec.grants = [Grant::Config].into_iter().collect();
    let narrow = RuleSet::load(compiler(), &[spec]);
    assert_eq!(
        said(&narrow, &e),
        "0 reports, 0 report streams, 0 environments, 0 lines, 0 line streams"
    );
}

/// `autorepair:rules/changes` (0.2.3): the bundled code-errors rule names a
/// deployment made before the errors — only when the operator granted
/// `changes`.
#[test]
fn a_rule_sees_the_recent_changes_only_with_the_changes_grant() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/evidence/code-errors-node.json");
    let mut e = load_evidence(&path).expect("fixture");
    let alarm_ms = e.window.end_ms;
    e.changes = vec![
        autorepair::model::FunctionChange {
            action: "UpdateFunctionCode".into(),
            at_ms: alarm_ms - 12 * 60_000,
            by: "deploy-bot".into(),
            request_id: String::new(),
        },
        autorepair::model::FunctionChange {
            action: "UpdateFunctionConfiguration".into(),
            at_ms: alarm_ms - 2 * 60_000,
            by: "alice".into(),
            request_id: String::new(),
        },
    ];
    let finding = |grants: Grants| {
        let mut spec = bundled("code-errors");
        spec.grants = grants;
        let set = RuleSet::load(compiler(), &[spec]);
        assert!(set.load_failures().is_empty(), "{:?}", set.load_failures());
        assert!(set.rules()[0].uses_statistics());
        set.evaluate(&e)[0].result.as_ref().expect("it runs")[0].clone()
    };
    let granted = finding(Grants::ALL);
    assert_eq!(granted.kind, FindingKind::CodeError);
    assert!(
        granted.evidence.contains(
            &"code deployed 12 min before the alarm (UpdateFunctionCode by deploy-bot)".to_owned()
        ),
        "{:?}",
        granted.evidence
    );
    let without: Grants = Grant::ALL
        .into_iter()
        .filter(|g| *g != Grant::Changes)
        .collect();
    let blind = finding(without);
    assert!(
        !blind.evidence.iter().any(|l| l.contains("deployed")),
        "{:?}",
        blind.evidence
    );
    assert!(granted.confidence > blind.confidence);
}

#[test]
fn a_rule_built_against_an_earlier_release_of_the_line_still_loads_and_runs() {
    // Built against autorepair:rules@0.2.0: no `statistics` import, and it
    // exports rule@0.2.0, which this 0.2.3 host finds by semver.
    let set = RuleSet::load(compiler(), &[hostile("earlier-minor")]);
    assert!(set.load_failures().is_empty(), "{:?}", set.load_failures());
    assert_eq!(set.rules()[0].info.version, "0.2.0");
    let e = evidence();
    let outcome = &set.evaluate(&e)[0];
    let findings = outcome.result.as_ref().expect("it runs");
    assert_eq!(findings[0].kind, FindingKind::MemoryLeak);
    assert!(
        findings[0]
            .summary
            .contains(&format!("{} reports", e.reports.len())),
        "{}",
        findings[0].summary
    );
    assert_eq!(outcome.report.logs.len(), 1, "its log reached the host");
}

#[test]
fn only_bundled_rules_keep_their_instance_and_a_failure_drops_it() {
    let called = |set: &RuleSet, function: &str| -> Result<String, FailureCause> {
        let mut e = evidence();
        e.function.name = function.into();
        let outcome = set.evaluate_serial(&e).pop().expect("one outcome");
        outcome.result.map(|f| f[0].summary.clone())
    };
    // A rule from a file: a fresh instance every call, nothing remembered.
    let external = RuleSet::load(compiler(), &[hostile("remembers")]);
    assert!(!external.rules()[0].keeps_instance());
    for _ in 0..3 {
        assert_eq!(
            called(&external, "orders").unwrap(),
            "call 1 of this instance"
        );
    }
    // The same code as if built into the binary: its instance is kept...
    let mut spec = hostile("remembers");
    spec.origin = Origin::Bundled;
    let kept = RuleSet::load(compiler(), &[spec]);
    assert!(kept.rules()[0].keeps_instance());
    assert_eq!(called(&kept, "orders").unwrap(), "call 1 of this instance");
    assert_eq!(called(&kept, "orders").unwrap(), "call 2 of this instance");
    // ...until a call fails: the instance is dropped, the next one is new.
    assert!(matches!(
        called(&kept, "trap-me"),
        Err(FailureCause::Panic(_))
    ));
    assert_eq!(called(&kept, "orders").unwrap(), "call 1 of this instance");
}

#[test]
fn bundled_rules_start_from_the_code_embedded_at_build_time() {
    let set = RuleSet::load(
        &Compiler::new(Arc::new(Sandbox::new(64).expect("sandbox")), None),
        &[bundled("oom"), bundled("throttles")],
    );
    assert!(set.load_failures().is_empty(), "{:?}", set.load_failures());
    for rule in set.rules() {
        assert_eq!(rule.native_code, NativeCode::Embedded, "{}", rule.info.name);
    }
    // A component that is not bundled is compiled.
    let other = RuleSet::load(
        &Compiler::new(Arc::new(Sandbox::new(64).expect("sandbox")), None),
        &[hostile("old-line")],
    );
    assert_eq!(other.rules()[0].native_code, NativeCode::Compiled);
}

#[test]
fn embedded_code_for_another_engine_configuration_is_recompiled_not_trusted() {
    // A metered engine (fuel on, as `rule test` uses) shapes code differently:
    // wasmtime refuses the embedded artifacts and the rule is compiled, and runs.
    let metered = Compiler::new(Arc::new(Sandbox::metered(64).expect("sandbox")), None);
    let set = RuleSet::load(&metered, &[bundled("oom")]);
    assert!(set.load_failures().is_empty(), "{:?}", set.load_failures());
    assert_eq!(set.rules()[0].native_code, NativeCode::Compiled);
    let outcome = &set.evaluate(&evidence())[0];
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}

#[test]
fn statistics_cover_what_was_granted_and_nothing_more() {
    // The bundled oom rule reads out-of-memory lines through the host's
    // statistics, not from raw lines: granted logs, its finding quotes them.
    let e = evidence();
    assert!(
        e.logs
            .iter()
            .any(|l| l.message.contains("heap out of memory")),
        "the fixture has an OOM line"
    );
    let granted = run_one(bundled("oom"));
    let findings = granted.result.expect("oom runs");
    assert!(
        findings[0]
            .evidence
            .iter()
            .any(|line| line.contains("heap out of memory")),
        "{:?}",
        findings[0].evidence
    );
    // Without the logs grant the statistics count no lines and quote none.
    let mut withheld = bundled("oom");
    withheld.grants = [Grant::Reports, Grant::Config].into_iter().collect();
    let findings = run_one(withheld).result.expect("oom runs");
    assert!(
        findings
            .iter()
            .flat_map(|f| &f.evidence)
            .all(|line| !line.contains("heap out of memory")),
        "{findings:?}"
    );
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
    assert!(report.logs.len() <= autorepair::rules::MAX_LOG_CALLS + 1);
    assert!(report.logs_dropped > 0);
    assert!(
        report
            .logs
            .iter()
            .all(|l| l.message.len() <= autorepair::rules::MAX_LOG_BYTES + '…'.len_utf8())
    );
    let kept: usize = report.logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= MAX_OUTPUT_BYTES + 200, "{kept} bytes of logs kept");
    assert!(
        report
            .logs
            .last()
            .unwrap()
            .message
            .contains("output budget"),
        "the cut is marked"
    );
}

/// How long a hostile call may take beyond its budget: the slack is
/// 100 ms; the timing figures themselves are in docs/benchmarks.md (the
/// `hostile` bench). Tests assert the cause, which tells a contained call from
/// one that ran to its end.
fn waited(cause: &FailureCause) -> bool {
    matches!(cause, FailureCause::Trap(m) if m.contains("rules may not block"))
}

#[test]
fn a_sleep_in_evaluate_ends_the_call_instead_of_waiting() {
    let outcome = run_one(hostile("sleep-evaluate"));
    let cause = outcome.result.expect_err("a sleeping rule fails");
    assert!(waited(&cause), "{cause:?}");
}

#[test]
fn a_sleep_in_describe_refuses_the_rule_at_load_and_the_others_load() {
    let set = RuleSet::load(compiler(), &[hostile("sleep-describe"), bundled("oom")]);
    assert_eq!(set.rules().len(), 1, "oom loads");
    assert_eq!(set.load_failures().len(), 1);
    assert!(
        waited(&set.load_failures()[0].cause),
        "{:?}",
        set.load_failures()
    );
    let outcomes = set.evaluate(&evidence());
    assert!(outcomes[0].result.as_ref().is_ok_and(|f| !f.is_empty()));
}

#[test]
fn a_wait_with_poll_ends_the_call() {
    let cause = cause(hostile("poll-wait"));
    assert!(waited(&cause), "{cause:?}");
}

#[test]
fn spinning_on_a_clock_pollable_is_stopped_by_the_deadline() {
    let mut spec = hostile("pollable-spin");
    spec.limits.cpu_budget_ms = 30;
    assert_eq!(cause(spec), FailureCause::CpuBudget(30));
}

#[test]
fn a_huge_log_message_is_read_only_up_to_its_cap_and_cleaned() {
    let outcome = run_one(hostile("huge-log"));
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    let log = &outcome.report.logs[0];
    assert!(log.message.len() <= autorepair::rules::MAX_LOG_BYTES + 4);
    assert!(!log.message.contains('\u{1b}') && !log.message.contains('\n'));
    assert!(log.message.contains("␛[31mhuge"), "{}", log.message);
}

#[test]
fn the_most_output_each_field_allows_is_over_the_rules_budget() {
    match cause(hostile("max-output")) {
        FailureCause::InvalidOutput(message) => {
            assert!(message.contains("output budget"), "{message}")
        }
        other => panic!("expected invalid output, got {other:?}"),
    }
}

#[test]
fn rule_text_reaches_the_host_clean() {
    // The obeyed side: a finding within budget keeps its words, loses its escapes.
    let mut finding = autorepair::model::Finding {
        kind: FindingKind::Other,
        confidence: 0.5,
        summary: "\u{1b}[2Jcleared\nSubject: fake".into(),
        evidence: vec!["line\r\nbreak".into()],
        recommendation: autorepair::model::Recommendation::Keep,
    };
    autorepair::rules::validate::clean_findings(std::slice::from_mut(&mut finding));
    assert_eq!(finding.summary, "␛[2Jcleared Subject: fake");
    assert_eq!(finding.evidence[0], "line  break");
}

#[test]
fn many_memories_in_one_component_are_refused() {
    let set = RuleSet::load(compiler(), &[hostile("many-memories")]);
    assert!(set.rules().is_empty(), "refused at load");
    let failure = &set.load_failures()[0];
    assert!(
        matches!(&failure.cause, FailureCause::Load(m) | FailureCause::Trap(m) if m.contains("memor")),
        "{failure:?}"
    );
}

#[test]
fn memory_split_over_several_memories_counts_against_one_cap() {
    // Three memories of 32 MiB: each under the 64 MiB cap, together over it.
    let mut spec = hostile("split-memory");
    spec.limits.memory_mib = 64;
    let set = RuleSet::load(compiler(), &[spec]);
    assert!(set.rules().is_empty(), "refused at load");
    let failure = &set.load_failures()[0];
    assert!(
        matches!(
            &failure.cause,
            FailureCause::MemoryCap(64) | FailureCause::Load(_)
        ),
        "{failure:?}"
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
    // Refused at load: the wrong version, the rule that sleeps in describe and
    // the two that ask for too much memory. The others run beside the good rule.
    let refused: Vec<&str> = set
        .load_failures()
        .iter()
        .map(|f| f.rule.as_str())
        .collect();
    assert_eq!(refused.len(), 4, "{:?}", set.load_failures());
    let outcomes = set.evaluate(&evidence());
    assert_eq!(
        outcomes.len(),
        autorepair::testing::hostile::HOSTILE.len() + 1 - refused.len()
    );

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
        "hostile-sleep-evaluate",
        "hostile-poll-wait",
        "hostile-pollable-spin",
        "hostile-max-output",
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
    assert!(flood.report.logs_dropped > 0);
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
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    let sandbox = Arc::new(Sandbox::new(64).unwrap());
    // A rule from a file (bundled ones start from the code in the binary).
    let first = Compiler::new(sandbox.clone(), Some(dir.clone()));
    assert_eq!(
        first.load(&hostile("old-line")).unwrap().native_code,
        NativeCode::Compiled
    );
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().is_some_and(|e| e == "cwasm"));

    // A fresh process (a fresh compiler) loads from the cache...
    let second = Compiler::new(sandbox.clone(), Some(dir.clone()));
    let loaded = second.load(&hostile("old-line")).unwrap();
    assert_eq!(loaded.info.name, "old-line");
    assert_eq!(loaded.native_code, NativeCode::Cache);

    // ...and a corrupted artifact is detected, dropped and rebuilt.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&files[0], &bytes).unwrap();
    let third = Compiler::new(sandbox.clone(), Some(dir.clone()));
    assert_eq!(
        third.load(&hostile("old-line")).unwrap().info.name,
        "old-line"
    );
    assert_ne!(std::fs::read(&files[0]).unwrap(), bytes);

    // Planted: the native code of another component (a hostile one) under
    // old-line's name, with the sha256 trailer the old cache accepted.
    let engine = sandbox.engine();
    let hostile_code = engine
        .precompile_component(&std::fs::read(autorepair::testing::hostile::path("panic")).unwrap())
        .unwrap();
    let mut planted = hostile_code.clone();
    planted.extend_from_slice(&sha2_of(&hostile_code));
    std::fs::write(&files[0], &planted).unwrap();
    let fourth = Compiler::new(sandbox, Some(dir.clone()));
    let loaded = fourth
        .load(&hostile("old-line"))
        .expect("recompiled from its bytes");
    assert_eq!(loaded.info.name, "old-line", "the planted code never ran");
    assert_ne!(
        std::fs::read(&files[0]).unwrap(),
        planted,
        "and was replaced"
    );
}

fn sha2_of(bytes: &[u8]) -> Vec<u8> {
    let hex = autorepair::digest::sha256_hex(bytes);
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
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
    // None reads raw lines any more: the line counts they need come with the
    // host's statistics (so no line is copied into any of them).
    for rule in set.rules() {
        assert!(
            !rule.effective_grants().contains(Grant::Logs),
            "{}",
            rule.info.name
        );
    }
}
