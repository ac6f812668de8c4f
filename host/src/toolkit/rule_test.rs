//! `autorepair rule test`: one rule on recorded evidence files, in the
//! production sandbox (same limits, same grants, same validation), with what
//! each call cost; expectations turn it into a pass/fail check for a rule's CI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::config::Config;
use crate::diagnosis::load_evidence;
use crate::digest::sha256_hex;
use crate::model::{Finding, FindingKind, Grant, Grants, Recommendation};
use crate::rules::source::Location;
use crate::rules::{CallReport, Limits, Origin, RuleSet, RuleSpec};
use crate::trust::Trust;

/// What one evidence file should produce. Every field is optional; the
/// finding fields must all hold for one finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expectation {
    /// Exactly this many findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<FindingKind>,
    /// `set_memory`, `keep` or `escalate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_confidence: Option<f64>,
    /// The call fails (trap, budget, rule error, invalid output).
    pub fails: bool,
}

/// Expectations by evidence file name (`"oom.json": {…}`).
pub type Expectations = BTreeMap<String, Expectation>;

pub fn load_expectations(path: &Path) -> Result<Expectations, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read expectations {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "expectations {} are not valid: {e} (expected {{\"<evidence file name>\": {{\"findings\": 1, \"kind\": \"memory-exhaustion\", \"recommendation\": \"set_memory\", \"memory_mb\": 1536, \"min_confidence\": 0.8, \"fails\": false}}}})",
            path.display()
        )
    })
}

/// The evidence files: `path` itself, or the `*.json` files in it, sorted.
pub fn evidence_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| format!("cannot read evidence {}: {e}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no *.json evidence files in {}", path.display()));
    }
    Ok(files)
}

/// One evidence file's run.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// The evidence file's name.
    pub evidence: String,
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub elapsed_us: u64,
    pub report: CallReport,
    /// Unmet expectations; empty when met. None: nothing was expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmet: Option<Vec<String>>,
}

impl Case {
    pub fn passed(&self) -> bool {
        self.unmet.as_ref().is_none_or(Vec::is_empty)
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub rule: String,
    pub version: String,
    pub cases: Vec<Case>,
    /// Expectations naming no evidence file that was run.
    pub unused_expectations: Vec<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.cases.iter().all(Case::passed) && self.unused_expectations.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// An evidence file that cannot be read or is not evidence: bad input.
    #[error("{0}")]
    Evidence(String),
    #[error("the rule did not load: {0}")]
    NotLoaded(String),
}

/// What `rule test` overrides from the command line; empty means the
/// production view.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// What the rule may see; empty: the production grants.
    pub grants: Vec<Grant>,
    pub cpu_budget_ms: Option<u64>,
    pub memory_mib: Option<u64>,
}

/// The production view of the rule `rule` (a path or a bundled rule's name)
/// with these `bytes`: a `[[plugins]]` entry for the same bytes (by pinned
/// digest or canonical path) gives its grants and limits; else a bundled
/// rule's grants, or a new plugin's defaults. `overrides` win over both. The
/// spec is unsigned: `rule test` checks behaviour, `rule verify` signatures.
pub fn production_spec(
    config: &Config,
    rule: &str,
    origin: Origin,
    bytes: Arc<[u8]>,
    overrides: Overrides,
) -> RuleSpec {
    let digest = sha256_hex(&bytes);
    let here = std::fs::canonicalize(rule).ok();
    let entry = config.plugins.iter().find(|p| {
        p.sha256
            .as_deref()
            .is_some_and(|pin| pin.eq_ignore_ascii_case(&digest))
            || match p.location() {
                Ok(Location::File(path)) => {
                    here.is_some() && std::fs::canonicalize(path).ok() == here
                }
                Ok(remote) => remote.to_string() == rule,
                Err(_) => false,
            }
    });
    let default_grants = match (&origin, entry) {
        (_, Some(p)) => p.grants,
        (Origin::Bundled, None) => config
            .bundled
            .grants
            .get(rule)
            .copied()
            .unwrap_or(Grants::ALL),
        (Origin::External(_), None) => crate::config::default_rule_grants(),
    };
    let grants = if overrides.grants.is_empty() {
        default_grants
    } else {
        overrides.grants.into_iter().collect()
    };
    let defaults = entry.map_or(config.sandbox.limits(), |p| config.rule_limits(p));
    let limits = Limits {
        cpu_budget_ms: overrides.cpu_budget_ms.unwrap_or(defaults.cpu_budget_ms),
        memory_mib: overrides.memory_mib.unwrap_or(defaults.memory_mib),
    };
    RuleSpec {
        origin,
        bytes,
        grants,
        limits,
        shadow: false,
        trust: Trust::Unsigned,
        veto_on_failure: false,
    }
}

/// Runs the one rule in `rules` on every file.
pub fn run(
    rules: &RuleSet,
    files: &[PathBuf],
    expectations: Option<&Expectations>,
) -> Result<Outcome, CheckError> {
    let rule = rules.rules().first().ok_or_else(|| {
        let why: Vec<String> = rules
            .load_failures()
            .iter()
            .map(|f| f.to_string())
            .collect();
        CheckError::NotLoaded(why.join("; "))
    })?;
    let mut cases = Vec::new();
    for file in files {
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let evidence = load_evidence(file).map_err(|e| CheckError::Evidence(e.to_string()))?;
        let Some(outcome) = rules.evaluate_serial(&evidence).pop() else {
            return Err(CheckError::NotLoaded("no rule ran".into()));
        };
        let (findings, failure) = match outcome.result {
            Ok(findings) => (findings, None),
            Err(cause) => (Vec::new(), Some(cause.to_string())),
        };
        let unmet = expectations
            .and_then(|e| e.get(&name))
            .map(|e| unmet(e, &findings, failure.as_deref()));
        cases.push(Case {
            evidence: name,
            findings,
            failure,
            elapsed_us: outcome.elapsed_us,
            report: outcome.report,
            unmet,
        });
    }
    let unused_expectations = expectations
        .map(|e| {
            e.keys()
                .filter(|k| !cases.iter().any(|c| &c.evidence == *k))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Ok(Outcome {
        rule: rule.info.name.clone(),
        version: rule.info.version.clone(),
        cases,
        unused_expectations,
    })
}

/// `expectations` with each case of `outcome` written as what it did — its
/// number of findings and its most confident one (kind, recommendation,
/// memory, the confidence rounded down to two places), or its failure —
/// and every other file's expectation kept: `rule test --bless`, which turns
/// a real incident's evidence into a rule's test.
pub fn bless(mut expectations: Expectations, outcome: &Outcome) -> Expectations {
    for case in &outcome.cases {
        let top = case
            .findings
            .iter()
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
        let blessed = match (&case.failure, top) {
            (Some(_), _) => Expectation {
                fails: true,
                ..Expectation::default()
            },
            (None, None) => Expectation {
                findings: Some(0),
                ..Expectation::default()
            },
            (None, Some(f)) => Expectation {
                findings: Some(case.findings.len()),
                kind: Some(f.kind),
                recommendation: Some(action(&f.recommendation).to_owned()),
                memory_mb: match f.recommendation {
                    Recommendation::SetMemory { memory_mb } => Some(memory_mb),
                    _ => None,
                },
                min_confidence: Some((f.confidence * 100.0).floor() / 100.0),
                fails: false,
            },
        };
        expectations.insert(case.evidence.clone(), blessed);
    }
    expectations
}

fn action(r: &Recommendation) -> &'static str {
    match r {
        Recommendation::SetMemory { .. } => "set_memory",
        Recommendation::Keep => "keep",
        Recommendation::Escalate { .. } => "escalate",
    }
}

/// What `e` asks that the run did not give, each said plainly.
pub fn unmet(e: &Expectation, findings: &[Finding], failure: Option<&str>) -> Vec<String> {
    let mut unmet = Vec::new();
    match (e.fails, failure) {
        (true, None) => unmet.push("expected the call to fail; it succeeded".to_owned()),
        (false, Some(f)) => unmet.push(format!("the call failed: {f}")),
        _ => {}
    }
    if let Some(n) = e.findings
        && findings.len() != n
    {
        unmet.push(format!("expected {n} findings, got {}", findings.len()));
    }
    let wants_finding = e.kind.is_some()
        || e.recommendation.is_some()
        || e.memory_mb.is_some()
        || e.min_confidence.is_some();
    if wants_finding {
        let fits = |f: &Finding| {
            e.kind.is_none_or(|k| f.kind == k)
                && e.recommendation
                    .as_deref()
                    .is_none_or(|r| action(&f.recommendation) == r)
                && e.memory_mb.is_none_or(|m| {
                    matches!(f.recommendation, Recommendation::SetMemory { memory_mb } if memory_mb == m)
                })
                && e.min_confidence.is_none_or(|c| f.confidence >= c)
        };
        if !findings.iter().any(fits) {
            let got: Vec<String> = findings
                .iter()
                .map(|f| format!("{} ({:.2}) → {}", f.kind, f.confidence, f.recommendation))
                .collect();
            let wanted = serde_json::to_string(&Expectation {
                findings: None,
                fails: false,
                ..e.clone()
            })
            .unwrap_or_default();
            unmet.push(format!(
                "no finding matches {wanted}; got [{}]",
                got.join(", ")
            ));
        }
    }
    unmet
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: FindingKind, confidence: f64, recommendation: Recommendation) -> Finding {
        Finding {
            kind,
            confidence,
            summary: "s".into(),
            evidence: Vec::new(),
            recommendation,
        }
    }

    #[test]
    fn blessed_expectations_hold_for_what_was_run_and_keep_the_others() {
        let case = |name: &str, findings: Vec<Finding>, failure: Option<&str>| Case {
            evidence: name.into(),
            findings,
            failure: failure.map(str::to_owned),
            elapsed_us: 1,
            report: CallReport::default(),
            unmet: None,
        };
        let outcome = Outcome {
            rule: "r".into(),
            version: "1".into(),
            cases: vec![
                case(
                    "oom.json",
                    vec![
                        f(FindingKind::MemoryPressure, 0.4, Recommendation::Keep),
                        f(
                            FindingKind::MemoryExhaustion,
                            0.876,
                            Recommendation::SetMemory { memory_mb: 1536 },
                        ),
                    ],
                    None,
                ),
                case("quiet.json", Vec::new(), None),
                case("trap.json", Vec::new(), Some("trap")),
            ],
            unused_expectations: Vec::new(),
        };
        let kept = Expectation {
            findings: Some(3),
            ..Expectation::default()
        };
        let before: Expectations = [("other.json".to_owned(), kept.clone())].into();
        let blessed = bless(before, &outcome);
        assert_eq!(blessed["other.json"], kept);
        let oom = &blessed["oom.json"];
        assert_eq!(
            (oom.findings, oom.kind, oom.memory_mb, oom.min_confidence),
            (
                Some(2),
                Some(FindingKind::MemoryExhaustion),
                Some(1536),
                Some(0.87)
            )
        );
        assert_eq!(oom.recommendation.as_deref(), Some("set_memory"));
        // What was blessed passes on the same results.
        for c in &outcome.cases {
            let e = &blessed[&c.evidence];
            assert!(
                unmet(e, &c.findings, c.failure.as_deref()).is_empty(),
                "{}",
                c.evidence
            );
        }
        assert_eq!(blessed["quiet.json"].findings, Some(0));
        assert!(blessed["trap.json"].fails);
    }

    #[test]
    fn expectations_are_checked_field_by_field() {
        let got = [f(
            FindingKind::MemoryExhaustion,
            0.8,
            Recommendation::SetMemory { memory_mb: 1536 },
        )];
        let met = Expectation {
            findings: Some(1),
            kind: Some(FindingKind::MemoryExhaustion),
            recommendation: Some("set_memory".into()),
            memory_mb: Some(1536),
            min_confidence: Some(0.8),
            fails: false,
        };
        assert!(unmet(&met, &got, None).is_empty());
        for wrong in [
            Expectation {
                findings: Some(0),
                ..met.clone()
            },
            Expectation {
                kind: Some(FindingKind::Throttling),
                ..met.clone()
            },
            Expectation {
                recommendation: Some("escalate".into()),
                ..met.clone()
            },
            Expectation {
                memory_mb: Some(2048),
                ..met.clone()
            },
            Expectation {
                min_confidence: Some(0.9),
                ..met.clone()
            },
            Expectation {
                fails: true,
                ..met.clone()
            },
        ] {
            assert_eq!(unmet(&wrong, &got, None).len(), 1, "{wrong:?}");
        }
        let failed = unmet(&Expectation::default(), &[], Some("trapped"));
        assert_eq!(failed, vec!["the call failed: trapped".to_owned()]);
        assert!(
            unmet(
                &Expectation {
                    fails: true,
                    ..Default::default()
                },
                &[],
                Some("x")
            )
            .is_empty()
        );
    }

    #[test]
    fn the_production_view_unless_overridden() {
        let config = Config::default();
        let bytes: Arc<[u8]> = Arc::from(&b"\0asm"[..]);
        let bundled = production_spec(
            &config,
            "oom",
            Origin::Bundled,
            bytes.clone(),
            Overrides::default(),
        );
        assert_eq!(bundled.grants, Grants::ALL);
        assert_eq!(bundled.limits, config.sandbox.limits());
        assert_eq!(bundled.trust, Trust::Unsigned);
        let external = production_spec(
            &config,
            "no/such/rule.wasm",
            Origin::External("no/such/rule.wasm".into()),
            bytes.clone(),
            Overrides::default(),
        );
        assert_eq!(external.grants, crate::config::default_rule_grants());
        let overridden = production_spec(
            &config,
            "oom",
            Origin::Bundled,
            bytes,
            Overrides {
                grants: vec![Grant::Logs],
                cpu_budget_ms: Some(7),
                memory_mib: Some(9),
            },
        );
        assert_eq!(overridden.grants, [Grant::Logs].into_iter().collect());
        assert_eq!(
            overridden.limits,
            Limits {
                cpu_budget_ms: 7,
                memory_mib: 9
            }
        );
    }

    #[test]
    fn bad_expectation_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expect.json");
        std::fs::write(&path, r#"{"a.json": {"kinds": "oom"}}"#).unwrap();
        let err = load_expectations(&path).unwrap_err();
        assert!(err.contains("kinds"), "{err}");
    }
}
