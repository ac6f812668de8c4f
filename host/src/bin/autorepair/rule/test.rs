//! `autorepair rule test`: a rule on evidence files in the production sandbox,
//! optionally against expectations.

use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;

use autorepair::config::Config;
use autorepair::model::Grant;
use autorepair::render;
use autorepair::rules::{Compiler, RuleSet};
use autorepair::toolkit::{self, load, rule_test};

use crate::common::Format;
use crate::{Failure, bad_input};

#[allow(clippy::too_many_arguments)]
pub fn run(
    config: &Config,
    rule: &str,
    evidence: &Path,
    expect: Option<&Path>,
    bless: bool,
    grants: Vec<Grant>,
    cpu_budget_ms: Option<u64>,
    memory_mib: Option<u64>,
    format: Format,
) -> Result<(), Failure> {
    let (origin, bytes) = toolkit::rule_bytes(rule).map_err(|e| bad_input(anyhow!(e)))?;
    let files = rule_test::evidence_files(evidence).map_err(|e| bad_input(anyhow!(e)))?;
    let expectations = match expect {
        // Blessing starts from the file when there is one, and makes it when not.
        Some(path) if bless && !path.exists() => Some(rule_test::Expectations::new()),
        _ => expect
            .map(rule_test::load_expectations)
            .transpose()
            .map_err(|e| bad_input(anyhow!(e)))?,
    };
    let overrides = rule_test::Overrides {
        grants,
        cpu_budget_ms,
        memory_mib,
    };
    let spec = rule_test::production_spec(config, rule, origin, bytes, overrides);
    let limits = spec.limits;
    let sandbox = load::metered_sandbox(config, Some(limits.memory_mib))?;
    let compiler = Compiler::new(Arc::new(sandbox), None);
    let rules = RuleSet::load(&compiler, &[spec]);
    let outcome = rule_test::run(&rules, &files, expectations.as_ref()).map_err(|e| match e {
        rule_test::CheckError::Evidence(_) => bad_input(e),
        rule_test::CheckError::NotLoaded(_) => e.into(),
    })?;
    match format {
        Format::Text => {
            let loaded = &rules.rules()[0];
            print!(
                "{}",
                render::rule_test(
                    &outcome,
                    loaded.effective_grants(),
                    limits,
                    expect.is_some()
                )
            );
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
    }
    if bless {
        let path = expect
            .ok_or_else(|| bad_input(anyhow!("--bless writes the --expect file: name it")))?;
        let blessed = rule_test::bless(expectations.unwrap_or_default(), &outcome);
        let text = serde_json::to_string_pretty(&blessed)? + "\n";
        std::fs::write(path, text)
            .map_err(|e| anyhow!("writing the expectations {}: {e}", path.display()))?;
        eprintln!(
            "blessed {} case(s) into {}: what the rule said is now what it must say",
            outcome.cases.len(),
            path.display()
        );
        return Ok(());
    }
    if outcome.passed() {
        Ok(())
    } else {
        Err(anyhow!("expectations not met").into())
    }
}
