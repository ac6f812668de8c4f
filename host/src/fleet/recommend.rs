//! A sweep's standing recommendation for one function, from what the rules
//! decided over the window and the window's invocation reports. Pure.

use autorepair_lambda::memory;

use crate::decide::{Action, Decision, LAMBDA_MAX_MB, LAMBDA_MIN_MB};
use crate::model::{Direction, InvocationReport, MetricSeries};
use crate::stats::{ReportStats, ran_out_of_memory};

/// Fewer reports than this say too little about the largest use to shrink on.
pub const MIN_REPORTS_TO_DOWNSIZE: usize = 50;

/// What a recommendation is computed under.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub window_days: u32,
    pub margin_percent: u32,
    pub min_saving_mb: u32,
    pub min_memory_mb: u32,
    pub usd_per_gb_second: f64,
}

/// What the window showed about one function.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub memory_mb: u32,
    pub reports: &'a [InvocationReport],
    pub metrics: &'a [MetricSeries],
    /// The rules' decision over the window, under the policy.
    pub decision: &'a Decision,
    /// The floor an earlier sweep remembered (an out-of-memory invocation
    /// older than this window).
    pub previous_floor_mb: Option<u32>,
    /// The sizes incidents raised the function from, over the audit table's
    /// whole retained history: each proved too small, whether or not its
    /// out-of-memory invocation falls in this window.
    pub raised_from_mb: &'a [u32],
    /// Every log line of the window was read (not capped, no read failed or
    /// timed out): an out-of-memory invocation cannot hide in what was not.
    pub logs_complete: bool,
    /// Why the window's invocation reports cannot be trusted, if they cannot
    /// (`logs::report_doubt`): a downsizing never rests on them.
    pub report_doubt: Option<&'a str>,
}

/// The recommendation's numbers and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub direction: Direction,
    pub target_mb: u32,
    pub monthly_cost_delta_usd: f64,
    pub invocations: u64,
    pub p99_used_mb: Option<u32>,
    pub oom_floor_mb: Option<u32>,
    pub reasons: Vec<String>,
}

/// The sum of a Lambda series' points and how many there are, when it has any.
fn series(metrics: &[MetricSeries], name: &str, statistic: &str) -> Option<(f64, usize)> {
    let s = metrics
        .iter()
        .find(|s| s.namespace == "AWS/Lambda" && s.name == name && s.statistic == statistic)?;
    (!s.points.is_empty()).then(|| (s.points.iter().map(|p| p.value).sum(), s.points.len()))
}

/// The standing recommendation for what `observed` shows.
pub fn recommend(observed: Observed<'_>, settings: Settings) -> Outcome {
    let stats = ReportStats::of(observed.reports);
    let current = observed.memory_mb;
    // The metric counts every invocation; the reports may be a capped sample.
    let invocations = series(observed.metrics, "Invocations", "Sum")
        .map_or(stats.invocations as u64, |(n, _)| n.max(0.0).round() as u64);
    let mean_duration_ms = if stats.invocations > 0 {
        stats.durations_ms.iter().sum::<f64>() / stats.invocations as f64
    } else {
        series(observed.metrics, "Duration", "Average").map_or(0.0, |(sum, n)| sum / n as f64)
    };
    let oom_floor = observed
        .reports
        .iter()
        .filter(|r| ran_out_of_memory(r) && r.memory_size_mb > 0)
        .map(|r| r.memory_size_mb)
        .chain(observed.raised_from_mb.iter().copied())
        .map(memory::needed_after_out_of_memory)
        .chain(observed.previous_floor_mb)
        .max();
    let p99 = (stats.invocations > 0).then(|| stats.memory_percentile(99.0));
    let mut reasons = Vec::new();
    let (direction, target) = match (observed.decision.action, observed.decision.target_memory_mb) {
        (Action::SetMemory, Some(target)) if target > current => {
            reasons.extend(observed.decision.reasons.iter().cloned());
            let floor = oom_floor.unwrap_or(0).min(LAMBDA_MAX_MB);
            if floor > target {
                reasons.push(format!(
                    "raised to {floor} MB, what the last out-of-memory invocation needed"
                ));
            }
            (Direction::Up, target.max(floor))
        }
        (Action::Escalate, _) => {
            reasons.push("the rules escalated: a person should look before any resize".into());
            reasons.extend(observed.decision.reasons.iter().cloned());
            (Direction::Keep, current)
        }
        _ if stats.out_of_memory > 0 => {
            reasons.push(format!(
                "{} invocations ran out of memory in the window, and the rules did not raise it: never smaller",
                stats.out_of_memory
            ));
            (Direction::Keep, current)
        }
        _ if !observed.logs_complete => {
            reasons.push(
                "the window's logs were not all read (capped, failed or timed out): an out-of-memory invocation may be in what was not, so never smaller"
                    .into(),
            );
            (Direction::Keep, current)
        }
        _ if observed.report_doubt.is_some() => {
            reasons.push(format!(
                "the invocation reports cannot be trusted ({}): never smaller on their figures",
                observed.report_doubt.unwrap_or_default()
            ));
            (Direction::Keep, current)
        }
        _ if stats.invocations < MIN_REPORTS_TO_DOWNSIZE => {
            reasons.push(format!(
                "{} invocation reports in {} days: too few to size down on (at least {MIN_REPORTS_TO_DOWNSIZE})",
                stats.invocations, settings.window_days
            ));
            (Direction::Keep, current)
        }
        _ => {
            let p99 = stats.memory_percentile(99.0);
            let with_margin = u64::from(p99) * u64::from(100 + settings.margin_percent) / 100;
            let mut candidate = memory::to_step(u32::try_from(with_margin).unwrap_or(u32::MAX));
            let mut why = format!(
                "p99 Max Memory Used {p99} MB over {} reports, +{}% margin → {candidate} MB",
                stats.invocations, settings.margin_percent
            );
            if let Some(floor) = oom_floor
                && floor > candidate
            {
                candidate = floor;
                why.push_str(&format!(
                    "; raised to {floor} MB, what the last out-of-memory invocation needed"
                ));
            }
            let floor = settings.min_memory_mb.max(LAMBDA_MIN_MB);
            if candidate < floor {
                candidate = floor;
                why.push_str(&format!("; the policy's floor is {floor} MB"));
            }
            candidate = candidate.min(LAMBDA_MAX_MB);
            reasons.push(why);
            if current >= candidate.saturating_add(settings.min_saving_mb) {
                (Direction::Down, candidate)
            } else {
                reasons.push(format!(
                    "{current} MB is within {} MB of that: keep",
                    settings.min_saving_mb
                ));
                (Direction::Keep, current)
            }
        }
    };
    let days = f64::from(settings.window_days.max(1));
    let monthly_invocations = invocations as f64 * 30.0 / days;
    let delta_gb = (f64::from(target) - f64::from(current)) / 1024.0;
    let monthly_cost_delta_usd =
        monthly_invocations * mean_duration_ms / 1000.0 * delta_gb * settings.usd_per_gb_second;
    Outcome {
        direction,
        target_mb: target,
        monthly_cost_delta_usd,
        invocations,
        p99_used_mb: p99,
        oom_floor_mb: oom_floor,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InvocationStatus, Point};
    use proptest::prelude::*;

    fn report(size: u32, used: u32, oom: bool) -> InvocationReport {
        InvocationReport {
            request_id: "r".into(),
            timestamp_ms: 0,
            duration_ms: 200.0,
            billed_duration_ms: 200.0,
            memory_size_mb: size,
            max_memory_used_mb: used,
            init_duration_ms: None,
            status: if oom {
                InvocationStatus::Error
            } else {
                InvocationStatus::Success
            },
            error_type: oom.then(|| crate::logs::OUT_OF_MEMORY_ERROR.to_owned()),
            log_stream: None,
            function_error: None,
        }
    }

    fn none() -> Decision {
        Decision {
            action: Action::None,
            current_memory_mb: 0,
            target_memory_mb: None,
            reasons: Vec::new(),
        }
    }

    const SETTINGS: Settings = Settings {
        window_days: 14,
        margin_percent: 20,
        min_saving_mb: 64,
        min_memory_mb: 128,
        usd_per_gb_second: 0.000_016_666_7,
    };

    fn observed<'a>(
        memory_mb: u32,
        reports: &'a [InvocationReport],
        decision: &'a Decision,
    ) -> Observed<'a> {
        Observed {
            memory_mb,
            reports,
            metrics: &[],
            decision,
            previous_floor_mb: None,
            raised_from_mb: &[],
            logs_complete: true,
            report_doubt: None,
        }
    }

    #[test]
    fn far_below_the_size_recommends_down_with_a_saving() {
        let reports: Vec<_> = (0..100)
            .map(|i| report(1024, 150 + i % 50, false))
            .collect();
        let d = none();
        let o = recommend(observed(1024, &reports, &d), SETTINGS);
        assert_eq!(o.direction, Direction::Down);
        // p99 = 199 MB, +20% = 238.8 → 256 MB.
        assert_eq!((o.p99_used_mb, o.target_mb), (Some(199), 256));
        assert!(o.monthly_cost_delta_usd < 0.0, "{o:?}");
        // 100 invocations in 14 days → 214.3 a month × 0.2 s × -0.75 GB × price.
        let expected = 100.0 * 30.0 / 14.0 * 0.2 * -0.75 * 0.000_016_666_7;
        assert!((o.monthly_cost_delta_usd - expected).abs() < 1e-12, "{o:?}");
    }

    /// Reports a function may have printed (more than CloudWatch counted, or
    /// a request reported twice) never size it down.
    #[test]
    fn reports_in_doubt_never_size_down() {
        let reports: Vec<_> = (0..100)
            .map(|i| report(1024, 150 + i % 50, false))
            .collect();
        let d = none();
        let why = "140 REPORT lines but 100 invocations counted by CloudWatch";
        let o = recommend(
            Observed {
                report_doubt: Some(why),
                ..observed(1024, &reports, &d)
            },
            SETTINGS,
        );
        assert_eq!((o.direction, o.target_mb), (Direction::Keep, 1024));
        assert!(o.reasons.iter().any(|r| r.contains(why)), "{o:?}");
    }

    #[test]
    fn the_rules_raising_it_is_up() {
        let reports: Vec<_> = (0..10).map(|_| report(512, 512, true)).collect();
        let d = Decision {
            action: Action::SetMemory,
            current_memory_mb: 512,
            target_memory_mb: Some(1024),
            reasons: vec!["oom: ran out of memory".into()],
        };
        let o = recommend(observed(512, &reports, &d), SETTINGS);
        assert_eq!((o.direction, o.target_mb), (Direction::Up, 1024));
        assert!(o.monthly_cost_delta_usd > 0.0);
        assert_eq!(o.oom_floor_mb, Some(576));
    }

    #[test]
    fn never_below_what_the_last_oom_needed() {
        // Raised from 512 after an OOM; now mostly light, one OOM at 512 in the window.
        let mut reports: Vec<_> = (0..200).map(|_| report(2048, 100, false)).collect();
        reports.push(report(512, 512, true));
        let d = none();
        let o = recommend(observed(2048, &reports, &d), SETTINGS);
        assert_eq!(o.direction, Direction::Keep, "an OOM in the window: {o:?}");
        // The OOM is older than the window, remembered by the last sweep.
        let reports: Vec<_> = (0..200).map(|_| report(2048, 100, false)).collect();
        let o = recommend(
            Observed {
                previous_floor_mb: Some(576),
                ..observed(2048, &reports, &d)
            },
            SETTINGS,
        );
        assert_eq!((o.direction, o.target_mb), (Direction::Down, 576), "{o:?}");
        // No sweep saw it at all (sweeps further apart than their window),
        // but an incident raised the function from 512: the same floor.
        let o = recommend(
            Observed {
                raised_from_mb: &[256, 512],
                ..observed(2048, &reports, &d)
            },
            SETTINGS,
        );
        assert_eq!((o.direction, o.target_mb), (Direction::Down, 576), "{o:?}");
        assert_eq!(o.oom_floor_mb, Some(576));
    }

    #[test]
    fn logs_not_all_read_never_size_down_and_an_up_respects_the_floor() {
        let reports: Vec<_> = (0..100).map(|_| report(1024, 100, false)).collect();
        let d = none();
        let capped = Observed {
            logs_complete: false,
            report_doubt: None,
            ..observed(1024, &reports, &d)
        };
        assert_eq!(recommend(capped, SETTINGS).direction, Direction::Keep);
        let up = Decision {
            action: Action::SetMemory,
            current_memory_mb: 512,
            target_memory_mb: Some(640),
            reasons: Vec::new(),
        };
        let o = recommend(
            Observed {
                previous_floor_mb: Some(1088),
                ..observed(512, &reports, &up)
            },
            SETTINGS,
        );
        assert_eq!((o.direction, o.target_mb), (Direction::Up, 1088));
    }

    #[test]
    fn too_few_reports_or_a_small_saving_keeps() {
        let d = none();
        let few: Vec<_> = (0..10).map(|_| report(1024, 100, false)).collect();
        assert_eq!(
            recommend(observed(1024, &few, &d), SETTINGS).direction,
            Direction::Keep
        );
        let close: Vec<_> = (0..100).map(|_| report(320, 200, false)).collect();
        // 200 × 1.2 = 240 → 256: saves 64 MB, exactly the minimum.
        assert_eq!(
            recommend(observed(320, &close, &d), SETTINGS).direction,
            Direction::Down
        );
        assert_eq!(
            recommend(observed(300, &close, &d), SETTINGS).direction,
            Direction::Keep
        );
    }

    #[test]
    fn invocations_come_from_the_metric_when_the_reports_are_a_sample() {
        let reports: Vec<_> = (0..100).map(|_| report(1024, 100, false)).collect();
        let metrics = vec![MetricSeries {
            namespace: "AWS/Lambda".into(),
            name: "Invocations".into(),
            statistic: "Sum".into(),
            unit: String::new(),
            points: vec![
                Point {
                    timestamp_ms: 0,
                    value: 60_000.0,
                },
                Point {
                    timestamp_ms: 1,
                    value: 40_000.0,
                },
            ],
        }];
        let d = none();
        let o = recommend(
            Observed {
                metrics: &metrics,
                ..observed(1024, &reports, &d)
            },
            SETTINGS,
        );
        assert_eq!(o.invocations, 100_000);
    }

    proptest! {
        /// Whatever the traffic: a downsizing never goes below the p99 use,
        /// the OOM floor or the policy's minimum, and always saves money.
        #[test]
        fn a_downsizing_is_always_safe(
            current in 128u32..=10_240,
            used in proptest::collection::vec(1u32..=10_240, 50..300),
            floor in proptest::option::of(128u32..=10_240),
            raised in proptest::collection::vec(128u32..=10_240, 0..3),
        ) {
            let reports: Vec<_> = used.iter().map(|u| report(current, (*u).min(current), false)).collect();
            let d = none();
            let o = recommend(
                Observed { previous_floor_mb: floor, raised_from_mb: &raised, ..observed(current, &reports, &d) },
                SETTINGS,
            );
            if o.direction == Direction::Down {
                let p99 = o.p99_used_mb.unwrap();
                prop_assert!(o.target_mb > p99);
                prop_assert!(o.target_mb >= floor.unwrap_or(0));
                // Never back to (or below) a size an incident raised it from.
                prop_assert!(raised.iter().all(|r| o.target_mb > *r));
                prop_assert!(o.target_mb >= 128 && o.target_mb < current);
                prop_assert!(o.monthly_cost_delta_usd <= 0.0);
            } else {
                prop_assert_eq!(o.target_mb, current);
            }
        }
    }
}
