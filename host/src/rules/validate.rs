//! What the host accepts back from a rule. A rule is untrusted: anything out of
//! range makes the whole result a plugin failure rather than a finding that the
//! decision step might act on.

use crate::decide::{LAMBDA_MAX_MB, LAMBDA_MIN_MB};
use crate::model::{Finding, Recommendation};
use crate::redact::redact;
use crate::text::clean;

/// Bounds on a rule's output. Generous for honest rules, small enough that a
/// hostile one cannot bloat the audit record or the notification.
pub const MAX_FINDINGS: usize = 16;
pub const MAX_TEXT_BYTES: usize = 1024;
pub const MAX_EVIDENCE_LINES: usize = 32;
pub const MAX_NAME_BYTES: usize = 64;
/// All of one call's output together — findings' texts and log messages —
/// at most this much. The fields' own caps allow ~540 KiB; this keeps a run
/// document with several rules inside Step Functions' 256 KB state limit (see
/// `run::MAX_DOCUMENT_BYTES`). A bundled rule writes under 2 KiB.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;

/// The bytes of text `findings` carry (what the output budget counts).
pub fn output_bytes(findings: &[Finding]) -> usize {
    findings
        .iter()
        .map(|f| {
            f.summary.len()
                + f.evidence.iter().map(String::len).sum::<usize>()
                + match &f.recommendation {
                    Recommendation::Escalate { reason } => reason.len(),
                    _ => 0,
                }
        })
        .sum()
}

/// Neutralises control characters and line breaks in every text of
/// `findings` (see [`crate::text::clean`]).
pub fn clean_findings(findings: &mut [Finding]) {
    // Rules copy log lines into their findings (the bundled ones do), and a
    // finding goes to DynamoDB, SNS and the host's logs: secrets out first.
    let clean = |text: &str| clean(&redact(text).0);
    for f in findings {
        f.summary = clean(&f.summary);
        for line in &mut f.evidence {
            *line = clean(line);
        }
        if let Recommendation::Escalate { reason } = &mut f.recommendation {
            *reason = clean(reason);
        }
    }
}

pub fn findings(findings: &[Finding]) -> Result<(), String> {
    if findings.len() > MAX_FINDINGS {
        return Err(format!(
            "{} findings (at most {MAX_FINDINGS})",
            findings.len()
        ));
    }
    findings
        .iter()
        .enumerate()
        .try_for_each(|(i, f)| finding(f).map_err(|e| format!("finding {}: {e}", i + 1)))
}

fn finding(f: &Finding) -> Result<(), String> {
    if !(0.0..=1.0).contains(&f.confidence) {
        return Err(format!("confidence {} is outside 0..=1", f.confidence));
    }
    text("summary", &f.summary)?;
    if f.evidence.len() > MAX_EVIDENCE_LINES {
        return Err(format!(
            "{} evidence lines (at most {MAX_EVIDENCE_LINES})",
            f.evidence.len()
        ));
    }
    f.evidence
        .iter()
        .try_for_each(|line| text("evidence line", line))?;
    match &f.recommendation {
        Recommendation::SetMemory { memory_mb }
            if !(LAMBDA_MIN_MB..=LAMBDA_MAX_MB).contains(memory_mb) =>
        {
            Err(format!(
                "set-memory {memory_mb} MB is outside {LAMBDA_MIN_MB}..={LAMBDA_MAX_MB}"
            ))
        }
        Recommendation::Escalate { reason } => text("escalation reason", reason),
        _ => Ok(()),
    }
}

fn text(what: &str, s: &str) -> Result<(), String> {
    if s.len() > MAX_TEXT_BYTES {
        Err(format!(
            "{what} of {} bytes (at most {MAX_TEXT_BYTES})",
            s.len()
        ))
    } else {
        Ok(())
    }
}

/// A rule's name: lowercase letters, digits and dashes, as in `rule:<name>`.
pub fn rule_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "rule name {:?} must be 1 to {MAX_NAME_BYTES} lowercase letters, digits or dashes",
            name.chars().take(80).collect::<String>()
        ))
    }
}

pub fn rule_text(what: &str, s: &str) -> Result<(), String> {
    text(what, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FindingKind;

    fn good() -> Finding {
        Finding {
            kind: FindingKind::MemoryExhaustion,
            confidence: 0.9,
            summary: "ok".into(),
            evidence: vec!["line".into()],
            recommendation: Recommendation::SetMemory { memory_mb: 256 },
        }
    }

    #[test]
    fn accepts_a_well_formed_finding() {
        assert_eq!(findings(&[good()]), Ok(()));
    }

    #[test]
    fn rejects_out_of_range_values() {
        let nan = Finding {
            confidence: f64::NAN,
            ..good()
        };
        assert!(findings(&[nan]).unwrap_err().contains("confidence"));
        let big = Finding {
            recommendation: Recommendation::SetMemory { memory_mb: 999_999 },
            ..good()
        };
        assert!(findings(&[big]).unwrap_err().contains("999999"));
        let long = Finding {
            summary: "x".repeat(MAX_TEXT_BYTES + 1),
            ..good()
        };
        assert!(findings(&[long]).is_err());
        assert!(findings(&vec![good(); MAX_FINDINGS + 1]).is_err());
    }

    #[test]
    fn rule_names_are_slugs() {
        assert!(rule_name("memory-pressure").is_ok());
        assert!(rule_name("").is_err());
        assert!(rule_name("Evil Name").is_err());
        assert!(rule_name(&"a".repeat(65)).is_err());
    }
}
