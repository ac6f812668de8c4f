//! Stage 6: did the change help? A pure comparison of health before and after.

use serde::{Deserialize, Serialize};

use crate::model::Evidence;
use crate::stats::ReportStats;

/// The figures a verdict compares.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Health {
    /// Invocations in the window.
    pub invocations: usize,
    /// Invocations that failed, timeouts not counted.
    pub errors: usize,
    /// Invocations that timed out.
    pub timeouts: usize,
    /// Invocations that ran out of memory (error type, or failed at the limit).
    pub out_of_memory: usize,
    /// Highest max-memory-used over memory size.
    pub peak_memory_ratio: f64,
    /// The 95th percentile of duration (ms).
    pub p95_duration_ms: f64,
}

impl Health {
    /// The health `evidence`'s invocation reports show.
    pub fn of(evidence: &Evidence) -> Health {
        Health::from_stats(&ReportStats::of(&evidence.reports))
    }

    /// The figures a verdict compares, from report statistics.
    pub fn from_stats(s: &ReportStats) -> Health {
        Health {
            invocations: s.invocations,
            errors: s.errors,
            timeouts: s.timeouts,
            out_of_memory: s.out_of_memory,
            peak_memory_ratio: s.peak_memory_ratio,
            p95_duration_ms: s.duration_percentile(95.0),
        }
    }

    /// Out-of-memory failures over invocations, from 0 to 1; 0 with no invocations.
    pub fn out_of_memory_rate(&self) -> f64 {
        if self.invocations == 0 {
            0.0
        } else {
            self.out_of_memory as f64 / self.invocations as f64
        }
    }

    /// Errors and timeouts over invocations, from 0 to 1; 0 with no invocations.
    pub fn failure_rate(&self) -> f64 {
        if self.invocations == 0 {
            0.0
        } else {
            (self.errors + self.timeouts) as f64 / self.invocations as f64
        }
    }
}

/// Whether a change helped, as [`verdict`] judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Failures fell by half or out-of-memory ones stopped; with none before, memory
    /// headroom or latency improved.
    Improved,
    /// No difference worth counting.
    Unchanged,
    /// Failures rose after the change.
    Worse,
    /// Too few invocations since the change to judge.
    InsufficientData,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Worse => "worse",
            Verdict::InsufficientData => "insufficient-data",
        })
    }
}

/// A failure rate must fall by at least half to count as improved, and rise by
/// a fifth (and a point) to count as worse: one-minute samples are noisy.
const IMPROVED_FACTOR: f64 = 0.5;
const WORSE_FACTOR: f64 = 1.2;
const WORSE_MARGIN: f64 = 0.01;
/// A step that leaves at most this share of the out-of-memory failures
/// (per invocation) helped, even when failures did not halve.
const OOM_SHARE_KEPT: f64 = 2.0 / 3.0;
/// For a proactive step (no failures before): peak memory must fall by this
/// share, or p95 duration by this share.
const PEAK_DROP: f64 = 0.05;
const DURATION_DROP: f64 = 0.2;

/// How sure a window without failures must be: failures at the rate seen
/// before would have shown in it at least once with this probability.
const CONFIDENCE: f64 = 0.95;
/// The most invocations a verdict waits for, however rare the failures were
/// (a failure share of 5 % needs 59).
const MAX_NEEDED: usize = 60;

/// The invocations after a change a verdict needs: at least `min`, and
/// enough that failures at the share seen before would have shown at least
/// once, 95 times in 100 — `ln(0.05) / ln(1 − f)`: 11 at 25 %, 29 at 10 %.
/// Fewer, and a clean window says little: the old failure share could have
/// produced it by chance.
pub fn invocations_needed(before: &Health, min: usize) -> usize {
    let f = before.failure_rate();
    if f <= 0.0 || f >= 1.0 {
        return min;
    }
    let n = ((1.0 - CONFIDENCE).ln() / (1.0 - f).ln()).ceil();
    (n as usize).clamp(min, MAX_NEEDED.max(min))
}

/// Compares health before and after a change, with the reasons.
pub fn verdict(before: &Health, after: &Health, min_invocations: usize) -> (Verdict, Vec<String>) {
    let mut reasons = vec![format!(
        "before: {} invocations, {:.1}% failed, {} out of memory, peak memory {:.0}%, p95 {:.0} ms; after: {} invocations, {:.1}% failed, {} out of memory, peak memory {:.0}%, p95 {:.0} ms",
        before.invocations,
        before.failure_rate() * 100.0,
        before.out_of_memory,
        before.peak_memory_ratio * 100.0,
        before.p95_duration_ms,
        after.invocations,
        after.failure_rate() * 100.0,
        after.out_of_memory,
        after.peak_memory_ratio * 100.0,
        after.p95_duration_ms,
    )];
    let needed = invocations_needed(before, min_invocations);
    let (b, a) = (before.failure_rate(), after.failure_rate());
    // Worse is judged on the same window as better — except when the
    // failures already outnumber what the old share would give over all of
    // it (a fifth more, and two): those need no longer wait.
    let failed_after = (after.errors + after.timeouts) as f64;
    let overwhelming = failed_after > b * needed as f64 * WORSE_FACTOR + 2.0;
    let worse = after.invocations >= min_invocations
        && a > b * WORSE_FACTOR + WORSE_MARGIN
        && (after.invocations >= needed || overwhelming);
    if after.invocations < needed && !worse {
        reasons.push(if needed > min_invocations {
            format!(
                "fewer than {needed} invocations since the change: at the {:.0}% failure share seen before, fewer could show none by chance",
                before.failure_rate() * 100.0
            )
        } else {
            format!("fewer than {needed} invocations since the change")
        });
        return (Verdict::InsufficientData, reasons);
    }
    let verdict = if worse {
        reasons.push("failures rose after the change".into());
        Verdict::Worse
    } else if b > 0.0 {
        if before.out_of_memory > 0 && after.out_of_memory == 0 && a <= b {
            reasons.push("no more out-of-memory failures".into());
            Verdict::Improved
        } else if a <= b * IMPROVED_FACTOR {
            reasons.push("failures fell by at least half".into());
            Verdict::Improved
        } else if before.out_of_memory > 0
            && a <= b
            && after.out_of_memory_rate() <= before.out_of_memory_rate() * OOM_SHARE_KEPT
        {
            // Inputs of many sizes: each step up fixes the ones that now
            // fit. Such a step helped, and the next one can finish the work.
            reasons.push("out-of-memory failures fell by a third or more".into());
            Verdict::Improved
        } else {
            reasons.push("failures did not fall by half".into());
            Verdict::Unchanged
        }
    } else if after.peak_memory_ratio <= before.peak_memory_ratio * (1.0 - PEAK_DROP)
        || (before.p95_duration_ms > 0.0
            && after.p95_duration_ms <= before.p95_duration_ms * (1.0 - DURATION_DROP))
    {
        reasons.push("memory headroom or latency improved with no new failures".into());
        Verdict::Improved
    } else {
        reasons.push("no measurable difference".into());
        Verdict::Unchanged
    };
    (verdict, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(invocations: usize, errors: usize, oom: usize, peak: f64, p95: f64) -> Health {
        Health {
            invocations,
            errors,
            timeouts: 0,
            out_of_memory: oom,
            peak_memory_ratio: peak,
            p95_duration_ms: p95,
        }
    }

    #[test]
    fn oom_gone_is_improved() {
        let (v, _) = verdict(
            &health(100, 12, 12, 1.0, 900.0),
            &health(50, 0, 0, 0.7, 400.0),
            5,
        );
        assert_eq!(v, Verdict::Improved);
    }

    #[test]
    fn oom_persisting_is_unchanged() {
        let (v, _) = verdict(
            &health(100, 12, 12, 1.0, 900.0),
            &health(50, 6, 6, 1.0, 900.0),
            5,
        );
        assert_eq!(v, Verdict::Unchanged);
    }

    #[test]
    fn a_third_fewer_out_of_memory_failures_is_improved() {
        let (v, reasons) = verdict(
            &health(80, 60, 60, 1.0, 900.0),
            &health(40, 20, 20, 1.0, 900.0),
            5,
        );
        assert_eq!(v, Verdict::Improved, "{reasons:?}");
        // A fifth fewer is noise.
        let (v, _) = verdict(
            &health(80, 60, 60, 1.0, 900.0),
            &health(40, 24, 24, 1.0, 900.0),
            5,
        );
        assert_eq!(v, Verdict::Unchanged);
    }

    #[test]
    fn more_failures_is_worse() {
        let (v, reasons) = verdict(
            &health(100, 5, 5, 1.0, 900.0),
            &health(50, 20, 0, 0.5, 900.0),
            5,
        );
        assert_eq!(v, Verdict::Worse);
        assert!(reasons.iter().any(|r| r.contains("rose")));
    }

    #[test]
    fn a_clean_window_must_be_long_enough_to_have_shown_the_old_failures() {
        // 10 % failed before: 29 clean invocations are needed to say so.
        let before = health(100, 10, 10, 1.0, 900.0);
        assert_eq!(invocations_needed(&before, 5), 29);
        let (v, reasons) = verdict(&before, &health(20, 0, 0, 0.6, 400.0), 5);
        assert_eq!(v, Verdict::InsufficientData, "{reasons:?}");
        assert!(reasons[1].contains("fewer than 29"), "{reasons:?}");
        let (v, _) = verdict(&before, &health(30, 0, 0, 0.6, 400.0), 5);
        assert_eq!(v, Verdict::Improved);
        // Frequent failures need no more than the floor; rare ones are capped.
        assert_eq!(invocations_needed(&health(100, 60, 60, 1.0, 0.0), 5), 5);
        assert_eq!(invocations_needed(&health(1000, 1, 1, 1.0, 0.0), 5), 60);
        assert_eq!(invocations_needed(&health(100, 0, 0, 0.9, 0.0), 5), 5);
    }

    #[test]
    fn one_early_failure_is_not_yet_worse() {
        // 10 % failed before: one failure in the first six is what that
        // share gives by chance; six of them are not.
        let before = health(100, 10, 10, 1.0, 900.0);
        let (v, _) = verdict(&before, &health(6, 1, 1, 1.0, 900.0), 5);
        assert_eq!(v, Verdict::InsufficientData);
        let (v, _) = verdict(&before, &health(8, 6, 6, 1.0, 900.0), 5);
        assert_eq!(v, Verdict::Worse);
    }

    #[test]
    fn too_few_invocations_is_insufficient() {
        let (v, _) = verdict(
            &health(100, 12, 12, 1.0, 900.0),
            &health(2, 0, 0, 0.5, 100.0),
            5,
        );
        assert_eq!(v, Verdict::InsufficientData);
    }

    #[test]
    fn a_proactive_step_is_judged_on_headroom() {
        let (v, _) = verdict(
            &health(100, 0, 0, 0.95, 300.0),
            &health(100, 0, 0, 0.7, 300.0),
            5,
        );
        assert_eq!(v, Verdict::Improved);
        let (v, _) = verdict(
            &health(100, 0, 0, 0.95, 300.0),
            &health(100, 0, 0, 0.94, 290.0),
            5,
        );
        assert_eq!(v, Verdict::Unchanged);
    }
}
