//! Hostile test plugin: recurses without end. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-stack-overflow",
            "0.1.0",
            "recurses without end",
            Wants::METRICS | Wants::REPORTS | Wants::LOGS | Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        Ok(vec![finding(
            FindingKind::Other,
            0.5,
            format!("{}", dive(evidence.reports.len() as u64)),
            Recommendation::Keep,
        )])
    }
}

/// Scalar recursion: frames live on wasm's own stack (not the shadow stack in
/// linear memory), so this hits the engine's stack limit.
#[inline(never)]
fn dive(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    dive(n + 1).wrapping_mul(3) ^ n
}

export_rule!(Hostile);
