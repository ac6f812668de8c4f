//! Hostile test plugin: waits on a 30 s clock pollable with
//! `wasi:io/poll.poll`, the other blocking call WASI has. Never bundled; built
//! for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;
use wasip2::clocks::monotonic_clock;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-poll-wait",
            "0.1.0",
            "waits on a clock with wasi:io/poll.poll",
            Wants::METRICS | Wants::REPORTS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        let pollable = monotonic_clock::subscribe_duration(30_000_000_000);
        let ready = wasip2::io::poll::poll(&[&pollable]);
        Err(format!("outlasted the deadline: {ready:?} ready"))
    }
}

export_rule!(Hostile);
