//! Hostile test plugin: waits 30 s without ever blocking — spinning on a
//! clock pollable's `ready()`, then on the clock itself — so every moment is
//! spent in cheap host calls. Never bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;
use wasip2::clocks::monotonic_clock;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-pollable-spin",
            "0.1.0",
            "spins on a clock pollable and on the clock",
            Wants::METRICS | Wants::REPORTS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        let pollable = monotonic_clock::subscribe_duration(30_000_000_000);
        let mut spins: u64 = 0;
        while !pollable.ready() {
            spins += 1;
        }
        let end = monotonic_clock::now() + 30_000_000_000;
        while monotonic_clock::now() < end {
            spins += 1;
        }
        Err(format!("outlasted the deadline after {spins} spins"))
    }
}

export_rule!(Hostile);
