//! Hostile test plugin: spins forever. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-infinite-loop",
            "0.1.0",
            "spins forever",
            Wants::METRICS | Wants::REPORTS | Wants::LOGS | Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let mut n = evidence.reports.len() as u64;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export_rule!(Hostile);
