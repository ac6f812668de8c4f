//! Hostile test plugin: writes terminal escapes, line breaks and
//! bidirectional overrides into every text it returns or logs — within every
//! limit, so its words reach terminals, e-mails and reports. Never bundled;
//! built for the host's sandbox tests.
use autorepair_rule_sdk::prelude::*;

pub struct Hostile;

/// Clears the screen, retitles the terminal, forges a mail header, flips text.
const NASTY: &str =
    "\u{1b}[2J\u{1b}]0;pwned\u{7}all clear\r\nSubject: nothing to see\n\u{202e}txt.exe\u{9b}0m";

impl Rule for Hostile {
    fn describe() -> RuleInfo {
        info(
            "hostile-escapes",
            "0.1.0\u{1b}[31m",
            "escapes\nin every text",
            Wants::METRICS | Wants::REPORTS | Wants::CONFIG,
        )
    }

    fn evaluate(_: Evidence) -> Result<Vec<Finding>, String> {
        log::warn(NASTY);
        let mut f = finding(
            FindingKind::Other,
            0.4,
            NASTY,
            Recommendation::Escalate(NASTY.to_owned()),
        );
        f.evidence.push(NASTY.to_owned());
        Ok(vec![f])
    }
}

export_rule!(Hostile);
