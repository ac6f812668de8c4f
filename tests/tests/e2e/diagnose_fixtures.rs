//! Every recorded incident under tests/fixtures/evidence, through the real rules
//! in the real sandbox and the decision step: what each scenario must lead to.

use std::path::PathBuf;
use std::sync::Arc;

use autorepair::config::Config;
use autorepair::decide::{Action, History};
use autorepair::diagnosis::{Threads, conclude, load_evidence, run_rules};
use autorepair::model::FindingKind;
use autorepair::rules::{Compiler, RuleSet, Sandbox};

struct Expect {
    file: &'static str,
    action: Action,
    target_mb: Option<u32>,
    kinds: &'static [FindingKind],
}

const SCENARIOS: &[Expect] = &[
    Expect {
        file: "oom-node.json",
        action: Action::SetMemory,
        target_mb: Some(768),
        kinds: &[FindingKind::MemoryExhaustion],
    },
    Expect {
        file: "memory-pressure-python.json",
        action: Action::SetMemory,
        target_mb: Some(1280),
        kinds: &[FindingKind::MemoryPressure],
    },
    Expect {
        file: "cpu-timeouts-java.json",
        action: Action::SetMemory,
        target_mb: Some(512),
        kinds: &[FindingKind::CpuStarvation],
    },
    Expect {
        file: "downstream-timeouts-python.json",
        action: Action::Escalate,
        target_mb: None,
        kinds: &[FindingKind::DownstreamTimeout],
    },
    Expect {
        file: "throttles.json",
        action: Action::Escalate,
        target_mb: None,
        kinds: &[FindingKind::Throttling],
    },
    Expect {
        file: "code-errors-node.json",
        action: Action::Escalate,
        target_mb: None,
        kinds: &[FindingKind::CodeError],
    },
    Expect {
        file: "oom-not-opted-in.json",
        action: Action::None,
        target_mb: None,
        kinds: &[FindingKind::MemoryExhaustion],
    },
];

#[test]
fn every_recorded_incident_leads_to_the_expected_decision() {
    let config = Config::default();
    let compiler = Compiler::new(Arc::new(Sandbox::new(64).unwrap()), None);
    let (specs, refused) = config.rule_specs();
    assert!(refused.is_empty());
    let rules = RuleSet::load(&compiler, &specs);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/evidence");
    for s in SCENARIOS {
        let evidence = load_evidence(&dir.join(s.file)).unwrap();
        let report = run_rules(&rules, &evidence, Threads::PerRule);
        let d = conclude(
            report,
            &evidence,
            &config.policy,
            config.mode,
            History::default(),
            0,
            None,
        );
        let kinds: Vec<FindingKind> = d.findings.iter().map(|f| f.finding.kind).collect();
        assert_eq!(kinds, s.kinds, "{}: findings {:#?}", s.file, d.findings);
        assert_eq!(d.decision.action, s.action, "{}: {:#?}", s.file, d.decision);
        assert_eq!(d.decision.target_memory_mb, s.target_mb, "{}", s.file);
        assert!(
            d.plugin_failures.is_empty(),
            "{}: {:?}",
            s.file,
            d.plugin_failures
        );
    }
}

#[test]
fn every_fixture_is_covered_by_a_scenario() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/evidence");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            SCENARIOS.iter().any(|s| s.file == name),
            "{name} has no expected outcome"
        );
    }
}
