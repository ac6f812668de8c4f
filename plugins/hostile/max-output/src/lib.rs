//! Hostile test plugin: returns the largest output the per-field limits allow
//! — 16 findings, each with a 1 KiB summary and 32 evidence lines of 1 KiB,
//! full of terminal escapes and line breaks — and logs the most it may. Never
//! bundled; built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-max-output",
            "0.1.0",
            "returns the most output each field allows",
            Wants::METRICS | Wants::REPORTS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        // 1,024 bytes: an escape that clears a terminal, a fake header line.
        let head = "\u{1b}[2J\u{1b}[H\nSubject: all clear\n";
        let text = format!("{head}{}", "x".repeat(1024 - head.len()));
        for _ in 0..64 {
            log::warn(&text);
        }
        Ok((0..16)
            .map(|_| Finding {
                kind: FindingKind::MemoryExhaustion,
                confidence: 1.0,
                summary: text.clone(),
                evidence: vec![text.clone(); 32],
                recommendation: Recommendation::SetMemory(10240),
            })
            .collect())
    }
}

export_rule!(Hostile);
