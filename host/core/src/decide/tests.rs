use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::{Finding, Source};

fn function(memory_mb: u32, opted_in: bool) -> FunctionInfo {
    let mut tags = BTreeMap::new();
    if opted_in {
        tags.insert("autorepair".to_owned(), "enabled".to_owned());
    }
    FunctionInfo {
        name: "orders".into(),
        arn: String::new(),
        runtime: "python3.12".into(),
        architecture: "arm64".into(),
        memory_mb,
        timeout_s: 3,
        qualifier: None,
        tags,
        ..FunctionInfo::default()
    }
}

fn finding(source: Source, kind: FindingKind, recommendation: Recommendation) -> SourcedFinding {
    SourcedFinding {
        source,
        shadow: false,
        finding: Finding {
            kind,
            confidence: 0.9,
            summary: "s".into(),
            evidence: vec![],
            recommendation,
        },
    }
}

fn rule(name: &str) -> Source {
    Source::Rule(name.into())
}

fn set(mb: u32) -> Recommendation {
    Recommendation::SetMemory { memory_mb: mb }
}

fn escalate() -> Recommendation {
    Recommendation::Escalate {
        reason: "look".into(),
    }
}

fn run(memory: u32, findings: &[SourcedFinding], mode: MergeMode) -> Decision {
    let f = function(memory, true);
    let situation = Situation {
        function: &f,
        findings,
        failures: &[],
        history: History::default(),
        now_ms: 0,
        report_doubt: None,
    };
    decide(&situation, &Policy::default(), mode)
}

#[test]
fn oom_finding_sets_memory() {
    let d = run(
        512,
        &[finding(
            rule("oom"),
            FindingKind::MemoryExhaustion,
            set(768),
        )],
        MergeMode::Rules,
    );
    assert_eq!(d.action, Action::SetMemory);
    assert_eq!(d.target_memory_mb, Some(768));
    assert_eq!(d.current_memory_mb, 512);
}

#[test]
fn a_pause_on_every_function_or_on_this_one_turns_a_change_into_an_escalation() {
    use crate::model::Pause;
    let oom = [finding(
        rule("oom"),
        FindingKind::MemoryExhaustion,
        set(768),
    )];
    let pause = |function: Option<&str>| Pause {
        function: function.map(str::to_owned),
        by: "alice".into(),
        reason: Some("deploy freeze".into()),
        at_ms: 0,
    };
    let pauses = [pause(Some("payments")), pause(None)];
    let all = Pause::on(&pauses, "orders");
    assert_eq!(
        all.unwrap().function,
        None,
        "the pause on every function holds"
    );
    let d = unless_paused(run(512, &oom, MergeMode::Rules), all);
    assert_eq!((d.action, d.target_memory_mb), (Action::Escalate, None));
    let why = d.reasons.last().unwrap();
    assert!(
        why.contains("paused for every function by alice")
            && why.contains("(deploy freeze)")
            && why.contains("512 MB → 768 MB was decided, not made"),
        "{why}"
    );
    // Another function's pause does not hold this one.
    let only_payments = [pause(Some("payments"))];
    assert!(Pause::on(&only_payments, "orders").is_none());
    let d = unless_paused(
        run(512, &oom, MergeMode::Rules),
        Pause::on(&only_payments, "orders"),
    );
    assert_eq!(d.action, Action::SetMemory);
    // What changes nothing is left as it is.
    let none = run(512, &[], MergeMode::Rules);
    assert_eq!(unless_paused(none.clone(), all), none);
}

#[test]
fn throttling_never_changes_memory() {
    let d = run(
        512,
        &[finding(rule("x"), FindingKind::Throttling, set(1024))],
        MergeMode::Rules,
    );
    assert_eq!(d.action, Action::Escalate);
    assert!(d.reasons.iter().any(|r| r.contains("never changes memory")));
}

#[test]
fn a_leak_escalates_even_when_another_source_asks_for_memory() {
    let d = run(
        512,
        &[
            finding(rule("oom"), FindingKind::MemoryLeak, escalate()),
            finding(
                rule("memory-pressure"),
                FindingKind::MemoryPressure,
                set(768),
            ),
        ],
        MergeMode::Rules,
    );
    assert_eq!(d.action, Action::Escalate, "{:?}", d.reasons);
    assert!(d.reasons.iter().any(|r| r.contains("memory leak")));
    // Asking for memory under the leak kind itself changes nothing either.
    let d = run(
        512,
        &[finding(rule("x"), FindingKind::MemoryLeak, set(1024))],
        MergeMode::Rules,
    );
    assert_eq!(d.action, Action::Escalate);
}

#[test]
fn an_out_of_memory_step_cut_too_small_by_the_ceiling_escalates() {
    // 2688 MB out of memory: ×1.5 is 4032, the ceiling (3008) leaves +12 %.
    let d = run(
        2688,
        &[finding(
            rule("oom"),
            FindingKind::MemoryExhaustion,
            set(4032),
        )],
        MergeMode::Rules,
    );
    assert_eq!(d.action, Action::Escalate, "{:?}", d.reasons);
    assert!(d.reasons.iter().any(|r| r.contains("too small")));
    // Memory pressure is not an out of memory: a small step is a step.
    let d = run(
        2688,
        &[finding(
            rule("memory-pressure"),
            FindingKind::MemoryPressure,
            set(3200),
        )],
        MergeMode::Rules,
    );
    assert_eq!(d.action, Action::SetMemory);
}

#[test]
fn not_opted_in_means_none() {
    let f = function(512, false);
    let findings = [finding(
        rule("oom"),
        FindingKind::MemoryExhaustion,
        set(768),
    )];
    let s = Situation {
        function: &f,
        findings: &findings,
        failures: &[],
        history: History::default(),
        now_ms: 0,
        report_doubt: None,
    };
    let d = decide(&s, &Policy::default(), MergeMode::Rules);
    assert_eq!(d.action, Action::None);
    assert!(d.reasons.last().unwrap().contains("not opted in"));
}

#[test]
fn steps_are_clamped_and_each_clamp_is_named() {
    // ×2 caps 1024 → 2048 before the +2048 or the ceiling would.
    let d = run(
        1024,
        &[finding(
            rule("oom"),
            FindingKind::MemoryExhaustion,
            set(9000),
        )],
        MergeMode::Rules,
    );
    assert_eq!(d.target_memory_mb, Some(2048));
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("clamped 9000 MB to 2048 MB (×2 per step)"))
    );
    // the ceiling (3008) caps 2048 → 4096
    let d = run(
        2048,
        &[finding(
            rule("oom"),
            FindingKind::MemoryExhaustion,
            set(4096),
        )],
        MergeMode::Rules,
    );
    assert_eq!(d.target_memory_mb, Some(3008));
}

#[test]
fn at_the_ceiling_escalates() {
    let d = run(
        3008,
        &[finding(
            rule("oom"),
            FindingKind::MemoryExhaustion,
            set(4096),
        )],
        MergeMode::Rules,
    );
    assert_eq!(d.action, Action::Escalate);
    assert_eq!(d.target_memory_mb, None);
}

#[test]
fn cooldown_and_daily_cap_refuse_a_step() {
    let f = function(512, true);
    let findings = [finding(
        rule("oom"),
        FindingKind::MemoryExhaustion,
        set(768),
    )];
    let recent = Situation {
        function: &f,
        findings: &findings,
        failures: &[],
        history: History {
            last_change_ms: Some(0),
            changes_last_24h: 1,
        },
        now_ms: 30 * 60_000,
        report_doubt: None,
    };
    assert_eq!(
        decide(&recent, &Policy::default(), MergeMode::Rules).action,
        Action::Escalate
    );
    let capped = Situation {
        history: History {
            last_change_ms: Some(0),
            changes_last_24h: 3,
        },
        now_ms: 2 * 3_600_000,
        ..recent
    };
    assert_eq!(
        decide(&capped, &Policy::default(), MergeMode::Rules).action,
        Action::Escalate
    );
    let later = Situation {
        history: History {
            last_change_ms: Some(0),
            changes_last_24h: 2,
        },
        ..capped
    };
    assert_eq!(
        decide(&later, &Policy::default(), MergeMode::Rules).action,
        Action::SetMemory
    );
}

#[test]
fn merge_modes_pick_their_deciders() {
    let both = [
        finding(rule("oom"), FindingKind::MemoryExhaustion, set(768)),
        finding(Source::Ai, FindingKind::MemoryExhaustion, set(1024)),
    ];
    assert_eq!(
        run(512, &both, MergeMode::Rules).target_memory_mb,
        Some(768)
    );
    assert_eq!(run(512, &both, MergeMode::Ai).target_memory_mb, Some(1024));
    assert_eq!(
        run(512, &both, MergeMode::Consensus).target_memory_mb,
        Some(1024)
    );
    assert_eq!(
        run(512, &both, MergeMode::RulesFirst).target_memory_mb,
        Some(768)
    );
    assert_eq!(
        run(512, &both, MergeMode::AiFirst).target_memory_mb,
        Some(1024)
    );

    let ai_only = [finding(
        Source::Ai,
        FindingKind::MemoryExhaustion,
        set(1024),
    )];
    assert_eq!(run(512, &ai_only, MergeMode::Rules).action, Action::None);
    assert_eq!(
        run(512, &ai_only, MergeMode::RulesFirst).target_memory_mb,
        Some(1024)
    );
    assert_eq!(
        run(512, &ai_only, MergeMode::Consensus).action,
        Action::Escalate
    );
}

#[test]
fn consensus_escalates_when_the_ai_disagrees() {
    let split = [
        finding(rule("oom"), FindingKind::MemoryExhaustion, set(768)),
        finding(Source::Ai, FindingKind::CodeError, escalate()),
    ];
    let d = run(512, &split, MergeMode::Consensus);
    assert_eq!(d.action, Action::Escalate);
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("consensus not reached"))
    );
}

#[test]
fn out_of_memory_at_lambdas_maximum_escalates_with_the_reason() {
    let d = run(
        10_240,
        &[finding(
            rule("oom"),
            FindingKind::MemoryExhaustion,
            set(10_240),
        )],
        MergeMode::Rules,
    );
    assert_eq!(d.action, Action::Escalate);
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("memory exhaustion at 10240 MB")),
        "{:?}",
        d.reasons
    );
}

fn failed(rule: &str, veto: bool) -> crate::model::RuleFailure {
    crate::model::RuleFailure {
        rule: rule.into(),
        veto,
        cause: crate::model::FailureCause::CpuBudget(50),
    }
}

#[test]
fn a_failed_veto_rule_escalates_instead_of_letting_memory_win() {
    let f = function(512, true);
    let findings = [finding(
        rule("oom"),
        FindingKind::MemoryExhaustion,
        set(768),
    )];
    let failures = [failed("throttles", true)];
    let s = Situation {
        function: &f,
        findings: &findings,
        failures: &failures,
        history: History::default(),
        now_ms: 0,
        report_doubt: None,
    };
    for mode in MergeMode::ALL {
        let d = decide(&s, &Policy::default(), mode);
        assert_ne!(d.action, Action::SetMemory, "{mode}: {:?}", d.reasons);
    }
    let d = decide(&s, &Policy::default(), MergeMode::Rules);
    assert_eq!(d.action, Action::Escalate);
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("throttles (ran past its CPU budget")),
        "{:?}",
        d.reasons
    );

    // The obeyed side: a failed rule that cannot veto does not block.
    let failures = [failed("memory-pressure", false)];
    let s = Situation {
        failures: &failures,
        ..s
    };
    assert_eq!(
        decide(&s, &Policy::default(), MergeMode::Rules).action,
        Action::SetMemory
    );
}

#[test]
fn a_repair_never_lowers_memory() {
    let d = run(
        1024,
        &[finding(rule("x"), FindingKind::MemoryPressure, set(512))],
        MergeMode::Rules,
    );
    assert_eq!(d.action, Action::None);
}

#[test]
fn would_have_covers_every_mode_and_each_source_alone() {
    let f = function(512, true);
    let findings = [
        finding(rule("oom"), FindingKind::MemoryExhaustion, set(768)),
        SourcedFinding {
            shadow: true,
            ..finding(rule("third-party"), FindingKind::MemoryPressure, set(640))
        },
        finding(Source::Ai, FindingKind::CodeError, escalate()),
    ];
    let s = Situation {
        function: &f,
        findings: &findings,
        failures: &[],
        history: History::default(),
        now_ms: 0,
        report_doubt: None,
    };
    let all = would_have(&s, &Policy::default());
    let by = |key: &str| {
        all.iter()
            .find(|w| w.by == key)
            .unwrap_or_else(|| panic!("{key} missing"))
    };
    assert_eq!(by("mode:rules").target_memory_mb, Some(768));
    assert_eq!(by("mode:ai").action, Action::Escalate);
    assert_eq!(by("mode:consensus").action, Action::Escalate);
    assert_eq!(by("source:rule:oom").target_memory_mb, Some(768));
    // The shadow rule is judged as if it decided.
    assert_eq!(by("source:rule:third-party").target_memory_mb, Some(640));
    assert_eq!(by("source:ai").action, Action::Escalate);
    assert_eq!(all.len(), MergeMode::ALL.len() + 3);
}

#[test]
fn merge_mode_parses_from_its_name() {
    for mode in MergeMode::ALL {
        assert_eq!(mode.to_string().parse::<MergeMode>(), Ok(mode));
    }
    assert!("majority".parse::<MergeMode>().is_err());
}

fn any_kind() -> impl Strategy<Value = FindingKind> {
    prop_oneof![
        Just(FindingKind::MemoryExhaustion),
        Just(FindingKind::MemoryPressure),
        Just(FindingKind::CpuStarvation),
        Just(FindingKind::DownstreamTimeout),
        Just(FindingKind::Throttling),
        Just(FindingKind::CodeError),
        Just(FindingKind::Other),
        Just(FindingKind::MemoryLeak),
    ]
}

fn any_recommendation() -> impl Strategy<Value = Recommendation> {
    prop_oneof![
        (0u32..20_000).prop_map(set),
        Just(Recommendation::Keep),
        Just(escalate()),
    ]
}

fn any_finding() -> impl Strategy<Value = SourcedFinding> {
    (
        any::<bool>(),
        "[a-z]{1,6}",
        any_kind(),
        any_recommendation(),
        any::<bool>(),
    )
        .prop_map(|(ai, name, kind, rec, shadow)| {
            let source = if ai { Source::Ai } else { Source::Rule(name) };
            SourcedFinding {
                shadow,
                ..finding(source, kind, rec)
            }
        })
}

fn any_mode() -> impl Strategy<Value = MergeMode> {
    prop::sample::select(MergeMode::ALL.to_vec())
}

fn any_policy() -> impl Strategy<Value = Policy> {
    (128u32..=10_240, 1.01f64..4.0, 1u32..4096).prop_map(
        |(ceiling_mb, max_step_ratio, max_step_mb)| Policy {
            ceiling_mb,
            max_step_ratio,
            max_step_mb,
            ..Policy::default()
        },
    )
}

proptest! {
    #[test]
    fn target_is_always_within_bounds_and_above_current(
        memory in 128u32..=10_240,
        findings in prop::collection::vec(any_finding(), 0..8),
        mode in any_mode(),
        policy in any_policy(),
    ) {
        let f = function(memory, true);
        let s = Situation { function: &f, findings: &findings, failures: &[], history: History::default(), now_ms: 0, report_doubt: None };
        let d = decide(&s, &policy, mode);
        prop_assert_eq!(d.target_memory_mb.is_some(), d.action == Action::SetMemory);
        if let Some(t) = d.target_memory_mb {
            prop_assert!(t > memory);
            prop_assert!((LAMBDA_MIN_MB..=LAMBDA_MAX_MB).contains(&t));
            prop_assert!(t <= policy.ceiling_mb);
            prop_assert!(f64::from(t) <= f64::from(memory) * policy.max_step_ratio);
            prop_assert!(t <= memory + policy.max_step_mb);
        }
    }

    #[test]
    fn no_non_memory_finding_ever_yields_a_change(
        memory in 128u32..=10_240,
        findings in prop::collection::vec(any_finding(), 0..8),
        mode in any_mode(),
    ) {
        let findings: Vec<_> = findings.into_iter().filter(|f| !f.finding.kind.memory_can_help()).collect();
        let d = run(memory, &findings, mode);
        prop_assert_ne!(d.action, Action::SetMemory);
    }

    #[test]
    fn adding_a_shadow_source_never_changes_the_decision(
        memory in 128u32..=10_240,
        findings in prop::collection::vec(any_finding(), 0..6),
        extra in any_finding(),
        mode in any_mode(),
    ) {
        let before = run(memory, &findings, mode);
        let mut more = findings.clone();
        more.push(SourcedFinding { shadow: true, ..extra });
        let after = run(memory, &more, mode);
        prop_assert_eq!(before.action, after.action);
        prop_assert_eq!(before.target_memory_mb, after.target_memory_mb);
    }

    #[test]
    fn out_of_memory_is_never_met_with_silence(
        memory in 128u32..=10_240,
        wanted in 128u32..=10_240,
        mode in prop_oneof![Just(MergeMode::Rules), Just(MergeMode::RulesFirst)],
        policy in any_policy(),
    ) {
        // A deciding rule says the function ran out of memory: whatever it
        // asks for and wherever the ceiling is, the answer is a change or an
        // escalation, never nothing.
        let findings = [finding(rule("oom"), FindingKind::MemoryExhaustion, set(wanted))];
        let f = function(memory, true);
        let s = Situation { function: &f, findings: &findings, failures: &[], history: History::default(), now_ms: 0, report_doubt: None };
        prop_assert_ne!(decide(&s, &policy, mode).action, Action::None);
    }

    #[test]
    fn a_failed_veto_never_lets_memory_change(
        memory in 128u32..=10_240,
        findings in prop::collection::vec(any_finding(), 0..8),
        mode in any_mode(),
        policy in any_policy(),
    ) {
        let f = function(memory, true);
        let failures = [failed("code-errors", true)];
        let s = Situation { function: &f, findings: &findings, failures: &failures, history: History::default(), now_ms: 0, report_doubt: None };
        prop_assert_ne!(decide(&s, &policy, mode).action, Action::SetMemory);
    }

    /// Reports in doubt (a function printed lines in REPORT's shape): no
    /// memory change, whatever the findings, the mode or the policy.
    #[test]
    fn reports_in_doubt_never_change_memory(
        memory in 128u32..=10_240,
        findings in prop::collection::vec(any_finding(), 0..8),
        mode in any_mode(),
        policy in any_policy(),
    ) {
        let f = function(memory, true);
        let why = "45 REPORT lines but 40 invocations";
        let s = Situation { function: &f, findings: &findings, failures: &[], history: History::default(), now_ms: 0, report_doubt: Some(why) };
        let d = decide(&s, &policy, mode);
        prop_assert_ne!(d.action, Action::SetMemory);
        if d.action == Action::Escalate && d.reasons.iter().any(|r| r.contains("recommended by")) {
            prop_assert!(d.reasons.iter().any(|r| r.contains(why)), "{:?}", d.reasons);
        }
    }

    #[test]
    fn not_opted_in_never_changes_anything(
        memory in 128u32..=10_240,
        findings in prop::collection::vec(any_finding(), 0..6),
        mode in any_mode(),
    ) {
        let f = function(memory, false);
        let s = Situation { function: &f, findings: &findings, failures: &[], history: History::default(), now_ms: 0, report_doubt: None };
        prop_assert_eq!(decide(&s, &Policy::default(), mode).action, Action::None);
    }
}

fn converging(memory_mb: u32, steps: &[Step], policy: &Policy) -> Decision {
    let f = function(memory_mb, true);
    step_again(
        &Converging {
            function: &f,
            steps,
            out_of_memory: 3,
            history: History::default(),
            now_ms: 0,
        },
        policy,
    )
}

#[test]
fn a_further_step_repeats_the_last_ratio_under_the_guard() {
    let policy = Policy::default();
    let one = [Step {
        from_mb: 256,
        to_mb: 384,
    }];
    let d = converging(384, &one, &policy);
    assert_eq!(
        (d.action, d.target_memory_mb),
        (Action::SetMemory, Some(576))
    );
    // The ceiling clamps it; a clamp below a quarter more escalates.
    let low = Policy {
        ceiling_mb: 400,
        ..Policy::default()
    };
    assert_eq!(converging(384, &one, &low).action, Action::Escalate);
    // No more steps than the policy allows.
    let three = [
        Step {
            from_mb: 128,
            to_mb: 256,
        },
        Step {
            from_mb: 256,
            to_mb: 512,
        },
        Step {
            from_mb: 512,
            to_mb: 1024,
        },
    ];
    let d = converging(1024, &three, &policy);
    assert_eq!(d.action, Action::Escalate);
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("max_steps_per_incident")),
        "{d:?}"
    );
}

#[test]
fn no_further_step_over_a_change_someone_made_since() {
    // Step 1 set 384 MB; someone put 256 back since.
    let d = converging(
        256,
        &[Step {
            from_mb: 256,
            to_mb: 384,
        }],
        &Policy::default(),
    );
    assert_eq!((d.action, d.target_memory_mb), (Action::Escalate, None));
    assert!(
        d.reasons.iter().any(|r| r.contains("theirs stands")),
        "{d:?}"
    );
}

fn decide_with_tags(memory: u32, tags: &[(&str, &str)], ask_mb: u32) -> Decision {
    let mut f = function(memory, true);
    for (k, v) in tags {
        f.tags.insert((*k).to_owned(), (*v).to_owned());
    }
    let findings = [finding(
        rule("oom"),
        FindingKind::MemoryExhaustion,
        set(ask_mb),
    )];
    decide(
        &Situation {
            function: &f,
            findings: &findings,
            failures: &[],
            history: History::default(),
            now_ms: 0,
            report_doubt: None,
        },
        &Policy::default(),
        MergeMode::Rules,
    )
}

#[test]
fn a_functions_tags_narrow_the_policy_and_are_named() {
    // max-mb is this function's ceiling: the step stops there.
    let d = decide_with_tags(512, &[(MAX_MB_TAG, "768")], 1024);
    assert_eq!(
        (d.action, d.target_memory_mb),
        (Action::SetMemory, Some(768))
    );
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("autorepair:max-mb=768: this function's ceiling")),
        "{d:?}"
    );
    // min-mb is its floor: a step lands at least there.
    let d = decide_with_tags(256, &[(MIN_MB_TAG, "1024")], 384);
    assert_eq!(d.target_memory_mb, Some(1024), "{d:?}");
    // Off: nothing, and why.
    let d = decide_with_tags(256, &[(MODE_TAG, "off")], 512);
    assert_eq!(d.action, Action::None);
    assert!(d.reasons.iter().any(|r| r.contains("mode=off")), "{d:?}");
    // Recommend: the change is named, a person makes it.
    let d = decide_with_tags(256, &[(MODE_TAG, "Recommend")], 512);
    assert_eq!((d.action, d.target_memory_mb), (Action::Escalate, None));
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("256 MB → 512 MB is recommended, not made")),
        "{d:?}"
    );
}

#[test]
fn bad_tags_warn_and_the_stacks_policy_holds() {
    for (tags, warned) in [
        (vec![(MAX_MB_TAG, "lots")], "not a size"),
        (vec![(MAX_MB_TAG, "99999")], "not a size"),
        // A tag never widens the operator's policy.
        (vec![(MAX_MB_TAG, "4096")], "not below the stack's ceiling"),
        (vec![(MIN_MB_TAG, "64")], "not a size"),
        (
            vec![(MIN_MB_TAG, "2048"), (MAX_MB_TAG, "1024")],
            "contradict",
        ),
    ] {
        let d = decide_with_tags(512, &tags, 1024);
        assert_eq!(
            (d.action, d.target_memory_mb),
            (Action::SetMemory, Some(1024)),
            "{tags:?}: {d:?}"
        );
        assert!(
            d.reasons
                .iter()
                .any(|r| r.starts_with("warning: ") && r.contains(warned)),
            "{tags:?}: {d:?}"
        );
    }
    // A misspelt mode does less, never more.
    let d = decide_with_tags(512, &[(MODE_TAG, "autoo")], 1024);
    assert_eq!(d.action, Action::Escalate, "{d:?}");
}
