//! Hostile test plugin: executes an unreachable instruction. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-trap",
            "0.1.0",
            "executes an unreachable instruction",
            Wants::METRICS | Wants::REPORTS | Wants::LOGS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        #[cfg(target_family = "wasm")]
        core::arch::wasm32::unreachable();
        #[cfg(not(target_family = "wasm"))]
        std::process::abort();
    }
}

export_rule!(Hostile);
