//! Test plugin: remembers. It counts, in its own memory, the calls its
//! instance has served, and says so; on a function named `trap-me` it traps.
//! A fresh instance per call always says 1; a kept instance counts up, and
//! starts again after a call that failed. Never bundled.
use std::sync::atomic::{AtomicU32, Ordering};

use autorepair_rule_sdk::prelude::*;

static CALLS: AtomicU32 = AtomicU32::new(0);

pub struct Remembers;

impl Rule for Remembers {
    fn describe() -> RuleInfo {
        info(
            "hostile-remembers",
            "0.1.0",
            "counts the calls its instance served",
            Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        if evidence.function.name == "trap-me" {
            // A trap, as a crash would be: the instance is not to be trusted after.
            panic!("asked to trap");
        }
        Ok(vec![finding(
            FindingKind::Other,
            0.1,
            format!("call {calls} of this instance"),
            Recommendation::Keep,
        )])
    }
}

export_rule!(Remembers);
